#!/bin/sh
# t0060-render: kustomizations through the CLI: the built-in subset
# (resources, namespace, commonLabels, images), fields beyond it, and
# kubectl kustomize, which the subset must agree with where they overlap.
. "$TEST_SRCDIR/tests/lib.sh"

SHOP="$TRASH/shop"
cp -R "$FIXTURES/render/shop" "$SHOP"

# The ids a plan holds, one per line, sorted.
plan_ids() {
	gitops_agent plan --path "$1" --output json >plan.json &&
	sed -n 's/.*"id":[[:space:]]*"\([^"]*\)".*/\1/p' plan.json |
	    LC_ALL=C sort
}

test_expect_success 'the built-in subset renders the overlay' '
	gitops_agent validate --no-external-renderer \
	    --path "$SHOP/overlays/staging" >out &&
	test_grep "^9 resources OK" out
'

test_expect_success 'namespace goes to namespaced resources only' '
	plan_ids "$SHOP/overlays/staging" >ids &&
	cat >expect <<-\EOF &&
	ClusterRole.rbac.authorization.k8s.io/checkout-reader
	ClusterRoleBinding.rbac.authorization.k8s.io/checkout-reader
	ConfigMap/shop-staging/checkout-config
	CronJob.batch/shop-staging/checkout-vacuum
	Deployment.apps/shop-staging/checkout
	Job.batch/shop-staging/checkout-migrate
	Namespace/shop-staging
	Service/shop-staging/checkout
	StatefulSet.apps/shop-staging/checkout-db
	EOF
	test_cmp expect ids
'

test_expect_success 'images and labels land in the applied files' '
	gitops_agent sync --no-external-renderer \
	    --path "$SHOP/overlays/staging" --target live/builtin >out &&
	d=live/builtin/shop-staging/Deployment.apps/checkout.yaml &&
	test_grep "image: ghcr.io/acme/checkout-service:v3.0.1-ghi789" $d &&
	test_grep "registry.internal:5000/tools/wait-for@sha256:1111" $d &&
	test_grep "image: envoyproxy/envoy:v1.30.1$" $d &&
	test_grep "environment: staging" $d &&
	test_grep "app.kubernetes.io/part-of: shop" $d &&
	test_grep "image: postgres:16.4" \
	    live/builtin/shop-staging/CronJob.batch/checkout-vacuum.yaml &&
	c=live/builtin/_cluster/ClusterRole.rbac.authorization.k8s.io &&
	test_grep -v "namespace:" $c/checkout-reader.yaml
'

test_expect_success 'a field beyond the subset is named with its place' '
	test_expect_code 1 gitops_agent validate --no-external-renderer \
	    --path "$SHOP/overlays/prefixed" 2>err &&
	test_grep "prefixed/kustomization.yaml:3:1: kustomization field .namePrefix." err &&
	test_grep "by the built-in renderer and running kubectl is disabled" err
'

test_expect_success 'without kubectl in PATH the error says so' '
	(PATH=/nonexistent; export PATH;
	 test_expect_code 1 "$GITOPS_AGENT" validate \
	    --path "$SHOP/overlays/prefixed" 2>err) &&
	test_grep "and kubectl was not found" err
'

if command -v kubectl >/dev/null 2>&1; then
	test_expect_success 'kubectl kustomize renders what the subset cannot' '
		gitops_agent sync --path "$SHOP/overlays/prefixed" \
		    --target live/prefixed >out &&
		d=live/prefixed/shop-production/Deployment.apps &&
		d=$d/prod-checkout.yaml &&
		test_grep "replicas: 5" $d &&
		test_grep "name: prod-checkout" $d
	'

	# The same overlay once more, with a field that changes nothing
	# but sends it through kubectl.
	mkdir "$SHOP/overlays/viakubectl" &&
	cp "$SHOP/overlays/staging/"* "$SHOP/overlays/viakubectl/" &&
	printf 'sortOptions:\n  order: legacy\n' \
	    >>"$SHOP/overlays/viakubectl/kustomization.yaml"

	test_expect_success 'the subset and kubectl agree on resources' '
		test_expect_code 1 gitops_agent validate \
		    --no-external-renderer \
		    --path "$SHOP/overlays/viakubectl" 2>err &&
		test_grep "sortOptions" err &&
		plan_ids "$SHOP/overlays/staging" >builtin.ids &&
		plan_ids "$SHOP/overlays/viakubectl" >kubectl.ids &&
		test_cmp builtin.ids kubectl.ids
	'

	test_expect_success 'the subset and kubectl agree on every document' '
		gitops_agent sync --no-external-renderer \
		    --path "$SHOP/overlays/staging" --target cmp/app >out &&
		gitops_agent sync --path "$SHOP/overlays/viakubectl" \
		    --target cmp2/app >out &&
		(cd cmp/app && find . -name "*.yaml" ! -path "./.g*" |
		    LC_ALL=C sort) >builtin.files &&
		(cd cmp2/app && find . -name "*.yaml" ! -path "./.g*" |
		    LC_ALL=C sort) >kubectl.files &&
		test_cmp builtin.files kubectl.files &&
		gitops_agent diff --path "$SHOP/overlays/viakubectl" \
		    --target cmp/app >diff1 &&
		gitops_agent diff --no-external-renderer \
		    --path "$SHOP/overlays/staging" --target cmp2/app >diff2
	'

	# The patch is there (paths are checked before kubectl runs); what
	# it patches is not.
	test_expect_success 'a failing kubectl kustomize shows its error' '
		mkdir -p broken &&
		printf "resources: []\npatchesStrategicMerge: [gone.yaml]\n" \
		    >broken/kustomization.yaml &&
		printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: gone}\n" \
		    >broken/gone.yaml &&
		test_expect_code 1 gitops_agent validate --path broken 2>err &&
		test_grep "with kubectl kustomize (exit status 1)" err &&
		test_grep "gone" err
	'
else
	test_skip 'kubectl kustomize renders what the subset cannot' \
	    'kubectl not installed'
	test_skip 'the subset and kubectl agree on resources' \
	    'kubectl not installed'
	test_skip 'the subset and kubectl agree on every document' \
	    'kubectl not installed'
	test_skip 'a failing kubectl kustomize shows its error' \
	    'kubectl not installed'
fi

# What kubectl may read is checked first, through the repository: a
# stand-in kubectl shows whether it ran.
mkdir -p bin repo/apps/x outside
cat >bin/kubectl <<\EOF
#!/bin/sh
echo "$@" >"$(dirname "$0")/ran"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fake}\n'
EOF
chmod +x bin/kubectl
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: outside}\n' \
    >outside/cm.yaml
printf 'resources: [cm.yaml]\n' >outside/kustomization.yaml
cat >escape.yaml <<EOF
state_dir: $TRASH/state
repositories:
  - name: infra
    directory: $TRASH/repo
apps:
  - name: x
    repository: infra
    path: apps/x
    target: {type: directory, path: $TRASH/live-escape}
EOF

# Validate app x with the kustomization on stdin: it fails, and the
# stand-in kubectl never runs.
refused() {
	cat >repo/apps/x/kustomization.yaml &&
	rm -f bin/ran &&
	(PATH="$TRASH/bin:$PATH"; export PATH;
	 test_expect_code 1 "$GITOPS_AGENT" -c escape.yaml validate x \
	    2>err) &&
	test ! -e bin/ran
}

test_expect_success 'a resource outside the repository is refused' '
	refused <<-\EOF &&
	commonAnnotations: {x: z}
	resources: [../../../outside]
	EOF
	test_grep "apps/x/kustomization.yaml:2:13: resource .../../../outside. is outside the repository" err
'

test_expect_success 'so is one reached through a symlink' '
	ln -s ../outside repo/link &&
	refused <<-\EOF &&
	commonAnnotations: {x: z}
	resources:
	- ../../link
	EOF
	test_grep "kustomization.yaml:3:3: resource .../../link. is outside the repository or unreadable" err
'

test_expect_success 'a remote resource is refused, nothing fetched' '
	refused <<-\EOF &&
	commonAnnotations: {x: z}
	resources:
	- https://127.0.0.1:9/org/repo.git
	EOF
	test_grep "kustomization.yaml:3:3: remote resource .https://127.0.0.1:9/org/repo.git. is not supported: vendor it into the repository" err
'

test_expect_success 'kubectl runs with the load restrictor stated' '
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n" \
	    >repo/apps/x/cm.yaml &&
	printf "commonAnnotations: {x: z}\nresources: [cm.yaml]\n" \
	    >repo/apps/x/kustomization.yaml &&
	rm -f bin/ran &&
	(PATH="$TRASH/bin:$PATH"; export PATH;
	 "$GITOPS_AGENT" -c escape.yaml validate x >out) &&
	test_grep "kustomize --load-restrictor LoadRestrictionsRootOnly " \
	    bin/ran
'

# Each level lists the next twice: 2^18 visits unless they are bounded.
test_expect_success 'a diamond graph of kustomizations is bounded' '
	i=0 &&
	while test $i -lt 18; do
		mkdir -p dia/d$i &&
		echo "resources: [../d$((i + 1)), ./../d$((i + 1))]" \
		    >dia/d$i/kustomization.yaml &&
		i=$((i + 1)) || exit 1
	done &&
	mkdir -p dia/d18 &&
	echo "resources: []" >dia/d18/kustomization.yaml &&
	test_expect_code 1 gitops_agent validate --no-external-renderer \
	    --path dia/d0 2>err &&
	test_grep "kustomization graph too large" err
'

# Plain scalars as kubectl reads them: YAML 1.1 integers; the words
# and dates kubectl and kustomize read differently are kept and warned of.
mkdir -p nums
cat >nums/d.yaml <<\EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
  namespace: ns
spec:
  replicas: 010
  revisionHistoryLimit: 1_0
  progressDeadlineSeconds: 0x1F
  minReadySeconds: -0b101
  template:
    metadata:
      labels: {enabled: on, day: 2024-01-02, tag: "010"}
EOF

test_expect_success 'plain integers are read as kubectl reads them' '
	gitops_agent sync --no-external-renderer --path nums \
	    --target live/nums 2>err &&
	f=live/nums/ns/Deployment.apps/d.yaml &&
	test_grep "replicas: 8$" $f &&
	test_grep "revisionHistoryLimit: 10$" $f &&
	test_grep "progressDeadlineSeconds: 31$" $f &&
	test_grep "minReadySeconds: -5$" $f &&
	test_grep "tag: \"010\"" $f
'

test_expect_success 'on and dates are kept as text, with a warning' '
	f=live/nums/ns/Deployment.apps/d.yaml &&
	test_grep "enabled: \"on\"" $f &&
	test_grep "day: \"2024-01-02\"" $f &&
	test_grep "level=warn.*boolean.*quote it.*file=[^ ]*nums/d.yaml:13:25 value=on" err &&
	test_grep "level=warn.*timestamp.*quote it.*file=[^ ]*nums/d.yaml:13:34 value=2024-01-02" err &&
	test $(grep -c level=warn err) = 2
'

if command -v kubectl >/dev/null 2>&1; then
	test_expect_success 'kubectl reads the integers the same' '
		kubectl label --local -f nums/d.yaml -o json x=y >k.json &&
		test_grep "\"replicas\": 8," k.json &&
		test_grep "\"revisionHistoryLimit\": 10," k.json &&
		test_grep "\"progressDeadlineSeconds\": 31," k.json &&
		test_grep "\"minReadySeconds\": -5," k.json
	'
else
	test_skip 'kubectl reads the integers the same' 'kubectl not installed'
fi

test_done
