/*
 * manifest.c: resources and their identities, and loading a folder of
 * plain manifests (every *.yaml, *.yml and *.json under it) into a set.
 *
 * Runs in whatever thread renders an app; nothing here is shared between
 * threads. Input comes from a repository, so nothing here may abort on it:
 * every problem becomes a "FILE:LINE:COLUMN: message" in cause, and one bad
 * file fails the whole load so that nothing half-read is ever applied.
 *
 * manifest_load_dir walks the folder first, then parses the files with a
 * few short-lived threads of its own (each owns the files it parses; the
 * source is used under a lock, one call at a time), and adds what they
 * found to the set in walk order: the set and the messages are the same
 * as a file-by-file load. The environment variable GITOPS_LOAD_THREADS
 * (1 to 16) overrides the number of threads, for tests and measurements.
 */
#include "config.h"

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gitops.h"

/* Bounds on a load: messages kept, directory depth, entries walked. */
#define MANIFEST_MAX_ERRORS	50
#define MANIFEST_MAX_DEPTH	64
#define MANIFEST_MAX_ENTRIES	200000
/*
 * Folders walked in one load. Symlinks inside the repository may lead
 * into one folder along many paths (each level doubling them); this
 * bound keeps such a tree from costing exponential time.
 */
#define MANIFEST_MAX_FOLDERS	10000

/* Threads a load may start, at most. */
#define MANIFEST_LOAD_THREADS	4

const char *
phase_name(enum hook_phase phase)
{
	switch (phase) {
	case PHASE_PRESYNC:
		return ("PreSync");
	case PHASE_SYNC:
		return ("Sync");
	case PHASE_POSTSYNC:
		return ("PostSync");
	case PHASE_SYNCFAIL:
		return ("SyncFail");
	}
	return ("unknown");
}

int
phase_parse(const char *s, enum hook_phase *phase)
{
	int	i;

	for (i = 0; i < PHASE_COUNT; i++) {
		if (strcmp(phase_name((enum hook_phase)i), s) == 0) {
			*phase = (enum hook_phase)i;
			return (0);
		}
	}
	return (-1);
}

/*
 * Without a cluster to ask, scope is known by kind: the built-in
 * cluster-scoped kinds and those of widely used CRDs. Any other kind is
 * taken as namespaced.
 */
static const char *const cluster_scoped_kinds[] = {
	"APIService",
	"CSIDriver",
	"CSINode",
	"CertificateSigningRequest",
	"ClusterAnalysisTemplate",
	"ClusterCleanupPolicy",
	"ClusterExternalSecret",
	"ClusterInterceptor",
	"ClusterIssuer",
	"ClusterPolicy",
	"ClusterPolicyReport",
	"ClusterRole",
	"ClusterRoleBinding",
	"ClusterSecretStore",
	"ClusterTask",
	"ClusterTriggerBinding",
	"ClusterTrustBundle",
	"ClusterWorkflowTemplate",
	"ComponentStatus",
	"ConstraintTemplate",
	"CustomResourceDefinition",
	"DeviceClass",
	"FlowSchema",
	"GatewayClass",
	"IPAddress",
	"IngressClass",
	"MutatingAdmissionPolicy",
	"MutatingAdmissionPolicyBinding",
	"MutatingWebhookConfiguration",
	"Namespace",
	"Node",
	"PersistentVolume",
	"PodSecurityPolicy",
	"PriorityClass",
	"PriorityLevelConfiguration",
	"ResourceSlice",
	"RuntimeClass",
	"SelfSubjectAccessReview",
	"SelfSubjectReview",
	"SelfSubjectRulesReview",
	"ServiceCIDR",
	"StorageClass",
	"StorageVersion",
	"SubjectAccessReview",
	"TokenReview",
	"ValidatingAdmissionPolicy",
	"ValidatingAdmissionPolicyBinding",
	"ValidatingWebhookConfiguration",
	"VolumeAttachment",
	"VolumeAttributesClass",
};

static int
kind_cmp(const void *key, const void *elem)
{
	return (strcmp(key, *(const char *const *)elem));
}

int
kind_is_cluster_scoped(const char *kind)
{
	return (bsearch(kind, cluster_scoped_kinds,
	    sizeof cluster_scoped_kinds / sizeof cluster_scoped_kinds[0],
	    sizeof cluster_scoped_kinds[0], kind_cmp) != NULL);
}

char *
resource_id_make(const char *group, const char *kind, const char *namespace,
    const char *name)
{
	struct buf	b;

	buf_init(&b);
	buf_adds(&b, kind);
	if (group != NULL && *group != '\0') {
		buf_addc(&b, '.');
		buf_adds(&b, group);
	}
	buf_addc(&b, '/');
	if (namespace != NULL && *namespace != '\0') {
		buf_adds(&b, namespace);
		buf_addc(&b, '/');
	}
	buf_adds(&b, name);
	return (buf_release(&b));
}

/* Where a document is, and the file whose positions can place its nodes. */
struct doc_pos {
	const struct yaml_file	*yf;	/* may be NULL */
	const char		*file;
	int			 line;
	int			 column;
};

/* A positioned error at node (or at the document when it is unknown). */
static void
pos_error(const struct doc_pos *dp, const struct json *node, char **cause,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;
	int	 line = dp->line, column = dp->column, l, c;

	if (dp->yf != NULL && node != NULL &&
	    yaml_value_position(dp->yf, node, &l, &c) && l > 0) {
		line = l;
		column = c;
	}
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	xasprintf(cause, "%s:%d:%d: %s", dp->file, line, column, msg);
	free(msg);
}

static int
json_absent(const struct json *j)
{
	return (j == NULL || json_type(j) == JSON_NULL);
}

/* "v1" or "group/version"; *group is set to the group ("" for core). */
static int
api_version_parse(const char *s, char **group)
{
	const char	*slash;
	char		*g;

	if ((slash = strchr(s, '/')) == NULL) {
		if (!name_is_dns_label(s))
			return (-1);
		*group = xstrdup("");
		return (0);
	}
	if (strchr(slash + 1, '/') != NULL || !name_is_dns_label(slash + 1))
		return (-1);
	g = xstrndup(s, (size_t)(slash - s));
	if (!name_is_dns_subdomain(g)) {
		free(g);
		return (-1);
	}
	*group = g;
	return (0);
}

static int
kind_is_valid(const char *s)
{
	if (!isupper((unsigned char)*s))
		return (0);
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s))
			return (0);
	}
	return (1);
}

/* The string of an annotation; 1 if absent, -1 (and cause) if no string. */
static int
annotation_get(const struct doc_pos *dp, const struct json *ann,
    const char *key, const struct json **node, const char **value,
    char **cause)
{
	const struct json	*v = json_get(ann, key);

	*node = v;
	*value = NULL;
	if (json_absent(v))
		return (1);
	if ((*value = json_string(v)) == NULL) {
		pos_error(dp, v, cause, "annotation '%s' must be a string, "
		    "not %s", key, json_type_phrase(v));
		return (-1);
	}
	return (0);
}

/* Our annotation wins over Argo CD's when both are there. */
static int
annotation_pick(const struct doc_pos *dp, const struct json *ann,
    const char *ours, const char *argo, const char **key,
    const struct json **node, const char **value, char **cause)
{
	int	r;

	*key = ours;
	if ((r = annotation_get(dp, ann, ours, node, value, cause)) != 1)
		return (r);
	*key = argo;
	return (annotation_get(dp, ann, argo, node, value, cause));
}

/*
 * The next item of a comma-separated annotation value at *p, blanks
 * trimmed: its start, and its length in *n. *p moves past it and its
 * comma; NULL once the list is done.
 */
static const char *
annotation_item(const char **p, size_t *n)
{
	const char	*s = *p, *e;

	if (s == NULL)
		return (NULL);
	while (*s == ' ' || *s == '\t')
		s++;
	e = strchr(s, ',');
	*n = e != NULL ? (size_t)(e - s) : strlen(s);
	*p = e != NULL ? e + 1 : NULL;
	while (*n > 0 && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
		(*n)--;
	return (s);
}

/*
 * A hook's hook-delete-policy: a comma-separated list of
 * BeforeHookCreation (the default), HookSucceeded and HookFailed.
 */
static int
hook_delete_parse(const struct doc_pos *dp, const struct json *ann,
    struct resource *r, char **cause)
{
	static const struct {
		const char	*name;
		int		 bit;
	} policies[] = {
		{ "BeforeHookCreation", HOOK_DELETE_BEFORE_CREATION },
		{ "HookSucceeded", HOOK_DELETE_SUCCEEDED },
		{ "HookFailed", HOOK_DELETE_FAILED },
	};
	const struct json	*node;
	const char		*key, *value, *p, *next;
	size_t			 i, n;
	int			 rc;

	r->hook_delete = HOOK_DELETE_BEFORE_CREATION;
	if ((rc = annotation_pick(dp, ann, ANNOTATION_HOOK_DELETE,
	    ANNOTATION_ARGO_HOOK_DELETE, &key, &node, &value, cause)) != 0)
		return (rc == 1 ? 0 : -1);
	r->hook_delete = 0;
	next = value;
	while ((p = annotation_item(&next, &n)) != NULL) {
		if (n == 0)
			continue;	/* "HookSucceeded," as Argo CD reads it */
		for (i = 0; i < sizeof policies / sizeof policies[0]; i++) {
			if (strlen(policies[i].name) == n &&
			    strncmp(p, policies[i].name, n) == 0)
				break;
		}
		if (i == sizeof policies / sizeof policies[0]) {
			pos_error(dp, node, cause, "invalid policy '%.*s' in "
			    "annotation '%s': expected BeforeHookCreation, "
			    "HookSucceeded or HookFailed", (int)n, p, key);
			return (-1);
		}
		r->hook_delete |= policies[i].bit;
	}
	if (r->hook_delete == 0)
		r->hook_delete = HOOK_DELETE_BEFORE_CREATION;
	return (0);
}

/*
 * The hook annotation: one phase (case-sensitive, as Argo CD spells
 * them), or "Skip" anywhere in the list for a resource never applied.
 */
static int
hook_parse(const struct doc_pos *dp, const struct json *ann,
    struct resource *r, char **cause)
{
	static const struct {
		const char	*name;
		enum hook_phase	 phase;
	} phases[] = {
		{ "PreSync", PHASE_PRESYNC },
		{ "Sync", PHASE_SYNC },
		{ "PostSync", PHASE_POSTSYNC },
		{ "SyncFail", PHASE_SYNCFAIL },
	};
	const struct json	*node;
	const char		*key, *value, *p, *next;
	size_t			 i, n, count = 0;
	int			 rc, skip = 0;
	enum hook_phase		 phase = PHASE_SYNC;

	if ((rc = annotation_pick(dp, ann, ANNOTATION_HOOK,
	    ANNOTATION_ARGO_HOOK, &key, &node, &value, cause)) != 0)
		return (rc == 1 ? 0 : -1);
	next = value;
	while ((p = annotation_item(&next, &n)) != NULL) {
		if (n == 4 && strncmp(p, "Skip", 4) == 0)
			skip = 1;
		else {
			for (i = 0; i < sizeof phases / sizeof phases[0];
			    i++) {
				if (strlen(phases[i].name) == n &&
				    strncmp(p, phases[i].name, n) == 0)
					break;
			}
			if (i == sizeof phases / sizeof phases[0]) {
				pos_error(dp, node, cause, "invalid hook "
				    "'%.*s' in annotation '%s': expected "
				    "PreSync, Sync, PostSync, SyncFail or Skip",
				    (int)n, p, key);
				return (-1);
			}
			phase = phases[i].phase;
			count++;
		}
	}
	if (count > 1 && !skip) {
		pos_error(dp, node, cause, "annotation '%s' names %zu phases "
		    "('%s'): only one phase is supported", key, count, value);
		return (-1);
	}
	r->phase = phase;
	r->is_hook = 1;
	r->skip = skip;
	return (hook_delete_parse(dp, ann, r, cause));
}

/* A base-10 int32 with an optional sign: 0, -1 not an integer, -2 range. */
static int
wave_parse(const char *s, long *out)
{
	const char	*p = s;
	long long	 v = 0;
	int		 neg = 0;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (*p == '\0')
		return (-1);
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return (-1);
		if (v <= 2147483648LL)
			v = v * 10 + (*p - '0');
	}
	if (neg)
		v = -v;
	if (v < INT32_MIN || v > INT32_MAX)
		return (-2);
	*out = (long)v;
	return (0);
}

static int
wave_get(const struct doc_pos *dp, const struct json *ann,
    struct resource *r, char **cause)
{
	const struct json	*node;
	const char		*key, *value;
	int			 rc;

	if ((rc = annotation_pick(dp, ann, ANNOTATION_WAVE,
	    ANNOTATION_ARGO_WAVE, &key, &node, &value, cause)) != 0)
		return (rc == 1 ? 0 : -1);
	switch (wave_parse(value, &r->wave)) {
	case -1:
		pos_error(dp, node, cause, "invalid sync wave '%s' in "
		    "annotation '%s': expected an integer", value, key);
		return (-1);
	case -2:
		pos_error(dp, node, cause, "sync wave '%s' in annotation "
		    "'%s' is out of range", value, key);
		return (-1);
	}
	return (0);
}

/*
 * Check a document and build its resource; obj is referenced, not owned,
 * and edited only on success (the namespace written in, or dropped).
 *
 * Namespaces: a namespaced kind without one gets default_namespace,
 * written into obj too, so the desired and the applied documents agree;
 * with none it keeps an empty namespace (as kustomize leaves it) until
 * the target names one (resource_set_default_namespace). A
 * cluster-scoped kind that carries one has it dropped,
 * from the identity and from obj: the API server ignores and clears it,
 * and keeping it would make the same object look different in two
 * manifests. An empty namespace counts as none, as kubectl takes it.
 */
static struct resource *
resource_build(struct json *obj, const struct doc_pos *dp,
    const char *default_namespace, char **cause)
{
	struct resource		*r = NULL;
	const struct json	*v, *ann = NULL;
	struct json		*md, *nsnode;
	const char		*api, *kind, *name, *ns = NULL;
	char			*group = NULL;
	int			 cluster;

	if (json_type(obj) != JSON_OBJECT) {
		pos_error(dp, NULL, cause, "document must be a mapping, not "
		    "%s", json_type_phrase(obj));
		return (NULL);
	}
	v = json_get(obj, "apiVersion");
	if (json_absent(v)) {
		pos_error(dp, NULL, cause, "document has no apiVersion");
		goto fail;
	}
	if ((api = json_string(v)) == NULL) {
		pos_error(dp, v, cause, "apiVersion must be a string, not %s",
		    json_type_phrase(v));
		goto fail;
	}
	if (api_version_parse(api, &group) == -1) {
		pos_error(dp, v, cause, "invalid apiVersion '%s': expected "
		    "'v1' or 'group/version'", api);
		goto fail;
	}
	v = json_get(obj, "kind");
	if (json_absent(v)) {
		pos_error(dp, NULL, cause, "document has no kind");
		goto fail;
	}
	if ((kind = json_string(v)) == NULL) {
		pos_error(dp, v, cause, "kind must be a string, not %s",
		    json_type_phrase(v));
		goto fail;
	}
	if (!kind_is_valid(kind)) {
		pos_error(dp, v, cause, "invalid kind '%s': must start with "
		    "an upper-case letter and hold only letters and digits",
		    kind);
		goto fail;
	}
	md = json_get(obj, "metadata");
	if (json_absent(md)) {
		pos_error(dp, NULL, cause, "document has no metadata.name");
		goto fail;
	}
	if (json_type(md) != JSON_OBJECT) {
		pos_error(dp, md, cause, "metadata must be a mapping, not %s",
		    json_type_phrase(md));
		goto fail;
	}
	v = json_get(md, "name");
	if (json_absent(v)) {
		pos_error(dp, NULL, cause, "document has no metadata.name");
		goto fail;
	}
	if ((name = json_string(v)) == NULL) {
		pos_error(dp, v, cause, "metadata.name must be a string, not "
		    "%s", json_type_phrase(v));
		goto fail;
	}
	/* This is also what keeps a target's file paths in its folder. */
	if (!name_is_dns_subdomain(name)) {
		pos_error(dp, v, cause, "invalid name '%s': must be a "
		    "lowercase RFC 1123 subdomain", name);
		goto fail;
	}
	cluster = kind_is_cluster_scoped(kind);
	nsnode = json_get(md, "namespace");
	if (!json_absent(nsnode)) {
		if ((ns = json_string(nsnode)) == NULL) {
			pos_error(dp, nsnode, cause, "metadata.namespace must "
			    "be a string, not %s", json_type_phrase(nsnode));
			goto fail;
		}
		if (*ns == '\0')
			ns = NULL;
		else if (!cluster && !name_is_dns_label(ns)) {
			pos_error(dp, nsnode, cause, "invalid namespace '%s': "
			    "must be a lowercase RFC 1123 label", ns);
			goto fail;
		}
	}
	if (cluster)
		ns = NULL;
	else if (ns == NULL && default_namespace != NULL) {
		ns = default_namespace;
		if (!name_is_dns_label(ns)) {
			pos_error(dp, NULL, cause, "invalid default namespace "
			    "'%s': must be a lowercase RFC 1123 label", ns);
			goto fail;
		}
	}
	v = json_get(md, "annotations");
	if (!json_absent(v)) {
		if (json_type(v) != JSON_OBJECT) {
			pos_error(dp, v, cause, "metadata.annotations must be "
			    "a mapping, not %s", json_type_phrase(v));
			goto fail;
		}
		ann = v;
	}

	r = xcalloc(1, sizeof *r);
	r->phase = PHASE_SYNC;
	if (ann != NULL && (hook_parse(dp, ann, r, cause) == -1 ||
	    wave_get(dp, ann, r, cause) == -1))
		goto fail;
	r->api_version = xstrdup(api);
	r->group = group;
	group = NULL;
	r->kind = xstrdup(kind);
	r->namespace = xstrdup(ns != NULL ? ns : "");
	r->name = xstrdup(name);
	r->id = resource_id_make(r->group, r->kind, r->namespace, r->name);
	r->file = xstrdup(dp->file);
	r->line = dp->line;
	r->column = dp->column;
	r->obj = obj;

	/* Only now, with every check passed, edit the document. */
	if (cluster) {
		if (json_get(md, "namespace") != NULL)
			json_remove(md, "namespace");
	} else if (*r->namespace != '\0' &&
	    (json_string(json_get(md, "namespace")) == NULL ||
	    strcmp(json_string(json_get(md, "namespace")), r->namespace) != 0))
		json_set(md, "namespace", json_new_string(r->namespace));
	return (r);
fail:
	free(group);
	free(r);
	return (NULL);
}

struct resource *
resource_new(struct json *obj, const char *file, int line, int column,
    const char *default_namespace, char **cause)
{
	struct doc_pos	dp = { NULL, file, line, column };

	return (resource_build(obj, &dp, default_namespace, cause));
}

struct resource *
resource_new_yaml(const struct yaml_file *yf, struct json *obj, int line,
    int column, const char *default_namespace, char **cause)
{
	struct doc_pos	dp = { yf, yf->name, line, column };

	return (resource_build(obj, &dp, default_namespace, cause));
}

/* Free what a resource owns except its document. */
static void
resource_clear(struct resource *r)
{
	free(r->api_version);
	free(r->group);
	free(r->kind);
	free(r->namespace);
	free(r->name);
	free(r->id);
	free(r->file);
}

void
resource_free(struct resource *r)
{
	if (r == NULL)
		return;
	resource_clear(r);
	json_free(r->obj);
	free(r);
}

int
resource_refresh(struct resource *r, const char *default_namespace,
    char **cause)
{
	struct doc_pos	 dp = { NULL, r->file, r->line, r->column };
	struct resource	*n;

	if ((n = resource_build(r->obj, &dp, default_namespace, cause)) ==
	    NULL)
		return (-1);
	resource_clear(r);	/* dp.file is not used after the build */
	*r = *n;
	free(n);
	return (0);
}

struct resource_set *
resource_set_new(void)
{
	struct resource_set	*set = xcalloc(1, sizeof *set);

	set->by_id = strmap_new(0);
	return (set);
}

void
resource_set_free(struct resource_set *set)
{
	size_t	i;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++)
		resource_free(set->v[i]);
	free(set->v);
	strmap_free(set->by_id);
	free(set);
}

/*
 * Why r and old, of one identity, cannot both be: the message names both
 * places. Two versions of one group are one object to the API server, as
 * no namespace and "default" are one namespace to kustomize.
 */
static void
resource_duplicate_error(const struct resource *r, const struct resource *old,
    char **cause)
{
	const char	*id = *r->namespace != '\0' ? r->id : old->id;

	if (strcmp(r->api_version, old->api_version) != 0)
		xasprintf(cause, "%s:%d:%d: duplicate resource '%s': first "
		    "declared at %s:%d as %s, and %s is another version of "
		    "the same API group: the API server keeps one object "
		    "of that name", r->file, r->line, r->column, id,
		    old->file, old->line, old->api_version, r->api_version);
	else if (strcmp(r->namespace, old->namespace) != 0)
		xasprintf(cause, "%s:%d:%d: duplicate resource '%s': first "
		    "declared at %s:%d (no namespace is 'default' to "
		    "kustomize)", r->file, r->line, r->column, id, old->file,
		    old->line);
	else
		xasprintf(cause, "%s:%d:%d: duplicate resource '%s': first "
		    "declared at %s:%d", r->file, r->line, r->column, id,
		    old->file, old->line);
}

/*
 * The resource of set that r would be the same object as: its identity,
 * or, namespaced, the one without a namespace if r's is "default" and the
 * other way round.
 */
static struct resource *
resource_set_same(const struct resource_set *set, const struct resource *r)
{
	struct resource	*old;
	char		*alt;

	if ((old = strmap_get(set->by_id, r->id)) != NULL ||
	    kind_is_cluster_scoped(r->kind))
		return (old);
	if (*r->namespace == '\0')
		alt = resource_id_make(r->group, r->kind, "default", r->name);
	else if (strcmp(r->namespace, "default") == 0)
		alt = resource_id_make(r->group, r->kind, "", r->name);
	else
		return (NULL);
	old = strmap_get(set->by_id, alt);
	free(alt);
	return (old);
}

int
resource_set_add(struct resource_set *set, struct resource *r, char **cause)
{
	struct resource	*old;

	if ((old = resource_set_same(set, r)) != NULL) {
		resource_duplicate_error(r, old, cause);
		return (-1);
	}
	if (set->n == set->cap) {
		set->cap = set->cap == 0 ? 16 : set->cap * 2;
		set->v = xreallocarray(set->v, set->cap, sizeof *set->v);
	}
	set->v[set->n++] = r;
	strmap_put(set->by_id, r->id, r);
	return (0);
}

struct resource *
resource_set_find(const struct resource_set *set, const char *id)
{
	return (strmap_get(set->by_id, id));
}

/* "Kind.group" of each CRD of set that declares its kind cluster-scoped. */
static struct strmap *
resource_set_cluster_crds(const struct resource_set *set)
{
	struct strmap		*crds = strmap_new(0);
	const struct resource	*r;
	const char		*scope, *group, *kind;
	char			*key;
	size_t			 i;

	for (i = 0; i < set->n; i++) {
		r = set->v[i];
		if (strcmp(r->kind, "CustomResourceDefinition") != 0 ||
		    strcmp(r->group, "apiextensions.k8s.io") != 0)
			continue;
		scope = json_path_string(r->obj, "spec", "scope", NULL);
		group = json_path_string(r->obj, "spec", "group", NULL);
		kind = json_path_string(r->obj, "spec", "names", "kind", NULL);
		if (scope == NULL || strcmp(scope, "Cluster") != 0 ||
		    group == NULL || kind == NULL)
			continue;
		xasprintf(&key, "%s.%s", kind, group);
		strmap_put(crds, key, (void *)r);
		free(key);
	}
	return (crds);
}

int
resource_set_default_namespace(struct resource_set *set, const char *ns,
    char **cause)
{
	struct strmap	*crds;
	struct resource	*r, *old;
	char		*key;
	size_t		 i;
	int		 cluster;

	if (!name_is_dns_label(ns)) {
		xasprintf(cause, "invalid default namespace '%s': must be a "
		    "lowercase RFC 1123 label", ns);
		return (-1);
	}
	crds = resource_set_cluster_crds(set);
	for (i = 0; i < set->n; i++) {
		r = set->v[i];
		if (*r->namespace != '\0' || kind_is_cluster_scoped(r->kind))
			continue;
		xasprintf(&key, "%s.%s", r->kind, r->group);
		cluster = strmap_get(crds, key) != NULL;
		free(key);
		if (cluster)
			continue;
		json_set(json_get(r->obj, "metadata"), "namespace",
		    json_new_string(ns));
		free(r->namespace);
		r->namespace = xstrdup(ns);
		free(r->id);
		r->id = resource_id_make(r->group, r->kind, r->namespace,
		    r->name);
	}
	strmap_free(crds);

	/* Identities changed: index them again. */
	strmap_free(set->by_id);
	set->by_id = strmap_new(0);
	for (i = 0; i < set->n; i++) {
		r = set->v[i];
		if ((old = strmap_get(set->by_id, r->id)) != NULL) {
			resource_duplicate_error(r, old, cause);
			return (-1);
		}
		strmap_put(set->by_id, r->id, r);
	}
	return (0);
}

/* What loading one document found: a resource or a message. */
struct load_rec {
	struct resource	*r;
	char		*error;
};

/*
 * One entry of a folder walk, in order: a file to load, or a message
 * (last: the entry bound was hit, nothing after it counts).
 */
struct load_item {
	char		*path;
	char		*msg;
	int		 last;
	struct load_rec	*rec;		/* what loading it found */
	size_t		 nrec;
	size_t		 caprec;
	int		 done;
};

/* One load: where resources go and the errors found so far. */
struct manifest_load {
	struct resource_set	*set;
	struct source		*src;
	pthread_mutex_t		*src_lock;	/* NULL: ours alone */
	const char		*default_namespace;
	char			*errors;
	size_t			 nerrors;
	size_t			 nentries;
	size_t			 nfolders;

	/* A walk collects entries here instead of loading them. */
	int			 walking;
	struct load_item	*items;
	size_t			 nitems;
	size_t			 capitems;
	size_t			 nfiles;
	size_t			 walk_errors;
	int			 walk_stop;

	/* Set while a file is loaded for a later replay: records go here. */
	struct load_item	*record;
};

static int
load_full(struct manifest_load *ml)
{
	if (ml->record != NULL)
		return (0);	/* the replay applies the bound */
	if (ml->walking)
		return (ml->walk_stop ||
		    ml->walk_errors >= MANIFEST_MAX_ERRORS);
	return (ml->nerrors >= MANIFEST_MAX_ERRORS);
}

static void
load_record(struct load_item *it, struct resource *r, char *error)
{
	if (it->nrec == it->caprec) {
		it->caprec = it->caprec == 0 ? 64 : it->caprec * 2;
		it->rec = xreallocarray(it->rec, it->caprec,
		    sizeof *it->rec);
	}
	it->rec[it->nrec].r = r;
	it->rec[it->nrec].error = error;
	it->nrec++;
}

static struct load_item *
load_item_add(struct manifest_load *ml)
{
	struct load_item	*it;

	if (ml->nitems == ml->capitems) {
		ml->capitems = ml->capitems == 0 ? 64 : ml->capitems * 2;
		ml->items = xreallocarray(ml->items, ml->capitems,
		    sizeof *ml->items);
	}
	it = &ml->items[ml->nitems++];
	memset(it, 0, sizeof *it);
	return (it);
}

/* Keep a message (it may hold several lines); takes ownership. */
static void
load_error(struct manifest_load *ml, char *msg)
{
	const char	*p, *e;

	if (ml->record != NULL) {
		load_record(ml->record, NULL, msg);
		return;
	}
	if (ml->walking) {
		load_item_add(ml)->msg = msg;
		ml->walk_errors++;
		return;
	}
	for (p = msg; *p != '\0' && !load_full(ml); p = e + 1) {
		if ((e = strchr(p, '\n')) == NULL)
			e = p + strlen(p);
		cause_append(&ml->errors, "%.*s", (int)(e - p), p);
		if (++ml->nerrors == MANIFEST_MAX_ERRORS)
			cause_append(&ml->errors, "too many errors, stopped "
			    "after %d", MANIFEST_MAX_ERRORS);
		if (*e == '\0')
			break;
	}
	free(msg);
}

/*
 * kubectl expands a List (and any *List kind with items) into its items;
 * so do we, also inside a List.
 */
static int
object_is_list(const struct json *obj)
{
	const char	*kind = json_string(json_get(obj, "kind"));
	size_t		 len;

	if (kind == NULL)
		return (0);
	if (strcmp(kind, "List") == 0)
		return (1);
	len = strlen(kind);
	return (len > 4 && strcmp(kind + len - 4, "List") == 0 &&
	    json_type(json_get(obj, "items")) == JSON_ARRAY);
}

/*
 * Add one document (or, for a List, its items). When owned, obj is the
 * caller's to give away; otherwise (a List's item) it is copied.
 */
static void
load_object(struct manifest_load *ml, const struct yaml_file *yf,
    struct json *obj, int owned, int line, int column)
{
	struct doc_pos	 dp = { yf, yf->name, line, column };
	struct resource	*r;
	struct json	*items, *item;
	char		*cause = NULL;
	size_t		 i;
	int		 l, c;

	if (json_type(obj) == JSON_OBJECT && object_is_list(obj)) {
		items = json_get(obj, "items");
		if (!json_absent(items) && json_type(items) != JSON_ARRAY) {
			pos_error(&dp, items, &cause, "items of a %s must be "
			    "a list, not %s",
			    json_string(json_get(obj, "kind")),
			    json_type_phrase(items));
			load_error(ml, cause);
		} else if (!json_absent(items)) {
			for (item = json_child(items), i = 0; item != NULL &&
			    !load_full(ml); item = json_next(item), i++) {
				if (!yaml_value_position(yf, item, &l, &c) ||
				    l <= 0) {
					l = line;
					c = column;
				}
				load_object(ml, yf, item, 0, l, c);
			}
		}
		if (owned)
			json_free(obj);
		return;
	}
	if ((r = resource_build(obj, &dp, ml->default_namespace,
	    &cause)) == NULL) {
		load_error(ml, cause);
		if (owned)
			json_free(obj);
		return;
	}
	if (!owned)
		r->obj = json_dup(obj);
	if (r->skip)
		resource_free(r);
	else if (ml->record != NULL)
		load_record(ml->record, r, NULL);
	else if (resource_set_add(ml->set, r, &cause) == -1) {
		load_error(ml, cause);
		resource_free(r);
	}
}

static void
load_yaml(struct manifest_load *ml, struct yaml_file *yf)
{
	struct json	*root;
	size_t		 i;

	for (i = 0; i < yf->ndocs && !load_full(ml); i++) {
		root = yaml_doc_detach(yf, i);
		load_object(ml, yf, root, 1, yf->docs[i].line,
		    yf->docs[i].column);
	}
}

static void
load_file(struct manifest_load *ml, const char *path)
{
	struct yaml_file	*yf = NULL;
	char			*display, *data = NULL, *cause = NULL;
	size_t			 len;

	int			 rc;

	display = source_display_path(ml->src, path);
	if (ml->src_lock != NULL)
		pthread_mutex_lock(ml->src_lock);
	rc = source_read(ml->src, path, YAML_MAX_FILE_SIZE, &data, &len,
	    &cause);
	if (ml->src_lock != NULL)
		pthread_mutex_unlock(ml->src_lock);
	if (rc == -1) {
		load_error(ml, cause);
		goto out;
	}
	if (yaml_parse(display, data, len, YAML_ALLOW_EMPTY |
	    YAML_WARN_AMBIGUOUS, &yf, &cause) == -1) {
		load_error(ml, cause);
		goto out;
	}
	load_yaml(ml, yf);
out:
	yaml_file_free(yf);
	free(data);
	free(display);
}

static int
name_is_manifest(const char *name)
{
	static const char *const exts[] = { ".yaml", ".yml", ".json" };
	size_t			 len = strlen(name), i, elen;

	for (i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		elen = strlen(exts[i]);
		if (len > elen && strcmp(name + len - elen, exts[i]) == 0)
			return (1);
	}
	return (0);
}

/* Kustomization files are render.c's, never resources. */
static int
name_is_kustomization(const char *name)
{
	return (strcmp(name, "kustomization.yaml") == 0 ||
	    strcmp(name, "kustomization.yml") == 0 ||
	    strcmp(name, "Kustomization") == 0);
}

/* A bound was passed: nothing more is walked or loaded. */
static void
load_walk_stop(struct manifest_load *ml)
{
	if (ml->walking) {
		ml->items[ml->nitems - 1].last = 1;
		ml->walk_stop = 1;
	} else
		ml->nerrors = MANIFEST_MAX_ERRORS;
}

static void
load_tree(struct manifest_load *ml, const char *dir, int depth)
{
	enum source_entry_type	 type;
	struct strv		 names;
	char			*cause = NULL, *child, *display;
	size_t			 i;

	if (depth > MANIFEST_MAX_DEPTH) {
		display = source_display_path(ml->src, dir);
		xasprintf(&cause, "'%s' is nested more than %d folders deep "
		    "(a symlink loop?)", display, MANIFEST_MAX_DEPTH);
		free(display);
		load_error(ml, cause);
		return;
	}
	if (++ml->nfolders > MANIFEST_MAX_FOLDERS) {
		display = source_display_path(ml->src, dir);
		xasprintf(&cause, "more than %d folders to walk, at '%s' "
		    "(symlinks leading into one folder along many paths?)",
		    MANIFEST_MAX_FOLDERS, display);
		free(display);
		load_error(ml, cause);
		load_walk_stop(ml);
		return;
	}
	if (source_list(ml->src, dir, &names, &cause) == -1) {
		load_error(ml, cause);
		return;
	}
	for (i = 0; i < names.n && !load_full(ml); i++) {
		if (names.v[i][0] == '.')
			continue;
		if (++ml->nentries > MANIFEST_MAX_ENTRIES) {
			display = source_display_path(ml->src, dir);
			xasprintf(&cause, "more than %d files under '%s'",
			    MANIFEST_MAX_ENTRIES, display);
			free(display);
			load_error(ml, cause);
			load_walk_stop(ml);
			break;
		}
		child = *dir == '\0' ? xstrdup(names.v[i]) :
		    path_join(dir, names.v[i]);
		if (source_stat(ml->src, child, &type, &cause) == -1)
			load_error(ml, cause);
		else if (type == SOURCE_DIR)
			load_tree(ml, child, depth + 1);
		else if (name_is_manifest(names.v[i]) &&
		    !name_is_kustomization(names.v[i])) {
			if (type == SOURCE_FILE && ml->walking) {
				load_item_add(ml)->path = child;
				ml->nfiles++;
				child = NULL;
			} else if (type == SOURCE_FILE)
				load_file(ml, child);
			else {
				display = source_display_path(ml->src, child);
				xasprintf(&cause, "cannot read '%s': No such "
				    "file or directory", display);
				free(display);
				load_error(ml, cause);
			}
		}
		cause = NULL;
		free(child);
	}
	strv_free(&names);
}

/* The files of a walk, shared by the threads that load them. */
struct load_pool {
	struct manifest_load	*ml;
	struct load_item	*items;
	size_t			 nitems;
	size_t			 next;	/* the next to hand out */
	int			 stop;	/* the rest is not needed */
	pthread_mutex_t		 lock;	/* next, stop, done flags */
	pthread_cond_t		 cond;	/* an item is done */
};

/* Load one file of a walk, keeping what it finds for load_replay. */
static void
load_item_run(struct manifest_load *parent, struct load_item *it)
{
	struct manifest_load	ml;

	memset(&ml, 0, sizeof ml);
	ml.src = parent->src;
	ml.src_lock = parent->src_lock;
	ml.default_namespace = parent->default_namespace;
	ml.record = it;
	load_file(&ml, it->path);
}

static void *
load_worker(void *arg)
{
	struct load_pool	*pool = arg;
	struct load_item	*it;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (pool->next < pool->nitems &&
		    pool->items[pool->next].path == NULL)
			pool->next++;
		if (pool->stop || pool->next == pool->nitems)
			break;
		it = &pool->items[pool->next++];
		pthread_mutex_unlock(&pool->lock);
		load_item_run(pool->ml, it);
		pthread_mutex_lock(&pool->lock);
		it->done = 1;
		pthread_cond_broadcast(&pool->cond);
	}
	pthread_mutex_unlock(&pool->lock);
	return (NULL);
}

/* Free what a file held that the set did not take. */
static void
load_item_clear(struct load_item *it)
{
	size_t	i;

	for (i = 0; i < it->nrec; i++) {
		resource_free(it->rec[i].r);
		free(it->rec[i].error);
	}
	free(it->rec);
	it->rec = NULL;
	it->nrec = it->caprec = 0;
}

/* Add what a file held, as loading it then would have. */
static void
load_replay(struct manifest_load *ml, struct load_item *it)
{
	struct load_rec	*rec;
	char		*cause = NULL;
	size_t		 i;

	for (i = 0; i < it->nrec && !load_full(ml); i++) {
		rec = &it->rec[i];
		if (rec->error != NULL) {
			load_error(ml, rec->error);
			rec->error = NULL;
		} else if (resource_set_add(ml->set, rec->r, &cause) == -1) {
			load_error(ml, cause);
			cause = NULL;
		} else
			rec->r = NULL;
	}
	load_item_clear(it);
}

/* Threads for nfiles: GITOPS_LOAD_THREADS, or the processors online. */
static int
load_threads(size_t nfiles)
{
	const char	*e = getenv("GITOPS_LOAD_THREADS");
	char		*end;
	long		 n;

	if (e != NULL && *e != '\0' && (n = strtol(e, &end, 10)) >= 1 &&
	    n <= 16 && *end == '\0')
		;
	else {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		if (n > MANIFEST_LOAD_THREADS)
			n = MANIFEST_LOAD_THREADS;
	}
	if (n > 0 && (size_t)n > nfiles)
		n = (long)nfiles;
	return (n > 1 ? (int)n : 1);
}

/*
 * Load the entries a walk collected: files by a few threads (or this one
 * alone), added to the set in order, stopping at the error bound.
 */
static void
load_items(struct manifest_load *ml, struct load_item *items, size_t n)
{
	struct load_pool	 pool;
	pthread_t		 threads[16];
	pthread_mutex_t		 src_lock;
	sigset_t		 all, old;
	struct load_item	*it;
	int			 i, nthreads, want;
	size_t			 k;

	memset(&pool, 0, sizeof pool);
	pool.ml = ml;
	pool.items = items;
	pool.nitems = n;
	nthreads = 0;
	if ((want = load_threads(ml->nfiles)) > 1) {
		pthread_mutex_init(&pool.lock, NULL);
		pthread_cond_init(&pool.cond, NULL);
		pthread_mutex_init(&src_lock, NULL);
		ml->src_lock = &src_lock;
		/* Signals stay with the threads that expect them. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		for (i = 0; i < want; i++) {
			if (pthread_create(&threads[nthreads], NULL,
			    load_worker, &pool) == 0)
				nthreads++;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	for (k = 0; k < n && !load_full(ml); k++) {
		it = &items[k];
		if (it->path == NULL) {
			load_error(ml, it->msg);
			it->msg = NULL;
			if (it->last)
				ml->nerrors = MANIFEST_MAX_ERRORS;
			continue;
		}
		if (nthreads == 0)
			load_item_run(ml, it);
		else {
			pthread_mutex_lock(&pool.lock);
			while (!it->done)
				pthread_cond_wait(&pool.cond, &pool.lock);
			pthread_mutex_unlock(&pool.lock);
		}
		load_replay(ml, it);
	}
	if (want > 1) {
		pthread_mutex_lock(&pool.lock);
		pool.stop = 1;
		pthread_mutex_unlock(&pool.lock);
		for (i = 0; i < nthreads; i++)
			pthread_join(threads[i], NULL);
		pthread_cond_destroy(&pool.cond);
		pthread_mutex_destroy(&pool.lock);
		pthread_mutex_destroy(&src_lock);
		ml->src_lock = NULL;
	}
	for (k = 0; k < n; k++) {
		load_item_clear(&items[k]);
		free(items[k].path);
		free(items[k].msg);
	}
	free(items);
}

/* Hand back the set, or every error found and no set. */
static int
load_finish(struct manifest_load *ml, struct resource_set **setp,
    char **cause)
{
	if (ml->nerrors != 0) {
		if (setp != NULL) {
			resource_set_free(ml->set);
			*setp = NULL;
		}
		if (cause != NULL && *cause != NULL) {
			cause_append(cause, "%s", ml->errors);
			free(ml->errors);
		} else if (cause != NULL)
			*cause = ml->errors;
		else
			free(ml->errors);
		return (-1);
	}
	if (setp != NULL)
		*setp = ml->set;
	return (0);
}

int
manifest_load_dir(struct source *src, const char *path,
    const char *default_namespace, struct resource_set **setp, char **cause)
{
	struct manifest_load	 ml;
	struct load_item	*items;
	enum source_entry_type	 type;
	char			*c = NULL, *display, *rel;
	size_t			 nitems;

	*setp = NULL;
	memset(&ml, 0, sizeof ml);
	ml.set = resource_set_new();
	ml.src = src;
	ml.default_namespace = default_namespace;
	/* Walk a normalised path so children join cleanly ("" is the root). */
	if ((rel = path_normalize(path)) == NULL) {
		xasprintf(&c, "path '%s' is outside '%s'", path, src->label);
		load_error(&ml, c);
		return (load_finish(&ml, setp, cause));
	}
	if (source_stat(src, rel, &type, &c) == -1)
		load_error(&ml, c);
	else if (type == SOURCE_DIR) {
		ml.walking = 1;
		load_tree(&ml, rel, 0);
		ml.walking = 0;
		items = ml.items;
		nitems = ml.nitems;
		ml.items = NULL;
		load_items(&ml, items, nitems);
	} else if (type == SOURCE_FILE)
		load_file(&ml, rel);
	else {
		display = source_display_path(src, rel);
		xasprintf(&c, "cannot read '%s': No such file or directory",
		    display);
		free(display);
		load_error(&ml, c);
	}
	free(rel);
	return (load_finish(&ml, setp, cause));
}

int
manifest_load_file(struct resource_set *set, struct source *src,
    const char *path, const char *default_namespace, char **cause)
{
	struct manifest_load	ml;

	memset(&ml, 0, sizeof ml);
	ml.set = set;
	ml.src = src;
	ml.default_namespace = default_namespace;
	load_file(&ml, path);
	return (load_finish(&ml, NULL, cause));
}

int
manifest_load_yaml(struct resource_set *set, struct yaml_file *yf,
    const char *default_namespace, char **cause)
{
	struct manifest_load	ml;

	memset(&ml, 0, sizeof ml);
	ml.set = set;
	ml.default_namespace = default_namespace;
	load_yaml(&ml, yf);
	return (load_finish(&ml, NULL, cause));
}
