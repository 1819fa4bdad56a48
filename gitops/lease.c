/*
 * lease.c: replicas sharing the apps through coordination.k8s.io/v1
 * Leases, as client-go's leaderelection does for one leader, once per
 * shard. Shard N is the Lease gitops-agent-shard-N; each replica also
 * keeps a member Lease gitops-agent-member-IDENTITY so the others can
 * count the live replicas and hold at most ceil(shards / replicas)
 * shards each.
 *
 * A Lease is expired when its record (holder, renew time, resource
 * version) has not changed for lease_duration by this process's
 * monotonic clock since it was first seen that way: another host's
 * renewTime is never compared with our wall clock, so clock skew
 * between replicas does not matter (client-go's observedTime). Every
 * write carries the resourceVersion it read: of two replicas taking
 * the same Lease one wins, the other gets 409.
 *
 * lease_set_round() blocks on the API server: it runs in the daemon's
 * lease thread, never on the event loop. lease_set_holds() (fencing,
 * asked right before an apply and before a push) and the other getters
 * are thread-safe and never block on the network.
 */
#include "config.h"

#include <sys/types.h>

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gitops.h"
#include "kube.h"

#define LEASE_LABEL		"gitops-agent.io/lease"
/* A nudge: gitops-agent.io/push-REPOSITORY on another's shard Lease. */
#define LEASE_PUSH_PREFIX	"gitops-agent.io/push-"
#define LEASE_MANAGER		"gitops-agent"
/* A hostname is cut to leave room for the pid in a DNS label. */
#define LEASE_HOST_MAX		40

/* One shard's Lease, as the last round saw and wrote it. */
struct lease_shard {
	struct lease_obs obs;
	int		 exists;	/* listed, or created by us */
	int		 listed;	/* in this round's LIST */
	char		*holder;	/* "" when free */
	char		*rv;
	char		*acquire;	/* acquireTime, kept on renewals */
	int		 transitions;	/* leaseTransitions */
	int		 held;
	uint64_t	 renewed;	/* when our last good write was sent */
	struct json	*annotations;	/* as last listed */
	struct json	*pushes_seen;	/* its nudges, while we hold it */
};

/* A repository whose push the holders of other shards should hear of. */
struct lease_nudge {
	char		*repo;
	int		 tries;
};
#define LEASE_NUDGE_TRIES	3

/* Another replica's member Lease. */
struct lease_member {
	char		*name;
	char		*uid;
	struct lease_obs obs;
	int		 live;
	int		 listed;	/* in this round's LIST */
};

struct lease_set {
	struct kube		*k;
	const struct kube_kind	*kind;
	char			*ns;
	char			*identity;
	char			*member;	/* our member Lease's name */
	int			 nshards;
	uint64_t		 duration_ms;

	/* The round's own (the lease thread only). */
	struct lease_member	*members;
	size_t			 nmembers;
	uint64_t		 now;		/* the round's time */
	char			*member_rv;
	char			*member_uid;

	/* Read by other threads: under mu. */
	pthread_mutex_t		 mu;
	struct lease_shard	*shards;
	int			 replicas;
	uint64_t		 transitions;
	uint64_t		 renew_ms;	/* the last round's writes */
	uint64_t		 rounds;
	struct lease_nudge	*nudges;	/* to write */
	size_t			 nnudges;
	struct strv		 nudged;	/* repositories others pushed */
	uint64_t		 nudge_seq;
};

uint64_t
lease_hash(const char *s)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return (h);
}

int
lease_shard_of(const char *name, int pinned, int shards)
{
	if (shards <= 1)
		return (0);
	if (pinned >= 0 && pinned < shards)
		return (pinned);
	return ((int)(lease_hash(name) % (uint64_t)shards));
}

int
lease_quota(int shards, int replicas)
{
	if (replicas < 1)
		replicas = 1;
	return ((shards + replicas - 1) / replicas);
}

int
lease_observe(struct lease_obs *o, const char *record, uint64_t now)
{
	if (o->record != NULL && strcmp(o->record, record) == 0)
		return (0);
	free(o->record);
	o->record = xstrdup(record);
	o->seen_ms = now;
	return (1);
}

int
lease_obs_expired(const struct lease_obs *o, uint64_t now,
    uint64_t duration_ms)
{
	if (o->record == NULL)
		return (0);
	return (now >= o->seen_ms + duration_ms);
}

void
lease_obs_clear(struct lease_obs *o)
{
	free(o->record);
	o->record = NULL;
	o->seen_ms = 0;
}

/* A margin so a Lease about to expire counts as lost (fencing). */
static uint64_t
lease_valid_ms(const struct lease_set *ls)
{
	return (ls->duration_ms - ls->duration_ms / 4);
}

char *
lease_default_identity(void)
{
	char	host[256], *id;
	size_t	i;

	if (gethostname(host, sizeof host) != 0 || *host == '\0')
		strlcpy(host, "gitops-agent", sizeof host);
	host[sizeof host - 1] = '\0';
	host[LEASE_HOST_MAX] = '\0';
	for (i = 0; host[i] != '\0'; i++) {
		host[i] = tolower((unsigned char)host[i]);
		if (!isalnum((unsigned char)host[i]))
			host[i] = '-';
	}
	xasprintf(&id, "%s-%ld", host, (long)getpid());
	return (id);
}

struct lease_set *
lease_set_open(const struct config_coordination *co, char **cause)
{
	struct lease_set	*ls;
	struct kube_opts	 o;
	const char		*ns;

	ls = xcalloc(1, sizeof *ls);
	ls->nshards = co->shards > 0 ? co->shards : 1;
	ls->duration_ms = co->lease_duration_ms;
	ls->identity = co->identity != NULL ? xstrdup(co->identity) :
	    lease_default_identity();
	xasprintf(&ls->member, "%s%s", LEASE_MEMBER_PREFIX, ls->identity);
	ls->shards = xcalloc(ls->nshards, sizeof *ls->shards);
	ls->replicas = 1;
	if (pthread_mutex_init(&ls->mu, NULL) != 0)
		fatal("pthread_mutex_init");
	memset(&o, 0, sizeof o);
	o.auth.kubeconfig = co->kubeconfig;
	o.auth.context = co->context;
	o.auth.in_cluster = co->in_cluster;
	/* A renewal later than half the Lease is of no use. */
	o.timeout_ms = ls->duration_ms / 2;
	if ((ls->k = kube_open(&o, cause)) == NULL)
		goto fail;
	ns = co->namespace;
	if (ns == NULL || *ns == '\0')
		ns = kube_namespace(ls->k);
	ls->ns = xstrdup(ns != NULL && *ns != '\0' ? ns : "default");
	return (ls);
fail:
	lease_set_close(ls);
	return (NULL);
}

void
lease_set_close(struct lease_set *ls)
{
	int	i;
	size_t	j;

	if (ls == NULL)
		return;
	for (i = 0; i < ls->nshards; i++) {
		lease_obs_clear(&ls->shards[i].obs);
		free(ls->shards[i].holder);
		free(ls->shards[i].rv);
		free(ls->shards[i].acquire);
		json_free(ls->shards[i].annotations);
		json_free(ls->shards[i].pushes_seen);
	}
	free(ls->shards);
	for (j = 0; j < ls->nnudges; j++)
		free(ls->nudges[j].repo);
	free(ls->nudges);
	strv_free(&ls->nudged);
	for (j = 0; j < ls->nmembers; j++) {
		free(ls->members[j].name);
		free(ls->members[j].uid);
		lease_obs_clear(&ls->members[j].obs);
	}
	free(ls->members);
	free(ls->member_rv);
	free(ls->member_uid);
	pthread_mutex_destroy(&ls->mu);
	kube_close(ls->k);
	free(ls->ns);
	free(ls->identity);
	free(ls->member);
	free(ls);
}

const char *
lease_set_identity(const struct lease_set *ls)
{
	return (ls->identity);
}

struct kube *
lease_set_kube(struct lease_set *ls)
{
	return (ls->k);
}

const char *
lease_set_namespace(const struct lease_set *ls)
{
	return (ls->ns);
}

int
lease_set_shards(const struct lease_set *ls)
{
	return (ls->nshards);
}

/* A MicroTime, as client-go writes renewTime; len is at least 28. */
static void
lease_micro_time(char *out, size_t len)
{
	struct timespec	ts;
	struct tm	tm;
	size_t		n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, len - n, ".%06dZ",
	    (int)(ts.tv_nsec / 1000) % 1000000);
}

/* *dst becomes a copy of s (NULL stays NULL). */
static void
lease_keep(char **dst, const char *s)
{
	free(*dst);
	*dst = s != NULL ? xstrdup(s) : NULL;
}

static int
lease_resolve_kind(struct lease_set *ls, char **cause)
{
	int	rc;

	if (ls->kind != NULL)
		return (0);
	rc = kube_kind_lookup(ls->k, "coordination.k8s.io/v1", "Lease",
	    &ls->kind, cause);
	if (rc == 1)
		xasprintf(cause, "the API server does not serve "
		    "coordination.k8s.io/v1 Lease");
	return (rc == 0 ? 0 : -1);
}

/* What a write puts in a Lease. */
struct lease_rec {
	const char		*holder;	/* "" releases it */
	const char		*acquire;	/* NULL: now */
	int			 transitions;
	const struct json	*annotations;	/* kept (nudges), or NULL */
};

/*
 * Write the Lease name as r says, over the version rv (NULL: create it).
 * The new version goes back in *rv and the uid in *uid (when not NULL).
 */
static int
lease_write(struct lease_set *ls, const char *name, const char *role,
    const struct lease_rec *r, char **rv, char **uid, enum kube_why *why,
    char **cause)
{
	struct json	*obj, *md, *labels, *spec, *res = NULL;
	char		 now[40];
	int		 rc;

	lease_micro_time(now, sizeof now);
	obj = json_new_object();
	json_set(obj, "apiVersion", json_new_string("coordination.k8s.io/v1"));
	json_set(obj, "kind", json_new_string("Lease"));
	md = json_new_object();
	json_set(md, "name", json_new_string(name));
	json_set(md, "namespace", json_new_string(ls->ns));
	if (*rv != NULL)
		json_set(md, "resourceVersion", json_new_string(*rv));
	labels = json_new_object();
	json_set(labels, LEASE_LABEL, json_new_string(role));
	json_set(md, "labels", labels);
	if (r->annotations != NULL &&
	    json_type(r->annotations) == JSON_OBJECT)
		json_set(md, "annotations", json_dup(r->annotations));
	spec = json_new_object();
	json_set(spec, "holderIdentity", json_new_string(r->holder));
	/* A released Lease says 1 s, as client-go's release does. */
	json_set(spec, "leaseDurationSeconds", json_new_number(*r->holder ==
	    '\0' ? 1 : (double)((ls->duration_ms + 999) / 1000)));
	json_set(spec, "acquireTime", json_new_string(r->acquire != NULL ?
	    r->acquire : now));
	json_set(spec, "renewTime", json_new_string(now));
	json_set(spec, "leaseTransitions", json_new_number(r->transitions));
	json_set(obj, "metadata", md);
	json_set(obj, "spec", spec);
	rc = kube_write(ls->k, ls->kind, obj, LEASE_MANAGER, &res, why, cause);
	json_free(obj);
	if (rc == 0) {
		lease_keep(rv, json_path_string(res, "metadata",
		    "resourceVersion", NULL));
		if (uid != NULL) {
			lease_keep(uid, json_path_string(res, "metadata",
			    "uid", NULL));
		}
	}
	json_free(res);
	return (rc);
}

/*
 * What is compared between rounds: the holder's own fields, as client-go
 * compares its LeaderElectionRecord. Not the resourceVersion: a nudge
 * (an annotation another replica writes) must not pass for a renewal.
 */
static char *
lease_record(const struct json *item)
{
	const char	*h, *r, *q;
	char		*rec;

	h = json_path_string(item, "spec", "holderIdentity", NULL);
	r = json_path_string(item, "spec", "renewTime", NULL);
	q = json_path_string(item, "spec", "acquireTime", NULL);
	xasprintf(&rec, "%s\n%s\n%s\n%.0f", h != NULL ? h : "",
	    r != NULL ? r : "", q != NULL ? q : "", json_number(json_path(item,
	    "spec", "leaseTransitions", NULL)));
	return (rec);
}

static struct lease_member *
lease_member_find(struct lease_set *ls, const char *name)
{
	size_t	i;

	for (i = 0; i < ls->nmembers; i++)
		if (strcmp(ls->members[i].name, name) == 0)
			return (&ls->members[i]);
	ls->members = xreallocarray(ls->members, ls->nmembers + 1,
	    sizeof *ls->members);
	memset(&ls->members[ls->nmembers], 0, sizeof *ls->members);
	ls->members[ls->nmembers].name = xstrdup(name);
	return (&ls->members[ls->nmembers++]);
}

/* Forget members gone from the list; count the live ones and us. */
static int
lease_members_count(struct lease_set *ls)
{
	size_t	i, j;
	int	n = 1;

	for (i = j = 0; i < ls->nmembers; i++) {
		if (!ls->members[i].listed) {
			free(ls->members[i].name);
			free(ls->members[i].uid);
			lease_obs_clear(&ls->members[i].obs);
			continue;
		}
		ls->members[i].listed = 0;
		if (ls->members[i].live)
			n++;
		ls->members[j++] = ls->members[i];
	}
	ls->nmembers = j;
	return (n);
}

/*
 * A shard we held since the last round: a nudge annotation that appeared
 * or changed means another replica got a push for that repository.
 */
static void
lease_pushes_read(struct lease_set *ls, struct lease_shard *sh,
    const char *holder)
{
	struct json	*m, *seen;
	const char	*key, *v, *was;
	size_t		 plen = strlen(LEASE_PUSH_PREFIX);

	if (strcmp(holder, ls->identity) != 0) {
		json_free(sh->pushes_seen);
		sh->pushes_seen = NULL;
		return;
	}
	seen = json_new_object();
	for (m = json_child(sh->annotations); m != NULL; m = json_next(m)) {
		key = json_key(m);
		if (strncmp(key, LEASE_PUSH_PREFIX, plen) != 0 ||
		    key[plen] == '\0' || (v = json_string(m)) == NULL)
			continue;
		json_set(seen, key, json_new_string(v));
		was = json_string(json_get(sh->pushes_seen, key));
		if (sh->held && sh->pushes_seen != NULL &&
		    (was == NULL || strcmp(was, v) != 0)) {
			pthread_mutex_lock(&ls->mu);
			if (!strv_contains(&ls->nudged, key + plen))
				strv_add(&ls->nudged, key + plen);
			pthread_mutex_unlock(&ls->mu);
		}
	}
	json_free(sh->pushes_seen);
	sh->pushes_seen = seen;
}

static void
lease_list_cb(void *arg, struct json *item)
{
	struct lease_set	*ls = arg;
	struct lease_shard	*sh;
	struct lease_member	*m;
	const char		*name, *s, *holder;
	char			*rec, *end;
	uint64_t		 now = ls->now;
	long			 n;

	if ((name = json_path_string(item, "metadata", "name", NULL)) == NULL)
		return;
	holder = json_path_string(item, "spec", "holderIdentity", NULL);
	if (holder == NULL)
		holder = "";
	rec = lease_record(item);
	if (strcmp(name, ls->member) == 0) {
		lease_keep(&ls->member_rv, json_path_string(item,
		    "metadata", "resourceVersion", NULL));
		lease_keep(&ls->member_uid, json_path_string(item,
		    "metadata", "uid", NULL));
	} else if (strncmp(name, LEASE_MEMBER_PREFIX,
	    strlen(LEASE_MEMBER_PREFIX)) == 0) {
		m = lease_member_find(ls, name);
		m->listed = 1;
		lease_observe(&m->obs, rec, now);
		m->live = *holder != '\0' &&
		    !lease_obs_expired(&m->obs, now, ls->duration_ms);
		lease_keep(&m->uid, json_path_string(item, "metadata",
		    "uid", NULL));
	} else if (strncmp(name, LEASE_SHARD_PREFIX,
	    strlen(LEASE_SHARD_PREFIX)) == 0) {
		s = name + strlen(LEASE_SHARD_PREFIX);
		n = strtol(s, &end, 10);
		if (*s == '\0' || *end != '\0' || n < 0 || n >= ls->nshards)
			goto out;
		sh = &ls->shards[n];
		sh->listed = 1;
		lease_observe(&sh->obs, rec, now);
		pthread_mutex_lock(&ls->mu);
		sh->exists = 1;
		free(sh->holder);
		sh->holder = xstrdup(holder);
		pthread_mutex_unlock(&ls->mu);
		lease_keep(&sh->rv, json_path_string(item, "metadata",
		    "resourceVersion", NULL));
		lease_keep(&sh->acquire, json_path_string(item, "spec",
		    "acquireTime", NULL));
		json_free(sh->annotations);
		sh->annotations = json_dup(json_path(item, "metadata",
		    "annotations", NULL));
		lease_pushes_read(ls, sh, holder);
		sh->transitions = (int)json_number(json_path(item, "spec",
		    "leaseTransitions", NULL));
	}
out:
	free(rec);
}

/*
 * Shard i is ours (or not) as of a write sent at sent; written: the
 * holder that write put in the Lease, NULL when it failed.
 */
static void
lease_mark(struct lease_set *ls, int i, int held, uint64_t sent,
    const char *written)
{
	struct lease_shard	*sh = &ls->shards[i];

	pthread_mutex_lock(&ls->mu);
	if (sh->held != held)
		ls->transitions++;
	sh->held = held;
	if (held)
		sh->renewed = sent;
	if (written != NULL) {
		sh->exists = 1;
		free(sh->holder);
		sh->holder = xstrdup(written);
	}
	pthread_mutex_unlock(&ls->mu);
}

/* Queue n (its repository taken over) unless that one waits already. */
static void
lease_set_nudge_again(struct lease_set *ls, struct lease_nudge *n)
{
	size_t	i;

	pthread_mutex_lock(&ls->mu);
	for (i = 0; i < ls->nnudges; i++)
		if (strcmp(ls->nudges[i].repo, n->repo) == 0)
			break;
	if (i == ls->nnudges) {
		ls->nudges = xreallocarray(ls->nudges, ls->nnudges + 1,
		    sizeof *ls->nudges);
		ls->nudges[ls->nnudges++] = *n;
	} else
		free(n->repo);
	pthread_mutex_unlock(&ls->mu);
}

void
lease_set_nudge(struct lease_set *ls, const char *repo)
{
	struct lease_nudge	n;

	n.repo = xstrdup(repo);
	n.tries = 0;
	lease_set_nudge_again(ls, &n);
}

void
lease_set_nudged(struct lease_set *ls, struct strv *out)
{
	pthread_mutex_lock(&ls->mu);
	*out = ls->nudged;
	memset(&ls->nudged, 0, sizeof ls->nudged);
	pthread_mutex_unlock(&ls->mu);
}

static char *
lease_shard_name(int i)
{
	char	*name;

	xasprintf(&name, "%s%d", LEASE_SHARD_PREFIX, i);
	return (name);
}

/*
 * Renew, release or take shard i; a failure is logged, not fatal. The
 * server's reason for a failure, KUBE_WHY_OTHER on success.
 */
static enum kube_why
lease_shard_write(struct lease_set *ls, int i, const char *holder,
    uint64_t sent)
{
	struct lease_shard	*sh = &ls->shards[i];
	struct lease_rec	 r;
	enum kube_why		 why;
	char			*name, *cause = NULL, *acquire = NULL;
	const char		*what;
	int			 taking;

	taking = !sh->held && *holder != '\0';
	what = *holder == '\0' ? "release" : taking ? "take" : "renew";
	memset(&r, 0, sizeof r);
	r.holder = holder;
	r.transitions = sh->transitions;
	/* Nudges others wrote stay for the holder to read. */
	r.annotations = sh->annotations;
	if (taking) {
		/* A new holder: a new acquireTime, one more transition. */
		if (sh->exists)
			r.transitions++;
	} else if (sh->acquire != NULL)
		r.acquire = acquire = xstrdup(sh->acquire);
	name = lease_shard_name(i);
	if (lease_write(ls, name, "shard", &r, &sh->rv, NULL, &why,
	    &cause) == 0) {
		why = KUBE_WHY_OTHER;
		sh->transitions = r.transitions;
		if (taking) {
			free(sh->acquire);
			sh->acquire = NULL;
			/* Nudges from before are done by the sync at a take. */
			json_free(sh->pushes_seen);
			sh->pushes_seen = sh->annotations != NULL ?
			    json_dup(sh->annotations) : json_new_object();
		}
		lease_mark(ls, i, *holder != '\0', sent, holder);
		if (taking || *holder == '\0')
			log_event(LOG_LEVEL_INFO, "lease", "action", what,
			    "lease", name, "identity", ls->identity, NULL);
	} else {
		/*
		 * A take that got 409: another replica wrote it first. A
		 * renewal that got 409 (a nudge came in between) or anything
		 * else: the next round reads the Lease again, and the hold
		 * runs out by itself (fencing) unless a renewal works.
		 */
		if ((taking && (why == KUBE_WHY_MODIFIED ||
		    why == KUBE_WHY_EXISTS)) || *holder == '\0')
			lease_mark(ls, i, 0, sent, NULL);
		log_event(why == KUBE_WHY_MODIFIED ? LOG_LEVEL_DEBUG :
		    LOG_LEVEL_WARN, "lease", "action", what, "lease", name,
		    "error", cause, NULL);
		free(cause);
	}
	free(acquire);
	free(name);
	return (why);
}

/*
 * Read shard i's Lease again (a release met a nudge): 1 when we still
 * hold it, its version and annotations updated for another try.
 */
static int
lease_shard_reread(struct lease_set *ls, int i)
{
	struct lease_shard	*sh = &ls->shards[i];
	struct json		*obj = NULL;
	const char		*holder;
	char			*name, *cause = NULL;
	int			 ours = 0;

	name = lease_shard_name(i);
	if (kube_get(ls->k, ls->kind, ls->ns, name, &obj, &cause) == -1)
		free(cause);
	else if (obj != NULL) {
		holder = json_path_string(obj, "spec", "holderIdentity",
		    NULL);
		ours = holder != NULL && strcmp(holder, ls->identity) == 0;
		lease_keep(&sh->rv, json_path_string(obj, "metadata",
		    "resourceVersion", NULL));
		json_free(sh->annotations);
		sh->annotations = json_dup(json_path(obj, "metadata",
		    "annotations", NULL));
	}
	json_free(obj);
	free(name);
	return (ours);
}

/* Delete a dead replica's member Lease so the list stays short. */
static void
lease_member_reap(struct lease_set *ls, struct lease_member *m,
    uint64_t now)
{
	char	*cause = NULL;

	if (m->uid == NULL || *m->uid == '\0' ||
	    !lease_obs_expired(&m->obs, now, ls->duration_ms))
		return;
	if (kube_delete(ls->k, ls->kind, ls->ns, m->name, m->uid, 0, NULL,
	    &cause) == -1) {
		log_event(LOG_LEVEL_DEBUG, "lease", "action", "reap",
		    "lease", m->name, "error", cause, NULL);
		free(cause);
	}
}

/*
 * Write a nudge for each repository on every shard another live replica
 * holds, over the version listed (a "test" of resourceVersion: a renewal
 * in between fails it, and it is tried again next round).
 */
static void
lease_nudges_write(struct lease_set *ls, uint64_t now)
{
	struct lease_nudge	*pending;	/* taken from the set */
	struct lease_shard	*sh;
	struct json		*ops, *op, *ann;
	char			*name, *key, *token, *cause = NULL;
	size_t			 npending, j, k;
	int			 i, failed;

	pthread_mutex_lock(&ls->mu);
	pending = ls->nudges;
	npending = ls->nnudges;
	ls->nudges = NULL;
	ls->nnudges = 0;
	pthread_mutex_unlock(&ls->mu);
	if (npending == 0)
		return;
	xasprintf(&token, "%s.%llu", ls->identity,
	    (unsigned long long)++ls->nudge_seq);
	failed = 0;
	for (i = 0; i < ls->nshards; i++) {
		sh = &ls->shards[i];
		if (!sh->exists || sh->held || sh->rv == NULL ||
		    *sh->holder == '\0' ||
		    lease_obs_expired(&sh->obs, now, ls->duration_ms))
			continue;
		ann = sh->annotations != NULL &&
		    json_type(sh->annotations) == JSON_OBJECT ?
		    json_dup(sh->annotations) : json_new_object();
		for (j = 0; j < npending; j++) {
			xasprintf(&key, "%s%s", LEASE_PUSH_PREFIX,
			    pending[j].repo);
			json_set(ann, key, json_new_string(token));
			free(key);
		}
		ops = json_new_array();
		op = json_new_object();
		json_set(op, "op", json_new_string("test"));
		json_set(op, "path", json_new_string(
		    "/metadata/resourceVersion"));
		json_set(op, "value", json_new_string(sh->rv));
		json_array_append(ops, op);
		op = json_new_object();
		json_set(op, "op", json_new_string("add"));
		json_set(op, "path", json_new_string("/metadata/annotations"));
		json_set(op, "value", ann);
		json_array_append(ops, op);
		name = lease_shard_name(i);
		if (kube_json_patch(ls->k, ls->kind, ls->ns, name, ops,
		    LEASE_MANAGER, NULL, NULL, &cause) == -1) {
			log_event(LOG_LEVEL_DEBUG, "lease", "action", "nudge",
			    "lease", name, "error", cause, NULL);
			free(cause);
			cause = NULL;
			failed = 1;
		}
		free(name);
		json_free(ops);
	}
	free(token);
	for (k = 0; k < npending; k++) {
		if (failed && ++pending[k].tries < LEASE_NUDGE_TRIES)
			lease_set_nudge_again(ls, &pending[k]);
		else
			free(pending[k].repo);
	}
	free(pending);
}

int
lease_set_round(struct lease_set *ls, uint64_t now, char **cause)
{
	struct lease_rec	 mr;
	struct lease_shard	*sh;
	enum kube_why		 why;
	uint64_t		 t0;
	char			*err = NULL;
	int			 i, j, replicas, quota, held, start;
	size_t			 k;

	if (lease_resolve_kind(ls, cause) == -1)
		return (-1);
	t0 = time_monotonic_ms();
	ls->now = now;
	/* Our member Lease may have been reaped while we stalled. */
	free(ls->member_rv);
	ls->member_rv = NULL;
	if (kube_list_each(ls->k, ls->kind, ls->ns, LEASE_LABEL,
	    lease_list_cb, ls, cause) == -1)
		return (-1);
	for (i = 0; i < ls->nshards; i++) {
		sh = &ls->shards[i];
		if (!sh->listed && sh->exists) {
			/* Deleted: whoever holds it now creates it. */
			pthread_mutex_lock(&ls->mu);
			sh->exists = 0;
			pthread_mutex_unlock(&ls->mu);
			lease_obs_clear(&sh->obs);
		}
		sh->listed = 0;
	}

	/* Announce ourselves first: the others count us from it. */
	memset(&mr, 0, sizeof mr);
	mr.holder = ls->identity;
	if (lease_write(ls, ls->member, "member", &mr, &ls->member_rv,
	    &ls->member_uid, &why, &err) == -1) {
		log_event(LOG_LEVEL_WARN, "lease", "action", "announce",
		    "lease", ls->member, "error", err, NULL);
		free(err);
		err = NULL;
		/* A stale version: read it again next round. */
		free(ls->member_rv);
		ls->member_rv = NULL;
		if (why == KUBE_WHY_MODIFIED || why == KUBE_WHY_EXISTS) {
			free(ls->member_uid);
			ls->member_uid = NULL;
		}
	}
	for (k = 0; k < ls->nmembers; k++)
		if (ls->members[k].listed && !ls->members[k].live)
			lease_member_reap(ls, &ls->members[k], now);
	replicas = lease_members_count(ls);
	quota = lease_quota(ls->nshards, replicas);

	/* Ours as the server says: renew up to the quota, release the rest. */
	held = 0;
	for (i = 0; i < ls->nshards; i++) {
		sh = &ls->shards[i];
		if (!sh->exists || strcmp(sh->holder, ls->identity) != 0) {
			if (sh->held)
				lease_mark(ls, i, 0, now, NULL);
			continue;
		}
		if (held < quota) {
			lease_shard_write(ls, i, ls->identity, now);
			if (sh->held)
				held++;
		} else
			lease_shard_write(ls, i, "", now);
	}
	/*
	 * Take free or expired ones up to the quota, each replica starting
	 * from its own place so two newcomers seldom race for one.
	 */
	start = (int)(lease_hash(ls->identity) % (uint64_t)ls->nshards);
	for (j = 0; j < ls->nshards && held < quota; j++) {
		i = (start + j) % ls->nshards;
		sh = &ls->shards[i];
		if (sh->held)
			continue;
		if (sh->exists && *sh->holder != '\0' &&
		    !lease_obs_expired(&sh->obs, now, ls->duration_ms))
			continue;
		if (!sh->exists) {
			free(sh->rv);
			sh->rv = NULL;
		}
		lease_shard_write(ls, i, ls->identity, now);
		if (sh->held)
			held++;
	}
	lease_nudges_write(ls, now);
	pthread_mutex_lock(&ls->mu);
	ls->replicas = replicas;
	ls->renew_ms = time_monotonic_ms() - t0;
	ls->rounds++;
	pthread_mutex_unlock(&ls->mu);
	return (0);
}

void
lease_set_release(struct lease_set *ls)
{
	char	*cause = NULL;
	int	 i;

	if (ls->kind == NULL)
		return;
	for (i = 0; i < ls->nshards; i++) {
		if (!ls->shards[i].held)
			continue;
		/* Once more over a nudge: a successor need not wait. */
		if (lease_shard_write(ls, i, "", time_monotonic_ms()) ==
		    KUBE_WHY_MODIFIED && lease_shard_reread(ls, i))
			lease_shard_write(ls, i, "", time_monotonic_ms());
	}
	if (ls->member_uid != NULL && kube_delete(ls->k, ls->kind, ls->ns,
	    ls->member, ls->member_uid, 0, NULL, &cause) == -1) {
		log_event(LOG_LEVEL_WARN, "lease", "action", "leave",
		    "lease", ls->member, "error", cause, NULL);
		free(cause);
	}
}

int
lease_set_holds(struct lease_set *ls, int shard, uint64_t now)
{
	struct lease_shard	*sh;
	int			 ok;

	if (shard < 0 || shard >= ls->nshards)
		return (0);
	sh = &ls->shards[shard];
	pthread_mutex_lock(&ls->mu);
	ok = sh->held && now < sh->renewed + lease_valid_ms(ls);
	pthread_mutex_unlock(&ls->mu);
	return (ok);
}

char *
lease_set_holder(struct lease_set *ls, int shard)
{
	char	*h = NULL;

	if (shard < 0 || shard >= ls->nshards)
		return (NULL);
	pthread_mutex_lock(&ls->mu);
	if (ls->shards[shard].exists && ls->shards[shard].holder != NULL &&
	    *ls->shards[shard].holder != '\0')
		h = xstrdup(ls->shards[shard].holder);
	pthread_mutex_unlock(&ls->mu);
	return (h);
}

void
lease_set_stats(struct lease_set *ls, uint64_t now, struct lease_stats *st)
{
	int	i;

	memset(st, 0, sizeof *st);
	for (i = 0; i < ls->nshards; i++)
		if (lease_set_holds(ls, i, now))
			st->held++;
	pthread_mutex_lock(&ls->mu);
	st->replicas = ls->replicas;
	st->transitions = ls->transitions;
	st->renew_ms = ls->renew_ms;
	st->rounds = ls->rounds;
	pthread_mutex_unlock(&ls->mu);
}

uint64_t
lease_set_period_ms(const struct lease_set *ls)
{
	return (ls->duration_ms / 3);
}
