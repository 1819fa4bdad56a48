#!/bin/sh
# t0050-sync: `gitops-agent sync --path DIR --target DIR [--dry-run]` and
# `gitops-agent -c FILE sync APP` on a directory target: one file per
# resource, nothing written when nothing changed, dry runs that touch
# nothing, prune that deletes only what the agent wrote (and keeps what was
# edited by hand), a failed wave that stops the sync and says which
# resource and why (exit 1), and the result recorded in state_dir.
. "$TEST_SRCDIR/tests/lib.sh"

# Paths, inodes and mtimes of a tree: proves nothing was written.
tree_stat() {
	(cd "$1" && find . -printf '%p %i %T@ %s\n' | LC_ALL=C sort)
}

write_app() {
	value=$1
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
	  LOG_LEVEL: $value
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
	        image: ghcr.io/acme/checkout-service:v3.0.1-3f2c1ab
	EOF
	cat >app/migrate.yaml <<-EOF
	apiVersion: batch/v1
	kind: Job
	metadata:
	  name: migrate
	  namespace: shop
	  annotations:
	    argocd.argoproj.io/hook: PreSync
	spec:
	  template:
	    spec:
	      restartPolicy: Never
	      containers:
	      - name: migrate
	        image: ghcr.io/acme/checkout-migrate:v3
	EOF
}

test_expect_success 'sync creates one file per resource at its identity path' '
	write_app info &&
	gitops_agent sync --path app --target live >out 2>err &&
	test -f live/_cluster/Namespace/shop.yaml &&
	test -f live/shop/ConfigMap/checkout-config.yaml &&
	test -f live/shop/Deployment.apps/checkout.yaml &&
	test -f live/shop/Job.batch/migrate.yaml &&
	test_grep "LOG_LEVEL: info" live/shop/ConfigMap/checkout-config.yaml &&
	test_grep "4 created" out &&
	test -f live/.gitops-agent/inventory/live.json &&
	test_grep "Deployment.apps/shop/checkout" \
	    live/.gitops-agent/inventory/live.json &&
	test -z "$(find live -name "*.tmp.*")"
'

test_expect_success 'a second sync with nothing to change writes nothing' '
	tree_stat live >before &&
	gitops_agent sync --path app --target live >out 2>err &&
	tree_stat live >after &&
	test_cmp before after &&
	test_grep "0 created, 0 updated, 0 pruned, 4 unchanged" out
'

# The directory target trusts a live file whose inode, size, mtime and
# ctime are as it recorded them (git's stat cache): an edit by hand keeping
# size and inode, with its mtime put back (touch -d), still changes ctime,
# which only the kernel sets. Not seen: an edit within the same clock tick
# as the agent's write, before the inventory is written in a later tick.
test_expect_success 'a hand edit keeping size, inode and mtime is seen' '
	f=live/shop/ConfigMap/checkout-config.yaml &&
	touch -d "@$(($(date +%s) + 60))" \
	    live/.gitops-agent/inventory/live.json &&
	gitops_agent sync --dry-run --path app --target live >out 2>err &&
	test_grep "0 to update, 0 to prune, 4 unchanged" out &&
	mtime=$(stat -c %y $f) && ino=$(stat -c %i $f) &&
	sed "s/LOG_LEVEL: info/LOG_LEVEL: ofni/" $f >edited &&
	test "$(wc -c <edited)" = "$(wc -c <$f)" &&
	cat edited >$f &&
	touch -d "$mtime" $f &&
	test "$(stat -c %y $f)" = "$mtime" &&
	test "$(stat -c %i $f)" = "$ino" &&
	gitops_agent sync --dry-run --path app --target live >out 2>err &&
	test_grep "update.*ConfigMap/shop/checkout-config" out &&
	gitops_agent sync --path app --target live >out 2>err &&
	test_grep "0 created, 2 updated, 0 pruned, 2 unchanged" out &&
	test_grep "update.*Job.batch/shop/migrate (PreSync" out &&
	test_grep "LOG_LEVEL: info" $f &&
	test -z "$(find live -name "*.tmp.*")"
'

test_expect_success 'a dry run shows the change and writes nothing' '
	write_app debug &&
	tree_stat live >before &&
	gitops_agent sync --dry-run --path app --target live >out 2>err &&
	tree_stat live >after &&
	test_cmp before after &&
	test_grep "update.*ConfigMap/shop/checkout-config" out &&
	test_grep "LOG_LEVEL: info" live/shop/ConfigMap/checkout-config.yaml
'

test_expect_success 'sync applies the update, and runs the hook again' '
	gitops_agent sync --path app --target live >out 2>err &&
	test_grep "LOG_LEVEL: debug" live/shop/ConfigMap/checkout-config.yaml &&
	test_grep "0 created, 2 updated, 0 pruned, 2 unchanged" out &&
	test_grep "update.*Job.batch/shop/migrate (PreSync" out
'

test_expect_success 'sync --output json reports the result' '
	gitops_agent sync --path app --target live --output json >out &&
	test_grep "\"status\":.*\"Succeeded\"" out &&
	test_grep "\"unchanged\":.*4" out
'

test_expect_success 'a file the agent did not write is never pruned' '
	mkdir -p live/shop/ConfigMap &&
	echo "hand: made" >live/shop/ConfigMap/handmade.yaml &&
	rm app/deployment.yaml &&
	gitops_agent sync --path app --target live >out 2>err &&
	test_grep "prune.*Deployment.apps/shop/checkout" out &&
	test_grep "1 pruned" out &&
	test ! -e live/shop/Deployment.apps &&
	echo "hand: made" >expect &&
	test_cmp expect live/shop/ConfigMap/handmade.yaml
'

test_expect_success '--no-prune leaves what left Git in place' '
	rm app/migrate.yaml &&
	gitops_agent sync --no-prune --path app --target live >out 2>err &&
	test -f live/shop/Job.batch/migrate.yaml &&
	test_grep "0 pruned" out
'

test_expect_success 'a file edited by hand since the agent wrote it is kept' '
	echo "edited: by hand" >live/shop/Job.batch/migrate.yaml &&
	gitops_agent sync --path app --target live >out 2>err &&
	echo "edited: by hand" >expect &&
	test_cmp expect live/shop/Job.batch/migrate.yaml &&
	tree_stat live >before &&
	gitops_agent sync --path app --target live >out 2>err &&
	tree_stat live >after &&
	test_cmp before after
'

test_expect_success 'a failed wave stops the sync: exit 1, which and why' '
	mkdir -p app2 &&
	for w in 0 1 2; do
		cat >app2/cm-$w.yaml <<-EOF || return 1
		apiVersion: v1
		kind: ConfigMap
		metadata:
		  name: wave-$w
		  namespace: shop
		  annotations:
		    argocd.argoproj.io/sync-wave: "$w"
		data:
		  wave: "$w"
		EOF
	done &&
	mkdir -p live2/shop/ConfigMap/wave-1.yaml &&
	test_expect_code 1 gitops_agent sync --path app2 --target live2 \
	    >out 2>err &&
	cat out err >all &&
	test_grep "ConfigMap/shop/wave-1" all &&
	test_grep "not a regular file" all &&
	test -f live2/shop/ConfigMap/wave-0.yaml &&
	test ! -e live2/shop/ConfigMap/wave-2.yaml &&
	inv=live2/.gitops-agent/inventory/live2.json &&
	test_grep "ConfigMap/shop/wave-0" $inv &&
	test_grep -v "wave-1" $inv &&
	test_grep -v "wave-2" $inv
'

test_expect_success 'once the cause is gone the sync converges' '
	rmdir live2/shop/ConfigMap/wave-1.yaml &&
	gitops_agent sync --path app2 --target live2 >out 2>err &&
	test -f live2/shop/ConfigMap/wave-1.yaml &&
	test -f live2/shop/ConfigMap/wave-2.yaml &&
	test_grep "2 created, 0 updated, 0 pruned, 1 unchanged" out
'

test_expect_success 'a bad manifest applies nothing and says where' '
	mkdir -p bad &&
	cp app/config.yaml bad/ &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n" \
	    >bad/broken.yaml &&
	! gitops_agent sync --path bad --target live3 >out 2>err &&
	test_grep "broken.yaml:[0-9]*:[0-9]*: " err &&
	test ! -e live3
'

test_expect_success 'sync --path without --target is a usage error (exit 2)' '
	test_expect_code 2 gitops_agent sync --path app >out 2>err &&
	test_grep "target" err
'

STAGING="$EXAMPLE/apps/checkout-service/overlays/staging"
test_expect_success 'the example checkout-service staging overlay syncs' '
	gitops_agent sync --path "$STAGING" --target live-example \
	    >out 2>err &&
	test -f live-example/shop-staging/Job.batch/checkout-db-migrate.yaml &&
	test_grep "sha256:" \
	    live-example/shop-staging/Deployment.apps/checkout-service.yaml &&
	tree_stat live-example >before &&
	gitops_agent sync --path "$STAGING" --target live-example \
	    >out 2>err &&
	tree_stat live-example >after &&
	test_cmp before after
'

cat >gitops-agent.yaml <<EOF
state_dir: ./state
repositories:
  - name: local
    directory: .
apps:
  - name: shop
    repository: local
    path: app
    target: {type: directory, path: ./live-cfg}
    prune: true
    sync_timeout: 30s
  - name: waves
    repository: local
    path: app2
    target: {type: directory, path: ./live-cfg2}
    prune: true
    sync_timeout: 30s
EOF

test_expect_success 'config mode: sync APP applies and records the result' '
	gitops_agent -c gitops-agent.yaml sync shop >out 2>err &&
	test -f live-cfg/shop/ConfigMap/checkout-config.yaml &&
	test -f live-cfg/.gitops-agent/inventory/shop.json &&
	test -f state/apps/shop/last-sync.json &&
	test_grep "\"app\":.*\"shop\"" state/apps/shop/last-sync.json &&
	test_grep "\"status\":.*\"Succeeded\"" state/apps/shop/last-sync.json &&
	grep -E "^  \"finishedAt\": \"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\",$" \
	    state/apps/shop/last-sync.json
'

test_expect_success 'sync --output json: two spaces a level, RFC 3339 times' '
	gitops_agent -c gitops-agent.yaml sync shop --output json >out &&
	! grep -q "	" out &&
	test "$(head -n 1 out)" = "[{" &&
	grep -q "^    \"app\": \"shop\",\$" out &&
	grep -E -q "^    \"startedAt\": \"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\",\$" out
'

test_expect_success 'config mode: a failed sync is recorded with its resource' '
	mkdir -p live-cfg2/shop/ConfigMap/wave-2.yaml &&
	test_expect_code 1 gitops_agent -c gitops-agent.yaml sync waves \
	    >out 2>err &&
	test -f live-cfg2/shop/ConfigMap/wave-1.yaml &&
	test_grep "\"status\":.*\"Failed\"" state/apps/waves/last-sync.json &&
	test_grep "\"failedResource\":.*\"ConfigMap/shop/wave-2\"" \
	    state/apps/waves/last-sync.json
'

test_expect_success 'config mode: a dry run writes and records nothing' '
	write_app warn &&
	{ tree_stat live-cfg && tree_stat state; } >before &&
	gitops_agent -c gitops-agent.yaml sync --dry-run shop >out 2>err &&
	{ tree_stat live-cfg && tree_stat state; } >after &&
	test_cmp before after &&
	test_grep "update.*ConfigMap/shop/checkout-config" out
'

test_expect_success 'two apps in one directory never take over each other'"'"'s resources' '
	mkdir -p own-a own-b &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\ndata:\n  from: a\n" >own-a/c.yaml &&
	sed "s/from: a/from: b/" own-a/c.yaml >own-b/c.yaml &&
	gitops_agent sync --path own-a --target shared --app a >out &&
	test_expect_code 1 gitops_agent sync --path own-b --target shared --app b >out 2>err &&
	test_grep "ConfigMap/default/c.* belongs to app .a., which writes to the same directory" out &&
	test_grep "from: a" shared/default/ConfigMap/c.yaml &&
	rm own-a/c.yaml &&
	gitops_agent sync --path own-a --target shared --app a >out &&
	test ! -f shared/default/ConfigMap/c.yaml &&
	gitops_agent sync --path own-b --target shared --app b >out &&
	test_grep "from: b" shared/default/ConfigMap/c.yaml
'

# Content of a target's resource files (not its inventory).
tree_content() {
	(cd "$1" && find . -path ./.gitops-agent -prune -o -type f -print |
	    LC_ALL=C sort | xargs sha256sum)
}

# fixtures/inventory-old/live: a target the agent wrote when it gave
# resources without a namespace "default" itself (before the render left
# that to the target): the same apps now render with none, and the target
# must name the same objects.
test_expect_success 'a target written with namespace default invented syncs as is' '
	cp -R "$FIXTURES/inventory-old" old &&
	chmod -R u+w old &&
	tree_content old/live >before &&
	gitops_agent sync --path old/kust --target old/live --app kust >out &&
	test_grep "0 created, 0 updated, 0 pruned, 3 unchanged" out &&
	gitops_agent sync --path old/plain --target old/live --app plain >out &&
	test_grep "0 created, 0 updated, 0 pruned, 2 unchanged" out &&
	tree_content old/live >after &&
	test_cmp before after &&
	gitops_agent plan --path old/kust >out &&
	test_grep "Deployment  *default  *web" out
'

test_done
