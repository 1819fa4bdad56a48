#!/bin/sh
# t0210-deploy: deploy requests through the daemon. A GitHub
# repository_dispatch (deploy-service, the real payload shape) and a signed
# POST /api/v1/deployments each land a bump commit on the remote (a real
# `git daemon`, checked with the git CLI) and then sync the service's app
# after the apps of the services it requires; a held version is refused.
. "$TEST_SRCDIR/tests/lib.sh"

SECRET="deploy secret"
test_infra_remote "$SECRET" team
TEAM_URL="git://127.0.0.1:$GIT_DAEMON_PORT/team.git"
printf 'team secret\n' >team-secret && chmod 600 team-secret

{
	echo "listen: $AGENT"
	echo "state_dir: ./state"
	echo "repositories:"
	echo "  - name: shop"
	echo "    url: $URL"
	echo "    poll_interval: 10m"
	echo "    timeout: 10s"
	echo "    webhook_secret_file: secret"
	echo "  - name: team"
	echo "    url: $TEAM_URL"
	echo "    poll_interval: 10m"
	echo "    timeout: 10s"
	echo "    webhook_secret_file: team-secret"
	sed -n '/^apps:/,$p' "$EXAMPLE/gitops-agent.yaml" |
	    sed 's|\.\./\.\./\.\./live|./live|'
	echo "  timeout: 30s"
	echo "  author_name: Deploy Bot"
	echo "  author_email: deploy@example.com"
} >agent.yaml

# dispatch OUT VERSION TAG: the fixture with our repository and version.
dispatch() {
	python3 - "$FIXTURES/webhooks/github-repository-dispatch.json" "$@" "$URL" <<-'EOF'
	import json, sys
	src, out, version, tag, url = sys.argv[1:6]
	d = json.load(open(src))
	d["repository"]["clone_url"] = url
	d["client_payload"]["version"] = version
	d["client_payload"]["tag"] = tag
	json.dump(d, open(out, "w"))
	EOF
}

github() { # EVENT FILE
	curl -s -o reply -w '%{http_code}' -X POST --data-binary "@$2" \
	    -H "X-GitHub-Event: $1" \
	    -H "X-Hub-Signature-256: sha256=$(test_sign "$SECRET" "$2")" \
	    "http://$AGENT/webhooks/github"
}

deployments() { # FILE [SIGNATURE]
	test_post_deploy "$AGENT" "$SECRET" "$@"
}

app_field() { # APP FIELD
	curl -s "http://$AGENT/api/v1/apps/$1" | python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print(v)' "$2"
}

field_is() { # APP FIELD VALUE
	test "$(app_field "$1" "$2")" = "$3"
}

subject_is() { # SUBJECT
	test "$(remote_subject)" = "$1"
}

synced_at_remote() { # APP
	field_is "$1" lastSyncedCommit "$(git --git-dir=srv/infra.git rev-parse main)"
}

remote_subject() {
	git --git-dir=srv/infra.git log -1 --format=%s main
}

live_checkout() {
	cat live/staging/shop-staging/Deployment.apps/checkout-service.yaml
}

test_cleanup_pidfile "$TRASH/agent.pid"

test_expect_success 'setup: the shop on the git daemon, the agent serving it' '
	git init -q -b main work &&
	cp -R "$EXAMPLE/." work/ &&
	rm work/gitops-agent.yaml &&
	git -C work add -A &&
	git -C work commit -q -m "the shop" &&
	git -C work push -q "$URL" main &&
	git -C work push -q "$TEAM_URL" main &&
	(
		${VALGRIND:-} "$GITOPS_AGENT" -c agent.yaml serve >agent.log 2>&1 &
		echo $! >agent.pid
	) &&
	test_wait_for 600 curl -sf "http://$AGENT/readyz"
'

test_expect_success 'repository_dispatch deploy-service: a bump commit lands, then the service' '
	dispatch d1.json v3.0.2-1a2b3c4 1a2b3c4 &&
	code=$(github repository_dispatch d1.json) &&
	test "$code" = 202 &&
	test_grep "deploy of checkout-service v3.0.2-1a2b3c4 to staging queued" reply &&
	test_wait_for 300 field_is checkout-staging lastDeploy.outcome committed &&
	test "$(remote_subject)" = "Deploy checkout-service v3.0.2-1a2b3c4 to staging" &&
	git --git-dir=srv/infra.git show main:versions.yaml >versions &&
	test_grep "checkout-service: \"v3.0.2-1a2b3c4\"" versions &&
	git --git-dir=srv/infra.git log -1 --format=%an main >author &&
	test_grep "Deploy Bot" author &&
	test_wait_for 300 field_is checkout-staging lastSyncedCommit \
	    "$(git --git-dir=srv/infra.git rev-parse main)" &&
	live_checkout >live.yaml &&
	test_grep "image: ghcr.io/acme/checkout-service:1a2b3c4" live.yaml &&
	test "$(ls state/deployments | wc -l)" = 0
'

test_expect_success 'the service was synced after the service it requires' '
	# inventory-staging (required) is synced by the deploy, then checkout.
	awk "/deploy queued/ { d = 1 } d && /app=inventory-staging .*status=/ { i = NR }
	    d && /app=checkout-staging .*status=Succeeded/ { c = NR }
	    END { exit !(i && c && i < c) }" agent.log
'

test_expect_success 'POST /api/v1/deployments: signed like a webhook' '
	test_deploy_body d2.json "{\"service\": \"checkout-service\", \"environment\": \"staging\", \"version\": \"v3.0.3-5d6e7f8\", \"tag\": \"5d6e7f8\", \"requires\": [\"inventory-service\"]}" &&
	code=$(deployments d2.json 0000) && test "$code" = 401 &&
	code=$(deployments d2.json) && test "$code" = 202 &&
	test_wait_for 300 subject_is \
	    "Deploy checkout-service v3.0.3-5d6e7f8 to staging" &&
	test_wait_for 300 grep -q "checkout-service:5d6e7f8" \
	    live/staging/shop-staging/Deployment.apps/checkout-service.yaml
'

test_expect_success 'a deploy nobody can do: 422, nothing committed' '
	before=$(git --git-dir=srv/infra.git rev-parse main) &&
	test_deploy_body d3.json "{\"service\": \"nope\", \"environment\": \"staging\", \"version\": \"v1\"}" &&
	code=$(deployments d3.json) && test "$code" = 422 &&
	test_grep "no app deploys service" reply &&
	test_deploy_body d4.json "{\"service\": \"checkout-service\", \"environment\": \"staging\"}" &&
	code=$(deployments d4.json) && test "$code" = 400 &&
	test_grep "version" reply &&
	test "$(git --git-dir=srv/infra.git rev-parse main)" = "$before"
'

D2='{"service": "checkout-service", "environment": "staging", "version": "v3.0.3-5d6e7f8", "tag": "5d6e7f8", "requires": ["inventory-service"]}'

test_expect_success 'a rolled-back (held) version is refused, then allowed with force' '
	gitops_agent -c agent.yaml rollback --service checkout-service \
	    --environment staging >rb.out &&
	test_grep "^committed the rollback of checkout-service in staging" rb.out &&
	subject_is "Revert \"Deploy checkout-service v3.0.3-5d6e7f8 to staging\"" &&
	before=$(git --git-dir=srv/infra.git rev-parse main) &&
	test_deploy_body d2b.json "$D2" &&
	code=$(deployments d2b.json) && test "$code" = 202 &&
	test_wait_for 300 field_is checkout-staging lastDeploy.outcome refused &&
	test "$(git --git-dir=srv/infra.git rev-parse main)" = "$before" &&
	test_deploy_body d5.json "${D2%\}}, \"force\": true}" &&
	code=$(deployments d5.json) && test "$code" = 403 &&
	test_grep "allow_force_deploy" reply &&
	test "$(git --git-dir=srv/infra.git rev-parse main)" = "$before" &&
	sed -i "s/^    webhook_secret_file: secret\$/&\n    allow_force_deploy: true/" agent.yaml &&
	kill -HUP "$(cat agent.pid)" &&
	test_wait_for 300 grep -q "configuration reloaded" agent.log &&
	test_deploy_body d5.json "${D2%\}}, \"force\": true}" &&
	code=$(deployments d5.json) && test "$code" = 202 &&
	test_wait_for 300 field_is checkout-staging lastDeploy.outcome committed &&
	test "$(remote_subject)" = "Deploy checkout-service v3.0.3-5d6e7f8 to staging"
'

test_expect_success 'replays: a landed body is refused whatever its delivery id' '
	before=$(git --git-dir=srv/infra.git rev-parse main) &&
	code=$(deployments d2.json) && test "$code" = 409 &&
	test_grep "replay is refused" reply &&
	curl -s -o reply -w "%{http_code}" -X POST --data-binary @d1.json \
	    -H "X-GitHub-Event: repository_dispatch" \
	    -H "X-GitHub-Delivery: a-new-delivery-id" \
	    -H "X-Hub-Signature-256: sha256=$(test_sign "$SECRET" d1.json)" \
	    "http://$AGENT/webhooks/github" >code &&
	test "$(cat code)" = 409 &&
	test "$(git --git-dir=srv/infra.git rev-parse main)" = "$before" &&
	test_grep "deploy refused" agent.log
'

test_expect_success 'a repository may deploy only its own apps services' '
	before=$(git --git-dir=srv/infra.git rev-parse main) &&
	python3 - "$FIXTURES/webhooks/github-repository-dispatch.json" "$TEAM_URL" <<-\EOF &&
	import json, sys
	d = json.load(open(sys.argv[1]))
	d["repository"]["clone_url"] = sys.argv[2]
	d["client_payload"]["version"] = "v6.6.6"
	json.dump(d, open("team.json", "w"))
	EOF
	curl -s -o reply -w "%{http_code}" -X POST --data-binary @team.json \
	    -H "X-GitHub-Event: repository_dispatch" \
	    -H "X-Hub-Signature-256: sha256=$(test_sign "team secret" team.json)" \
	    "http://$AGENT/webhooks/github" >code &&
	test "$(cat code)" = 403 &&
	test_grep "repository .team. may not deploy service .checkout-service." reply &&
	dispatch shop.json v6.6.6 666 &&
	curl -s -o reply -w "%{http_code}" -X POST --data-binary @shop.json \
	    -H "X-GitHub-Event: repository_dispatch" \
	    -H "X-Hub-Signature-256: sha256=$(test_sign "team secret" shop.json)" \
	    "http://$AGENT/webhooks/github" >code &&
	test "$(cat code)" = 401 &&
	test "$(git --git-dir=srv/infra.git rev-parse main)" = "$before"
'

# post_dispatch FILE DELIVERY: a signed repository_dispatch with that id.
post_dispatch() {
	curl -s -o reply -w "%{http_code}" -X POST --data-binary "@$1" \
	    -H "X-GitHub-Event: repository_dispatch" \
	    -H "X-GitHub-Delivery: $2" \
	    -H "X-Hub-Signature-256: sha256=$(test_sign "$SECRET" "$1")" \
	    "http://$AGENT/webhooks/github"
}

deploys_done() {
	test "$(ls state/deployments | wc -l)" = 0
}

test_expect_success 'a redelivery after a 503 or a failed deploy is carried out' '
	test_wait_for 300 deploys_done &&
	rmdir state/deployments && touch state/deployments &&
	dispatch d7.json v3.0.7-7777777 7777777 &&
	code=$(post_dispatch d7.json delivery-7) && test "$code" = 503 &&
	rm state/deployments &&
	code=$(post_dispatch d7.json delivery-7) && test "$code" = 202 &&
	test_grep "deploy of checkout-service v3.0.7-7777777 to staging queued" reply &&
	test_wait_for 300 subject_is "Deploy checkout-service v3.0.7-7777777 to staging" &&
	test_wait_for 300 deploys_done &&
	code=$(post_dispatch d7.json delivery-7) && test "$code" = 409 &&
	test_grep "replay is refused" reply &&
	dispatch d8.json v3.0.8-8888888 8888888 &&
	mv srv/infra.git srv/away.git &&
	code=$(post_dispatch d8.json delivery-8) && test "$code" = 202 &&
	test_wait_for 300 field_is checkout-staging lastDeploy.version v3.0.8-8888888 &&
	test_wait_for 300 field_is checkout-staging lastDeploy.outcome failed &&
	mv srv/away.git srv/infra.git &&
	test_wait_for 300 deploys_done &&
	code=$(post_dispatch d8.json delivery-8) && test "$code" = 202 &&
	test_grep "queued" reply &&
	test_wait_for 300 subject_is "Deploy checkout-service v3.0.8-8888888 to staging"
'

test_expect_success '/api/v1/deployments: a missing, stale or bad timestamp is refused' '
	printf "{\"service\": \"checkout-service\", \"environment\": \"staging\", \"version\": \"v9\"}" >nots.json &&
	code=$(deployments nots.json) && test "$code" = 400 &&
	test_grep "timestamp.* is required" reply &&
	printf "{\"service\": \"checkout-service\", \"environment\": \"staging\", \"version\": \"v9\", \"timestamp\": \"%s\"}" \
	    "$(date -u -d "-10 minutes" +%Y-%m-%dT%H:%M:%SZ)" >stale.json &&
	code=$(deployments stale.json) && test "$code" = 400 &&
	test_grep "more than the 300 allowed" reply &&
	printf "{\"service\": \"checkout-service\", \"environment\": \"staging\", \"version\": \"v9\", \"timestamp\": \"yesterday\"}" >bad.json &&
	code=$(deployments bad.json) && test "$code" = 400 &&
	test_grep "not an RFC 3339" reply
'

test_expect_success 'a deploy whose app has no images entry fails, nothing committed' '
	test_wait_for 300 deploys_done &&
	git -C work pull -q "$URL" main &&
	k=work/apps/payments-service/overlays/staging/kustomization.yaml &&
	sed -i "/^images:/,\$d" $k &&
	git -C work commit -q -am "payments: no images entry" &&
	git -C work push -q "$URL" main &&
	before=$(git --git-dir=srv/infra.git rev-parse main) &&
	dispatch p1.json v1.9.0-1111111 1111111 &&
	python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
p = d[\"client_payload\"]
p[\"service\"] = \"payments-service\"
p[\"image\"] = None
p[\"requires\"] = []
json.dump(d, open(sys.argv[1], \"w\"))" p1.json &&
	code=$(post_dispatch p1.json delivery-p1) && test "$code" = 202 &&
	test_wait_for 300 field_is payments-staging lastDeploy.outcome failed &&
	app_field payments-staging lastDeploy.error >err &&
	test_grep "^payments-service in staging: .*/payments-service/overlays/staging/kustomization.yaml: no images entry to set$" err &&
	test_wait_for 300 deploys_done &&
	test "$(git --git-dir=srv/infra.git rev-parse main)" = "$before"
'

test_expect_success 'a required service that fails: the service is not synced' '
	git -C work pull -q "$URL" main &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [broken\n" \
	    >work/apps/inventory-service/base/broken.yaml &&
	sed -i "s|^resources:|resources:\n  - broken.yaml|" \
	    work/apps/inventory-service/base/kustomization.yaml &&
	git -C work add -A && git -C work commit -q -m "break inventory" &&
	git -C work push -q "$URL" main &&
	synced=$(app_field checkout-staging lastSyncedCommit) &&
	test_deploy_body d6.json "{\"service\": \"checkout-service\", \"environment\": \"staging\", \"version\": \"v3.0.4-9a9a9a9\", \"tag\": \"9a9a9a9\", \"requires\": [\"inventory-service\"]}" &&
	code=$(deployments d6.json) && test "$code" = 202 &&
	test_wait_for 300 field_is checkout-staging lastCheck Skipped &&
	test "$(app_field inventory-staging status)" = Failed &&
	test "$(app_field checkout-staging lastSyncedCommit)" = "$synced" &&
	! grep -q "9a9a9a9" live/staging/shop-staging/Deployment.apps/checkout-service.yaml
'

test_expect_success 'stop: SIGTERM exits 0' '
	pid=$(cat agent.pid) &&
	kill -TERM "$pid" &&
	test_wait_for 600 sh -c "! kill -0 $pid 2>/dev/null" &&
	test_grep "msg=stopped" agent.log
'

test_done
