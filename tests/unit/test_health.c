/*
 * test_health.c: status rules on real object shapes, conditions, and the
 * probes (command, http, prometheus) against a real HTTP server on
 * 127.0.0.1 run by the test itself (a thread answering canned replies,
 * as a service or Prometheus would).
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <math.h>
#include <pthread.h>

#include "unit.h"

static struct json *
obj(const char *text)
{
	char		*cause = NULL;
	struct json	*o = json_parse(text, strlen(text), &cause);

	if (o == NULL)
		fail_msg("%s", cause);
	return (o);
}

static void
expect_health(const char *text, enum health_status want, const char *why)
{
	struct json	*o = obj(text);
	char		*got = NULL;

	assert_int_equal(health_of_object(o, &got), want);
	if (why != NULL)
		assert_string_equal(got, why);
	free(got);
	json_free(o);
}

static void
test_health_of_object_deployment_rules(void **state)
{
	/* No status: nothing reports one, nothing to wait for. */
	expect_health("{\"kind\":\"Deployment\",\"spec\":{\"replicas\":3}}",
	    HEALTH_HEALTHY, NULL);
	expect_health("{\"kind\":\"Deployment\",\"metadata\":{\"generation\":4},"
	    "\"spec\":{\"replicas\":3},\"status\":{\"observedGeneration\":3,"
	    "\"replicas\":3,\"updatedReplicas\":3,\"availableReplicas\":3}}",
	    HEALTH_PROGRESSING, "the controller has not observed generation 4 "
	    "yet (it saw 3)");
	expect_health("{\"kind\":\"Deployment\",\"metadata\":{\"generation\":4},"
	    "\"spec\":{\"replicas\":3},\"status\":{\"observedGeneration\":4,"
	    "\"replicas\":4,\"updatedReplicas\":2,\"availableReplicas\":3}}",
	    HEALTH_PROGRESSING, "2 of 3 replicas updated");
	expect_health("{\"kind\":\"Deployment\",\"metadata\":{\"generation\":4},"
	    "\"spec\":{\"replicas\":3},\"status\":{\"observedGeneration\":4,"
	    "\"replicas\":4,\"updatedReplicas\":3,\"availableReplicas\":3}}",
	    HEALTH_PROGRESSING, "1 old replicas pending termination (of 4)");
	expect_health("{\"kind\":\"Deployment\",\"metadata\":{\"generation\":4},"
	    "\"spec\":{\"replicas\":3},\"status\":{\"observedGeneration\":4,"
	    "\"replicas\":3,\"updatedReplicas\":3,\"availableReplicas\":2}}",
	    HEALTH_PROGRESSING, "2 of 3 updated replicas available");
	expect_health("{\"kind\":\"Deployment\",\"metadata\":{\"generation\":4},"
	    "\"spec\":{\"replicas\":3},\"status\":{\"observedGeneration\":4,"
	    "\"replicas\":3,\"updatedReplicas\":3,\"availableReplicas\":3}}",
	    HEALTH_HEALTHY, NULL);
	expect_health("{\"kind\":\"Deployment\",\"metadata\":{\"generation\":2},"
	    "\"spec\":{\"replicas\":3},\"status\":{\"observedGeneration\":2,"
	    "\"conditions\":[{\"type\":\"Progressing\",\"status\":\"False\","
	    "\"reason\":\"ProgressDeadlineExceeded\",\"message\":\"ReplicaSet "
	    "\\\"web-7d9\\\" has timed out progressing.\"}]}}",
	    HEALTH_DEGRADED, "rollout failed: ReplicaSet \"web-7d9\" has timed "
	    "out progressing.");
}

/* Paused on purpose: Suspended, as Argo CD says it, whatever its status. */
static void
test_health_of_object_suspended(void **state)
{
	(void)state;
	expect_health("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
	    "\"metadata\":{\"generation\":5},\"spec\":{\"paused\":true,"
	    "\"replicas\":3},\"status\":{\"observedGeneration\":4,"
	    "\"updatedReplicas\":1}}", HEALTH_SUSPENDED,
	    "deployment is paused");
	expect_health("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
	    "\"spec\":{\"paused\":false,\"replicas\":1},\"status\":{"
	    "\"replicas\":1,\"updatedReplicas\":1,\"availableReplicas\":1}}",
	    HEALTH_HEALTHY, NULL);
	/* A CronJob that never ran has no status. */
	expect_health("{\"apiVersion\":\"batch/v1\",\"kind\":\"CronJob\","
	    "\"spec\":{\"suspend\":true,\"schedule\":\"* * * * *\"}}",
	    HEALTH_SUSPENDED, "cronjob is suspended");
	expect_health("{\"apiVersion\":\"batch/v1\",\"kind\":\"CronJob\","
	    "\"spec\":{\"suspend\":false}}", HEALTH_HEALTHY, NULL);
	/* Another group's kind of that name is not Kubernetes' own. */
	expect_health("{\"apiVersion\":\"example.com/v1\",\"kind\":"
	    "\"Deployment\",\"spec\":{\"paused\":true}}", HEALTH_HEALTHY,
	    NULL);
	/* Being deleted comes first. */
	expect_health("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
	    "\"metadata\":{\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"},"
	    "\"spec\":{\"paused\":true}}", HEALTH_PROGRESSING,
	    "being deleted");
	assert_string_equal(health_status_name(HEALTH_SUSPENDED), "Suspended");
	assert_true(health_settled(HEALTH_SUSPENDED));
	assert_false(health_settled(HEALTH_PROGRESSING));
}

static void
test_health_of_object_other_kinds(void **state)
{
	expect_health("{\"kind\":\"StatefulSet\",\"spec\":{\"replicas\":2},"
	    "\"status\":{\"updatedReplicas\":2,\"readyReplicas\":1}}",
	    HEALTH_PROGRESSING, "1 of 2 replicas ready");
	expect_health("{\"kind\":\"StatefulSet\",\"spec\":{\"replicas\":2},"
	    "\"status\":{\"updatedReplicas\":2,\"readyReplicas\":2,"
	    "\"currentRevision\":\"db-1\",\"updateRevision\":\"db-1\"}}",
	    HEALTH_HEALTHY, NULL);
	expect_health("{\"kind\":\"DaemonSet\",\"status\":{"
	    "\"desiredNumberScheduled\":3,\"updatedNumberScheduled\":3,"
	    "\"numberAvailable\":2}}", HEALTH_PROGRESSING,
	    "2 of 3 pods available");
	expect_health("{\"kind\":\"Job\",\"status\":{\"conditions\":[{\"type\":"
	    "\"Complete\",\"status\":\"True\"}]}}", HEALTH_HEALTHY, NULL);
	expect_health("{\"kind\":\"Job\",\"status\":{\"conditions\":[{\"type\":"
	    "\"Failed\",\"status\":\"True\",\"reason\":\"BackoffLimitExceeded\","
	    "\"message\":\"Job has reached the specified backoff limit\"}]}}",
	    HEALTH_DEGRADED, "job failed: Job has reached the specified backoff "
	    "limit");
	expect_health("{\"kind\":\"Job\",\"status\":{\"active\":1}}",
	    HEALTH_PROGRESSING, "job running");
	expect_health("{\"kind\":\"PersistentVolumeClaim\",\"status\":"
	    "{\"phase\":\"Pending\"}}", HEALTH_PROGRESSING, "claim Pending");
	expect_health("{\"kind\":\"PersistentVolumeClaim\",\"status\":"
	    "{\"phase\":\"Bound\"}}", HEALTH_HEALTHY, NULL);
	expect_health("{\"kind\":\"ConfigMap\",\"status\":{}}", HEALTH_HEALTHY,
	    NULL);
}

/* kstatus's order: deletion, generation, Reconciling, Stalled, kind. */
static void
test_health_of_object_kstatus_order(void **state)
{
	expect_health("{\"kind\":\"Deployment\",\"metadata\":{"
	    "\"deletionTimestamp\":\"2026-12-06T00:00:00Z\"},\"status\":{}}",
	    HEALTH_PROGRESSING, "being deleted");
	/* observedGeneration counts for any kind that reports it. */
	expect_health("{\"kind\":\"Certificate\",\"metadata\":{\"generation\":"
	    "3},\"status\":{\"observedGeneration\":2,\"conditions\":[{\"type\":"
	    "\"Ready\",\"status\":\"True\"}]}}", HEALTH_PROGRESSING,
	    "the controller has not observed generation 3 yet (it saw 2)");
	expect_health("{\"kind\":\"Kustomization\",\"status\":{\"conditions\":"
	    "[{\"type\":\"Reconciling\",\"status\":\"True\",\"reason\":"
	    "\"Progressing\",\"message\":\"applying revision 7\"},{\"type\":"
	    "\"Ready\",\"status\":\"True\"}]}}", HEALTH_PROGRESSING,
	    "reconciling: applying revision 7");
	expect_health("{\"kind\":\"Kustomization\",\"status\":{\"conditions\":"
	    "[{\"type\":\"Stalled\",\"status\":\"True\",\"reason\":"
	    "\"BuildFailed\"}]}}", HEALTH_DEGRADED, "stalled: BuildFailed");
	/* Anything else: Ready, when it has the condition. */
	expect_health("{\"kind\":\"Certificate\",\"status\":{\"conditions\":"
	    "[{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"Pending\","
	    "\"message\":\"Issuing certificate\"}]}}", HEALTH_PROGRESSING,
	    "not ready: Issuing certificate");
	expect_health("{\"kind\":\"Certificate\",\"status\":{\"conditions\":"
	    "[{\"type\":\"Ready\",\"status\":\"True\"}]}}", HEALTH_HEALTHY,
	    NULL);
	expect_health("{\"kind\":\"Widget\",\"status\":{\"phase\":\"x\"}}",
	    HEALTH_HEALTHY, NULL);
}

/* Pods: a container that cannot start fails, as Argo CD says Degraded. */
static void
test_health_of_object_pod_and_friends(void **state)
{
	expect_health("{\"kind\":\"Pod\",\"status\":{\"phase\":\"Pending\","
	    "\"containerStatuses\":[{\"name\":\"app\",\"state\":{\"waiting\":"
	    "{\"reason\":\"ImagePullBackOff\",\"message\":\"Back-off pulling "
	    "image \\\"x:nope\\\"\"}}}]}}", HEALTH_DEGRADED,
	    "container 'app': ImagePullBackOff: Back-off pulling image "
	    "\"x:nope\"");
	expect_health("{\"kind\":\"Pod\",\"status\":{\"phase\":\"Running\","
	    "\"initContainerStatuses\":[{\"name\":\"migrate\",\"state\":{"
	    "\"waiting\":{\"reason\":\"CrashLoopBackOff\"}}}]}}",
	    HEALTH_DEGRADED, "container 'migrate': CrashLoopBackOff");
	expect_health("{\"kind\":\"Pod\",\"status\":{\"phase\":\"Pending\","
	    "\"containerStatuses\":[{\"name\":\"app\",\"state\":{\"waiting\":"
	    "{\"reason\":\"ContainerCreating\"}}}]}}", HEALTH_PROGRESSING,
	    "pod Pending");
	expect_health("{\"kind\":\"Pod\",\"status\":{\"phase\":\"Running\","
	    "\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}]}}",
	    HEALTH_PROGRESSING, "pod Running, not ready");
	expect_health("{\"kind\":\"Pod\",\"status\":{\"phase\":\"Running\","
	    "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
	    HEALTH_HEALTHY, NULL);
	expect_health("{\"kind\":\"Pod\",\"status\":{\"phase\":\"Failed\","
	    "\"reason\":\"Evicted\"}}", HEALTH_DEGRADED, "pod failed: Evicted");
	expect_health("{\"kind\":\"Pod\",\"status\":{\"phase\":\"Succeeded\"}}",
	    HEALTH_HEALTHY, NULL);
	expect_health("{\"kind\":\"ReplicaSet\",\"spec\":{\"replicas\":2},"
	    "\"status\":{\"readyReplicas\":1,\"availableReplicas\":1}}",
	    HEALTH_PROGRESSING, "1 of 2 replicas ready");
	expect_health("{\"kind\":\"ReplicaSet\",\"spec\":{\"replicas\":2},"
	    "\"status\":{\"conditions\":[{\"type\":\"ReplicaFailure\","
	    "\"status\":\"True\",\"message\":\"pods \\\"x\\\" is forbidden: "
	    "exceeded quota\"}]}}", HEALTH_DEGRADED, "replica failure: pods "
	    "\"x\" is forbidden: exceeded quota");
	expect_health("{\"kind\":\"Service\",\"spec\":{\"type\":"
	    "\"LoadBalancer\"},\"status\":{\"loadBalancer\":{}}}",
	    HEALTH_PROGRESSING, "waiting for the load balancer's address");
	expect_health("{\"kind\":\"Service\",\"spec\":{\"type\":"
	    "\"LoadBalancer\"},\"status\":{\"loadBalancer\":{\"ingress\":"
	    "[{\"ip\":\"10.0.0.9\"}]}}}", HEALTH_HEALTHY, NULL);
	expect_health("{\"kind\":\"Service\",\"spec\":{\"type\":\"ClusterIP\"},"
	    "\"status\":{\"loadBalancer\":{}}}", HEALTH_HEALTHY, NULL);
	expect_health("{\"kind\":\"CustomResourceDefinition\",\"status\":{"
	    "\"conditions\":[{\"type\":\"NamesAccepted\",\"status\":\"False\","
	    "\"message\":\"\\\"widgets\\\" is already in use\"}]}}",
	    HEALTH_DEGRADED, "names not accepted: \"widgets\" is already in "
	    "use");
	expect_health("{\"kind\":\"CustomResourceDefinition\",\"status\":{"
	    "\"conditions\":[{\"type\":\"Established\",\"status\":\"True\"}]}}",
	    HEALTH_HEALTHY, NULL);
	expect_health("{\"kind\":\"StatefulSet\",\"spec\":{\"replicas\":4,"
	    "\"updateStrategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":"
	    "{\"partition\":3}}},\"status\":{\"updatedReplicas\":1,"
	    "\"readyReplicas\":4,\"currentRevision\":\"a\",\"updateRevision\":"
	    "\"b\"}}", HEALTH_HEALTHY, NULL);
	expect_health("{\"kind\":\"StatefulSet\",\"spec\":{\"replicas\":2,"
	    "\"updateStrategy\":{\"type\":\"OnDelete\"}},\"status\":{"
	    "\"updatedReplicas\":0,\"readyReplicas\":2}}", HEALTH_HEALTHY, NULL);
	/* A partition above the replicas: none of them rolls. */
	expect_health("{\"kind\":\"StatefulSet\",\"spec\":{\"replicas\":3,"
	    "\"updateStrategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":"
	    "{\"partition\":5}}},\"status\":{\"updatedReplicas\":0,"
	    "\"readyReplicas\":3,\"currentRevision\":\"a\",\"updateRevision\":"
	    "\"b\"}}", HEALTH_HEALTHY, NULL);
	/* Another group's Service or Job: not the built-in rules. */
	expect_health("{\"apiVersion\":\"serving.knative.dev/v1\",\"kind\":"
	    "\"Service\",\"spec\":{},\"status\":{\"conditions\":[{\"type\":"
	    "\"Ready\",\"status\":\"False\",\"message\":\"revision "
	    "failed\"}]}}", HEALTH_PROGRESSING, "not ready: revision failed");
	expect_health("{\"apiVersion\":\"batch.volcano.sh/v1alpha1\",\"kind\":"
	    "\"Job\",\"status\":{\"state\":{\"phase\":\"Completed\"}}}",
	    HEALTH_HEALTHY, NULL);
	expect_health("{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\","
	    "\"status\":{\"active\":1}}", HEALTH_PROGRESSING, "job running");
}

static void
expect_ruled(const struct health_rule *r, size_t n, const char *text,
    enum health_status want, const char *why)
{
	struct json	*o = obj(text);
	char		*got = NULL;

	assert_int_equal(health_of_object_ruled(o, r, n, &got), want);
	if (why != NULL)
		assert_string_equal(got, why);
	else
		assert_null(got);
	free(got);
	json_free(o);
}

/* health_rules: a custom kind's conditions, before kstatus's rules. */
static void
test_health_of_object_ruled(void **state)
{
	struct health_rule	 r[2];

	memset(r, 0, sizeof r);
	r[0].kind = xstrdup("Certificate");
	r[0].group = xstrdup("cert-manager.io");
	strv_add(&r[0].healthy, "Ready=True");
	strv_add(&r[0].healthy, "Issued=True");
	strv_add(&r[0].degraded, "Ready=False");
	r[1].kind = xstrdup("Widget");	/* any group */
	strv_add(&r[1].healthy, "Done=Yes");

	expect_ruled(r, 2, "{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":"
	    "\"Certificate\",\"status\":{\"conditions\":[{\"type\":\"Ready\","
	    "\"status\":\"True\"},{\"type\":\"Issued\",\"status\":\"True\"}]}}",
	    HEALTH_HEALTHY, NULL);
	expect_ruled(r, 2, "{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":"
	    "\"Certificate\",\"status\":{\"conditions\":[{\"type\":\"Ready\","
	    "\"status\":\"True\"}]}}", HEALTH_PROGRESSING,
	    "waiting for Issued=True");
	expect_ruled(r, 2, "{\"apiVersion\":\"cert-manager.io/v1\",\"kind\":"
	    "\"Certificate\",\"status\":{\"conditions\":[{\"type\":\"Ready\","
	    "\"status\":\"False\",\"message\":\"issuer not found\"}]}}",
	    HEALTH_DEGRADED, "Ready=False: issuer not found");
	/* Another group's Certificate: kstatus's rules (Ready False). */
	expect_ruled(r, 2, "{\"apiVersion\":\"other.io/v1\",\"kind\":"
	    "\"Certificate\",\"status\":{\"conditions\":[{\"type\":\"Ready\","
	    "\"status\":\"False\",\"message\":\"issuer not found\"}]}}",
	    HEALTH_PROGRESSING, "not ready: issuer not found");
	/* A rule with no group matches any; Stalled still comes first. */
	expect_ruled(r, 2, "{\"apiVersion\":\"x.io/v2\",\"kind\":\"Widget\","
	    "\"status\":{\"conditions\":[{\"type\":\"Done\",\"status\":"
	    "\"Yes\"}]}}", HEALTH_HEALTHY, NULL);
	expect_ruled(r, 2, "{\"apiVersion\":\"x.io/v2\",\"kind\":\"Widget\","
	    "\"status\":{\"conditions\":[{\"type\":\"Stalled\",\"status\":"
	    "\"True\"}]}}", HEALTH_DEGRADED, "stalled: Stalled");
	free(r[0].kind);
	free(r[0].group);
	free(r[1].kind);
	strv_free(&r[0].healthy);
	strv_free(&r[0].degraded);
	strv_free(&r[1].healthy);
}

/* A workload's pod: only what waiting will not fix fails it. */
static void
test_health_pod_failing(void **state)
{
	static const struct {
		const char	*status;
		const char	*why;
	} cases[] = {
		{ "{\"phase\":\"Pending\",\"containerStatuses\":[{\"name\":"
		    "\"web\",\"state\":{\"waiting\":{\"reason\":"
		    "\"ImagePullBackOff\",\"message\":\"Back-off pulling\"}}}]}",
		    "pod web-1: container 'web': ImagePullBackOff: Back-off "
		    "pulling" },
		{ "{\"phase\":\"Running\",\"containerStatuses\":[{\"name\":"
		    "\"web\",\"state\":{\"waiting\":{\"reason\":"
		    "\"CrashLoopBackOff\"}}}]}",
		    "pod web-1: container 'web': CrashLoopBackOff" },
		{ "{\"phase\":\"Failed\",\"reason\":\"Evicted\"}",
		    "pod web-1: pod failed: Evicted" },
		/* The kubelet retries a pull that failed once. */
		{ "{\"phase\":\"Pending\",\"containerStatuses\":[{\"name\":"
		    "\"web\",\"state\":{\"waiting\":{\"reason\":"
		    "\"ErrImagePull\"}}}]}", NULL },
		/* Judged by the reason, never by words in the message. */
		{ "{\"phase\":\"Pending\",\"containerStatuses\":[{\"name\":"
		    "\"web\",\"state\":{\"waiting\":{\"reason\":"
		    "\"ErrImagePull\",\"message\":\"not yet ImagePullBackOff\"}}}"
		    "]}", NULL },
		{ "{\"phase\":\"Pending\"}", NULL },
		{ "{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\","
		    "\"status\":\"True\"}]}", NULL },
	};
	struct json	*o;
	char		*text, *why;
	size_t		 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		xasprintf(&text, "{\"kind\":\"Pod\",\"metadata\":{\"name\":"
		    "\"web-1\"},\"status\":%s}", cases[i].status);
		o = obj(text);
		free(text);
		assert_int_equal(health_pod_failing(o, &why),
		    cases[i].why != NULL);
		if (cases[i].why != NULL)
			assert_string_equal(why, cases[i].why);
		else
			assert_null(why);
		free(why);
		json_free(o);
	}
}

static void
test_health_condition_parse_and_eval(void **state)
{
	struct health_condition	 c;
	char			*cause = NULL;

	assert_int_equal(health_condition_parse("result >= 0.95", &c, &cause),
	    0);
	assert_true(health_condition_eval(&c, 0.95));
	assert_false(health_condition_eval(&c, 0.9));
	assert_int_equal(health_condition_parse("0.05 > result", &c, &cause),
	    0);
	assert_true(health_condition_eval(&c, 0.01));
	assert_false(health_condition_eval(&c, 0.05));
	assert_int_equal(health_condition_parse("result==1", &c, &cause), 0);
	assert_true(health_condition_eval(&c, 1));
	assert_int_equal(health_condition_parse("result >= x", &c, &cause),
	    -1);
	assert_non_null(strstr(cause, "want 'result OP NUMBER'"));
	free(cause);
	assert_int_equal(health_condition_parse("result => 1", &c, &cause),
	    -1);
	free(cause);
}

static void
test_probe_run_command_exit_status(void **state)
{
	struct probe	 p;
	char		*why = NULL;

	memset(&p, 0, sizeof p);
	p.type = PROBE_COMMAND;
	strv_add(&p.argv, "true");
	assert_int_equal(probe_run(&p, NULL, 0, NULL, &why), PROBE_PASSED);
	free(why);
	strv_free(&p.argv);
	strv_add(&p.argv, "sh");
	strv_add(&p.argv, "-c");
	strv_add(&p.argv, "echo broken >&2; exit 3");
	assert_int_equal(probe_run(&p, NULL, 0, NULL, &why), PROBE_FAILED);
	assert_string_equal(why, "'sh' failed: broken\n");
	free(why);
	strv_free(&p.argv);
	strv_add(&p.argv, "sleep");
	strv_add(&p.argv, "10");
	p.timeout_ms = 200;
	assert_int_equal(probe_run(&p, NULL, 0, NULL, &why), PROBE_FAILED);
	assert_string_equal(why, "'sleep' did not finish in time");
	free(why);
	strv_free(&p.argv);
}

/* A server on 127.0.0.1 answering each connection with replies[i]. */
struct canned {
	int		 fd;
	int		 port;
	const char	*const *replies;
	size_t		 n;
	pthread_t	 thread;
};

/* "RAW bytes" as they are, or "CODE\nBODY" with its Content-Length. */
static void
canned_reply(int s, const char *r)
{
	const char	*body;
	char		*out;

	if (strncmp(r, "RAW ", 4) == 0)
		out = xstrdup(r + 4);
	else {
		body = strchr(r, '\n') + 1;
		xasprintf(&out, "HTTP/1.1 %.*s\r\nContent-Type: application/"
		    "json\r\nContent-Length: %zu\r\n\r\n%s",
		    (int)(body - r - 1), r, strlen(body), body);
	}
	send(s, out, strlen(out), MSG_NOSIGNAL);
	free(out);
}

static void *
canned_run(void *arg)
{
	struct canned	*c = arg;
	char		 buf[4096];
	size_t		 i;
	int		 s;

	for (i = 0; ; i++) {
		if ((s = accept(c->fd, NULL, NULL)) == -1)
			break;
		if (recv(s, buf, sizeof buf, 0) <= 0) {
			close(s);
			continue;
		}
		canned_reply(s, c->replies[i < c->n ? i : c->n - 1]);
		close(s);
	}
	return (NULL);
}

static void
canned_start(struct canned *c, const char *const *replies, size_t n)
{
	c->fd = unit_listen(&c->port);
	c->replies = replies;
	c->n = n;
	pthread_create(&c->thread, NULL, canned_run, c);
}

static void
canned_stop(struct canned *c)
{
	shutdown(c->fd, SHUT_RDWR);
	close(c->fd);
	pthread_join(c->thread, NULL);
}

#define OK200	"200 OK\nok\n"
#define ERR500	"500 Internal Server Error\nbad\n"

static void
test_probe_run_http_successes_in_a_row(void **state)
{
	static const char *const	 replies[] = { OK200, ERR500, OK200,
					     OK200, OK200 };
	struct canned			 c;
	struct probe			 p;
	char				*why = NULL, url[64];

	canned_start(&c, replies, 5);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", c.port);
	memset(&p, 0, sizeof p);
	p.type = PROBE_HTTP;
	p.url = url;
	p.successes = 3;
	p.interval_ms = 10;
	/* ok, 500 (resets), then three in a row. */
	assert_int_equal(probe_run(&p, NULL, time_monotonic_ms() + 5000, NULL,
	    &why), PROBE_PASSED);
	assert_non_null(strstr(why, "answered 200, 3 times in a row"));
	free(why);
	canned_stop(&c);
}

static void
test_probe_run_http_failures_fail_fast(void **state)
{
	static const char *const	 replies[] = { ERR500 };
	struct canned			 c;
	struct probe			 p;
	char				*why = NULL, url[64];
	uint64_t			 t0 = time_monotonic_ms();

	canned_start(&c, replies, 1);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", c.port);
	memset(&p, 0, sizeof p);
	p.type = PROBE_HTTP;
	p.url = url;
	p.successes = 1;
	p.failures = 3;
	p.interval_ms = 10;
	assert_int_equal(probe_run(&p, NULL, time_monotonic_ms() + 60000, NULL,
	    &why), PROBE_FAILED);
	assert_non_null(strstr(why, "3 wrong answers in a row"));
	assert_non_null(strstr(why, "answered 500, not 200"));
	assert_true(time_monotonic_ms() - t0 < 30000);
	free(why);
	/* Without a failure count it waits for the deadline. */
	p.failures = 0;
	assert_int_equal(probe_run(&p, NULL, time_monotonic_ms() + 200, NULL,
	    &why), PROBE_FAILED);
	assert_non_null(strstr(why, "not healthy by the deadline"));
	free(why);
	canned_stop(&c);
}

/* Run p with a stop flag set after 300 ms: stopped, long before 60 s. */
static void
expect_stopped(struct probe *p)
{
	struct unit_stopper	 st;
	char			*why = NULL;
	uint64_t		 t0 = time_monotonic_ms();
	int			 stop = 0;

	unit_stopper_start(&st, &stop, 300);
	assert_int_equal(probe_run(p, NULL, t0 + 120000, &stop, &why),
	    PROBE_FAILED);
	unit_stopper_join(&st);
	assert_non_null(why);
	assert_non_null(strstr(why, "the agent is shutting down"));
	assert_true(time_monotonic_ms() - t0 < 30000);
	free(why);
}

static void
test_probe_run_stop_ends_every_wait(void **state)
{
	const char	*argv[] = { "sleep", "60", NULL };
	struct probe	 p;
	char		 url[64];
	int		 fd, port;

	fd = unit_listen(&port);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
	memset(&p, 0, sizeof p);
	/* An answer that never comes, within a 60 s timeout. */
	p.type = PROBE_HTTP;
	p.url = url;
	p.timeout_ms = 60000;
	expect_stopped(&p);
	/* A measurement that never comes. */
	p.type = PROBE_PROMETHEUS;
	p.query = (char *)"up";
	p.condition = (char *)"result == 1";
	expect_stopped(&p);
	close(fd);
	/* The pause between refused attempts, 60 s apart. */
	p.type = PROBE_HTTP;
	p.interval_ms = 60000;
	expect_stopped(&p);
	/* A command that would run for 60 s. */
	p.type = PROBE_COMMAND;
	p.argv.v = (char **)argv;
	p.argv.n = 2;
	expect_stopped(&p);
}

static void
test_health_prometheus_query_shapes(void **state)
{
	/* Shapes from Prometheus' HTTP API documentation. */
	static const char *const	 replies[] = {
		"RAW HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		"Transfer-Encoding: chunked\r\n\r\n"
		"6a\r\n{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
		"\"result\":[{\"metric\":{},\"value\":[1700000000.1,\"0.97\"]}]}}"
		"\r\n0\r\n\r\n",
		"200 OK\n{\"status\":\"success\",\"data\":{\"resultType\":"
		"\"scalar\",\"result\":[1700000000,\"2\"]}}",
		"200 OK\n{\"status\":\"success\",\"data\":{\"resultType\":"
		"\"vector\",\"result\":[]}}",
		"400 Bad Request\n{\"status\":\"error\",\"errorType\":"
		"\"bad_data\",\"error\":\"parse error\"}",
	};
	struct canned			 c;
	char				*cause = NULL, url[64];
	double				 v;

	canned_start(&c, replies, 4);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", c.port);
	assert_int_equal(health_prometheus_query(url, "sum(rate(x[1m]))",
	    2000, &v, &cause), 0);
	assert_true(fabs(v - 0.97) < 1e-9);
	assert_int_equal(health_prometheus_query(url, "scalar(up)", 2000, &v,
	    &cause), 0);
	assert_true(v == 2);
	assert_int_equal(health_prometheus_query(url, "absent", 2000, &v,
	    &cause), -1);
	assert_string_equal(cause, "query 'absent' returned no data");
	free(cause);
	assert_int_equal(health_prometheus_query(url, "((", 2000, &v,
	    &cause), -1);
	assert_string_equal(cause, "query '((' failed (400): parse error");
	free(cause);
	canned_stop(&c);
}

/* A prometheus probe taking count measurements 10 ms apart. */
static void
prometheus_probe(struct probe *p, char *url, char *query, char *cond,
    int count)
{
	memset(p, 0, sizeof *p);
	p->type = PROBE_PROMETHEUS;
	p->url = url;
	p->query = query;
	p->condition = cond;
	p->count = count;
	p->interval_ms = 10;
}

static void
test_probe_run_prometheus_unreachable_is_inconclusive(void **state)
{
	struct probe	 p;
	char		*why = NULL;
	char		 url[] = "http://127.0.0.1:1", query[] = "up";
	char		 cond[] = "result >= 1";

	prometheus_probe(&p, url, query, cond, 2);
	assert_int_equal(probe_run(&p, NULL, 0, NULL, &why), PROBE_INCONCLUSIVE);
	assert_non_null(strstr(why, "gave no measurement"));
	free(why);
}

/* Prometheus' 0/0 (no traffic yet) is no evidence: never a failure. */
static void
test_probe_run_prometheus_nan_is_inconclusive(void **state)
{
	static const char *const	 replies[] = {
		"200 OK\n{\"status\":\"success\",\"data\":{\"resultType\":"
		"\"vector\",\"result\":[{\"metric\":{},\"value\":"
		"[1700000000,\"NaN\"]}]}}",
	};
	struct canned			 c;
	struct probe			 p;
	char				*why = NULL, *cause = NULL, url[64];
	char				 query[] = "errors / requests";
	char				 cond[] = "result < 0.05";
	double				 v;

	canned_start(&c, replies, 1);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", c.port);
	assert_int_equal(health_prometheus_query(url, query, 2000, &v,
	    &cause), -1);
	assert_string_equal(cause, "query 'errors / requests' returned NaN");
	free(cause);
	prometheus_probe(&p, url, query, cond, 3);
	assert_int_equal(probe_run(&p, NULL, 0, NULL, &why), PROBE_INCONCLUSIVE);
	assert_non_null(strstr(why, "returned NaN"));
	free(why);
	canned_stop(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health_of_object_deployment_rules),
		cmocka_unit_test(test_health_of_object_suspended),
		cmocka_unit_test(test_health_of_object_other_kinds),
		cmocka_unit_test(test_health_of_object_kstatus_order),
		cmocka_unit_test(test_health_of_object_pod_and_friends),
		cmocka_unit_test(test_health_of_object_ruled),
		cmocka_unit_test(test_health_pod_failing),
		cmocka_unit_test(test_health_condition_parse_and_eval),
		cmocka_unit_test(test_probe_run_command_exit_status),
		cmocka_unit_test(test_probe_run_http_successes_in_a_row),
		cmocka_unit_test(test_probe_run_http_failures_fail_fast),
		cmocka_unit_test(test_probe_run_stop_ends_every_wait),
		cmocka_unit_test(test_health_prometheus_query_shapes),
		cmocka_unit_test(
		    test_probe_run_prometheus_unreachable_is_inconclusive),
		cmocka_unit_test(test_probe_run_prometheus_nan_is_inconclusive),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
