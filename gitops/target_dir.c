/*
 * target_dir.c: the directory target, the embedded default. Live state is
 * a directory with one YAML file per resource at a path derived from its
 * identity (target_dir_path), and an inventory per app of what the agent
 * wrote there: DIR/.gitops-agent/inventory/APP.json, holding for each
 * resource its id, phase, wave, the SHA-256 of the bytes written and a
 * digest of the object they were made from: with both matching, compare
 * and health know a file is unchanged without making any YAML (the
 * no-change path of a large app).
 *
 * Crash safety: before a file is written, the inventory on disk already
 * lists it with the digest of the new bytes as "pending" (prepare records
 * a whole wave at once; apply does it for one resource otherwise). So a
 * file the agent wrote is always accounted for, and a file is only ever
 * deleted when the inventory lists it and its content still hashes to
 * what the agent wrote (or was about to write). An entry still pending
 * when the inventory is loaded (a crash) is settled by reading the file.
 *
 * A file edited by hand since the agent wrote it, and no longer desired,
 * is kept and forgotten (TARGET_KEPT): deleting it would destroy someone's
 * work, and forgetting it lets the next sync converge instead of
 * reporting it forever. While it is still desired it is simply rewritten
 * (Git wins), like any drift.
 *
 * Used by one thread at a time (the one running the sync). Never deletes
 * or writes outside its directory; never logs file contents (Secrets).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gitops.h"

#define INVENTORY_DIR	".gitops-agent/inventory"
#define CLUSTER_DIR	"_cluster"

struct dir_entry {
	char		*id;
	enum hook_phase	 phase;
	long		 wave;
	/* SHA-256 of the content last written; "" if none */
	char		 sha256[65];
	/* of the content being written; "" if none */
	char		 pending[65];
	/* digest (object_digest) of the object last written */
	char		 desired[65];
	/* sha256 and pending as the inventory on disk holds them */
	char		 disk_sha256[65];
	char		 disk_pending[65];
};

struct dir_target {
	char		*root;
	char		*invpath;
	int		 loaded;
	int		 dirty;
	/* id -> struct dir_entry *; NULL once forgotten */
	struct strmap	*by_id;
	struct buf	 scratch;	/* reused by object_digest */
};

static int	dir_get(struct target *, const char *, struct json **,
		    char **);
static int	dir_compare(struct target *, const struct resource *,
		    enum diff_action *, struct json **, char **);
static int	dir_apply(struct target *, const struct resource *, char **);
static int	dir_remove(struct target *, const char *,
		    enum target_remove_status *, char **);
static int	dir_health(struct target *, const struct resource *,
		    enum health_status *, char **);
static int	dir_inventory(struct target *, struct target_entry **,
		    size_t *, char **);
static int	dir_prepare(struct target *, struct resource *const *,
		    size_t, char **);
static int	dir_inventory_save(struct target *, char **);
static void	dir_free(struct target *);

static const struct target_ops dir_ops = {
	.name = "directory",
	.get = dir_get,
	.compare = dir_compare,
	.apply = dir_apply,
	.remove = dir_remove,
	.health = dir_health,
	.inventory = dir_inventory,
	.prepare = dir_prepare,
	.inventory_save = dir_inventory_save,
	.free = dir_free,
};

/*
 * A part of an identity or an app name that is safe as one path
 * component: not empty, no '/', and not starting with '.' (which rules out
 * "." and "..", temporary files and our own .gitops-agent directory).
 */
static int
component_ok(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.')
		return (0);
	if (memchr(s, '/', n) != NULL || memchr(s, '\0', n) != NULL)
		return (0);
	return (1);
}

/*
 * Split "Kind[.group]/namespace/name" or "Kind[.group]/name" into its
 * parts (allocated; *ns is NULL for cluster-scoped identities).
 */
static int
id_split(const char *id, char **kind, char **ns, char **name)
{
	const char	*a, *b;

	*kind = *ns = *name = NULL;
	if ((a = strchr(id, '/')) == NULL)
		return (-1);
	if (!component_ok(id, (size_t)(a - id)))
		return (-1);
	if ((b = strchr(a + 1, '/')) == NULL) {
		if (!component_ok(a + 1, strlen(a + 1)))
			return (-1);
		*kind = xstrndup(id, (size_t)(a - id));
		*name = xstrdup(a + 1);
		return (0);
	}
	if (!component_ok(a + 1, (size_t)(b - a - 1)) ||
	    !component_ok(b + 1, strlen(b + 1)))
		return (-1);
	/* '_' is not allowed in a namespace: no clash with CLUSTER_DIR. */
	if (a[1] == '_')
		return (-1);
	*kind = xstrndup(id, (size_t)(a - id));
	*ns = xstrndup(a + 1, (size_t)(b - a - 1));
	*name = xstrdup(b + 1);
	return (0);
}

static int
id_valid(const char *id)
{
	char	*kind, *ns, *name;

	if (id_split(id, &kind, &ns, &name) == -1)
		return (0);
	free(kind);
	free(ns);
	free(name);
	return (1);
}

char *
target_dir_path(const char *root, const char *id)
{
	char	*kind, *ns, *name, *rel, *path;

	if (id_split(id, &kind, &ns, &name) == -1)
		return (NULL);
	xasprintf(&rel, "%s/%s/%s.yaml", ns != NULL ? ns : CLUSTER_DIR, kind,
	    name);
	path = path_join(root, rel);
	free(rel);
	free(kind);
	free(ns);
	free(name);
	return (path);
}

struct target *
target_dir_new(const char *app, const char *path)
{
	struct target		*t;
	struct dir_target	*dt;
	char			*rel;

	dt = xcalloc(1, sizeof *dt);
	dt->root = xstrdup(path);
	xasprintf(&rel, "%s/%s.json", INVENTORY_DIR, app);
	dt->invpath = path_join(path, rel);
	free(rel);
	dt->by_id = strmap_new(64);
	t = xcalloc(1, sizeof *t);
	t->ops = &dir_ops;
	t->app = xstrdup(app);
	t->label = xstrdup(path);
	t->arg = dt;
	return (t);
}

static void
dir_free(struct target *t)
{
	struct dir_target	*dt = t->arg;
	struct dir_entry	*e;
	size_t			 cursor = 0;
	void			*v;

	if (dt == NULL)
		return;
	while (strmap_next(dt->by_id, &cursor, NULL, &v)) {
		if ((e = v) != NULL) {
			free(e->id);
			free(e);
		}
	}
	strmap_free(dt->by_id);
	buf_free(&dt->scratch);
	free(dt->root);
	free(dt->invpath);
	free(dt);
	t->arg = NULL;
}

static char *
dir_path(struct target *t, const char *id, char **cause)
{
	struct dir_target	*dt = t->arg;
	char			*path;

	if ((path = target_dir_path(dt->root, id)) == NULL)
		xasprintf(cause, "'%s': identity cannot be stored in a "
		    "directory target", id);
	return (path);
}

/*
 * Read a live file. Returns 1 when it does not exist, 0 with the content
 * (NUL-terminated), -1 on error. A symbolic link is an error: live files
 * are regular files the agent wrote.
 */
static int
read_live(const char *path, char **out, size_t *outlen, char **cause)
{
	struct stat	 st;
	char		*data = NULL;
	size_t		 len = 0, size;
	ssize_t		 n;
	int		 fd;

	*out = NULL;
	*outlen = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno == ENOENT)
			return (1);
		xasprintf(cause, "cannot open '%s': %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		xasprintf(cause, "cannot stat '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		xasprintf(cause, "'%s' is not a regular file", path);
		goto fail;
	}
	if ((uintmax_t)st.st_size > YAML_MAX_FILE_SIZE) {
		xasprintf(cause, "'%s' is too large: %jd bytes, the limit is "
		    "%d", path, (intmax_t)st.st_size, YAML_MAX_FILE_SIZE);
		goto fail;
	}
	size = (size_t)st.st_size + 1;
	data = xmalloc(size);
	while (len + 1 < size) {
		n = read(fd, data + len, size - len - 1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			xasprintf(cause, "cannot read '%s': %s", path,
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	data[len] = '\0';
	close(fd);
	*out = data;
	*outlen = len;
	return (0);
fail:
	free(data);
	close(fd);
	return (-1);
}

static int
parse_live(const char *path, const char *data, size_t len, struct json **obj,
    char **cause)
{
	struct yaml_file	*yf = NULL;

	*obj = NULL;
	if (yaml_parse(path, data, len, YAML_ALLOW_EMPTY, &yf, cause) == -1)
		return (-1);
	if (yf->ndocs != 1) {
		xasprintf(cause, "'%s': expected one document, found %zu",
		    path, yf->ndocs);
		yaml_file_free(yf);
		return (-1);
	}
	*obj = yaml_doc_detach(yf, 0);
	yaml_file_free(yf);
	return (0);
}

static int
fsync_parent(const char *path, char **cause)
{
	char	*dir, *slash;
	int	 fd, rc = 0;

	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir)
		*slash = '\0';
	else {
		free(dir);
		dir = xstrdup(slash != NULL ? "/" : ".");
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (fsync(fd) == -1 && errno != EINVAL)) {
		xasprintf(cause, "cannot sync directory '%s': %s", dir,
		    strerror(errno));
		rc = -1;
	}
	if (fd != -1)
		close(fd);
	free(dir);
	return (rc);
}

/* Phase from its name in the inventory. */
static int
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

static int
digest_ok(const char *s)
{
	size_t	i;

	if (strlen(s) != 64)
		return (0);
	for (i = 0; i < 64; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return (0);
	}
	return (1);
}

static struct dir_entry *
entry_find(struct dir_target *dt, const char *id)
{
	return (strmap_get(dt->by_id, id));
}

static struct dir_entry *
entry_add(struct dir_target *dt, const char *id, enum hook_phase phase,
    long wave)
{
	struct dir_entry	*e;

	e = xcalloc(1, sizeof *e);
	e->id = xstrdup(id);
	e->phase = phase;
	e->wave = wave;
	strmap_put(dt->by_id, id, e);
	dt->dirty = 1;
	return (e);
}

static void
entry_drop(struct dir_target *dt, struct dir_entry *e)
{
	strmap_put(dt->by_id, e->id, NULL);
	free(e->id);
	free(e);
	dt->dirty = 1;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct dir_entry	*x = *(struct dir_entry *const *)a;
	const struct dir_entry	*y = *(struct dir_entry *const *)b;

	return (strcmp(x->id, y->id));
}

/* The live entries, sorted by id; the array is allocated. */
static struct dir_entry **
entries_sorted(struct dir_target *dt, size_t *n)
{
	struct dir_entry	**v;
	size_t			  cursor = 0, i = 0;
	void			 *p;

	v = xreallocarray(NULL, strmap_count(dt->by_id) + 1, sizeof *v);
	while (strmap_next(dt->by_id, &cursor, NULL, &p)) {
		if (p != NULL)
			v[i++] = p;
	}
	if (i > 1)
		qsort(v, i, sizeof *v, entry_cmp);
	*n = i;
	return (v);
}

/* Write the inventory as it is in memory. */
static int
inventory_write(struct target *t, char **cause)
{
	struct dir_target	 *dt = t->arg;
	struct dir_entry	**v;
	struct json		 *doc, *arr, *o;
	char			 *text;
	size_t			  n, i;
	int			  rc;

	v = entries_sorted(dt, &n);
	doc = json_new_object();
	json_set(doc, "app", json_new_string(t->app));
	arr = json_new_array();
	for (i = 0; i < n; i++) {
		o = json_new_object();
		json_set(o, "id", json_new_string(v[i]->id));
		json_set(o, "phase", json_new_string(phase_name(v[i]->phase)));
		json_set(o, "wave", json_new_number((double)v[i]->wave));
		if (v[i]->sha256[0] != '\0')
			json_set(o, "sha256", json_new_string(v[i]->sha256));
		if (v[i]->pending[0] != '\0')
			json_set(o, "pending",
			    json_new_string(v[i]->pending));
		if (v[i]->desired[0] != '\0')
			json_set(o, "desired",
			    json_new_string(v[i]->desired));
		json_array_append(arr, o);
	}
	json_set(doc, "resources", arr);
	text = json_print(doc, 1);
	json_free(doc);
	{
		struct buf	b;

		buf_init(&b);
		buf_adds(&b, text);
		buf_addc(&b, '\n');
		free(text);
		rc = file_write_atomic(dt->invpath, b.data, b.len, 0644,
		    cause);
		buf_free(&b);
	}
	if (rc == 0) {
		for (i = 0; i < n; i++) {
			memcpy(v[i]->disk_sha256, v[i]->sha256, 65);
			memcpy(v[i]->disk_pending, v[i]->pending, 65);
		}
		dt->dirty = 0;
	}
	free(v);
	return (rc);
}

/*
 * A pending digest left by a sync that stopped (crash) while writing:
 * look at the file to learn whether the write happened.
 */
static void
entry_settle_from_disk(struct target *t, struct dir_entry *e)
{
	struct dir_target	*dt = t->arg;
	char			*path, *data, *cause = NULL, sha[65];
	size_t			 len;
	int			 rc;

	if ((path = target_dir_path(dt->root, e->id)) == NULL)
		return;
	rc = read_live(path, &data, &len, &cause);
	free(cause);
	free(path);
	if (rc == 0) {
		sha256_hex(data, len, sha);
		free(data);
		/* Written from an object we no longer know the digest of. */
		if (strcmp(sha, e->pending) == 0 &&
		    strcmp(sha, e->sha256) != 0) {
			memcpy(e->sha256, sha, 65);
			e->desired[0] = '\0';
		}
	}
	e->pending[0] = '\0';
	dt->dirty = 1;
	if (rc == 1 && e->sha256[0] == '\0')
		entry_drop(dt, e);
}

static int
inventory_load(struct target *t, char **cause)
{
	struct dir_target	 *dt = t->arg;
	struct dir_entry	 *e, **settle = NULL;
	struct json		 *doc = NULL, *arr, *o;
	const char		 *id, *ph, *sha, *pend, *des;
	struct json		 *wave;
	char			 *data = NULL, *err = NULL;
	size_t			  len, i, nsettle = 0;
	enum hook_phase		  phase;
	int			  rc;

	if (dt->loaded)
		return (0);
	if (!component_ok(t->app, strlen(t->app))) {
		xasprintf(cause, "invalid app name '%s' for directory target "
		    "'%s'", t->app, dt->root);
		return (-1);
	}
	rc = read_live(dt->invpath, &data, &len, cause);
	if (rc == -1)
		return (-1);
	if (rc == 1) {
		dt->loaded = 1;
		return (0);
	}
	if ((doc = json_parse(data, len, &err)) == NULL) {
		xasprintf(cause, "cannot parse inventory '%s': %s",
		    dt->invpath, err);
		goto fail;
	}
	arr = json_get(doc, "resources");
	if (json_type(doc) != JSON_OBJECT || arr == NULL ||
	    json_type(arr) != JSON_ARRAY) {
		xasprintf(cause, "inventory '%s': expected an object with a "
		    "resources array", dt->invpath);
		goto fail;
	}
	for (o = json_child(arr), i = 0; o != NULL; o = json_next(o), i++) {
		id = json_path_string(o, "id", NULL);
		ph = json_path_string(o, "phase", NULL);
		wave = json_get(o, "wave");
		sha = json_path_string(o, "sha256", NULL);
		pend = json_path_string(o, "pending", NULL);
		des = json_path_string(o, "desired", NULL);
		if (id == NULL || !id_valid(id) ||
		    ph == NULL || phase_parse(ph, &phase) == -1 ||
		    wave == NULL || json_type(wave) != JSON_NUMBER ||
		    json_number(wave) != (double)(long)json_number(wave) ||
		    (sha != NULL && !digest_ok(sha)) ||
		    (pend != NULL && !digest_ok(pend)) ||
		    (des != NULL && !digest_ok(des)) ||
		    entry_find(dt, id) != NULL) {
			xasprintf(cause, "inventory '%s': resources[%zu] is "
			    "not valid", dt->invpath, i);
			goto fail;
		}
		e = entry_add(dt, id, phase, (long)json_number(wave));
		if (sha != NULL)
			memcpy(e->sha256, sha, 65);
		if (des != NULL)
			memcpy(e->desired, des, 65);
		if (pend != NULL) {
			memcpy(e->pending, pend, 65);
			settle = xreallocarray(settle, nsettle + 1,
			    sizeof *settle);
			settle[nsettle++] = e;
		}
		memcpy(e->disk_sha256, e->sha256, 65);
		memcpy(e->disk_pending, e->pending, 65);
	}
	dt->dirty = 0;
	for (i = 0; i < nsettle; i++)
		entry_settle_from_disk(t, settle[i]);
	free(settle);
	json_free(doc);
	free(data);
	dt->loaded = 1;
	return (0);
fail:
	free(settle);
	free(err);
	json_free(doc);
	free(data);
	/* Leave nothing half-loaded. */
	settle = entries_sorted(dt, &nsettle);
	for (i = 0; i < nsettle; i++)
		entry_drop(dt, settle[i]);
	free(settle);
	dt->dirty = 0;
	return (-1);
}

static int
dir_get(struct target *t, const char *id, struct json **live, char **cause)
{
	char	*path, *data;
	size_t	 len;
	int	 rc;

	*live = NULL;
	if ((path = dir_path(t, id, cause)) == NULL)
		return (-1);
	rc = read_live(path, &data, &len, cause);
	if (rc == 0) {
		rc = parse_live(path, data, len, live, cause);
		free(data);
	} else if (rc == 1)
		rc = 0;
	free(path);
	return (rc);
}

/* A length or tag for the digest encoding, without printf's cost. */
static void
digest_add_len(struct buf *b, char tag, size_t n)
{
	char	tmp[24];
	size_t	i = sizeof tmp;

	tmp[--i] = ':';
	do {
		tmp[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n != 0);
	tmp[--i] = tag;
	buf_add(b, tmp + i, sizeof tmp - i);
}

/* An unambiguous encoding of a tree: tags, lengths and raw bytes. */
static void
digest_walk(struct buf *b, const struct json *j)
{
	const struct json	*c;
	const char		*str;
	char			 num[40];
	size_t			 len;
	int			 n;

	switch (json_type(j)) {
	case JSON_NULL:
		buf_addc(b, 'n');
		break;
	case JSON_FALSE:
		buf_addc(b, 'f');
		break;
	case JSON_TRUE:
		buf_addc(b, 't');
		break;
	case JSON_NUMBER:
		n = snprintf(num, sizeof num, "%.17g", json_number(j));
		digest_add_len(b, 'd', (size_t)n);
		buf_add(b, num, (size_t)n);
		break;
	case JSON_STRING:
		str = json_string(j);
		len = strlen(str);
		digest_add_len(b, 's', len);
		buf_add(b, str, len);
		break;
	case JSON_ARRAY:
	case JSON_OBJECT:
		buf_addc(b, json_type(j) == JSON_ARRAY ? '[' : '{');
		for (c = json_child(j); c != NULL; c = json_next(c)) {
			if (json_type(j) == JSON_OBJECT) {
				str = json_key(c);
				len = strlen(str);
				digest_add_len(b, 'k', len);
				buf_add(b, str, len);
			}
			digest_walk(b, c);
		}
		buf_addc(b, json_type(j) == JSON_ARRAY ? ']' : '}');
		break;
	default:
		buf_addc(b, '?');
		break;
	}
}

/*
 * Digest of the object a file was written from: cheaper to make than its
 * YAML, so the no-change path need not emit any.
 */
static void
object_digest(struct target *t, const struct json *obj, char sha[65])
{
	struct dir_target	*dt = t->arg;

	dt->scratch.len = 0;
	digest_walk(&dt->scratch, obj);
	sha256_hex(dt->scratch.data, dt->scratch.len, sha);
}

/*
 * The file still holds what the agent wrote for this very object: its
 * content hashes to what was written and the object to what it was
 * written from. Lets the common no-change case skip making YAML.
 */
static int
written_unchanged(struct target *t, const struct resource *r,
    const char *data, size_t len)
{
	struct dir_target	*dt = t->arg;
	struct dir_entry	*e;
	char			 sha[65], *cause = NULL;

	if (inventory_load(t, &cause) == -1) {
		free(cause);
		return (0);
	}
	if ((e = entry_find(dt, r->id)) == NULL || e->sha256[0] == '\0' ||
	    e->desired[0] == '\0' || e->pending[0] != '\0')
		return (0);
	sha256_hex(data, len, sha);
	if (strcmp(sha, e->sha256) != 0)
		return (0);
	object_digest(t, r->obj, sha);
	return (strcmp(sha, e->desired) == 0);
}

/*
 * The fast path of a sync with no changes: when the file holds exactly the
 * bytes apply would write, nothing is parsed. Otherwise the live file is
 * parsed and compared semantically (fields live has beyond desired are
 * not drift).
 */
static int
dir_compare(struct target *t, const struct resource *r,
    enum diff_action *action, struct json **live, char **cause)
{
	struct json	*obj = NULL;
	char		*path, *data = NULL, *want = NULL;
	size_t		 len;
	int		 rc;

	if ((path = dir_path(t, r->id, cause)) == NULL)
		return (-1);
	if ((rc = read_live(path, &data, &len, cause)) == -1)
		goto fail;
	if (rc == 1) {
		*action = DIFF_CREATE;
		free(path);
		return (0);
	}
	if (written_unchanged(t, r, data, len)) {
		*action = DIFF_UNCHANGED;
		free(data);
		free(path);
		return (0);
	}
	want = yaml_emit(r->obj);
	if (strlen(want) == len && memcmp(want, data, len) == 0)
		*action = DIFF_UNCHANGED;
	else {
		if (parse_live(path, data, len, &obj, cause) == -1)
			goto fail;
		*action = diff_equal(r->obj, obj) ? DIFF_UNCHANGED :
		    DIFF_UPDATE;
		if (*action == DIFF_UPDATE && live != NULL) {
			*live = obj;
			obj = NULL;
		}
	}
	json_free(obj);
	free(want);
	free(data);
	free(path);
	return (0);
fail:
	free(want);
	free(data);
	free(path);
	return (-1);
}

/* The inventory on disk accounts for a file holding these bytes. */
static int
entry_accounts(const struct dir_entry *e, const char *sha)
{
	return (strcmp(e->disk_sha256, sha) == 0 ||
	    strcmp(e->disk_pending, sha) == 0);
}

/* Record in memory that r is about to be written with digest sha. */
static struct dir_entry *
entry_intend(struct dir_target *dt, const struct resource *r,
    const char *sha)
{
	struct dir_entry	*e;

	if ((e = entry_find(dt, r->id)) == NULL)
		e = entry_add(dt, r->id, r->phase, r->wave);
	if (e->phase != r->phase || e->wave != r->wave) {
		e->phase = r->phase;
		e->wave = r->wave;
		dt->dirty = 1;
	}
	if (strcmp(e->pending, sha) != 0) {
		memcpy(e->pending, sha, 65);
		dt->dirty = 1;
	}
	return (e);
}

static int
dir_prepare(struct target *t, struct resource *const *v, size_t n,
    char **cause)
{
	struct dir_target	*dt = t->arg;
	struct dir_entry	*e;
	char			*text, sha[65];
	size_t			 i;
	int			 need = 0;

	if (inventory_load(t, cause) == -1)
		return (-1);
	for (i = 0; i < n; i++) {
		text = yaml_emit(v[i]->obj);
		sha256_hex(text, strlen(text), sha);
		free(text);
		e = entry_intend(dt, v[i], sha);
		if (!entry_accounts(e, sha))
			need = 1;
	}
	if (!need)
		return (0);
	return (inventory_write(t, cause));
}

static int
dir_apply(struct target *t, const struct resource *r, char **cause)
{
	struct dir_target	*dt = t->arg;
	struct dir_entry	*e;
	char			*path = NULL, *text = NULL, *data;
	char			*err = NULL, sha[65], got[65];
	size_t			 len, dlen;
	int			 rc;

	if (inventory_load(t, cause) == -1)
		return (-1);
	if ((path = dir_path(t, r->id, cause)) == NULL)
		return (-1);
	text = yaml_emit(r->obj);
	len = strlen(text);
	sha256_hex(text, len, sha);
	e = entry_intend(dt, r, sha);
	/* Record intent first, unless prepare already did. */
	if (!entry_accounts(e, sha) && inventory_write(t, cause) == -1)
		goto fail;
	if (file_write_atomic(path, text, len, 0644, cause) == 0) {
		memcpy(e->sha256, sha, 65);
		object_digest(t, r->obj, e->desired);
		e->pending[0] = '\0';
		dt->dirty = 1;
		free(text);
		free(path);
		return (0);
	}
	/*
	 * The write may have happened anyway (a failed sync of the
	 * directory after the rename): the inventory says what is there.
	 */
	rc = read_live(path, &data, &dlen, &err);
	free(err);
	if (rc == 0) {
		sha256_hex(data, dlen, got);
		free(data);
		if (strcmp(got, sha) == 0) {
			memcpy(e->sha256, sha, 65);
			object_digest(t, r->obj, e->desired);
		}
	}
	e->pending[0] = '\0';
	dt->dirty = 1;
	if (rc == 1 && e->sha256[0] == '\0')
		entry_drop(dt, e);
fail:
	free(text);
	free(path);
	return (-1);
}

/* Remove the kind and namespace directories if a delete emptied them. */
static void
remove_empty_dirs(const char *root, const char *id)
{
	char	*kind, *ns, *name, *rel, *dir;

	if (id_split(id, &kind, &ns, &name) == -1)
		return;
	xasprintf(&rel, "%s/%s", ns != NULL ? ns : CLUSTER_DIR, kind);
	dir = path_join(root, rel);
	if (rmdir(dir) == 0) {
		free(dir);
		dir = path_join(root, ns != NULL ? ns : CLUSTER_DIR);
		(void)rmdir(dir);
	}
	free(dir);
	free(rel);
	free(kind);
	free(ns);
	free(name);
}

static int
dir_remove(struct target *t, const char *id,
    enum target_remove_status *status, char **cause)
{
	struct dir_target	*dt = t->arg;
	struct dir_entry	*e;
	char			*path, *data = NULL, sha[65];
	size_t			 len;
	int			 rc;

	if (inventory_load(t, cause) == -1)
		return (-1);
	if ((e = entry_find(dt, id)) == NULL) {
		xasprintf(cause, "'%s' is not in the inventory of app '%s': "
		    "the agent did not write it", id, t->app);
		return (-1);
	}
	if ((path = dir_path(t, id, cause)) == NULL)
		return (-1);
	if ((rc = read_live(path, &data, &len, cause)) == -1) {
		free(path);
		return (-1);
	}
	if (rc == 1) {
		*status = TARGET_GONE;
		entry_drop(dt, e);
		free(path);
		return (0);
	}
	sha256_hex(data, len, sha);
	free(data);
	if (strcmp(sha, e->sha256) != 0 && strcmp(sha, e->pending) != 0) {
		*status = TARGET_KEPT;
		entry_drop(dt, e);
		free(path);
		return (0);
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		xasprintf(cause, "cannot remove '%s': %s", path,
		    strerror(errno));
		free(path);
		return (-1);
	}
	entry_drop(dt, e);
	*status = TARGET_REMOVED;
	rc = fsync_parent(path, cause);
	remove_empty_dirs(dt->root, id);
	free(path);
	return (rc);
}

/*
 * Health of a file: Healthy when it holds what desired says (byte for byte
 * or semantically), Missing when absent, Degraded when it holds something
 * else (changed under us since apply) or cannot be parsed.
 */
static int
dir_health(struct target *t, const struct resource *r,
    enum health_status *h, char **cause)
{
	struct json	*obj = NULL;
	char		*path, *data, *want, *err = NULL;
	size_t		 len;
	int		 rc;

	if ((path = dir_path(t, r->id, cause)) == NULL)
		return (-1);
	if ((rc = read_live(path, &data, &len, cause)) != 0) {
		free(path);
		if (rc == 1)
			*h = HEALTH_MISSING;
		return (rc == 1 ? 0 : -1);
	}
	want = NULL;
	if (written_unchanged(t, r, data, len))
		*h = HEALTH_HEALTHY;
	else if ((want = yaml_emit(r->obj)) != NULL && strlen(want) == len &&
	    memcmp(want, data, len) == 0)
		*h = HEALTH_HEALTHY;
	else if (parse_live(path, data, len, &obj, &err) == -1)
		*h = HEALTH_DEGRADED;
	else
		*h = diff_equal(r->obj, obj) ? HEALTH_HEALTHY :
		    HEALTH_DEGRADED;
	free(err);
	json_free(obj);
	free(want);
	free(data);
	free(path);
	return (0);
}

static int
dir_inventory(struct target *t, struct target_entry **out, size_t *nout,
    char **cause)
{
	struct dir_entry	**v;
	struct target_entry	 *te;
	size_t			  n, i;

	if (inventory_load(t, cause) == -1)
		return (-1);
	v = entries_sorted(t->arg, &n);
	te = xcalloc(n + 1, sizeof *te);
	for (i = 0; i < n; i++) {
		te[i].id = xstrdup(v[i]->id);
		te[i].phase = v[i]->phase;
		te[i].wave = v[i]->wave;
	}
	free(v);
	*out = te;
	*nout = n;
	return (0);
}

/*
 * At the end of a sync: a pending digest still in memory belongs to a
 * resource that was prepared but never written (the sync stopped first),
 * so it is forgotten; then the inventory is written if it changed.
 */
static int
dir_inventory_save(struct target *t, char **cause)
{
	struct dir_target	 *dt = t->arg;
	struct dir_entry	**v;
	size_t			  n, i;

	if (!dt->loaded)
		return (0);
	v = entries_sorted(dt, &n);
	for (i = 0; i < n; i++) {
		if (v[i]->pending[0] == '\0')
			continue;
		v[i]->pending[0] = '\0';
		dt->dirty = 1;
		if (v[i]->sha256[0] == '\0')
			entry_drop(dt, v[i]);
	}
	free(v);
	if (!dt->dirty)
		return (0);
	return (inventory_write(t, cause));
}
