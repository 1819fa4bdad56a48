#!/bin/sh
# t0240-lock: one sync of a target at a time, between the daemon and the
# CLI. A PreSync hook holds a sync mid-way until the test releases it (a
# file, not a sleep): while the daemon holds the target, `sync` fails at
# once naming the daemon; while a CLI sync holds it, the daemon's job
# waits and syncs after it. Either way the target ends holding exactly
# what its inventory lists. A sync also removes the temporary files a
# crash left in the target.
. "$TEST_SRCDIR/tests/lib.sh"

PORT=$(test_free_port)
AGENT="127.0.0.1:$PORT"
test_cleanup_pidfile "$TRASH/agent.pid"

# The hook: say it holds, wait for the release (bounded), consume it.
cat >hold.sh <<EOF
echo "\$GITOPS_APP \$GITOPS_TARGET" >>$TRASH/held.log
touch $TRASH/holding
i=0
while [ ! -e $TRASH/release ] && [ \$i -lt 600 ]; do
	sleep 0.1
	i=\$((i + 1))
done
rm -f $TRASH/release $TRASH/holding
EOF

cat >agent.yaml <<EOF
listen: $AGENT
state_dir: ./state
repositories:
  - name: local
    directory: $TRASH/repo
    poll_interval: 10m
apps:
  - name: shop
    repository: local
    path: app
    target: {type: directory, path: ./live}
    sync_timeout: 60s
    hooks:
      - name: hold
        phase: PreSync
        command: [sh, $TRASH/hold.sh]
        timeout: 90s
EOF

configmap() { # NAME VALUE
	mkdir -p repo/app &&
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: shop\ndata:\n  v: "%s"\n' \
	    "$1" "$2" >"repo/app/$1.yaml"
}
field_is() { # FIELD VALUE
	curl -s "http://$AGENT/api/v1/apps/shop" | python3 -c '
import json, sys
print(json.load(sys.stdin).get(sys.argv[1]))' "$1" | grep -qx "$2"
}
synced() { grep -c "app=shop .*status=Succeeded" agent.log; }

# The holder's command line as /proc shows it: valgrind's own under it.
serve_cmd="gitops-agent -c agent.yaml serve"
sync_cmd="gitops-agent -c agent.yaml sync shop"
if [ -n "${VALGRIND:-}" ]; then
	serve_cmd=".*"
	sync_cmd=".*"
fi

test_expect_success 'the daemon mid-sync holds the target: sync fails naming it' '
	configmap a 1 && configmap b 1 &&
	(
		${VALGRIND:-} "$GITOPS_AGENT" -c agent.yaml serve >agent.log 2>&1 &
		echo $! >agent.pid
	) &&
	test_wait_for 300 test -e holding &&
	test_expect_code 1 gitops_agent -c agent.yaml sync shop >out 2>err &&
	test_grep "^shop: target .*live. is being synced by pid $(cat agent.pid) ($serve_cmd); try again when it is done$" err &&
	test "$(wc -l <held.log)" = 1 &&
	test_grep "^shop live$" held.log &&
	touch release &&
	test_wait_for 300 field_is status Succeeded &&
	test_target_is_inventory live &&
	test -f live/shop/ConfigMap/b.yaml
'

test_expect_success 'a CLI sync holds the target: the daemon waits, then syncs' '
	before=$(synced) &&
	configmap a 2 && configmap c 1 && rm repo/app/b.yaml &&
	{
		(
			gitops_agent -c agent.yaml sync shop >cli.out 2>&1
			echo $? >cli.rc
		) &
	} &&
	test_wait_for 300 test -e holding &&
	code=$(curl -s -o /dev/null -w "%{http_code}" -X POST \
	    "http://$AGENT/api/v1/apps/shop/sync") && test "$code" = 202 &&
	test_wait_for 300 grep -q "msg=\"waiting for another sync of the target\" .*holder=\"pid [0-9]* ($sync_cmd)\"" agent.log &&
	test "$(synced)" = "$before" &&
	touch release &&
	test_wait_for 300 test -e cli.rc &&
	test "$(cat cli.rc)" = 0 &&
	test_grep "1 created, 1 updated, 1 pruned" cli.out &&
	test_wait_for 300 test "$(synced)" -gt "$before" &&
	test_grep -v "sync failed" agent.log &&
	test "$(wc -l <held.log)" = 2 &&
	test_target_is_inventory live &&
	test ! -e live/shop/ConfigMap/b.yaml &&
	test_grep "v: \"2\"" live/shop/ConfigMap/a.yaml
'

test_expect_success 'a sync removes the temporary files a crash left' '
	printf "kind: Secret\ndata: {password: aHVudGVyMg==}\n" \
	    >live/shop/ConfigMap/a.yaml.tmp.Ab12Cd &&
	echo "{}" >live/.gitops-agent/inventory/shop.json.tmp.zzzzzz &&
	echo mine >live/shop/ConfigMap/notes.yaml.tmp &&
	gitops_agent -c agent.yaml sync --dry-run shop >out 2>err &&
	test -e live/shop/ConfigMap/a.yaml.tmp.Ab12Cd &&
	gitops_agent -c agent.yaml sync shop >out 2>err &&
	test ! -e live/shop/ConfigMap/a.yaml.tmp.Ab12Cd &&
	test ! -e live/.gitops-agent/inventory/shop.json.tmp.zzzzzz &&
	test_grep "^mine$" live/shop/ConfigMap/notes.yaml.tmp
'

test_expect_success 'stop: SIGTERM exits' '
	pid=$(cat agent.pid) && kill -TERM "$pid" &&
	test_wait_for 300 sh -c "! kill -0 $pid 2>/dev/null"
'

test_done
