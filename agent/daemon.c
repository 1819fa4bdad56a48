/*
 * daemon.c: `gitops-agent serve`, the running agent. One event loop
 * (libevent) owns the HTTP server, the per-repository poll timers, the
 * signals and every table the API shows; work runs in sched.c's workers.
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
 * Every request is answered exactly once, here. Never logs a secret.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "agent.h"

/*
 * Delivery ids remembered, to acknowledge a redelivery without acting:
 * two generations of at most DAEMON_DELIVERIES each (the older dropped
 * whole when the newer fills), so memory stays bounded however many
 * deliveries arrive, and each lookup is two hash probes.
 */
#define DAEMON_DELIVERIES	4096
#define DAEMON_DELIVERY_TTL_MS	(24 * 60 * 60 * 1000)

/*
 * Signed deploy bodies that landed are refused again for 8 days (the
 * README promises 7), at most this many of them; a /api/v1/deployments
 * request must carry a timestamp at most this far from now.
 */
#define DAEMON_REPLAY_KEEP_MS	(8ULL * 24 * 60 * 60 * 1000)
#define DAEMON_REPLAY_MAX	20000
#define DAEMON_DEPLOY_SKEW_S	(5 * 60)

/* Out of descriptors, accepting pauses this long (nginx waits 500 ms). */
#define DAEMON_ACCEPT_BACKOFF_MS	500

/* What the loop knows of a repository. */
struct repo_view {
	char		*name;
	int		 inflight;	/* its job is queued or running */
	int		 again;		/* one more after the running one */
	int		 again_all;
	struct strv	 again_force;
	char		*again_reason;
	/*
	 * The commit every request for one more job named (pushes carry
	 * it), or NULL when one named none: if the running fetch brings it,
	 * one more is not needed.
	 */
	char		*again_after;
	int		 again_unknown;
	struct event	*poll_ev;
	char		*head;		/* last commit fetched */
	char		*fetch_error;	/* last fetch's error, or NULL */
	uint64_t	 fetched_ms;
	int		 reconciled;	/* its first job is done */
	struct agent	*agent;
};

/* What the loop knows of an app. */
struct app_view {
	char		*name;
	struct json	*last;		/* last sync result (state), or NULL */
	char		*outcome;	/* of the last job that looked at it */
	char		*reason;
	uint64_t	 checked_ms;
	struct json	*webhook;	/* last webhook for its repository */
	struct json	*deploy;	/* last deploy of its service */
	struct json	*rollback;	/* last automatic rollback */
};

/*
 * An HTTP connection from its accept to its close. It waits for a request
 * from its accept, and again after each answer (keep-alive): the request
 * must have arrived whole by its deadline, http_timeout later.
 */
struct daemon_conn {
	struct evhttp_connection *evcon;
	struct agent		*agent;
	struct event		*deadline;
	char			*peer;		/* the client's address */
	int			 waiting;	/* in agent's waiting list */
	TAILQ_ENTRY(daemon_conn) entry;
};
TAILQ_HEAD(daemon_conns, daemon_conn);

struct agent {
	struct event_base	*base;
	struct evhttp		*http;
	struct evconnlistener	*listener;
	SSL_CTX			*ssl;
	struct sched		*sched;
	struct metrics		*metrics;
	struct agent_config	*ac;
	const char		*config_file;
	struct repo_view	**repos;
	size_t			  nrepos;
	struct strmap		*apps;		/* name -> struct app_view */
	struct strmap		*deliveries;	/* id -> time received */
	struct strmap		*deliveries_old;
	struct replay		*replay;	/* deploy bodies that landed */
	struct strmap		*deploys_pending; /* digest -> "1" */
	struct strmap		*conns;		/* evcon -> struct daemon_conn */
	size_t			 nconns;
	struct daemon_conns	 waiting;	/* waiting longest first */
	struct strmap		*peers;		/* address -> connections */
	struct bufferevent	**newbevs;	/* accepted, not yet tracked */
	size_t			  nnewbevs;
	struct event		*newconn_ev;
	struct event		*backoff_ev;	/* accepting again */
	int			 backoff;
	int			 reserve_fd;	/* given up to accept at EMFILE */
	int			 listening;
	int			 stop;		/* read by workers (atomic) */
	int			 stopping;
	uint64_t		 started_ms;
	struct event		*sig_term, *sig_int, *sig_hup, *sig_pipe;
	struct event		*shutdown_ev;
};

static void	daemon_enqueue_repo(struct agent *, struct repo_view *,
		    const char *, int, const char *, const char *);
static void	daemon_poll_schedule(struct repo_view *);
static void	daemon_poll_cb(int, short, void *);

/* The loop's tables. */

static struct repo_view *
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

static void
daemon_count(struct agent *a, const char *metric, const char *k1,
    const char *v1, const char *k2, const char *v2)
{
	char	*l = daemon_labels(k1, v1, k2, v2);

	metrics_add(a->metrics, metric, l, 1);
	free(l);
}

static void
daemon_app_synced_gauge(struct agent *a, const struct app_view *av)
{
	const char	*status;
	char		*l;

	status = json_path_string(av->last, "status", NULL);
	if (status == NULL)
		return;
	l = daemon_labels("app", av->name, NULL, NULL);
	metrics_set(a->metrics, "gitops_app_synced", l,
	    strcmp(status, "Succeeded") == 0 ? 1 : 0);
	free(l);
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
	for (j = 0; j < a->nrepos; j++)
		repo_view_free(a->repos[j]);
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
			daemon_app_synced_gauge(a, av);
		}
		strmap_put(apps, av->name, av);
	}
	if (a->apps != NULL) {
		cursor = 0;
		while (strmap_next(a->apps, &cursor, NULL, &v))
			app_view_free(v);
		strmap_free(a->apps);
	}
	a->apps = apps;

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

static void
daemon_gauges(struct agent *a)
{
	size_t	pending, running;

	sched_counts(a->sched, &pending, &running);
	metrics_set(a->metrics, "gitops_jobs_queued", NULL, (double)pending);
	metrics_set(a->metrics, "gitops_jobs_running", NULL, (double)running);
}

static void
daemon_push(struct agent *a, struct job *job)
{
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
daemon_repo_keys(const struct config *cfg, const char *repo,
    struct strv *keys)
{
	size_t	i;

	daemon_key_add(keys, "repository", repo);
	for (i = 0; i < cfg->napps; i++) {
		if (strcmp(cfg->apps[i].repository, repo) == 0)
			daemon_key_add(keys, "target",
			    cfg->apps[i].target_path);
	}
}

/*
 * Ask for a fetch of a repository and a sync of what it changed (all: of
 * every app; app: of that one whatever changed). A job already queued
 * takes the request; one running is followed by exactly one more.
 */
static void
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
		daemon_key_add(keys, "target", app->target_path);
	}
	/* Dependencies of those apps are only read: no key. */
}

static void
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

/* Next poll in the interval, give or take 10% (no thundering herd). */
static void
daemon_poll_schedule(struct repo_view *rv)
{
	const struct config_repository	*r;
	struct timeval			 tv;
	uint64_t			 ms, jitter;

	r = config_find_repository(rv->agent->ac->cfg, rv->name);
	if (r == NULL || rv->agent->stopping)
		return;
	ms = r->poll_interval_ms;
	jitter = ms / 10;
	if (jitter != 0)
		ms = ms - jitter + arc4random_uniform((uint32_t)(2 * jitter +
		    1 > UINT32_MAX ? UINT32_MAX : 2 * jitter + 1));
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
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
	if (job->interrupted)
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

/* What a finished job found, into the tables and the metrics. */
static void
daemon_job_done(struct agent *a, struct job *job)
{
	struct repo_view	*rv = NULL;
	struct app_view		*av;
	struct json		*rep, *res;
	const char		*name, *outcome, *reason, *sv;
	char			*l, *err;
	double			 secs;

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
	for (rep = json_child(job->reports); rep != NULL;
	    rep = json_next(rep)) {
		name = json_path_string(rep, "app", NULL);
		outcome = json_path_string(rep, "outcome", NULL);
		reason = json_path_string(rep, "reason", NULL);
		if (name == NULL || outcome == NULL ||
		    (av = strmap_get(a->apps, name)) == NULL)
			continue;
		if (strcmp(outcome, "RolledBack") == 0) {
			res = json_get(rep, "result");
			daemon_count(a, "gitops_rollbacks_total", "outcome",
			    json_path_string(res, "outcome", NULL) != NULL ?
			    json_path_string(res, "outcome", NULL) : "?", NULL,
			    NULL);
			json_free(av->rollback);
			av->rollback = json_dup(res);
			json_set(av->rollback, "at", json_new_number(
			    (double)job->finished_ms / 1000.0));
			continue;
		}
		daemon_set_string(&av->outcome, outcome);
		daemon_set_string(&av->reason, reason);
		av->checked_ms = job->finished_ms;
		if (strcmp(outcome, "Unchanged") == 0 ||
		    strcmp(outcome, "Skipped") == 0) {
			daemon_count(a, "gitops_syncs_skipped_total", "app",
			    name, "reason", strcmp(outcome, "Unchanged") == 0 ?
			    "unchanged" : "dependency");
			continue;
		}
		daemon_count(a, "gitops_syncs_total", "app", name, "result",
		    outcome);
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
		daemon_app_synced_gauge(a, av);
		secs = (double)(job->finished_ms - job->started_ms) / 1000.0;
		l = daemon_labels("app", name, NULL, NULL);
		metrics_observe(a->metrics, "gitops_sync_duration_seconds", l,
		    secs);
		free(l);
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


/* HTTP: answers, connections, routes. */

static const char *
daemon_header_cb(void *arg, const char *name)
{
	return (evhttp_find_header(evhttp_request_get_input_headers(arg),
	    name));
}

static void
daemon_reply(struct agent *a, struct evhttp_request *req, const char *route,
    int code, const char *type, const char *body)
{
	struct evbuffer	*out = evbuffer_new();
	char		 codes[8];

	if (out == NULL)
		fatalx("cannot allocate a reply buffer");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", type);
	evbuffer_add(out, body, strlen(body));
	evhttp_send_reply(req, code, NULL, out);
	evbuffer_free(out);
	snprintf(codes, sizeof codes, "%d", code);
	daemon_count(a, "gitops_http_requests_total", "route", route, "code",
	    codes);
}

/* {"status": status, "message": msg} and the code. */
static void
daemon_reply_status(struct agent *a, struct evhttp_request *req,
    const char *route, int code, const char *status, const char *msg)
{
	struct json	*o = json_new_object();
	char		*text;

	json_set(o, "status", json_new_string(status));
	if (msg != NULL)
		json_set(o, "message", json_new_string(msg));
	text = json_print(o, 0);
	json_free(o);
	daemon_reply(a, req, route, code, "application/json", text);
	free(text);
}

static void
daemon_reply_json(struct agent *a, struct evhttp_request *req,
    const char *route, int code, const struct json *o)
{
	char	*text = json_print(o, 1);

	daemon_reply(a, req, route, code, "application/json", text);
	free(text);
}

/* Accept when not stopping and not backing off: the one place that says. */
static void
daemon_listen_update(struct agent *a)
{
	int	want = !a->stopping && !a->backoff;

	if (want && !a->listening)
		evconnlistener_enable(a->listener);
	else if (!want && a->listening)
		evconnlistener_disable(a->listener);
	a->listening = want;
}

static void
daemon_conn_key(struct evhttp_connection *evcon, char *key, size_t len)
{
	snprintf(key, len, "%p", (void *)evcon);
}

static void
daemon_conn_gauge(struct agent *a)
{
	metrics_set(a->metrics, "gitops_http_connections", NULL,
	    (double)a->nconns);
}

static void
daemon_conn_unwait(struct daemon_conn *c)
{
	if (c->waiting) {
		TAILQ_REMOVE(&c->agent->waiting, c, entry);
		c->waiting = 0;
	}
	evtimer_del(c->deadline);
}

/* Waiting for a request (again): the deadline starts now. */
static void
daemon_conn_wait(struct daemon_conn *c)
{
	uint64_t	ms = c->agent->ac->cfg->http_timeout_ms;
	struct timeval	tv;

	daemon_conn_unwait(c);
	TAILQ_INSERT_TAIL(&c->agent->waiting, c, entry);
	c->waiting = 1;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(c->deadline, &tv);
}

static void
daemon_conn_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct agent		*a = arg;
	struct daemon_conn	*c;
	uintptr_t		 n;
	char			 key[32];

	daemon_conn_key(evcon, key, sizeof key);
	if ((c = strmap_remove(a->conns, key)) == NULL)
		return;
	a->nconns--;
	daemon_conn_gauge(a);
	n = (uintptr_t)strmap_get(a->peers, c->peer);
	if (n <= 1)
		strmap_remove(a->peers, c->peer);
	else
		strmap_put(a->peers, c->peer, (void *)(n - 1));
	daemon_conn_unwait(c);
	event_free(c->deadline);
	free(c->peer);
	free(c);
}

/* Close a connection that is not answering: its closecb forgets it. */
static void
daemon_conn_close(struct daemon_conn *c, const char *reason)
{
	daemon_count(c->agent, "gitops_http_connections_closed_total",
	    "reason", reason, NULL, NULL);
	evhttp_connection_free(c->evcon);
}

/* A request that has not arrived whole by its deadline: a slow sender. */
static void
daemon_conn_deadline_cb(int fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	daemon_conn_close(arg, "deadline");
}

/*
 * Count a connection from its accept. A client address past
 * http_max_connections_per_client is closed at once; past
 * http_max_connections, the connection that has waited longest for a
 * request (an idle keep-alive one, or a slow sender) is closed, so a
 * new client is always served.
 */
static void
daemon_conn_track(struct agent *a, struct evhttp_connection *evcon)
{
	const struct config	*cfg = a->ac->cfg;
	struct daemon_conn	*c, *old;
	uintptr_t		 n;
	ev_uint16_t		 port;
	char			*peer, key[32];

	evhttp_connection_get_peer(evcon, &peer, &port);
	n = (uintptr_t)strmap_get(a->peers, peer);
	if (a->stopping ||
	    n >= (uintptr_t)cfg->http_max_connections_per_client) {
		daemon_count(a, "gitops_http_connections_closed_total",
		    "reason", a->stopping ? "stopping" : "per_client", NULL,
		    NULL);
		evhttp_connection_free(evcon);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->evcon = evcon;
	c->agent = a;
	c->peer = xstrdup(peer);
	c->deadline = evtimer_new(a->base, daemon_conn_deadline_cb, c);
	if (c->deadline == NULL)
		fatalx("cannot make a connection timer");
	strmap_put(a->peers, c->peer, (void *)(n + 1));
	daemon_conn_key(evcon, key, sizeof key);
	strmap_put(a->conns, key, c);
	a->nconns++;
	daemon_conn_gauge(a);
	evhttp_connection_set_closecb(evcon, daemon_conn_close_cb, a);
	daemon_conn_wait(c);
	if (a->nconns > (size_t)cfg->http_max_connections &&
	    (old = TAILQ_FIRST(&a->waiting)) != c)
		daemon_conn_close(old, "evicted");
}

/*
 * Connections accepted since the last run: evhttp made each one's
 * connection right after its bufferevent (daemon_bev_cb), and is the
 * bufferevent's callback argument. Runs in the same loop round as the
 * accept, before any of them could read; the reference taken at the
 * accept keeps a bufferevent evhttp already freed readable.
 */
static void
daemon_newconn_cb(int fd, short events, void *arg)
{
	struct agent		*a = arg;
	struct bufferevent	*bev;
	bufferevent_data_cb	 readcb;
	void			*evcon;
	size_t			 i;

	(void)fd;
	(void)events;
	for (i = 0; i < a->nnewbevs; i++) {
		bev = a->newbevs[i];
		bufferevent_getcb(bev, &readcb, NULL, NULL, &evcon);
		if (readcb != NULL && evcon != NULL)
			daemon_conn_track(a, evcon);
		bufferevent_decref(bev);
	}
	a->nnewbevs = 0;
}

static struct daemon_conn *
daemon_conn_find(struct agent *a, struct evhttp_connection *evcon)
{
	char	key[32];

	if (evcon == NULL)
		return (NULL);
	daemon_conn_key(evcon, key, sizeof key);
	return (strmap_get(a->conns, key));
}

static void
daemon_backoff_cb(int fd, short events, void *arg)
{
	struct agent	*a = arg;

	(void)fd;
	(void)events;
	a->backoff = 0;
	daemon_listen_update(a);
}

/* The listener's error callback has no argument of ours: one agent. */
static struct agent	*daemon_accept_agent;

/*
 * accept failed for want of a descriptor (or memory): give the reserve
 * descriptor up to accept and close one waiting client, so it is told
 * rather than left hanging, and stop accepting for a while. Once per
 * pause, not once per attempt (the listener would spin on the error).
 */
static void
daemon_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct agent	*a = daemon_accept_agent;
	struct timeval	 tv;
	int		 error = EVUTIL_SOCKET_ERROR(), fd;

	(void)arg;
	if (a->reserve_fd != -1) {
		close(a->reserve_fd);
		if ((fd = accept(evconnlistener_get_fd(lev), NULL,
		    NULL)) != -1)
			close(fd);
		a->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	log_event(LOG_LEVEL_WARN, "cannot accept connections, pausing", "error",
	    strerror(error), "pause_ms", LOG_INT(DAEMON_ACCEPT_BACKOFF_MS),
	    NULL);
	metrics_add(a->metrics, "gitops_http_accept_pauses_total", NULL, 1);
	a->backoff = 1;
	daemon_listen_update(a);
	tv.tv_sec = DAEMON_ACCEPT_BACKOFF_MS / 1000;
	tv.tv_usec = (DAEMON_ACCEPT_BACKOFF_MS % 1000) * 1000;
	evtimer_add(a->backoff_ev, &tv);
}

static int
daemon_method_ok(struct agent *a, struct evhttp_request *req,
    const char *route, enum evhttp_cmd_type want)
{
	enum evhttp_cmd_type	cmd = evhttp_request_get_command(req);

	if (cmd == want || (want == EVHTTP_REQ_GET && cmd == EVHTTP_REQ_HEAD))
		return (1);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	    want == EVHTTP_REQ_GET ? "GET, HEAD" : "POST");
	daemon_reply_status(a, req, route, 405, "error", want ==
	    EVHTTP_REQ_GET ? "method not allowed: use GET" :
	    "method not allowed: use POST");
	return (0);
}

/* The body, NUL-terminated in the buffer (evhttp bounded its size). */
static const char *
daemon_body(struct evhttp_request *req, size_t *len)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);

	*len = evbuffer_get_length(in);
	evbuffer_add(in, "", 1);
	return ((const char *)evbuffer_pullup(in, -1));
}

/* The repositories a delivery names (by URL) following that branch. */
static void
daemon_match_repos(const struct config *cfg, const struct webhook_event *ev,
    struct strv *matched)
{
	const struct config_repository	*r;
	struct strv			 norm;
	char				*n;
	size_t				 i, j;

	memset(&norm, 0, sizeof norm);
	for (j = 0; j < ev->urls.n; j++) {
		n = webhook_url_normalize(ev->urls.v[j]);
		strv_add(&norm, n);
		free(n);
	}
	for (i = 0; i < cfg->nrepositories; i++) {
		r = &cfg->repositories[i];
		if (r->url == NULL)
			continue;
		n = webhook_url_normalize(r->url);
		if (strv_contains(&norm, n))
			strv_add(matched, r->name);
		free(n);
	}
	strv_free(&norm);
}

static int
daemon_repo_index(const struct config *cfg, const char *name)
{
	size_t	i;

	for (i = 0; i < cfg->nrepositories; i++) {
		if (strcmp(cfg->repositories[i].name, name) == 0)
			return ((int)i);
	}
	return (-1);
}

/*
 * The repository (of these) whose secret signed the delivery, or NULL:
 * what a signed request may do depends on whose secret signed it.
 */
static const struct config_repository *
daemon_signed_by(struct agent *a, struct evhttp_request *req,
    enum webhook_provider p, const char *body, size_t len,
    const struct strv *repos)
{
	struct agent_config	*ac = a->ac;
	size_t			 i;
	int			 k;

	for (i = 0; i < repos->n; i++) {
		if ((k = daemon_repo_index(ac->cfg, repos->v[i])) == -1)
			continue;
		if (webhook_verify(p, daemon_header_cb, req, body, len,
		    ac->webhook_secrets[k], ac->webhook_secret_lens[k]))
			return (&ac->cfg->repositories[k]);
	}
	return (NULL);
}

static void
daemon_deliveries_free(struct strmap *m)
{
	size_t	 cursor = 0;
	void	*v;

	if (m == NULL)
		return;
	while (strmap_next(m, &cursor, NULL, &v))
		free(v);
	strmap_free(m);
}

/* Acted on in the last day. */
static int
daemon_delivery_seen(struct agent *a, enum webhook_provider p,
    const char *id)
{
	uint64_t	*at, now = time_now_ms();
	char		*key;

	xasprintf(&key, "%s/%s", webhook_provider_name(p), id);
	if ((at = strmap_get(a->deliveries, key)) == NULL)
		at = strmap_get(a->deliveries_old, key);
	free(key);
	return (at != NULL && now - *at < DAEMON_DELIVERY_TTL_MS);
}

/*
 * Remember a delivery once it was acted on. Never a deploy's: its body's
 * digest identifies it (queued: a duplicate; landed: a replay), so a
 * redelivery of one that was refused, answered 503 or failed is carried
 * out.
 */
static void
daemon_delivery_remember(struct agent *a, enum webhook_provider p,
    const char *id)
{
	uint64_t	*at, now = time_now_ms();
	char		*key;

	if (id == NULL)
		return;
	xasprintf(&key, "%s/%s", webhook_provider_name(p), id);
	if (strmap_count(a->deliveries) >= DAEMON_DELIVERIES) {
		daemon_deliveries_free(a->deliveries_old);
		a->deliveries_old = a->deliveries;
		a->deliveries = strmap_new(DAEMON_DELIVERIES);
	}
	at = xmalloc(sizeof *at);
	*at = now;
	free(strmap_put(a->deliveries, key, at));
	free(key);
}

/* Keep a deploy request on disk until it is done; the file's path. */
static char *
daemon_deploy_save(struct agent *a, const struct deploy_request *d,
    const char *delivery, const char *digest, char **cause)
{
	static uint64_t	 seq;
	struct json	*o;
	char		*dir, *name, *path, *text;
	int		 rc;

	dir = path_join(a->ac->cfg->state_dir, "deployments");
	xasprintf(&name, "%016llx-%06llu.json",
	    (unsigned long long)time_now_ms(), (unsigned long long)++seq);
	path = path_join(dir, name);
	free(name);
	free(dir);
	o = deploy_request_to_json(d);
	if (delivery != NULL)
		json_set(o, "delivery", json_new_string(delivery));
	json_set(o, "bodyDigest", json_new_string(digest));
	text = json_print(o, 1);
	json_free(o);
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
static int
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
 * Check, save and queue a signed deploy; answers the request. signer is
 * the repository whose secret signed it: with owner set, the service's
 * app must be one of that repository's (a team's secret deploys only its
 * own services); force needs the signer's allow_force_deploy. The same
 * body is never carried out twice: refused once it landed, acknowledged
 * while it waits. 0 when it is on disk and queued.
 */
static int
daemon_deploy_accept(struct agent *a, struct evhttp_request *req,
    const char *route, struct deploy_request *d, const char *delivery,
    const char *reason, const struct config_repository *signer, int owner,
    const char *body, size_t len)
{
	const struct config_app	*app;
	const char		*result = "invalid";
	char			*cause = NULL, *file, *msg, digest[65];
	int			 code = 422;

	sha256_hex(body, len, digest);
	if (daemon_deploy_check(a->ac->cfg, d, &cause) == -1)
		goto refuse;
	app = job_deploy_app(a->ac->cfg, d->service, d->environment);
	if (owner && strcmp(app->repository, signer->name) != 0) {
		code = 403;
		result = "forbidden";
		xasprintf(&cause, "repository '%s' may not deploy service '%s' "
		    "to '%s': its app '%s' belongs to repository '%s'",
		    signer->name, d->service, d->environment, app->name,
		    app->repository);
		goto refuse;
	}
	if (d->force && !signer->allow_force_deploy) {
		code = 403;
		result = "forbidden";
		xasprintf(&cause, "'force' is not allowed for deploys signed by "
		    "repository '%s' (set allow_force_deploy: true on it to "
		    "allow overriding a held version)", signer->name);
		goto refuse;
	}
	if (a->replay != NULL && replay_landed(a->replay, digest)) {
		code = 409;
		result = "replay";
		xasprintf(&cause, "this deploy request was carried out before "
		    "(same signed body): a replay is refused; send a new "
		    "request");
		goto refuse;
	}
	if (strmap_get(a->deploys_pending, digest) != NULL) {
		daemon_count(a, "gitops_deployments_total", "result",
		    "duplicate", NULL, NULL);
		daemon_reply_status(a, req, route, 202, "duplicate", "the same "
		    "deploy request is queued already");
		deploy_request_free(d);
		return (0);
	}
	if ((file = daemon_deploy_save(a, d, delivery, digest,
	    &cause)) == NULL) {
		log_event(LOG_LEVEL_WARN, "cannot keep a deploy request",
		    "error", cause, NULL);
		daemon_reply_status(a, req, route, 503, "error", "cannot "
		    "record the deploy request; try again");
		free(cause);
		deploy_request_free(d);
		return (-1);
	}
	xasprintf(&msg, "deploy of %s %s to %s queued", d->service,
	    d->version, d->environment);
	daemon_enqueue_deploy(a, d, file, digest, reason);
	daemon_reply_status(a, req, route, 202, "accepted", msg);
	free(msg);
	return (0);
refuse:
	log_event(LOG_LEVEL_WARN, "deploy refused", "service", d->service,
	    "environment", d->environment, "error", cause, NULL);
	daemon_count(a, "gitops_deployments_total", "result", result, NULL,
	    NULL);
	daemon_reply_status(a, req, route, code, "error", cause);
	free(cause);
	deploy_request_free(d);
	return (-1);
}

static void
daemon_note_webhook(struct agent *a, const char *repo,
    const struct webhook_event *ev)
{
	const struct config	*cfg = a->ac->cfg;
	struct app_view		*av;
	struct json		*o;
	size_t			 i;

	for (i = 0; i < cfg->napps; i++) {
		if (strcmp(cfg->apps[i].repository, repo) != 0 ||
		    (av = strmap_get(a->apps, cfg->apps[i].name)) == NULL)
			continue;
		o = json_new_object();
		json_set(o, "provider", json_new_string(
		    webhook_provider_name(ev->provider)));
		json_set(o, "event", json_new_string(ev->event));
		if (ev->delivery != NULL)
			json_set(o, "delivery", json_new_string(ev->delivery));
		if (ev->after != NULL)
			json_set(o, "after", json_new_string(ev->after));
		json_set(o, "receivedAt", json_new_number(
		    (double)time_now_ms() / 1000.0));
		json_free(av->webhook);
		av->webhook = o;
	}
}

static void
daemon_webhook(struct agent *a, struct evhttp_request *req,
    enum webhook_provider p)
{
	const struct config		*cfg = a->ac->cfg;
	const struct config_repository	*r, *signer;
	struct webhook_event		 ev;
	struct strv			 matched, queued, current, all;
	struct repo_view		*rv;
	const char			*body, *pname = webhook_provider_name(p);
	const char			*result;
	char				*cause = NULL, *msg = NULL;
	size_t				 len, i;

	if (!daemon_method_ok(a, req, "webhook", EVHTTP_REQ_POST)) {
		daemon_count(a, "gitops_webhooks_total", "provider", pname,
		    "result", "method_not_allowed");
		return;
	}
	memset(&matched, 0, sizeof matched);
	memset(&queued, 0, sizeof queued);
	memset(&current, 0, sizeof current);
	memset(&all, 0, sizeof all);
	body = daemon_body(req, &len);
	if (webhook_parse(p, daemon_header_cb, req, body, len, &ev,
	    &cause) == -1) {
		result = "malformed";
		log_event(LOG_LEVEL_WARN, "malformed webhook", "provider",
		    pname, "error", cause, NULL);
		daemon_reply_status(a, req, "webhook", 400, "error", cause);
		free(cause);
		goto out_nofree;
	}
	daemon_match_repos(cfg, &ev, &matched);
	/* Unmatched: any of our secrets may sign it (a ping, a new repo). */
	if (matched.n == 0) {
		for (i = 0; i < cfg->nrepositories; i++)
			strv_add(&all, cfg->repositories[i].name);
	}
	if ((signer = daemon_signed_by(a, req, p, body, len, matched.n != 0 ?
	    &matched : &all)) == NULL) {
		result = "unauthorized";
		log_event(LOG_LEVEL_WARN, "webhook signature missing or wrong",
		    "provider", pname, "event", ev.event, "delivery",
		    ev.delivery, NULL);
		daemon_reply_status(a, req, "webhook", 401, "error",
		    "signature missing or wrong (a repository without a "
		    "webhook secret accepts no webhooks)");
		goto out;
	}
	if (ev.delivery != NULL && daemon_delivery_seen(a, p, ev.delivery)) {
		result = "duplicate";
		daemon_reply_status(a, req, "webhook", 202, "duplicate",
		    "this delivery was received before: not acted on again");
		goto out;
	}
	if (ev.kind != WEBHOOK_DEPLOY)
		daemon_delivery_remember(a, p, ev.delivery);
	switch (ev.kind) {
	case WEBHOOK_PING:
		result = "ping";
		daemon_reply_status(a, req, "webhook", 200, "ok", "pong");
		goto out;
	case WEBHOOK_OTHER:
		result = "ignored";
		log_event(LOG_LEVEL_INFO, "event ignored", "provider", pname,
		    "event", ev.event, NULL);
		xasprintf(&msg, "event '%s' ignored", ev.event);
		daemon_reply_status(a, req, "webhook", 202, "ignored", msg);
		goto out;
	case WEBHOOK_DEPLOY:
		if (matched.n == 0) {
			result = "ignored";
			daemon_reply_status(a, req, "webhook", 202, "ignored",
			    "no configured repository matches");
			goto out;
		}
		if ((ev.deploy = webhook_deploy_request(body, len,
		    &cause)) == NULL) {
			result = "malformed";
			daemon_reply_status(a, req, "webhook", 400, "error",
			    cause);
			free(cause);
			goto out;
		}
		result = "deploy";
		if (daemon_deploy_accept(a, req, "webhook", ev.deploy,
		    ev.delivery, "repository_dispatch", signer, 1, body,
		    len) == -1)
			result = "refused";
		ev.deploy = NULL;
		goto out;
	case WEBHOOK_PUSH:
		break;
	}
	for (i = 0; i < matched.n; i++) {
		r = config_find_repository(cfg, matched.v[i]);
		if (r == NULL || !strv_contains(&ev.branches, r->branch) ||
		    (rv = daemon_repo(a, r->name)) == NULL)
			continue;
		daemon_note_webhook(a, r->name, &ev);
		if (ev.after != NULL && !rv->inflight && rv->head != NULL &&
		    strcmp(rv->head, ev.after) == 0) {
			/* Fetched already (a redelivery, a burst's tail). */
			metrics_add(a->metrics, "gitops_jobs_coalesced_total",
			    NULL, 1);
			strv_add(&current, r->name);
			continue;
		}
		daemon_enqueue_repo(a, rv, "webhook", 0, NULL, ev.after);
		strv_add(&queued, r->name);
	}
	if (queued.n == 0 && current.n != 0) {
		result = "current";
		xasprintf(&msg, "%s is already at commit %s", current.v[0],
		    ev.after);
		daemon_reply_status(a, req, "webhook", 202, "current", msg);
		goto out;
	}
	if (queued.n == 0) {
		result = "ignored";
		daemon_reply_status(a, req, "webhook", 202, "ignored",
		    matched.n == 0 ? "no configured repository matches" :
		    "no configured repository follows the branch pushed");
		goto out;
	}
	result = "accepted";
	log_event(LOG_LEVEL_INFO, "push accepted", "provider", pname,
	    "delivery", ev.delivery, "repo", queued.v[0], "commit", ev.after,
	    NULL);
	xasprintf(&msg, "fetch of %s queued", queued.v[0]);
	daemon_reply_status(a, req, "webhook", 202, "accepted", msg);
out:
	webhook_event_free(&ev);
out_nofree:
	daemon_count(a, "gitops_webhooks_total", "provider", pname, "result",
	    result);
	free(msg);
	strv_free(&matched);
	strv_free(&queued);
	strv_free(&current);
	strv_free(&all);
}

/*
 * POST /api/v1/deployments: a deploy request signed like a webhook with
 * the versions repository's secret, made at most DAEMON_DEPLOY_SKEW_S
 * ago (its "timestamp" is inside the signed body).
 */
static void
daemon_deployments(struct agent *a, struct evhttp_request *req)
{
	const struct config		*cfg = a->ac->cfg;
	const struct config_repository	*signer;
	struct deploy_request		*d = NULL;
	struct json			*o;
	struct strv			 vr;
	const char			*body;
	char				*cause = NULL;
	size_t				 len;

	if (!daemon_method_ok(a, req, "deployments", EVHTTP_REQ_POST))
		return;
	body = daemon_body(req, &len);
	memset(&vr, 0, sizeof vr);
	if (cfg->versions.repository != NULL)
		strv_add(&vr, cfg->versions.repository);
	signer = daemon_signed_by(a, req, WEBHOOK_GENERIC, body, len, &vr);
	strv_free(&vr);
	if (signer == NULL) {
		daemon_count(a, "gitops_deployments_total", "result",
		    "unauthorized", NULL, NULL);
		daemon_reply_status(a, req, "deployments", 401, "error",
		    "X-Signature missing or wrong: sign the body with "
		    "HMAC-SHA256 and the versions repository's webhook secret");
		return;
	}
	if ((o = json_parse(body, len, &cause)) == NULL ||
	    (d = deploy_request_from_json(o, &cause)) == NULL ||
	    deploy_request_fresh(o, (int64_t)(time_now_ms() / 1000),
	    DAEMON_DEPLOY_SKEW_S, &cause) == -1) {
		json_free(o);
		deploy_request_free(d);
		daemon_count(a, "gitops_deployments_total", "result",
		    "malformed", NULL, NULL);
		daemon_reply_status(a, req, "deployments", 400, "error", cause);
		free(cause);
		return;
	}
	json_free(o);
	daemon_deploy_accept(a, req, "deployments", d, daemon_header_cb(req,
	    "X-Gitops-Delivery"), "api", signer, 0, body, len);
}

static struct json *
daemon_app_json(struct agent *a, const struct config_app *app)
{
	struct app_view		*av = strmap_get(a->apps, app->name);
	struct repo_view	*rv = daemon_repo(a, app->repository);
	struct json		*o = json_new_object(), *last;
	const char		*rev;

	json_set(o, "name", json_new_string(app->name));
	json_set(o, "repository", json_new_string(app->repository));
	json_set(o, "path", json_new_string(app->path));
	json_set(o, "target", json_new_string(app->target_path));
	if (app->service != NULL)
		json_set(o, "service", json_new_string(app->service));
	if (app->environment != NULL)
		json_set(o, "environment", json_new_string(app->environment));
	last = av != NULL ? av->last : NULL;
	json_set(o, "status", json_new_string(last != NULL &&
	    json_path_string(last, "status", NULL) != NULL ?
	    json_path_string(last, "status", NULL) : "Unknown"));
	rev = json_path_string(last, "revision", NULL);
	json_set(o, "lastSyncedCommit", rev != NULL ? json_new_string(rev) :
	    json_new_null());
	json_set(o, "head", rv != NULL && rv->head != NULL ?
	    json_new_string(rv->head) : json_new_null());
	if (rv != NULL && rv->fetch_error != NULL)
		json_set(o, "fetchError", json_new_string(rv->fetch_error));
	json_set(o, "syncing", json_new_bool(rv != NULL && rv->inflight));
	if (av != NULL && av->outcome != NULL) {
		json_set(o, "lastCheck", json_new_string(av->outcome));
		if (av->reason != NULL)
			json_set(o, "lastCheckReason",
			    json_new_string(av->reason));
	}
	json_set(o, "lastSync", last != NULL ? json_dup(last) :
	    json_new_null());
	json_set(o, "lastWebhook", av != NULL && av->webhook != NULL ?
	    json_dup(av->webhook) : json_new_null());
	if (av != NULL && av->deploy != NULL)
		json_set(o, "lastDeploy", json_dup(av->deploy));
	if (av != NULL && av->rollback != NULL)
		json_set(o, "lastRollback", json_dup(av->rollback));
	return (o);
}

/* The caller may trigger syncs: the token, or a loopback peer. */
static int
daemon_api_allowed(struct agent *a, struct evhttp_request *req)
{
	struct evhttp_connection	*evcon;
	const char			*auth, *peer = NULL;
	ev_uint16_t			 port;

	if (a->ac->api_token != NULL) {
		auth = daemon_header_cb(req, "Authorization");
		return (auth != NULL && strncmp(auth, "Bearer ", 7) == 0 &&
		    timingsafe_equal(auth + 7, strlen(auth + 7),
		    a->ac->api_token, a->ac->api_token_len));
	}
	if ((evcon = evhttp_request_get_connection(req)) == NULL)
		return (0);
	evhttp_connection_get_peer(evcon, (char **)&peer, &port);
	return (peer != NULL && (strncmp(peer, "127.", 4) == 0 ||
	    strcmp(peer, "::1") == 0));
}

static void
daemon_api_apps(struct agent *a, struct evhttp_request *req, const char *rest)
{
	const struct config		*cfg = a->ac->cfg;
	const struct config_app		*app;
	struct repo_view		*rv;
	struct json			*arr;
	char				 name[128], *msg;
	const char			*slash;
	size_t				 i, n;

	if (*rest == '\0') {
		if (!daemon_method_ok(a, req, "apps", EVHTTP_REQ_GET))
			return;
		arr = json_new_array();
		for (i = 0; i < cfg->napps; i++)
			json_array_append(arr, daemon_app_json(a,
			    &cfg->apps[i]));
		daemon_reply_json(a, req, "apps", 200, arr);
		json_free(arr);
		return;
	}
	slash = strchr(rest, '/');
	n = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
	if (n == 0 || n >= sizeof name) {
		daemon_reply_status(a, req, "apps", 404, "error", "no such app");
		return;
	}
	memcpy(name, rest, n);
	name[n] = '\0';
	if ((app = config_find_app(cfg, name)) == NULL ||
	    (slash != NULL && strcmp(slash, "/sync") != 0)) {
		daemon_reply_status(a, req, "apps", 404, "error", app == NULL ?
		    "no such app" : "no such route");
		return;
	}
	if (slash == NULL) {
		if (!daemon_method_ok(a, req, "apps", EVHTTP_REQ_GET))
			return;
		arr = daemon_app_json(a, app);
		daemon_reply_json(a, req, "apps", 200, arr);
		json_free(arr);
		return;
	}
	if (!daemon_method_ok(a, req, "sync", EVHTTP_REQ_POST))
		return;
	if (!daemon_api_allowed(a, req)) {
		daemon_reply_status(a, req, "sync", a->ac->api_token != NULL ?
		    401 : 403, "error", a->ac->api_token != NULL ?
		    "Authorization: Bearer TOKEN missing or wrong" :
		    "only loopback clients may ask for a sync when no "
		    "api_token_file is configured");
		return;
	}
	if ((rv = daemon_repo(a, app->repository)) == NULL) {
		daemon_reply_status(a, req, "sync", 404, "error",
		    "no such repository");
		return;
	}
	daemon_enqueue_repo(a, rv, "api", 0, app->name, NULL);
	xasprintf(&msg, "sync of %s queued", app->name);
	daemon_reply_status(a, req, "sync", 202, "accepted", msg);
	free(msg);
}

static void
daemon_http_cb(struct evhttp_request *req, void *arg)
{
	struct agent			*a = arg;
	struct evhttp_connection	*evcon;
	struct daemon_conn		*c;
	struct evhttp_uri		*uri;
	enum webhook_provider		 p;
	const char			*path;
	char				*text;
	size_t				 i;
	int				 ready;

	/* Arrived whole: no deadline while it is answered. */
	evcon = evhttp_request_get_connection(req);
	if ((c = daemon_conn_find(a, evcon)) != NULL)
		daemon_conn_unwait(c);
	if (a->stopping)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Connection", "close");
	uri = evhttp_uri_parse(evhttp_request_get_uri(req));
	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	if (path == NULL) {
		daemon_reply_status(a, req, "other", 400, "error",
		    "bad request URI");
	} else if (strncmp(path, "/webhooks/", 10) == 0) {
		if (webhook_provider_from_name(path + 10, &p) == -1)
			daemon_reply_status(a, req, "other", 404, "error",
			    "no such webhook provider (github, gitlab, gitea, "
			    "bitbucket-server, generic)");
		else if (a->stopping)
			daemon_reply_status(a, req, "webhook", 503, "error",
			    "shutting down");
		else
			daemon_webhook(a, req, p);
	} else if (strcmp(path, "/healthz") == 0) {
		if (daemon_method_ok(a, req, "healthz", EVHTTP_REQ_GET))
			daemon_reply(a, req, "healthz", 200, "text/plain",
			    "ok\n");
	} else if (strcmp(path, "/readyz") == 0) {
		if (daemon_method_ok(a, req, "readyz", EVHTTP_REQ_GET)) {
			for (i = 0, ready = !a->stopping; i < a->nrepos; i++)
				ready &= a->repos[i]->reconciled;
			daemon_reply(a, req, "readyz", ready ? 200 : 503,
			    "text/plain", ready ? "ready\n" : a->stopping ?
			    "shutting down\n" : "reconciling\n");
		}
	} else if (strcmp(path, "/metrics") == 0) {
		if (daemon_method_ok(a, req, "metrics", EVHTTP_REQ_GET)) {
			daemon_gauges(a);
			text = metrics_render(a->metrics);
			daemon_reply(a, req, "metrics", 200,
			    "text/plain; version=0.0.4", text);
			free(text);
		}
	} else if (strncmp(path, "/api/v1/apps", 12) == 0 &&
	    a->ac->api_token != NULL && !daemon_api_allowed(a, req))
		/* What the API shows (hook output, errors) needs the token. */
		daemon_reply_status(a, req, "apps", 401, "error",
		    "Authorization: Bearer TOKEN missing or wrong");
	else if (strcmp(path, "/api/v1/apps") == 0)
		daemon_api_apps(a, req, "");
	else if (strncmp(path, "/api/v1/apps/", 13) == 0)
		daemon_api_apps(a, req, path + 13);
	else if (strcmp(path, "/api/v1/deployments") == 0) {
		if (a->stopping)
			daemon_reply_status(a, req, "deployments", 503,
			    "error", "shutting down");
		else
			daemon_deployments(a, req);
	} else
		daemon_reply_status(a, req, "other", 404, "error",
		    "no such route");
	if (uri != NULL)
		evhttp_uri_free(uri);
	/*
	 * Answered: kept alive, it waits for its next request. Found again,
	 * in case answering closed it.
	 */
	if ((c = daemon_conn_find(a, evcon)) != NULL)
		daemon_conn_wait(c);
}

/* Plain connections, or TLS ones: never NULL (evhttp would serve plain). */
static struct bufferevent *
daemon_bev_cb(struct event_base *base, void *arg)
{
	struct agent		*a = arg;
	struct bufferevent	*bev;
	SSL			*ssl;

	if (a->ssl == NULL)
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	else {
		if ((ssl = SSL_new(a->ssl)) == NULL)
			fatalx("cannot make a TLS session: out of memory");
		bev = bufferevent_openssl_socket_new(base, -1, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	}
	if (bev == NULL)
		fatalx("cannot make a connection buffer: out of memory");
	/* Its connection is made next: tracked once the accept is done. */
	bufferevent_incref(bev);
	a->newbevs = xreallocarray(a->newbevs, a->nnewbevs + 1,
	    sizeof *a->newbevs);
	a->newbevs[a->nnewbevs++] = bev;
	event_active(a->newconn_ev, EV_TIMEOUT, 1);
	return (bev);
}

static int
daemon_tls_init(struct agent *a, char **cause)
{
	const struct config	*cfg = a->ac->cfg;
	unsigned long		 e;
	char			 buf[256];

	if (cfg->tls_cert_file == NULL)
		return (0);
	if ((a->ssl = SSL_CTX_new(TLS_server_method())) == NULL)
		fatalx("cannot make a TLS context");
	SSL_CTX_set_min_proto_version(a->ssl, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(a->ssl,
	    cfg->tls_cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(a->ssl, cfg->tls_key_file,
	    SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(a->ssl) != 1) {
		e = ERR_get_error();
		ERR_error_string_n(e, buf, sizeof buf);
		xasprintf(cause, "cannot use the TLS certificate '%s' and key "
		    "'%s': %s", cfg->tls_cert_file, cfg->tls_key_file, buf);
		ERR_clear_error();
		return (-1);
	}
	return (0);
}

static int
daemon_listen(struct agent *a, char **cause)
{
	const struct config	*cfg = a->ac->cfg;
	struct sockaddr_storage	 ss;
	struct timeval		 tv;
	int			 sslen = sizeof ss;

	memset(&ss, 0, sizeof ss);
	if (evutil_parse_sockaddr_port(cfg->listen, (struct sockaddr *)&ss,
	    &sslen) == -1) {
		xasprintf(cause, "cannot parse listen address '%s'",
		    cfg->listen);
		return (-1);
	}
	a->listener = evconnlistener_new_bind(a->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    128, (struct sockaddr *)&ss, sslen);
	if (a->listener == NULL) {
		xasprintf(cause, "cannot listen on %s: %s", cfg->listen,
		    strerror(errno));
		return (-1);
	}
	evconnlistener_disable(a->listener);
	if ((a->http = evhttp_new(a->base)) == NULL)
		fatalx("cannot make the HTTP server");
	evhttp_set_max_body_size(a->http, cfg->http_max_body);
	evhttp_set_max_headers_size(a->http, cfg->http_max_headers);
	tv.tv_sec = (time_t)(cfg->http_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(cfg->http_timeout_ms % 1000) * 1000;
	evhttp_set_timeout_tv(a->http, &tv);
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_PATCH);
	evhttp_set_default_content_type(a->http, "application/json");
	evhttp_set_bevcb(a->http, daemon_bev_cb, a);
	evhttp_set_gencb(a->http, daemon_http_cb, a);
	if (evhttp_bind_listener(a->http, a->listener) == NULL)
		fatalx("cannot attach the HTTP server to its socket");
	daemon_accept_agent = a;
	evconnlistener_set_error_cb(a->listener, daemon_accept_error_cb);
	a->newconn_ev = event_new(a->base, -1, 0, daemon_newconn_cb, a);
	a->backoff_ev = evtimer_new(a->base, daemon_backoff_cb, a);
	if (a->newconn_ev == NULL || a->backoff_ev == NULL)
		fatalx("cannot make the connection events");
	a->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return (0);
}

/* Deploy requests accepted before a restart and not done: again. */
static void
daemon_replay_deploys(struct agent *a)
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
		} else {
			log_event(LOG_LEVEL_INFO,
			    "deploy request from before the restart", "file",
			    path, NULL);
			daemon_enqueue_deploy(a, d, path,
			    json_path_string(o, "bodyDigest", NULL), "restart");
		}
		json_free(o);
		free(data);
		free(cause);
	}
	strv_free(&names);
	free(dir);
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
	/* evhttp_free runs the close callbacks, which use the map. */
	if (a->http != NULL)
		evhttp_free(a->http);	/* frees the listener it was given */
	else if (a->listener != NULL)
		evconnlistener_free(a->listener);
	for (i = 0; i < a->nnewbevs; i++)
		bufferevent_decref(a->newbevs[i]);
	free(a->newbevs);
	strmap_free(a->conns);
	strmap_free(a->peers);
	if (a->newconn_ev != NULL)
		event_free(a->newconn_ev);
	if (a->backoff_ev != NULL)
		event_free(a->backoff_ev);
	if (a->reserve_fd != -1)
		close(a->reserve_fd);
	if (a->ssl != NULL)
		SSL_CTX_free(a->ssl);
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
	int		 rc = EXIT_ERROR, ch;

	while ((ch = getopt(argc, argv, "")) != -1) {
		fprintf(stderr, "usage: gitops-agent serve\n");
		return (EXIT_ERROR);
	}
	if (argc > optind) {
		fprintf(stderr, "usage: gitops-agent serve\n");
		return (EXIT_ERROR);
	}
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
	daemon_apply_config(&a, 1);
	daemon_replay_deploys(&a);
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
	/* Jobs that finished after the loop stopped: their files go too. */
	daemon_done_cb(-1, 0, &a);
	log_event(LOG_LEVEL_INFO, "stopped", NULL);
	rc = EXIT_OK;
out:
	if (a.sched != NULL)
		sched_free(a.sched);
	daemon_free(&a);
	if (a.base != NULL)
		event_base_free(a.base);
	return (rc);
}
