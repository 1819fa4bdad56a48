/*
 * daemon.c: `gitops-agent serve`, the running agent. One event loop
 * (libevent) owns the HTTP server (server.c; what it answers: routes.c,
 * intake.c, api.c), the per-repository poll timers, the signals and
 * every table the API shows; work runs in sched.c's workers (jobs.c).
 *
 * A webhook is verified, turned into a job and answered (202) at once;
 * pushes to a repository that arrive while its fetch is queued or running
 * are folded into one more fetch. Each repository is also polled (with
 * jitter) as the safety net for lost webhooks, and every repository is
 * reconciled at start, so a restart converges from the recorded state.
 * Accepted deploy requests are written to STATE_DIR/deployments/ before
 * the answer and removed when done, so a restart replays them.
 *
 * Runs on the loop thread only; never blocks on the network or a sync.
 * Never logs a secret.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "daemon_int.h"

/*
 * Signed deploy bodies that landed are refused again for 8 days (the
 * README promises 7), at most this many of them.
 */
#define DAEMON_REPLAY_KEEP_MS	(8ULL * 24 * 60 * 60 * 1000)
#define DAEMON_REPLAY_MAX	20000
/* The longest wait before a sync put off by a locked target is retried. */
#define DAEMON_RETRY_MAX_S	30

static void	daemon_poll_schedule(struct repo_view *);
static void	daemon_poll_cb(int, short, void *);
static void	daemon_drift_schedule(struct agent *, struct app_view *);
static void	daemon_push(struct agent *, struct job *);
static void	daemon_key_add(struct strv *, const char *, const char *);
static void	daemon_target_key_add(struct strv *,
		    const struct config_target *);
static void	daemon_replay_deploys(struct agent *, const char *);

/* The loop's tables. */

struct repo_view *
daemon_repo(struct agent *a, const char *name)
{
	size_t	i;

	for (i = 0; i < a->nrepos; i++) {
		if (strcmp(a->repos[i]->name, name) == 0)
			return (a->repos[i]);
	}
	return (NULL);
}

static void
repo_view_free(struct repo_view *rv)
{
	if (rv == NULL)
		return;
	if (rv->poll_ev != NULL)
		event_free(rv->poll_ev);
	free(rv->name);
	strv_free(&rv->again_force);
	free(rv->again_reason);
	free(rv->again_after);
	free(rv->head);
	free(rv->fetch_error);
	free(rv);
}

static void
app_view_free(struct app_view *av)
{
	if (av == NULL)
		return;
	if (av->retry_ev != NULL)
		event_free(av->retry_ev);
	if (av->drift_ev != NULL)
		event_free(av->drift_ev);
	json_free(av->live);
	free(av->name);
	json_free(av->last);
	free(av->outcome);
	free(av->reason);
	json_free(av->webhook);
	json_free(av->deploy);
	json_free(av->rollback);
	free(av);
}

static void
daemon_set_string(char **p, const char *s)
{
	free(*p);
	*p = s != NULL ? xstrdup(s) : NULL;
}

static char *
daemon_labels(const char *k1, const char *v1, const char *k2, const char *v2)
{
	char	*e1, *e2 = NULL, *out;

	e1 = metrics_label_escape(v1);
	if (k2 != NULL) {
		e2 = metrics_label_escape(v2);
		xasprintf(&out, "%s=\"%s\",%s=\"%s\"", k1, e1, k2, e2);
	} else
		xasprintf(&out, "%s=\"%s\"", k1, e1);
	free(e1);
	free(e2);
	return (out);
}

void
daemon_count(struct agent *a, const char *metric, const char *k1,
    const char *v1, const char *k2, const char *v2)
{
	char	*l = daemon_labels(k1, v1, k2, v2);

	metrics_add(a->metrics, metric, l, 1);
	free(l);
}

/* One series per state of a gauge family: 1 for the current one. */
static void
daemon_state_gauge(struct agent *a, const char *metric, const char *app,
    const char *key, const char *const *states, const char *current)
{
	char	*l;

	for (; *states != NULL; states++) {
		l = daemon_labels("app", app, key, *states);
		metrics_set(a->metrics, metric, l,
		    strcmp(*states, current) == 0 ? 1 : 0);
		free(l);
	}
}

/* Argo CD's order, best first: an app is as healthy as its worst. */
static const char *const daemon_healths[] = { "Healthy", "Suspended",
    "Progressing", "Missing", "Degraded", "Unknown", NULL };

const struct json *
daemon_app_resources(const struct app_view *av)
{
	if (av->live != NULL)
		return (av->live);
	return (json_get(av->last, "resources"));
}

/* The worst health its resources have, or NULL when none is known. */
static const char *
daemon_resources_health(const struct json *resources)
{
	const struct json	*e;
	const char		*h;
	size_t			 i, worst = 0;
	int			 known = 0;

	for (e = json_child(resources); e != NULL; e = json_next(e)) {
		h = json_path_string(e, "health", NULL);
		for (i = 0; h != NULL && daemon_healths[i + 1] != NULL; i++) {
			if (strcmp(daemon_healths[i], h) != 0)
				continue;
			known = 1;
			if (i > worst)
				worst = i;
			break;
		}
	}
	return (known ? daemon_healths[worst] : NULL);
}

/*
 * Sync state: Synced when the last sync succeeded and the loop has since
 * found nothing left to apply (a poll, a drift check); OutOfSync when it
 * failed, drift was found and not applied, or a newer commit is waiting
 * (its target was locked, a dependency or the fetch failed); Unknown
 * before the loop first looked. Health: the worst of its resources' as
 * last seen (a drift check looks at them all; a sync at those whose wave
 * it gated); without any, Healthy when the last sync (its health gates,
 * probes and analysis) succeeded, Degraded when it failed after applying
 * something, else Unknown (nothing recorded, or a failure before
 * anything was applied says nothing of what runs).
 */
void
daemon_app_columns(const struct app_view *av, const char **syncp,
    const char **healthp)
{
	const struct json	*w;
	const char		*status, *sync = "Unknown", *health = "Unknown";
	const char		*worst;
	int			 ok, applied = 0;

	status = json_path_string(av->last, "status", NULL);
	if (status != NULL) {
		ok = strcmp(status, "Succeeded") == 0;
		for (w = json_child(json_get(av->last, "waves")); w != NULL;
		    w = json_next(w))
			applied |= json_number(json_get(w, "applied")) > 0;
		worst = daemon_resources_health(daemon_app_resources(av));
		if (!ok && (json_get(av->last, "failedAfterApply") != NULL ||
		    applied))
			health = "Degraded";
		else if (worst != NULL)
			health = worst;
		else if (ok)
			health = "Healthy";
		if (av->outcome != NULL)
			sync = ok && (strcmp(av->outcome, "Succeeded") == 0 ||
			    strcmp(av->outcome, "Unchanged") == 0) ?
			    "Synced" : "OutOfSync";
	}
	*syncp = sync;
	*healthp = health;
}

/* The app's gauges, as Argo CD's argocd_app_info says them. */
static void
daemon_app_gauges(struct agent *a, const struct app_view *av)
{
	static const char *const syncs[] = { "Synced", "OutOfSync",
	    "Unknown", NULL };
	const char	*status, *sync, *health;
	char		*l;

	status = json_path_string(av->last, "status", NULL);
	if (status != NULL) {
		l = daemon_labels("app", av->name, NULL, NULL);
		metrics_set(a->metrics, "gitops_app_synced", l,
		    strcmp(status, "Succeeded") == 0);
		free(l);
	}
	daemon_app_columns(av, &sync, &health);
	daemon_state_gauge(a, "gitops_app_sync_state", av->name, "state",
	    syncs, sync);
	daemon_state_gauge(a, "gitops_app_health", av->name, "status",
	    daemon_healths, health);
}

/* A time in ms, give or take 10% (no thundering herd), as a timeval. */
static void
daemon_jitter(uint64_t ms, struct timeval *tv)
{
	uint64_t	jitter = ms / 10;

	if (jitter != 0)
		ms = ms - jitter + arc4random_uniform((uint32_t)(2 * jitter +
		    1 > UINT32_MAX ? UINT32_MAX : 2 * jitter + 1));
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

/*
 * Time for an app's drift check: queued unless one is already, or its
 * repository's job is (that one looks at the app anyway), or the app is
 * suspended. Its keys keep it apart from any sync of its target and from
 * other users of its repository's cache.
 */
static void
daemon_drift_cb(int fd, short events, void *arg)
{
	struct app_view			*av = arg;
	struct agent			*a = av->agent;
	const struct config_app		*app;
	struct repo_view		*rv;
	struct job			*job;

	if ((app = config_find_app(a->ac->cfg, av->name)) == NULL ||
	    (rv = daemon_repo(a, app->repository)) == NULL)
		return;
	daemon_drift_schedule(a, av);
	if (app->suspend || av->drift_inflight || rv->inflight ||
	    !rv->reconciled || a->stopping)
		return;
	job = job_new(JOB_DRIFT, a->ac, "drift");
	job->repo = xstrdup(rv->name);
	job->app = xstrdup(av->name);
	daemon_key_add(&job->keys, "repository", rv->name);
	daemon_target_key_add(&job->keys, &app->target);
	av->drift_inflight = 1;
	daemon_push(a, job);
}

/* The app's next drift check, drift_interval from now (0: none). */
static void
daemon_drift_schedule(struct agent *a, struct app_view *av)
{
	const struct config_app	*app;
	struct timeval		 tv;

	if ((app = config_find_app(a->ac->cfg, av->name)) == NULL ||
	    a->stopping)
		return;
	if (av->drift_ev == NULL) {
		av->agent = a;
		av->drift_ev = evtimer_new(a->base, daemon_drift_cb, av);
	}
	if (app->drift_interval_ms == 0) {
		evtimer_del(av->drift_ev);
		return;
	}
	daemon_jitter(app->drift_interval_ms, &tv);
	evtimer_add(av->drift_ev, &tv);	/* a pending one is rescheduled */
}

/* A sync put off by a locked target: ask for it again. */
static void
daemon_retry_cb(int fd, short events, void *arg)
{
	struct app_view			*av = arg;
	struct agent			*a = av->agent;
	const struct config_app		*app;
	struct repo_view		*rv;

	if ((app = config_find_app(a->ac->cfg, av->name)) == NULL ||
	    (rv = daemon_repo(a, app->repository)) == NULL)
		return;
	daemon_enqueue_repo(a, rv, "locked target", 0, av->name, NULL);
}

/*
 * Another process (a CLI sync) holds the app's target: the sync is not
 * failed but asked for again, after 1 s doubling to 30 s while it stays
 * locked.
 */
static void
daemon_retry_locked(struct agent *a, struct app_view *av, const char *why)
{
	struct timeval	tv;
	unsigned int	secs;

	if (a->stopping)
		return;
	secs = av->retries < 5 ? 1U << av->retries : DAEMON_RETRY_MAX_S;
	if (secs > DAEMON_RETRY_MAX_S)
		secs = DAEMON_RETRY_MAX_S;
	av->retries++;
	if (av->retry_ev == NULL) {
		av->agent = a;
		av->retry_ev = evtimer_new(a->base, daemon_retry_cb, av);
	}
	tv.tv_sec = secs;
	tv.tv_usec = 0;
	evtimer_add(av->retry_ev, &tv);
	log_event(LOG_LEVEL_INFO, "sync put off: target locked", "app",
	    av->name, "reason", why, "retry_in_s", LOG_UINT(secs), NULL);
}

/*
 * Make the tables match a configuration: repositories and apps kept by
 * name (with what the loop knew of them), new ones added (and their
 * repositories reconciled), removed ones dropped.
 */
static void
daemon_apply_config(struct agent *a, int first)
{
	const struct config	*cfg = a->ac->cfg;
	struct repo_view	**repos, *rv;
	struct strmap		*apps;
	struct app_view		*av;
	struct strv		 added;
	char			*err;
	size_t			 i, j, cursor;
	void			*v;

	memset(&added, 0, sizeof added);
	repos = xcalloc(cfg->nrepositories + 1, sizeof *repos);
	for (i = 0; i < cfg->nrepositories; i++) {
		rv = NULL;
		for (j = 0; j < a->nrepos; j++) {
			if (a->repos[j] != NULL && strcmp(a->repos[j]->name,
			    cfg->repositories[i].name) == 0) {
				rv = a->repos[j];
				a->repos[j] = NULL;
				break;
			}
		}
		if (rv == NULL) {
			rv = xcalloc(1, sizeof *rv);
			rv->name = xstrdup(cfg->repositories[i].name);
			rv->agent = a;
			rv->poll_ev = evtimer_new(a->base, daemon_poll_cb,
			    rv);
		}
		repos[i] = rv;
	}
	for (j = 0; j < a->nrepos; j++) {
		if (a->repos[j] != NULL)	/* the reload removed it */
			metrics_forget(a->metrics, "repository",
			    a->repos[j]->name);
		repo_view_free(a->repos[j]);
	}
	free(a->repos);
	a->repos = repos;
	a->nrepos = cfg->nrepositories;

	apps = strmap_new(cfg->napps + 1);
	for (i = 0; i < cfg->napps; i++) {
		if (a->apps != NULL && (av = strmap_get(a->apps,
		    cfg->apps[i].name)) != NULL)
			strmap_put(a->apps, cfg->apps[i].name, NULL);
		else {
			av = xcalloc(1, sizeof *av);
			av->name = xstrdup(cfg->apps[i].name);
			strv_add(&added, av->name);
			err = NULL;
			if (state_load_sync(cfg->state_dir, av->name,
			    &av->last, &err) == -1) {
				log_event(LOG_LEVEL_WARN,
				    "cannot read its last sync", "app",
				    av->name, "error", err, NULL);
				free(err);
			}
			daemon_app_gauges(a, av);
		}
		strmap_put(apps, av->name, av);
	}
	if (a->apps != NULL) {
		cursor = 0;
		while (strmap_next(a->apps, &cursor, NULL, &v)) {
			/* What is left is what the reload removed. */
			if (v != NULL)
				metrics_forget(a->metrics, "app",
				    ((struct app_view *)v)->name);
			app_view_free(v);
		}
		strmap_free(a->apps);
	}
	a->apps = apps;
	for (i = 0; i < cfg->napps; i++) {
		if ((av = strmap_get(a->apps, cfg->apps[i].name)) != NULL)
			daemon_drift_schedule(a, av);
	}

	for (i = 0; i < a->nrepos; i++) {
		rv = a->repos[i];
		if (first || (!rv->reconciled && !rv->inflight))
			daemon_enqueue_repo(a, rv, first ? "startup" :
			    "reload", 1, NULL, NULL);
		else {
			/* An app a reload added is synced now, not at a push. */
			for (j = 0; j < cfg->napps; j++) {
				if (strcmp(cfg->apps[j].repository,
				    rv->name) == 0 && strv_contains(&added,
				    cfg->apps[j].name))
					daemon_enqueue_repo(a, rv, "reload", 0,
					    cfg->apps[j].name, NULL);
			}
		}
		daemon_poll_schedule(rv);
	}
	strv_free(&added);
}

/* Jobs. */

void
daemon_gauges(struct agent *a)
{
	size_t			pending, running;
	struct lease_stats	st;

	sched_counts(a->sched, &pending, &running);
	metrics_set(a->metrics, "gitops_jobs_queued", NULL, (double)pending);
	metrics_set(a->metrics, "gitops_jobs_running", NULL, (double)running);
	if (a->shards == NULL)
		return;
	shards_stats(a->shards, &st);
	metrics_set(a->metrics, "gitops_shards_held", NULL, st.held);
	metrics_set(a->metrics, "gitops_shards", NULL,
	    shards_count(a->shards));
	metrics_set(a->metrics, "gitops_lease_replicas", NULL, st.replicas);
	metrics_set(a->metrics, "gitops_lease_transitions_total", NULL,
	    (double)st.transitions);
	metrics_set(a->metrics, "gitops_lease_renew_seconds", NULL,
	    (double)st.renew_ms / 1000.0);
}

static void
daemon_push(struct agent *a, struct job *job)
{
	job->shards = a->shards;
	sched_push(a->sched, job);
	daemon_gauges(a);
}

static void
daemon_merge_force(struct strv *into, const char *app)
{
	if (app != NULL && !strv_contains(into, app))
		strv_add(into, app);
}

/*
 * What a job holds while it runs: its repositories (one user of a cache
 * at a time) and the target directories of the apps it may sync (apps
 * of two repositories may share a directory, and its inventory must
 * have one writer).
 */
static void
daemon_key_add(struct strv *keys, const char *kind, const char *name)
{
	char	*k;

	xasprintf(&k, "%s:%s", kind, name);
	if (!strv_contains(keys, k))
		strv_add(keys, k);
	free(k);
}

static void
daemon_target_key_add(struct strv *keys, const struct config_target *ct)
{
	char	*k = target_key(ct);

	daemon_key_add(keys, "target", k);
	free(k);
}

static void
daemon_repo_keys(const struct config *cfg, const char *repo,
    struct strv *keys)
{
	size_t	i;

	daemon_key_add(keys, "repository", repo);
	for (i = 0; i < cfg->napps; i++) {
		if (strcmp(cfg->apps[i].repository, repo) == 0)
			daemon_target_key_add(keys, &cfg->apps[i].target);
	}
}

/*
 * Ask for a fetch of a repository and a sync of what it changed (all: of
 * every app; app: of that one whatever changed). A job already queued
 * takes the request; one running is followed by exactly one more.
 */
void
daemon_enqueue_repo(struct agent *a, struct repo_view *rv, const char *reason,
    int all, const char *app, const char *after)
{
	struct job	*job;

	if (a->stopping)
		return;
	if (rv->inflight && sched_merge_repo(a->sched, rv->name, all, app)) {
		metrics_add(a->metrics, "gitops_jobs_coalesced_total", NULL, 1);
		return;
	}
	if (rv->inflight) {
		/* Running: exactly one more after it, with every request. */
		if (rv->again)
			metrics_add(a->metrics, "gitops_jobs_coalesced_total",
			    NULL, 1);
		if (after == NULL || all || app != NULL)
			rv->again_unknown = 1;
		else if (rv->again_after == NULL && !rv->again_unknown)
			rv->again_after = xstrdup(after);
		else if (rv->again_after != NULL &&
		    strcmp(rv->again_after, after) != 0)
			rv->again_unknown = 1;
		rv->again = 1;
		rv->again_all |= all;
		daemon_merge_force(&rv->again_force, app);
		if (rv->again_reason == NULL)
			rv->again_reason = xstrdup(reason);
		return;
	}
	job = job_new(JOB_REPO, a->ac, reason);
	job->repo = xstrdup(rv->name);
	daemon_repo_keys(a->ac->cfg, rv->name, &job->keys);
	job->all = all;
	daemon_merge_force(&job->force, app);
	rv->inflight = 1;
	log_event(LOG_LEVEL_DEBUG, "queued", "repo", rv->name, "job",
	    LOG_UINT(job->id), "reason", reason, NULL);
	daemon_push(a, job);
}

/* The one more job a repository's requests asked for while it ran. */
static void
daemon_enqueue_again(struct agent *a, struct repo_view *rv)
{
	struct job	*job;

	rv->again = 0;
	job = job_new(JOB_REPO, a->ac, rv->again_reason != NULL ?
	    rv->again_reason : "webhook");
	job->repo = xstrdup(rv->name);
	daemon_repo_keys(a->ac->cfg, rv->name, &job->keys);
	job->all = rv->again_all;
	job->force = rv->again_force;
	memset(&rv->again_force, 0, sizeof rv->again_force);
	rv->again_all = 0;
	free(rv->again_reason);
	rv->again_reason = NULL;
	rv->again_unknown = 0;
	free(rv->again_after);
	rv->again_after = NULL;
	rv->inflight = 1;
	daemon_push(a, job);
}

/* The repositories a deploy works on: versions, and its apps'. */
static void
daemon_deploy_keys(const struct config *cfg, const struct deploy_request *d,
    struct strv *keys)
{
	const struct config_app	*app;
	size_t			 i;

	if (cfg->versions.repository != NULL)
		daemon_key_add(keys, "repository", cfg->versions.repository);
	for (i = 0; i <= d->requires.n; i++) {
		app = job_deploy_app(cfg, i < d->requires.n ?
		    d->requires.v[i] : d->service, d->environment);
		if (app == NULL)
			continue;
		daemon_key_add(keys, "repository", app->repository);
		daemon_target_key_add(keys, &app->target);
	}
	/* Dependencies of those apps are only read: no key. */
}

void
daemon_enqueue_deploy(struct agent *a, struct deploy_request *d,
    char *file, const char *digest, const char *reason)
{
	struct job	*job;

	job = job_new(JOB_DEPLOY, a->ac, reason);
	job->deploy = d;
	job->deploy_file = file;
	if (digest != NULL) {
		job->deploy_digest = xstrdup(digest);
		strmap_put(a->deploys_pending, digest, (void *)"1");
	}
	daemon_deploy_keys(a->ac->cfg, d, &job->keys);
	log_event(LOG_LEVEL_INFO, "deploy queued", "service", d->service,
	    "environment", d->environment, "version", d->version, "job",
	    LOG_UINT(job->id), NULL);
	daemon_push(a, job);
}

static void
daemon_poll_cb(int fd, short events, void *arg)
{
	struct repo_view	*rv = arg;

	daemon_enqueue_repo(rv->agent, rv, "poll", 1, NULL, NULL);
	daemon_poll_schedule(rv);
}

/* Next poll in the interval, give or take 10%. */
static void
daemon_poll_schedule(struct repo_view *rv)
{
	const struct config_repository	*r;
	struct timeval			 tv;

	r = config_find_repository(rv->agent->ac->cfg, rv->name);
	if (r == NULL || rv->agent->stopping)
		return;
	daemon_jitter(r->poll_interval_ms, &tv);
	evtimer_add(rv->poll_ev, &tv);	/* a pending one is rescheduled */
}

static void
daemon_maybe_exit(struct agent *a)
{
	size_t	pending, running;

	if (!a->stopping)
		return;
	sched_counts(a->sched, &pending, &running);
	if (running == 0)
		event_base_loopexit(a->base, NULL);
}

/* The last deploy of an app's service, for the API. */
static void
daemon_deploy_record(struct agent *a, const struct job *job, const char *sv)
{
	const struct config_app	*app;
	struct app_view		*av;

	app = job_deploy_app(a->ac->cfg, job->deploy->service,
	    job->deploy->environment);
	if (app == NULL || (av = strmap_get(a->apps, app->name)) == NULL)
		return;
	json_free(av->deploy);
	av->deploy = deploy_request_to_json(job->deploy);
	json_set(av->deploy, "outcome", json_new_string(sv));
	if (job->bump.summary != NULL)
		json_set(av->deploy, "summary",
		    json_new_string(job->bump.summary));
	if (job->bump.commit != NULL)
		json_set(av->deploy, "commit",
		    json_new_string(job->bump.commit));
	if (job->error != NULL)
		json_set(av->deploy, "error", json_new_string(job->error));
}

/*
 * A deploy job is over: its outcome counted, its body remembered if the
 * bump landed (a replay of it is refused), its file removed unless the
 * shutdown interrupted it (then it runs again at the next start).
 */
static void
daemon_deploy_done(struct agent *a, struct job *job)
{
	const char	*result;
	char		*cause = NULL;
	int		 landed;

	landed = job->bumped && !job->bump_failed &&
	    (job->bump.outcome == VERSIONS_COMMITTED ||
	    job->bump.outcome == VERSIONS_UNCHANGED);
	if (job->not_held)
		result = "waiting";
	else if (job->interrupted)
		result = "interrupted";
	else if (job->bumped && !job->bump_failed &&
	    job->bump.outcome == VERSIONS_REFUSED)
		result = "refused";
	else if (job->error != NULL || !landed || !job->deployed)
		result = "failed";
	else
		result = "done";
	daemon_count(a, "gitops_deployments_total", "result", result, NULL,
	    NULL);
	if (job->deploy_digest != NULL) {
		strmap_remove(a->deploys_pending, job->deploy_digest);
		if (landed && a->replay != NULL &&
		    replay_record(a->replay, job->deploy_digest, &cause) == -1) {
			log_event(LOG_LEVEL_WARN,
			    "cannot remember a landed deploy", "error", cause,
			    NULL);
			free(cause);
		}
	}
	/* Run again when this replica takes shards (daemon_shards_cb). */
	if (job->not_held)
		return;
	/* Interrupted: kept for whoever holds its shard next. */
	if (!job->interrupted)
		shards_deploy_done(a->shards, job->deploy_digest);
	if (job->interrupted) {
		log_event(LOG_LEVEL_INFO,
		    "deploy interrupted by the shutdown: it resumes at "
		    "the next start",
		    "service", job->deploy->service, "environment",
		    job->deploy->environment, "version", job->deploy->version,
		    "file", job->deploy_file, NULL);
		return;
	}
	if (job->deploy_file != NULL && unlink(job->deploy_file) == -1 &&
	    errno != ENOENT)
		log_event_errno(LOG_LEVEL_WARN, "cannot remove the deploy file",
		    "file", job->deploy_file, NULL);
}

/*
 * A drift check's report: what it found into the app's view and the
 * metrics. 1 when that is all (nothing was applied); 0 for the sync a
 * self-heal made, which is taken in as any sync.
 */
static int
daemon_drift_done(struct agent *a, const struct job *job,
    struct app_view *av, const struct json *rep)
{
	const char	*outcome = json_path_string(rep, "outcome", NULL);
	const char	*reason = json_path_string(rep, "reason", NULL);
	const char	*rev;
	const struct config_app *app;
	struct repo_view *rv;

	if (job->kind != JOB_DRIFT)
		return (0);
	if (json_get(rep, "selfHeal") != NULL) {
		daemon_count(a, "gitops_drift_checks_total", "app", av->name,
		    "result", "healed");
		return (0);
	}
	/*
	 * Live matching the last commit synced says nothing of a newer one
	 * waiting (a manual app's): what the poll said of that stays.
	 */
	app = config_find_app(a->ac->cfg, av->name);
	rv = app != NULL ? daemon_repo(a, app->repository) : NULL;
	rev = json_path_string(av->last, "revision", NULL);
	if (strcmp(outcome, "Unchanged") != 0 || rv == NULL ||
	    rv->head == NULL || rev == NULL || strcmp(rv->head, rev) == 0) {
		daemon_set_string(&av->outcome, outcome);
		daemon_set_string(&av->reason, reason);
	}
	av->checked_ms = job->finished_ms;
	av->checks++;
	daemon_count(a, "gitops_drift_checks_total", "app", av->name,
	    "result", strcmp(outcome, "Unchanged") == 0 ? "synced" :
	    "out_of_sync");
	daemon_app_gauges(a, av);
	return (1);
}

/* What a finished job found, into the tables and the metrics. */
static void
daemon_job_done(struct agent *a, struct job *job)
{
	struct repo_view	*rv = NULL;
	struct app_view		*av;
	struct json		*rep, *res;
	const char		*name, *outcome, *reason, *sv;
	char			*l, *err, at[TIME_FORMAT_LEN];

	if (job->fetched != 0) {
		l = daemon_labels("repository", job->repo != NULL ? job->repo :
		    "-", "result", job->fetch_failed ? "failed" : "ok");
		metrics_add(a->metrics, "gitops_fetches_total", l,
		    job->fetched);
		free(l);
		l = daemon_labels("repository", job->repo != NULL ? job->repo :
		    "-", NULL, NULL);
		metrics_observe(a->metrics, "gitops_fetch_duration_seconds",
		    l, job->fetch_seconds / job->fetched);
		free(l);
	}
	if (job->kind == JOB_REPO &&
	    (rv = daemon_repo(a, job->repo)) != NULL) {
		rv->inflight = 0;
		rv->reconciled = 1;
		if (job->head != NULL)
			daemon_set_string(&rv->head, job->head);
		daemon_set_string(&rv->fetch_error, job->fetch_failed ?
		    job->error : NULL);
		if (job->fetched != 0)
			rv->fetched_ms = job->finished_ms;
	}
	if (job->kind == JOB_DRIFT && (av = strmap_get(a->apps,
	    job->app)) != NULL)
		av->drift_inflight = 0;
	for (rep = json_child(job->reports); rep != NULL;
	    rep = json_next(rep)) {
		name = json_path_string(rep, "app", NULL);
		outcome = json_path_string(rep, "outcome", NULL);
		reason = json_path_string(rep, "reason", NULL);
		if (name == NULL || outcome == NULL ||
		    (av = strmap_get(a->apps, name)) == NULL)
			continue;
		/* A comparison's look at the resources (poll or drift check). */
		if ((res = json_path(rep, "drift", "resources", NULL)) !=
		    NULL) {
			json_free(av->live);
			av->live = json_dup(res);
		}
		if (daemon_drift_done(a, job, av, rep))
			continue;
		if (strcmp(outcome, "RolledBack") == 0) {
			res = json_get(rep, "result");
			daemon_count(a, "gitops_rollbacks_total", "outcome",
			    json_path_string(res, "outcome", NULL) != NULL ?
			    json_path_string(res, "outcome", NULL) : "?", NULL,
			    NULL);
			json_free(av->rollback);
			av->rollback = json_dup(res);
			time_format(job->finished_ms, at, sizeof at);
			json_set(av->rollback, "at", json_new_string(at));
			continue;
		}
		daemon_set_string(&av->outcome, outcome);
		daemon_set_string(&av->reason, reason);
		av->checked_ms = job->finished_ms;
		av->checks++;
		if (strcmp(outcome, "Locked") == 0)
			daemon_retry_locked(a, av, reason);
		else
			av->retries = 0;
		if (strcmp(outcome, "Unchanged") == 0 ||
		    strcmp(outcome, "Skipped") == 0 ||
		    strcmp(outcome, "Locked") == 0 ||
		    strcmp(outcome, "OutOfSync") == 0) {
			daemon_count(a, "gitops_syncs_skipped_total", "app",
			    name, "reason", strcmp(outcome, "Unchanged") == 0 ?
			    "unchanged" : strcmp(outcome, "Locked") == 0 ?
			    "locked" : strcmp(outcome, "OutOfSync") == 0 ?
			    "out_of_sync" : reason != NULL &&
			    strcmp(reason, "suspended") == 0 ? "suspended" :
			    "dependency");
			daemon_app_gauges(a, av);
			continue;
		}
		daemon_count(a, "gitops_syncs_total", "app", name, "result",
		    outcome);
		json_free(av->live);
		av->live = NULL;
		if ((res = json_get(rep, "result")) != NULL) {
			json_free(av->last);
			av->last = json_dup(res);
		} else {
			/* The record the worker wrote for the failure. */
			json_free(av->last);
			av->last = NULL;
			err = NULL;
			if (state_load_sync(a->ac->cfg->state_dir, name,
			    &av->last, &err) == -1)
				free(err);
		}
		daemon_app_gauges(a, av);
		/* The app's own time, not its job's (which syncs several). */
		if ((res = json_get(rep, "seconds")) != NULL) {
			l = daemon_labels("app", name, NULL, NULL);
			metrics_observe(a->metrics,
			    "gitops_sync_duration_seconds", l,
			    json_number(res));
			free(l);
		}
	}
	if (job->kind == JOB_DEPLOY) {
		sv = !job->bumped ? "none" : job->bump_failed ? "failed" :
		    job->bump.outcome == VERSIONS_COMMITTED ? "committed" :
		    job->bump.outcome == VERSIONS_UNCHANGED ? "unchanged" :
		    "refused";
		daemon_count(a, "gitops_bumps_total", "outcome", sv, NULL,
		    NULL);
		if (job->bump.attempts > 1)
			metrics_add(a->metrics, "gitops_push_retries_total",
			    NULL, job->bump.attempts - 1);
		daemon_deploy_done(a, job);
		daemon_deploy_record(a, job, sv);
	}
	if (rv != NULL && rv->again && !rv->again_unknown &&
	    rv->again_after != NULL && rv->head != NULL &&
	    strcmp(rv->again_after, rv->head) == 0) {
		/* Every push while it ran was for the commit it fetched. */
		metrics_add(a->metrics, "gitops_jobs_coalesced_total", NULL, 1);
		rv->again = 0;
		free(rv->again_reason);
		rv->again_reason = NULL;
		free(rv->again_after);
		rv->again_after = NULL;
		strv_free(&rv->again_force);
	}
	if (rv != NULL && rv->again && !a->stopping)
		daemon_enqueue_again(a, rv);
	job_free(job);
}

static void
daemon_done_cb(int fd, short events, void *arg)
{
	struct agent		*a = arg;
	struct job_queue	 q;
	struct job		*job;

	TAILQ_INIT(&q);
	sched_done(a->sched, &q);
	while ((job = TAILQ_FIRST(&q)) != NULL) {
		TAILQ_REMOVE(&q, job, entry);
		daemon_job_done(a, job);
	}
	daemon_gauges(a);
	daemon_maybe_exit(a);
}

/*
 * A deploy another replica accepted and did not finish, kept for the
 * holder of its shard, now us: on our disk and queued like one of ours,
 * unless it is queued or landed here already.
 */
static void
daemon_deploy_adopt(struct agent *a, const char *request)
{
	struct deploy_request	*d = NULL;
	struct json		*o;
	const char		*digest;
	char			*cause = NULL, *file;

	if ((o = json_parse(request, strlen(request), &cause)) == NULL ||
	    (d = deploy_request_from_json(o, &cause)) == NULL ||
	    daemon_deploy_check(a->ac->cfg, d, &cause) == -1 ||
	    (digest = json_path_string(o, "bodyDigest", NULL)) == NULL) {
		log_event(LOG_LEVEL_WARN, "kept deploy request dropped",
		    "error", cause != NULL ? cause : "no bodyDigest", NULL);
		goto out;
	}
	if (strmap_get(a->deploys_pending, digest) != NULL)
		goto out;
	if (a->replay != NULL && replay_landed(a->replay, digest)) {
		shards_deploy_done(a->shards, digest);
		goto out;
	}
	if ((file = daemon_deploy_save(a, d, json_path_string(o, "delivery",
	    NULL), digest, &cause)) == NULL) {
		log_event(LOG_LEVEL_WARN, "cannot keep a deploy request",
		    "error", cause, NULL);
		goto out;
	}
	log_event(LOG_LEVEL_INFO, "deploy taken over", "service", d->service,
	    "environment", d->environment, "version", d->version, NULL);
	daemon_enqueue_deploy(a, d, file, digest, "handoff");
	d = NULL;
out:
	deploy_request_free(d);
	json_free(o);
	free(cause);
}

/*
 * The Lease thread took shards: sync every repository now (the apps of
 * other shards are skipped, the ones just taken synced as at a start)
 * rather than at their next poll. Or another replica got a push for a
 * repository and nudged us: fetch it as that webhook would have.
 */
static void
daemon_shards_cb(int fd, short events, void *arg)
{
	struct agent		*a = arg;
	struct repo_view	*rv;
	struct strv		 nudged, adopted;
	size_t			 i;
	int			 gained;

	shards_take(a->shards, &gained, &nudged, &adopted);
	for (i = 0; i < adopted.n; i++)
		daemon_deploy_adopt(a, adopted.v[i]);
	strv_free(&adopted);
	for (i = 0; gained && i < a->nrepos; i++)
		daemon_enqueue_repo(a, a->repos[i], "shard taken", 1, NULL,
		    NULL);
	/* Deploys kept for want of their shard: one may be ours now. */
	if (gained)
		daemon_replay_deploys(a, "shard taken");
	for (i = 0; !gained && i < nudged.n; i++) {
		if ((rv = daemon_repo(a, nudged.v[i])) == NULL)
			continue;
		log_event(LOG_LEVEL_INFO, "nudged", "repo", rv->name, NULL);
		daemon_enqueue_repo(a, rv, "nudge", 0, NULL, NULL);
	}
	strv_free(&nudged);
	daemon_gauges(a);
}

/* The deploy queue on disk (STATE_DIR/deployments). */

/* A deploy request as it is kept: on disk, and for the next holder. */
char *
daemon_deploy_text(const struct deploy_request *d, const char *delivery,
    const char *digest)
{
	struct json	*o;
	char		*text;

	o = deploy_request_to_json(d);
	if (delivery != NULL)
		json_set(o, "delivery", json_new_string(delivery));
	json_set(o, "bodyDigest", json_new_string(digest));
	text = json_print(o, 1);
	json_free(o);
	return (text);
}

/* Keep a deploy request on disk until it is done; the file's path. */
char *
daemon_deploy_save(struct agent *a, const struct deploy_request *d,
    const char *delivery, const char *digest, char **cause)
{
	static uint64_t	 seq;
	char		*dir, *name, *path, *text;
	int		 rc;

	dir = path_join(a->ac->cfg->state_dir, "deployments");
	xasprintf(&name, "%016llx-%06llu.json",
	    (unsigned long long)time_now_ms(), (unsigned long long)++seq);
	path = path_join(dir, name);
	free(name);
	free(dir);
	text = daemon_deploy_text(d, delivery, digest);
	/* A few milliseconds on the loop: deploys are rare, loss is not. */
	rc = file_write_atomic(path, text, strlen(text), 0600, cause);
	free(text);
	if (rc == -1) {
		free(path);
		return (NULL);
	}
	return (path);
}

/* Check a deploy request against the configuration; cause if not. */
int
daemon_deploy_check(const struct config *cfg, const struct deploy_request *d,
    char **cause)
{
	size_t	i;

	if (cfg->versions.repository == NULL) {
		xasprintf(cause, "this agent has no 'versions' configured: it "
		    "cannot deploy");
		return (-1);
	}
	if (job_deploy_app(cfg, d->service, d->environment) == NULL) {
		xasprintf(cause, "no app deploys service '%s' to environment "
		    "'%s'", d->service, d->environment);
		return (-1);
	}
	for (i = 0; i < d->requires.n; i++) {
		if (job_deploy_app(cfg, d->requires.v[i],
		    d->environment) == NULL) {
			xasprintf(cause, "service '%s' requires '%s', which no "
			    "app deploys to environment '%s'", d->service,
			    d->requires.v[i], d->environment);
			return (-1);
		}
	}
	return (0);
}

/*
 * Deploy requests on disk and not done (accepted before a restart, or
 * waiting for their shard) that are not queued already: again.
 */
static void
daemon_replay_deploys(struct agent *a, const char *reason)
{
	struct deploy_request	*d;
	struct dirent		*de;
	struct json		*o;
	struct strv		 names;
	DIR			*dp;
	char			*dir, *path, *data, *cause;
	size_t			 i, len;

	dir = path_join(a->ac->cfg->state_dir, "deployments");
	memset(&names, 0, sizeof names);
	if ((dp = opendir(dir)) != NULL) {
		while ((de = readdir(dp)) != NULL) {
			len = strlen(de->d_name);
			if (de->d_name[0] != '.' && len > 5 &&
			    strcmp(de->d_name + len - 5, ".json") == 0)
				strv_add(&names, de->d_name);
		}
		closedir(dp);
	}
	strv_sort(&names);
	for (i = 0; i < names.n; i++) {
		path = path_join(dir, names.v[i]);
		data = cause = NULL;
		o = NULL;
		d = NULL;
		if (file_read(path, 1024 * 1024, &data, &len, &cause) == -1 ||
		    (o = json_parse(data, len, &cause)) == NULL ||
		    (d = deploy_request_from_json(o, &cause)) == NULL ||
		    daemon_deploy_check(a->ac->cfg, d, &cause) == -1) {
			log_event(LOG_LEVEL_WARN, "deploy request dropped",
			    "file", path, "error", cause, NULL);
			unlink(path);
			deploy_request_free(d);
			free(path);
		} else if (json_path_string(o, "bodyDigest", NULL) != NULL &&
		    strmap_get(a->deploys_pending, json_path_string(o,
		    "bodyDigest", NULL)) != NULL) {
			/* Queued or running. */
			deploy_request_free(d);
			free(path);
		} else {
			log_event(LOG_LEVEL_INFO, "deploy request on disk",
			    "file", path, "reason", reason, NULL);
			daemon_enqueue_deploy(a, d, path,
			    json_path_string(o, "bodyDigest", NULL), reason);
		}
		json_free(o);
		free(data);
		free(cause);
	}
	strv_free(&names);
	free(dir);
}

static int
daemon_same_string(const char *x, const char *y)
{
	return (x == NULL || y == NULL ? x == y : strcmp(x, y) == 0);
}

/*
 * The Leases, shards and identity are the running process's: a reload
 * keeps them (an app's shard: the running count with its new pin).
 */
static int
daemon_coordination_same(const struct config_coordination *x,
    const struct config_coordination *y)
{
	return (x->enabled == y->enabled && x->in_cluster == y->in_cluster &&
	    x->shards == y->shards &&
	    x->lease_duration_ms == y->lease_duration_ms &&
	    daemon_same_string(x->kubeconfig, y->kubeconfig) &&
	    daemon_same_string(x->context, y->context) &&
	    daemon_same_string(x->namespace, y->namespace) &&
	    daemon_same_string(x->identity, y->identity));
}

static void
daemon_reload(struct agent *a)
{
	struct agent_config	*ac;
	char			*cause = NULL;

	if ((ac = agent_config_load(a->config_file, &cause)) == NULL) {
		log_event(LOG_LEVEL_WARN,
		    "reload refused, the running configuration stays", "file",
		    a->config_file, "error", cause, NULL);
		free(cause);
		metrics_add(a->metrics, "gitops_config_reloads_total",
		    "result=\"failed\"", 1);
		return;
	}
	if (strcmp(ac->cfg->listen, a->ac->cfg->listen) != 0)
		log_event(LOG_LEVEL_WARN,
		    "the listen address changes at the next restart", "listen",
		    a->ac->cfg->listen, NULL);
	if (!daemon_coordination_same(&ac->cfg->coordination,
	    &a->ac->cfg->coordination))
		log_event(LOG_LEVEL_WARN,
		    "coordination changes at the next restart", NULL);
	agent_config_unref(a->ac);
	a->ac = ac;
	log_set_level(ac->cfg->log_level);
	daemon_apply_config(a, 0);
	metrics_add(a->metrics, "gitops_config_reloads_total",
	    "result=\"ok\"", 1);
	log_event(LOG_LEVEL_INFO, "configuration reloaded", "file",
	    a->config_file, NULL);
}

static void
daemon_shutdown_timeout_cb(int fd, short events, void *arg)
{
	struct agent	*a = arg;

	log_event(LOG_LEVEL_WARN, "shutdown timeout: exiting with work running",
	    NULL);
	event_base_loopexit(a->base, NULL);
}

static void
daemon_signal_cb(int sig, short events, void *arg)
{
	struct agent		*a = arg;
	struct job_queue	 q;
	struct job		*job;
	struct timeval		 tv;
	size_t			 i;

	if (sig == SIGHUP) {
		daemon_reload(a);
		return;
	}
	if (sig == SIGPIPE)
		return;
	if (a->stopping)
		return;
	log_event(LOG_LEVEL_INFO, "shutting down", "signal",
	    sig == SIGTERM ? "TERM" : "INT", NULL);
	a->stopping = 1;
	__atomic_store_n(&a->stop, 1, __ATOMIC_RELEASE);
	daemon_listen_update(a);
	for (i = 0; i < a->nrepos; i++)
		evtimer_del(a->repos[i]->poll_ev);
	/* Jobs not started: the next start redoes them (deploys on disk). */
	TAILQ_INIT(&q);
	sched_drain(a->sched, &q);
	while ((job = TAILQ_FIRST(&q)) != NULL) {
		TAILQ_REMOVE(&q, job, entry);
		free(job->deploy_file);
		job->deploy_file = NULL;
		job_free(job);
	}
	tv.tv_sec = (time_t)(a->ac->cfg->shutdown_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(a->ac->cfg->shutdown_timeout_ms % 1000) *
	    1000;
	a->shutdown_ev = evtimer_new(a->base, daemon_shutdown_timeout_cb, a);
	evtimer_add(a->shutdown_ev, &tv);
	daemon_maybe_exit(a);
}

static void
daemon_free(struct agent *a)
{
	size_t	 i, cursor = 0;
	void	*v;

	for (i = 0; i < a->nrepos; i++)
		repo_view_free(a->repos[i]);
	free(a->repos);
	if (a->apps != NULL) {
		while (strmap_next(a->apps, &cursor, NULL, &v))
			app_view_free(v);
		strmap_free(a->apps);
	}
	daemon_deliveries_free(a->deliveries);
	daemon_deliveries_free(a->deliveries_old);
	replay_free(a->replay);
	strmap_free(a->deploys_pending);
	daemon_server_free(a);
	metrics_free(a->metrics);
	agent_config_unref(a->ac);
	if (a->sig_term != NULL) {
		event_free(a->sig_term);
		event_free(a->sig_int);
		event_free(a->sig_hup);
		event_free(a->sig_pipe);
	}
	if (a->shutdown_ev != NULL)
		event_free(a->shutdown_ev);
}

int
cmd_serve(struct cli_env *env, int argc, char **argv)
{
	struct agent	 a;
	char		*cause = NULL;
	int		 rc = EXIT_ERROR;

	/* main.c checked the options: serve takes none. */
	if (argc > 1)
		return (cli_usage_error(argv[0], "unexpected argument '%s'",
		    argv[1]));
	memset(&a, 0, sizeof a);
	a.config_file = env->config_file;
	a.started_ms = time_now_ms();
	if ((a.ac = agent_config_load(a.config_file, &cause)) == NULL) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		return (EXIT_DIFFERENT);
	}
	if (!env->verbose)
		log_set_level(a.ac->cfg->log_level);
	if (evthread_use_pthreads() == -1)
		fatalx("libevent has no thread support");
	if ((a.base = event_base_new()) == NULL)
		fatalx("cannot make the event loop");
	a.metrics = metrics_new();
	a.deliveries = strmap_new(DAEMON_DELIVERIES);
	a.deliveries_old = strmap_new(1);
	a.conns = strmap_new(64);
	a.deploys_pending = strmap_new(16);
	a.peers = strmap_new(64);
	TAILQ_INIT(&a.waiting);
	a.reserve_fd = -1;
	if (file_mkdirs(a.ac->cfg->state_dir, 0755, &cause) == -1 ||
	    (a.replay = replay_open(a.ac->cfg->state_dir,
	    DAEMON_REPLAY_KEEP_MS, DAEMON_REPLAY_MAX, &cause)) == NULL ||
	    daemon_tls_init(&a, &cause) == -1 ||
	    daemon_listen(&a, &cause) == -1) {
		fprintf(stderr, "gitops-agent serve: %s\n", cause);
		free(cause);
		goto out;
	}
	a.sig_term = evsignal_new(a.base, SIGTERM, daemon_signal_cb, &a);
	a.sig_int = evsignal_new(a.base, SIGINT, daemon_signal_cb, &a);
	a.sig_hup = evsignal_new(a.base, SIGHUP, daemon_signal_cb, &a);
	a.sig_pipe = evsignal_new(a.base, SIGPIPE, daemon_signal_cb, &a);
	evsignal_add(a.sig_term, NULL);
	evsignal_add(a.sig_int, NULL);
	evsignal_add(a.sig_hup, NULL);
	evsignal_add(a.sig_pipe, NULL);
	a.sched = sched_new(a.base, a.ac->cfg->workers, &a.stop,
	    daemon_done_cb, &a);
	a.shards = shards_start(a.base, &a.ac->cfg->coordination,
	    daemon_shards_cb, &a, &cause);
	if (a.shards == NULL && cause != NULL) {
		fprintf(stderr, "gitops-agent serve: coordination: %s\n",
		    cause);
		free(cause);
		goto out;
	}
	daemon_apply_config(&a, 1);
	daemon_replay_deploys(&a, "restart");
	daemon_listen_update(&a);
	log_event(LOG_LEVEL_INFO, "started", "listen", a.ac->cfg->listen, "tls",
	    a.ssl != NULL ? "yes" : "no", "workers",
	    LOG_INT(a.ac->cfg->workers), "repositories",
	    LOG_UINT(a.ac->cfg->nrepositories), "apps",
	    LOG_UINT(a.ac->cfg->napps), NULL);
	event_base_dispatch(a.base);
	if (sched_stop(a.sched, 1000) == -1) {
		/* A worker is still in a fetch or a wave: leave it be. */
		log_event(
		    LOG_LEVEL_WARN, "exiting with a job still running", NULL);
		fflush(NULL);
		_exit(0);
	}
	/* No job runs any more: a successor may take our shards at once. */
	shards_stop(a.shards);
	/* Jobs that finished after the loop stopped: their files go too. */
	daemon_done_cb(-1, 0, &a);
	log_event(LOG_LEVEL_INFO, "stopped", NULL);
	rc = EXIT_OK;
out:
	shards_free(a.shards);
	if (a.sched != NULL)
		sched_free(a.sched);
	daemon_free(&a);
	if (a.base != NULL)
		event_base_free(a.base);
	return (rc);
}
