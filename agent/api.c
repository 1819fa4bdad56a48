/*
 * api.c: the JSON API at /api/v1/apps: every app as the loop knows it
 * (GET), one app (GET /api/v1/apps/NAME), its resources (GET
 * /api/v1/apps/NAME/resources), and a sync asked for (POST
 * /api/v1/apps/NAME/sync). With api_token_file set every route needs the
 * token; without one only loopback clients may ask for a sync.
 *
 * Loop thread only. The token is compared in constant time.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "daemon_int.h"

#define API_RECENT_SYNCS	5

static struct json *
daemon_app_json(struct agent *a, const struct config_app *app)
{
	struct app_view		*av = strmap_get(a->apps, app->name);
	struct repo_view	*rv = daemon_repo(a, app->repository);
	struct json		*o = json_new_object(), *last;
	const char		*rev, *sync = "Unknown", *health = "Unknown";
	char			*target, *holder, at[TIME_FORMAT_LEN];

	json_set(o, "name", json_new_string(app->name));
	json_set(o, "repository", json_new_string(app->repository));
	json_set(o, "path", json_new_string(app->path));
	target = target_key(&app->target);
	json_set(o, "target", json_new_string(target));
	free(target);
	if (app->service != NULL)
		json_set(o, "service", json_new_string(app->service));
	if (app->environment != NULL)
		json_set(o, "environment", json_new_string(app->environment));
	last = av != NULL ? av->last : NULL;
	json_set(o, "status", json_new_string(last != NULL &&
	    json_path_string(last, "status", NULL) != NULL ?
	    json_path_string(last, "status", NULL) : "Unknown"));
	if (av != NULL)
		daemon_app_columns(av, &sync, &health);
	json_set(o, "syncState", json_new_string(sync));
	json_set(o, "health", json_new_string(health));
	rev = json_path_string(last, "revision", NULL);
	json_set(o, "lastSyncedCommit", rev != NULL ? json_new_string(rev) :
	    json_new_null());
	json_set(o, "head", rv != NULL && rv->head != NULL ?
	    json_new_string(rv->head) : json_new_null());
	if (rv != NULL && rv->fetch_error != NULL)
		json_set(o, "fetchError", json_new_string(rv->fetch_error));
	json_set(o, "syncing", json_new_bool(rv != NULL && rv->inflight));
	if (a->shards != NULL) {
		/* Any replica answers for every app: who syncs it. */
		json_set(o, "shard", json_new_number(shards_of(a->shards,
		    app)));
		holder = shards_holder(a->shards, app);
		json_set(o, "holder", holder != NULL ?
		    json_new_string_owned(holder) : json_new_null());
		json_set(o, "heldHere", json_new_bool(shards_hold(a->shards,
		    app, NULL)));
	}
	json_set(o, "checks", json_new_number(av != NULL ?
	    (double)av->checks : 0));
	if (av != NULL && av->outcome != NULL) {
		json_set(o, "lastCheck", json_new_string(av->outcome));
		if (av->reason != NULL)
			json_set(o, "lastCheckReason",
			    json_new_string(av->reason));
		time_format(av->checked_ms, at, sizeof at);
		json_set(o, "lastCheckAt", json_new_string(at));
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

/*
 * The resources that drifted, as the last drift check found them: each
 * one's id, the fields of ours that differ, those only other managers
 * set.
 */
static struct json *
daemon_api_drift(const struct app_view *av)
{
	const struct json	*e, *d;
	struct json		*arr = json_new_array(), *o;

	for (e = json_child(daemon_app_resources(av)); e != NULL;
	    e = json_next(e)) {
		if ((d = json_get(e, "drift")) == NULL)
			continue;
		o = json_dup(d);
		json_set(o, "id", json_new_string(json_path_string(e, "id",
		    NULL) != NULL ? json_path_string(e, "id", NULL) : "?"));
		json_array_append(arr, o);
	}
	return (arr);
}

/*
 * GET /api/v1/apps/NAME/resources: its resources, each with its sync and
 * health state, as the last drift check found them (and what drifted),
 * else as its last recorded sync left them ([] before any).
 */
static void
daemon_api_resources(struct agent *a, struct evhttp_request *req,
    const struct config_app *app)
{
	struct app_view		*av = strmap_get(a->apps, app->name);
	const struct json	*rs = NULL;
	struct json		*arr;

	if (av != NULL)
		rs = daemon_app_resources(av);
	arr = rs != NULL && json_type(rs) == JSON_ARRAY ? json_dup(rs) :
	    json_new_array();
	daemon_reply_json(a, req, "apps", 200, arr);
	json_free(arr);
}

/*
 * The app's last few recorded syncs, newest first, from its history in
 * state_dir (a small file: at most STATE_HISTORY_MAX results without
 * their resources).
 */
static struct json *
daemon_api_recent(struct agent *a, const struct config_app *app)
{
	struct json	*out = NULL;
	char		*cause = NULL;

	if (state_load_history(a->ac->cfg->state_dir, app->name,
	    API_RECENT_SYNCS, &out, &cause) == -1) {
		log_event(LOG_LEVEL_WARN, "cannot read the sync history",
		    "app", app->name, "error", cause, NULL);
		free(cause);
		return (json_new_array());
	}
	return (out);
}

/* The caller may trigger syncs: the token, or a loopback peer. */
int
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

void
daemon_api_apps(struct agent *a, struct evhttp_request *req, const char *rest)
{
	const struct config		*cfg = a->ac->cfg;
	const struct config_app		*app;
	struct repo_view		*rv;
	struct app_view			*av;
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
	    (slash != NULL && strcmp(slash, "/sync") != 0 &&
	    strcmp(slash, "/resources") != 0)) {
		daemon_reply_status(a, req, "apps", 404, "error", app == NULL ?
		    "no such app" : "no such route");
		return;
	}
	if (slash == NULL) {
		if (!daemon_method_ok(a, req, "apps", EVHTTP_REQ_GET))
			return;
		arr = daemon_app_json(a, app);
		json_set(arr, "recentSyncs", daemon_api_recent(a, app));
		av = strmap_get(a->apps, app->name);
		json_set(arr, "drift", av != NULL ? daemon_api_drift(av) :
		    json_new_array());
		json_set(arr, "resources", av != NULL &&
		    daemon_app_resources(av) != NULL ?
		    json_dup(daemon_app_resources(av)) : json_new_array());
		daemon_reply_json(a, req, "apps", 200, arr);
		json_free(arr);
		return;
	}
	if (strcmp(slash, "/resources") == 0) {
		if (daemon_method_ok(a, req, "apps", EVHTTP_REQ_GET))
			daemon_api_resources(a, req, app);
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
