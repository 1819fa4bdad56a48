/*
 * kube.h: the Kubernetes API client, internal to the library (its users
 * are the kubernetes target, target_kube.c, the Leases, lease.c, and the
 * deploys kept for the next holder, handoff.c).
 *
 * kubeconfig.c reads where the API server is and how to prove who we are
 * (a kubeconfig's clusters, users and contexts, or a pod's service
 * account); kube.c speaks the API over http.c: discovery, GET, LIST,
 * watches, server-side apply, DELETE, errors as the server's Status says
 * them, retries, and a client-side rate limit.
 *
 * Everything here is thread-safe: a sync applies a wave from several
 * threads over one struct kube. Nothing here logs a credential or an
 * object's content.
 */
#ifndef KUBE_H
#define KUBE_H

#include <stddef.h>
#include <stdint.h>

struct json;
struct http_req;

/* kubeconfig.c: credentials and the server */
struct kube_auth;
struct kube_auth_opts {
	/* NULL: $KUBECONFIG's first file, else ~/.kube/config */
	const char	*kubeconfig;
	const char	*context;	/* NULL: the current-context */
	int		 in_cluster;	/* the pod's service account */
};
/*
 * Read the credentials; *cause names the file and the key at fault. The
 * certificate, key and CA are kept in memory, never written to a file.
 */
struct kube_auth *kube_auth_load(const struct kube_auth_opts *, char **);
/* "https://host:port", no trailing slash. */
const char	*kube_auth_server(const struct kube_auth *);
/* The context's namespace, or the pod's; "" when none says. */
const char	*kube_auth_namespace(const struct kube_auth *);
/* The kubeconfig said insecure-skip-tls-verify. */
int		 kube_auth_insecure(const struct kube_auth *);
/*
 * Fill req's TLS and credential fields for one request: re-reads a token
 * file whose content changed (a rotated service account token), runs an
 * exec plugin whose credential expired. What it points req at stays valid
 * until kube_auth_release(*hold).
 */
int		 kube_auth_prepare(struct kube_auth *, struct http_req *,
		     void **, char **);
void		 kube_auth_release(struct kube_auth *, void *);
/*
 * After a 401: drop a cached credential so the next prepare fetches a new
 * one. 1 when there was one to drop (a retry may succeed), 0 if not.
 */
int		 kube_auth_invalidate(struct kube_auth *);
void		 kube_auth_free(struct kube_auth *);

/* kube.c: the client */
struct kube;
struct kube_opts {
	struct kube_auth_opts auth;
	double		 qps;		/* 0: 50 */
	int		 burst;		/* 0: 100 */
	uint64_t	 timeout_ms;	/* a request, retries included; 0: 30 s */
	const int	*stop;		/* NULL: never */
};
struct kube	*kube_open(const struct kube_opts *, char **);
void		 kube_close(struct kube *);
const char	*kube_server(const struct kube *);
/* kube_auth_namespace of its credentials. */
const char	*kube_namespace(const struct kube *);
/* Requests sent, by verb (for tests and the benchmark). */
struct kube_counts {
	size_t		 get, list, apply, delete, discovery, watch;
};
void		 kube_counts(const struct kube *, struct kube_counts *);

/* A kind the server serves, as discovery says. */
struct kube_kind {
	char		*group;		/* "" for the core group */
	char		*version;	/* the version requests use */
	char		*kind;
	char		*resource;	/* plural: "deployments" */
	int		 namespaced;
};
/*
 * The kind named by apiVersion and kind (kube_kind_lookup) or by group and
 * kind in the server's preferred version (kube_kind_by_group). Discovery
 * (aggregated, the legacy one as fallback) is cached and fetched again
 * once when the kind is not in it. 0 and *k (valid until kube_close), 1
 * when the server does not serve it, -1 and *cause. A discovery that
 * failed is -1, never "not served": /api, /apis or /api/v1 answering 404
 * fails every lookup; a group whose legacy document failed fails the
 * lookups of that group only.
 */
int		 kube_kind_lookup(struct kube *, const char *, const char *,
		     const struct kube_kind **, char **);
int		 kube_kind_by_group(struct kube *, const char *, const char *,
		     const struct kube_kind **, char **);
/* Discovery is stale (CRDs were applied): fetch it again when next used. */
void		 kube_discovery_invalidate(struct kube *);

/* Why a request failed, when the server said. */
enum kube_why {
	KUBE_WHY_OTHER,
	KUBE_WHY_NOT_FOUND,	/* 404 */
	KUBE_WHY_CONFLICT,	/* 409 with field manager conflicts */
	KUBE_WHY_MODIFIED,	/* 409 otherwise ("the object has been */
				/* modified", a resourceVersion) */
	KUBE_WHY_UID_CHANGED,	/* 409: the uid precondition failed */
	KUBE_WHY_EXISTS,	/* 409 AlreadyExists (a create) */
	KUBE_WHY_IMMUTABLE,	/* 422 whose every cause is an immutable */
				/* field (FieldValueInvalid/Forbidden, */
				/* "field is immutable") */
	KUBE_WHY_INVALID,	/* 422 otherwise */
	KUBE_WHY_FORBIDDEN,	/* 403 */
	KUBE_WHY_UNAUTHORIZED,	/* 401, after one refresh */
	KUBE_WHY_GONE,		/* 410 (a watch's resourceVersion expired) */
};

/*
 * A request answered 2xx is 0. Otherwise -1, *why (when not NULL) and
 * *cause: the server's reason and message, each cause of a 422, the
 * other managers and their fields of a 409 conflict. 429 (honouring
 * Retry-After), 5xx and dropped connections are retried with backoff
 * until the timeout; 401 once after kube_auth_invalidate; 403 and 422
 * never. Warning headers (deprecated APIs) are logged once each.
 */
/* *obj NULL when it does not exist. */
int		 kube_get(struct kube *, const struct kube_kind *,
		     const char *, const char *, struct json **, char **);
/*
 * Every page of a LIST of kind in namespace ns ("" or NULL: all of them,
 * or cluster-scoped) matching labelSelector sel (NULL: all). *items is a
 * JSON array of the objects; a failure on any page, or a list cut short,
 * is -1, never a shorter list. Bounded: all pages within
 * KUBE_LIST_TIMEOUTS request timeouts, at most KUBE_LIST_MAX_PAGES pages,
 * and a continue token the server gave before fails it.
 */
#define KUBE_LIST_TIMEOUTS	4
#define KUBE_LIST_MAX_PAGES	2000
int		 kube_list(struct kube *, const struct kube_kind *,
		     const char *, const char *, struct json **, char **);
/*
 * The same LIST a page at a time: fn(arg, item) for each object as its
 * page arrives (apiVersion and kind filled in); the item and its page
 * are freed once fn returns, so memory holds one page, not the list.
 * Objects of pages before a failure have been given to fn.
 */
int		 kube_list_each(struct kube *, const struct kube_kind *,
		     const char *, const char *,
		     void (*)(void *, struct json *), void *, char **);
/* The same, and *rv the list's resourceVersion (NULL: none given). */
int		 kube_list_each_rv(struct kube *, const struct kube_kind *,
		     const char *, const char *,
		     void (*)(void *, struct json *), void *, char **,
		     char **);
#define KUBE_FORCE	0x1	/* take fields other managers own */
#define KUBE_DRY_RUN	0x2	/* dryRun=All: nothing is changed */
/*
 * Server-side apply of obj (its namespace and name say where) as field
 * manager mgr, with fieldValidation=Strict. Server-owned fields
 * (metadata.managedFields, resourceVersion, uid, creationTimestamp,
 * generation, and status) are never sent. *result (when not NULL) is
 * the object the server answered.
 */
int		 kube_apply(struct kube *, const struct kube_kind *,
		     const struct json *, const char *, int, struct json **,
		     enum kube_why *, char **);
/*
 * Write obj whole as mgr: with metadata.resourceVersion an update (PUT)
 * that the server refuses with 409 KUBE_WHY_MODIFIED when the object
 * changed since that version (optimistic concurrency), without one a
 * create (POST), 409 KUBE_WHY_EXISTS when the name is taken.
 */
int		 kube_write(struct kube *, const struct kube_kind *,
		     const struct json *, const char *, struct json **,
		     enum kube_why *, char **);
/*
 * A JSON patch (RFC 6902) of the object ns/name as field manager mgr: a
 * failed "test" operation is KUBE_WHY_INVALID (422) or a 409.
 */
int		 kube_json_patch(struct kube *, const struct kube_kind *,
		     const char *, const char *, const struct json *,
		     const char *, struct json **, enum kube_why *,
		     char **);
/*
 * DELETE with propagationPolicy Background and preconditions.uid (a uid
 * is required: -1 without one, nothing sent); flags KUBE_DRY_RUN only. A
 * 404 is success with *why KUBE_WHY_NOT_FOUND.
 */
int		 kube_delete(struct kube *, const struct kube_kind *,
		     const char *, const char *, const char *, int,
		     enum kube_why *, char **);
/*
 * A create (POST) of obj as mgr with dryRun=All and fieldValidation=
 * Strict: whether the server would accept obj as a new object. While an
 * object of that name exists the server validates and admits obj, then
 * answers 409 AlreadyExists: that is 0 too, *why KUBE_WHY_EXISTS.
 */
int		 kube_create_dry_run(struct kube *, const struct kube_kind *,
		     const struct json *, const char *, enum kube_why *,
		     char **);
/* A watch's event, one line of its stream. */
enum kube_event_type {
	KUBE_EVENT_ADDED,
	KUBE_EVENT_MODIFIED,
	KUBE_EVENT_DELETED,
	KUBE_EVENT_BOOKMARK,
	KUBE_EVENT_ERROR,
};
struct kube_event {
	enum kube_event_type type;
	struct json	*object;	/* ERROR: the Status */
	const char	*rv;		/* object's resourceVersion, or NULL */
	const char	*name;		/* object's name (not BOOKMARK, ERROR) */
	const char	*ns;		/* and namespace, or NULL */
	int		 code;		/* ERROR: the Status's code */
};
/*
 * Parse one line of a watch's stream (untrusted): a JSON object with a
 * known type and an object, whose metadata names it (but for BOOKMARK and
 * ERROR). 0 and *ev (kube_event_clear frees it), -1 and *cause.
 */
int		 kube_event_parse(const char *, size_t, struct kube_event *,
		     char **);
void		 kube_event_clear(struct kube_event *);
#define KUBE_WATCH_MAX_LINE	(16 * 1024 * 1024)	/* bytes an event */
/*
 * A watch's stream read as it arrives, in chunks of any size: each line
 * (blank ones skipped, at most KUBE_WATCH_MAX_LINE bytes) an event given
 * to fn(arg, ev), which returns non-zero to end the stream. feed is 0 to
 * read on, -1 once the stream has ended: fn asked, an ERROR event
 * (kube_stream_expired for a 410, else kube_stream_error), or a line
 * that is not an event or too long (kube_stream_error).
 */
struct kube_stream;
struct kube_stream *kube_stream_new(int (*)(void *, const struct kube_event *),
		     void *);
int		 kube_stream_feed(struct kube_stream *, const char *, size_t);
int		 kube_stream_expired(const struct kube_stream *);
const char	*kube_stream_error(const struct kube_stream *);
void		 kube_stream_free(struct kube_stream *);
#define KUBE_WATCH_EXPIRED	1
struct kube_watch_opts {
	const char	*labels;	/* labelSelector; NULL: none */
	const char	*fields;	/* fieldSelector; NULL: none */
	const char	*rv;		/* from this resourceVersion (required) */
	uint64_t	 timeout_ms;	/* how long to watch; 0: the client's */
	const int	*cancel;	/* NULL: never; non-zero ends it */
};
/*
 * Watch kind in ns ("" or NULL: all namespaces, or cluster-scoped) from
 * o->rv with bookmarks: fn(arg, ev) for each event until fn returns
 * non-zero, the server ends the watch, o->timeout_ms passes or *o->cancel
 * is set: 0. KUBE_WATCH_EXPIRED when the server says 410 Expired (as its
 * answer or an ERROR event): the caller lists again. -1 and *cause when
 * the watch is refused (not retried, but for a 401) or broken, an ERROR
 * event of another code, or a line is not an event or longer than
 * KUBE_WATCH_MAX_LINE. The agent's stop flag ends it with -1.
 */
int		 kube_watch(struct kube *, const struct kube_kind *,
		     const char *, const struct kube_watch_opts *,
		     int (*)(void *, const struct kube_event *), void *,
		     char **);
/* lease.c: the client of a lease set (its Leases' server). */
struct lease_set;
struct kube	*lease_set_kube(struct lease_set *);

/*
 * fn(arg, i) for each i below n, on up to par threads at once (the
 * caller's among them); returns when all are done.
 */
void		 kube_parallel(size_t, int, void (*)(void *, size_t), void *);

#endif
