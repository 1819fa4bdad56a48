#!/bin/sh
# t0200-serve: the daemon end to end over loopback. The example shop is
# pushed to a real `git daemon`; `gitops-agent serve` fetches it, syncs
# every app into a directory target, answers webhooks (real payload
# shapes from tests/fixtures/webhooks, signed per provider) and the API;
# curl is the client. Each bad request gets its code and queues nothing
# (the fetch counter in /metrics does not move).
. "$TEST_SRCDIR/tests/lib.sh"

SECRET="It's a Secret to Everybody"
WEBHOOKS="$FIXTURES/webhooks"

test_infra_remote "$SECRET"

# The example's configuration, reading the repository from the daemon.
write_config() { # FILE [EXTRA TOP-LEVEL LINES]
	{
		echo "listen: $AGENT"
		echo "state_dir: ./state"
		echo "log_level: debug"
		echo "${2:-}"
		echo "repositories:"
		echo "  - name: shop"
		echo "    url: $URL"
		echo "    poll_interval: 10m"
		echo "    timeout: 10s"
		echo "    webhook_secret_file: secret"
		sed -n '/^apps:/,$p' "$EXAMPLE/gitops-agent.yaml" |
		    sed 's|\.\./\.\./\.\./live|./live|'
		echo "  timeout: 30s"
	} >"$1"
}
write_config agent.yaml

sign() { test_sign "$@"; }

# A real payload shape with our repository, branch and commit in it.
payload() { # FIXTURE OUT [URL]
	python3 - "$WEBHOOKS/$1" "$2" "${3:-$URL}" "$(git -C work rev-parse HEAD 2>/dev/null || echo 0)" <<-'EOF'
	import json, sys
	src, out, url, head = sys.argv[1:5]
	d = json.load(open(src))
	if "repository" in d:
	    r = d["repository"]
	    for k in ("clone_url", "git_url", "ssh_url", "html_url",
	              "git_http_url", "git_ssh_url", "homepage", "url"):
	        if k in r:
	            r[k] = url
	    r.setdefault("links", {})["clone"] = [{"href": url, "name": "git"}]
	if "project" in d:
	    d["project"]["git_http_url"] = url
	if d.get("ref", "").startswith("refs/heads/"):
	    d["ref"] = "refs/heads/main"
	if "after" in d:
	    d["after"] = head
	for c in d.get("changes", []):
	    c["ref"]["id"] = "refs/heads/main"
	    c["refId"] = "refs/heads/main"
	    c["toHash"] = head
	json.dump(d, open(out, "w"))
	EOF
}

# post PATH FILE [HEADER...]: the status code; the body in reply.
post() {
	post_as application/json "$@"
}
post_as() { # CONTENT-TYPE PATH FILE [HEADER...]
	t=$1 p=$2 f=$3
	shift 3
	curl -s -o reply -w '%{http_code}' -X POST --data-binary "@$f" \
	    -H "Content-Type: $t" "$@" "http://$AGENT$p"
}
post_form() {
	post_as application/x-www-form-urlencoded "$@"
}

# form JSON OUT: the body GitHub and Gitea send with the content type
# application/x-www-form-urlencoded: the JSON in a "payload" field.
form() {
	python3 -c 'import sys, urllib.parse
sys.stdout.write(urllib.parse.urlencode({"payload": open(sys.argv[1]).read()}))' \
	    "$1" >"$2"
}

github() { # EVENT FILE [SECRET]
	post /webhooks/github "$2" -H "X-GitHub-Event: $1" \
	    -H "X-GitHub-Delivery: $(cat /proc/sys/kernel/random/uuid)" \
	    -H "X-Hub-Signature-256: sha256=$(sign "${3:-$SECRET}" "$2")"
}

metric() { # NAME{LABELS}: its value, 0 when absent
	curl -s "http://$AGENT/metrics" | awk -v k="$1" '$1 == k { v = $2 }
	    END { print v == "" ? 0 : v }'
}

fetches() {
	metric 'gitops_fetches_total{repository="shop",result="ok"}'
}

app_field() { # APP FIELD
	curl -s "http://$AGENT/api/v1/apps/$1" | python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print(v)' "$2"
}

# The agent runs in the background across tests (each test is a
# subshell): its pid and, once it exits, its status are kept in files.
test_cleanup_pidfile "$TRASH/agent.pid"
start_agent() {
	rm -f agent.rc
	(
		${VALGRIND:-} "$GITOPS_AGENT" -c agent.yaml serve >>agent.log 2>&1 &
		echo $! >agent.pid
		wait $!
		echo $? >agent.rc
	) &
	test_wait_for 50 test -s agent.pid &&
	test_wait_for 600 curl -sf "http://$AGENT/readyz"
}

# SIGTERM, then its exit status must be 0 within 60 s.
stop_agent() {
	kill -TERM "$(cat agent.pid)" &&
	test_wait_for 600 test -f agent.rc &&
	test "$(cat agent.rc)" = 0
}

test_expect_success 'setup: the example shop pushed to the git daemon' '
	git init -q -b main work &&
	cp -R "$EXAMPLE/." work/ &&
	rm work/gitops-agent.yaml &&
	git -C work add -A &&
	git -C work commit -q -m "the shop" &&
	git -C work push -q "$URL" main
'

test_expect_success 'serve: refuses a bad configuration before listening' '
	printf "listen: 127.0.0.1:%s\nbogus: 1\n" "$PORT" >bad.yaml &&
	test_expect_code 1 gitops_agent -c bad.yaml serve 2>err &&
	test_grep "bogus" err &&
	! curl -s "http://$AGENT/healthz"
'

test_expect_success 'serve: a bad TLS key pair stops the start (never plain HTTP)' '
	write_config tls.yaml "tls_cert_file: secret
tls_key_file: secret" &&
	test_expect_code 2 gitops_agent -c tls.yaml serve 2>err &&
	test_grep "cannot use the TLS certificate" err &&
	! curl -s "http://$AGENT/healthz"
'

test_expect_success 'start: every app synced from the fetched commit, readyz ok' '
	start_agent &&
	head=$(git -C work rev-parse HEAD) &&
	test "$(app_field checkout-staging lastSyncedCommit)" = "$head" &&
	test "$(app_field checkout-staging status)" = Succeeded &&
	test "$(app_field frontend-shell-production status)" = Succeeded &&
	test -f live/staging/shop-staging/Deployment.apps/checkout-service.yaml &&
	curl -sf "http://$AGENT/healthz" >/dev/null
'

test_expect_success 'GitHub signature: the published test vector' '
	printf "Hello, World!" >hello &&
	test "$(sign "$SECRET" hello)" = \
	    757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17
'

test_expect_success 'bad requests: each its code, nothing queued' '
	before=$(fetches) &&
	payload github-push.json push.json &&
	# no signature
	code=$(post /webhooks/github push.json -H "X-GitHub-Event: push") &&
	test "$code" = 401 &&
	# a wrong secret
	code=$(github push push.json "not the secret") && test "$code" = 401 &&
	# a body changed after signing
	sig=$(sign "$SECRET" push.json) &&
	sed "s/main/mainx/" push.json >tampered.json &&
	code=$(post /webhooks/github tampered.json -H "X-GitHub-Event: push" \
	    -H "X-Hub-Signature-256: sha256=$sig") && test "$code" = 401 &&
	# malformed: not JSON, and no event header
	printf "{not json" >junk &&
	code=$(github push junk) && test "$code" = 400 &&
	code=$(post /webhooks/github push.json \
	    -H "X-Hub-Signature-256: sha256=$sig") && test "$code" = 400 &&
	test_grep "X-GitHub-Event" reply &&
	# wrong method, unknown provider and route
	code=$(curl -s -o reply -w "%{http_code}" "http://$AGENT/webhooks/github") &&
	test "$code" = 405 &&
	code=$(curl -s -o reply -w "%{http_code}" -X PUT --data-binary @push.json \
	    -H "X-GitHub-Event: push" "http://$AGENT/webhooks/github") &&
	test "$code" = 405 &&
	code=$(post /webhooks/nope push.json) && test "$code" = 404 &&
	# too large (the limit is 25 MiB)
	head -c 27000000 /dev/zero | tr "\0" "a" >big &&
	code=$(github push big) && test "$code" = 413 &&
	test "$(fetches)" = "$before" &&
	test "$(metric "gitops_webhooks_total{provider=\"github\",result=\"unauthorized\"}")" = 3 &&
	test "$(metric "gitops_webhooks_total{provider=\"github\",result=\"malformed\"}")" = 2
'

# unquoted TEXT: what is left of logfmt lines once quoted values are gone
unquoted() {
	sed -e 's/"\([^"\\]\|\\.\)*"//g'
}

test_expect_success 'a header value cannot forge a log line or key' '
	payload github-push.json push.json &&
	code=$(post /webhooks/github push.json \
	    -H "X-GitHub-Event: push\" level=error msg=forged1 x=\"" \
	    -H "X-GitHub-Delivery: d1\" level=error msg=forged2 \\\"") &&
	test "$code" = 401 &&
	grep "forged" agent.log >forged &&
	test "$(wc -l <forged)" = 1 &&
	test_grep "^time=[^ ]* level=warn msg=\"webhook signature missing" forged &&
	unquoted <forged >left &&
	test_grep -v "level=error" left &&
	test_grep -v "msg=forged" left &&
	test_grep -v " x=" left
'

test_expect_success 'GitHub ping: 200, nothing queued' '
	before=$(fetches) &&
	payload github-ping.json ping.json &&
	code=$(github ping ping.json) && test "$code" = 200 &&
	test_grep pong reply &&
	test "$(fetches)" = "$before"
'

# change_and_wait PROVIDER-FUNCTION: commit a replica change, send the
# push, wait until checkout-staging is synced at the new commit.
bump_replicas() { # N
	f=work/apps/checkout-service/base/deployment.yaml &&
	sed -i "s/replicas: .*/replicas: $1/" "$f" &&
	git -C work commit -q -am "checkout: $1 replicas" &&
	git -C work push -q "$URL" main
}
synced_at_head() {
	test "$(app_field checkout-staging lastSyncedCommit)" = \
	    "$(git -C work rev-parse HEAD)"
}

test_expect_success 'GitHub push: the target converges, the API shows the commit' '
	bump_replicas 5 &&
	payload github-push.json push.json &&
	code=$(github push push.json) && test "$code" = 202 &&
	test_wait_for 300 synced_at_head &&
	grep -q "replicas: 5" live/staging/shop-staging/Deployment.apps/checkout-service.yaml &&
	grep -q "replicas: 5" live/production/shop-production/Deployment.apps/checkout-service.yaml &&
	test "$(app_field checkout-staging lastWebhook.provider)" = github &&
	app_field checkout-staging lastWebhook.receivedAt >at &&
	grep -E -q "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\$" at &&
	test "$(app_field checkout-staging status)" = Succeeded
'

test_expect_success 'a push that touched none of an app'\''s inputs does not sync it' '
	synced=$(app_field catalog-staging lastSyncedCommit) &&
	bump_replicas 6 &&
	payload github-push.json push.json &&
	code=$(github push push.json) && test "$code" = 202 &&
	test_wait_for 300 synced_at_head &&
	test "$(app_field catalog-staging lastSyncedCommit)" = "$synced" &&
	test "$(app_field catalog-staging lastCheck)" = Unchanged
'

test_expect_success 'a redelivery (same delivery id) is acknowledged, not acted on' '
	payload github-push.json push.json &&
	sig=$(sign "$SECRET" push.json) &&
	for i in 1 2; do
		post /webhooks/github push.json -H "X-GitHub-Event: push" \
		    -H "X-GitHub-Delivery: 0b989ba4-242f-11e5-81e1-c7b8b4fc8a1d" \
		    -H "X-Hub-Signature-256: sha256=$sig" >code.$i
	done &&
	test "$(cat code.1)" = 202 && test "$(cat code.2)" = 202 &&
	test_grep duplicate reply
'

test_expect_success 'a push to another branch or repository is ignored' '
	payload github-push.json other.json "https://example.com/acme/other.git" &&
	code=$(github push other.json) && test "$code" = 202 &&
	test_grep "no configured repository" reply &&
	python3 -c "import json; d = json.load(open(\"push.json\")); d[\"ref\"] = \"refs/heads/dev\"; json.dump(d, open(\"dev.json\", \"w\"))" &&
	code=$(github push dev.json) && test "$code" = 202 &&
	test_grep "branch" reply
'

test_expect_success 'GitLab push: the token, compared in constant time' '
	bump_replicas 7 &&
	payload gitlab-push.json gl.json &&
	code=$(post /webhooks/gitlab gl.json -H "X-Gitlab-Event: Push Hook" \
	    -H "X-Gitlab-Token: wrong") && test "$code" = 401 &&
	code=$(post /webhooks/gitlab gl.json -H "X-Gitlab-Event: Push Hook" \
	    -H "X-Gitlab-Token: $SECRET") && test "$code" = 202 &&
	test_wait_for 300 synced_at_head
'

test_expect_success 'Gitea push: hex HMAC in X-Gitea-Signature' '
	bump_replicas 8 &&
	payload gitea-push.json gt.json &&
	code=$(post /webhooks/gitea gt.json -H "X-Gitea-Event: push" \
	    -H "X-Gitea-Signature: $(sign "$SECRET" gt.json)") &&
	test "$code" = 202 &&
	test_wait_for 300 synced_at_head
'

test_expect_success 'Gogs push on the gitea route: X-Gogs-Signature' '
	bump_replicas 9 &&
	payload gitea-push.json gg.json &&
	code=$(post /webhooks/gitea gg.json -H "X-Gogs-Event: push" \
	    -H "X-Gogs-Signature: $(sign "$SECRET" gg.json)") &&
	test "$code" = 202 &&
	test_wait_for 300 synced_at_head
'

test_expect_success 'form-encoded GitHub push: signed over the raw form body' '
	bump_replicas 10 &&
	payload github-push.json push.json &&
	form push.json push.form &&
	test_grep "^payload=%7B%22" push.form &&
	# the JSON'\''s signature does not sign the form
	code=$(post_form /webhooks/github push.form -H "X-GitHub-Event: push" \
	    -H "X-Hub-Signature-256: sha256=$(sign "$SECRET" push.json)") &&
	test "$code" = 401 &&
	code=$(post_form /webhooks/github push.form -H "X-GitHub-Event: push" \
	    -H "X-Hub-Signature-256: sha256=$(sign "$SECRET" push.form)") &&
	test "$code" = 202 &&
	test_wait_for 300 synced_at_head &&
	test "$(app_field checkout-staging lastWebhook.provider)" = github
'

test_expect_success 'form-encoded Gitea push: the raw body or its payload signed' '
	bump_replicas 11 &&
	payload gitea-push.json gt.json &&
	form gt.json gt.form &&
	code=$(post_form /webhooks/gitea gt.form -H "X-Gitea-Event: push" \
	    -H "X-Gitea-Signature: $(sign "not the secret" gt.form)") &&
	test "$code" = 401 &&
	code=$(post_form /webhooks/gitea gt.form -H "X-Gitea-Event: push" \
	    -H "X-Gitea-Signature: $(sign "$SECRET" gt.form)") &&
	test "$code" = 202 &&
	test_wait_for 300 synced_at_head &&
	# what Gitea and Forgejo sign: the JSON they put in the field
	bump_replicas 12 &&
	payload gitea-push.json gt.json &&
	form gt.json gt.form &&
	code=$(post_form /webhooks/gitea gt.form -H "X-Gitea-Event: push" \
	    -H "X-Gitea-Signature: $(sign "$SECRET" gt.json)") &&
	test "$code" = 202 &&
	test_wait_for 300 synced_at_head
'

test_expect_success 'a bad form body: 400 saying what is wrong, agent up' '
	before=$(fetches) &&
	printf "payload=%%7B%%7" >bad.form &&
	code=$(post_form /webhooks/github bad.form -H "X-GitHub-Event: push" \
	    -H "X-Hub-Signature-256: sha256=$(sign "$SECRET" bad.form)") &&
	test "$code" = 400 && test_grep "two hex digits at byte 12" reply &&
	printf "json=%%7B%%7D&x" >none.form &&
	code=$(post_form /webhooks/gitea none.form -H "X-Gitea-Event: push" \
	    -H "X-Gitea-Signature: $(sign "$SECRET" none.form)") &&
	test "$code" = 400 && test_grep "no .payload. field" reply &&
	printf "payload=%%7B%%22ref%%22" >cut.form &&
	code=$(post_form /webhooks/github cut.form -H "X-GitHub-Event: push" \
	    -H "X-Hub-Signature-256: sha256=$(sign "$SECRET" cut.form)") &&
	test "$code" = 400 && test_grep "body is not JSON" reply &&
	test "$(fetches)" = "$before" &&
	curl -sf "http://$AGENT/healthz" >/dev/null
'

# The limit is on the raw body, before the form is decoded: a form over
# it (announced, or chunked so that it is found out while read) is 413
# and never decoded; one of exactly the limit is read and decoded.
test_expect_success 'a form body over http_max_body: 413 before it is decoded' '
	before=$(fetches) &&
	malformed=$(metric "gitops_webhooks_total{provider=\"github\",result=\"malformed\"}") &&
	python3 -c "import sys; sys.stdout.write(\"payload=%7B\" + \"a\" * 26214400)" >big.form &&
	code=$(post_form /webhooks/github big.form -H "X-GitHub-Event: push") &&
	test "$code" = 413 &&
	code=$(post_form /webhooks/github big.form -H "X-GitHub-Event: push" \
	    -H "Transfer-Encoding: chunked") &&
	test "$code" = 413 &&
	test "$(metric "gitops_webhooks_total{provider=\"github\",result=\"malformed\"}")" = "$malformed" &&
	head -c 26214400 big.form >limit.form &&
	code=$(post_form /webhooks/github limit.form -H "X-GitHub-Event: push") &&
	test "$code" = 400 && test_grep "body is not JSON" reply &&
	test "$(fetches)" = "$before" &&
	curl -sf "http://$AGENT/healthz" >/dev/null
'

test_expect_success 'Bitbucket Server refs_changed: sha256= in X-Hub-Signature' '
	bump_replicas 10 &&
	payload bitbucket-server-refs-changed.json bb.json &&
	code=$(post /webhooks/bitbucket-server bb.json \
	    -H "X-Event-Key: repo:refs_changed" \
	    -H "X-Hub-Signature: sha256=$(sign "$SECRET" bb.json)") &&
	test "$code" = 202 &&
	test_wait_for 300 synced_at_head
'

test_expect_success 'generic (our post-receive hook): X-Signature' '
	bump_replicas 11 &&
	printf "{\"repository\": \"%s\", \"ref\": \"refs/heads/main\", \"after\": \"%s\"}" \
	    "$URL" "$(git -C work rev-parse HEAD)" >gen.json &&
	code=$(post /webhooks/generic gen.json -H "X-Gitops-Event: push" \
	    -H "X-Signature: sha256=$(sign "$SECRET" gen.json)") &&
	test "$code" = 202 &&
	test_wait_for 300 synced_at_head
'

test_expect_success 'POST /api/v1/apps/NAME/sync from loopback; unknown app 404' '
	code=$(curl -s -o reply -w "%{http_code}" -X POST \
	    "http://$AGENT/api/v1/apps/catalog-staging/sync") &&
	test "$code" = 202 &&
	code=$(curl -s -o reply -w "%{http_code}" -X POST \
	    "http://$AGENT/api/v1/apps/nope/sync") &&
	test "$code" = 404 &&
	code=$(curl -s -o reply -w "%{http_code}" \
	    "http://$AGENT/api/v1/apps/catalog-staging/sync") &&
	test "$code" = 405
'

test_expect_success 'a burst of 500 pushes: a handful of fetches, not 500' '
	bump_replicas 12 &&
	payload github-push.json push.json &&
	sig=$(sign "$SECRET" push.json) &&
	before=$(fetches) &&
	i=0 && : >urls &&
	while [ $i -lt 500 ]; do
		[ $i -eq 0 ] || echo next >>urls
		echo "url = \"http://$AGENT/webhooks/github\"" >>urls
		echo "-H \"X-GitHub-Event: push\"" >>urls
		echo "-H \"X-Hub-Signature-256: sha256=$sig\"" >>urls
		echo "-H \"X-GitHub-Delivery: burst-$i\"" >>urls
		echo "data-binary = \"@push.json\"" >>urls
		echo "-o /dev/null" >>urls
		echo "-w \"%{http_code}\\n\"" >>urls
		i=$((i + 1))
	done &&
	curl -s --parallel --parallel-max 8 -K urls >codes &&
	test "$(grep -c "^202$" codes)" = 500 &&
	test_wait_for 300 synced_at_head &&
	sleep 1 &&
	after=$(fetches) &&
	n=$((after - before)) &&
	echo "fetches for 500 pushes: $n" &&
	test "$n" -ge 1 && test "$n" -le 3
'

# signs SECRET CODE: a ping signed with SECRET is answered CODE.
signs() {
	test "$(github ping ping.json "$1")" = "$2"
}

test_expect_success 'webhook secret rotation: old, both, then new, no restart' '
	NEW="the new secret, rotated in" &&
	payload github-ping.json ping.json &&
	test_when_finished "printf \"%s\\n\" \"\$SECRET\" >secret" &&
	signs "$SECRET" 200 && signs "$NEW" 401 &&
	# add the new one (and a blank line): both verify
	printf "%s\n\n%s\n" "$SECRET" "$NEW" >secret &&
	test_wait_for 100 signs "$NEW" 200 &&
	signs "$SECRET" 200 &&
	# remove the old one: only the new one verifies
	printf "%s\n" "$NEW" >secret &&
	test_wait_for 100 signs "$SECRET" 401 &&
	signs "$NEW" 200 &&
	test_grep "webhook secret file changed" agent.log &&
	! grep -F "$NEW" agent.log &&
	! grep -F "$SECRET" agent.log
'

# pinged_refused: a ping made the agent read a file with no secret.
pinged_refused() {
	github ping ping.json "$NEW" >/dev/null &&
	grep -q "holds no secret" agent.log
}

test_expect_success 'webhook secret file: SIGHUP reads it again; an empty one is refused' '
	payload github-ping.json ping.json &&
	NEW="the new secret, rotated in" &&
	test_when_finished "printf \"%s\\n\" \"\$SECRET\" >secret" &&
	printf "%s\n" "$NEW" >secret &&
	test_wait_for 100 signs "$NEW" 200 &&
	# a file of blank lines leaves the secrets read before in place
	printf "\n\n" >secret &&
	test_wait_for 100 pinged_refused &&
	signs "$NEW" 200 &&
	printf "%s\n" "$SECRET" >secret &&
	kill -HUP "$(cat agent.pid)" &&
	test_wait_for 100 signs "$SECRET" 200 &&
	signs "$NEW" 401
'

test_expect_success 'gitops-agent status prints the apps as a table' '
	gitops_agent -c agent.yaml status >status.out &&
	test_grep "^APP " status.out &&
	test_grep "^checkout-staging  *Succeeded" status.out &&
	gitops_agent -c agent.yaml status --output json >status.json &&
	python3 -c "import json; assert len(json.load(open(\"status.json\"))) == 12"
'

test_expect_success 'SIGHUP with a bad file: the running configuration stays' '
	cp agent.yaml agent.good &&
	echo "bogus: 1" >>agent.yaml &&
	kill -HUP "$(cat agent.pid)" &&
	test_wait_for 100 grep -q "reload refused" agent.log &&
	curl -sf "http://$AGENT/api/v1/apps/checkout-staging" >/dev/null &&
	cp agent.good agent.yaml &&
	kill -HUP "$(cat agent.pid)" &&
	test_wait_for 100 grep -q "configuration reloaded" agent.log
'

app_succeeded() { # APP
	curl -s "http://$AGENT/api/v1/apps/$1" | python3 -c "import json, sys
sys.exit(json.load(sys.stdin).get(\"status\") != \"Succeeded\")"
}

test_expect_success 'SIGHUP that adds an app: it is synced at once' '
	cp agent.yaml agent.good &&
	test_when_finished "cp agent.good agent.yaml && kill -HUP \$(cat agent.pid)" &&
	sed -i "s|^versions:|  - name: extra-staging\n    repository: shop\n    path: apps/catalog-service/overlays/staging\n    target: {type: directory, path: ./live-extra}\n&|" agent.yaml &&
	gitops_agent -c agent.yaml check &&
	kill -HUP "$(cat agent.pid)" &&
	test_wait_for 300 app_succeeded extra-staging &&
	test -n "$(find live-extra -name "*.yaml")" &&
	curl -s "http://$AGENT/metrics" | grep -q "app=\"extra-staging\"" &&
	test_must_fail gitops_agent -c agent.yaml sync extra-staging-nope 2>err &&
	test_grep "extra-staging-nope" err
'

test_expect_success 'SIGHUP that removes an app: its series leave /metrics' '
	test_wait_for 100 sh -c "! curl -s http://$AGENT/metrics | grep -q extra-staging" &&
	curl -s "http://$AGENT/metrics" | grep -q "app=\"checkout-staging\""
'

test_expect_success 'SIGTERM: exits 0, and a restart converges from the state' '
	stop_agent &&
	bump_replicas 13 &&
	start_agent &&
	synced_at_head &&
	grep -q "replicas: 13" live/staging/shop-staging/Deployment.apps/checkout-service.yaml
'

test_expect_success 'restart in the middle of a burst: no lost sync, state intact' '
	bump_replicas 14 &&
	payload github-push.json push.json &&
	sig=$(sign "$SECRET" push.json) &&
	i=0 && : >urls &&
	while [ $i -lt 50 ]; do
		[ $i -eq 0 ] || echo next >>urls
		echo "url = \"http://$AGENT/webhooks/github\"" >>urls
		echo "-H \"X-GitHub-Event: push\"" >>urls
		echo "-H \"X-Hub-Signature-256: sha256=$sig\"" >>urls
		echo "data-binary = \"@push.json\"" >>urls
		echo "-o /dev/null" >>urls
		i=$((i + 1))
	done &&
	curl -s --parallel -K urls &
	sleep 0.05 &&
	stop_agent &&
	wait &&
	for f in state/apps/*/last-sync.json; do
		python3 -c "import json, sys; json.load(open(sys.argv[1]))" "$f" || exit 1
	done &&
	start_agent &&
	synced_at_head &&
	grep -q "replicas: 14" live/production/shop-production/Deployment.apps/checkout-service.yaml
'

test_expect_success 'stop: SIGTERM exits 0' '
	stop_agent
'

test_done
