#!/bin/sh
# t0422-kube-drift: drift checks between polls on a cluster (the API
# server double). Two apps of a ConfigMap and a Deployment, served from a
# real `git daemon`, checked every second (drift_interval: 1s, the poll
# 10m away): a hand edit with kubectl of a field the agent manages is
# healed with self_heal true and reported, the field named, with
# self_heal false; a label only kubectl set is reported as another
# manager's and left alone; a paused Deployment is Suspended. kubectl is
# the hand and the witness; curl and python3 read the API.
. "$TEST_SRCDIR/tests/lib.sh"

test_kube_env
test_cleanup_pidfile "$TRASH/agent.pid"
test_infra_remote "drift secret"

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
		for app in heal report; do
			echo "  - name: $app"
			echo "    repository: shop"
			echo "    path: app"
			echo "    namespace: $app"
			echo "    target: {type: kubernetes, kubeconfig: $K/kubeconfig}"
			echo "    drift_interval: 1s"
			test $app = report && echo "    self_heal: false"
		done
	} >agent.yaml
}

checked() { # APP OUTCOME
	test "$(test_app_field "$1" lastCheck)" = "$2"
}

# The last sync succeeded (lastCheck would not do: a drift check a
# second later may already have put Unchanged in its place).
synced() { # APP
	test "$(test_app_field "$1" status)" = Succeeded
}

mode_is() { # NAMESPACE MODE
	test "$(kc -n "$1" get configmap settings \
	    -o jsonpath="{.data.MODE}")" = "$2"
}

# The API's drift of the app, one line per resource, then its columns.
drift_of() { # APP
	curl -sf "http://$AGENT/api/v1/apps/$1" | python3 -c '
import json, sys
app = json.load(sys.stdin)
for d in app["drift"]:
    print(d["id"], "ours:", " ".join(d.get("fields", [])), "others:",
          " ".join(d.get("othersFields", [])), "by:",
          " ".join(d.get("managers", [])))
print("columns", app["syncState"], app["health"])
'
}

drift_has() { # APP LINE
	drift_of "$1" >drift.now && grep -qxF "$2" drift.now
}

metric_has() { # LINE
	curl -sf "http://$AGENT/metrics" | grep -qF "$1"
}

checks_above() { # APP N
	test "$(test_app_field "$1" checks)" -gt "$2"
}

test_expect_success KUBE 'setup: two apps on the double, checked every second' '
	test_kube_double "$K" &&
	git init -q -b main work &&
	mkdir work/app &&
	cat >work/app/app.yaml <<-EOF &&
	apiVersion: v1
	kind: ConfigMap
	metadata: {name: settings}
	data: {MODE: blue}
	---
	apiVersion: apps/v1
	kind: Deployment
	metadata: {name: web}
	spec:
	  replicas: 1
	  selector: {matchLabels: {app: web}}
	  template:
	    metadata: {labels: {app: web}}
	    spec:
	      containers: [{name: web, image: nginx:1.27}]
	EOF
	git -C work add -A &&
	git -C work commit -q -m app &&
	git -C work push -q "$URL" main &&
	printf "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n---\n" \
	    heal report >ns.yaml &&
	kc apply --server-side -f ns.yaml &&
	write_config &&
	"$GITOPS_AGENT" -c agent.yaml check &&
	(
		${VALGRIND:-} "$GITOPS_AGENT" -c agent.yaml serve >agent.log 2>&1 &
		echo $! >agent.pid
	) &&
	test_wait_for 600 curl -sf "http://$AGENT/readyz" &&
	test_wait_for 600 synced heal &&
	test_wait_for 600 synced report &&
	mode_is heal blue &&
	mode_is report blue
'

test_expect_success KUBE 'nothing drifted: the checks say Synced and Healthy' '
	n=$(test_app_field report checks) &&
	test_wait_for 600 checks_above report "$n" &&
	checked report Unchanged &&
	test_wait_for 600 drift_has report "columns Synced Healthy" &&
	metric_has "gitops_drift_checks_total{app=\"report\",result=\"synced\"}"
'

test_expect_success KUBE 'self_heal true: a field we manage edited by hand is set back within seconds' '
	date +%s%N >edit.ns &&
	kc -n heal patch configmap settings --type merge \
	    -p "{\"data\":{\"MODE\":\"red\"}}" &&
	test_wait_for 600 mode_is heal blue &&
	date +%s%N >healed.ns &&
	test_wait_for 600 metric_has "gitops_drift_checks_total{app=\"heal\",result=\"healed\"}" &&
	grep "msg=\"self-heal: drift applied again\" app=heal .*resources=ConfigMap/heal/settings" agent.log
'

test -f healed.ns && echo "# hand edit to healed: $(( ($(cat healed.ns) - \
    $(cat edit.ns)) / 1000000 )) ms (drift_interval 1s, kubectl polled)"

test_expect_success KUBE 'self_heal false: reported OutOfSync with the field named, left as edited' '
	kc -n report patch configmap settings --type merge \
	    -p "{\"data\":{\"MODE\":\"red\"}}" &&
	test_wait_for 600 checked report OutOfSync &&
	test_wait_for 600 drift_has report "ConfigMap/report/settings ours: .data.MODE others:  by: kubectl-patch" &&
	drift_has report "columns OutOfSync Healthy" &&
	test_app_field report lastCheckReason >why &&
	test_grep "1 resource drifted from Git, not applied (self_heal false): ConfigMap/report/settings" why &&
	mode_is report red &&
	curl -sf "http://$AGENT/api/v1/apps/report/resources" >res.json &&
	python3 -c "
import json
rs = {r[\"id\"]: r for r in json.load(open(\"res.json\"))}
cm = rs[\"ConfigMap/report/settings\"]
assert cm[\"sync\"] == \"OutOfSync\" and cm[\"health\"] == \"Healthy\", cm
assert cm[\"drift\"][\"fields\"] == [\".data.MODE\"], cm
web = rs[\"Deployment.apps/report/web\"]
assert web[\"sync\"] == \"Synced\" and \"drift\" not in web, web
" &&
	"$GITOPS_AGENT" -c agent.yaml status report >out &&
	test_grep "^sync state: *OutOfSync$" out &&
	test_grep "^ConfigMap/report/settings  *ours: .data.MODE$" out &&
	metric_has "gitops_app_sync_state{app=\"report\",state=\"OutOfSync\"} 1"
'

test_expect_success KUBE 'a field only another manager set is reported as not ours and left alone' '
	kc -n heal label configmap settings team=ops &&
	test_wait_for 600 drift_has heal "ConfigMap/heal/settings ours:  others: .metadata.labels.team by: kubectl-label" &&
	drift_has heal "columns Synced Healthy" &&
	checked heal Unchanged &&
	test_app_field heal lastCheckReason >why &&
	test_grep "fields other managers set are left alone" why &&
	test "$(kc -n heal get configmap settings \
	    -o jsonpath="{.metadata.labels.team}")" = ops &&
	"$GITOPS_AGENT" -c agent.yaml status heal >out &&
	test_grep "^ConfigMap/heal/settings  *not ours (kubectl-label): .metadata.labels.team$" out
'

test_expect_success KUBE 'a Deployment paused by hand is Suspended, the pause not ours' '
	kc -n report patch deployment web --type merge \
	    -p "{\"spec\":{\"paused\":true}}" &&
	test_wait_for 600 drift_has report "columns OutOfSync Suspended" &&
	curl -sf "http://$AGENT/api/v1/apps/report/resources" >res.json &&
	python3 -c "
import json
rs = {r[\"id\"]: r for r in json.load(open(\"res.json\"))}
web = rs[\"Deployment.apps/report/web\"]
assert web[\"health\"] == \"Suspended\", web
assert web[\"drift\"][\"othersFields\"] == [\".spec.paused\"], web
" &&
	metric_has "gitops_app_health{app=\"report\",status=\"Suspended\"} 1"
'

test_expect_success KUBE 'a sync asked for applies the reported drift: Synced again' '
	kc -n report patch deployment web --type merge \
	    -p "{\"spec\":{\"paused\":false}}" &&
	test "$(curl -s -o reply -w "%{http_code}" -X POST \
	    "http://$AGENT/api/v1/apps/report/sync")" = 202 &&
	test_wait_for 600 mode_is report blue &&
	test_wait_for 600 drift_has report "columns Synced Healthy"
'

test_expect_success KUBE 'stop: SIGTERM exits' '
	kill "$(cat agent.pid)" &&
	test_wait_for 300 sh -c "! kill -0 $(cat agent.pid) 2>/dev/null"
'

test_done
