/*
 * test_plan.c: the order of a sync (phases, waves, kinds, names, the
 * Namespace and CRD moves), its table and JSON, and the order of apps.
 */
#include "config.h"

#include <limits.h>

#include "unit.h"

/*
 * Resources are built from documents the way manifests are, through
 * resource_new, so the hook and wave annotations go through the real
 * parsing.
 */
static struct resource *
res_doc(const char *text)
{
	struct resource	*r;
	struct json	*doc;
	char		*cause = NULL;

	doc = json_parse(text, strlen(text), &cause);
	if (doc == NULL)
		fail_msg("json_parse: %s", cause);
	r = resource_new(doc, "test.yaml", 1, 1, NULL, &cause);
	if (r == NULL)
		fail_msg("resource_new: %s: %s", text, cause);
	return (r);
}

/* A resource; hook is NULL for none, wave is added as an annotation. */
static struct resource *
res(const char *api, const char *kind, const char *ns, const char *name,
    const char *hook, long wave)
{
	struct resource	*r;
	struct buf	 b;

	buf_init(&b);
	buf_printf(&b, "{\"apiVersion\":\"%s\",\"kind\":\"%s\","
	    "\"metadata\":{\"name\":\"%s\"", api, kind, name);
	if (ns != NULL)
		buf_printf(&b, ",\"namespace\":\"%s\"", ns);
	buf_printf(&b, ",\"annotations\":{\"%s\":\"%ld\"",
	    ANNOTATION_ARGO_WAVE, wave);
	if (hook != NULL)
		buf_printf(&b, ",\"%s\":\"%s\"", ANNOTATION_ARGO_HOOK, hook);
	buf_adds(&b, "}}}");
	r = res_doc(b.data);
	buf_free(&b);
	return (r);
}

static struct resource *
res_crd(const char *group, const char *kind, const char *plural, long wave)
{
	struct resource	*r;
	char		*text;

	xasprintf(&text, "{\"apiVersion\":\"apiextensions.k8s.io/v1\","
	    "\"kind\":\"CustomResourceDefinition\",\"metadata\":{\"name\":"
	    "\"%s.%s\",\"annotations\":{\"%s\":\"%ld\"}},\"spec\":{\"group\":"
	    "\"%s\",\"names\":{\"kind\":\"%s\",\"plural\":\"%s\"},"
	    "\"scope\":\"Namespaced\"}}", plural, group, ANNOTATION_ARGO_WAVE,
	    wave, group, kind, plural);
	r = res_doc(text);
	free(text);
	return (r);
}

static struct resource_set *
set_of(struct resource **v, size_t n)
{
	struct resource_set	*set = resource_set_new();
	char			*cause = NULL;
	size_t			 i;

	for (i = 0; i < n; i++) {
		if (resource_set_add(set, v[i], &cause) == -1)
			fail_msg("resource_set_add: %s", cause);
	}
	return (set);
}

/* The plan's resources in order as "Phase wave Kind/ns/name" lines. */
static char *
plan_lines(const struct plan *p)
{
	const struct plan_step	*s;
	const struct resource	*r;
	struct buf		 b;
	size_t			 i, j;

	buf_init(&b);
	for (i = 0; i <= p->nsteps; i++) {
		s = i < p->nsteps ? &p->steps[i] : &p->syncfail;
		for (j = 0; j < s->n; j++) {
			r = s->v[j];
			buf_printf(&b, "%s %ld %s/%s/%s\n",
			    phase_name(s->phase), s->phase == PHASE_SYNCFAIL ?
			    r->wave : s->wave, r->kind, r->namespace, r->name);
		}
	}
	return (buf_release(&b));
}

static char *
table_of(const struct plan *p)
{
	char	*out = NULL;
	size_t	 len = 0;
	FILE	*f;

	f = open_memstream(&out, &len);
	assert_non_null(f);
	plan_print_table(f, p);
	fclose(f);
	return (out);
}

static const char *const design_kinds[] = {
	"Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret",
	"SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
	"PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
	"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList",
	"Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
	"DaemonSet", "Pod", "ReplicationController", "ReplicaSet",
	"Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job",
	"CronJob", "IngressClass", "Ingress", "APIService",
};
#define NDESIGN_KINDS (sizeof design_kinds / sizeof design_kinds[0])

/* An apiVersion that makes each kind what Kubernetes has it as. */
static const char *
api_of(const char *kind)
{
	static const struct {
		const char	*kind;
		const char	*api;
	} t[] = {
		{ "NetworkPolicy", "networking.k8s.io/v1" },
		{ "PodSecurityPolicy", "policy/v1beta1" },
		{ "PodDisruptionBudget", "policy/v1" },
		{ "StorageClass", "storage.k8s.io/v1" },
		{ "CustomResourceDefinition", "apiextensions.k8s.io/v1" },
		{ "ClusterRole", "rbac.authorization.k8s.io/v1" },
		{ "ClusterRoleList", "rbac.authorization.k8s.io/v1" },
		{ "ClusterRoleBinding", "rbac.authorization.k8s.io/v1" },
		{ "ClusterRoleBindingList", "rbac.authorization.k8s.io/v1" },
		{ "Role", "rbac.authorization.k8s.io/v1" },
		{ "RoleList", "rbac.authorization.k8s.io/v1" },
		{ "RoleBinding", "rbac.authorization.k8s.io/v1" },
		{ "RoleBindingList", "rbac.authorization.k8s.io/v1" },
		{ "DaemonSet", "apps/v1" },
		{ "ReplicaSet", "apps/v1" },
		{ "Deployment", "apps/v1" },
		{ "StatefulSet", "apps/v1" },
		{ "HorizontalPodAutoscaler", "autoscaling/v2" },
		{ "Job", "batch/v1" },
		{ "CronJob", "batch/v1" },
		{ "IngressClass", "networking.k8s.io/v1" },
		{ "Ingress", "networking.k8s.io/v1" },
		{ "APIService", "apiregistration.k8s.io/v1" },
	};
	size_t	i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		if (strcmp(t[i].kind, kind) == 0)
			return (t[i].api);
	}
	return ("v1");
}

static void
test_plan_kind_rank_design_list_in_order(void **state)
{
	size_t	i;

	for (i = 0; i < NDESIGN_KINDS; i++)
		assert_int_equal(plan_kind_rank(design_kinds[i]), (int)i);
	assert_int_equal(plan_kind_rank("Rollout"), (int)NDESIGN_KINDS);
	assert_int_equal(plan_kind_rank("deployment"), (int)NDESIGN_KINDS);
	assert_int_equal(plan_kind_rank(""), (int)NDESIGN_KINDS);
	assert_int_equal(plan_kind_rank(NULL), (int)NDESIGN_KINDS);
}

static void
test_plan_build_every_kind_reversed_design_order(void **state)
{
	struct resource		*v[NDESIGN_KINDS + 2];
	struct resource_set	*set;
	struct plan		*p;
	size_t			 i, n = 0;
	char			 name[64];

	/* Unknown kinds first and every known kind in reverse. */
	v[n++] = res("argoproj.io/v1alpha1", "Rollout", "shop", "r", NULL, 0);
	v[n++] = res("cert-manager.io/v1", "Certificate", "shop", "c", NULL,
	    0);
	for (i = NDESIGN_KINDS; i-- > 0;) {
		snprintf(name, sizeof name, "k%zu", i);
		v[n++] = res(api_of(design_kinds[i]), design_kinds[i],
		    kind_is_cluster_scoped(design_kinds[i]) ? NULL : "shop",
		    name, NULL, 0);
	}
	set = set_of(v, n);
	p = plan_build(set);
	assert_int_equal(p->nsteps, 1);
	assert_int_equal(p->steps[0].n, n);
	assert_int_equal(p->steps[0].phase, PHASE_SYNC);
	assert_int_equal(p->steps[0].wave, 0);
	for (i = 0; i < NDESIGN_KINDS; i++)
		assert_string_equal(p->steps[0].v[i]->kind, design_kinds[i]);
	/* Unknown kinds last, by kind name. */
	assert_string_equal(p->steps[0].v[NDESIGN_KINDS]->kind,
	    "Certificate");
	assert_string_equal(p->steps[0].v[NDESIGN_KINDS + 1]->kind,
	    "Rollout");
	assert_int_equal(p->syncfail.n, 0);
	plan_free(p);
	resource_set_free(set);
}

static void
test_plan_build_waves_negative_first_grouped(void **state)
{
	struct resource		*v[6];
	struct resource_set	*set;
	struct plan		*p;
	char			*lines;

	v[0] = res("apps/v1", "Deployment", "shop", "web", NULL, 5);
	v[1] = res("v1", "ConfigMap", "shop", "cfg", NULL, -3);
	v[2] = res("v1", "Service", "shop", "web", NULL, 0);
	v[3] = res("v1", "Secret", "shop", "db", NULL, -1);
	v[4] = res("v1", "ConfigMap", "shop", "web", NULL, 5);
	v[5] = res("v1", "ServiceAccount", "shop", "web", NULL, -3);
	set = set_of(v, 6);
	p = plan_build(set);
	assert_int_equal(p->nsteps, 4);
	assert_int_equal(p->steps[0].wave, -3);
	assert_int_equal(p->steps[0].n, 2);
	assert_int_equal(p->steps[1].wave, -1);
	assert_int_equal(p->steps[2].wave, 0);
	assert_int_equal(p->steps[3].wave, 5);
	assert_int_equal(p->steps[3].n, 2);
	lines = plan_lines(p);
	assert_string_equal(lines,
	    "Sync -3 ServiceAccount/shop/web\n"
	    "Sync -3 ConfigMap/shop/cfg\n"
	    "Sync -1 Secret/shop/db\n"
	    "Sync 0 Service/shop/web\n"
	    "Sync 5 ConfigMap/shop/web\n"
	    "Sync 5 Deployment/shop/web\n");
	free(lines);
	plan_free(p);
	resource_set_free(set);
}

static void
test_plan_build_phases_syncfail_aside_skip_dropped(void **state)
{
	struct resource		*v[8];
	struct resource_set	*set;
	struct plan		*p;
	char			*lines;

	v[7] = res("batch/v1", "Job", "shop", "never", "Skip", 0);
	assert_true(v[7]->skip);
	v[0] = res("batch/v1", "Job", "shop", "smoke", "PostSync", 0);
	v[1] = res("batch/v1", "Job", "shop", "notify", "SyncFail", 0);
	v[2] = res("apps/v1", "Deployment", "shop", "web", NULL, -5);
	v[3] = res("batch/v1", "Job", "shop", "migrate", "PreSync", 3);
	v[4] = res("batch/v1", "Job", "shop", "cleanup", "SyncFail", -1);
	v[5] = res("batch/v1", "Job", "shop", "backup", "PreSync", -2);
	v[6] = res("batch/v1", "Job", "shop", "sync-hook", "Sync", 0);
	set = set_of(v, 8);
	p = plan_build(set);
	assert_int_equal(p->nsteps, 5);
	assert_int_equal(p->steps[0].phase, PHASE_PRESYNC);
	assert_int_equal(p->steps[4].phase, PHASE_POSTSYNC);
	assert_int_equal(p->syncfail.phase, PHASE_SYNCFAIL);
	assert_int_equal(p->syncfail.n, 2);
	lines = plan_lines(p);
	assert_string_equal(lines,
	    "PreSync -2 Job/shop/backup\n"
	    "PreSync 3 Job/shop/migrate\n"
	    "Sync -5 Deployment/shop/web\n"
	    "Sync 0 Job/shop/sync-hook\n"
	    "PostSync 0 Job/shop/smoke\n"
	    "SyncFail -1 Job/shop/cleanup\n"
	    "SyncFail 0 Job/shop/notify\n");
	free(lines);
	plan_free(p);
	resource_set_free(set);
}

static void
test_plan_build_same_kind_name_then_namespace(void **state)
{
	struct resource		*v[5];
	struct resource_set	*set;
	struct plan		*p;
	char			*lines;

	v[0] = res("v1", "ConfigMap", "shop", "b", NULL, 0);
	v[1] = res("v1", "ConfigMap", "billing", "z", NULL, 0);
	v[2] = res("v1", "ConfigMap", "shop", "a", NULL, 0);
	v[3] = res("v1", "ConfigMap", "shop", "a-1", NULL, 0);
	v[4] = res("v1", "ConfigMap", "billing", "a", NULL, 0);
	set = set_of(v, 5);
	p = plan_build(set);
	lines = plan_lines(p);
	/* DESIGN.md section 3: kind, then name; namespace breaks ties. */
	assert_string_equal(lines,
	    "Sync 0 ConfigMap/billing/a\n"
	    "Sync 0 ConfigMap/shop/a\n"
	    "Sync 0 ConfigMap/shop/a-1\n"
	    "Sync 0 ConfigMap/shop/b\n"
	    "Sync 0 ConfigMap/billing/z\n");
	free(lines);
	plan_free(p);
	resource_set_free(set);
}

static void
test_plan_build_same_kind_name_other_group_total_order(void **state)
{
	struct resource		*v[2], *w[2];
	struct resource_set	*set, *set2;
	struct plan		*p, *p2;

	/* Same kind name and name, two groups: still one fixed order. */
	v[0] = res("example.com/v1", "Widget", "shop", "a", NULL, 0);
	v[1] = res("acme.io/v1", "Widget", "shop", "a", NULL, 0);
	w[0] = res("acme.io/v1", "Widget", "shop", "a", NULL, 0);
	w[1] = res("example.com/v1", "Widget", "shop", "a", NULL, 0);
	set = set_of(v, 2);
	set2 = set_of(w, 2);
	p = plan_build(set);
	p2 = plan_build(set2);
	assert_string_equal(p->steps[0].v[0]->id, p2->steps[0].v[0]->id);
	assert_string_equal(p->steps[0].v[1]->id, p2->steps[0].v[1]->id);
	assert_string_not_equal(p->steps[0].v[0]->id, p->steps[0].v[1]->id);
	plan_free(p);
	plan_free(p2);
	resource_set_free(set);
	resource_set_free(set2);
}

static void
test_plan_build_namespace_dragged_to_earliest_wave(void **state)
{
	struct resource		*v[4];
	struct resource_set	*set;
	struct plan		*p;
	char			*lines;

	v[0] = res("v1", "Namespace", NULL, "shop", NULL, 0);
	v[1] = res("v1", "ConfigMap", "shop", "cfg", NULL, -2);
	v[2] = res("apps/v1", "Deployment", "shop", "web", NULL, 1);
	v[3] = res("v1", "ConfigMap", "other", "cfg", NULL, -7);
	set = set_of(v, 4);
	p = plan_build(set);
	lines = plan_lines(p);
	assert_string_equal(lines,
	    "Sync -7 ConfigMap/other/cfg\n"
	    "Sync -2 Namespace//shop\n"
	    "Sync -2 ConfigMap/shop/cfg\n"
	    "Sync 1 Deployment/shop/web\n");
	/* The resource itself keeps its declared wave. */
	assert_int_equal(p->steps[1].v[0]->wave, 0);
	assert_int_equal(p->steps[1].v[0]->phase, PHASE_SYNC);
	free(lines);
	plan_free(p);
	resource_set_free(set);
}

static void
test_plan_build_namespace_dragged_into_presync(void **state)
{
	struct resource		*v[3];
	struct resource_set	*set;
	struct plan		*p;
	char			*lines;

	v[0] = res("v1", "Namespace", NULL, "shop", NULL, -1);
	v[1] = res("batch/v1", "Job", "shop", "migrate", "PreSync", 4);
	v[2] = res("apps/v1", "Deployment", "shop", "web", NULL, 0);
	set = set_of(v, 3);
	p = plan_build(set);
	lines = plan_lines(p);
	assert_string_equal(lines,
	    "PreSync 4 Namespace//shop\n"
	    "PreSync 4 Job/shop/migrate\n"
	    "Sync 0 Deployment/shop/web\n");
	free(lines);
	plan_free(p);
	resource_set_free(set);
}

static void
test_plan_build_namespace_already_first_stays(void **state)
{
	struct resource		*v[3];
	struct resource_set	*set;
	struct plan		*p;
	char			*lines;

	v[0] = res("v1", "Namespace", NULL, "shop", NULL, -5);
	v[1] = res("v1", "ConfigMap", "shop", "cfg", NULL, 0);
	/* A SyncFail hook runs outside the order: it drags nothing. */
	v[2] = res("batch/v1", "Job", "shop", "alert", "SyncFail", -9);
	set = set_of(v, 3);
	p = plan_build(set);
	lines = plan_lines(p);
	assert_string_equal(lines,
	    "Sync -5 Namespace//shop\n"
	    "Sync 0 ConfigMap/shop/cfg\n"
	    "SyncFail -9 Job/shop/alert\n");
	free(lines);
	plan_free(p);
	resource_set_free(set);
}

static void
test_plan_build_crd_dragged_to_first_custom_resource(void **state)
{
	struct resource		*v[7];
	struct resource_set	*set;
	struct plan		*p;
	char			*lines;

	v[0] = res_crd("argoproj.io", "Rollout", "rollouts", 0);
	/* A SyncFail hook runs outside the order: it drags nothing. */
	v[6] = res("argoproj.io/v1alpha1", "Rollout", "shop", "undo",
	    "SyncFail", -20);
	v[1] = res("argoproj.io/v1alpha1", "Rollout", "shop", "web", NULL, 2);
	v[2] = res("argoproj.io/v1alpha1", "Rollout", "shop", "api", NULL,
	    -3);
	/* Same kind, other group: not a custom resource of that CRD. */
	v[3] = res("example.com/v1", "Rollout", "shop", "x", NULL, -8);
	/* A custom kind named like a built-in one still follows its CRD. */
	v[4] = res_crd("example.com", "Secret", "secrets", 0);
	v[5] = res("example.com/v1", "Secret", "shop", "s", NULL, 0);
	set = set_of(v, 7);
	p = plan_build(set);
	lines = plan_lines(p);
	assert_string_equal(lines,
	    "Sync -8 Rollout/shop/x\n"
	    "Sync -3 CustomResourceDefinition//rollouts.argoproj.io\n"
	    "Sync -3 Rollout/shop/api\n"
	    "Sync 0 CustomResourceDefinition//secrets.example.com\n"
	    "Sync 0 Secret/shop/s\n"
	    "Sync 2 Rollout/shop/web\n"
	    "SyncFail -20 Rollout/shop/undo\n");
	free(lines);
	plan_free(p);
	resource_set_free(set);
}

/* A fixed pseudo-random sequence, so a failure can be reproduced. */
static unsigned long
lcg(unsigned long *seed)
{
	*seed = *seed * 6364136223846793005UL + 1442695040888963407UL;
	return (*seed >> 33);
}

static struct resource *
res_numbered(size_t i)
{
	static const char *const hooks[] = { NULL, NULL, NULL, "PreSync",
	    "PostSync", "SyncFail" };
	static const char *const kinds[] = { "ConfigMap", "Secret",
	    "Deployment", "Service", "Rollout", "Job" };
	const char	*kind = kinds[i % 6];
	char		 name[32], ns[32];

	snprintf(name, sizeof name, "r%zu", (i * 7919) % 1000);
	snprintf(ns, sizeof ns, "ns%zu", i % 3);
	if (i % 10 == 9)
		return (res("v1", "Namespace", NULL, ns, NULL,
		    (long)(i % 5) - 2));
	return (res(strcmp(kind, "Rollout") == 0 ? "argoproj.io/v1alpha1" :
	    api_of(kind), kind, ns, name, hooks[i % 6 == 5 ? 5 : i % 5],
	    (long)(i % 7) - 3));
}

static void
test_plan_build_shuffled_input_same_plan(void **state)
{
	struct resource		*v[300], *t;
	struct resource_set	*set;
	struct plan		*p;
	unsigned long		 seed = 42;
	size_t			 i, j, n = 0, round;
	char			*first = NULL, *lines;

	for (round = 0; round < 4; round++) {
		n = 0;
		for (i = 0; i < 300; i++) {
			/* Namespace names repeat; keep one of each. */
			if (i % 10 == 9 && i >= 30)
				continue;
			v[n++] = res_numbered(i);
		}
		for (i = n; i > 1; i--) {
			j = lcg(&seed) % i;
			t = v[i - 1];
			v[i - 1] = v[j];
			v[j] = t;
		}
		set = set_of(v, n);
		p = plan_build(set);
		lines = plan_lines(p);
		if (first == NULL)
			first = lines;
		else {
			assert_string_equal(lines, first);
			free(lines);
		}
		plan_free(p);
		resource_set_free(set);
	}
	free(first);
}

static void
test_plan_build_empty_no_steps(void **state)
{
	struct resource_set	*set = resource_set_new();
	struct plan		*p;
	struct json		*j;
	char			*s;

	p = plan_build(set);
	assert_int_equal(p->nsteps, 0);
	assert_int_equal(p->syncfail.n, 0);
	j = plan_to_json(p);
	s = json_print(j, 0);
	assert_string_equal(s, "{\"steps\":[],\"syncFail\":[]}");
	free(s);
	json_free(j);
	s = table_of(p);
	assert_string_equal(s, "PHASE  WAVE  KIND  NAMESPACE  NAME  NOTE\n");
	free(s);
	plan_free(p);
	resource_set_free(set);
}

static void
test_plan_build_many_resources_sorted(void **state)
{
	struct resource		**v;
	struct resource_set	*set;
	struct plan		*p;
	struct resource		*a, *b;
	size_t			 i, j, n = 10000, seen = 0;
	char			 name[32];
	long			 prev = LONG_MIN;

	v = xcalloc(n, sizeof *v);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "cm-%zu", i);
		v[i] = res("v1", i % 2 ? "ConfigMap" : "Secret", "shop", name,
		    NULL, (long)(i % 100) - 50);
	}
	set = set_of(v, n);
	p = plan_build(set);
	assert_int_equal(p->nsteps, 100);
	for (i = 0; i < p->nsteps; i++) {
		assert_true(p->steps[i].wave > prev);
		prev = p->steps[i].wave;
		assert_int_equal(p->steps[i].n, 100);
		for (j = 1; j < p->steps[i].n; j++) {
			a = p->steps[i].v[j - 1];
			b = p->steps[i].v[j];
			assert_true(plan_kind_rank(a->kind) <=
			    plan_kind_rank(b->kind));
			if (strcmp(a->kind, b->kind) == 0)
				assert_true(strcmp(a->name, b->name) < 0);
		}
		seen += p->steps[i].n;
	}
	assert_int_equal(seen, n);
	plan_free(p);
	resource_set_free(set);
	free(v);
}

/* The mixed fixture of the table and JSON tests. */
static struct resource_set *
mixed_set(void)
{
	struct resource	*v[8];

	v[0] = res("apps/v1", "Deployment", "shop", "checkout", NULL, 1);
	v[1] = res("v1", "Service", "shop", "checkout", NULL, 1);
	v[2] = res("v1", "Namespace", NULL, "shop", NULL, 0);
	v[3] = res("batch/v1", "Job", "shop", "db-migrate", "PreSync", 0);
	v[4] = res("v1", "ConfigMap", "shop", "checkout-config", NULL, -1);
	v[5] = res("batch/v1", "Job", "shop", "smoke-test", "PostSync", 0);
	v[6] = res("batch/v1", "Job", "shop", "page-oncall", "SyncFail", 0);
	v[7] = res("argoproj.io/v1alpha1", "Rollout", "shop", "checkout",
	    NULL, 2);
	return (set_of(v, 8));
}

static void
test_plan_print_table_mixed_golden(void **state)
{
	struct resource_set	*set = mixed_set();
	struct plan		*p;
	char			*out;

	p = plan_build(set);
	out = table_of(p);
	assert_string_equal(out,
	    "PHASE     WAVE  KIND        NAMESPACE  NAME             NOTE\n"
	    "PreSync   0     Namespace   -          shop             "
	    "moved from Sync wave 0\n"
	    "PreSync   0     Job         shop       db-migrate       hook\n"
	    "\n"
	    "Sync      -1    ConfigMap   shop       checkout-config\n"
	    "\n"
	    "Sync      1     Service     shop       checkout\n"
	    "Sync      1     Deployment  shop       checkout\n"
	    "\n"
	    "Sync      2     Rollout     shop       checkout\n"
	    "\n"
	    "PostSync  0     Job         shop       smoke-test       hook\n"
	    "\n"
	    "SyncFail  0     Job         shop       page-oncall      hook\n");
	free(out);
	plan_free(p);
	resource_set_free(set);
}

static void
test_plan_to_json_mixed_shape(void **state)
{
	struct resource_set	*set = mixed_set();
	struct plan		*p;
	struct json		*j, *steps, *step, *r;

	p = plan_build(set);
	j = plan_to_json(p);
	steps = json_get(j, "steps");
	assert_int_equal(json_type(steps), JSON_ARRAY);
	assert_int_equal(json_count(steps), 5);
	step = json_array_get(steps, 0);
	assert_string_equal(json_path_string(step, "phase", NULL), "PreSync");
	assert_true(json_number(json_get(step, "wave")) == 0);
	assert_int_equal(json_count(json_get(step, "resources")), 2);
	r = json_array_get(json_get(step, "resources"), 0);
	assert_string_equal(json_path_string(r, "kind", NULL), "Namespace");
	assert_string_equal(json_path_string(r, "name", NULL), "shop");
	assert_string_equal(json_path_string(r, "namespace", NULL), "");
	assert_string_equal(json_path_string(r, "apiVersion", NULL), "v1");
	assert_string_equal(json_path_string(r, "file", NULL), "test.yaml");
	assert_true(json_number(json_get(r, "line")) == 1);
	assert_false(json_is_true(json_get(r, "hook")));
	assert_string_equal(json_path_string(r, "movedFrom", "phase", NULL),
	    "Sync");
	assert_true(json_number(json_path(r, "movedFrom", "wave", NULL)) ==
	    0);
	assert_string_equal(json_path_string(r, "id", NULL),
	    p->steps[0].v[0]->id);
	r = json_array_get(json_get(step, "resources"), 1);
	assert_string_equal(json_path_string(r, "name", NULL), "db-migrate");
	assert_true(json_is_true(json_get(r, "hook")));
	assert_null(json_get(r, "movedFrom"));

	step = json_array_get(steps, 1);
	assert_string_equal(json_path_string(step, "phase", NULL), "Sync");
	assert_true(json_number(json_get(step, "wave")) == -1);
	step = json_array_get(steps, 4);
	assert_string_equal(json_path_string(step, "phase", NULL),
	    "PostSync");

	assert_int_equal(json_count(json_get(j, "syncFail")), 1);
	r = json_array_get(json_get(j, "syncFail"), 0);
	assert_string_equal(json_path_string(r, "name", NULL), "page-oncall");
	assert_true(json_number(json_get(r, "wave")) == 0);
	json_free(j);
	plan_free(p);
	resource_set_free(set);
}

/*
 * App order. A configuration built in memory: only names and depends_on
 * matter here, and config.c's own checks are tested in test_config.c.
 */
struct app_def {
	const char	*name;
	const char	*deps;	/* space-separated */
};

static struct config *
conf_of(const struct app_def *defs, size_t n)
{
	struct config	*c = xcalloc(1, sizeof *c);
	char		*deps, *p, *tok;
	size_t		 i;

	c->apps = xcalloc(n, sizeof *c->apps);
	c->napps = n;
	for (i = 0; i < n; i++) {
		c->apps[i].name = xstrdup(defs[i].name);
		if (defs[i].deps == NULL)
			continue;
		deps = p = xstrdup(defs[i].deps);
		while ((tok = strsep(&p, " ")) != NULL) {
			if (*tok != '\0')
				strv_add(&c->apps[i].depends_on, tok);
		}
		free(deps);
	}
	return (c);
}

static void
conf_free(struct config *c)
{
	size_t	i;

	for (i = 0; i < c->napps; i++) {
		free(c->apps[i].name);
		strv_free(&c->apps[i].depends_on);
	}
	free(c->apps);
	free(c);
}

/* Order as one space-separated string, or "error: CAUSE". */
static char *
order_of(const struct config *c, const char *names)
{
	struct strv	 want = { NULL, 0 }, order = { NULL, 0 };
	struct buf	 b;
	char		*cause = NULL, *copy, *p, *tok;
	size_t		 i;

	if (names != NULL) {
		copy = p = xstrdup(names);
		while ((tok = strsep(&p, " ")) != NULL)
			strv_add(&want, tok);
		free(copy);
	}
	buf_init(&b);
	if (plan_app_order(c, names != NULL ? &want : NULL, &order,
	    &cause) == -1) {
		assert_non_null(cause);
		assert_int_equal(order.n, 0);
		buf_printf(&b, "error: %s", cause);
		free(cause);
	} else {
		assert_null(cause);
		for (i = 0; i < order.n; i++)
			buf_printf(&b, "%s%s", i == 0 ? "" : " ", order.v[i]);
	}
	strv_free(&want);
	strv_free(&order);
	return (buf_release(&b));
}

#define assert_order(c, names, expect) do {				\
	char	*got_ = order_of((c), (names));			\
									\
	assert_string_equal(got_, (expect));				\
	free(got_);							\
} while (0)

static const struct app_def shop[] = {
	{ "catalog-service", NULL },
	{ "inventory-service", NULL },
	{ "checkout-service", "inventory-service" },
	{ "payments-service", "checkout-service" },
	{ "frontend-shell",
	    "catalog-service checkout-service payments-service" },
};

/* The same shop declared in the opposite order. */
static const struct app_def shop_reversed[] = {
	{ "frontend-shell",
	    "catalog-service checkout-service payments-service" },
	{ "payments-service", "checkout-service" },
	{ "checkout-service", "inventory-service" },
	{ "inventory-service", NULL },
	{ "catalog-service", NULL },
};

static void
test_plan_app_order_shop_dependencies_first(void **state)
{
	struct config	*c = conf_of(shop, 5);
	struct strv	 empty = { NULL, 0 }, order = { NULL, 0 };
	char		*cause = NULL;

	assert_order(c, NULL,
	    "catalog-service inventory-service checkout-service "
	    "payments-service frontend-shell");
	/* An empty list means every app, as NULL does. */
	assert_int_equal(plan_app_order(c, &empty, &order, &cause), 0);
	assert_int_equal(order.n, 5);
	strv_free(&order);
	conf_free(c);

	/* Ties go by configuration order, dependencies still first. */
	c = conf_of(shop_reversed, 5);
	assert_order(c, NULL,
	    "inventory-service checkout-service payments-service "
	    "catalog-service frontend-shell");
	conf_free(c);
}

static void
test_plan_app_order_subset_pulls_dependencies(void **state)
{
	struct config	*c = conf_of(shop, 5);

	assert_order(c, "frontend-shell",
	    "catalog-service inventory-service checkout-service "
	    "payments-service frontend-shell");
	assert_order(c, "checkout-service",
	    "inventory-service checkout-service");
	assert_order(c, "payments-service", "inventory-service "
	    "checkout-service payments-service");
	assert_order(c, "catalog-service", "catalog-service");
	/* Asked twice, listed once; the order is the graph's, not ours. */
	assert_order(c, "checkout-service catalog-service checkout-service",
	    "catalog-service inventory-service checkout-service");
	conf_free(c);
}

static void
test_plan_app_order_unknown_app_error(void **state)
{
	struct config		*c = conf_of(shop, 5);
	static const struct app_def bad[] = {
		{ "a", "b ghost" },
		{ "b", NULL },
	};

	assert_order(c, "checkout-service nope",
	    "error: unknown app 'nope'");
	assert_order(c, "x y", "error: unknown app 'x'\nunknown app 'y'");
	conf_free(c);
	c = conf_of(bad, 2);
	assert_order(c, NULL,
	    "error: app 'a' depends on unknown app 'ghost'");
	conf_free(c);
}

static void
test_plan_app_order_two_cycle_named(void **state)
{
	static const struct app_def defs[] = {
		{ "inventory-staging", NULL },
		{ "checkout-staging", "inventory-staging payments-staging" },
		{ "payments-staging", "checkout-staging" },
		{ "frontend-staging", "payments-staging" },
	};
	struct config	*c = conf_of(defs, 4);

	assert_order(c, NULL, "error: dependency cycle: checkout-staging -> "
	    "payments-staging -> checkout-staging");
	/* Asking only for an app behind the cycle reports it too. */
	assert_order(c, "frontend-staging", "error: dependency cycle: "
	    "checkout-staging -> payments-staging -> checkout-staging");
	/* Apps outside the cycle's reach still order. */
	assert_order(c, "inventory-staging", "inventory-staging");
	conf_free(c);
}

static void
test_plan_app_order_three_cycle_named(void **state)
{
	static const struct app_def defs[] = {
		{ "a", "c" },
		{ "b", "a" },
		{ "c", "b" },
		{ "d", NULL },
	};
	struct config	*c = conf_of(defs, 4);

	/* "->" reads "depends on": a needs c, c needs b, b needs a. */
	assert_order(c, NULL, "error: dependency cycle: a -> c -> b -> a");
	conf_free(c);
}

static void
test_plan_app_order_self_cycle_named(void **state)
{
	static const struct app_def defs[] = {
		{ "ok", NULL },
		{ "loop", "ok loop" },
	};
	struct config	*c = conf_of(defs, 2);

	assert_order(c, NULL, "error: dependency cycle: loop -> loop");
	assert_order(c, "ok", "ok");
	conf_free(c);
}

static void
test_plan_app_order_every_cycle_reported(void **state)
{
	static const struct app_def defs[] = {
		{ "x", "y" },
		{ "y", "x" },
		{ "p", "q" },
		{ "q", "r" },
		{ "r", "p s" },
		{ "s", "q" },
		{ "free", NULL },
	};
	struct config	*c = conf_of(defs, 7);

	/*
	 * Two components; the second holds two cycles (p q r, q r s): one is
	 * spelled out, the other app is named with it.
	 */
	assert_order(c, NULL, "error: dependency cycle: x -> y -> x\n"
	    "dependency cycle: p -> q -> r -> p; also in cycles with them: s");
	conf_free(c);
}

static void
test_plan_app_order_long_chain_no_recursion(void **state)
{
	struct config	*c;
	struct app_def	*defs;
	struct strv	 order = { NULL, 0 };
	char		*cause = NULL, **names;
	size_t		 i, n = 10000;

	/* Each app depends on the next: the order is the reverse. */
	defs = xcalloc(n, sizeof *defs);
	names = xcalloc(n, sizeof *names);
	for (i = 0; i < n; i++) {
		xasprintf(&names[i], "app-%05zu", i);
		defs[i].name = names[i];
	}
	for (i = 0; i + 1 < n; i++)
		defs[i].deps = names[i + 1];
	c = conf_of(defs, n);
	assert_int_equal(plan_app_order(c, NULL, &order, &cause), 0);
	assert_int_equal(order.n, n);
	for (i = 0; i < n; i++)
		assert_string_equal(order.v[i], names[n - 1 - i]);
	strv_free(&order);
	conf_free(c);

	/* Close the chain into one cycle of 10,000 apps. */
	defs[n - 1].deps = names[0];
	c = conf_of(defs, n);
	assert_int_equal(plan_app_order(c, NULL, &order, &cause), -1);
	assert_non_null(cause);
	assert_true(strncmp(cause,
	    "dependency cycle: app-00000 -> app-00001 -> ", 44) == 0);
	assert_non_null(strstr(cause, "app-09999 -> app-00000"));
	assert_null(strstr(cause, "also in"));
	free(cause);
	conf_free(c);

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(defs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_kind_rank_design_list_in_order),
		cmocka_unit_test(
		    test_plan_build_every_kind_reversed_design_order),
		cmocka_unit_test(test_plan_build_waves_negative_first_grouped),
		cmocka_unit_test(test_plan_build_phases_syncfail_aside_skip_dropped),
		cmocka_unit_test(test_plan_build_same_kind_name_then_namespace),
		cmocka_unit_test(
		    test_plan_build_same_kind_name_other_group_total_order),
		cmocka_unit_test(
		    test_plan_build_namespace_dragged_to_earliest_wave),
		cmocka_unit_test(
		    test_plan_build_namespace_dragged_into_presync),
		cmocka_unit_test(test_plan_build_namespace_already_first_stays),
		cmocka_unit_test(
		    test_plan_build_crd_dragged_to_first_custom_resource),
		cmocka_unit_test(test_plan_build_shuffled_input_same_plan),
		cmocka_unit_test(test_plan_build_empty_no_steps),
		cmocka_unit_test(test_plan_build_many_resources_sorted),
		cmocka_unit_test(test_plan_print_table_mixed_golden),
		cmocka_unit_test(test_plan_to_json_mixed_shape),
		cmocka_unit_test(test_plan_app_order_shop_dependencies_first),
		cmocka_unit_test(test_plan_app_order_subset_pulls_dependencies),
		cmocka_unit_test(test_plan_app_order_unknown_app_error),
		cmocka_unit_test(test_plan_app_order_two_cycle_named),
		cmocka_unit_test(test_plan_app_order_three_cycle_named),
		cmocka_unit_test(test_plan_app_order_self_cycle_named),
		cmocka_unit_test(test_plan_app_order_every_cycle_reported),
		cmocka_unit_test(test_plan_app_order_long_chain_no_recursion),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
