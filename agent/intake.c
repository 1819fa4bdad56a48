/*
 * intake.c: signed deliveries that make work. A webhook at
 * /webhooks/PROVIDER (push, ping, repository_dispatch deploy) or a deploy
 * request at /api/v1/deployments is read (webhook.c), its signature
 * checked with the secret of a repository it names, its delivery id or
 * body looked up (a redelivery is acknowledged without acting, a
 * replayed deploy refused), then turned into a job and answered at once
 * (202): a push queues a fetch, a deploy is saved to disk and queued.
 *
 * Loop thread only. Nothing a sender writes may crash it or forge a log
 * line (values go to log_event); never logs a secret.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "daemon_int.h"

/* A /api/v1/deployments request is at most this old (its timestamp). */
#define DAEMON_DEPLOY_SKEW_S	(5 * 60)

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
	struct secrets		*s;
	size_t			 i, j;
	int			 k;

	for (i = 0; i < repos->n; i++) {
		if ((k = daemon_repo_index(ac->cfg, repos->v[i])) == -1)
			continue;
		s = &ac->webhook_secrets[k];
		secrets_refresh(s, time_now_ms());
		/* Several during a rotation: each compared in constant time. */
		for (j = 0; j < s->n; j++) {
			if (webhook_verify(p, daemon_header_cb, req, body, len,
			    s->v[j], s->lens[j]))
				return (&ac->cfg->repositories[k]);
		}
	}
	return (NULL);
}

void
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
	char			*cause = NULL, *file, *msg, *text;
	char			 digest[65];
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
	/*
	 * Another replica holds the shard of the service's app: only it may
	 * commit the bump. 503 with Retry-After rather than a refusal, so a
	 * client that retries (curl --retry, a CI step, a redelivery) lands
	 * on the holder or after a failover; nothing is kept here.
	 */
	if (!shards_hold(a->shards, app, &cause)) {
		xasprintf(&msg, "%u", shards_retry_after(a->shards));
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", msg);
		free(msg);
		log_event(LOG_LEVEL_INFO, "deploy for another replica",
		    "service", d->service, "environment", d->environment,
		    "reason", cause, NULL);
		daemon_count(a, "gitops_deployments_total", "result",
		    "not_held", NULL, NULL);
		daemon_reply_status(a, req, route, 503, "error", cause);
		free(cause);
		deploy_request_free(d);
		return (-1);
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
	/* For the next holder of its shard, should this replica die. */
	if (a->shards != NULL) {
		text = daemon_deploy_text(d, delivery, digest);
		shards_deploy_keep(a->shards, app, digest, text);
		free(text);
	}
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
	char			 at[TIME_FORMAT_LEN];
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
		time_format(time_now_ms(), at, sizeof at);
		json_set(o, "receivedAt", json_new_string(at));
		json_free(av->webhook);
		av->webhook = o;
	}
}

void
daemon_webhook(struct agent *a, struct evhttp_request *req,
    enum webhook_provider p)
{
	const struct config		*cfg = a->ac->cfg;
	const struct config_repository	*r, *signer;
	struct webhook_event		 ev;
	struct strv			 matched, queued, current, all;
	struct repo_view		*rv;
	const char			*body, *pname = webhook_provider_name(p);
	const char			*result, *json;
	char				*cause = NULL, *msg = NULL, *form = NULL;
	size_t				 len, jlen, i;

	if (!daemon_method_ok(a, req, "webhook", EVHTTP_REQ_POST)) {
		daemon_count(a, "gitops_webhooks_total", "provider", pname,
		    "result", "method_not_allowed");
		return;
	}
	memset(&matched, 0, sizeof matched);
	memset(&queued, 0, sizeof queued);
	memset(&current, 0, sizeof current);
	memset(&all, 0, sizeof all);
	json = body = daemon_body(req, &len);
	jlen = len;
	/*
	 * Signed as sent: the raw body; parsed: the JSON in "payload". A
	 * JSON object is read as such whatever its type: curl -d labels
	 * what it sends a form unless told otherwise.
	 */
	if (webhook_form_is(daemon_header_cb(req, "Content-Type")) &&
	    !webhook_form_is_json(body, len))
		json = form = webhook_form_payload(body, len,
		    cfg->http_max_body, &jlen, &cause);
	if (json == NULL || webhook_parse(p, daemon_header_cb, req, json,
	    jlen, &ev, &cause) == -1) {
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
	signer = daemon_signed_by(a, req, p, body, len, matched.n != 0 ?
	    &matched : &all);
	/* Gitea and Forgejo sign a form delivery's payload, not its body. */
	if (signer == NULL && form != NULL && p == WEBHOOK_GITEA)
		signer = daemon_signed_by(a, req, p, json, jlen, matched.n !=
		    0 ? &matched : &all);
	if (signer == NULL) {
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
		if ((ev.deploy = webhook_deploy_request(json, jlen,
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
		/* Other replicas hold other apps of it: they fetch too. */
		shards_nudge(a->shards, r->name);
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
	free(form);
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
void
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
