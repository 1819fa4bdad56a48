#!/bin/sh
# t0240-lock: one sync of a target at a time, between the daemon and the
# CLI. A PreSync hook holds a sync mid-way until the test releases it (a
# file, not a sleep): while the daemon holds the target, `sync` fails at
# once naming the daemon, its pid and since when (or, with --wait-lock,
# waits and syncs after it); while a CLI sync holds it, the daemon puts
# its sync off (not failed) and syncs once the CLI is done. Either way
# the target ends holding exactly what its inventory lists. A sync also
# removes the temporary files a crash left in the target. The per-app
# metrics: each app's own sync time (a fast app synced in the same job as
# the held one), its sync state and health gauges, in an exposition
# promtool accepts.
. "$TEST_SRCDIR/tests/lib.sh"

PORT=$(test_free_port)
AGENT="127.0.0.1:$PORT"
test_cleanup_pidfile "$TRASH/agent.pid"

# The hook: say it holds, wait for the release (bounded), consume it.
cat >hold.sh <<EOF
echo "\$GITOPS_APP \$GITOPS_TARGET" >>$TRASH/held.log
touch $TRASH/holding
sleep 1
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
  - name: fast
    repository: local
    path: fast
    target: {type: directory, path: ./live-fast}
EOF
mkdir -p repo/fast &&
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: f\n  namespace: fast\n' \
    >repo/fast/f.yaml

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
synced_since() { test "$(synced)" -gt "$1"; }
metric() { # SERIES: its value
	curl -s "http://$AGENT/metrics" | awk -v k="$1" '$1 == k { v = $2 }
	    END { print v == "" ? "none" : v }'
}
metric_is() { test "$(metric "$1")" = "$2"; }
# The holder as the message names it: the command, its pid, since when.
since='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
if command -v promtool >/dev/null 2>&1; then
	test_set_prereq PROMTOOL
elif [ -n "${CI:-}" ]; then
	echo "Bail out! promtool is missing (contrib/deps.sh installs it)"
	exit 1
fi

test_expect_success 'the daemon mid-sync holds the target: sync fails naming it' '
	configmap a 1 && configmap b 1 &&
	(
		${VALGRIND:-} "$GITOPS_AGENT" -c agent.yaml serve >agent.log 2>&1 &
		echo $! >agent.pid
	) &&
	test_wait_for 300 test -e holding &&
	test_expect_code 1 gitops_agent -c agent.yaml sync shop >out 2>err &&
	grep -Eq "^gitops-agent sync: target of app .shop. is locked by gitops-agent serve \(pid $(cat agent.pid)\) since $since$" err &&
	test "$(wc -l <held.log)" = 1 &&
	test_grep "^shop live$" held.log &&
	touch release &&
	test_wait_for 300 field_is status Succeeded &&
	test_target_is_inventory live &&
	test -f live/shop/ConfigMap/b.yaml
'

test_expect_success 'each app its own sync time; per-app state and health' '
	test "$(metric "gitops_sync_duration_seconds_count{app=\"fast\"}")" = 1 &&
	test "$(metric "gitops_sync_duration_seconds_count{app=\"shop\"}")" = 1 &&
	fast=$(metric "gitops_sync_duration_seconds_sum{app=\"fast\"}") &&
	shop=$(metric "gitops_sync_duration_seconds_sum{app=\"shop\"}") &&
	# shop waited for the release (a second at least), fast did not.
	awk -v f="$fast" -v s="$shop" "BEGIN { exit !(s >= 1 && f < s) }" &&
	for app in shop fast; do
		metric_is "gitops_app_sync_state{app=\"$app\",state=\"Synced\"}" 1 &&
		metric_is "gitops_app_sync_state{app=\"$app\",state=\"OutOfSync\"}" 0 &&
		metric_is "gitops_app_sync_state{app=\"$app\",state=\"Unknown\"}" 0 &&
		metric_is "gitops_app_health{app=\"$app\",status=\"Healthy\"}" 1 &&
		metric_is "gitops_app_health{app=\"$app\",status=\"Degraded\"}" 0 &&
		metric_is "gitops_app_health{app=\"$app\",status=\"Unknown\"}" 0 ||
		return 1
	done
'

test_expect_success PROMTOOL 'the exposition passes promtool check metrics' '
	curl -s "http://$AGENT/metrics" >metrics &&
	promtool check metrics <metrics >lint 2>&1 &&
	test_grep "^# TYPE gitops_app_sync_state gauge$" metrics
'

test_expect_success 'a CLI sync holds the target: the daemon puts its sync off, then syncs' '
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
	test_wait_for 300 grep -Eq "msg=\"sync put off: target locked\" app=shop reason=\"target of app .shop. is locked by gitops-agent sync \(pid [0-9]+\) since $since\" retry_in_s=1" agent.log &&
	test_wait_for 300 field_is lastCheck Locked &&
	field_is status Succeeded &&
	locked=$(metric "gitops_syncs_skipped_total{app=\"shop\",reason=\"locked\"}") &&
	test "$locked" != none && test "$locked" -ge 1 &&
	metric_is "gitops_app_sync_state{app=\"shop\",state=\"OutOfSync\"}" 1 &&
	metric_is "gitops_app_health{app=\"shop\",status=\"Healthy\"}" 1 &&
	test "$(synced)" = "$before" &&
	test_grep -v "sync failed" agent.log &&
	touch release &&
	test_wait_for 300 test -e cli.rc &&
	test "$(cat cli.rc)" = 0 &&
	test_grep "1 created, 1 updated, 1 pruned" cli.out &&
	# the daemon retries within 30 s of the release (the backoff cap)
	test_wait_for 600 synced_since "$before" &&
	test_grep -v "sync failed" agent.log &&
	test "$(wc -l <held.log)" = 2 &&
	test_target_is_inventory live &&
	test ! -e live/shop/ConfigMap/b.yaml &&
	test_grep "v: \"2\"" live/shop/ConfigMap/a.yaml
'

test_expect_success 'sync --wait-lock waits for the daemon, then syncs' '
	configmap a 3 &&
	code=$(curl -s -o /dev/null -w "%{http_code}" -X POST \
	    "http://$AGENT/api/v1/apps/shop/sync") && test "$code" = 202 &&
	test_wait_for 300 test -e holding &&
	{
		(
			gitops_agent -v -c agent.yaml sync --wait-lock 2m shop \
			    >wait.out 2>wait.err
			echo $? >wait.rc
		) &
	} &&
	test_wait_for 300 grep -Eq "msg=\"waiting for another sync of the target\" app=shop .*holder=\"gitops-agent serve \(pid $(cat agent.pid)\) since $since\"" wait.err &&
	test ! -e wait.rc &&
	touch release &&
	test_wait_for 300 test -e wait.rc &&
	test "$(cat wait.rc)" = 0 &&
	test_grep "v: \"3\"" live/shop/ConfigMap/a.yaml &&
	test_target_is_inventory live
'

test_expect_success 'sync --wait-lock takes a positive duration' '
	test_expect_code 2 gitops_agent -c agent.yaml sync --wait-lock 0s shop 2>err &&
	test_grep "^gitops-agent sync: --wait-lock: must be more than zero$" err
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
