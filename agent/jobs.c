/*
 * jobs.c: what the daemon's jobs do. A repository job fetches it and
 * syncs, in dependency order, the apps whose inputs the new commit
 * changed (every app of it at startup, a poll or a reload); a deploy job
 * bumps a service's version in Git, then syncs the apps of the services
 * it requires and, once they are healthy, the service's own. A sync that
 * failed after applying a bump commits that bump's rollback. What a job
 * found is left in it for the loop to read.
 *
 * Runs in sched.c's worker threads, where blocking is expected (git,
 * render, apply, probes); never touches evhttp, bufferevents or the
 * loop's tables, and stops between apps once the shutdown flag is set.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "agent.h"

static const char *job_why_changed(const struct config *,
    const struct config_repository *, const struct config_app *,
    const char *);

struct job *
job_new(enum job_kind kind, struct agent_config *ac, const char *reason)
{
	static uint64_t	 next_id;
	struct job	*job = xcalloc(1, sizeof *job);

	job->kind = kind;
	job->ac = agent_config_ref(ac);
	job->id = ++next_id;
	job->reason = xstrdup(reason);
	job->reports = json_new_array();
	return (job);
}

void
job_free(struct job *job)
{
	if (job == NULL)
		return;
	agent_config_unref(job->ac);
	free(job->reason);
	strv_free(&job->keys);
	free(job->repo);
	free(job->app);
	strv_free(&job->force);
	deploy_request_free(job->deploy);
	free(job->deploy_file);
	free(job->deploy_digest);
	free(job->head);
	free(job->error);
	json_free(job->reports);
	versions_result_free(&job->bump);
	free(job);
}

/* What a job did with one app, for the loop's table and the API. */
static void
job_report(struct job *job, const char *app, const char *outcome,
    const char *why, struct json *result)
{
	struct json	*o = json_new_object();

	json_set(o, "app", json_new_string(app));
	json_set(o, "outcome", json_new_string(outcome));
	if (why != NULL)
		json_set(o, "reason", json_new_string(why));
	if (result != NULL)
		json_set(o, "result", result);
	json_array_append(job->reports, o);
}

/* How long the app of the last report took, from t0 (monotonic ms). */
static void
job_report_seconds(struct job *job, uint64_t t0)
{
	struct json	*o;
	size_t		 n = json_count(job->reports);

	if (n == 0 || (o = json_array_get(job->reports, n - 1)) == NULL)
		return;
	json_set(o, "seconds", json_new_number((double)(time_monotonic_ms() -
	    t0) / 1000.0));
}

/*
 * Why an app of the repository must be synced at commit head, or NULL
 * when nothing it read has changed since its last successful sync.
 */
static const char *
job_why_sync(struct job *job, const struct config_repository *repo,
    const struct config_app *app, const char *head)
{
	if (job->all)
		return (job->reason);
	if (strv_contains(&job->force, app->name))
		return ("requested");
	return (job_why_changed(job->ac->cfg, repo, app, head));
}

/*
 * What changed for the app since its last successful sync (its last
 * sync failed, a new commit changes what it reads...), or NULL when
 * nothing did: Git still says what it applied.
 */
static const char *
job_why_changed(const struct config *cfg,
    const struct config_repository *repo, const struct config_app *app,
    const char *head)
{
	struct json		*state = NULL;
	struct strv		 inputs, changed;
	const char		*status, *rev, *why = NULL;
	char			*err = NULL;

	if (state_load_sync(cfg->state_dir, app->name, &state, &err) == -1) {
		free(err);
		return ("its last result cannot be read");
	}
	if (state == NULL)
		return ("never synced");
	memset(&inputs, 0, sizeof inputs);
	memset(&changed, 0, sizeof changed);
	status = json_path_string(state, "status", NULL);
	rev = json_path_string(state, "revision", NULL);
	if (status == NULL || strcmp(status, "Succeeded") != 0)
		why = "its last sync failed";
	else if (head == NULL)
		why = "a directory repository";
	else if (rev == NULL)
		why = "no revision recorded";
	else if (strcmp(rev, head) == 0)
		why = NULL;
	else if (app_state_inputs(state, &inputs) == -1)
		why = "new commit";
	else if (repo_changed_paths(cfg, repo, rev, head, &changed,
	    &err) == -1) {
		/* History rewritten, or the old commit pruned: sync. */
		free(err);
		why = "new commit (changes unknown)";
	} else if (source_inputs_touched(&inputs, &changed))
		why = "new commit changes it";
	strv_free(&inputs);
	strv_free(&changed);
	json_free(state);
	return (why);
}

/* How the daemon runs an app at commit from src. */
static void
job_app_run(struct job *job, const struct config_app *app,
    struct source *src, const char *commit, const int *stop,
    struct app_run *run)
{
	memset(run, 0, sizeof *run);
	run->name = app->name;
	run->source = src;
	run->path = app->path;
	run->target = &app->target;
	run->namespace = app->namespace;
	run->prune = app->prune;
	run->timeout_ms = app->sync_timeout_ms;
	run->wave_timeout_ms = app->wave_timeout_ms;
	run->revision = commit;
	run->record_inputs = 1;
	run->state_dir = job->ac->cfg->state_dir;
	run->stop = stop;
	run->cfg = job->ac->cfg;
	run->app = app;
}

/*
 * What a comparison found: how many resources' own fields differ from
 * Git (their ids in *list, "A, B", allocated; NULL with none), in
 * *others how many have fields only other managers set, and each
 * resource's report (drift, live health) into report.
 */
static size_t
job_drift_found(const struct sync_result *r, char **list, size_t *others,
    struct json *report)
{
	struct json	*res = sync_result_to_json(r), *arr;
	struct strv	 ids;
	struct buf	 b;
	size_t		 i, n;

	memset(&ids, 0, sizeof ids);
	for (i = 0; i < r->nchanges; i++) {
		if (r->changes[i].action != DIFF_UNCHANGED &&
		    !strv_contains(&ids, r->changes[i].id))
			strv_add(&ids, r->changes[i].id);
	}
	*list = NULL;
	if (ids.n != 0) {
		buf_init(&b);
		for (i = 0; i < ids.n; i++)
			buf_printf(&b, "%s%s", i != 0 ? ", " : "", ids.v[i]);
		*list = buf_release(&b);
	}
	*others = 0;
	for (i = 0; i < r->nresources; i++) {
		if (json_get(r->resources[i].drift, "othersFields") != NULL)
			(*others)++;
	}
	arr = json_get(res, "resources");
	json_set(report, "resources", arr != NULL ? json_dup(arr) :
	    json_new_array());
	json_free(res);
	n = ids.n;
	strv_free(&ids);
	return (n);
}

/* The last report is a comparison's: its resources as found (takes o). */
static void
job_report_drift(struct job *job, struct json *o)
{
	size_t	n = json_count(job->reports);

	if (n == 0)
		json_free(o);
	else
		json_set(json_array_get(job->reports, n - 1), "drift", o);
}

/*
 * Only compare an app with Git at head, applying nothing (its policy is
 * manual, or it does not heal itself and Git has not changed): the
 * outcome is OutOfSync, naming what differs, or Unchanged.
 */
static void
job_check_app(struct job *job, const struct config_repository *repo,
    const struct config_app *app, const char *head, const int *stop)
{
	struct sync_result	*r = NULL;
	struct source		*src;
	struct app_run		 run;
	struct json		*drift;
	char			*commit = NULL, *cause = NULL, *msg, *list;
	uint64_t		 t0 = time_monotonic_ms();
	size_t			 n, others;

	if ((src = repo_source(job->ac->cfg, repo, head, &commit,
	    &cause)) == NULL) {
		job_report(job, app->name, "Skipped", cause, NULL);
		free(cause);
		return;
	}
	job_app_run(job, app, src, commit, stop, &run);
	run.dry_run = 1;
	run.drift = 1;
	run.record_inputs = 0;
	if (app_sync(&run, &r, &cause) == -1 || r == NULL) {
		job_report(job, app->name, "Skipped", cause, NULL);
		goto out;
	}
	drift = json_new_object();
	n = job_drift_found(r, &list, &others, drift);
	if (r->status == SYNC_FAILED)
		job_report(job, app->name, "OutOfSync", r->error, NULL);
	else if (n == 0)
		job_report(job, app->name, "Unchanged", "live state matches "
		    "Git", NULL);
	else {
		xasprintf(&msg, "%zu resource%s differ%s from Git, not "
		    "applied (%s): %s", n, n == 1 ? "" : "s",
		    n == 1 ? "s" : "", app->sync_manual ?
		    "sync_policy manual" : "self_heal false", list);
		job_report(job, app->name, "OutOfSync", msg, NULL);
		log_event(LOG_LEVEL_WARN, "out of sync", "app", app->name,
		    "commit", commit, "resources", list, NULL);
		free(msg);
	}
	free(list);
	job_report_seconds(job, t0);
	job_report_drift(job, drift);
out:
	free(cause);
	free(commit);
	sync_result_free(r);
	source_free(src);
}

/* The fence of an app's sync: its shard still held here, with margin. */
struct job_fence {
	struct shards		*shards;
	const struct config_app	*app;
};

static int
job_fence_cb(void *arg, char **cause)
{
	struct job_fence	*f = arg;

	return (shards_hold(f->shards, f->app, cause));
}

/* Sync one app at head (NULL for a directory repository). */
static int
job_sync_app(struct job *job, const struct config_repository *repo,
    const struct config_app *app, const char *head, const int *stop,
    char **failed_revision)
{
	const struct config	*cfg = job->ac->cfg;
	struct sync_result	*r = NULL;
	struct source		*src;
	struct app_run		 run;
	struct job_fence	 fence;
	struct json		*j;
	char			*commit = NULL, *cause = NULL;
	uint64_t		 t0 = time_monotonic_ms();
	int			 ok = 0, locked = 0;

	if ((src = repo_source(cfg, repo, head, &commit, &cause)) == NULL) {
		app_record_failure(cfg->state_dir, app->name, head, cause);
		job_report(job, app->name, "Failed", cause, NULL);
		job_report_seconds(job, t0);
		free(cause);
		return (0);
	}
	job_app_run(job, app, src, commit, stop, &run);
	fence.shards = job->shards;
	fence.app = app;
	if (job->shards != NULL) {
		run.fence = job_fence_cb;
		run.fence_arg = &fence;
	}
	/*
	 * A deploy waits for a CLI sync of the target (within the same
	 * sync_timeout): its outcome is awaited. Other syncs are not held
	 * up: the loop queues them again (outcome Locked).
	 */
	run.lock_wait_ms = job->kind == JOB_DEPLOY ? app->sync_timeout_ms : 0;
	run.locked = &locked;
	if (app_sync(&run, &r, &cause) == -1 && locked &&
	    job->kind != JOB_DEPLOY)
		job_report(job, app->name, "Locked", cause, NULL);
	else if (r == NULL) {
		log_event(LOG_LEVEL_WARN, "sync failed", "app", app->name,
		    "commit", commit, "error", cause, NULL);
		job_report(job, app->name, "Failed", cause, NULL);
	} else {
		ok = r->status == SYNC_SUCCEEDED;
		if (!ok && r->failed_after_apply && r->revision != NULL &&
		    failed_revision != NULL)
			*failed_revision = xstrdup(r->revision);
		j = sync_result_to_json(r);
		json_remove(j, "inputs");
		job_report(job, app->name, sync_status_name(r->status), NULL,
		    j);
		log_event(LOG_LEVEL_INFO, "synced", "app", app->name, "commit",
		    commit, "status", sync_status_name(r->status), "created",
		    LOG_UINT(r->created), "updated", LOG_UINT(r->updated),
		    "pruned", LOG_UINT(r->pruned), "unchanged",
		    LOG_UINT(r->unchanged), "ms",
		    LOG_UINT(r->finished_ms - r->started_ms), NULL);
	}
	job_report_seconds(job, t0);
	free(cause);
	free(commit);
	sync_result_free(r);
	source_free(src);
	return (ok);
}

/* Tell the configured notify_url what happened (best effort, bounded). */
static void
job_notify(const struct config *cfg, struct json *event)
{
	struct http_response	 resp;
	char			*body, *cause = NULL, at[TIME_FORMAT_LEN];

	if (cfg->notify_url == NULL) {
		json_free(event);
		return;
	}
	time_format(time_now_ms(), at, sizeof at);
	json_set(event, "at", json_new_string(at));
	body = json_print(event, 0);
	json_free(event);
	if (http_request("POST", cfg->notify_url, "application/json", body,
	    strlen(body), 5000, 64 * 1024, &resp, &cause) == -1) {
		log_event(LOG_LEVEL_WARN, "notification not delivered", "url",
		    cfg->notify_url, "error", cause, NULL);
		free(cause);
	} else {
		if (resp.status / 100 != 2)
			log_event(LOG_LEVEL_WARN, "notification refused", "url",
			    cfg->notify_url, "status", LOG_INT(resp.status),
			    NULL);
		http_response_free(&resp);
	}
	free(body);
}

static void job_heads_forget(struct strmap *, const char *);
static const char *job_fetch(struct job *, struct strmap *,
    const struct config_repository *);

/*
 * A sync of revision failed after its resources were applied (a hook, a
 * health probe, the analysis). When the commits since good (the app's
 * last good sync) hold a bump of the app's own service and environment,
 * not reverted since, commit the rollback of the newest such bump (only
 * that service's values, only while they still hold the bad ones; the
 * version held), even under unrelated commits, then sync the app at the
 * rollback. Anything else, or no good sync known, is not the agent's to
 * revert: it is reported as it is.
 */
static void
job_rollback(struct job *job, struct strmap *heads,
    const struct config_repository *repo, const struct config_app *app,
    const char *revision, const char *good, const int *stop)
{
	const struct config	*cfg = job->ac->cfg;
	struct versions_blame	 blame;
	struct versions_commit	 info;
	struct versions_request	 req;
	struct versions_result	 vr;
	struct json		*rb, *ev;
	const char		*head, *what;
	char			*cause = NULL;
	uint64_t		 t0 = time_monotonic_ms(), pushed_ms = 0;

	if (cfg->versions.repository == NULL || app->service == NULL ||
	    app->environment == NULL ||
	    strcmp(cfg->versions.repository, app->repository) != 0)
		return;
	if (versions_blame(cfg, revision, good, app->service,
	    app->environment, &blame, &cause) == -1) {
		log_event(LOG_LEVEL_WARN, "cannot read the commits since the "
		    "last good sync", "app", app->name, "commit", revision,
		    "error", cause, NULL);
		free(cause);
		return;
	}
	if (blame.kind != VERSIONS_BLAME_FOUND) {
		what = "commits not known to be a deploy";
		if (blame.kind == VERSIONS_BLAME_NONE)
			what = "commits that are not a deploy";
		else if (blame.kind == VERSIONS_BLAME_REVERTED)
			what = "an already reverted deploy";
		xasprintf(&cause, "sync failed on %s of %s to %s: not reverted",
		    what, app->service, app->environment);
		log_event(LOG_LEVEL_WARN, cause, "app", app->name, "commit",
		    revision, "good", good, "blamed", blame.commit, "commits",
		    LOG_UINT(blame.commits), NULL);
		free(cause);
		versions_blame_free(&blame);
		return;
	}
	if (versions_commit_info(cfg, blame.commit, &info, &cause) == -1) {
		log_event(LOG_LEVEL_WARN, "cannot read the failed commit",
		    "app", app->name, "commit", blame.commit, "error", cause,
		    NULL);
		free(cause);
		versions_blame_free(&blame);
		return;
	}
	xasprintf(&cause, "sync failed: blaming the newest deploy of %s to %s "
	    "since the last good sync", app->service, app->environment);
	log_event(LOG_LEVEL_INFO, cause, "app", app->name, "commit", revision,
	    "good", good, "blamed", blame.commit, "commits",
	    LOG_UINT(blame.commits), NULL);
	free(cause);
	cause = NULL;
	memset(&req, 0, sizeof req);
	req.kind = VERSIONS_ROLLBACK;
	req.service = app->service;
	req.environment = app->environment;
	req.commit = blame.commit;
	rb = json_new_object();
	json_set(rb, "revertedCommit", json_new_string(blame.commit));
	json_set(rb, "failedCommit", json_new_string(revision));
	json_set(rb, "lastGoodCommit", json_new_string(good));
	json_set(rb, "commitsLookedAt", json_new_number(
	    (double)blame.commits));
	json_set(rb, "badVersion", info.version != NULL ?
	    json_new_string(info.version) : json_new_null());
	/* Fencing: only the holder of the app's shard commits for it. */
	if (!shards_hold(job->shards, app, &cause) ||
	    versions_write(cfg, &req, &vr, &cause) == -1) {
		log_event(LOG_LEVEL_WARN, "rollback failed", "app", app->name,
		    "commit", blame.commit, "error", cause, NULL);
		json_set(rb, "outcome", json_new_string("failed"));
		json_set(rb, "error", json_new_string(cause));
		free(cause);
	} else {
		pushed_ms = time_monotonic_ms();
		json_set(rb, "outcome", json_new_string(
		    vr.outcome == VERSIONS_COMMITTED ? "committed" :
		    vr.outcome == VERSIONS_UNCHANGED ? "unchanged" :
		    "refused"));
		json_set(rb, "summary", json_new_string(vr.summary));
		if (vr.commit != NULL)
			json_set(rb, "commit", json_new_string(vr.commit));
		json_set(rb, "msToCommit", json_new_number(
		    (double)(pushed_ms - t0)));
		log_event(LOG_LEVEL_INFO, vr.summary, "app", app->name,
		    "service", app->service, "environment", app->environment,
		    "reverted", blame.commit, "commit", vr.commit, "ms",
		    LOG_UINT(pushed_ms - t0), NULL);
		if (vr.outcome == VERSIONS_COMMITTED) {
			/* Converge on it now: fetch the rollback, sync. */
			job_heads_forget(heads, repo->name);
			if ((head = job_fetch(job, heads, repo)) != NULL &&
			    job_sync_app(job, repo, app, head, stop, NULL))
				json_set(rb, "msToLive", json_new_number(
				    (double)(time_monotonic_ms() - t0)));
		}
		versions_result_free(&vr);
	}
	job_report(job, app->name, "RolledBack", NULL, json_dup(rb));
	ev = json_dup(rb);
	json_set(ev, "event", json_new_string("rollback"));
	json_set(ev, "app", json_new_string(app->name));
	json_set(ev, "service", json_new_string(app->service));
	json_set(ev, "environment", json_new_string(app->environment));
	json_free(rb);
	versions_commit_free(&info);
	versions_blame_free(&blame);
	job_notify(cfg, ev);
}

/*
 * An app's last recorded sync succeeded (for a dependency elsewhere); its
 * revision in *good if good is not NULL (NULL if none recorded).
 */
static int
job_app_succeeded(const struct config *cfg, const char *name, char **good)
{
	struct json	*state = NULL;
	const char	*status, *rev;
	char		*err = NULL;
	int		 ok;

	if (good != NULL)
		*good = NULL;
	if (state_load_sync(cfg->state_dir, name, &state, &err) == -1) {
		free(err);
		return (0);
	}
	status = json_path_string(state, "status", NULL);
	ok = status != NULL && strcmp(status, "Succeeded") == 0;
	rev = json_path_string(state, "revision", NULL);
	if (ok && good != NULL && rev != NULL)
		*good = xstrdup(rev);
	json_free(state);
	return (ok);
}

/* Fetch a repository once per job: its commit, or NULL (reported). */
static const char *
job_fetch(struct job *job, struct strmap *heads,
    const struct config_repository *repo)
{
	char		*tip = NULL, *cause = NULL;
	uint64_t	 t0;

	if (repo->url == NULL)
		return (NULL);
	if ((tip = strmap_get(heads, repo->name)) != NULL)
		return (*tip == '!' ? NULL : tip);
	t0 = time_monotonic_ms();
	job->fetched++;
	if (repo_fetch(job->ac->cfg, repo, &tip, &cause) == -1) {
		log_event(LOG_LEVEL_WARN, "fetch failed", "repo", repo->name,
		    "error", cause, NULL);
		job->fetch_failed++;
		if (job->error == NULL)
			job->error = cause;
		else
			free(cause);
		tip = xstrdup("!");
	} else
		log_event(LOG_LEVEL_INFO, "fetched", "repo", repo->name,
		    "branch", repo->branch, "commit", tip, NULL);
	job->fetch_seconds += (double)(time_monotonic_ms() - t0) / 1000.0;
	strmap_put(heads, repo->name, tip);
	return (*tip == '!' ? NULL : tip);
}

/* Fetch a repository again in this job (after pushing to it). */
static void
job_heads_forget(struct strmap *heads, const char *repo)
{
	free(strmap_remove(heads, repo));
}

static void
job_heads_free(struct strmap *heads)
{
	size_t	 cursor = 0;
	void	*v;

	while (strmap_next(heads, &cursor, NULL, &v))
		free(v);
	strmap_free(heads);
}

/*
 * Sync these apps (every app of repository only, when only is not NULL,
 * else the named ones) in dependency order: an app whose dependency
 * failed here, or whose dependency elsewhere last failed, is skipped.
 * Returns 1 when every app synced.
 */
static int
job_sync_apps(struct job *job, struct strmap *heads, const struct strv *names,
    const char *only, const int *stop)
{
	const struct config		*cfg = job->ac->cfg;
	const struct config_app		*app;
	const struct config_repository	*repo;
	struct strv			 order, failed;
	const char			*head, *why;
	char				*cause = NULL, *msg, *failed_rev, *good;
	size_t				 i;
	int				 all_ok = 1;

	memset(&order, 0, sizeof order);
	memset(&failed, 0, sizeof failed);
	if (plan_app_order(cfg, names, &order, &cause) == -1) {
		log_event(LOG_LEVEL_WARN, "cannot order the apps", "error",
		    cause, NULL);
		if (job->error == NULL)
			job->error = cause;
		else
			free(cause);
		return (0);
	}
	for (i = 0; i < order.n; i++) {
		app = config_find_app(cfg, order.v[i]);
		if (app == NULL || (repo = config_find_repository(cfg,
		    app->repository)) == NULL)
			continue;
		if ((only != NULL && strcmp(app->repository, only) != 0) ||
		    (only == NULL && !strv_contains(names, app->name))) {
			/* A dependency synced elsewhere: its record says. */
			if (!job_app_succeeded(cfg, app->name, NULL))
				strv_add(&failed, app->name);
			continue;
		}
		if (__atomic_load_n(stop, __ATOMIC_ACQUIRE) != 0) {
			job_report(job, app->name, "Skipped", "the agent is "
			    "shutting down", NULL);
			all_ok = 0;
			continue;
		}
		if (app_dependency_failed(cfg, app->name, &failed)) {
			xasprintf(&msg, "not synced: a dependency did not sync");
			job_report(job, app->name, "Skipped", msg, NULL);
			log_event(LOG_LEVEL_WARN, msg, "app", app->name, NULL);
			free(msg);
			strv_add(&failed, app->name);
			all_ok = 0;
			continue;
		}
		head = job_fetch(job, heads, repo);
		if (repo->url != NULL && head == NULL) {
			job_report(job, app->name, "Skipped", "the fetch "
			    "failed", NULL);
			strv_add(&failed, app->name);
			all_ok = 0;
			continue;
		}
		/*
		 * Fencing: another replica holds its shard, or our Lease may
		 * run out before the sync could be trusted to be ours.
		 */
		if (!shards_hold(job->shards, app, &msg)) {
			job_report(job, app->name, "Skipped", msg, NULL);
			log_event(LOG_LEVEL_DEBUG, "not synced here", "app",
			    app->name, "reason", msg, NULL);
			free(msg);
			all_ok = 0;
			continue;
		}
		if (job->kind == JOB_REPO && app->suspend) {
			job_report(job, app->name, "Skipped", "suspended",
			    NULL);
			continue;
		}
		if (job->kind == JOB_REPO &&
		    (why = job_why_sync(job, repo, app, head)) == NULL) {
			job_report(job, app->name, "Unchanged", "nothing it "
			    "reads changed", NULL);
			continue;
		}
		/*
		 * Not asked for: a manual app, or drift it must not heal (a
		 * look at every app that finds Git unchanged for it; without
		 * job->all, why already says Git changed).
		 */
		if (job->kind == JOB_REPO &&
		    !strv_contains(&job->force, app->name) &&
		    (app->sync_manual || (!app->self_heal && job->all &&
		    job_why_changed(cfg, repo, app, head) == NULL))) {
			job_check_app(job, repo, app, head, stop);
			continue;
		}
		failed_rev = NULL;
		/* Read before the sync records its own outcome over it. */
		job_app_succeeded(cfg, app->name, &good);
		if (!job_sync_app(job, repo, app, head, stop, &failed_rev)) {
			strv_add(&failed, app->name);
			all_ok = 0;
			if (failed_rev != NULL)
				job_rollback(job, heads, repo, app,
				    failed_rev, good, stop);
		}
		free(good);
		free(failed_rev);
	}
	strv_free(&failed);
	strv_free(&order);
	return (all_ok);
}

const struct config_app *
job_deploy_app(const struct config *cfg, const char *service,
    const char *environment)
{
	size_t	i;

	for (i = 0; i < cfg->napps; i++) {
		if (cfg->apps[i].service != NULL &&
		    cfg->apps[i].environment != NULL &&
		    strcmp(cfg->apps[i].service, service) == 0 &&
		    strcmp(cfg->apps[i].environment, environment) == 0)
			return (&cfg->apps[i]);
	}
	return (NULL);
}

static void
job_run_repo(struct job *job, const int *stop)
{
	const struct config		*cfg = job->ac->cfg;
	const struct config_repository	*repo;
	struct strmap			*heads = strmap_new(4);
	struct strv			 names;
	const char			*head;
	size_t				 i;

	memset(&names, 0, sizeof names);
	if ((repo = config_find_repository(cfg, job->repo)) == NULL) {
		xasprintf(&job->error, "repository '%s' is no longer "
		    "configured", job->repo);
		goto out;
	}
	head = job_fetch(job, heads, repo);
	if (head != NULL)
		job->head = xstrdup(head);
	if (repo->url != NULL && head == NULL)
		goto out;
	for (i = 0; i < cfg->napps; i++) {
		if (strcmp(cfg->apps[i].repository, repo->name) == 0)
			strv_add(&names, cfg->apps[i].name);
	}
	if (names.n != 0)
		job_sync_apps(job, heads, &names, repo->name, stop);
out:
	strv_free(&names);
	job_heads_free(heads);
}

/*
 * A deploy: bump the service's version in Git, then sync the apps of the
 * services it requires (in that environment) and, if all of them synced
 * healthy, the service's own app.
 */
static void
job_run_deploy(struct job *job, const int *stop)
{
	const struct config		*cfg = job->ac->cfg;
	const struct deploy_request	*d = job->deploy;
	const struct config_app		*app, *req;
	struct versions_request		 vq;
	struct strmap			*heads = strmap_new(4);
	struct strv			 names;
	char				*cause = NULL;
	size_t				 i;

	memset(&names, 0, sizeof names);
	memset(&vq, 0, sizeof vq);
	vq.kind = VERSIONS_BUMP;
	vq.service = d->service;
	vq.environment = d->environment;
	vq.version = d->version;
	vq.image = d->image;
	vq.tag = d->tag;
	vq.digest = d->digest;
	vq.force = d->force;
	/* As the CLI's bump: a version that would change nothing live fails. */
	vq.require_image = 1;
	/*
	 * Fencing: only the holder of the app's shard commits for it. Not
	 * held (a start replays deploys before the Leases are taken; the
	 * shard moved away): the request stays on disk for when it is.
	 */
	if ((app = job_deploy_app(cfg, d->service, d->environment)) != NULL &&
	    !shards_hold(job->shards, app, &cause)) {
		log_event(LOG_LEVEL_INFO, "deploy waits for its shard",
		    "service", d->service, "environment", d->environment,
		    "reason", cause, NULL);
		free(cause);
		job->not_held = 1;
		goto out;
	}
	job->bumped = 1;
	if (versions_write(cfg, &vq, &job->bump, &cause) == -1) {
		log_event(LOG_LEVEL_WARN, "bump failed", "service", d->service,
		    "environment", d->environment, "version", d->version,
		    "error", cause, NULL);
		job->bump_failed = 1;
		job->error = cause;
		goto out;
	}
	log_event(LOG_LEVEL_INFO, job->bump.summary, "service", d->service,
	    "environment", d->environment, "version", d->version, "commit",
	    job->bump.commit, NULL);
	if (job->bump.outcome == VERSIONS_REFUSED)
		goto out;
	if ((app = job_deploy_app(cfg, d->service, d->environment)) == NULL) {
		xasprintf(&job->error, "no app deploys service '%s' to "
		    "environment '%s'", d->service, d->environment);
		goto out;
	}
	for (i = 0; i < d->requires.n; i++) {
		req = job_deploy_app(cfg, d->requires.v[i], d->environment);
		if (req == NULL) {
			xasprintf(&job->error, "service '%s' requires '%s', "
			    "which no app deploys to environment '%s'",
			    d->service, d->requires.v[i], d->environment);
			goto out;
		}
		strv_add(&names, req->name);
	}
	/* The requires first, each healthy, then the service. */
	if (names.n != 0 && !job_sync_apps(job, heads, &names, NULL, stop)) {
		job_report(job, app->name, "Skipped", "not synced: a service "
		    "it requires did not sync", NULL);
		goto out;
	}
	strv_free(&names);
	strv_add(&names, app->name);
	job->deployed = job_sync_apps(job, heads, &names, NULL, stop);
out:
	/*
	 * Stopped between its bump and its syncs: the request stays on disk
	 * and runs again at restart. A refused or failed bump is an outcome.
	 */
	if (!job->deployed && !job->bump_failed && job->bumped &&
	    job->bump.outcome != VERSIONS_REFUSED && job->error == NULL &&
	    __atomic_load_n(stop, __ATOMIC_ACQUIRE) != 0)
		job->interrupted = 1;
	strv_free(&names);
	job_heads_free(heads);
}

/*
 * A drift check, between polls: live against the last commit the app
 * synced, a dry run (the Kubernetes target LISTs by label and dry-runs
 * only what moved). Drift in our fields is applied again (the same
 * commit) when the app heals itself and its policy is auto, else
 * reported OutOfSync; fields only other managers set are reported and
 * left alone. Skipped while suspended, while its last sync did not
 * succeed (the next poll syncs it) or while another process syncs its
 * target (the lock: the daemon's own syncs are kept apart by the
 * job's keys).
 */
static void
job_run_drift(struct job *job, const int *stop)
{
	const struct config		*cfg = job->ac->cfg;
	const struct config_app		*app;
	const struct config_repository	*repo;
	struct sync_result		*r = NULL;
	struct source			*src = NULL;
	struct app_run			 run;
	struct json			*state = NULL, *rep;
	struct lock			*lk = NULL;
	const char			*status, *rev;
	char				*commit = NULL, *cause = NULL, *msg;
	char				*list = NULL;
	uint64_t			 t0 = time_monotonic_ms();
	size_t				 n, others;

	if ((app = config_find_app(cfg, job->app)) == NULL ||
	    (repo = config_find_repository(cfg, app->repository)) == NULL ||
	    app->suspend)
		return;
	if (state_load_sync(cfg->state_dir, app->name, &state, &cause) == -1 ||
	    state == NULL)
		goto out;
	status = json_path_string(state, "status", NULL);
	rev = json_path_string(state, "revision", NULL);
	if (status == NULL || strcmp(status, "Succeeded") != 0 ||
	    (repo->directory == NULL && rev == NULL))
		goto out;
	if (target_lock(app->name, &app->target, cfg->state_dir, 0, stop, &lk,
	    &cause) != 0) {
		log_event(LOG_LEVEL_DEBUG, "drift check put off", "app",
		    app->name, "reason", cause, NULL);
		goto out;
	}
	if ((src = repo_source(cfg, repo, repo->directory != NULL ? NULL : rev,
	    &commit, &cause)) == NULL)
		goto out;
	job_app_run(job, app, src, commit, stop, &run);
	run.dry_run = 1;
	run.drift = 1;
	run.record_inputs = 0;
	if (app_sync(&run, &r, &cause) == -1 || r == NULL) {
		log_event(LOG_LEVEL_WARN, "drift check failed", "app",
		    app->name, "error", cause, NULL);
		goto out;
	}
	lock_release(lk);
	lk = NULL;
	rep = json_new_object();
	n = job_drift_found(r, &list, &others, rep);
	if (r->status == SYNC_FAILED) {
		job_report(job, app->name, "OutOfSync", r->error, NULL);
		goto report;
	}
	if (n == 0) {
		xasprintf(&msg, "live state matches Git%s", others != 0 ?
		    "; fields other managers set are left alone" : "");
		job_report(job, app->name, "Unchanged", msg, NULL);
		free(msg);
		goto report;
	}
	if (app->self_heal && !app->sync_manual) {
		log_event(LOG_LEVEL_INFO, "self-heal: drift applied again",
		    "app", app->name, "commit", commit, "resources", list,
		    NULL);
		json_free(rep);
		job_sync_app(job, repo, app, repo->directory != NULL ? NULL :
		    rev, stop, NULL);
		/* Its report says why it ran (the loop counts it healed). */
		if ((rep = json_array_get(job->reports,
		    json_count(job->reports) - 1)) != NULL)
			json_set(rep, "selfHeal", json_new_string(list));
		goto out;
	}
	xasprintf(&msg, "%zu resource%s drifted from Git, not applied (%s): "
	    "%s", n, n == 1 ? "" : "s", app->sync_manual ?
	    "sync_policy manual" : "self_heal false", list);
	job_report(job, app->name, "OutOfSync", msg, NULL);
	log_event(LOG_LEVEL_WARN, "drift", "app", app->name, "commit", commit,
	    "resources", list, NULL);
	free(msg);
report:
	job_report_seconds(job, t0);
	job_report_drift(job, rep);
out:
	free(cause);
	lock_release(lk);
	free(list);
	free(commit);
	json_free(state);
	sync_result_free(r);
	source_free(src);
}

void
job_run(struct job *job, const int *stop)
{
	switch (job->kind) {
	case JOB_REPO:
		job_run_repo(job, stop);
		break;
	case JOB_DEPLOY:
		job_run_deploy(job, stop);
		break;
	case JOB_DRIFT:
		job_run_drift(job, stop);
		break;
	}
}
