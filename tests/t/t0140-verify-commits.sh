#!/bin/sh
# t0140-verify-commits: verify_commits on a repository served by a real
# `git daemon` on 127.0.0.1, with keys made by ssh-keygen (and gpg). A
# commit signed by an allowed key is applied; an unsigned one, one signed
# by a key not listed, one whose signature was moved onto another tree and
# one signed for another namespace are refused by sync and by serve, each
# naming the commit and why, and what is live stays the verified commit's
# (nothing applied, nothing pruned); the agent's own signed bumps verify.
. "$TEST_SRCDIR/tests/lib.sh"

mkdir -p srv && git init -q --bare -b main srv/infra.git || exit 1
test_git_daemon "$TRASH/srv"
URL="git://127.0.0.1:$GIT_DAEMON_PORT/infra.git"
for k in alice mallory deploy; do
	ssh-keygen -q -t ed25519 -N "" -C "$k" -f "$k" || exit 1
done
{
	echo "# who may change what the agent applies"
	echo "alice@example.com $(cat alice.pub)"
	echo "deploy@example.com namespaces=\"git\" $(cat deploy.pub)"
} >allowed_signers

write_config() { # FILE [VERSIONS LINES]
	cat >"$1" <<-EOF
	state_dir: ./state
	repositories:
	  - name: infra
	    url: $URL
	    timeout: 10s
	    verify_commits: {allowed_signers: ./allowed_signers}
	apps:
	  - name: web
	    repository: infra
	    path: apps/web
	    target: {type: directory, path: ./live}
	    service: web
	    environment: prod
	versions:
	  repository: infra
	  author_name: Deploy Bot
	  author_email: deploy@example.com
	${2:-}
	EOF
}
write_config agent.yaml "  signing_key: ./deploy"

web_config() { # COLOR
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: shop\ndata:\n  color: %s\n" \
	    "$1" >work/apps/web/config.yaml
}

# Commit the web app in this color (with these git options), push it.
commit_color() { # COLOR [GIT OPTIONS]
	c=$1
	shift
	web_config "$c" &&
	git -C work add -A &&
	git -C work "$@" commit -q -m "web: $c" &&
	git -C work push -q -f origin main
}

# The work repository at the remote's tip.
work_at_remote() {
	git -C work fetch -q origin &&
	git -C work reset -q --hard origin/main
}

# A commit object: PAYLOAD (a commit's text) with SIG as its gpgsig
# header, written to the work repository; its id on stdout.
commit_with_sig() { # PAYLOAD SIG
	python3 -c '
import sys
payload = open(sys.argv[1]).read()
sig = open(sys.argv[2]).read().rstrip("\n")
head, body = payload.split("\n\n", 1)
sys.stdout.write(head + "\ngpgsig " + sig.replace("\n", "\n ") + "\n\n" + body)
' "$1" "$2" | git -C work hash-object -t commit -w --stdin
}

# Move main to a commit made by hand and push it.
push_commit() { # ID
	git -C work update-ref refs/heads/main "$1" &&
	git -C work push -q -f origin main
}

refused() { # WHY: sync fails on the remote's tip, saying why; live kept
	tip=$(git -C work rev-parse HEAD) &&
	test_tree_digest live >before &&
	test_expect_code 1 gitops_agent -c agent.yaml sync web >out 2>err &&
	test_grep "^web: commit $tip is not verified: $1" err &&
	test_tree_digest live >after &&
	test_cmp before after &&
	test_grep "\"status\":[[:space:]]*\"Failed\"" state/apps/web/last-sync.json &&
	test_grep "\"error\":[[:space:]]*\"commit $tip is not verified: $1" \
	    state/apps/web/last-sync.json
}

test_expect_success 'setup: a repository whose commits alice signs (SSH)' '
	git init -q -b main work &&
	git -C work remote add origin "$URL" &&
	git -C work config gpg.format ssh &&
	git -C work config user.signingkey "$TRASH/alice" &&
	git -C work config commit.gpgsign true &&
	mkdir -p work/apps/web &&
	printf "prod:\n  web: v1\n" >work/versions.yaml &&
	printf "resources:\n  - config.yaml\n  - extra.yaml\nimages:\n  - name: example/web\n    newTag: v1\n" \
	    >work/apps/web/kustomization.yaml &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: shop\n" \
	    >work/apps/web/extra.yaml &&
	commit_color blue &&
	git -C work -c gpg.ssh.allowedSignersFile="$TRASH/allowed_signers" \
	    verify-commit HEAD
'

test_expect_success 'check: verify_commits needs files that list keys' '
	gitops_agent -c agent.yaml check &&
	sed "s|./allowed_signers|./nope|" agent.yaml >missing.yaml &&
	test_expect_code 1 gitops_agent -c missing.yaml check 2>err &&
	test_grep "repository .infra.: verify_commits: allowed_signers: .*nope.*No such file" err &&
	: >empty && sed "s|./allowed_signers|./empty|" agent.yaml >empty.yaml &&
	test_expect_code 1 gitops_agent -c empty.yaml check 2>err &&
	test_grep "allowed_signers .*empty. lists no key" err &&
	echo "# nobody" >comments &&
	sed "s|./allowed_signers|./comments|" agent.yaml >comments.yaml &&
	test_expect_code 1 gitops_agent -c comments.yaml check 2>err &&
	test_grep "lists no key" err &&
	sed "s|{allowed_signers: ./allowed_signers}|{}|" agent.yaml >none.yaml &&
	test_expect_code 1 gitops_agent -c none.yaml check 2>err &&
	test_grep "needs .allowed_signers. (SSH) or .keyring. (OpenPGP)" err &&
	sed "s|    url: .*|    directory: ./work|" agent.yaml >dir.yaml &&
	test_expect_code 1 gitops_agent -c dir.yaml check 2>err &&
	test_grep "verifies commits, but a .directory. has none" err &&
	sed "s|{allowed_signers: ./allowed_signers}|{keyring: ./alice.pub}|" \
	    agent.yaml >ring.yaml &&
	test_expect_code 1 env PATH=/nonexistent "$GITOPS_AGENT" -c ring.yaml \
	    check 2>err &&
	test_grep "needs gpgv, which is not installed" err
'

test_expect_success 'a commit signed by an allowed key is applied' '
	gitops_agent -v -c agent.yaml sync web >out 2>err &&
	test_grep "^web: synced in .*: 2 created" out &&
	test_grep "signer=\"alice@example.com with ED25519 key SHA256:" err &&
	test_grep "color: blue" live/shop/ConfigMap/web.yaml &&
	test -f live/shop/ConfigMap/extra.yaml &&
	git -C work rev-parse HEAD >verified &&
	test_grep "\"revision\":[[:space:]]*\"$(cat verified)\"" state/apps/web/last-sync.json
'

test_expect_success 'an unsigned commit on top is refused: nothing applied, nothing pruned' '
	git -C work rm -q apps/web/extra.yaml &&
	sed -i "/extra.yaml/d" work/apps/web/kustomization.yaml &&
	commit_color red -c commit.gpgsign=false &&
	refused "it is not signed" &&
	test_grep "color: blue" live/shop/ConfigMap/web.yaml &&
	test -f live/shop/ConfigMap/extra.yaml
'

test_expect_success 'diff shows the unverified commit and warns that sync refuses it' '
	test_expect_code 1 gitops_agent -c agent.yaml diff web >out 2>err &&
	test_grep "^+  color: red" out &&
	test_grep "not applied by a sync.*not verified: it is not signed" err
'

test_expect_success 'a commit signed by a key not in allowed_signers is refused' '
	commit_color orange -c user.signingkey="$TRASH/mallory" &&
	fp=$(ssh-keygen -lf mallory.pub | cut -d" " -f2) &&
	refused "it is signed by a key not in allowed_signers .*allowed_signers.: ED25519 key $fp"
'

test_expect_success 'a good signature moved onto another tree is refused' '
	evil_tree=$(git -C work rev-parse "HEAD^{tree}") &&
	git -C work reset -q --hard "$(cat verified)" &&
	web_config green &&
	git -C work commit -q -a -m "web: green" &&
	git -C work cat-file commit HEAD |
	    sed "s/^tree .*/tree $evil_tree/" >forged &&
	push_commit "$(git -C work hash-object -t commit -w --stdin <forged)" &&
	refused "bad signature: .*incorrect signature"
'

test_expect_success 'a signature for another namespace is refused' '
	git -C work reset -q --hard "$(cat verified)" &&
	web_config yellow &&
	git -C work -c commit.gpgsign=false commit -q -a -m "web: yellow" &&
	git -C work cat-file commit HEAD >payload &&
	ssh-keygen -q -Y sign -n file -f alice payload &&
	push_commit "$(commit_with_sig payload payload.sig)" &&
	refused "bad signature: .*namespace"
'

test_expect_success 'a good signed commit on top applies again' '
	git -C work reset -q --hard "$(cat verified)" &&
	commit_color green &&
	gitops_agent -c agent.yaml sync web >out &&
	test_grep "^web: synced in .*: 0 created, 1 updated" out &&
	test_grep "color: green" live/shop/ConfigMap/web.yaml &&
	test_grep "\"status\":[[:space:]]*\"Succeeded\"" state/apps/web/last-sync.json
'

test_expect_success 'the agent signs its bumps with a key in allowed_signers: they verify' '
	gitops_agent -c agent.yaml bump --service web --environment prod \
	    --version v2 &&
	bump=$(git ls-remote "$URL" refs/heads/main | cut -f1) &&
	gitops_agent -v -c agent.yaml sync web >out 2>err &&
	test_grep "signer=\"deploy@example.com with ED25519 key" err &&
	test_grep "\"revision\":[[:space:]]*\"$bump\"" state/apps/web/last-sync.json &&
	write_config unsigned.yaml &&
	gitops_agent -c unsigned.yaml bump --service web --environment prod \
	    --version v3 &&
	work_at_remote &&
	refused "it is not signed"
'

PORT=$(test_free_port)
AGENT="127.0.0.1:$PORT"
test_cleanup_pidfile "$TRASH/agent.pid"

last_error() {
	curl -s "http://$AGENT/api/v1/apps/web" | python3 -c '
import json, sys
v = json.load(sys.stdin)
print(v["status"], (v.get("lastSync") or {}).get("error"))'
}

test_expect_success 'serve: an unverified tip is not applied; the API and the log say why' '
	{ echo "listen: $AGENT"; cat agent.yaml; } >serve.yaml &&
	sed -i "s/timeout: 10s/timeout: 10s\n    poll_interval: 10m/" serve.yaml &&
	tip=$(git ls-remote "$URL" refs/heads/main | cut -f1) &&
	test_tree_digest live >before &&
	{ "$GITOPS_AGENT" -c serve.yaml serve >agent.log 2>&1 &
	  echo $! >agent.pid; } &&
	test_wait_for 600 curl -sf "http://$AGENT/readyz" &&
	test_wait_for 300 sh -c "grep -q \"is not verified\" agent.log" &&
	last_error >status &&
	test_grep "^Failed commit $tip is not verified: it is not signed" status &&
	test_grep "commit $tip is not verified: it is not signed" agent.log &&
	gitops_agent -c serve.yaml status >status &&
	test_grep "^web .*Failed .*commit $tip is not verified: it is not signed" status &&
	test_tree_digest live >after &&
	test_cmp before after &&
	kill "$(cat agent.pid)"
'

if command -v gpg >/dev/null && command -v gpgv >/dev/null; then
	test_have_gpg=1
else
	test_have_gpg=
fi

if [ -n "$test_have_gpg" ]; then
test_expect_success 'OpenPGP: a commit signed by a key in the keyring applies, others do not' '
	export GNUPGHOME="$TRASH/gnupg" &&
	mkdir -m 700 gnupg &&
	for who in alice eve; do
		gpg -q --batch --pinentry-mode loopback --passphrase "" \
		    --quick-gen-key "$who <$who@example.com>" ed25519 sign never ||
		    return 1
	done &&
	gpg -q --export alice@example.com >keyring.gpg &&
	sed "s|{allowed_signers: ./allowed_signers}|{keyring: keyring.gpg}|" \
	    agent.yaml >pgp.yaml &&
	gitops_agent -c pgp.yaml check &&
	work_at_remote &&
	commit_color purple -c gpg.format=openpgp \
	    -c user.signingkey=alice@example.com &&
	gitops_agent -v -c pgp.yaml sync web >out 2>err &&
	test_grep "color: purple" live/shop/ConfigMap/web.yaml &&
	test_grep "signer=\"alice <alice@example.com> (key " err &&
	git -C work -c gpg.format=openpgp -c user.signingkey=eve@example.com \
	    commit -q --allow-empty -S -m "eve was here" &&
	git -C work push -q origin main &&
	tip=$(git -C work rev-parse HEAD) &&
	test_expect_code 1 gitops_agent -c pgp.yaml sync web 2>err &&
	test_grep "commit $tip is not verified: it is signed by a key not in keyring .keyring.gpg.: OpenPGP key " err &&
	git -C work -c commit.gpgsign=true commit -q --allow-empty -m "ssh-signed" &&
	git -C work push -q origin main &&
	test_expect_code 1 gitops_agent -c pgp.yaml sync web 2>err &&
	test_grep "it has an SSH signature, and verify_commits sets no .allowed_signers." err
'
else
	test_skip 'OpenPGP signatures' 'gpg or gpgv is not installed'
fi

test_done
