#!/bin/sh
# t0265-drift: what the daemon does with live state that drifted from an
# unchanged commit, per app: self_heal (the default) applies it again;
# self_heal false and sync_policy manual only report OutOfSync, naming
# what differs, until a sync is asked for; suspend leaves the app alone.
# The apps are served from a real `git daemon` into directory targets,
# a hand edit is the drift, and a restart (startup looks at every app,
# as a poll does) is the check; curl reads the API and /metrics.
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

test_expect_success 'stop: SIGTERM exits' '
	stop_agent
'

test_done
