# lib.sh: the shell test library, in the style of git's t/test-lib.sh.
#
# Each script sources this file, then calls test_expect_success (or
# test_expect_failure for a known bug) and ends with test_done. Output is
# TAP. Every script runs in its own scratch directory, trash.<script>,
# which is kept when a test fails and removed otherwise. Servers started
# by a test are stopped by the exit trap (register them with
# test_cleanup_pid).

set -u

: "${GITOPS_AGENT:?GITOPS_AGENT must name the gitops-agent binary}"
: "${TEST_SRCDIR:?TEST_SRCDIR must name the source tree}"
: "${TEST_BUILDDIR:=$TEST_SRCDIR}"

test_name=$(basename "$0" .sh)
TRASH="$TEST_BUILDDIR/tests/t/trash.$test_name"
EXAMPLE="$TEST_SRCDIR/manifests/examples/ecommerce"
FIXTURES="$TEST_SRCDIR/tests/fixtures"

test_count=0
test_failed=0
test_pids=""

rm -rf "$TRASH"
mkdir -p "$TRASH" || exit 1
cd "$TRASH" || exit 1
export HOME="$TRASH"
export GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME='A U Thor' GIT_AUTHOR_EMAIL='author@example.com'
export GIT_COMMITTER_NAME='C O Mitter' GIT_COMMITTER_EMAIL='committer@example.com'

# The binary under test, as a function so tests read like a user's shell.
gitops_agent() {
	${VALGRIND:-} "$GITOPS_AGENT" "$@"
}

test_cleanup_pid() {
	test_pids="$test_pids $1"
}

# A server started inside a test (a subshell) writes its pid to a file
# registered here, at the top level, so the exit trap stops it too.
test_pidfiles=""
test_cleanup_pidfile() {
	test_pidfiles="$test_pidfiles $1"
}

test_stop_all() {
	for f in $test_pidfiles; do
		[ -f "$f" ] && test_pids="$test_pids $(cat "$f")"
	done
	for pid in $test_pids; do
		kill "$pid" 2>/dev/null
	done
	for pid in $test_pids; do
		wait "$pid" 2>/dev/null
	done
	test_pids=""
}
trap 'test_stop_all' EXIT

# Prerequisites, as git's: test_set_prereq NAME once a script knows it
# has something; test_expect_success NAME 'title' 'commands' skips the
# test without it.
test_prereqs=" "
test_set_prereq() {
	test_prereqs="$test_prereqs$1 "
}
test_have_prereq() {
	case "$test_prereqs" in *" $1 "*) return 0 ;; esac
	return 1
}

# test_when_finished 'commands': run once the current test is over,
# whether it passed or not (the test body runs in a subshell, so the
# commands are kept in a file the script runs after it).
test_when_finished() {
	printf '%s\n' "$*" >>"$TRASH/.cleanup.$test_count"
}

test_run_cleanup() {
	if [ -f "$TRASH/.cleanup.$test_count" ]; then
		(. "$TRASH/.cleanup.$test_count") >>"$TRASH/.out.$test_count" 2>&1
		rm -f "$TRASH/.cleanup.$test_count"
	fi
}

test_expect_success() {
	if [ $# -eq 3 ]; then
		if ! test_have_prereq "$1"; then
			test_skip "$2" "missing $1"
			return
		fi
		shift
	fi
	test_title=$1
	test_count=$((test_count + 1))
	if (eval "$2") >"$TRASH/.out.$test_count" 2>&1; then
		test_run_cleanup
		echo "ok $test_count - $test_title"
	else
		test_run_cleanup
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - $test_title"
		sed 's/^/# /' "$TRASH/.out.$test_count"
	fi
}

# test_must_fail CMD...: the command fails as a program does (exit 1 to
# 125), not by succeeding, a signal (a crash) or not being found.
test_must_fail() {
	"$@"
	code=$?
	if [ "$code" -eq 0 ]; then
		echo "succeeded unexpectedly: $*"
		return 1
	elif [ "$code" -gt 125 ]; then
		echo "died (exit $code): $*"
		return 1
	fi
	return 0
}

test_expect_failure() {
	test_title=$1
	test_count=$((test_count + 1))
	if (eval "$2") >"$TRASH/.out.$test_count" 2>&1; then
		echo "ok $test_count - $test_title # TODO known breakage vanished"
	else
		echo "not ok $test_count - $test_title # TODO known breakage"
	fi
}

test_skip() {
	test_count=$((test_count + 1))
	echo "ok $test_count # skip $1 ($2)"
}

test_done() {
	echo "1..$test_count"
	test_stop_all
	if [ "$test_failed" -eq 0 ]; then
		# TEST_KEEP=1 keeps the scratch directory (figures, logs).
		[ -n "${TEST_KEEP:-}" ] || { cd "$TEST_BUILDDIR" && rm -rf "$TRASH"; }
		exit 0
	fi
	echo "# $test_failed of $test_count failed; scratch kept in $TRASH"
	exit 1
}

# test_cmp EXPECTED ACTUAL: identical files, or a diff on failure.
test_cmp() {
	diff -u "$1" "$2"
}

# test_grep [-v] PATTERN FILE: with the file shown on failure.
test_grep() {
	if [ "$1" = "-v" ]; then
		shift
		if grep -e "$1" "$2" >/dev/null; then
			echo "unexpected '$1' in $2:"; cat "$2"; return 1
		fi
		return 0
	fi
	if ! grep -e "$1" "$2" >/dev/null; then
		echo "no '$1' in $2:"; cat "$2"; return 1
	fi
}

# test_expect_code CODE CMD...: the command exits with exactly CODE.
test_expect_code() {
	want=$1; shift
	"$@"
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "expected exit $want, got $got: $*"
		return 1
	fi
}

# A tree's listing with content hashes: to prove a directory untouched.
test_tree_digest() {
	(cd "$1" && find . -type f ! -name '.*.tmp.*' | LC_ALL=C sort |
	    xargs -r sha256sum) 2>/dev/null
}

# A free TCP port on 127.0.0.1.
test_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Poll until a command succeeds, at most $1 tenths of a second.
test_wait_for() {
	tries=$1; shift
	while [ "$tries" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		tries=$((tries - 1))
	done
	return 1
}

# A real `git daemon` on 127.0.0.1 serving bare repositories under $1,
# pushes allowed; sets GIT_DAEMON_PORT. A stub never stands in for it:
# pushes over git:// get receive-pack's compare-and-swap on refs.
test_git_daemon() {
	GIT_DAEMON_PORT=$(test_free_port)
	git daemon --reuseaddr --base-path="$1" --export-all \
	    --enable=receive-pack --listen=127.0.0.1 \
	    --port="$GIT_DAEMON_PORT" "$1" >"$TRASH/daemon.log" 2>&1 &
	test_cleanup_pid $!
	# Ready once it answers: ls-remote of a repository it serves.
	tries=100
	while [ "$tries" -gt 0 ]; do
		for r in "$1"/*.git; do
			git ls-remote "git://127.0.0.1:$GIT_DAEMON_PORT/${r##*/}" \
			    >/dev/null 2>&1 && return 0
		done
		sleep 0.1
		tries=$((tries - 1))
	done
	echo "Bail out! git daemon did not start"
	cat "$TRASH/daemon.log"
	exit 1
}

# test_sign SECRET FILE: the hex HMAC-SHA256 of FILE's bytes with SECRET,
# as GitHub, Gitea, Bitbucket and the generic provider sign a delivery.
test_sign() {
	python3 -c 'import hmac, hashlib, sys
print(hmac.new(sys.argv[1].encode(), open(sys.argv[2], "rb").read(),
    hashlib.sha256).hexdigest())' "$1" "$2"
}

# test_deploy_body OUT JSON: a deploy request for /api/v1/deployments:
# JSON with a fresh "timestamp" (the agent refuses one 5 minutes old, and a
# body it carried out before).
test_deploy_body() {
	python3 -c 'import datetime, json, sys
d = json.loads(sys.argv[2])
d["timestamp"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
open(sys.argv[1], "w").write(json.dumps(d))' "$1" "$2"
}

# test_post_deploy AGENT SECRET FILE [SIGNATURE]: POST FILE to AGENT's
# /api/v1/deployments signed with SECRET (or the given hex signature);
# prints the status code, leaves the answer in ./reply.
test_post_deploy() {
	curl -s -o reply -w '%{http_code}' -X POST --data-binary "@$3" \
	    -H "X-Signature: sha256=${4:-$(test_sign "$2" "$3")}" \
	    "http://$1/api/v1/deployments"
}

# test_infra_remote SECRET [REPO...]: bare repositories srv/infra.git (and
# srv/REPO.git for each REPO) served by a real git daemon; sets URL (of
# infra.git), PORT and AGENT (a free 127.0.0.1 address for the agent) and
# writes SECRET to ./secret, mode 0600, for webhook_secret_file.
test_infra_remote() {
	secret=$1
	shift
	mkdir -p srv || exit 1
	for r in infra "$@"; do
		git init -q --bare -b main "srv/$r.git" || exit 1
	done
	test_git_daemon "$TRASH/srv"
	URL="git://127.0.0.1:$GIT_DAEMON_PORT/infra.git"
	PORT=$(test_free_port)
	AGENT="127.0.0.1:$PORT"
	printf '%s\n' "$secret" >secret && chmod 600 secret || exit 1
}

# test_github_push OUT AFTER: ./OUT, a GitHub push of main at commit AFTER
# to the repository at $URL (the fixture with its clone_url, ref and
# after set), to sign and post.
test_github_push() {
	python3 - "$FIXTURES/webhooks/github-push.json" "$1" "$URL" "$2" <<-'EOF'
	import json, sys
	src, out, url, after = sys.argv[1:5]
	d = json.load(open(src))
	d["repository"]["clone_url"] = url
	d["ref"] = "refs/heads/main"
	d["after"] = after
	json.dump(d, open(out, "w"))
	EOF
}

# test_web_config [LINE...]: ./agent.yaml for an agent at $AGENT serving
# the shop's web-staging app (service web, environment staging) from the
# infra repository at $URL into ./live, the webhook secret in ./secret
# (test_infra_remote sets these); each LINE is a top-level option put
# before the repositories. Append the app's own options (hooks, health,
# analysis), then test_web_config_versions.
test_web_config() {
	{
		printf 'listen: %s\nstate_dir: ./state\n' "$AGENT" &&
		for line in "$@"; do
			printf '%s\n' "$line" || return 1
		done &&
		cat <<-EOF
		repositories:
		  - name: infra
		    url: $URL
		    poll_interval: 10m
		    timeout: 10s
		    webhook_secret_file: secret
		apps:
		  - name: web-staging
		    repository: infra
		    path: apps/web/staging
		    target: {type: directory, path: ./live}
		    service: web
		    environment: staging
		EOF
	} >agent.yaml
}

# test_web_repo VERSION: ./work, a new repository holding the web app for
# staging at VERSION (versions.yaml; apps/web/staging: a kustomization
# setting example/web's tag, and one Deployment), nothing committed.
test_web_repo() {
	git init -q -b main work &&
	mkdir -p work/apps/web/staging &&
	printf 'staging:\n  web: "%s"\n' "$1" >work/versions.yaml &&
	cat >work/apps/web/staging/kustomization.yaml <<-EOF &&
	resources:
	  - deployment.yaml
	images:
	  - name: example/web
	    newTag: $1
	EOF
	cat >work/apps/web/staging/deployment.yaml <<-EOF
	apiVersion: apps/v1
	kind: Deployment
	metadata:
	  name: web
	  namespace: staging
	spec:
	  template:
	    spec:
	      containers:
	        - name: web
	          image: example/web
	EOF
}

# test_web_config_versions: the versions section (bumps and rollbacks
# committed to infra) appended to ./agent.yaml.
test_web_config_versions() {
	cat >>agent.yaml <<-EOF
	versions:
	  repository: infra
	  timeout: 30s
	  author_name: Deploy Bot
	  author_email: deploy@example.com
	EOF
}

# test_web_deploy VERSION: POST a signed deploy of web VERSION (tag
# VERSION) to staging with $SECRET (test_post_deploy: the code on stdout,
# the answer in ./reply).
test_web_deploy() {
	test_deploy_body deploy.json "$(printf '{"service": "web", "environment": "staging", "version": "%s", "tag": "%s"}' \
	    "$1" "$1")" &&
	test_post_deploy "$AGENT" "$SECRET" deploy.json
}

# test_app_field APP FIELD [CURL-ARG...]: FIELD (a dotted path, a list
# item by its index) of GET /api/v1/apps/APP from the agent at $AGENT,
# as Python prints it (None when absent).
test_app_field() {
	app=$1
	field=$2
	shift 2
	curl -s "$@" "http://$AGENT/api/v1/apps/$app" | python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    if isinstance(v, list) and k.isdigit():
        v = v[int(k)] if int(k) < len(v) else None
    else:
        v = v.get(k) if isinstance(v, dict) else None
print(v)' "$field"
}

# A server on 127.0.0.1 that accepts every connection and never says a
# word (a hung remote); sets HANG_PORT; each accept is logged to $1.
test_hang_server() {
	HANG_PORT=$(test_free_port)
	python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
held = []
while True:
    held.append(s.accept())
    with open(sys.argv[2], "a") as f:
        f.write("accepted\n")
' "$HANG_PORT" "$1" &
	test_cleanup_pid $!
	test_wait_for 50 python3 -c "import socket; socket.create_connection(('127.0.0.1', $HANG_PORT))"
}

# test_target_is_inventory DIR: the directory target holds exactly the
# files its apps' inventories list (nothing a sync lost track of), and no
# temporary file.
test_target_is_inventory() {
	python3 - "$1" <<-'EOF'
	import json, os, sys
	root = sys.argv[1]
	inv = os.path.join(root, ".gitops-agent", "inventory")
	want = set()
	for f in os.listdir(inv):
	    if not f.endswith(".json"):
	        continue
	    for line in open(os.path.join(inv, f)):
	        e = json.loads(line)
	        if "id" not in e:
	            continue
	        p = e["id"].split("/")
	        ns, name = (p[1], p[2]) if len(p) == 3 else ("_cluster", p[1])
	        want.add(os.path.join(ns, p[0], name + ".yaml"))
	have = set()
	for d, dirs, files in os.walk(root):
	    if os.path.relpath(d, root).split(os.sep)[0] == ".gitops-agent":
	        continue
	    have.update(os.path.relpath(os.path.join(d, f), root) for f in files)
	for p in sorted(have - want):
	    print("not in the inventory:", p)
	for p in sorted(want - have):
	    print("missing:", p)
	sys.exit(have != want)
	EOF
}

# test_command_prereq PREREQ COMMAND WHERE [required]: set PREREQ when
# COMMAND is installed. Otherwise the tests needing it skip, saying that
# WHERE (a Debian package) has it; with "required" (contrib/deps.sh
# installs it) a test fails instead when CI is set.
test_command_prereq() {
	if command -v "$2" >/dev/null 2>&1; then
		test_set_prereq "$1"
	elif [ "${4:-}" = required ] && [ -n "${CI:-}" ]; then
		test_expect_success "$2 is installed (Debian package $3)" 'false'
	else
		echo "# $1 tests skip: $2 is not installed (Debian package $3)"
	fi
}

# The Kubernetes API server double (tests/kube/; the README's testing
# section). test_kube_prereq, at a script's top level, sets the KUBE
# prerequisite when the double was built (needs go) and kubectl is
# installed; otherwise KUBE tests skip, and under CI (CI set) a failing
# test says what is missing: the double is a test dependency CI must have.
KUBE_DOUBLE="$TEST_BUILDDIR/tests/kube/kube-double"
test_kube_prereq() {
	kube_missing=""
	[ -x "$KUBE_DOUBLE" ] || kube_missing="$KUBE_DOUBLE (go not found at build time)"
	command -v kubectl >/dev/null 2>&1 || kube_missing="$kube_missing kubectl"
	if [ -z "$kube_missing" ]; then
		test_set_prereq KUBE
	elif [ -n "${CI:-}" ]; then
		test_expect_success "the Kubernetes double can run (missing: $kube_missing)" 'false'
	else
		echo "# KUBE tests skip: missing $kube_missing"
	fi
}

# test_kube_env, at a script's top level: test_kube_prereq, then K (the
# double's folder, $TRASH/kube), KUBECONFIG pointing at its kubeconfig,
# the double stopped at the end, and kc: kubectl bounded to 30 s a request.
test_kube_env() {
	test_kube_prereq
	K="$TRASH/kube"
	export KUBECONFIG="$K/kubeconfig"
	test_cleanup_pidfile "$K/pid"
}
kc() {
	kubectl --request-timeout=30s "$@"
}

# test_kube_double DIR [ARG...]: start the double writing into DIR (its
# pid in DIR/pid) and wait, at most 30 s, for its kubeconfig. Register
# DIR/pid with test_cleanup_pidfile (top level) or stop it with
# test_when_finished "test_kube_stop DIR".
test_kube_double() {
	kube_dir=$1 && shift &&
	mkdir -p "$kube_dir" &&
	rm -f "$kube_dir/kubeconfig" &&
	{ "$KUBE_DOUBLE" --dir "$kube_dir" "$@" >>"$kube_dir/log" 2>&1 &
	  echo $! >"$kube_dir/pid"; } &&
	test_wait_for 300 test -f "$kube_dir/kubeconfig"
}

test_kube_stop() {
	kill "$(cat "$1/pid")" 2>/dev/null
	test_wait_for 100 sh -c "! kill -0 $(cat "$1/pid") 2>/dev/null"
}

# test_kube_curl DIR TOKENFILE [CURL ARG...] PATH: curl the double with
# the bearer token in TOKENFILE, passed through a config on stdin so it
# never shows in a process list.
test_kube_curl() {
	kube_dir=$1 kube_token=$2 && shift 2 &&
	printf 'header = "Authorization: Bearer %s"\n' "$(cat "$kube_token")" |
	curl -s --max-time 30 -K - --cacert "$kube_dir/ca.crt" "$@"
}

# test_kube_web_deployment IMAGE [SPEC-LINE]: on stdout, a Deployment
# "web" of 2 replicas running IMAGE, its pods labelled app=web as its
# selector says (how the agent finds a workload's pods); SPEC-LINE, such
# as "progressDeadlineSeconds: 3", goes into its spec.
test_kube_web_deployment() {
	cat <<-EOF
	apiVersion: apps/v1
	kind: Deployment
	metadata:
	  name: web
	spec:
	  replicas: 2
	  ${2:-}
	  selector:
	    matchLabels: {app: web}
	  template:
	    metadata:
	      labels: {app: web}
	    spec:
	      containers:
	      - name: web
	        image: $1
	EOF
}

# test_kube_admin DIR METHOD KNOB [JSON]: a knob of the double's admin
# endpoint (/double/KNOB); the answer on stdout, failing on an HTTP error.
test_kube_admin() {
	kube_url=$(cat "$1/url") &&
	test_kube_curl "$1" "$1/admin-token" -f -X "$2" ${4:+-d "$4"} "$kube_url/double/$3"
}
