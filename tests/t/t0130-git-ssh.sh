#!/bin/sh
# t0130-git-ssh: a Git remote over SSH, on a real sshd on 127.0.0.1
# started by the test (root only: sshd must switch to the user): fetch and
# push with a key; the server's host key must be in known_hosts (plain or
# hashed) or match the pinned fingerprint, else nothing is fetched.
. "$TEST_SRCDIR/tests/lib.sh"

SSHD=$(command -v sshd || echo /usr/sbin/sshd)
if [ "$(id -u)" != 0 ] || [ ! -x "$SSHD" ]; then
	echo "1..0 # SKIP needs root and sshd (openssh-server)"
	exit 0
fi
# libgit2's own SSH leaks, not ours (see the file).
LSAN_OPTIONS="suppressions=$TEST_SRCDIR/tests/t/lsan-libgit2-ssh.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS ASAN_OPTIONS

PORT=$(test_free_port)
ssh-keygen -q -t ed25519 -N "" -C host -f hostkey &&
ssh-keygen -q -t ed25519 -N "" -C client -f client &&
ssh-keygen -q -t ed25519 -N "" -C other -f other || exit 1
cp client.pub authorized_keys
mkdir -p /run/sshd
cat >sshd_config <<EOF2
Port $PORT
ListenAddress 127.0.0.1
HostKey $TRASH/hostkey
AuthorizedKeysFile $TRASH/authorized_keys
PidFile $TRASH/sshd.pid
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
UsePAM no
EOF2
"$SSHD" -D -e -f "$TRASH/sshd_config" >sshd.log 2>&1 &
test_cleanup_pid $!
if ! test_wait_for 50 python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT))"; then
	echo "Bail out! sshd did not start"; cat sshd.log; exit 1
fi

URL="ssh://root@127.0.0.1:$PORT$TRASH/srv/infra.git"
write_config() { # FILE HOST-KEY-LINES
	cat >"$1" <<-EOF2
	state_dir: ./state-$1
	repositories:
	  - name: infra
	    url: $URL
	    timeout: 10s
	    ssh_key_file: ./client
	$2
	apps:
	  - name: a
	    repository: infra
	    path: apps/a
	    target: {type: directory, path: ./live-$1}
	versions:
	  repository: infra
	EOF2
}
FP=$(ssh-keygen -lf hostkey.pub | cut -d" " -f2)
OTHER_FP=$(ssh-keygen -lf other.pub | cut -d" " -f2)
echo "[127.0.0.1]:$PORT $(cut -d" " -f1,2 hostkey.pub)" >known_hosts
cp known_hosts hashed && ssh-keygen -q -H -f hashed >/dev/null 2>&1 && rm -f hashed.old
echo "[127.0.0.1]:$PORT $(cut -d" " -f1,2 other.pub)" >wrong_hosts
write_config known.yaml "    ssh_known_hosts_file: ./known_hosts"
write_config hashed.yaml "    ssh_known_hosts_file: ./hashed"
write_config pinned.yaml "    ssh_host_key: $FP"
write_config badpin.yaml "    ssh_host_key: $OTHER_FP"
write_config unknown.yaml "    ssh_known_hosts_file: ./wrong_hosts"

test_expect_success 'setup: a bare repository the sshd serves' '
	git init -q --bare -b main srv/infra.git &&
	git init -q -b main work && mkdir -p work/apps/a &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: n\n" \
	    >work/apps/a/c.yaml &&
	printf "staging:\n  a: \"v1\"\n" >work/versions.yaml &&
	git -C work add -A && git -C work commit -q -m init &&
	git -C work push -q "$TRASH/srv/infra.git" main
'

test_expect_success 'fetch over SSH, the host key in known_hosts' '
	gitops_agent -c known.yaml sync a &&
	test -f live-known.yaml/n/ConfigMap/a.yaml
'

test_expect_success 'a hashed known_hosts entry (ssh-keygen -H) is matched' '
	test_grep "^|1|" hashed &&
	gitops_agent -c hashed.yaml sync a
'

test_expect_success 'push over SSH with a pinned host key: a bump lands' '
	gitops_agent -c pinned.yaml bump --versions-only --service a \
	    --environment staging \
	    --version v2 &&
	git -C srv/infra.git show main:versions.yaml >v &&
	test_grep "a: \"v2\"" v
'

test_expect_success 'a host key other than the pinned one: refused, named' '
	test_expect_code 1 gitops_agent -c badpin.yaml sync a 2>err &&
	test_grep "the host key of 127.0.0.1 is $FP, not the pinned $OTHER_FP" err &&
	test ! -d live-badpin.yaml
'

test_expect_success 'a host not in known_hosts: refused, nothing fetched' '
	test_expect_code 1 gitops_agent -c unknown.yaml sync a 2>err &&
	test_grep "the host key of \[127.0.0.1\]:$PORT is not in .*wrong_hosts" err &&
	test ! -d live-unknown.yaml
'

test_expect_success 'an SSH remote without a way to check the host: a config error' '
	write_config trust.yaml "" &&
	test_expect_code 1 gitops_agent -c trust.yaml check 2>err &&
	test_grep "trust.yaml:4:5: repository .infra. is an SSH remote: it needs .ssh_key_file., and .ssh_known_hosts_file. or .ssh_host_key." err
'

test_done
