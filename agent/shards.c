/*
 * shards.c: the daemon's side of coordination (lease.c): a thread that
 * runs the Lease rounds every third of lease_duration, the question jobs
 * ask before they apply or push for an app (does this replica hold its
 * shard, with fencing's margin), and a wake-up of the loop when shards
 * are taken so their apps are synced at once, or when another replica's
 * push webhook nudged a repository through the Leases; and the deploys
 * kept on the API server (handoff.c): written and forgotten for the loop,
 * adopted when shards are taken.
 *
 * The thread blocks on the API server, never the loop: the loop only
 * reads what lease_set_stats and lease_set_holder say under their lock.
 * The only libevent call made off the loop is event_active() on the
 * wake-up event (libevent runs with pthreads).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "agent.h"

/* A deploy to keep on the API server (text) or to forget (NULL). */
struct shards_op {
	char	*digest;
	int	 shard;
	char	*text;
};

struct shards {
	struct lease_set	*ls;
	pthread_t		 thread;
	int			 running;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;	/* a stop, or the next round */
	int			 stop;
	struct event		*wake_ev;
	unsigned char		*held;	/* per shard, as of the last round */
	int			 kick;	/* a deploy to keep or forget: now */
	struct shards_op	*ops;
	size_t			 nops;
	int			 adopt;	/* list kept deploys next round */
	/* For the loop, under mu: */
	int			 gained;
	struct strv		 nudged;
	struct strv		 adopted;	/* requests, as kept */
};

/* A kept deploy of a shard we hold: the loop carries it out. */
static void
shards_adopt_cb(void *arg, const char *digest, const char *request)
{
	struct shards	*s = arg;

	pthread_mutex_lock(&s->mu);
	strv_add(&s->adopted, request);
	pthread_mutex_unlock(&s->mu);
}

/* Keep and forget the deploys the loop handed over. */
static void
shards_ops_run(struct shards *s)
{
	struct shards_op	*ops;
	size_t			 nops, i;
	char			*cause = NULL;
	int			 rc;

	pthread_mutex_lock(&s->mu);
	ops = s->ops;
	nops = s->nops;
	s->ops = NULL;
	s->nops = 0;
	pthread_mutex_unlock(&s->mu);
	for (i = 0; i < nops; i++) {
		if (ops[i].text != NULL)
			rc = handoff_put(s->ls, ops[i].digest, ops[i].shard,
			    ops[i].text, &cause);
		else
			rc = handoff_done(s->ls, ops[i].digest, &cause);
		if (rc == -1) {
			log_event(LOG_LEVEL_WARN, ops[i].text != NULL ?
			    "cannot keep a deploy for the next holder" :
			    "cannot forget a deploy kept for the next holder",
			    "digest", ops[i].digest, "error", cause, NULL);
			free(cause);
			cause = NULL;
		}
		free(ops[i].digest);
		free(ops[i].text);
	}
	free(ops);
}

static void *
shards_main(void *arg)
{
	struct shards	*s = arg;
	struct timespec	 ts;
	struct strv	 nudged;
	uint64_t	 now, period = lease_set_period_ms(s->ls);
	char		*cause = NULL;
	int		 i, n = lease_set_shards(s->ls), gained;
	size_t		 j;

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		pthread_mutex_unlock(&s->mu);
		now = time_monotonic_ms();
		if (lease_set_round(s->ls, now, &cause) == -1) {
			log_event(LOG_LEVEL_WARN, "cannot renew the leases",
			    "namespace", lease_set_namespace(s->ls), "error",
			    cause, NULL);
			free(cause);
			cause = NULL;
		}
		for (i = gained = 0; i < n; i++) {
			if (lease_set_holds(s->ls, i, time_monotonic_ms())) {
				gained |= !s->held[i];
				s->held[i] = 1;
			} else
				s->held[i] = 0;
		}
		shards_ops_run(s);
		if (gained || s->adopt)
			s->adopt = handoff_adopt(s->ls, time_monotonic_ms(),
			    shards_adopt_cb, s, &cause) == -1;
		if (cause != NULL) {
			log_event(LOG_LEVEL_WARN, "cannot list the deploys "
			    "kept for the next holder", "error", cause, NULL);
			free(cause);
			cause = NULL;
		}
		lease_set_nudged(s->ls, &nudged);
		pthread_mutex_lock(&s->mu);
		s->gained |= gained;
		for (j = 0; j < nudged.n; j++)
			if (!strv_contains(&s->nudged, nudged.v[j]))
				strv_add(&s->nudged, nudged.v[j]);
		if (gained || nudged.n != 0 || s->adopted.n != 0)
			event_active(s->wake_ev, EV_READ, 0);
		strv_free(&nudged);
		if (s->stop)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)(period / 1000);
		ts.tv_nsec += (long)(period % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		while (!s->stop && !s->kick && pthread_cond_timedwait(&s->cv,
		    &s->mu, &ts) != ETIMEDOUT)
			;
		s->kick = 0;
	}
	pthread_mutex_unlock(&s->mu);
	return (NULL);
}

struct shards *
shards_start(struct event_base *base, const struct config_coordination *co,
    void (*wake_cb)(int, short, void *), void *arg, char **cause)
{
	struct shards	*s;

	if (!co->enabled)
		return (NULL);
	s = xcalloc(1, sizeof *s);
	if ((s->ls = lease_set_open(co, cause)) == NULL) {
		free(s);
		return (NULL);
	}
	s->held = xcalloc(lease_set_shards(s->ls), 1);
	s->adopt = 1;
	if (pthread_mutex_init(&s->mu, NULL) != 0 ||
	    pthread_cond_init(&s->cv, NULL) != 0)
		fatal("pthread");
	s->wake_ev = event_new(base, -1, 0, wake_cb, arg);
	if (pthread_create(&s->thread, NULL, shards_main, s) != 0)
		fatal("pthread_create");
	s->running = 1;
	log_event(LOG_LEVEL_INFO, "coordination", "identity",
	    lease_set_identity(s->ls), "namespace",
	    lease_set_namespace(s->ls), "shards",
	    LOG_INT(lease_set_shards(s->ls)), NULL);
	return (s);
}

/*
 * Stop renewing and give every Lease up: called once no job runs any
 * more, so nothing is applied after a successor may have taken over.
 */
void
shards_stop(struct shards *s)
{
	if (s == NULL || !s->running)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	s->running = 0;
	/* What the last jobs finished is forgotten before we leave. */
	shards_ops_run(s);
	lease_set_release(s->ls);
	log_event(LOG_LEVEL_INFO, "leases released", "identity",
	    lease_set_identity(s->ls), NULL);
}

static void
shards_ops_run_free(struct shards *s)
{
	size_t	i;

	for (i = 0; i < s->nops; i++) {
		free(s->ops[i].digest);
		free(s->ops[i].text);
	}
	free(s->ops);
	s->ops = NULL;
	s->nops = 0;
}

void
shards_free(struct shards *s)
{
	if (s == NULL)
		return;
	shards_stop(s);
	event_free(s->wake_ev);
	strv_free(&s->nudged);
	strv_free(&s->adopted);
	shards_ops_run_free(s);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	lease_set_close(s->ls);
	free(s->held);
	free(s);
}

int
shards_of(const struct shards *s, const struct config_app *app)
{
	if (s == NULL)
		return (0);
	return (lease_shard_of(app->name, app->shard,
	    lease_set_shards(s->ls)));
}

int
shards_hold(struct shards *s, const struct config_app *app, char **why)
{
	char	*holder;
	int	 shard;

	if (s == NULL)
		return (1);
	shard = shards_of(s, app);
	if (lease_set_holds(s->ls, shard, time_monotonic_ms()))
		return (1);
	if (why != NULL) {
		holder = lease_set_holder(s->ls, shard);
		xasprintf(why, "shard %d is not held by this replica (%s)",
		    shard, holder != NULL ? holder : "no holder yet");
		free(holder);
	}
	return (0);
}

char *
shards_holder(struct shards *s, const struct config_app *app)
{
	if (s == NULL)
		return (NULL);
	return (lease_set_holder(s->ls, shards_of(s, app)));
}

void
shards_stats(struct shards *s, struct lease_stats *st)
{
	if (s == NULL) {
		memset(st, 0, sizeof *st);
		return;
	}
	lease_set_stats(s->ls, time_monotonic_ms(), st);
}

void
shards_take(struct shards *s, int *gained, struct strv *nudged,
    struct strv *adopted)
{
	pthread_mutex_lock(&s->mu);
	*gained = s->gained;
	s->gained = 0;
	*nudged = s->nudged;
	memset(&s->nudged, 0, sizeof s->nudged);
	*adopted = s->adopted;
	memset(&s->adopted, 0, sizeof s->adopted);
	pthread_mutex_unlock(&s->mu);
}

static void
shards_op_add(struct shards *s, const char *digest, int shard,
    const char *text)
{
	pthread_mutex_lock(&s->mu);
	s->ops = xreallocarray(s->ops, s->nops + 1, sizeof *s->ops);
	s->ops[s->nops].digest = xstrdup(digest);
	s->ops[s->nops].shard = shard;
	s->ops[s->nops].text = text != NULL ? xstrdup(text) : NULL;
	s->nops++;
	s->kick = 1;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void
shards_deploy_keep(struct shards *s, const struct config_app *app,
    const char *digest, const char *text)
{
	if (s != NULL && digest != NULL)
		shards_op_add(s, digest, shards_of(s, app), text);
}

void
shards_deploy_done(struct shards *s, const char *digest)
{
	if (s != NULL && digest != NULL)
		shards_op_add(s, digest, -1, NULL);
}

void
shards_nudge(struct shards *s, const char *repo)
{
	if (s != NULL)
		lease_set_nudge(s->ls, repo);
}

unsigned int
shards_retry_after(const struct shards *s)
{
	/* By then a live holder renewed, or a successor took the shard. */
	return (s != NULL ? (unsigned int)((lease_set_period_ms(s->ls) * 3 +
	    999) / 1000) : 1);
}

int
shards_count(const struct shards *s)
{
	return (s != NULL ? lease_set_shards(s->ls) : 0);
}

const char *
shards_identity(const struct shards *s)
{
	return (s != NULL ? lease_set_identity(s->ls) : NULL);
}
