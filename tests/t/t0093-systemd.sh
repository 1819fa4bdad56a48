#!/bin/sh
# t0093-systemd: contrib/systemd/gitops-agent.service passes `systemd-analyze
# verify` (where systemd is installed; its Documentation= pages are the
# built ones), holds the hardening the README promises, and its commands
# work: the agent started by its ExecStart line reloads on its ExecReload
# line and stops cleanly on SIGTERM. Its sysusers file makes the user.
. "$TEST_SRCDIR/tests/lib.sh"

UNIT="$TEST_SRCDIR/contrib/systemd/gitops-agent.service"
SYSUSERS="$TEST_SRCDIR/contrib/systemd/gitops-agent.sysusers"
test_command_prereq SYSTEMD systemd-analyze systemd
test_command_prereq SYSUSERS systemd-sysusers systemd

# unit_value KEY: the values of KEY= in the unit, one a line.
unit_value() {
	sed -n "s/^$1=//p" "$UNIT"
}

test_expect_success SYSTEMD 'systemd-analyze verify passes' '
	mkdir -p man/man8 man/man5 units &&
	cp "$TEST_BUILDDIR/gitops-agent.8" man/man8/ &&
	cp "$TEST_BUILDDIR/gitops-agent.yaml.5" man/man5/ &&
	sed "s|/usr/bin/gitops-agent|$GITOPS_AGENT|" "$UNIT" \
	    >units/gitops-agent.service &&
	if command -v man >/dev/null 2>&1; then
		MANPATH="$TRASH/man" systemd-analyze verify \
		    units/gitops-agent.service >out 2>&1
	else
		systemd-analyze verify --man=no units/gitops-agent.service \
		    >out 2>&1
	fi &&
	test_cmp /dev/null out
'

test_expect_success 'the unit runs as its own user, hardened' '
	test "$(unit_value Type)" = exec &&
	test "$(unit_value User)" = gitops-agent &&
	test "$(unit_value StateDirectory)" = gitops-agent &&
	for kv in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
	    PrivateTmp=yes SystemCallFilter=@system-service \
	    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" \
	    "ExecReload=/bin/kill -HUP \$MAINPID"; do
		grep -q -x -F "$kv" "$UNIT" || { echo "no $kv"; exit 1; }
	done
'

test_expect_success SYSUSERS 'its sysusers file makes the user' '
	mkdir -p root/etc &&
	systemd-sysusers --root="$TRASH/root" "$SYSUSERS" &&
	test_grep "^gitops-agent:x:[0-9]*:[0-9]*:.*:/var/lib/gitops-agent:" \
	    root/etc/passwd
'

test_cleanup_pidfile "$TRASH/agent.pid"
# start_agent: the command line of ./start, in the background from
# state/ (the unit's WorkingDirectory); its pid and exit status in files.
start_agent() {
	(
		cd state || exit 1
		${VALGRIND:-} $(cat ../start) >../agent.log 2>&1 &
		echo $! >../agent.pid
		wait $!
		echo $? >../agent.rc
	) &
	test_wait_for 50 test -s agent.pid
}
reloaded_since() { # COUNT: more "configuration reloaded" lines than COUNT
	test "$(grep -c "configuration reloaded" agent.log)" -gt "$1"
}

test_expect_success 'ExecStart serves, ExecReload reloads, SIGTERM stops it' '
	port=$(test_free_port) &&
	mkdir -p etc state app &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n" \
	    >app/c.yaml &&
	cat >etc/gitops-agent.yaml <<-EOF &&
	listen: 127.0.0.1:$port
	state_dir: $TRASH/state
	repositories: [{name: local, directory: $TRASH}]
	apps:
	  - {name: a, repository: local, path: app, target: {path: $TRASH/live}}
	EOF
	unit_value ExecStart |
	    sed -e "s|/usr/bin/gitops-agent|$GITOPS_AGENT|" \
	    -e "s|/etc/gitops-agent/|$TRASH/etc/|" >start &&
	test_grep " serve\$" start &&
	start_agent &&
	test_wait_for 600 curl -sf "http://127.0.0.1:$port/readyz" &&
	test -f live/default/ConfigMap/c.yaml &&
	reloads=$(grep -c "configuration reloaded" agent.log || :) &&
	MAINPID=$(cat agent.pid) sh -c "$(unit_value ExecReload)" &&
	test_wait_for 100 reloaded_since "$reloads" &&
	kill -TERM "$(cat agent.pid)" &&
	test_wait_for 600 test -f agent.rc &&
	test "$(cat agent.rc)" = 0
'

test_done
