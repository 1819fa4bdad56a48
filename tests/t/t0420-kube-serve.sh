#!/bin/sh
# t0420-kube-serve: the daemon with Kubernetes targets. The example shop
# is pushed to a real `git daemon`; `gitops-agent serve` syncs every app
# of it to the API server double (tests/kube/) in dependency order, a
# GitHub repository_dispatch deploy lands a bump commit that reaches the
# cluster, an operator's `git revert` of it rolls the cluster back, and a
# pushed removal is pruned. The double runs its simulated controllers:
# every Deployment really rolls out and checkout's PreSync migration Job
# really completes before the sync goes on. kubectl checks what is live;
# curl is the client of the agent.
. "$TEST_SRCDIR/tests/lib.sh"

test_kube_env
test_cleanup_pidfile "$TRASH/agent.pid"
SECRET="kube secret"
test_infra_remote "$SECRET"

# The example's configuration with every target the double.
write_config() {
	{
		echo "listen: $AGENT"
		echo "state_dir: ./state"
		echo "shutdown_timeout: 20s"
		echo "repositories:"
		echo "  - name: shop"
		echo "    url: $URL"
		echo "    poll_interval: 10m"
		echo "    timeout: 10s"
		echo "    webhook_secret_file: secret"
		sed -n '/^apps:/,$p' "$EXAMPLE/gitops-agent.yaml" |
		    sed "s|target: {type: directory, path: [^}]*}|target: {type: kubernetes, kubeconfig: $K/kubeconfig, request_timeout: 10m}|"
		echo "  timeout: 30s"
		echo "  author_name: Deploy Bot"
		echo "  author_email: deploy@example.com"
	} >agent.yaml
}

dispatch() { # OUT VERSION TAG
	python3 - "$FIXTURES/webhooks/github-repository-dispatch.json" "$@" "$URL" <<-'PY'
	import json, sys
	src, out, version, tag, url = sys.argv[1:6]
	d = json.load(open(src))
	d["repository"]["clone_url"] = url
	d["client_payload"]["version"] = version
	d["client_payload"]["tag"] = tag
	json.dump(d, open(out, "w"))
	PY
}

github() { # EVENT FILE
	curl -s -o reply -w '%{http_code}' -X POST --data-binary "@$2" \
	    -H "X-GitHub-Event: $1" \
	    -H "X-Hub-Signature-256: sha256=$(test_sign "$SECRET" "$2")" \
	    "http://$AGENT/webhooks/github"
}

synced_at_remote() { # APP
	test "$(test_app_field "$1" lastSyncedCommit)" = \
	    "$(git --git-dir=srv/infra.git rev-parse main)"
}

# The app was synced at the old tip already: wait for the bump commit
# first, or a slow agent (valgrind) is seen as done before it pushed.
remote_subject_is() { # SUBJECT
	test "$(git --git-dir=srv/infra.git log -1 --format=%s main)" = "$1"
}

image_is() { # NAMESPACE DEPLOYMENT IMAGE
	test "$(kc -n "$1" get deployment "$2" \
	    -o jsonpath="{.spec.template.spec.containers[0].image}")" = "$3"
}

# The Deployment rolled out its generation, available.
rolled_out() { # NAMESPACE DEPLOYMENT
	test "$(kc -n "$1" get deployment "$2" -o jsonpath="{.status.observedGeneration}")" = \
	    "$(kc -n "$1" get deployment "$2" -o jsonpath="{.metadata.generation}")" &&
	test "$(kc -n "$1" get deployment "$2" \
	    -o jsonpath="{.status.conditions[?(@.type==\"Progressing\")].reason}")" = \
	    NewReplicaSetAvailable
}

test_expect_success KUBE 'setup: the shop on the git daemon, the agent serving it to the double' '
	test_kube_double "$K" --controllers &&
	git init -q -b main work &&
	cp -R "$EXAMPLE/." work/ &&
	rm work/gitops-agent.yaml &&
	git -C work add -A &&
	git -C work commit -q -m "the shop" &&
	git -C work push -q "$URL" main &&
	write_config &&
	"$GITOPS_AGENT" -c agent.yaml check &&
	(
		${VALGRIND:-} "$GITOPS_AGENT" -c agent.yaml serve >agent.log 2>&1 &
		echo $! >agent.pid
	) &&
	test_wait_for 600 curl -sf "http://$AGENT/readyz"
'

test_expect_success KUBE 'every app is synced to the cluster, in dependency order' '
	test_wait_for 600 synced_at_remote checkout-staging &&
	test_wait_for 600 synced_at_remote checkout-production &&
	test "$(test_app_field checkout-staging status)" = Succeeded &&
	kc get namespace shop-staging -o name &&
	kc -n shop-staging get deployment checkout-service \
	    -o jsonpath="{.spec.template.spec.containers[0].image}" >orig.image &&
	test_grep "ghcr.io/acme/checkout-service@sha256:" orig.image &&
	kc -n default get configmap gitops-agent.checkout-staging -o name &&
	rolled_out shop-staging checkout-service &&
	kc -n shop-staging get job checkout-db-migrate \
	    -o jsonpath="{.status.succeeded} {.status.conditions[?(@.type==\"Complete\")].status}" >job &&
	test "$(cat job)" = "1 True" &&
	test_grep "Job shop-staging/checkout-db-migrate generation 1: complete" "$K/log" &&
	awk "/app=platform-staging .*status=Succeeded/ { p = NR }
	    /app=checkout-staging .*status=Succeeded/ { c = NR }
	    END { exit !(p && c && p < c) }" agent.log
'

test_expect_success KUBE 'a deploy lands a bump commit and reaches the cluster' '
	dispatch d1.json v3.0.2-1a2b3c4 1a2b3c4 &&
	code=$(github repository_dispatch d1.json) &&
	test "$code" = 202 &&
	test_wait_for 300 remote_subject_is \
	    "Deploy checkout-service v3.0.2-1a2b3c4 to staging" &&
	test_wait_for 300 synced_at_remote checkout-staging &&
	test_wait_for 300 image_is shop-staging checkout-service \
	    ghcr.io/acme/checkout-service:1a2b3c4 &&
	test_wait_for 300 rolled_out shop-staging checkout-service
'

sync_now() { # APP
	test "$(curl -s -o reply -w "%{http_code}" -X POST \
	    "http://$AGENT/api/v1/apps/$1/sync")" = 202
}

test_expect_success KUBE 'an operator revert in Git rolls the cluster back' '
	git -C work pull -q "$URL" main &&
	git -C work revert --no-edit HEAD >/dev/null &&
	git -C work push -q "$URL" main &&
	sync_now checkout-staging &&
	test_wait_for 300 synced_at_remote checkout-staging &&
	image_is shop-staging checkout-service "$(cat orig.image)"
'

test_expect_success KUBE 'a resource removed in Git is pruned from the cluster' '
	kc -n shop-staging get poddisruptionbudget checkout-service -o name &&
	sed -i "/poddisruptionbudget.yaml/d" \
	    work/apps/checkout-service/base/kustomization.yaml &&
	git -C work commit -q -am "checkout-service: no PodDisruptionBudget" &&
	git -C work push -q "$URL" main &&
	sync_now checkout-staging &&
	test_wait_for 300 synced_at_remote checkout-staging &&
	test_must_fail kc -n shop-staging get poddisruptionbudget \
	    checkout-service -o name 2>err &&
	test_grep NotFound err &&
	kc -n shop-staging get deployment checkout-service -o name &&
	kc -n shop-staging get service checkout-service -o name
'

# patched PATH: how many PATCH requests of PATH the double served.
patched() {
	test_kube_admin "$K" GET requests >counts.json &&
	python3 -c 'import json,sys; print(json.load(open("counts.json"))["requests"].get("PATCH " + sys.argv[1], 0))' "$1"
}
retrying() { # PATH: the agent asked at least twice
	test "$(patched "$1")" -ge 2
}
agent_gone() {
	! kill -0 "$(cat agent.pid)"
}

test_expect_success KUBE 'SIGTERM stops a sync that is retrying the API server' '
	d=/apis/apps/v1/namespaces/shop-staging/deployments/checkout-service &&
	kc -n shop-staging annotate deployment checkout-service poked=yes &&
	test_kube_admin "$K" POST faults \
	    "{\"verb\":\"PATCH\",\"path\":\"$d\",\"status\":500,\"count\":100000}" &&
	test_kube_admin "$K" DELETE requests &&
	sync_now checkout-staging &&
	test_wait_for 600 retrying "$d" &&
	kill -TERM "$(cat agent.pid)" &&
	test_wait_for 600 agent_gone &&
	! grep "shutdown timeout" agent.log &&
	test_grep "shutting down" agent.log
'

watching() { # the double saw a watch since the counter was reset
	test_kube_admin "$K" GET requests >counts.json &&
	python3 -c 'import json,sys; sys.exit(0 if json.load(open("counts.json"))["verbs"].get("watch", 0) >= 1 else 1)'
}

test_expect_success KUBE 'SIGTERM stops a sync waiting on a watch for a rollout, well before sync_timeout' '
	test_kube_admin "$K" DELETE faults &&
	(
		${VALGRIND:-} "$GITOPS_AGENT" -c agent.yaml serve >agent2.log 2>&1 &
		echo $! >agent.pid
	) &&
	test_wait_for 600 curl -sf "http://$AGENT/readyz" &&
	kc -n shop-staging patch deployment checkout-service --subresource=status --type=merge \
	    -p "{\"status\": {\"observedGeneration\": 100, \"replicas\": 2, \"updatedReplicas\": 0}}" &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late\n  annotations: {argocd.argoproj.io/sync-wave: \"9\"}\ndata: {k: v}\n" \
	    >work/apps/checkout-service/overlays/staging/late.yaml &&
	sed -i "s|  - ../../base|  - ../../base\n  - late.yaml|" \
	    work/apps/checkout-service/overlays/staging/kustomization.yaml &&
	git -C work add -A &&
	git -C work commit -q -m "checkout-service: a late ConfigMap" &&
	git -C work push -q "$URL" main &&
	test_kube_admin "$K" DELETE requests &&
	sync_now checkout-staging &&
	test_wait_for 600 watching &&
	kill -TERM "$(cat agent.pid)" &&
	test_wait_for 600 agent_gone &&
	! grep "shutdown timeout" agent2.log &&
	test_grep "shutting down" agent2.log &&
	test_must_fail kc -n shop-staging get configmap late
'

test_done
