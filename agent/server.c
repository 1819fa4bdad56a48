/*
 * server.c: the daemon's HTTP server below its routes: the listening
 * socket, TLS, and every connection from its accept to its close. A
 * connection must send a whole request within http_timeout of its accept
 * or of its last answer; past http_max_connections the one that has
 * waited longest for a request is closed, and past
 * http_max_connections_per_client a new one from that address is; out of
 * descriptors, accepting pauses. Requests go to routes.c.
 *
 * Loop thread only (libevent's HTTP server and OpenSSL TLS live here).
 * The TLS callback never returns NULL: evhttp would serve plain HTTP.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "daemon_int.h"

/* Out of descriptors, accepting pauses this long (nginx waits 500 ms). */
#define DAEMON_ACCEPT_BACKOFF_MS	500

/* Accept when not stopping and not backing off: the one place that says. */
void
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

void
daemon_conn_unwait(struct daemon_conn *c)
{
	if (c->waiting) {
		TAILQ_REMOVE(&c->agent->waiting, c, entry);
		c->waiting = 0;
	}
	evtimer_del(c->deadline);
}

/* Waiting for a request (again): the deadline starts now. */
void
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

struct daemon_conn *
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

int
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

int
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

/* The server and every connection it still has. */
void
daemon_server_free(struct agent *a)
{
	size_t	i;

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
}
