#!/bin/sh
# t0412-kube-diff: `gitops-agent diff` on a Kubernetes target shows what
# `kubectl diff --server-side` shows: the whole live object against the
# server's dry-run answer, managedFields left out, keys in order. Checked
# hunk for hunk against kubectl 1.32 on the same change (kubectl applies
# the same objects, labelled and annotated as the agent sends them, under
# the agent's field manager). A field removed from Git shows as removed;
# a creation shows the object against /dev/null; Secret values never show.
. "$TEST_SRCDIR/tests/lib.sh"

test_kube_env

write_app() { # IMAGE_TAG
	mkdir -p app
	cat >app/namespace.yaml <<-EOF
	apiVersion: v1
	kind: Namespace
	metadata:
	  name: shop
	EOF
	cat >app/config.yaml <<-EOF
	apiVersion: v1
	kind: ConfigMap
	metadata:
	  name: checkout-config
	  namespace: shop
	data:
	  LOG_LEVEL: info
	  EXTRA: "yes"
	EOF
	cat >app/secret.yaml <<-EOF
	apiVersion: v1
	kind: Secret
	metadata:
	  name: checkout-db
	  namespace: shop
	stringData:
	  password: first-secret-value
	EOF
	cat >app/deployment.yaml <<-EOF
	apiVersion: apps/v1
	kind: Deployment
	metadata:
	  name: checkout
	  namespace: shop
	spec:
	  replicas: 2
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
	        image: ghcr.io/acme/checkout-service:$1
	        ports:
	        - containerPort: 8080
	          protocol: TCP
	EOF
}

# kubectl_input DIR: the app's objects as the agent sends them (its
# ApplySet label and identity annotation added), for kubectl diff.
kubectl_input() {
	id=$(kc -n default get configmap gitops-agent.shop \
	    -o jsonpath="{.metadata.labels.applyset\.kubernetes\.io/id}") &&
	mkdir -p "$1" &&
	for f in app/namespace.yaml app/config.yaml app/deployment.yaml; do
		python3 - "$f" "$id" >"$1/${f#app/}" <<-\PY || return 1
		import sys, yaml
		d = yaml.safe_load(open(sys.argv[1]))
		md = d["metadata"]
		md.setdefault("labels", {})["applyset.kubernetes.io/part-of"] = sys.argv[2]
		api = d["apiVersion"]
		kid = d["kind"] + ("." + api.split("/")[0] if "/" in api else "")
		ns = md.get("namespace")
		md.setdefault("annotations", {})["gitops-agent.io/identity"] = \
		    kid + "/" + (ns + "/" if ns else "") + md["name"]
		yaml.safe_dump(d, sys.stdout)
		PY
	done
}

# hunks FILE: each object's hunks, keyed by kind and name, from either
# kubectl's diff (/tmp/MERGED-N/GROUP.VERSION.KIND.NS.NAME) or ours
# (merged/KIND.GROUP/NS/NAME): the headers differ, the hunks may not.
hunks() {
	python3 - "$1" <<-\PY
	import sys
	out, key = {}, None
	for line in open(sys.argv[1]).read().splitlines():
	    if line.startswith("diff -u -N ") or line.startswith("--- "):
	        continue
	    if line.startswith("+++ "):
	        path = line[4:].split("\t")[0]
	        if path.startswith("merged/"):
	            parts = path[len("merged/"):].split("/")
	            key = parts[0].split(".")[0] + " " + parts[-1]
	        else:
	            comps = path.rsplit("/", 1)[1].split(".")
	            i = next(i for i, c in enumerate(comps) if c[:1].isupper())
	            key = comps[i] + " " + ".".join(comps[i + 2:])
	        out[key] = []
	        continue
	    out[key].append(line)
	for k in sorted(out):
	    print("== " + k)
	    print("\n".join(out[k]))
	PY
}

test_expect_success KUBE 'setup: the double and an app synced to it' '
	test_kube_double "$K" &&
	write_app v3.0.1 &&
	cat >gitops-agent.yaml <<-EOF &&
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
	    prune: true
	EOF
	gitops_agent -c gitops-agent.yaml sync shop &&
	gitops_agent -c gitops-agent.yaml diff shop >out &&
	test ! -s out
'

test_expect_success KUBE 'nothing changed: kubectl diff agrees there is nothing to show' '
	kubectl_input kin &&
	kc diff --server-side --field-manager=gitops-agent --force-conflicts \
	    -f kin >theirs &&
	test ! -s theirs
'

test_expect_success KUBE 'a changed image and a removed key: the hunks of kubectl diff --server-side' '
	sed -i "s/v3.0.1/v3.0.2/" app/deployment.yaml &&
	sed -i "/EXTRA/d" app/config.yaml &&
	test_expect_code 1 gitops_agent -c gitops-agent.yaml diff shop >ours &&
	rm -rf kin && kubectl_input kin &&
	test_expect_code 1 kc diff --server-side \
	    --field-manager=gitops-agent --force-conflicts -f kin >theirs &&
	test_grep "^-  EXTRA: \"yes\"" ours &&
	test_grep "^+      - image: ghcr.io/acme/checkout-service:v3.0.2" ours &&
	test_grep "^+  generation: " ours &&
	! grep managedFields ours &&
	hunks ours >ours.hunks &&
	hunks theirs >theirs.hunks &&
	test_cmp theirs.hunks ours.hunks &&
	test "$(grep -c "^== " ours.hunks)" = 2
'

test_expect_success KUBE 'the diff changed nothing live' '
	kc -n shop get configmap checkout-config -o jsonpath="{.data.EXTRA}" >v &&
	test "$(cat v)" = yes
'

test_expect_success KUBE 'a creation: the object against /dev/null' '
	cat >app/extra.yaml <<-EOF &&
	apiVersion: v1
	kind: ConfigMap
	metadata:
	  name: checkout-flags
	  namespace: shop
	data:
	  NEW_CHECKOUT: "on"
	EOF
	test_expect_code 1 gitops_agent -c gitops-agent.yaml diff shop >out &&
	test_grep "^--- /dev/null" out &&
	test_grep "^+++ merged/ConfigMap/shop/checkout-flags" out &&
	test_grep "^+  NEW_CHECKOUT: \"on\"" out
'

test_expect_success KUBE 'an object kubectl apply made: the adoption shows (its annotation goes, ours come)' '
	cat >app/legacy.yaml <<-EOF &&
	apiVersion: v1
	kind: ConfigMap
	metadata:
	  name: legacy
	  namespace: shop
	data:
	  OLD: "1"
	EOF
	kc create --save-config -f app/legacy.yaml &&
	test_expect_code 1 gitops_agent -c gitops-agent.yaml diff shop >out &&
	test_grep "^--- live/ConfigMap/shop/legacy" out &&
	test_grep "^-    kubectl.kubernetes.io/last-applied-configuration" out &&
	test_grep "^+    gitops-agent.io/identity: ConfigMap/shop/legacy" out &&
	test_grep "^+    applyset.kubernetes.io/part-of: " out
'

test_expect_success KUBE 'a changed Secret shows masked values only' '
	sed -i "s/first-secret-value/second-secret-value/" app/secret.yaml &&
	test_expect_code 1 gitops_agent -c gitops-agent.yaml diff shop >out &&
	test_grep "merged/Secret/shop/checkout-db" out &&
	! grep -e first-secret-value -e second-secret-value out &&
	! grep -e "$(printf first-secret-value | base64)" out &&
	! grep -e "$(printf second-secret-value | base64)" out &&
	test_grep "^[-+] *password: \"+++" out
'

test_done
