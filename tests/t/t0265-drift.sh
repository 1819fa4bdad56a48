#!/bin/sh
# t0265-drift: what the daemon does with live state that drifted from an
# unchanged commit, per app: self_heal (the default) applies it again;
# self_heal false and sync_policy manual only report OutOfSync, naming
# what differs, until a sync is asked for; suspend leaves the app alone.
# The apps are served from a real `git daemon` into directory targets,
# a hand edit is the drift, and a restart (startup looks at every app,
# as a poll does) is the check; then drift_interval's checks between
# polls find it without one, naming the fields. curl reads the API and
# /metrics.
. "$TEST_SRCDIR/tests/lib.sh"

test_infra_remote "drift secret"
test_cleanup_pidfile "$TRASH/agent.pid"

write_config() {
	{
		echo "listen: $AGENT"
		echo "state_dir: ./state"
		echo "repositories:"
		echo "  - name: shop"
		echo "    url: $URL"
		echo "    poll_interval: 10m"
		echo "    timeout: 10s"
		echo "apps:"
		for app in heal report manual frozen; do
			echo "  - name: $app"
			echo "    repository: shop"
			echo "    path: app"
			echo "    target: {path: ./live/$app}"
			echo "    drift_interval: ${DRIFT:-3m}"
			case $app in
			report) echo "    self_heal: false" ;;
			manual) echo "    sync_policy: manual" ;;
			frozen) echo "    suspend: true" ;;
			esac
		done
	} >agent.yaml
}

start_agent() {
	{ "$GITOPS_AGENT" -c agent.yaml serve >>agent.log 2>&1 &
	  echo $! >agent.pid; } &&
	test_wait_for 600 curl -sf "http://$AGENT/readyz"
}

stop_agent() {
	kill "$(cat agent.pid)" &&
	test_wait_for 300 sh -c "! kill -0 $(cat agent.pid) 2>/dev/null"
}

checked() { # APP OUTCOME
	test "$(test_app_field "$1" lastCheck)" = "$2"
}

CM=live/APP/shop/ConfigMap/settings.yaml

test_expect_success 'setup: an app of one ConfigMap, four ways to run it' '
	git init -q -b main work &&
	mkdir work/app &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\ndata: {MODE: blue}\n" >work/app/cm.yaml &&
	git -C work add -A &&
	git -C work commit -q -m app &&
	git -C work push -q "$URL" main &&
	write_config &&
	"$GITOPS_AGENT" -c agent.yaml check &&
	start_agent &&
	test_wait_for 600 checked heal Succeeded &&
	test_wait_for 600 checked report Succeeded &&
	test_wait_for 600 checked manual OutOfSync &&
	test_wait_for 600 checked frozen Skipped
'

test_expect_success 'sync_policy manual: reported OutOfSync, nothing applied' '
	test ! -e live/manual &&
	test_app_field manual lastCheckReason >why &&
	test_grep "1 resource differs from Git, not applied (sync_policy manual): ConfigMap/shop/settings" why
'

test_expect_success 'suspend: neither synced nor checked' '
	test ! -e live/frozen &&
	test "$(test_app_field frozen lastCheckReason)" = suspended
'

test_expect_success 'after a hand edit, self_heal applies Git again; self_heal false reports it' '
	stop_agent &&
	for app in heal report; do
		sed -i "s/blue/red/" "$(echo $CM | sed "s/APP/$app/")" || return 1
	done &&
	start_agent &&
	test_wait_for 600 checked heal Succeeded &&
	test_wait_for 600 checked report OutOfSync &&
	test_grep "MODE: blue" live/heal/shop/ConfigMap/settings.yaml &&
	test_grep "MODE: red" live/report/shop/ConfigMap/settings.yaml &&
	test_app_field report lastCheckReason >why &&
	test_grep "differs from Git, not applied (self_heal false): ConfigMap/shop/settings" why &&
	test "$(test_app_field report drift.0.fields.0)" = .data.MODE &&
	grep "msg=\"out of sync\" app=report" agent.log &&
	curl -sf "http://$AGENT/metrics" >metrics &&
	test_grep "gitops_app_sync_state{app=\"report\",state=\"OutOfSync\"} 1" metrics &&
	test_grep "gitops_syncs_skipped_total{app=\"report\",reason=\"out_of_sync\"}" metrics
'

sync_now() { # APP
	test "$(curl -s -o reply -w "%{http_code}" -X POST \
	    "http://$AGENT/api/v1/apps/$1/sync")" = 202
}

test_expect_success 'a sync asked for applies: self_heal false and manual alike' '
	sync_now report &&
	test_wait_for 600 checked report Succeeded &&
	test_grep "MODE: blue" live/report/shop/ConfigMap/settings.yaml &&
	sync_now manual &&
	test_wait_for 600 checked manual Succeeded &&
	test_grep "MODE: blue" live/manual/shop/ConfigMap/settings.yaml
'

test_expect_success 'a new commit: self_heal false applies it, manual only reports it' '
	stop_agent &&
	sed -i "s/blue/green/" work/app/cm.yaml &&
	git -C work commit -q -am green &&
	git -C work push -q "$URL" main &&
	start_agent &&
	test_wait_for 600 checked report Succeeded &&
	test_wait_for 600 checked manual OutOfSync &&
	test_wait_for 600 checked heal Succeeded &&
	test_grep "MODE: green" live/report/shop/ConfigMap/settings.yaml &&
	test_grep "MODE: green" live/heal/shop/ConfigMap/settings.yaml &&
	test_grep "MODE: blue" live/manual/shop/ConfigMap/settings.yaml
'

drift_of() { # APP: the API's drift of the app, one line per resource
	curl -sf "http://$AGENT/api/v1/apps/$1" | python3 -c '
import json, sys
app = json.load(sys.stdin)
for d in app["drift"]:
    print(d["id"], " ".join(d.get("fields", [])), "others:",
          " ".join(d.get("othersFields", [])))
print("columns", app["syncState"], app["health"])
'
}

metric_has() { # LINE
	curl -sf "http://$AGENT/metrics" | grep -qF "$1"
}

logged() { # TEXT
	grep -qF "$1" agent.log
}

checks_above() { # APP N
	test "$(test_app_field "$1" checks)" -gt "$2"
}

test_expect_success 'drift_interval: a hand edit is healed between polls, without a restart' '
	stop_agent &&
	DRIFT=1s && write_config &&
	start_agent &&
	test_wait_for 600 checked heal Succeeded &&
	sed -i "s/green/red/" live/heal/shop/ConfigMap/settings.yaml &&
	test_wait_for 600 grep -q "MODE: green" live/heal/shop/ConfigMap/settings.yaml &&
	test_wait_for 600 logged "msg=\"self-heal: drift applied again\" app=heal" &&
	test_wait_for 600 metric_has "gitops_drift_checks_total{app=\"heal\",result=\"healed\"} 1"
'

test_expect_success 'drift_interval with self_heal false: reported OutOfSync, the field named' '
	test_wait_for 600 checked report Unchanged &&
	sed -i "s/green/red/" live/report/shop/ConfigMap/settings.yaml &&
	test_wait_for 600 checked report OutOfSync &&
	test_grep "MODE: red" live/report/shop/ConfigMap/settings.yaml &&
	test_app_field report lastCheckReason >why &&
	test_grep "1 resource drifted from Git, not applied (self_heal false): ConfigMap/shop/settings" why &&
	drift_of report >drift &&
	test_grep "^ConfigMap/shop/settings .data.MODE others: $" drift &&
	# A directory target says a file that differs is Degraded.
	test_grep "^columns OutOfSync Degraded$" drift &&
	curl -sf "http://$AGENT/api/v1/apps/report/resources" >res.json &&
	python3 -c "
import json
r = json.load(open(\"res.json\"))[0]
assert r[\"sync\"] == \"OutOfSync\", r
assert r[\"drift\"][\"fields\"] == [\".data.MODE\"], r
" &&
	"$GITOPS_AGENT" -c agent.yaml status report >out &&
	test_grep "^sync state: *OutOfSync$" out &&
	test_grep "^ConfigMap/shop/settings  *ours: .data.MODE$" out &&
	metric_has "gitops_app_sync_state{app=\"report\",state=\"OutOfSync\"} 1" &&
	metric_has "gitops_drift_checks_total{app=\"report\",result=\"out_of_sync\"}"
'

test_expect_success 'drift_interval: put back by hand, the app is Synced again' '
	sed -i "s/red/green/" live/report/shop/ConfigMap/settings.yaml &&
	test_wait_for 600 checked report Unchanged &&
	drift_of report >drift &&
	test_grep "^columns Synced Healthy$" drift &&
	metric_has "gitops_app_sync_state{app=\"report\",state=\"Synced\"} 1"
'

test_expect_success 'drift_interval: no check while another process holds the target lock' '
	# -o: the lock stays with flock itself, held for 4 s.
	{ flock -o live/report/.gitops-agent/lock sleep 4 & } &&
	test_wait_for 50 sh -c "! flock -n live/report/.gitops-agent/lock true" &&
	sed -i "s/green/red/" live/report/shop/ConfigMap/settings.yaml &&
	sleep 3 &&
	checked report Unchanged &&
	test_wait_for 600 checked report OutOfSync &&
	sed -i "s/red/green/" live/report/shop/ConfigMap/settings.yaml &&
	test_wait_for 600 checked report Unchanged
'

test_expect_success 'drift_interval: a manual app with a newer commit waiting stays OutOfSync' '
	n=$(test_app_field manual checks) &&
	test_wait_for 600 checks_above manual "$n" &&
	checked manual OutOfSync &&
	test_grep "MODE: blue" live/manual/shop/ConfigMap/settings.yaml
'

test_expect_success 'drift_interval: a suspended app is never checked' '
	test "$(test_app_field frozen checks)" = 1 &&
	test ! -e live/frozen
'

test_expect_success 'stop: SIGTERM exits' '
	stop_agent
'

test_done
