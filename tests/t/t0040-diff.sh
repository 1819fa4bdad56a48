#!/bin/sh
# t0040-diff: `gitops-agent diff --path DIR --target DIR`: exit 0 in sync,
# 1 with differences (a unified diff per changed resource), 2 on error;
# --output json; live fields desired does not declare are not drift; and a
# Secret's values never appear, whatever changed.
. "$TEST_SRCDIR/tests/lib.sh"

SECRET_OLD=s3cr3t-hunter2
SECRET_NEW=n3w-s3cr3t-swordfish
# base64 of "db-admin", as the Secret's data holds it
SECRET_USER=ZGItYWRtaW4=

write_app() {
	tag=$1 password=$2
	mkdir -p app
	cat >app/config.yaml <<-EOF
	apiVersion: v1
	kind: ConfigMap
	metadata:
	  name: checkout-config
	  namespace: shop
	data:
	  LOG_LEVEL: info
	  FEATURE_X: "on"
	---
	apiVersion: v1
	kind: Secret
	metadata:
	  name: checkout-db
	  namespace: shop
	type: Opaque
	data:
	  user: $SECRET_USER
	stringData:
	  password: $password
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
	        image: ghcr.io/acme/checkout-service:$tag
	        env:
	        - name: LOG_FORMAT
	          value: json
	        - name: PORT
	          value: "8080"
	      - name: proxy
	        image: envoyproxy/envoy:v1.29.0
	EOF
}

# No secret value, in any form, in a file.
no_secret_in() {
	test_grep -v "$SECRET_OLD" "$1" &&
	test_grep -v "$SECRET_NEW" "$1" &&
	test_grep -v "$SECRET_USER" "$1" &&
	test_grep -v "db-admin" "$1"
}

test_expect_success 'diff against an empty target: all created, exit 1' '
	write_app v1 "$SECRET_OLD" &&
	test_expect_code 1 gitops_agent diff --path app --target live \
	    >out 2>err &&
	test_grep "^--- /dev/null$" out &&
	test_grep "^+++ desired/ConfigMap/shop/checkout-config$" out &&
	test_grep "^+++ desired/Deployment.apps/shop/checkout$" out &&
	test_grep "^+++ desired/Secret/shop/checkout-db$" out &&
	test_grep "^@@ -0,0 +1,[0-9]* @@$" out &&
	test_grep "^+  LOG_LEVEL: info$" out &&
	test_grep "^+  password: \"*++++++++\"*$" out &&
	no_secret_in out && no_secret_in err &&
	test ! -e live/shop
'

test_expect_success 'after a sync, diff says nothing and exits 0' '
	gitops_agent sync --path app --target live >sync.out &&
	test -f live/shop/Secret/checkout-db.yaml &&
	test_tree_digest live >before &&
	test_expect_code 0 gitops_agent diff --path app --target live \
	    >out 2>err &&
	test_cmp /dev/null out &&
	test_tree_digest live >after &&
	test_cmp before after
'

test_expect_success 'fields only live has (status, defaults...) are no drift' '
	cat >live/shop/Deployment.apps/checkout.yaml <<-EOF &&
	apiVersion: apps/v1
	kind: Deployment
	metadata:
	  name: checkout
	  namespace: shop
	  uid: 5d1c7e9a-0b7f-4c2e-9d55-1f0c3c1b2a9e
	  resourceVersion: "918273"
	  generation: 4
	  creationTimestamp: "2024-05-01T10:00:00Z"
	  annotations:
	    deployment.kubernetes.io/revision: "4"
	    kubectl.kubernetes.io/last-applied-configuration: |
	      {"apiVersion":"apps/v1","kind":"Deployment"}
	  managedFields:
	  - manager: kubectl-client-side-apply
	    operation: Update
	spec:
	  replicas: 2
	  revisionHistoryLimit: 10
	  progressDeadlineSeconds: 600
	  selector:
	    matchLabels:
	      app: checkout
	  strategy:
	    type: RollingUpdate
	  template:
	    metadata:
	      labels:
	        app: checkout
	    spec:
	      containers:
	      - name: proxy
	        image: envoyproxy/envoy:v1.29.0
	        imagePullPolicy: IfNotPresent
	      - name: app
	        image: ghcr.io/acme/checkout-service:v1
	        imagePullPolicy: IfNotPresent
	        terminationMessagePath: /dev/termination-log
	        env:
	        - name: PORT
	          value: "8080"
	        - name: LOG_FORMAT
	          value: json
	        resources: {}
	      restartPolicy: Always
	      dnsPolicy: ClusterFirst
	status:
	  observedGeneration: 4
	  replicas: 2
	  availableReplicas: 2
	EOF
	test_expect_code 0 gitops_agent diff --path app --target live >out &&
	test_cmp /dev/null out
'

test_expect_success 'a changed image is a unified diff of the YAML, exit 1' '
	write_app v2 "$SECRET_OLD" &&
	test_expect_code 1 gitops_agent diff --path app --target live \
	    >out 2>err &&
	cat >expect <<-EOF &&
	--- live/Deployment.apps/shop/checkout
	+++ desired/Deployment.apps/shop/checkout
	EOF
	grep "^[-+][-+][-+] " out >headers &&
	test_cmp expect headers &&
	test_grep "^@@ -[0-9]*,[0-9]* +[0-9]*,[0-9]* @@$" out &&
	test_grep "^-        image: ghcr.io/acme/checkout-service:v1$" out &&
	test_grep "^+        image: ghcr.io/acme/checkout-service:v2$" out &&
	test_grep -v "imagePullPolicy" out &&
	test_grep -v "status" out &&
	test_grep -v "resourceVersion" out
'

test_expect_success 'each hunk holds as many lines as its header says' '
	cat >hunks.awk <<-\EOF &&
	function check() {
		if (na != 0 || nb != 0) { bad = 1; print "bad hunk: " hdr }
	}
	/^@@ / {
		check(); hdr = $0
		split(substr($2, 2), a, ","); split(substr($3, 2), b, ",")
		na = (2 in a) ? a[2] : 1; nb = (2 in b) ? b[2] : 1
		hunks++; next
	}
	/^(---|\+\+\+) / { check(); na = nb = 0; next }
	/^ / { na--; nb--; next }
	/^-/ { na--; next }
	/^\+/ { nb--; next }
	END { check(); exit (bad || hunks == 0) }
	EOF
	awk -f hunks.awk out
'

test_expect_success 'a changed Secret shows changed masks, never values' '
	gitops_agent sync --path app --target live >sync.out &&
	test_expect_code 0 gitops_agent diff --path app --target live >out &&
	write_app v2 "$SECRET_NEW" &&
	test_expect_code 1 gitops_agent diff --path app --target live \
	    >out 2>err &&
	test_grep "^--- live/Secret/shop/checkout-db$" out &&
	test_grep "^-  password: \"*++++++++++++\"*$" out &&
	test_grep "^+  password: \"*++++++++\"*$" out &&
	test_grep "^   user: \"*++++++++\"*$" out &&
	no_secret_in out && no_secret_in err &&
	test_expect_code 1 gitops_agent diff --path app --target live \
	    --output json >out.json 2>err &&
	no_secret_in out.json && no_secret_in err
'

test_expect_success 'a Secret edited in live: no value of either side shows' '
	write_app v2 "$SECRET_OLD" &&
	gitops_agent sync --path app --target live >sync.out &&
	sed "s/$SECRET_OLD/$SECRET_NEW/" live/shop/Secret/checkout-db.yaml \
	    >tmp && mv tmp live/shop/Secret/checkout-db.yaml &&
	test_grep "$SECRET_NEW" live/shop/Secret/checkout-db.yaml &&
	test_expect_code 1 gitops_agent diff --path app --target live \
	    >out 2>err &&
	test_grep "^+++ desired/Secret/shop/checkout-db$" out &&
	no_secret_in out && no_secret_in err
'

test_expect_success '--output json: changes with action and diff; inSync' '
	test_expect_code 1 gitops_agent diff --path app --target live \
	    --output json >out.json &&
	python3 -c "
import json, sys
d = json.load(open(\"out.json\"))
assert d[\"inSync\"] is False, d
ids = {c[\"id\"]: c for c in d[\"changes\"]}
assert list(ids) == [\"Secret/shop/checkout-db\"], ids
c = ids[\"Secret/shop/checkout-db\"]
assert c[\"action\"] == \"update\", c
assert c[\"diff\"].startswith(\"--- live/Secret/shop/checkout-db\n\"), c
" &&
	gitops_agent sync --path app --target live >sync.out &&
	test_expect_code 0 gitops_agent diff --path app --target live \
	    --output json >out.json &&
	python3 -c "
import json
d = json.load(open(\"out.json\"))
assert d[\"inSync\"] is True and d[\"changes\"] == [], d
"
'

test_expect_success 'a resource gone from desired: prune, against /dev/null' '
	mv app/config.yaml config.yaml.away &&
	test_expect_code 1 gitops_agent diff --path app --target live \
	    >out 2>err &&
	test_grep "^--- live/ConfigMap/shop/checkout-config$" out &&
	test_grep "^--- live/Secret/shop/checkout-db$" out &&
	test_grep "^+++ /dev/null$" out &&
	test_grep "^-  LOG_LEVEL: info$" out &&
	no_secret_in out &&
	mv config.yaml.away app/config.yaml &&
	test_expect_code 0 gitops_agent diff --path app --target live >out
'

test_expect_success 'a bad manifest is an error: exit 2, live untouched' '
	test_tree_digest live >before &&
	mkdir -p bad && cp app/*.yaml bad/ &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n" \
	    >bad/broken.yaml &&
	test_expect_code 2 gitops_agent diff --path bad --target live \
	    >out 2>err &&
	test_grep "bad/broken.yaml:[0-9]*:[0-9]*: " err &&
	test_tree_digest live >after &&
	test_cmp before after
'

test_expect_success 'usage errors exit 2' '
	test_expect_code 2 gitops_agent diff --path app 2>err &&
	test_grep "^gitops-agent diff: --path needs --target" err &&
	test_expect_code 2 gitops_agent diff --path app --target live \
	    --output xml 2>err &&
	test_grep "unknown output format .xml. (use table, json or yaml)" err
'

test_expect_success 'a live file that cannot be read back makes diff an error (exit 2)' '
	rm -rf brk && mkdir brk &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: shop\ndata:\n  a: \"1\"\n" >brk/c.yaml &&
	gitops_agent sync --path brk --target brk-live --app brk >/dev/null &&
	echo "data: [oops" >brk-live/shop/ConfigMap/c.yaml &&
	test_expect_code 2 gitops_agent diff --path brk --target brk-live --app brk >out 2>err &&
	test ! -s out &&
	test_grep "^ConfigMap/shop/c: brk-live/shop/ConfigMap/c.yaml:2:1: " err
'

test_done
