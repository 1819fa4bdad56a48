/*
 * sync.c: one sync of an app: compare desired with a target, then apply
 * in plan order a wave at a time, waiting for each wave to be healthy,
 * then prune in reverse order; on failure stop, apply the SyncFail hooks
 * and say which resource failed and why. Also the result's JSON and text.
 *
 * Choices:
 * - Unchanged resources are not applied again, and a sync with nothing
 *   to change writes nothing. Hooks (resources annotated with a phase)
 *   run, as in Argo CD, in every sync that changes anything else: a Job
 *   runs once per creation, so a hook that exists is deleted first
 *   (hook-delete-policy BeforeHookCreation, the default) and created
 *   again; HookSucceeded and HookFailed delete it once its wave is
 *   healthy or has failed. A hook alone (one deleted after it ran) is
 *   never a change that makes a sync.
 * - Every wave up to the last one with a change is gated on the health of
 *   all its resources (unchanged ones too: a later wave relies on them);
 *   waves after the last change are not waited for.
 * - Healthy passes, Degraded fails at once, anything else is polled with
 *   a backoff until the whole sync's deadline.
 * - A resource that cannot be compared fails the sync when its wave is
 *   reached, like a failed apply, so earlier waves still converge.
 * - SyncFail hooks are applied (when changed) but not waited for.
 * - The inventory is the target's: it records intent before each wave
 *   (target_prepare) and is saved once at the end, on failure too.
 * - A wave's applies are one batch (target_begin, target_commit): a
 *   target may then make them durable together rather than one by one.
 *   The commit comes before the health checks, and after a failed apply
 *   too, so that what was applied before it is in place as it was when
 *   each apply wrote at once.
 *
 * Runs in the thread that runs the sync (a worker in the daemon); blocks
 * while it waits for health. Never logs a resource's content.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gitops.h"

struct sync_item {
	struct resource	*r;
	enum diff_action action;
	char		*error;		/* could not compare */
	struct json	*drift;		/* opts->drift: its fields */
	size_t		 step;		/* in plan->steps */
	int		 recreate;	/* a hook that exists: delete first */
};

static int	sync_hook_state(struct target *, const struct resource *,
		    enum diff_action *, int *, char **);
static int	sync_hook_delete(struct target *, const struct resource *,
		    uint64_t, const int *, char **);
static uint64_t	sync_hook_deadline(uint64_t, uint64_t);

struct sync_prune {
	const struct target_entry *e;
	int		 container;	/* Namespace, CRD: pruned last */
	int		 rank;
};

const char *
sync_status_name(enum sync_status s)
{
	switch (s) {
	case SYNC_SUCCEEDED:
		return ("Succeeded");
	case SYNC_FAILED:
		return ("Failed");
	case SYNC_DRY_RUN:
		break;
	}
	return ("DryRun");
}

/*
 * A drift check's look at what runs now: the health of a resource that
 * exists (Missing for one to create), as the target tells it.
 */
static void
sync_live_health(struct target *t, const struct sync_item *it,
    struct sync_resource *rs)
{
	char	*why = NULL;

	if (it->r->skip || it->r->is_hook || it->error != NULL)
		return;
	if (it->action == DIFF_CREATE) {
		rs->health = HEALTH_MISSING;
		return;
	}
	if (target_health(t, it->r, &rs->health, &why) == -1) {
		rs->health = HEALTH_UNKNOWN;
		free(why);
		return;
	}
	rs->health_reason = why;
}

static void
sync_add_change(struct sync_result *res, const char *id,
    enum diff_action action, enum hook_phase phase, long wave, char *diff)
{
	struct sync_change	*c;

	res->changes = xreallocarray(res->changes, res->nchanges + 1,
	    sizeof *res->changes);
	c = &res->changes[res->nchanges++];
	c->id = xstrdup(id);
	c->action = action;
	c->phase = phase;
	c->wave = wave;
	c->diff = diff;
}

static struct sync_wave_result *
sync_add_wave(struct sync_result *res, enum hook_phase phase, long wave)
{
	struct sync_wave_result	*w;

	res->waves = xreallocarray(res->waves, res->nwaves + 1,
	    sizeof *res->waves);
	w = &res->waves[res->nwaves++];
	memset(w, 0, sizeof *w);
	w->phase = phase;
	w->wave = wave;
	w->ok = 1;
	return (w);
}

/* Whether the fence says stop (*err then says why). */
static int
sync_fenced(const struct sync_opts *opts, char **err)
{
	*err = NULL;
	if (opts->fence == NULL || opts->fence(opts->fence_arg, err) != 0)
		return (0);
	if (*err == NULL)
		*err = xstrdup("this process may no longer write to the "
		    "target");
	return (1);
}

/* Record the first failure; takes ownership of msg. */
static void
sync_fail(struct sync_result *res, struct sync_wave_result *w,
    const char *id, char *msg)
{
	res->status = SYNC_FAILED;
	if (res->error == NULL) {
		res->failed_resource = id != NULL ? xstrdup(id) : NULL;
		res->error = msg;
		msg = NULL;
	}
	if (w != NULL) {
		w->ok = 0;
		if (w->error == NULL)
			w->error = xstrdup(res->error);
	}
	free(msg);
}

/*
 * A failure once resources of this sync are live (a wave never got
 * healthy, the time ran out between waves): the revision is at fault as
 * when a probe fails after it, which is what a rollback answers.
 */
static void
sync_fail_live(struct sync_result *res, struct sync_wave_result *w,
    const char *id, char *msg)
{
	sync_fail(res, w, id, msg);
	/* Hooks run in every sync that changes anything: not the cause. */
	if (res->created + res->updated > res->hooks_run)
		res->failed_after_apply = 1;
}

/* Rank of the kind of an identity "Kind[.group]/...". */
static int
sync_id_rank(const char *id, int *container)
{
	char	*kind;
	size_t	 n;
	int	 rank;

	n = strcspn(id, "./");
	kind = xstrndup(id, n);
	rank = plan_kind_rank(kind);
	*container = strncmp(id, "Namespace/", 10) == 0 ||
	    strncmp(id, "CustomResourceDefinition.apiextensions.k8s.io/",
	    46) == 0;
	free(kind);
	return (rank);
}

static int
sync_prune_cmp(const void *a, const void *b)
{
	const struct sync_prune	*x = a, *y = b;

	/*
	 * Prune runs this order backwards. The plan moves a Namespace (a
	 * CRD) ahead of what it holds, whatever their waves; mirrored, it
	 * goes after everything else.
	 */
	if (x->container != y->container)
		return (x->container ? -1 : 1);
	if (x->e->phase != y->e->phase)
		return (x->e->phase < y->e->phase ? -1 : 1);
	if (x->e->wave != y->e->wave)
		return (x->e->wave < y->e->wave ? -1 : 1);
	if (x->rank != y->rank)
		return (x->rank < y->rank ? -1 : 1);
	return (strcmp(x->e->id, y->e->id));
}

/* Unified diff of what a prune removes, masked. */
static char *
sync_prune_diff(struct target *t, const char *id)
{
	struct json	*live = NULL;
	char		*cause = NULL, *diff;

	if (target_get(t, id, &live, &cause) == -1 || live == NULL) {
		free(cause);
		return (NULL);
	}
	diff = diff_prune_text(id, live);
	json_free(live);
	return (diff);
}


/*
 * Wait until every resource of a step is healthy, within the deadline
 * (0: none), each one's last health in rs. On failure *id names the
 * resource and *msg says why.
 */
static int
sync_wait_healthy(struct target *t, const struct plan_step *st,
    struct sync_resource *rs, uint64_t deadline, uint64_t timeout_ms,
    const int *stop, const char **id, char **msg)
{
	enum health_status	 h;
	struct resource		**pending;
	char			*cause = NULL, *d, **why;
	uint64_t		 now, delay = 5;
	size_t			 i, left = st->n, npending;
	int			 rc = -1;

	why = xcalloc(st->n + 1, sizeof *why);
	pending = xcalloc(st->n + 1, sizeof *pending);
	for (i = 0; i < st->n; i++) {
		rs[i].health = HEALTH_UNKNOWN;
		if (st->v[i]->skip)
			left--;
	}
	for (;;) {
		for (i = 0; i < st->n; i++) {
			if (st->v[i]->skip || health_settled(rs[i].health))
				continue;
			if (target_health(t, st->v[i], &h, &cause) == -1) {
				*id = st->v[i]->id;
				xasprintf(msg, "cannot check health of "
				    "'%s': %s", st->v[i]->id, cause);
				free(cause);
				goto out;
			}
			rs[i].health = h;
			free(why[i]);
			why[i] = cause;		/* what its status says */
			cause = NULL;
			free(rs[i].health_reason);
			rs[i].health_reason = why[i] != NULL ?
			    xstrdup(why[i]) : NULL;
			if (health_settled(h))
				left--;
			else if (h == HEALTH_DEGRADED) {
				*id = st->v[i]->id;
				xasprintf(msg, "'%s' is %s%s%s", st->v[i]->id,
				    health_status_name(h),
				    why[i] != NULL ? ": " : "",
				    why[i] != NULL ? why[i] : "");
				goto out;
			}
		}
		if (left == 0) {
			rc = 0;
			goto out;
		}
		now = time_monotonic_ms();
		if (deadline != 0 && now >= deadline) {
			for (i = 0; st->v[i]->skip ||
			    health_settled(rs[i].health); i++)
				;
			*id = st->v[i]->id;
			d = duration_format(timeout_ms);
			xasprintf(msg, "timed out after %s waiting for '%s' to "
			    "be healthy: %s%s%s%s", d, st->v[i]->id,
			    health_status_name(rs[i].health),
			    why[i] != NULL ? " (" : "",
			    why[i] != NULL ? why[i] : "",
			    why[i] != NULL ? ")" : "");
			free(d);
			goto out;
		}
		/* Until one of them may have changed (a watch), or a pause. */
		for (i = 0, npending = 0; i < st->n; i++) {
			if (!st->v[i]->skip && rs[i].health != HEALTH_HEALTHY)
				pending[npending++] = st->v[i];
		}
		if (target_wait(t, pending, npending, deadline, delay, stop,
		    &cause) == -1) {
			*id = pending[0]->id;
			xasprintf(msg, "waiting for '%s' to be healthy: %s",
			    pending[0]->id, cause);
			free(cause);
			goto out;
		}
		delay = delay * 2 > 1000 ? 1000 : delay * 2;
	}
out:
	for (i = 0; i < st->n; i++)
		free(why[i]);
	free(why);
	free(pending);
	return (rc);
}

/* After a failure: apply the SyncFail hooks, in plan order. */
static void
sync_run_syncfail(struct target *t, const struct plan *plan,
    struct sync_result *res, int texts, const int *stop)
{
	const struct plan_step	*st = &plan->syncfail;
	struct sync_wave_result	*w = NULL;
	struct resource		*r;
	enum diff_action	 action;
	char			*cause;
	size_t			 i;
	int			 recreate;

	for (i = 0; i < st->n; i++) {
		r = st->v[i];
		if (r->skip)
			continue;
		if (w == NULL || w->wave != r->wave)
			w = sync_add_wave(res, PHASE_SYNCFAIL, r->wave);
		cause = NULL;
		/* Every failure runs them all again, as Argo CD does. */
		if (sync_hook_state(t, r, &action, &recreate, &cause) == -1 ||
		    target_prepare(t, &r, 1, &cause) == -1 ||
		    (recreate && sync_hook_delete(t, r,
		    sync_hook_deadline(0, 0), stop, &cause) == -1) ||
		    target_apply(t, r, &cause) == -1) {
			log_event(LOG_LEVEL_WARN, "SyncFail hook failed", "app",
			    res->app, "phase", "SyncFail", "resource", r->id,
			    "error", cause, NULL);
			cause_append(&res->error, "SyncFail hook '%s': %s",
			    r->id, cause);
			w->ok = 0;
			if (w->error == NULL)
				w->error = xstrdup(cause);
			free(cause);
			continue;
		}
		sync_add_change(res, r->id, action, r->phase, r->wave,
		    texts && action == DIFF_CREATE ? target_diff_text(t, r,
		    NULL) : NULL);
		w->applied++;
		res->hooks_run++;
		if (action == DIFF_CREATE)
			res->created++;
		else
			res->updated++;
	}
}

/*
 * A failed commit: the applies of the wave's first n items that did not
 * take effect are not counted as created or updated.
 */
static void
sync_uncount(struct target *t, struct sync_result *res,
    struct sync_wave_result *w, const struct sync_item *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (v[i].error != NULL || v[i].action == DIFF_UNCHANGED ||
		    v[i].r->skip || target_committed(t, v[i].r->id))
			continue;
		w->applied--;
		if (v[i].action == DIFF_CREATE)
			res->created--;
		else
			res->updated--;
		if (v[i].r->is_hook)
			res->hooks_run--;
	}
}

/*
 * This sync changes something: every hook runs. One that exists is
 * applied again, deleted first unless its policy says otherwise; its
 * step then counts as changed (last: the last step with a change).
 */
static int
sync_hooks_run(struct target *t, struct sync_item *items, size_t n,
    struct sync_result *res, int texts, size_t *last)
{
	struct sync_item	*it;
	size_t			 k;
	int			 any = 0;

	for (k = 0; k < n; k++) {
		it = &items[k];
		if (!it->r->is_hook || it->r->skip)
			continue;
		if (sync_hook_state(t, it->r, &it->action, &it->recreate,
		    &it->error) == -1)
			it->action = DIFF_UPDATE;	/* fails at its wave */
		else
			sync_add_change(res, it->r->id, it->action,
			    it->r->phase, it->r->wave, texts && it->action ==
			    DIFF_CREATE ? target_diff_text(t, it->r, NULL) :
			    NULL);
		if (it->step > *last)
			*last = it->step;
		any = 1;
	}
	return (any);
}

/*
 * A bound for deleting a hook: the wave's timeout from now within the
 * sync's deadline, else a minute.
 */
static uint64_t
sync_hook_deadline(uint64_t deadline, uint64_t wave_timeout_ms)
{
	uint64_t	 end;

	end = time_monotonic_ms() + (wave_timeout_ms != 0 ? wave_timeout_ms :
	    60000);
	return (deadline != 0 && deadline < end ? deadline : end);
}

/*
 * A hook is never compared with live (a Job's template cannot change:
 * the server would refuse the dry-run); what matters is whether it
 * exists, and so must be deleted first (BeforeHookCreation).
 */
static int
sync_hook_state(struct target *t, const struct resource *r,
    enum diff_action *action, int *recreate, char **cause)
{
	struct json	*live = NULL;
	char		*err = NULL;

	*recreate = 0;
	if (target_get(t, r->id, &live, &err) == -1) {
		xasprintf(cause, "hook '%s': %s", r->id, err);
		free(err);
		return (-1);
	}
	if (live == NULL)
		*action = DIFF_CREATE;
	else {
		*action = DIFF_UPDATE;
		*recreate = (r->hook_delete & HOOK_DELETE_BEFORE_CREATION) != 0;
	}
	json_free(live);
	return (0);
}

/* Delete a hook before it is created again, and wait until it is gone. */
static int
sync_hook_delete(struct target *t, const struct resource *r,
    uint64_t deadline, const int *stop, char **cause)
{
	enum target_remove_status	 rs;
	struct json			*live;
	uint64_t			 delay = 5;
	char				*err = NULL;

	if (target_remove(t, r->id, &rs, &err) == -1) {
		xasprintf(cause, "cannot delete hook '%s' before creating it "
		    "again: %s", r->id, err);
		free(err);
		return (-1);
	}
	if (rs != TARGET_REMOVED && rs != TARGET_GONE) {
		/* Applied over, a Job would not run again. */
		xasprintf(cause, "hook '%s' exists and is not this app's to "
		    "delete, so it cannot run again: delete it once, and the "
		    "next sync creates it", r->id);
		return (-1);
	}
	for (;;) {
		live = NULL;
		if (target_get(t, r->id, &live, &err) == -1) {
			xasprintf(cause, "hook '%s': %s", r->id, err);
			free(err);
			return (-1);
		}
		if (live == NULL)
			return (0);
		json_free(live);
		if (time_monotonic_ms() >= deadline) {
			xasprintf(cause, "hook '%s' is still being deleted: "
			    "it cannot be created again", r->id);
			return (-1);
		}
		if (stop != NULL && __atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
			xasprintf(cause, "stopped while hook '%s' was being "
			    "deleted: the agent is shutting down", r->id);
			return (-1);
		}
		time_sleep_ms(delay);
		delay = delay * 2 > 1000 ? 1000 : delay * 2;
	}
}

/*
 * After a hook's wave: delete the hooks whose policy says so (bit), or
 * only the one named (the hook that failed).
 */
static void
sync_hooks_done(struct target *t, const struct sync_item *items, size_t n,
    struct sync_result *res, int bit, const char *only)
{
	enum target_remove_status	 rs;
	char				*err;
	size_t				 k;

	for (k = 0; k < n; k++) {
		if (!items[k].r->is_hook || items[k].action ==
		    DIFF_UNCHANGED || (items[k].r->hook_delete & bit) == 0 ||
		    (only != NULL && strcmp(only, items[k].r->id) != 0))
			continue;
		err = NULL;
		if (target_remove(t, items[k].r->id, &rs, &err) == -1) {
			log_event(LOG_LEVEL_WARN, "hook not deleted", "app",
			    res->app, "resource", items[k].r->id, "error", err,
			    NULL);
			free(err);
		}
	}
}

int
sync_run(struct target *t, const struct resource_set *desired,
    const struct sync_opts *opts, struct sync_result **out, char **cause)
{
	struct sync_result	 *res;
	struct sync_wave_result	 *w;
	struct plan		 *plan = NULL;
	const struct plan_step	 *st;
	struct target_entry	 *inv = NULL;
	struct sync_prune	 *prune = NULL;
	struct sync_item	 *items = NULL, *it, *first_error = NULL;
	struct resource		**todo = NULL;
	struct json		 *live;
	enum target_remove_status rs;
	const char		 *bad_id;
	char			 *err, *d, *fid;
	uint64_t		  deadline = 0, wave_deadline, wave_timeout;
	size_t			  ninv = 0, nprune = 0, nitems = 0, ntodo;
	size_t			  i, j, k, last = 0, base;
	int			  any = 0, failed = 0, fenced = 0;

	*out = NULL;
	if (opts->timeout_ms != 0)
		deadline = time_monotonic_ms() + opts->timeout_ms;
	res = xcalloc(1, sizeof *res);
	res->app = xstrdup(t->app);
	res->started_ms = time_now_ms();
	if (opts->revision != NULL)
		res->revision = xstrdup(opts->revision);
	if (target_inventory_entries(t, &inv, &ninv, cause) == -1) {
		sync_result_free(res);
		return (-1);
	}
	plan = plan_build(desired);
	target_warm(t, desired->v, desired->n);

	/* What each resource needs, in plan order. */
	for (i = 0; i < plan->nsteps; i++)
		nitems += plan->steps[i].n;
	items = xcalloc(nitems + 1, sizeof *items);
	for (i = 0, k = 0; i < plan->nsteps; i++) {
		st = &plan->steps[i];
		for (j = 0; j < st->n; j++, k++) {
			it = &items[k];
			it->r = st->v[j];
			it->step = i;
			it->action = DIFF_UNCHANGED;
			if (it->r->skip)
				continue;	/* hook "Skip": not applied */
			if (it->r->is_hook)
				continue;	/* run or not: decided below */
			live = NULL;
			if (target_compare(t, it->r, &it->action, &live,
			    &it->error) == -1) {
				if (first_error == NULL)
					first_error = it;
				any = 1;
				last = i;
				continue;
			}
			if (opts->drift)
				it->drift = target_drift(t, it->r, it->action,
				    live);
			if (it->action == DIFF_UNCHANGED)
				continue;
			any = 1;
			last = i;
			sync_add_change(res, it->r->id, it->action,
			    it->r->phase, it->r->wave, opts->diff_texts ?
			    target_diff_text(t, it->r, live) : NULL);
			json_free(live);
		}
	}

	res->resources = xcalloc(nitems + 1, sizeof *res->resources);
	res->nresources = nitems;
	for (k = 0; k < nitems; k++) {
		it = &items[k];
		res->resources[k].id = xstrdup(it->r->id);
		res->resources[k].phase = it->r->phase;
		res->resources[k].wave = it->r->wave;
		res->resources[k].sync = it->r->skip ? "Skipped" :
		    it->error != NULL ? "Failed" : it->action ==
		    DIFF_UNCHANGED ? "Synced" : "OutOfSync";
		res->resources[k].health = HEALTH_UNKNOWN;
		res->resources[k].drift = it->drift;
		it->drift = NULL;
		if (opts->drift)
			sync_live_health(t, it, &res->resources[k]);
	}

	/* What left Git: the inventory minus desired, latest first. */
	prune = xcalloc(ninv + 1, sizeof *prune);
	for (i = 0; i < ninv; i++) {
		if (resource_set_find(desired, inv[i].id) != NULL)
			continue;
		prune[nprune].e = &inv[i];
		prune[nprune].rank = sync_id_rank(inv[i].id,
		    &prune[nprune].container);
		nprune++;
	}
	if (nprune > 1)
		qsort(prune, nprune, sizeof *prune, sync_prune_cmp);
	/* Hooks, never compared, stay unchanged unless something else is. */
	if ((any || (opts->prune && nprune != 0)) && sync_hooks_run(t, items,
	    nitems, res, opts->diff_texts, &last))
		any = 1;
	for (i = nprune; i-- > 0;) {
		sync_add_change(res, prune[i].e->id, DIFF_PRUNE,
		    prune[i].e->phase, prune[i].e->wave,
		    opts->diff_texts ? sync_prune_diff(t, prune[i].e->id) :
		    NULL);
	}

	/*
	 * Refused before anything is applied: a resource the server does
	 * not accept (a kind it does not serve, an invalid field), a prune
	 * the target finds too large.
	 */
	err = NULL;
	if (opts->prune && nprune != 0 && target_prune_check(t, nprune,
	    ninv, desired->n, &err) == -1) {
		sync_fail(res, NULL, NULL, err);
		goto done;
	}
	if (first_error != NULL && t->ops->validates && !opts->dry_run) {
		sync_fail(res, NULL, first_error->r->id,
		    xstrdup(first_error->error));
		log_event(LOG_LEVEL_WARN, "sync failed", "app", res->app,
		    "status", "Failed", "resource", res->failed_resource,
		    "error", res->error, NULL);
		goto done;
	}

	if (opts->dry_run) {
		res->status = SYNC_DRY_RUN;
		for (k = 0; k < nitems; k++) {
			if (items[k].error != NULL)
				continue;
			if (items[k].action == DIFF_CREATE)
				res->created++;
			else if (items[k].action == DIFF_UPDATE)
				res->updated++;
			else
				res->unchanged++;
		}
		if (opts->prune)
			res->pruned = nprune;
		if (first_error != NULL)
			sync_fail(res, NULL, first_error->r->id,
			    xstrdup(first_error->error));
		goto done;
	}

	todo = xcalloc(nitems + 1, sizeof *todo);
	for (i = 0, base = 0; i < plan->nsteps && !failed;
	    base += plan->steps[i].n, i++) {
		st = &plan->steps[i];
		w = sync_add_wave(res, st->phase, st->wave);
		if (!any || i > last) {
			w->unchanged = st->n;
			res->unchanged += st->n;
			continue;
		}
		if (deadline != 0 && time_monotonic_ms() >= deadline) {
			d = duration_format(opts->timeout_ms);
			xasprintf(&err, "timed out after %s before %s wave %ld",
			    d, phase_name(st->phase), st->wave);
			free(d);
			sync_fail_live(res, w, NULL, err);
			failed = 1;
			break;
		}
		if (opts->stop != NULL &&
		    __atomic_load_n(opts->stop, __ATOMIC_ACQUIRE) != 0) {
			xasprintf(&err, "stopped before %s wave %ld: the agent "
			    "is shutting down", phase_name(st->phase),
			    st->wave);
			sync_fail(res, w, NULL, err);
			failed = 1;
			break;
		}
		if (sync_fenced(opts, &err)) {
			sync_fail(res, w, NULL, err);
			failed = fenced = 1;
			break;
		}
		ntodo = 0;
		for (j = 0; j < st->n; j++) {
			it = &items[base + j];
			if (it->error == NULL && it->action != DIFF_UNCHANGED)
				todo[ntodo++] = it->r;
		}
		err = NULL;
		if (target_prepare(t, todo, ntodo, &err) == -1) {
			sync_fail(res, w, NULL, err);
			failed = 1;
			break;
		}
		target_begin(t);
		for (j = 0; j < st->n; j++) {
			it = &items[base + j];
			if (it->error != NULL) {
				sync_fail(res, w, it->r->id,
				    xstrdup(it->error));
				failed = 1;
				break;
			}
			if (it->action == DIFF_UNCHANGED) {
				w->unchanged++;
				res->unchanged++;
				continue;
			}
			err = NULL;
			if ((it->recreate && sync_hook_delete(t, it->r,
			    sync_hook_deadline(deadline,
			    opts->wave_timeout_ms), opts->stop, &err) == -1) ||
			    target_apply(t, it->r, &err) == -1) {
				res->resources[base + j].sync = "Failed";
				sync_fail(res, w, it->r->id, err);
				failed = 1;
				break;
			}
			res->resources[base + j].sync = "Synced";
			w->applied++;
			if (it->action == DIFF_CREATE)
				res->created++;
			else
				res->updated++;
			if (it->r->is_hook)
				res->hooks_run++;
		}
		/* What was applied before a failure is put in place too. */
		err = NULL;
		if (target_commit(t, &fid, &err) == -1) {
			sync_fail(res, w, fid, err);
			failed = 1;
			sync_uncount(t, res, w, &items[base], j);
		}
		free(fid);
		if (failed)
			break;
		err = NULL;
		/* A wave's own bound, inside the whole sync's. */
		wave_deadline = deadline;
		wave_timeout = opts->timeout_ms;
		if (opts->wave_timeout_ms != 0 && (deadline == 0 ||
		    time_monotonic_ms() + opts->wave_timeout_ms < deadline)) {
			wave_deadline = time_monotonic_ms() +
			    opts->wave_timeout_ms;
			wave_timeout = opts->wave_timeout_ms;
		}
		if (sync_wait_healthy(t, st, &res->resources[base],
		    wave_deadline, wave_timeout, opts->stop, &bad_id,
		    &err) == -1) {
			sync_fail_live(res, w, bad_id, err);
			if (bad_id != NULL)
				sync_hooks_done(t, &items[base], st->n, res,
				    HOOK_DELETE_FAILED, bad_id);
			failed = 1;
			break;
		}
		sync_hooks_done(t, &items[base], st->n, res,
		    HOOK_DELETE_SUCCEEDED, NULL);
		log_event(LOG_LEVEL_INFO, "wave applied", "app", res->app,
		    "phase", phase_name(st->phase), "wave", LOG_INT(st->wave),
		    "applied", LOG_UINT(w->applied), "unchanged",
		    LOG_UINT(w->unchanged), NULL);
	}

	if (!failed && opts->prune && nprune != 0 && sync_fenced(opts, &err)) {
		sync_fail(res, NULL, NULL, err);
		failed = fenced = 1;
	}
	for (i = nprune; !failed && opts->prune && i-- > 0;) {
		err = NULL;
		if (target_remove(t, prune[i].e->id, &rs, &err) == -1) {
			sync_fail(res, NULL, prune[i].e->id, err);
			failed = 1;
			break;
		}
		if (rs == TARGET_REMOVED)
			res->pruned++;
		else if (rs == TARGET_KEPT) {
			strv_add(&res->kept, prune[i].e->id);
			log_event(LOG_LEVEL_WARN,
			    "not pruned: changed since the agent wrote it, "
			    "no longer tracked",
			    "app", res->app, "resource", prune[i].e->id, NULL);
		}
	}

	if (failed) {
		log_event(LOG_LEVEL_WARN, "sync failed", "app", res->app,
		    "status", "Failed", "resource", res->failed_resource,
		    "error", res->error, NULL);
		/* Fenced: SyncFail hooks write too, and that is not ours. */
		if (!fenced)
			sync_run_syncfail(t, plan, res, opts->diff_texts,
			    opts->stop);
	} else
		res->status = SYNC_SUCCEEDED;
	err = NULL;
	if (target_inventory_save(t, &err) == -1) {
		res->status = SYNC_FAILED;
		cause_append(&res->error, "%s", err);
		free(err);
	}

done:
	res->finished_ms = time_now_ms();
	for (k = 0; k < nitems; k++) {
		free(items[k].error);
		json_free(items[k].drift);
	}
	free(items);
	free(todo);
	free(prune);
	target_entries_free(inv, ninv);
	plan_free(plan);
	*out = res;
	return (0);
}

void
sync_result_free(struct sync_result *res)
{
	size_t	i;

	if (res == NULL)
		return;
	for (i = 0; i < res->nchanges; i++) {
		free(res->changes[i].id);
		free(res->changes[i].diff);
	}
	free(res->changes);
	for (i = 0; i < res->nwaves; i++)
		free(res->waves[i].error);
	free(res->waves);
	strv_free(&res->kept);
	strv_free(&res->inputs);
	for (i = 0; i < res->nchecks; i++) {
		free(res->checks[i].name);
		free(res->checks[i].detail);
	}
	free(res->checks);
	for (i = 0; i < res->nresources; i++) {
		free(res->resources[i].id);
		free(res->resources[i].health_reason);
		json_free(res->resources[i].drift);
	}
	free(res->resources);
	free(res->version);
	free(res->app);
	free(res->failed_resource);
	free(res->error);
	free(res->revision);
	free(res);
}

int
sync_result_has_changes(const struct sync_result *res)
{
	return (res->nchanges != 0);
}

static struct json *
sync_time_json(uint64_t ms)
{
	char	out[TIME_FORMAT_LEN];

	time_format(ms, out, sizeof out);
	return (json_new_string(out));
}

static struct json *
sync_string_or_null(const char *s)
{
	return (s != NULL ? json_new_string(s) : json_new_null());
}

struct json *
sync_result_to_json(const struct sync_result *res)
{
	struct json	*o, *arr, *e;
	size_t		 i;

	o = json_new_object();
	json_set(o, "app", json_new_string(res->app));
	json_set(o, "status", json_new_string(sync_status_name(res->status)));
	json_set(o, "startedAt", sync_time_json(res->started_ms));
	json_set(o, "finishedAt", sync_time_json(res->finished_ms));
	json_set(o, "revision", sync_string_or_null(res->revision));
	json_set(o, "created", json_new_number((double)res->created));
	json_set(o, "updated", json_new_number((double)res->updated));
	json_set(o, "pruned", json_new_number((double)res->pruned));
	json_set(o, "unchanged", json_new_number((double)res->unchanged));
	json_set(o, "failedResource",
	    sync_string_or_null(res->failed_resource));
	json_set(o, "error", sync_string_or_null(res->error));
	arr = json_new_array();
	for (i = 0; i < res->nwaves; i++) {
		e = json_new_object();
		json_set(e, "phase",
		    json_new_string(phase_name(res->waves[i].phase)));
		json_set(e, "wave",
		    json_new_number((double)res->waves[i].wave));
		json_set(e, "ok", json_new_bool(res->waves[i].ok));
		json_set(e, "applied",
		    json_new_number((double)res->waves[i].applied));
		json_set(e, "unchanged",
		    json_new_number((double)res->waves[i].unchanged));
		json_set(e, "error", sync_string_or_null(res->waves[i].error));
		json_array_append(arr, e);
	}
	json_set(o, "waves", arr);
	arr = json_new_array();
	for (i = 0; i < res->nchanges; i++) {
		e = json_new_object();
		json_set(e, "id", json_new_string(res->changes[i].id));
		json_set(e, "action",
		    json_new_string(diff_action_name(res->changes[i].action)));
		json_set(e, "phase",
		    json_new_string(phase_name(res->changes[i].phase)));
		json_set(e, "wave",
		    json_new_number((double)res->changes[i].wave));
		json_array_append(arr, e);
	}
	json_set(o, "changes", arr);
	arr = json_new_array();
	for (i = 0; i < res->kept.n; i++)
		json_array_append(arr, json_new_string(res->kept.v[i]));
	json_set(o, "kept", arr);
	if (res->version != NULL)
		json_set(o, "version", json_new_string(res->version));
	if (res->nchecks != 0) {
		arr = json_new_array();
		for (i = 0; i < res->nchecks; i++) {
			e = json_new_object();
			json_set(e, "name", json_new_string(
			    res->checks[i].name));
			json_set(e, "kind", json_new_string(
			    res->checks[i].kind));
			if (strcmp(res->checks[i].kind, "hook") == 0)
				json_set(e, "phase", json_new_string(
				    phase_name(res->checks[i].phase)));
			json_set(e, "verdict", json_new_string(
			    res->checks[i].verdict));
			json_set(e, "detail", sync_string_or_null(
			    res->checks[i].detail));
			json_set(e, "ms", json_new_number(
			    (double)res->checks[i].ms));
			json_array_append(arr, e);
		}
		json_set(o, "checks", arr);
	}
	if (res->failed_after_apply)
		json_set(o, "failedAfterApply", json_new_bool(1));
	arr = json_new_array();
	for (i = 0; i < res->nresources; i++) {
		e = json_new_object();
		json_set(e, "id", json_new_string(res->resources[i].id));
		json_set(e, "phase",
		    json_new_string(phase_name(res->resources[i].phase)));
		json_set(e, "wave",
		    json_new_number((double)res->resources[i].wave));
		json_set(e, "sync", json_new_string(res->resources[i].sync));
		json_set(e, "health", json_new_string(
		    health_status_name(res->resources[i].health)));
		if (res->resources[i].health_reason != NULL)
			json_set(e, "healthReason", json_new_string(
			    res->resources[i].health_reason));
		if (res->resources[i].drift != NULL)
			json_set(e, "drift",
			    json_dup(res->resources[i].drift));
		json_array_append(arr, e);
	}
	json_set(o, "resources", arr);
	if (res->inputs.n != 0) {
		arr = json_new_array();
		for (i = 0; i < res->inputs.n; i++)
			json_array_append(arr,
			    json_new_string(res->inputs.v[i]));
		json_set(o, "inputs", arr);
	}
	return (o);
}

void
sync_result_print(FILE *f, const struct sync_result *res, int diffs)
{
	const struct sync_change	*c;
	const struct sync_wave_result	*w;
	size_t				 i;

	for (i = 0; i < res->nchanges; i++) {
		c = &res->changes[i];
		fprintf(f, "%-9s %s (%s wave %ld)\n",
		    diff_action_name(c->action), c->id, phase_name(c->phase),
		    c->wave);
		if (diffs && c->diff != NULL)
			fputs(c->diff, f);
	}
	for (i = 0; i < res->nwaves; i++) {
		w = &res->waves[i];
		fprintf(f, "wave %s %ld: %s, %zu applied, %zu unchanged%s%s\n",
		    phase_name(w->phase), w->wave, w->ok ? "ok" : "failed",
		    w->applied, w->unchanged, w->error != NULL ? ": " : "",
		    w->error != NULL ? w->error : "");
	}
	for (i = 0; i < res->kept.n; i++)
		fprintf(f, "kept %s: changed since the agent wrote it, no "
		    "longer tracked\n", res->kept.v[i]);
	fprintf(f, "sync %s: %s: %zu created, %zu updated, %zu pruned, "
	    "%zu unchanged\n", res->app, sync_status_name(res->status),
	    res->created, res->updated, res->pruned, res->unchanged);
	if (res->status == SYNC_FAILED) {
		if (res->failed_resource != NULL)
			fprintf(f, "failed resource: %s\n",
			    res->failed_resource);
		fprintf(f, "error: %s\n", res->error != NULL ? res->error :
		    "unknown");
	}
}
