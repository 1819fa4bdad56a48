#!/bin/sh
# t0065-kustomize-diff: the built-in renderer against kubectl kustomize on a
# corpus of small kustomizations (tests/fixtures/kustomize-diff/NAME/), one
# test a case. Each is rendered both ways, every object turned into sorted
# canonical JSON (tests/kustomize-diff.py), and the two compared; a case
# both refuse agrees. A difference fails unless the case is listed below.
. "$TEST_SRCDIR/tests/lib.sh"

CORPUS="$FIXTURES/kustomize-diff"
CANON="$TEST_SRCDIR/tests/kustomize-diff.py"

# Differences kept on purpose (README, "Differences from kustomize").
deliberate() {
	case $1 in
	cl-service-knative) echo "commonLabels gives a Knative Service no" \
	    "spec.selector: kustomize treats every v1 Service alike" ;;
	img-dot-literal) echo "an images name matches literally: kustomize" \
	    "reads it as a regular expression, '.' any character" ;;
	ns-cluster-scoped-55) echo "kustomize 5.5 namespaces these" \
	    "cluster-scoped kinds (ValidatingAdmissionPolicy, FlowSchema" \
	    "v1, ServiceCIDR)" ;;
	yaml-big-int) echo "an integer above 2^53 is refused: it cannot be" \
	    "kept exactly" ;;
	res-two-api-versions) echo "one name in two versions of a group is" \
	    "one object to the API server: refused as a duplicate" ;;
	ns-apiservice-local) echo "a local APIService (no spec.service) is" \
	    "given none: kustomize creates one holding only a namespace," \
	    "which the API server refuses" ;;
	yaml-date) echo "an unquoted date stays the text kubectl apply" \
	    "reads, with a warning to quote it: kustomize rewrites it as a" \
	    "timestamp" ;;
	*) return 1 ;;
	esac
}

# Known bugs of the built-in renderer (expected failures): none today.
known_bug() {
	case $1 in
	*) return 1 ;;
	esac
}

if ! command -v kubectl >/dev/null 2>&1; then
	test_skip 'the built-in renderer agrees with kubectl kustomize' \
	    'kubectl not installed'
	test_done
fi
if ! python3 -c 'import yaml' 2>/dev/null; then
	test_skip 'the built-in renderer agrees with kubectl kustomize' \
	    'python3 yaml module not installed'
	test_done
fi

# render NAME: out/NAME/builtin and out/NAME/kubectl, canonical objects
# or the word "refused".
render() {
	d="$CORPUS/$1" o="out/$1"
	mkdir -p "$o" &&
	if gitops_agent render --no-external-renderer --path "$d" \
	    >"$o/builtin.yaml" 2>"$o/builtin.err"
	then
		python3 "$CANON" "$o/builtin.yaml" >"$o/builtin"
	else
		echo refused >"$o/builtin"
	fi &&
	if kubectl kustomize "$d" >"$o/kubectl.yaml" 2>"$o/kubectl.err"; then
		python3 "$CANON" "$o/kubectl.yaml" >"$o/kubectl"
	else
		echo refused >"$o/kubectl"
	fi
}

same=0 total=0
for dir in "$CORPUS"/*/; do
	name=$(basename "$dir")
	total=$((total + 1))
	render "$name" || echo "# $name: cannot render"
	if cmp -s "out/$name/builtin" "out/$name/kubectl"; then
		same=$((same + 1))
		test_expect_success "$name: identical" 'true'
	elif why=$(deliberate "$name"); then
		test_expect_success "$name: differs on purpose: $why" 'true'
	elif why=$(known_bug "$name"); then
		test_expect_failure "$name: $why" \
		    "diff -u out/$name/kubectl out/$name/builtin"
	else
		test_expect_success "$name: identical" "
			cat out/$name/builtin.err out/$name/kubectl.err &&
			diff -u out/$name/kubectl out/$name/builtin
		"
	fi
done

test_expect_success 'the corpus holds at least 60 cases' "
	test $total -ge 60
"
echo "# $same of $total cases identical to kubectl kustomize"

test_done
