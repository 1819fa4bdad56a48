/*
 * target_kube.c: a Kubernetes cluster as a target. Resources go by
 * server-side apply; the app's inventory is a kubectl ApplySet whose
 * parent is a ConfigMap (gitops-agent.APP in the target's namespace),
 * its members labelled applyset.kubernetes.io/part-of and annotated with
 * their own identity. Prune deletes only what that inventory holds and
 * what still proves it is ours.
 *
 * Comparing is cheap when nothing moved: warm LISTs each kind and
 * namespace of the render once (by the part-of label), and an object
 * whose resourceVersion is the one the agent's last apply answered, and
 * whose desired digest is the one it applied, is unchanged with no more
 * requests. Anything else is asked of the server (a dryRun=All apply)
 * and compared with live, server-owned fields left out, so defaults the
 * server fills in are never drift. Comparisons and the applies of a
 * wave run on several threads over one client. Waiting for a wave's
 * health watches its objects' kinds and namespaces (kt_wait), with a LIST
 * fallback, rather than polling each object.
 *
 * Runs in the thread of a sync (and the threads kube_parallel starts
 * from it). Never logs an object's content.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gitops.h"
#include "kube.h"

#define KT_PARALLEL		16	/* requests in flight: dry-runs, applies */
#define KT_LIST_PARALLEL	4	/* a page each in memory at once */
/* Desired objects a labelled LIST missed that one unlabelled LIST finds. */
#define KT_LIST_ALL_MIN		16
#define KT_LABEL_SET		"applyset.kubernetes.io/id"
#define KT_LABEL_PART_OF	"applyset.kubernetes.io/part-of"
#define KT_ANN_TOOLING		"applyset.kubernetes.io/tooling"
#define KT_ANN_GROUP_KINDS	"applyset.kubernetes.io/contains-group-kinds"
#define KT_ANN_NAMESPACES	"applyset.kubernetes.io/additional-namespaces"
#define KT_ANN_IDENTITY		"gitops-agent.io/identity"
#define KT_ANN_PRUNE		"gitops-agent.io/prune"
#define KT_ANN_OPTIONS		"gitops-agent.io/sync-options"
#define KT_ANN_ARGO_OPTIONS	"argocd.argoproj.io/sync-options"
#define KT_ANN_LAST_APPLIED	"kubectl.kubernetes.io/last-applied-configuration"
#define KT_ANN_OWNER		"gitops-agent.io/owner"
#define KT_ANN_MANAGERS		"gitops-agent.io/field-managers"
#define KT_MAX_MANAGERS		8	/* recorded in the parent */
#define KT_DIGEST_KEY_LEN	32
#define KT_TOOLING_NAME		"gitops-agent"
#define KT_TOOLING		KT_TOOLING_NAME "/" GITOPS_VERSION
#define KT_INVENTORY_KEY	"inventory"
#define KT_PARENT_PREFIX	"gitops-agent."
#define KT_DIGEST_LEN		16
#define KT_INVENTORY_FORMAT	"gitops-agent-inventory/v1"

/* One member of the inventory. */
struct kt_entry {
	char		*id;
	enum hook_phase	 phase;
	long		 wave;
	char		*rv;		/* resourceVersion our apply answered */
	char		*digest;	/* of the object that apply sent */
};

/* A health verdict, and why it is not Healthy (the status's reason). */
struct kt_verdict {
	enum health_status	 h;
	char			*why;
};

/*
 * What a comparison found for one desired resource. A record is claimed
 * (atomically) by the one LIST thread that sees its object; whatever
 * that leaves undecided is compared after the LISTs.
 */
struct kt_cmp {
	struct resource		*r;
	const struct kube_kind	*kind;	/* NULL: its CRD is applied first */
	struct json		*send;	/* what an apply sends */
	char			 digest[65];
	struct json		*live;	/* NULL: absent (or not looked) */
	struct json		*merged; /* a changed one's dry-run answer */
	enum diff_action	 action;
	struct kt_verdict	 health; /* of live, when have_health */
	/* Of an unchanged one: fields only other managers hold (drift). */
	struct strv		 others;
	struct strv		 others_by;	/* those managers */
	size_t			 nothers;
	char			*error;
	int			 prepared;
	int			 have_health;
	int			 claimed;
	int			 absent; /* a whole LIST did not hold it */
	int			 done;
};

/* One LIST of warm: a resource (any version) in a namespace. */
struct kt_list {
	struct target		*t;
	const struct kube_kind	*kind;
	char			*ns;
	const char		*sel;	/* NULL: every object */
	int			 run;	/* in this round */
	int			 ok;	/* every page of it was read */
	size_t			 missing; /* desired, not in the LIST */
};

/* An object a watch keeps: its last state, and whether health read it. */
struct kt_seen {
	struct json		*obj;	/* NULL: absent or deleted */
	int			 judged;
	int			 tracked; /* the wait is for it */
};

/*
 * A watched kind in a namespace: the app's objects (its part-of label),
 * or the pods of a workload (its selector's matchLabels). Seeded by a
 * LIST, then watched from that list's resourceVersion; kept for the
 * target's life (a sync), so a later wave watches on from where the
 * last one stopped. A watch job alone touches it while kt_wait runs;
 * kt_health reads it between waits, on the same thread as kt_wait.
 */
struct kt_watch {
	struct kube_target	*kt;
	const struct kube_kind	*kind;
	char			*ns;
	char			*sel;
	int			 pods;	/* any event of one counts */
	char			*rv;	/* NULL: to be listed (again) */
	int			 polling; /* its watch failed: LIST a pause */
	uint64_t		 pause;	/* between LISTs when polling */
	int			 used;	/* by this wait */
	struct strmap		*objs;	/* "ns/name" -> struct kt_seen */
	struct strv		 tracked; /* keys of objs this wait is for */
};

struct kube_target {
	struct kube		*k;
	const int		*stop;
	struct strmap		*watches; /* key -> struct kt_watch */
	int			 changed; /* a wait's jobs: one saw a change */
	uint64_t		 wait_deadline;
	char			*manager;
	int			 force;
	int			 prune_max_percent;
	int			 force_prune;
	uint64_t		 timeout_ms;
	char			*parent;	/* the parent ConfigMap's name */
	char			*parent_ns;	/* and namespace: the agent's */
	char			*set_id;
	char			*owner;		/* recorded in the parent */
	struct strv		 managers;	/* ours: manager, then the */
						/* parent's recorded ones */
	unsigned char		 key[KT_DIGEST_KEY_LEN];
	int			 keyed;		/* digests are HMACs by key */
	struct strmap		*render_ns;	/* Namespaces of the render */
	int			 manager_recorded; /* in the parent already */
	const struct kube_kind	*configmap;
	pthread_mutex_t		 mu;	/* inv, dirty and fresh */
	struct strmap		*inv;	/* id -> struct kt_entry */
	int			 loaded;
	int			 dirty;
	struct strmap		*cmp;	/* id -> struct kt_cmp */
	struct strmap		*crd_kinds; /* "Kind.group" a desired CRD makes */
	struct strmap		*fresh;	/* id -> kt_verdict of its apply */
	struct health_rule	*rules;	/* health_rules, a copy */
	size_t			 nrules;
	int			 batching;
	struct strmap		*unapplied;	/* of the last commit */
	struct resource		**staged;
	size_t			 nstaged;
	size_t			 capstaged;
};

static int	kt_get(struct target *, const char *, struct json **, char **);
static int	kt_compare(struct target *, const struct resource *,
		    enum diff_action *, struct json **, char **);
static char	*kt_diff_text(struct target *, const struct resource *,
		    const struct json *);
static int	kt_apply(struct target *, const struct resource *, char **);
static int	kt_remove(struct target *, const char *,
		    enum target_remove_status *, char **);
static int	kt_health(struct target *, const struct resource *,
		    enum health_status *, char **);
static int	kt_wait(struct target *, struct resource *const *, size_t,
		    uint64_t, char **);
static int	kt_inventory(struct target *, struct target_entry **,
		    size_t *, char **);
static int	kt_prepare(struct target *, struct resource *const *, size_t,
		    char **);
static int	kt_inventory_save(struct target *, char **);
static void	kt_begin(struct target *);
static int	kt_commit(struct target *, char **, char **);
static int	kt_committed(struct target *, const char *);
static void	kt_warm(struct target *, struct resource *const *, size_t);
static struct json *kt_drift(struct target *, const struct resource *,
		    const struct json *);
static void	kt_free(struct target *);
static int	kt_prune_check(struct target *, size_t, size_t, size_t,
		    char **);

static const struct target_ops kt_ops = {
	.name = "kubernetes",
	.diff_mode = DIFF_PROJECT,
	.validates = 1,		/* compare is a dry-run apply */
	.get = kt_get,
	.compare = kt_compare,
	.diff_text = kt_diff_text,
	.apply = kt_apply,
	.remove = kt_remove,
	.health = kt_health,
	.wait = kt_wait,
	.inventory = kt_inventory,
	.prepare = kt_prepare,
	.inventory_save = kt_inventory_save,
	.begin = kt_begin,
	.commit = kt_commit,
	.committed = kt_committed,
	.warm = kt_warm,
	.drift = kt_drift,
	.free = kt_free,
	.prune_check = kt_prune_check,
};

/*
 * kubectl's ApplySet id of a parent: "applyset-" and the unpadded
 * base64url of sha256("NAME.NAMESPACE.KIND.GROUP"), then "-v1".
 */
char *
target_kube_applyset_id(const char *name, const char *ns, const char *kind,
    const char *group)
{
	unsigned char	 md[32];
	char		*text, *b64, *p, *id;

	xasprintf(&text, "%s.%s.%s.%s", name, ns, kind, group);
	sha256(text, strlen(text), md);
	free(text);
	b64 = base64_encode(md, sizeof md);
	for (p = b64; *p != '\0'; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=') {
			*p = '\0';
			break;
		}
	}
	xasprintf(&id, "applyset-%s-v1", b64);
	free(b64);
	return (id);
}

/*
 * Split an identity, "Kind[.group]/namespace/name" or "Kind[.group]/name",
 * into allocated parts (namespace "" when cluster-scoped).
 */
static int
kt_id_split(const char *id, char **group, char **kind, char **ns,
    char **name)
{
	const char	*s1, *s2, *dot;

	if ((s1 = strchr(id, '/')) == NULL || s1 == id || s1[1] == '\0')
		return (-1);
	dot = memchr(id, '.', (size_t)(s1 - id));
	*kind = xstrndup(id, (size_t)((dot != NULL ? dot : s1) - id));
	*group = dot != NULL ? xstrndup(dot + 1, (size_t)(s1 - dot - 1)) :
	    xstrdup("");
	if ((s2 = strchr(s1 + 1, '/')) != NULL) {
		*ns = xstrndup(s1 + 1, (size_t)(s2 - s1 - 1));
		*name = xstrdup(s2 + 1);
	} else {
		*ns = xstrdup("");
		*name = xstrdup(s1 + 1);
	}
	return (0);
}

/* "Kind[.group]" of an identity. */
static char *
kt_id_group_kind(const char *id)
{
	return (xstrndup(id, strcspn(id, "/")));
}

/* A comma-separated option list of an annotation holds opt. */
static int
kt_option(const struct json *obj, const char *ann, const char *opt)
{
	const char	*s, *e;
	size_t		 n = strlen(opt);

	s = json_path_string(obj, "metadata", "annotations", ann, NULL);
	while (s != NULL && *s != '\0') {
		while (*s == ' ' || *s == ',')
			s++;
		e = s + strcspn(s, ",");
		while (e > s && e[-1] == ' ')
			e--;
		if ((size_t)(e - s) == n && strncmp(s, opt, n) == 0)
			return (1);
		s = e + strspn(e, " ");
	}
	return (0);
}

static int
kt_sync_option(const struct json *obj, const char *opt)
{
	return (kt_option(obj, KT_ANN_OPTIONS, opt) ||
	    kt_option(obj, KT_ANN_ARGO_OPTIONS, opt));
}

static struct json *
kt_member(struct json *obj, const char *key)
{
	struct json	*m;

	if ((m = json_get(obj, key)) == NULL ||
	    json_type(m) != JSON_OBJECT) {
		m = json_new_object();
		json_set(obj, key, m);
	}
	return (m);
}

static void
kt_entry_free(struct kt_entry *e)
{
	if (e == NULL)
		return;
	free(e->id);
	free(e->rv);
	free(e->digest);
	free(e);
}

static void
kt_cmp_free(struct kt_cmp *c)
{
	if (c == NULL)
		return;
	json_free(c->send);
	json_free(c->live);
	json_free(c->merged);
	free(c->health.why);
	strv_free(&c->others);
	strv_free(&c->others_by);
	free(c->error);
	free(c);
}

/* What an unchanged resource no longer needs: live, what to send. */
static void
kt_cmp_trim(struct kt_cmp *c)
{
	if (c->action != DIFF_UNCHANGED)
		return;
	json_free(c->live);
	json_free(c->send);
	c->live = c->send = NULL;
}

static void
kt_map_clear(struct strmap *m, void (*fn)(void *))
{
	size_t	 cur = 0;
	void	*v;

	while (strmap_next(m, &cur, NULL, &v))
		fn(v);
}

static void
kt_entry_free_cb(void *v)
{
	kt_entry_free(v);
}

static void
kt_cmp_free_cb(void *v)
{
	kt_cmp_free(v);
}

static void
kt_verdict_free_cb(void *v)
{
	struct kt_verdict	*x = v;

	if (x == NULL)
		return;
	free(x->why);
	free(x);
}

/* The error of a resource: where it was declared, then why. */
static char *
kt_error(const struct resource *r, const char *cause)
{
	char	*s;

	if (r->file != NULL)
		xasprintf(&s, "%s:%d: %s: %s", r->file, r->line, r->id, cause);
	else
		xasprintf(&s, "%s: %s", r->id, cause);
	return (s);
}

/*
 * The kind of a resource as the cluster serves it. 1 when it is not
 * served but a CRD of this render makes it (it will be once applied).
 */
static int
kt_kind(struct kube_target *kt, const struct resource *r,
    const struct kube_kind **kind, char **cause)
{
	char	*gk, *err = NULL;
	int	 rc;

	rc = kube_kind_lookup(kt->k, r->api_version, r->kind, kind, &err);
	if (rc == -1) {
		*cause = kt_error(r, err);
		free(err);
		return (-1);
	}
	if (rc == 0)
		return (0);
	gk = kt_id_group_kind(r->id);
	rc = kt->crd_kinds != NULL && strmap_get(kt->crd_kinds, gk) != NULL;
	free(gk);
	if (rc)
		return (1);
	xasprintf(&err, "the cluster does not serve kind %s of apiVersion "
	    "%s (nor does a CustomResourceDefinition of this app make it)",
	    r->kind, r->api_version);
	*cause = kt_error(r, err);
	free(err);
	return (-1);
}

/*
 * What an apply of r sends: its object with the namespace the kind
 * wants, the ApplySet's part-of label and the identity annotation.
 */
static struct json *
kt_send(struct kube_target *kt, struct target *t, const struct resource *r,
    const struct kube_kind *kind)
{
	struct json	*obj, *meta;
	const char	*ns;

	obj = json_dup(r->obj);
	meta = kt_member(obj, "metadata");
	ns = json_path_string(meta, "namespace", NULL);
	if (kind != NULL && !kind->namespaced)
		json_remove(meta, "namespace");
	else if (ns == NULL || *ns == '\0')
		json_set(meta, "namespace", json_new_string(t->namespace));
	json_set(kt_member(meta, "labels"), KT_LABEL_PART_OF,
	    json_new_string(kt->set_id));
	json_set(kt_member(meta, "annotations"), KT_ANN_IDENTITY,
	    json_new_string(r->id));
	return (obj);
}

/*
 * The digest of what an apply sends, kept in the inventory (which anyone
 * who reads ConfigMaps sees): an HMAC by the agent's key in state_dir, so
 * it tells nothing of a Secret's data. Without a key, Secrets get none ("",
 * compared by a dry-run each time) and the rest a plain SHA-256.
 */
static void
kt_digest(struct kube_target *kt, const struct json *obj, char out[65])
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 md[32];
	const char		*kind, *av;
	char			*text;
	size_t			 i;

	kind = json_path_string(obj, "kind", NULL);
	av = json_path_string(obj, "apiVersion", NULL);
	if (!kt->keyed && kind != NULL && strcmp(kind, "Secret") == 0 &&
	    av != NULL && strcmp(av, "v1") == 0) {
		*out = '\0';
		return;
	}
	text = json_print(obj, 0);
	if (kt->keyed)
		hmac_sha256(kt->key, sizeof kt->key, text, strlen(text), md);
	else
		sha256(text, strlen(text), md);
	explicit_bzero(text, strlen(text));
	free(text);
	for (i = 0; i < sizeof md; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[KT_DIGEST_LEN] = '\0';	/* to detect a change, not to sign */
}

/*
 * The agent's digest key (hex in a 0600 file of state_dir), made when
 * missing; without one (no state_dir, a file that cannot be written)
 * digests are unkeyed.
 */
static void
kt_key_load(struct kube_target *kt, const char *path)
{
	unsigned char	 key[KT_DIGEST_KEY_LEN];
	char		*data = NULL, *err = NULL;
	char		 hex[2 * KT_DIGEST_KEY_LEN + 2];
	size_t		 len, i;
	unsigned int	 byte;
	int		 tries;

	if (path == NULL)
		return;
	for (tries = 0; tries < 2 && !kt->keyed; tries++) {
		if (file_read(path, 1024, &data, &len, &err) == 0 &&
		    len >= 2 * KT_DIGEST_KEY_LEN) {
			for (i = 0; i < KT_DIGEST_KEY_LEN; i++) {
				if (sscanf(data + 2 * i, "%2x", &byte) != 1)
					break;
				kt->key[i] = (unsigned char)byte;
			}
			kt->keyed = i == KT_DIGEST_KEY_LEN;
		}
		if (data != NULL)
			explicit_bzero(data, len);
		free(data);
		data = NULL;
		free(err);
		err = NULL;
		if (kt->keyed || tries != 0)
			break;
		/* None yet: make one, then read back what is on disk. */
		arc4random_buf(key, sizeof key);
		for (i = 0; i < sizeof key; i++)
			snprintf(hex + 2 * i, 3, "%02x", key[i]);
		hex[2 * KT_DIGEST_KEY_LEN] = '\n';
		hex[2 * KT_DIGEST_KEY_LEN + 1] = '\0';
		if (file_write_atomic(path, hex, 2 * KT_DIGEST_KEY_LEN + 1,
		    0600, &err) == -1) {
			log_event(LOG_LEVEL_WARN, "cannot write the digest "
			    "key: Secrets are compared by a dry-run each sync",
			    "path", path, "error", err, NULL);
			free(err);
			err = NULL;
		}
		explicit_bzero(hex, sizeof hex);
		explicit_bzero(key, sizeof key);
	}
}

/* A copy of an object without what the server owns, to compare. */
static struct json *
kt_comparable(const struct json *obj)
{
	struct json	*o, *meta;

	o = json_dup(obj);
	json_remove(o, "status");
	if ((meta = json_get(o, "metadata")) != NULL) {
		json_remove(meta, "managedFields");
		json_remove(meta, "resourceVersion");
		json_remove(meta, "generation");
	}
	return (o);
}

/*
 * Health of r from its live object: the app's health_rules and
 * kstatus's (*why: the reason, when not Healthy), a CRD's Established.
 */
static enum health_status
kt_live_health(struct kube_target *kt, const struct resource *r,
    const struct json *live, char **why)
{
	*why = NULL;
	/* A CRD the server has not yet given a status is not Established. */
	if (strcmp(r->kind, "CustomResourceDefinition") == 0 &&
	    json_get(live, "status") == NULL) {
		*why = xstrdup("not established yet");
		return (HEALTH_PROGRESSING);
	}
	return (health_of_object_ruled(live, kt->rules, kt->nrules, why));
}

static struct kt_entry *
kt_entry_get(struct kube_target *kt, const char *id)
{
	return (strmap_get(kt->inv, id));
}

static struct kt_entry *
kt_entry_add(struct kube_target *kt, const char *id, enum hook_phase phase,
    long wave)
{
	struct kt_entry	*e;

	if ((e = strmap_get(kt->inv, id)) == NULL) {
		e = xcalloc(1, sizeof *e);
		e->id = xstrdup(id);
		strmap_put(kt->inv, id, e);
		kt->dirty = 1;
	}
	if (e->phase != phase || e->wave != wave)
		kt->dirty = 1;
	e->phase = phase;
	e->wave = wave;
	return (e);
}

/* Record what an apply answered (or a comparison found unchanged). */
static void
kt_entry_seen(struct kube_target *kt, const struct resource *r,
    const struct json *live, const char *digest)
{
	struct kt_entry	*e;
	const char	*rv;

	rv = json_path_string(live, "metadata", "resourceVersion", NULL);
	pthread_mutex_lock(&kt->mu);
	e = kt_entry_add(kt, r->id, r->phase, r->wave);
	if (rv != NULL && (e->rv == NULL || strcmp(e->rv, rv) != 0)) {
		free(e->rv);
		e->rv = xstrdup(rv);
		kt->dirty = 1;
	}
	if (*digest == '\0') {
		/* None shown (an unkeyed Secret): compared by dry-run. */
		if (e->digest != NULL)
			kt->dirty = 1;
		free(e->digest);
		e->digest = NULL;
	} else if (e->digest == NULL || strcmp(e->digest, digest) != 0) {
		free(e->digest);
		e->digest = xstrdup(digest);
		kt->dirty = 1;
	}
	pthread_mutex_unlock(&kt->mu);
}

/*
 * The inventory text: a format line, then a line a member, its fields
 * separated by tabs: identity, phase, wave, the resourceVersion of the
 * last apply ("-" if none) and the digest of what it sent ("-"). About
 * 80 bytes a member: 10,000 fit a ConfigMap's 1 MiB.
 */
static int
kt_parse(struct kube_target *kt, const char *text)
{
	struct kt_entry	*e;
	enum hook_phase	 phase;
	const char	*line, *end;
	char		*copy, *f[6], *p, *ep;
	long		 wave;
	size_t		 n;
	int		 first = 1;

	for (line = text; *line != '\0'; line = *end != '\0' ? end + 1 : end) {
		end = line + strcspn(line, "\n");
		copy = xstrndup(line, (size_t)(end - line));
		if (first) {
			first = 0;
			n = strcmp(copy, KT_INVENTORY_FORMAT);
			free(copy);
			if (n != 0)
				return (-1);
			continue;
		}
		for (n = 0, p = copy; n < 6 && p != NULL; n++)
			f[n] = strsep(&p, "\t");
		if (*copy == '\0') {
			free(copy);
			continue;
		}
		wave = n == 5 ? strtol(f[2], &ep, 10) : 0;
		if (n != 5 || p != NULL || strchr(f[0], '/') == NULL ||
		    phase_parse(f[1], &phase) == -1 || *f[2] == '\0' ||
		    *ep != '\0' || strmap_get(kt->inv, f[0]) != NULL) {
			free(copy);
			return (-1);
		}
		e = kt_entry_add(kt, f[0], phase, wave);
		e->rv = strcmp(f[3], "-") != 0 ? xstrdup(f[3]) : NULL;
		e->digest = strcmp(f[4], "-") != 0 ? xstrdup(f[4]) : NULL;
		free(copy);
	}
	return (first ? -1 : 0);
}

/*
 * The field managers the parent records (every one that applied this
 * set, newest first): ours stays first, the others are accepted by prune
 * (a renamed field_manager still proves an object is ours).
 */
static void
kt_managers_parse(struct kube_target *kt, const char *list)
{
	const char	*p, *e;
	char		*m;
	size_t		 i;
	int		 have;

	for (p = list; p != NULL && *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, ",");
		if (e == p)
			continue;
		m = xstrndup(p, (size_t)(e - p));
		if (strcmp(m, kt->manager) == 0)
			kt->manager_recorded = 1;
		for (i = 0, have = 0; i < kt->managers.n; i++)
			if (strcmp(kt->managers.v[i], m) == 0)
				have = 1;
		if (!have && kt->managers.n < KT_MAX_MANAGERS)
			strv_add(&kt->managers, m);
		free(m);
	}
}

/* One of the set's field managers (ours or a recorded one) has live. */
static int
kt_managed(struct kube_target *kt, const struct json *live)
{
	const struct json	*m;
	const char		*s;
	size_t			 i;

	for (m = json_child(json_path(live, "metadata", "managedFields",
	    NULL)); m != NULL; m = json_next(m)) {
		if ((s = json_path_string(m, "manager", NULL)) == NULL)
			continue;
		for (i = 0; i < kt->managers.n; i++)
			if (strcmp(kt->managers.v[i], s) == 0)
				return (1);
	}
	return (0);
}

/* The parent ConfigMap, read once: the inventory it holds. */
static int
kt_load(struct target *t, char **cause)
{
	struct kube_target	*kt = t->arg;
	struct json		*parent = NULL;
	const char		*s;
	char			*err = NULL;
	int			 rc = -1, recorded;

	if (kt->loaded)
		return (0);
	if (kube_get(kt->k, kt->configmap, kt->parent_ns, kt->parent, &parent,
	    &err) == -1) {
		xasprintf(cause, "cannot read the inventory of app '%s' "
		    "(ConfigMap %s/%s): %s", t->app, kt->parent_ns, kt->parent,
		    err);
		goto out;
	}
	if (parent == NULL) {
		kt->loaded = 1;
		rc = 0;
		goto out;
	}
	s = json_path_string(parent, "metadata", "annotations",
	    KT_ANN_TOOLING, NULL);
	if (s == NULL || strncmp(s, KT_TOOLING_NAME "/",
	    strlen(KT_TOOLING_NAME) + 1) != 0) {
		xasprintf(cause, "ConfigMap %s/%s is not the inventory of app "
		    "'%s': its ApplySet tooling is '%s', not %s; rename the app "
		    "or remove that ConfigMap", kt->parent_ns, kt->parent,
		    t->app, s != NULL ? s : "(none)", KT_TOOLING_NAME);
		goto out;
	}
	s = json_path_string(parent, "metadata", "labels", KT_LABEL_SET,
	    NULL);
	if (s == NULL || strcmp(s, kt->set_id) != 0) {
		xasprintf(cause, "ConfigMap %s/%s: its label %s is '%s', not "
		    "'%s'", kt->parent_ns, kt->parent, KT_LABEL_SET,
		    s != NULL ? s : "(none)", kt->set_id);
		goto out;
	}
	s = json_path_string(parent, "metadata", "annotations",
	    KT_ANN_OWNER, NULL);
	if (s != NULL && strcmp(s, kt->owner) != 0) {
		xasprintf(cause, "ConfigMap %s/%s, the inventory of app '%s', "
		    "belongs to another owner ('%s'; this app is '%s'): "
		    "nothing applied or pruned; give one of the apps another "
		    "name, or, if this app moved there, set its target.owner "
		    "to '%s'", kt->parent_ns, kt->parent, t->app, s,
		    kt->owner, s);
		goto out;
	}
	recorded = s != NULL;
	kt_managers_parse(kt, json_path_string(parent, "metadata",
	    "annotations", KT_ANN_MANAGERS, NULL));
	s = json_path_string(parent, "data", KT_INVENTORY_KEY, NULL);
	if (s != NULL && kt_parse(kt, s) == -1) {
		xasprintf(cause, "ConfigMap %s/%s: data.%s is not an inventory "
		    "this agent wrote", kt->parent_ns, kt->parent,
		    KT_INVENTORY_KEY);
		goto out;
	}
	/* A parent an older agent wrote gets our owner and manager. */
	kt->dirty = !recorded || !kt->manager_recorded;
	kt->loaded = 1;
	rc = 0;
out:
	free(err);
	json_free(parent);
	return (rc);
}

static int
kt_entry_cmp(const void *a, const void *b)
{
	const struct kt_entry	*x = *(struct kt_entry *const *)a;
	const struct kt_entry	*y = *(struct kt_entry *const *)b;

	return (strcmp(x->id, y->id));
}

/* The inventory's entries, sorted by id; the array only is allocated. */
static struct kt_entry **
kt_entries(struct kube_target *kt, size_t *n)
{
	struct kt_entry	**v;
	size_t		  cur = 0;
	void		 *e;

	*n = 0;
	v = xcalloc(strmap_count(kt->inv) + 1, sizeof *v);
	while (strmap_next(kt->inv, &cur, NULL, &e))
		v[(*n)++] = e;
	if (*n > 1)
		qsort(v, *n, sizeof *v, kt_entry_cmp);
	return (v);
}

/* "A,B,C" of the sorted, distinct strings of sv. */
static char *
kt_join(struct strv *sv)
{
	struct buf	 b;
	size_t		 i;

	strv_sort(sv);
	buf_init(&b);
	for (i = 0; i < sv->n; i++) {
		if (i != 0 && strcmp(sv->v[i], sv->v[i - 1]) == 0)
			continue;
		if (b.len != 0)
			buf_add(&b, ",", 1);
		buf_add(&b, sv->v[i], strlen(sv->v[i]));
	}
	return (buf_release(&b));
}

/* "ours,older,..." in order, for the parent. */
static char *
kt_managers_text(struct kube_target *kt)
{
	struct buf	 b;
	size_t		 i;

	buf_init(&b);
	for (i = 0; i < kt->managers.n; i++) {
		if (i != 0)
			buf_addc(&b, ',');
		buf_adds(&b, kt->managers.v[i]);
	}
	return (buf_release(&b));
}

/* The parent ConfigMap for the inventory as it is now. */
static struct json *
kt_parent(struct target *t)
{
	struct kube_target	*kt = t->arg;
	struct kt_entry		**v;
	struct json		*cm, *meta, *data;
	struct buf		 inv;
	struct strv		 kinds = { NULL, 0 }, nss = { NULL, 0 };
	char			*group, *kind, *ns, *name, *s;
	size_t			 n, i;

	v = kt_entries(kt, &n);
	buf_init(&inv);
	buf_adds(&inv, KT_INVENTORY_FORMAT "\n");
	for (i = 0; i < n; i++) {
		buf_printf(&inv, "%s\t%s\t%ld\t%s\t%s\n", v[i]->id,
		    phase_name(v[i]->phase), v[i]->wave,
		    v[i]->rv != NULL ? v[i]->rv : "-",
		    v[i]->digest != NULL ? v[i]->digest : "-");
		if (kt_id_split(v[i]->id, &group, &kind, &ns, &name) == 0) {
			s = kt_id_group_kind(v[i]->id);
			strv_add(&kinds, s);
			free(s);
			if (*ns != '\0' && strcmp(ns, kt->parent_ns) != 0)
				strv_add(&nss, ns);
			free(group);
			free(kind);
			free(ns);
			free(name);
		}
	}
	free(v);
	cm = json_new_object();
	json_set(cm, "apiVersion", json_new_string("v1"));
	json_set(cm, "kind", json_new_string("ConfigMap"));
	meta = kt_member(cm, "metadata");
	json_set(meta, "name", json_new_string(kt->parent));
	json_set(meta, "namespace", json_new_string(kt->parent_ns));
	json_set(kt_member(meta, "labels"), KT_LABEL_SET,
	    json_new_string(kt->set_id));
	json_set(kt_member(meta, "annotations"), KT_ANN_TOOLING,
	    json_new_string(KT_TOOLING));
	json_set(kt_member(meta, "annotations"), KT_ANN_GROUP_KINDS,
	    json_new_string_owned(kt_join(&kinds)));
	json_set(kt_member(meta, "annotations"), KT_ANN_NAMESPACES,
	    json_new_string_owned(kt_join(&nss)));
	json_set(kt_member(meta, "annotations"), KT_ANN_OWNER,
	    json_new_string(kt->owner));
	json_set(kt_member(meta, "annotations"), KT_ANN_MANAGERS,
	    json_new_string_owned(kt_managers_text(kt)));
	data = kt_member(cm, "data");
	json_set(data, KT_INVENTORY_KEY, json_new_string_owned(
	    buf_release(&inv)));
	strv_free(&kinds);
	strv_free(&nss);
	return (cm);
}

static int
kt_inventory_save(struct target *t, char **cause)
{
	struct kube_target	*kt = t->arg;
	struct json		*cm;
	char			*err = NULL;
	int			 rc;

	if (!kt->loaded || !kt->dirty)
		return (0);
	cm = kt_parent(t);
	rc = kube_apply(kt->k, kt->configmap, cm, kt->manager, KUBE_FORCE,
	    NULL, NULL, &err);
	json_free(cm);
	if (rc == -1) {
		xasprintf(cause, "cannot write the inventory of app '%s' "
		    "(ConfigMap %s/%s): %s", t->app, kt->parent_ns, kt->parent,
		    err);
		free(err);
		return (-1);
	}
	kt->dirty = 0;
	return (0);
}

static int
kt_inventory(struct target *t, struct target_entry **out, size_t *nout,
    char **cause)
{
	struct kube_target	*kt = t->arg;
	struct kt_entry		**v;
	size_t			  n, i;

	if (kt_load(t, cause) == -1)
		return (-1);
	v = kt_entries(kt, &n);
	*out = xcalloc(n + 1, sizeof **out);
	for (i = 0; i < n; i++) {
		(*out)[i].id = xstrdup(v[i]->id);
		(*out)[i].phase = v[i]->phase;
		(*out)[i].wave = v[i]->wave;
	}
	*nout = n;
	free(v);
	return (0);
}

/*
 * Before these are applied, the inventory says they may be live, so an
 * agent that dies while applying leaves nothing it does not account for.
 */
static int
kt_prepare(struct target *t, struct resource *const *v, size_t n,
    char **cause)
{
	struct kube_target	*kt = t->arg;
	size_t			 i;
	int			 grew = 0;

	if (kt_load(t, cause) == -1)
		return (-1);
	for (i = 0; i < n; i++) {
		if (kt_entry_get(kt, v[i]->id) == NULL) {
			kt_entry_add(kt, v[i]->id, v[i]->phase, v[i]->wave);
			grew = 1;
		}
	}
	return (grew ? kt_inventory_save(t, cause) : 0);
}

/* The kind of an identity, by its group in the preferred version. */
static int
kt_id_kind(struct kube_target *kt, const char *id, const struct kube_kind
    **kind, char **ns, char **name, char **cause)
{
	char	*group, *kname, *err = NULL;
	int	 rc;

	if (kt_id_split(id, &group, &kname, ns, name) == -1) {
		xasprintf(cause, "malformed identity '%s'", id);
		return (-1);
	}
	rc = kube_kind_by_group(kt->k, group, kname, kind, &err);
	if (rc == -1) {
		xasprintf(cause, "%s: %s", id, err);
		free(err);
	}
	free(group);
	free(kname);
	if (rc != 0) {
		free(*ns);
		free(*name);
		*ns = *name = NULL;
	}
	return (rc);
}

static int
kt_get(struct target *t, const char *id, struct json **live, char **cause)
{
	struct kube_target	*kt = t->arg;
	const struct kube_kind	*kind;
	char			*ns, *name, *err = NULL;
	int			 rc;

	if ((rc = kt_id_kind(kt, id, &kind, &ns, &name, cause)) != 0)
		return (rc == 1 ? 0 : -1);	/* not served: nothing live */
	rc = kube_get(kt->k, kind, ns, name, live, &err);
	if (rc == -1) {
		xasprintf(cause, "%s: %s", id, err);
		free(err);
	}
	free(ns);
	free(name);
	return (rc);
}

/*
 * The error of a refused apply; an immutable field says how to opt in to
 * recreating the resource.
 */
static char *
kt_apply_error(const struct resource *r, enum kube_why why, const char *err)
{
	char	*s, *cause;

	if (why != KUBE_WHY_IMMUTABLE)
		return (kt_error(r, err));
	xasprintf(&s, "%s (annotate it %s: Replace=true to delete and create "
	    "it)", err, KT_ANN_OPTIONS);
	cause = kt_error(r, s);
	free(s);
	return (cause);
}

/*
 * Adoption of what a client-side `kubectl apply` left, as Flux does
 * (kubernetes #99003): the last-applied-configuration annotation, and the
 * managedFields of the client-side managers, whose fields would otherwise
 * never be removed by a server-side apply that drops them.
 */
static const char *const kt_csa_managers[] = {
	"kubectl-client-side-apply", "before-first-apply",
};

static int
kt_csa_entry(const struct json *m)
{
	const char	*mgr = json_path_string(m, "manager", NULL);
	const char	*op = json_path_string(m, "operation", NULL);
	size_t		 i;

	if (mgr == NULL || op == NULL || strcmp(op, "Update") != 0 ||
	    json_get(m, "subresource") != NULL)
		return (0);
	for (i = 0; i < sizeof kt_csa_managers / sizeof kt_csa_managers[0];
	    i++)
		if (strcmp(mgr, kt_csa_managers[i]) == 0)
			return (1);
	return (0);
}

/* Live still carries a client-side apply's leftovers. */
static int
kt_needs_adopt(const struct json *live)
{
	const struct json	*m;

	if (json_path(live, "metadata", "annotations", KT_ANN_LAST_APPLIED,
	    NULL) != NULL)
		return (1);
	for (m = json_child(json_path(live, "metadata", "managedFields",
	    NULL)); m != NULL; m = json_next(m))
		if (kt_csa_entry(m))
			return (1);
	return (0);
}

/* Every field set b holds, added to a (fieldsV1 objects). */
static void
kt_fields_union(struct json *a, const struct json *b)
{
	const struct json	*c;
	struct json		*have;

	for (c = json_child(b); c != NULL; c = json_next(c)) {
		have = json_get(a, json_key(c));
		if (have != NULL && json_type(have) == JSON_OBJECT &&
		    json_type(c) == JSON_OBJECT)
			kt_fields_union(have, c);
		else if (have == NULL)
			json_set(a, json_key(c), json_dup(c));
	}
}

/*
 * The JSON patch that adopts live: at its resourceVersion, without the
 * annotation, the client-side managers' fields given to mgr (an Apply
 * entry, merged with the one mgr may have for that apiVersion).
 */
static struct json *
kt_adopt_patch(const struct json *live, const char *mgr)
{
	const struct json	*m;
	struct json		*ops, *op, *list, *mine, *e;
	const char		*rv, *av, *eav;
	size_t			 i;

	ops = json_new_array();
	if ((rv = json_path_string(live, "metadata", "resourceVersion",
	    NULL)) != NULL) {
		op = json_new_object();
		json_set(op, "op", json_new_string("test"));
		json_set(op, "path", json_new_string("/metadata/resourceVersion"));
		json_set(op, "value", json_new_string(rv));
		json_array_append(ops, op);
	}
	if (json_path(live, "metadata", "annotations", KT_ANN_LAST_APPLIED,
	    NULL) != NULL) {
		op = json_new_object();
		json_set(op, "op", json_new_string("remove"));
		json_set(op, "path", json_new_string("/metadata/annotations/"
		    "kubectl.kubernetes.io~1last-applied-configuration"));
		json_array_append(ops, op);
	}
	list = json_new_array();
	for (m = json_child(json_path(live, "metadata", "managedFields",
	    NULL)); m != NULL; m = json_next(m))
		if (!kt_csa_entry(m))
			json_array_append(list, json_dup(m));
	for (m = json_child(json_path(live, "metadata", "managedFields",
	    NULL)); m != NULL; m = json_next(m)) {
		if (!kt_csa_entry(m))
			continue;
		av = json_path_string(m, "apiVersion", NULL);
		mine = NULL;
		for (i = 0; i < json_count(list); i++) {
			e = json_array_get(list, i);
			eav = json_path_string(e, "apiVersion", NULL);
			if (strcmp(json_path_string(e, "manager", NULL) != NULL ?
			    json_path_string(e, "manager", NULL) : "", mgr) ==
			    0 && json_path_string(e, "operation", NULL) !=
			    NULL && strcmp(json_path_string(e, "operation",
			    NULL), "Apply") == 0 && av != NULL && eav != NULL &&
			    strcmp(av, eav) == 0 &&
			    json_get(e, "subresource") == NULL)
				mine = e;
		}
		if (mine == NULL) {
			mine = json_dup(m);
			json_set(mine, "manager", json_new_string(mgr));
			json_set(mine, "operation", json_new_string("Apply"));
			json_array_append(list, mine);
		} else if (json_get(m, "fieldsV1") != NULL) {
			if (json_get(mine, "fieldsV1") == NULL)
				json_set(mine, "fieldsV1", json_new_object());
			kt_fields_union(json_get(mine, "fieldsV1"),
			    json_get(m, "fieldsV1"));
		}
	}
	op = json_new_object();
	json_set(op, "op", json_new_string("replace"));
	json_set(op, "path", json_new_string("/metadata/managedFields"));
	json_set(op, "value", list);
	json_array_append(ops, op);
	return (ops);
}

/*
 * Adopt live before the first server-side apply to it; a change since it
 * was read fails the patch's test, and the sync, to be redone.
 */
static int
kt_adopt(struct kube_target *kt, const struct kube_kind *kind,
    const struct resource *r, const struct json *live, char **cause)
{
	struct json	*ops;
	char		*err = NULL, *s;
	int		 rc;

	ops = kt_adopt_patch(live, kt->manager);
	rc = kube_json_patch(kt->k, kind,
	    json_path_string(live, "metadata", "namespace", NULL),
	    json_path_string(live, "metadata", "name", NULL), ops,
	    kt->manager, NULL, NULL, &err);
	json_free(ops);
	if (rc == -1) {
		xasprintf(&s, "taking over what kubectl apply left: %s", err);
		*cause = kt_error(r, s);
		free(s);
		free(err);
		return (-1);
	}
	log_event(LOG_LEVEL_INFO, "adopted", "resource", r->id, "from",
	    "kubectl client-side apply", NULL);
	return (0);
}

/*
 * A lost inventory rebuilt: live carries this set's part-of label, an
 * identity annotation naming r, and one of our managers, so r becomes a
 * member again (and is pruned when it leaves Git).
 */
static void
kt_entry_rebuild(struct kube_target *kt, const struct resource *r,
    const struct json *live)
{
	const char	*s;

	s = json_path_string(live, "metadata", "labels", KT_LABEL_PART_OF,
	    NULL);
	if (!kt->loaded || s == NULL || strcmp(s, kt->set_id) != 0)
		return;
	s = json_path_string(live, "metadata", "annotations", KT_ANN_IDENTITY,
	    NULL);
	if (s == NULL || strcmp(s, r->id) != 0 || !kt_managed(kt, live))
		return;
	pthread_mutex_lock(&kt->mu);
	if (kt_entry_get(kt, r->id) == NULL) {
		kt_entry_add(kt, r->id, r->phase, r->wave);
		log_event(LOG_LEVEL_INFO, "inventory member found again",
		    "resource", r->id, NULL);
	}
	pthread_mutex_unlock(&kt->mu);
}

/*
 * A creation asked of the server too (a dry-run), so that a wave is not
 * applied before a later one fails; a namespace this render makes may be
 * missing until its wave.
 */
static void
kt_compare_create(struct kube_target *kt, const struct kube_kind *kind,
    struct kt_cmp *c)
{
	struct json	*result = NULL;
	enum kube_why	 why;
	const char	*ns;
	char		*err = NULL;

	c->action = DIFF_CREATE;
	if (kube_apply(kt->k, kind, c->send, kt->manager, KUBE_DRY_RUN |
	    (kt->force ? KUBE_FORCE : 0), &result, &why, &err) == 0) {
		json_free(result);
		return;
	}
	ns = json_path_string(c->send, "metadata", "namespace", NULL);
	if (why != KUBE_WHY_NOT_FOUND || !kind->namespaced || ns == NULL ||
	    kt->render_ns == NULL || strmap_get(kt->render_ns, ns) == NULL)
		c->error = kt_apply_error(c->r, why, err);
	free(err);
}

/*
 * What any comparison of c needs first: its kind, what an apply sends
 * and its digest. -1 (and c->error, c done) when it cannot be compared.
 */
static int
kt_compare_prepare(struct kube_target *kt, struct target *t,
    struct kt_cmp *c)
{
	const struct kube_kind	*kind = NULL;
	int			 rc;

	if (c->prepared)
		return (c->error != NULL ? -1 : 0);
	c->prepared = 1;
	if ((rc = kt_kind(kt, c->r, &kind, &c->error)) == -1) {
		c->done = 1;
		return (-1);
	}
	c->kind = rc == 0 ? kind : NULL;
	c->send = kt_send(kt, t, c->r, c->kind);
	kt_digest(kt, c->send, c->digest);
	return (0);
}

/*
 * Nothing moved since our last apply of this very object: live is at the
 * resourceVersion that apply answered, and desired has the digest of what
 * it sent. *known says whether the inventory holds the object.
 */
static int
kt_entry_same(struct kube_target *kt, const char *id, const char *rv,
    const char *digest, int *known)
{
	struct kt_entry	*e;
	int		 same;

	pthread_mutex_lock(&kt->mu);
	e = kt_entry_get(kt, id);
	*known = e != NULL;
	same = e != NULL && e->rv != NULL && e->digest != NULL &&
	    rv != NULL && strcmp(e->rv, rv) == 0 &&
	    strcmp(e->digest, digest) == 0;
	pthread_mutex_unlock(&kt->mu);
	return (same);
}

/*
 * The fields of live only other managers hold (a label someone added, a
 * replica count an autoscaler sets): drift that is not ours, which an
 * apply leaves alone. Kept for a drift check's report.
 */
static void
kt_others(struct kube_target *kt, struct kt_cmp *c, const struct json *live)
{
	strv_free(&c->others);
	strv_free(&c->others_by);
	c->nothers = drift_foreign_fields(live, kt->manager, DRIFT_FIELDS_MAX,
	    &c->others, &c->others_by);
}

/* c is unchanged, as live shows it: keep its health, drop the rest. */
static void
kt_compare_unchanged(struct kube_target *kt, struct kt_cmp *c,
    const struct json *live)
{
	c->action = DIFF_UNCHANGED;
	c->health.h = kt_live_health(kt, c->r, live, &c->health.why);
	c->have_health = 1;
	c->done = 1;
	kt_others(kt, c, live);
	kt_cmp_trim(c);
}

/*
 * On a LIST thread: c's object as the LIST of kind lk shows it (the
 * page's, freed after). Decided here when the shortcut holds; otherwise
 * kept for a dry-run, when listed at c's own version (another version
 * is read again by a GET at its own).
 */
static void
kt_compare_known(struct kube_target *kt, struct target *t, struct kt_cmp *c,
    const struct json *live, const struct kube_kind *lk)
{
	int	known;

	if (kt_compare_prepare(kt, t, c) == -1 || c->kind == NULL)
		return;
	if (kt_entry_same(kt, c->r->id, json_path_string(live, "metadata",
	    "resourceVersion", NULL), c->digest, &known)) {
		kt_compare_unchanged(kt, c, live);
		return;
	}
	if (lk == c->kind)
		c->live = json_dup(live);
}

/* Compare one resource the LISTs left undecided, on warm's threads. */
static void
kt_compare_one(struct kube_target *kt, struct target *t, struct kt_cmp *c)
{
	const struct resource	*r = c->r;
	struct json		*result = NULL, *a, *b;
	const char		*other;
	enum kube_why		 why;
	char			*err = NULL;
	int			 known;

	if (kt_compare_prepare(kt, t, c) == -1)
		return;
	c->done = 1;
	if (c->kind == NULL) {
		c->action = DIFF_CREATE;	/* its CRD comes first */
		return;
	}
	if (c->live == NULL && !c->absent && kube_get(kt->k, c->kind,
	    json_path_string(c->send, "metadata", "namespace", NULL),
	    r->name, &c->live, &err) == -1) {
		c->error = kt_error(r, err);
		free(err);
		return;
	}
	if (c->live == NULL) {
		kt_compare_create(kt, c->kind, c);
		return;
	}
	other = json_path_string(c->live, "metadata", "labels",
	    KT_LABEL_PART_OF, NULL);
	if (other != NULL && strcmp(other, kt->set_id) != 0) {
		xasprintf(&err, "it exists and belongs to another ApplySet "
		    "(%s=%s): not taken over", KT_LABEL_PART_OF, other);
		c->error = kt_error(r, err);
		free(err);
		return;
	}
	kt_entry_rebuild(kt, r, c->live);
	if (kt_entry_same(kt, r->id, json_path_string(c->live, "metadata",
	    "resourceVersion", NULL), c->digest, &known)) {
		kt_compare_unchanged(kt, c, c->live);
		return;
	}
	if (kt_needs_adopt(c->live)) {
		c->action = DIFF_UPDATE;	/* adopted at its apply */
		return;
	}
	if (kube_apply(kt->k, c->kind, c->send, kt->manager, KUBE_DRY_RUN |
	    (kt->force ? KUBE_FORCE : 0), &result, &why, &err) == -1) {
		if (why == KUBE_WHY_IMMUTABLE &&
		    kt_sync_option(r->obj, "Replace=true"))
			c->action = DIFF_UPDATE;	/* recreated */
		else
			c->error = kt_apply_error(r, why, err);
		free(err);
		kt_cmp_trim(c);
		return;
	}
	a = kt_comparable(result);
	b = kt_comparable(c->live);
	c->action = json_equal(a, b) ? DIFF_UNCHANGED : DIFF_UPDATE;
	json_free(a);
	json_free(b);
	if (c->action == DIFF_UPDATE) {
		c->merged = result;	/* for the diff text */
		return;
	}
	json_free(result);
	/* Unchanged at this resourceVersion: no dry-run next time. */
	if (known)
		kt_entry_seen(kt, r, c->live, c->digest);
	kt_compare_unchanged(kt, c, c->live);
}

struct kt_job {
	struct target	 *t;
	struct kt_cmp	**cmps;
	struct kt_list	 *lists;
};

static void
kt_compare_job(void *arg, size_t i)
{
	struct kt_job	*j = arg;

	kt_compare_one(j->t->arg, j->t, j->cmps[i]);
}

/* One object of a LIST page: the record it is, claimed by one thread. */
static void
kt_list_item_cb(void *arg, struct json *it)
{
	struct kt_list		*l = arg;
	struct kube_target	*kt = l->t->arg;
	struct kt_cmp		*c;
	const char		*ns, *name;
	char			*id;

	ns = json_path_string(it, "metadata", "namespace", NULL);
	name = json_path_string(it, "metadata", "name", NULL);
	if (name == NULL)
		return;
	id = resource_id_make(l->kind->group, l->kind->kind, ns != NULL ?
	    ns : "", name);
	c = strmap_get(kt->cmp, id);
	free(id);
	if (c == NULL || __atomic_exchange_n(&c->claimed, 1,
	    __ATOMIC_ACQ_REL) != 0)
		return;
	kt_compare_known(kt, l->t, c, it, l->kind);
}

static void
kt_list_job(void *arg, size_t i)
{
	struct kt_job		*j = arg;
	struct kube_target	*kt = j->t->arg;
	struct kt_list		*l = &j->lists[i];
	char			*err = NULL;

	l->ok = 0;
	if (!l->run)
		return;
	if (kube_list_each(kt->k, l->kind, l->ns, l->sel, kt_list_item_cb,
	    l, &err) == -1) {
		/* Then the rest is read by itself: never "nothing is live". */
		log_event(LOG_LEVEL_DEBUG, "list failed", "app", j->t->app,
		    "kind", l->kind->kind, "namespace", l->ns, "error", err,
		    NULL);
		free(err);
		return;
	}
	l->ok = 1;
}

/*
 * Compare every desired resource at once: one LIST per resource and
 * namespace (whatever the versions of the render) finds what is live and
 * ours, a page at a time, and decides on its thread each object whose
 * shortcut holds; the rest are compared on KT_PARALLEL threads.
 */
static void
kt_warm(struct target *t, struct resource *const *v, size_t n)
{
	struct kube_target	*kt = t->arg;
	struct kt_job		 job;
	struct kt_cmp		*c, **cmps;
	struct kt_list		*lists, *l;
	const struct kube_kind	*kind;
	struct strmap		*groups;
	const struct resource	*r;
	const char		*group, *ckind, *ns;
	char			*key, *gk, *sel, *err = NULL;
	size_t			 i, nlists = 0, ncmps = 0, nleft, *lidx;

	if (kt->cmp == NULL)
		kt->cmp = strmap_new(n + 1);
	if (kt->crd_kinds == NULL)
		kt->crd_kinds = strmap_new(8);
	if (kt->render_ns == NULL)
		kt->render_ns = strmap_new(8);
	for (i = 0; i < n; i++) {
		if (strcmp(v[i]->kind, "Namespace") == 0 &&
		    *v[i]->group == '\0')
			strmap_put(kt->render_ns, v[i]->name, kt);
	}
	for (i = 0; i < n; i++) {
		if (strcmp(v[i]->kind, "CustomResourceDefinition") != 0 ||
		    strcmp(v[i]->group, "apiextensions.k8s.io") != 0)
			continue;
		group = json_path_string(v[i]->obj, "spec", "group", NULL);
		ckind = json_path_string(v[i]->obj, "spec", "names", "kind",
		    NULL);
		if (group == NULL || ckind == NULL)
			continue;
		xasprintf(&gk, "%s.%s", ckind, group);
		strmap_put(kt->crd_kinds, gk, kt);
		free(gk);
	}
	(void)kt_load(t, &err);	/* its error comes again from inventory */
	free(err);
	err = NULL;

	/* The records first: the LIST threads only look them up. */
	cmps = xcalloc(n + 1, sizeof *cmps);
	for (i = 0; i < n; i++) {
		if (v[i]->skip || strmap_get(kt->cmp, v[i]->id) != NULL)
			continue;
		c = xcalloc(1, sizeof *c);
		c->r = v[i];
		strmap_put(kt->cmp, v[i]->id, c);
		cmps[ncmps++] = c;
	}

	/* One LIST per resource and namespace of the render. */
	xasprintf(&sel, "%s=%s", KT_LABEL_PART_OF, kt->set_id);
	groups = strmap_new(16);
	lists = xcalloc(ncmps + 1, sizeof *lists);
	lidx = xcalloc(ncmps + 1, sizeof *lidx);
	for (i = 0; i < ncmps; i++) {
		lidx[i] = SIZE_MAX;
		r = cmps[i]->r;
		if (kube_kind_lookup(kt->k, r->api_version, r->kind, &kind,
		    &err) != 0) {
			free(err);
			err = NULL;
			continue;
		}
		ns = !kind->namespaced ? "" : *r->namespace != '\0' ?
		    r->namespace : t->namespace;
		xasprintf(&key, "%s/%s/%s", kind->group, kind->resource, ns);
		if ((l = strmap_get(groups, key)) == NULL) {
			lists[nlists].t = t;
			lists[nlists].kind = kind;
			lists[nlists].ns = xstrdup(ns);
			lists[nlists].sel = sel;
			lists[nlists].run = 1;
			l = &lists[nlists++];
			strmap_put(groups, key, l);
		}
		lidx[i] = (size_t)(l - lists);
		free(key);
	}
	memset(&job, 0, sizeof job);
	job.t = t;
	job.lists = lists;
	kube_parallel(nlists, KT_LIST_PARALLEL, kt_list_job, &job);

	/*
	 * Many desired objects not in the labelled LIST (a first apply):
	 * one LIST of every object of that resource and namespace tells
	 * which exist (unlabelled, or another's) and which do not, rather
	 * than a GET each. Only a LIST read to its end says "absent".
	 */
	for (i = 0; i < ncmps; i++) {
		if (lidx[i] != SIZE_MAX && !cmps[i]->claimed)
			lists[lidx[i]].missing++;
	}
	for (i = 0; i < nlists; i++) {
		lists[i].sel = NULL;
		lists[i].run = lists[i].ok &&
		    lists[i].missing >= KT_LIST_ALL_MIN;
	}
	kube_parallel(nlists, KT_LIST_PARALLEL, kt_list_job, &job);
	for (i = 0; i < ncmps; i++) {
		if (lidx[i] != SIZE_MAX && !cmps[i]->claimed &&
		    lists[lidx[i]].ok)
			cmps[i]->absent = 1;
	}

	/* What the LISTs left undecided. */
	job.cmps = xcalloc(ncmps + 1, sizeof *job.cmps);
	for (i = 0, nleft = 0; i < ncmps; i++) {
		if (!cmps[i]->done)
			job.cmps[nleft++] = cmps[i];
		/* A later warm's LISTs claim only their own records. */
		cmps[i]->claimed = 1;
	}
	kube_parallel(nleft, KT_PARALLEL, kt_compare_job, &job);
	for (i = 0; i < nlists; i++)
		free(lists[i].ns);
	free(lists);
	free(lidx);
	free(sel);
	free(job.cmps);
	free(cmps);
	strmap_free(groups);
}

static int
kt_compare(struct target *t, const struct resource *r,
    enum diff_action *action, struct json **live, char **cause)
{
	struct kube_target	*kt = t->arg;
	struct kt_cmp		*c;

	if ((c = strmap_get(kt->cmp, r->id)) == NULL || c->r != r) {
		kt_warm(t, (struct resource *const *)&r, 1);
		c = strmap_get(kt->cmp, r->id);
	}
	if (c == NULL) {
		xasprintf(cause, "%s: not compared", r->id);
		return (-1);
	}
	if (c->error != NULL) {
		*cause = xstrdup(c->error);
		return (-1);
	}
	*action = c->action;
	if (live != NULL && c->action == DIFF_UPDATE && c->live != NULL)
		*live = json_dup(c->live);
	return (0);
}

/*
 * The fields of r that drifted: ours where live differs from the
 * dry-run's answer (what our apply would set back), others' from live's
 * managedFields.
 */
static struct json *
kt_drift(struct target *t, const struct resource *r, const struct json *live)
{
	struct kube_target	*kt = t->arg;
	struct kt_cmp		*c;
	struct json		*a = NULL, *b = NULL, *rep;
	struct strv		 ours;
	size_t			 n = 0;

	c = strmap_get(kt->cmp, r->id);
	if (c == NULL || c->r != r)
		return (NULL);
	memset(&ours, 0, sizeof ours);
	if (c->action == DIFF_UPDATE && c->live != NULL) {
		if (c->merged != NULL) {
			a = kt_comparable(c->merged);
			b = kt_comparable(c->live);
		} else
			diff_views(r->obj, live != NULL ? live : c->live,
			    DIFF_PROJECT, &a, &b);
		n = drift_fields(a, b, DRIFT_FIELDS_MAX, &ours);
		kt_others(kt, c, c->live);
	}
	rep = drift_report(&ours, n, &c->others, c->nothers, &c->others_by);
	strv_free(&ours);
	json_free(a);
	json_free(b);
	return (rep);
}

/*
 * What kubectl diff --server-side shows: live against the dry-run's
 * answer, or, for a creation, nothing against what is sent. A change
 * found without a dry-run (an adoption, a replacement) shows desired
 * against live as the directory target does.
 */
static char *
kt_diff_text(struct target *t, const struct resource *r,
    const struct json *live)
{
	struct kube_target	*kt = t->arg;
	struct kt_cmp		*c;
	struct json		*adopted;
	const struct json	*m;
	char			*text;

	c = strmap_get(kt->cmp, r->id);
	if (c != NULL && c->r == r && c->merged != NULL)
		return (diff_merged_text(r->id, c->live, c->merged));
	if (c != NULL && c->r == r && c->action == DIFF_CREATE &&
	    c->send != NULL)
		return (diff_merged_text(r->id, NULL, c->send));
	if ((text = diff_resource_text_mode(r, live, DIFF_PROJECT)) != NULL ||
	    c == NULL || c->r != r || c->live == NULL ||
	    !kt_needs_adopt(c->live))
		return (text);
	/*
	 * Only the adoption changes it: kubectl's annotation goes, and our
	 * label and annotations come.
	 */
	adopted = json_dup(c->live);
	json_remove(json_path(adopted, "metadata", "annotations", NULL),
	    KT_ANN_LAST_APPLIED);
	for (m = json_child(json_path(c->send, "metadata", "labels", NULL));
	    m != NULL; m = json_next(m))
		json_set(kt_member(kt_member(adopted, "metadata"), "labels"),
		    json_key(m), json_dup(m));
	for (m = json_child(json_path(c->send, "metadata", "annotations",
	    NULL)); m != NULL; m = json_next(m))
		json_set(kt_member(kt_member(adopted, "metadata"),
		    "annotations"), json_key(m), json_dup(m));
	text = diff_merged_text(r->id, c->live, adopted);
	json_free(adopted);
	return (text);
}

/* Wait, within the request timeout, until a CRD is Established. */
static int
kt_wait_established(struct kube_target *kt, const struct resource *r,
    char **cause)
{
	const struct kube_kind	*kind;
	struct json		*live = NULL, *c;
	const char		*type, *status;
	char			*err = NULL;
	uint64_t		 deadline, delay = 10;
	int			 ok = 0;

	if (kube_kind_lookup(kt->k, r->api_version, r->kind, &kind,
	    &err) != 0) {
		*cause = kt_error(r, err != NULL ? err : "not served");
		free(err);
		return (-1);
	}
	deadline = time_monotonic_ms() + kt->timeout_ms;
	for (;;) {
		if (kube_get(kt->k, kind, NULL, r->name, &live, &err) == -1) {
			*cause = kt_error(r, err);
			free(err);
			return (-1);
		}
		for (c = json_child(json_path(live, "status", "conditions",
		    NULL)); c != NULL; c = json_next(c)) {
			type = json_path_string(c, "type", NULL);
			status = json_path_string(c, "status", NULL);
			if (type != NULL && status != NULL &&
			    strcmp(type, "Established") == 0 &&
			    strcmp(status, "True") == 0)
				ok = 1;
		}
		json_free(live);
		live = NULL;
		if (ok)
			return (0);
		if (time_monotonic_ms() >= deadline)
			break;
		time_sleep_ms(delay);
		delay = delay * 2 > 500 ? 500 : delay * 2;
	}
	*cause = kt_error(r, "the CustomResourceDefinition was not "
	    "Established in time");
	return (-1);
}

/* Wait, within the request timeout, until an object is gone. */
static int
kt_wait_gone(struct kube_target *kt, const struct kube_kind *kind,
    const char *ns, const char *name, char **cause)
{
	struct json	*live = NULL;
	uint64_t	 deadline, delay = 10;

	deadline = time_monotonic_ms() + kt->timeout_ms;
	for (;;) {
		if (kube_get(kt->k, kind, ns, name, &live, cause) == -1)
			return (-1);
		if (live == NULL)
			return (0);
		json_free(live);
		live = NULL;
		if (time_monotonic_ms() >= deadline)
			break;
		time_sleep_ms(delay);
		delay = delay * 2 > 500 ? 500 : delay * 2;
	}
	*cause = xstrdup("it was deleted to be replaced, and is still there");
	return (-1);
}

/*
 * An immutable field changed and the resource opts in to Replace=true:
 * delete the live object (only that one, by uid), wait until it is
 * gone, and apply again. Both halves are dry-run first (the DELETE, and
 * the object as a new one: validation and admission of a create), so a
 * replacement the server would refuse deletes nothing.
 */
static int
kt_replace(struct kube_target *kt, const struct kube_kind *kind,
    const struct json *send, struct json **result, char **cause)
{
	struct json	*live = NULL;
	const char	*ns, *name, *uid;
	char		*err = NULL;
	int		 rc = -1;

	ns = json_path_string(send, "metadata", "namespace", NULL);
	name = json_path_string(send, "metadata", "name", NULL);
	if (kube_get(kt->k, kind, ns, name, &live, cause) == -1)
		return (-1);
	if (live != NULL) {
		uid = json_path_string(live, "metadata", "uid", NULL);
		if (kube_delete(kt->k, kind, ns, name, uid, KUBE_DRY_RUN, NULL,
		    &err) == -1) {
			xasprintf(cause, "not replaced: a dry-run of its "
			    "delete failed: %s", err);
			goto out;
		}
		if (kube_create_dry_run(kt->k, kind, send, kt->manager, NULL,
		    &err) == -1) {
			xasprintf(cause, "not replaced: the server would not "
			    "create it again (a dry-run): %s", err);
			goto out;
		}
		if (kube_delete(kt->k, kind, ns, name, uid, 0, NULL,
		    cause) == -1)
			goto out;
	}
	if (kt_wait_gone(kt, kind, ns, name, cause) == -1)
		goto out;
	rc = kube_apply(kt->k, kind, send, kt->manager, kt->force ?
	    KUBE_FORCE : 0, result, NULL, cause);
out:
	free(err);
	json_free(live);
	return (rc);
}

/*
 * Apply one resource now; the health of what it answered is kept (not
 * the object: a first apply of 10,000 would hold them all).
 */
static int
kt_apply_now(struct target *t, const struct resource *r, char **cause)
{
	struct kube_target	*kt = t->arg;
	const struct kube_kind	*kind;
	struct kt_cmp		*c;
	struct json		*send = NULL, *result = NULL;
	struct kt_verdict	*v;
	enum kube_why		 why = KUBE_WHY_OTHER;
	char			*err = NULL, digest[65];
	int			 rc = -1;

	if (kt_kind(kt, r, &kind, cause) != 0) {
		/* Its CRD is applied by now: ask discovery again. */
		kube_discovery_invalidate(kt->k);
		free(*cause);
		*cause = NULL;
		if (kt_kind(kt, r, &kind, cause) != 0) {
			if (*cause == NULL)
				*cause = kt_error(r, "not served");
			return (-1);
		}
	}
	c = strmap_get(kt->cmp, r->id);
	if (c != NULL && c->send != NULL && c->r == r) {
		send = c->send;		/* applied once: taken */
		c->send = NULL;
		memcpy(digest, c->digest, sizeof digest);
	} else {
		send = kt_send(kt, t, r, kind);
		kt_digest(kt, send, digest);
	}
	if (c != NULL && c->r == r && c->live != NULL &&
	    kt_needs_adopt(c->live) &&
	    kt_adopt(kt, kind, r, c->live, cause) == -1)
		goto out;
	if (kube_apply(kt->k, kind, send, kt->manager, kt->force ?
	    KUBE_FORCE : 0, &result, &why, &err) == -1) {
		if (why != KUBE_WHY_IMMUTABLE ||
		    !kt_sync_option(r->obj, "Replace=true")) {
			*cause = kt_apply_error(r, why, err);
			free(err);
			err = NULL;
			goto out;
		}
		free(err);
		err = NULL;
		if (kt_replace(kt, kind, send, &result, &err) == -1) {
			*cause = kt_error(r, err);
			goto out;
		}
	}
	kt_entry_seen(kt, r, result, digest);
	v = xmalloc(sizeof *v);
	v->h = kt_live_health(kt, r, result, &v->why);
	pthread_mutex_lock(&kt->mu);
	kt_verdict_free_cb(strmap_put(kt->fresh, r->id, v));
	pthread_mutex_unlock(&kt->mu);
	if (c != NULL && c->r == r) {
		/* Read by compare, adopted, shown in the diff: done. */
		json_free(c->live);
		json_free(c->merged);
		c->live = c->merged = NULL;
		/*
		 * What the comparison saw live is not what was applied: a
		 * hook Job created again (BeforeHookCreation) compared
		 * unchanged with the one it replaced, whose Complete would
		 * pass the new one before it ran.
		 */
		pthread_mutex_lock(&kt->mu);
		if (c->have_health) {
			free(c->health.why);
			c->health.why = NULL;
			c->have_health = 0;
		}
		pthread_mutex_unlock(&kt->mu);
	}
	rc = 0;
out:
	free(err);
	json_free(send);
	json_free(result);
	return (rc);
}

static int
kt_apply(struct target *t, const struct resource *r, char **cause)
{
	struct kube_target	*kt = t->arg;

	if (!kt->batching)
		return (kt_apply_now(t, r, cause));
	if (kt->nstaged == kt->capstaged) {
		kt->capstaged = kt->capstaged == 0 ? 16 : kt->capstaged * 2;
		kt->staged = xreallocarray(kt->staged, kt->capstaged,
		    sizeof *kt->staged);
	}
	kt->staged[kt->nstaged++] = (struct resource *)r;
	return (0);
}

static void
kt_begin(struct target *t)
{
	struct kube_target	*kt = t->arg;

	kt->batching = 1;
	kt->nstaged = 0;
	strmap_free(kt->unapplied);
	kt->unapplied = strmap_new(8);
}

/* The staged applies that did not take effect (errors NULL: none did). */
static void
kt_unapplied(struct kube_target *kt, struct resource **v, size_t n,
    char **errors)
{
	size_t	i;

	for (i = 0; i < n && kt->unapplied != NULL; i++)
		if (errors == NULL || errors[i] != NULL)
			strmap_put(kt->unapplied, v[i]->id, kt);
}

static int
kt_committed(struct target *t, const char *id)
{
	struct kube_target	*kt = t->arg;

	return (kt->unapplied == NULL || strmap_get(kt->unapplied, id) == NULL);
}

struct kt_apply_job {
	struct target		 *t;
	struct resource		**v;
	char			**errors;
};

static void
kt_apply_job(void *arg, size_t i)
{
	struct kt_apply_job	*j = arg;

	(void)kt_apply_now(j->t, j->v[i], &j->errors[i]);
}

/*
 * Kinds applied ahead of the rest of their wave, as Flux stages them:
 * Namespaces, CRDs, and cluster-scoped roles and their bindings.
 */
static int
kt_first_stage(const struct resource *r)
{
	static const char *const first[] = { "Namespace/",
	    "CustomResourceDefinition.apiextensions.k8s.io/",
	    "ClusterRole.rbac.authorization.k8s.io/",
	    "ClusterRoleBinding.rbac.authorization.k8s.io/" };
	size_t	i;

	for (i = 0; i < sizeof first / sizeof first[0]; i++)
		if (strncmp(r->id, first[i], strlen(first[i])) == 0)
			return (1);
	return (0);
}

/*
 * Apply what the wave staged, on KT_PARALLEL threads: Namespaces and
 * CRDs first (the CRDs waited to Established and discovery refreshed),
 * then the rest. Every apply that succeeded is in the inventory; *id
 * names the first in plan order that failed.
 */
static int
kt_commit(struct target *t, char **id, char **cause)
{
	struct kube_target	*kt = t->arg;
	struct kt_apply_job	 job;
	struct resource		**first, **rest;
	size_t			  nfirst = 0, nrest = 0, i;
	int			  crds = 0, rc = 0;

	kt->batching = 0;
	if (kt->nstaged == 0)
		return (0);
	first = xcalloc(kt->nstaged, sizeof *first);
	rest = xcalloc(kt->nstaged, sizeof *rest);
	for (i = 0; i < kt->nstaged; i++) {
		if (kt_first_stage(kt->staged[i]))
			first[nfirst++] = kt->staged[i];
		else
			rest[nrest++] = kt->staged[i];
	}
	memset(&job, 0, sizeof job);
	job.t = t;
	job.errors = xcalloc(kt->nstaged, sizeof *job.errors);
	job.v = first;
	kube_parallel(nfirst, KT_PARALLEL, kt_apply_job, &job);
	kt_unapplied(kt, first, nfirst, job.errors);
	for (i = 0; i < nfirst && rc == 0; i++) {
		if (job.errors[i] != NULL) {
			*id = xstrdup(first[i]->id);
			*cause = job.errors[i];
			job.errors[i] = NULL;
			rc = -1;
		} else if (strcmp(first[i]->kind,
		    "CustomResourceDefinition") == 0) {
			crds = 1;
			if (kt_wait_established(kt, first[i], cause) == -1) {
				*id = xstrdup(first[i]->id);
				rc = -1;
			}
		}
	}
	for (i = 0; i < nfirst; i++)
		free(job.errors[i]);
	if (crds)
		kube_discovery_invalidate(kt->k);
	if (rc != 0)
		kt_unapplied(kt, rest, nrest, NULL);
	else {
		memset(job.errors, 0, kt->nstaged * sizeof *job.errors);
		job.v = rest;
		kube_parallel(nrest, KT_PARALLEL, kt_apply_job, &job);
		kt_unapplied(kt, rest, nrest, job.errors);
		for (i = 0; i < nrest; i++) {
			if (job.errors[i] != NULL && rc == 0) {
				*id = xstrdup(rest[i]->id);
				*cause = job.errors[i];
				job.errors[i] = NULL;
				rc = -1;
			}
			free(job.errors[i]);
		}
	}
	free(job.errors);
	free(first);
	free(rest);
	kt->nstaged = 0;
	return (rc);
}

/*
 * Health of a resource: what the apply of this sync answered, or, for
 * one left unchanged, what its comparison saw live (each used once: a
 * resource not healthy yet is polled), then GETs.
 */
/*
 * The label selector of a workload's pods, from its selector's
 * matchLabels; NULL when that cannot say it (matchExpressions).
 */
static char *
kt_pod_selector(const struct json *live)
{
	const struct json	*ml, *m;
	struct buf		 b;

	ml = json_path(live, "spec", "selector", "matchLabels", NULL);
	if (json_type(ml) != JSON_OBJECT || json_child(ml) == NULL ||
	    json_path(live, "spec", "selector", "matchExpressions",
	    NULL) != NULL)
		return (NULL);
	buf_init(&b);
	for (m = json_child(ml); m != NULL; m = json_next(m)) {
		if (json_string(m) == NULL) {
			buf_free(&b);
			return (NULL);
		}
		buf_printf(&b, "%s%s=%s", b.len != 0 ? "," : "", json_key(m),
		    json_string(m));
	}
	return (buf_release(&b));
}

/*
 * A workload still progressing: a pod of it that waiting will not fix
 * (ImagePullBackOff, CrashLoopBackOff...) makes it Degraded, naming the
 * pod, as its own status only says replicas are not available. One LIST
 * of the pods its selector's matchLabels select; on any failure to ask,
 * the workload's own verdict stands.
 */
static void
kt_pods_health(struct kube_target *kt, const struct json *live,
    enum health_status *h, char **why)
{
	const struct kube_kind	*pods;
	const struct json	*p;
	struct json		*items = NULL;
	char			*sel, *err = NULL, *pw;

	if ((sel = kt_pod_selector(live)) == NULL)
		return;
	if (kube_kind_lookup(kt->k, "v1", "Pod", &pods, &err) == 0 &&
	    kube_list(kt->k, pods, json_path_string(live, "metadata",
	    "namespace", NULL), sel, &items, &err) == 0) {
		for (p = json_child(items); p != NULL; p = json_next(p)) {
			if (health_pod_failing(p, &pw)) {
				*h = HEALTH_DEGRADED;
				free(*why);
				*why = pw;
				break;
			}
		}
	}
	free(err);
	free(sel);
	json_free(items);
}

/*
 * Waiting for health by watches: one per kind and namespace of the
 * resources waited for (the app's part-of label, so only its objects
 * are streamed), and one per progressing workload's pods (its selector),
 * on a thread each. A wait ends when an event for one of them arrives:
 * health is then judged again from what the watch kept, with no GET. A
 * watch the server refuses or breaks falls back to a LIST a pause; a
 * LIST failing too leaves health to GET each object, as before watches.
 * A 410 (the resourceVersion expired) lists again and watches on.
 */
#define KT_WATCH_MAX_MS		(5 * 60 * 1000)	/* a watch with no deadline */
#define KT_POLL_MIN_MS		100
#define KT_POLL_MAX_MS		1000
#define KT_WATCH_PARALLEL	16	/* watches of one wait at once */

static void
kt_seen_free_cb(void *v)
{
	struct kt_seen	*x = v;

	if (x == NULL)
		return;
	json_free(x->obj);
	free(x);
}

static void
kt_watch_free_cb(void *v)
{
	struct kt_watch	*w = v;

	if (w == NULL)
		return;
	kt_map_clear(w->objs, kt_seen_free_cb);
	strmap_free(w->objs);
	strv_free(&w->tracked);
	free(w->ns);
	free(w->sel);
	free(w->rv);
	free(w);
}

static char *
kt_seen_key(const char *ns, const char *name)
{
	char	*key;

	xasprintf(&key, "%s/%s", ns != NULL ? ns : "", name);
	return (key);
}

/* The watch of kind in ns by sel, made when new. */
static struct kt_watch *
kt_watch_get(struct kube_target *kt, const struct kube_kind *kind,
    const char *ns, const char *sel, int pods)
{
	struct kt_watch	*w;
	char		*key;

	xasprintf(&key, "%s/%s/%s/%s", kind->group, kind->resource, ns, sel);
	if ((w = strmap_get(kt->watches, key)) == NULL) {
		w = xcalloc(1, sizeof *w);
		w->kt = kt;
		w->kind = kind;
		w->ns = xstrdup(ns);
		w->sel = xstrdup(sel);
		w->pods = pods;
		w->pause = KT_POLL_MIN_MS;
		w->objs = strmap_new(8);
		strmap_put(kt->watches, key, w);
	}
	free(key);
	return (w);
}

/* Where r's object is kept, and its key there; NULL when not watched. */
static struct kt_watch *
kt_watch_of(struct kube_target *kt, struct target *t,
    const struct resource *r, int make, char **key)
{
	const struct kube_kind	*kind;
	struct kt_watch		*w;
	const char		*ns;
	char			*sel, *err = NULL;

	*key = NULL;
	if (kube_kind_lookup(kt->k, r->api_version, r->kind, &kind,
	    &err) != 0) {
		free(err);
		return (NULL);
	}
	ns = !kind->namespaced ? "" : *r->namespace != '\0' ?
	    r->namespace : t->namespace;
	xasprintf(&sel, "%s=%s", KT_LABEL_PART_OF, kt->set_id);
	if (make)
		w = kt_watch_get(kt, kind, ns, sel, 0);
	else {
		xasprintf(key, "%s/%s/%s/%s", kind->group, kind->resource, ns,
		    sel);
		w = strmap_get(kt->watches, *key);
		free(*key);
	}
	free(sel);
	*key = kt_seen_key(ns, r->name);
	return (w);
}

/* An object's new state (NULL: gone); 1 when the wait is for it. */
static int
kt_watch_saw(struct kt_watch *w, const char *key, const struct json *obj)
{
	struct kt_seen	*x;
	const char	*rv0, *rv1;

	if ((x = strmap_get(w->objs, key)) == NULL) {
		x = xcalloc(1, sizeof *x);
		strmap_put(w->objs, key, x);
	} else {
		/* The same version again (a LIST after a watch): no news. */
		rv0 = json_path_string(x->obj, "metadata", "resourceVersion",
		    NULL);
		rv1 = json_path_string(obj, "metadata", "resourceVersion",
		    NULL);
		if ((x->obj == NULL && obj == NULL) || (rv0 != NULL &&
		    rv1 != NULL && strcmp(rv0, rv1) == 0))
			return (0);
	}
	json_free(x->obj);
	x->obj = obj != NULL ? json_dup(obj) : NULL;
	x->judged = 0;
	return (x->tracked);
}

struct kt_list_seen {
	struct kt_watch	*w;
	struct strmap	*listed;
};

static void
kt_watch_list_cb(void *arg, struct json *it)
{
	struct kt_list_seen	*ls = arg;
	char			*key;

	if (ls->w->pods)
		return;
	key = kt_seen_key(json_path_string(it, "metadata", "namespace", NULL),
	    json_path_string(it, "metadata", "name", NULL));
	strmap_put(ls->listed, key, ls);
	kt_watch_saw(ls->w, key, it);
	free(key);
}

/*
 * LIST what w watches: its objects as they are now, the deleted ones
 * gone, w->rv where to watch from. 0, or -1 (w->rv NULL: the objects
 * kept are not to be trusted).
 */
static int
kt_watch_list(struct kt_watch *w, const char *app)
{
	struct kt_list_seen	 ls;
	const char		*key;
	char			*err = NULL;
	size_t			 cur = 0;
	void			*v;

	free(w->rv);
	w->rv = NULL;
	ls.w = w;
	ls.listed = strmap_new(8);
	if (kube_list_each_rv(w->kt->k, w->kind, w->ns, w->sel,
	    kt_watch_list_cb, &ls, &w->rv, &err) == -1 || w->rv == NULL) {
		log_event(LOG_LEVEL_DEBUG, "list for a watch failed", "app",
		    app, "kind", w->kind->kind, "namespace", w->ns, "error",
		    err != NULL ? err : "no resourceVersion", NULL);
		free(err);
		free(w->rv);
		w->rv = NULL;
		strmap_free(ls.listed);
		return (-1);
	}
	while (strmap_next(w->objs, &cur, &key, &v)) {
		if (strmap_get(ls.listed, key) == NULL)
			kt_watch_saw(w, key, NULL);
	}
	strmap_free(ls.listed);
	return (0);
}

/*
 * One of the resources the wait is for changed and was not judged. None
 * when what w keeps is not to be trusted (health then GETs each, and
 * never marks them judged: a wait that returned at once would spin).
 */
static int
kt_watch_pending(const struct kt_watch *w)
{
	const struct kt_seen	*x;
	size_t			 i;

	if (w->rv == NULL)
		return (0);
	for (i = 0; i < w->tracked.n; i++) {
		x = strmap_get(w->objs, w->tracked.v[i]);
		if (x != NULL && !x->judged)
			return (1);
	}
	return (0);
}

static int
kt_watch_event_cb(void *arg, const struct kube_event *ev)
{
	struct kt_watch	*w = arg;
	char		*key;
	int		 hit;

	if (ev->rv != NULL && *ev->rv != '\0') {
		free(w->rv);
		w->rv = xstrdup(ev->rv);
	}
	if (ev->type == KUBE_EVENT_BOOKMARK)
		return (0);
	if (w->pods)
		hit = 1;
	else {
		key = kt_seen_key(ev->ns, ev->name);
		hit = kt_watch_saw(w, key, ev->type == KUBE_EVENT_DELETED ?
		    NULL : ev->object);
		free(key);
	}
	if (hit)
		__atomic_store_n(&w->kt->changed, 1, __ATOMIC_RELEASE);
	return (hit);
}

static int
kt_watch_over(struct kube_target *kt)
{
	return (__atomic_load_n(&kt->changed, __ATOMIC_ACQUIRE) ||
	    (kt->stop != NULL && __atomic_load_n(kt->stop,
	    __ATOMIC_ACQUIRE)) || (kt->wait_deadline != 0 &&
	    time_monotonic_ms() >= kt->wait_deadline));
}

/* Sleep ms unless the wait is over first. */
static void
kt_watch_sleep(struct kube_target *kt, uint64_t ms)
{
	uint64_t	end = time_monotonic_ms() + ms, now;

	while (!kt_watch_over(kt) && (now = time_monotonic_ms()) < end)
		time_sleep_ms(end - now < STOP_POLL_MS ? end - now :
		    STOP_POLL_MS);
}

struct kt_wait_job {
	struct target	 *t;
	struct kt_watch	**v;
};

/* One watch of a wait, on its own thread, until the wait is over. */
static void
kt_watch_job(void *arg, size_t i)
{
	struct kt_wait_job	*j = arg;
	struct kt_watch		*w = j->v[i];
	struct kube_target	*kt = w->kt;
	struct kube_watch_opts	 o;
	uint64_t		 now;
	char			*err = NULL;
	int			 rc;

	while (!kt_watch_over(kt)) {
		if (w->polling) {
			/* Polling: news is what a LIST a pause finds. */
			kt_watch_sleep(kt, w->pause);
			if (kt_watch_over(kt))
				break;
			w->pause = w->pause * 2 > KT_POLL_MAX_MS ?
			    KT_POLL_MAX_MS : w->pause * 2;
			if (kt_watch_list(w, j->t->app) == -1 || w->pods ||
			    kt_watch_pending(w))
				/* Health asks itself (a GET, a pods LIST). */
				__atomic_store_n(&kt->changed, 1,
				    __ATOMIC_RELEASE);
			continue;
		}
		if (w->rv == NULL) {
			if (kt_watch_list(w, j->t->app) == -1) {
				w->polling = 1;
				continue;
			}
			if (kt_watch_pending(w)) {
				__atomic_store_n(&kt->changed, 1,
				    __ATOMIC_RELEASE);
				break;
			}
		}
		memset(&o, 0, sizeof o);
		o.labels = w->sel;
		o.rv = w->rv;
		o.cancel = &kt->changed;
		now = time_monotonic_ms();
		o.timeout_ms = kt->wait_deadline != 0 ? kt->wait_deadline -
		    now : KT_WATCH_MAX_MS;
		if (o.timeout_ms > KT_WATCH_MAX_MS)
			o.timeout_ms = KT_WATCH_MAX_MS;
		log_event(LOG_LEVEL_DEBUG, "watching", "app", j->t->app,
		    "kind", w->kind->kind, "namespace", w->ns, "selector",
		    w->sel, "from", w->rv, NULL);
		rc = kube_watch(kt->k, w->kind, w->ns, &o, kt_watch_event_cb,
		    w, &err);
		if (rc == KUBE_WATCH_EXPIRED) {
			log_event(LOG_LEVEL_INFO, "watch expired: listing again",
			    "app", j->t->app, "kind", w->kind->kind,
			    "namespace", w->ns, NULL);
			free(w->rv);
			w->rv = NULL;
		} else if (rc == -1) {
			if (kt->stop != NULL && __atomic_load_n(kt->stop,
			    __ATOMIC_ACQUIRE)) {
				free(err);
				break;
			}
			log_event(LOG_LEVEL_WARN, "watch failed: polling with "
			    "LIST instead", "app", j->t->app, "kind",
			    w->kind->kind, "namespace", w->ns, "error", err,
			    NULL);
			free(err);
			err = NULL;
			w->polling = 1;
		}
	}
}

/*
 * Add the watches of what v waits for: its objects' kind and namespace,
 * and the pods of each workload among them.
 */
static void
kt_wait_watches(struct kube_target *kt, struct target *t,
    struct resource *const *v, size_t n)
{
	const struct kube_kind	*pods;
	struct kt_watch		*w, *pw;
	struct kt_seen		*x;
	char			*key, *sel, *err = NULL;
	size_t			 i;

	for (i = 0; i < n; i++) {
		if ((w = kt_watch_of(kt, t, v[i], 1, &key)) == NULL)
			continue;
		w->used = 1;
		strv_add(&w->tracked, key);
		if ((x = strmap_get(w->objs, key)) == NULL) {
			x = xcalloc(1, sizeof *x);
			x->judged = 1;
			strmap_put(w->objs, key, x);
		}
		x->tracked = 1;
		free(key);
		/* A pod failing says more than the workload's status. */
		if (x->obj == NULL || !health_is_workload(x->obj) ||
		    (sel = kt_pod_selector(x->obj)) == NULL)
			continue;
		if (kube_kind_lookup(kt->k, "v1", "Pod", &pods, &err) == 0) {
			pw = kt_watch_get(kt, pods, json_path_string(x->obj,
			    "metadata", "namespace", NULL) != NULL ?
			    json_path_string(x->obj, "metadata", "namespace",
			    NULL) : "", sel, 1);
			pw->used = 1;
		}
		free(err);
		err = NULL;
		free(sel);
	}
}

static int
kt_wait(struct target *t, struct resource *const *v, size_t n,
    uint64_t deadline, char **cause)
{
	struct kube_target	*kt = t->arg;
	struct kt_wait_job	 job;
	struct kt_watch		*w;
	struct kt_seen		*x;
	size_t			 cur, ncur, nw = 0, i;
	void			*p, *q;

	cur = 0;
	while (strmap_next(kt->watches, &cur, NULL, &p)) {
		w = p;
		w->used = 0;
		strv_free(&w->tracked);
		ncur = 0;
		while (strmap_next(w->objs, &ncur, NULL, &q)) {
			x = q;
			x->tracked = 0;
		}
	}
	kt_wait_watches(kt, t, v, n);
	job.t = t;
	job.v = xcalloc(strmap_count(kt->watches) + 1, sizeof *job.v);
	cur = 0;
	while (strmap_next(kt->watches, &cur, NULL, &p)) {
		w = p;
		if (w->used)
			job.v[nw++] = w;
	}
	kt->changed = 0;
	kt->wait_deadline = deadline;
	if (nw == 0)
		kt_watch_sleep(kt, KT_POLL_MAX_MS);	/* nothing to watch */
	else {
		for (i = 0; i < nw && !kt_watch_pending(job.v[i]); i++)
			;
		/* Something not judged yet: no need to wait. */
		if (i == nw)
			kube_parallel(nw, KT_WATCH_PARALLEL, kt_watch_job,
			    &job);
	}
	free(job.v);
	if (kt->stop != NULL && __atomic_load_n(kt->stop, __ATOMIC_ACQUIRE)) {
		xasprintf(cause, "stopped: the agent is shutting down");
		return (-1);
	}
	return (0);
}

/*
 * r's object as its watch keeps it: 1 and *live (NULL: absent; the
 * caller's), marked judged; 0 when not watched or not to be trusted.
 */
static int
kt_watch_live(struct kube_target *kt, struct target *t,
    const struct resource *r, struct json **live)
{
	struct kt_watch	*w;
	struct kt_seen	*x;
	char		*key;

	*live = NULL;
	if ((w = kt_watch_of(kt, t, r, 0, &key)) == NULL || w->rv == NULL) {
		free(key);
		return (0);
	}
	if ((x = strmap_get(w->objs, key)) != NULL) {
		x->judged = 1;
		if (x->obj != NULL)
			*live = json_dup(x->obj);
	}
	free(key);
	return (1);
}

static int
kt_health(struct target *t, const struct resource *r,
    enum health_status *h, char **cause)
{
	struct kube_target	*kt = t->arg;
	struct kt_cmp		*c;
	struct json		*live = NULL;
	struct kt_verdict	*applied, seen = { HEALTH_UNKNOWN, NULL };
	int			 have = 0;

	pthread_mutex_lock(&kt->mu);
	applied = strmap_remove(kt->fresh, r->id);
	c = kt->cmp != NULL ? strmap_get(kt->cmp, r->id) : NULL;
	if (applied != NULL) {
		seen = *applied;
		free(applied);
		have = 1;
	} else if (c != NULL && c->r == r && c->have_health) {
		seen = c->health;
		c->health.why = NULL;
		c->have_health = 0;
		have = 1;
	}
	pthread_mutex_unlock(&kt->mu);
	if (have) {
		*h = seen.h;
		*cause = seen.why;	/* the reason, when not Healthy */
		return (0);
	}
	if (!kt_watch_live(kt, t, r, &live) &&
	    kt_get(t, r->id, &live, cause) == -1)
		return (-1);
	if (live == NULL) {
		*h = HEALTH_MISSING;
		return (0);
	}
	*h = kt_live_health(kt, r, live, cause);	/* and the reason */
	if (*h == HEALTH_PROGRESSING && health_is_workload(live))
		kt_pods_health(kt, live, h, cause);
	json_free(live);
	return (0);
}

/* Kinds pruned only when the object itself says so. */
static int
kt_guarded_kind(const char *id)
{
	return (strncmp(id, "Namespace/", 10) == 0 ||
	    strncmp(id, "CustomResourceDefinition.apiextensions.k8s.io/",
	    46) == 0 || strncmp(id, "PersistentVolume/", 17) == 0 ||
	    strncmp(id, "PersistentVolumeClaim/", 22) == 0);
}

/* Why live must not be pruned as a member of our set; NULL if it may. */
static const char *
kt_not_ours(struct kube_target *kt, const char *id, const struct json *live)
{
	const char	*s;

	s = json_path_string(live, "metadata", "labels", KT_LABEL_PART_OF,
	    NULL);
	if (s == NULL || strcmp(s, kt->set_id) != 0)
		return ("its " KT_LABEL_PART_OF " label is not this app's");
	s = json_path_string(live, "metadata", "annotations", KT_ANN_IDENTITY,
	    NULL);
	if (s == NULL || strcmp(s, id) != 0)
		return ("its " KT_ANN_IDENTITY " annotation names another "
		    "object");
	if (!kt_managed(kt, live))
		return ("none of the agent's field managers (field_manager, or "
		    "one recorded in the inventory) manages any of it");
	if (json_count(json_path(live, "metadata", "ownerReferences",
	    NULL)) != 0)
		return ("it has an owner");
	if (kt_sync_option(live, "Prune=false"))
		return ("it is annotated Prune=false");
	s = json_path_string(live, "metadata", "annotations", KT_ANN_PRUNE,
	    NULL);
	if (kt_guarded_kind(id) && (s == NULL || strcmp(s, "true") != 0))
		return ("its kind is pruned only when annotated "
		    KT_ANN_PRUNE ": \"true\"");
	return (NULL);
}

static void
kt_forget(struct kube_target *kt, const char *id)
{
	struct kt_entry	*e;

	pthread_mutex_lock(&kt->mu);
	if ((e = strmap_remove(kt->inv, id)) != NULL) {
		kt_entry_free(e);
		kt->dirty = 1;
	}
	pthread_mutex_unlock(&kt->mu);
}

/*
 * Prune one member: only what the inventory holds, and still proves it is
 * ours; DELETE by uid, in the background. Whatever happens it leaves the
 * inventory unless the DELETE failed.
 */
static int
kt_remove(struct target *t, const char *id, enum target_remove_status *st,
    char **cause)
{
	struct kube_target	*kt = t->arg;
	const struct kube_kind	*kind;
	struct json		*live = NULL;
	enum kube_why		 why = KUBE_WHY_OTHER;
	const char		*reason;
	char			*ns = NULL, *name = NULL, *err = NULL;
	int			 rc;

	if (kt_load(t, cause) == -1)
		return (-1);
	if (kt_entry_get(kt, id) == NULL) {
		xasprintf(cause, "'%s' is not in the inventory of app '%s'",
		    id, t->app);
		return (-1);
	}
	if ((rc = kt_id_kind(kt, id, &kind, &ns, &name, cause)) == -1)
		return (-1);
	if (rc == 1) {
		/*
		 * Not served now: a CRD deleted, or an API not there for a
		 * while. Kept in the inventory, pruned when served again.
		 */
		log_event(LOG_LEVEL_WARN, "not pruned: its kind is not served "
		    "now; kept in the inventory", "app", t->app, "resource", id,
		    NULL);
		*st = TARGET_DEFERRED;
		return (0);
	}
	rc = -1;
	if (kube_get(kt->k, kind, ns, name, &live, &err) == -1) {
		xasprintf(cause, "%s: %s", id, err);
		goto out;
	}
	if (live == NULL) {
		*st = TARGET_GONE;
		kt_forget(kt, id);
		rc = 0;
		goto out;
	}
	if ((reason = kt_not_ours(kt, id, live)) != NULL) {
		log_event(LOG_LEVEL_WARN, "not pruned", "app", t->app,
		    "resource", id, "reason", reason, NULL);
		*st = TARGET_KEPT;
		kt_forget(kt, id);
		rc = 0;
		goto out;
	}
	if (kube_delete(kt->k, kind, ns, name, json_path_string(live,
	    "metadata", "uid", NULL), 0, &why, &err) == -1) {
		/* Any other 409 (or none) keeps it in the inventory. */
		if (why == KUBE_WHY_UID_CHANGED) {
			/* Replaced by another object since the GET. */
			*st = TARGET_KEPT;
			kt_forget(kt, id);
			rc = 0;
		} else
			xasprintf(cause, "%s: %s", id, err);
		goto out;
	}
	*st = why == KUBE_WHY_NOT_FOUND ? TARGET_GONE : TARGET_REMOVED;
	kt_forget(kt, id);
	rc = 0;
out:
	free(err);
	free(ns);
	free(name);
	json_free(live);
	return (rc);
}

static int
kt_prune_check(struct target *t, size_t nprune, size_t ninv,
    size_t ndesired, char **cause)
{
	struct kube_target	*kt = t->arg;

	if (kt->force_prune || nprune == 0)
		return (0);
	if (ndesired == 0) {
		xasprintf(cause, "the render of app '%s' is empty: pruning "
		    "would delete all %zu resources of its inventory; refused "
		    "(sync --force-prune does it)", t->app, ninv);
		return (-1);
	}
	if (nprune * 100 > (size_t)kt->prune_max_percent * ninv) {
		xasprintf(cause, "app '%s' would prune %zu of the %zu resources "
		    "of its inventory, more than prune_max_percent (%d%%); "
		    "refused (sync --force-prune does it)", t->app, nprune,
		    ninv, kt->prune_max_percent);
		return (-1);
	}
	return (0);
}

static void
kt_free(struct target *t)
{
	struct kube_target	*kt = t->arg;

	if (kt == NULL)
		return;
	if (kt->inv != NULL) {
		kt_map_clear(kt->inv, kt_entry_free_cb);
		strmap_free(kt->inv);
	}
	if (kt->cmp != NULL) {
		kt_map_clear(kt->cmp, kt_cmp_free_cb);
		strmap_free(kt->cmp);
	}
	if (kt->fresh != NULL) {
		kt_map_clear(kt->fresh, kt_verdict_free_cb);
		strmap_free(kt->fresh);
	}
	kt_map_clear(kt->watches, kt_watch_free_cb);
	strmap_free(kt->watches);
	if (kt->crd_kinds != NULL)
		strmap_free(kt->crd_kinds);
	if (kt->render_ns != NULL)
		strmap_free(kt->render_ns);
	strmap_free(kt->unapplied);
	strv_free(&kt->managers);
	free(kt->owner);
	kube_close(kt->k);
	pthread_mutex_destroy(&kt->mu);
	free(kt->staged);
	free(kt->manager);
	free(kt->parent);
	free(kt->parent_ns);
	free(kt->set_id);
	health_rules_free(kt->rules, kt->nrules);
	free(kt);
	t->arg = NULL;
}

struct target *
target_kube_new(const char *app, const struct config_target *ct,
    const int *stop, char **cause)
{
	struct kube_target	*kt;
	struct target		*t;
	struct kube_opts	 ko;
	struct kube		*k;
	const char		*ns;
	char			*err = NULL;

	memset(&ko, 0, sizeof ko);
	ko.auth.kubeconfig = ct->kubeconfig;
	ko.auth.context = ct->context;
	ko.auth.in_cluster = ct->in_cluster;
	ko.qps = ct->qps;
	ko.burst = ct->burst;
	ko.timeout_ms = ct->request_timeout_ms;
	ko.stop = stop;
	if ((k = kube_open(&ko, &err)) == NULL) {
		xasprintf(cause, "app '%s': %s", app, err);
		free(err);
		return (NULL);
	}
	kt = xcalloc(1, sizeof *kt);
	kt->k = k;
	kt->manager = xstrdup(ct->field_manager != NULL ? ct->field_manager :
	    "gitops-agent");
	strv_add(&kt->managers, kt->manager);
	/* Without one from the configuration: the app's name only. */
	kt->owner = xstrdup(ct->owner != NULL ? ct->owner : app);
	kt_key_load(kt, ct->digest_key);
	kt->force = ct->force_conflicts;
	health_rules_copy(&kt->rules, &kt->nrules, ct->health_rules,
	    ct->nhealth_rules);
	kt->prune_max_percent = ct->prune_max_percent;
	kt->force_prune = ct->force_prune;
	kt->timeout_ms = ct->request_timeout_ms != 0 ?
	    ct->request_timeout_ms : 30000;
	pthread_mutex_init(&kt->mu, NULL);
	kt->inv = strmap_new(64);
	kt->fresh = strmap_new(64);
	kt->watches = strmap_new(8);
	kt->stop = stop;
	t = xcalloc(1, sizeof *t);
	t->ops = &kt_ops;
	t->app = xstrdup(app);
	t->arg = kt;
	/* The agent's namespace: the pod's, or the context's. */
	ns = kube_namespace(k);
	kt->parent_ns = xstrdup(ns != NULL && *ns != '\0' ? ns : "default");
	t->namespace = xstrdup(ct->namespace != NULL ? ct->namespace :
	    kt->parent_ns);
	xasprintf(&kt->parent, KT_PARENT_PREFIX "%s", app);
	kt->set_id = target_kube_applyset_id(kt->parent, kt->parent_ns,
	    "ConfigMap", "");
	xasprintf(&t->label, "%s namespace %s", kube_server(k),
	    t->namespace);
	if (kube_kind_lookup(k, "v1", "ConfigMap", &kt->configmap,
	    &err) != 0) {
		xasprintf(cause, "app '%s': the cluster at %s serves no "
		    "ConfigMaps%s%s", app, kube_server(k), err != NULL ? ": " :
		    "", err != NULL ? err : "");
		free(err);
		target_free(t);
		return (NULL);
	}
	return (t);
}
