#!/bin/sh
# t0250-crash: the agent killed with SIGKILL at random points of a sync, a
# bump, a deploy and a rollback, then restarted. Each round starts the
# agent, pushes a commit that rewrites, adds and removes many resources
# (announced through the generic webhook), deploys a good version and a
# bad one (its health command fails, so the agent reverts it), sleeps a
# random 0-300 ms (seeded; the seed is printed) and kills the agent. While
# it is down and once a restart has converged, the invariants hold: the
# remote (a real git daemon, checked with the git CLI) lost no commit, has
# no merge and is fsck-clean, the state files parse, and in the end every
# deploy answered 202 landed exactly once, the target holds exactly its
# inventory and no temporary file.
. "$TEST_SRCDIR/tests/lib.sh"

SECRET="crash secret"
test_infra_remote "$SECRET"
test_cleanup_pidfile "$TRASH/agent.pid"

# Not under valgrind (make check-valgrind): a kill -9 leaves valgrind
# nothing to report and the rounds would take many minutes; the
# sanitizer run covers the agent's memory here.
if [ -n "${VALGRIND:-}" ]; then
	echo "1..0 # SKIP killed with SIGKILL, nothing for valgrind to check"
	exit 0
fi
ROUNDS=${CRASH_ROUNDS:-6}
SCALE=1
SEED=${CRASH_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
echo "# seed $SEED (rerun with CRASH_SEED=$SEED), $ROUNDS rounds"

test_web_config &&
cat >>agent.yaml <<EOF &&
    sync_timeout: 20s
    health:
      - name: not-bad
        type: command
        command: [sh, -c, '! grep -q "example/web:.*bad" live/staging/Deployment.apps/web.yaml']
        timeout: 10s
EOF
test_web_config_versions || exit 1

start_agent() {
	${VALGRIND:-} "$GITOPS_AGENT" -c agent.yaml serve >>agent.log 2>&1 &
	echo $! >agent.pid
}

# The requests of a round, made and signed while the agent is down, so
# that they reach it within milliseconds of each other once it is up.
prepare() { # ROUND
	printf '{"repository": "%s", "ref": "refs/heads/main", "after": "%s"}' \
	    "$URL" "$(git -C work rev-parse HEAD)" >push.json &&
	PUSH_SIG=$(test_sign "$SECRET" push.json) &&
	for v in "v$1" "v$1-bad"; do
		test_deploy_body "$v.json" "$(printf '{"service": "web", "environment": "staging", "version": "%s", "tag": "%s"}' "$v" "$v")" &&
		test_sign "$SECRET" "$v.json" >"$v.sig" || return 1
	done
}

push_webhook() {
	curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @push.json \
	    -H "X-Gitops-Event: push" -H "X-Signature: sha256=$PUSH_SIG" \
	    "http://$AGENT/webhooks/generic"
}

# configmaps ROUND: rewrite the ConfigMaps: 20 of them, a third renamed
# each round (so the sync adds and prunes), every one's data changed.
configmaps() {
	rm -f work/apps/web/staging/cm-*.yaml &&
	sed -i '/cm-/d' work/apps/web/staging/kustomization.yaml &&
	for i in $(seq 1 20); do
		n="cm-$i-$(( (i + $1) % 3 ))"
		printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: staging\ndata:\n  round: "%s"\n' \
		    "$n" "$1" >"work/apps/web/staging/$n.yaml" &&
		sed -i "s|^resources:|resources:\n  - $n.yaml|" \
		    work/apps/web/staging/kustomization.yaml || return 1
	done
}

# push_work MESSAGE: commit the work tree on top of the remote (the agent
# is down, nobody else pushes) and push it, as a commit never to be lost.
push_work() {
	git -C work add -A && git -C work commit -q -m "$1" &&
	git -C work pull -q --rebase "$URL" main &&
	git -C work push -q "$URL" HEAD:main &&
	git -C work rev-parse HEAD >>pushed
}

# No receive-pack still writing into the remote: a push cut by the kill
# is moving objects out of its quarantine for a moment, and fsck reading
# then sees a tree before its blobs ("missing blob"), a race of the check,
# not a fault of the repository.
remote_idle() {
	! pgrep -f "receive-pack.*$TRASH/srv/infra" >/dev/null
}

# The remote's invariants once no push is being received.
remote_is_sound() {
	test_wait_for 300 remote_idle &&
	{ git --git-dir=srv/infra.git fsck --strict >fsck.out 2>&1 ||
	    { cat fsck.out; false; }; } &&
	git --git-dir=srv/infra.git rev-list --merges main >merges &&
	test_cmp /dev/null merges &&
	while read -r c; do
		git --git-dir=srv/infra.git merge-base --is-ancestor "$c" main ||
		    { echo "lost commit $c"; return 1; }
	done <pushed &&
	git --git-dir=srv/infra.git log --format=%s main >subjects &&
	! sort subjects | uniq -d | grep -E "^(Deploy|Revert) "
}

# Every state file the agent keeps in JSON parses.
state_parses() {
	find state -name "*.json" -type f >json-files &&
	while read -r f; do
		python3 -c "import json, sys; json.load(open(sys.argv[1]))" "$f" ||
		    { echo "does not parse: $f"; return 1; }
	done <json-files
}

app_field() { test_app_field web-staging "$1"; }

# Converged: no deploy waiting on disk, the remote's tip synced, and no
# sync under way.
converged() {
	test "$(ls state/deployments | wc -l)" = 0 &&
	test "$(app_field lastSyncedCommit)" = \
	    "$(git --git-dir=srv/infra.git rev-parse main)" &&
	test "$(app_field status)" = Succeeded
}

test_expect_success 'setup: the infra repository on the git daemon' '
	test_web_repo v0 &&
	configmaps 0 &&
	git -C work add -A && git -C work commit -q -m "web v0" &&
	git -C work push -q "$URL" main &&
	git -C work rev-parse HEAD >pushed &&
	: >accepted &&
	python3 -c "import random, sys
random.seed(int(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    print(\"%.3f\" % (random.randint(0, 300) * int(sys.argv[3]) / 1000))" \
	    "$SEED" "$ROUNDS" "$SCALE" >sleeps
'

# round N SLEEP: push while the agent is down, start it, send the push
# webhook and two deploys, kill -9 SLEEP seconds later.
round() {
	configmaps "$1" && push_work "round $1" && prepare "$1" &&
	start_agent &&
	test_wait_for 600 curl -sf "http://$AGENT/readyz" &&
	code=$(push_webhook) && test "$code" = 202 &&
	for v in "v$1" "v$1-bad"; do
		code=$(test_post_deploy "$AGENT" "$SECRET" "$v.json" "$(cat "$v.sig")") &&
		test "$code" = 202 && echo "$v" >>accepted || {
			echo "deploy $v: $code"; cat reply; return 1
		}
	done &&
	sleep "$2" &&
	pid=$(cat agent.pid) && kill -KILL "$pid" &&
	{ wait "$pid" 2>/dev/null; true; } &&
	echo "round $1: killed after $2 s"
}

n=0
while read -r s; do
	n=$((n + 1))
	test_expect_success "round $n: SIGKILL after ${s}s; the remote and the state hold" "
		round $n $s &&
		remote_is_sound &&
		state_parses
	"
done <sleeps

test_expect_success 'restarted: the agent converges' '
	start_agent &&
	test_wait_for 600 curl -sf "http://$AGENT/readyz" &&
	test_wait_for 1200 converged
'

test_expect_success 'every accepted deploy landed exactly once' '
	git --git-dir=srv/infra.git log --format=%s main >subjects &&
	while read -r v; do
		n=$(grep -c -x "Deploy web $v to staging" subjects)
		test "$n" = 1 || { echo "$v landed $n times"; exit 1; }
	done <accepted
'

test_expect_success 'no commit lost or duplicated, history linear, fsck clean' '
	remote_is_sound
'

test_expect_success 'the target is its inventory, with no temporary file' '
	test_target_is_inventory live &&
	find live -name "*.tmp.*" >tmp-files &&
	test ! -s tmp-files
'

test_expect_success 'the last good version is live, the bad ones reverted' '
	grep "image: example/web:v$ROUNDS\$" \
	    live/staging/Deployment.apps/web.yaml &&
	state_parses
'

test_expect_success 'stop: SIGTERM exits' '
	pid=$(cat agent.pid) && kill -TERM "$pid" &&
	test_wait_for 300 sh -c "! kill -0 $pid 2>/dev/null"
'

test_done
