#!/bin/sh
# t0220-hooks: the README's first command end to end. contrib/quickstart.sh
# serves the example shop with `git daemon`, installs hooks/post-receive
# and starts the agent; a push from a clone makes the hook send a signed
# webhook (polling is 3m, so nothing else could), and the directory
# target converges on the pushed commit.
. "$TEST_SRCDIR/tests/lib.sh"

PORT=$(test_free_port)
GPORT=$(test_free_port)
URL="git://127.0.0.1:$GPORT/infra.git"
test_cleanup_pidfile "$TRASH/quickstart.pid"

metric() { # NAME{LABELS}
	curl -s "http://127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1 == k { v = $2 }
	    END { print v == "" ? 0 : v }'
}

checkout_replicas_are() { # N
	grep -q "replicas: $1" qs/live/staging/shop-staging/Deployment.apps/checkout-service.yaml
}

test_expect_success 'quickstart: the agent serves the example from a git daemon' '
	(
		QUICKSTART_DIR=qs GITOPS_PORT=$PORT GIT_DAEMON_PORT=$GPORT \
		    GITOPS_AGENT="$GITOPS_AGENT" \
		    sh "$TEST_SRCDIR/contrib/quickstart.sh" >qs.log 2>&1 &
		echo $! >quickstart.pid
	) &&
	test_wait_for 600 curl -sf "http://127.0.0.1:$PORT/readyz" &&
	checkout_replicas_are 3 &&
	test_grep "Push a change from another terminal" qs.log
'

test_expect_success 'a push sends a signed webhook through hooks/post-receive' '
	git clone -q "$URL" work &&
	sed -i "s/replicas: .*/replicas: 4/" work/apps/checkout-service/base/deployment.yaml &&
	git -C work commit -qam "checkout: 4 replicas" &&
	git -C work push origin main 2>push.err &&
	test_grep "gitops-agent: notified of refs/heads/main (202)" push.err &&
	test_wait_for 300 checkout_replicas_are 4 &&
	test "$(metric "gitops_webhooks_total{provider=\"generic\",result=\"accepted\"}")" = 1 &&
	! grep -q "$(cat qs/webhook-secret)" qs.log push.err
'

test_expect_success 'the hook never fails a push: agent down, push lands' '
	kill -TERM "$(cat quickstart.pid)" &&
	test_wait_for 300 sh -c "! curl -s http://127.0.0.1:$PORT/healthz" &&
	git --git-dir=qs/srv/infra.git config gitops.url "http://127.0.0.1:$PORT" &&
	sed -i "s/replicas: .*/replicas: 5/" work/apps/checkout-service/base/deployment.yaml &&
	git -C work commit -qam "checkout: 5 replicas" &&
	git -C work push -q "$TRASH/qs/srv/infra.git" main 2>push2.err &&
	test_grep "it will poll" push2.err &&
	test "$(git --git-dir=qs/srv/infra.git rev-parse main)" = "$(git -C work rev-parse HEAD)"
'

test_done
