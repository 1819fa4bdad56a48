/* test_manifest.c: resources, identities, sets and loading a folder. */
#include "config.h"

#include "unit.h"

struct fixture {
	char		*dir;
	struct source	*src;
};

static int
setup(void **state)
{
	struct fixture	*f = xcalloc(1, sizeof *f);

	f->dir = unit_mkdtemp();
	f->src = source_dir_new(f->dir);
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	source_free(f->src);
	unit_rmtree(f->dir);
	free(f->dir);
	free(f);
	return (0);
}

static struct json *
doc(const char *text)
{
	struct json	*j;
	char		*cause = NULL;

	if ((j = json_parse(text, strlen(text), &cause)) == NULL)
		fatalx("bad test JSON: %s: %s", cause, text);
	return (j);
}

/* resource_new on JSON text, expecting success. */
static struct resource *
res_ok(const char *text, const char *ns)
{
	struct resource	*r;
	char		*cause = NULL;

	r = resource_new(doc(text), "f.yaml", 3, 1, ns, &cause);
	if (r == NULL)
		fail_msg("unexpected error: %s", cause);
	return (r);
}

/* resource_new on JSON text, expecting exactly this error. */
static void
res_fails(const char *text, const char *want)
{
	struct json	*j = doc(text), *copy = json_dup(j);
	struct resource	*r;
	char		*cause = NULL;

	r = resource_new(j, "f.yaml", 3, 1, NULL, &cause);
	assert_null(r);
	assert_non_null(cause);
	assert_string_equal(cause, want);
	assert_true(json_equal(j, copy));	/* left unchanged */
	free(cause);
	json_free(j);
	json_free(copy);
}

#define DEPLOY(meta) "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\"," \
	"\"metadata\":" meta "}"
#define ANN(a) DEPLOY("{\"name\":\"x\",\"annotations\":" a "}")

static void
test_resource_new_deployment_builds_identity(void **state)
{
	struct resource	*r;

	r = res_ok(DEPLOY("{\"name\":\"checkout\",\"namespace\":\"shop\"}"),
	    NULL);
	assert_string_equal(r->id, "Deployment.apps/shop/checkout");
	assert_string_equal(r->api_version, "apps/v1");
	assert_string_equal(r->group, "apps");
	assert_string_equal(r->kind, "Deployment");
	assert_string_equal(r->namespace, "shop");
	assert_string_equal(r->name, "checkout");
	assert_string_equal(r->file, "f.yaml");
	assert_int_equal(r->line, 3);
	assert_int_equal(r->column, 1);
	assert_int_equal(r->phase, PHASE_SYNC);
	assert_int_equal(r->is_hook, 0);
	assert_int_equal(r->skip, 0);
	assert_int_equal(r->wave, 0);
	assert_string_equal(json_path_string(r->obj, "kind", NULL),
	    "Deployment");
	resource_free(r);
}

static void
test_resource_new_core_group_has_no_suffix(void **state)
{
	struct resource	*r;

	r = res_ok("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":"
	    "{\"name\":\"checkout-config\",\"namespace\":\"shop\"}}", NULL);
	assert_string_equal(r->id, "ConfigMap/shop/checkout-config");
	assert_string_equal(r->group, "");
	resource_free(r);
}

static void
test_resource_new_namespace_defaulted_and_written(void **state)
{
	struct resource	*r;

	r = res_ok(DEPLOY("{\"name\":\"x\"}"), "shop");
	assert_string_equal(r->namespace, "shop");
	assert_string_equal(r->id, "Deployment.apps/shop/x");
	assert_string_equal(json_path_string(r->obj, "metadata", "namespace",
	    NULL), "shop");
	resource_free(r);
	/* None given: none invented, the target decides. */
	r = res_ok(DEPLOY("{\"name\":\"x\"}"), NULL);
	assert_string_equal(r->namespace, "");
	assert_string_equal(r->id, "Deployment.apps/x");
	assert_null(json_path_string(r->obj, "metadata", "namespace", NULL));
	resource_free(r);
	/* An empty namespace is none, as kubectl takes it. */
	r = res_ok(DEPLOY("{\"name\":\"x\",\"namespace\":\"\"}"), "shop");
	assert_string_equal(r->id, "Deployment.apps/shop/x");
	assert_string_equal(json_path_string(r->obj, "metadata", "namespace",
	    NULL), "shop");
	resource_free(r);
	/* A declared namespace beats the default. */
	r = res_ok(DEPLOY("{\"name\":\"x\",\"namespace\":\"mine\"}"), "shop");
	assert_string_equal(r->id, "Deployment.apps/mine/x");
	resource_free(r);
}

static void
test_resource_new_cluster_scoped_drops_namespace(void **state)
{
	struct resource	*r;

	r = res_ok("{\"apiVersion\":\"rbac.authorization.k8s.io/v1\","
	    "\"kind\":\"ClusterRole\",\"metadata\":{\"name\":\"reader\","
	    "\"namespace\":\"shop\"}}", "other");
	assert_string_equal(r->id,
	    "ClusterRole.rbac.authorization.k8s.io/reader");
	assert_string_equal(r->namespace, "");
	assert_null(json_path(r->obj, "metadata", "namespace", NULL));
	resource_free(r);
	r = res_ok("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
	    "\"metadata\":{\"name\":\"shop\"}}", "other");
	assert_string_equal(r->id, "Namespace/shop");
	assert_null(json_path(r->obj, "metadata", "namespace", NULL));
	resource_free(r);
	r = res_ok("{\"apiVersion\":\"apiextensions.k8s.io/v1\","
	    "\"kind\":\"CustomResourceDefinition\",\"metadata\":"
	    "{\"name\":\"rollouts.argoproj.io\"}}", NULL);
	assert_string_equal(r->id, "CustomResourceDefinition."
	    "apiextensions.k8s.io/rollouts.argoproj.io");
	resource_free(r);
}

static void
test_resource_new_bad_documents_fail_at_document(void **state)
{
	res_fails("[1]", "f.yaml:3:1: document must be a mapping, not a list");
	res_fails("{\"kind\":\"Deployment\",\"metadata\":{\"name\":\"x\"}}",
	    "f.yaml:3:1: document has no apiVersion");
	res_fails("{\"apiVersion\":1,\"kind\":\"Deployment\"}",
	    "f.yaml:3:1: apiVersion must be a string, not a number");
	res_fails("{\"apiVersion\":\"apps/v1\",\"metadata\":{\"name\":\"x\"}}",
	    "f.yaml:3:1: document has no kind");
	res_fails("{\"apiVersion\":\"apps/v1\",\"kind\":null}",
	    "f.yaml:3:1: document has no kind");
	res_fails("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\"}",
	    "f.yaml:3:1: document has no metadata.name");
	res_fails(DEPLOY("{\"namespace\":\"shop\"}"),
	    "f.yaml:3:1: document has no metadata.name");
	res_fails(DEPLOY("[]"),
	    "f.yaml:3:1: metadata must be a mapping, not a list");
	res_fails(DEPLOY("{\"name\":5}"),
	    "f.yaml:3:1: metadata.name must be a string, not a number");
}

static void
test_resource_new_bad_fields_fail_with_value(void **state)
{
	res_fails("{\"apiVersion\":\"Apps/V1\",\"kind\":\"Deployment\"}",
	    "f.yaml:3:1: invalid apiVersion 'Apps/V1': expected 'v1' or "
	    "'group/version'");
	res_fails("{\"apiVersion\":\"a/b/v1\",\"kind\":\"Deployment\"}",
	    "f.yaml:3:1: invalid apiVersion 'a/b/v1': expected 'v1' or "
	    "'group/version'");
	res_fails("{\"apiVersion\":\"/v1\",\"kind\":\"Deployment\"}",
	    "f.yaml:3:1: invalid apiVersion '/v1': expected 'v1' or "
	    "'group/version'");
	res_fails("{\"apiVersion\":\"apps/v1\",\"kind\":\"deployment\"}",
	    "f.yaml:3:1: invalid kind 'deployment': must start with an "
	    "upper-case letter and hold only letters and digits");
	res_fails("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deploy-ment\"}",
	    "f.yaml:3:1: invalid kind 'Deploy-ment': must start with an "
	    "upper-case letter and hold only letters and digits");
	res_fails(DEPLOY("{\"name\":\"Checkout_Service\"}"),
	    "f.yaml:3:1: invalid name 'Checkout_Service': must be a "
	    "lowercase RFC 1123 subdomain");
	res_fails(DEPLOY("{\"name\":\"../../etc/passwd\"}"),
	    "f.yaml:3:1: invalid name '../../etc/passwd': must be a "
	    "lowercase RFC 1123 subdomain");
	res_fails(DEPLOY("{\"name\":\"a/b\"}"),
	    "f.yaml:3:1: invalid name 'a/b': must be a lowercase RFC 1123 "
	    "subdomain");
	res_fails(DEPLOY("{\"name\":\"..\"}"),
	    "f.yaml:3:1: invalid name '..': must be a lowercase RFC 1123 "
	    "subdomain");
	res_fails(DEPLOY("{\"name\":\"x\",\"namespace\":\"a.b\"}"),
	    "f.yaml:3:1: invalid namespace 'a.b': must be a lowercase RFC "
	    "1123 label");
	res_fails(DEPLOY("{\"name\":\"x\",\"namespace\":7}"),
	    "f.yaml:3:1: metadata.namespace must be a string, not a number");
	res_fails(ANN("[]"),
	    "f.yaml:3:1: metadata.annotations must be a mapping, not a list");
}

static void
test_resource_new_bad_default_namespace_fails(void **state)
{
	struct json	*j = doc(DEPLOY("{\"name\":\"x\"}"));
	char		*cause = NULL;

	assert_null(resource_new(j, "f.yaml", 3, 1, "Bad", &cause));
	assert_string_equal(cause, "f.yaml:3:1: invalid default namespace "
	    "'Bad': must be a lowercase RFC 1123 label");
	free(cause);
	json_free(j);
}

static void
test_resource_new_hook_sets_phase(void **state)
{
	static const struct {
		const char	*ann;
		enum hook_phase	 phase;
	} cases[] = {
		{ "{\"argocd.argoproj.io/hook\":\"PreSync\"}", PHASE_PRESYNC },
		{ "{\"argocd.argoproj.io/hook\":\"Sync\"}", PHASE_SYNC },
		{ "{\"gitops-agent.io/hook\":\"PostSync\"}", PHASE_POSTSYNC },
		{ "{\"argocd.argoproj.io/hook\":\"SyncFail\"}",
		    PHASE_SYNCFAIL },
		{ "{\"argocd.argoproj.io/hook\":\" PreSync \"}",
		    PHASE_PRESYNC },
		/* ours wins over Argo CD's */
		{ "{\"argocd.argoproj.io/hook\":\"PreSync\","
		    "\"gitops-agent.io/hook\":\"PostSync\"}", PHASE_POSTSYNC },
	};
	struct resource	*r;
	char		 text[512];
	size_t		 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text, ANN("%s"), cases[i].ann);
		r = res_ok(text, NULL);
		assert_int_equal(r->phase, cases[i].phase);
		assert_int_equal(r->is_hook, 1);
		assert_int_equal(r->skip, 0);
		resource_free(r);
	}
}

static void
test_resource_new_hook_skip_sets_flag(void **state)
{
	struct resource	*r;

	r = res_ok(ANN("{\"argocd.argoproj.io/hook\":\"Skip\"}"), NULL);
	assert_int_equal(r->skip, 1);
	resource_free(r);
	r = res_ok(ANN("{\"gitops-agent.io/hook\":\"PreSync,Skip\"}"), NULL);
	assert_int_equal(r->skip, 1);
	resource_free(r);
}

/* hook-delete-policy: BeforeHookCreation unless it says otherwise. */
static void
test_resource_new_hook_delete_policy(void **state)
{
	struct resource	*r;

	r = res_ok(ANN("{\"argocd.argoproj.io/hook\":\"PreSync\"}"), NULL);
	assert_int_equal(r->hook_delete, HOOK_DELETE_BEFORE_CREATION);
	resource_free(r);
	r = res_ok(ANN("{\"argocd.argoproj.io/hook\":\"PreSync\","
	    "\"argocd.argoproj.io/hook-delete-policy\":"
	    "\"HookSucceeded, HookFailed\"}"), NULL);
	assert_int_equal(r->hook_delete, HOOK_DELETE_SUCCEEDED |
	    HOOK_DELETE_FAILED);
	resource_free(r);
	r = res_ok(ANN("{\"gitops-agent.io/hook\":\"Sync\","
	    "\"gitops-agent.io/hook-delete-policy\":\"HookSucceeded\","
	    "\"argocd.argoproj.io/hook-delete-policy\":\"HookFailed\"}"),
	    NULL);
	assert_int_equal(r->hook_delete, HOOK_DELETE_SUCCEEDED);
	resource_free(r);
	/* Empty items are nothing, as Argo CD reads them. */
	r = res_ok(ANN("{\"argocd.argoproj.io/hook\":\"PreSync\","
	    "\"argocd.argoproj.io/hook-delete-policy\":\"HookSucceeded,\"}"),
	    NULL);
	assert_int_equal(r->hook_delete, HOOK_DELETE_SUCCEEDED);
	resource_free(r);
	r = res_ok(ANN("{\"argocd.argoproj.io/hook\":\"PreSync\","
	    "\"argocd.argoproj.io/hook-delete-policy\":\"\"}"), NULL);
	assert_int_equal(r->hook_delete, HOOK_DELETE_BEFORE_CREATION);
	resource_free(r);
	res_fails(ANN("{\"argocd.argoproj.io/hook\":\"PreSync\","
	    "\"argocd.argoproj.io/hook-delete-policy\":\"OnSuccess\"}"),
	    "f.yaml:3:1: invalid policy 'OnSuccess' in annotation "
	    "'argocd.argoproj.io/hook-delete-policy': expected "
	    "BeforeHookCreation, HookSucceeded or HookFailed");
}

static void
test_resource_new_bad_hook_fails(void **state)
{
	res_fails(ANN("{\"argocd.argoproj.io/hook\":\"presync\"}"),
	    "f.yaml:3:1: invalid hook 'presync' in annotation "
	    "'argocd.argoproj.io/hook': expected PreSync, Sync, PostSync, "
	    "SyncFail or Skip");
	res_fails(ANN("{\"gitops-agent.io/hook\":\"\"}"),
	    "f.yaml:3:1: invalid hook '' in annotation "
	    "'gitops-agent.io/hook': expected PreSync, Sync, PostSync, "
	    "SyncFail or Skip");
	res_fails(ANN("{\"argocd.argoproj.io/hook\":\"PreSync,PostSync\"}"),
	    "f.yaml:3:1: annotation 'argocd.argoproj.io/hook' names 2 phases "
	    "('PreSync,PostSync'): only one phase is supported");
	res_fails(ANN("{\"gitops-agent.io/hook\":true}"),
	    "f.yaml:3:1: annotation 'gitops-agent.io/hook' must be a string, "
	    "not a boolean");
}

static void
test_resource_new_wave_parsed(void **state)
{
	static const struct {
		const char	*ann;
		long		 wave;
	} cases[] = {
		{ "{\"argocd.argoproj.io/sync-wave\":\"-5\"}", -5 },
		{ "{\"argocd.argoproj.io/sync-wave\":\"+3\"}", 3 },
		{ "{\"gitops-agent.io/sync-wave\":\"007\"}", 7 },
		{ "{\"gitops-agent.io/sync-wave\":\"2147483647\"}",
		    2147483647L },
		{ "{\"gitops-agent.io/sync-wave\":\"-2147483648\"}",
		    -2147483647L - 1 },
		{ "{\"argocd.argoproj.io/sync-wave\":\"1\","
		    "\"gitops-agent.io/sync-wave\":\"2\"}", 2 },
		{ "{\"argocd.argoproj.io/sync-wave\":null}", 0 },
	};
	struct resource	*r;
	char		 text[512];
	size_t		 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text, ANN("%s"), cases[i].ann);
		r = res_ok(text, NULL);
		assert_int_equal(r->wave, cases[i].wave);
		assert_int_equal(r->is_hook, 0);
		assert_int_equal(r->phase, PHASE_SYNC);
		resource_free(r);
	}
}

static void
test_resource_new_bad_wave_fails(void **state)
{
	res_fails(ANN("{\"argocd.argoproj.io/sync-wave\":\"abc\"}"),
	    "f.yaml:3:1: invalid sync wave 'abc' in annotation "
	    "'argocd.argoproj.io/sync-wave': expected an integer");
	res_fails(ANN("{\"gitops-agent.io/sync-wave\":\"1.5\"}"),
	    "f.yaml:3:1: invalid sync wave '1.5' in annotation "
	    "'gitops-agent.io/sync-wave': expected an integer");
	res_fails(ANN("{\"gitops-agent.io/sync-wave\":\" 1\"}"),
	    "f.yaml:3:1: invalid sync wave ' 1' in annotation "
	    "'gitops-agent.io/sync-wave': expected an integer");
	res_fails(ANN("{\"gitops-agent.io/sync-wave\":\"-\"}"),
	    "f.yaml:3:1: invalid sync wave '-' in annotation "
	    "'gitops-agent.io/sync-wave': expected an integer");
	res_fails(ANN("{\"gitops-agent.io/sync-wave\":\"2147483648\"}"),
	    "f.yaml:3:1: sync wave '2147483648' in annotation "
	    "'gitops-agent.io/sync-wave' is out of range");
	res_fails(ANN("{\"gitops-agent.io/sync-wave\":"
	    "\"-99999999999999999999999\"}"),
	    "f.yaml:3:1: sync wave '-99999999999999999999999' in annotation "
	    "'gitops-agent.io/sync-wave' is out of range");
	res_fails(ANN("{\"argocd.argoproj.io/sync-wave\":5}"),
	    "f.yaml:3:1: annotation 'argocd.argoproj.io/sync-wave' must be a "
	    "string, not a number");
}

static void
test_resource_refresh_recomputes_identity(void **state)
{
	struct resource	*r;
	struct json	*md;
	char		*cause = NULL;

	r = res_ok(DEPLOY("{\"name\":\"x\"}"), "shop");
	md = json_get(r->obj, "metadata");
	json_set(md, "namespace", json_new_string("other"));
	json_set(md, "annotations",
	    doc("{\"gitops-agent.io/sync-wave\":\"4\"}"));
	assert_int_equal(resource_refresh(r, "shop", &cause), 0);
	assert_string_equal(r->id, "Deployment.apps/other/x");
	assert_string_equal(r->namespace, "other");
	assert_string_equal(r->file, "f.yaml");
	assert_int_equal(r->wave, 4);
	json_set(md, "name", json_new_string("Bad"));
	assert_int_equal(resource_refresh(r, "shop", &cause), -1);
	assert_string_equal(cause, "f.yaml:3:1: invalid name 'Bad': must be "
	    "a lowercase RFC 1123 subdomain");
	assert_string_equal(r->id, "Deployment.apps/other/x");
	free(cause);
	resource_free(r);
}

static void
test_resource_id_make_namespaced_and_cluster(void **state)
{
	char	*id;

	id = resource_id_make("apps", "Deployment", "shop", "checkout");
	assert_string_equal(id, "Deployment.apps/shop/checkout");
	free(id);
	id = resource_id_make("", "Namespace", "", "shop");
	assert_string_equal(id, "Namespace/shop");
	free(id);
	id = resource_id_make(NULL, "ConfigMap", "shop", "c");
	assert_string_equal(id, "ConfigMap/shop/c");
	free(id);
}

static void
test_kind_is_cluster_scoped_known_kinds(void **state)
{
	assert_true(kind_is_cluster_scoped("Namespace"));
	assert_true(kind_is_cluster_scoped("CustomResourceDefinition"));
	assert_true(kind_is_cluster_scoped("ClusterRoleBinding"));
	assert_true(kind_is_cluster_scoped("ClusterIssuer"));
	assert_true(kind_is_cluster_scoped("APIService"));
	assert_true(kind_is_cluster_scoped("VolumeAttachment"));
	assert_false(kind_is_cluster_scoped("Deployment"));
	assert_false(kind_is_cluster_scoped("Role"));
	assert_false(kind_is_cluster_scoped("namespace"));
	assert_false(kind_is_cluster_scoped(""));
}

static void
test_phase_name_all_phases(void **state)
{
	assert_string_equal(phase_name(PHASE_PRESYNC), "PreSync");
	assert_string_equal(phase_name(PHASE_SYNC), "Sync");
	assert_string_equal(phase_name(PHASE_POSTSYNC), "PostSync");
	assert_string_equal(phase_name(PHASE_SYNCFAIL), "SyncFail");
}

static void
test_resource_set_add_find_and_duplicate(void **state)
{
	struct resource_set	*set = resource_set_new();
	struct resource		*a, *b, *dup;
	char			*cause = NULL;

	a = res_ok(DEPLOY("{\"name\":\"a\"}"), "shop");
	b = res_ok(DEPLOY("{\"name\":\"b\"}"), "shop");
	dup = resource_new(doc(DEPLOY("{\"name\":\"a\"}")), "g.yaml", 9, 3,
	    "shop", &cause);
	assert_int_equal(resource_set_add(set, b, &cause), 0);
	assert_int_equal(resource_set_add(set, a, &cause), 0);
	assert_int_equal(resource_set_add(set, dup, &cause), -1);
	assert_string_equal(cause, "g.yaml:9:3: duplicate resource "
	    "'Deployment.apps/shop/a': first declared at f.yaml:3");
	free(cause);
	assert_int_equal(set->n, 2);
	assert_ptr_equal(set->v[0], b);	/* insertion order */
	assert_ptr_equal(set->v[1], a);
	assert_ptr_equal(resource_set_find(set, "Deployment.apps/shop/a"), a);
	assert_null(resource_set_find(set, "Deployment.apps/shop/c"));
	resource_free(dup);
	resource_set_free(set);
}

/* Add res_ok(text, ns) to set, expecting success. */
static struct resource *
set_add_ok(struct resource_set *set, const char *text, const char *ns)
{
	struct resource	*r = res_ok(text, ns);
	char		*cause = NULL;

	if (resource_set_add(set, r, &cause) == -1)
		fail_msg("resource_set_add: %s", cause);
	return (r);
}

/* Adding text to set fails with exactly want. */
static void
set_add_fails(struct resource_set *set, const char *text, const char *ns,
    const char *want)
{
	struct resource	*r;
	char		*cause = NULL;

	r = resource_new(doc(text), "g.yaml", 9, 3, ns, &cause);
	assert_non_null(r);
	assert_int_equal(resource_set_add(set, r, &cause), -1);
	assert_string_equal(cause, want);
	free(cause);
	resource_free(r);
}

static void
test_resource_set_add_two_api_versions_says_why(void **state)
{
	struct resource_set	*set = resource_set_new();

	set_add_ok(set, DEPLOY("{\"name\":\"d\"}"), "shop");
	set_add_fails(set, "{\"apiVersion\":\"apps/v1beta2\",\"kind\":"
	    "\"Deployment\",\"metadata\":{\"name\":\"d\"}}", "shop",
	    "g.yaml:9:3: duplicate resource 'Deployment.apps/shop/d': first "
	    "declared at f.yaml:3 as apps/v1, and apps/v1beta2 is another "
	    "version of the same API group: the API server keeps one object "
	    "of that name");
	assert_int_equal(set->n, 1);
	resource_set_free(set);
}

static void
test_resource_set_add_no_namespace_is_default_duplicate(void **state)
{
	struct resource_set	*set = resource_set_new();
	const char		*want = "g.yaml:9:3: duplicate resource "
				    "'Deployment.apps/default/d': first "
				    "declared at f.yaml:3 (no namespace is "
				    "'default' to kustomize)";

	set_add_ok(set, DEPLOY("{\"name\":\"d\"}"), NULL);
	set_add_fails(set, DEPLOY("{\"name\":\"d\"}"), "default", want);
	resource_set_free(set);
	set = resource_set_new();
	set_add_ok(set, DEPLOY("{\"name\":\"d\"}"), "default");
	set_add_fails(set, DEPLOY("{\"name\":\"d\"}"), NULL, want);
	/* Another namespace is another object. */
	set_add_ok(set, DEPLOY("{\"name\":\"d\"}"), "shop");
	assert_int_equal(set->n, 2);
	resource_set_free(set);
}

#define CRD_WIDGET "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":" \
	"\"CustomResourceDefinition\",\"metadata\":{\"name\":" \
	"\"widgets.example.com\"},\"spec\":{\"group\":\"example.com\"," \
	"\"scope\":\"Cluster\",\"names\":{\"kind\":\"Widget\"}}}"
#define CR(kind, name) "{\"apiVersion\":\"example.com/v1\",\"kind\":\"" \
	kind "\",\"metadata\":{\"name\":\"" name "\"}}"

static void
test_resource_set_default_namespace_fills_namespaced_only(void **state)
{
	struct resource_set	*set = resource_set_new();
	struct resource		*d, *cm;
	char			*cause = NULL;

	d = set_add_ok(set, DEPLOY("{\"name\":\"x\"}"), NULL);
	cm = set_add_ok(set, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
	    "\"metadata\":{\"name\":\"c\",\"namespace\":\"mine\"}}", NULL);
	set_add_ok(set, "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\","
	    "\"kind\":\"ClusterRole\",\"metadata\":{\"name\":\"r\"}}", NULL);
	set_add_ok(set, CRD_WIDGET, NULL);
	set_add_ok(set, CR("Widget", "w"), NULL);
	set_add_ok(set, CR("Gadget", "g"), NULL);
	assert_int_equal(resource_set_default_namespace(set, "team", &cause),
	    0);
	assert_ptr_equal(resource_set_find(set, "Deployment.apps/team/x"), d);
	assert_null(resource_set_find(set, "Deployment.apps/x"));
	assert_string_equal(d->namespace, "team");
	assert_string_equal(json_path_string(d->obj, "metadata", "namespace",
	    NULL), "team");
	assert_ptr_equal(resource_set_find(set, "ConfigMap/mine/c"), cm);
	assert_non_null(resource_set_find(set,
	    "ClusterRole.rbac.authorization.k8s.io/r"));
	/* A CRD of the set says Widget is cluster-scoped; Gadget is not. */
	assert_non_null(resource_set_find(set, "Widget.example.com/w"));
	assert_non_null(resource_set_find(set, "Gadget.example.com/team/g"));
	resource_set_free(set);
}

static void
test_resource_set_default_namespace_collision_fails(void **state)
{
	struct resource_set	*set = resource_set_new();
	char			*cause = NULL;

	set_add_ok(set, DEPLOY("{\"name\":\"x\"}"), "team");
	set_add_ok(set, DEPLOY("{\"name\":\"x\"}"), NULL);
	assert_int_equal(resource_set_default_namespace(set, "Bad", &cause),
	    -1);
	assert_string_equal(cause, "invalid default namespace 'Bad': must be "
	    "a lowercase RFC 1123 label");
	free(cause);
	cause = NULL;
	assert_int_equal(resource_set_default_namespace(set, "team", &cause),
	    -1);
	assert_string_equal(cause, "f.yaml:3:1: duplicate resource "
	    "'Deployment.apps/team/x': first declared at f.yaml:3");
	free(cause);
	resource_set_free(set);
}

/* Loading. */

static char *
fmt_path(const struct fixture *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The message with "@R" standing for the fixture's root. */
static char *
fmt_path(const struct fixture *f, const char *fmt, ...)
{
	va_list		 ap;
	struct buf	 b;
	char		*s, *p;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	buf_init(&b);
	for (p = s; *p != '\0'; p++) {
		if (p[0] == '@' && p[1] == 'R') {
			buf_adds(&b, f->dir);
			p++;
		} else
			buf_addc(&b, *p);
	}
	free(s);
	return (buf_release(&b));
}

static struct resource_set *
load_ok(struct fixture *f, const char *path, const char *ns)
{
	struct resource_set	*set = NULL;
	char			*cause = NULL;

	if (manifest_load_dir(f->src, path, ns, &set, &cause) == -1)
		fail_msg("unexpected error: %s", cause);
	assert_non_null(set);
	return (set);
}

/* The load fails with exactly want ("@R" is the fixture's root). */
static void
load_fails(struct fixture *f, const char *path, const char *want)
{
	struct resource_set	*set = (void *)1;
	char			*cause = NULL, *w;

	assert_int_equal(manifest_load_dir(f->src, path, NULL, &set, &cause),
	    -1);
	assert_null(set);
	assert_non_null(cause);
	w = fmt_path(f, "%s", want);
	assert_string_equal(cause, w);
	free(w);
	free(cause);
}

#define CM(name) "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " \
	name "\n"

static void
test_manifest_load_dir_walks_sorted_and_skips(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;

	unit_write(f->dir, "app/b.yaml", CM("b1") "---\n" CM("b2"));
	unit_write(f->dir, "app/a.yml", CM("a"));
	unit_write(f->dir, "app/c.json", "{\"apiVersion\": \"v1\", \"kind\": "
	    "\"ConfigMap\", \"metadata\": {\"name\": \"c\"}}\n");
	unit_write(f->dir, "app/sub/d.yaml", CM("d"));
	unit_write(f->dir, "app/aa/e.yaml", CM("e"));
	unit_write(f->dir, "app/.hidden.yaml", CM("hidden"));
	unit_write(f->dir, "app/.git/x.yaml", CM("git"));
	unit_write(f->dir, "app/kustomization.yaml", "resources: [a.yml]\n");
	unit_write(f->dir, "app/sub/kustomization.yml", "resources: []\n");
	unit_write(f->dir, "app/sub/Kustomization", "resources: []\n");
	unit_write(f->dir, "app/notes.txt", "not yaml: [\n");
	unit_write(f->dir, "app/empty.yaml", "# nothing here\n");
	set = load_ok(f, "app", "shop");
	assert_int_equal(set->n, 6);
	assert_string_equal(set->v[0]->id, "ConfigMap/shop/a");
	assert_string_equal(set->v[1]->id, "ConfigMap/shop/e");
	assert_string_equal(set->v[2]->id, "ConfigMap/shop/b1");
	assert_string_equal(set->v[3]->id, "ConfigMap/shop/b2");
	assert_string_equal(set->v[4]->id, "ConfigMap/shop/c");
	assert_string_equal(set->v[5]->id, "ConfigMap/shop/d");
	assert_int_equal(set->v[3]->line, 6);
	assert_int_equal(set->v[3]->column, 1);
	assert_ptr_equal(resource_set_find(set, "ConfigMap/shop/d"),
	    set->v[5]);
	resource_set_free(set);
}

static void
test_manifest_load_dir_file_positions_recorded(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;
	char			*want;

	unit_write(f->dir, "apps/x/deploy.yaml", "# leading comment\n"
	    CM("one") "---\n" CM("two"));
	set = load_ok(f, "apps", NULL);
	assert_int_equal(set->n, 2);
	want = fmt_path(f, "@R/apps/x/deploy.yaml");
	assert_string_equal(set->v[0]->file, want);
	assert_string_equal(set->v[1]->file, want);
	free(want);
	assert_int_equal(set->v[0]->line, 2);
	assert_int_equal(set->v[1]->line, 7);
	assert_string_equal(set->v[0]->namespace, "");
	resource_set_free(set);
}

static void
test_manifest_load_dir_single_file_path(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;

	unit_write(f->dir, "one.yaml", CM("one"));
	unit_write(f->dir, "two.yaml", CM("two"));
	set = load_ok(f, "./one.yaml", "shop");
	assert_int_equal(set->n, 1);
	assert_string_equal(set->v[0]->id, "ConfigMap/shop/one");
	resource_set_free(set);
}

static void
test_manifest_load_dir_invalid_name_at_value(void **state)
{
	struct fixture	*f = *state;

	unit_write(f->dir, "apps/x/deploy.yaml",
	    "apiVersion: apps/v1\n"
	    "kind: Deployment\n"
	    "metadata:\n"
	    "  namespace: shop\n"
	    "  name: Checkout_Service\n");
	load_fails(f, "apps", "@R/apps/x/deploy.yaml:5:9: invalid name "
	    "'Checkout_Service': must be a lowercase RFC 1123 subdomain");
}

static void
test_manifest_load_dir_missing_fields_at_document(void **state)
{
	struct fixture	*f = *state;

	unit_write(f->dir, "m/a.yaml", CM("ok") "---\n# second\n"
	    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {}\n");
	unit_write(f->dir, "m/b.yaml", "apiVersion: v1\nmetadata:\n"
	    "  name: x\n");
	unit_write(f->dir, "m/c.yaml", "kind: Service\nmetadata:\n"
	    "  name: x\n");
	unit_write(f->dir, "m/d.yaml", "- a\n- b\n");
	load_fails(f, "m",
	    "@R/m/a.yaml:7:1: document has no metadata.name\n"
	    "@R/m/b.yaml:1:1: document has no kind\n"
	    "@R/m/c.yaml:1:1: document has no apiVersion\n"
	    "@R/m/d.yaml:1:1: document must be a mapping, not a list");
}

static void
test_manifest_load_dir_field_errors_at_value(void **state)
{
	struct fixture	*f = *state;

	unit_write(f->dir, "m/a.yaml", "apiVersion: apps/v1\n"
	    "kind: Deployment\n"
	    "metadata:\n"
	    "  name: web\n"
	    "  namespace: Shop\n");
	unit_write(f->dir, "m/b.yaml", "apiVersion: apps/v1\n"
	    "kind: deployment\n"
	    "metadata: {name: web}\n");
	unit_write(f->dir, "m/c.yaml", "apiVersion: apps/v1\n"
	    "kind: Deployment\n"
	    "metadata:\n"
	    "  name: web\n"
	    "  annotations:\n"
	    "    argocd.argoproj.io/sync-wave: \"soon\"\n");
	unit_write(f->dir, "m/d.yaml", "apiVersion: batch/v1\n"
	    "kind: Job\n"
	    "metadata:\n"
	    "  name: migrate\n"
	    "  annotations:\n"
	    "    argocd.argoproj.io/hook: PreSync,PostSync\n");
	load_fails(f, "m",
	    "@R/m/a.yaml:5:14: invalid namespace 'Shop': must be a lowercase "
	    "RFC 1123 label\n"
	    "@R/m/b.yaml:2:7: invalid kind 'deployment': must start with an "
	    "upper-case letter and hold only letters and digits\n"
	    "@R/m/c.yaml:6:35: invalid sync wave 'soon' in annotation "
	    "'argocd.argoproj.io/sync-wave': expected an integer\n"
	    "@R/m/d.yaml:6:30: annotation 'argocd.argoproj.io/hook' names 2 "
	    "phases ('PreSync,PostSync'): only one phase is supported");
}

static void
test_manifest_load_dir_duplicate_across_files(void **state)
{
	struct fixture	*f = *state;

	unit_write(f->dir, "d/a.yaml", "# first\n" CM("same"));
	unit_write(f->dir, "d/b/c.yaml", CM("other") "---\n" CM("same"));
	load_fails(f, "d", "@R/d/b/c.yaml:6:1: duplicate resource "
	    "'ConfigMap/same': first declared at @R/d/a.yaml:2");
}

static void
test_manifest_load_dir_same_name_other_namespace_ok(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;

	unit_write(f->dir, "d/a.yaml", CM("same") "  namespace: a\n---\n"
	    CM("same") "  namespace: b\n---\n"
	    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
	    "  name: same\n  namespace: a\n");
	set = load_ok(f, "d", NULL);
	assert_int_equal(set->n, 3);
	resource_set_free(set);
}

static void
test_manifest_load_dir_list_expanded(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;

	unit_write(f->dir, "l/list.yaml", "apiVersion: v1\n"
	    "kind: List\n"
	    "items:\n"
	    "- apiVersion: v1\n"
	    "  kind: ConfigMap\n"
	    "  metadata: {name: one}\n"
	    "- apiVersion: v1\n"
	    "  kind: Service\n"
	    "  metadata: {name: two}\n");
	unit_write(f->dir, "l/z.yaml", "apiVersion: v1\nkind: ConfigMapList\n"
	    "items: [{apiVersion: v1, kind: ConfigMap, metadata: "
	    "{name: three}}]\n");
	unit_write(f->dir, "l/empty.yaml", "apiVersion: v1\nkind: List\n"
	    "items: []\n");
	set = load_ok(f, "l", "shop");
	assert_int_equal(set->n, 3);
	assert_string_equal(set->v[0]->id, "ConfigMap/shop/one");
	assert_int_equal(set->v[0]->line, 4);
	assert_int_equal(set->v[0]->column, 3);
	assert_string_equal(set->v[1]->id, "Service/shop/two");
	assert_int_equal(set->v[1]->line, 7);
	assert_string_equal(json_path_string(set->v[1]->obj, "metadata",
	    "namespace", NULL), "shop");
	assert_string_equal(set->v[2]->id, "ConfigMap/shop/three");
	resource_set_free(set);
}

static void
test_manifest_load_dir_list_item_errors_positioned(void **state)
{
	struct fixture	*f = *state;

	unit_write(f->dir, "l/list.yaml", "apiVersion: v1\n"
	    "kind: List\n"
	    "items:\n"
	    "- apiVersion: v1\n"
	    "  kind: ConfigMap\n"
	    "  metadata: {name: Bad}\n"
	    "- just a string\n");
	unit_write(f->dir, "l/m.yaml", "apiVersion: v1\nkind: List\n"
	    "items: {}\n");
	load_fails(f, "l",
	    "@R/l/list.yaml:6:20: invalid name 'Bad': must be a lowercase RFC "
	    "1123 subdomain\n"
	    "@R/l/list.yaml:7:3: document must be a mapping, not a string\n"
	    "@R/l/m.yaml:3:8: items of a List must be a list, not a mapping");
}

static void
test_manifest_load_dir_skip_hook_left_out(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;

	unit_write(f->dir, "s/a.yaml", CM("kept") "---\n" CM("skipped")
	    "  annotations:\n    argocd.argoproj.io/hook: Skip\n");
	set = load_ok(f, "s", NULL);
	assert_int_equal(set->n, 1);
	assert_string_equal(set->v[0]->name, "kept");
	assert_null(resource_set_find(set, "ConfigMap/default/skipped"));
	resource_set_free(set);
}

static void
test_manifest_load_dir_hooks_and_waves(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;

	unit_write(f->dir, "h/a.yaml", "apiVersion: batch/v1\nkind: Job\n"
	    "metadata:\n  name: migrate\n  annotations:\n"
	    "    argocd.argoproj.io/hook: PreSync\n"
	    "    argocd.argoproj.io/sync-wave: \"-1\"\n"
	    "---\n" CM("cfg") "  annotations:\n"
	    "    gitops-agent.io/sync-wave: \"3\"\n"
	    "    argocd.argoproj.io/sync-wave: \"9\"\n");
	set = load_ok(f, "h", "shop");
	assert_int_equal(set->n, 2);
	assert_string_equal(set->v[0]->id, "Job.batch/shop/migrate");
	assert_int_equal(set->v[0]->phase, PHASE_PRESYNC);
	assert_int_equal(set->v[0]->is_hook, 1);
	assert_int_equal(set->v[0]->wave, -1);
	assert_int_equal(set->v[1]->phase, PHASE_SYNC);
	assert_int_equal(set->v[1]->is_hook, 0);
	assert_int_equal(set->v[1]->wave, 3);
	resource_set_free(set);
}

static void
test_manifest_load_dir_syntax_error_reported(void **state)
{
	struct fixture	*f = *state;
	struct resource_set	*set = NULL;
	char		*cause = NULL, *want;

	unit_write(f->dir, "y/a.yaml", "apiVersion: v1\nkind: [\n");
	assert_int_equal(manifest_load_dir(f->src, "y", NULL, &set, &cause),
	    -1);
	assert_null(set);
	want = fmt_path(f, "@R/y/a.yaml:");
	assert_non_null(cause);
	assert_true(strncmp(cause, want, strlen(want)) == 0);
	free(want);
	free(cause);
}

static void
test_manifest_load_dir_symlink_escape_refused(void **state)
{
	struct fixture	*f = *state;
	char		*link;

	unit_write(f->dir, "e/ok.yaml", CM("ok"));
	link = path_join(f->dir, "e/passwd.yaml");
	if (symlink("/etc/passwd", link) == -1)
		fatal("symlink");
	free(link);
	load_fails(f, "e", "'@R/e/passwd.yaml' leads outside '@R' through a "
	    "symlink");
}

static void
test_manifest_load_dir_symlink_loop_ends(void **state)
{
	struct fixture	*f = *state;
	char		*p;

	unit_write(f->dir, "loop/a/notes.txt", "a");
	unit_write(f->dir, "loop/b/notes.txt", "b");
	p = path_join(f->dir, "loop/a/to-b");
	if (symlink("../b", p) == -1)
		fatal("symlink");
	free(p);
	p = path_join(f->dir, "loop/b/to-a");
	if (symlink("../a", p) == -1)
		fatal("symlink");
	free(p);
	load_fails(f, "loop", "'@R/loop/a/to-b/to-a' is a symlink loop: it "
	    "leads back to a folder above it\n"
	    "'@R/loop/b/to-a/to-b' is a symlink loop: it leads back to a "
	    "folder above it");
}

static void
test_manifest_load_dir_symlink_diamond_bounded(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set = NULL;
	char			 rel[64], target[16], *p, *cause = NULL;
	int			 level;

	/* dK/a and dK/b both lead to dK+1: 2^16 paths to one folder. */
	unit_write(f->dir, "dia/d16/notes.txt", "leaf");
	for (level = 0; level < 16; level++) {
		snprintf(target, sizeof target, "../d%d", level + 1);
		snprintf(rel, sizeof rel, "dia/d%d/a", level);
		unit_write(f->dir, rel, "");
		p = path_join(f->dir, rel);
		if (unlink(p) == -1 || symlink(target, p) == -1)
			fatal("symlink");
		free(p);
		snprintf(rel, sizeof rel, "dia/d%d/b", level);
		p = path_join(f->dir, rel);
		if (symlink(target, p) == -1)
			fatal("symlink");
		free(p);
	}
	assert_int_equal(manifest_load_dir(f->src, "dia/d0", NULL, &set,
	    &cause), -1);
	assert_null(set);
	assert_non_null(strstr(cause, "more than 10000 folders to walk, at "));
	assert_non_null(strstr(cause, "(symlinks leading into one folder "
	    "along many paths?)"));
	assert_null(strchr(cause, '\n'));
	free(cause);
}

static void
test_manifest_load_dir_dotdot_refused(void **state)
{
	struct fixture	*f = *state;

	load_fails(f, "../..", "path '../..' is outside '@R'");
	load_fails(f, "nope", "cannot read '@R/nope': No such file or "
	    "directory");
}

static void
test_manifest_load_dir_too_large_refused(void **state)
{
	struct fixture	*f = *state;
	char		*big, *want;

	big = xmalloc(YAML_MAX_FILE_SIZE + 2);
	memset(big, '#', YAML_MAX_FILE_SIZE + 1);
	big[YAML_MAX_FILE_SIZE + 1] = '\0';
	unit_write(f->dir, "big/big.yaml", big);
	free(big);
	xasprintf(&want, "'@R/big/big.yaml' is too large: %d bytes, the "
	    "limit is %d", YAML_MAX_FILE_SIZE + 1, YAML_MAX_FILE_SIZE);
	load_fails(f, "big", want);
	free(want);
}

static void
test_manifest_load_dir_errors_bounded(void **state)
{
	struct fixture	*f = *state;
	struct resource_set *set = NULL;
	char		 name[64], *cause = NULL, *p;
	size_t		 lines = 0;
	int		 i;

	for (i = 0; i < 60; i++) {
		snprintf(name, sizeof name, "many/f%02d.yaml", i);
		unit_write(f->dir, name, "apiVersion: v1\nkind: ConfigMap\n");
	}
	assert_int_equal(manifest_load_dir(f->src, "many", NULL, &set,
	    &cause), -1);
	for (p = cause; *p != '\0'; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 50);	/* 50 messages and the last line */
	assert_non_null(strstr(cause, "f49.yaml:1:1: document has no "
	    "metadata.name\ntoo many errors, stopped after 50"));
	assert_null(strstr(cause, "f50.yaml"));
	free(cause);
}

/*
 * Load path with GITOPS_LOAD_THREADS set to threads; the set (NULL on
 * failure) and the cause are handed back.
 */
static int
load_threads(struct fixture *f, const char *path, int threads,
    struct resource_set **set, char **cause)
{
	char	n[16];
	int	rc;

	snprintf(n, sizeof n, "%d", threads);
	setenv("GITOPS_LOAD_THREADS", n, 1);
	*set = NULL;
	*cause = NULL;
	rc = manifest_load_dir(f->src, path, "shop", set, cause);
	unsetenv("GITOPS_LOAD_THREADS");
	return (rc);
}

/* Two sets hold the same resources, in the same order, from the same place. */
static void
assert_sets_equal(const struct resource_set *a, const struct resource_set *b)
{
	size_t	i;

	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		assert_string_equal(a->v[i]->id, b->v[i]->id);
		assert_string_equal(a->v[i]->file, b->v[i]->file);
		assert_int_equal(a->v[i]->line, b->v[i]->line);
		assert_int_equal(a->v[i]->column, b->v[i]->column);
		assert_int_equal(a->v[i]->wave, b->v[i]->wave);
		assert_int_equal(a->v[i]->phase, b->v[i]->phase);
		assert_true(json_equal(a->v[i]->obj, b->v[i]->obj));
		assert_ptr_not_equal(a->v[i]->obj, b->v[i]->obj);
	}
}

/* Files of every shape, loaded by one thread and by four: same set. */
static void
test_manifest_load_dir_threads_same_set(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*one, *four;
	struct buf		 b;
	char			*c1, *c4, name[64];
	int			 i, j;

	for (i = 0; i < 24; i++) {
		buf_init(&b);
		for (j = 0; j < 20; j++)
			buf_printf(&b, "---\napiVersion: v1\nkind: ConfigMap\n"
			    "metadata:\n  name: cm-%d-%d\n  annotations:\n"
			    "    " ANNOTATION_WAVE ": \"%d\"\ndata:\n"
			    "  k: &v value-%d\n  l: *v\n", i, j, j % 3, j);
		snprintf(name, sizeof name, "app/d%d/f%02d.yaml", i % 3, i);
		unit_write(f->dir, name, b.data);
		buf_free(&b);
	}
	unit_write(f->dir, "app/list.yaml", "apiVersion: v1\nkind: List\n"
	    "items:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n"
	    "    name: l1\n- apiVersion: v1\n  kind: Namespace\n"
	    "  metadata:\n    name: shop\n");
	unit_write(f->dir, "app/skip.yaml", "apiVersion: v1\nkind: ConfigMap\n"
	    "metadata:\n  name: s\n  annotations:\n"
	    "    argocd.argoproj.io/hook: Skip\n");
	if (load_threads(f, "app", 1, &one, &c1) != 0)
		fail_msg("unexpected error: %s", c1);
	if (load_threads(f, "app", 4, &four, &c4) != 0)
		fail_msg("unexpected error: %s", c4);
	assert_int_equal(one->n, 24 * 20 + 2);
	assert_sets_equal(one, four);
	assert_non_null(resource_set_find(four, "Namespace/shop"));
	assert_int_equal(resource_set_find(four, "ConfigMap/shop/cm-3-5")->wave,
	    2);
	assert_null(resource_set_find(four, "ConfigMap/shop/s"));
	resource_set_free(one);
	resource_set_free(four);
}

/* Errors of every kind, in walk order, exactly as one thread finds them. */
static void
test_manifest_load_dir_threads_same_errors(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*one, *four;
	char			*c1, *c4, name[64];
	int			 i, t;

	for (i = 0; i < 12; i++) {
		snprintf(name, sizeof name, "bad/f%02d.yaml", i);
		switch (i % 4) {
		case 0:
			unit_write(f->dir, name, CM("same"));
			break;
		case 1:
			unit_write(f->dir, name, "a: [\n");
			break;
		case 2:
			unit_write(f->dir, name, CM("ok") "---\n"
			    "apiVersion: v1\nkind: ConfigMap\n");
			break;
		default:
			unit_write(f->dir, name, "apiVersion: v1\nkind: List\n"
			    "items:\n- kind: x\n- " CM("Bad"));
			break;
		}
	}
	assert_int_equal(load_threads(f, "bad", 1, &one, &c1), -1);
	assert_null(one);
	assert_non_null(strstr(c1, "f04.yaml:1:1: duplicate resource "
	    "'ConfigMap/shop/same'"));
	assert_non_null(strstr(c1, "f06.yaml:6:1: document has no "
	    "metadata.name"));
	for (t = 2; t <= 4; t++) {
		assert_int_equal(load_threads(f, "bad", t, &four, &c4), -1);
		assert_null(four);
		assert_string_equal(c1, c4);
		free(c4);
	}
	free(c1);
}

/* The 50-message bound falls at the same message with any thread count. */
static void
test_manifest_load_dir_threads_same_bound(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*one, *four;
	char			*c1, *c4, name[64];
	int			 i;

	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof name, "many/f%02d.yaml", i);
		/* Two messages a file: the bound falls inside f24. */
		unit_write(f->dir, name, "apiVersion: v1\nkind: ConfigMap\n"
		    "---\napiVersion: v1\nkind: ConfigMap\n");
	}
	assert_int_equal(load_threads(f, "many", 1, &one, &c1), -1);
	assert_non_null(strstr(c1, "f24.yaml:4:1: document has no "
	    "metadata.name\ntoo many errors, stopped after 50"));
	assert_null(strstr(c1, "f25.yaml"));
	assert_int_equal(load_threads(f, "many", 4, &four, &c4), -1);
	assert_string_equal(c1, c4);
	free(c1);
	free(c4);
}

static void
test_manifest_load_dir_many_resources(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;
	struct buf		 b;
	char			 name[64], id[64];
	int			 i, j;

	for (i = 0; i < 100; i++) {
		buf_init(&b);
		for (j = 0; j < 100; j++)
			buf_printf(&b, "---\napiVersion: v1\nkind: ConfigMap\n"
			    "metadata:\n  name: cm-%d-%d\ndata:\n  k: v\n",
			    i, j);
		snprintf(name, sizeof name, "big/f%03d.yaml", i);
		unit_write(f->dir, name, b.data);
		buf_free(&b);
	}
	set = load_ok(f, "big", "shop");
	assert_int_equal(set->n, 10000);
	snprintf(id, sizeof id, "ConfigMap/shop/cm-%d-%d", 57, 42);
	assert_non_null(resource_set_find(set, id));
	assert_string_equal(set->v[9999]->id, "ConfigMap/shop/cm-99-99");
	resource_set_free(set);
}

static void
test_manifest_load_file_appends_to_set(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set = resource_set_new();
	char			*cause = NULL;

	unit_write(f->dir, "a.yaml", CM("a"));
	unit_write(f->dir, "b.yaml", CM("a"));
	assert_int_equal(manifest_load_file(set, f->src, "a.yaml", "x",
	    &cause), 0);
	assert_int_equal(set->n, 1);
	assert_int_equal(manifest_load_file(set, f->src, "b.yaml", "x",
	    &cause), -1);
	assert_non_null(strstr(cause, "b.yaml:1:1: duplicate resource "
	    "'ConfigMap/x/a'"));
	free(cause);
	resource_set_free(set);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resource_new_deployment_builds_identity),
		cmocka_unit_test(test_resource_new_core_group_has_no_suffix),
		cmocka_unit_test(
		    test_resource_new_namespace_defaulted_and_written),
		cmocka_unit_test(
		    test_resource_new_cluster_scoped_drops_namespace),
		cmocka_unit_test(
		    test_resource_new_bad_documents_fail_at_document),
		cmocka_unit_test(test_resource_new_bad_fields_fail_with_value),
		cmocka_unit_test(
		    test_resource_new_bad_default_namespace_fails),
		cmocka_unit_test(test_resource_new_hook_sets_phase),
		cmocka_unit_test(test_resource_new_hook_skip_sets_flag),
		cmocka_unit_test(test_resource_new_bad_hook_fails),
		cmocka_unit_test(test_resource_new_hook_delete_policy),
		cmocka_unit_test(test_resource_new_wave_parsed),
		cmocka_unit_test(test_resource_new_bad_wave_fails),
		cmocka_unit_test(test_resource_refresh_recomputes_identity),
		cmocka_unit_test(test_resource_id_make_namespaced_and_cluster),
		cmocka_unit_test(test_kind_is_cluster_scoped_known_kinds),
		cmocka_unit_test(test_phase_name_all_phases),
		cmocka_unit_test(test_resource_set_add_find_and_duplicate),
		cmocka_unit_test(
		    test_resource_set_add_two_api_versions_says_why),
		cmocka_unit_test(
		    test_resource_set_add_no_namespace_is_default_duplicate),
		cmocka_unit_test(
		    test_resource_set_default_namespace_fills_namespaced_only),
		cmocka_unit_test(
		    test_resource_set_default_namespace_collision_fails),
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
		T(test_manifest_load_dir_walks_sorted_and_skips),
		T(test_manifest_load_dir_file_positions_recorded),
		T(test_manifest_load_dir_single_file_path),
		T(test_manifest_load_dir_invalid_name_at_value),
		T(test_manifest_load_dir_missing_fields_at_document),
		T(test_manifest_load_dir_field_errors_at_value),
		T(test_manifest_load_dir_duplicate_across_files),
		T(test_manifest_load_dir_same_name_other_namespace_ok),
		T(test_manifest_load_dir_list_expanded),
		T(test_manifest_load_dir_list_item_errors_positioned),
		T(test_manifest_load_dir_skip_hook_left_out),
		T(test_manifest_load_dir_hooks_and_waves),
		T(test_manifest_load_dir_syntax_error_reported),
		T(test_manifest_load_dir_symlink_escape_refused),
		T(test_manifest_load_dir_symlink_loop_ends),
		T(test_manifest_load_dir_symlink_diamond_bounded),
		T(test_manifest_load_dir_dotdot_refused),
		T(test_manifest_load_dir_too_large_refused),
		T(test_manifest_load_dir_errors_bounded),
		T(test_manifest_load_dir_many_resources),
		T(test_manifest_load_dir_threads_same_set),
		T(test_manifest_load_dir_threads_same_errors),
		T(test_manifest_load_dir_threads_same_bound),
		T(test_manifest_load_file_appends_to_set),
#undef T
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
