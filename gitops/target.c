/*
 * target.c: the generic face of a target (where resources are applied):
 * the factory that opens the kind a configuration names, dispatch to a
 * target's ops, the fallbacks for optional ops, and names of health
 * states. Past the factory, knows nothing of any one kind of target.
 *
 * Runs in whichever thread runs a sync; a target is used by one thread at
 * a time. Never logs what it applies (it may hold Secrets).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gitops.h"

const char *
health_status_name(enum health_status h)
{
	switch (h) {
	case HEALTH_HEALTHY:
		return ("Healthy");
	case HEALTH_PROGRESSING:
		return ("Progressing");
	case HEALTH_DEGRADED:
		return ("Degraded");
	case HEALTH_MISSING:
		return ("Missing");
	case HEALTH_SUSPENDED:
		return ("Suspended");
	case HEALTH_UNKNOWN:
		break;
	}
	return ("Unknown");
}

int
health_settled(enum health_status h)
{
	return (h == HEALTH_HEALTHY || h == HEALTH_SUSPENDED);
}

struct target *
target_open(const char *app, const struct config_target *ct,
    const int *stop, char **cause)
{
	switch (ct->type) {
	case TARGET_DIRECTORY:
		if (ct->path == NULL)
			break;
		return (target_dir_new(app, ct->path));
	case TARGET_KUBERNETES:
		return (target_kube_new(app, ct, stop, cause));
	}
	xasprintf(cause, "app '%s': its target names no directory", app);
	return (NULL);
}

int
target_lock_file(const char *path, const char *records, const char *app,
    const char *label, uint64_t wait_ms, const int *stop, struct lock **lp,
    char **cause)
{
	char	*dir, *slash, *holder = NULL;
	int	 rc;

	*lp = NULL;
	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir)
		*slash = '\0';
	rc = slash == NULL || slash == dir ? 0 : file_mkdirs(dir, 0755, cause);
	free(dir);
	if (rc == -1 || (records != NULL && file_mkdirs(records, 0755,
	    cause) == -1))
		return (-1);
	if ((rc = lock_take(path, records, 0, stop, lp, &holder,
	    cause)) == 1 && wait_ms != 0) {
		log_event(LOG_LEVEL_INFO,
		    "waiting for another sync of the target", "app", app,
		    "target", label, "holder", holder, NULL);
		free(holder);
		holder = NULL;
		rc = lock_take(path, records, wait_ms, stop, lp, &holder,
		    cause);
	}
	if (rc == 1)
		xasprintf(cause, "target of app '%s' is locked by %s", app,
		    holder);
	free(holder);
	return (rc);
}

int
target_lock(const char *app, const struct config_target *ct,
    const char *state_dir, uint64_t wait_ms, const int *stop,
    struct lock **lp, char **cause)
{
	char	*records = NULL;
	int	 rc = -1;

	*lp = NULL;
	if (state_dir != NULL)
		records = path_join(state_dir, "locks");
	switch (ct->type) {
	case TARGET_DIRECTORY:
		if (ct->path == NULL)
			break;
		rc = target_dir_lock(ct->path, records, app, wait_ms, stop,
		    lp, cause);
		free(records);
		return (rc);
	case TARGET_KUBERNETES:
		if (ct->lock_file == NULL)
			break;
		rc = target_lock_file(ct->lock_file, records, app,
		    "kubernetes", wait_ms, stop, lp, cause);
		free(records);
		return (rc);
	}
	free(records);
	xasprintf(cause, "the target names no %s", ct->type ==
	    TARGET_DIRECTORY ? "directory" : "lock file (no state_dir)");
	return (-1);
}

/*
 * A directory target's key is its path; a cluster's names the
 * credentials, the context and the namespace it defaults to.
 */
char *
target_key(const struct config_target *ct)
{
	char	*key;

	switch (ct->type) {
	case TARGET_DIRECTORY:
		break;
	case TARGET_KUBERNETES:
		xasprintf(&key, "kubernetes:%s:%s:%s", ct->in_cluster ?
		    "in-cluster" : ct->kubeconfig != NULL ? ct->kubeconfig :
		    "default", ct->context != NULL ? ct->context : "",
		    ct->namespace != NULL ? ct->namespace : "");
		return (key);
	}
	return (xstrdup(ct->path != NULL ? ct->path : ""));
}

/*
 * A cluster target's lock is the app's (each app has its own inventory,
 * an ApplySet): the key of its target with the kubeconfig's real path,
 * so the CLI and the daemon agree however the configuration was named
 * to them, and the app.
 */
char *
target_lock_key(const struct config_target *ct, const char *app)
{
	struct config_target	 c = *ct;
	char			*real = NULL, *key, *out;

	if (ct->kubeconfig != NULL && !ct->in_cluster)
		c.kubeconfig = real = realpath(ct->kubeconfig, NULL);
	if (c.kubeconfig == NULL)
		c.kubeconfig = ct->kubeconfig;
	key = target_key(&c);
	free(real);
	xasprintf(&out, "%s:%s", key, app);
	free(key);
	return (out);
}

void
target_free(struct target *t)
{
	if (t == NULL)
		return;
	if (t->ops != NULL && t->ops->free != NULL)
		t->ops->free(t);
	free(t->app);
	free(t->label);
	free(t->namespace);
	free(t);
}

int
target_get(struct target *t, const char *id, struct json **live,
    char **cause)
{
	*live = NULL;
	return (t->ops->get(t, id, live, cause));
}

int
target_compare(struct target *t, const struct resource *r,
    enum diff_action *action, struct json **live, char **cause)
{
	struct json	*obj = NULL;

	if (live != NULL)
		*live = NULL;
	if (t->ops->compare != NULL)
		return (t->ops->compare(t, r, action, live, cause));
	if (t->ops->get(t, r->id, &obj, cause) == -1)
		return (-1);
	if (obj == NULL)
		*action = DIFF_CREATE;
	else if (diff_equal_mode(r->obj, obj, t->ops->diff_mode))
		*action = DIFF_UNCHANGED;
	else
		*action = DIFF_UPDATE;
	if (*action == DIFF_UPDATE && live != NULL)
		*live = obj;
	else
		json_free(obj);
	return (0);
}

int
target_apply(struct target *t, const struct resource *r, char **cause)
{
	return (t->ops->apply(t, r, cause));
}

int
target_remove(struct target *t, const char *id,
    enum target_remove_status *status, char **cause)
{
	return (t->ops->remove(t, id, status, cause));
}

int
target_health(struct target *t, const struct resource *r,
    enum health_status *h, char **cause)
{
	int	 rc;

	*h = HEALTH_UNKNOWN;
	*cause = NULL;
	rc = t->ops->health(t, r, h, cause);
	if (rc == 0 && *h == HEALTH_HEALTHY) {
		free(*cause);
		*cause = NULL;
	}
	return (rc);
}

int
target_wait(struct target *t, struct resource *const *v, size_t n,
    uint64_t deadline, uint64_t pause_ms, const int *stop, char **cause)
{
	uint64_t	end, now;

	if (t->ops->wait != NULL)
		return (t->ops->wait(t, v, n, deadline, cause));
	end = time_monotonic_ms() + pause_ms;
	if (deadline != 0 && end > deadline)
		end = deadline;
	while ((now = time_monotonic_ms()) < end) {
		if (stop != NULL && __atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
			xasprintf(cause, "stopped: the agent is shutting down");
			return (-1);
		}
		time_sleep_ms(end - now < STOP_POLL_MS ? end - now :
		    STOP_POLL_MS);
	}
	return (0);
}

int
target_inventory_entries(struct target *t, struct target_entry **v,
    size_t *n, char **cause)
{
	*v = NULL;
	*n = 0;
	return (t->ops->inventory(t, v, n, cause));
}

void
target_entries_free(struct target_entry *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i].id);
	free(v);
}

int
target_inventory(struct target *t, struct strv *ids, char **cause)
{
	struct target_entry	*v;
	size_t			 n, i;

	if (target_inventory_entries(t, &v, &n, cause) == -1)
		return (-1);
	for (i = 0; i < n; i++)
		strv_add(ids, v[i].id);
	target_entries_free(v, n);
	strv_sort(ids);
	return (0);
}

int
target_prepare(struct target *t, struct resource *const *v, size_t n,
    char **cause)
{
	if (t->ops->prepare == NULL || n == 0)
		return (0);
	return (t->ops->prepare(t, v, n, cause));
}

int
target_inventory_save(struct target *t, char **cause)
{
	if (t->ops->inventory_save == NULL)
		return (0);
	return (t->ops->inventory_save(t, cause));
}

void
target_begin(struct target *t)
{
	if (t->ops->begin != NULL)
		t->ops->begin(t);
}

int
target_commit(struct target *t, char **id, char **cause)
{
	*id = NULL;
	if (t->ops->commit == NULL)
		return (0);
	return (t->ops->commit(t, id, cause));
}

int
target_committed(struct target *t, const char *id)
{
	if (t->ops->committed == NULL)
		return (1);
	return (t->ops->committed(t, id));
}

char *
target_diff_text(struct target *t, const struct resource *r,
    const struct json *live)
{
	if (t->ops->diff_text != NULL)
		return (t->ops->diff_text(t, r, live));
	return (diff_resource_text_mode(r, live, t->ops->diff_mode));
}

void
target_warm(struct target *t, struct resource *const *v, size_t n)
{
	if (t->ops->warm != NULL)
		t->ops->warm(t, v, n);
}

struct json *
target_drift(struct target *t, const struct resource *r,
    enum diff_action action, const struct json *live)
{
	struct json	*want, *got, *rep;
	struct strv	 fields;
	size_t		 n;

	if (t->ops->drift != NULL)
		return (t->ops->drift(t, r, live));
	if (action != DIFF_UPDATE || live == NULL)
		return (NULL);
	memset(&fields, 0, sizeof fields);
	diff_views(r->obj, live, t->ops->diff_mode, &want, &got);
	n = drift_fields(want, got, DRIFT_FIELDS_MAX, &fields);
	rep = drift_report(&fields, n, NULL, 0, NULL);
	strv_free(&fields);
	json_free(want);
	json_free(got);
	return (rep);
}

int
target_prune_check(struct target *t, size_t nprune, size_t ninv,
    size_t ndesired, char **cause)
{
	if (t->ops->prune_check == NULL)
		return (0);
	return (t->ops->prune_check(t, nprune, ninv, ndesired, cause));
}
