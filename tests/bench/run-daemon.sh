#!/bin/sh
# run-daemon.sh: the daemon's figures on loopback.
#
#   (1) signed webhook intake: wrk (1 thread, 8 keep-alive connections,
#       BENCH_SECONDS each) POSTs a signed GitHub push (a real payload
#       shape, a fresh X-GitHub-Delivery per request) to `gitops-agent
#       serve`, then the same signed payload to Debian's `webhook`
#       (adnanh/webhook) with a payload-hmac-sha256 rule: requests per
#       second, latency, and each server's peak RSS (VmHWM) through it.
#       The agent is measured twice: pushes for the commit it already
#       fetched (answered without a fetch), and pushes for a commit it
#       has not seen (each folds into the one queued fetch).
#   (2) webhook to applied: an app of 100 resources in 3 waves; BENCH_N
#       times, commit a change to a wave-1 resource, push it to a real
#       `git daemon`, send the signed webhook and time until the target
#       file holds the new value: p50, p99, max.
#
# Usage: run-daemon.sh GITOPS_AGENT [WORKDIR]. Bounded: fixed durations
# and counts; every server is stopped by the exit trap.
set -eu

AGENT=$1
WORK=${2:-${BENCH_DIR:-tests/bench/work}/daemon}
SECONDS_EACH=${BENCH_SECONDS:-10}
N=${BENCH_N:-50}
SECRET="bench secret"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
command -v wrk >/dev/null || { echo "run-daemon: wrk is not installed" >&2; exit 1; }
command -v webhook >/dev/null || { echo "run-daemon: webhook is not installed" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cd "$WORK"
export HOME="$WORK" GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
GPORT=$(free_port)
APORT=$(free_port)
WPORT=$(free_port)
URL="git://127.0.0.1:$GPORT/infra.git"
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; wait 2>/dev/null' EXIT

mkdir srv
git init -q --bare -b main srv/infra.git
git daemon --reuseaddr --base-path="$WORK/srv" --export-all \
    --enable=receive-pack --listen=127.0.0.1 --port="$GPORT" "$WORK/srv" \
    >daemon.log 2>&1 &
pids="$pids $!"

# An app of 100 ConfigMaps: 20 in wave -1, 40 in wave 0, 40 in wave 1.
git init -q -b main work
mkdir -p work/app
for i in $(seq 1 100); do
	if [ "$i" -le 20 ]; then w=-1; elif [ "$i" -le 60 ]; then w=0; else w=1; fi
	cat >"work/app/cm$i.yaml" <<-EOF
	apiVersion: v1
	kind: ConfigMap
	metadata:
	  name: cm$i
	  namespace: bench
	  annotations:
	    argocd.argoproj.io/sync-wave: "$w"
	data:
	  value: "0"
	EOF
done
git -C work add -A && git -C work commit -q -m init
tries=50
until git -C work push -q "$URL" main 2>/dev/null; do
	tries=$((tries - 1)); [ $tries -gt 0 ] || exit 1; sleep 0.1
done
printf '%s\n' "$SECRET" >secret
cat >agent.yaml <<EOF
listen: 127.0.0.1:$APORT
state_dir: ./state
log_level: warn
repositories:
  - name: infra
    url: $URL
    poll_interval: 1h
    webhook_secret_file: secret
apps:
  - name: bench
    repository: infra
    path: app
    target: {type: directory, path: ./live}
EOF

"$AGENT" -c agent.yaml serve >agent.log 2>&1 &
APID=$!
pids="$pids $APID"
tries=600
until curl -sf "http://127.0.0.1:$APORT/readyz" >/dev/null 2>&1; do
	tries=$((tries - 1)); [ $tries -gt 0 ] || { cat agent.log; exit 1; }
	sleep 0.1
done

# payload FILE AFTER: a GitHub push for our repository.
payload() {
	python3 - "$TOP/tests/fixtures/webhooks/github-push.json" "$1" "$URL" "$2" <<-'EOF'
	import json, sys
	src, out, url, after = sys.argv[1:5]
	d = json.load(open(src))
	d["repository"]["clone_url"] = url
	d["ref"] = "refs/heads/main"
	d["after"] = after
	json.dump(d, open(out, "w"))
	EOF
}
sig_of() {
	python3 -c 'import hmac, hashlib, sys
print(hmac.new(sys.argv[1].encode(), open(sys.argv[2], "rb").read(),
    hashlib.sha256).hexdigest())' "$SECRET" "$1"
}
# A wrk script POSTing a file with its signature, a new delivery id each.
wrk_script() { # BODY SIG OUT EXTRA-HEADER
	python3 - "$@" <<-'EOF'
	import json, sys
	body, sig, out, extra = sys.argv[1:5]
	b = open(body).read()
	with open(out, "w") as f:
	    f.write("local body = %s\n" % json.dumps(b))
	    f.write("local n = 0\n")
	    f.write("request = function()\n  n = n + 1\n")
	    f.write("  return wrk.format('POST', nil, {['Content-Type'] = 'application/json', ['X-GitHub-Event'] = 'push', ['X-Hub-Signature-256'] = 'sha256=%s', ['X-GitHub-Delivery'] = 'bench-' .. n .. '-' .. math.random(1e9)%s}, body)\nend\n" % (sig, extra))
	EOF
}
hwm_kb() { awk '/VmHWM/ { print $2 }' "/proc/$1/status"; }
rss_kb() { awk '/VmRSS/ { print $2 }' "/proc/$1/status"; }
run_wrk() { # KEY LABEL SCRIPT URL PID
	key=$1
	shift
	out=$(wrk -t1 -c8 -d"${SECONDS_EACH}s" --latency -s "$2" "$3")
	rps=$(printf '%s\n' "$out" | awk '/Requests\/sec/ { print $2 }')
	p50=$(printf '%s\n' "$out" | awk '$1 == "50%" { print $2 }')
	p99=$(printf '%s\n' "$out" | awk '$1 == "99%" { print $2 }')
	non2xx=$(printf '%s\n' "$out" | awk '/Non-2xx/ { print $NF }')
	printf '    %-44s %9s req/s  p50 %-8s p99 %-8s peak RSS %5.1f MB%s\n' "$1" \
	    "$rps" "$p50" "$p99" "$(echo "$(hwm_kb "$4")" | awk '{ print $1 / 1024 }')" \
	    "${non2xx:+  non-2xx $non2xx}"
	echo "$rps" >"rps.$key"
}

head=$(git -C work rev-parse HEAD)
payload known.json "$head"
payload unknown.json "0123456789abcdef0123456789abcdef01234567"
wrk_script known.json "$(sig_of known.json)" known.lua ""
wrk_script unknown.json "$(sig_of unknown.json)" unknown.lua ""

echo "(1) signed webhook intake, wrk -t1 -c8 -d${SECONDS_EACH}s, loopback:"
echo "    gitops-agent RSS before: $(echo "$(rss_kb $APID)" | awk '{ printf "%.1f MB", $1 / 1024 }')"
run_wrk known "gitops-agent, push for the fetched commit" known.lua \
    "http://127.0.0.1:$APORT/webhooks/github" "$APID"
agent_rps=$(cat rps.known)
run_wrk unknown "gitops-agent, push for a new commit" unknown.lua \
    "http://127.0.0.1:$APORT/webhooks/github" "$APID"
# The ceiling of this HTTP stack on this machine: a GET with no work.
printf 'wrk.method = "GET"\n' >get.lua
run_wrk ceiling "gitops-agent, GET /healthz (no work: the ceiling)" get.lua \
    "http://127.0.0.1:$APORT/healthz" "$APID"
fetches=$(curl -s "http://127.0.0.1:$APORT/metrics" |
    awk '/^gitops_fetches_total/ { n += $2 } END { print n + 0 }')
echo "    fetches the agent made through both runs: $fetches"

cat >hooks.json <<EOF
[
  {
    "id": "github",
    "execute-command": "/bin/true",
    "response-message": "accepted",
    "trigger-rule": {
      "match": {
        "type": "payload-hmac-sha256",
        "secret": "$SECRET",
        "parameter": { "source": "header", "name": "X-Hub-Signature-256" }
      }
    }
  }
]
EOF
webhook -hooks hooks.json -ip 127.0.0.1 -port "$WPORT" >webhook.log 2>&1 &
WHPID=$!
pids="$pids $WHPID"
tries=100
until curl -s -o /dev/null "http://127.0.0.1:$WPORT/hooks/github" 2>/dev/null; do
	tries=$((tries - 1)); [ $tries -gt 0 ] || { cat webhook.log; exit 1; }
	sleep 0.1
done
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @known.json \
    -H "X-Hub-Signature-256: sha256=$(sig_of known.json)" \
    -H 'Content-Type: application/json' "http://127.0.0.1:$WPORT/hooks/github")
[ "$code" = 200 ] || { echo "webhook did not accept the signed payload ($code)"; exit 1; }
run_wrk peer "webhook $(webhook -version | awk '{ print $3 }') (payload-hmac-sha256 rule)" known.lua \
    "http://127.0.0.1:$WPORT/hooks/github" "$WHPID"
peer_rps=$(cat rps.peer)
echo "$agent_rps $peer_rps" | awk '{ r = $1 / $2; printf "    gitops-agent vs webhook: %.1fx (target: at least 20x) %s\n", r, (r >= 20 ? "met" : "NOT met") }'
hwm=$(hwm_kb $APID)
echo "$hwm" | awk '{ printf "    gitops-agent peak RSS: %.1f MB (target: under 16 MB) %s\n", $1 / 1024, ($1 < 16384 ? "met" : "NOT met") }'

echo "(2) webhook to applied, 100 resources in 3 waves, n=$N:"
python3 - "$N" "$URL" "$APORT" "$SECRET" "$TOP/tests/fixtures/webhooks/github-push.json" <<'EOF'
import hashlib, hmac, json, subprocess, sys, time, urllib.request
n, url, port, secret, fixture = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
target = "live/bench/ConfigMap/cm100.yaml"
lat = []
for i in range(1, n + 1):
    with open("work/app/cm100.yaml") as f:
        text = f.read()
    text = text.replace('value: "%d"' % (i - 1), 'value: "%d"' % i)
    with open("work/app/cm100.yaml", "w") as f:
        f.write(text)
    subprocess.run(["git", "-C", "work", "commit", "-q", "-am", "v%d" % i], check=True)
    subprocess.run(["git", "-C", "work", "push", "-q", url, "main"], check=True)
    head = subprocess.run(["git", "-C", "work", "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    d = json.load(open(fixture))
    d["repository"]["clone_url"] = url
    d["ref"] = "refs/heads/main"
    d["after"] = head
    body = json.dumps(d).encode()
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    req = urllib.request.Request("http://127.0.0.1:%s/webhooks/github" % port, data=body,
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + sig,
                 "X-GitHub-Delivery": "lat-%d" % i, "Content-Type": "application/json"})
    want = 'value: "%d"' % i
    t0 = time.monotonic()
    urllib.request.urlopen(req, timeout=10).read()
    deadline = t0 + 30
    while True:
        try:
            with open(target) as f:
                if want in f.read():
                    break
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            sys.exit("change %d not applied within 30 s" % i)
        time.sleep(0.0005)
    lat.append((time.monotonic() - t0) * 1000)
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print("    p50 %.1f ms, p99 %.1f ms, max %.1f ms (target: p50 under 100 ms) %s" %
      (p(0.5), p(0.99), lat[-1], "met" if p(0.5) < 100 else "NOT met"))
EOF
hwm=$(hwm_kb $APID)
echo "$hwm" | awk '{ printf "    gitops-agent peak RSS after everything: %.1f MB\n", $1 / 1024 }'
