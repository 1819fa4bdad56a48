/*
 * test_render.c: rendering an app's path: plain folders, the built-in
 * kustomize subset (resources, namespace, commonLabels, images) with
 * golden expectations, the errors of fields beyond it, and kubectl
 * kustomize when it is installed (both for what the subset cannot do and
 * as the reference the subset must agree with).
 */
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

static struct resource_set *
render_ok(struct fixture *f, const char *path, const char *ns,
    int no_external)
{
	struct render_opts	 ro;
	struct resource_set	*set = NULL;
	char			*cause = NULL;

	memset(&ro, 0, sizeof ro);
	ro.default_namespace = ns;
	ro.no_external = no_external;
	if (render_path(f->src, path, &ro, &set, &cause) == -1)
		fail_msg("render_path: %s", cause);
	assert_non_null(set);
	return (set);
}

static char *
render_fail(struct fixture *f, const char *path, int no_external)
{
	struct render_opts	 ro;
	struct resource_set	*set = NULL;
	char			*cause = NULL;

	memset(&ro, 0, sizeof ro);
	ro.no_external = no_external;
	assert_int_equal(render_path(f->src, path, &ro, &set, &cause), -1);
	assert_null(set);
	assert_non_null(cause);
	return (cause);
}

/* render_fail with no_external, and its message must hold want. */
static char *
render_fail_check(struct fixture *f, const char *path, const char *want)
{
	char	*cause = render_fail(f, path, 1);

	if (strstr(cause, want) == NULL)
		fail_msg("got '%s', expected '%s'", cause, want);
	return (cause);
}

static const struct json *
get_obj(const struct resource_set *set, const char *id)
{
	struct resource	*r = resource_set_find(set, id);

	if (r == NULL)
		fail_msg("no resource '%s'", id);
	return (r->obj);
}

/* A string at a slash-separated path; numbers index lists. */
static const char *
get_str(const struct resource_set *set, const char *id, const char *path)
{
	const struct json	*j = get_obj(set, id);
	char			*p = xstrdup(path), *seg, *save = NULL;

	for (seg = strtok_r(p, "/", &save); seg != NULL && j != NULL;
	    seg = strtok_r(NULL, "/", &save)) {
		if (json_type(j) == JSON_ARRAY)
			j = json_array_get(j, (size_t)atoi(seg));
		else
			j = json_get(j, seg);
	}
	free(p);
	return (json_string(j));
}

static int
has_path(const struct resource_set *set, const char *id, const char *path)
{
	const struct json	*j = get_obj(set, id);
	char			*p = xstrdup(path), *seg, *save = NULL;

	for (seg = strtok_r(p, "/", &save); seg != NULL && j != NULL;
	    seg = strtok_r(NULL, "/", &save)) {
		if (json_type(j) == JSON_ARRAY)
			j = json_array_get(j, (size_t)atoi(seg));
		else
			j = json_get(j, seg);
	}
	free(p);
	return (j != NULL);
}

static int
kubectl_present(void)
{
	char	*p = spawn_find_program("kubectl");

	free(p);
	return (p != NULL);
}

#define DEPLOYMENT(name, image, init)					\
	"apiVersion: apps/v1\n"						\
	"kind: Deployment\n"						\
	"metadata:\n"							\
	"  name: " name "\n"						\
	"spec:\n"							\
	"  selector:\n"							\
	"    matchLabels: {app: " name "}\n"				\
	"  template:\n"							\
	"    metadata:\n"						\
	"      labels: {app: " name "}\n"				\
	"    spec:\n"							\
	"      initContainers:\n"					\
	"      - {name: init, image: \"" init "\"}\n"			\
	"      containers:\n"						\
	"      - {name: main, image: \"" image "\"}\n"

static void
test_render_path_plain_folder_loaded_as_manifests(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;

	unit_write(f->dir, "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\n"
	    "metadata: {name: a}\n");
	unit_write(f->dir, "app/sub/cm.yaml", "apiVersion: v1\n"
	    "kind: ConfigMap\nmetadata: {name: b, namespace: other}\n");
	set = render_ok(f, "app", "shop", 1);
	assert_int_equal(set->n, 2);
	assert_non_null(resource_set_find(set, "ConfigMap/shop/a"));
	assert_non_null(resource_set_find(set, "ConfigMap/other/b"));
	resource_set_free(set);
}

static void
test_render_path_namespace_set_on_namespaced_only(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;

	unit_write(f->dir, "app/kustomization.yaml",
	    "apiVersion: kustomize.config.k8s.io/v1beta1\n"
	    "kind: Kustomization\n"
	    "namespace: shop\n"
	    "resources:\n- res.yaml\n");
	unit_write(f->dir, "app/res.yaml",
	    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n---\n"
	    "apiVersion: v1\nkind: Secret\n"
	    "metadata: {name: s, namespace: elsewhere}\n---\n"
	    "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
	    "metadata: {name: reader}\n---\n"
	    "apiVersion: rbac.authorization.k8s.io/v1\n"
	    "kind: ClusterRoleBinding\nmetadata: {name: reader}\n"
	    "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole,"
	    " name: reader}\n"
	    "subjects:\n"
	    "- {kind: ServiceAccount, name: default, namespace: default}\n"
	    "- {kind: ServiceAccount, name: app, namespace: default}\n"
	    "---\n"
	    "apiVersion: v1\nkind: Namespace\nmetadata: {name: old}\n---\n"
	    "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n");
	set = render_ok(f, "app", "ignored", 1);
	assert_int_equal(set->n, 6);
	assert_string_equal(get_str(set, "ConfigMap/shop/cm",
	    "metadata/namespace"), "shop");
	/* An explicit namespace is overridden, as kustomize does. */
	assert_non_null(resource_set_find(set, "Secret/shop/s"));
	/* Unknown kinds count as namespaced. */
	assert_non_null(resource_set_find(set, "Widget.example.com/shop/w"));
	assert_false(has_path(set, "ClusterRole.rbac.authorization.k8s.io/"
	    "reader", "metadata/namespace"));
	/* A Namespace takes the name; "default" subjects follow. */
	assert_non_null(resource_set_find(set, "Namespace/shop"));
	assert_string_equal(get_str(set, "ClusterRoleBinding.rbac."
	    "authorization.k8s.io/reader", "subjects/0/namespace"), "shop");
	assert_string_equal(get_str(set, "ClusterRoleBinding.rbac."
	    "authorization.k8s.io/reader", "subjects/1/namespace"), "default");
	resource_set_free(set);
}

/*
 * namespace: moves the service references kustomize's namespace field
 * specs name: an APIService's spec.service (given one when it has none),
 * a CRD's conversion webhook service (only when set); a local APIService
 * gains no service.
 */
static void
test_render_path_namespace_moves_service_references(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;

	unit_write(f->dir, "app/kustomization.yaml",
	    "namespace: prod\nresources: [res.yaml]\n");
	unit_write(f->dir, "app/res.yaml",
	    "apiVersion: apiregistration.k8s.io/v1\nkind: APIService\n"
	    "metadata: {name: a}\n"
	    "spec: {service: {name: s, namespace: kube-system}}\n"
	    "---\napiVersion: apiregistration.k8s.io/v1\nkind: APIService\n"
	    "metadata: {name: b}\nspec: {service: {name: s}}\n"
	    "---\napiVersion: apiregistration.k8s.io/v1\nkind: APIService\n"
	    "metadata: {name: local}\nspec: {group: apps}\n"
	    "---\napiVersion: apiextensions.k8s.io/v1\n"
	    "kind: CustomResourceDefinition\nmetadata: {name: c}\n"
	    "spec:\n  conversion:\n    webhook:\n      clientConfig:\n"
	    "        service: {name: conv, namespace: system}\n"
	    "---\napiVersion: apiextensions.k8s.io/v1\n"
	    "kind: CustomResourceDefinition\nmetadata: {name: d}\n"
	    "spec: {conversion: {strategy: None}}\n");
	set = render_ok(f, "app", NULL, 1);
	assert_string_equal(get_str(set, "APIService.apiregistration.k8s.io/a",
	    "spec/service/namespace"), "prod");
	assert_string_equal(get_str(set, "APIService.apiregistration.k8s.io/b",
	    "spec/service/namespace"), "prod");
	assert_false(has_path(set, "APIService.apiregistration.k8s.io/local",
	    "spec/service"));
	assert_string_equal(get_str(set,
	    "CustomResourceDefinition.apiextensions.k8s.io/c",
	    "spec/conversion/webhook/clientConfig/service/namespace"), "prod");
	assert_false(has_path(set,
	    "CustomResourceDefinition.apiextensions.k8s.io/d",
	    "spec/conversion/webhook"));
	resource_set_free(set);
}

static void
test_render_path_no_namespace_field_default_applies(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;

	unit_write(f->dir, "app/kustomization.yml", "resources: [cm.yaml]\n");
	unit_write(f->dir, "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\n"
	    "metadata: {name: cm}\n");
	set = render_ok(f, "app", "team-a", 1);
	assert_non_null(resource_set_find(set, "ConfigMap/team-a/cm"));
	resource_set_free(set);
}

/*
 * With no namespace anywhere a namespaced resource keeps none, as
 * kustomize leaves it: the target names it (default_namespace here).
 */
static void
test_render_path_no_namespace_kept_empty(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;

	unit_write(f->dir, "app/kustomization.yaml",
	    "commonLabels: {app: web}\nresources: [r.yaml]\n");
	unit_write(f->dir, "app/r.yaml", "apiVersion: v1\nkind: ConfigMap\n"
	    "metadata: {name: cm}\n---\n"
	    "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n"
	    "metadata: {name: cr}\n");
	set = render_ok(f, "app", NULL, 1);
	assert_int_equal(set->n, 2);
	assert_string_equal(get_str(set, "ConfigMap/cm", "metadata/labels/app"),
	    "web");
	assert_false(has_path(set, "ConfigMap/cm", "metadata/namespace"));
	resource_set_free(set);
	set = render_ok(f, "app", "team", 1);
	assert_string_equal(get_str(set, "ConfigMap/team/cm",
	    "metadata/namespace"), "team");
	assert_false(has_path(set, "ClusterRole.rbac.authorization.k8s.io/cr",
	    "metadata/namespace"));
	resource_set_free(set);
}

/*
 * References that carry a namespace follow a ServiceAccount or Service of
 * the render that namespace: moved (kustomize's name references): one
 * naming no namespace, or the one the object had in its file; another
 * namespace names another object and is kept.
 */
static void
test_render_path_references_follow_moved_objects(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;
	const char		*rb = "RoleBinding.rbac.authorization.k8s.io/"
				    "prod/rb";
	const char		*vw = "ValidatingWebhookConfiguration."
				    "admissionregistration.k8s.io/v";

	unit_write(f->dir, "app/kustomization.yaml",
	    "namespace: prod\nresources: [r.yaml]\n");
	unit_write(f->dir, "app/r.yaml",
	    "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: builder}\n"
	    "---\napiVersion: rbac.authorization.k8s.io/v1\n"
	    "kind: RoleBinding\nmetadata: {name: rb}\n"
	    "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole,"
	    " name: edit}\n"
	    "subjects:\n"
	    "- {kind: ServiceAccount, name: builder}\n"
	    "- {kind: ServiceAccount, name: builder, namespace: elsewhere}\n"
	    "- {kind: ServiceAccount, name: builder, namespace: default}\n"
	    "- {kind: ServiceAccount, name: other}\n"
	    "---\napiVersion: v1\nkind: Service\n"
	    "metadata: {name: hook, namespace: system}\n"
	    "spec: {ports: [{port: 443}]}\n"
	    "---\napiVersion: admissionregistration.k8s.io/v1\n"
	    "kind: ValidatingWebhookConfiguration\nmetadata: {name: v}\n"
	    "webhooks:\n"
	    "- name: a.example.com\n"
	    "  clientConfig: {service: {name: hook, namespace: system}}\n"
	    "- name: b.example.com\n"
	    "  clientConfig: {service: {name: hook, namespace: kube-system}}\n"
	    "- name: c.example.com\n"
	    "  clientConfig: {url: \"https://hook.example.com/c\"}\n");
	set = render_ok(f, "app", NULL, 1);
	assert_string_equal(get_str(set, rb, "subjects/0/namespace"), "prod");
	assert_string_equal(get_str(set, rb, "subjects/1/namespace"),
	    "elsewhere");
	assert_string_equal(get_str(set, rb, "subjects/2/namespace"), "prod");
	assert_false(has_path(set, rb, "subjects/3/namespace"));
	assert_string_equal(get_str(set, vw,
	    "webhooks/0/clientConfig/service/namespace"), "prod");
	assert_string_equal(get_str(set, vw,
	    "webhooks/1/clientConfig/service/namespace"), "kube-system");
	assert_false(has_path(set, vw, "webhooks/2/clientConfig/service"));
	resource_set_free(set);

	/* Two it may name: refused, as kustomize does. */
	unit_write(f->dir, "a/kustomization.yaml",
	    "namespace: a\nresources: [sa.yaml]\n");
	unit_write(f->dir, "a/sa.yaml",
	    "apiVersion: v1\nkind: ServiceAccount\n"
	    "metadata: {name: builder}\n");
	unit_write(f->dir, "b/kustomization.yaml",
	    "namespace: b\nresources: [sa.yaml]\n");
	unit_write(f->dir, "b/sa.yaml",
	    "apiVersion: v1\nkind: ServiceAccount\n"
	    "metadata: {name: builder}\n");
	unit_write(f->dir, "top/kustomization.yaml",
	    "resources: [../a, ../b, rb.yaml]\n");
	unit_write(f->dir, "top/rb.yaml",
	    "apiVersion: rbac.authorization.k8s.io/v1\n"
	    "kind: ClusterRoleBinding\nmetadata: {name: crb}\n"
	    "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole,"
	    " name: edit}\n"
	    "subjects:\n- {kind: ServiceAccount, name: builder}\n");
	free(render_fail_check(f, "top", "top/rb.yaml:1:1: ClusterRoleBinding "
	    "'crb' names ServiceAccount 'builder', which may be the one in "
	    "'a' or the one in 'b'"));
}

static void
test_render_path_common_labels_reach_selectors(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;
	const char		*d = "Deployment.apps/default/web";

	unit_write(f->dir, "app/Kustomization",
	    "commonLabels:\n  team: payments\n  app: shop\n"
	    "resources: [res.yaml]\n");
	unit_write(f->dir, "app/res.yaml",
	    DEPLOYMENT("web", "nginx", "busybox")
	    "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	    "spec:\n  selector: {app: web}\n"
	    "---\napiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\n"
	    "spec:\n  template:\n    spec:\n      containers:\n"
	    "      - {name: c, image: busybox}\n"
	    "---\napiVersion: apps/v1\nkind: StatefulSet\n"
	    "metadata: {name: db}\n"
	    "spec:\n  selector: {matchLabels: {x: y}}\n"
	    "  template: {metadata: {labels: {x: y}}, spec: {containers: []}}\n"
	    "  volumeClaimTemplates:\n  - metadata: {name: data}\n"
	    "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"
	    "  labels: {keep: me}\n");
	set = render_ok(f, "app", "default", 1);
	assert_string_equal(get_str(set, d, "metadata/labels/team"),
	    "payments");
	/* commonLabels win over the resource's own value. */
	assert_string_equal(get_str(set, d, "spec/selector/matchLabels/app"),
	    "shop");
	assert_string_equal(get_str(set, d,
	    "spec/selector/matchLabels/team"), "payments");
	assert_string_equal(get_str(set, d,
	    "spec/template/metadata/labels/team"), "payments");
	assert_string_equal(get_str(set, "Service/default/web",
	    "spec/selector/team"), "payments");
	assert_string_equal(get_str(set, "Job.batch/default/j",
	    "spec/template/metadata/labels/team"), "payments");
	/* A Job's selector is generated: not created. */
	assert_false(has_path(set, "Job.batch/default/j", "spec/selector"));
	assert_string_equal(get_str(set, "StatefulSet.apps/default/db",
	    "spec/volumeClaimTemplates/0/metadata/labels/team"), "payments");
	assert_string_equal(get_str(set, "ConfigMap/default/cm",
	    "metadata/labels/keep"), "me");
	assert_string_equal(get_str(set, "ConfigMap/default/cm",
	    "metadata/labels/team"), "payments");
	/* Only labels: a ConfigMap has no selector to gain. */
	assert_false(has_path(set, "ConfigMap/default/cm", "spec"));
	resource_set_free(set);
}

/*
 * kustomize's field spec spec/volumeClaimTemplates[]/metadata/labels never
 * makes the list: a StatefulSet without one gains nothing there (a map
 * would be an invalid object), and one of another type is left alone.
 */
static void
test_render_path_common_labels_never_create_a_list(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;
	const char		*a = "StatefulSet.apps/ns/a";
	const char		*b = "StatefulSet.apps/ns/b";

	unit_write(f->dir, "app/kustomization.yaml",
	    "namespace: ns\ncommonLabels: {team: payments}\n"
	    "resources: [res.yaml]\n");
	unit_write(f->dir, "app/res.yaml",
	    "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: a}\n"
	    "spec:\n  template: {spec: {containers: []}}\n"
	    "---\napiVersion: apps/v1\nkind: StatefulSet\n"
	    "metadata: {name: b}\n"
	    "spec:\n  template: {spec: {containers: []}}\n"
	    "  volumeClaimTemplates: {}\n");
	set = render_ok(f, "app", NULL, 1);
	assert_string_equal(get_str(set, a,
	    "spec/selector/matchLabels/team"), "payments");
	assert_string_equal(get_str(set, a,
	    "spec/template/metadata/labels/team"), "payments");
	assert_false(has_path(set, a, "spec/volumeClaimTemplates"));
	assert_int_equal(json_count(json_path(get_obj(set, b), "spec",
	    "volumeClaimTemplates", NULL)), 0);
	resource_set_free(set);
}

/*
 * An images name with a tag or digest matches the image with that tag or
 * digest only, as kustomize; and a '.' in it is a '.', unlike kustomize.
 */
static void
test_render_path_images_name_with_tag_matches_that_tag(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;
	const char		*p = "Pod/ns/p";

	unit_write(f->dir, "app/kustomization.yaml",
	    "namespace: ns\nresources: [pod.yaml]\nimages:\n"
	    "- {name: 'busybox:1.0', newTag: '1.36'}\n"
	    "- {name: 'app@sha256:0000000000000000000000000000000000000000"
	    "000000000000000000000000', newTag: v1}\n"
	    "- {name: my.app, newTag: v2}\n");
	unit_write(f->dir, "app/pod.yaml",
	    "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
	    "  containers:\n"
	    "  - {name: a, image: 'busybox:1.0'}\n"
	    "  - {name: b, image: busybox}\n"
	    "  - {name: c, image: 'busybox:2.0'}\n"
	    "  - {name: d, image: 'app@sha256:00000000000000000000000000000000"
	    "00000000000000000000000000000000'}\n"
	    "  - {name: e, image: 'app:0'}\n"
	    "  - {name: f, image: 'myxapp:1'}\n"
	    "  - {name: g, image: 'my.app:1'}\n");
	set = render_ok(f, "app", NULL, 1);
	assert_string_equal(get_str(set, p, "spec/containers/0/image"),
	    "busybox:1.36");
	assert_string_equal(get_str(set, p, "spec/containers/1/image"),
	    "busybox");
	assert_string_equal(get_str(set, p, "spec/containers/2/image"),
	    "busybox:2.0");
	assert_string_equal(get_str(set, p, "spec/containers/3/image"),
	    "app:v1");
	assert_string_equal(get_str(set, p, "spec/containers/4/image"),
	    "app:0");
	assert_string_equal(get_str(set, p, "spec/containers/5/image"),
	    "myxapp:1");
	assert_string_equal(get_str(set, p, "spec/containers/6/image"),
	    "my.app:v2");
	resource_set_free(set);
}

static void
test_render_path_images_rewritten_by_rules(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;

	unit_write(f->dir, "app/kustomization.yaml",
	    "images:\n"
	    "- name: nginx\n  newTag: \"1.27\"\n"
	    "- name: localhost:5000/init\n  newName: reg.example:443/init\n"
	    "  digest: sha256:bbbb\n"
	    "- name: busybox\n  newTag: \"2\"\n  digest: sha256:cccc\n"
	    "- name: ghcr.io/acme/app\n  newName: ghcr.io/acme/app2\n"
	    "resources: [res.yaml]\n");
	unit_write(f->dir, "app/res.yaml",
	    DEPLOYMENT("a", "nginx:1.25@sha256:aaaa", "localhost:5000/init:1.0")
	    "---\n"
	    DEPLOYMENT("b", "ghcr.io/acme/app:v1", "localhost:5000/init")
	    "---\n"
	    DEPLOYMENT("c", "nginx-extra:1", "docker.io/library/nginx:1")
	    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
	    "spec:\n  containers:\n  - {name: c, image: nginx}\n"
	    "  - {name: e, image: \"ghcr.io/acme/app@sha256:dddd\"}\n"
	    "---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: cj}\n"
	    "spec:\n  schedule: \"* * * * *\"\n  jobTemplate:\n    spec:\n"
	    "      template:\n        spec:\n          containers:\n"
	    "          - {name: c, image: \"busybox:1.36\"}\n");
	set = render_ok(f, "app", "default", 1);
	/* newTag replaces both tag and digest. */
	assert_string_equal(get_str(set, "Deployment.apps/default/a",
	    "spec/template/spec/containers/0/image"), "nginx:1.27");
	/* A registry port is not a tag; digest without tag. */
	assert_string_equal(get_str(set, "Deployment.apps/default/a",
	    "spec/template/spec/initContainers/0/image"),
	    "reg.example:443/init@sha256:bbbb");
	assert_string_equal(get_str(set, "Deployment.apps/default/b",
	    "spec/template/spec/initContainers/0/image"),
	    "reg.example:443/init@sha256:bbbb");
	/* newName keeps the tag. */
	assert_string_equal(get_str(set, "Deployment.apps/default/b",
	    "spec/template/spec/containers/0/image"), "ghcr.io/acme/app2:v1");
	/* The whole name must match. */
	assert_string_equal(get_str(set, "Deployment.apps/default/c",
	    "spec/template/spec/containers/0/image"), "nginx-extra:1");
	assert_string_equal(get_str(set, "Deployment.apps/default/c",
	    "spec/template/spec/initContainers/0/image"),
	    "docker.io/library/nginx:1");
	assert_string_equal(get_str(set, "Pod/default/p",
	    "spec/containers/0/image"), "nginx:1.27");
	/* A digest without a tag is kept under a new name. */
	assert_string_equal(get_str(set, "Pod/default/p",
	    "spec/containers/1/image"), "ghcr.io/acme/app2@sha256:dddd");
	/* Tag and digest together, in a CronJob's template. */
	assert_string_equal(get_str(set, "CronJob.batch/default/cj",
	    "spec/jobTemplate/spec/template/spec/containers/0/image"),
	    "busybox:2@sha256:cccc");
	resource_set_free(set);
}

static void
test_render_path_nested_folder_needs_kustomization(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;
	char			*cause;

	unit_write(f->dir, "app/kustomization.yaml",
	    "resources:\n- sub\n- cm.yaml\n");
	unit_write(f->dir, "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\n"
	    "metadata: {name: top}\n");
	unit_write(f->dir, "app/sub/kustomization.yaml",
	    "resources: [deeper]\n");
	unit_write(f->dir, "app/sub/deeper/kustomization.yaml",
	    "namespace: deep\nresources: [cm.yaml]\n");
	unit_write(f->dir, "app/sub/deeper/cm.yaml", "apiVersion: v1\n"
	    "kind: ConfigMap\nmetadata: {name: nested}\n");
	set = render_ok(f, "app", "default", 1);
	assert_int_equal(set->n, 2);
	assert_non_null(resource_set_find(set, "ConfigMap/deep/nested"));
	assert_non_null(resource_set_find(set, "ConfigMap/default/top"));
	resource_set_free(set);

	unit_write(f->dir, "bad/kustomization.yaml",
	    "resources:\n- plain\n");
	unit_write(f->dir, "bad/plain/cm.yaml", "apiVersion: v1\n"
	    "kind: ConfigMap\nmetadata: {name: x}\n");
	cause = render_fail(f, "bad", 1);
	assert_non_null(strstr(cause, "bad/kustomization.yaml:2:3: resource "
	    "'plain' is a folder without a kustomization.yaml"));
	free(cause);
}

static void
test_render_path_overlay_applies_after_base(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;
	const char		*d = "Deployment.apps/prod/web";

	unit_write(f->dir, "apps/web/base/kustomization.yaml",
	    "namespace: base-ns\n"
	    "commonLabels: {tier: base, base-only: \"yes\"}\n"
	    "images:\n- {name: nginx, newTag: \"1.0\"}\n"
	    "resources: [deploy.yaml]\n");
	unit_write(f->dir, "apps/web/base/deploy.yaml",
	    DEPLOYMENT("web", "nginx:0.9", "busybox"));
	unit_write(f->dir, "apps/web/overlays/prod/kustomization.yaml",
	    "namespace: prod\n"
	    "commonLabels: {tier: overlay}\n"
	    "images:\n- {name: nginx, newName: mirror.local:5000/nginx}\n"
	    "- {name: busybox, newTag: \"1.36\"}\n"
	    "resources: [../../base]\n");
	set = render_ok(f, "apps/web/overlays/prod", NULL, 1);
	assert_int_equal(set->n, 1);
	assert_string_equal(get_str(set, d, "metadata/labels/tier"),
	    "overlay");
	assert_string_equal(get_str(set, d, "metadata/labels/base-only"),
	    "yes");
	assert_string_equal(get_str(set, d,
	    "spec/selector/matchLabels/tier"), "overlay");
	/* The base's tag, then the overlay's new name on top of it. */
	assert_string_equal(get_str(set, d,
	    "spec/template/spec/containers/0/image"),
	    "mirror.local:5000/nginx:1.0");
	assert_string_equal(get_str(set, d,
	    "spec/template/spec/initContainers/0/image"), "busybox:1.36");
	resource_set_free(set);
}

static void
test_render_path_unsupported_field_named_with_position(void **state)
{
	struct fixture	*f = *state;
	char		*cause, *want;

	unit_write(f->dir, "apps/x/kustomization.yaml",
	    "apiVersion: kustomize.config.k8s.io/v1beta1\n"
	    "kind: Kustomization\n"
	    "resources:\n"
	    "- cm.yaml\n"
	    "\n"
	    "# a comment\n"
	    "patches:\n"
	    "- path: p.yaml\n");
	cause = render_fail(f, "apps/x", 1);
	xasprintf(&want, "%s/apps/x/kustomization.yaml:7:1: kustomization "
	    "field 'patches' is not supported by the built-in renderer and "
	    "running kubectl is disabled", f->dir);
	assert_string_equal(cause, want);
	free(want);
	free(cause);
}

static void
test_render_path_unsupported_field_in_base_found(void **state)
{
	struct fixture	*f = *state;
	char		*cause;

	unit_write(f->dir, "base/kustomization.yaml",
	    "resources: []\nnamePrefix: dev-\n");
	unit_write(f->dir, "overlay/kustomization.yaml",
	    "namespace: x\nresources: [../base]\n");
	cause = render_fail(f, "overlay", 1);
	assert_non_null(strstr(cause, "/base/kustomization.yaml:2:1: "
	    "kustomization field 'namePrefix' is not supported"));
	free(cause);
}

static void
test_render_path_kubectl_absent_named_in_error(void **state)
{
	struct fixture		*f = *state;
	struct render_opts	 ro;
	struct resource_set	*set = NULL;
	char			*cause = NULL;

	unit_write(f->dir, "app/kustomization.yaml",
	    "resources: []\ncommonAnnotations: {a: b}\n");
	memset(&ro, 0, sizeof ro);
	ro.kubectl = "/nonexistent/kubectl";
	assert_int_equal(render_path(f->src, "app", &ro, &set, &cause), -1);
	assert_non_null(strstr(cause, "app/kustomization.yaml:2:1: "
	    "kustomization field 'commonAnnotations' is not supported by the "
	    "built-in renderer and kubectl was not found"));
	free(cause);
}

static void
test_render_path_unknown_field_rejected(void **state)
{
	struct fixture	*f = *state;
	char		*cause;

	unit_write(f->dir, "app/kustomization.yaml",
	    "resources: []\nnamePrefix: x-\nnamespaces: typo\n");
	/* Even with kubectl allowed: kustomize would reject it too. */
	cause = render_fail(f, "app", 0);
	assert_non_null(strstr(cause, "app/kustomization.yaml:3:1: unknown "
	    "kustomization field 'namespaces'"));
	free(cause);
}

static void
test_render_path_bad_values_rejected(void **state)
{
	struct fixture	*f = *state;
	char		*cause;

	unit_write(f->dir, "a/kustomization.yaml",
	    "commonLabels:\n  version: 2\n");
	cause = render_fail(f, "a", 1);
	assert_non_null(strstr(cause, "a/kustomization.yaml:2:3: "
	    "commonLabels value of 'version' must be a string"));
	free(cause);

	unit_write(f->dir, "b/kustomization.yaml",
	    "images:\n- newTag: \"1\"\n");
	cause = render_fail(f, "b", 1);
	assert_non_null(strstr(cause, "b/kustomization.yaml:2:3: an images "
	    "entry needs a name"));
	free(cause);

	unit_write(f->dir, "c/kustomization.yaml",
	    "images:\n- name: x\n  newTag: 1.10\n");
	cause = render_fail(f, "c", 1);
	assert_non_null(strstr(cause, "c/kustomization.yaml:3:3: newTag must "
	    "be a string: quote it"));
	free(cause);
	/* A whole number too, as kustomize refuses it. */
	unit_write(f->dir, "i/kustomization.yaml",
	    "images:\n- name: x\n  newTag: 3\n");
	free(render_fail_check(f, "i", "i/kustomization.yaml:3:3: newTag "
	    "must be a string: quote it"));

	/* A YAML 1.1 boolean, to kustomize as to the agent. */
	unit_write(f->dir, "e/kustomization.yaml", "namespace: on\n");
	free(render_fail_check(f, "e", "e/kustomization.yaml:1:1: namespace "
	    "must be a string: quote it"));
	unit_write(f->dir, "g/kustomization.yaml",
	    "commonLabels:\n  app: x\n  enabled: Yes\n");
	free(render_fail_check(f, "g", "g/kustomization.yaml:3:3: "
	    "commonLabels value of 'enabled' must be a string: quote it"));
	unit_write(f->dir, "h/kustomization.yaml",
	    "namespace: \"on\"\ncommonLabels: {enabled: 'off'}\n");
	resource_set_free(render_ok(f, "h", NULL, 1));

	unit_write(f->dir, "d/kustomization.yaml", "namespace: Bad_NS\n");
	cause = render_fail(f, "d", 1);
	assert_non_null(strstr(cause, "d/kustomization.yaml:1:1: invalid "
	    "namespace 'Bad_NS'"));
	free(cause);
}

static void
test_render_path_resource_outside_source_rejected(void **state)
{
	struct fixture	*f = *state;
	char		*cause;

	unit_write(f->dir, "app/kustomization.yaml",
	    "resources:\n- ../../etc\n");
	cause = render_fail(f, "app", 1);
	assert_non_null(strstr(cause, "app/kustomization.yaml:2:3: resource "
	    "'../../etc' is outside the repository"));
	free(cause);

	unit_write(f->dir, "app2/kustomization.yaml",
	    "resources:\n- missing.yaml\n");
	cause = render_fail(f, "app2", 1);
	assert_non_null(strstr(cause, "resource 'missing.yaml' does not "
	    "exist"));
	free(cause);

	/* As kustomize: a file from beside the folder, not from below. */
	unit_write(f->dir, "shared/cm.yaml", "apiVersion: v1\n"
	    "kind: ConfigMap\nmetadata: {name: x}\n");
	unit_write(f->dir, "app3/kustomization.yaml",
	    "resources:\n- ../shared/cm.yaml\n");
	cause = render_fail(f, "app3", 1);
	assert_non_null(strstr(cause, "app3/kustomization.yaml:2:3: resource "
	    "'../shared/cm.yaml' is a file outside the kustomization's "
	    "folder"));
	free(cause);
}

static void
test_render_path_cycle_detected(void **state)
{
	struct fixture	*f = *state;
	char		*cause;

	unit_write(f->dir, "a/kustomization.yaml", "resources: [../b]\n");
	unit_write(f->dir, "b/kustomization.yaml", "resources: [../a]\n");
	cause = render_fail(f, "a", 1);
	assert_non_null(strstr(cause, "kustomization cycle: a -> b -> a"));
	free(cause);
}

static void
test_render_path_two_kustomization_files_rejected(void **state)
{
	struct fixture	*f = *state;
	char		*cause;

	unit_write(f->dir, "app/kustomization.yaml", "resources: []\n");
	unit_write(f->dir, "app/kustomization.yml", "resources: []\n");
	cause = render_fail(f, "app", 1);
	assert_non_null(strstr(cause, "found both 'kustomization.yaml' and "
	    "'kustomization.yml'"));
	free(cause);
}

static void
test_render_path_duplicate_across_bases_rejected(void **state)
{
	struct fixture	*f = *state;
	char		*cause;

	unit_write(f->dir, "a/kustomization.yaml", "resources: [cm.yaml]\n");
	unit_write(f->dir, "a/cm.yaml", "apiVersion: v1\nkind: ConfigMap\n"
	    "metadata: {name: same}\n");
	unit_write(f->dir, "b/kustomization.yaml", "resources: [cm.yaml]\n");
	unit_write(f->dir, "b/cm.yaml", "apiVersion: v1\nkind: ConfigMap\n"
	    "metadata: {name: same}\n");
	unit_write(f->dir, "top/kustomization.yaml",
	    "resources: [../a, ../b]\n");
	cause = render_fail(f, "top", 1);
	assert_non_null(strstr(cause, "duplicate resource "
	    "'ConfigMap/same'"));
	free(cause);
}

static void
test_render_path_kubectl_renders_beyond_subset(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;
	const char		*d = "Deployment.apps/prod/dev-web";

	if (!kubectl_present())
		skip();
	unit_write(f->dir, "base/kustomization.yaml",
	    "resources: [deploy.yaml]\n");
	unit_write(f->dir, "base/deploy.yaml",
	    DEPLOYMENT("web", "nginx:1", "busybox"));
	unit_write(f->dir, "overlay/kustomization.yaml",
	    "namePrefix: dev-\n"
	    "resources: [../base]\n"
	    "patches:\n"
	    "- target: {kind: Deployment, name: web}\n"
	    "  patch: |-\n"
	    "    - op: add\n"
	    "      path: /spec/replicas\n"
	    "      value: 4\n");
	set = render_ok(f, "overlay", "prod", 0);
	assert_int_equal(set->n, 1);
	/* The app's default namespace still applies to kubectl's output. */
	assert_non_null(resource_set_find(set, d));
	assert_int_equal((int)json_number(json_path(get_obj(set, d), "spec",
	    "replicas", NULL)), 4);
	assert_string_equal(resource_set_find(set, d)->name, "dev-web");
	resource_set_free(set);
}

static void
test_render_path_kubectl_failure_reports_stderr(void **state)
{
	struct fixture	*f = *state;
	char		*cause;

	if (!kubectl_present())
		skip();
	/* The patch exists (the walk checks that), its target does not. */
	unit_write(f->dir, "app/kustomization.yaml",
	    "resources: []\npatchesStrategicMerge: [missing-patch.yaml]\n");
	unit_write(f->dir, "app/missing-patch.yaml", "apiVersion: v1\n"
	    "kind: ConfigMap\nmetadata: {name: missing-patch}\n");
	cause = render_fail(f, "app", 0);
	assert_non_null(strstr(cause, "cannot render '"));
	assert_non_null(strstr(cause, "with kubectl kustomize (exit status"));
	assert_non_null(strstr(cause, "missing-patch"));
	free(cause);
}

/*
 * The built-in subset and kubectl kustomize agree on the shop fixture:
 * the same resources, each the same document.
 */
static void
test_render_path_builtin_matches_kubectl(void **state)
{
	const char		*srcdir = getenv("TEST_SRCDIR");
	const char		*argv[4];
	struct source		*src;
	struct render_opts	 ro;
	struct resource_set	*ours = NULL, *theirs;
	struct spawn_opts	 so;
	struct spawn_result	 sr;
	struct yaml_file	*yf = NULL;
	char			*root, *dir, *cause = NULL, *a, *b;
	size_t			 i;

	(void)state;
	if (srcdir == NULL || !kubectl_present())
		skip();
	root = path_join(srcdir, "tests/fixtures/render");
	src = source_dir_new(root);
	memset(&ro, 0, sizeof ro);
	ro.no_external = 1;
	ro.default_namespace = "fallback";
	if (render_path(src, "shop/overlays/staging", &ro, &ours,
	    &cause) == -1)
		fail_msg("render_path: %s", cause);

	dir = path_join(root, "shop/overlays/staging");
	argv[0] = "kubectl";
	argv[1] = "kustomize";
	argv[2] = dir;
	argv[3] = NULL;
	memset(&so, 0, sizeof so);
	so.timeout_ms = 60000;
	so.max_output = 16 << 20;
	if (spawn_run((char *const *)argv, &so, &sr, &cause) == -1)
		fail_msg("%s", cause);
	assert_int_equal(sr.status, 0);
	if (yaml_parse("kubectl", sr.out, sr.outlen, 0, &yf, &cause) == -1)
		fail_msg("%s", cause);
	theirs = resource_set_new();
	if (manifest_load_yaml(theirs, yf, "fallback", &cause) == -1)
		fail_msg("%s", cause);

	assert_true(ours->n >= 8);
	assert_int_equal(ours->n, theirs->n);
	for (i = 0; i < theirs->n; i++) {
		struct resource *t = theirs->v[i], *o;

		if ((o = resource_set_find(ours, t->id)) == NULL)
			fail_msg("built-in renderer lacks '%s'", t->id);
		if (!json_equal(o->obj, t->obj)) {
			a = yaml_emit(o->obj);
			b = yaml_emit(t->obj);
			fail_msg("'%s' differs:\n--- built-in\n%s\n"
			    "--- kubectl\n%s", t->id, a, b);
		}
	}
	resource_set_free(ours);
	resource_set_free(theirs);
	yaml_file_free(yf);
	spawn_result_free(&sr);
	source_free(src);
	free(dir);
	free(root);
}

/*
 * A stand-in kubectl (outside the repository) that records its arguments
 * and answers with a ConfigMap: whatever it is asked, it "succeeds", so a
 * walk that let a path through would show as a render that works.
 */
static char *
fake_kubectl(struct fixture *f)
{
	char	*path;

	unit_write(f->dir, "bin/kubectl", "#!/bin/sh\n"
	    "echo \"$@\" >\"$(dirname \"$0\")/args\"\n"
	    "printf 'apiVersion: v1\\nkind: ConfigMap\\n"
	    "metadata: {name: fake}\\n'\n");
	path = path_join(f->dir, "bin/kubectl");
	assert_int_equal(chmod(path, 0755), 0);
	return (path);
}

/* Render path of the source at f->dir/repo with the fake kubectl. */
static int
render_repo(struct fixture *f, const char *path, struct resource_set **setp,
    char **cause)
{
	struct render_opts	 ro;
	struct source		*src;
	char			*root, *kubectl;
	int			 rv;

	root = path_join(f->dir, "repo");
	src = source_dir_new(root);
	kubectl = fake_kubectl(f);
	memset(&ro, 0, sizeof ro);
	ro.kubectl = kubectl;
	*setp = NULL;
	*cause = NULL;
	rv = render_path(src, path, &ro, setp, cause);
	source_free(src);
	free(kubectl);
	free(root);
	return (rv);
}

/* The render fails before kubectl runs, with a message holding want. */
static void
repo_refused(struct fixture *f, const char *path, const char *want)
{
	struct resource_set	*set;
	char			*cause, *args;

	if (render_repo(f, path, &set, &cause) == 0)
		fail_msg("'%s' rendered, expected: %s", path, want);
	assert_null(set);
	if (strstr(cause, want) == NULL)
		fail_msg("got '%s', expected '%s'", cause, want);
	args = unit_read(f->dir, "bin/args");
	if (args != NULL)
		fail_msg("kubectl ran: %s", args);
	free(cause);
}

static void
test_render_path_kubectl_paths_outside_repository_rejected(void **state)
{
	struct fixture	*f = *state;
	char		*link;

	unit_write(f->dir, "outside/kustomization.yaml",
	    "resources: [cm.yaml]\n");
	unit_write(f->dir, "outside/cm.yaml", "apiVersion: v1\n"
	    "kind: ConfigMap\nmetadata: {name: outside}\n");

	unit_write(f->dir, "repo/apps/x/kustomization.yaml",
	    "commonAnnotations: {x: z}\n"
	    "resources:\n"
	    "- ../../../outside\n");
	repo_refused(f, "apps/x", "/repo/apps/x/kustomization.yaml:3:3: "
	    "resource '../../../outside' is outside the repository");

	/* Through a symlink in the repository. */
	link = path_join(f->dir, "repo/link");
	assert_int_equal(symlink("../outside", link), 0);
	free(link);
	unit_write(f->dir, "repo/apps/y/kustomization.yaml",
	    "commonAnnotations: {x: z}\nresources: [../../link]\n");
	repo_refused(f, "apps/y", "apps/y/kustomization.yaml:2:13: "
	    "resource '../../link' is outside the repository or unreadable");

	/* In a base, in a field that is no resource, as an absolute path. */
	unit_write(f->dir, "repo/base/kustomization.yaml",
	    "resources: []\n"
	    "configMapGenerator:\n"
	    "- name: c\n"
	    "  files:\n"
	    "  - key=../../outside/cm.yaml\n");
	unit_write(f->dir, "repo/apps/z/kustomization.yaml",
	    "resources: [../../base]\nnamePrefix: p-\n");
	repo_refused(f, "apps/z", "base/kustomization.yaml:5:5: file "
	    "'../../outside/cm.yaml' is outside the repository");
	unit_write(f->dir, "repo/apps/w/kustomization.yaml",
	    "resources: []\npatches:\n- path: /etc/passwd\n");
	repo_refused(f, "apps/w", "apps/w/kustomization.yaml:3:9: patch "
	    "'/etc/passwd' is an absolute path");
	unit_write(f->dir, "repo/apps/c/kustomization.yaml",
	    "resources: []\nnamePrefix: p-\ncomponents: [../../comp]\n");
	unit_write(f->dir, "repo/comp/kustomization.yaml",
	    "kind: Component\nreplacements:\n- path: ../../x.yaml\n");
	repo_refused(f, "apps/c", "comp/kustomization.yaml:3:9: "
	    "replacement '../../x.yaml' is outside the repository");
}

/*
 * kustomize resolves ".." from a folder's real place: a kustomization
 * reached through a symlink is checked from there, not from the link.
 */
static void
test_render_path_kubectl_symlinked_folder_resolved_really(void **state)
{
	struct fixture	*f = *state;
	char		*link;

	unit_write(f->dir, "outside/kustomization.yaml", "resources: []\n");
	/* What ../../outside is from the link's side: a decoy. */
	unit_write(f->dir, "repo/a/b/outside/kustomization.yaml",
	    "resources: []\n");
	unit_write(f->dir, "repo/app/kustomization.yaml",
	    "namePrefix: p-\nresources: [../../outside]\n");
	link = path_join(f->dir, "repo/a/b/ln");
	assert_int_equal(symlink("../..", link), 0);
	free(link);
	repo_refused(f, "a/b/ln/app", "resource '../../outside' is outside "
	    "the repository");
}

static void
test_render_path_kubectl_remote_rejected(void **state)
{
	struct fixture	*f = *state;

	unit_write(f->dir, "repo/a/kustomization.yaml",
	    "commonAnnotations: {x: z}\n"
	    "resources:\n"
	    "- https://127.0.0.1:9/org/repo.git\n");
	repo_refused(f, "a", "a/kustomization.yaml:3:3: remote resource "
	    "'https://127.0.0.1:9/org/repo.git' is not supported: vendor it "
	    "into the repository");
	unit_write(f->dir, "repo/b/kustomization.yaml",
	    "namePrefix: p-\n"
	    "bases: [github.com/org/repo/deploy?ref=v1]\n");
	repo_refused(f, "b", "b/kustomization.yaml:2:9: remote base "
	    "'github.com/org/repo/deploy?ref=v1' is not supported");
	unit_write(f->dir, "repo/c/kustomization.yaml",
	    "namePrefix: p-\n"
	    "resources: [example.com/org/repo//deploy?ref=main]\n");
	repo_refused(f, "c", "remote resource 'example.com/org/repo//deploy");
	unit_write(f->dir, "repo/d/kustomization.yaml",
	    "helmCharts:\n- name: x\n  repo: https://charts.example\n");
	repo_refused(f, "d", "d/kustomization.yaml:1:1: kustomization field "
	    "'helmCharts' is not supported: it downloads charts");
	/* Without kubectl too: the built-in renderer refuses it as well. */
	unit_write(f->dir, "e/kustomization.yaml",
	    "resources: [git@github.com:org/repo.git]\n");
	free(render_fail_check(f, "e", "e/kustomization.yaml:1:13: remote "
	    "resource 'git@github.com:org/repo.git' is not supported"));
}

/* What the walk lets through reaches kubectl, with the load restrictor. */
static void
test_render_path_kubectl_checked_paths_run(void **state)
{
	struct fixture		*f = *state;
	struct resource_set	*set;
	char			*cause, *args;

	unit_write(f->dir, "repo/base/kustomization.yaml",
	    "resources: [cm.yaml]\n"
	    "configMapGenerator:\n"
	    "- name: g\n"
	    "  files: [k=data.txt, data.txt]\n"
	    "  envs: [e.env]\n");
	unit_write(f->dir, "repo/base/cm.yaml", "apiVersion: v1\n"
	    "kind: ConfigMap\nmetadata: {name: c}\n");
	unit_write(f->dir, "repo/base/data.txt", "x\n");
	unit_write(f->dir, "repo/base/e.env", "A=b\n");
	unit_write(f->dir, "repo/apps/x/kustomization.yaml",
	    "resources: [../../base]\n"
	    "patchesStrategicMerge:\n"
	    "- p.yaml\n"
	    "- |\n"
	    "  apiVersion: v1\n"
	    "  kind: ConfigMap\n"
	    "  metadata: {name: c}\n"
	    "patches: [{path: p.yaml}]\n");
	unit_write(f->dir, "repo/apps/x/p.yaml", "apiVersion: v1\n"
	    "kind: ConfigMap\nmetadata: {name: c}\n");
	if (render_repo(f, "apps/x", &set, &cause) == -1)
		fail_msg("render_path: %s", cause);
	assert_non_null(resource_set_find(set, "ConfigMap/fake"));
	resource_set_free(set);
	args = unit_read(f->dir, "bin/args");
	assert_non_null(args);
	assert_non_null(strstr(args, "kustomize --load-restrictor "
	    "LoadRestrictionsRootOnly "));
	assert_non_null(strstr(args, "/repo/apps/x\n"));
	free(args);
}

/*
 * Each level lists the next twice: 2^18 renders of empty kustomizations
 * unless visits are bounded (kustomize would render them all; with any
 * resource at the bottom both would fail on duplicates).
 */
static void
diamond(struct fixture *f, const char *top, int levels)
{
	char	*rel, *body;
	int	 i;

	for (i = 0; i < levels; i++) {
		xasprintf(&rel, "%sd%d/kustomization.yaml", top, i);
		if (i == 0)
			xasprintf(&body, "namePrefix: p-\n"
			    "resources: [../d%d, ./../d%d]\n", i + 1, i + 1);
		else
			xasprintf(&body, "resources: [../d%d, ./../d%d]\n",
			    i + 1, i + 1);
		unit_write(f->dir, rel, body);
		free(rel);
		free(body);
	}
	xasprintf(&rel, "%sd%d/kustomization.yaml", top, levels);
	unit_write(f->dir, rel, "resources: []\n");
	free(rel);
}

static void
test_render_path_diamond_visits_bounded(void **state)
{
	struct fixture	*f = *state;
	char		*cause;

	/* The built-in renderer (namePrefix dropped: it would go external). */
	diamond(f, "", 18);
	unit_write(f->dir, "d0/kustomization.yaml",
	    "resources: [../d1, ./../d1]\n");
	cause = render_fail(f, "d0", 1);
	assert_non_null(strstr(cause, "kustomization graph too large: more "
	    "than 1000 kustomization visits"));
	free(cause);

	/* A small diamond is fine: nothing in it is duplicated. */
	unit_write(f->dir, "d15/kustomization.yaml",
	    "resources: [../d16, ./../d16]\n");
	resource_set_free(render_ok(f, "d15", NULL, 1));

	/* And the walk before kubectl counts as kustomize will render. */
	diamond(f, "repo/", 18);
	repo_refused(f, "d0", "kustomization graph too large");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_render_path_plain_folder_loaded_as_manifests),
		T(test_render_path_namespace_set_on_namespaced_only),
		T(test_render_path_no_namespace_field_default_applies),
		T(test_render_path_no_namespace_kept_empty),
		T(test_render_path_references_follow_moved_objects),
	T(test_render_path_namespace_moves_service_references),
		T(test_render_path_common_labels_reach_selectors),
	T(test_render_path_common_labels_never_create_a_list),
		T(test_render_path_images_rewritten_by_rules),
		T(test_render_path_images_name_with_tag_matches_that_tag),
		T(test_render_path_nested_folder_needs_kustomization),
		T(test_render_path_overlay_applies_after_base),
		T(test_render_path_unsupported_field_named_with_position),
		T(test_render_path_unsupported_field_in_base_found),
		T(test_render_path_kubectl_absent_named_in_error),
		T(test_render_path_unknown_field_rejected),
		T(test_render_path_bad_values_rejected),
		T(test_render_path_resource_outside_source_rejected),
		T(test_render_path_cycle_detected),
		T(test_render_path_two_kustomization_files_rejected),
		T(test_render_path_duplicate_across_bases_rejected),
		T(test_render_path_kubectl_renders_beyond_subset),
		T(test_render_path_kubectl_failure_reports_stderr),
		T(test_render_path_kubectl_paths_outside_repository_rejected),
		T(test_render_path_kubectl_symlinked_folder_resolved_really),
		T(test_render_path_kubectl_remote_rejected),
		T(test_render_path_kubectl_checked_paths_run),
		T(test_render_path_diamond_visits_bounded),
		cmocka_unit_test(test_render_path_builtin_matches_kubectl),
#undef T
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
