/*
 * kube.c: the Kubernetes API client of kube.h, over http.c: discovery
 * (aggregated, the legacy documents as fallback), GET, LIST page by page,
 * watches (an event a line, read as the stream arrives), server-side
 * apply, DELETE; errors decoded from the server's Status;
 * retries (429 after Retry-After, 5xx and broken connections with
 * backoff, 401 once with fresh credentials) within a request's timeout;
 * a client-side token bucket (qps, burst) shared by every thread; and
 * kube_parallel, the bounded pool a wave is applied with.
 *
 * Runs in any thread, several at once over one struct kube: discovery and
 * the rate limit are under mutexes, counters are atomic, and kinds handed
 * out are never freed before kube_close. Never logs a credential or an
 * object; logs each distinct Warning header once.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "gitops.h"
#include "kube.h"

#define KUBE_DEFAULT_QPS	50.0
#define KUBE_DEFAULT_BURST	100
#define KUBE_DEFAULT_TIMEOUT_MS	30000
#define KUBE_MAX_BODY		(64 * 1024 * 1024)
#define KUBE_PAGE		500	/* objects a LIST page */
#define KUBE_BACKOFF_MS		100	/* first wait before a retry */
#define KUBE_BACKOFF_MAX_MS	3000
#define KUBE_MAX_WARNINGS	256	/* distinct warnings remembered */
#define KUBE_ACCEPT_DISCOVERY						\
	"application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"\
	"application/json;g=apidiscovery.k8s.io;v=v2beta1;"		\
	"as=APIGroupDiscoveryList,application/json"

enum kube_verb {
	KUBE_VERB_GET,
	KUBE_VERB_LIST,
	KUBE_VERB_APPLY,
	KUBE_VERB_DELETE,
	KUBE_VERB_DISCOVERY,
	KUBE_VERB_WATCH,
};

/* A kind as discovery last said; kept (never freed) until kube_close. */
struct kube_kind_ent {
	struct kube_kind k;
	int		 served;	/* in the last discovery */
	int		 preferred;	/* its group's preferred version */
};

struct kube {
	struct kube_auth	*auth;
	const int		*stop;
	uint64_t		 timeout_ms;

	pthread_mutex_t		 disc_mu;
	struct kube_kind_ent	**kinds;
	size_t			 nkinds;
	int			 disc_valid;
	struct strmap		*down;	/* group -> why its discovery failed */

	pthread_mutex_t		 rate_mu;
	double			 qps;
	double			 burst;
	double			 tokens;
	uint64_t		 refilled;	/* monotonic ms */

	pthread_mutex_t		 warn_mu;
	struct strmap		*warned;

	size_t			 counts[KUBE_VERB_WATCH + 1];
};

/* One request of the client. */
struct kube_call {
	enum kube_verb	 verb;
	const char	*method;
	const char	*path;		/* with its query */
	const char	*type;		/* of body */
	const char	*body;
	size_t		 bodylen;
	const char	*accept;
	uint64_t	 timeout_ms;	/* 0: the client's */
	int		 once;		/* no retry (but for a 401) */
	/* A streamed answer: http_req's stream, stream_arg and cancel. */
	int		(*stream)(void *, const char *, size_t);
	void		*stream_arg;
	const int	*cancel;
};

struct kube *
kube_open(const struct kube_opts *o, char **cause)
{
	struct kube	*k;

	k = xcalloc(1, sizeof *k);
	if ((k->auth = kube_auth_load(&o->auth, cause)) == NULL) {
		free(k);
		return (NULL);
	}
	k->stop = o->stop;
	k->timeout_ms = o->timeout_ms != 0 ? o->timeout_ms :
	    KUBE_DEFAULT_TIMEOUT_MS;
	k->qps = o->qps > 0 ? o->qps : KUBE_DEFAULT_QPS;
	k->burst = o->burst > 0 ? o->burst : KUBE_DEFAULT_BURST;
	k->tokens = k->burst;
	k->refilled = time_monotonic_ms();
	k->warned = strmap_new(16);
	k->down = strmap_new(4);
	if (pthread_mutex_init(&k->disc_mu, NULL) != 0 ||
	    pthread_mutex_init(&k->rate_mu, NULL) != 0 ||
	    pthread_mutex_init(&k->warn_mu, NULL) != 0)
		fatalx("cannot make a mutex");
	if (kube_auth_insecure(k->auth))
		log_event(LOG_LEVEL_WARN, "kubeconfig says "
		    "insecure-skip-tls-verify: the API server's certificate "
		    "is not checked", "server", kube_auth_server(k->auth),
		    NULL);
	return (k);
}

static void
kube_down_free_cb(void *v)
{
	free(v);
}

/* Forget which groups failed (before discovery is fetched again). */
static void
kube_down_clear(struct kube *k)
{
	size_t	 cur = 0;
	void	*v;

	while (strmap_next(k->down, &cur, NULL, &v))
		kube_down_free_cb(v);
	strmap_free(k->down);
	k->down = strmap_new(4);
}

static void
kube_kind_ent_free(struct kube_kind_ent *e)
{
	free(e->k.group);
	free(e->k.version);
	free(e->k.kind);
	free(e->k.resource);
	free(e);
}

void
kube_close(struct kube *k)
{
	size_t	i;

	if (k == NULL)
		return;
	for (i = 0; i < k->nkinds; i++)
		kube_kind_ent_free(k->kinds[i]);
	free(k->kinds);
	kube_down_clear(k);
	strmap_free(k->down);
	strmap_free(k->warned);
	kube_auth_free(k->auth);
	pthread_mutex_destroy(&k->disc_mu);
	pthread_mutex_destroy(&k->rate_mu);
	pthread_mutex_destroy(&k->warn_mu);
	free(k);
}

const char *
kube_server(const struct kube *k)
{
	return (kube_auth_server(k->auth));
}

const char *
kube_namespace(const struct kube *k)
{
	return (kube_auth_namespace(k->auth));
}

void
kube_counts(const struct kube *k, struct kube_counts *c)
{
#define COUNT(v)	__atomic_load_n(&k->counts[v], __ATOMIC_RELAXED)
	c->get = COUNT(KUBE_VERB_GET);
	c->list = COUNT(KUBE_VERB_LIST);
	c->apply = COUNT(KUBE_VERB_APPLY);
	c->delete = COUNT(KUBE_VERB_DELETE);
	c->discovery = COUNT(KUBE_VERB_DISCOVERY);
	c->watch = COUNT(KUBE_VERB_WATCH);
#undef COUNT
}

static int
kube_stopped(const struct kube *k)
{
	return (k->stop != NULL &&
	    __atomic_load_n(k->stop, __ATOMIC_ACQUIRE) != 0);
}

/* Sleep ms, in slices that look at the stop flag: 0, or -1 if stopped. */
static int
kube_sleep(const struct kube *k, uint64_t ms)
{
	uint64_t	end = time_monotonic_ms() + ms, now;

	while ((now = time_monotonic_ms()) < end) {
		if (kube_stopped(k))
			return (-1);
		time_sleep_ms(end - now < STOP_POLL_MS ? end - now :
		    STOP_POLL_MS);
	}
	return (kube_stopped(k) ? -1 : 0);
}

/*
 * A token of the bucket, waiting for one when it is empty: 0, or -1 when
 * the wait would pass the deadline or the agent stops.
 */
static int
kube_rate_wait(struct kube *k, uint64_t deadline)
{
	uint64_t	now, wait;

	for (;;) {
		pthread_mutex_lock(&k->rate_mu);
		now = time_monotonic_ms();
		k->tokens += (double)(now - k->refilled) * k->qps / 1000.0;
		if (k->tokens > k->burst)
			k->tokens = k->burst;
		k->refilled = now;
		if (k->tokens >= 1.0) {
			k->tokens -= 1.0;
			pthread_mutex_unlock(&k->rate_mu);
			return (0);
		}
		wait = (uint64_t)((1.0 - k->tokens) * 1000.0 / k->qps) + 1;
		pthread_mutex_unlock(&k->rate_mu);
		if (now + wait > deadline || kube_sleep(k, wait) == -1)
			return (-1);
	}
}

/* Text that may hold a Secret's data, wiped before it is freed. */
static void
kube_wipe(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
}

/* An answer may be a Secret: its body is wiped before it is freed. */
static void
kube_response_free(struct http_response *r)
{
	if (r->body != NULL)
		explicit_bzero(r->body, r->len);
	http_response_free(r);
}

/* Each distinct Warning header, logged once. */
static void
kube_warnings(struct kube *k, const char *path, const char *warnings)
{
	const char	*line, *nl;
	char		*w;

	for (line = warnings; line != NULL && *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			break;
		w = xstrndup(line, nl - line);
		pthread_mutex_lock(&k->warn_mu);
		if (strmap_get(k->warned, w) == NULL &&
		    strmap_count(k->warned) < KUBE_MAX_WARNINGS) {
			strmap_put(k->warned, w, k);
			log_event(LOG_LEVEL_WARN, "kubernetes API warning",
			    "server", kube_server(k), "path", path, "warning",
			    w, NULL);
		}
		pthread_mutex_unlock(&k->warn_mu);
		free(w);
	}
}

/*
 * A Status cause's type: the API server writes it as "reason" (StatusCause's
 * Type field has that JSON name); "type" accepted too.
 */
static const char *
kube_cause_type(const struct json *c)
{
	const char	*type = json_path_string(c, "reason", NULL);

	return (type != NULL ? type : json_path_string(c, "type", NULL));
}

/*
 * A cause that says a field is immutable, in the API server's words:
 * FieldValueInvalid ("Invalid value: ...: field is immutable") or
 * FieldValueForbidden ("Forbidden: field is immutable when ...").
 */
static int
kube_cause_immutable(const struct json *c)
{
	const char	*type = kube_cause_type(c);
	const char	*msg = json_path_string(c, "message", NULL);

	return (type != NULL && msg != NULL &&
	    (strcmp(type, "FieldValueInvalid") == 0 ||
	    strcmp(type, "FieldValueForbidden") == 0) &&
	    strstr(msg, "field is immutable") != NULL);
}

/* A Status cause as text: "field: message", a conflict "message: field". */
static char *
kube_cause_text(const struct json *c)
{
	const char	*type = kube_cause_type(c);
	const char	*msg = json_path_string(c, "message", NULL);
	const char	*field = json_path_string(c, "field", NULL);
	char		*s;

	if (msg == NULL)
		msg = "";
	if (field == NULL || *field == '\0')
		return (xstrdup(msg));
	if (type != NULL && strcmp(type, "FieldManagerConflict") == 0)
		xasprintf(&s, "%s: %s", msg, field);
	else
		xasprintf(&s, "%s: %s", field, msg);
	return (s);
}

/*
 * A failed answer: *why from its status and Status object, *cause naming
 * the request, the reason, the message and each cause the message does
 * not already hold.
 */
static void
kube_decode_error(const struct kube_call *c, const struct http_response *r,
    enum kube_why *why, char **cause)
{
	struct json		*st = NULL;
	const struct json	*e;
	const char		*reason = NULL, *msg = NULL, *type;
	struct buf		 b;
	char			*text, *shown;
	int			 conflict = 0, immutable = 0, other = 0;

	*why = KUBE_WHY_OTHER;
	if (r->body != NULL && (st = json_parse(r->body, r->len, NULL)) !=
	    NULL && (type = json_path_string(st, "kind", NULL)) != NULL &&
	    strcmp(type, "Status") == 0) {
		reason = json_path_string(st, "reason", NULL);
		msg = json_path_string(st, "message", NULL);
	}
	buf_init(&b);
	buf_printf(&b, "%s %s: %d", c->method, c->path, r->status);
	if (reason != NULL)
		buf_printf(&b, " %s", reason);
	if (msg != NULL)
		buf_printf(&b, ": %s", msg);
	else if (r->body != NULL && r->len != 0) {
		/* Not a Status: what came, short and printable. */
		shown = utf8_repair(r->body, r->len < 200 ? r->len : 200);
		for (text = shown; *text != '\0'; text++)
			if ((unsigned char)*text < 0x20)
				*text = ' ';
		buf_printf(&b, ": %s", shown);
		free(shown);
	}
	for (e = json_child(json_path(st, "details", "causes", NULL));
	    e != NULL; e = json_next(e)) {
		type = kube_cause_type(e);
		if (type != NULL && strcmp(type, "FieldManagerConflict") == 0)
			conflict = 1;
		/* Immutable only if every cause is an immutable field. */
		if (kube_cause_immutable(e))
			immutable = 1;
		else
			other = 1;
		text = kube_cause_text(e);
		if (*text != '\0' && (msg == NULL || strstr(msg, text) == NULL))
			buf_printf(&b, "; %s", text);
		free(text);
	}
	switch (r->status) {
	case 401:
		*why = KUBE_WHY_UNAUTHORIZED;
		break;
	case 403:
		*why = KUBE_WHY_FORBIDDEN;
		break;
	case 404:
		*why = KUBE_WHY_NOT_FOUND;
		break;
	case 410:
		*why = KUBE_WHY_GONE;
		break;
	case 409:
		if (conflict)
			*why = KUBE_WHY_CONFLICT;
		else if (reason != NULL && strcmp(reason, "AlreadyExists") == 0)
			*why = KUBE_WHY_EXISTS;
		else if (msg != NULL && strstr(msg,
		    "Precondition failed: UID in precondition") != NULL)
			*why = KUBE_WHY_UID_CHANGED;
		else
			*why = KUBE_WHY_MODIFIED;
		break;
	case 422:
		/* A message alone (a webhook's words) never says immutable. */
		*why = immutable && !other ? KUBE_WHY_IMMUTABLE :
		    KUBE_WHY_INVALID;
		break;
	}
	json_free(st);
	buf_addc(&b, '\0');
	*cause = buf_release(&b);
}

/* The wait before retry n (0-based): doubling, capped. */
static uint64_t
kube_backoff(int n)
{
	uint64_t	ms = KUBE_BACKOFF_MS;

	while (n-- > 0 && ms < KUBE_BACKOFF_MAX_MS)
		ms *= 2;
	return (ms < KUBE_BACKOFF_MAX_MS ? ms : KUBE_BACKOFF_MAX_MS);
}

/*
 * Send c, retrying what may succeed later within the client's timeout:
 * 0 and *resp (2xx), or -1, *why and *cause (resp freed). A 404 is -1
 * with KUBE_WHY_NOT_FOUND and the answer kept in *resp for the caller.
 */
static int
kube_call(struct kube *k, const struct kube_call *c,
    struct http_response *resp, enum kube_why *why, char **cause)
{
	struct http_req	 req;
	void		*hold;
	char		*url, *err = NULL;
	uint64_t	 deadline, now, wait;
	int		 tries = 0, reauthed = 0, rc = -1;

	memset(resp, 0, sizeof *resp);
	*why = KUBE_WHY_OTHER;
	*cause = NULL;
	xasprintf(&url, "%s%s", kube_server(k), c->path);
	deadline = time_monotonic_ms() + (c->timeout_ms != 0 ? c->timeout_ms :
	    k->timeout_ms);
	for (;;) {
		free(err);
		err = NULL;
		if (kube_rate_wait(k, deadline) == -1) {
			xasprintf(&err, "%s %s: %s", c->method, c->path,
			    kube_stopped(k) ? "stopped: the agent is shutting "
			    "down" : "no request slot within the timeout "
			    "(qps)");
			break;
		}
		memset(&req, 0, sizeof req);
		req.method = c->method;
		req.url = url;
		req.type = c->type;
		req.body = c->body;
		req.bodylen = c->bodylen;
		req.accept = c->accept != NULL ? c->accept :
		    "application/json";
		req.max_body = KUBE_MAX_BODY;
		req.stop = k->stop;
		req.stream = c->stream;
		req.stream_arg = c->stream_arg;
		req.cancel = c->cancel;
		if (kube_auth_prepare(k->auth, &req, &hold, &err) == -1)
			break;
		now = time_monotonic_ms();
		req.timeout_ms = deadline > now ? deadline - now : 1;
		__atomic_fetch_add(&k->counts[c->verb], 1, __ATOMIC_RELAXED);
		rc = http_send(&req, resp, &err);
		kube_auth_release(k->auth, hold);
		if (rc == 0 && resp->warnings != NULL)
			kube_warnings(k, c->path, resp->warnings);
		if (rc == 0 && resp->status >= 200 && resp->status < 300)
			break;
		if (rc == 0 && resp->status == 401 && !reauthed &&
		    kube_auth_invalidate(k->auth)) {
			reauthed = 1;
			kube_response_free(resp);
			rc = -1;
			continue;
		}
		if (rc == -1) {
			if (!resp->broken || kube_stopped(k) || c->once)
				break;
			wait = kube_backoff(tries);
		} else if ((resp->status == 429 || resp->status >= 500) &&
		    !c->once) {
			kube_decode_error(c, resp, why, &err);
			wait = resp->retry_after_ms != 0 ?
			    resp->retry_after_ms : kube_backoff(tries);
			rc = -1;
		} else {
			kube_decode_error(c, resp, why, &err);
			rc = -1;
			break;
		}
		if (time_monotonic_ms() + wait >= deadline) {
			cause_append(&err, "gave up after %d attempts within "
			    "%llu ms", tries + 1,
			    (unsigned long long)k->timeout_ms);
			break;
		}
		log_event(LOG_LEVEL_DEBUG, "kubernetes request retried",
		    "path", c->path, "status", LOG_INT(resp->status),
		    "wait_ms", LOG_UINT(wait), NULL);
		kube_response_free(resp);
		if (kube_sleep(k, wait) == -1) {
			xasprintf(&err, "%s %s: stopped: the agent is shutting "
			    "down", c->method, c->path);
			break;
		}
		tries++;
	}
	free(url);
	if (rc == 0 && resp->status >= 200 && resp->status < 300) {
		free(err);
		return (0);
	}
	*cause = err;
	if (*why != KUBE_WHY_NOT_FOUND)
		kube_response_free(resp);
	return (-1);
}

/* The answer's body as JSON: 0, or -1 and *cause. */
static int
kube_body(const struct kube_call *c, const struct http_response *r,
    struct json **out, char **cause)
{
	char	*why = NULL;

	if ((*out = json_parse(r->body, r->len, &why)) == NULL) {
		xasprintf(cause, "%s %s: the answer is not JSON: %s",
		    c->method, c->path, why);
		free(why);
		return (-1);
	}
	return (0);
}

/* GET path as JSON (discovery): 0, 1 when 404, -1 and *cause. */
static int
kube_get_json(struct kube *k, enum kube_verb verb, const char *path,
    const char *accept, struct json **out, char **cause)
{
	struct kube_call	 c;
	struct http_response	 r;
	enum kube_why		 why;
	int			 rc;

	memset(&c, 0, sizeof c);
	c.verb = verb;
	c.method = "GET";
	c.path = path;
	c.accept = accept;
	*out = NULL;
	if (kube_call(k, &c, &r, &why, cause) == -1) {
		if (why != KUBE_WHY_NOT_FOUND)
			return (-1);
		kube_response_free(&r);
		free(*cause);
		*cause = NULL;
		return (1);
	}
	rc = kube_body(&c, &r, out, cause);
	kube_response_free(&r);
	return (rc);
}

/* Discovery: add or find a kind, mark it served. */
static void
kube_kind_add(struct kube *k, const char *group, const char *version,
    const char *kind, const char *resource, int namespaced, int preferred)
{
	struct kube_kind_ent	*e;
	size_t			 i;

	if (group == NULL || version == NULL || kind == NULL ||
	    resource == NULL || strchr(resource, '/') != NULL)
		return;
	for (i = 0; i < k->nkinds; i++) {
		e = k->kinds[i];
		/* Never changed once handed out: a new one if it moved. */
		if (strcmp(e->k.group, group) == 0 &&
		    strcmp(e->k.version, version) == 0 &&
		    strcmp(e->k.kind, kind) == 0 &&
		    strcmp(e->k.resource, resource) == 0 &&
		    e->k.namespaced == namespaced) {
			e->served = 1;
			e->preferred = preferred;
			return;
		}
	}
	e = xcalloc(1, sizeof *e);
	e->k.group = xstrdup(group);
	e->k.version = xstrdup(version);
	e->k.kind = xstrdup(kind);
	e->k.resource = xstrdup(resource);
	e->k.namespaced = namespaced;
	e->served = 1;
	e->preferred = preferred;
	k->kinds = xreallocarray(k->kinds, k->nkinds + 1, sizeof *k->kinds);
	k->kinds[k->nkinds++] = e;
}

/* An APIGroupDiscoveryList (aggregated discovery). */
static void
kube_disc_aggregated(struct kube *k, const struct json *list)
{
	const struct json	*g, *v, *r;
	const char		*group, *scope;
	int			 first;

	for (g = json_child(json_get(list, "items")); g != NULL;
	    g = json_next(g)) {
		group = json_path_string(g, "metadata", "name", NULL);
		first = 1;
		/* Versions come in the server's order of preference. */
		for (v = json_child(json_get(g, "versions")); v != NULL;
		    v = json_next(v), first = 0) {
			for (r = json_child(json_get(v, "resources"));
			    r != NULL; r = json_next(r)) {
				scope = json_path_string(r, "scope", NULL);
				kube_kind_add(k, group != NULL ? group : "",
				    json_path_string(v, "version", NULL),
				    json_path_string(r, "responseKind", "kind",
				    NULL), json_path_string(r, "resource",
				    NULL), scope != NULL &&
				    strcmp(scope, "Namespaced") == 0, first);
			}
		}
	}
}

/* An APIResourceList of the legacy discovery. */
static void
kube_disc_resources(struct kube *k, const char *group, const char *version,
    const struct json *list, int preferred)
{
	const struct json	*r;

	for (r = json_child(json_get(list, "resources")); r != NULL;
	    r = json_next(r))
		kube_kind_add(k, group, version, json_path_string(r, "kind",
		    NULL), json_path_string(r, "name", NULL),
		    json_is_true(json_get(r, "namespaced")), preferred);
}

/*
 * GET a document discovery cannot do without: a 404 is an error too (a
 * server that answers 404 for /apis does not serve "no groups").
 */
static int
kube_disc_get(struct kube *k, const char *path, const char *accept,
    struct json **out, char **cause)
{
	int	r;

	if ((r = kube_get_json(k, KUBE_VERB_DISCOVERY, path, accept, out,
	    cause)) == 1)
		xasprintf(cause, "discovery: GET %s: 404: the API server "
		    "does not serve it", path);
	return (r == 0 ? 0 : -1);
}

/*
 * The legacy discovery: /api/v1, /apis, then each /apis/G/V. A group
 * whose document fails is remembered as down (its kinds fail to look
 * up), not taken as serving nothing, and the other groups still work.
 */
static int
kube_disc_legacy(struct kube *k, char **cause)
{
	struct json		*groups = NULL, *list = NULL;
	const struct json	*g, *v;
	const char		*name, *gv, *ver, *pref;
	char			*path, *err = NULL;
	int			 rc = -1, r;

	if (kube_disc_get(k, "/api/v1", NULL, &list, cause) == -1)
		goto fail;
	kube_disc_resources(k, "", "v1", list, 1);
	json_free(list);
	list = NULL;
	if (kube_disc_get(k, "/apis", NULL, &groups, cause) == -1)
		goto fail;
	for (g = json_child(json_get(groups, "groups")); g != NULL;
	    g = json_next(g)) {
		name = json_path_string(g, "name", NULL);
		pref = json_path_string(g, "preferredVersion", "version", NULL);
		for (v = json_child(json_get(g, "versions")); v != NULL;
		    v = json_next(v)) {
			gv = json_path_string(v, "groupVersion", NULL);
			ver = json_path_string(v, "version", NULL);
			if (name == NULL || gv == NULL || ver == NULL)
				continue;
			xasprintf(&path, "/apis/%s", gv);
			r = kube_disc_get(k, path, NULL, &list, &err);
			free(path);
			if (r == -1) {
				log_event(LOG_LEVEL_WARN, "discovery of an API "
				    "group failed", "server", kube_server(k),
				    "group", name, "error", err, NULL);
				if (strmap_get(k->down, name) == NULL)
					strmap_put(k->down, name, err);
				else
					free(err);
				err = NULL;
				continue;
			}
			kube_disc_resources(k, name, ver, list, pref != NULL &&
			    strcmp(pref, ver) == 0);
			json_free(list);
			list = NULL;
		}
	}
	rc = 0;
fail:
	json_free(list);
	json_free(groups);
	return (rc);
}

/* Fetch discovery again; the caller holds disc_mu. */
static int
kube_disc_fetch(struct kube *k, char **cause)
{
	struct json	*core = NULL, *apis = NULL;
	const char	*kc, *ka;
	size_t		 i;
	int		 rc = -1;

	for (i = 0; i < k->nkinds; i++)
		k->kinds[i]->served = 0;
	kube_down_clear(k);
	if (kube_disc_get(k, "/api", KUBE_ACCEPT_DISCOVERY, &core,
	    cause) == -1 || kube_disc_get(k, "/apis", KUBE_ACCEPT_DISCOVERY,
	    &apis, cause) == -1)
		goto fail;
	kc = json_path_string(core, "kind", NULL);
	ka = json_path_string(apis, "kind", NULL);
	if (kc != NULL && ka != NULL &&
	    strcmp(kc, "APIGroupDiscoveryList") == 0 &&
	    strcmp(ka, "APIGroupDiscoveryList") == 0) {
		kube_disc_aggregated(k, core);
		kube_disc_aggregated(k, apis);
	} else if (kube_disc_legacy(k, cause) == -1)
		goto fail;
	k->disc_valid = 1;
	rc = 0;
fail:
	json_free(core);
	json_free(apis);
	return (rc);
}

/*
 * The kind discovery serves with group and kind, and version (NULL: the
 * preferred one); fetched again once when it is not there.
 */
static int
kube_kind_find(struct kube *k, const char *group, const char *version,
    const char *kind, const struct kube_kind **out, char **cause)
{
	struct kube_kind_ent	*e, *found;
	const char		*down;
	size_t			 i;
	int			 fetched = 0, rc = -1;

	*out = NULL;
	pthread_mutex_lock(&k->disc_mu);
	for (;;) {
		if (!k->disc_valid) {
			if (kube_disc_fetch(k, cause) == -1)
				goto fail;
			fetched = 1;
		}
		found = NULL;
		for (i = 0; i < k->nkinds; i++) {
			e = k->kinds[i];
			if (!e->served || strcmp(e->k.group, group) != 0 ||
			    strcmp(e->k.kind, kind) != 0)
				continue;
			if (version != NULL ?
			    strcmp(e->k.version, version) == 0 :
			    (found == NULL || e->preferred))
				found = e;
		}
		if (found != NULL) {
			*out = &found->k;
			rc = 0;
			break;
		}
		if (fetched) {
			if ((down = strmap_get(k->down, group)) != NULL) {
				xasprintf(cause, "kind %s of group %s: the "
				    "discovery of its group failed: %s", kind,
				    group, down);
				rc = -1;
			} else
				rc = 1;
			break;
		}
		k->disc_valid = 0;
	}
fail:
	pthread_mutex_unlock(&k->disc_mu);
	return (rc);
}

int
kube_kind_lookup(struct kube *k, const char *api_version, const char *kind,
    const struct kube_kind **out, char **cause)
{
	const char	*slash = strchr(api_version, '/');
	char		*group;
	int		 rc;

	group = slash != NULL ? xstrndup(api_version, slash - api_version) :
	    xstrdup("");
	rc = kube_kind_find(k, group, slash != NULL ? slash + 1 :
	    api_version, kind, out, cause);
	free(group);
	return (rc);
}

int
kube_kind_by_group(struct kube *k, const char *group, const char *kind,
    const struct kube_kind **out, char **cause)
{
	return (kube_kind_find(k, group, NULL, kind, out, cause));
}

void
kube_discovery_invalidate(struct kube *k)
{
	pthread_mutex_lock(&k->disc_mu);
	k->disc_valid = 0;
	pthread_mutex_unlock(&k->disc_mu);
}

/*
 * The path of kind's collection in ns (namespaced kinds; NULL or "": all
 * namespaces), or of the object name in it: names path-escaped.
 */
static void
kube_path(struct buf *b, const struct kube_kind *kk, const char *ns,
    const char *name)
{
	char	*e;

	if (*kk->group == '\0')
		buf_printf(b, "/api/%s", kk->version);
	else
		buf_printf(b, "/apis/%s/%s", kk->group, kk->version);
	if (kk->namespaced && ns != NULL && *ns != '\0') {
		e = http_query_escape(ns);
		buf_printf(b, "/namespaces/%s", e);
		free(e);
	}
	buf_printf(b, "/%s", kk->resource);
	if (name != NULL) {
		e = http_query_escape(name);
		buf_printf(b, "/%s", e);
		free(e);
	}
}

/* A namespaced kind needs its namespace to name one object. */
static int
kube_where(const struct kube_kind *kk, const char *ns, const char *name,
    char **cause)
{
	if (name == NULL || *name == '\0') {
		xasprintf(cause, "%s: no name", kk->kind);
		return (-1);
	}
	if (kk->namespaced && (ns == NULL || *ns == '\0')) {
		xasprintf(cause, "%s %s: no namespace for a namespaced kind",
		    kk->kind, name);
		return (-1);
	}
	return (0);
}

int
kube_get(struct kube *k, const struct kube_kind *kk, const char *ns,
    const char *name, struct json **obj, char **cause)
{
	struct buf	 path;
	int		 rc;

	*obj = NULL;
	if (kube_where(kk, ns, name, cause) == -1)
		return (-1);
	buf_init(&path);
	kube_path(&path, kk, ns, name);
	buf_addc(&path, '\0');
	rc = kube_get_json(k, KUBE_VERB_GET, path.data, NULL, obj, cause);
	buf_free(&path);
	return (rc == 1 ? 0 : rc);
}

int
kube_list_each(struct kube *k, const struct kube_kind *kk, const char *ns,
    const char *sel, void (*fn)(void *, struct json *), void *arg,
    char **cause)
{
	return (kube_list_each_rv(k, kk, ns, sel, fn, arg, NULL, cause));
}

int
kube_list_each_rv(struct kube *k, const struct kube_kind *kk, const char *ns,
    const char *sel, void (*fn)(void *, struct json *), void *arg,
    char **rv, char **cause)
{
	struct buf		 path;
	struct json		*page = NULL, *it;
	const struct json	*list;
	struct strmap		*seen;
	const char		*cont = NULL, *prv;
	char			*e, *av;
	uint64_t		 deadline;
	size_t			 base, pages = 0;
	int			 rc = -1, r;

	if (rv != NULL)
		*rv = NULL;
	deadline = time_monotonic_ms() + k->timeout_ms * KUBE_LIST_TIMEOUTS;
	seen = strmap_new(8);
	buf_init(&path);
	kube_path(&path, kk, ns, NULL);
	buf_printf(&path, "?limit=%d", KUBE_PAGE);
	if (sel != NULL && *sel != '\0') {
		e = http_query_escape(sel);
		buf_printf(&path, "&labelSelector=%s", e);
		free(e);
	}
	base = path.len;
	if (*kk->group == '\0')
		av = xstrdup(kk->version);
	else
		xasprintf(&av, "%s/%s", kk->group, kk->version);
	for (;;) {
		path.len = base;
		if (cont != NULL) {
			e = http_query_escape(cont);
			buf_printf(&path, "&continue=%s", e);
			free(e);
		}
		buf_addc(&path, '\0');
		json_free(page);
		page = NULL;
		if (pages++ == KUBE_LIST_MAX_PAGES ||
		    time_monotonic_ms() >= deadline) {
			xasprintf(cause, "LIST %s: cut short after %zu pages "
			    "(at most %d, within %llu ms)", path.data,
			    pages - 1, KUBE_LIST_MAX_PAGES, (unsigned long long)
			    (k->timeout_ms * KUBE_LIST_TIMEOUTS));
			goto fail;
		}
		if ((r = kube_get_json(k, KUBE_VERB_LIST, path.data, NULL,
		    &page, cause)) != 0) {
			if (r == 1)
				xasprintf(cause, "LIST %s: 404: %s is not "
				    "served", path.data, kk->resource);
			goto fail;
		}
		if ((list = json_get(page, "items")) == NULL ||
		    (json_type(list) != JSON_ARRAY &&
		    json_type(list) != JSON_NULL)) {
			xasprintf(cause, "LIST %s: the answer has no items",
			    path.data);
			goto fail;
		}
		/* Items come without apiVersion and kind: given back. */
		for (it = json_child(list); it != NULL; it = json_next(it)) {
			if (json_get(it, "apiVersion") == NULL)
				json_set(it, "apiVersion", json_new_string(av));
			if (json_get(it, "kind") == NULL)
				json_set(it, "kind", json_new_string(kk->kind));
			fn(arg, it);
		}
		/* The list is of its first page's resourceVersion. */
		if (rv != NULL && pages == 1 && (prv = json_path_string(page,
		    "metadata", "resourceVersion", NULL)) != NULL)
			*rv = xstrdup(prv);
		cont = json_path_string(page, "metadata", "continue", NULL);
		if (cont == NULL || *cont == '\0')
			break;
		/* A server that hands a token back again would loop. */
		if (strmap_get(seen, cont) != NULL) {
			xasprintf(cause, "LIST %s: the server gave the same "
			    "continue token again: a list that never ends",
			    path.data);
			goto fail;
		}
		strmap_put(seen, cont, k);
	}
	rc = 0;
fail:
	if (rc == -1 && rv != NULL) {
		free(*rv);
		*rv = NULL;
	}
	strmap_free(seen);
	json_free(page);
	free(av);
	buf_free(&path);
	return (rc);
}

static void
kube_list_add_cb(void *arg, struct json *it)
{
	json_array_append(arg, json_dup(it));
}

int
kube_list(struct kube *k, const struct kube_kind *kk, const char *ns,
    const char *sel, struct json **items, char **cause)
{
	struct json	*all;

	*items = NULL;
	all = json_new_array();
	if (kube_list_each(k, kk, ns, sel, kube_list_add_cb, all,
	    cause) == -1) {
		json_free(all);
		return (-1);
	}
	*items = all;
	return (0);
}

/* obj without what the server owns (kube.h), as JSON text. */
static char *
kube_apply_body(const struct json *obj)
{
	static const char *const server[] = { "managedFields",
	    "resourceVersion", "uid", "creationTimestamp", "generation",
	    "selfLink" };
	struct json	*o = json_dup(obj), *md;
	char		*text;
	size_t		 i;

	json_remove(o, "status");
	if ((md = json_get(o, "metadata")) != NULL &&
	    json_type(md) == JSON_OBJECT)
		for (i = 0; i < sizeof server / sizeof server[0]; i++)
			json_remove(md, server[i]);
	text = json_print(o, 0);
	json_free(o);
	return (text);
}

/*
 * A write (method) of the object at ns/name, or a POST to the collection
 * when post: a body of type ctype, *result the answer.
 */
static int
kube_write_call(struct kube *k, const struct kube_kind *kk, const char *ns,
    const char *name, const char *method, int post, struct buf *query,
    const char *ctype, const char *body, struct json **result,
    enum kube_why *why, char **cause)
{
	struct kube_call	 c;
	struct http_response	 r;
	struct buf		 path;
	enum kube_why		 w = KUBE_WHY_OTHER;
	int			 rc = -1;

	if (result != NULL)
		*result = NULL;
	buf_init(&path);
	if (kube_where(kk, ns, name, cause) == -1)
		goto fail;
	kube_path(&path, kk, ns, post ? NULL : name);
	buf_add(&path, query->data, query->len);
	buf_addc(&path, '\0');
	memset(&c, 0, sizeof c);
	c.verb = KUBE_VERB_APPLY;
	c.method = method;
	c.path = path.data;
	c.type = ctype;
	c.body = body;
	c.bodylen = strlen(body);
	if (kube_call(k, &c, &r, &w, cause) == -1) {
		if (w == KUBE_WHY_NOT_FOUND)
			kube_response_free(&r);
		goto fail;
	}
	if (result != NULL && kube_body(&c, &r, result, cause) == -1) {
		kube_response_free(&r);
		goto fail;
	}
	kube_response_free(&r);
	rc = 0;
fail:
	if (why != NULL)
		*why = w;
	buf_free(&path);
	return (rc);
}

/* A query naming the field manager, to which more can be added. */
static void
kube_manager_query(struct buf *q, const char *mgr)
{
	char	*e;

	buf_init(q);
	e = http_query_escape(mgr);
	buf_printf(q, "?fieldManager=%s", e);
	free(e);
}

int
kube_apply(struct kube *k, const struct kube_kind *kk, const struct json *obj,
    const char *mgr, int flags, struct json **result, enum kube_why *why,
    char **cause)
{
	struct buf	 q;
	char		*body;
	int		 rc;

	kube_manager_query(&q, mgr);
	buf_adds(&q, "&fieldValidation=Strict");
	if (flags & KUBE_FORCE)
		buf_adds(&q, "&force=true");
	if (flags & KUBE_DRY_RUN)
		buf_adds(&q, "&dryRun=All");
	body = kube_apply_body(obj);
	rc = kube_write_call(k, kk,
	    json_path_string(obj, "metadata", "namespace", NULL),
	    json_path_string(obj, "metadata", "name", NULL), "PATCH", 0, &q,
	    "application/apply-patch+yaml", body, result, why, cause);
	kube_wipe(body);
	free(body);
	buf_free(&q);
	return (rc);
}

int
kube_write(struct kube *k, const struct kube_kind *kk, const struct json *obj,
    const char *mgr, struct json **result, enum kube_why *why, char **cause)
{
	struct buf	 q;
	const char	*rv;
	char		*body;
	int		 rc;

	kube_manager_query(&q, mgr);
	rv = json_path_string(obj, "metadata", "resourceVersion", NULL);
	body = json_print(obj, 0);
	rc = kube_write_call(k, kk,
	    json_path_string(obj, "metadata", "namespace", NULL),
	    json_path_string(obj, "metadata", "name", NULL),
	    rv != NULL ? "PUT" : "POST", rv == NULL, &q, "application/json",
	    body, result, why, cause);
	kube_wipe(body);
	free(body);
	buf_free(&q);
	return (rc);
}

int
kube_json_patch(struct kube *k, const struct kube_kind *kk, const char *ns,
    const char *name, const struct json *ops, const char *mgr,
    struct json **result, enum kube_why *why, char **cause)
{
	struct buf	 q;
	char		*body;
	int		 rc;

	kube_manager_query(&q, mgr);
	body = json_print(ops, 0);
	rc = kube_write_call(k, kk, ns, name, "PATCH", 0, &q,
	    "application/json-patch+json", body, result, why, cause);
	free(body);
	buf_free(&q);
	return (rc);
}

int
kube_delete(struct kube *k, const struct kube_kind *kk, const char *ns,
    const char *name, const char *uid, int flags, enum kube_why *why,
    char **cause)
{
	struct kube_call	 c;
	struct http_response	 r;
	struct buf		 path;
	struct json		*opts, *pre;
	enum kube_why		 w = KUBE_WHY_OTHER;
	char			*body;
	int			 rc = -1;

	if (why != NULL)
		*why = w;
	if (kube_where(kk, ns, name, cause) == -1)
		return (-1);
	/* Without a uid a DELETE could remove another object by that name. */
	if (uid == NULL || *uid == '\0') {
		xasprintf(cause, "%s %s: no uid to delete it by: not deleted",
		    kk->kind, name);
		return (-1);
	}
	buf_init(&path);
	kube_path(&path, kk, ns, name);
	if (flags & KUBE_DRY_RUN)
		buf_adds(&path, "?dryRun=All");
	buf_addc(&path, '\0');
	opts = json_new_object();
	json_set(opts, "kind", json_new_string("DeleteOptions"));
	json_set(opts, "apiVersion", json_new_string("v1"));
	json_set(opts, "propagationPolicy", json_new_string("Background"));
	pre = json_new_object();
	json_set(pre, "uid", json_new_string(uid));
	json_set(opts, "preconditions", pre);
	body = json_print(opts, 0);
	json_free(opts);
	memset(&c, 0, sizeof c);
	c.verb = KUBE_VERB_DELETE;
	c.method = "DELETE";
	c.path = path.data;
	c.body = body;
	c.bodylen = strlen(body);
	if (kube_call(k, &c, &r, &w, cause) == 0)
		rc = 0;
	else if (w == KUBE_WHY_NOT_FOUND) {
		/* Gone already: what a delete wanted. */
		free(*cause);
		*cause = NULL;
		rc = 0;
	}
	kube_response_free(&r);
	if (why != NULL)
		*why = w;
	free(body);
	buf_free(&path);
	return (rc);
}

int
kube_create_dry_run(struct kube *k, const struct kube_kind *kk,
    const struct json *obj, const char *mgr, enum kube_why *why,
    char **cause)
{
	struct kube_call	 c;
	struct http_response	 r;
	struct buf		 path;
	enum kube_why		 w = KUBE_WHY_OTHER;
	const char		*ns, *name;
	char			*body, *e;
	int			 rc = -1;

	ns = json_path_string(obj, "metadata", "namespace", NULL);
	name = json_path_string(obj, "metadata", "name", NULL);
	if (kube_where(kk, ns, name, cause) == -1) {
		if (why != NULL)
			*why = w;
		return (-1);
	}
	buf_init(&path);
	kube_path(&path, kk, ns, NULL);
	e = http_query_escape(mgr);
	buf_printf(&path, "?dryRun=All&fieldValidation=Strict&"
	    "fieldManager=%s", e);
	free(e);
	buf_addc(&path, '\0');
	body = kube_apply_body(obj);
	memset(&c, 0, sizeof c);
	c.verb = KUBE_VERB_APPLY;
	c.method = "POST";
	c.path = path.data;
	c.type = "application/json";
	c.body = body;
	c.bodylen = strlen(body);
	if (kube_call(k, &c, &r, &w, cause) == 0)
		rc = 0;
	else if (w == KUBE_WHY_EXISTS) {
		/* Validated and admitted: only its name is taken. */
		free(*cause);
		*cause = NULL;
		rc = 0;
	}
	kube_response_free(&r);
	if (why != NULL)
		*why = w;
	kube_wipe(body);
	free(body);
	buf_free(&path);
	return (rc);
}

static const char *const kube_event_names[] = {
	"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR",
};

/*
 * Where the JSON value that starts line ends: strings skipped, brackets
 * counted (json_parse reads one value and ignores what follows, which
 * here would be an event lost).
 */
static size_t
kube_event_end(const char *line, size_t len)
{
	size_t	i, depth = 0;
	int	instr = 0;

	for (i = 0; i < len; i++) {
		if (instr) {
			if (line[i] == '\\')
				i++;
			else if (line[i] == '"')
				instr = 0;
			continue;
		}
		if (line[i] == '"')
			instr = 1;
		else if (line[i] == '{' || line[i] == '[')
			depth++;
		else if ((line[i] == '}' || line[i] == ']') && depth > 0 &&
		    --depth == 0)
			return (i + 1);
	}
	return (len);
}

void
kube_event_clear(struct kube_event *ev)
{
	json_free(ev->object);
	memset(ev, 0, sizeof *ev);
}

int
kube_event_parse(const char *line, size_t len, struct kube_event *ev,
    char **cause)
{
	struct json		*j, *md;
	const struct json	*code;
	const char		*type;
	char			*why = NULL;
	size_t			 i, n = sizeof kube_event_names /
			    sizeof kube_event_names[0];

	memset(ev, 0, sizeof *ev);
	for (i = kube_event_end(line, len); i < len; i++) {
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r') {
			xasprintf(cause, "a watch event followed by more "
			    "than it on its line");
			return (-1);
		}
	}
	if ((j = json_parse(line, len, &why)) == NULL) {
		xasprintf(cause, "a watch event is not JSON: %s", why);
		free(why);
		return (-1);
	}
	if (json_type(j) != JSON_OBJECT ||
	    (type = json_path_string(j, "type", NULL)) == NULL) {
		xasprintf(cause, "a watch event has no type");
		goto fail;
	}
	for (i = 0; i < n && strcmp(type, kube_event_names[i]) != 0; i++)
		;
	if (i == n) {
		xasprintf(cause, "a watch event of unknown type");
		goto fail;
	}
	ev->type = (enum kube_event_type)i;
	if ((ev->object = json_detach(j, "object")) == NULL ||
	    json_type(ev->object) != JSON_OBJECT) {
		xasprintf(cause, "a watch event (%s) without an object",
		    kube_event_names[i]);
		goto fail;
	}
	json_free(j);
	j = NULL;
	if (ev->type == KUBE_EVENT_ERROR) {
		code = json_get(ev->object, "code");
		if (json_type(code) == JSON_NUMBER &&
		    json_number(code) >= 0 && json_number(code) < 1000)
			ev->code = (int)json_number(code);
		return (0);
	}
	md = json_get(ev->object, "metadata");
	if (json_type(md) != JSON_OBJECT) {
		xasprintf(cause, "a watch event (%s) of an object without "
		    "metadata", kube_event_names[i]);
		goto fail;
	}
	ev->rv = json_path_string(md, "resourceVersion", NULL);
	ev->ns = json_path_string(md, "namespace", NULL);
	ev->name = json_path_string(md, "name", NULL);
	if (ev->type != KUBE_EVENT_BOOKMARK &&
	    (ev->name == NULL || *ev->name == '\0')) {
		xasprintf(cause, "a watch event (%s) of an object without a "
		    "name", kube_event_names[i]);
		goto fail;
	}
	return (0);
fail:
	json_free(j);
	kube_event_clear(ev);
	return (-1);
}

/* A watch's stream: lines gathered across chunks, an event each. */
struct kube_stream {
	struct buf	 line;
	int		(*fn)(void *, const struct kube_event *);
	void		*arg;
	int		 expired;
	int		 ended;
	char		*error;		/* why the stream was ended */
};

struct kube_stream *
kube_stream_new(int (*fn)(void *, const struct kube_event *), void *arg)
{
	struct kube_stream	*ks;

	ks = xcalloc(1, sizeof *ks);
	buf_init(&ks->line);
	ks->fn = fn;
	ks->arg = arg;
	return (ks);
}

void
kube_stream_free(struct kube_stream *ks)
{
	if (ks == NULL)
		return;
	buf_free(&ks->line);
	free(ks->error);
	free(ks);
}

int
kube_stream_expired(const struct kube_stream *ks)
{
	return (ks->expired);
}

const char *
kube_stream_error(const struct kube_stream *ks)
{
	return (ks->error);
}

/* One whole line: 0 to read on, -1 to end the watch. */
static int
kube_stream_line(struct kube_stream *ks, const char *line, size_t len)
{
	struct kube_event	 ev;
	const char		*msg;
	int			 rc = 0;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
	    line[len - 1] == '\t'))
		len--;
	if (len == 0)
		return (0);
	if (kube_event_parse(line, len, &ev, &ks->error) == -1)
		return (-1);
	if (ev.type == KUBE_EVENT_ERROR) {
		if (ev.code == 410)
			ks->expired = 1;
		else {
			msg = json_path_string(ev.object, "message", NULL);
			xasprintf(&ks->error, "the watch ended with an error "
			    "(%d): %s", ev.code, msg != NULL ? msg : "");
		}
		rc = -1;
	} else if (ks->fn(ks->arg, &ev) != 0)
		rc = -1;
	kube_event_clear(&ev);
	return (rc);
}

int
kube_stream_feed(struct kube_stream *ks, const char *data, size_t len)
{
	const char	*nl;
	size_t		 n;

	if (ks->ended)
		return (-1);
	while (len > 0) {
		nl = memchr(data, '\n', len);
		n = nl != NULL ? (size_t)(nl - data) : len;
		if (ks->line.len + n > KUBE_WATCH_MAX_LINE) {
			xasprintf(&ks->error, "a watch event longer than %d "
			    "bytes", KUBE_WATCH_MAX_LINE);
			ks->ended = 1;
			return (-1);
		}
		if (nl == NULL) {
			buf_add(&ks->line, data, n);
			return (0);
		}
		if (ks->line.len != 0) {
			buf_add(&ks->line, data, n);
			n = ks->line.len;
			ks->line.len = 0;
			if (kube_stream_line(ks, ks->line.data, n) == -1)
				ks->ended = 1;
		} else if (kube_stream_line(ks, data, n) == -1)
			ks->ended = 1;
		if (ks->ended)
			return (-1);
		len -= (size_t)(nl - data) + 1;
		data = nl + 1;
	}
	return (0);
}

static int
kube_stream_cb(void *arg, const char *data, size_t len)
{
	return (kube_stream_feed(arg, data, len));
}

int
kube_watch(struct kube *k, const struct kube_kind *kk, const char *ns,
    const struct kube_watch_opts *o,
    int (*fn)(void *, const struct kube_event *), void *arg, char **cause)
{
	struct kube_call	 c;
	struct kube_stream	*ks;
	struct http_response	 r;
	struct buf		 path;
	enum kube_why		 why;
	uint64_t		 timeout, start;
	char			*e, *err = NULL;
	int			 rc;

	*cause = NULL;
	timeout = o->timeout_ms != 0 ? o->timeout_ms : k->timeout_ms;
	buf_init(&path);
	kube_path(&path, kk, ns, NULL);
	e = http_query_escape(o->rv);
	/* The server ends it a little before the client would. */
	buf_printf(&path, "?watch=1&allowWatchBookmarks=true&"
	    "resourceVersion=%s&timeoutSeconds=%llu", e,
	    (unsigned long long)(timeout / 1000 > 1 ? timeout / 1000 : 1));
	free(e);
	if (o->labels != NULL && *o->labels != '\0') {
		e = http_query_escape(o->labels);
		buf_printf(&path, "&labelSelector=%s", e);
		free(e);
	}
	if (o->fields != NULL && *o->fields != '\0') {
		e = http_query_escape(o->fields);
		buf_printf(&path, "&fieldSelector=%s", e);
		free(e);
	}
	buf_addc(&path, '\0');
	ks = kube_stream_new(fn, arg);
	memset(&c, 0, sizeof c);
	c.verb = KUBE_VERB_WATCH;
	c.method = "GET";
	c.path = path.data;
	c.timeout_ms = timeout;
	c.once = 1;
	c.stream = kube_stream_cb;
	c.stream_arg = ks;
	c.cancel = o->cancel;
	start = time_monotonic_ms();
	rc = kube_call(k, &c, &r, &why, &err);
	if (rc == 0)
		kube_response_free(&r);
	else if (why == KUBE_WHY_NOT_FOUND)
		kube_response_free(&r);
	if (ks->expired || (rc == -1 && why == KUBE_WHY_GONE))
		rc = KUBE_WATCH_EXPIRED;
	else if (ks->error != NULL) {
		xasprintf(cause, "watch %s: %s", path.data, ks->error);
		rc = -1;
	} else if (rc == -1 && !kube_stopped(k) && why == KUBE_WHY_OTHER &&
	    ((o->cancel != NULL && __atomic_load_n(o->cancel,
	    __ATOMIC_ACQUIRE) != 0) || time_monotonic_ms() >= start +
	    timeout))
		rc = 0;	/* cancelled, or its time is up, before it began */
	else if (rc == -1) {
		*cause = err;
		err = NULL;
	}
	free(err);
	kube_stream_free(ks);
	buf_free(&path);
	return (rc);
}

struct kube_pool {
	void		(*fn)(void *, size_t);
	void		*arg;
	size_t		 n;
	size_t		 next;
};

static void *
kube_pool_run(void *arg)
{
	struct kube_pool	*p = arg;
	size_t			 i;

	while ((i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED)) <
	    p->n)
		p->fn(p->arg, i);
	return (NULL);
}

void
kube_parallel(size_t n, int par, void (*fn)(void *, size_t), void *arg)
{
	struct kube_pool	 p;
	pthread_t		*threads;
	sigset_t		 all, old;
	size_t			 want, started = 0, i;

	p.fn = fn;
	p.arg = arg;
	p.n = n;
	p.next = 0;
	want = par > 1 ? (size_t)par - 1 : 0;
	if (want > n)
		want = n > 0 ? n - 1 : 0;
	threads = xcalloc(want + 1, sizeof *threads);
	/* The daemon handles signals on its own thread only. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < want; i++) {
		if (pthread_create(&threads[started], NULL, kube_pool_run,
		    &p) == 0)
			started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	kube_pool_run(&p);
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
}
