#!/bin/sh
# quickstart.sh: run gitops-agent on the embedded default. The example
# shop (manifests/examples/ecommerce) becomes a bare repository served by
# `git daemon` on 127.0.0.1, with hooks/post-receive installed so every
# push sends the agent a signed webhook; the agent syncs it into a
# directory target (./quickstart/live) and serves webhooks, the API and
# metrics on 127.0.0.1:8080. Run it from the build directory (it uses
# ./gitops-agent); Ctrl-C stops the agent and the git daemon.
#
# Environment: QUICKSTART_DIR (default ./quickstart), GITOPS_PORT (8080),
# GIT_DAEMON_PORT (9418).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
agent=${GITOPS_AGENT:-./gitops-agent}
dir=${QUICKSTART_DIR:-./quickstart}
port=${GITOPS_PORT:-8080}
gport=${GIT_DAEMON_PORT:-9418}
[ -x "$agent" ] || { echo "quickstart: no $agent here: run it from the build directory" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
url="git://127.0.0.1:$gport/infra.git"

if [ ! -d "$dir/srv/infra.git" ]; then
	git init -q --bare -b main "$dir/srv/infra.git"
	tmp=$(mktemp -d)
	cp -R "$top/manifests/examples/ecommerce/." "$tmp/"
	rm "$tmp/gitops-agent.yaml"
	git -C "$tmp" init -q -b main
	git -C "$tmp" add -A
	git -C "$tmp" -c user.name=quickstart -c user.email=quickstart@localhost \
	    commit -q -m "The example shop"
	git -C "$tmp" push -q "$dir/srv/infra.git" main
	rm -rf "$tmp"
fi
if [ ! -f "$dir/webhook-secret" ]; then
	(umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$dir/webhook-secret")
fi
cp "$top/hooks/post-receive" "$dir/srv/infra.git/hooks/post-receive"
chmod +x "$dir/srv/infra.git/hooks/post-receive"
git --git-dir="$dir/srv/infra.git" config gitops.url "http://127.0.0.1:$port"
git --git-dir="$dir/srv/infra.git" config gitops.repository "$url"
git --git-dir="$dir/srv/infra.git" config gitops.secretFile "$dir/webhook-secret"

{
	echo "# Written by contrib/quickstart.sh."
	echo "listen: 127.0.0.1:$port"
	echo "state_dir: ./state"
	echo "repositories:"
	echo "  - name: shop"
	echo "    url: $url"
	echo "    poll_interval: 3m"
	echo "    webhook_secret_file: webhook-secret"
	sed -n '/^apps:/,$p' "$top/manifests/examples/ecommerce/gitops-agent.yaml" |
	    sed 's|\.\./\.\./\.\./live|./live|'
	echo "  author_name: gitops-agent quickstart"
	echo "  author_email: quickstart@localhost"
} >"$dir/gitops-agent.yaml"

git daemon --reuseaddr --base-path="$dir/srv" --export-all \
    --enable=receive-pack --listen=127.0.0.1 --port="$gport" "$dir/srv" &
daemon_pid=$!
agent_pid=
stop() {
	[ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid"
	kill "$daemon_pid" 2>/dev/null
}
trap 'stop' EXIT
trap 'exit 0' INT TERM

cat <<MSG
gitops-agent quickstart in $dir
  repository  $url (git daemon, pushes send a signed webhook)
  live state  $dir/live   agent state  $dir/state
  agent       http://127.0.0.1:$port  (/api/v1/apps, /metrics, /healthz)

Push a change from another terminal:
  git clone $url work && cd work
  sed -i 's/replicas: .*/replicas: 4/' apps/checkout-service/base/deployment.yaml
  git commit -qam 'checkout: 4 replicas' && git push   # the hook sends the webhook
  $agent -c $dir/gitops-agent.yaml status

Send a signed webhook by hand (what hooks/post-receive does):
  body='{"repository": "$url", "ref": "refs/heads/main"}'
  sig=\$(printf '%s' "\$body" | openssl dgst -sha256 -hmac "\$(cat $dir/webhook-secret)" | sed 's/^.* //')
  curl -X POST -H 'X-Gitops-Event: push' -H "X-Signature: sha256=\$sig" --data "\$body" http://127.0.0.1:$port/webhooks/generic

MSG
"$agent" -c "$dir/gitops-agent.yaml" serve &
agent_pid=$!
wait "$agent_pid"
