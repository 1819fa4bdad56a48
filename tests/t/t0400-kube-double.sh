#!/bin/sh
# t0400-kube-double: the Kubernetes API server double (tests/kube/)
# speaks the API as kubectl 1.32, the oracle, expects: server-side apply
# with field ownership and conflicts from structured-merge-diff, diff,
# label selectors, paging, delete with finalizers and preconditions,
# immutable fields, CRDs, watch, an ApplySet prune, authentication, and
# the knobs tests use (injected failures, dropped connections, counters).
. "$TEST_SRCDIR/tests/lib.sh"

test_kube_env
user_curl() { # [CURL ARG...] PATH
	test_kube_curl "$K" "$K/token" "$@"
}

test_expect_success KUBE 'setup: the double writes its kubeconfigs and serves' '
	test_kube_double "$K" &&
	for f in kubeconfig token.kubeconfig admin-token ca.crt url; do
		test -s "$K/$f" || exit 1
	done &&
	sed -n "s/^ *token: //p" "$K/token.kubeconfig" >"$K/token" &&
	test -s "$K/token" &&
	grep -q "^https://127\.0\.0\.1:[0-9]*\$" "$K/url" &&
	grep -q client-certificate-data "$K/kubeconfig" &&
	kc get namespace default -o name >out &&
	test "$(cat out)" = namespace/default
'

test_expect_success KUBE 'every request is authenticated: none, a bad token, the admin token' '
	url=$(cat "$K/url") &&
	curl -s --max-time 30 --cacert "$K/ca.crt" -o body -w "%{http_code}" \
	    "$url/api/v1/namespaces" >code &&
	test "$(cat code)" = 401 &&
	test_grep "\"reason\":\"Unauthorized\"" body &&
	sed "s/^\( *token:\).*/\1 not-the-token/" "$K/token.kubeconfig" >bad.kubeconfig &&
	test_must_fail kc --kubeconfig bad.kubeconfig get configmaps >out 2>&1 &&
	test_grep Unauthorized out &&
	test_kube_curl "$K" "$K/admin-token" -o /dev/null -w "%{http_code}" \
	    "$url/api/v1/namespaces" >code &&
	test "$(cat code)" = 401 &&
	test_kube_curl "$K" "$K/token" -o /dev/null -w "%{http_code}" \
	    "$url/double/requests" >code &&
	test "$(cat code)" = 401
'

test_expect_success KUBE 'the token kubeconfig works' '
	kc --kubeconfig "$K/token.kubeconfig" get namespaces -o name >out &&
	test_grep namespace/kube-system out
'

test_expect_success KUBE 'discovery: aggregated and legacy list the built-in kinds' '
	kc api-resources -o name >res &&
	for r in configmaps secrets services serviceaccounts namespaces pods \
	    persistentvolumeclaims persistentvolumes deployments.apps \
	    statefulsets.apps daemonsets.apps replicasets.apps jobs.batch \
	    cronjobs.batch roles.rbac.authorization.k8s.io \
	    clusterroles.rbac.authorization.k8s.io ingresses.networking.k8s.io \
	    networkpolicies.networking.k8s.io poddisruptionbudgets.policy \
	    horizontalpodautoscalers.autoscaling \
	    customresourcedefinitions.apiextensions.k8s.io \
	    leases.coordination.k8s.io; do
		grep -qx "$r" res || { echo "not served: $r"; exit 1; }
	done &&
	user_curl "$(cat "$K/url")/apis/apps/v1" >legacy &&
	test_grep "\"kind\":\"APIResourceList\"" legacy &&
	test_grep "\"name\":\"deployments/status\"" legacy &&
	user_curl -H "Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList" \
	    "$(cat "$K/url")/apis" >agg &&
	test_grep "\"kind\":\"APIGroupDiscoveryList\"" agg
'

cat >web.yaml <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1
        env:
        - {name: KEEP, value: "1"}
        - {name: DROP, value: "2"}
YAML

test_expect_success KUBE 'apply --server-side creates, with the metadata the API sets' '
	kc apply --server-side -f "$TRASH/web.yaml" >out &&
	test_grep "deployment.apps/web serverside-applied" out &&
	kc get deployment web -o jsonpath="{.metadata.generation} {.metadata.managedFields[0].manager} {.metadata.managedFields[0].operation}" >got &&
	test "$(cat got)" = "1 kubectl Apply" &&
	kc get deployment web -o jsonpath="{.metadata.uid}|{.metadata.resourceVersion}|{.metadata.creationTimestamp}" >ids &&
	grep -q "^[0-9a-f-]\{36\}|[0-9][0-9]*|20[0-9-]*T[0-9:]*Z\$" ids
'

test_expect_success KUBE 'another manager (an HPA) takes spec.replicas' '
	printf "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 5}\n" >hpa.yaml &&
	test_must_fail kc apply --server-side --field-manager=hpa-controller -f hpa.yaml 2>err &&
	test_grep "conflict with \"kubectl\": .spec.replicas" err &&
	kc apply --server-side --field-manager=hpa-controller --force-conflicts -f hpa.yaml &&
	kc get deployment web -o jsonpath="{.spec.replicas}" >got &&
	test "$(cat got)" = 5
'

test_expect_success KUBE 'apply again without a field: removed live, the other manager keeps its own' '
	sed -e "/DROP/d" -e "/replicas: 2/d" "$TRASH/web.yaml" >web2.yaml &&
	rv=$(kc get deployment web -o jsonpath="{.metadata.resourceVersion}") &&
	kc apply --server-side -f web2.yaml &&
	kc get deployment web -o jsonpath="{.spec.replicas} {.spec.template.spec.containers[0].env[*].name} {.metadata.generation}" >got &&
	test "$(cat got)" = "5 KEEP 3" &&
	rv2=$(kc get deployment web -o jsonpath="{.metadata.resourceVersion}") &&
	test "$rv2" -gt "$rv" &&
	kc apply --server-side -f web2.yaml &&
	test "$(kc get deployment web -o jsonpath="{.metadata.resourceVersion}")" = "$rv2"
'

test_expect_success KUBE 'a conflict names the manager; --force-conflicts takes the field' '
	sed "s/replicas: 2/replicas: 7/" "$TRASH/web.yaml" >web7.yaml &&
	test_must_fail kc apply --server-side -f web7.yaml 2>err &&
	test_grep "conflict with \"hpa-controller\": .spec.replicas" err &&
	test "$(kc get deployment web -o jsonpath="{.spec.replicas}")" = 5 &&
	kc apply --server-side --force-conflicts -f web7.yaml &&
	test "$(kc get deployment web -o jsonpath="{.spec.replicas}")" = 7 &&
	kc get deployment web -o jsonpath="{.metadata.managedFields[*].manager}" >managers &&
	test_grep -v hpa-controller managers
'

test_expect_success KUBE 'the conflict is a 409 Status with a FieldManagerConflict cause' '
	url=$(cat "$K/url") &&
	user_curl -X PATCH -H "Content-Type: application/apply-patch+yaml" \
	    --data-binary @hpa.yaml -w "\n%{http_code}\n" \
	    "$url/apis/apps/v1/namespaces/default/deployments/web?fieldManager=hpa-controller" >out &&
	test_grep "^409\$" out &&
	# StatusCause.Type is "reason" on the wire, as the API server writes it.
	test_grep "\"reason\":\"FieldManagerConflict\"" out &&
	test_grep "\"field\":\".spec.replicas\"" out &&
	test_grep "conflict with \\\\\"kubectl\\\\\"" out
'

test_expect_success KUBE 'apply takes a JSON body: 201 created, 200 after; fieldManager is required' '
	url=$(cat "$K/url") &&
	cm="$url/api/v1/namespaces/default/configmaps/json" &&
	printf "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"json\"},\"data\":{\"a\":\"1\"}}" >json.json &&
	apply() {
		user_curl -X PATCH -H "Content-Type: application/apply-patch+yaml" \
		    --data-binary @json.json -o "$2" -w "%{http_code}" "$cm$1"
	} &&
	test "$(apply "" none)" = 422 &&
	test_grep "fieldManager: Required value" none &&
	test "$(apply "?fieldManager=t" first)" = 201 &&
	test "$(apply "?fieldManager=t" second)" = 200 &&
	python3 -c "import json; a, b = (json.load(open(f))[\"metadata\"][\"resourceVersion\"] for f in (\"first\", \"second\")); assert a == b, (a, b)"
'

test_expect_success KUBE 'diff --server-side shows a change and leaves live alone' '
	kc diff --server-side --force-conflicts -f web7.yaml >same &&
	sed "s/nginx:1/nginx:2/" web7.yaml >web8.yaml &&
	test_expect_code 1 kc diff --server-side --force-conflicts -f web8.yaml >diff &&
	test_grep "^-  *image: nginx:1" diff &&
	test_grep "^+  *image: nginx:2" diff &&
	test "$(kc get deployment web -o jsonpath="{.spec.template.spec.containers[0].image}")" = nginx:1
'

test_expect_success KUBE 'dryRun=All answers the merged object and stores nothing' '
	kc apply --server-side --dry-run=server -f web8.yaml -o jsonpath="{.spec.template.spec.containers[0].image}" >got &&
	test "$(cat got)" = nginx:2 &&
	test "$(kc get deployment web -o jsonpath="{.spec.template.spec.containers[0].image}")" = nginx:1
'

test_expect_success KUBE 'fieldValidation=Strict refuses an unknown field' '
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typo}\ndata: {a: b}\ndatta: {}\n" >typo.yaml &&
	test_must_fail kc apply --server-side -f typo.yaml 2>err &&
	test_grep "unknown field \"datta\"" err &&
	test_must_fail kc get configmap typo
'

test_expect_success KUBE 'get -l honours equality, !=, in, notin and exists' '
	for i in 1 2 3 4 5; do
		printf -- "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sel%s\n  labels: {tier: t%s}\n" $i $((i % 3))
	done >sel.yaml &&
	printf -- "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: sel6, labels: {other: x}}\n" >>sel.yaml &&
	kc apply --server-side -f sel.yaml &&
	check() { kc get configmaps -l "$1" -o name | tr "\n" " " >got && test "$(cat got)" = "$2" || { echo "$1: $(cat got)"; return 1; }; } &&
	check "tier=t1" "configmap/sel1 configmap/sel4 " &&
	check "tier,tier!=t1" "configmap/sel2 configmap/sel3 configmap/sel5 " &&
	check "tier in (t0,t2)" "configmap/sel2 configmap/sel3 configmap/sel5 " &&
	check "tier notin (t1,t2),other" "configmap/sel6 " &&
	check "!tier,other=x" "configmap/sel6 "
'

test_expect_success KUBE 'a LIST is paged with limit and continue' '
	test_kube_admin "$K" DELETE requests >/dev/null &&
	kc get configmaps -l tier --chunk-size=2 -o name >all &&
	printf "configmap/sel%s\n" 1 2 3 4 5 >expect &&
	test_cmp expect all &&
	test_kube_admin "$K" GET requests >counts &&
	python3 -c "import json,sys; n=json.load(open(\"counts\"))[\"verbs\"][\"list\"]; sys.exit(0 if n == 3 else 1)"
'

test_expect_success KUBE 'the request counter counts by verb (dry-runs apart) and path, and resets' '
	test_kube_admin "$K" DELETE requests >/dev/null &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: counted}\ndata: {a: b}\n" >counted.yaml &&
	kc apply --server-side -f counted.yaml &&
	test_kube_admin "$K" GET requests >counts &&
	python3 - <<-\PY &&
	import json
	c = json.load(open("counts"))
	assert c["requests"]["PATCH /api/v1/namespaces/default/configmaps/counted"] == 1, c
	assert c["verbs"]["apply"] == 1, c
	assert c["total"] == sum(c["requests"].values()), c
	PY
	kc apply --server-side --dry-run=server -f counted.yaml &&
	test_kube_admin "$K" GET requests >counts &&
	python3 - <<-\PY &&
	import json
	c = json.load(open("counts"))
	assert c["verbs"]["dryrun"] == 1 and c["verbs"]["apply"] == 1, c
	PY
	test_kube_admin "$K" DELETE requests >/dev/null &&
	test_kube_admin "$K" GET requests >counts &&
	test_grep "\"total\":0" counts
'

test_expect_success KUBE 'an injected 500 is seen by kubectl, once' '
	test_when_finished "test_kube_admin \"$K\" DELETE faults" &&
	test_kube_admin "$K" POST faults \
	    "{\"verb\":\"GET\",\"path\":\"/api/v1/namespaces/*/configmaps/counted\",\"status\":500,\"count\":1,\"message\":\"injected boom\"}" &&
	test_must_fail kc get configmap counted 2>err &&
	test_grep "injected boom" err &&
	kc get configmap counted -o name
'

test_expect_success KUBE 'a 429 with Retry-After is retried by kubectl' '
	test_when_finished "test_kube_admin \"$K\" DELETE faults" &&
	test_kube_admin "$K" DELETE requests >/dev/null &&
	test_kube_admin "$K" POST faults \
	    "{\"verb\":\"GET\",\"path\":\"/api/v1/namespaces/default/configmaps/counted\",\"status\":429,\"retryAfter\":1}" &&
	kc get configmap counted -o name &&
	test_kube_admin "$K" GET requests >counts &&
	test_grep "\"GET /api/v1/namespaces/default/configmaps/counted\":2" counts
'

test_expect_success KUBE 'a dropped connection gets no answer; the next request does' '
	test_when_finished "test_kube_admin \"$K\" DELETE drops" &&
	test_kube_admin "$K" POST drops "{\"verb\":\"GET\",\"path\":\"/version\",\"count\":1}" &&
	url=$(cat "$K/url") &&
	test_expect_code 52 user_curl "$url/version" &&
	user_curl -f "$url/version" >v &&
	test_grep gitVersion v
'

test_expect_success KUBE 'an immutable field gives 422 Invalid "field is immutable"' '
	printf "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {ports: [{port: 80}]}\n" >svc.yaml &&
	kc apply --server-side -f svc.yaml &&
	ip=$(kc get service svc -o jsonpath="{.spec.clusterIP}") &&
	test -n "$ip" &&
	printf "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {clusterIP: 10.0.0.9, ports: [{port: 80}]}\n" >svc2.yaml &&
	test_must_fail kc apply --server-side --force-conflicts -f svc2.yaml 2>err &&
	test_grep "spec.clusterIP: Invalid value: \"10.0.0.9\": field is immutable" err &&
	test "$(kc get service svc -o jsonpath="{.spec.clusterIP}")" = "$ip"
'

test_expect_success KUBE 'status set through the status subresource, kept by apply' '
	kc patch deployment web --subresource=status --type=merge \
	    -p "{\"status\":{\"readyReplicas\":7,\"observedGeneration\":4}}" &&
	kc apply --server-side --force-conflicts -f web7.yaml &&
	test "$(kc get deployment web -o jsonpath="{.status.readyReplicas}")" = 7
'

test_expect_success KUBE 'delete: gone, then 404; a uid precondition that does not match is 409' '
	kc delete configmap sel1 &&
	test_must_fail kc get configmap sel1 2>err &&
	test_grep NotFound err &&
	test_must_fail kc delete configmap sel1 2>err &&
	test_grep "not found" err &&
	url=$(cat "$K/url") &&
	user_curl -X DELETE -H "Content-Type: application/json" -w "\n%{http_code}\n" \
	    -d "{\"preconditions\":{\"uid\":\"00000000-0000-0000-0000-000000000000\"}}" \
	    "$url/api/v1/namespaces/default/configmaps/sel2" >out &&
	test_grep "^409\$" out &&
	kc get configmap sel2 -o name &&
	uid=$(kc get configmap sel2 -o jsonpath="{.metadata.uid}") &&
	user_curl -X DELETE -H "Content-Type: application/json" -w "\n%{http_code}\n" \
	    -d "{\"preconditions\":{\"uid\":\"$uid\"},\"propagationPolicy\":\"Background\"}" \
	    "$url/api/v1/namespaces/default/configmaps/sel2" >out &&
	test_grep "^200\$" out &&
	test_must_fail kc get configmap sel2
'

test_expect_success KUBE 'propagation: Background deletes what the object owns, Orphan keeps it' '
	owned() { # CHILD PARENT
		uid=$(kc get configmap "$2" -o jsonpath="{.metadata.uid}") &&
		printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: %s, uid: %s}]\n" \
		    "$1" "$2" "$uid" | kc apply --server-side -f -
	} &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p1}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: p2}\n" >parents.yaml &&
	kc apply --server-side -f parents.yaml &&
	owned c1 p1 && owned c2 p2 &&
	kc delete configmap p1 --cascade=background &&
	test_must_fail kc get configmap c1 &&
	kc delete configmap p2 --cascade=orphan &&
	kc get configmap c2 -o jsonpath="{.metadata.ownerReferences}" >refs &&
	test ! -s refs
'

test_expect_success KUBE 'a Deployment selector is immutable too' '
	sed "s/{app: web}}/{app: web2}}/" web7.yaml >websel.yaml &&
	test_must_fail kc apply --server-side --force-conflicts -f websel.yaml 2>err &&
	test_grep "spec.selector: Invalid value: .*field is immutable" err
'

cat >crd.yaml <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
YAML

test_expect_success KUBE 'a CRD is Established and serves its kind; then its custom resource' '
	test_must_fail kc get widgets 2>err &&
	kc apply --server-side -f "$TRASH/crd.yaml" &&
	kc wait --for=condition=Established --timeout=30s crd/widgets.example.com &&
	printf "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3, parts: [a, b]}\n" >w1.yaml &&
	kc apply --server-side -f w1.yaml &&
	test "$(kc get wd w1 -o jsonpath="{.spec.size} {.metadata.managedFields[0].manager}")" = "3 kubectl" &&
	printf "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {parts: [a, b]}\n" >w1b.yaml &&
	kc apply --server-side -f w1b.yaml &&
	test "$(kc get wd w1 -o jsonpath="{.spec}")" = "{\"parts\":[\"a\",\"b\"]}"
'

test_expect_success KUBE 'finalizers keep a deleted object until they are removed' '
	printf "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w2, finalizers: [example.com/hold]}\nspec: {size: 1}\n" >w2.yaml &&
	kc apply --server-side -f w2.yaml &&
	kc delete widget w2 --wait=false &&
	test -n "$(kc get widget w2 -o jsonpath="{.metadata.deletionTimestamp}")" &&
	kc patch widget w2 --type=json -p "[{\"op\":\"remove\",\"path\":\"/metadata/finalizers\"}]" &&
	kc wait --for=delete --timeout=30s widget/w2 &&
	test_must_fail kc get widget w2
'

test_expect_success KUBE 'watch: events from a resourceVersion, 410 once it is compacted' '
	rv=$(kc get configmap counted -o jsonpath="{.metadata.resourceVersion}") &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: counted}\ndata: {a: c}\n" >counted2.yaml &&
	kc apply --server-side -f counted2.yaml &&
	kc delete configmap counted &&
	url=$(cat "$K/url") &&
	user_curl "$url/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=$rv&timeoutSeconds=1&fieldSelector=metadata.name%3Dcounted" >events &&
	python3 -c "import json; print(\" \".join(json.loads(l)[\"type\"] for l in open(\"events\")))" >types &&
	test "$(cat types)" = "MODIFIED DELETED" &&
	test_kube_admin "$K" POST compact >/dev/null &&
	user_curl "$url/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=$rv&timeoutSeconds=1" >expired &&
	test_grep "\"type\":\"ERROR\"" expired &&
	test_grep "\"code\":410" expired &&
	user_curl "$url/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1&labelSelector=tier%3Dt0" >initial &&
	python3 -c "import json; print(\" \".join(json.loads(l)[\"type\"] + \":\" + json.loads(l)[\"object\"][\"metadata\"].get(\"name\", \"\") for l in open(\"initial\").readlines()[:2]))" >types &&
	test "$(cat types)" = "ADDED:sel3 BOOKMARK:" &&
	test_grep "k8s.io/initial-events-end" initial
'

test_expect_success KUBE 'an ApplySet prune removes what left the set and keeps a foreign object' '
	printf "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: foreign, namespace: shop, labels: {app: shop}}\n" >shop.yaml &&
	kc apply --server-side -f shop.yaml &&
	mkdir -p set &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {app: shop}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, labels: {app: shop}}\n" >set/cm.yaml &&
	KUBECTL_APPLYSET=true kc apply --server-side --applyset=configmap/shop-set --prune -n shop -f set/cm.yaml &&
	kc -n shop get configmap a -o jsonpath="{.metadata.labels.applyset\.kubernetes\.io/part-of}" >part &&
	kc -n shop get configmap shop-set -o jsonpath="{.metadata.labels.applyset\.kubernetes\.io/id}" >id &&
	test -s id && test_cmp id part &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {app: shop}}\n" >set/cm.yaml &&
	KUBECTL_APPLYSET=true kc apply --server-side --applyset=configmap/shop-set --prune -n shop -f set/cm.yaml >out &&
	test_grep "configmap/b pruned" out &&
	kc -n shop get configmaps -o name | sort >left &&
	printf "configmap/a\nconfigmap/foreign\nconfigmap/shop-set\n" >expect &&
	test_cmp expect left
'

test_expect_success KUBE '--latency: a second double serves with it' '
	test_when_finished "test_kube_stop \"$TRASH/slow\"" &&
	test_kube_double "$TRASH/slow" --latency 5 &&
	kc --kubeconfig "$TRASH/slow/kubeconfig" get namespace default -o name &&
	test_kube_admin "$TRASH/slow" PUT latency "{\"ms\":0}" >out &&
	test_grep "\"ms\":0" out
'

test_done
