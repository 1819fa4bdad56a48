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
 * The stat cache, as git's index: each entry also records what lstat said
 * of its file right after the agent put it in place (inode, size, mtime
 * and ctime to the nanosecond). A file that still says so holds the bytes
 * written, so compare and health need only the digest of the desired
 * object, never the file. An entry recorded no earlier than the
 * inventory on disk was written is "racy" (the file may have changed in
 * the same clock tick) and is checked by reading, as git does.
 *
 * Writes of a sync step are batched (target_begin, target_commit): each
 * apply only writes a temporary file; commit makes all their data durable
 * at once (syncfs), renames each into place, then syncs each directory
 * once. Readers still see an old or a new file, never a partial one, and
 * the intent is on disk before any rename. Outside a batch, apply writes
 * and syncs the file at once.
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

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gitops.h"

#define INVENTORY_DIR	".gitops-agent/inventory"
static int	 id_is_secret(const char *);
struct dir_target;
static void	 key_load(struct dir_target *);
#define CLUSTER_DIR	"_cluster"
/* Read with the same bound as the inventory itself (read_live). */
#define INVENTORY_MAX_SIZE	YAML_MAX_FILE_SIZE

/*
 * What lstat said of a file right after the agent renamed it into place,
 * as git's index records it: while the file still has this identity,
 * size and both times, it holds the bytes whose digest is sha256.
 */
struct dir_stat {
	int		 valid;
	uintmax_t	 ino;
	intmax_t	 size;
	struct timespec	 mtime;
	struct timespec	 ctime;
};

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
	struct dir_stat	 st;	/* of the file holding sha256 */
};

/* A write staged between begin and commit: a temporary file. */
struct dir_staged {
	char		*id;
	char		*path;
	char		*tmp;
	char		 sha256[65];
	char		 desired[65];
};

struct dir_target {
	char		*root;
	char		*invpath;
	int		 loaded;
	int		 dirty;
	/* id -> struct dir_entry *; NULL once forgotten */
	struct strmap	*by_id;
	struct buf	 scratch;	/* reused by object_digest */
	/*
	 * mtime of the inventory on disk, the reference of the racy check:
	 * a file whose recorded times are not older may have been changed
	 * in the same clock tick after it was recorded.
	 */
	struct timespec	 inv_mtime;
	int		 inv_mtime_ok;
	int		 batch;		/* between begin and commit */
	struct dir_staged *staged;
	size_t		 nstaged;
	struct target_dir_counts counts;
	/*
	 * What the other apps writing to this directory own (id -> app
	 * name in others_names), read once: an app never writes or deletes
	 * a file another app's inventory lists.
	 */
	struct strmap	*others;
	struct strv	 others_names;
	/* Object digests made ahead by dir_warm: id -> struct dir_digest. */
	struct strmap	*digests;
	struct dir_digest *digest_v;
	/*
	 * The key of a Secret's digests (HMAC-SHA256): an unsalted SHA-256
	 * of a Secret's bytes in the inventory would let anyone who reads it
	 * test guesses of the values. Kept in TARGET/.gitops-agent/key (0600)
	 * so every agent writing the target agrees; made at first use,
	 * written with the first inventory.
	 */
	unsigned char	 key[32];
	int		 key_loaded;
	int		 key_saved;
};

#define KEY_PATH	".gitops-agent/key"

struct dir_digest {
	const struct json	*obj;	/* the object it is the digest of */
	char			 sha[65];
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
static void	dir_begin(struct target *);
static int	dir_commit(struct target *, char **, char **);
static void	dir_free(struct target *);
static void	dir_warm(struct target *, struct resource *const *, size_t);
static void	staged_discard(struct target *);

static const struct target_ops dir_ops = {
	.name = "directory",
	.diff_mode = DIFF_EXACT,	/* a file holds what was written */
	.get = dir_get,
	.compare = dir_compare,
	.apply = dir_apply,
	.remove = dir_remove,
	.health = dir_health,
	.inventory = dir_inventory,
	.prepare = dir_prepare,
	.inventory_save = dir_inventory_save,
	.begin = dir_begin,
	.commit = dir_commit,
	.warm = dir_warm,
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
	key_load(dt);
	t = xcalloc(1, sizeof *t);
	t->ops = &dir_ops;
	t->app = xstrdup(app);
	t->label = xstrdup(path);
	t->namespace = xstrdup("default");
	t->arg = dt;
	return (t);
}

/* A core Secret's identity: "Secret/NAMESPACE/NAME". */
static int
id_is_secret(const char *id)
{
	return (strncmp(id, "Secret/", 7) == 0);
}

/* The key from the target, or a new one (saved by key_save). */
static void
key_load(struct dir_target *dt)
{
	char		*path, *data = NULL, *cause = NULL;
	size_t		 len, i;
	unsigned int	 byte;

	if (dt->key_loaded)
		return;
	dt->key_loaded = 1;
	path = path_join(dt->root, KEY_PATH);
	if (file_read(path, 1024, &data, &len, &cause) == 0 && len >= 64) {
		for (i = 0; i < 32; i++) {
			if (sscanf(data + 2 * i, "%2x", &byte) != 1)
				break;
			dt->key[i] = (unsigned char)byte;
		}
		if (i == 32)
			dt->key_saved = 1;
	}
	if (!dt->key_saved)
		arc4random_buf(dt->key, sizeof dt->key);
	if (data != NULL)
		explicit_bzero(data, len);
	free(data);
	free(cause);
	free(path);
}

/* The key on disk before any digest made with it is. */
static int
key_save(struct dir_target *dt, char **cause)
{
	char	*path, hex[65];
	size_t	 i;
	int	 rc;

	key_load(dt);
	if (dt->key_saved)
		return (0);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", dt->key[i]);
	hex[64] = '\n';
	path = path_join(dt->root, KEY_PATH);
	rc = file_write_atomic(path, hex, 65, 0600, cause);
	explicit_bzero(hex, sizeof hex);
	free(path);
	if (rc == 0)
		dt->key_saved = 1;
	return (rc);
}

/* The digest the inventory keeps of bytes: keyed for a Secret. */
static void
dir_hash(const struct dir_target *dt, int secret, const void *data,
    size_t len, char out[65])
{
	unsigned char	mac[32];
	size_t		i;

	if (!secret) {
		sha256_hex(data, len, out);
		return;
	}
	hmac_sha256(dt->key, sizeof dt->key, data, len, mac);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
	out[64] = '\0';
}

/*
 * The bytes hash to one of the inventory's digests (b may be NULL). For a
 * Secret, a plain SHA-256 counts too: an inventory written before its
 * digests were keyed still proves the file is ours, so it can be pruned.
 */
static int
dir_hash_matches(const struct dir_target *dt, int secret, const void *data,
    size_t len, const char *a, const char *b)
{
	char	sha[65];

	dir_hash(dt, secret, data, len, sha);
	if (strcmp(sha, a) == 0 || (b != NULL && strcmp(sha, b) == 0))
		return (1);
	if (!secret)
		return (0);
	sha256_hex(data, len, sha);
	return (strcmp(sha, a) == 0 || (b != NULL && strcmp(sha, b) == 0));
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
	staged_discard(t);
	free(dt->staged);
	while (strmap_next(dt->by_id, &cursor, NULL, &v)) {
		if ((e = v) != NULL) {
			free(e->id);
			free(e);
		}
	}
	strmap_free(dt->by_id);
	strmap_free(dt->others);
	strv_free(&dt->others_names);
	strmap_free(dt->digests);
	free(dt->digest_v);
	buf_free(&dt->scratch);
	explicit_bzero(dt->key, sizeof dt->key);
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
read_live(const char *path, char **out, size_t *outlen, struct stat *stp,
    char **cause)
{
	int	fd, rc;

	*out = NULL;
	*outlen = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno == ENOENT)
			return (1);
		xasprintf(cause, "cannot open '%s': %s", path, strerror(errno));
		return (-1);
	}
	rc = fd_read_all(fd, path, YAML_MAX_FILE_SIZE, out, outlen, stp,
	    cause);
	close(fd);
	return (rc);
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

static int
digest_ok(const char *s)
{
	size_t	i;

	for (i = 0; i < 64; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return (0);
	}
	return (s[64] == '\0');
}

static void
stat_set(struct dir_stat *ds, const struct stat *st)
{
	ds->valid = 1;
	ds->ino = (uintmax_t)st->st_ino;
	ds->size = (intmax_t)st->st_size;
	ds->mtime = st->st_mtim;
	ds->ctime = st->st_ctim;
}

/* Record what lstat says of a file the agent just put in place. */
static void
stat_record(struct dir_stat *ds, const char *path)
{
	struct stat	st;

	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
		stat_set(ds, &st);
	else
		ds->valid = 0;
}

static int
stat_equal(const struct dir_stat *a, const struct dir_stat *b)
{
	return (a->valid && b->valid && a->ino == b->ino &&
	    a->size == b->size &&
	    a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec &&
	    a->ctime.tv_sec == b->ctime.tv_sec &&
	    a->ctime.tv_nsec == b->ctime.tv_nsec);
}

static int
ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return (a->tv_sec < b->tv_sec ? -1 : 1);
	if (a->tv_nsec != b->tv_nsec)
		return (a->tv_nsec < b->tv_nsec ? -1 : 1);
	return (0);
}

/*
 * In the inventory: "INO SIZE MTIME CTIME", times as SEC.NSEC, in a
 * string because JSON numbers are doubles.
 */
static void
stat_format(const struct dir_stat *ds, char *out, size_t size)
{
	snprintf(out, size, "%ju %jd %jd.%09ld %jd.%09ld", ds->ino,
	    ds->size, (intmax_t)ds->mtime.tv_sec, ds->mtime.tv_nsec,
	    (intmax_t)ds->ctime.tv_sec, ds->ctime.tv_nsec);
}

static int
stat_parse_num(const char **sp, char end, intmax_t min, uintmax_t *out)
{
	const char	*s = *sp;
	uintmax_t	 v = 0;

	if (*s < '0' || *s > '9')
		return (-1);
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINTMAX_MAX - 9) / 10)
			return (-1);
		v = v * 10 + (uintmax_t)(*s - '0');
	}
	if (*s != end || v < (uintmax_t)min)
		return (-1);
	*sp = end == '\0' ? s : s + 1;
	*out = v;
	return (0);
}

static int
stat_parse_time(const char **sp, char end, struct timespec *ts)
{
	uintmax_t	sec, nsec;
	const char	*s;

	if (stat_parse_num(sp, '.', 0, &sec) == -1 || sec > INT64_MAX)
		return (-1);
	s = *sp;
	if (strspn(s, "0123456789") != 9)
		return (-1);
	if (stat_parse_num(sp, end, 0, &nsec) == -1 || nsec > 999999999)
		return (-1);
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = (long)nsec;
	return (0);
}

static int
stat_parse(const char *s, struct dir_stat *ds)
{
	uintmax_t	ino, size;

	if (stat_parse_num(&s, ' ', 0, &ino) == -1 ||
	    stat_parse_num(&s, ' ', 0, &size) == -1 ||
	    size > INTMAX_MAX ||
	    stat_parse_time(&s, ' ', &ds->mtime) == -1 ||
	    stat_parse_time(&s, '\0', &ds->ctime) == -1)
		return (-1);
	ds->ino = ino;
	ds->size = (intmax_t)size;
	ds->valid = 1;
	return (0);
}

/*
 * Racy, as git calls it: recorded no earlier than the inventory on disk
 * was written (or with none written since), so the file may have been
 * changed after it was recorded within the same tick of the file system's
 * clock, keeping the times recorded. Such an entry is checked by reading.
 */
static int
entry_racy(const struct dir_target *dt, const struct dir_entry *e)
{
	if (!dt->inv_mtime_ok)
		return (1);
	return (ts_cmp(&e->st.mtime, &dt->inv_mtime) >= 0 ||
	    ts_cmp(&e->st.ctime, &dt->inv_mtime) >= 0);
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
/*
 * The inventory is JSON Lines: a header {"app", "format"}, then one
 * object per resource, so it can be read a line at a time and still be
 * read by jq.
 */
#define INVENTORY_FORMAT	"gitops-agent inventory 1"

/* The next non-empty line of data from *off; 0 at the end. */
static int
inventory_next_line(const char *data, size_t len, size_t *off,
    const char **line, size_t *linelen)
{
	const char	*nl;

	while (*off < len) {
		*line = data + *off;
		nl = memchr(*line, '\n', len - *off);
		*linelen = nl != NULL ? (size_t)(nl - *line) : len - *off;
		*off += *linelen + (nl != NULL ? 1 : 0);
		if (*linelen != 0)
			return (1);
	}
	return (0);
}

static int
inventory_header_ok(const struct json *o)
{
	const char	*format = json_path_string(o, "format", NULL);

	return (json_path_string(o, "app", NULL) != NULL && format != NULL &&
	    strcmp(format, INVENTORY_FORMAT) == 0);
}

static int
inventory_write(struct target *t, char **cause)
{
	struct dir_target	 *dt = t->arg;
	struct dir_entry	**v;
	struct json		 *o;
	struct stat		  st;
	struct buf		  b;
	char			 *text, stbuf[128];
	size_t			  n, i;
	int			  rc;

	v = entries_sorted(dt, &n);
	buf_init(&b);
	o = json_new_object();
	json_set(o, "app", json_new_string(t->app));
	json_set(o, "format", json_new_string(INVENTORY_FORMAT));
	text = json_print(o, 0);
	buf_adds(&b, text);
	buf_addc(&b, '\n');
	free(text);
	json_free(o);
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
		if (v[i]->st.valid && v[i]->sha256[0] != '\0') {
			stat_format(&v[i]->st, stbuf, sizeof stbuf);
			json_set(o, "stat", json_new_string(stbuf));
		}
		text = json_print(o, 0);
		buf_adds(&b, text);
		buf_addc(&b, '\n');
		free(text);
		json_free(o);
	}
	/* The key first: the digests in this inventory need it. */
	rc = key_save(dt, cause);
	if (rc == 0)
		rc = file_write_atomic(dt->invpath, b.data, b.len, 0600,
		    cause);
	buf_free(&b);
	if (rc == 0) {
		for (i = 0; i < n; i++) {
			memcpy(v[i]->disk_sha256, v[i]->sha256, 65);
			memcpy(v[i]->disk_pending, v[i]->pending, 65);
		}
		dt->dirty = 0;
		dt->inv_mtime_ok = stat(dt->invpath, &st) == 0;
		if (dt->inv_mtime_ok)
			dt->inv_mtime = st.st_mtim;
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
	rc = read_live(path, &data, &len, NULL, &cause);
	free(cause);
	free(path);
	if (rc == 0) {
		dir_hash(dt, id_is_secret(e->id), data, len, sha);
		free(data);
		/* Written from an object we no longer know the digest of. */
		if (strcmp(sha, e->pending) == 0 &&
		    strcmp(sha, e->sha256) != 0) {
			memcpy(e->sha256, sha, 65);
			e->desired[0] = '\0';
			e->st.valid = 0;
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
	struct json		 *o = NULL;
	const char		 *id, *ph, *sha, *pend, *des, *stat, *line;
	struct json		 *wave;
	struct stat		  invst;
	struct dir_stat		  ds;
	char			 *data = NULL, *err = NULL;
	size_t			  len, linelen, off = 0, lineno = 0, i;
	size_t			  nsettle = 0;
	enum hook_phase		  phase;
	int			  rc;

	if (dt->loaded)
		return (0);
	if (!component_ok(t->app, strlen(t->app))) {
		xasprintf(cause, "invalid app name '%s' for directory target "
		    "'%s'", t->app, dt->root);
		return (-1);
	}
	rc = read_live(dt->invpath, &data, &len, &invst, cause);
	if (rc == -1)
		return (-1);
	if (rc == 1) {
		dt->loaded = 1;
		return (0);
	}
	/* One line at a time: a large inventory is never one big tree. */
	while (inventory_next_line(data, len, &off, &line, &linelen)) {
		lineno++;
		if ((o = json_parse(line, linelen, &err)) == NULL) {
			xasprintf(cause, "cannot parse inventory '%s': line "
			    "%zu: %s", dt->invpath, lineno, err);
			goto fail;
		}
		if (lineno == 1) {
			if (!inventory_header_ok(o)) {
				xasprintf(cause, "inventory '%s': line 1 is "
				    "not a \"%s\" header", dt->invpath,
				    INVENTORY_FORMAT);
				goto fail;
			}
			json_free(o);
			o = NULL;
			continue;
		}
		id = json_path_string(o, "id", NULL);
		ph = json_path_string(o, "phase", NULL);
		wave = json_get(o, "wave");
		sha = json_path_string(o, "sha256", NULL);
		pend = json_path_string(o, "pending", NULL);
		des = json_path_string(o, "desired", NULL);
		stat = json_path_string(o, "stat", NULL);
		ds.valid = 0;
		if (id == NULL || !id_valid(id) ||
		    ph == NULL || phase_parse(ph, &phase) == -1 ||
		    wave == NULL || json_type(wave) != JSON_NUMBER ||
		    !(fabs(json_number(wave)) <= 2147483647.0) ||
		    json_number(wave) != (double)(long)json_number(wave) ||
		    (sha != NULL && !digest_ok(sha)) ||
		    (pend != NULL && !digest_ok(pend)) ||
		    (des != NULL && !digest_ok(des)) ||
		    (stat != NULL && stat_parse(stat, &ds) == -1) ||
		    entry_find(dt, id) != NULL) {
			xasprintf(cause, "inventory '%s': line %zu is not a "
			    "valid entry", dt->invpath, lineno);
			goto fail;
		}
		e = entry_add(dt, id, phase, (long)json_number(wave));
		if (sha != NULL)
			memcpy(e->sha256, sha, 65);
		if (des != NULL)
			memcpy(e->desired, des, 65);
		if (sha != NULL)
			e->st = ds;
		if (pend != NULL) {
			memcpy(e->pending, pend, 65);
			settle = xreallocarray(settle, nsettle + 1,
			    sizeof *settle);
			settle[nsettle++] = e;
		}
		memcpy(e->disk_sha256, e->sha256, 65);
		memcpy(e->disk_pending, e->pending, 65);
		json_free(o);
		o = NULL;
	}
	if (lineno == 0) {
		xasprintf(cause, "inventory '%s' is empty", dt->invpath);
		goto fail;
	}
	free(data);
	data = NULL;
	dt->dirty = 0;
	dt->inv_mtime = invst.st_mtim;
	dt->inv_mtime_ok = 1;
	for (i = 0; i < nsettle; i++)
		entry_settle_from_disk(t, settle[i]);
	free(settle);
	dt->loaded = 1;
	return (0);
fail:
	json_free(o);
	free(settle);
	free(err);
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
	rc = read_live(path, &data, &len, NULL, cause);
	if (rc == 0) {
		rc = parse_live(path, data, len, live, cause);
		free(data);
	} else if (rc == 1)
		rc = 0;
	free(path);
	return (rc);
}

/*
 * The digest encoding is written straight into the scratch buffer (it
 * runs for every node of every object on each compare): room first, then
 * plain stores.
 */
static void
digest_reserve(struct buf *b, size_t n)
{
	size_t	size;

	if (b->size - b->len >= n)
		return;
	size = b->size != 0 ? b->size : 65536;
	while (size - b->len < n)
		size *= 2;
	b->data = xrealloc(b->data, size);
	b->size = size;
}

/* A tag, a length and ':', then len bytes: "s5:hello". */
static void
digest_add(struct buf *b, char tag, const char *s, size_t len)
{
	char	tmp[24];
	size_t	i = sizeof tmp, n = len;

	tmp[--i] = ':';
	do {
		tmp[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n != 0);
	tmp[--i] = tag;
	digest_reserve(b, sizeof tmp - i + len);
	memcpy(b->data + b->len, tmp + i, sizeof tmp - i);
	b->len += sizeof tmp - i;
	memcpy(b->data + b->len, s, len);
	b->len += len;
}

static void
digest_addc(struct buf *b, char c)
{
	digest_reserve(b, 1);
	b->data[b->len++] = c;
}

/*
 * A number as "%.17g" prints it; integers below 10^15 (ports, replicas,
 * sizes: nearly all of them) are the same digits, made without printf.
 */
static void
digest_number(struct buf *b, double d)
{
	char		 num[40];
	uint64_t	 u;
	size_t		 i = sizeof num;
	int		 n, neg;

	/* The range first: converting NaN or a huge value is undefined. */
	if (d > -1e15 && d < 1e15 && d == (double)(int64_t)d &&
	    !(d == 0 && signbit(d))) {
		neg = d < 0;
		u = (uint64_t)(neg ? -d : d);
		do {
			num[--i] = (char)('0' + u % 10);
			u /= 10;
		} while (u != 0);
		if (neg)
			num[--i] = '-';
		digest_add(b, 'd', num + i, sizeof num - i);
		return;
	}
	n = snprintf(num, sizeof num, "%.17g", d);
	digest_add(b, 'd', num, (size_t)n);
}

/* An unambiguous encoding of a tree: tags, lengths and raw bytes. */
static void
digest_walk(struct buf *b, const struct json *j)
{
	const struct json	*c;
	const char		*str;
	enum json_type		 type = json_type(j);

	switch (type) {
	case JSON_NULL:
		digest_addc(b, 'n');
		break;
	case JSON_FALSE:
		digest_addc(b, 'f');
		break;
	case JSON_TRUE:
		digest_addc(b, 't');
		break;
	case JSON_NUMBER:
		digest_number(b, json_number(j));
		break;
	case JSON_STRING:
		str = json_string(j);
		digest_add(b, 's', str, strlen(str));
		break;
	case JSON_ARRAY:
		digest_addc(b, '[');
		for (c = json_child(j); c != NULL; c = json_next(c))
			digest_walk(b, c);
		digest_addc(b, ']');
		break;
	case JSON_OBJECT:
		digest_addc(b, '{');
		for (c = json_child(j); c != NULL; c = json_next(c)) {
			str = json_key(c);
			digest_add(b, 'k', str, strlen(str));
			digest_walk(b, c);
		}
		digest_addc(b, '}');
		break;
	default:
		digest_addc(b, '?');
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
	dir_hash(dt, diff_is_secret(obj), dt->scratch.data, dt->scratch.len,
	    sha);
}

/* The digest of r's object, made ahead by dir_warm when it could be. */
static void
resource_digest(struct target *t, const struct resource *r, char sha[65])
{
	struct dir_target	*dt = t->arg;
	struct dir_digest	*d;

	if (dt->digests != NULL &&
	    (d = strmap_get(dt->digests, r->id)) != NULL && d->obj == r->obj) {
		memcpy(sha, d->sha, 65);
		return;
	}
	object_digest(t, r->obj, sha);
}

struct digest_job {
	const struct dir_target	*dt;
	struct resource *const	*v;
	struct dir_digest	*out;
	size_t			 n;
};

static void *
digest_job_run(void *arg)
{
	struct digest_job	*job = arg;
	struct buf		 b;
	size_t			 i;

	buf_init(&b);
	for (i = 0; i < job->n; i++) {
		b.len = 0;
		digest_walk(&b, job->v[i]->obj);
		dir_hash(job->dt, diff_is_secret(job->v[i]->obj), b.data, b.len,
		    job->out[i].sha);
		job->out[i].obj = job->v[i]->obj;
	}
	buf_free(&b);
	return (NULL);
}

/*
 * Digest every object about to be compared, half on a second thread: on
 * a sync with nothing to change, digests are most of what is left once
 * the stat cache spares reading the files.
 */
static void
dir_warm(struct target *t, struct resource *const *v, size_t n)
{
	struct dir_target	*dt = t->arg;
	struct digest_job	 jobs[2];
	sigset_t		 all, old;
	pthread_t		 thread;
	size_t			 i, half = n / 2;
	int			 threaded = 0;

	strmap_free(dt->digests);
	free(dt->digest_v);
	dt->digest_v = xcalloc(n + 1, sizeof *dt->digest_v);
	jobs[0].dt = jobs[1].dt = dt;
	jobs[0].v = v;
	jobs[0].out = dt->digest_v;
	jobs[0].n = half;
	jobs[1].v = v + half;
	jobs[1].out = dt->digest_v + half;
	jobs[1].n = n - half;
	if (n >= 512) {
		/* The daemon handles signals on its own thread only. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		threaded = pthread_create(&thread, NULL, digest_job_run,
		    &jobs[1]) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	digest_job_run(&jobs[0]);
	if (threaded)
		pthread_join(thread, NULL);
	else
		digest_job_run(&jobs[1]);
	dt->digests = strmap_new(n);
	for (i = 0; i < n; i++)
		strmap_put(dt->digests, v[i]->id, &dt->digest_v[i]);
}

/*
 * The entry for r, if it says which bytes its file holds and from which
 * object they were made (no write under way).
 */
static struct dir_entry *
entry_written(struct target *t, const struct resource *r)
{
	struct dir_target	*dt = t->arg;
	struct dir_entry	*e;
	char			*cause = NULL;

	if (inventory_load(t, &cause) == -1) {
		free(cause);
		return (NULL);
	}
	if ((e = entry_find(dt, r->id)) == NULL || e->sha256[0] == '\0' ||
	    e->desired[0] == '\0' || e->pending[0] != '\0')
		return (NULL);
	return (e);
}

/*
 * The stat cache: the file (lstat'ed, st) still has the identity, size
 * and times recorded when the agent wrote it, so it holds the bytes
 * written, and they were made from this very object: unchanged, without
 * reading the file. What it cannot see is what git's index cannot
 * either: a change that keeps inode, size, mtime and ctime (ctime can
 * only be set by the kernel: it needs changing the clock), or one made
 * in the same clock tick as the write and before the inventory was
 * written in a later tick.
 */
static int
stat_unchanged(struct target *t, const struct resource *r,
    const struct stat *st)
{
	struct dir_target	*dt = t->arg;
	struct dir_entry	*e;
	struct dir_stat		 ds;
	char			 sha[65];

	if ((e = entry_written(t, r)) == NULL || !e->st.valid ||
	    !S_ISREG(st->st_mode) || entry_racy(dt, e))
		return (0);
	stat_set(&ds, st);
	if (!stat_equal(&ds, &e->st))
		return (0);
	resource_digest(t, r, sha);
	if (strcmp(sha, e->desired) != 0)
		return (0);
	dt->counts.stat_hits++;
	return (1);
}

/*
 * The file (read, with st from the same descriptor) still holds what the
 * agent wrote for this very object: its content hashes to what was
 * written and the object to what it was written from. Lets the common
 * no-change case skip making YAML. A file found holding what was written
 * has its stat data refreshed in memory, as git refreshes its index, so
 * that the stat cache answers for it once the inventory is next written;
 * not marked dirty: a sync with nothing to change writes nothing.
 */
static int
written_unchanged(struct target *t, const struct resource *r,
    const char *data, size_t len, const struct stat *st)
{
	struct dir_entry	*e;
	struct dir_stat		 ds;
	char			 sha[65];

	if ((e = entry_written(t, r)) == NULL)
		return (0);
	dir_hash(t->arg, id_is_secret(r->id), data, len, sha);
	if (strcmp(sha, e->sha256) != 0)
		return (0);
	stat_set(&ds, st);
	e->st = ds;
	resource_digest(t, r, sha);
	return (strcmp(sha, e->desired) == 0);
}

/* The file holds the very bytes the agent last wrote for r's identity. */
static int
holds_written(struct target *t, const struct resource *r, const char *data,
    size_t len)
{
	struct dir_entry	*e;

	if ((e = entry_written(t, r)) == NULL || e->sha256[0] == '\0')
		return (0);
	return (dir_hash_matches(t->arg, id_is_secret(r->id), data, len,
	    e->sha256, NULL));
}

/*
 * lstat of a live file: 1 when it does not exist, 0 with *st, -1 when
 * it cannot be told (the reading that follows says why).
 */
static int
live_lstat(const char *path, struct stat *st)
{
	if (lstat(path, st) == 0)
		return (0);
	return (errno == ENOENT ? 1 : -1);
}

/*
 * The fast path of a sync with no changes: when the stat cache says the
 * file is as written, it is not even read; when it holds exactly the
 * bytes apply would write, nothing is parsed. Otherwise the live file is
 * parsed and compared semantically (fields live has beyond desired are
 * not drift).
 */
/* Read the inventories of the other apps in this directory, once. */
static void
others_load(struct target *t)
{
	struct dir_target	*dt = t->arg;
	struct dirent		*de;
	struct json		*item;
	DIR			*d;
	const char		*id, *line;
	char			*dir, *path, *data, *err, *app;
	size_t			 len, n, off, linelen;

	if (dt->others != NULL)
		return;
	dt->others = strmap_new(16);
	dir = path_join(dt->root, INVENTORY_DIR);
	if ((d = opendir(dir)) == NULL) {
		free(dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n <= 5 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		app = xstrndup(de->d_name, n - 5);
		if (strcmp(app, t->app) == 0) {
			free(app);
			continue;
		}
		path = path_join(dir, de->d_name);
		err = NULL;
		strv_add(&dt->others_names, app);
		if (file_read(path, INVENTORY_MAX_SIZE, &data, &len,
		    &err) == -1) {
			/* Unreadable: its owner's own sync reports it. */
			log_event(LOG_LEVEL_WARN,
			    "cannot read the inventory of another app",
			    "target", dt->root, "app", t->app, "other", app,
			    "error", err, NULL);
			data = NULL;
			len = 0;
		}
		off = 0;
		while (inventory_next_line(data, len, &off, &line,
		    &linelen)) {
			char *perr = NULL;

			item = json_parse(line, linelen, &perr);
			free(perr);
			if ((id = json_path_string(item, "id", NULL)) != NULL)
				strmap_put(dt->others, id,
				    dt->others_names.v[dt->others_names.n - 1]);
			json_free(item);
		}
		free(data);
		free(err);
		free(path);
		free(app);
	}
	closedir(d);
	free(dir);
}

/* The other app whose inventory lists id, or NULL. */
static const char *
other_owner(struct target *t, const char *id)
{
	struct dir_target	*dt = t->arg;

	others_load(t);
	return (strmap_get(dt->others, id));
}

static int
dir_compare(struct target *t, const struct resource *r,
    enum diff_action *action, struct json **live, char **cause)
{
	struct dir_target	*dt = t->arg;
	struct json		*obj = NULL;
	struct stat		 st;
	const char		*owner;
	enum diff_mode		 mode;
	char			*path, *data = NULL, *want = NULL;
	size_t			 len;
	int			 rc;

	if ((owner = other_owner(t, r->id)) != NULL) {
		xasprintf(cause, "'%s' belongs to app '%s', which writes to "
		    "the same directory: one resource cannot belong to two "
		    "apps", r->id, owner);
		return (-1);
	}
	if ((path = dir_path(t, r->id, cause)) == NULL)
		return (-1);
	if ((rc = live_lstat(path, &st)) == 0 && stat_unchanged(t, r, &st)) {
		*action = DIFF_UNCHANGED;
		free(path);
		return (0);
	}
	if (rc != 1)
		rc = read_live(path, &data, &len, &st, cause);
	if (rc == -1)
		goto fail;
	if (rc == 1) {
		*action = DIFF_CREATE;
		free(path);
		return (0);
	}
	dt->counts.reads++;
	if (written_unchanged(t, r, data, len, &st)) {
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
		/*
		 * Three-way, as kubectl apply: a file still holding what the
		 * agent wrote has nothing but fields from Git, so compare all
		 * of it and a field removed from Git is a change. A file
		 * someone else changed may carry fields of theirs (as a
		 * server adds defaults): only what desired declares counts.
		 */
		mode = holds_written(t, r, data, len) ? DIFF_EXACT :
		    DIFF_PROJECT;
		*action = diff_equal_mode(r->obj, obj, mode) ?
		    DIFF_UNCHANGED : DIFF_UPDATE;
		if (*action == DIFF_UPDATE && live != NULL) {
			/* sync diffs exactly (diff_mode): hand it the view. */
			*live = mode == DIFF_EXACT ? obj :
			    diff_project(r->obj, obj);
			if (mode == DIFF_EXACT)
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
		dir_hash(dt, id_is_secret(v[i]->id), text, strlen(text), sha);
		free(text);
		e = entry_intend(dt, v[i], sha);
		if (!entry_accounts(e, sha))
			need = 1;
	}
	if (!need)
		return (0);
	return (inventory_write(t, cause));
}

/*
 * A write that failed, or was staged and never put in place: forget the
 * intent, keeping what the inventory says is there.
 */
static void
entry_abandon(struct dir_target *dt, struct dir_entry *e)
{
	e->pending[0] = '\0';
	dt->dirty = 1;
	if (e->sha256[0] == '\0')
		entry_drop(dt, e);
}

/* A write is in place: the entry says what the file holds. */
static void
entry_written_as(struct dir_target *dt, struct dir_entry *e,
    const char *path, const char *sha, const char *desired)
{
	memcpy(e->sha256, sha, 65);
	memcpy(e->desired, desired, 65);
	e->pending[0] = '\0';
	stat_record(&e->st, path);
	dt->dirty = 1;
}

/*
 * Between begin and commit a write only goes as far as a temporary file;
 * otherwise it is written in place at once (file_write_atomic).
 */
static int
dir_apply(struct target *t, const struct resource *r, char **cause)
{
	struct dir_target	*dt = t->arg;
	struct dir_entry	*e;
	struct dir_staged	*sg;
	char			*path = NULL, *text = NULL, *data, *tmp;
	char			*err = NULL, sha[65], got[65], desired[65];
	size_t			 len, dlen;
	mode_t			 mode;
	int			 rc;

	if (inventory_load(t, cause) == -1)
		return (-1);
	if ((path = dir_path(t, r->id, cause)) == NULL)
		return (-1);
	text = yaml_emit(r->obj);
	len = strlen(text);
	/* A Secret's file is readable by its owner only. */
	mode = diff_is_secret(r->obj) ? 0600 : 0644;
	dir_hash(dt, id_is_secret(r->id), text, len, sha);
	resource_digest(t, r, desired);
	e = entry_intend(dt, r, sha);
	/* Record intent first, unless prepare already did. */
	if (!entry_accounts(e, sha) && inventory_write(t, cause) == -1)
		goto fail;
	if (dt->batch) {
		if (file_write_temp(path, text, len, mode, &tmp, cause) ==
		    -1) {
			entry_abandon(dt, e);
			goto fail;
		}
		dt->staged = xreallocarray(dt->staged, dt->nstaged + 1,
		    sizeof *dt->staged);
		sg = &dt->staged[dt->nstaged++];
		sg->id = xstrdup(r->id);
		sg->path = path;
		sg->tmp = tmp;
		memcpy(sg->sha256, sha, 65);
		memcpy(sg->desired, desired, 65);
		free(text);
		return (0);
	}
	if (file_write_atomic(path, text, len, mode, cause) == 0) {
		entry_written_as(dt, e, path, sha, desired);
		free(text);
		free(path);
		return (0);
	}
	/*
	 * The write may have happened anyway (a failed sync of the
	 * directory after the rename): the inventory says what is there.
	 */
	rc = read_live(path, &data, &dlen, NULL, &err);
	free(err);
	if (rc == 0) {
		dir_hash(dt, id_is_secret(r->id), data, dlen, got);
		free(data);
		if (strcmp(got, sha) == 0)
			entry_written_as(dt, e, path, sha, desired);
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

static void
dir_begin(struct target *t)
{
	struct dir_target	*dt = t->arg;

	dt->batch = 1;
}

static void
staged_free(struct dir_staged *sg)
{
	free(sg->id);
	free(sg->path);
	free(sg->tmp);
}

/* Staged writes from sg on are dropped: temporary files and intent. */
static void
staged_drop_from(struct target *t, size_t from)
{
	struct dir_target	*dt = t->arg;
	struct dir_entry	*e;
	size_t			 i;

	for (i = from; i < dt->nstaged; i++) {
		(void)unlink(dt->staged[i].tmp);
		if ((e = entry_find(dt, dt->staged[i].id)) != NULL &&
		    strcmp(e->pending, dt->staged[i].sha256) == 0)
			entry_abandon(dt, e);
	}
}

static void
staged_clear(struct target *t)
{
	struct dir_target	*dt = t->arg;
	size_t			 i;

	for (i = 0; i < dt->nstaged; i++)
		staged_free(&dt->staged[i]);
	dt->nstaged = 0;
	dt->batch = 0;
}

/* Begun and never committed: nothing staged becomes visible. */
static void
staged_discard(struct target *t)
{
	staged_drop_from(t, 0);
	staged_clear(t);
}

/* The directory a path is in (allocated). */
static char *
parent_dir(const char *path)
{
	const char	*slash;

	if ((slash = strrchr(path, '/')) == NULL)
		return (xstrdup("."));
	if (slash == path)
		return (xstrdup("/"));
	return (xstrndup(path, (size_t)(slash - path)));
}

/*
 * Put every staged write in place, durably, with two waits on the disk
 * instead of two per file: the data of all the temporary files is made
 * durable at once (syncfs; an fsync of each where there is none), then
 * each is renamed into place, then each directory holding one is synced
 * once, which makes the renames durable. A reader sees the old or the new
 * file throughout. The intent is already in the inventory on disk
 * (prepare or apply wrote it before any temporary file).
 *
 * On failure: nothing staged is left as a temporary file; what was
 * renamed is recorded as written, the rest is forgotten as intent; *id
 * names the resource whose rename failed (a failed sync names none).
 */
static int
dir_commit(struct target *t, char **id, char **cause)
{
	struct dir_target	*dt = t->arg;
	struct dir_staged	*sg;
	struct dir_entry	*e;
	struct strmap		*dirs = NULL;
	char			*dir, *err = NULL;
	size_t			 i, cursor = 0;
	int			 rc;

	if (dt->nstaged == 0) {
		dt->batch = 0;
		return (0);
	}
	if ((rc = file_syncfs(dt->root, cause)) == 0)
		dt->counts.syncfs++;
	else if (rc == 1) {
		for (i = 0; i < dt->nstaged; i++) {
			dt->counts.file_syncs++;
			if (file_sync(dt->staged[i].tmp, cause) == -1)
				break;
		}
		rc = i < dt->nstaged ? -1 : 0;
	}
	if (rc == -1) {
		staged_discard(t);
		return (-1);
	}

	dirs = strmap_new(16);
	for (i = 0; i < dt->nstaged; i++) {
		sg = &dt->staged[i];
		e = entry_find(dt, sg->id);
		if (e == NULL || strcmp(e->pending, sg->sha256) != 0) {
			/* Not ours any more (removed meanwhile): drop it. */
			(void)unlink(sg->tmp);
			continue;
		}
		if (rename(sg->tmp, sg->path) == -1) {
			xasprintf(cause, "cannot rename '%s' to '%s': %s",
			    sg->tmp, sg->path, strerror(errno));
			*id = xstrdup(sg->id);
			rc = -1;
			break;
		}
		entry_written_as(dt, e, sg->path, sg->sha256, sg->desired);
		dir = parent_dir(sg->path);
		if (strmap_get(dirs, dir) == NULL)
			strmap_put(dirs, dir, dirs);
		free(dir);
	}
	if (rc == -1)
		staged_drop_from(t, i);
	while (strmap_next(dirs, &cursor, (const char **)&dir, NULL)) {
		dt->counts.dir_syncs++;
		if (file_sync_dir(dir, rc == 0 ? cause : &err) == -1)
			rc = -1;
		free(err);
		err = NULL;
	}
	strmap_free(dirs);
	staged_clear(t);
	return (rc);
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
	char			*path, *data = NULL;
	size_t			 len;
	int			 rc;

	if (inventory_load(t, cause) == -1)
		return (-1);
	if ((e = entry_find(dt, id)) == NULL) {
		xasprintf(cause, "'%s' is not in the inventory of app '%s': "
		    "the agent did not write it", id, t->app);
		return (-1);
	}
	if (other_owner(t, id) != NULL) {
		/* Another app holds it now: forget it, delete nothing. */
		log_event(LOG_LEVEL_WARN, "not pruned: another app owns it",
		    "target", dt->root, "app", t->app, "resource", id, "owner",
		    other_owner(t, id), NULL);
		*status = TARGET_KEPT;
		entry_drop(dt, e);
		return (0);
	}
	if ((path = dir_path(t, id, cause)) == NULL)
		return (-1);
	if ((rc = read_live(path, &data, &len, NULL, cause)) == -1) {
		free(path);
		return (-1);
	}
	if (rc == 1) {
		*status = TARGET_GONE;
		entry_drop(dt, e);
		free(path);
		return (0);
	}
	if (!dir_hash_matches(dt, id_is_secret(id), data, len, e->sha256,
	    e->pending)) {
		free(data);
		*status = TARGET_KEPT;
		entry_drop(dt, e);
		free(path);
		return (0);
	}
	free(data);
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
	struct dir_target	*dt = t->arg;
	struct json		*obj = NULL;
	struct stat		 st;
	char			*path, *data, *want, *err = NULL;
	size_t			 len;
	int			 rc;

	if ((path = dir_path(t, r->id, cause)) == NULL)
		return (-1);
	if ((rc = live_lstat(path, &st)) == 0 && stat_unchanged(t, r, &st)) {
		*h = HEALTH_HEALTHY;
		free(path);
		return (0);
	}
	if (rc != 1)
		rc = read_live(path, &data, &len, &st, cause);
	if (rc != 0) {
		free(path);
		if (rc == 1)
			*h = HEALTH_MISSING;
		return (rc == 1 ? 0 : -1);
	}
	dt->counts.reads++;
	want = NULL;
	if (written_unchanged(t, r, data, len, &st))
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

	staged_discard(t);
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

void
target_dir_counts(struct target *t, struct target_dir_counts *c)
{
	struct dir_target	*dt = t->arg;

	*c = dt->counts;
}

/*
 * A temporary file of ours: what file_write_temp or file_write_atomic
 * made of a resource's YAML or the inventory's JSON, and a crash left.
 */
static int
sweep_candidate(const char *name)
{
	size_t	n = strlen(name) - (sizeof FILE_TEMP_SUFFIX - 1);

	return (file_is_temp(name) && n > 5 &&
	    (strncmp(name + n - 5, ".yaml", 5) == 0 ||
	    strncmp(name + n - 5, ".json", 5) == 0));
}

/*
 * Remove our temporary files under the directory dfd (closed here), as
 * deep as the target's layout goes (NAMESPACE/Kind/NAME.yaml.tmp.X and
 * .gitops-agent/inventory/APP.json.tmp.X): symbolic links are never
 * followed. Best effort; counts what it removed.
 */
static void
sweep_dir(int dfd, int depth, size_t *removed)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	int		 fd, isdir;

	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_UNKNOWN) {
			if (fstatat(dfd, de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == -1)
				continue;
			isdir = S_ISDIR(st.st_mode);
			if (!isdir && !S_ISREG(st.st_mode))
				continue;
		} else if (de->d_type == DT_DIR)
			isdir = 1;
		else if (de->d_type == DT_REG)
			isdir = 0;
		else
			continue;
		if (isdir) {
			if (depth > 0 && (fd = openat(dfd, de->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			    O_CLOEXEC)) != -1)
				sweep_dir(fd, depth - 1, removed);
		} else if (sweep_candidate(de->d_name) &&
		    unlinkat(dfd, de->d_name, 0) == 0)
			(*removed)++;
	}
	closedir(d);
}

int
target_dir_lock(const char *root, const char *records, const char *app,
    uint64_t wait_ms, const int *stop, struct lock **lp, char **cause)
{
	char	*path;
	size_t	 removed = 0;
	int	 fd, rc;

	path = path_join(root, ".gitops-agent/lock");
	rc = target_lock_file(path, records, app, root, wait_ms, stop, lp,
	    cause);
	free(path);
	if (rc != 0)
		return (rc);
	if ((fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1)
		sweep_dir(fd, 3, &removed);
	if (removed != 0)
		log_event(LOG_LEVEL_INFO,
		    "temporary files of an interrupted sync removed", "target",
		    root, "removed", LOG_UINT(removed), NULL);
	return (0);
}
