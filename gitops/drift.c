/*
 * drift.c: which fields of a live object drifted, for a drift check's
 * report: the fields where live differs from what an apply would make it
 * (ours: the agent sets them and would set them back), and, on a
 * Kubernetes object, the fields its managedFields give only to other
 * managers (not ours: an apply leaves them alone). Fields are named as
 * paths (.spec.replicas, .spec.template.spec.containers[name=web].image,
 * .metadata.labels.team); a resource's list is bounded by a maximum,
 * with the count of those left out.
 *
 * Pure: reads objects, allocates only its answers. Any thread.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gitops.h"

struct drift_walk {
	struct strv	*out;
	size_t		 max;
	size_t		 n;	/* fields found, listed or not */
};

static void
drift_add(struct drift_walk *w, const char *path)
{
	if (w->out->n < w->max && !strv_contains(w->out, path))
		strv_add(w->out, path);
	w->n++;
}

/* A list whose items are all objects with a string "name". */
static int
drift_named(const struct json *a)
{
	const struct json	*e;

	if (json_type(a) != JSON_ARRAY || json_child(a) == NULL)
		return (0);
	for (e = json_child(a); e != NULL; e = json_next(e)) {
		if (json_path_string(e, "name", NULL) == NULL)
			return (0);
	}
	return (1);
}

static const struct json *
drift_named_find(const struct json *a, const char *name)
{
	const struct json	*e;

	for (e = json_child(a); e != NULL; e = json_next(e)) {
		if (strcmp(json_path_string(e, "name", NULL), name) == 0)
			return (e);
	}
	return (NULL);
}

static void	drift_walk_node(struct drift_walk *, const char *,
		    const struct json *, const struct json *);

/* Into a field (.key), or a list item ([key]) when item is set. */
static void
drift_walk_child(struct drift_walk *w, const char *path, int item,
    const char *key, const struct json *a, const struct json *b)
{
	char	*p;

	if (item)
		xasprintf(&p, "%s[%s]", path, key);
	else
		xasprintf(&p, "%s.%s", path, key);
	drift_walk_node(w, p, a, b);
	free(p);
}

static void
drift_walk_node(struct drift_walk *w, const char *path, const struct json *a,
    const struct json *b)
{
	const struct json	*e;
	const char		*name;
	char			 idx[32], *key;
	size_t			 i, n;

	if (a != NULL && b != NULL && json_equal(a, b))
		return;
	if (a == NULL || b == NULL || json_type(a) != json_type(b)) {
		drift_add(w, *path != '\0' ? path : ".");
		return;
	}
	if (json_type(a) == JSON_OBJECT) {
		for (e = json_child(a); e != NULL; e = json_next(e))
			drift_walk_child(w, path, 0, json_key(e), e,
			    json_get(b, json_key(e)));
		for (e = json_child(b); e != NULL; e = json_next(e)) {
			if (json_get(a, json_key(e)) == NULL)
				drift_walk_child(w, path, 0, json_key(e),
				    NULL, e);
		}
		return;
	}
	if (json_type(a) == JSON_ARRAY && drift_named(a) && drift_named(b)) {
		for (e = json_child(a); e != NULL; e = json_next(e)) {
			name = json_path_string(e, "name", NULL);
			xasprintf(&key, "name=%s", name);
			drift_walk_child(w, path, 1, key, e,
			    drift_named_find(b, name));
			free(key);
		}
		for (e = json_child(b); e != NULL; e = json_next(e)) {
			name = json_path_string(e, "name", NULL);
			if (drift_named_find(a, name) != NULL)
				continue;
			xasprintf(&key, "name=%s", name);
			drift_walk_child(w, path, 1, key, NULL, e);
			free(key);
		}
		return;
	}
	if (json_type(a) == JSON_ARRAY && (n = json_count(a)) ==
	    json_count(b)) {
		for (i = 0; i < n; i++) {
			snprintf(idx, sizeof idx, "%zu", i);
			drift_walk_child(w, path, 1, idx,
			    json_array_get(a, i), json_array_get(b, i));
		}
		return;
	}
	drift_add(w, *path != '\0' ? path : ".");
}

size_t
drift_fields(const struct json *want, const struct json *live, size_t max,
    struct strv *out)
{
	struct drift_walk	w = { out, max, 0 };

	drift_walk_node(&w, "", want, live);
	return (w.n);
}

/* A list item's keys, k:{"name":"web","port":80}, as name=web,port=80. */
static char *
drift_item_keys(const char *text)
{
	struct json	*k;
	const struct json *m;
	struct buf	 b;
	char		*err = NULL;

	buf_init(&b);
	if ((k = json_parse(text, strlen(text), &err)) == NULL) {
		free(err);
		buf_printf(&b, "%s", text);
		return (buf_release(&b));
	}
	for (m = json_child(k); m != NULL; m = json_next(m)) {
		if (json_string(m) != NULL)
			buf_printf(&b, "%s%s=%s", b.len != 0 ? "," : "",
			    json_key(m), json_string(m));
		else
			buf_printf(&b, "%s%s=%g", b.len != 0 ? "," : "",
			    json_key(m), json_number(m));
	}
	json_free(k);
	return (buf_release(&b));
}

/*
 * The leaf paths of a managedFields entry's fieldsV1 ("f:spec": {
 * "f:replicas": {}}): a key "f:NAME" is a field, "k:{...}" a list item by
 * its keys, "v:VALUE" an item of a set, "." the node itself (only a leaf
 * when it has no children of its own).
 */
static void
drift_fieldsv1(const struct json *node, const char *path, struct strv *out)
{
	const struct json	*e;
	const char		*key;
	char			*p, *keys;
	int			 leaf = 1;

	for (e = json_child(node); e != NULL; e = json_next(e)) {
		key = json_key(e);
		if (strcmp(key, ".") == 0)
			continue;
		leaf = 0;
		if (strncmp(key, "f:", 2) == 0)
			xasprintf(&p, "%s.%s", path, key + 2);
		else if (strncmp(key, "k:", 2) == 0) {
			keys = drift_item_keys(key + 2);
			xasprintf(&p, "%s[%s]", path, keys);
			free(keys);
		} else
			xasprintf(&p, "%s[%s]", path, strncmp(key, "v:", 2) ==
			    0 ? key + 2 : key);
		drift_fieldsv1(e, p, out);
		free(p);
	}
	if (leaf && *path != '\0' && !strv_contains(out, path))
		strv_add(out, path);
}

/* The fields a manager's entries (not the status subresource's) hold. */
static void
drift_owned(const struct json *live, const char *manager, int others,
    struct strv *out, struct strv *names)
{
	const struct json	*e;
	const char		*m, *sub;

	for (e = json_child(json_path(live, "metadata", "managedFields",
	    NULL)); e != NULL; e = json_next(e)) {
		m = json_path_string(e, "manager", NULL);
		sub = json_path_string(e, "subresource", NULL);
		if (m == NULL || (sub != NULL && *sub != '\0') ||
		    (strcmp(m, manager) == 0) == others)
			continue;
		drift_fieldsv1(json_get(e, "fieldsV1"), "", out);
		if (names != NULL && !strv_contains(names, m))
			strv_add(names, m);
	}
}

size_t
drift_foreign_fields(const struct json *live, const char *manager,
    size_t max, struct strv *out, struct strv *managers)
{
	struct strv	 ours, theirs;
	size_t		 i, n = 0;

	memset(&ours, 0, sizeof ours);
	memset(&theirs, 0, sizeof theirs);
	drift_owned(live, manager, 0, &ours, NULL);
	drift_owned(live, manager, 1, &theirs, managers);
	for (i = 0; i < theirs.n; i++) {
		if (strv_contains(&ours, theirs.v[i]))
			continue;
		if (out->n < max)
			strv_add(out, theirs.v[i]);
		n++;
	}
	strv_free(&ours);
	strv_free(&theirs);
	return (n);
}

struct json *
drift_report(const struct strv *ours, size_t nours,
    const struct strv *theirs, size_t ntheirs, const struct strv *managers)
{
	struct json	*o, *arr;
	size_t		 i;

	if (nours == 0 && ntheirs == 0)
		return (NULL);
	o = json_new_object();
	arr = json_new_array();
	for (i = 0; ours != NULL && i < ours->n; i++)
		json_array_append(arr, json_new_string(ours->v[i]));
	json_set(o, "fields", arr);
	if (nours > (ours != NULL ? ours->n : 0))
		json_set(o, "fieldsNotListed", json_new_number((double)(nours -
		    ours->n)));
	if (ntheirs != 0) {
		arr = json_new_array();
		/* One of ours another manager took is said once, as ours. */
		for (i = 0; i < theirs->n; i++)
			if (ours == NULL || !strv_contains(ours, theirs->v[i]))
				json_array_append(arr,
				    json_new_string(theirs->v[i]));
		json_set(o, "othersFields", arr);
		if (ntheirs > theirs->n)
			json_set(o, "othersFieldsNotListed",
			    json_new_number((double)(ntheirs - theirs->n)));
		arr = json_new_array();
		for (i = 0; managers != NULL && i < managers->n; i++)
			json_array_append(arr,
			    json_new_string(managers->v[i]));
		json_set(o, "managers", arr);
	}
	return (o);
}
