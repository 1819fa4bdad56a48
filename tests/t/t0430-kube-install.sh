#!/bin/sh
# t0430-kube-install: manifests/install/ against the Kubernetes API double.
# kubectl applies both variants server-side; the Deployment has its
# probes, runs unprivileged on a read-only root with sized requests; the
# configuration it ships passes check; and the agent itself syncs the
# install as an app (adopting what kubectl made, then nothing to do, then
# a prune), using only the verbs its Role and ClusterRole grant.
. "$TEST_SRCDIR/tests/lib.sh"

test_kube_prereq
K="$TRASH/kube"
export KUBECONFIG="$K/kubeconfig"
test_cleanup_pidfile "$K/pid"
INSTALL="$TEST_SRCDIR/manifests/install"
VERBS="create delete get list patch"
kc() {
	kubectl --request-timeout=30s "$@"
}
# json FILE EXPR: a value of the JSON object in FILE, as Python prints it.
json() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2], {"d": d}))' "$1" "$2"
}
# The verbs the double served since the last reset, one a line: apply,
# its dry run and patch are PATCH requests, authorised as patch (and
# create when the object is new); discovery needs no rule.
verbs_used() {
	test_kube_admin "$K" GET requests >counts.json &&
	python3 -c 'import json
v = json.load(open("counts.json"))["verbs"]
for k, n in sorted(v.items()):
    if n and k != "discovery":
        print("patch" if k in ("apply", "dryrun") else k)' | sort -u
}

test_expect_success KUBE 'setup: the double' '
	test_kube_double "$K"
'

test_expect_success KUBE 'kubectl applies the install server-side' '
	kc apply --server-side -k "$INSTALL" >out &&
	test_grep "deployment.apps/gitops-agent serverside-applied" out &&
	for o in namespace/gitops-agent clusterrole/gitops-agent \
	    clusterrolebinding/gitops-agent; do
		kc get "$o" >/dev/null || exit 1
	done &&
	for o in serviceaccount/gitops-agent configmap/gitops-agent-config \
	    secret/gitops-agent-webhook pvc/gitops-agent-state \
	    service/gitops-agent deployment/gitops-agent; do
		kc -n gitops-agent get "$o" >/dev/null || exit 1
	done
'

test_expect_success KUBE 'the Deployment: probes, unprivileged, read-only root, requests' '
	kc -n gitops-agent get deployment gitops-agent -o json >d.json &&
	c="d[\"spec\"][\"template\"][\"spec\"][\"containers\"][0]" &&
	test "$(json d.json "$c[\"livenessProbe\"][\"httpGet\"][\"path\"]")" = /healthz &&
	test "$(json d.json "$c[\"readinessProbe\"][\"httpGet\"][\"path\"]")" = /readyz &&
	test "$(json d.json "$c[\"securityContext\"][\"readOnlyRootFilesystem\"]")" = True &&
	test "$(json d.json "$c[\"securityContext\"][\"allowPrivilegeEscalation\"]")" = False &&
	test "$(json d.json "d[\"spec\"][\"template\"][\"spec\"][\"securityContext\"][\"runAsNonRoot\"]")" = True &&
	test "$(json d.json "$c[\"resources\"][\"requests\"][\"memory\"]")" = 160Mi &&
	test "$(json d.json "$c[\"image\"]")" = registry.example.com/gitops-agent:0.1.0 &&
	test "$(json d.json "d[\"spec\"][\"strategy\"][\"type\"]")" = Recreate
'

test_expect_success KUBE 'the RBAC of both variants lists only the verbs the target uses' '
	kc apply --server-side -k "$INSTALL/namespaced" >out &&
	test_grep "role.rbac.authorization.k8s.io/gitops-agent serverside-applied" out &&
	kc get clusterrole gitops-agent -o json >cr.json &&
	kc -n gitops-agent get role gitops-agent -o json >r.json &&
	for f in cr.json r.json; do
		test "$(json $f "len(d[\"rules\"])")" = 1 &&
		json $f "\"\\n\".join(d[\"rules\"][0][\"verbs\"])" | sort >verbs &&
		echo "$VERBS" | tr " " "\n" >expect &&
		test_cmp expect verbs || exit 1
	done
'

test_expect_success KUBE 'the configuration it ships passes check' '
	kc -n gitops-agent get configmap gitops-agent-config \
	    -o jsonpath="{.data.gitops-agent\\.yaml}" >shipped.yaml &&
	test_grep "webhook_secret_file: /etc/gitops-agent/infra" shipped.yaml &&
	echo s3cret >infra && chmod 600 infra &&
	sed -e "s|/etc/gitops-agent/infra|$TRASH/infra|" \
	    -e "s|/var/lib/gitops-agent|$TRASH/state|" shipped.yaml >check.yaml &&
	gitops_agent -c check.yaml check
'

test_expect_success KUBE 'the agent syncs its own install, adopting what kubectl made' '
	mkdir -p repo &&
	cp -R "$INSTALL" repo/install &&
	cat >agent.yaml <<-EOF &&
	state_dir: ./state
	repositories:
	  - name: local
	    directory: ./repo
	apps:
	  - name: gitops-agent
	    repository: local
	    path: install
	    target:
	      type: kubernetes
	      kubeconfig: $K/kubeconfig
	      namespace: gitops-agent
	    sync_timeout: 60s
	EOF
	test_kube_admin "$K" DELETE requests >/dev/null &&
	gitops_agent -c agent.yaml sync gitops-agent >out 2>&1 &&
	kc -n gitops-agent get deployment gitops-agent -o json >d.json &&
	json d.json "d[\"metadata\"][\"labels\"][\"applyset.kubernetes.io/part-of\"]" >part-of &&
	test -s part-of &&
	kc get clusterrole gitops-agent -o json >cr.json &&
	test "$(json cr.json "d[\"metadata\"][\"labels\"][\"applyset.kubernetes.io/part-of\"]")" = "$(cat part-of)" &&
	verbs_used >used &&
	echo "$VERBS" | tr " " "\n" | comm -13 - used >extra &&
	test_cmp /dev/null extra
'

test_expect_success KUBE 'a second sync has nothing to do' '
	test_kube_admin "$K" DELETE requests >/dev/null &&
	gitops_agent -c agent.yaml sync gitops-agent >out 2>&1 &&
	test_kube_admin "$K" GET requests >counts.json &&
	test "$(json counts.json "d[\"verbs\"].get(\"apply\", 0)")" = 0 &&
	test "$(json counts.json "d[\"verbs\"].get(\"delete\", 0)")" = 0
'

test_expect_success KUBE 'what leaves Git is pruned, within the same verbs' '
	sed -i "/service.yaml/d" repo/install/base/kustomization.yaml &&
	test_kube_admin "$K" DELETE requests >/dev/null &&
	gitops_agent -c agent.yaml sync gitops-agent >out 2>&1 &&
	test_must_fail kc -n gitops-agent get service gitops-agent 2>err &&
	test_grep NotFound err &&
	verbs_used >used &&
	test_grep "^delete\$" used &&
	echo "$VERBS" | tr " " "\n" | comm -13 - used >extra &&
	test_cmp /dev/null extra
'

test_done
