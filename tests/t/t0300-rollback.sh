#!/bin/sh
# t0300-rollback: safe deploys end to end with real processes. A PostSync
# hook of the directory target (re)starts a small HTTP service with the
# version it is given; the app's health probe GETs its /healthz, which
# fails for a "bad" version. Deploy a good version (healthy), then a bad
# one: the agent commits a revert to the remote (a real git daemon,
# checked with the git CLI), the good version is live again, a notify_url
# receiver gets the event, and a re-deploy of the bad version is refused.
# A failure on a hand-made commit is reported and runs the SyncFail hook,
# with no revert; an operator's own git revert converges like any push.
. "$TEST_SRCDIR/tests/lib.sh"

SECRET="rollback secret"
test_infra_remote "$SECRET"
SVC=$(test_free_port)
NOTIFY=$(test_free_port)
printf 'api token\n' >api-token && chmod 600 api-token
test_cleanup_pidfile "$TRASH/agent.pid"
test_cleanup_pidfile "$TRASH/service.pid"
test_cleanup_pidfile "$TRASH/notify.pid"

test_web_config "api_token_file: api-token" \
    "notify_url: http://127.0.0.1:$NOTIFY/events" &&
cat >>agent.yaml <<EOF &&
    sync_timeout: 20s
    hooks:
      - name: hold-while-slow
        phase: PreSync
        command: [sh, -c, 'echo "PreSync \$GITOPS_VERSION" >>presync.log; printf "DATABASE_PASSWORD=hunter2\\n\\377 caf\\303"; while [ -e slow ]; do sleep 0.05; done']
        timeout: 10s
      - name: start-service
        phase: PostSync
        command: [python3, $FIXTURES/service/serve-version.py, --port, "$SVC",
                  --pidfile, service.pid, --log, hooks.log]
        timeout: 10s
      - name: record-failure
        phase: SyncFail
        command: [sh, -c, 'echo "\$GITOPS_APP \$GITOPS_REVISION" >>syncfail.log']
    health:
      - name: web-healthz
        type: http
        url: http://127.0.0.1:$SVC/healthz
        successes: 3
        failures: 3
        interval: 100ms
        timeout: 1s
EOF
test_web_config_versions || exit 1

app_field() { # FIELD
	test_app_field web-staging "$1" -H "Authorization: Bearer api token"
}
field_is() { test "$(app_field "$1")" = "$2"; }
live_version() { curl -sf "http://127.0.0.1:$SVC/version"; }
version_is() { test "$(live_version)" = "$1"; }
remote_subject() { git --git-dir=srv/infra.git log -1 --format=%s main; }
subject_is() { test "$(remote_subject)" = "$1"; }
remote_version() {
	git --git-dir=srv/infra.git show main:versions.yaml |
	    sed -n 's/^  web: "\(.*\)"$/\1/p'
}
push_webhook() {
	printf '{"repository": "%s", "ref": "refs/heads/main", "after": "%s"}' \
	    "$URL" "$(git -C work rev-parse HEAD)" >push.json
	curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @push.json \
	    -H "X-Gitops-Event: push" \
	    -H "X-Signature: sha256=$(test_sign "$SECRET" push.json)" \
	    "http://$AGENT/webhooks/generic"
}

test_expect_success 'setup: the infra repo, a notification receiver, the agent' '
	test_web_repo v1 &&
	git -C work add -A && git -C work commit -q -m "web v1" &&
	git -C work push -q "$URL" main &&
	(
		python3 -c "
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        n = int(self.headers[\"Content-Length\"])
        with open(\"events.log\", \"ab\") as f:
            f.write(self.rfile.read(n) + b\"\\n\")
        self.send_response(204); self.end_headers()
http.server.HTTPServer((\"127.0.0.1\", $NOTIFY), H).serve_forever()
" >/dev/null 2>&1 &
		echo $! >notify.pid
		${VALGRIND:-} "$GITOPS_AGENT" -c agent.yaml serve >agent.log 2>&1 &
		echo $! >agent.pid
	) &&
	test_wait_for 600 curl -sf "http://$AGENT/readyz" &&
	test_wait_for 100 version_is v1 &&
	field_is status Succeeded &&
	field_is lastSync.checks.1.verdict Passed
'

test_expect_success 'the API needs the token; hook output is masked and valid UTF-8' '
	code=$(curl -s -o reply -w "%{http_code}" "http://$AGENT/api/v1/apps") &&
	test "$code" = 401 &&
	code=$(curl -s -o reply -w "%{http_code}" \
	    "http://$AGENT/api/v1/apps/web-staging") &&
	test "$code" = 401 &&
	code=$(curl -s -o reply -w "%{http_code}" -H "Authorization: Bearer nope" \
	    "http://$AGENT/api/v1/apps") &&
	test "$code" = 401 &&
	curl -s -o apps.json -H "Authorization: Bearer api token" \
	    "http://$AGENT/api/v1/apps" &&
	python3 -c "import json; json.loads(open(\"apps.json\", \"rb\").read().decode(\"utf-8\"))" &&
	! grep -q hunter2 apps.json &&
	test_grep "DATABASE_PASSWORD=\*\*\*" apps.json &&
	! grep -rq hunter2 state/apps &&
	test "$(stat -c %a state/apps/web-staging/last-sync.json)" = 600 &&
	test "$(stat -c %a live/.gitops-agent/inventory/web-staging.json)" = 600 &&
	python3 -c "import json; json.loads(open(\"state/apps/web-staging/last-sync.json\", \"rb\").read().decode(\"utf-8\"))" &&
	gitops_agent -c agent.yaml status >status.out &&
	test_grep "^web-staging" status.out
'

test_expect_success 'deploy a good version: healthy, the hook saw both versions' '
	code=$(test_web_deploy v2) && test "$code" = 202 &&
	test_wait_for 300 field_is lastDeploy.outcome committed &&
	test_wait_for 300 version_is v2 &&
	test_wait_for 100 field_is status Succeeded &&
	test_grep "^PostSync v2 v1$" hooks.log &&
	test "$(remote_version)" = v2
'

test_expect_success 'deploy a bad version: health fails, the agent reverts it in Git' '
	code=$(test_web_deploy v3-bad) && test "$code" = 202 &&
	test_wait_for 300 subject_is "Revert \"Deploy web v3-bad to staging\"" &&
	test "$(remote_version)" = v2 &&
	git --git-dir=srv/infra.git log -1 --format=%B main >msg &&
	test_grep "^This reverts commit [0-9a-f]\{40\}\.$" msg &&
	git --git-dir=srv/infra.git log --format=%s -3 main >subjects &&
	test_grep "^Deploy web v3-bad to staging$" subjects &&
	test_wait_for 300 version_is v2 &&
	test_wait_for 300 field_is lastRollback.outcome committed &&
	test_wait_for 100 field_is status Succeeded &&
	git --git-dir=srv/infra.git fsck --strict 2>&1 &&
	test "$(git --git-dir=srv/infra.git rev-list --merges main | wc -l)" = 0
'

test_expect_success 'the rollback is reported: log, metric, API, notification' '
	test_grep "msg=\"committed the rollback of web in staging" agent.log &&
	curl -s "http://$AGENT/metrics" >metrics &&
	test_grep "^gitops_rollbacks_total{outcome=\"committed\"} 1$" metrics &&
	test_grep "^gitops_deployments_total{result=\"failed\"} 1$" metrics &&
	test_grep "^gitops_deployments_total{result=\"done\"} 1$" metrics &&
	test "$(app_field lastRollback.badVersion)" = v3-bad &&
	test_wait_for 100 grep -q "\"event\":\"rollback\"" events.log &&
	test_grep "\"badVersion\":\"v3-bad\"" events.log &&
	ms=$(app_field lastRollback.msToCommit) && echo "verdict to revert commit: $ms ms" &&
	ms=$(app_field lastRollback.msToLive) && echo "verdict to good version live: $ms ms"
'

test_expect_success 'the bad version is held: a new deploy of it is refused' '
	before=$(git --git-dir=srv/infra.git rev-parse main) &&
	code=$(test_web_deploy v3-bad) && test "$code" = 202 &&
	test_wait_for 300 field_is lastDeploy.outcome refused &&
	test "$(git --git-dir=srv/infra.git rev-parse main)" = "$before" &&
	version_is v2
'

test_expect_success 'a failure on a hand-made commit: reported, SyncFail runs, no revert' '
	git -C work pull -q "$URL" main &&
	sed -i "s/web: .*/web: \"v9-bad\"/" work/versions.yaml &&
	sed -i "s/newTag: .*/newTag: v9-bad/" work/apps/web/staging/kustomization.yaml &&
	git -C work commit -qam "hand-edited version" &&
	git -C work push -q "$URL" main &&
	code=$(push_webhook) && test "$code" = 202 &&
	test_wait_for 300 field_is status Failed &&
	test_wait_for 100 test -s syncfail.log &&
	test_grep "^web-staging $(git -C work rev-parse HEAD)$" syncfail.log &&
	test "$(remote_subject)" = "hand-edited version" &&
	test_grep "not a deploy of web to staging: not reverted" agent.log
'

test_expect_success 'an operator reverts by hand: it converges like any push' '
	git -C work revert --no-edit HEAD >/dev/null &&
	git -C work push -q "$URL" main &&
	code=$(push_webhook) && test "$code" = 202 &&
	test_wait_for 300 version_is v2 &&
	test_wait_for 100 field_is status Succeeded
'

test_expect_success 'a bad deploy under an unrelated commit: the deploy is blamed' '
	good=$(git -C work rev-parse HEAD) &&
	gitops_agent -c agent.yaml bump --service web --environment staging \
	    --version v5-bad --tag v5-bad >out 2>err &&
	bump=$(git --git-dir=srv/infra.git rev-parse main) &&
	git -C work pull -q "$URL" main &&
	echo unrelated >work/NOTES &&
	git -C work add NOTES && git -C work commit -qm "unrelated notes" &&
	git -C work push -q "$URL" main &&
	code=$(push_webhook) && test "$code" = 202 &&
	test_wait_for 300 subject_is "Revert \"Deploy web v5-bad to staging\"" &&
	test "$(remote_version)" = v2 &&
	git --git-dir=srv/infra.git show main:NOTES >notes &&
	test_grep "^unrelated$" notes &&
	test_wait_for 300 version_is v2 &&
	test_wait_for 300 field_is lastRollback.revertedCommit "$bump" &&
	test_wait_for 100 field_is status Succeeded &&
	field_is lastRollback.failedCommit "$(git -C work rev-parse HEAD)" &&
	field_is lastRollback.lastGoodCommit "$good" &&
	field_is lastRollback.commitsLookedAt 2 &&
	field_is lastRollback.badVersion v5-bad &&
	test_grep "good=$good blamed=$bump commits=2" agent.log
'

start_agent() {
	${VALGRIND:-} "$GITOPS_AGENT" -c agent.yaml serve >>agent.log 2>&1 &
	echo $! >agent.pid
}

test_expect_success 'a deploy interrupted by the shutdown resumes at the next start' '
	touch slow &&
	code=$(test_web_deploy v4) && test "$code" = 202 &&
	test_wait_for 300 grep -q "^PreSync v4$" presync.log &&
	pid=$(cat agent.pid) && kill -TERM "$pid" &&
	test_wait_for 100 grep -q "msg=\"shutting down\"" agent.log &&
	rm slow &&
	test_wait_for 300 sh -c "! kill -0 $pid 2>/dev/null" &&
	test_grep "resumes at the next start" agent.log &&
	test "$(ls state/deployments | wc -l)" = 1 &&
	start_agent &&
	test_wait_for 600 curl -sf "http://$AGENT/readyz" &&
	test_wait_for 300 field_is lastDeploy.version v4 &&
	test_wait_for 300 sh -c "test \$(ls state/deployments | wc -l) = 0" &&
	test_wait_for 300 version_is v4 &&
	test "$(remote_version)" = v4
'

test_expect_success 'stop: SIGTERM exits' '
	pid=$(cat agent.pid) && kill -TERM "$pid" &&
	test_wait_for 300 sh -c "! kill -0 $pid 2>/dev/null"
'

test_done
