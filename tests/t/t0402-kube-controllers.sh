#!/bin/sh
# t0402-kube-controllers: the double's simulated controllers (off unless
# asked, by --controllers or PUT /double/controllers). A Deployment rolls
# out after the rollout delay with the status its controller writes; a
# bad image (a tag starting with "bad") leaves a Pod in ImagePullBackOff
# and reaches ProgressDeadlineExceeded after progressDeadlineSeconds,
# scaled; a new template restarts the rollout; Jobs complete or fail;
# the status writes are the controller's, never the applier's fields.
. "$TEST_SRCDIR/tests/lib.sh"

test_kube_env

write_deployment() { # TAG [PROGRESS-DEADLINE-SECONDS]
	test_kube_web_deployment "ghcr.io/acme/web:$1" \
	    "progressDeadlineSeconds: ${2:-600}" >deployment.yaml
}

apply() { # FILE
	kc apply --server-side --field-manager=tester -f "$1" >/dev/null
}

# field KIND NAME JSONPATH
field() {
	kc get "$1" "$2" -o jsonpath="{$3}"
}
field_is() { # KIND NAME JSONPATH VALUE
	test "$(field "$1" "$2" "$3")" = "$4"
}
has_pods() {
	test -n "$(kc get pods -l app=web -o name)"
}
progressing_is() { # REASON
	field_is deployment web \
	    ".status.conditions[?(@.type==\"Progressing\")].reason" "$1"
}

test_expect_success KUBE 'off by default: a Deployment gets no status' '
	test_kube_double "$K" &&
	write_deployment v1 &&
	apply deployment.yaml &&
	sleep 1 &&
	test -z "$(field deployment web .status)" &&
	test_kube_admin "$K" GET controllers >cfg &&
	test_grep "\"enabled\":false" cfg &&
	test_grep "\"rolloutMs\":300" cfg &&
	test_grep "\"badImage\":\"bad\"" cfg
'

test_expect_success KUBE 'the knob turns them on: what exists rolls out' '
	test_kube_admin "$K" PUT controllers "{\"enabled\": true, \"rolloutMs\": 100}" >cfg &&
	test_grep "\"enabled\":true" cfg &&
	test_grep "\"deadlineScale\":1," cfg &&
	test_wait_for 100 progressing_is NewReplicaSetAvailable &&
	field_is deployment web .status.observedGeneration 1 &&
	field_is deployment web .status.updatedReplicas 2 &&
	field_is deployment web .status.readyReplicas 2 &&
	field_is deployment web .status.availableReplicas 2 &&
	field_is deployment web \
	    ".status.conditions[?(@.type==\"Available\")].status" True
'

test_expect_success KUBE 'a bad knob is refused' '
	url=$(cat "$K/url") &&
	test_kube_curl "$K" "$K/admin-token" -o out -w "%{http_code}" -X PUT \
	    -d "{\"rolloutMs\": -1}" "$url/double/controllers" >code &&
	test "$(cat code)" = 400 &&
	test_kube_admin "$K" GET controllers >cfg &&
	test_grep "\"rolloutMs\":100" cfg
'

test_expect_success KUBE 'the status is written as the controller, never owning the spec' '
	kc get deployment web -o json --show-managed-fields >d.json &&
	python3 -c "
import json
d = json.load(open(\"d.json\"))
for m in d[\"metadata\"][\"managedFields\"]:
    print(m[\"manager\"], m[\"operation\"], m.get(\"subresource\", \"-\"),
          \",\".join(sorted(m[\"fieldsV1\"])))
" | sort >owners &&
	cat >expect <<-EOF &&
	kube-controller-manager Update status f:status
	tester Apply - f:spec
	EOF
	test_cmp expect owners &&
	sed -i "s/replicas: 2/replicas: 3/" deployment.yaml &&
	apply deployment.yaml &&
	test_wait_for 100 field_is deployment web .status.availableReplicas 3 &&
	field_is deployment web .status.observedGeneration 2
'

test_expect_success KUBE 'a bad image: a Pod in ImagePullBackOff, then the progress deadline' '
	test_kube_admin "$K" PUT controllers "{\"deadlineScale\": 200}" &&
	write_deployment bad-v2 3 &&
	apply deployment.yaml &&
	test_wait_for 100 field_is deployment web .status.observedGeneration 3 &&
	test_wait_for 100 has_pods &&
	kc get pods -l app=web -o name >pods &&
	test "$(wc -l <pods)" = 1 &&
	pod=$(cat pods) &&
	kc get "$pod" -o jsonpath="{.status.containerStatuses[0].state.waiting.reason}" >reason &&
	test "$(cat reason)" = ImagePullBackOff &&
	kc get "$pod" -o jsonpath="{.metadata.ownerReferences[0].kind}" >owner &&
	test "$(cat owner)" = Deployment &&
	progressing_is ReplicaSetUpdated &&
	field_is deployment web .status.availableReplicas 2 &&
	field_is deployment web .status.updatedReplicas 1 &&
	test_wait_for 100 progressing_is ProgressDeadlineExceeded &&
	field_is deployment web \
	    ".status.conditions[?(@.type==\"Progressing\")].status" False &&
	test_grep "generation 3: progress deadline exceeded" "$K/log"
'

test_expect_success KUBE 'a good template restarts the rollout and scales the bad Pod away' '
	write_deployment v3 &&
	apply deployment.yaml &&
	test_wait_for 100 progressing_is NewReplicaSetAvailable &&
	field_is deployment web .status.observedGeneration 4 &&
	test -z "$(kc get pods -l app=web -o name)"
'

test_expect_success KUBE 'Jobs: created with an empty status, then complete, or fail on a bad image' '
	for j in ok:v1 nok:bad; do
		cat >>jobs.yaml <<-EOF || exit 1
		---
		apiVersion: batch/v1
		kind: Job
		metadata: {name: ${j%%:*}, namespace: default}
		spec:
		  backoffLimit: 2
		  template:
		    spec:
		      restartPolicy: Never
		      containers: [{name: m, image: "ghcr.io/acme/migrate:${j#*:}"}]
		EOF
	done &&
	kc apply --server-side --field-manager=tester -o json -f jobs.yaml >created.json &&
	python3 -c "
import json, sys
d = json.load(open(\"created.json\"))
sys.exit(any(\"status\" not in i for i in d[\"items\"]))
" &&
	test_wait_for 100 field_is job ok .status.succeeded 1 &&
	field_is job ok ".status.conditions[?(@.type==\"Complete\")].status" True &&
	test_wait_for 100 field_is job nok .status.failed 3 &&
	field_is job nok ".status.conditions[?(@.type==\"Failed\")].reason" \
	    BackoffLimitExceeded
'

test_expect_success KUBE 'StatefulSet and DaemonSet roll out' '
	cat >sets.yaml <<-EOF &&
	apiVersion: apps/v1
	kind: StatefulSet
	metadata: {name: db, namespace: default}
	spec:
	  replicas: 2
	  serviceName: db
	  selector: {matchLabels: {app: db}}
	  template:
	    metadata: {labels: {app: db}}
	    spec: {containers: [{name: db, image: "ghcr.io/acme/db:v1"}]}
	---
	apiVersion: apps/v1
	kind: DaemonSet
	metadata: {name: agent, namespace: default}
	spec:
	  selector: {matchLabels: {app: agent}}
	  template:
	    metadata: {labels: {app: agent}}
	    spec: {containers: [{name: a, image: "ghcr.io/acme/agent:v1"}]}
	EOF
	apply sets.yaml &&
	test_wait_for 100 field_is statefulset db .status.readyReplicas 2 &&
	field_is statefulset db .status.updatedReplicas 2 &&
	test "$(field statefulset db .status.currentRevision)" = \
	    "$(field statefulset db .status.updateRevision)" &&
	test_wait_for 100 field_is daemonset agent .status.numberAvailable 1 &&
	field_is daemonset agent .status.updatedNumberScheduled 1
'

test_expect_success KUBE '--controllers with its flags: a second double' '
	test_when_finished "test_kube_stop \"$TRASH/on\"" &&
	test_kube_double "$TRASH/on" --controllers --rollout-delay 50 \
	    --bad-image broken --bad-pods=false &&
	test_kube_admin "$TRASH/on" GET controllers >cfg &&
	test_grep "\"enabled\":true" cfg &&
	test_grep "\"rolloutMs\":50" cfg &&
	test_grep "\"badImage\":\"broken\"" cfg &&
	write_deployment broken-1 1 &&
	(
		KUBECONFIG="$TRASH/on/kubeconfig" &&
		apply deployment.yaml &&
		test_wait_for 100 progressing_is ProgressDeadlineExceeded &&
		field_is deployment web .status.observedGeneration 1 &&
		! has_pods
	)
'

test_done
