#!/bin/sh
# t0410-kube-target: a Kubernetes cluster (the API double, tests/kube/)
# as an app's target, through the CLI: server-side apply in waves, an
# ApplySet inventory kubectl recognises, no request when nothing changed,
# fields removed from Git removed live, another manager's fields kept, a
# conflict that names the manager, a CRD and its resource in one sync, an
# unknown kind refused before anything is applied, immutable fields and
# Replace=true, prune of only what is ours, an empty render refused, and
# transient API failures survived. kubectl checks what is live.
. "$TEST_SRCDIR/tests/lib.sh"

test_kube_env
# counts VERB: how many requests of that verb the double served since
# the counter was reset (requests_reset).
requests_reset() {
	test_kube_admin "$K" DELETE requests >/dev/null
}
counts() {
	test_kube_admin "$K" GET requests >counts.json &&
	python3 -c 'import json,sys; print(json.load(open("counts.json"))["verbs"].get(sys.argv[1], 0))' "$1"
}

write_app() { # REPLICAS LOG_LEVEL
	mkdir -p app
	cat >app/namespace.yaml <<-EOF
	apiVersion: v1
	kind: Namespace
	metadata:
	  name: shop
	  annotations:
	    argocd.argoproj.io/sync-wave: "-1"
	EOF
	cat >app/config.yaml <<-EOF
	apiVersion: v1
	kind: ConfigMap
	metadata:
	  name: checkout-config
	  namespace: shop
	data:
	  LOG_LEVEL: $2
	  EXTRA: "yes"
	EOF
	cat >app/deployment.yaml <<-EOF
	apiVersion: apps/v1
	kind: Deployment
	metadata:
	  name: checkout
	  namespace: shop
	  annotations:
	    argocd.argoproj.io/sync-wave: "5"
	spec:
	  $1
	  selector:
	    matchLabels:
	      app: checkout
	  template:
	    metadata:
	      labels:
	        app: checkout
	    spec:
	      containers:
	      - name: app
	        image: ghcr.io/acme/checkout-service:v3.0.1
	EOF
	cat >app/service.yaml <<-EOF
	apiVersion: v1
	kind: Service
	metadata:
	  name: checkout
	spec:
	  selector:
	    app: checkout
	  ports:
	  - port: 80
	EOF
}

write_config() { # FORCE_CONFLICTS
	cat >gitops-agent.yaml <<-EOF
	state_dir: ./state
	repositories:
	  - name: local
	    directory: .
	apps:
	  - name: shop
	    repository: local
	    path: app
	    target:
	      type: kubernetes
	      kubeconfig: $K/kubeconfig
	      namespace: shop
	      force_conflicts: $1
	    prune: true
	    sync_timeout: 60s
	EOF
}

write_crd() { # FILE SINGULAR KIND: a CRD of acme.example, any fields
	cat >"$1" <<-EOF
	apiVersion: apiextensions.k8s.io/v1
	kind: CustomResourceDefinition
	metadata:
	  name: ${2}s.acme.example
	spec:
	  group: acme.example
	  scope: Namespaced
	  names: {plural: ${2}s, singular: $2, kind: $3}
	  versions:
	  - name: v1
	    served: true
	    storage: true
	    schema:
	      openAPIV3Schema:
	        type: object
	        x-kubernetes-preserve-unknown-fields: true
	EOF
}

test_expect_success KUBE 'setup: the double, an app and its configuration' '
	test_kube_double "$K" &&
	write_app "replicas: 2" info &&
	write_config true &&
	gitops_agent -c gitops-agent.yaml check
'

test_expect_success 'a target takes only the keys of its type' '
	cat >bad.yaml <<-EOF &&
	repositories: [{name: local, directory: .}]
	apps:
	  - name: a
	    repository: local
	    path: app
	    target: {type: kubernetes, path: ./live, namespace: shop}
	  - name: b
	    repository: local
	    path: app
	    target: {type: directory, path: ./live, context: prod}
	  - name: c
	    repository: local
	    path: app
	    target: {type: directory}
	  - name: d
	    repository: local
	    path: app
	    target: {type: kubernetes, in_cluster: true, kubeconfig: ./kc}
	EOF
	test_must_fail gitops_agent -c bad.yaml check 2>err &&
	test_grep "bad.yaml:6:.*.path. is not a key of a kubernetes target" err &&
	test_grep "bad.yaml:10:.*.context. is not a key of a directory target" err &&
	test_grep "missing required key .path." err &&
	test_grep "in_cluster: true. reads no kubeconfig" err
'

test_expect_success KUBE 'sync applies in waves and records an ApplySet kubectl recognises' '
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	kc get namespace shop -o name &&
	kc -n shop get configmap checkout-config -o jsonpath="{.data.LOG_LEVEL}" >v &&
	test "$(cat v)" = info &&
	kc -n shop get deployment checkout -o jsonpath="{.spec.replicas}" >v &&
	test "$(cat v)" = 2 &&
	kc -n shop get service checkout -o name &&
	id=$(kc -n default get configmap gitops-agent.shop \
	    -o jsonpath="{.metadata.labels.applyset\.kubernetes\.io/id}") &&
	case $id in applyset-*-v1) ;; *) echo "id: $id"; exit 1;; esac &&
	kc -n default get configmap gitops-agent.shop \
	    -o jsonpath="{.metadata.annotations.applyset\.kubernetes\.io/tooling}" >v &&
	test_grep "^gitops-agent/" v &&
	kc -n default get configmap gitops-agent.shop \
	    -o jsonpath="{.metadata.annotations.applyset\.kubernetes\.io/contains-group-kinds}" >v &&
	test "$(cat v)" = "ConfigMap,Deployment.apps,Namespace,Service" &&
	kc -n shop get deployment,configmap,service -l "applyset.kubernetes.io/part-of=$id" -o name >members &&
	test "$(wc -l <members)" = 3 &&
	kc -n shop get deployment checkout \
	    -o jsonpath="{.metadata.annotations.gitops-agent\.io/identity}" >v &&
	test "$(cat v)" = "Deployment.apps/shop/checkout" &&
	kc -n shop get deployment checkout -o jsonpath="{.metadata.managedFields[*].manager}" >v &&
	test "$(cat v)" = gitops-agent
'

test_expect_success KUBE 'the same ApplySet id as kubectl computes for that parent' '
	id=$(kc -n default get configmap gitops-agent.shop \
	    -o jsonpath="{.metadata.labels.applyset\.kubernetes\.io/id}") &&
	want=$(printf "gitops-agent.shop.default.ConfigMap." | openssl dgst -sha256 -binary |
	    base64 | tr "+/" "-_" | tr -d "=") &&
	test "$id" = "applyset-$want-v1"
'

test_expect_success KUBE 'kubectl refuses to prune the set: its tooling is ours' '
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: intruder, namespace: default}\n" >intruder.yaml &&
	test_must_fail env KUBECTL_APPLYSET=true kubectl --request-timeout=30s -n default apply \
	    --server-side --applyset=configmap/gitops-agent.shop --prune -f intruder.yaml 2>err &&
	test_grep "tooling" err &&
	kc -n shop get deployment checkout -o name
'

test_expect_success KUBE 'a second sync sends no apply, and lists instead of getting' '
	requests_reset &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	test "$(counts apply)" = 0 &&
	test "$(counts dryrun)" = 0 &&
	test "$(counts get)" -le 2 &&
	test "$(counts list)" -le 4
'

test_expect_success KUBE 'one changed resource costs one dry-run and one apply, no GET of an object' '
	sed -i "s/checkout-service:v3.0.1/checkout-service:v3.0.2/" app/deployment.yaml &&
	requests_reset &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	test_grep "1 updated" out &&
	test "$(counts dryrun)" = 1 &&
	test "$(counts apply)" = 2 &&
	test "$(counts get)" = 1 &&
	python3 - <<-\PY &&
	import json
	c = json.load(open("counts.json"))["requests"]
	# the Deployment: its dry-run and its apply; then the inventory
	assert c["PATCH /apis/apps/v1/namespaces/shop/deployments/checkout"] == 2, c
	assert c["PATCH /api/v1/namespaces/default/configmaps/gitops-agent.shop"] == 1, c
	# the one GET: the inventory, never a resource of the app
	assert c["GET /api/v1/namespaces/default/configmaps/gitops-agent.shop"] == 1, c
	PY
	kc -n shop get deployment checkout -o jsonpath="{.spec.template.spec.containers[0].image}" >v &&
	test "$(cat v)" = ghcr.io/acme/checkout-service:v3.0.2
'

# gets_of PATH: how many GETs of PATH the double served since the reset.
gets_of() {
	test_kube_admin "$K" GET requests >gets.json &&
	python3 -c 'import json,sys; print(json.load(open("gets.json"))["requests"].get("GET " + sys.argv[1], 0))' "$1"
}

test_expect_success KUBE 'an unchanged resource the LIST saw unhealthy is watched until healthy, never read by GET' '
	kc -n shop patch deployment checkout --subresource=status --type=merge \
	    -p "{\"status\":{\"observedGeneration\":100,\"replicas\":2,\"updatedReplicas\":0,\"availableReplicas\":0}}" &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late\n  namespace: shop\n  annotations: {argocd.argoproj.io/sync-wave: \"6\"}\ndata: {k: v}\n" >app/late.yaml &&
	test_when_finished "rm -f app/late.yaml" &&
	test_when_finished "kc -n shop patch deployment checkout --subresource=status --type=merge -p {\\\"status\\\":null}" &&
	requests_reset || return 1
	gitops_agent -c gitops-agent.yaml sync shop >out 2>err &
	pid=$!
	test_when_finished "kill $pid 2>/dev/null; true" &&
	test_wait_for 600 eval "test \$(counts watch) -ge 1" &&
	test_must_fail kc -n shop get configmap late &&
	kc -n shop patch deployment checkout --subresource=status --type=merge \
	    -p "{\"status\":{\"updatedReplicas\":2,\"availableReplicas\":2,\"readyReplicas\":2}}" &&
	wait $pid &&
	test_grep "1 created, 0 updated" out &&
	test "$(gets_of /apis/apps/v1/namespaces/shop/deployments/checkout)" = 0 &&
	kc -n shop get configmap late -o name
'

test_expect_success KUBE 'a field removed from Git is removed live' '
	sed -i "/EXTRA/d" app/config.yaml &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	kc -n shop get configmap checkout-config -o jsonpath="{.data}" >v &&
	test_grep LOG_LEVEL v &&
	! grep EXTRA v
'

test_expect_success KUBE 'a field another manager owns is kept: no fight with an HPA' '
	write_app "" info &&
	sed -i "/EXTRA/d" app/config.yaml &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	printf "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: checkout, namespace: shop}\nspec: {replicas: 5}\n" >hpa.yaml &&
	kc apply --server-side --field-manager=hpa-controller --force-conflicts -f hpa.yaml &&
	kc -n shop get deployment checkout -o jsonpath="{.metadata.resourceVersion}" >rv1 &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	test_grep "0 updated" out &&
	kc -n shop get deployment checkout -o jsonpath="{.metadata.resourceVersion}" >rv2 &&
	test_cmp rv1 rv2 &&
	kc -n shop get deployment checkout -o jsonpath="{.spec.replicas}" >v &&
	test "$(cat v)" = 5 &&
	requests_reset &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	test "$(counts apply)" = 0 &&
	test "$(counts dryrun)" = 0
'

test_expect_success KUBE 'force_conflicts: false fails naming the other manager' '
	write_config false &&
	test_when_finished "write_config true" &&
	write_app "replicas: 3" info &&
	sed -i "/EXTRA/d" app/config.yaml &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync shop >out 2>err &&
	cat out err >all &&
	test_grep "hpa-controller" all &&
	test_grep "spec.replicas" all &&
	kc -n shop get deployment checkout -o jsonpath="{.spec.replicas}" >v &&
	test "$(cat v)" = 5
'

test_expect_success KUBE 'force_conflicts: true takes the field' '
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	kc -n shop get deployment checkout -o jsonpath="{.spec.replicas}" >v &&
	test "$(cat v)" = 3
'

test_expect_success KUBE 'a CRD and its custom resource in one sync' '
	write_crd app/crd.yaml widget Widget &&
	cat >app/widget.yaml <<-EOF &&
	apiVersion: acme.example/v1
	kind: Widget
	metadata: {name: w1, namespace: shop}
	spec: {size: 3}
	EOF
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	kc -n shop get widgets.acme.example w1 -o jsonpath="{.spec.size}" >v &&
	test "$(cat v)" = 3
'

test_expect_success KUBE 'an unknown kind is refused before anything is applied' '
	cat >app/gadget.yaml <<-EOF &&
	apiVersion: nowhere.example/v1
	kind: Gadget
	metadata: {name: g1, namespace: shop}
	EOF
	sed -i "s/LOG_LEVEL: info/LOG_LEVEL: debug/" app/config.yaml &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync shop >out 2>err &&
	cat out err >all &&
	test_grep "app/gadget.yaml:[0-9]*:.*does not serve kind Gadget" all &&
	kc -n shop get configmap checkout-config -o jsonpath="{.data.LOG_LEVEL}" >v &&
	test "$(cat v)" = info &&
	rm app/gadget.yaml &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	kc -n shop get configmap checkout-config -o jsonpath="{.data.LOG_LEVEL}" >v &&
	test "$(cat v)" = debug
'

test_expect_success KUBE 'an immutable field fails naming it, unless Replace=true' '
	kc -n shop get deployment checkout -o jsonpath="{.metadata.uid}" >uid1 &&
	sed -i "s/app: checkout$/app: checkout2/" app/deployment.yaml &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync shop >out 2>err &&
	cat out err >all &&
	grep -i "immutable" all &&
	test_grep "Replace=true" all &&
	sed -i "s/^  annotations:$/  annotations:\n    gitops-agent.io\/sync-options: Replace=true/" app/deployment.yaml &&
	grep -q Replace=true app/deployment.yaml &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	kc -n shop get deployment checkout -o jsonpath="{.metadata.uid}" >uid2 &&
	! test_cmp uid1 uid2 &&
	kc -n shop get deployment checkout -o jsonpath="{.spec.selector.matchLabels.app}" >v &&
	test "$(cat v)" = checkout2
'

test_expect_success KUBE 'prune deletes what left Git, and keeps what is no longer ours' '
	kc -n shop label configmap checkout-config applyset.kubernetes.io/part-of- &&
	rm app/service.yaml app/config.yaml &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	test_must_fail kc -n shop get service checkout 2>err &&
	test_grep NotFound err &&
	kc -n shop get configmap checkout-config -o name &&
	test_grep "checkout-config" out
'

test_expect_success KUBE 'a Namespace is pruned only with its opt-in' '
	rm app/namespace.yaml app/widget.yaml app/crd.yaml &&
	gitops_agent -c gitops-agent.yaml sync shop --force-prune >out &&
	kc get namespace shop -o name &&
	kc get crd widgets.acme.example -o name
'

test_expect_success KUBE 'an empty render prunes nothing unless --force-prune' '
	mv app app.saved &&
	test_when_finished "rm -rf app && mv app.saved app" &&
	mkdir app &&
	echo "# nothing" >app/README.yaml &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync shop >out 2>err &&
	cat out err >all &&
	test_grep "empty" all &&
	test_grep "force-prune" all &&
	kc -n shop get deployment checkout -o name
'

# served PATH: how many times the double served "GET PATH" since the
# counter was reset.
served() {
	test_kube_admin "$K" GET requests >counts.json &&
	python3 -c 'import json,sys; print(json.load(open("counts.json"))["requests"].get("GET " + sys.argv[1], 0))' "$1"
}
PARENT=/api/v1/namespaces/default/configmaps/gitops-agent.shop

test_expect_success KUBE 'transient failures are survived: 429, 500, a dropped connection' '
	test_when_finished "test_kube_admin \"$K\" DELETE faults; test_kube_admin \"$K\" DELETE drops" &&
	sed -i "s/checkout-service:v3.0.1/checkout-service:v3.0.2/" app/deployment.yaml &&
	test_kube_admin "$K" POST faults \
	    "{\"verb\":\"PATCH\",\"path\":\"/apis/apps/v1/namespaces/shop/deployments/checkout\",\"status\":429,\"retryAfter\":1,\"count\":1}" &&
	test_kube_admin "$K" POST faults \
	    "{\"verb\":\"GET\",\"path\":\"$PARENT\",\"status\":500,\"count\":2}" &&
	test_kube_admin "$K" POST drops \
	    "{\"verb\":\"GET\",\"path\":\"/apis/apps/v1/namespaces/shop/deployments\",\"count\":1}" &&
	requests_reset &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	kc -n shop get deployment checkout -o jsonpath="{.spec.template.spec.containers[0].image}" >v &&
	test "$(cat v)" = ghcr.io/acme/checkout-service:v3.0.2 &&
	test "$(served "$PARENT")" -ge 3
'

test_expect_success KUBE 'a failure reading the inventory (where it lives) fails the sync' '
	test_when_finished "test_kube_admin \"$K\" DELETE faults" &&
	test_kube_admin "$K" POST faults \
	    "{\"verb\":\"GET\",\"path\":\"$PARENT\",\"status\":403,\"count\":100}" &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync shop >out 2>err &&
	test_grep "ConfigMap default/gitops-agent.shop" err &&
	test_grep "403" err
'

test_expect_success KUBE 'a copied part-of label is not ours: never pruned' '
	kc -n shop get deployment checkout \
	    -o jsonpath="{.metadata.labels.applyset\.kubernetes\.io/part-of}" >setid &&
	test_grep "^applyset-" setid &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: copycat\n  namespace: shop\n  labels: {applyset.kubernetes.io/part-of: %s}\ndata: {k: v}\n" \
	    "$(cat setid)" >copycat.yaml &&
	kc apply --server-side --field-manager=someone -f copycat.yaml &&
	gitops_agent -c gitops-agent.yaml sync shop --force-prune >out &&
	kc -n shop get configmap copycat -o name
'

test_expect_success KUBE 'an object of another ApplySet is not taken over' '
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: theirs\n  namespace: shop\n  labels: {applyset.kubernetes.io/part-of: applyset-other-v1}\ndata: {owner: them}\n" >theirs.yaml &&
	kc apply --server-side --field-manager=them -f theirs.yaml &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: theirs, namespace: shop}\ndata: {owner: us}\n" >app/theirs.yaml &&
	test_when_finished "rm -f app/theirs.yaml" &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync shop >out 2>err &&
	test_grep "ConfigMap/shop/theirs" err &&
	test_grep "another ApplySet" err &&
	kc -n shop get configmap theirs -o jsonpath="{.data.owner}" >v &&
	test "$(cat v)" = them
'

test_expect_success KUBE 'a failed read of what left Git prunes nothing' '
	test_when_finished "test_kube_admin \"$K\" DELETE faults" &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: doomed, namespace: shop}\ndata: {k: v}\n" >app/doomed.yaml &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	kc -n shop get configmap doomed -o name &&
	rm app/doomed.yaml &&
	test_kube_admin "$K" POST faults \
	    "{\"verb\":\"GET\",\"path\":\"/api/v1/namespaces/shop/configmaps/doomed\",\"status\":403,\"count\":100}" &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync shop >out 2>err &&
	test_grep "ConfigMap/shop/doomed" err &&
	kc -n shop get configmaps -o name >names &&
	test_grep "configmap/doomed" names &&
	test_kube_admin "$K" DELETE faults &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	test_must_fail kc -n shop get configmap doomed 2>err &&
	test_grep NotFound err
'

test_expect_success KUBE 'an object kubectl applied client-side is adopted: later removals work' '
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: legacy, namespace: shop}\ndata: {a: \"1\", b: \"2\"}\n" >legacy.yaml &&
	kc apply -f legacy.yaml &&
	kc -n shop get configmap legacy -o yaml --show-managed-fields >before &&
	test_grep "last-applied-configuration" before &&
	test_grep "kubectl-client-side-apply" before &&
	cp legacy.yaml app/legacy.yaml &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	kc -n shop get configmap legacy -o yaml --show-managed-fields >after &&
	! grep "last-applied-configuration" after &&
	! grep "kubectl-client-side-apply" after &&
	sed -i "s/, b: \"2\"//" app/legacy.yaml &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	kc -n shop get configmap legacy -o jsonpath="{.data}" >v &&
	test_grep "\"a\":\"1\"" v &&
	! grep "\"b\"" v
'

# cm NAME [WAVE]: a ConfigMap of the app in shop.
cm() {
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: shop\n  annotations: {argocd.argoproj.io/sync-wave: \"%s\"}\ndata: {k: v}\n" \
	    "$1" "${2:-0}" >"app/$1.yaml"
}
# inventory: the parent's inventory text.
inventory() {
	kc -n default get configmap gitops-agent.shop -o jsonpath="{.data.inventory}"
}
uid_of() { # DEPLOYMENT
	kc -n shop get deployment "$1" -o jsonpath="{.metadata.uid}"
}

test_expect_success KUBE 'an inventory of another owner is refused: nothing applied or pruned' '
	kc -n default get configmap gitops-agent.shop \
	    -o jsonpath="{.metadata.annotations.gitops-agent\.io/owner}" >v &&
	test "$(cat v)" = "$(pwd -P)#app" &&
	mkdir -p other/app &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: intruder, namespace: shop}\ndata: {k: v}\n" >other/app/cm.yaml &&
	sed "s#state_dir: ./state#state_dir: ./state-other#" gitops-agent.yaml >other/gitops-agent.yaml &&
	(cd other && test_must_fail gitops_agent -c gitops-agent.yaml sync shop --force-prune >out 2>err) &&
	test_grep "belongs to another owner" other/err &&
	test_grep "nothing applied or pruned" other/err &&
	test_must_fail kc -n shop get configmap intruder &&
	kc -n shop get deployment checkout -o name &&
	kc -n shop get configmap legacy -o name
'

test_expect_success KUBE 'Replace=true wants an immutable field: a message saying immutable deletes nothing' '
	test_when_finished "test_kube_admin \"$K\" DELETE faults" &&
	grep -q Replace=true app/deployment.yaml &&
	uid_of checkout >uid1 &&
	sed -i "s/checkout-service:v3.0.2/checkout-service:v3.0.3/" app/deployment.yaml &&
	test_kube_admin "$K" POST faults \
	    "{\"verb\":\"PATCH\",\"path\":\"/apis/apps/v1/namespaces/shop/deployments/checkout\",\"status\":422,\"message\":\"admission webhook policy.example denied the request: label team is immutable\",\"count\":100}" &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync shop >out 2>err &&
	test_grep "label team is immutable" err &&
	uid_of checkout >uid2 &&
	test_cmp uid1 uid2
'

test_expect_success KUBE 'a replacement the server would not create again deletes nothing' '
	test_when_finished "test_kube_admin \"$K\" DELETE faults" &&
	uid_of checkout >uid1 &&
	sed -i "s/app: checkout2$/app: checkout3/" app/deployment.yaml &&
	test_kube_admin "$K" POST faults \
	    "{\"verb\":\"POST\",\"path\":\"/apis/apps/v1/namespaces/shop/deployments\",\"status\":403,\"message\":\"deployments.apps is forbidden: cannot create\",\"count\":100}" &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync shop >out 2>err &&
	test_grep "would not create it again" err &&
	uid_of checkout >uid2 &&
	test_cmp uid1 uid2 &&
	test_kube_admin "$K" DELETE faults &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	uid_of checkout >uid3 &&
	! test_cmp uid1 uid3 &&
	kc -n shop get deployment checkout -o jsonpath="{.spec.selector.matchLabels.app}" >v &&
	test "$(cat v)" = checkout3
'

test_expect_success KUBE 'a member whose kind is not served is kept in the inventory' '
	write_crd app/gizmo-crd.yaml gizmo Gizmo &&
	printf "apiVersion: acme.example/v1\nkind: Gizmo\nmetadata: {name: g1, namespace: shop}\nspec: {size: 1}\n" >app/gizmo.yaml &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	kc -n shop get gizmos.acme.example g1 -o name &&
	kc delete crd gizmos.acme.example &&
	rm app/gizmo-crd.yaml app/gizmo.yaml &&
	gitops_agent -c gitops-agent.yaml sync shop --force-prune >out 2>err &&
	inventory >inv &&
	test_grep "^Gizmo.acme.example/shop/g1	" inv &&
	test_grep "kind is not served" err
'

test_expect_success KUBE 'a lost inventory is found again from its members: a later removal prunes' '
	cm found &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	kc -n default delete configmap gitops-agent.shop &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	inventory >inv &&
	test_grep "^ConfigMap/shop/found	" inv &&
	test_grep "^Deployment.apps/shop/checkout	" inv &&
	rm app/found.yaml &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	test_must_fail kc -n shop get configmap found 2>err &&
	test_grep NotFound err
'

test_expect_success KUBE 'new objects are dry-run before any wave is applied' '
	cm early -1 &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad, namespace: shop}\ndata: {k: v}\nbogus: 1\n" >app/bad.yaml &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync shop >out 2>err &&
	test_grep "app/bad.yaml:[0-9]*:.*bogus" err &&
	test_must_fail kc -n shop get configmap early 2>err &&
	test_grep NotFound err &&
	rm app/bad.yaml &&
	printf "apiVersion: v1\nkind: Namespace\nmetadata: {name: extra}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: inside, namespace: extra}\ndata: {k: v}\n" >app/extra.yaml &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	kc -n extra get configmap inside -o name &&
	kc -n shop get configmap early -o name
'

# digest_of ID: the digest the inventory shows for a member.
digest_of() {
	inventory | awk -F "	" -v id="$1" '$1 == id { print $5 }'
}

test_expect_success KUBE 'the inventory shows no plain digest of a Secret: an HMAC by the agent key' '
	printf "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: shop}\ndata: {password: aHVudGVyMg==}\n" >app/secret.yaml &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	test "$(stat -c %a state/kube-digest.key)" = 600 &&
	digest_of Secret/shop/creds >d1 &&
	test_grep "^[0-9a-f]\{16\}\$" d1 &&
	sed "s#state_dir: ./state#state_dir: ./state2#" gitops-agent.yaml >keyed2.yaml &&
	gitops_agent -c keyed2.yaml sync shop >out &&
	digest_of Secret/shop/creds >d2 &&
	test_grep "^[0-9a-f]\{16\}\$" d2 &&
	! test_cmp d1 d2
'

test_expect_success KUBE 'a renamed field_manager still prunes what the old one applied' '
	cm old &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	sed "s/force_conflicts: true/force_conflicts: true\n      field_manager: gitops-agent-v2/" gitops-agent.yaml >renamed.yaml &&
	grep -q gitops-agent-v2 renamed.yaml &&
	rm app/old.yaml &&
	gitops_agent -c renamed.yaml sync shop >out &&
	test_must_fail kc -n shop get configmap old 2>err &&
	test_grep NotFound err &&
	kc -n default get configmap gitops-agent.shop \
	    -o jsonpath="{.metadata.annotations.gitops-agent\.io/field-managers}" >v &&
	test "$(cat v)" = "gitops-agent-v2,gitops-agent"
'

test_expect_success KUBE 'a DELETE refused by a 409 keeps the member: a later sync prunes it' '
	test_when_finished "test_kube_admin \"$K\" DELETE faults" &&
	cm held &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	rm app/held.yaml &&
	test_kube_admin "$K" POST faults \
	    "{\"verb\":\"DELETE\",\"path\":\"/api/v1/namespaces/shop/configmaps/held\",\"status\":409,\"message\":\"Operation cannot be fulfilled on configmaps held: the object has been modified\",\"count\":1}" &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync shop >out 2>err &&
	test_grep "ConfigMap/shop/held" err &&
	kc -n shop get configmap held -o name &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	test_must_fail kc -n shop get configmap held 2>err &&
	test_grep NotFound err
'

test_expect_success KUBE 'cluster roles are applied ahead of the rest of their wave' '
	test_when_finished "test_kube_admin \"$K\" DELETE faults" &&
	printf "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: shop-reader}\nrules: []\n" >app/role.yaml &&
	cm after-role &&
	test_kube_admin "$K" POST faults \
	    "{\"verb\":\"PATCH\",\"path\":\"/apis/rbac.authorization.k8s.io/v1/clusterroles/shop-reader\",\"status\":403,\"skip\":1,\"count\":1}" &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync shop >out 2>err &&
	test_grep "ClusterRole.rbac.authorization.k8s.io/shop-reader" err &&
	# Neither staged creation took effect: none is counted.
	python3 -c "import json; r = json.load(open(\"state/apps/shop/last-sync.json\")); print(r[\"created\"], r[\"waves\"][-1][\"applied\"])" >v &&
	test "$(cat v)" = "0 0" &&
	test_must_fail kc -n shop get configmap after-role 2>err &&
	test_grep NotFound err &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	kc get clusterrole shop-reader -o name &&
	kc -n shop get configmap after-role -o name
'

test_expect_success KUBE 'an object read back without a uid is never deleted' '
	test_when_finished "test_kube_admin \"$K\" DELETE faults" &&
	cm nouid &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	kc -n shop get configmap nouid -o json --show-managed-fields >live.json &&
	python3 -c "import json; o = json.load(open(\"live.json\")); del o[\"metadata\"][\"uid\"]; json.dump(o, open(\"nouid.json\", \"w\"))" &&
	rm app/nouid.yaml &&
	test_kube_admin "$K" POST faults \
	    "{\"verb\":\"GET\",\"path\":\"/api/v1/namespaces/shop/configmaps/nouid\",\"body\":$(cat nouid.json),\"count\":100}" &&
	test_must_fail gitops_agent -c gitops-agent.yaml sync shop >out 2>err &&
	test_grep "ConfigMap/shop/nouid.*no uid" err &&
	kc -n shop get configmap nouid -o name &&
	test_kube_admin "$K" DELETE faults &&
	gitops_agent -c gitops-agent.yaml sync shop >out &&
	test_must_fail kc -n shop get configmap nouid 2>err &&
	test_grep NotFound err
'

test_expect_success KUBE 'a first sync of many objects lists what exists once, not a GET each' '
	printf "apiVersion: v1\nkind: Namespace\nmetadata: {name: many}\n" >many-ns.yaml &&
	kc apply --server-side -f many-ns.yaml &&
	mkdir -p many &&
	for i in $(seq 10 29)
	do
		printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m-$i, namespace: many}\ndata: {k: v$i}\n" >many/m-$i.yaml ||
		return 1
	done &&
	kc apply -f many/m-13.yaml &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m-15, namespace: many, labels: {applyset.kubernetes.io/part-of: applyset-other-v1}}\ndata: {k: other}\n" >other.yaml &&
	kc apply --server-side -f other.yaml &&
	sed "s/name: shop/name: many/; s/path: app/path: many/; s/namespace: shop/namespace: many/" \
	    gitops-agent.yaml >many.yaml &&
	requests_reset &&
	test_must_fail gitops_agent -c many.yaml sync many >out 2>err &&
	cat out err >all &&
	test_grep "ConfigMap/many/m-15.*another ApplySet" all &&
	test "$(counts get)" = 1 &&
	test_must_fail kc -n many get configmap m-10 &&
	rm many/m-15.yaml &&
	requests_reset &&
	gitops_agent -c many.yaml sync many >out &&
	test_grep "18 created, 1 updated" out &&
	test "$(counts get)" = 1 &&
	test "$(counts list)" = 2 &&
	kc -n many get configmap m-13 -o yaml >after &&
	! grep last-applied-configuration after &&
	kc -n many get configmap m-29 -o jsonpath="{.data.k}" >v &&
	test "$(cat v)" = v29
'

test_expect_success KUBE 'two versions of one kind in a namespace: one LIST, no dry-run when nothing changed' '
	mkdir -p multi &&
	cat >multi/crd.yaml <<-EOF &&
	apiVersion: apiextensions.k8s.io/v1
	kind: CustomResourceDefinition
	metadata:
	  name: gadgets.acme.example
	spec:
	  group: acme.example
	  scope: Namespaced
	  names: {plural: gadgets, singular: gadget, kind: Gadget}
	  versions:
	  - name: v1
	    served: true
	    storage: true
	    schema:
	      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
	  - name: v2
	    served: true
	    storage: false
	    schema:
	      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
	EOF
	printf "apiVersion: acme.example/v1\nkind: Gadget\nmetadata: {name: g1, namespace: many}\nspec: {size: 1}\n" >multi/g1.yaml &&
	printf "apiVersion: acme.example/v2\nkind: Gadget\nmetadata: {name: g2, namespace: many}\nspec: {size: 2}\n" >multi/g2.yaml &&
	sed "s/name: shop/name: multi/; s/path: app/path: multi/; s/namespace: shop/namespace: many/" \
	    gitops-agent.yaml >multi.yaml &&
	gitops_agent -c multi.yaml sync multi >out &&
	test_grep "3 created" out &&
	requests_reset &&
	gitops_agent -c multi.yaml sync multi >out &&
	test_grep "3 unchanged" out &&
	test "$(counts dryrun)" = 0 &&
	test "$(counts apply)" = 0 &&
	python3 - <<-\PY
	import json
	c = json.load(open("counts.json"))["requests"]
	lists = [k for k in c if k.startswith("GET /apis/acme.example/") and k.endswith("/namespaces/many/gadgets")]
	assert sum(c[k] for k in lists) == 1, c
	PY
'

test_done
