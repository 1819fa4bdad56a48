#!/bin/sh
# t0020-validate: `gitops-agent validate` on good manifests and on every
# kind of bad input. A bad input fails the whole load: every error goes to
# stderr as FILE:LINE:COLUMN (or names the file), nothing to stdout, exit 1.
. "$TEST_SRCDIR/tests/lib.sh"

# The fixtures, copied so that tests can add files (the source tree may
# be read-only under distcheck).
cp -R "$FIXTURES/manifests" cases && chmod -R u+w cases || exit 1
# Messages show paths as typed: relative to the current directory.
ROOT=cases

# validate_fails CASE: validate --path cases/CASE exits 1, prints nothing
# on stdout, and its stderr is exactly the file "expect".
validate_fails() {
	test_expect_code 1 gitops_agent validate --path "cases/$1" \
	    >out 2>err &&
	test ! -s out &&
	test_cmp expect err
}

test_expect_success 'good manifests validate' '
	gitops_agent validate --path cases/good >out 2>err &&
	echo "3 resources OK" >expect &&
	test_cmp expect out &&
	test ! -s err
'

test_expect_success 'syntax error names file, line and column' '
	printf "%s\n" "$ROOT/syntax-error/deploy.yaml:7:11: did not find expected '"','"' or '"']'"' (while parsing a flow sequence at line 6 column 13)" >expect &&
	validate_fails syntax-error
'

test_expect_success 'duplicate key is refused' '
	printf "%s\n" "$ROOT/duplicate-key/configmap.yaml:7:3: duplicate key '"'color'"' (first at line 6)" >expect &&
	validate_fails duplicate-key
'

test_expect_success 'document without kind is refused' '
	printf "%s\n" "$ROOT/missing-kind/service.yaml:1:1: document has no kind" >expect &&
	validate_fails missing-kind
'

test_expect_success 'document without metadata.name is refused at the document' '
	printf "%s\n" "$ROOT/missing-name/configmap.yaml:7:1: document has no metadata.name" >expect &&
	validate_fails missing-name
'

test_expect_success 'invalid name is refused at the name' '
	printf "%s\n" "$ROOT/bad-name/deploy.yaml:5:9: invalid name '"'Checkout_Service'"': must be a lowercase RFC 1123 subdomain" >expect &&
	validate_fails bad-name
'

test_expect_success 'duplicate identity names the first declaration' '
	printf "%s\n" "$ROOT/duplicate-identity/more/copy.yaml:7:1: duplicate resource '"'ConfigMap/shop/checkout-config'"': first declared at $ROOT/duplicate-identity/checkout.yaml:1" >expect &&
	validate_fails duplicate-identity
'

test_expect_success 'alias expansion past the bound is refused (billion laughs)' '
	printf "%s\n" "$ROOT/billion-laughs/laughs.yaml:10:10: alias '"'d'"' expands past 10000 nodes created through aliases" >expect &&
	validate_fails billion-laughs
'

test_expect_success 'file past the size bound is refused before parsing' '
	mkdir cases/too-large &&
	dd if=/dev/zero bs=1024 count=8193 2>/dev/null | tr "\000" "#" \
	    >cases/too-large/big.yaml &&
	printf "%s\n" "'"'"'$ROOT/too-large/big.yaml'"'"' is too large: 8389632 bytes, the limit is 8388608" >expect &&
	validate_fails too-large
'

test_expect_success 'bad sync wave names the annotation and the value' '
	printf "%s\n" "$ROOT/bad-wave/job.yaml:8:35: invalid sync wave '"'first'"' in annotation '"'argocd.argoproj.io/sync-wave'"': expected an integer" >expect &&
	validate_fails bad-wave
'

test_expect_success 'every error of every file is reported' '
	cat >expect <<-EOF &&
	$ROOT/multiple-errors/a.yaml:4:9: invalid name '"'Bad.Name'"': must be a lowercase RFC 1123 subdomain
	$ROOT/multiple-errors/b.yaml:2:7: invalid kind '"'service'"': must start with an upper-case letter and hold only letters and digits
	EOF
	validate_fails multiple-errors
'

# A repository must not read outside itself through a symlink. --path
# trusts the user's own command line (a kustomization may reach up), so
# this goes through a configured repository, which is the boundary.
test_expect_success 'symlinks leading out of the repository are refused' '
	repo=$ROOT/symlink-escape &&
	ln -s /etc/passwd "$repo/apps/shop/passwd.yaml" &&
	ln -s /etc "$repo/apps/shop/etc" &&
	echo "secret: outside" >cases/secret.yaml &&
	ln -s ../../../secret.yaml "$repo/apps/shop/secret.yaml" &&
	cat >escape.yaml <<-EOF &&
	state_dir: $TRASH/state
	repositories:
	  - name: infra
	    directory: $repo
	apps:
	  - name: shop
	    repository: infra
	    path: apps/shop
	    target: {type: directory, path: $TRASH/live}
	EOF
	cat >expect <<-EOF &&
	'"'"'$repo/apps/shop/etc'"'"' leads outside '"'"'$repo'"'"' through a symlink
	'"'"'$repo/apps/shop/passwd.yaml'"'"' leads outside '"'"'$repo'"'"' through a symlink
	'"'"'$repo/apps/shop/secret.yaml'"'"' leads outside '"'"'$repo'"'"' through a symlink
	EOF
	test_expect_code 1 gitops_agent -c escape.yaml validate shop \
	    >out 2>err &&
	test ! -s out &&
	test_cmp expect err &&
	test ! -e live
'

test_expect_success 'a symlink inside the repository is followed' '
	repo=$ROOT/symlink-escape &&
	rm "$repo/apps/shop/passwd.yaml" "$repo/apps/shop/etc" \
	    "$repo/apps/shop/secret.yaml" &&
	mkdir "$repo/shared" &&
	cat >"$repo/shared/cm.yaml" <<-EOF &&
	apiVersion: v1
	kind: ConfigMap
	metadata:
	  name: shared-settings
	EOF
	ln -s ../../shared/cm.yaml "$repo/apps/shop/shared.yaml" &&
	gitops_agent -c escape.yaml validate shop >out 2>err &&
	echo "shop: 2 resources OK" >expect &&
	test_cmp expect out
'

test_done
