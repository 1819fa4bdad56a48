#!/bin/sh
# t0070-example: the example shop end to end through its own configuration
# (check, validate, plan, sync in dependency order, diff, Secret masking,
# state), and every kind of bad input through `sync`: the error names the
# file, line and column, and the live directory is left untouched.
. "$TEST_SRCDIR/tests/lib.sh"

# The example at the same depth as in the source tree, so its config's
# ../../../live and ../../../state land in this scratch directory.
mkdir -p manifests/examples &&
cp -R "$EXAMPLE" manifests/examples/ecommerce &&
chmod -R u+w manifests || exit 1
CONFIG=manifests/examples/ecommerce/gitops-agent.yaml
SHOP=manifests/examples/ecommerce

# before A B FILE: line "A: ..." comes before line "B: ..." in FILE.
before() {
	a=$(grep -n "^$1: " "$3" | head -n 1 | cut -d: -f1)
	b=$(grep -n "^$2: " "$3" | head -n 1 | cut -d: -f1)
	if [ -z "$a" ] || [ -z "$b" ] || [ "$a" -ge "$b" ]; then
		echo "expected $1 (line ${a:-none}) before $2 (line ${b:-none}):"
		cat "$3"
		return 1
	fi
}

# A listing of the live tree and the agent's state with content hashes,
# modification times and inodes.
live_snapshot() {
	for d in live state; do
		(cd $d && find . -type f -printf "$d/%p %T@ %i\n" |
		    LC_ALL=C sort &&
		    find . -type f | LC_ALL=C sort | xargs sha256sum)
	done
}

test_expect_success 'the example configuration checks' '
	gitops_agent -c $CONFIG check >out &&
	echo "configuration OK" >expect &&
	test_cmp expect out
'

test_expect_success 'every app of the example renders' '
	gitops_agent -c $CONFIG validate >out &&
	test "$(grep -c ": [0-9]* resources OK\$" out)" -eq 12
'

test_expect_success 'plan puts the migration hook first and the workload last' '
	gitops_agent -c $CONFIG plan checkout-staging >out &&
	sed -n 2p out | grep "^PreSync  *0  *Job  *shop-staging  *checkout-db-migrate" &&
	grep -v "^\$" out | tail -n 1 | grep "^Sync  *1  *Deployment  *shop-staging  *checkout-service"
'

test_expect_success 'sync of every app runs in dependency order' '
	gitops_agent -c $CONFIG sync >out 2>err &&
	test ! -s err &&
	for env in staging production; do
		before platform-$env catalog-$env out &&
		before platform-$env inventory-$env out &&
		before inventory-$env checkout-$env out &&
		before checkout-$env payments-$env out &&
		before catalog-$env frontend-shell-$env out &&
		before payments-$env frontend-shell-$env out || exit 1
	done &&
	test "$(grep -c ": synced in " out)" -eq 12
'

test_expect_success 'live holds one file per resource at its identity path' '
	test -f live/staging/_cluster/Namespace/shop-staging.yaml &&
	test -f live/production/_cluster/Namespace/shop-production.yaml &&
	test -f live/staging/shop-staging/Job.batch/checkout-db-migrate.yaml &&
	test -f live/staging/shop-staging/Secret/checkout-db.yaml &&
	grep "image: ghcr.io/acme/checkout-service@sha256:" \
	    live/staging/shop-staging/Deployment.apps/checkout-service.yaml &&
	test -f state/apps/checkout-staging/last-sync.json &&
	grep "\"status\":.*\"Succeeded\"" state/apps/checkout-staging/last-sync.json
'

test_expect_success 'a second sync changes and writes nothing' '
	live_snapshot >before &&
	gitops_agent -c $CONFIG sync >out &&
	test "$(grep -c ": synced in .*: 0 created, 0 updated, 0 pruned, " out)" -eq 12 &&
	live_snapshot >after &&
	test_cmp before after
'

test_expect_success 'every app is in sync: diff exits 0 and prints nothing' '
	for app in $(sed -n "s/^  - name: \(.*-\(staging\|production\)\)\$/\1/p" $CONFIG); do
		gitops_agent -c $CONFIG diff $app >out || { echo "$app differs"; cat out; exit 1; }
		test ! -s out || exit 1
	done
'

test_expect_success 'a changed Secret shows masked, never its value' '
	sed -i "s/not-a-real-password/another-fake-password/" \
	    $SHOP/apps/platform/overlays/staging/checkout-db-secret.yaml &&
	test_expect_code 1 gitops_agent -c $CONFIG diff platform-staging >out &&
	test_grep "^-  url: \"*++++++++" out &&
	test_grep "^+  url: \"*++++++++" out &&
	test_grep -v "password" out &&
	gitops_agent -c $CONFIG diff --output json platform-staging >json || test $? -eq 1 &&
	test_grep -v "password" json &&
	gitops_agent -c $CONFIG sync platform-staging >out &&
	test_grep -v "password" out &&
	test_grep "platform-staging: synced in .*1 updated" out
'

test_expect_success 'an image bump in an overlay updates only that Deployment' '
	sed -i "s/newTag: \"*v2.1.0-[0-9a-f]*\"*/newTag: v2.2.0-0a1b2c3/" \
	    $SHOP/apps/catalog-service/overlays/staging/kustomization.yaml &&
	test_expect_code 1 gitops_agent -c $CONFIG diff catalog-staging >out &&
	test_grep "^+ *image: ghcr.io/acme/catalog-service:v2.2.0-0a1b2c3" out &&
	gitops_agent -c $CONFIG sync catalog-staging >out &&
	test_grep "^catalog-staging: synced in .*: 0 created, 1 updated, 0 pruned" out &&
	test_grep "update *Deployment.apps/shop-staging/catalog-service" out
'

test_expect_success 'a key removed in Git is removed from live' '
	grep "^  LOG_LEVEL:" $SHOP/apps/catalog-service/base/configmap.yaml &&
	sed -i "/^  LOG_LEVEL:/d" $SHOP/apps/catalog-service/base/configmap.yaml &&
	test_expect_code 1 gitops_agent -c $CONFIG diff catalog-staging >out &&
	test_grep "^-  LOG_LEVEL: " out &&
	gitops_agent -c $CONFIG sync catalog-staging >out &&
	test_grep "update *ConfigMap/shop-staging/catalog-config" out &&
	test_grep -v "LOG_LEVEL" live/staging/shop-staging/ConfigMap/catalog-config.yaml &&
	gitops_agent -c $CONFIG diff catalog-staging
'

test_expect_success 'a Secret is written readable by its owner only' '
	test "$(stat -c %a live/staging/shop-staging/Secret/checkout-db.yaml)" = 600 &&
	test "$(stat -c %a live/staging/shop-staging/ConfigMap/catalog-config.yaml)" = 644
'

test_expect_success 'a sync that cannot load its manifests is recorded as failed' '
	cp $SHOP/apps/checkout-service/base/service.yaml service.yaml.orig &&
	echo "  - oops: [" >>$SHOP/apps/checkout-service/base/service.yaml &&
	test_expect_code 1 gitops_agent -c $CONFIG sync checkout-staging >out 2>err &&
	test_grep "^checkout-staging: .*service.yaml:[0-9]*:[0-9]*: " err &&
	test_grep "\"status\":.*\"Failed\"" state/apps/checkout-staging/last-sync.json &&
	test_grep "service.yaml:[0-9]*:[0-9]*: " state/apps/checkout-staging/last-sync.json &&
	cp service.yaml.orig $SHOP/apps/checkout-service/base/service.yaml &&
	gitops_agent -c $CONFIG sync checkout-staging >out &&
	test_grep "\"status\":.*\"Succeeded\"" state/apps/checkout-staging/last-sync.json
'

# Bad inputs: each is added to a copy of a good app that was synced, and
# `sync` must refuse it with a positioned message and touch nothing.
cp -R "$FIXTURES/manifests" cases && chmod -R u+w cases || exit 1
gitops_agent sync --path cases/good --target bad-live --app bad >/dev/null || exit 1

# sync_refuses CASE PATTERN: sync of good + CASE exits 1, stderr matches
# PATTERN, and bad-live is byte for byte and inode for inode as before.
sync_refuses() {
	rm -rf app && cp -R cases/good app && cp -R "cases/$1"/. app/ &&
	(cd bad-live && find . -printf '%p %T@ %i\n' | LC_ALL=C sort) >before &&
	test_expect_code 1 gitops_agent sync --path app --target bad-live \
	    --app bad >out 2>err &&
	test_grep "$2" err &&
	(cd bad-live && find . -printf '%p %T@ %i\n' | LC_ALL=C sort) >after &&
	test_cmp before after
}

test_expect_success 'sync refuses a syntax error, live untouched' '
	sync_refuses syntax-error "app/deploy.yaml:7:11: did not find expected"
'
test_expect_success 'sync refuses a duplicate key, live untouched' '
	sync_refuses duplicate-key "app/configmap.yaml:7:3: duplicate key .color."
'
test_expect_success 'sync refuses a document without kind, live untouched' '
	sync_refuses missing-kind "app/service.yaml:1:1: document has no kind"
'
test_expect_success 'sync refuses a document without a name, live untouched' '
	sync_refuses missing-name "app/configmap.yaml:7:1: document has no metadata.name"
'
test_expect_success 'sync refuses an invalid name, live untouched' '
	sync_refuses bad-name "app/deploy.yaml:5:9: invalid name .Checkout_Service."
'
test_expect_success 'sync refuses a duplicate identity, live untouched' '
	sync_refuses duplicate-identity "app/more/copy.yaml:7:1: duplicate resource .ConfigMap/shop/checkout-config.: first declared at app/checkout.yaml:1"
'
test_expect_success 'sync refuses alias expansion past the bound, live untouched' '
	sync_refuses billion-laughs "app/laughs.yaml:10:10: alias .d. expands past 10000 nodes"
'
test_expect_success 'sync refuses a bad sync wave, live untouched' '
	sync_refuses bad-wave "app/job.yaml:8:35: invalid sync wave .first."
'
test_expect_success 'sync refuses a file past the size bound, live untouched' '
	mkdir -p cases/too-large &&
	dd if=/dev/zero bs=1024 count=8193 2>/dev/null | tr "\000" "#" \
	    >cases/too-large/big.yaml &&
	sync_refuses too-large "app/big.yaml. is too large"
'

test_expect_success 'a dependency cycle is refused by check and sync, live untouched' '
	live_snapshot >before &&
	sed "s/^    depends_on: \[platform-staging\]\$/    depends_on: [platform-staging, frontend-shell-staging]/" \
	    $CONFIG >$SHOP/cycle.yaml &&
	test_expect_code 1 gitops_agent -c $SHOP/cycle.yaml check 2>err &&
	test_grep "dependency cycle: .*frontend-shell-staging" err &&
	test_expect_code 1 gitops_agent -c $SHOP/cycle.yaml sync 2>err &&
	test_grep "dependency cycle" err &&
	live_snapshot >after &&
	test_cmp before after
'

test_expect_success 'a first service that never gets healthy fails fast; later ones do not start' '
	rm -rf live state &&
	awk -v port="$(test_free_port)" "
	    /^  - name: inventory-staging\$/ { inv = 1 }
	    inv && /^    sync_timeout:/ { sub(/sync_timeout: .*/, \"sync_timeout: 2s\") }
	    { print }
	    inv && /^    environment: staging/ {
		print \"    health:\"
		print \"      - {name: inventory-ready, type: http, url: \\\"http://127.0.0.1:\" port \"/ready\\\", interval: 100ms, timeout: 200ms}\"
		inv = 0
	    }" $CONFIG >$SHOP/slow.yaml &&
	grep -A6 "sync_timeout: 2s" $SHOP/slow.yaml | grep -q inventory-ready &&
	start=$(date +%s) &&
	test_expect_code 1 gitops_agent -c $SHOP/slow.yaml sync >out 2>err &&
	test $(( $(date +%s) - start )) -lt 30 &&
	test_grep "inventory-staging: sync FAILED: health .inventory-ready. failed: not healthy by the deadline" out &&
	for app in checkout-staging payments-staging frontend-shell-staging; do
		test_grep "^$app: not synced: a dependency did not sync" err || exit 1
	done &&
	test ! -e live/staging/shop-staging/Deployment.apps/checkout-service.yaml &&
	test -e live/staging/shop-staging/Deployment.apps/catalog-service.yaml &&
	test -e live/production/shop-production/Deployment.apps/checkout-service.yaml
'

test_done
