#!/bin/sh
# t0440-kube-rollback: a bad deploy rolled back automatically, end to
# end on a cluster. `gitops-agent serve` syncs the web app from a real
# `git daemon` to the API server double running its simulated
# controllers (tests/kube/controllers.go): a signed deploy of a good
# version rolls out; a signed deploy of a bad image (a tag starting with
# "bad") never becomes available, its Pod waits in ImagePullBackOff, the
# wave fails, the agent reverts the bump in Git, the good version rolls
# out again on the double, and the bad one is held. Without the Pod, the
# Deployment's ProgressDeadlineExceeded fails it the same way. The figures (failing
# verdict to revert commit on the remote, and to the good Deployment
# available again) are printed from the agent's and the double's logs.
. "$TEST_SRCDIR/tests/lib.sh"

test_kube_env
test_cleanup_pidfile "$TRASH/agent.pid"
SECRET="kube rollback secret"
test_infra_remote "$SECRET"
ROLLOUT_MS=300

test_web_config &&
sed -i "s|target: {type: directory, path: ./live}|target: {type: kubernetes, kubeconfig: $K/kubeconfig, namespace: staging}|" \
    agent.yaml &&
cat >>agent.yaml <<EOF &&
    wave_timeout: 30s
    sync_timeout: 60s
EOF
test_web_config_versions || exit 1

# ./work: the web app for staging at VERSION, a Namespace first, then a
# Deployment whose selector finds its pods.
web_repo() { # VERSION
	test_web_repo "$1" &&
	sed -i "s/^  - deployment.yaml/  - namespace.yaml\n&/" \
	    work/apps/web/staging/kustomization.yaml &&
	cat >work/apps/web/staging/namespace.yaml <<-EOF &&
	apiVersion: v1
	kind: Namespace
	metadata:
	  name: staging
	  annotations: {argocd.argoproj.io/sync-wave: "-1"}
	EOF
	test_kube_web_deployment example/web >work/apps/web/staging/deployment.yaml
}

field_is() { test "$(test_app_field web-staging "$1")" = "$2"; }
remote_subject() { git --git-dir=srv/infra.git log -1 --format=%s main; }
subject_is() { test "$(remote_subject)" = "$1"; }
remote_version() {
	git --git-dir=srv/infra.git show main:versions.yaml |
	    sed -n 's/^  web: "\(.*\)"$/\1/p'
}
deployment() { # JSONPATH
	kc -n staging get deployment web -o jsonpath="{$1}"
}
# The Deployment runs IMAGE, rolled out: the controller saw its
# generation and its new ReplicaSet is available.
rolled_out() { # IMAGE
	test "$(deployment .spec.template.spec.containers[0].image)" = "$1" &&
	test "$(deployment .status.observedGeneration)" = \
	    "$(deployment .metadata.generation)" &&
	test "$(deployment ".status.conditions[?(@.type==\"Progressing\")].reason")" = \
	    NewReplicaSetAvailable &&
	test "$(deployment .status.availableReplicas)" = 2
}
sync_now() {
	test "$(curl -s -o reply -w "%{http_code}" -X POST \
	    "http://$AGENT/api/v1/apps/web-staging/sync")" = 202
}

test_expect_success KUBE 'setup: the double with controllers, the agent serving web v1' '
	test_kube_double "$K" --controllers --rollout-delay $ROLLOUT_MS &&
	web_repo v1 &&
	git -C work add -A && git -C work commit -q -m "web v1" &&
	git -C work push -q "$URL" main &&
	"$GITOPS_AGENT" -c agent.yaml check &&
	(
		${VALGRIND:-} "$GITOPS_AGENT" -c agent.yaml serve >agent.log 2>&1 &
		echo $! >agent.pid
	) &&
	test_wait_for 600 curl -sf "http://$AGENT/readyz" &&
	test_wait_for 300 rolled_out example/web:v1 &&
	test_wait_for 300 field_is status Succeeded
'

test_expect_success KUBE 'a signed deploy of a good version rolls out' '
	code=$(test_web_deploy v2) && test "$code" = 202 &&
	test_wait_for 300 field_is lastDeploy.outcome committed &&
	test_wait_for 300 rolled_out example/web:v2 &&
	test_wait_for 300 field_is status Succeeded &&
	test "$(remote_version)" = v2
'

test_expect_success KUBE 'a deploy of a bad image fails its rollout and is reverted in Git' '
	code=$(test_web_deploy bad-v3) && test "$code" = 202 &&
	test_wait_for 300 subject_is "Revert \"Deploy web bad-v3 to staging\"" &&
	test "$(remote_version)" = v2 &&
	git --git-dir=srv/infra.git log --format=%s -2 main >subjects &&
	test_grep "^Deploy web bad-v3 to staging$" subjects &&
	test_grep "msg=\"sync failed\" app=web-staging" agent.log &&
	grep "msg=\"sync failed\" app=web-staging" agent.log >failed &&
	test_grep "Deployment.apps/staging/web. is Degraded: .*ImagePullBackOff" failed &&
	test_grep "rolling out the bad image example/web:bad-v3" "$K/log"
'

test_expect_success KUBE 'the good version rolls out again on the cluster' '
	test_wait_for 300 field_is lastRollback.outcome committed &&
	test_wait_for 300 rolled_out example/web:v2 &&
	test_wait_for 300 field_is status Succeeded &&
	test "$(test_app_field web-staging lastRollback.badVersion)" = bad-v3 &&
	test -z "$(kc -n staging get pods -l app=web -o name)"
'

test_expect_success KUBE 'the bad version is held: refused again, never re-deployed' '
	before=$(git --git-dir=srv/infra.git rev-parse main) &&
	code=$(test_web_deploy bad-v3) && test "$code" = 202 &&
	test_wait_for 300 field_is lastDeploy.outcome refused &&
	test "$(git --git-dir=srv/infra.git rev-parse main)" = "$before" &&
	synced=$(grep -c "status=Succeeded" agent.log) &&
	sync_now &&
	test_wait_for 300 sh -c "test \$(grep -c status=Succeeded agent.log) -gt $synced" &&
	rolled_out example/web:v2 &&
	test "$(grep -c "rolling out the bad image" "$K/log")" = 1
'

test_expect_success KUBE 'with no Pod to tell, the progress deadline fails the rollout: reverted too' '
	test_kube_admin "$K" PUT controllers "{\"pods\": false}" &&
	code=$(test_web_deploy bad-v4) && test "$code" = 202 &&
	test_wait_for 300 subject_is "Revert \"Deploy web bad-v4 to staging\"" &&
	test "$(remote_version)" = v2 &&
	test_grep "is Degraded: rollout failed: ReplicaSet .*web-[0-9a-f]*.* has timed out progressing" agent.log &&
	test_wait_for 300 rolled_out example/web:v2 &&
	test_wait_for 300 field_is status Succeeded
'

test_expect_success KUBE 'figures: verdict to revert commit, and to the good Deployment available' '
	python3 - agent.log "$K/log" $ROLLOUT_MS <<-\EOF >figures &&
	import datetime, re, sys
	def at(s):
	    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
	agent = open(sys.argv[1]).read().splitlines()
	double = open(sys.argv[2]).read().splitlines()
	def first(lines, pat, after=None):
	    for l in lines:
	        m = re.search(r"(\d{4}-\d\d-\d\dT[\d:.]+Z)", l)
	        if m and re.search(pat, l) and (after is None or at(m.group(1)) >= after):
	            return at(m.group(1))
	    sys.exit("no line matching %r" % pat)
	bad = first(double, "rolling out the bad image example/web:bad-v3")
	verdict = first(agent, r"msg=\"sync failed\" app=web-staging", bad)
	revert = first(agent, r"msg=\"committed the rollback", verdict)
	good = first(double, r"Deployment staging/web generation \d+: available", verdict)
	ms = lambda a, b: (b - a).total_seconds() * 1000
	print("bad rollout started to failing verdict: %.0f ms (simulated rollout %s ms)"
	      % (ms(bad, verdict), sys.argv[3]))
	print("failing verdict to revert commit on the remote: %.0f ms" % ms(verdict, revert))
	print("failing verdict to the good Deployment available again: %.0f ms (%.0f ms beyond the simulated rollout)"
	      % (ms(verdict, good), ms(verdict, good) - int(sys.argv[3])))
	EOF
	echo "the agent says: msToCommit $(test_app_field web-staging lastRollback.msToCommit) ms, msToLive $(test_app_field web-staging lastRollback.msToLive) ms" >>figures
'
test -f figures && sed 's/^/# /' figures

test_expect_success KUBE 'stop: SIGTERM exits' '
	pid=$(cat agent.pid) && kill -TERM "$pid" &&
	test_wait_for 300 sh -c "! kill -0 $pid 2>/dev/null"
'

test_done
