#!/bin/sh
# t0100-git-read: the repository cache against a real `git daemon` on
# 127.0.0.1: a first fetch and an incremental one (only the new objects,
# only the configured branch), files and folders read straight from
# commits, paths out of the tree and symlinks refused, changed paths
# between commits, and a remote that accepts the connection and never
# answers, stopped at its deadline with no worker left behind. Driven
# through the driver in tests/unit/test_git until the CLI reads from Git.
. "$TEST_SRCDIR/tests/lib.sh"

TEST_GIT="$TEST_BUILDDIR/tests/unit/test_git"
STATE="$TRASH/state"
CACHE="$STATE/repos/infra.git"

test_git() {
	${VALGRIND:-} "$TEST_GIT" "$@"
}

# Objects in the cache, loose and packed.
cache_objects() {
	git --git-dir="$CACHE" count-objects -v |
	    awk '/^count:|^in-pack:/ { n += $2 } END { print n }'
}

# A remote that accepts every connection and never says a word.
cat >hang.py <<-\EOF
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
held = []
while True:
    held.append(s.accept())
EOF
# An HTTP remote that refuses every request and logs what it was sent.
cat >auth.py <<-\EOF
import http.server, sys
class Refuse(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[2], "a") as f:
            f.write(self.headers.get("Authorization", "-") + "\n")
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_POST = do_GET
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Refuse).serve_forever()
EOF
cat >probe.py <<-\EOF
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()
EOF

PORT=$(test_free_port)
URL="git://127.0.0.1:$PORT/infra.git"
mkdir -p srv &&
git init -q --bare srv/infra.git || exit 1
git daemon --reuseaddr --base-path="$TRASH/srv" --export-all \
    --enable=receive-pack --listen=127.0.0.1 --port="$PORT" \
    "$TRASH/srv" >daemon.log 2>&1 &
test_cleanup_pid $!
if ! test_wait_for 100 git ls-remote "$URL"; then
	echo "Bail out! git daemon did not start"
	cat daemon.log
	exit 1
fi

test_expect_success 'setup: a repository with 40 apps, pushed' '
	git init -q -b main work &&
	(
		cd work &&
		for i in $(seq 1 40); do
			mkdir -p apps/app$i &&
			echo "kind: ConfigMap # $i" >apps/app$i/config.yaml ||
			exit 1
		done &&
		mkdir -p apps/shop &&
		echo "kind: Deployment" >apps/shop/deploy.yaml &&
		echo "kind: Service" >apps/shop/service.yaml &&
		ln -s ../../../../etc/passwd apps/shop/passwd &&
		git add -A &&
		git commit -q -m one &&
		git tag v1 &&
		git push -q "$URL" main v1 &&
		git rev-parse HEAD >../first
	)
'

test_expect_success 'the first fetch brings the branch tip' '
	test_git fetch "$STATE" infra "$URL" main >oid &&
	test_cmp first oid &&
	git --git-dir="$CACHE" rev-parse refs/remotes/origin/main >ref &&
	test_cmp first ref &&
	git --git-dir="$CACHE" rev-parse --is-bare-repository >bare &&
	echo true >expect &&
	test_cmp expect bare &&
	test ! -e "$CACHE/apps" &&
	cache_objects >objects.first &&
	test "$(cat objects.first)" -gt 80
'

test_expect_success 'an incremental fetch brings only the new objects' '
	(
		cd work &&
		echo "replicas: 3" >>apps/shop/deploy.yaml &&
		git commit -q -a -m two &&
		git push -q "$URL" main &&
		git rev-parse HEAD >../second &&
		git checkout -q -b other &&
		echo "only on other" >apps/other.yaml &&
		git add apps/other.yaml &&
		git commit -q -m other &&
		git push -q "$URL" other &&
		git rev-parse HEAD:apps/other.yaml >../other.blob &&
		git checkout -q main
	) &&
	test_git fetch "$STATE" infra "$URL" main >oid &&
	test_cmp second oid &&
	before=$(cat objects.first) &&
	after=$(cache_objects) &&
	echo "objects: $before then $after" &&
	# A commit, three trees and a blob (plus a delta base libgit2 may
	# copy in to complete a thin pack): nowhere near the 90 of a clone.
	test $((after - before)) -ge 5 &&
	test $((after - before)) -le 8 &&
	# Only the configured branch: nothing of "other" came along.
	test_expect_code 1 git --git-dir="$CACHE" rev-parse -q --verify \
	    refs/remotes/origin/other &&
	! git --git-dir="$CACHE" cat-file -e \
	    "$(cat other.blob)"
'

test_expect_success 'a fetch with nothing new changes nothing' '
	ls "$CACHE/objects/pack" >packs.before &&
	test_git fetch "$STATE" infra "$URL" main >oid &&
	test_cmp second oid &&
	ls "$CACHE/objects/pack" >packs.after &&
	test_cmp packs.before packs.after
'

test_expect_success 'a file is read straight from a commit' '
	test_git cat "$STATE" infra main apps/shop/deploy.yaml >actual &&
	printf "kind: Deployment\nreplicas: 3\n" >expect &&
	test_cmp expect actual &&
	test_git cat "$STATE" infra "$(cat first)" apps/shop/deploy.yaml \
	    >actual &&
	echo "kind: Deployment" >expect &&
	test_cmp expect actual &&
	test_git cat "$STATE" infra v1 ./apps//app7/config.yaml >actual &&
	echo "kind: ConfigMap # 7" >expect &&
	test_cmp expect actual
'

test_expect_success 'a folder is listed, sorted bytewise' '
	test_git ls "$STATE" infra main apps/shop >actual &&
	printf "deploy.yaml\npasswd\nservice.yaml\n" >expect &&
	test_cmp expect actual &&
	test_git ls "$STATE" infra main apps >actual &&
	test_line_count() { test "$(wc -l <"$2")" -eq "$1"; } &&
	test_line_count 41 actual &&
	head -n 3 actual >top &&
	printf "app1\napp10\napp11\n" >expect &&
	test_cmp expect top
'

test_expect_success 'a path out of the tree is refused' '
	test_expect_code 1 test_git cat "$STATE" infra main \
	    apps/../../etc/passwd 2>err &&
	test_grep "path .apps/../../etc/passwd. is outside" err
'

test_expect_success 'a symlink in the tree is refused, not followed' '
	test_expect_code 1 test_git cat "$STATE" infra main \
	    apps/shop/passwd >out 2>err &&
	test_grep "apps/shop/passwd. is a symlink in the repository: not" err &&
	test_grep -v "root:" out
'

test_expect_success 'changed paths between two commits; a rename gives both' '
	test_git changed "$STATE" infra "$(cat first)" main >actual &&
	echo apps/shop/deploy.yaml >expect &&
	test_cmp expect actual &&
	(
		cd work &&
		git mv apps/shop/service.yaml apps/shop/svc.yaml &&
		git commit -q -m rename &&
		git push -q "$URL" main
	) &&
	test_git fetch "$STATE" infra "$URL" main >oid &&
	test_git changed "$STATE" infra "$(cat second)" main >actual &&
	printf "apps/shop/service.yaml\napps/shop/svc.yaml\n" >expect &&
	test_cmp expect actual &&
	test_git changed "$STATE" infra - v1 >all &&
	test_line_count() { test "$(wc -l <"$2")" -eq "$1"; } &&
	test_line_count 43 all
'

test_expect_success 'a branch, a tag and a short commit id resolve' '
	test_git resolve "$STATE" infra main >actual &&
	git -C work rev-parse HEAD >expect &&
	test_cmp expect actual &&
	test_git resolve "$STATE" infra v1 >actual &&
	test_cmp first actual &&
	test_git resolve "$STATE" infra "$(cut -c1-8 second)" >actual &&
	test_cmp second actual &&
	test_expect_code 1 test_git resolve "$STATE" infra nope 2>err &&
	test_grep "cannot resolve .nope. in .$URL.: no such branch, tag" err
'

test_expect_success 'a missing branch is an error naming it' '
	test_expect_code 1 test_git fetch "$STATE" infra "$URL" gone 2>err &&
	test_grep "cannot fetch .$URL.: no branch .gone. on the remote" err
'

test_expect_success 'a remote that never answers is stopped at its deadline' '
	HPORT=$(test_free_port) &&
	HURL="git://127.0.0.1:$HPORT/infra.git" &&
	{ timeout 60 python3 "$TRASH/hang.py" "$HPORT" & } &&
	hung=$! &&
	test_wait_for 100 python3 "$TRASH/probe.py" "$HPORT" &&
	test_expect_code 1 test_git fetch "$STATE" hung "$HURL" main 2000 \
	    2>err &&
	kill $hung &&
	test_grep "cannot fetch .$HURL.: no answer within 2s" err &&
	# The worker is gone, and the cache is not wedged: pointed at a
	# live remote, the next fetch works.
	test_expect_code 1 pgrep -f "__git-worker fetch $STATE/repos/hung" &&
	test_git fetch "$STATE" hung "$URL" main >oid &&
	git -C work rev-parse HEAD >expect &&
	test_cmp expect oid
'

test_expect_success 'a token is never sent over plain http' '
	APORT=$(test_free_port) &&
	AURL="http://127.0.0.1:$APORT/infra.git" &&
	{ timeout 60 python3 "$TRASH/auth.py" "$APORT" "$TRASH/auth.log" & } &&
	auth=$! &&
	test_wait_for 100 python3 "$TRASH/probe.py" "$APORT" &&
	export TEST_GIT_TOKEN=s3cret-token &&
	test_expect_code 1 test_git fetch "$STATE" auth "$AURL" main 20000 \
	    >out 2>err &&
	kill $auth &&
	test_grep "cannot fetch .$AURL.: authentication required, and no credentials" err &&
	test_grep -v s3cret err &&
	# The server was asked, but never saw the token.
	test -s auth.log &&
	test_grep -v Basic auth.log
'

test_expect_success 'credentials in a URL never reach a message' '
	test_expect_code 1 test_git fetch "$STATE" cred \
	    "https://tok:s3cr3t@@127.0.0.1:1/x" main 5000 >out 2>err &&
	test_grep "cannot fetch" err &&
	test_grep -v "s3cr3t" err &&
	test_grep -v "tok:" err
'

test_done
