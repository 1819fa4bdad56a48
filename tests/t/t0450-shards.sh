#!/bin/sh
# t0450-shards: replicas sharing the apps through Leases on the API server
# double (coordination:, 4 shards, lease_duration 3s). Six apps on a real
# git daemon, directory targets, one folder per replica (live-R): an app
# written in two replicas' folders at one commit would be a split brain.
# Two replicas balance the shards and each app of a new commit is applied
# by exactly one; kill -9 of one hands its shards to the other once its
# Leases stayed unchanged for the duration; a third joins and leaves on
# SIGTERM, handing over at the survivors' next round; a replica the double
# refuses (a partition) stops applying before its Leases can be taken.
# Failover and handover times are printed, not asserted.
. "$TEST_SRCDIR/tests/lib.sh"

test_kube_env
SECRET="shard secret"
test_infra_remote "$SECRET"
for r in r1 r2 r3 r4; do
	test_cleanup_pidfile "$TRASH/$r.pid"
done
APPS="a1 a2 a3 a4 a5 a6"

# write_config R KUBECONFIG: R.yaml, the agent R listening at R.addr.
write_config() {
	printf '127.0.0.1:%s\n' "$(test_free_port)" >"$1.addr" &&
	cat >"$1.yaml" <<-EOF &&
	listen: $(cat "$1.addr")
	state_dir: ./state-$1
	shutdown_timeout: 10s
	coordination:
	  kubeconfig: $2
	  namespace: default
	  shards: 4
	  lease_duration: 3s
	  identity: $1
	repositories:
	  - name: infra
	    url: $URL
	    poll_interval: 10m
	    timeout: 10s
	    webhook_secret_file: secret
	versions:
	  repository: infra
	  timeout: 30s
	  author_name: Deploy Bot
	  author_email: deploy@example.com
	apps:
	  - name: web-staging
	    repository: infra
	    path: apps/web/staging
	    target: {type: directory, path: ./live-$1/web}
	    service: web
	    environment: staging
	    shard: 0
	  - name: slow
	    repository: infra
	    path: apps/slow
	    target: {type: directory, path: ./live-$1/slow}
	    shard: 0
	    hooks:
	      - {name: wait, phase: PreSync, command: [sleep, "8"]}
	EOF
	for a in $APPS; do
		printf '  - {name: %s, repository: infra, path: apps/%s, target: {type: directory, path: ./live-%s/%s}}\n' \
		    "$a" "$a" "$1" "$a" >>"$1.yaml" || return 1
	done
}

# slow N: the slow app (a PreSync hook of 8 s holds its replica's
# worker) at version N, in work/.
slow_app() {
	mkdir -p work/apps/slow &&
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: slow\n  namespace: default\ndata:\n  v: "%s"\n' \
	    "$1" >work/apps/slow/cm.yaml
}

# A signed GitHub push of main at its head to replica R: the code.
push_webhook() { # R
	test_github_push push.json "$(git -C work rev-parse HEAD)" &&
	curl -s -o reply -w '%{http_code}' -X POST --data-binary @push.json \
	    -H "Content-Type: application/json" -H "X-GitHub-Event: push" \
	    -H "X-GitHub-Delivery: $(cat /proc/sys/kernel/random/uuid)" \
	    -H "X-Hub-Signature-256: sha256=$(test_sign "$SECRET" push.json)" \
	    "http://$(cat "$1.addr")/webhooks/github"
}

start() { # R
	(
		${VALGRIND:-} "$GITOPS_AGENT" -c "$1.yaml" serve >"$1.log" 2>&1 &
		echo $! >"$1.pid"
	) &&
	test_wait_for 600 curl -sf "http://$(cat "$1.addr")/readyz"
}

held() { # R: shards R holds (nothing when it does not answer)
	curl -s --max-time 5 "http://$(cat "$1.addr")/metrics" |
	    awk '$1 == "gitops_shards_held" { print $2 }'
}

held_is() { # R N
	test "$(held "$1")" = "$2"
}

# Every listed replica holds at most 2 shards and all 4 are held.
balanced() { # R...
	sum=0
	for bal_r in "$@"; do
		h=$(held "$bal_r") && test -n "$h" && test "$h" -le 2 ||
		    return 1
		sum=$((sum + h))
	done
	test "$sum" = 4
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# The apps R holds, by the API ("a1 a4 ...").
held_apps() { # R
	curl -s --max-time 5 "http://$(cat "$1.addr")/api/v1/apps" | python3 -c '
import json, sys
print(" ".join(a["name"] for a in json.load(sys.stdin) if a.get("heldHere")))'
}

# commit N: every app's ConfigMap says v=N, pushed.
commit() {
	for a in $APPS; do
		mkdir -p "work/apps/$a" &&
		printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: default\ndata:\n  v: "%s"\n' \
		    "$a" "$1" >"work/apps/$a/cm.yaml" || return 1
	done &&
	git -C work add -A &&
	git -C work commit -q -m "v$1" &&
	git -C work push -q "$URL" main
}

# Ask every listed replica to sync every app: only holders apply.
sync_all() { # R...
	for sync_r in "$@"; do
		for sync_a in $APPS; do
			curl -s -o /dev/null -X POST \
			    "http://$(cat "$sync_r.addr")/api/v1/apps/$sync_a/sync" ||
			    return 1
		done
	done
}

# In how many replicas' folders app A says v=N.
written() { # A N R...
	w_a=$1 w_n=$2 && shift 2 &&
	c=0 &&
	for w_r in "$@"; do
		if grep -qs "v: \"$w_n\"" \
		    "live-$w_r/$w_a/default/ConfigMap/$w_a.yaml"; then
			c=$((c + 1))
		fi
	done &&
	echo "$c"
}

all_written_once() { # N R...
	for once_a in $APPS; do
		test "$(written "$once_a" "$@")" = 1 || return 1
	done
}

# shard, holder and whether it is held here, of app A on replica R.
app_view() { # R A
	curl -s --max-time 5 "http://$(cat "$1.addr")/api/v1/apps/$2" |
	    python3 -c "import json, sys
a = json.load(sys.stdin)
print(a[\"shard\"], a[\"holder\"], a[\"heldHere\"])"
}

# Both replicas name the same shard and holder for every app, and each
# app is held on exactly one of them.
same_view() {
	for v_a in $APPS; do
		h1=$(app_view r1 $v_a) && h2=$(app_view r2 $v_a) &&
		test "${h1% *}" = "${h2% *}" &&
		test "${h1##* }${h2##* }" = TrueFalse -o \
		    "${h1##* }${h2##* }" = FalseTrue || return 1
	done
}

test_expect_success KUBE 'setup: two replicas on one double balance four shards' '
	test_kube_double "$K" &&
	test_web_repo 1.0.0 &&
	slow_app 1 &&
	commit 1 &&
	write_config r1 "$K/kubeconfig" &&
	write_config r2 "$K/token.kubeconfig" &&
	"$GITOPS_AGENT" -c r1.yaml check &&
	start r1 &&
	start r2 &&
	test_wait_for 300 balanced r1 r2 &&
	test "$(held r1)" = 2 &&
	kc -n default get lease -o jsonpath="{range .items[*]}{.metadata.name}={.spec.holderIdentity}{\"\\n\"}{end}" \
	    | grep "^gitops-agent-shard-" | sort >leases &&
	test "$(wc -l <leases)" = 4 &&
	test "$(grep -c "=r1$" leases)" = 2 &&
	test "$(grep -c "=r2$" leases)" = 2 &&
	kc -n default get lease gitops-agent-member-r1 gitops-agent-member-r2 -o name
'

test_expect_success KUBE 'readyz and the API say who holds what on any replica' '
	curl -s "http://$(cat r2.addr)/readyz" >ready &&
	test_grep "ready: holds 2 of 4 shards as r2" ready &&
	test_wait_for 100 same_view &&
	curl -s "http://$(cat r1.addr)/metrics" >metrics &&
	test_grep "^gitops_lease_replicas 2" metrics &&
	test_grep "^gitops_lease_renew_seconds " metrics &&
	test_grep "^gitops_lease_transitions_total " metrics
'

test_expect_success KUBE 'each app of a new commit is applied by exactly one replica' '
	commit 2 &&
	sync_all r1 r2 &&
	test_wait_for 300 all_written_once 2 r1 r2 &&
	for a in $APPS; do
		n=$(grep -h "msg=synced app=$a " r1.log r2.log |
		    grep -c "created=0 updated=1") &&
		test "$n" = 1 || return 1
	done
'

test_expect_success KUBE 'a push webhook to one replica: it nudges the others, every app syncs once' '
	commit 7 &&
	code=$(push_webhook r1) &&
	test "$code" = 202 &&
	test_wait_for 300 all_written_once 7 r1 r2 &&
	test_grep "msg=nudged repo=infra" r2.log &&
	kc -n default get lease -o yaml >leases.yaml &&
	test_grep "gitops-agent.io/push-infra: r1\." leases.yaml
'

# The deploy of web VERSION to replica R: the code, headers in ./headers.
deploy_to() { # R VERSION
	test_deploy_body deploy.json "$(printf '{"service": "web", "environment": "staging", "version": "%s", "tag": "%s"}' "$2" "$2")" &&
	curl -s -D headers -o reply -w '%{http_code}' -X POST \
	    --data-binary @deploy.json \
	    -H "X-Signature: sha256=$(test_sign "$SECRET" deploy.json)" \
	    "http://$(cat "$1.addr")/api/v1/deployments"
}

test_expect_success KUBE 'a deploy to a replica without its shard: 503 with Retry-After; its holder lands it once' '
	view=$(app_view r1 web-staging) &&
	holder=$(echo "$view" | cut -d " " -f 2) &&
	if [ "$holder" = r1 ]; then other=r2; else other=r1; fi &&
	code=$(deploy_to $other 2.0.0) &&
	test "$code" = 503 &&
	grep -qi "^Retry-After: 3" headers &&
	test_grep "not held by this replica ($holder)" reply &&
	code=$(deploy_to $holder 2.0.0) &&
	test "$code" = 202 &&
	test_wait_for 300 sh -c "git --git-dir=srv/infra.git log -1 --format=%s main | grep -q \"Deploy web 2.0.0 to staging\"" &&
	test "$(git --git-dir=srv/infra.git log --format=%s main | grep -c "Deploy web 2.0.0")" = 1 &&
	git -C work pull -q "$URL" main
'

# Deploys kept on the API server for the next holder (handoff.c).
deploys_kept() {
	kc -n default get configmap -l gitops-agent.io/deploy-shard -o name |
	    grep -q .
}
no_deploys_kept() {
	! deploys_kept
}

test_expect_success KUBE 'kill -9 of a holder with a deploy queued: the other takes its shards and lands it once' '
	test "$(app_view r1 web-staging)" = "0 r1 True" &&
	# r1 busy in the slow app hook, the deploy queued behind it.
	slow_app 2 &&
	git -C work add -A &&
	git -C work commit -q -m "slow v2" &&
	git -C work push -q "$URL" main &&
	curl -s -o /dev/null -X POST "http://$(cat r1.addr)/api/v1/apps/slow/sync" &&
	test_wait_for 300 grep -q "msg=fetched repo=infra .*commit=$(git -C work rev-parse HEAD)" r1.log &&
	code=$(deploy_to r1 4.0.0) &&
	test "$code" = 202 &&
	test_wait_for 100 deploys_kept &&
	kill -9 "$(cat r1.pid)" &&
	t0=$(now_ms) &&
	test_wait_for 300 held_is r2 4 &&
	echo "failover after kill -9: $(($(now_ms) - t0)) ms (lease_duration 3s, renewals every 1s)" >figure.failover &&
	test_wait_for 300 grep -q "msg=\"deploy taken over\" service=web" r2.log &&
	test_wait_for 600 sh -c "git --git-dir=srv/infra.git log --format=%s main | grep -q \"Deploy web 4.0.0 to staging\"" &&
	test "$(git --git-dir=srv/infra.git log --format=%s main | grep -c "Deploy web 4.0.0")" = 1 &&
	test_wait_for 300 no_deploys_kept &&
	git -C work pull -q "$URL" main &&
	commit 3 &&
	sync_all r2 &&
	test_wait_for 300 all_written_once 3 r2
'

figure() {
	[ -f "figure.$1" ] && echo "# $(cat "figure.$1")"
	true
}
figure failover

test_expect_success KUBE 'three replicas: all shards held, none twice, at most two each' '
	write_config r3 "$K/kubeconfig" &&
	write_config r4 "$K/kubeconfig" &&
	start r3 &&
	start r4 &&
	test_wait_for 300 balanced r2 r3 r4 &&
	held_apps r2 >apps.r2 && held_apps r3 >apps.r3 && held_apps r4 >apps.r4 &&
	cat apps.r2 apps.r3 apps.r4 | tr " " "\n" | grep . | sort >apps.all &&
	printf "%s\n" $APPS slow web-staging | sort >apps.want &&
	test_cmp apps.want apps.all &&
	commit 4 &&
	sync_all r2 r3 r4 &&
	test_wait_for 300 all_written_once 4 r2 r3 r4
'

test_expect_success KUBE 'SIGTERM releases the leases: the others take them at their next round' '
	term=r4 && test "$(held r4)" != 0 || term=r3 &&
	test "$(held $term)" != 0 &&
	echo r2 r3 r4 | tr " " "\n" | grep -v "^$term$" | tr "\n" " " >others &&
	kill -TERM "$(cat $term.pid)" &&
	t0=$(now_ms) &&
	test_wait_for 300 balanced $(cat others) &&
	echo "handover after SIGTERM of $term: $(($(now_ms) - t0)) ms (renewals every 1s)" >figure.handover &&
	test_wait_for 100 sh -c "! kill -0 $(cat $term.pid) 2>/dev/null" &&
	test_grep "leases released" $term.log &&
	test_must_fail kc -n default get lease gitops-agent-member-$term &&
	# The other of r3 and r4 (kubeconfig: a client certificate) stays.
	for o in $(cat others); do
		[ $o = r2 ] || echo $o >survivor
	done
'

figure handover

# Sample both replicas until the survivor holds everything: an app held
# on both at one sample would be a split brain.
watch_partition() {
	python3 - "$(cat r2.addr)" "$(cat "$(cat survivor).addr")" <<-'PY'
	import json, sys, time, urllib.request
	def held(addr):
	    try:
	        with urllib.request.urlopen("http://%s/api/v1/apps" % addr, timeout=2) as r:
	            return {a["name"] for a in json.load(r) if a.get("heldHere")}
	    except Exception:
	        return None
	t0 = time.monotonic()
	lost = taken = None
	while time.monotonic() - t0 < 60:
	    cut, other = held(sys.argv[1]), held(sys.argv[2])
	    now = int((time.monotonic() - t0) * 1000)
	    if cut is None or other is None:
	        time.sleep(0.05)
	        continue
	    if cut & other:
	        print("split brain at %d ms: %s" % (now, sorted(cut & other)))
	        sys.exit(1)
	    if not cut and lost is None:
	        lost = now
	    if len(other) == 8:
	        taken = now
	        break
	    time.sleep(0.05)
	open("figure.partition", "w").write("partition: the cut replica held nothing %s ms after it was cut, the other held every app at %s ms\n" % (lost, taken))
	sys.exit(0 if lost is not None and taken is not None and lost <= taken else 1)
	PY
}

test_expect_success KUBE 'a partitioned replica stops applying before its leases can be taken' '
	test "$(held r2)" != 0 &&
	test_kube_admin "$K" POST faults \
	    "{\"verb\": \"*\", \"path\": \"/apis/coordination.k8s.io/**\", \"client\": \"bearer\", \"status\": 503, \"count\": 1000000}" &&
	watch_partition &&
	held_is r2 0 &&
	s=$(cat survivor) &&
	commit 5 &&
	sync_all r2 $s &&
	test_wait_for 300 all_written_once 5 $s &&
	for a in $APPS; do
		test "$(written $a 5 r2)" = 0 || return 1
	done &&
	test_grep "cannot renew the leases" r2.log
'

figure partition

test_expect_success KUBE 'the partition heals: the replica gets shards again' '
	test_kube_admin "$K" DELETE faults &&
	test_wait_for 300 balanced r2 "$(cat survivor)"
'

test_expect_success KUBE 'a deploy kept on disk waits for its shard, then lands once' '
	s=$(cat survivor) &&
	kill -TERM "$(cat r2.pid)" &&
	test_wait_for 300 held_is $s 4 &&
	test_wait_for 100 sh -c "! kill -0 $(cat r2.pid) 2>/dev/null" &&
	# As a deploy accepted just before a restart is kept.
	test_deploy_body deploy.json "{\"service\": \"web\", \"environment\": \"staging\", \"version\": \"3.0.0\", \"tag\": \"3.0.0\"}" &&
	mkdir -p state-r2/deployments &&
	python3 -c "import hashlib, json, sys
body = open(\"deploy.json\", \"rb\").read()
d = json.loads(body)
d[\"bodyDigest\"] = hashlib.sha256(body).hexdigest()
json.dump(d, open(\"state-r2/deployments/0000000000000001-000001.json\", \"w\"))" &&
	start r2 &&
	test_wait_for 300 grep -q "msg=\"deploy waits for its shard\" service=web" r2.log &&
	test -f state-r2/deployments/0000000000000001-000001.json &&
	kill -TERM "$(cat $s.pid)" &&
	test_wait_for 300 sh -c "git --git-dir=srv/infra.git log -1 --format=%s main | grep -q \"Deploy web 3.0.0 to staging\"" &&
	test "$(git --git-dir=srv/infra.git log --format=%s main | grep -c "Deploy web 3.0.0")" = 1 &&
	test_wait_for 300 test ! -f state-r2/deployments/0000000000000001-000001.json
'

test_expect_success KUBE 'a reload keeps the running coordination and says so' '
	sed -i "s/^  shards: 4$/  shards: 8/" r2.yaml &&
	kill -HUP "$(cat r2.pid)" &&
	test_wait_for 300 grep -q "msg=\"configuration reloaded\"" r2.log &&
	test_grep "coordination changes at the next restart" r2.log &&
	curl -s "http://$(cat r2.addr)/metrics" >metrics &&
	test_grep "^gitops_shards 4$" metrics &&
	test_grep "^gitops_shards_held 4$" metrics
'

test_done
