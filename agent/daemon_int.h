/*
 * daemon_int.h: what the files of `serve` share on the loop thread
 * (daemon.c, server.c, routes.c, intake.c, api.c): the loop's tables and
 * the functions of each that the others call. Never included by sched.c
 * or jobs.c, which run jobs and never touch the loop.
 */
#ifndef DAEMON_INT_H
#define DAEMON_INT_H

#include <sys/queue.h>

#include <event2/http.h>

#include <openssl/ssl.h>

#include "agent.h"

struct bufferevent;
struct event;
struct event_base;
struct evconnlistener;

/*
 * Delivery ids remembered, to acknowledge a redelivery without acting:
 * two generations of at most DAEMON_DELIVERIES each (the older dropped
 * whole when the newer fills), so memory stays bounded however many
 * deliveries arrive, and each lookup is two hash probes.
 */
#define DAEMON_DELIVERIES	4096
#define DAEMON_DELIVERY_TTL_MS	(24 * 60 * 60 * 1000)

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
	uint64_t	 checks;	/* jobs that looked at it */
	struct json	*webhook;	/* last webhook for its repository */
	struct json	*deploy;	/* last deploy of its service */
	struct json	*rollback;	/* last automatic rollback */
	struct event	*retry_ev;	/* retry of a sync put off */
	unsigned int	 retries;	/* in a row, for the backoff */
	struct event	*drift_ev;	/* its next drift check */
	int		 drift_inflight; /* a drift check queued or running */
	/*
	 * Its resources as the last drift check found them (drift, live
	 * health), or NULL: newer than last's until a sync replaces them.
	 */
	struct json	*live;
	struct agent	*agent;
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
	struct shards		*shards;	/* NULL: no coordination */
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

/* daemon.c: the loop's tables, jobs queued and done, the deploy queue */
struct repo_view *daemon_repo(struct agent *, const char *);
/* Count one in a counter with one or two labels (k2 NULL: one). */
void		 daemon_count(struct agent *, const char *, const char *,
		     const char *, const char *, const char *);
void		 daemon_gauges(struct agent *);
/*
 * The app's two columns, as Argo CD shows them: sync state (Synced,
 * OutOfSync, Unknown) and health (Healthy, Progressing, Degraded,
 * Missing, Suspended, Unknown).
 */
void		 daemon_app_columns(const struct app_view *, const char **,
		     const char **);
/* Its resources: the last drift check's, else its last sync's. */
const struct json *daemon_app_resources(const struct app_view *);
void		 daemon_enqueue_repo(struct agent *, struct repo_view *,
		     const char *, int, const char *, const char *);
void		 daemon_enqueue_deploy(struct agent *, struct deploy_request *,
		     char *, const char *, const char *);
char		*daemon_deploy_text(const struct deploy_request *,
		     const char *, const char *);
char		*daemon_deploy_save(struct agent *,
		     const struct deploy_request *, const char *, const char *,
		     char **);
int		 daemon_deploy_check(const struct config *,
		     const struct deploy_request *, char **);

/* server.c: the listener, TLS, connections from accept to close */
void		 daemon_listen_update(struct agent *);
struct daemon_conn *daemon_conn_find(struct agent *,
		     struct evhttp_connection *);
void		 daemon_conn_unwait(struct daemon_conn *);
void		 daemon_conn_wait(struct daemon_conn *);
int		 daemon_tls_init(struct agent *, char **);
int		 daemon_listen(struct agent *, char **);
void		 daemon_server_free(struct agent *);

/* routes.c: the request callback and the answers */
const char	*daemon_header_cb(void *, const char *);
void		 daemon_reply(struct agent *, struct evhttp_request *,
		     const char *, int, const char *, const char *);
void		 daemon_reply_status(struct agent *, struct evhttp_request *,
		     const char *, int, const char *, const char *);
void		 daemon_reply_json(struct agent *, struct evhttp_request *,
		     const char *, int, const struct json *);
int		 daemon_method_ok(struct agent *, struct evhttp_request *,
		     const char *, enum evhttp_cmd_type);
const char	*daemon_body(struct evhttp_request *, size_t *);
void		 daemon_http_cb(struct evhttp_request *, void *);

/* intake.c: webhooks and deploy requests */
void		 daemon_deliveries_free(struct strmap *);
void		 daemon_webhook(struct agent *, struct evhttp_request *,
		     enum webhook_provider);
void		 daemon_deployments(struct agent *, struct evhttp_request *);

/* api.c: /api/v1/apps */
int		 daemon_api_allowed(struct agent *, struct evhttp_request *);
void		 daemon_api_apps(struct agent *, struct evhttp_request *,
		     const char *);

#endif /* DAEMON_INT_H */
