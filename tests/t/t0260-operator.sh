#!/bin/sh
# t0260-operator: the operator's commands against a running agent (a real
# `git daemon` serving the web app, the agent syncing it into ./live):
# `status APP` (its resources with their sync and health state, its last
# syncs, deploy and rollback), `history APP` (sync results kept in
# state_dir, deploys and rollbacks read from Git trailers), `reconcile`
# (with --wait, the exit status says the outcome), --output yaml (read
# back by a YAML parser) and `status --watch`.
. "$TEST_SRCDIR/tests/lib.sh"

SECRET="operator secret"
test_infra_remote "$SECRET"
test_web_config
# A PreSync hook that holds the sync while ./slow exists.
cat >>agent.yaml <<-\EOF
    hooks:
      - name: hold-while-slow
        phase: PreSync
        command: [sh, -c, 'echo run >>presync.log; while [ -e slow ]; do sleep 0.05; done']
        timeout: 5m
EOF
test_web_config_versions

test_cleanup_pidfile "$TRASH/agent.pid"
start_agent() {
	(
		${VALGRIND:-} "$GITOPS_AGENT" -c agent.yaml serve >>agent.log 2>&1 &
		echo $! >agent.pid
		wait $!
	) &
	test_wait_for 50 test -s agent.pid &&
	test_wait_for 600 curl -sf "http://$AGENT/readyz"
}

# same_doc JSON YAML: the YAML (read by PyYAML) is the JSON's document;
# the times of a sync run twice may differ, but both must be strings.
same_doc() {
	python3 - "$1" "$2" <<-\EOF
	import json, sys, yaml
	def times(d):
	    if isinstance(d, list):
	        return [times(v) for v in d]
	    if isinstance(d, dict):
	        for k in ("startedAt", "finishedAt"):
	            if k in d:
	                assert isinstance(d[k], str), d
	                d[k] = "T"
	        return {k: times(v) for k, v in d.items()}
	    return d
	j = times(json.load(open(sys.argv[1])))
	y = times(yaml.safe_load(open(sys.argv[2])))
	if j != y:
	    sys.exit("differ:\n%r\n%r" % (j, y))
	EOF
}

# diff exits 1 when there is a difference.
exit_0_or_1() {
	"$@"
	test $? -le 1
}

field_is() { # FIELD VALUE
	test "$(test_app_field web-staging "$1")" = "$2"
}

test_expect_success 'setup: the web app at v1 on the git daemon, the agent synced it' '
	test_web_repo v1 &&
	git -C work add -A &&
	git -C work commit -q -m "web v1" &&
	git -C work push -q "$URL" main &&
	start_agent &&
	test_wait_for 300 field_is status Succeeded
'

test_expect_success 'status APP: the app, its last sync and its resources' '
	gitops_agent -c agent.yaml status web-staging >out &&
	test_grep "^app: *web-staging$" out &&
	test_grep "^status: *Succeeded$" out &&
	test_grep "^synced: *$(git -C work rev-parse HEAD)$" out &&
	test_grep "^LAST SYNC$" out &&
	test_grep "^Deployment.apps/staging/web  *Synced  *Healthy$" out &&
	gitops_agent -c agent.yaml status web-staging -o json >out.json &&
	python3 -c "
import json
a = json.load(open(\"out.json\"))
assert a[\"name\"] == \"web-staging\", a
r = a[\"lastSync\"][\"resources\"]
assert r == [{\"id\": \"Deployment.apps/staging/web\", \"phase\": \"Sync\",
    \"wave\": 0, \"sync\": \"Synced\", \"health\": \"Healthy\"}], r
"
'

test_expect_success 'GET /api/v1/apps/NAME/resources: the resources alone' '
	curl -sf "http://$AGENT/api/v1/apps/web-staging/resources" >res.json &&
	python3 -c "
import json
r = json.load(open(\"res.json\"))
assert [x[\"id\"] for x in r] == [\"Deployment.apps/staging/web\"], r
" &&
	code=$(curl -s -o reply -w "%{http_code}" -X POST \
	    "http://$AGENT/api/v1/apps/web-staging/resources") &&
	test "$code" = 405 &&
	code=$(curl -s -o reply -w "%{http_code}" \
	    "http://$AGENT/api/v1/apps/web-staging/nope") &&
	test "$code" = 404
'

test_expect_success 'status APP: an unknown app is an error naming it' '
	test_expect_code 2 gitops_agent -c agent.yaml status nope 2>err &&
	test_grep "answered 404: no such app" err &&
	test_expect_code 2 gitops_agent -c agent.yaml status a b 2>err &&
	test_grep "unexpected argument .b." err
'

test_expect_success 'history APP: the recorded syncs, newest first' '
	printf "staging:\n  web: \"v1\"\n# touched\n" >work/versions.yaml &&
	sed -i "s/^  name: web$/  name: web\n  labels: {touched: \"yes\"}/" \
	    work/apps/web/staging/deployment.yaml &&
	git -C work commit -q -am "web: a label" &&
	git -C work push -q "$URL" main &&
	curl -sf -X POST "http://$AGENT/api/v1/apps/web-staging/sync" &&
	test_wait_for 300 field_is lastSyncedCommit "$(git -C work rev-parse HEAD)" &&
	gitops_agent -c agent.yaml history web-staging >out &&
	test_grep "^SYNCS (newest first)$" out &&
	test "$(grep -c " Succeeded " out)" = 2 &&
	head -2 out | tail -1 >newest &&
	test_grep "$(git -C work rev-parse --short=12 HEAD)" newest &&
	test_grep "  0 created   1 updated" newest &&
	gitops_agent -c agent.yaml history web-staging -n 1 -o json >h.json &&
	python3 -c "
import json
h = json.load(open(\"h.json\"))
assert h[\"app\"] == \"web-staging\" and len(h[\"syncs\"]) == 1, h
assert \"resources\" not in h[\"syncs\"][0], h
assert h[\"deploys\"] == [], h
" &&
	test_app_field web-staging recentSyncs.1.created >n &&
	test "$(cat n)" = 1
'

test_expect_success 'history APP: deploys and rollbacks from the commit trailers' '
	code=$(test_web_deploy v2) && test "$code" = 202 &&
	test_wait_for 300 field_is lastDeploy.outcome committed &&
	test_wait_for 300 field_is status Succeeded &&
	gitops_agent -c agent.yaml rollback --service web --environment staging \
	    >rb.out &&
	gitops_agent -c agent.yaml history web-staging >out &&
	sed -n "/^DEPLOYS AND ROLLBACKS/,\$p" out >deploys &&
	sed -n 3p deploys >first &&
	sed -n 4p deploys >second &&
	test_grep " rollback  *v1  *v2  " first &&
	test_grep "$(git --git-dir=srv/infra.git rev-parse --short=12 main)" first &&
	test_grep " deploy  *v2  *v1  " second &&
	gitops_agent -c agent.yaml history web-staging -o json >h.json &&
	python3 -c "
import json
d = json.load(open(\"h.json\"))[\"deploys\"]
assert [e[\"kind\"] for e in d] == [\"rollback\", \"deploy\"], d
assert d[0][\"rollbackOf\"] == d[1][\"commit\"], d
assert d[1][\"at\"].endswith(\"Z\") and len(d[1][\"at\"]) == 20, d
"
'

test_expect_success 'history: usage errors and an unknown app' '
	test_expect_code 2 gitops_agent -c agent.yaml history 2>err &&
	test_grep "missing APP" err &&
	test_expect_code 2 gitops_agent -c agent.yaml history web-staging -n 0 2>err &&
	test_grep "from 1 to 1000" err &&
	test_expect_code 2 gitops_agent -c agent.yaml history nope 2>err &&
	test_grep "no app .nope." err
'

test_expect_success 'reconcile APP: queued, and the agent syncs it' '
	before=$(test_app_field web-staging checks) &&
	gitops_agent -c agent.yaml reconcile web-staging >out &&
	test_grep "^web-staging: Queued$" out &&
	test_wait_for 300 test_must_fail field_is checks "$before"
'

test_expect_success 'reconcile --wait: exit 0 on Succeeded, naming it' '
	test_wait_for 300 field_is syncing False &&
	before=$(test_app_field web-staging checks) &&
	gitops_agent -c agent.yaml reconcile web-staging --wait >out &&
	test_grep "^web-staging: Succeeded" out &&
	test "$(test_app_field web-staging checks)" -gt "$before" &&
	gitops_agent -c agent.yaml reconcile web-staging --wait -o json >r.json &&
	python3 -c "
import json
r = json.load(open(\"r.json\"))
assert r[\"outcome\"] == \"Succeeded\" and r[\"error\"] is None, r
"
'

test_expect_success 'reconcile --wait: exit 1 on a failed sync, naming it and why' '
	git -C work pull -q "$URL" main &&
	test_when_finished "git -C work revert --no-edit HEAD >/dev/null && git -C work push -q \"$URL\" main" &&
	printf "kind: [\n" >work/apps/web/staging/deployment.yaml &&
	git -C work commit -q -am "broken" &&
	git -C work push -q "$URL" main &&
	test_expect_code 1 gitops_agent -c agent.yaml reconcile web-staging \
	    --wait >out &&
	test_grep "^web-staging: Failed: .*deployment.yaml" out
'

test_expect_success 'reconcile --wait --timeout: exit 1 when no outcome comes in time' '
	gitops_agent -c agent.yaml reconcile web-staging --wait >out &&
	test_grep "^web-staging: Succeeded" out &&
	sed -i "s/touched: \"yes\"/touched: \"again\"/" \
	    work/apps/web/staging/deployment.yaml &&
	git -C work commit -q -am "web: the label again" &&
	git -C work push -q "$URL" main &&
	touch slow &&
	test_when_finished "rm -f slow" &&
	test_expect_code 1 gitops_agent -c agent.yaml reconcile web-staging \
	    --wait --timeout 1s >out 2>err &&
	test_grep "web-staging: no outcome after 1s (the agent is still syncing its repository)" err &&
	rm slow &&
	test_wait_for 300 field_is syncing False
'

test_expect_success 'reconcile: usage errors and an unknown app' '
	test_expect_code 2 gitops_agent -c agent.yaml reconcile 2>err &&
	test_grep "missing APP" err &&
	test_expect_code 2 gitops_agent -c agent.yaml reconcile nope --wait 2>err &&
	test_grep "answered 404: no such app" err &&
	test_expect_code 2 gitops_agent -c agent.yaml reconcile web-staging --timeout x 2>err &&
	test_grep "bad --timeout" err
'

# status --watch runs in the background of a test: its pid in watch.pid,
# its exit status in watch.rc once it exits.
test_cleanup_pidfile "$TRASH/watch.pid"
draws() {
	grep -c "^app:" watch.out
}
# The agent's count of answered GETs of one app (each watch poll is one).
app_gets() {
	curl -s "http://$AGENT/metrics" |
	    sed -n "s/^gitops_http_requests_total{route=\"apps\",code=\"200\"} //p"
}

gets_past() { # N: the agent answered at least N GETs of an app
	test "$(app_gets)" -ge "$1"
}

test_expect_success 'status --watch: drawn at once, again when the app changes, not otherwise' '
	test_wait_for 300 field_is syncing False &&
	(
		${VALGRIND:-} "$GITOPS_AGENT" -c agent.yaml status web-staging \
		    --watch --interval 100ms >watch.out 2>watch.err &
		echo $! >watch.pid
		wait $!
		echo $? >watch.rc
	) &
	test_wait_for 50 test -s watch.pid &&
	test_wait_for 300 grep -q "^app:" watch.out &&
	git -C work pull -q "$URL" main &&
	sed -i "s/touched: \"again\"/touched: \"watched\"/" \
	    work/apps/web/staging/deployment.yaml &&
	git -C work commit -q -am "web: watched" &&
	git -C work push -q "$URL" main &&
	gitops_agent -c agent.yaml reconcile web-staging --wait >out &&
	test_grep "^web-staging: Succeeded" out &&
	head=$(git -C work rev-parse HEAD) &&
	test_wait_for 300 grep -q "^synced: *$head$" watch.out &&
	n=$(draws) &&
	test "$n" -ge 2 &&
	gets=$(app_gets) &&
	test_wait_for 300 gets_past $((gets + 5)) &&
	test "$(draws)" = "$n"
'

test_expect_success 'status --watch: SIGINT ends it with status 0' '
	kill -INT "$(cat watch.pid)" &&
	test_wait_for 300 test -f watch.rc &&
	test "$(cat watch.rc)" = 0 &&
	test ! -s watch.err
'

test_expect_success 'status --watch: an unreachable agent is said once while it lasts' '
	(
		${VALGRIND:-} "$GITOPS_AGENT" status --address "127.0.0.1:$(test_free_port)" \
		    --watch --interval 100ms >w2.out 2>w2.err &
		echo $! >watch.pid
		wait $!
		echo $? >watch2.rc
	) &
	test_wait_for 50 test -s watch.pid &&
	test_wait_for 300 grep -q "cannot connect" w2.err &&
	kill -TERM "$(cat watch.pid)" &&
	test_wait_for 300 test -f watch2.rc &&
	test "$(grep -c "cannot connect" w2.err)" = 1
'

# A fake agent whose answers carry terminal escapes, at 127.0.0.1:$FAKE.
FAKE=$(test_free_port)
cat >fake.py <<-\EOF
import http.server, json, sys
app = {"name": "x\u001b[31m", "status": "Failed\u0007",
       "lastSync": {"status": "Failed", "error": "bad\r\nforged",
                    "resources": [{"id": "ConfigMap/x\u001b]0;t",
                                   "sync": "Synced", "health": "Healthy"}]}}
tricky = {"name": "yes", "n": "1.0", "none": "null", "dash": "- x",
          "colon": "a: b", "hash": "#c", "lines": "a\nb\n", "empty": "",
          "space": " x ", "unicode": "caf\u00e9", "list": [], "map": {},
          "num": 1.5, "t": True, "z": None, "date": "2026-12-06"}
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps([app] if self.path == "/api/v1/apps" else
                          tricky if self.path.endswith("/tricky") else app)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
python3 fake.py "$FAKE" &
test_cleanup_pid $!

test_expect_success 'status: what the agent says reaches the terminal without control characters' '
	test_wait_for 100 curl -sf "http://127.0.0.1:$FAKE/api/v1/apps" &&
	gitops_agent status --address "127.0.0.1:$FAKE" x >out &&
	gitops_agent status --address "127.0.0.1:$FAKE" >>out &&
	! grep -q "$(printf "\033")" out &&
	! grep -q "$(printf "\007")" out &&
	! grep -q "$(printf "\r")" out &&
	test_grep "^app: *x?\[31m$" out &&
	test_grep "^ConfigMap/x?\]0;t  *Synced" out &&
	test_grep "bad??forged" out
'

test_expect_success '--output yaml: the same document as --output json, from the agent' '
	test_wait_for 300 field_is syncing False &&
	for args in "status" "status web-staging" "history web-staging" \
	    "reconcile web-staging --wait"; do
		gitops_agent -c agent.yaml $args -o json >doc.json &&
		gitops_agent -c agent.yaml $args --output yaml >doc.yaml &&
		same_doc doc.json doc.yaml || return 1
	done &&
	test_grep "^outcome: Succeeded$" doc.yaml
'

test_expect_success '--output yaml: plan, diff, sync and bump print YAML too' '
	app=work/apps/web/staging &&
	for args in "plan --path $app" "diff --path $app --target y-live" \
	    "sync --dry-run --path $app --target y-live"; do
		exit_0_or_1 gitops_agent $args -o json >doc.json &&
		exit_0_or_1 gitops_agent $args -o yaml >doc.yaml &&
		same_doc doc.json doc.yaml || return 1
	done &&
	gitops_agent -c agent.yaml bump --service web --environment staging \
	    --version v1 -o yaml >doc.yaml &&
	python3 -c "
import yaml
d = yaml.safe_load(open(\"doc.yaml\"))
assert d[\"outcome\"] == \"unchanged\" and d[\"app\"] == \"web-staging\", d
"
'

test_expect_success '--output yaml: strings YAML would read as something else stay strings' '
	gitops_agent status --address "127.0.0.1:$FAKE" tricky -o json >doc.json &&
	gitops_agent status --address "127.0.0.1:$FAKE" tricky -o yaml >doc.yaml &&
	same_doc doc.json doc.yaml &&
	python3 -c "
import json
d = json.load(open(\"doc.json\"))
assert d[\"name\"] == \"yes\" and d[\"n\"] == \"1.0\", d
"
'

test_expect_success 'stop: SIGTERM exits' '
	pid=$(cat agent.pid) && kill -TERM "$pid" &&
	test_wait_for 300 sh -c "! kill -0 $pid 2>/dev/null"
'

test_done
