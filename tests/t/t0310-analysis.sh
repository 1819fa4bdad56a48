#!/bin/sh
# t0310-analysis: post-deploy analysis against a real Prometheus (Debian's
# prometheus, started here on 127.0.0.1, scraping the test service's
# /metrics every second). The success ratio of the service's requests
# must stay >= 0.95: a good release passes, a bad one (50% errors) is
# rolled back in Git. With Prometheus stopped the configured inconclusive
# policy decides: "fail" rolls the deploy back, "pass" keeps it.
. "$TEST_SRCDIR/tests/lib.sh"

if ! command -v prometheus >/dev/null 2>&1; then
	echo "1..0 # SKIP prometheus is not installed (contrib/deps.sh installs it)"
	exit 0
fi

SECRET="analysis secret"
test_infra_remote "$SECRET"
SVC=$(test_free_port)
PROM=$(test_free_port)
test_cleanup_pidfile "$TRASH/agent.pid"
test_cleanup_pidfile "$TRASH/service.pid"
test_cleanup_pidfile "$TRASH/prometheus.pid"

write_config() { # INCONCLUSIVE-POLICY
	test_web_config &&
	cat >>agent.yaml <<-EOF &&
	    hooks:
	      - name: start-service
	        phase: PostSync
	        command: [python3, $FIXTURES/service/serve-version.py, --port, "$SVC", --pidfile, service.pid]
	    analysis_inconclusive: $1
	    analysis:
	      - name: success-ratio
	        type: prometheus
	        url: http://127.0.0.1:$PROM
	        query: sum(rate(http_requests_total{code="200"}[5s])) / sum(rate(http_requests_total[5s]))
	        condition: result >= 0.95
	        count: 4
	        interval: 1s
	        failure_limit: 0
	        timeout: 2s
	EOF
	test_web_config_versions
}
write_config pass

app_field() { test_app_field web-staging "$1"; }
field_is() { test "$(app_field "$1")" = "$2"; }
subject_is() { test "$(git --git-dir=srv/infra.git log -1 --format=%s main)" = "$1"; }
version_is() { test "$(curl -sf "http://127.0.0.1:$SVC/version")" = "$1"; }
has_samples() {
	curl -sf "http://127.0.0.1:$PROM/api/v1/query?query=http_requests_total" |
	    grep -q '"value"'
}

test_expect_success 'setup: the repo, Prometheus scraping the service, the agent' '
	test_web_repo v1 &&
	git -C work add -A && git -C work commit -q -m "web v1" &&
	git -C work push -q "$URL" main &&
	cat >prom.yml <<-EOF &&
	global: {scrape_interval: 1s, evaluation_interval: 1s}
	scrape_configs:
	  - job_name: web
	    static_configs: [{targets: ["127.0.0.1:$SVC"]}]
	EOF
	(
		prometheus --config.file=prom.yml --storage.tsdb.path=tsdb \
		    --web.listen-address=127.0.0.1:$PROM >prometheus.log 2>&1 &
		echo $! >prometheus.pid
		${VALGRIND:-} "$GITOPS_AGENT" -c agent.yaml serve >agent.log 2>&1 &
		echo $! >agent.pid
	) &&
	test_wait_for 600 curl -sf "http://127.0.0.1:$PROM/-/ready" &&
	test_wait_for 600 curl -sf "http://$AGENT/readyz" &&
	test_wait_for 300 has_samples
'

test_expect_success 'a good release passes the analysis' '
	code=$(test_web_deploy v2) && test "$code" = 202 &&
	test_wait_for 300 field_is lastDeploy.outcome committed &&
	test_wait_for 300 field_is lastSync.version v2 &&
	test_wait_for 300 field_is status Succeeded &&
	curl -s "http://$AGENT/api/v1/apps/web-staging" >app.json &&
	test_grep "success-ratio" app.json &&
	subject_is "Deploy web v2 to staging"
'

test_expect_success 'a bad release (50% errors) fails the analysis and is rolled back' '
	code=$(test_web_deploy v3-bad) && test "$code" = 202 &&
	test_wait_for 600 subject_is "Revert \"Deploy web v3-bad to staging\"" &&
	test_wait_for 300 version_is v2 &&
	test_grep "analysis .success-ratio. failed" agent.log &&
	test_wait_for 300 field_is lastRollback.outcome committed &&
	curl -s "http://$AGENT/metrics" | grep -q "^gitops_rollbacks_total{outcome=\"committed\"} 1$"
'

test_expect_success 'Prometheus down, policy pass: the deploy stays' '
	kill "$(cat prometheus.pid)" &&
	test_wait_for 300 sh -c "! curl -s http://127.0.0.1:$PROM/-/ready" &&
	code=$(test_web_deploy v4) && test "$code" = 202 &&
	test_wait_for 300 field_is lastDeploy.outcome committed &&
	test_wait_for 600 field_is lastSync.version v4 &&
	field_is status Succeeded &&
	subject_is "Deploy web v4 to staging" &&
	curl -s "http://$AGENT/api/v1/apps/web-staging" | grep -q Inconclusive
'

test_expect_success 'Prometheus down, policy fail (after SIGHUP): the deploy is rolled back' '
	write_config fail &&
	kill -HUP "$(cat agent.pid)" &&
	test_wait_for 100 grep -q "configuration reloaded" agent.log &&
	code=$(test_web_deploy v5) && test "$code" = 202 &&
	test_wait_for 600 subject_is "Revert \"Deploy web v5 to staging\"" &&
	test_wait_for 300 version_is v4 &&
	test_grep "was inconclusive" agent.log
'

test_expect_success 'stop: SIGTERM exits' '
	pid=$(cat agent.pid) && kill -TERM "$pid" &&
	test_wait_for 300 sh -c "! kill -0 $pid 2>/dev/null"
'

test_done
