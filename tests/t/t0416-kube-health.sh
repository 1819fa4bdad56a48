#!/bin/sh
# t0416-kube-health: a wave on a cluster waits for its resources' health
# as their status tells it (kstatus's rules), and a failure names the
# resource and the reason its status gives; the wait watches, falling
# back to LIST polling, and survives a 410. The double runs no
# controllers until the last test: the test plays the Deployment
# controller by writing the status subresource with kubectl, also while
# the agent waits.
. "$TEST_SRCDIR/tests/lib.sh"

test_kube_env

write_deployment() { # TAG
	test_kube_web_deployment "ghcr.io/acme/web:$1" >app/deployment.yaml
}

# set_status JSON: the Deployment's status, as its controller would.
set_status() {
	kc -n shop patch deployment web --subresource=status --type=merge \
	    -p "{\"status\": $1}" >/dev/null
}

# While the agent waits, a wave's health is watched (one watch per kind and
# namespace by the app's label, and the pods of a progressing workload),
# not polled with GETs: the double's request counter shows it.
progressing() { # UPDATED
	set_status "{\"observedGeneration\": 100, \"replicas\": 2, \"updatedReplicas\": $1, \"availableReplicas\": 1, \"conditions\": [{\"type\": \"Progressing\", \"status\": \"True\", \"reason\": \"ReplicaSetUpdated\"}]}"
}
rolled_out() {
	set_status "{\"observedGeneration\": 100, \"replicas\": 2, \"updatedReplicas\": 2, \"availableReplicas\": 2, \"conditions\": [{\"type\": \"Progressing\", \"status\": \"True\", \"reason\": \"NewReplicaSetAvailable\"}]}"
}

requests_reset() {
	test_kube_admin "$K" DELETE requests >/dev/null
}
# verb VERB: requests of that verb (get, list, watch) since the reset.
verb() {
	test_kube_admin "$K" GET requests >counts.json &&
	python3 -c 'import json,sys; print(json.load(open("counts.json"))["verbs"].get(sys.argv[1], 0))' "$1"
}
# gets_of PATH: GETs of PATH (a watch or LIST of a collection counts too).
gets_of() {
	test_kube_admin "$K" GET requests >counts.json &&
	python3 -c 'import json,sys; print(json.load(open("counts.json"))["requests"].get("GET " + sys.argv[1], 0))' "$1"
}
DEPLOY=/apis/apps/v1/namespaces/shop/deployments
# sync_waiting TAG ERR [OPTION]: a sync of image TAG in the background
# (its pid in pid, stderr in ERR, killed when the test is finished) while
# the Deployment progresses, once it watches the Deployment and its pods.
sync_waiting() {
	progressing 0 &&
	write_deployment "$1" &&
	requests_reset || return 1
	gitops_agent ${3:-} -c long.yaml sync web >out 2>"$2" &
	pid=$!
	test_when_finished "kill $pid 2>/dev/null; true" &&
	test_wait_for 600 eval "test \$(verb watch) -ge 2"
}

test_expect_success KUBE 'setup: the double and a Deployment synced to it' '
	test_kube_double "$K" &&
	mkdir app &&
	printf "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations: {argocd.argoproj.io/sync-wave: \"-1\"}\n" >app/ns.yaml &&
	write_deployment v1 &&
	cat >gitops-agent.yaml <<-EOF &&
	state_dir: ./state
	repositories:
	  - name: local
	    directory: .
	apps:
	  - name: web
	    repository: local
	    path: app
	    target:
	      type: kubernetes
	      kubeconfig: $K/kubeconfig
	      namespace: shop
	    wave_timeout: 2s
	    sync_timeout: 60s
	EOF
	gitops_agent -c gitops-agent.yaml sync web
'

test_expect_success KUBE 'a rollout past its deadline fails the wave with the reason' '
	set_status "{\"observedGeneration\": 100, \"conditions\": [{\"type\": \"Progressing\", \"status\": \"False\", \"reason\": \"ProgressDeadlineExceeded\", \"message\": \"ReplicaSet \\\"web-5d8\\\" has timed out progressing.\"}]}" &&
	write_deployment v2 &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync web >out 2>err &&
	cat out err >all &&
	test_grep "Deployment.apps/shop/web. is Degraded: rollout failed: ReplicaSet \"web-5d8\" has timed out progressing." all
'

test_expect_success KUBE 'a rollout still going times out naming what it waits for' '
	set_status "{\"observedGeneration\": 100, \"replicas\": 3, \"updatedReplicas\": 1, \"availableReplicas\": 2, \"conditions\": [{\"type\": \"Progressing\", \"status\": \"True\", \"reason\": \"ReplicaSetUpdated\"}]}" &&
	write_deployment v3 &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync web >out 2>err &&
	cat out err >all &&
	test_grep "timed out after 2s waiting for .Deployment.apps/shop/web. to be healthy: Progressing (1 of 2 replicas updated)" all
'

test_expect_success KUBE 'a pod of the Deployment in ImagePullBackOff fails the wave at once, naming it' '
	set_status "{\"observedGeneration\": 100, \"replicas\": 2, \"updatedReplicas\": 2, \"availableReplicas\": 1, \"conditions\": [{\"type\": \"Progressing\", \"status\": \"True\", \"reason\": \"ReplicaSetUpdated\"}]}" &&
	cat >pod.yaml <<-EOF &&
	apiVersion: v1
	kind: Pod
	metadata:
	  name: web-7d9-x2x
	  namespace: shop
	  labels: {app: web}
	spec:
	  containers:
	  - name: web
	    image: ghcr.io/acme/web:nope
	EOF
	kc apply --server-side --field-manager=kubelet-double -f pod.yaml &&
	kc -n shop patch pod web-7d9-x2x --subresource=status --type=merge \
	    -p "{\"status\": {\"phase\": \"Pending\", \"containerStatuses\": [{\"name\": \"web\", \"state\": {\"waiting\": {\"reason\": \"ImagePullBackOff\", \"message\": \"Back-off pulling image\"}}}]}}" &&
	write_deployment v3b &&
	sed -i "s/wave_timeout: 2s/wave_timeout: 30s/" gitops-agent.yaml &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync web >out 2>err &&
	sed -i "s/wave_timeout: 30s/wave_timeout: 2s/" gitops-agent.yaml &&
	cat out err >all &&
	test_grep "Deployment.apps/shop/web. is Degraded: pod web-7d9-x2x: container .web.: ImagePullBackOff: Back-off pulling image" all &&
	! grep "timed out" all &&
	kc -n shop delete pod web-7d9-x2x
'

test_expect_success KUBE 'a rolled-out Deployment lets the sync succeed' '
	set_status "{\"observedGeneration\": 100, \"replicas\": 2, \"updatedReplicas\": 2, \"availableReplicas\": 2, \"conditions\": [{\"type\": \"Progressing\", \"status\": \"True\", \"reason\": \"NewReplicaSetAvailable\"}]}" &&
	write_deployment v4 &&
	gitops_agent -c gitops-agent.yaml sync web >out &&
	kc -n shop get deployment web -o jsonpath="{.spec.template.spec.containers[0].image}" >v &&
	test "$(cat v)" = ghcr.io/acme/web:v4
'

test_expect_success KUBE 'a rollout of seconds is watched: no GET of the Deployment, a watch of it and of its pods' '
	sed "s/wave_timeout: 2s/wave_timeout: 60s/" gitops-agent.yaml >long.yaml &&
	start=$(date +%s) &&
	sync_waiting w2 err &&
	sleep 1 &&
	progressing 1 &&
	sleep 1 &&
	progressing 2 &&
	sleep 1 &&
	rolled_out &&
	wait $pid &&
	end=$(date +%s) &&
	test_grep "0 created, 1 updated" out &&
	test "$(gets_of $DEPLOY/web)" = 0 &&
	test "$(gets_of $DEPLOY)" -ge 2 &&
	test "$(gets_of /api/v1/namespaces/shop/pods)" -ge 1 &&
	echo "a rollout of about $((end - start)) s waited for with $(verb watch) watches, $(verb list) lists and $(verb get) GETs in all" >figures
'
test -f figures && echo "# $(cat figures)"

test_expect_success KUBE 'a 410 Expired while waiting lists again and watches on: the wave succeeds' '
	sync_waiting w3 err410 -v &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: unrelated, namespace: default}\n" >unrelated.yaml &&
	kc apply --server-side -f unrelated.yaml >/dev/null &&
	test_kube_admin "$K" POST compact >/dev/null &&
	cat >pod.yaml <<-EOF &&
	apiVersion: v1
	kind: Pod
	metadata:
	  name: web-new
	  namespace: shop
	  labels: {app: web}
	spec:
	  containers:
	  - name: web
	    image: ghcr.io/acme/web:w3
	EOF
	kc apply --server-side --field-manager=kubelet-double -f pod.yaml &&
	test_wait_for 600 grep "watch expired: listing again" err410 &&
	rolled_out &&
	wait $pid &&
	test_grep "0 created, 1 updated" out &&
	test "$(gets_of $DEPLOY/web)" = 0 &&
	kc -n shop delete pod web-new
'

test_expect_success KUBE 'a watch refused falls back to LIST polling: the wave succeeds' '
	test_when_finished "test_kube_admin \"$K\" DELETE faults >/dev/null" &&
	sync_waiting w4 err403 &&
	lists=$(verb list) &&
	test_kube_admin "$K" POST faults \
	    "{\"verb\":\"GET\",\"path\":\"$DEPLOY\",\"status\":403,\"message\":\"watch is forbidden\"}" >/dev/null &&
	progressing 1 &&
	test_wait_for 600 grep "watch failed: polling with LIST instead" err403 &&
	test_grep "watch is forbidden" err403 &&
	rolled_out &&
	wait $pid &&
	test_grep "0 created, 1 updated" out &&
	test "$(verb list)" -gt "$lists" &&
	test "$(gets_of $DEPLOY/web)" = 0
'

test_expect_success KUBE 'a watch and its LIST both refused fall back to a GET of each resource: the wave succeeds' '
	test_when_finished "test_kube_admin \"$K\" DELETE faults >/dev/null" &&
	sync_waiting w5 errget &&
	test_kube_admin "$K" POST faults \
	    "{\"verb\":\"GET\",\"path\":\"$DEPLOY\",\"status\":403,\"count\":100000}" >/dev/null &&
	progressing 1 &&
	test_wait_for 600 eval "test \$(gets_of $DEPLOY/web) -ge 1" &&
	rolled_out &&
	wait $pid &&
	test_grep "0 created, 1 updated" out &&
	test_grep "watch failed: polling with LIST instead" errget
'

test_expect_success KUBE 'health_rules: a custom resource failing by its own condition fails the wave at once' '
	cat >app/crd.yaml <<-EOF &&
	apiVersion: apiextensions.k8s.io/v1
	kind: CustomResourceDefinition
	metadata:
	  name: widgets.example.io
	  annotations: {argocd.argoproj.io/sync-wave: "-1"}
	spec:
	  group: example.io
	  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
	  scope: Namespaced
	  versions:
	  - name: v1
	    served: true
	    storage: true
	    subresources: {status: {}}
	    schema:
	      openAPIV3Schema:
	        type: object
	        x-kubernetes-preserve-unknown-fields: true
	EOF
	cat >app/widget.yaml <<-EOF &&
	apiVersion: example.io/v1
	kind: Widget
	metadata: {name: blue}
	spec: {size: 1}
	EOF
	cat >>gitops-agent.yaml <<-EOF &&
	health_rules:
	  - kind: Widget
	    group: example.io
	    healthy: [Ready=True]
	    degraded: [Ready=False]
	EOF
	gitops_agent -c gitops-agent.yaml check &&
	gitops_agent -c gitops-agent.yaml sync web &&
	kc -n shop patch widget blue --subresource=status --type=merge \
	    -p "{\"status\": {\"conditions\": [{\"type\": \"Ready\", \"status\": \"False\", \"message\": \"backend unreachable\"}]}}" &&
	sed -i "s/size: 1/size: 2/" app/widget.yaml &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync web >out 2>err &&
	cat out err >all &&
	test_grep "Widget.example.io/shop/blue. is Degraded: Ready=False: backend unreachable" all &&
	! grep "timed out" all
'

test_expect_success KUBE 'health_rules: the custom resource healthy by its condition' '
	kc -n shop patch widget blue --subresource=status --type=merge \
	    -p "{\"status\": {\"conditions\": [{\"type\": \"Ready\", \"status\": \"True\"}]}}" &&
	sed -i "s/size: 2/size: 3/" app/widget.yaml &&
	gitops_agent -c gitops-agent.yaml sync web
'

write_hook() { # [POLICY [TAG [NAME]]]
	cat >app/${3:-migrate}.yaml <<-EOF
	apiVersion: batch/v1
	kind: Job
	metadata:
	  name: ${3:-migrate}
	  annotations:
	    argocd.argoproj.io/hook: PreSync
	    ${1:+argocd.argoproj.io/hook-delete-policy: $1}
	spec:
	  template:
	    spec:
	      restartPolicy: Never
	      containers:
	      - name: migrate
	        image: ghcr.io/acme/migrate:${2:-v1}
	EOF
}

job_uid() {
	kc -n shop get job migrate -o jsonpath="{.metadata.uid}"
}

test_expect_success KUBE 'a hook Job runs in every sync that changes something, created anew' '
	write_hook &&
	sed -i "s/size: 3/size: 4/" app/widget.yaml &&
	gitops_agent -c gitops-agent.yaml sync web >out &&
	test_grep "Job.batch/shop/migrate" out &&
	job_uid >uid1 && test -s uid1 &&
	gitops_agent -c gitops-agent.yaml sync web >out &&
	test "$(job_uid)" = "$(cat uid1)" &&
	sed -i "s/size: 4/size: 5/" app/widget.yaml &&
	gitops_agent -c gitops-agent.yaml sync web >out &&
	job_uid >uid2 && test -s uid2 &&
	test "$(cat uid1)" != "$(cat uid2)"
'

test_expect_success KUBE 'HookSucceeded: the hook Job is deleted once its wave is healthy' '
	write_hook HookSucceeded &&
	sed -i "s/size: 5/size: 6/" app/widget.yaml &&
	gitops_agent -c gitops-agent.yaml sync web >out &&
	test_must_fail kc -n shop get job migrate 2>err &&
	test_grep NotFound err &&
	gitops_agent -c gitops-agent.yaml sync web >out &&
	test_must_fail kc -n shop get job migrate
'

test_expect_success KUBE 'a hook Job whose template changed is created anew, not refused as immutable' '
	write_hook "" v2 &&
	sed -i "s/size: 6/size: 7/" app/widget.yaml &&
	gitops_agent -c gitops-agent.yaml sync web >out &&
	kc -n shop get job migrate -o jsonpath="{.spec.template.spec.containers[0].image}" >v &&
	test "$(cat v)" = ghcr.io/acme/migrate:v2 &&
	write_hook "" v3 &&
	sed -i "s/size: 7/size: 8/" app/widget.yaml &&
	gitops_agent -c gitops-agent.yaml sync web >out &&
	kc -n shop get job migrate -o jsonpath="{.spec.template.spec.containers[0].image}" >v &&
	test "$(cat v)" = ghcr.io/acme/migrate:v3
'

test_expect_success KUBE 'a hook that exists and is not of this app is never deleted: the sync says so' '
	write_hook "" v1 seed &&
	sed "s/argocd.argoproj.io\/hook: PreSync/owner: someone-else/" app/seed.yaml >foreign.yaml &&
	kc apply --server-side --field-manager=someone-else -n shop -f foreign.yaml &&
	uid=$(kc -n shop get job seed -o jsonpath="{.metadata.uid}") &&
	sed -i "s/size: 8/size: 9/" app/widget.yaml &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync web >out 2>err &&
	cat out err >all &&
	test_grep "Job.batch/shop/seed" all &&
	test "$(kc -n shop get job seed -o jsonpath="{.metadata.uid}")" = "$uid" &&
	rm app/seed.yaml &&
	gitops_agent -c gitops-agent.yaml sync web
'

# With the double's controllers on, a Job takes a second to complete:
# the old Job, Complete, must not pass the new one before it has run.
test_expect_success KUBE 'a hook Job created again is waited on, not judged by the one it replaced' '
	test_kube_admin "$K" PUT controllers "{\"enabled\": true, \"rolloutMs\": 1000}" &&
	sed -i "s/size: 9/size: 10/" app/widget.yaml &&
	gitops_agent -c gitops-agent.yaml sync web &&
	job_uid >uid1 && test -s uid1 &&
	kc -n shop get job migrate -o jsonpath="{.status.succeeded}" >done1 &&
	test "$(cat done1)" = 1 &&
	sed -i "s/size: 10/size: 11/" app/widget.yaml &&
	gitops_agent -c gitops-agent.yaml sync web &&
	job_uid >uid2 &&
	test "$(cat uid1)" != "$(cat uid2)" &&
	kc -n shop get job migrate -o jsonpath="{.status.succeeded}" >done2 &&
	test "$(cat done2)" = 1
'

test_done
