#!/bin/sh
# t0120-bump: version bumps and rollbacks as commits, on a real
# `git daemon --enable=receive-pack` on 127.0.0.1; the git CLI checks the
# results. A bump edits versions.yaml and the app's kustomization in one
# commit (byte-identical but for the values), with trailers; a repeated
# bump commits nothing; a pre-receive refusal ends after two tries; a hung
# remote ends at its deadline; a rollback reverts one service's values
# where `git revert` conflicts, refuses when a newer bump replaced them,
# and holds the bad version; signed commits pass `git verify-commit`.
. "$TEST_SRCDIR/tests/lib.sh"

mkdir -p srv && git init -q --bare -b main srv/infra.git || exit 1
test_git_daemon "$TRASH/srv"
URL="git://127.0.0.1:$GIT_DAEMON_PORT/infra.git"
test_hang_server "$TRASH/hang.log"
GOLDEN="$FIXTURES/bump"

write_config() { # FILE URL [EXTRA VERSIONS LINES]
	cat >"$1" <<-EOF
	state_dir: ./state
	repositories:
	  - name: infra
	    url: $2
	    timeout: 5s
	apps:
	  - name: checkout-staging
	    repository: infra
	    path: apps/checkout/staging
	    target: {type: directory, path: ./live}
	    service: checkout
	    environment: staging
	  - name: pinned-staging
	    repository: infra
	    path: apps/pinned/staging
	    target: {type: directory, path: ./live}
	    service: pinned
	    environment: staging
	versions:
	  repository: infra
	  timeout: 20s
	  author_name: Deploy Bot
	  author_email: deploy@example.com
	${3:-}
	EOF
}
write_config agent.yaml "$URL"
write_config hang.yaml "git://127.0.0.1:$HANG_PORT/infra.git"

fresh_clone() {
	rm -rf check && git clone -q -b main "$URL" check
}

# The value of ENV.SERVICE in a clone's versions.yaml, by git's reading.
version_of() { # ENV SERVICE
	python3 -c '
import sys, re
env, svc = sys.argv[1], sys.argv[2]
cur = None
for line in open("check/versions.yaml"):
    m = re.match(r"^(\S[^:]*):", line)
    if m: cur = m.group(1); continue
    m = re.match(r"^  ([^:]+): *[\"\x27]?([^\"\x27 #]+)", line)
    if m and cur == env and m.group(1) == svc: print(m.group(2))
' "$1" "$2"
}

test_expect_success 'setup: an infra repository pushed over git://' '
	git init -q -b main work &&
	mkdir -p work/apps/checkout/staging &&
	cp "$GOLDEN/versions.yaml" work/versions.yaml &&
	cp "$GOLDEN/kustomization.yaml" work/apps/checkout/staging/ &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n" \
	    >work/apps/checkout/staging/deployment.yaml &&
	mkdir -p work/apps/pinned/staging &&
	cat >work/apps/pinned/staging/kustomization.yaml <<-EOF &&
	images:
	  - name: ghcr.io/acme/pinned
	    digest: sha256:$(printf "%064d" 1)
	  - newName: ghcr.io/acme/unnamed
	    newTag: v1
	EOF
	git -C work add -A && git -C work commit -q -m init &&
	git -C work push -q "$URL" main
'

test_expect_success 'bump: one commit, only the two values changed (golden files)' '
	gitops_agent -c agent.yaml bump --service checkout \
	    --environment staging --version v1.1.0 >out 2>err &&
	test_grep "^committed checkout v1.1.0 to staging: commit" out &&
	fresh_clone &&
	test_cmp "$GOLDEN/versions.after.yaml" check/versions.yaml &&
	test_cmp "$GOLDEN/kustomization.after.yaml" \
	    check/apps/checkout/staging/kustomization.yaml &&
	test "$(git -C check rev-list --count HEAD)" -eq 2 &&
	git -C check diff --name-only HEAD~1 >changed &&
	printf "apps/checkout/staging/kustomization.yaml\nversions.yaml\n" \
	    >expect && test_cmp expect changed
'

test_expect_success 'bump: message and trailers say what changed' '
	cat >expect <<-\EOF &&
	Deploy checkout v1.1.0 to staging

	Deploy-Service: checkout
	Deploy-Environment: staging
	Deploy-Previous-Version: v1.0.0
	Deploy-Version: v1.1.0
	Deploy-Previous-Image: ghcr.io/acme/checkout:v1.0.0
	Deploy-Image: ghcr.io/acme/checkout:v1.1.0
	EOF
	git -C check log -1 --format=%B >msg && sed -e "\$d" msg >actual &&
	test_cmp expect actual &&
	git -C check log -1 --format="%an <%ae> %cn" >who &&
	echo "Deploy Bot <deploy@example.com> Deploy Bot" >expect &&
	test_cmp expect who &&
	git -C check interpret-trailers --parse <msg >trailers &&
	test "$(wc -l <trailers)" -eq 6
'

test_expect_success 'bump: the same version again commits nothing' '
	before=$(git ls-remote "$URL" refs/heads/main) &&
	gitops_agent -c agent.yaml bump --service checkout \
	    --environment staging --version v1.1.0 >out 2>err &&
	test_grep "already at v1.1.0 in staging" out &&
	test "$(git ls-remote "$URL" refs/heads/main)" = "$before"
'

test_expect_success 'bump --digest pins the digest, --image picks the entry' '
	d=sha256:$(printf "%064d" 7) &&
	gitops_agent -c agent.yaml bump --service checkout \
	    --environment staging --version v1.2.0 \
	    --image ghcr.io/acme/checkout --digest "$d" &&
	fresh_clone &&
	test_grep "^    digest: \"$d\"" \
	    check/apps/checkout/staging/kustomization.yaml &&
	test_grep "^    newTag: v7" check/apps/checkout/staging/kustomization.yaml &&
	git -C check log -1 --format=%B >msg &&
	test_grep "^Deploy-Image: ghcr.io/acme/checkout:v1.1.0@$d" msg
'

test_expect_success 'bump: bad input is refused, saying what and where' '
	test_expect_code 1 gitops_agent -c agent.yaml bump --service checkout \
	    --environment staging --version v9 --tag a --digest sha256:00 \
	    2>err && test_grep "a tag or a digest, not both" err &&
	test_expect_code 1 gitops_agent -c agent.yaml bump --service checkout \
	    --environment staging --version v9 --digest sha256:xyz 2>err &&
	test_grep "invalid image digest .sha256:xyz." err &&
	test_expect_code 1 gitops_agent -c agent.yaml bump --service checkout \
	    --environment staging --version v9 --image ghcr.io/acme/nope \
	    2>err &&
	test_grep "kustomization.yaml: no images entry named .ghcr.io/acme/nope. (it has: ghcr.io/acme/checkout, ghcr.io/acme/migrate)" err &&
	test_expect_code 2 gitops_agent -c agent.yaml bump --service checkout \
	    2>err && test_grep "^gitops-agent bump: missing --environment" err
'

test_expect_success 'bump and rollback say committed, and how to follow the deploy' '
	gitops_agent -c agent.yaml bump --service checkout \
	    --environment staging --version v1.1.1 >out &&
	test_grep "^committed checkout v1.1.1 to staging: commit " out &&
	test_grep "^not deployed yet: a running agent syncs app .checkout-staging. when it next fetches repository .infra.; follow it with .gitops-agent -c agent.yaml status.$" \
	    out &&
	! grep -q "deployed checkout" out &&
	gitops_agent -c agent.yaml rollback --service checkout \
	    --environment staging >out &&
	test_grep "^committed the rollback of checkout in staging to v1.2.0 " out &&
	test_grep "^not deployed yet: a running agent syncs app .checkout-staging." out
'

test_expect_success 'no app for the service in the environment: exit 1, nothing pushed' '
	before=$(git ls-remote "$URL" refs/heads/main) &&
	test_expect_code 1 gitops_agent -c agent.yaml bump --service ghost \
	    --environment staging --version v1 >out 2>err &&
	test_grep "no app deploys ghost to staging" err &&
	test_grep "versions-only" err &&
	test_expect_code 1 gitops_agent -c agent.yaml bump --service checkout \
	    --environment production --version v1 2>err &&
	test_grep "no app deploys checkout to production" err &&
	test_expect_code 1 gitops_agent -c agent.yaml rollback --service ghost \
	    --environment staging 2>err &&
	test "$(git ls-remote "$URL" refs/heads/main)" = "$before"
'

test_expect_success '--versions-only records the version of a service with no app' '
	gitops_agent -c agent.yaml bump --versions-only --service ghost \
	    --environment staging --version v1 >out &&
	test_grep "^committed ghost v1 to staging: commit " out &&
	! grep -q "not deployed yet" out &&
	fresh_clone && test "$(version_of staging ghost)" = v1
'

test_expect_success 'an app with no images entry: exit 1 naming it, unless --versions-only' '
	mkdir -p work/apps/bare/staging &&
	printf "resources:\n  - cm.yaml\n" \
	    >work/apps/bare/staging/kustomization.yaml &&
	printf "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n" \
	    >work/apps/bare/staging/cm.yaml &&
	git -C work pull -q "$URL" main &&
	git -C work add -A && git -C work commit -q -m bare &&
	git -C work push -q "$URL" main &&
	cat >bare-app <<-\EOF &&
	  - name: bare-staging
	    repository: infra
	    path: apps/bare/staging
	    target: {type: directory, path: ./live}
	    service: bare
	    environment: staging
	EOF
	sed "/^apps:/r bare-app" agent.yaml >bare.yaml &&
	before=$(git ls-remote "$URL" refs/heads/main) &&
	test_expect_code 1 gitops_agent -c bare.yaml bump --service bare \
	    --environment staging --version v2 2>err &&
	test_grep "^bump: bare in staging: .*kustomization.yaml: no images entry to set" err &&
	test "$(git ls-remote "$URL" refs/heads/main)" = "$before" &&
	gitops_agent -c bare.yaml bump --versions-only --service bare \
	    --environment staging --version v2 >out &&
	test_grep "^committed bare v2 to staging" out &&
	fresh_clone && test "$(version_of staging bare)" = v2
'

test_expect_success 'numbers stay text: 1.10 is rolled back to 1.10, not 1.1' '
	gitops_agent -c agent.yaml bump --versions-only --service numeric \
	    --environment staging --version 1.11 &&
	gitops_agent -c agent.yaml rollback --versions-only --service numeric \
	    --environment staging >out &&
	test_grep "rollback of numeric in staging to 1.10 " out &&
	fresh_clone && test_grep "^  numeric: \"1.10\"\$" check/versions.yaml
'

test_expect_success 'rollback of a tag bump restores a digest-only pin exactly' '
	d1=sha256:$(printf "%064d" 1) &&
	gitops_agent -c agent.yaml bump --service pinned \
	    --environment staging --version v2 --tag v2 &&
	fresh_clone &&
	test_grep "newTag: \"v2\"" check/apps/pinned/staging/kustomization.yaml &&
	! grep -q "digest:" check/apps/pinned/staging/kustomization.yaml &&
	gitops_agent -c agent.yaml rollback --service pinned \
	    --environment staging &&
	fresh_clone &&
	# The same entry as before the bump (a re-added key is quoted).
	git -C check show HEAD~2:apps/pinned/staging/kustomization.yaml >expect &&
	sed "s/\"//g" check/apps/pinned/staging/kustomization.yaml >actual &&
	test_cmp expect actual &&
	# Again (a retry whose answer was lost): nothing to do, not refused.
	gitops_agent -c agent.yaml rollback --service pinned \
	    --environment staging --commit "$(git -C check rev-parse HEAD~1)" \
	    >out &&
	test_grep "already back at what it ran before" out
'

test_expect_success 'an images entry without a name is never picked (no crash)' '
	test_expect_code 1 gitops_agent -c agent.yaml bump --service pinned \
	    --environment staging --version v3 --image ghcr.io/acme/unnamed \
	    2>err &&
	test_grep "no images entry named .ghcr.io/acme/unnamed." err
'

test_expect_success 'a value with a line break is refused, never copied into trailers' '
	fresh_clone &&
	sed -i "/^staging:/r $GOLDEN/evil-line.txt" check/versions.yaml &&
	test_grep "evil" check/versions.yaml &&
	git -C check commit -q -am evil && git -C check push -q origin main &&
	test_expect_code 1 gitops_agent -c agent.yaml bump \
	    --versions-only --service evil \
	    --environment staging --version v2 2>err &&
	test_grep "holds a control character" err &&
	fresh_clone && sed -i "/^  evil:/d" check/versions.yaml &&
	git -C check commit -q -am "no evil" && git -C check push -q origin main
'

test_expect_success 'a versions repository on a local path is refused (no compare-and-swap there)' '
	write_config local.yaml "file://$TRASH/srv/infra.git" &&
	test_expect_code 1 gitops_agent -c local.yaml check 2>err &&
	test_grep "local.yaml:[0-9]*:[0-9]*: versions are pushed to repository .infra., whose url .file://.* is a local path" err
'

test_expect_success 'rollback where a later bump changed the neighbouring line' '
	gitops_agent -c agent.yaml bump --service checkout \
	    --environment staging --version v2.0.0 >out &&
	bad=$(sed -n "s/.*commit \([0-9a-f]*\) .*/\1/p" out) &&
	gitops_agent -c agent.yaml bump --versions-only --service payments \
	    --environment staging --version v2.5.0 &&
	fresh_clone &&
	# git revert conflicts here: the lines touch.
	! git -C check revert --no-edit "$bad" >/dev/null 2>&1 &&
	git -C check revert --abort &&
	gitops_agent -c agent.yaml rollback --service checkout \
	    --environment staging >out &&
	test_grep "rollback of checkout in staging to v1.2.0" out &&
	fresh_clone &&
	test "$(version_of staging checkout)" = v1.2.0 &&
	test "$(version_of staging payments)" = v2.5.0 &&
	test_grep "^    digest: \"sha256:0*7\"" \
	    check/apps/checkout/staging/kustomization.yaml &&
	git -C check log -1 --format=%B >msg &&
	test "$(sed -n 1p msg)" = "Revert \"Deploy checkout v2.0.0 to staging\"" &&
	test_grep "^This reverts commit $bad\.\$" msg &&
	test_grep "^Rollback-Of: $bad\$" msg &&
	test_grep "^    v2.0.0: \"\\?rolled back from $(echo "$bad" | cut -c1-10) on " \
	    check/held-versions.yaml
'

test_expect_success 'a held version is refused, then deployed with --force' '
	before=$(git ls-remote "$URL" refs/heads/main) &&
	test_expect_code 1 gitops_agent -c agent.yaml bump --service checkout \
	    --environment staging --version v2.0.0 2>err &&
	test_grep "checkout v2.0.0 is held in staging" err &&
	test_grep "held-versions.yaml:[0-9]*:[0-9]*: rolled back from" err &&
	test "$(git ls-remote "$URL" refs/heads/main)" = "$before" &&
	gitops_agent -c agent.yaml bump --service checkout \
	    --environment staging --version v2.0.0 --force >out &&
	fresh_clone && test "$(version_of staging checkout)" = v2.0.0 &&
	git -C check log -1 --format=%B >msg &&
	test_grep "Deployed with --force although held" msg
'

test_expect_success 'rollback after a newer bump of the service: refused, the newer commit named' '
	gitops_agent -c agent.yaml bump --service checkout \
	    --environment staging --version v3.0.0 >out &&
	old=$(sed -n "s/.*commit \([0-9a-f]*\) .*/\1/p" out) &&
	gitops_agent -c agent.yaml bump --service checkout \
	    --environment staging --version v3.0.1 >out &&
	new=$(sed -n "s/.*commit \([0-9a-f]*\) .*/\1/p" out) &&
	before=$(git ls-remote "$URL" refs/heads/main) &&
	test_expect_code 1 gitops_agent -c agent.yaml rollback \
	    --service checkout --environment staging --commit "$old" 2>err &&
	short=$(echo "$new" | cut -c1-10) &&
	test_grep "was changed after .* by $short (\"Deploy checkout v3.0.1 to staging\")" err &&
	test "$(git ls-remote "$URL" refs/heads/main)" = "$before"
'

test_expect_success 'an operator git revert counts: the next rollback goes further back' '
	fresh_clone &&
	git -C check revert --no-edit HEAD >/dev/null &&
	git -C check push -q origin main &&
	gitops_agent -c agent.yaml rollback --service checkout \
	    --environment staging >out &&
	test_grep "rollback of checkout in staging to v2.0.0" out
'

test_expect_success 'a push refused by a pre-receive hook: clear error, two tries, no storm' '
	cat >srv/infra.git/hooks/pre-receive <<-EOF &&
	#!/bin/sh
	echo refused >>"$TRASH/hook.log"
	echo "main is protected: deploys go through review" >&2
	exit 1
	EOF
	chmod +x srv/infra.git/hooks/pre-receive &&
	test_expect_code 1 gitops_agent -c agent.yaml bump --service checkout \
	    --environment staging --version v4.0.0 2>err;
	rm -f srv/infra.git/hooks/pre-receive &&
	test_grep "refused the push 2 times with branch .main. unchanged" err &&
	test_grep "pre-receive hook declined" err &&
	test_grep "remote: main is protected: deploys go through review" err &&
	test "$(wc -l <hook.log)" -eq 2
'

test_expect_success 'a push whose answer is lost but landed counts as landed' '
	cat >srv/infra.git/hooks/post-receive <<-\EOF &&
	#!/bin/sh
	sleep 4
	EOF
	chmod +x srv/infra.git/hooks/post-receive &&
	write_config slow.yaml "$URL" &&
	sed -i "s/timeout: 5s/timeout: 2s/" slow.yaml &&
	gitops_agent -c slow.yaml bump --versions-only --service payments \
	    --environment production --version v1.9.5 >out 2>err;
	rc=$? &&
	rm -f srv/infra.git/hooks/post-receive &&
	test $rc -eq 0 &&
	test_grep "committed payments v1.9.5 to production: commit" out &&
	test_grep "push failed" err &&
	fresh_clone &&
	test "$(git -C check log --format=%s -1)" = "Deploy payments v1.9.5 to production"
'

test_expect_success 'a remote that never answers: the bump ends at its deadline' '
	rm -f hang.log &&
	sed -i "s/timeout: 5s/timeout: 2s/" hang.yaml &&
	start=$(date +%s) &&
	test_expect_code 1 gitops_agent -c hang.yaml bump --service checkout \
	    --environment staging --version v5 2>err &&
	end=$(date +%s) &&
	test_grep "cannot fetch .git://127.0.0.1:$HANG_PORT/infra.git.: no answer within 2s" err &&
	test $((end - start)) -lt 15
'

test_expect_success 'signed commits: git verify-commit accepts them' '
	ssh-keygen -q -t ed25519 -N "" -C deploy -f signkey &&
	write_config signed.yaml "$URL" "  signing_key: ./signkey" &&
	gitops_agent -c signed.yaml bump --versions-only --service payments \
	    --environment production --version v1.9.1 &&
	fresh_clone &&
	echo "deploy@example.com $(cat signkey.pub)" >allowed &&
	git -C check -c gpg.format=ssh \
	    -c gpg.ssh.allowedSignersFile="$TRASH/allowed" \
	    verify-commit HEAD 2>verify &&
	test_grep "Good \"git\" signature for deploy@example.com" verify
'

test_expect_success 'a missing signing key fails before anything is pushed' '
	write_config nokey.yaml "$URL" "  signing_key: ./nokey" &&
	before=$(git ls-remote "$URL" refs/heads/main) &&
	test_expect_code 1 gitops_agent -c nokey.yaml bump \
	    --versions-only --service payments \
	    --environment production --version v1.9.2 2>err &&
	test_grep "cannot sign the commit with .*nokey" err &&
	test "$(git ls-remote "$URL" refs/heads/main)" = "$before"
'

# The queue's lock, held from outside: requests pile up behind it.
hold_queue() { # SECONDS
	mkdir -p state/repos/infra.queue || return 1
	# -o: the lock stays with flock itself, so killing it frees the lock.
	flock -o state/repos/infra.queue/lock sleep "$1" &
	hold_pid=$!
	test_wait_for 50 sh -c "! flock -n state/repos/infra.queue/lock true"
}
release_queue() {
	kill "$hold_pid" && wait "$hold_pid"
	return 0
}
# Start a command in the background; its pid in bg_pid.
spawn_bg() {
	"$@" &
	bg_pid=$!
}

test_expect_success 'a writer killed while queued: its request never lands' '
	hold_queue 30 &&
	spawn_bg "$GITOPS_AGENT" -c agent.yaml bump \
	    --versions-only --service payments \
	    --environment production --version v-killed >killed.out 2>&1 &&
	test_wait_for 50 sh -c "ls state/repos/infra.queue/req-*.json" &&
	kill -9 $bg_pid && { wait $bg_pid; true; } &&
	release_queue &&
	gitops_agent -c agent.yaml bump --versions-only --service payments \
	    --environment production --version v-right >out &&
	fresh_clone &&
	test_grep "^  payments: .v-right.\$" check/versions.yaml &&
	! git -C check log --format=%s | grep v-killed &&
	! ls state/repos/infra.queue/req-* state/repos/infra.queue/work-* 2>/dev/null
'

test_expect_success 'writers with other settings share the queue, never a batch' '
	write_config other.yaml "$URL" "  held_file: other-held.yaml" &&
	hold_queue 30 &&
	spawn_bg gitops_agent -c agent.yaml bump \
	    --versions-only --service catalog \
	    --environment staging --version v0.9.2 >a.out 2>&1 &&
	a=$bg_pid &&
	spawn_bg gitops_agent -c other.yaml bump \
	    --versions-only --service catalog \
	    --environment staging --version v0.9.3 >b.out 2>&1 &&
	b=$bg_pid &&
	test_wait_for 50 sh -c "test \$(ls state/repos/infra.queue/req-*.json | wc -l) -eq 2" &&
	release_queue &&
	wait $a && wait $b &&
	test_grep "batch of 1" a.out && test_grep "batch of 1" b.out
'

test_expect_success 'a leader that died after pushing: the next one checks, never redoes' '
	# As a leader that claimed the request, pushed it and died would
	# leave it: work-ID.json and pushing-ID naming the landed commit.
	hold_queue 30 &&
	spawn_bg gitops_agent -c agent.yaml rollback --service checkout \
	    --environment staging >taken.out 2>&1 &&
	taker=$bg_pid &&
	test_wait_for 50 sh -c "ls state/repos/infra.queue/req-*.json" &&
	req=$(ls state/repos/infra.queue/req-*.json) &&
	id=${req##*/req-} && id=${id%.json} &&
	mv "$req" "state/repos/infra.queue/work-$id.json" &&
	git ls-remote "$URL" refs/heads/main | cut -f1 \
	    >"state/repos/infra.queue/pushing-$id" &&
	before=$(git ls-remote "$URL" refs/heads/main) &&
	release_queue &&
	wait $taker &&
	test_grep "landed as commit" taken.out &&
	test "$(git ls-remote "$URL" refs/heads/main)" = "$before" &&
	! ls state/repos/infra.queue/work-* state/repos/infra.queue/pushing-* 2>/dev/null
'

test_expect_success 'a queued writer past its deadline withdraws, nothing committed' '
	before=$(git ls-remote "$URL" refs/heads/main) &&
	hold_queue 30 &&
	test_expect_code 1 gitops_agent -c agent.yaml bump \
	    --versions-only --service catalog \
	    --environment staging --version v0.9.9 --timeout 1s 2>err;
	release_queue;
	test_grep "gave up after 1s waiting for the other writers of .infra. to finish (nothing was committed)" err &&
	test "$(git ls-remote "$URL" refs/heads/main)" = "$before" &&
	! ls state/repos/infra.queue/req-* 2>/dev/null
'

# Writers at once: each bumps its own service in the one versions.yaml,
# adjacent lines, so a textual rebase would conflict on every race.
# run_writers TAG WRITERS BUMPS SHARED: SHARED=yes gives them one state
# directory (one host: their requests are batched, a group commit),
# else one each (separate hosts: only compare-and-swap between them).
run_writers() {
	tag=$1 writers=$2 bumps=$3 shared=$4
	fresh_clone &&
	for w in $(seq 1 "$writers"); do
		printf "  %s%d: \"v0\"\n" "$tag" "$w"
	done >lines &&
	sed -i "/^staging:/r lines" check/versions.yaml &&
	git -C check commit -q -am "add the $tag services" &&
	git -C check push -q origin main &&
	base=$(git -C check rev-parse HEAD) &&
	rm -f failures &&
	for w in $(seq 1 "$writers"); do
		state=./state-$tag && [ "$shared" = yes ] || state=./state-$tag$w
		write_config "$tag$w.yaml" "$URL" &&
		sed -i -e "s|state_dir: ./state|state_dir: $state|" \
		    -e "s/timeout: 20s/timeout: 5m/" "$tag$w.yaml" &&
		(
			for b in $(seq 1 "$bumps"); do
				gitops_agent -c "$tag$w.yaml" bump \
				    --versions-only --service "$tag$w" --environment staging \
				    --version "v$b" ||
				    echo "writer $w bump $b failed" >>failures
			done >"$tag$w.out" 2>&1
		) &
	done &&
	wait &&
	test ! -s failures &&
	fresh_clone &&
	git -C check fsck --strict >fsck 2>&1 &&
	test "$(git -C check rev-list --count "$base"..HEAD)" -eq $((writers * bumps)) &&
	test "$(git -C check rev-list --merges --count HEAD)" -eq 0 &&
	git -C check log --format=%s "$base"..HEAD | sort >subjects &&
	for w in $(seq 1 "$writers"); do for b in $(seq 1 "$bumps"); do
		echo "Deploy $tag$w v$b to staging"
	done; done | sort >expect &&
	test_cmp expect subjects &&
	for w in $(seq 1 "$writers"); do
		test "$(version_of staging "$tag$w")" = "v$bumps" || return 1
	done
}

WRITERS=8 BUMPS=25
if [ -n "${VALGRIND:-}" ]; then WRITERS=3 BUMPS=3; fi
test_expect_success "concurrency, one host: $WRITERS writers x $BUMPS bumps, every commit lands once" '
	run_writers svc $WRITERS $BUMPS yes &&
	# Batched: some pushes carried several commits.
	grep -h "batch of" svc*.out | grep -vc "batch of 1," >batched &&
	test "$(cat batched)" -gt 0
'

test_expect_success "concurrency, separate hosts: 4 writers x 4 bumps by compare-and-swap alone" '
	run_writers sep 4 4 no &&
	! grep -h "batch of [2-9]" sep*.out
'

test_done
