/*
 * test_kube.c: the Kubernetes client against the API server double
 * (tests/kube/kube-double, started by each test through unit_kube_start):
 * discovery of built-in kinds and of a CRD's, server-side apply (create,
 * update, no-op, dry-run, conflicts, force, immutable fields), LIST
 * paging and a failed page, retries (429, 500, a dropped connection, 401
 * with an exec plugin) and what is never retried (403), DELETE with a
 * uid precondition, and both kinds of kubeconfig.
 */
#include "config.h"

#include "unit.h"
#include "kube.h"

static void	apply_ok(struct kube *, const char *, const char *, int);

/* A client of the double, and its namespace t. */
static struct kube *
open_double(const struct unit_kube *d, const char *kubeconfig)
{
	struct kube_opts	 o;
	struct kube		*k;
	char			*path = unit_kube_path(d, kubeconfig);
	char			*cause = NULL;

	memset(&o, 0, sizeof o);
	o.auth.kubeconfig = path;
	/* Many objects quickly: the rate limit is not what is tested. */
	o.qps = 100000;
	o.burst = 100000;
	if ((k = kube_open(&o, &cause)) == NULL)
		fail_msg("kube_open: %s", cause);
	free(path);
	apply_ok(k, "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
	    "\"metadata\":{\"name\":\"t\"}}", "test", 0);
	return (k);
}

static const struct kube_kind *
kind(struct kube *k, const char *api_version, const char *name)
{
	const struct kube_kind	*kk;
	char			*cause = NULL;

	if (kube_kind_lookup(k, api_version, name, &kk, &cause) != 0)
		fail_msg("%s %s: %s", api_version, name,
		    cause != NULL ? cause : "not served");
	return (kk);
}

static struct json *
obj(const char *text)
{
	struct json	*j;
	char		*cause = NULL;

	if ((j = json_parse(text, strlen(text), &cause)) == NULL)
		fail_msg("fixture: %s", cause);
	return (j);
}

/* Apply text as mgr with flags: the rc; *why and *cause kept. */
static int
apply(struct kube *k, const char *text, const char *mgr, int flags,
    struct json **result, enum kube_why *why, char **cause)
{
	struct json	*o = obj(text);
	int		 rc;

	rc = kube_apply(k, kind(k, json_path_string(o, "apiVersion", NULL),
	    json_path_string(o, "kind", NULL)), o, mgr, flags, result, why,
	    cause);
	json_free(o);
	return (rc);
}

static void
apply_ok(struct kube *k, const char *text, const char *mgr, int flags)
{
	enum kube_why	 why;
	char		*cause = NULL;

	if (apply(k, text, mgr, flags, NULL, &why, &cause) != 0)
		fail_msg("apply: %s", cause);
}

/* How many times the double saw "METHOD path". */
static int
double_count(const struct unit_kube *d, const char *what)
{
	struct json	*j;
	char		*body;
	int		 n;

	unit_kube_admin(d, "GET", "requests", NULL, &body);
	j = obj(body);
	n = (int)json_number(json_get(json_get(j, "requests"), what));
	json_free(j);
	free(body);
	return (n);
}

/* The double, a client of it by certificate, and ConfigMap's kind. */
static struct kube *
start(struct unit_kube *d, const struct kube_kind **cm)
{
	struct kube	*k;

	unit_kube_start(d);
	k = open_double(d, "kubeconfig");
	if (cm != NULL)
		*cm = kind(k, "v1", "ConfigMap");
	return (k);
}

#define CM(name, data)							\
	"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":"	\
	"{\"name\":\"" name "\",\"namespace\":\"t\"},\"data\":" data "}"

static void
test_kube_kind_lookup_builtin_and_crd(void **state)
{
	struct unit_kube	 d;
	struct kube		*k;
	const struct kube_kind	*kk;
	struct kube_counts	 c;
	char			*cause = NULL;

	k = start(&d, NULL);
	kk = kind(k, "apps/v1", "Deployment");
	assert_string_equal(kk->group, "apps");
	assert_string_equal(kk->resource, "deployments");
	assert_true(kk->namespaced);
	kk = kind(k, "v1", "Namespace");
	assert_string_equal(kk->group, "");
	assert_false(kk->namespaced);
	assert_int_equal(kube_kind_by_group(k, "batch", "CronJob", &kk,
	    &cause), 0);
	assert_string_equal(kk->version, "v1");
	assert_string_equal(kk->resource, "cronjobs");
	kube_counts(k, &c);
	/* Aggregated: /api and /apis, once. */
	assert_int_equal(c.discovery, 2);
	/* Not served: discovery fetched once more, then 1. */
	assert_int_equal(kube_kind_lookup(k, "example.com/v1", "Widget", &kk,
	    &cause), 1);
	kube_counts(k, &c);
	assert_int_equal(c.discovery, 4);
	apply_ok(k, "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":"
	    "\"CustomResourceDefinition\",\"metadata\":{\"name\":"
	    "\"widgets.example.com\"},\"spec\":{\"group\":\"example.com\","
	    "\"scope\":\"Namespaced\",\"names\":{\"plural\":\"widgets\","
	    "\"singular\":\"widget\",\"kind\":\"Widget\"},\"versions\":[{"
	    "\"name\":\"v1\",\"served\":true,\"storage\":true,\"schema\":{"
	    "\"openAPIV3Schema\":{\"type\":\"object\","
	    "\"x-kubernetes-preserve-unknown-fields\":true}}}]}}",
	    "gitops-agent", 0);
	kube_discovery_invalidate(k);
	kk = kind(k, "example.com/v1", "Widget");
	assert_string_equal(kk->resource, "widgets");
	assert_true(kk->namespaced);
	apply_ok(k, "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\","
	    "\"metadata\":{\"name\":\"w\",\"namespace\":\"t\"},\"spec\":{"
	    "\"size\":3}}", "gitops-agent", 0);
	/* Known kinds stay cached. */
	kube_counts(k, &c);
	kind(k, "apps/v1", "Deployment");
	kind(k, "example.com/v1", "Widget");
	assert_int_equal(c.discovery, 6);
	kube_close(k);
	unit_kube_stop(&d);
}

/* Create, update, no-op; dry-run changes nothing. */
static void
test_kube_apply_create_update_noop_dry_run(void **state)
{
	struct unit_kube	 d;
	struct kube		*k;
	struct json		*res, *live;
	enum kube_why		 why;
	char			*cause = NULL, *rv;

	k = start(&d, NULL);
	assert_int_equal(apply(k, CM("a", "{\"x\":\"1\"}"), "gitops-agent", 0,
	    &res, &why, &cause), 0);
	assert_non_null(json_path_string(res, "metadata", "uid", NULL));
	rv = xstrdup(json_path_string(res, "metadata", "resourceVersion",
	    NULL));
	json_free(res);
	/* The same again: nothing changes, not even resourceVersion. */
	assert_int_equal(apply(k, CM("a", "{\"x\":\"1\"}"), "gitops-agent", 0,
	    &res, &why, &cause), 0);
	assert_string_equal(json_path_string(res, "metadata",
	    "resourceVersion", NULL), rv);
	json_free(res);
	/* Dry-run: the answer has it, the server does not. */
	assert_int_equal(apply(k, CM("a", "{\"x\":\"2\"}"), "gitops-agent",
	    KUBE_DRY_RUN, &res, &why, &cause), 0);
	assert_string_equal(json_path_string(res, "data", "x", NULL), "2");
	json_free(res);
	assert_int_equal(apply(k, CM("b", "{}"), "gitops-agent", KUBE_DRY_RUN,
	    NULL, &why, &cause), 0);
	assert_int_equal(kube_get(k, kind(k, "v1", "ConfigMap"), "t", "b",
	    &live, &cause), 0);
	assert_null(live);
	assert_int_equal(kube_get(k, kind(k, "v1", "ConfigMap"), "t", "a",
	    &live, &cause), 0);
	assert_string_equal(json_path_string(live, "data", "x", NULL), "1");
	json_free(live);
	/* An update; server fields in what we send are never sent. */
	assert_int_equal(apply(k, "{\"apiVersion\":\"v1\",\"kind\":"
	    "\"ConfigMap\",\"metadata\":{\"name\":\"a\",\"namespace\":\"t\","
	    "\"resourceVersion\":\"1\",\"uid\":\"bogus\",\"managedFields\":"
	    "[{}],\"creationTimestamp\":\"2001-01-01T00:00:00Z\"},\"data\":{"
	    "\"x\":\"3\"},\"status\":{\"a\":1}}", "gitops-agent", 0, &res,
	    &why, &cause), 0);
	assert_string_equal(json_path_string(res, "data", "x", NULL), "3");
	assert_string_not_equal(json_path_string(res, "metadata",
	    "resourceVersion", NULL), rv);
	json_free(res);
	free(rv);
	kube_close(k);
	unit_kube_stop(&d);
}

/* Another manager's field: a conflict naming it, then force takes it. */
static void
test_kube_apply_conflict_names_manager_force_takes(void **state)
{
	struct unit_kube	 d;
	struct kube		*k;
	enum kube_why		 why;
	char			*cause = NULL;

	k = start(&d, NULL);
	apply_ok(k, CM("c", "{\"a\":\"theirs\"}"), "other", 0);
	assert_int_equal(apply(k, CM("c", "{\"a\":\"ours\"}"), "gitops-agent",
	    0, NULL, &why, &cause), -1);
	assert_int_equal(why, KUBE_WHY_CONFLICT);
	assert_non_null(strstr(cause, "conflict with \"other\""));
	assert_non_null(strstr(cause, ".data.a"));
	assert_non_null(strstr(cause, "/api/v1/namespaces/t/configmaps/c"));
	free(cause);
	assert_int_equal(apply(k, CM("c", "{\"a\":\"ours\"}"), "gitops-agent",
	    KUBE_FORCE, NULL, &why, &cause), 0);
	kube_close(k);
	unit_kube_stop(&d);
}

#define SVC(ip)								\
	"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{"	\
	"\"name\":\"s\",\"namespace\":\"t\"},\"spec\":{\"clusterIP\":"	\
	"\"" ip "\",\"ports\":[{\"port\":80}]}}"

static void
test_kube_apply_immutable_field(void **state)
{
	struct unit_kube	 d;
	struct kube		*k;
	enum kube_why		 why;
	char			*cause = NULL;

	k = start(&d, NULL);
	apply_ok(k, SVC("10.0.0.10"), "gitops-agent", 0);
	assert_int_equal(apply(k, SVC("10.0.0.11"), "gitops-agent",
	    KUBE_FORCE, NULL, &why, &cause), -1);
	assert_int_equal(why, KUBE_WHY_IMMUTABLE);
	assert_non_null(strstr(cause, "spec.clusterIP"));
	assert_non_null(strstr(cause, "immutable"));
	free(cause);
	/* A 422 otherwise is INVALID, and never retried. */
	unit_kube_admin(&d, "DELETE", "requests", NULL, NULL);
	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"PATCH\",\"status\":"
	    "422,\"message\":\"spec.ports: Required value\"}", NULL);
	assert_int_equal(apply(k, SVC("10.0.0.10"), "gitops-agent", 0, NULL,
	    &why, &cause), -1);
	assert_int_equal(why, KUBE_WHY_INVALID);
	assert_non_null(strstr(cause, "422 Invalid: spec.ports: Required"));
	free(cause);
	assert_int_equal(double_count(&d,
	    "PATCH /api/v1/namespaces/t/services/s"), 1);
	/* A message alone (a webhook's words) is never IMMUTABLE. */
	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"PATCH\",\"status\":"
	    "422,\"message\":\"admission webhook \\\"policy.example\\\" denied "
	    "the request: label team is immutable\"}", NULL);
	assert_int_equal(apply(k, SVC("10.0.0.10"), "gitops-agent", 0, NULL,
	    &why, &cause), -1);
	assert_int_equal(why, KUBE_WHY_INVALID);
	assert_non_null(strstr(cause, "label team is immutable"));
	free(cause);
	/* An immutable field beside another cause: INVALID too. */
	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"PATCH\",\"status\":"
	    "422,\"body\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
	    "\"status\":\"Failure\",\"reason\":\"Invalid\",\"code\":422,\"message\":"
	    "\"Service s is invalid\",\"details\":{\"causes\":[{\"reason\":"
	    "\"FieldValueInvalid\",\"message\":\"Invalid value: 1: field is "
	    "immutable\",\"field\":\"spec.clusterIP\"},{\"reason\":"
	    "\"FieldValueRequired\",\"message\":\"Required value\",\"field\":"
	    "\"spec.ports\"}]}}}", NULL);
	assert_int_equal(apply(k, SVC("10.0.0.10"), "gitops-agent", 0, NULL,
	    &why, &cause), -1);
	assert_int_equal(why, KUBE_WHY_INVALID);
	assert_non_null(strstr(cause, "spec.ports: Required value"));
	free(cause);
	kube_close(k);
	unit_kube_stop(&d);
}

/*
 * A create's dry-run: a valid object whose name exists is 0 and EXISTS
 * (validated, admitted, and only the name taken); an invalid one fails;
 * nothing is ever made or changed.
 */
static void
test_kube_create_dry_run_validates_without_creating(void **state)
{
	struct unit_kube	 d;
	struct kube		*k;
	struct json		*o, *live;
	const struct kube_kind	*cm;
	enum kube_why		 why;
	char			*cause = NULL;

	k = start(&d, &cm);
	apply_ok(k, CM("c", "{\"a\":\"1\"}"), "gitops-agent", 0);
	o = obj(CM("c", "{\"a\":\"2\"}"));
	assert_int_equal(kube_create_dry_run(k, cm, o, "gitops-agent", &why,
	    &cause), 0);
	assert_int_equal(why, KUBE_WHY_EXISTS);
	json_free(o);
	o = obj(CM("c", "{\"a\":{\"not\":\"a string\"}}"));
	assert_int_equal(kube_create_dry_run(k, cm, o, "gitops-agent", &why,
	    &cause), -1);
	assert_int_not_equal(why, KUBE_WHY_EXISTS);
	free(cause);
	json_free(o);
	o = obj(CM("n", "{}"));
	assert_int_equal(kube_create_dry_run(k, cm, o, "gitops-agent", &why,
	    &cause), 0);
	assert_int_equal(why, KUBE_WHY_OTHER);
	json_free(o);
	assert_int_equal(kube_get(k, cm, "t", "n", &live, &cause), 0);
	assert_null(live);
	assert_int_equal(kube_get(k, cm, "t", "c", &live, &cause), 0);
	assert_string_equal(json_path_string(live, "data", "a", NULL), "1");
	json_free(live);
	kube_close(k);
	unit_kube_stop(&d);
}

/*
 * Legacy discovery (a server without the aggregated one): a group whose
 * document answers 404 fails the lookups of that group only, never "not
 * served"; /apis answering 404 fails every lookup.
 */
static void
test_kube_kind_lookup_legacy_group_down_fails_it_only(void **state)
{
	struct unit_kube	 d;
	struct kube_opts	 o;
	struct kube		*k;
	const struct kube_kind	*kk;
	char			*cause = NULL;

	unit_kube_start(&d);
	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"GET\",\"path\":"
	    "\"/api\",\"body\":{\"kind\":\"APIVersions\",\"versions\":"
	    "[\"v1\"]},\"count\":1000}", NULL);
	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"GET\",\"path\":"
	    "\"/apis/apps/v1\",\"status\":404,\"count\":1000}", NULL);
	k = open_double(&d, "kubeconfig");
	kk = kind(k, "batch/v1", "Job");
	assert_string_equal(kk->resource, "jobs");
	assert_int_equal(kube_kind_lookup(k, "apps/v1", "Deployment", &kk,
	    &cause), -1);
	assert_non_null(strstr(cause, "group apps"));
	assert_non_null(strstr(cause, "404"));
	free(cause);
	assert_int_equal(kube_kind_by_group(k, "apps", "Deployment", &kk,
	    &cause), -1);
	free(cause);
	kube_close(k);

	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"GET\",\"path\":"
	    "\"/apis\",\"status\":404,\"count\":1000}", NULL);
	memset(&o, 0, sizeof o);
	o.auth.kubeconfig = unit_kube_path(&d, "kubeconfig");
	if ((k = kube_open(&o, &cause)) == NULL)
		fail_msg("kube_open: %s", cause);
	free((char *)o.auth.kubeconfig);
	assert_int_equal(kube_kind_lookup(k, "batch/v1", "Job", &kk, &cause),
	    -1);
	assert_non_null(strstr(cause, "/apis"));
	free(cause);
	kube_close(k);
	unit_kube_stop(&d);
}

/* A server that hands a continue token back again fails the LIST. */
static void
test_kube_list_repeated_continue_fails(void **state)
{
	struct unit_kube	 d;
	struct kube		*k;
	struct json		*items;
	struct kube_counts	 c0, c;
	const struct kube_kind	*cm;
	char			*cause = NULL;

	k = start(&d, &cm);
	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"GET\",\"path\":"
	    "\"/api/v1/namespaces/t/configmaps\",\"body\":{\"kind\":"
	    "\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{"
	    "\"continue\":\"again\"},\"items\":[]},\"count\":50}", NULL);
	kube_counts(k, &c0);
	assert_int_equal(kube_list(k, cm, "t", NULL, &items, &cause), -1);
	assert_null(items);
	assert_non_null(strstr(cause, "same continue token"));
	free(cause);
	kube_counts(k, &c);
	assert_int_equal(c.list - c0.list, 2);
	kube_close(k);
	unit_kube_stop(&d);
}

struct paged {
	struct kube	*k;
	int		 failed;
};

static void
paged_apply_cb(void *arg, size_t i)
{
	struct paged	*p = arg;
	char		*text, *cause = NULL;
	enum kube_why	 why;

	xasprintf(&text, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
	    "\"metadata\":{\"name\":\"p%04zu\",\"namespace\":\"t\","
	    "\"labels\":{\"set\":\"%s\"}}}", i, i % 10 == 9 ? "other" :
	    "paged");
	if (apply(p->k, text, "gitops-agent", 0, NULL, &why, &cause) != 0) {
		__atomic_store_n(&p->failed, 1, __ATOMIC_RELAXED);
		free(cause);
	}
	free(text);
}

struct list_seen {
	size_t	n;
	size_t	kinds;		/* items given their kind */
};

static void
list_count_cb(void *arg, struct json *it)
{
	struct list_seen	*seen = arg;
	const char		*kind = json_path_string(it, "kind", NULL);

	seen->n++;
	if (kind != NULL && strcmp(kind, "ConfigMap") == 0)
		seen->kinds++;
}

/*
 * More objects than a page, made by kube_parallel: every page of the
 * selected ones; a second page that fails fails the LIST, and
 * kube_list_each has given the objects of the first page only.
 */
static void
test_kube_list_pages_and_failed_page(void **state)
{
	struct unit_kube	 d;
	struct paged		 p;
	struct json		*items;
	struct kube_counts	 c;
	struct list_seen	 seen;
	const struct kube_kind	*cm;
	char			*cause = NULL;

	unit_kube_start(&d);
	p.k = open_double(&d, "kubeconfig");
	p.failed = 0;
	cm = kind(p.k, "v1", "ConfigMap");
	kube_parallel(1200, 4, paged_apply_cb, &p);
	assert_false(p.failed);
	assert_int_equal(kube_list(p.k, cm, "t", "set in (paged)", &items,
	    &cause), 0);
	assert_int_equal(json_count(items), 1080);
	assert_string_equal(json_path_string(json_array_get(items, 0), "kind",
	    NULL), "ConfigMap");
	assert_string_equal(json_path_string(json_array_get(items, 1079),
	    "metadata", "name", NULL), "p1198");
	json_free(items);
	kube_counts(p.k, &c);
	assert_int_equal(c.list, 3);
	assert_int_equal(c.apply, 1 + 1200);	/* the namespace, then them */
	/* The second page answers 410 (its continue token expired). */
	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"GET\",\"path\":"
	    "\"/api/v1/namespaces/t/configmaps\",\"status\":410,\"skip\":1}",
	    NULL);
	assert_int_equal(kube_list(p.k, cm, "t", NULL, &items, &cause), -1);
	assert_null(items);
	assert_non_null(strstr(cause, "continue="));
	assert_non_null(strstr(cause, "410"));
	free(cause);
	cause = NULL;
	/* A page at a time: the first page's objects, then the failure. */
	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"GET\",\"path\":"
	    "\"/api/v1/namespaces/t/configmaps\",\"status\":410,\"skip\":1}",
	    NULL);
	seen.n = 0;
	seen.kinds = 0;
	assert_int_equal(kube_list_each(p.k, cm, "t", NULL, list_count_cb,
	    &seen, &cause), -1);
	assert_int_equal(seen.n, 500);
	assert_int_equal(seen.kinds, 500);
	free(cause);
	cause = NULL;
	seen.n = 0;
	assert_int_equal(kube_list_each(p.k, cm, "t", "set in (paged)",
	    list_count_cb, &seen, &cause), 0);
	assert_int_equal(seen.n, 1080);
	kube_close(p.k);
	unit_kube_stop(&d);
}

/* 429 after Retry-After, 500 twice, a dropped connection: all succeed. */
static void
test_kube_get_retries_what_may_pass(void **state)
{
	struct unit_kube	 d;
	struct kube		*k;
	struct json		*live;
	struct kube_counts	 c;
	const struct kube_kind	*cm;
	char			*cause = NULL;

	k = start(&d, &cm);
	apply_ok(k, CM("r", "{\"x\":\"1\"}"), "gitops-agent", 0);
	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"GET\",\"path\":"
	    "\"/api/v1/namespaces/t/configmaps/r\",\"status\":429,"
	    "\"retryAfter\":1}", NULL);
	assert_int_equal(kube_get(k, cm, "t", "r", &live, &cause), 0);
	assert_string_equal(json_path_string(live, "data", "x", NULL), "1");
	json_free(live);
	kube_counts(k, &c);
	assert_int_equal(c.get, 2);
	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"GET\",\"path\":"
	    "\"/api/v1/namespaces/t/configmaps/r\",\"status\":500,"
	    "\"count\":2}", NULL);
	assert_int_equal(kube_get(k, cm, "t", "r", &live, &cause), 0);
	assert_non_null(live);
	json_free(live);
	kube_counts(k, &c);
	assert_int_equal(c.get, 5);
	unit_kube_admin(&d, "DELETE", "requests", NULL, NULL);
	/*
	 * Two drops: curl itself sends again once when a kept connection
	 * closes unanswered; the second, on a new one, is ours to retry.
	 */
	unit_kube_admin(&d, "POST", "drops", "{\"verb\":\"GET\",\"path\":"
	    "\"/api/v1/namespaces/t/configmaps/r\",\"count\":2}", NULL);
	assert_int_equal(kube_get(k, cm, "t", "r", &live, &cause), 0);
	assert_non_null(live);
	json_free(live);
	assert_int_equal(double_count(&d,
	    "GET /api/v1/namespaces/t/configmaps/r"), 3);
	kube_close(k);
	unit_kube_stop(&d);
}

/* 403 is never retried; 5xx past the timeout gives up. */
static void
test_kube_get_forbidden_not_retried(void **state)
{
	struct unit_kube	 d;
	struct kube		*k;
	struct kube_opts	 o;
	struct json		*live;
	struct kube_counts	 c;
	const struct kube_kind	*cm;
	char			*cause = NULL;

	k = start(&d, &cm);
	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"GET\",\"path\":"
	    "\"/api/v1/namespaces/t/configmaps/f\",\"status\":403,"
	    "\"count\":5}", NULL);
	assert_int_equal(kube_get(k, cm, "t", "f", &live, &cause), -1);
	assert_non_null(strstr(cause, "403 Forbidden"));
	free(cause);
	kube_counts(k, &c);
	assert_int_equal(c.get, 1);
	assert_int_equal(double_count(&d,
	    "GET /api/v1/namespaces/t/configmaps/f"), 1);
	kube_close(k);
	/* A server failing for longer than the timeout. */
	memset(&o, 0, sizeof o);
	o.auth.kubeconfig = unit_kube_path(&d, "kubeconfig");
	o.timeout_ms = 1000;
	assert_non_null(k = kube_open(&o, &cause));
	free((char *)(uintptr_t)o.auth.kubeconfig);
	cm = kind(k, "v1", "ConfigMap");
	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"GET\",\"path\":"
	    "\"/api/v1/namespaces/t/configmaps/g\",\"status\":503,"
	    "\"count\":1000}", NULL);
	assert_int_equal(kube_get(k, cm, "t", "g", &live, &cause), -1);
	assert_non_null(strstr(cause, "503 ServiceUnavailable"));
	assert_non_null(strstr(cause, "gave up after"));
	free(cause);
	kube_close(k);
	unit_kube_stop(&d);
}

/*
 * A wrong uid precondition is UID_CHANGED, another 409 MODIFIED; no uid
 * sends nothing; a dry-run deletes nothing; a 404 is success, NOT_FOUND.
 */
static void
test_kube_delete_precondition_and_not_found(void **state)
{
	struct unit_kube	 d;
	struct kube		*k;
	struct json		*res, *live;
	const struct kube_kind	*cm;
	enum kube_why		 why;
	char			*cause = NULL, *uid;

	k = start(&d, &cm);
	assert_int_equal(apply(k, CM("del", "{}"), "gitops-agent", 0, &res,
	    &why, &cause), 0);
	uid = xstrdup(json_path_string(res, "metadata", "uid", NULL));
	json_free(res);
	assert_int_equal(kube_delete(k, cm, "t", "del", "not-its-uid", 0,
	    &why, &cause), -1);
	assert_int_equal(why, KUBE_WHY_UID_CHANGED);
	assert_non_null(strstr(cause, "Precondition failed"));
	free(cause);
	unit_kube_admin(&d, "DELETE", "requests", NULL, NULL);
	assert_int_equal(kube_delete(k, cm, "t", "del", NULL, 0, &why,
	    &cause), -1);
	assert_non_null(strstr(cause, "no uid"));
	free(cause);
	assert_int_equal(double_count(&d,
	    "DELETE /api/v1/namespaces/t/configmaps/del"), 0);
	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"DELETE\","
	    "\"status\":409,\"message\":\"Operation cannot be fulfilled on "
	    "configmaps \\\"del\\\": the object has been modified\"}", NULL);
	assert_int_equal(kube_delete(k, cm, "t", "del", uid, 0, &why,
	    &cause), -1);
	assert_int_equal(why, KUBE_WHY_MODIFIED);
	free(cause);
	assert_int_equal(kube_delete(k, cm, "t", "del", uid, KUBE_DRY_RUN,
	    &why, &cause), 0);
	assert_int_equal(kube_get(k, cm, "t", "del", &live, &cause), 0);
	assert_non_null(live);
	json_free(live);
	assert_int_equal(kube_delete(k, cm, "t", "del", uid, 0, &why, &cause),
	    0);
	assert_int_equal(why, KUBE_WHY_OTHER);
	assert_int_equal(kube_get(k, cm, "t", "del", &live, &cause), 0);
	assert_null(live);
	assert_int_equal(kube_delete(k, cm, "t", "del", uid, 0, &why,
	    &cause), 0);
	assert_int_equal(why, KUBE_WHY_NOT_FOUND);
	free(uid);
	kube_close(k);
	unit_kube_stop(&d);
}

/* The bearer token kubeconfig works as the certificate one does. */
static void
test_kube_open_token_kubeconfig(void **state)
{
	struct unit_kube	 d;
	struct kube		*k;
	struct json		*items;
	char			*cause = NULL;

	unit_kube_start(&d);
	k = open_double(&d, "token.kubeconfig");
	assert_string_equal(kube_namespace(k), "default");
	assert_int_equal(strncmp(kube_server(k), "https://127.0.0.1:", 18), 0);
	assert_int_equal(kube_list(k, kind(k, "v1", "Namespace"), NULL, NULL,
	    &items, &cause), 0);
	json_free(items);
	kube_close(k);
	unit_kube_stop(&d);
}

/*
 * A 401 drops the exec plugin's credential and runs it again, once; a
 * static token that gets 401 is UNAUTHORIZED at once.
 */
static void
test_kube_get_unauthorized_reruns_exec_plugin(void **state)
{
	struct unit_kube	 d;
	struct kube		*k;
	struct json		*live;
	struct kube_counts	 c;
	enum kube_why		 why;
	char			*cause = NULL, *text, *tok, *ca, *runs;

	unit_kube_start(&d);
	/* The token, and a kubeconfig whose user is a plugin printing it. */
	k = open_double(&d, "token.kubeconfig");
	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"GET\",\"path\":"
	    "\"/api/v1/namespaces/t/configmaps/u\",\"status\":401}", NULL);
	assert_int_equal(kube_get(k, kind(k, "v1", "ConfigMap"), "t", "u",
	    &live, &cause), -1);
	assert_non_null(strstr(cause, "401"));
	free(cause);
	kube_counts(k, &c);
	assert_int_equal(c.get, 1);
	kube_close(k);
	text = unit_read(d.dir, "token.kubeconfig");
	tok = strstr(text, "token: ") + 7;
	tok[strcspn(tok, "\n")] = '\0';
	ca = base64_encode(d.ca, strlen(d.ca));
	xasprintf(&runs, "#!/bin/sh\nn=$(cat \"$0.runs\" 2>/dev/null || echo 0)"
	    "\necho $((n + 1)) >\"$0.runs\"\nprintf '{\"apiVersion\":"
	    "\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
	    "\"status\":{\"token\":\"%s\"}}'\n", tok);
	unit_write(d.dir, "plugin", runs);
	unit_sh(d.dir, "chmod +x plugin");
	free(runs);
	xasprintf(&runs, "clusters:\n- name: c\n  cluster:\n    server: %s\n"
	    "    certificate-authority-data: %s\nusers:\n- name: u\n  user:\n"
	    "    exec: {apiVersion: client.authentication.k8s.io/v1, command: "
	    "./plugin}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}"
	    "\ncurrent-context: c\n", d.url, ca);
	unit_write(d.dir, "exec.kubeconfig", runs);
	free(runs);
	free(ca);
	free(text);
	k = open_double(&d, "exec.kubeconfig");
	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"GET\",\"path\":"
	    "\"/api/v1/namespaces/t/configmaps/u\",\"status\":401}", NULL);
	assert_int_equal(kube_get(k, kind(k, "v1", "ConfigMap"), "t", "u",
	    &live, &cause), 0);
	assert_null(live);
	runs = unit_read(d.dir, "plugin.runs");
	assert_string_equal(runs, "2\n");
	free(runs);
	/* Twice in a row: once refreshed, then UNAUTHORIZED. */
	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"PATCH\","
	    "\"status\":401,\"count\":2}", NULL);
	assert_int_equal(apply(k, CM("u", "{}"), "gitops-agent", 0, NULL,
	    &why, &cause), -1);
	assert_int_equal(why, KUBE_WHY_UNAUTHORIZED);
	free(cause);
	runs = unit_read(d.dir, "plugin.runs");
	assert_string_equal(runs, "3\n");
	free(runs);
	kube_close(k);
	unit_kube_stop(&d);
}

/* One watch line: its rc, the event kept in *ev. */
static int
event(const char *line, struct kube_event *ev)
{
	char	*cause = NULL;
	int	 rc;

	rc = kube_event_parse(line, strlen(line), ev, &cause);
	if (rc == -1) {
		assert_non_null(cause);
		free(cause);
	}
	return (rc);
}

static void
test_kube_event_parse(void **state)
{
	static const char *const bad[] = {
		"", "not json", "[]", "{}", "{\"type\":\"ADDED\"}",
		"{\"type\":1,\"object\":{}}",
		"{\"type\":\"RENAMED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}",
		"{\"type\":\"ADDED\",\"object\":[]}",
		"{\"type\":\"ADDED\",\"object\":{}}",
		"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":[]}}",
		"{\"type\":\"DELETED\",\"object\":{\"metadata\":{}}}",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"\"}}}",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}} x",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"}\"}}}"
		    "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}",
	};
	struct kube_event	 ev;
	size_t			 i;

	(void)state;
	assert_int_equal(event("{\"type\":\"MODIFIED\",\"object\":{\"kind\":"
	    "\"ConfigMap\",\"metadata\":{\"name\":\"a\",\"namespace\":\"t\","
	    "\"resourceVersion\":\"42\"}}}", &ev), 0);
	assert_int_equal(ev.type, KUBE_EVENT_MODIFIED);
	assert_string_equal(ev.name, "a");
	assert_string_equal(ev.ns, "t");
	assert_string_equal(ev.rv, "42");
	assert_string_equal(json_path_string(ev.object, "kind", NULL),
	    "ConfigMap");
	kube_event_clear(&ev);
	assert_int_equal(event("{\"type\":\"DELETED\",\"object\":{\"metadata\":"
	    "{\"name\":\"n\"}}}", &ev), 0);
	assert_int_equal(ev.type, KUBE_EVENT_DELETED);
	assert_null(ev.ns);		/* cluster-scoped */
	assert_null(ev.rv);
	kube_event_clear(&ev);
	/* A bookmark names no object: its resourceVersion is the news. */
	assert_int_equal(event("{\"type\":\"BOOKMARK\",\"object\":{\"kind\":"
	    "\"ConfigMap\",\"metadata\":{\"resourceVersion\":\"7\"}}}", &ev), 0);
	assert_int_equal(ev.type, KUBE_EVENT_BOOKMARK);
	assert_string_equal(ev.rv, "7");
	assert_null(ev.name);
	kube_event_clear(&ev);
	assert_int_equal(event("{\"type\":\"ERROR\",\"object\":{\"kind\":"
	    "\"Status\",\"code\":410,\"reason\":\"Expired\"}}", &ev), 0);
	assert_int_equal(ev.type, KUBE_EVENT_ERROR);
	assert_int_equal(ev.code, 410);
	kube_event_clear(&ev);
	/* A code that is not one is no code. */
	assert_int_equal(event("{\"type\":\"ERROR\",\"object\":{\"code\":"
	    "\"410\"}}", &ev), 0);
	assert_int_equal(ev.code, 0);
	kube_event_clear(&ev);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (event(bad[i], &ev) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_null(ev.object);
	}
}

static void
ignore_cb(void *arg, struct json *it)
{
	(void)arg;
	(void)it;
}

/* What a watch saw: names of events, "*" after a bookmark. */
struct watched {
	struct buf	 seen;
	int		 stop_at;	/* end after this many events */
	int		 n;
	char		 rv[32];
};

static int
watched_cb(void *arg, const struct kube_event *ev)
{
	static const char *const types[] = { "ADDED", "MODIFIED", "DELETED" };
	struct watched	*w = arg;

	if (ev->rv != NULL)
		snprintf(w->rv, sizeof w->rv, "%s", ev->rv);
	if (ev->type == KUBE_EVENT_BOOKMARK)
		return (0);
	buf_printf(&w->seen, "%s %s;", types[ev->type], ev->name);
	return (++w->n == w->stop_at);
}

static void
test_kube_watch_events_expired_refused(void **state)
{
	struct unit_kube	 d;
	struct kube		*k;
	const struct kube_kind	*cm;
	struct kube_watch_opts	 o;
	struct kube_counts	 c;
	struct watched		 w;
	char			*cause = NULL, *rv0 = NULL;
	uint64_t		 t0;

	(void)state;
	k = start(&d, &cm);
	assert_int_equal(kube_list_each_rv(k, cm, "t", NULL, ignore_cb, NULL,
	    &rv0, &cause), 0);
	assert_non_null(rv0);
	apply_ok(k, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":"
	    "{\"name\":\"w1\",\"namespace\":\"t\",\"labels\":{\"app\":\"x\"}},"
	    "\"data\":{\"a\":\"1\"}}", "test", 0);
	apply_ok(k, CM("other", "{}"), "test", 0);
	apply_ok(k, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":"
	    "{\"name\":\"w1\",\"namespace\":\"t\",\"labels\":{\"app\":\"x\"}},"
	    "\"data\":{\"a\":\"2\"}}", "test", 0);
	/* From rv0: what happened since, only what the selector picks. */
	memset(&o, 0, sizeof o);
	o.labels = "app=x";
	o.rv = rv0;
	o.timeout_ms = 20000;
	memset(&w, 0, sizeof w);
	buf_init(&w.seen);
	w.stop_at = 2;
	assert_int_equal(kube_watch(k, cm, "t", &o, watched_cb, &w, &cause), 0);
	buf_addc(&w.seen, '\0');
	assert_string_equal(w.seen.data, "ADDED w1;MODIFIED w1;");
	buf_free(&w.seen);
	/* Nothing new: it ends at its timeout, not before, as a success. */
	memset(&w, 0, sizeof w);
	buf_init(&w.seen);
	o.timeout_ms = 1500;
	t0 = time_monotonic_ms();
	assert_int_equal(kube_watch(k, cm, "t", &o, watched_cb, &w, &cause), 0);
	assert_true(time_monotonic_ms() - t0 >= 900);	/* the server's 1 s */
	assert_int_equal(w.n, 2);	/* the same two, replayed */
	buf_free(&w.seen);
	/* The history compacted: 410, told apart. */
	unit_kube_admin(&d, "POST", "compact", NULL, NULL);
	o.timeout_ms = 20000;
	memset(&w, 0, sizeof w);
	buf_init(&w.seen);
	assert_int_equal(kube_watch(k, cm, "t", &o, watched_cb, &w, &cause),
	    KUBE_WATCH_EXPIRED);
	assert_int_equal(w.n, 0);
	buf_free(&w.seen);
	/* A refused watch fails at once, unretried, with the reason. */
	free(rv0);
	assert_int_equal(kube_list_each_rv(k, cm, "t", "app=x", ignore_cb,
	    NULL, &rv0, &cause), 0);
	unit_kube_admin(&d, "POST", "faults", "{\"verb\":\"GET\",\"path\":"
	    "\"/api/v1/namespaces/t/configmaps\",\"status\":503}", NULL);
	o.rv = rv0;
	assert_int_equal(kube_watch(k, cm, "t", &o, watched_cb, &w, &cause),
	    -1);
	assert_non_null(strstr(cause, "503"));
	free(cause);
	cause = NULL;
	kube_counts(k, &c);
	assert_int_equal(c.watch, 4);
	free(rv0);
	kube_close(k);
	unit_kube_stop(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kube_kind_lookup_builtin_and_crd),
		cmocka_unit_test(test_kube_apply_create_update_noop_dry_run),
		cmocka_unit_test(
		    test_kube_apply_conflict_names_manager_force_takes),
		cmocka_unit_test(test_kube_apply_immutable_field),
		cmocka_unit_test(
		    test_kube_create_dry_run_validates_without_creating),
		cmocka_unit_test(
		    test_kube_kind_lookup_legacy_group_down_fails_it_only),
		cmocka_unit_test(test_kube_list_repeated_continue_fails),
		cmocka_unit_test(test_kube_list_pages_and_failed_page),
		cmocka_unit_test(test_kube_get_retries_what_may_pass),
		cmocka_unit_test(test_kube_get_forbidden_not_retried),
		cmocka_unit_test(test_kube_delete_precondition_and_not_found),
		cmocka_unit_test(test_kube_open_token_kubeconfig),
		cmocka_unit_test(
		    test_kube_get_unauthorized_reruns_exec_plugin),
		cmocka_unit_test(test_kube_event_parse),
		cmocka_unit_test(test_kube_watch_events_expired_refused),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
