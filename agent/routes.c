/*
 * routes.c: what the daemon answers, by path: /webhooks/PROVIDER and
 * /api/v1/deployments (intake.c), /api/v1/apps (api.c), /healthz,
 * /readyz and /metrics; and what every route answers with (replies
 * counted by route and code, method checks, the request body).
 *
 * Loop thread only; nothing here blocks. Every request is answered
 * exactly once, here or by the route it is handed to.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "daemon_int.h"

const char *
daemon_header_cb(void *arg, const char *name)
{
	return (evhttp_find_header(evhttp_request_get_input_headers(arg),
	    name));
}

void
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
void
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

void
daemon_reply_json(struct agent *a, struct evhttp_request *req,
    const char *route, int code, const struct json *o)
{
	char	*text = json_print(o, 1);

	daemon_reply(a, req, route, code, "application/json", text);
	free(text);
}

int
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
const char *
daemon_body(struct evhttp_request *req, size_t *len)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);

	*len = evbuffer_get_length(in);
	evbuffer_add(in, "", 1);
	return ((const char *)evbuffer_pullup(in, -1));
}

/*
 * A replica that holds no shard is still ready (webhooks may reach any
 * replica); the body says which it is, for people and probes that care.
 */
static void
daemon_readyz(struct agent *a, struct evhttp_request *req, int ready)
{
	struct lease_stats	 st;
	char			*text;

	if (!ready || a->shards == NULL) {
		daemon_reply(a, req, "readyz", ready ? 200 : 503,
		    "text/plain", ready ? "ready\n" : a->stopping ?
		    "shutting down\n" : "reconciling\n");
		return;
	}
	shards_stats(a->shards, &st);
	if (st.held != 0)
		xasprintf(&text, "ready: holds %d of %d shards as %s\n",
		    st.held, shards_count(a->shards),
		    shards_identity(a->shards));
	else
		xasprintf(&text, "ready: standby, holds none of %d shards "
		    "as %s\n", shards_count(a->shards),
		    shards_identity(a->shards));
	daemon_reply(a, req, "readyz", 200, "text/plain", text);
	free(text);
}

void
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
			daemon_readyz(a, req, ready);
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
