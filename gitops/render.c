/*
 * render.c: an app's path to its resources. A folder with a kustomization
 * goes through the built-in subset of kustomize (resources, namespace,
 * commonLabels, images), or through `kubectl kustomize` when it uses more;
 * any other folder is loaded as plain manifests (manifest.c).
 *
 * Runs in whatever thread renders an app (a worker in the daemon): no
 * globals. Never runs a shell, never runs kubectl when told not to, and
 * never reads outside the source (source.c refuses paths that leave it);
 * nor lets kubectl: before it runs, every path the kustomization graph
 * names is checked through the source, and remote ones are refused, so
 * kubectl never fetches anything. Bounds the work of a render (depth, and
 * visits of folders reached along many paths).
 * Mirrors kustomize v5 where the subset overlaps, so that switching a
 * kustomization between the two renderers changes nothing.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gitops.h"

#define RENDER_MAX_DEPTH	32
/*
 * Kustomization folders rendered per render_path, counting a folder once
 * for every path that reaches it (as kustomize does): a graph where each
 * level lists the next one twice would double the work per level.
 */
#define RENDER_MAX_VISITS	1000
#define RENDER_KUBECTL_TIMEOUT	(60 * 1000)
#define RENDER_KUBECTL_OUTPUT	(32 * 1024 * 1024)
#define RENDER_STDERR_SHOWN	2000

static const char *render_kustomization_names[] = {
	"kustomization.yaml",
	"kustomization.yml",
	"Kustomization",
};

/* Fields of a Kustomization that the built-in renderer handles. */
static const char *render_fields_builtin[] = {
	"apiVersion",
	"kind",
	"metadata",
	"resources",
	"namespace",
	"commonLabels",
	"images",
};

/* Fields kustomize knows and only kubectl kustomize can render. */
static const char *render_fields_external[] = {
	"bases",
	"buildMetadata",
	"commonAnnotations",
	"components",
	"configMapGenerator",
	"configurations",
	"crds",
	"generatorOptions",
	"generators",
	"helmChartInflationGenerator",
	"helmCharts",
	"helmGlobals",
	"imageTags",
	"labels",
	"nameSuffix",
	"namePrefix",
	"openapi",
	"patches",
	"patchesJson6902",
	"patchesStrategicMerge",
	"replacements",
	"replicas",
	"secretGenerator",
	"sortOptions",
	"transformers",
	"validators",
	"vars",
};

/*
 * Where commonLabels go besides metadata.labels, as kustomize's default
 * field specs say (api/internal/konfig/builtinpluginconsts). group NULL
 * matches any group. Through a list the rest of the path applies to every
 * item. create: make the path's missing maps; a segment marked "[]" must
 * be a list that is there, never one made (a StatefulSet without
 * volumeClaimTemplates gets none), and a value of another type than the
 * path needs is left alone.
 */
struct render_fieldspec {
	const char	*group;
	const char	*kind;
	const char	*path;
	int		 create;
};

#define AFFINITY(g, k)							\
	{ g, k, "spec/template/spec/affinity/podAffinity/"		\
	    "preferredDuringSchedulingIgnoredDuringExecution/"		\
	    "podAffinityTerm/labelSelector/matchLabels", 0 },		\
	{ g, k, "spec/template/spec/affinity/podAffinity/"		\
	    "requiredDuringSchedulingIgnoredDuringExecution/"		\
	    "labelSelector/matchLabels", 0 },				\
	{ g, k, "spec/template/spec/affinity/podAntiAffinity/"		\
	    "preferredDuringSchedulingIgnoredDuringExecution/"		\
	    "podAffinityTerm/labelSelector/matchLabels", 0 },		\
	{ g, k, "spec/template/spec/affinity/podAntiAffinity/"		\
	    "requiredDuringSchedulingIgnoredDuringExecution/"		\
	    "labelSelector/matchLabels", 0 },				\
	{ g, k, "spec/template/spec/topologySpreadConstraints/"	\
	    "labelSelector/matchLabels", 0 }

static const struct render_fieldspec render_label_specs[] = {
	{ "", "Service", "spec/selector", 1 },
	{ "", "ReplicationController", "spec/selector", 1 },
	{ "", "ReplicationController", "spec/template/metadata/labels", 1 },
	{ NULL, "Deployment", "spec/selector/matchLabels", 1 },
	{ NULL, "Deployment", "spec/template/metadata/labels", 1 },
	AFFINITY("apps", "Deployment"),
	{ NULL, "ReplicaSet", "spec/selector/matchLabels", 1 },
	{ NULL, "ReplicaSet", "spec/template/metadata/labels", 1 },
	{ NULL, "DaemonSet", "spec/selector/matchLabels", 1 },
	{ NULL, "DaemonSet", "spec/template/metadata/labels", 1 },
	{ "apps", "StatefulSet", "spec/selector/matchLabels", 1 },
	{ "apps", "StatefulSet", "spec/template/metadata/labels", 1 },
	AFFINITY("apps", "StatefulSet"),
	{ "apps", "StatefulSet", "spec/volumeClaimTemplates[]/metadata/labels",
	    1 },
	{ "batch", "Job", "spec/selector/matchLabels", 0 },
	{ "batch", "Job", "spec/template/metadata/labels", 1 },
	{ "batch", "CronJob", "spec/jobTemplate/spec/selector/matchLabels",
	    0 },
	{ "batch", "CronJob", "spec/jobTemplate/metadata/labels", 1 },
	{ "batch", "CronJob", "spec/jobTemplate/spec/template/metadata/labels",
	    1 },
	{ "policy", "PodDisruptionBudget", "spec/selector/matchLabels", 0 },
	{ "networking.k8s.io", "NetworkPolicy", "spec/podSelector/matchLabels",
	    0 },
	{ "networking.k8s.io", "NetworkPolicy",
	    "spec/ingress/from/podSelector/matchLabels", 0 },
	{ "networking.k8s.io", "NetworkPolicy",
	    "spec/egress/to/podSelector/matchLabels", 0 },
};

/*
 * Service references namespace: moves along, as kustomize's namespace
 * field specs say. create 2: set the last key when its map is there (an
 * APIService's spec.service): kustomize's create: true would also give a
 * local APIService a service holding only a namespace, which the API
 * server refuses.
 */
static const struct render_fieldspec render_namespace_specs[] = {
	{ "apiregistration.k8s.io", "APIService", "spec/service/namespace",
	    2 },
	{ "apiextensions.k8s.io", "CustomResourceDefinition",
	    "spec/conversion/webhook/clientConfig/service/namespace", 0 },
};

/* One entry of `images`. */
struct render_image {
	const char	*name;
	const char	*new_name;
	char		*new_tag;
	const char	*digest;
};

/* One parsed kustomization. */
struct render_kust {
	char			*path;		/* in the source */
	char			*dir;		/* its folder */
	char			*display;	/* for messages */
	struct yaml_file	*yf;
	struct json		*root;		/* borrowed from yf */
	const char		*namespace;
	struct json		*labels;	/* borrowed */
	struct render_image	*images;
	size_t			 nimages;
	struct json		*resources;	/* borrowed */
	int			 checked;	/* subset checks passed */
};

struct render_ctx {
	struct source		 *src;
	const struct render_opts *opts;
	struct strv		  stack;	/* folders being rendered */
	char			 *unsupported;	/* a field beyond the subset */
	/* Each kustomization file parsed once: file to render_kust. */
	struct strmap		 *kusts;
	size_t			  visits;	/* folders rendered */
	/* render_walk: folder to 1 + the visits below it; roots. */
	struct strmap		 *walked;
	const char		 *root;		/* materialized */
	char			 *realroot;	/* root, resolved */
	/* Each loaded document ("%p" of its json) to its file's namespace. */
	struct strmap		 *orig_ns;
};

static int	render_kustomization(struct render_ctx *, const char *,
		    const char *, struct resource_set **, char **);

static int
render_str_in(const char *s, const char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (strcmp(s, v[i]) == 0)
			return (1);
	}
	return (0);
}

/*
 * "FILE:LINE:COLUMN: " for a node of a kustomization: where it starts (a
 * member's key), or with value set where its value does.
 */
static void
render_pos_verror(struct render_kust *k, const struct json *node, int value,
    char **cause, const char *fmt, va_list ap)
{
	char	*msg;
	int	 line = 0, column = 0, found;

	xvasprintf(&msg, fmt, ap);
	if (node == NULL)
		found = 0;
	else if (value)
		found = yaml_value_position(k->yf, node, &line, &column);
	else
		found = yaml_node_position(k->yf, node, &line, &column);
	if (!found) {
		if (k->yf != NULL && k->yf->ndocs > 0) {
			line = k->yf->docs[0].line;
			column = k->yf->docs[0].column;
		}
	}
	if (line == 0)
		line = column = 1;
	xasprintf(cause, "%s:%d:%d: %s", k->display, line, column, msg);
	free(msg);
}

static void
render_pos_error(struct render_kust *k, const struct json *node,
    char **cause, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
render_pos_error(struct render_kust *k, const struct json *node,
    char **cause, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	render_pos_verror(k, node, 0, cause, fmt, ap);
	va_end(ap);
}

/* The same, placed at the node's value. */
static void
render_value_error(struct render_kust *k, const struct json *node,
    char **cause, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
render_value_error(struct render_kust *k, const struct json *node,
    char **cause, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	render_pos_verror(k, node, 1, cause, fmt, ap);
	va_end(ap);
}

/*
 * The kustomization file of a folder: 1 and its path when there is one, 0
 * when there is none, -1 on error (kustomize refuses a folder with two).
 */
static int
render_find_kustomization(struct source *src, const char *dir, char **file,
    char **cause)
{
	enum source_entry_type	 type;
	char			*path, *display;
	size_t			 i;

	*file = NULL;
	for (i = 0; i < sizeof render_kustomization_names /
	    sizeof render_kustomization_names[0]; i++) {
		path = path_join(dir, render_kustomization_names[i]);
		if (source_stat(src, path, &type, cause) == -1) {
			free(path);
			goto fail;
		}
		if (type != SOURCE_FILE) {
			free(path);
			continue;
		}
		if (*file != NULL) {
			display = source_display_path(src, dir);
			xasprintf(cause, "%s: found both '%s' and '%s': "
			    "kustomize accepts only one", display,
			    strrchr(*file, '/') != NULL ?
			    strrchr(*file, '/') + 1 : *file,
			    render_kustomization_names[i]);
			free(display);
			free(path);
			goto fail;
		}
		*file = path;
	}
	return (*file != NULL);

fail:
	free(*file);
	*file = NULL;
	return (-1);
}

static void
render_kust_free(struct render_kust *k)
{
	size_t	i;

	if (k == NULL)
		return;
	for (i = 0; i < k->nimages; i++)
		free(k->images[i].new_tag);
	free(k->images);
	yaml_file_free(k->yf);
	free(k->path);
	free(k->dir);
	free(k->display);
	free(k);
}

/* A field of kustomize's that only kubectl can render: remember it. */
static void
render_note_unsupported(struct render_ctx *ctx, struct render_kust *k,
    const struct json *node, const char *field)
{
	const char	*why;
	char		*msg = NULL;

	if (ctx->unsupported != NULL)
		return;
	if (ctx->opts->no_external)
		why = "running kubectl is disabled";
	else
		why = "kubectl was not found";
	render_pos_error(k, node, &msg, "kustomization field '%s' is not "
	    "supported by the built-in renderer and %s", field, why);
	ctx->unsupported = msg;
}

/* A field that is absent, null, or an empty list or map. */
static int
render_json_empty(const struct json *j)
{
	switch (json_type(j)) {
	case JSON_INVALID:
	case JSON_NULL:
		return (1);
	case JSON_ARRAY:
	case JSON_OBJECT:
		return (json_count(j) == 0);
	default:
		return (0);
	}
}

static int
render_parse_images(struct render_kust *k, struct json *list, char **cause)
{
	struct json		*item, *f;
	struct render_image	*img;
	const char		*key;

	if (json_type(list) != JSON_ARRAY) {
		render_pos_error(k, list, cause, "images must be a list");
		return (-1);
	}
	k->images = xcalloc(json_count(list) + 1, sizeof *k->images);
	for (item = json_child(list); item != NULL; item = json_next(item)) {
		if (json_type(item) != JSON_OBJECT) {
			render_pos_error(k, item, cause,
			    "an images entry must be a mapping");
			return (-1);
		}
		img = &k->images[k->nimages++];
		for (f = json_child(item); f != NULL; f = json_next(f)) {
			key = json_key(f);
			if (strcmp(key, "name") != 0 &&
			    strcmp(key, "newName") != 0 &&
			    strcmp(key, "newTag") != 0 &&
			    strcmp(key, "digest") != 0) {
				render_pos_error(k, f, cause, "unknown images "
				    "field '%s'", key);
				return (-1);
			}
			if (json_type(f) == JSON_NULL)
				continue;
			/* newTag: 3 is a number, refused by kustomize too. */
			if (json_string(f) == NULL) {
				render_pos_error(k, f, cause, "%s must be a "
				    "string: quote it", key);
				return (-1);
			}
			if (strcmp(key, "name") == 0)
				img->name = json_string(f);
			else if (strcmp(key, "newName") == 0)
				img->new_name = json_string(f);
			else if (strcmp(key, "newTag") == 0)
				img->new_tag = xstrdup(json_string(f));
			else
				img->digest = json_string(f);
		}
		if (img->name == NULL || *img->name == '\0') {
			render_pos_error(k, item, cause,
			    "an images entry needs a name");
			return (-1);
		}
		if (img->new_name != NULL && *img->new_name == '\0')
			img->new_name = NULL;
		if (img->new_tag != NULL && *img->new_tag == '\0') {
			free(img->new_tag);
			img->new_tag = NULL;
		}
		if (img->digest != NULL && *img->digest == '\0')
			img->digest = NULL;
	}
	return (0);
}

/*
 * A remote location, which kustomize would fetch (git clone or HTTP): a
 * URL, the scp-like and host-prefixed forms of its repo specs, and the
 * "repo//path?ref=" forms of older versions. A local path needs none of
 * these.
 */
static int
render_path_remote(const char *s)
{
	static const char	*prefixes[] = {
		"git@", "git::", "github.com/", "github.com:", "gitlab.com/",
		"bitbucket.org/",
	};
	const char		*q;
	size_t			 i;

	/* "https://", "ssh://", ..., and "repo//path" alike. */
	if (strstr(s, "//") != NULL)
		return (1);
	for (i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
		if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0)
			return (1);
	}
	if ((q = strchr(s, '?')) != NULL && strchr(q, '=') != NULL)
		return (1);
	return (0);
}

/*
 * Read and parse a kustomization, once per render: later calls for the
 * same file return the same one (ctx->kusts owns it).
 */
static int
render_kust_parse(struct render_ctx *ctx, const char *dir, const char *file,
    struct render_kust **kp, char **cause)
{
	struct render_kust	*k;
	char			*data = NULL;
	size_t			 len;

	if ((*kp = strmap_get(ctx->kusts, file)) != NULL)
		return (0);
	k = xcalloc(1, sizeof *k);
	k->path = xstrdup(file);
	k->dir = xstrdup(dir);
	k->display = source_display_path(ctx->src, file);
	if (source_read(ctx->src, file, YAML_MAX_FILE_SIZE, &data, &len,
	    cause) == -1)
		goto fail;
	/* kustomize reads its file as YAML 1.1: namespace: on is a bool. */
	if (yaml_parse(k->display, data, len, YAML_ALLOW_EMPTY | YAML_BOOL11,
	    &k->yf, cause) == -1)
		goto fail;
	free(data);
	data = NULL;
	if (k->yf->ndocs > 1) {
		xasprintf(cause, "%s:%d:%d: a kustomization must be one "
		    "document", k->display, k->yf->docs[1].line,
		    k->yf->docs[1].column);
		goto fail;
	}
	if (k->yf->ndocs == 1) {
		k->root = k->yf->docs[0].root;
		if (json_type(k->root) != JSON_OBJECT) {
			render_pos_error(k, NULL, cause,
			    "a kustomization must be a mapping");
			goto fail;
		}
	}
	strmap_put(ctx->kusts, file, k);
	*kp = k;
	return (0);

fail:
	free(data);
	render_kust_free(k);
	return (-1);
}

/*
 * Check a parsed kustomization against the subset. Returns 0, or -1 with
 * *cause; a field beyond the subset sets ctx->unsupported and returns -1
 * without a cause.
 */
static int
render_kust_check(struct render_ctx *ctx, struct render_kust *k,
    char **cause)
{
	struct json		*f;
	const char		*key, *s;
	size_t			 n;

	if (k->checked)
		return (0);
	n = 0;
	for (f = json_child(k->root); f != NULL; f = json_next(f)) {
		key = json_key(f);
		if (render_str_in(key, render_fields_external,
		    sizeof render_fields_external /
		    sizeof render_fields_external[0])) {
			if (!render_json_empty(f)) {
				render_note_unsupported(ctx, k, f, key);
				n++;
			}
			continue;
		}
		if (!render_str_in(key, render_fields_builtin,
		    sizeof render_fields_builtin /
		    sizeof render_fields_builtin[0])) {
			render_pos_error(k, f, cause, "unknown kustomization "
			    "field '%s'", key);
			goto fail;
		}
	}
	if (n != 0)
		return (-1);

	if ((f = json_get(k->root, "apiVersion")) != NULL &&
	    ((s = json_string(f)) == NULL ||
	    strncmp(s, "kustomize.config.k8s.io/", 24) != 0)) {
		render_pos_error(k, f, cause, "apiVersion of a kustomization "
		    "must be kustomize.config.k8s.io/v1beta1");
		goto fail;
	}
	if ((f = json_get(k->root, "kind")) != NULL &&
	    ((s = json_string(f)) == NULL || strcmp(s, "Kustomization") != 0)) {
		if (s != NULL && strcmp(s, "Component") == 0) {
			render_note_unsupported(ctx, k, f, "kind: Component");
			return (-1);
		}
		render_pos_error(k, f, cause, "kind of a kustomization must be "
		    "Kustomization");
		goto fail;
	}

	if ((f = json_get(k->root, "namespace")) != NULL &&
	    json_type(f) != JSON_NULL) {
		if ((s = json_string(f)) == NULL) {
			render_pos_error(k, f, cause,
			    "namespace must be a string: quote it");
			goto fail;
		}
		if (*s != '\0' && !name_is_dns_label(s)) {
			render_pos_error(k, f, cause, "invalid namespace '%s': "
			    "must be a lowercase RFC 1123 label", s);
			goto fail;
		}
		if (*s != '\0')
			k->namespace = s;
	}

	if ((f = json_get(k->root, "commonLabels")) != NULL &&
	    json_type(f) != JSON_NULL) {
		struct json *l;

		if (json_type(f) != JSON_OBJECT) {
			render_pos_error(k, f, cause,
			    "commonLabels must be a mapping");
			goto fail;
		}
		for (l = json_child(f); l != NULL; l = json_next(l)) {
			if (json_string(l) == NULL) {
				render_pos_error(k, l, cause, "commonLabels "
				    "value of '%s' must be a string: quote it",
				    json_key(l));
				goto fail;
			}
		}
		k->labels = f;
	}

	if ((f = json_get(k->root, "images")) != NULL &&
	    json_type(f) != JSON_NULL &&
	    render_parse_images(k, f, cause) == -1)
		goto fail;

	if ((f = json_get(k->root, "resources")) != NULL &&
	    json_type(f) != JSON_NULL) {
		struct json *r;

		if (json_type(f) != JSON_ARRAY) {
			render_pos_error(k, f, cause,
			    "resources must be a list");
			goto fail;
		}
		for (r = json_child(f); r != NULL; r = json_next(r)) {
			if ((s = json_string(r)) == NULL || *s == '\0') {
				render_pos_error(k, r, cause, "a resources "
				    "entry must be a path");
				goto fail;
			}
			/* Remote bases: kustomize would fetch them. */
			if (render_path_remote(s)) {
				render_pos_error(k, r, cause, "remote resource "
				    "'%s' is not supported: vendor it into the "
				    "repository", s);
				goto fail;
			}
		}
		k->resources = f;
	}
	k->checked = 1;
	return (0);

fail:
	return (-1);
}

/* Move every resource of from into to; from is freed either way. */
static int
render_set_move(struct resource_set *from, struct resource_set *to,
    char **cause)
{
	size_t	i, j;
	int	rv = 0;

	for (i = 0; i < from->n; i++) {
		if (resource_set_add(to, from->v[i], cause) == -1) {
			for (j = i; j < from->n; j++)
				resource_free(from->v[j]);
			rv = -1;
			break;
		}
	}
	from->n = 0;
	resource_set_free(from);
	return (rv);
}

/*
 * An image reference in its parts: "localhost:5000/app:1.0@sha256:..."
 * gives name "localhost:5000/app", tag "1.0", digest "sha256:...". The
 * tag is after the last ':' that follows the last '/'.
 */
static void
render_image_split(const char *image, char **name, char **tag,
    char **digest)
{
	const char	*at, *end, *p, *colon = NULL;

	at = strchr(image, '@');
	end = at != NULL ? at : image + strlen(image);
	*digest = at != NULL ? xstrdup(at + 1) : NULL;
	/* A ':' before a '/' is a registry's port, not a tag. */
	for (p = image; p < end; p++) {
		if (*p == '/')
			colon = NULL;
		else if (*p == ':')
			colon = p;
	}
	if (colon != NULL) {
		*name = xstrndup(image, (size_t)(colon - image));
		*tag = xstrndup(colon + 1, (size_t)(end - colon - 1));
	} else {
		*name = xstrndup(image, (size_t)(end - image));
		*tag = NULL;
	}
}

static int
render_str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

/*
 * Whether an image's parts match a rule's name. As kustomize, a name may
 * carry a tag or digest ("busybox:1.0"): then only an image with that tag
 * (any digest), or with that digest (and the same tag or none), matches.
 * Unlike kustomize, which reads the name as a regular expression, the
 * match is literal: "my.app" is not "myxapp".
 */
static int
render_image_match(const char *name, const char *tag, const char *digest,
    const char *rule)
{
	char	*rname, *rtag, *rdigest;
	int	 match;

	render_image_split(rule, &rname, &rtag, &rdigest);
	match = strcmp(name, rname) == 0;
	if (match && rtag != NULL)
		match = render_str_same(tag, rtag);
	if (match && rdigest != NULL)
		match = render_str_same(digest, rdigest) &&
		    render_str_same(tag, rtag);
	free(rname);
	free(rtag);
	free(rdigest);
	return (match);
}

/* The new image for one rule, or NULL when it does not match. */
static char *
render_image_apply(const char *image, const struct render_image *rule)
{
	char		*name, *tag, *digest, *out;
	struct buf	 b;

	render_image_split(image, &name, &tag, &digest);
	if (!render_image_match(name, tag, digest, rule->name)) {
		free(name);
		free(tag);
		free(digest);
		return (NULL);
	}
	/* As kustomize: a new tag or digest replaces both old ones. */
	if (rule->new_tag != NULL || rule->digest != NULL) {
		free(tag);
		free(digest);
		tag = rule->new_tag != NULL ? xstrdup(rule->new_tag) : NULL;
		digest = rule->digest != NULL ? xstrdup(rule->digest) : NULL;
	}
	buf_init(&b);
	buf_adds(&b, rule->new_name != NULL ? rule->new_name : name);
	if (tag != NULL)
		buf_printf(&b, ":%s", tag);
	if (digest != NULL)
		buf_printf(&b, "@%s", digest);
	out = buf_release(&b);
	free(name);
	free(tag);
	free(digest);
	return (out);
}

/*
 * Every containers[] and initContainers[] list anywhere in the object, as
 * kustomize's image transformer finds them (pods, templates, CronJobs,
 * custom resources alike).
 */
static void
render_images_walk(struct json *node, const struct render_image *rule,
    int depth)
{
	struct json	*c, *item;
	const char	*key, *image;
	char		*new;

	if (depth > YAML_MAX_DEPTH)
		return;
	for (c = json_child(node); c != NULL; c = json_next(c)) {
		key = json_type(node) == JSON_OBJECT ? json_key(c) : NULL;
		if (key != NULL && json_type(c) == JSON_ARRAY &&
		    (strcmp(key, "containers") == 0 ||
		    strcmp(key, "initContainers") == 0)) {
			for (item = json_child(c); item != NULL;
			    item = json_next(item)) {
				image = json_path_string(item, "image", NULL);
				if (image == NULL)
					continue;
				new = render_image_apply(image, rule);
				if (new != NULL)
					json_set(item, "image",
					    json_new_string(new));
				free(new);
			}
		}
		if (json_type(c) == JSON_OBJECT || json_type(c) == JSON_ARRAY)
			render_images_walk(c, rule, depth + 1);
	}
}

/* Add labels at the path of one field spec (through lists too). */
static void
render_labels_at(struct json *node, const char *path, int create,
    const struct json *labels)
{
	const char	*slash;
	char		*seg;
	struct json	*next, *item, *l;
	size_t		 n;
	int		 list;

	if (json_type(node) == JSON_ARRAY) {
		for (item = json_child(node); item != NULL;
		    item = json_next(item))
			render_labels_at(item, path, create, labels);
		return;
	}
	if (json_type(node) != JSON_OBJECT)
		return;
	if (*path == '\0') {
		for (l = json_child(labels); l != NULL; l = json_next(l))
			json_set(node, json_key(l), json_dup(l));
		return;
	}
	slash = strchr(path, '/');
	seg = slash != NULL ? xstrndup(path, (size_t)(slash - path)) :
	    xstrdup(path);
	n = strlen(seg);
	if ((list = n > 2 && strcmp(seg + n - 2, "[]") == 0))
		seg[n - 2] = '\0';
	next = json_get(node, seg);
	if (list && json_type(next) != JSON_ARRAY) {
		free(seg);
		return;
	}
	if (next == NULL || json_type(next) == JSON_NULL) {
		if (!create) {
			free(seg);
			return;
		}
		json_set(node, seg, json_new_object());
		next = json_get(node, seg);
	}
	free(seg);
	render_labels_at(next, slash != NULL ? slash + 1 : "", create, labels);
}

/*
 * Set the string at a field spec's path of maps: a missing last key only
 * with create, missing maps on the way only with create 1.
 */
static void
render_set_at(struct json *node, const char *path, int create,
    const char *value)
{
	const char	*slash;
	char		*seg;
	struct json	*next;

	while (json_type(node) == JSON_OBJECT &&
	    (slash = strchr(path, '/')) != NULL) {
		seg = xstrndup(path, (size_t)(slash - path));
		next = json_get(node, seg);
		if (next == NULL && create == 1) {
			json_set(node, seg, json_new_object());
			next = json_get(node, seg);
		}
		free(seg);
		node = next;
		path = slash + 1;
	}
	if (json_type(node) != JSON_OBJECT)
		return;
	if (json_get(node, path) != NULL || create != 0)
		json_set(node, path, json_new_string(value));
}

/* Whether a field spec is for resource r. */
static int
render_fieldspec_matches(const struct render_fieldspec *fs,
    const struct resource *r)
{
	if (strcmp(fs->kind, r->kind) != 0)
		return (0);
	return (fs->group == NULL || strcmp(fs->group, r->group) == 0);
}

/* This level's namespace, labels and images, on one resource. */
static int
render_transform(struct render_kust *k, struct resource *r, char **cause)
{
	struct json	*md, *subjects, *s;
	size_t		 i;
	int		 rbac;

	md = json_get(r->obj, "metadata");
	if (k->namespace != NULL) {
		if (strcmp(r->kind, "Namespace") == 0 &&
		    *r->group == '\0') {
			/* kustomize renames a Namespace to its namespace. */
			json_set(md, "name", json_new_string(k->namespace));
		} else if (!kind_is_cluster_scoped(r->kind))
			json_set(md, "namespace",
			    json_new_string(k->namespace));
		/*
		 * And binds "default" subjects of role bindings to it: the
		 * service account named default of that namespace.
		 */
		rbac = strcmp(r->group, "rbac.authorization.k8s.io") == 0 &&
		    (strcmp(r->kind, "RoleBinding") == 0 ||
		    strcmp(r->kind, "ClusterRoleBinding") == 0);
		subjects = rbac ? json_get(r->obj, "subjects") : NULL;
		for (s = json_child(subjects); s != NULL; s = json_next(s)) {
			if (json_type(s) != JSON_OBJECT)
				continue;
			if (json_path_string(s, "name", NULL) == NULL ||
			    strcmp(json_path_string(s, "name", NULL),
			    "default") != 0)
				continue;
			json_set(s, "namespace",
			    json_new_string(k->namespace));
		}
		for (i = 0; i < sizeof render_namespace_specs /
		    sizeof render_namespace_specs[0]; i++) {
			if (render_fieldspec_matches(&render_namespace_specs[i],
			    r))
				render_set_at(r->obj,
				    render_namespace_specs[i].path,
				    render_namespace_specs[i].create,
				    k->namespace);
		}
	}

	if (k->labels != NULL) {
		render_labels_at(r->obj, "metadata/labels", 1, k->labels);
		for (i = 0; i < sizeof render_label_specs /
		    sizeof render_label_specs[0]; i++) {
			const struct render_fieldspec *fs =
			    &render_label_specs[i];

			if (!render_fieldspec_matches(fs, r))
				continue;
			render_labels_at(r->obj, fs->path, fs->create,
			    k->labels);
		}
	}

	for (i = 0; i < k->nimages; i++)
		render_images_walk(r->obj, &k->images[i], 0);

	return (resource_refresh(r, NULL, cause));
}

/*
 * Remember the namespace each resource of set had in its file, which
 * kustomize's name references match on (kustomize's original id).
 */
static void
render_note_origin(struct render_ctx *ctx, const struct resource_set *set)
{
	char	 key[32];
	size_t	 i;

	for (i = 0; i < set->n; i++) {
		snprintf(key, sizeof key, "%p", (void *)set->v[i]->obj);
		free(strmap_put(ctx->orig_ns, key,
		    xstrdup(set->v[i]->namespace)));
	}
}

/*
 * References that carry a namespace, which kustomize's name reference
 * transformer points at the object referred to once the render is done
 * (api/filters/nameref): a role binding's subjects at a ServiceAccount, a
 * webhook's service at a Service. Each is a mapping with name and maybe
 * namespace; the object is any in the set of the kind, version v1, with
 * that name, and in that namespace when the reference names one.
 */
static const struct render_ref {
	const char	*group;
	const char	*kind;
	const char	*path;
	const char	*to_kind;
} render_refs[] = {
	{ "rbac.authorization.k8s.io", "RoleBinding", "subjects",
	    "ServiceAccount" },
	{ "rbac.authorization.k8s.io", "ClusterRoleBinding", "subjects",
	    "ServiceAccount" },
	{ "admissionregistration.k8s.io", "ValidatingWebhookConfiguration",
	    "webhooks/clientConfig/service", "Service" },
	{ "admissionregistration.k8s.io", "MutatingWebhookConfiguration",
	    "webhooks/clientConfig/service", "Service" },
};

/* kustomize's effective namespace: NULL cluster-scoped, "" is default. */
static const char *
render_ns_effective(const struct resource *r, const char *ns)
{
	if (kind_is_cluster_scoped(r->kind))
		return (NULL);
	return (*ns == '\0' ? "default" : ns);
}

static const char *
render_ns_original(struct render_ctx *ctx, const struct resource *r)
{
	char		 key[32];
	const char	*ns;

	snprintf(key, sizeof key, "%p", (void *)r->obj);
	ns = strmap_get(ctx->orig_ns, key);
	return (render_ns_effective(r, ns != NULL ? ns : r->namespace));
}

static int
render_str_eq(const char *a, const char *b)
{
	return (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Whether c is an object reference ref of referrer from may name. */
static int
render_ref_candidate(struct render_ctx *ctx, const struct resource *from,
    const struct render_ref *ref, const char *name, const char *ns,
    int by_orig, const struct resource *c)
{
	size_t	n = strlen(c->api_version);

	if (strcmp(c->kind, ref->to_kind) != 0 || strcmp(c->name, name) != 0 ||
	    (strcmp(c->api_version, "v1") != 0 &&
	    (n < 3 || strcmp(c->api_version + n - 3, "/v1") != 0)))
		return (0);
	if (ns != NULL && !render_str_eq(ns, by_orig ?
	    render_ns_original(ctx, c) : render_ns_effective(c, c->namespace)))
		return (0);
	/* A namespaced referrer names a Service of its own namespace. */
	if (kind_is_cluster_scoped(from->kind) ||
	    kind_is_cluster_scoped(c->kind) ||
	    strcmp(c->kind, "ServiceAccount") == 0)
		return (1);
	return (render_str_eq(render_ns_effective(from, from->namespace),
	    render_ns_effective(c, c->namespace)));
}

/*
 * Point one reference (a mapping) at the object it names. origs: the
 * namespaces objects had in their files, which a reference's namespace
 * names first (else the rendered ones).
 */
static int
render_ref_fix(struct render_ctx *ctx, const struct resource_set *set,
    const struct strmap *origs, const struct resource *from,
    const struct render_ref *ref, struct json *node, char **cause)
{
	const struct resource	*to = NULL, *c;
	const char		*name, *ns = NULL;
	size_t			 i;
	int			 by_orig = 0;

	if ((name = json_string(json_get(node, "name"))) == NULL)
		return (0);
	if (json_get(node, "namespace") != NULL) {
		if ((ns = json_string(json_get(node, "namespace"))) == NULL)
			return (0);
		by_orig = strmap_get(origs, ns) != NULL;
	}
	for (i = 0; i < set->n; i++) {
		c = set->v[i];
		if (!render_ref_candidate(ctx, from, ref, name, ns, by_orig, c))
			continue;
		if (to != NULL && strcmp(to->namespace, c->namespace) != 0) {
			xasprintf(cause, "%s:%d:%d: %s '%s' names %s '%s', "
			    "which may be the one in '%s' or the one in '%s'",
			    from->file, from->line,
			    from->column, from->kind, from->name, ref->to_kind,
			    name, to->namespace, c->namespace);
			return (-1);
		}
		if (to == NULL)
			to = c;
	}
	if (to != NULL && *to->namespace != '\0')
		json_set(node, "namespace", json_new_string(to->namespace));
	return (0);
}

/* Follow path (through lists) to the references below node. */
static int
render_ref_walk(struct render_ctx *ctx, const struct resource_set *set,
    const struct strmap *origs, const struct resource *from,
    const struct render_ref *ref, struct json *node, const char *path,
    char **cause)
{
	struct json	*item;
	const char	*slash;
	char		*seg;

	if (json_type(node) == JSON_ARRAY) {
		for (item = json_child(node); item != NULL;
		    item = json_next(item)) {
			if (render_ref_walk(ctx, set, origs, from, ref, item,
			    path, cause) == -1)
				return (-1);
		}
		return (0);
	}
	if (json_type(node) != JSON_OBJECT)
		return (0);
	if (*path == '\0')
		return (render_ref_fix(ctx, set, origs, from, ref, node,
		    cause));
	slash = strchr(path, '/');
	seg = slash != NULL ? xstrndup(path, (size_t)(slash - path)) :
	    xstrdup(path);
	item = json_get(node, seg);
	free(seg);
	return (render_ref_walk(ctx, set, origs, from, ref, item,
	    slash != NULL ? slash + 1 : "", cause));
}

/* kustomize's last step: references follow the objects they name. */
static int
render_references(struct render_ctx *ctx, struct resource_set *set,
    char **cause)
{
	const struct render_ref	*ref;
	struct resource		*r;
	struct strmap		*origs = strmap_new(0);
	const char		*ns;
	size_t			 i, j;
	int			 rv = 0;

	for (i = 0; i < set->n; i++) {
		if ((ns = render_ns_original(ctx, set->v[i])) != NULL)
			strmap_put(origs, ns, (void *)ns);
	}
	for (i = 0; i < set->n && rv == 0; i++) {
		r = set->v[i];
		for (j = 0; j < sizeof render_refs / sizeof render_refs[0] &&
		    rv == 0; j++) {
			ref = &render_refs[j];
			if (strcmp(ref->kind, r->kind) == 0 &&
			    strcmp(ref->group, r->group) == 0)
				rv = render_ref_walk(ctx, set, origs, r, ref,
				    r->obj, ref->path, cause);
		}
	}
	strmap_free(origs);
	return (rv);
}

/* One entry of resources: a kustomization folder or a manifest file. */
static int
render_resource_entry(struct render_ctx *ctx, struct render_kust *k,
    struct json *entry, struct resource_set *set, char **cause)
{
	enum source_entry_type	 type;
	struct resource_set	*sub = NULL, *tmp = NULL;
	char			*path = NULL, *joined, *file = NULL;
	const char		*rel = json_string(entry);
	size_t			 n;
	int			 found, rv = -1;

	joined = path_join(k->dir, rel);
	path = path_normalize(joined);
	free(joined);
	if (path == NULL) {
		render_pos_error(k, entry, cause, "resource '%s' is outside "
		    "the repository", rel);
		goto out;
	}
	if (source_stat(ctx->src, path, &type, cause) == -1)
		goto out;
	switch (type) {
	case SOURCE_NONE:
		render_pos_error(k, entry, cause, "resource '%s' does not "
		    "exist", rel);
		goto out;
	case SOURCE_DIR:
		if ((found = render_find_kustomization(ctx->src, path, &file,
		    cause)) == -1)
			goto out;
		if (found == 0) {
			render_pos_error(k, entry, cause, "resource '%s' is a "
			    "folder without a kustomization.yaml", rel);
			goto out;
		}
		if (render_kustomization(ctx, path, file, &sub, cause) == -1)
			goto out;
		rv = render_set_move(sub, set, cause);
		break;
	case SOURCE_FILE:
		/* kustomize's load restrictor: files only from below. */
		n = strlen(k->dir);
		if (n != 0 && (strncmp(path, k->dir, n) != 0 ||
		    path[n] != '/')) {
			render_pos_error(k, entry, cause, "resource '%s' is a "
			    "file outside the kustomization's folder (only a "
			    "folder with a kustomization may be)", rel);
			goto out;
		}
		tmp = resource_set_new();
		if (manifest_load_file(tmp, ctx->src, path, NULL,
		    cause) == -1) {
			resource_set_free(tmp);
			goto out;
		}
		render_note_origin(ctx, tmp);
		rv = render_set_move(tmp, set, cause);
		break;
	}
out:
	free(file);
	free(path);
	return (rv);
}

/*
 * Before entering folder dir (its kustomization is file): no cycle, not
 * too deep, and within the budget of visits.
 */
static int
render_enter(struct render_ctx *ctx, const char *dir, const char *file,
    char **cause)
{
	struct buf	 b;
	size_t		 i;
	char		*display;

	if (strv_contains(&ctx->stack, dir) ||
	    ctx->stack.n >= RENDER_MAX_DEPTH) {
		buf_init(&b);
		for (i = 0; i < ctx->stack.n; i++)
			buf_printf(&b, "%s -> ", ctx->stack.v[i]);
		buf_adds(&b, dir);
		display = source_display_path(ctx->src, file);
		xasprintf(cause, "%s: kustomization %s: %s", display,
		    ctx->stack.n >= RENDER_MAX_DEPTH ? "nesting too deep" :
		    "cycle", b.data);
		free(display);
		buf_free(&b);
		return (-1);
	}
	return (0);
}

/* The error for a render past RENDER_MAX_VISITS, named by file. */
static void
render_visits_error(struct render_ctx *ctx, const char *file, char **cause)
{
	char	*display = source_display_path(ctx->src, file);

	xasprintf(cause, "%s: kustomization graph too large: more than %d "
	    "kustomization visits (folders reached along many paths)",
	    display, RENDER_MAX_VISITS);
	free(display);
}

/*
 * Render the kustomization file of folder dir: its resources first (a
 * base fully rendered), then this level's transformations.
 */
static int
render_kustomization(struct render_ctx *ctx, const char *dir,
    const char *file, struct resource_set **setp, char **cause)
{
	struct render_kust	*k = NULL;
	struct resource_set	*set = NULL, *out = NULL;
	struct json		*entry;
	size_t			 i;

	*setp = NULL;
	if (render_enter(ctx, dir, file, cause) == -1)
		return (-1);
	/*
	 * A folder may be reached along many paths (a diamond: two overlays
	 * of one base, each level of a chain listing the next twice). As in
	 * kustomize each is rendered again (its resources then meet as
	 * duplicates, unless it has none), so bound the total.
	 */
	if (++ctx->visits > RENDER_MAX_VISITS) {
		render_visits_error(ctx, file, cause);
		return (-1);
	}
	if (render_kust_parse(ctx, dir, file, &k, cause) == -1 ||
	    render_kust_check(ctx, k, cause) == -1)
		return (-1);
	strv_add(&ctx->stack, dir);

	set = resource_set_new();
	for (entry = json_child(k->resources); entry != NULL;
	    entry = json_next(entry)) {
		if (render_resource_entry(ctx, k, entry, set, cause) == -1)
			goto fail;
	}

	/* Identities change (namespace): collect them again. */
	out = resource_set_new();
	for (i = 0; i < set->n; i++) {
		if (render_transform(k, set->v[i], cause) == -1)
			goto fail;
	}
	if (render_set_move(set, out, cause) == -1) {
		set = NULL;
		goto fail;
	}
	set = NULL;

	ctx->stack.n--;
	free(ctx->stack.v[ctx->stack.n]);
	*setp = out;
	return (0);

fail:
	ctx->stack.n--;
	free(ctx->stack.v[ctx->stack.n]);
	resource_set_free(set);
	resource_set_free(out);
	return (-1);
}

/*
 * The walk before kubectl kustomize. kubectl reads what the kustomization
 * graph names, itself: its load restrictor keeps files inside each
 * kustomization's folder, but not folders (a base may be anywhere on the
 * disk), and it fetches URLs and git repositories. So every path-bearing
 * field of every kustomization reachable from the app's is checked first,
 * through the source (which refuses ".." past the root and symlinks out
 * of it): a relative path to something that exists in the repository.
 */

/* What a path of a field may be. */
#define RENDER_REF_FILE		0x1	/* a file */
#define RENDER_REF_DIR		0x2	/* a kustomization folder */
#define RENDER_REF_INLINE	0x4	/* or inline YAML, no path */
#define RENDER_REF_KEYED	0x8	/* "key=path" or "path" */

/* Fields that are lists of paths. */
static const struct render_pathfield {
	const char	*field;
	const char	*what;	/* for messages */
	int		 flags;
} render_path_lists[] = {
	{ "resources", "resource", RENDER_REF_FILE | RENDER_REF_DIR },
	{ "bases", "base", RENDER_REF_FILE | RENDER_REF_DIR },
	{ "components", "component", RENDER_REF_DIR },
	{ "crds", "crd", RENDER_REF_FILE },
	{ "configurations", "configuration", RENDER_REF_FILE },
	{ "patchesStrategicMerge", "patch",
	    RENDER_REF_FILE | RENDER_REF_INLINE },
	{ "transformers", "transformer",
	    RENDER_REF_FILE | RENDER_REF_DIR | RENDER_REF_INLINE },
	{ "generators", "generator",
	    RENDER_REF_FILE | RENDER_REF_DIR | RENDER_REF_INLINE },
	{ "validators", "validator",
	    RENDER_REF_FILE | RENDER_REF_DIR | RENDER_REF_INLINE },
};

/* Fields that download Helm charts. */
static const char *render_fields_helm[] = {
	"helmChartInflationGenerator",
	"helmCharts",
	"helmGlobals",
};

static int	render_walk(struct render_ctx *, const char *, const char *,
		    size_t *, char **);

/*
 * Where kubectl resolves a kustomization's relative paths from: its
 * folder with symlinks resolved (kustomize evaluates them), relative to
 * the resolved root. "" is the root.
 */
static int
render_walk_base(struct render_ctx *ctx, struct render_kust *k,
    const char *root, char **base, char **cause)
{
	char	*full, *real;
	size_t	 n = strlen(ctx->realroot);

	*base = NULL;
	full = *k->dir != '\0' ? path_join(root, k->dir) : xstrdup(root);
	real = realpath(full, NULL);
	free(full);
	if (real == NULL) {
		xasprintf(cause, "cannot resolve the folder of '%s': %s",
		    k->display, strerror(errno));
		return (-1);
	}
	if (strcmp(real, ctx->realroot) == 0)
		*base = xstrdup("");
	else if (strncmp(real, ctx->realroot, n) == 0 && real[n] == '/')
		*base = xstrdup(real + n + 1);
	else if (strcmp(ctx->realroot, "/") == 0)
		*base = xstrdup(real + 1);
	free(real);
	if (*base == NULL) {
		xasprintf(cause, "the folder of '%s' leads outside the "
		    "repository through a symlink", k->display);
		return (-1);
	}
	return (0);
}

/*
 * One path of a kustomization field, relative to base (see above): add
 * to *count the visits kustomize makes below it.
 */
static int
render_walk_ref(struct render_ctx *ctx, struct render_kust *k,
    const char *base, struct json *node, const char *what, int flags,
    size_t *count, char **cause)
{
	enum source_entry_type	 type;
	const char		*s = json_string(node), *rel, *eq;
	char			*joined, *path = NULL, *file = NULL;
	char			*err = NULL;
	size_t			 sub;
	int			 found, rv = -1;

	if (s == NULL || *s == '\0') {
		render_value_error(k, node, cause, "a %s entry must be a path",
		    what);
		return (-1);
	}
	/*
	 * Inline YAML (a patch or a plugin's configuration) is no path;
	 * kustomize tries it as a file first, and its load restrictor (see
	 * render_kubectl) keeps that inside the kustomization's folder.
	 */
	if ((flags & RENDER_REF_INLINE) && (strchr(s, '\n') != NULL ||
	    s[strspn(s, " \t")] == '{'))
		return (0);
	rel = s;
	if ((flags & RENDER_REF_KEYED) && (eq = strchr(s, '=')) != NULL)
		rel = eq + 1;
	if (render_path_remote(rel)) {
		render_value_error(k, node, cause, "remote %s '%s' is not "
		    "supported: vendor it into the repository", what, rel);
		return (-1);
	}
	if (*rel == '/') {
		render_value_error(k, node, cause, "%s '%s' is an absolute "
		    "path: give it relative to the kustomization", what, rel);
		return (-1);
	}
	joined = path_join(base, rel);
	path = path_normalize(joined);
	free(joined);
	if (path == NULL) {
		render_value_error(k, node, cause, "%s '%s' is outside the "
		    "repository", what, rel);
		goto out;
	}
	if (source_stat(ctx->src, path, &type, &err) == -1) {
		render_value_error(k, node, cause, "%s '%s' is outside the "
		    "repository or unreadable: %s", what, rel, err);
		goto out;
	}
	switch (type) {
	case SOURCE_NONE:
		render_value_error(k, node, cause, "%s '%s' does not exist",
		    what, rel);
		goto out;
	case SOURCE_FILE:
		if (!(flags & RENDER_REF_FILE)) {
			render_value_error(k, node, cause, "%s '%s' must be a "
			    "folder with a kustomization", what, rel);
			goto out;
		}
		break;
	case SOURCE_DIR:
		if (!(flags & RENDER_REF_DIR)) {
			render_value_error(k, node, cause, "%s '%s' is a "
			    "folder, not a file", what, rel);
			goto out;
		}
		if ((found = render_find_kustomization(ctx->src, path, &file,
		    cause)) == -1)
			goto out;
		if (found == 0) {
			render_value_error(k, node, cause, "%s '%s' is a "
			    "folder without a kustomization.yaml", what, rel);
			goto out;
		}
		if (render_walk(ctx, path, file, &sub, cause) == -1)
			goto out;
		*count += sub;
		if (*count > RENDER_MAX_VISITS) {
			render_visits_error(ctx, k->path, cause);
			goto out;
		}
		break;
	}
	rv = 0;
out:
	free(err);
	free(file);
	free(path);
	return (rv);
}

/* A field that must be a list (of what: for the message). */
static int
render_walk_list(struct render_kust *k, struct json *f, char **cause)
{
	if (json_type(f) != JSON_ARRAY) {
		render_pos_error(k, f, cause, "%s must be a list",
		    json_key(f));
		return (-1);
	}
	return (0);
}

/* The member path of each mapping in list f (patches, replacements). */
static int
render_walk_path_members(struct render_ctx *ctx, struct render_kust *k,
    const char *base, struct json *f, const char *what, size_t *count,
    char **cause)
{
	struct json	*item, *m;

	if (render_walk_list(k, f, cause) == -1)
		return (-1);
	for (item = json_child(f); item != NULL; item = json_next(item)) {
		if (json_type(item) != JSON_OBJECT) {
			render_pos_error(k, item, cause, "a %s entry must be "
			    "a mapping", json_key(f));
			return (-1);
		}
		if ((m = json_get(item, "path")) != NULL &&
		    json_type(m) != JSON_NULL &&
		    render_walk_ref(ctx, k, base, m, what, RENDER_REF_FILE,
		    count, cause) == -1)
			return (-1);
	}
	return (0);
}

/* configMapGenerator and secretGenerator: files, envs, env. */
static int
render_walk_generators(struct render_ctx *ctx, struct render_kust *k,
    const char *base, struct json *f, size_t *count, char **cause)
{
	struct json	*item, *m, *p;

	if (render_walk_list(k, f, cause) == -1)
		return (-1);
	for (item = json_child(f); item != NULL; item = json_next(item)) {
		if (json_type(item) != JSON_OBJECT) {
			render_pos_error(k, item, cause, "a %s entry must be "
			    "a mapping", json_key(f));
			return (-1);
		}
		if ((m = json_get(item, "env")) != NULL &&
		    json_type(m) != JSON_NULL &&
		    render_walk_ref(ctx, k, base, m, "env file",
		    RENDER_REF_FILE, count, cause) == -1)
			return (-1);
		if ((m = json_get(item, "envs")) != NULL &&
		    json_type(m) != JSON_NULL) {
			if (render_walk_list(k, m, cause) == -1)
				return (-1);
			for (p = json_child(m); p != NULL; p = json_next(p)) {
				if (render_walk_ref(ctx, k, base, p,
				    "env file", RENDER_REF_FILE, count,
				    cause) == -1)
					return (-1);
			}
		}
		if ((m = json_get(item, "files")) != NULL &&
		    json_type(m) != JSON_NULL) {
			if (render_walk_list(k, m, cause) == -1)
				return (-1);
			for (p = json_child(m); p != NULL; p = json_next(p)) {
				if (render_walk_ref(ctx, k, base, p, "file",
				    RENDER_REF_FILE | RENDER_REF_KEYED, count,
				    cause) == -1)
					return (-1);
			}
		}
	}
	return (0);
}

/*
 * Check the kustomization of folder dir and, depth first, every one it
 * names; *countp is the number of visits kustomize makes from here (a
 * folder counted for every path reaching it). Each folder is checked once.
 */
static int
render_walk(struct render_ctx *ctx, const char *dir, const char *file,
    size_t *countp, char **cause)
{
	struct render_kust	*k;
	struct json		*f, *item, *m;
	const char		*key;
	char			*base = NULL;
	size_t			 count = 1, i;
	void			*memo;
	int			 done;

	*countp = 0;
	if (render_enter(ctx, dir, file, cause) == -1)
		return (-1);
	if ((memo = strmap_get(ctx->walked, dir)) != NULL) {
		*countp = (size_t)(uintptr_t)memo - 1;
		return (0);
	}
	if (render_kust_parse(ctx, dir, file, &k, cause) == -1 ||
	    render_walk_base(ctx, k, ctx->root, &base, cause) == -1)
		return (-1);
	strv_add(&ctx->stack, dir);

	for (f = json_child(k->root); f != NULL; f = json_next(f)) {
		key = json_key(f);
		if (render_json_empty(f))
			continue;
		if (render_str_in(key, render_fields_helm,
		    sizeof render_fields_helm /
		    sizeof render_fields_helm[0])) {
			render_pos_error(k, f, cause, "kustomization field "
			    "'%s' is not supported: it downloads charts "
			    "(render the chart into the repository)", key);
			goto fail;
		}
		done = 0;
		for (i = 0; i < sizeof render_path_lists /
		    sizeof render_path_lists[0]; i++) {
			if (strcmp(key, render_path_lists[i].field) != 0)
				continue;
			if (render_walk_list(k, f, cause) == -1)
				goto fail;
			for (item = json_child(f); item != NULL;
			    item = json_next(item)) {
				if (render_walk_ref(ctx, k, base, item,
				    render_path_lists[i].what,
				    render_path_lists[i].flags, &count,
				    cause) == -1)
					goto fail;
			}
			done = 1;
		}
		if (done)
			continue;
		if (strcmp(key, "patches") == 0 ||
		    strcmp(key, "patchesJson6902") == 0) {
			if (render_walk_path_members(ctx, k, base, f, "patch",
			    &count, cause) == -1)
				goto fail;
		} else if (strcmp(key, "replacements") == 0) {
			if (render_walk_path_members(ctx, k, base, f,
			    "replacement", &count, cause) == -1)
				goto fail;
		} else if (strcmp(key, "configMapGenerator") == 0 ||
		    strcmp(key, "secretGenerator") == 0) {
			if (render_walk_generators(ctx, k, base, f, &count,
			    cause) == -1)
				goto fail;
		} else if (strcmp(key, "openapi") == 0) {
			if (json_type(f) != JSON_OBJECT) {
				render_pos_error(k, f, cause,
				    "openapi must be a mapping");
				goto fail;
			}
			if ((m = json_get(f, "path")) != NULL &&
			    json_type(m) != JSON_NULL &&
			    render_walk_ref(ctx, k, base, m, "openapi schema",
			    RENDER_REF_FILE, &count, cause) == -1)
				goto fail;
		} else if (!render_str_in(key, render_fields_builtin,
		    sizeof render_fields_builtin /
		    sizeof render_fields_builtin[0]) &&
		    !render_str_in(key, render_fields_external,
		    sizeof render_fields_external /
		    sizeof render_fields_external[0])) {
			/* A field kustomize may know and we do not. */
			render_pos_error(k, f, cause, "unknown kustomization "
			    "field '%s'", key);
			goto fail;
		}
	}

	ctx->stack.n--;
	free(ctx->stack.v[ctx->stack.n]);
	free(base);
	strmap_put(ctx->walked, dir, (void *)(uintptr_t)(count + 1));
	*countp = count;
	return (0);

fail:
	ctx->stack.n--;
	free(ctx->stack.v[ctx->stack.n]);
	free(base);
	return (-1);
}

static int
render_rm_cb(const char *path, const struct stat *st, int flag,
    struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return (remove(path));
}

/* kubectl's stderr for a message: trimmed, bounded, on one line or few. */
static char *
render_stderr(const char *err, size_t len, const char *tmpdir,
    const char *label)
{
	struct buf	 b;
	const char	*s = err, *e = err + len, *hit;
	size_t		 tl = tmpdir != NULL ? strlen(tmpdir) : 0;

	while (s < e && (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t' ||
	    e[-1] == '\r'))
		e--;
	buf_init(&b);
	/* Name the source, not the temporary copy of it. */
	while (s < e) {
		hit = tl != 0 ? memmem(s, (size_t)(e - s), tmpdir, tl) : NULL;
		if (hit == NULL) {
			buf_add(&b, s, (size_t)(e - s));
			break;
		}
		buf_add(&b, s, (size_t)(hit - s));
		buf_adds(&b, label);
		s = hit + tl;
	}
	if (b.len > RENDER_STDERR_SHOWN) {
		b.len = RENDER_STDERR_SHOWN;
		b.data[b.len] = '\0';
		buf_adds(&b, "...");
	}
	return (buf_release(&b));
}

/*
 * `kubectl kustomize` on the folder (its kustomization is file), with the
 * whole source on disk, once render_walk has checked what it may read.
 */
static int
render_kubectl(struct render_ctx *ctx, const char *kubectl, const char *path,
    const char *file, struct resource_set **setp, char **cause)
{
	struct spawn_opts	 so;
	struct spawn_result	 sr;
	struct yaml_file	*yf = NULL;
	struct resource_set	*set = NULL;
	char			*root = NULL, *full = NULL, *display, *name;
	char			*msg, *label;
	const char		*argv[6];
	size_t			 visits;
	int			 cleanup = 0, rv = -1;

	memset(&sr, 0, sizeof sr);
	display = source_display_path(ctx->src, path);
	xasprintf(&name, "kubectl kustomize %s", display);
	/*
	 * The root, so that ../base is there too. For a directory source
	 * this is the repository itself, symlinks and all, not a copy of
	 * what the source lets through: kubectl follows symlinks and ".."
	 * as it likes. That is safe only because render_walk has first
	 * followed, through the source (which refuses ".." past the root and
	 * symlinks leading out of it), every path kubectl can take out of a
	 * kustomization's folder (resources and the like), resolved from
	 * where kustomize resolves them, and refused remote ones; within a
	 * folder the load restrictor below keeps kubectl's file reads.
	 */
	if (source_materialize(ctx->src, "", &root, &cleanup, cause) == -1)
		goto out;
	ctx->root = root;
	if ((ctx->realroot = realpath(root, NULL)) == NULL) {
		xasprintf(cause, "cannot resolve '%s': %s", root,
		    strerror(errno));
		goto out;
	}
	strv_free(&ctx->stack);
	memset(&ctx->stack, 0, sizeof ctx->stack);
	if (render_walk(ctx, path, file, &visits, cause) == -1)
		goto out;
	full = *path != '\0' ? path_join(root, path) : xstrdup(root);

	/*
	 * LoadRestrictionsRootOnly is kustomize's default; stated so that a
	 * changed default cannot widen it.
	 */
	argv[0] = kubectl;
	argv[1] = "kustomize";
	argv[2] = "--load-restrictor";
	argv[3] = "LoadRestrictionsRootOnly";
	argv[4] = full;
	argv[5] = NULL;
	memset(&so, 0, sizeof so);
	so.timeout_ms = ctx->opts->timeout_ms != 0 ? ctx->opts->timeout_ms :
	    RENDER_KUBECTL_TIMEOUT;
	so.max_output = RENDER_KUBECTL_OUTPUT;
	if (spawn_run((char *const *)argv, &so, &sr, cause) == -1)
		goto out;
	if (sr.timed_out) {
		xasprintf(cause, "cannot render '%s' with kubectl kustomize: "
		    "no answer within %s", display,
		    (msg = duration_format(so.timeout_ms)));
		free(msg);
		goto out;
	}
	if (!sr.exited || sr.status != 0) {
		label = ctx->src->label;
		msg = render_stderr(sr.err, sr.errlen, root,
		    *label != '\0' ? label : ".");
		if (sr.exited)
			xasprintf(cause, "cannot render '%s' with kubectl "
			    "kustomize (exit status %d): %s", display,
			    sr.status, msg);
		else
			xasprintf(cause, "cannot render '%s' with kubectl "
			    "kustomize (killed by signal %d): %s", display,
			    sr.status, msg);
		free(msg);
		goto out;
	}
	if (sr.truncated) {
		xasprintf(cause, "cannot render '%s' with kubectl kustomize: "
		    "output past %d MiB", display,
		    RENDER_KUBECTL_OUTPUT / (1024 * 1024));
		goto out;
	}
	if (yaml_parse(name, sr.out, sr.outlen, YAML_ALLOW_EMPTY, &yf,
	    cause) == -1)
		goto out;
	set = resource_set_new();
	if (manifest_load_yaml(set, yf, NULL, cause) == -1)
		goto out;
	*setp = set;
	set = NULL;
	rv = 0;

out:
	if (cleanup && root != NULL)
		nftw(root, render_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	resource_set_free(set);
	yaml_file_free(yf);
	spawn_result_free(&sr);
	ctx->root = NULL;
	free(ctx->realroot);
	ctx->realroot = NULL;
	free(root);
	free(full);
	free(name);
	free(display);
	return (rv);
}

int
render_path(struct source *src, const char *path,
    const struct render_opts *opts, struct resource_set **setp,
    char **cause)
{
	static const struct render_opts defaults;
	struct render_ctx	 ctx;
	char			*file = NULL, *kubectl = NULL, *norm;
	char			*err = NULL;
	const char		*key;
	void			*value;
	size_t			 cursor = 0;
	int			 found, rv = -1;

	*setp = NULL;
	if (opts == NULL)
		opts = &defaults;
	memset(&ctx, 0, sizeof ctx);
	ctx.src = src;
	ctx.opts = opts;
	ctx.kusts = strmap_new(16);
	ctx.walked = strmap_new(16);
	ctx.orig_ns = strmap_new(64);

	if ((norm = path_normalize(path)) == NULL) {
		xasprintf(cause, "path '%s' is outside the source", path);
		goto out;
	}
	if ((found = render_find_kustomization(src, norm, &file,
	    cause)) == -1)
		goto out;
	if (found == 0) {
		rv = manifest_load_dir(src, norm, NULL, setp, cause);
		goto out;
	}
	if (render_kustomization(&ctx, norm, file, setp, &err) == 0) {
		rv = render_references(&ctx, *setp, cause);
		goto out;
	}
	/* A plain error (an unknown field, say) comes first. */
	if (err != NULL || ctx.unsupported == NULL) {
		*cause = err != NULL ? err : xstrdup("cannot render");
		err = NULL;
		goto out;
	}

	/* Beyond the subset: kubectl, when there is one and it may run. */
	if (!opts->no_external)
		kubectl = spawn_find_program(opts->kubectl != NULL ?
		    opts->kubectl : "kubectl");
	if (kubectl == NULL) {
		*cause = ctx.unsupported;
		ctx.unsupported = NULL;
		goto out;
	}
	rv = render_kubectl(&ctx, kubectl, norm, file, setp, cause);

out:
	if (rv == 0 && opts->default_namespace != NULL)
		rv = resource_set_default_namespace(*setp,
		    opts->default_namespace, cause);
	if (rv == -1) {
		resource_set_free(*setp);
		*setp = NULL;
	}
	while (strmap_next(ctx.kusts, &cursor, &key, &value))
		render_kust_free(value);
	strmap_free(ctx.kusts);
	cursor = 0;
	while (strmap_next(ctx.orig_ns, &cursor, &key, &value))
		free(value);
	strmap_free(ctx.orig_ns);
	strmap_free(ctx.walked);
	free(err);
	free(ctx.unsupported);
	strv_free(&ctx.stack);
	free(kubectl);
	free(file);
	free(norm);
	return (rv);
}
