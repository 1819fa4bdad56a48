#!/bin/sh
# t0110-git-sync: apps of a Git repository through the command line, on a
# real `git daemon` on 127.0.0.1: sync fetches the branch and applies its
# tip, records the commit, follows a new push; --revision reads an older
# commit; a remote that never answers ends at the repository's deadline
# with a clear error and live untouched.
. "$TEST_SRCDIR/tests/lib.sh"

mkdir -p srv && git init -q --bare srv/infra.git || exit 1
test_git_daemon "$TRASH/srv"
URL="git://127.0.0.1:$GIT_DAEMON_PORT/infra.git"
# A remote that accepts every connection and never says a word.
test_hang_server "$TRASH/hang.log"

write_config() { # FILE URL
	cat >"$1" <<-EOF
	state_dir: ./state
	repositories:
	  - name: infra
	    url: $2
	    branch: main
	    timeout: 2s
	apps:
	  - name: db
	    repository: infra
	    path: apps/db
	    target: {type: directory, path: ./live}
	  - name: web
	    repository: infra
	    path: apps/web
	    target: {type: directory, path: ./live}
	    depends_on: [db]
	EOF
}
write_config agent.yaml "$URL"
write_config hang.yaml "git://127.0.0.1:$HANG_PORT/infra.git"

set_color() { # COLOR [DB]: commit and push it
	(
		cd work &&
		mkdir -p apps/web apps/db &&
		printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: shop\ndata:\n  color: %s\n" \
		    "$1" >apps/web/config.yaml &&
		printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db\n  namespace: shop\ndata:\n  schema: \"%s\"\n" \
		    "${2:-1}" >apps/db/config.yaml &&
		git add -A && git commit -q -m "web: $1" &&
		git push -q origin main
	)
}

test_expect_success 'setup: a repository with one app, pushed over git://' '
	git init -q -b main work &&
	git -C work remote add origin "$URL" &&
	set_color blue &&
	git -C work rev-parse HEAD >first
'

test_expect_success 'sync fetches the branch and applies its tip' '
	gitops_agent -c agent.yaml sync web >out &&
	test_grep "^db: synced in .*: 1 created" out &&
	test_grep "^web: synced in .*: 1 created" out &&
	test_grep "color: blue" live/shop/ConfigMap/web.yaml &&
	test -d state/repos/infra.git &&
	test_grep "\"revision\":.*\"$(cat first)\"" state/apps/web/last-sync.json
'

test_expect_success 'a new push is seen by diff and applied by sync' '
	set_color green &&
	git -C work rev-parse HEAD >second &&
	test_expect_code 1 gitops_agent -c agent.yaml diff web >out &&
	test_grep "^-  color: blue" out &&
	test_grep "^+  color: green" out &&
	gitops_agent -c agent.yaml sync web >out &&
	test_grep "^web: synced in .*: 0 created, 1 updated" out &&
	test_grep "color: green" live/shop/ConfigMap/web.yaml &&
	test_grep "\"revision\":.*\"$(cat second)\"" state/apps/web/last-sync.json
'

test_expect_success '--revision reads an older commit' '
	gitops_agent -c agent.yaml validate web --revision "$(cat first)" >out &&
	test_grep "^web: 1 resources OK" out &&
	short=$(cut -c1-7 first) &&
	gitops_agent -c agent.yaml validate web --revision "$short" >out &&
	test_grep "^web: 1 resources OK" out &&
	test_expect_code 1 gitops_agent -c agent.yaml plan web \
	    --revision no-such-ref 2>err &&
	test_grep "no-such-ref" err
'

test_expect_success '--revision with --path is refused' '
	test_expect_code 1 gitops_agent plan --path . --revision main 2>err &&
	test_grep "revision reads an app from its Git repository" err
'

test_expect_success '--revision reads the named app only; dependencies at their tip' '
	set_color green 2 &&
	gitops_agent -c agent.yaml sync web --revision "$(cat first)" >out &&
	test_grep "color: blue" live/shop/ConfigMap/web.yaml &&
	test_grep "schema: \"2\"" live/shop/ConfigMap/db.yaml
'

test_expect_success 'a remote that never answers ends at its deadline, once per run, live untouched' '
	test_tree_digest live >before &&
	rm -f hang.log &&
	test_expect_code 1 gitops_agent -c hang.yaml sync >out 2>err &&
	test_grep "cannot fetch .git://127.0.0.1:$HANG_PORT/infra.git.: no answer within 2s" err &&
	test_grep "web: not synced: a dependency did not sync" err &&
	test "$(grep -c accepted hang.log)" -eq 1 &&
	test_tree_digest live >after &&
	test_cmp before after
'

test_expect_success 'a configured token is read for the fetch, and a missing one is named' '
	sed "s/^    timeout: 2s\$/    timeout: 2s\n    token_env: GITOPS_TEST_TOKEN/" agent.yaml >token.yaml &&
	test_grep "token_env" token.yaml &&
	test_expect_code 1 env -u GITOPS_TEST_TOKEN "$GITOPS_AGENT" -c token.yaml \
	    sync db >out 2>err &&
	test_grep "repository .infra.: cannot read its token: environment variable .GITOPS_TEST_TOKEN. is not set" err &&
	GITOPS_TEST_TOKEN=t0k3n-value gitops_agent -c token.yaml -vv sync db >out 2>err &&
	test_grep "^db: synced in " out &&
	test_grep -v "t0k3n-value" err
'

packs() { ls state/repos/infra.git/objects/pack/ | grep -c "^pack-.*\.pack$"; }

# Each fetch adds a pack: past 16 the fetch ends with one `git repack`.
test_expect_success '60 pushes and fetches leave at most 17 packs, the cache whole' '
	# The same cache, with a deadline no loaded machine reaches.
	sed "s/^    timeout: 2s\$/    timeout: 60s/" agent.yaml >patient.yaml &&
	test_grep "timeout: 60s" patient.yaml &&
	for i in $(seq 1 60); do
		git -C work commit -q --allow-empty -m "push $i" &&
		git -C work push -q origin main &&
		gitops_agent -c patient.yaml validate db >out 2>err &&
		test "$(packs)" -le 17 || { echo "after push $i: $(packs) packs"; exit 1; }
	done &&
	git --git-dir=state/repos/infra.git fsck --no-dangling 2>&1 &&
	gitops_agent -c patient.yaml validate web --revision "$(cat first)" >out &&
	test_grep "^web: 1 resources OK" out &&
	set_color c61 && gitops_agent -c patient.yaml sync web >out &&
	test_grep "color: c61" live/shop/ConfigMap/web.yaml
'

# A tree object git's own tools would never write: an entry named
# "../../escaped". Reading the commit must refuse it, never follow it.
test_expect_success 'a crafted tree entry leading out of the tree is refused' '
	(
		cd work &&
		blob=$(echo escaped | git hash-object -w --stdin) &&
		python3 -c "
import sys, binascii
sys.stdout.buffer.write(b\"100644 ../../escaped\\0\" + binascii.unhexlify(sys.argv[1]))
" "$blob" >../evil.tree &&
		evil=$(git hash-object -t tree -w --literally ../evil.tree) &&
		web=$({ git ls-tree HEAD:apps/web &&
		    printf "040000 tree %s\tevil\n" "$evil"; } | git mktree) &&
		apps=$(git ls-tree HEAD:apps |
		    sed "s/^\(040000 tree \)[0-9a-f]*\(\tweb\)\$/\1$web\2/" |
		    git mktree) &&
		tree=$(git ls-tree HEAD |
		    sed "s/^\(040000 tree \)[0-9a-f]*\(\tapps\)\$/\1$apps\2/" |
		    git mktree) &&
		commit=$(git commit-tree "$tree" -p HEAD -m evil) &&
		git push -q origin "$commit:refs/heads/main"
	) &&
	test_expect_code 1 gitops_agent -c agent.yaml validate web 2>err &&
	test_grep "holds an entry named .\.\./\.\./escaped.: not a valid file name" err &&
	test ! -e escaped && test ! -e ../escaped
'

test_done
