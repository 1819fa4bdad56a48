/*
 * sched.c: the daemon's work queue and its worker threads. The loop
 * thread queues jobs (sched_push); worker threads take the oldest job none
 * of whose repositories another job is working on, run it (jobs.c: fetch,
 * render, sync, bump, all of it blocking), and hand it back through the
 * done queue and a wake-up event, as memcached hands work between
 * threads. The loop reads a finished job's results and frees it.
 *
 * A worker never touches evhttp, bufferevents or the loop's tables; the
 * only libevent call made here is event_active() on the wake-up event
 * (libevent is set up for threads before the base is made). A repository
 * cache is used by one job at a time: that is what a job's keys are for.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "agent.h"

struct sched {
	pthread_mutex_t		 lock;
	pthread_cond_t		 wake;		/* work queued, or stopping */
	pthread_cond_t		 idle;		/* a worker finished */
	struct job_queue	 pending;
	struct job_queue	 done;
	struct strv		 busy;		/* keys of running jobs */
	size_t			 npending;
	size_t			 nrunning;
	int			 stopping;
	pthread_t		*threads;
	int			 nthreads;
	int			 nexited;
	const int		*stop;		/* the shutdown flag */
	struct event		*done_ev;
};

/* None of the job's keys is held by a running job. */
static int
sched_runnable(struct sched *s, const struct job *job)
{
	size_t	i;

	for (i = 0; i < job->keys.n; i++) {
		if (strv_contains(&s->busy, job->keys.v[i]))
			return (0);
	}
	return (1);
}

static void
sched_release_keys(struct sched *s, const struct job *job)
{
	size_t	i, j;

	for (i = 0; i < job->keys.n; i++) {
		for (j = 0; j < s->busy.n; j++) {
			if (strcmp(s->busy.v[j], job->keys.v[i]) != 0)
				continue;
			free(s->busy.v[j]);
			s->busy.v[j] = s->busy.v[--s->busy.n];
			break;
		}
	}
}

static void *
sched_worker(void *arg)
{
	struct sched	*s = arg;
	struct job	*job;
	size_t		 i;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		job = NULL;
		while (!s->stopping) {
			TAILQ_FOREACH(job, &s->pending, entry) {
				if (sched_runnable(s, job))
					break;
			}
			if (job != NULL)
				break;
			pthread_cond_wait(&s->wake, &s->lock);
		}
		if (s->stopping)
			break;
		TAILQ_REMOVE(&s->pending, job, entry);
		s->npending--;
		s->nrunning++;
		for (i = 0; i < job->keys.n; i++)
			strv_add(&s->busy, job->keys.v[i]);
		pthread_mutex_unlock(&s->lock);

		job->started_ms = time_now_ms();
		job_run(job, s->stop);
		job->finished_ms = time_now_ms();

		pthread_mutex_lock(&s->lock);
		sched_release_keys(s, job);
		s->nrunning--;
		TAILQ_INSERT_TAIL(&s->done, job, entry);
		event_active(s->done_ev, EV_READ, 0);
		/* Another job may have waited for these keys. */
		pthread_cond_broadcast(&s->wake);
		pthread_cond_broadcast(&s->idle);
	}
	s->nexited++;
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
	return (NULL);
}

struct sched *
sched_new(struct event_base *base, int n, const int *stop,
    void (*done_cb)(int, short, void *), void *arg)
{
	struct sched	*s = xcalloc(1, sizeof *s);
	int		 i, rc;

	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	pthread_cond_init(&s->idle, NULL);
	TAILQ_INIT(&s->pending);
	TAILQ_INIT(&s->done);
	s->stop = stop;
	s->done_ev = event_new(base, -1, 0, done_cb, arg);
	if (s->done_ev == NULL)
		fatalx("cannot make the scheduler's wake-up event");
	s->threads = xcalloc((size_t)n, sizeof *s->threads);
	for (i = 0; i < n; i++) {
		if ((rc = pthread_create(&s->threads[i], NULL, sched_worker,
		    s)) != 0) {
			errno = rc;
			fatal("cannot start worker thread %d", i);
		}
	}
	s->nthreads = n;
	return (s);
}

void
sched_push(struct sched *s, struct job *job)
{
	pthread_mutex_lock(&s->lock);
	TAILQ_INSERT_TAIL(&s->pending, job, entry);
	s->npending++;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

int
sched_merge_repo(struct sched *s, const char *repo, int all, const char *app)
{
	struct job	*job;
	int		 merged = 0;

	pthread_mutex_lock(&s->lock);
	TAILQ_FOREACH(job, &s->pending, entry) {
		if (job->kind != JOB_REPO || strcmp(job->repo, repo) != 0)
			continue;
		job->all |= all;
		if (app != NULL && !strv_contains(&job->force, app))
			strv_add(&job->force, app);
		merged = 1;
		break;
	}
	pthread_mutex_unlock(&s->lock);
	return (merged);
}

static void
sched_move(struct sched *s, struct job_queue *from, struct job_queue *to,
    size_t *count)
{
	struct job	*job;

	pthread_mutex_lock(&s->lock);
	while ((job = TAILQ_FIRST(from)) != NULL) {
		TAILQ_REMOVE(from, job, entry);
		TAILQ_INSERT_TAIL(to, job, entry);
		if (count != NULL)
			(*count)--;
	}
	pthread_mutex_unlock(&s->lock);
}

void
sched_done(struct sched *s, struct job_queue *q)
{
	sched_move(s, &s->done, q, NULL);
}

void
sched_drain(struct sched *s, struct job_queue *q)
{
	sched_move(s, &s->pending, q, &s->npending);
}

void
sched_counts(struct sched *s, size_t *pending, size_t *running)
{
	pthread_mutex_lock(&s->lock);
	*pending = s->npending;
	*running = s->nrunning;
	pthread_mutex_unlock(&s->lock);
}

int
sched_stop(struct sched *s, uint64_t timeout_ms)
{
	struct timespec	 ts;
	uint64_t	 ns;
	int		 i, all;

	clock_gettime(CLOCK_REALTIME, &ts);
	ns = (uint64_t)ts.tv_nsec + (timeout_ms % 1000) * 1000000;
	ts.tv_sec += (time_t)(timeout_ms / 1000 + ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_broadcast(&s->wake);
	while (s->nexited < s->nthreads) {
		if (pthread_cond_timedwait(&s->idle, &s->lock, &ts) ==
		    ETIMEDOUT)
			break;
	}
	all = s->nexited == s->nthreads;
	pthread_mutex_unlock(&s->lock);
	if (!all)
		return (-1);
	for (i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	s->nthreads = 0;
	return (0);
}

void
sched_free(struct sched *s)
{
	struct job	*job;

	if (s == NULL)
		return;
	while ((job = TAILQ_FIRST(&s->pending)) != NULL) {
		TAILQ_REMOVE(&s->pending, job, entry);
		job_free(job);
	}
	while ((job = TAILQ_FIRST(&s->done)) != NULL) {
		TAILQ_REMOVE(&s->done, job, entry);
		job_free(job);
	}
	strv_free(&s->busy);
	event_free(s->done_ev);
	free(s->threads);
	pthread_cond_destroy(&s->wake);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
