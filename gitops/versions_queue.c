/*
 * versions_queue.c: the group-commit queue (STATE_DIR/repos/NAME.queue).
 * Writers sharing a state directory drop their requests there; whichever
 * holds the queue's lock leads, lands the batch with one push through
 * versions.c's loop (vw_run) and answers each request in a file.
 *
 * Runs in the caller's thread and blocks (polling the queue directory),
 * bounded by each request's deadline. It must never answer a request
 * twice or redo one a dead leader may have pushed: a taken-over job's
 * commit is checked on the remote first. Its files are written with a
 * temporary name and a rename, never in place.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gitops.h"
#include "versions_int.h"

/*
 * The queue: writers sharing a state directory hand their requests to
 * whichever of them holds the queue's lock (the leader), which lands
 * them all with one push: a group commit. A request is a file
 * req-ID.json; the leader claims it by renaming it to work-ID.json and
 * answers in res-ID.json. A writer that gives up deletes its req file:
 * if that fails, a leader has claimed it and its answer is awaited (a
 * leader is bounded by its own deadline). A dead leader's lock goes with
 * it; its work files are taken over by the next one, and requests that
 * landed before it died come out "already at" (edits are idempotent).
 */
#define VW_QUEUE_LOCK		"lock"
#define VW_QUEUE_BATCH_MAX	64
#define VW_QUEUE_POLL_MS	2
/* A claimed request is awaited while its leader lives, up to this more. */
#define VW_QUEUE_CLAIMED_WAIT_MS (2 * 60 * 60 * 1000)
/* An answer nobody collected (its writer died) is removed after this. */
#define VW_QUEUE_STALE_MS	(60 * 60 * 1000)

static char *
vw_queue_path(const char *dir, const char *prefix, const char *id)
{
	char	*name, *p;

	xasprintf(&name, "%s-%s.json", prefix, id);
	p = path_join(dir, name);
	free(name);
	return (p);
}

static const char *const vw_request_keys[] = { "service", "environment",
    "version", "image", "tag", "digest", "commit", NULL };

static const char **
vw_request_field(struct versions_request *req, size_t i)
{
	const char	**f[] = { &req->service, &req->environment,
			    &req->version, &req->image, &req->tag,
			    &req->digest, &req->commit };

	return (f[i]);
}

static char *
vw_request_to_json(const struct versions_request *req, uint64_t deadline,
    const char *fp)
{
	struct versions_request	 copy = *req;
	struct json		*j = json_new_object();
	const char		*v;
	char			*text;
	size_t			 i;

	json_set(j, "kind", json_new_string(req->kind == VERSIONS_BUMP ?
	    "bump" : "rollback"));
	for (i = 0; vw_request_keys[i] != NULL; i++) {
		if ((v = *vw_request_field(&copy, i)) != NULL)
			json_set(j, vw_request_keys[i], json_new_string(v));
	}
	json_set(j, "force", json_new_bool(req->force));
	json_set(j, "require_image", json_new_bool(req->require_image));
	/* Wall clock: another process reads it. */
	json_set(j, "deadline", json_new_number((double)deadline));
	json_set(j, "config", json_new_string(fp));
	text = json_print(j, 0);
	json_free(j);
	return (text);
}

/* A queued request read back; NULL (with cause) if unreadable. */
static struct json *
vw_request_from_json(const char *path, struct versions_request *req,
    uint64_t *deadline, char **cause)
{
	struct json	*j;
	char		*data = NULL;
	size_t		 len, i;

	memset(req, 0, sizeof *req);
	if (file_read(path, VERSIONS_FILE_MAX, &data, &len, cause) == -1)
		return (NULL);
	j = json_parse(data, len, cause);
	free(data);
	if (j == NULL)
		return (NULL);
	req->kind = vw_streq(json_path_string(j, "kind", NULL), "rollback") ?
	    VERSIONS_ROLLBACK : VERSIONS_BUMP;
	for (i = 0; vw_request_keys[i] != NULL; i++)
		*vw_request_field(req, i) = json_path_string(j,
		    vw_request_keys[i], NULL);
	req->force = json_is_true(json_get(j, "force"));
	req->require_image = json_is_true(json_get(j, "require_image"));
	*deadline = (uint64_t)json_number(json_get(j, "deadline"));
	return (j);
}

static char *
vw_result_to_json(const struct vw_job *j)
{
	struct json	*o = json_new_object();
	char		*text;

	if (j->error != NULL)
		json_set(o, "error", json_new_string(j->error));
	else {
		json_set(o, "outcome", json_new_number(j->r.outcome));
		if (j->r.commit != NULL)
			json_set(o, "commit", json_new_string(j->r.commit));
		if (j->r.summary != NULL)
			json_set(o, "summary", json_new_string(j->r.summary));
		if (j->r.previous_version != NULL)
			json_set(o, "previousVersion",
			    json_new_string(j->r.previous_version));
		if (j->r.version != NULL)
			json_set(o, "version", json_new_string(j->r.version));
		if (j->r.previous_image != NULL)
			json_set(o, "previousImage",
			    json_new_string(j->r.previous_image));
		if (j->r.image != NULL)
			json_set(o, "image", json_new_string(j->r.image));
	}
	json_set(o, "attempts", json_new_number(j->r.attempts));
	json_set(o, "batch", json_new_number(j->r.batch));
	text = json_print(o, 0);
	json_free(o);
	return (text);
}

/* 1 and the result when the answer is there; 0 not yet; -1 bad. */
static int
vw_result_read(const char *path, struct versions_result *r, char **cause)
{
	struct json	*o;
	char		*data = NULL, *err = NULL;
	size_t		 len;
	const char	*e;

	if (access(path, F_OK) == -1)
		return (0);
	if (file_read(path, VERSIONS_FILE_MAX, &data, &len, cause) == -1)
		return (-1);
	o = json_parse(data, len, &err);
	free(data);
	unlink(path);
	if (o == NULL) {
		xasprintf(cause, "unreadable answer '%s': %s", path, err);
		free(err);
		return (-1);
	}
	r->attempts = (int)json_number(json_get(o, "attempts"));
	r->batch = (int)json_number(json_get(o, "batch"));
	if ((e = json_path_string(o, "error", NULL)) != NULL) {
		*cause = xstrdup(e);
		json_free(o);
		return (-1);
	}
	r->outcome = (enum versions_outcome)json_number(json_get(o,
	    "outcome"));
	r->commit = vw_strdup(json_path_string(o, "commit", NULL));
	r->summary = vw_strdup(json_path_string(o, "summary", NULL));
	r->previous_version = vw_strdup(json_path_string(o,
	    "previousVersion", NULL));
	r->version = vw_strdup(json_path_string(o, "version", NULL));
	r->previous_image = vw_strdup(json_path_string(o, "previousImage",
	    NULL));
	r->image = vw_strdup(json_path_string(o, "image", NULL));
	json_free(o);
	return (1);
}

/* Write a file in the queue: temporary name, then rename (no fsync). */
int
vw_queue_write(const char *path, const char *text, char **cause)
{
	char	*tmp = NULL;

	if (file_write_temp(path, text, strlen(text), 0600, &tmp,
	    cause) == -1)
		return (-1);
	if (rename(tmp, path) == -1) {
		xasprintf(cause, "cannot rename '%s': %s", tmp,
		    strerror(errno));
		unlink(tmp);
		free(tmp);
		return (-1);
	}
	free(tmp);
	return (0);
}

/*
 * The commit this host last pushed (see vw_run), if the cache has it;
 * written under the queue's lock.
 */
#define VW_QUEUE_LAST_PUSH	"last-push"

static char *
vw_last_push_read(const char *dir, struct git_cache *gc)
{
	char	*path, *data = NULL, *err = NULL, *id = NULL;
	size_t	 len;

	path = path_join(dir, VW_QUEUE_LAST_PUSH);
	if (file_read(path, 128, &data, &len, &err) == 0 && len >= 40) {
		data[40] = '\0';
		if (git_resolve(gc, data, &id, &err) == -1)
			id = NULL;
	}
	free(err);
	free(data);
	free(path);
	return (id);
}

static void
vw_last_push_write(const char *dir, const char *commit)
{
	char	*path, *err = NULL;

	path = path_join(dir, VW_QUEUE_LAST_PUSH);
	if (commit == NULL)
		unlink(path);
	else if (vw_queue_write(path, commit, &err) == -1) {
		unlink(path);
		free(err);
	}
	free(path);
}

/*
 * Group commit's gathering: the writers answered by the last batch are
 * about to send their next requests, and a push costs far more than the
 * wait. So wait (briefly) until those are queued too, besides what is
 * queued now: want = queued + last batch - 1 (the last batch's leader
 * may be us), but no more than the most writers seen at once lately (a
 * figure that decays by one a batch), at most VW_QUEUE_GATHER_MS, and
 * not once nobody came for VW_QUEUE_GATHER_IDLE_MS. A lone writer never
 * waits.
 */
#define VW_QUEUE_LAST_BATCH	"last-batch"
#define VW_QUEUE_GATHER_MS	40
#define VW_QUEUE_GATHER_IDLE_MS	10	/* no one came for this long: go */

static size_t
vw_queue_count(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	size_t		 n = 0;

	if ((d = opendir(dir)) == NULL)
		return (0);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "req-", 4) == 0 &&
		    strstr(de->d_name, ".tmp.") == NULL)
			n++;
	}
	closedir(d);
	return (n);
}

/* The last batch's size and the most seen at once lately (0 0: none). */
static void
vw_queue_stats_read(const char *dir, size_t *last, size_t *most)
{
	char	*path, *data = NULL, *err = NULL;
	size_t	 len;

	path = path_join(dir, VW_QUEUE_LAST_BATCH);
	if (file_read(path, 64, &data, &len, &err) == -1 ||
	    sscanf(data, "%zu %zu", last, most) != 2)
		*last = *most = 0;
	free(data);
	free(err);
	free(path);
}


static void
vw_queue_gather(const char *dir)
{
	size_t		 want, most, n, seen;
	uint64_t	 start, until, now, last_arrival;

	vw_queue_stats_read(dir, &want, &most);
	if (want > VW_QUEUE_BATCH_MAX)
		want = 0;
	if (want <= 1)
		return;
	seen = vw_queue_count(dir);
	want += seen - 1;
	if (want > most)
		want = most;
	if (want > VW_QUEUE_BATCH_MAX)
		want = VW_QUEUE_BATCH_MAX;
	start = time_monotonic_ms();
	until = start + VW_QUEUE_GATHER_MS;
	last_arrival = start;
	while ((now = time_monotonic_ms()) < until &&
	    now - last_arrival < VW_QUEUE_GATHER_IDLE_MS) {
		if ((n = vw_queue_count(dir)) >= want)
			break;
		if (n > seen) {
			seen = n;
			last_arrival = now;
		}
		time_sleep_ms(1);
	}
	log_event(LOG_LEVEL_DEBUG, "gathered", "want", LOG_UINT(want),
	    "queued", LOG_UINT(seen), "waited_ms",
	    LOG_UINT(time_monotonic_ms() - start), NULL);
}

static void
vw_queue_batch_write(const char *dir, size_t n)
{
	char	*path, *err = NULL, text[64];
	size_t	 last, most;

	vw_queue_stats_read(dir, &last, &most);
	path = path_join(dir, VW_QUEUE_LAST_BATCH);
	most = most > n + 1 ? most - 1 : n;
	snprintf(text, sizeof text, "%zu %zu\n", n, most);
	if (vw_queue_write(path, text, &err) == -1)
		free(err);
	free(path);
}

static int
vw_queue_name_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/*
 * Whether the writer of a queued file is gone: it holds a shared flock
 * on the file (the same inode, renamed or not) for as long as it lives,
 * so an exclusive one can be had only when it died (Ctrl-C, kill -9). A
 * dead writer's request is dropped, never landed after it gave up.
 */
static int
vw_queue_writer_gone(const char *path)
{
	int	fd, gone = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (0);
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		gone = 1;
	close(fd);
	return (gone);
}

/* Remove what nobody will read: old answers, crashed temporary files. */
static void
vw_queue_clean(const char *dir, const char *name)
{
	struct stat	 st;
	char		*p;
	uint64_t	 now = time_now_ms();

	if (strncmp(name, "res-", 4) != 0 && strstr(name, ".tmp.") == NULL)
		return;
	p = path_join(dir, name);
	if (stat(p, &st) == 0 && now > VW_QUEUE_STALE_MS &&
	    (uint64_t)st.st_mtime * 1000 < now - VW_QUEUE_STALE_MS)
		unlink(p);
	free(p);
}

/* The id in "req-ID.json" or "work-ID.json", or NULL. */
static char *
vw_queue_id(const char *name)
{
	size_t	len = strlen(name), skip;

	if (strncmp(name, "req-", 4) == 0)
		skip = 4;
	else if (strncmp(name, "work-", 5) == 0)
		skip = 5;
	else
		return (NULL);
	if (len <= skip + 5 || strcmp(name + len - 5, ".json") != 0 ||
	    strchr(name, '/') != NULL)
		return (NULL);
	return (xstrndup(name + skip, len - skip - 5));
}

/*
 * Claim one request as a job: req-ID.json (or work-ID.json, left by a
 * leader that died) of a writer still alive, written with the same
 * configuration as ours. NULL when there is nothing to take.
 */
static struct vw_job *
vw_queue_claim(const struct config *cfg, const struct config_repository *repo,
    struct git_cache *gc, const char *dir, const char *id, const char *fp,
    int ours)
{
	struct versions_request	 req;
	struct vw_job		*j = NULL;
	struct json		*doc;
	char			*from, *to, *cause = NULL, *pushing, *data;
	uint64_t		 wall, now_wall = time_now_ms();
	uint64_t		 now = time_monotonic_ms();
	size_t			 len;
	int			 orphan;

	from = vw_queue_path(dir, "req", id);
	to = vw_queue_path(dir, "work", id);
	xasprintf(&pushing, "%s/pushing-%s", dir, id);
	orphan = access(from, F_OK) == -1;
	if (orphan && access(to, F_OK) == -1)
		goto out;		/* withdrawn, or answered */
	if (!ours && vw_queue_writer_gone(orphan ? to : from)) {
		unlink(orphan ? to : from);
		unlink(pushing);
		goto out;
	}
	if ((doc = vw_request_from_json(orphan ? to : from, &req, &wall,
	    &cause)) == NULL) {
		j = xcalloc(1, sizeof *j);
		j->error = cause;
		j->final = 1;
	} else if (!vw_streq(json_path_string(doc, "config", NULL), fp)) {
		/* Another configuration: its own writer will lead it. */
		json_free(doc);
		goto out;
	} else {
		if (!orphan && rename(from, to) == -1) {
			json_free(doc);
			goto out;
		}
		if (!orphan && !ours && wall < now_wall)
			xasprintf(&cause, "the request expired before it was "
			    "handled");
		else if ((j = vw_job_new(cfg, repo, gc, &req, &cause)) != NULL)
			j->doc = doc;
		if (j == NULL) {
			j = xcalloc(1, sizeof *j);
			j->error = cause;
			j->final = 1;
			json_free(doc);
		}
		j->deadline = now + (wall > now_wall ? wall - now_wall : 0);
		/* A dead leader was pushing it: landed or not, the tip says. */
		if (orphan && !j->final && file_read(pushing, 64, &data, &len,
		    &cause) == 0) {
			j->commit = xstrndup(data, strcspn(data, "\n"));
			j->rc = VW_TAKEN_OVER;
			free(data);
		}
		free(cause);
	}
	j->id = xstrdup(id);
	j->pushing = pushing;
	pushing = NULL;
out:
	free(from);
	free(to);
	free(pushing);
	return (j);
}

/*
 * Jobs a dead leader was pushing: if their commit is on the remote,
 * they are done (committed); else they are done again from scratch.
 */
static void
vw_queue_takeover(const struct config_repository *repo, struct git_cache *gc,
    struct vw_job **jobs, size_t n, uint64_t deadline)
{
	struct git_creds	 creds;
	char			*tip = NULL, *cause = NULL;
	size_t			 i;

	for (i = 0; i < n; i++) {
		if (!jobs[i]->final && jobs[i]->rc == VW_TAKEN_OVER)
			break;
	}
	if (i == n)
		return;
	if (config_repository_creds(repo, &creds, &cause) == 0) {
		if (git_cache_fetch(gc, repo->branch, vw_op_timeout(repo,
		    deadline), &creds, &tip, &cause) == -1)
			tip = NULL;
		git_creds_clear(&creds);
	}
	for (i = 0; i < n; i++) {
		struct vw_job *j = jobs[i];

		if (j->final || j->rc != VW_TAKEN_OVER)
			continue;
		if (tip == NULL) {
			xasprintf(&j->error, "its leader stopped while pushing "
			    "commit %s, and the remote could not be checked: "
			    "%s", j->commit, cause);
			j->final = 1;
		} else if (vw_landed(gc, j->commit, tip)) {
			j->r.outcome = VERSIONS_COMMITTED;
			j->r.commit = j->commit;
			j->commit = NULL;
			xasprintf(&j->r.summary, "landed as commit %.10s, "
			    "pushed by a writer that stopped before answering",
			    j->r.commit);
			j->final = 1;
		} else {
			free(j->commit);
			j->commit = NULL;
			j->rc = 0;
		}
	}
	free(tip);
	free(cause);
}

/*
 * As the leader: claim queued requests (ours first, then work files a
 * dead leader left, then requests, oldest first), run them as one batch
 * until the latest of their deadlines, answer each. Our own job is
 * handed back in *mine (NULL if our request is gone).
 */
static void
vw_queue_lead(const struct config *cfg, const struct config_repository *repo,
    struct git_cache *gc, const char *dir, const char *my_id,
    const char *fp, uint64_t deadline, struct vw_job **mine)
{
	struct vw_job		*jobs[VW_QUEUE_BATCH_MAX], *j;
	struct strv		 names;
	struct dirent		*de;
	DIR			*d;
	char			*id, *path, *text, *cause, *last;
	size_t			 n = 0, i;

	*mine = NULL;
	memset(&names, 0, sizeof names);
	vw_queue_gather(dir);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		vw_queue_clean(dir, de->d_name);
		/* "work" sorts after "req"... but ours is taken first. */
		if ((id = vw_queue_id(de->d_name)) != NULL) {
			free(id);
			strv_add(&names, de->d_name);
		}
	}
	closedir(d);
	if (names.n > 0)
		qsort(names.v, names.n, sizeof *names.v, vw_queue_name_cmp);
	if ((j = vw_queue_claim(cfg, repo, gc, dir, my_id, fp, 1)) != NULL)
		jobs[n++] = j;
	for (i = 0; i < names.n && n < VW_QUEUE_BATCH_MAX; i++) {
		id = vw_queue_id(names.v[i]);
		if (strcmp(id, my_id) != 0 && (j = vw_queue_claim(cfg, repo,
		    gc, dir, id, fp, 0)) != NULL)
			jobs[n++] = j;
		free(id);
	}
	strv_free(&names);
	if (n == 0)
		return;
	for (i = 0; i < n; i++) {
		jobs[i]->r.batch = (int)n;
		if (jobs[i]->deadline > deadline)
			deadline = jobs[i]->deadline;
	}
	vw_queue_batch_write(dir, n);
	vw_queue_takeover(repo, gc, jobs, n, deadline);
	last = vw_last_push_read(dir, gc);
	vw_run(cfg, repo, gc, jobs, n, deadline, &last);
	vw_last_push_write(dir, last);
	free(last);
	for (i = 0; i < n; i++) {
		j = jobs[i];
		unlink(j->pushing);
		path = vw_queue_path(dir, "work", j->id);
		if (strcmp(j->id, my_id) == 0) {
			unlink(path);
			free(path);
			*mine = j;
			continue;
		}
		text = vw_result_to_json(j);
		free(path);
		path = vw_queue_path(dir, "res", j->id);
		cause = NULL;
		if (vw_queue_write(path, text, &cause) == 0) {
			free(path);
			path = vw_queue_path(dir, "work", j->id);
			unlink(path);
		} else {
			log_event(LOG_LEVEL_WARN, "cannot answer a queued "
			    "request", "error", cause, NULL);
			free(cause);
		}
		free(text);
		free(path);
		vw_job_free(j);
	}
}

/*
 * The configuration a request must be handled with: writers with other
 * settings (another versions file, app paths, signing key...) share the
 * queue but never each other's batches.
 */
static void
vw_config_fingerprint(const struct config *cfg,
    const struct config_repository *repo, char fp[65])
{
	const struct config_versions	*v = &cfg->versions;
	struct buf			 b;
	size_t				 i;

	buf_init(&b);
	buf_printf(&b, "%s\n%s\n%s\n%s\n%s\n%s\n%s\n%llu\n%d\n", repo->url,
	    repo->branch, v->file, v->held_file, v->author_name,
	    v->author_email, v->signing_key != NULL ? v->signing_key : "",
	    (unsigned long long)repo->timeout_ms, v->max_attempts);
	for (i = 0; i < cfg->napps; i++) {
		const struct config_app *a = &cfg->apps[i];

		if (a->service == NULL || a->environment == NULL)
			continue;
		buf_printf(&b, "%s\n%s\n%s\n%s\n%s\n", a->name, a->repository,
		    a->path, a->service, a->environment);
	}
	sha256_hex(b.data, b.len, fp);
	buf_free(&b);
}

/*
 * Queue our request and wait for its answer, leading whenever the lock
 * is free. 0 with the result, -1 with cause.
 */
int
vw_queue_submit(const struct config *cfg,
    const struct config_repository *repo,
    const struct versions_request *req, uint64_t timeout_ms,
    struct versions_result *r, char **cause)
{
	struct vw_job	*mine = NULL;
	struct git_cache *gc = NULL;
	char		*dir, *lock, *req_path, *res_path, *work_path, *text;
	char		*repos, *base, *tmp = NULL, *dur, id[64], fp[65];
	uint64_t	 deadline, wall_deadline;
	int		 fd = -1, rfd = -1, rc, rv = -1, claimed = 0;

	/* Beside the cache, STATE_DIR/repos/NAME.queue. */
	repos = path_join(cfg->state_dir, "repos");
	xasprintf(&base, "%s.queue", repo->name);
	dir = path_join(repos, base);
	free(repos);
	free(base);
	if (file_mkdirs(dir, 0700, cause) == -1) {
		free(dir);
		return (-1);
	}
	vw_config_fingerprint(cfg, repo, fp);
	/* Names sort by time: the oldest request is served first. */
	snprintf(id, sizeof id, "%016llx-%d-%08x",
	    (unsigned long long)time_now_ms(), (int)getpid(),
	    arc4random());
	req_path = vw_queue_path(dir, "req", id);
	res_path = vw_queue_path(dir, "res", id);
	work_path = vw_queue_path(dir, "work", id);
	lock = path_join(dir, VW_QUEUE_LOCK);
	deadline = time_monotonic_ms() + timeout_ms;
	wall_deadline = time_now_ms() + timeout_ms;
	text = vw_request_to_json(req, wall_deadline, fp);
	/* Locked before it is visible: alive from the first look. */
	rc = file_write_temp(req_path, text, strlen(text), 0600, &tmp, cause);
	free(text);
	if (rc == -1)
		goto out;
	if ((rfd = open(tmp, O_RDONLY | O_CLOEXEC)) == -1 ||
	    flock(rfd, LOCK_SH) == -1 || rename(tmp, req_path) == -1) {
		xasprintf(cause, "cannot queue '%s': %s", req_path,
		    strerror(errno));
		unlink(tmp);
		goto out;
	}
	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		xasprintf(cause, "cannot open '%s': %s", lock,
		    strerror(errno));
		unlink(req_path);
		goto out;
	}
	for (;;) {
		if ((rc = vw_result_read(res_path, r, cause)) != 0) {
			rv = rc == 1 ? 0 : -1;
			goto out;
		}
		if (!claimed && time_monotonic_ms() >= deadline) {
			if (unlink(req_path) == 0) {
				dur = duration_format(timeout_ms);
				xasprintf(cause, "gave up after %s waiting for "
				    "the other writers of '%s' to finish "
				    "(nothing was committed)", dur,
				    repo->name);
				free(dur);
				goto out;
			}
			/* A leader has it: its answer comes. */
			claimed = 1;
		}
		if (claimed && time_monotonic_ms() >= deadline +
		    VW_QUEUE_CLAIMED_WAIT_MS) {
			xasprintf(cause, "no answer from the writer handling "
			    "this request in '%s'", dir);
			goto out;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			if ((rc = vw_result_read(res_path, r, cause)) != 0) {
				flock(fd, LOCK_UN);
				rv = rc == 1 ? 0 : -1;
				goto out;
			}
			if (access(req_path, F_OK) == -1 &&
			    access(work_path, F_OK) == -1) {
				flock(fd, LOCK_UN);
				xasprintf(cause, "the request left the queue "
				    "'%s' unanswered", dir);
				goto out;
			}
			/* Only a leader needs the cache. */
			if (gc == NULL && git_cache_open(cfg->state_dir,
			    repo->name, repo->url, &gc, cause) == -1) {
				flock(fd, LOCK_UN);
				unlink(req_path);
				goto out;
			}
			vw_queue_lead(cfg, repo, gc, dir, id, fp, deadline,
			    &mine);
			flock(fd, LOCK_UN);
			if (mine != NULL)
				break;
			continue;
		}
		time_sleep_ms(VW_QUEUE_POLL_MS);
	}
	if (mine->error != NULL) {
		*cause = mine->error;
		mine->error = NULL;
		r->attempts = mine->r.attempts;
	} else {
		*r = mine->r;
		memset(&mine->r, 0, sizeof mine->r);
		rv = 0;
	}
	vw_job_free(mine);
out:
	if (fd != -1)
		close(fd);
	if (rfd != -1)
		close(rfd);
	git_cache_free(gc);
	free(tmp);
	free(lock);
	free(req_path);
	free(res_path);
	free(work_path);
	free(dir);
	return (rv);
}
