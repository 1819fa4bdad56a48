#!/bin/sh
# run-kube.sh: the Kubernetes target against the API double with 1 ms of
# latency a request, side by side with `kubectl apply --server-side` on
# the same objects (each on its own double, so neither warms the other):
#
#   (1) 1,000 resources of 10 kinds in 5 namespaces: first apply (the
#       agent's sync, kubectl's apply), then a no-op reconcile (the
#       agent's second sync; kubectl's second apply), then one changed
#       resource; the time, the peak RSS and the requests by verb of each.
#   (2) 10,000 resources: the agent's first apply, no-op reconcile and
#       peak RSS (kubectl only with BENCH_KUBECTL_10K=1: it takes minutes).
#
# It ends by saying whether each target of issue 10 is met.
#
# Usage: run-kube.sh GITOPS_AGENT KUBE_DOUBLE BENCH_ENGINE [WORKDIR].
# Bounded: fixed counts; the doubles are stopped by the exit trap.
set -eu

AGENT=$1
DOUBLE=$2
ENGINE=$3
WORK=${4:-${BENCH_DIR:-tests/bench/work}/kube}
N1=${BENCH_N:-1000}
N2=${BENCH_N2:-10000}
command -v kubectl >/dev/null || { echo "run-kube: kubectl is not installed" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cd "$WORK"
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; wait 2>/dev/null' EXIT

start_double() { # DIR
	mkdir -p "$1"
	"$DOUBLE" --dir "$1" --latency 1 >"$1/log" 2>&1 &
	pids="$pids $!"
	i=0
	while [ ! -f "$1/kubeconfig" ]; do
		i=$((i + 1))
		[ $i -le 300 ] || { echo "run-kube: the double did not start" >&2; exit 1; }
		sleep 0.1
	done
}
admin() { # DIR METHOD KNOB
	printf 'header = "Authorization: Bearer %s"\n' "$(cat "$1/admin-token")" |
	curl -s --max-time 30 -K - --cacert "$1/ca.crt" -X "$2" "$(cat "$1/url")/double/$3"
}
verbs() { # DIR: the requests by verb since the last reset, one line (and $REQ)
	REQ=$(admin "$1" GET requests | python3 -c '
import json, sys
c = json.load(sys.stdin)
print(" ".join("%s=%d" % kv for kv in sorted(c["verbs"].items())), "total=%d" % c["total"])')
	admin "$1" DELETE requests >/dev/null
	echo "$REQ"
}
n() { # VERB: its count in $REQ
	echo "$REQ" | tr ' ' '\n' | sed -n "s/^$1=//p" | grep . || echo 0
}
# generate DIR N: N objects of 10 kinds in namespaces ns1..ns5, a file
# a kind, and ns.yaml with the namespaces.
generate() {
	python3 - "$1" "$2" <<-\PY
	import os, sys
	d, n = sys.argv[1], int(sys.argv[2])
	os.makedirs(d, exist_ok=True)
	kinds = ["ConfigMap", "Secret", "Service", "ServiceAccount", "Deployment",
	         "Role", "RoleBinding", "NetworkPolicy", "PodDisruptionBudget", "Job"]
	out = {k: [] for k in kinds}
	for i in range(n):
	    k, ns, name = kinds[i % 10], "ns%d" % (i % 5 + 1), "obj-%d" % i
	    meta = "metadata:\n  name: %s\n  namespace: %s\n  labels: {app: a%d}\n" % (name, ns, i)
	    if k == "ConfigMap":
	        doc = "apiVersion: v1\nkind: ConfigMap\n" + meta + "data:\n  key: value-%d\n  other: x\n" % i
	    elif k == "Secret":
	        doc = "apiVersion: v1\nkind: Secret\n" + meta + "stringData:\n  password: p-%d\n" % i
	    elif k == "Service":
	        doc = "apiVersion: v1\nkind: Service\n" + meta + "spec:\n  selector: {app: a%d}\n  ports:\n  - port: 80\n    targetPort: 8080\n" % i
	    elif k == "ServiceAccount":
	        doc = "apiVersion: v1\nkind: ServiceAccount\n" + meta
	    elif k == "Deployment":
	        doc = ("apiVersion: apps/v1\nkind: Deployment\n" + meta +
	               "spec:\n  replicas: 2\n  selector:\n    matchLabels: {app: a%d}\n  template:\n"
	               "    metadata:\n      labels: {app: a%d}\n    spec:\n      containers:\n"
	               "      - name: app\n        image: ghcr.io/acme/app:v%d\n        ports:\n"
	               "        - containerPort: 8080\n          protocol: TCP\n" % (i, i, i))
	    elif k == "Role":
	        doc = ("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n" + meta +
	               "rules:\n- apiGroups: ['']\n  resources: [configmaps]\n  verbs: [get, list]\n")
	    elif k == "RoleBinding":
	        doc = ("apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n" + meta +
	               "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: obj-%d}\n"
	               "subjects:\n- kind: ServiceAccount\n  name: obj-%d\n  namespace: %s\n" % (i - 1, i - 2, ns))
	    elif k == "NetworkPolicy":
	        doc = ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n" + meta +
	               "spec:\n  podSelector:\n    matchLabels: {app: a%d}\n  policyTypes: [Ingress]\n" % i)
	    elif k == "PodDisruptionBudget":
	        doc = ("apiVersion: policy/v1\nkind: PodDisruptionBudget\n" + meta +
	               "spec:\n  minAvailable: 1\n  selector:\n    matchLabels: {app: a%d}\n" % i)
	    else:
	        doc = ("apiVersion: batch/v1\nkind: Job\n" + meta +
	               "spec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n"
	               "      - name: job\n        image: ghcr.io/acme/job:v%d\n" % i)
	    out[k].append(doc)
	for k, docs in out.items():
	    with open(os.path.join(d, k.lower() + ".yaml"), "w") as f:
	        f.write("---\n".join(docs))
	with open(d + ".pairs", "w") as f:
	    f.write("%d\n" % len({(kinds[i % 10], i % 5) for i in range(n)}))
	with open(os.path.join(d, "..", os.path.basename(d) + "-ns.yaml"), "w") as f:
	    f.write("---\n".join("apiVersion: v1\nkind: Namespace\nmetadata: {name: ns%d}\n" % j
	                         for j in range(1, 6)))
	PY
}
# config DIR KUBECONFIG: an app "bench" of folder DIR on that cluster.
config() {
	cat >"$1.yaml" <<-EOF
	state_dir: $WORK/state-$1
	repositories: [{name: local, directory: $WORK}]
	apps:
	  - name: bench
	    repository: local
	    path: $1
	    prune: true
	    sync_timeout: 30m
	    target: {type: kubernetes, kubeconfig: $2, namespace: default, qps: 100000, burst: 100000, request_timeout: 10m}
	EOF
}
peer() { # LABEL -- COMMAND...: time and peak RSS of one run, its output dropped
	label=$1
	shift 2
	LAST=$("$ENGINE" peer -n 1 "$label" -- sh -c 'exec "$@" >/dev/null' sh "$@")
	echo "$LAST"
}
ms() { echo "$LAST" | awk '{ print $(NF - 3) }'; }	# median ms of $LAST
mb() { echo "$LAST" | awk '{ print $(NF - 1) }'; }	# its peak RSS, MB
met() { # CONDITION (awk): "met" or "NOT met"
	awk "BEGIN { print ($1) ? \"met\" : \"NOT met\" }"
}

echo "# run-kube: the double with 1 ms latency; $N1 resources of 10 kinds in 5 namespaces"
generate "$WORK/a" "$N1"
start_double "$WORK/ka"
start_double "$WORK/kk"
KA="$WORK/ka/kubeconfig"
KK="$WORK/kk/kubeconfig"
kubectl --kubeconfig "$KA" apply --server-side -f a-ns.yaml >/dev/null
kubectl --kubeconfig "$KK" apply --server-side -f a-ns.yaml >/dev/null
admin "$WORK/ka" DELETE requests >/dev/null
admin "$WORK/kk" DELETE requests >/dev/null
config a "$KA"

peer "kubectl apply --server-side (first)" -- \
    kubectl --kubeconfig "$KK" apply --server-side -f a
kubectl_first=$(ms)
echo "# requests: $(verbs "$WORK/kk")"
peer "gitops-agent sync (first apply)" -- \
    "$AGENT" -c a.yaml sync bench
agent_first=$(ms)
echo "# requests: $(verbs "$WORK/ka")"
peer "kubectl apply --server-side (nothing changed)" -- \
    kubectl --kubeconfig "$KK" apply --server-side -f a
echo "# requests: $(verbs "$WORK/kk")"
peer "gitops-agent sync (nothing changed)" -- \
    "$AGENT" -c a.yaml sync bench
noop_ms=$(ms)
verbs "$WORK/ka" >/dev/null
echo "# requests: $REQ"
pairs=$(cat a.pairs)
noop_list=$(n list) noop_get=$(n get) noop_dry=$(n dryrun) noop_apply=$(n apply)
sed -i 's/value-0$/value-changed/' a/configmap.yaml
grep -q value-changed a/configmap.yaml
peer "gitops-agent sync (one ConfigMap changed)" -- \
    "$AGENT" -c a.yaml sync bench
one_ms=$(ms)
verbs "$WORK/ka" >/dev/null
echo "# requests: $REQ"
one_get=$(n get) one_dry=$(n dryrun) one_apply=$(n apply)

echo "# run-kube: $N2 resources"
generate "$WORK/b" "$N2"
start_double "$WORK/kb"
KB="$WORK/kb/kubeconfig"
kubectl --kubeconfig "$KB" apply --server-side -f b-ns.yaml >/dev/null
admin "$WORK/kb" DELETE requests >/dev/null
config b "$KB"
peer "gitops-agent sync ($N2, first apply)" -- \
    "$AGENT" -c b.yaml sync bench
echo "# requests: $(verbs "$WORK/kb")"
peer "gitops-agent sync ($N2, nothing changed)" -- \
    "$AGENT" -c b.yaml sync bench
big_ms=$(ms) big_mb=$(mb)
echo "# requests: $(verbs "$WORK/kb")"
if [ "${BENCH_KUBECTL_10K:-0}" = 1 ]; then
	start_double "$WORK/kc"
	kubectl --kubeconfig "$WORK/kc/kubeconfig" apply --server-side -f b-ns.yaml >/dev/null
	peer "kubectl apply --server-side ($N2, first)" -- \
	    kubectl --kubeconfig "$WORK/kc/kubeconfig" apply --server-side -f b
fi

echo "# targets (issue 10):"
echo "first apply, $N1: $agent_first ms vs kubectl $kubectl_first ms:" \
    "$(awk "BEGIN { printf \"%.1fx\", $kubectl_first / $agent_first }")" \
    "(target: at least 3x) $(met "$kubectl_first >= 3 * $agent_first")"
echo "no-op, $N1: $noop_ms ms (target: under 300 ms) $(met "$noop_ms < 300");" \
    "list=$noop_list get=$noop_get dryrun=$noop_dry apply=$noop_apply for" \
    "$pairs (kind, namespace) pairs (target: a LIST each, the inventory's GET," \
    "nothing else) $(met "$noop_list <= $pairs && $noop_get <= 1 && $noop_dry + $noop_apply == 0")"
echo "one change, $N1: $one_ms ms; dryrun=$one_dry apply=$one_apply" \
    "get=$one_get (target: one dry-run, its apply and the inventory's, no" \
    "GET but the inventory's) $(met "$one_dry == 1 && $one_apply == 2 && $one_get <= 1")"
echo "no-op, $N2: $big_ms ms (target: under 2000 ms) $(met "$big_ms < 2000");" \
    "peak RSS $big_mb MB (target: under 64 MB) $(met "$big_mb < 64")"
