/*
 * plan.c: the order of a sync (phases, waves, kinds, names, with the
 * Namespace and CRD moves of DESIGN.md section 3) and the order of apps
 * (the depends_on graph, with cycles reported by name).
 *
 * Pure computation on data the caller owns: no I/O except the stream
 * plan_print_table is given, no globals, so any thread may call it. It
 * never changes a struct resource: a moved Namespace or CRD is only placed
 * in an earlier step, its own phase and wave stay as declared. It never
 * recurses over input, so no depends_on chain can exhaust the stack.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gitops.h"

/* The apply order of known kinds inside a wave, as Argo CD has it. */
static const char *const plan_kinds[] = {
	"Namespace",
	"NetworkPolicy",
	"ResourceQuota",
	"LimitRange",
	"PodSecurityPolicy",
	"PodDisruptionBudget",
	"ServiceAccount",
	"Secret",
	"SecretList",
	"ConfigMap",
	"StorageClass",
	"PersistentVolume",
	"PersistentVolumeClaim",
	"CustomResourceDefinition",
	"ClusterRole",
	"ClusterRoleList",
	"ClusterRoleBinding",
	"ClusterRoleBindingList",
	"Role",
	"RoleList",
	"RoleBinding",
	"RoleBindingList",
	"Service",
	"DaemonSet",
	"Pod",
	"ReplicationController",
	"ReplicaSet",
	"Deployment",
	"HorizontalPodAutoscaler",
	"StatefulSet",
	"Job",
	"CronJob",
	"IngressClass",
	"Ingress",
	"APIService",
};
#define PLAN_NKINDS	(sizeof plan_kinds / sizeof plan_kinds[0])
#define PLAN_RANK_UNKNOWN ((int)PLAN_NKINDS)

#define CRD_GROUP	"apiextensions.k8s.io"

/*
 * One resource while the plan is built: its effective place, and its kind
 * rank computed once so that the comparator neither allocates nor scans
 * the kind list.
 */
struct plan_entry {
	struct resource	*r;
	int		 phase;
	long		 wave;
	int		 rank;
};

static const char *
plan_str(const char *s)
{
	return (s != NULL ? s : "");
}

int
plan_kind_rank(const char *kind)
{
	size_t	i;

	if (kind == NULL)
		return (PLAN_RANK_UNKNOWN);
	for (i = 0; i < PLAN_NKINDS; i++) {
		if (*kind == *plan_kinds[i] && strcmp(kind, plan_kinds[i]) == 0)
			return ((int)i);
	}
	return (PLAN_RANK_UNKNOWN);
}

/* "FILE:LINE:COLUMN: " where app i is declared, when that is known. */
static void
plan_app_where(const struct config *conf, size_t i, struct buf *b)
{
	const struct config_app	*a = &conf->apps[i];

	if (conf->file != NULL && a->line > 0)
		buf_printf(b, "%s:%d:%d: ", conf->file, a->line, a->column);
}

/* (phase, wave) of a is earlier than that of b. */
static int
plan_before(int aphase, long awave, int bphase, long bwave)
{
	if (aphase != bphase)
		return (aphase < bphase);
	return (awave < bwave);
}

static int
plan_entry_cmp(const void *va, const void *vb)
{
	const struct plan_entry	*a = va, *b = vb;
	int			 c;

	if (a->phase != b->phase)
		return (a->phase < b->phase ? -1 : 1);
	if (a->wave != b->wave)
		return (a->wave < b->wave ? -1 : 1);
	if (a->rank != b->rank)
		return (a->rank < b->rank ? -1 : 1);
	if (a->rank == PLAN_RANK_UNKNOWN &&
	    (c = strcmp(plan_str(a->r->kind), plan_str(b->r->kind))) != 0)
		return (c);
	/* Kind, then name, as Argo CD; the namespace only breaks ties. */
	if ((c = strcmp(plan_str(a->r->name), plan_str(b->r->name))) != 0)
		return (c);
	if ((c = strcmp(plan_str(a->r->namespace),
	    plan_str(b->r->namespace))) != 0)
		return (c);
	return (strcmp(plan_str(a->r->id), plan_str(b->r->id)));
}

static int
plan_is_namespace(const struct resource *r)
{
	return (r->kind != NULL && strcmp(r->kind, "Namespace") == 0 &&
	    (r->group == NULL || *r->group == '\0'));
}

static int
plan_is_crd(const struct resource *r)
{
	return (r->kind != NULL &&
	    strcmp(r->kind, "CustomResourceDefinition") == 0 &&
	    r->group != NULL && strcmp(r->group, CRD_GROUP) == 0);
}

/* The key of a custom resource type: "group/Kind" (a group has no '/'). */
static const char *
plan_type_key(struct buf *b, const char *group, const char *kind)
{
	b->len = 0;
	buf_adds(b, plan_str(group));
	buf_addc(b, '/');
	buf_adds(b, plan_str(kind));
	return (b->data);
}

/* Map key to whichever of its entry so far and e comes first. */
static void
plan_keep_earliest(struct strmap *m, const char *key, struct plan_entry *e)
{
	struct plan_entry	*old;

	old = strmap_get(m, key);
	if (old == NULL ||
	    plan_before(e->phase, e->wave, old->phase, old->wave))
		strmap_put(m, key, e);
}

/*
 * A CRD moves to the place of its first custom resource if that is
 * earlier; its custom resources rank as unknown kinds even when their kind
 * shares a name with a built-in one, so the CRD (ranked as a known kind)
 * always comes first within a step. SyncFail hooks drag nothing: they run
 * outside the order of the sync.
 */
static void
plan_move_crds(struct plan_entry *v, size_t n, struct buf *key)
{
	struct strmap		*crds = NULL, *first = NULL;
	struct plan_entry	*e, *cr;
	const char		*group, *kind;
	size_t			 i;

	for (i = 0; i < n; i++) {
		if (!plan_is_crd(v[i].r))
			continue;
		group = json_path_string(v[i].r->obj, "spec", "group", NULL);
		kind = json_path_string(v[i].r->obj, "spec", "names", "kind",
		    NULL);
		if (group == NULL || kind == NULL)
			continue;
		if (crds == NULL)
			crds = strmap_new(16);
		strmap_put(crds, plan_type_key(key, group, kind), &v[i]);
	}
	if (crds == NULL)
		return;

	first = strmap_new(16);
	for (i = 0; i < n; i++) {
		e = &v[i];
		plan_type_key(key, e->r->group, e->r->kind);
		if (strmap_get(crds, key->data) == NULL)
			continue;
		e->rank = PLAN_RANK_UNKNOWN;
		if (e->phase != PHASE_SYNCFAIL)
			plan_keep_earliest(first, key->data, e);
	}
	for (i = 0; i < n; i++) {
		e = &v[i];
		if (!plan_is_crd(e->r) || e->phase == PHASE_SYNCFAIL)
			continue;
		group = json_path_string(e->r->obj, "spec", "group", NULL);
		kind = json_path_string(e->r->obj, "spec", "names", "kind",
		    NULL);
		if (group == NULL || kind == NULL)
			continue;
		cr = strmap_get(first, plan_type_key(key, group, kind));
		if (cr != NULL &&
		    plan_before(cr->phase, cr->wave, e->phase, e->wave)) {
			e->phase = cr->phase;
			e->wave = cr->wave;
		}
	}
	strmap_free(first);
	strmap_free(crds);
}

/* A Namespace moves to the place of the first resource in it. */
static void
plan_move_namespaces(struct plan_entry *v, size_t n)
{
	struct strmap		*first = NULL;
	struct plan_entry	*e, *in;
	size_t			 i, nns = 0;

	for (i = 0; i < n; i++) {
		if (plan_is_namespace(v[i].r) && v[i].phase != PHASE_SYNCFAIL)
			nns++;
	}
	if (nns == 0)
		return;

	first = strmap_new(nns * 2);
	for (i = 0; i < n; i++) {
		e = &v[i];
		if (e->phase == PHASE_SYNCFAIL || e->r->namespace == NULL ||
		    *e->r->namespace == '\0' || plan_is_namespace(e->r))
			continue;
		plan_keep_earliest(first, e->r->namespace, e);
	}
	for (i = 0; i < n; i++) {
		e = &v[i];
		if (!plan_is_namespace(e->r) || e->phase == PHASE_SYNCFAIL ||
		    e->r->name == NULL)
			continue;
		in = strmap_get(first, e->r->name);
		if (in != NULL &&
		    plan_before(in->phase, in->wave, e->phase, e->wave)) {
			e->phase = in->phase;
			e->wave = in->wave;
		}
	}
	strmap_free(first);
}

static void
plan_step_fill(struct plan_step *s, const struct plan_entry *v, size_t n)
{
	size_t	i;

	s->phase = (enum hook_phase)v[0].phase;
	s->wave = v[0].wave;
	s->n = n;
	s->v = xreallocarray(NULL, n, sizeof *s->v);
	for (i = 0; i < n; i++)
		s->v[i] = v[i].r;
}

struct plan *
plan_build(const struct resource_set *set)
{
	struct plan		*p;
	struct plan_entry	*v = NULL;
	struct buf		 key;
	size_t			 n, i, j, nsteps;

	p = xcalloc(1, sizeof *p);
	p->syncfail.phase = PHASE_SYNCFAIL;
	n = set != NULL ? set->n : 0;
	if (n == 0)
		return (p);

	/* A "Skip" hook is never applied: it has no place in the plan. */
	v = xreallocarray(NULL, n, sizeof *v);
	for (i = 0, j = 0; i < n; i++) {
		if (set->v[i]->skip)
			continue;
		v[j].r = set->v[i];
		v[j].phase = (int)set->v[i]->phase;
		if (v[j].phase < PHASE_PRESYNC || v[j].phase > PHASE_SYNCFAIL)
			v[j].phase = PHASE_SYNC;
		v[j].wave = set->v[i]->wave;
		v[j].rank = plan_kind_rank(set->v[i]->kind);
		j++;
	}
	n = j;

	/*
	 * CRDs first, on declared places; Namespaces then see every other
	 * resource at its final place (only Namespaces and CRDs move, and a
	 * CRD is cluster-scoped, so the two moves do not feed each other).
	 */
	buf_init(&key);
	plan_move_crds(v, n, &key);
	buf_free(&key);
	plan_move_namespaces(v, n);

	qsort(v, n, sizeof *v, plan_entry_cmp);

	/* SyncFail sorts last; it is kept aside rather than made a step. */
	nsteps = 0;
	for (i = 0; i < n && v[i].phase != PHASE_SYNCFAIL; i++) {
		if (i == 0 || v[i].phase != v[i - 1].phase ||
		    v[i].wave != v[i - 1].wave)
			nsteps++;
	}
	p->steps = xcalloc(nsteps != 0 ? nsteps : 1, sizeof *p->steps);
	for (i = 0; i < n && v[i].phase != PHASE_SYNCFAIL; i = j) {
		for (j = i + 1; j < n && v[j].phase == v[i].phase &&
		    v[j].wave == v[i].wave; j++)
			;
		plan_step_fill(&p->steps[p->nsteps++], v + i, j - i);
	}
	if (i < n) {
		plan_step_fill(&p->syncfail, v + i, n - i);
		p->syncfail.wave = 0;
	}
	free(v);
	return (p);
}

void
plan_free(struct plan *p)
{
	size_t	i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nsteps; i++)
		free(p->steps[i].v);
	free(p->steps);
	free(p->syncfail.v);
	free(p);
}

/* Columns of the table; the last one (NOTE) is not padded. */
#define PLAN_NCOLS	6

static void
plan_row_fill(const struct plan_step *s, const struct resource *r,
    char *cols[PLAN_NCOLS])
{
	struct buf	note;
	long		wave;

	wave = s->phase == PHASE_SYNCFAIL ? r->wave : s->wave;
	cols[0] = xstrdup(phase_name(s->phase));
	xasprintf(&cols[1], "%ld", wave);
	cols[2] = xstrdup(plan_str(r->kind));
	cols[3] = xstrdup(r->namespace != NULL && *r->namespace != '\0' ?
	    r->namespace : "-");
	cols[4] = xstrdup(plan_str(r->name));
	buf_init(&note);
	if (r->is_hook)
		buf_adds(&note, "hook");
	if (s->phase != PHASE_SYNCFAIL &&
	    ((int)r->phase != (int)s->phase || r->wave != s->wave)) {
		if (note.len != 0)
			buf_adds(&note, ", ");
		buf_printf(&note, "moved from %s wave %ld",
		    phase_name(r->phase), r->wave);
	}
	cols[5] = buf_release(&note);
}

static void
plan_row_print(FILE *f, char *cols[PLAN_NCOLS], const size_t *width)
{
	struct buf	line;
	size_t		i, len;

	buf_init(&line);
	for (i = 0; i < PLAN_NCOLS; i++) {
		buf_adds(&line, cols[i]);
		if (i == PLAN_NCOLS - 1)
			break;
		for (len = strlen(cols[i]); len < width[i] + 2; len++)
			buf_addc(&line, ' ');
	}
	/* An empty NOTE leaves padding behind: no trailing blanks. */
	while (line.len > 0 && line.data[line.len - 1] == ' ')
		line.data[--line.len] = '\0';
	fprintf(f, "%s\n", line.data);
	buf_free(&line);
}

static void
plan_row_free(char *cols[PLAN_NCOLS])
{
	size_t	i;

	for (i = 0; i < PLAN_NCOLS; i++)
		free(cols[i]);
}

/*
 * Call fn for every row in table order: the steps, then the SyncFail
 * hooks. A blank line separates steps when printing.
 */
static void
plan_rows_walk(const struct plan *p, void (*fn)(const struct plan_step *,
    const struct resource *, size_t, void *), void *arg)
{
	const struct plan_step	*s;
	size_t			 i, j;

	for (i = 0; i <= p->nsteps; i++) {
		s = i < p->nsteps ? &p->steps[i] : &p->syncfail;
		for (j = 0; j < s->n; j++)
			fn(s, s->v[j], j, arg);
	}
}

struct plan_table {
	FILE	*f;
	size_t	 width[PLAN_NCOLS];
	int	 rows;
};

static void
plan_width_cb(const struct plan_step *s, const struct resource *r,
    size_t idx, void *arg)
{
	struct plan_table	*t = arg;
	char			*cols[PLAN_NCOLS];
	size_t			 i, len;

	plan_row_fill(s, r, cols);
	for (i = 0; i < PLAN_NCOLS; i++) {
		len = strlen(cols[i]);
		if (len > t->width[i])
			t->width[i] = len;
	}
	plan_row_free(cols);
}

static void
plan_print_cb(const struct plan_step *s, const struct resource *r,
    size_t idx, void *arg)
{
	struct plan_table	*t = arg;
	char			*cols[PLAN_NCOLS];

	if (idx == 0 && t->rows != 0)
		fputc('\n', t->f);
	plan_row_fill(s, r, cols);
	plan_row_print(t->f, cols, t->width);
	plan_row_free(cols);
	t->rows++;
}

void
plan_print_table(FILE *f, const struct plan *p)
{
	static const char *const header[PLAN_NCOLS] = {
		"PHASE", "WAVE", "KIND", "NAMESPACE", "NAME", "NOTE"
	};
	struct plan_table	 t;
	char			*cols[PLAN_NCOLS];
	size_t			 i;

	memset(&t, 0, sizeof t);
	t.f = f;
	for (i = 0; i < PLAN_NCOLS; i++)
		t.width[i] = strlen(header[i]);
	plan_rows_walk(p, plan_width_cb, &t);

	for (i = 0; i < PLAN_NCOLS; i++)
		cols[i] = (char *)header[i];
	plan_row_print(f, cols, t.width);
	plan_rows_walk(p, plan_print_cb, &t);
}

static struct json *
plan_resource_json(const struct plan_step *s, const struct resource *r)
{
	struct json	*o, *from;

	o = json_new_object();
	json_set(o, "id", json_new_string(plan_str(r->id)));
	json_set(o, "apiVersion", json_new_string(plan_str(r->api_version)));
	json_set(o, "kind", json_new_string(plan_str(r->kind)));
	json_set(o, "namespace", json_new_string(plan_str(r->namespace)));
	json_set(o, "name", json_new_string(plan_str(r->name)));
	if (r->file != NULL)
		json_set(o, "file", json_new_string(r->file));
	if (r->line > 0)
		json_set(o, "line", json_new_number(r->line));
	json_set(o, "hook", json_new_bool(r->is_hook));
	if (s->phase == PHASE_SYNCFAIL)
		json_set(o, "wave", json_new_number((double)r->wave));
	else if ((int)r->phase != (int)s->phase || r->wave != s->wave) {
		from = json_new_object();
		json_set(from, "phase",
		    json_new_string(phase_name(r->phase)));
		json_set(from, "wave", json_new_number((double)r->wave));
		json_set(o, "movedFrom", from);
	}
	return (o);
}

struct json *
plan_to_json(const struct plan *p)
{
	struct json		*root, *steps, *step, *list;
	const struct plan_step	*s;
	size_t			 i, j;

	root = json_new_object();
	steps = json_new_array();
	for (i = 0; i < p->nsteps; i++) {
		s = &p->steps[i];
		step = json_new_object();
		json_set(step, "phase",
		    json_new_string(phase_name(s->phase)));
		json_set(step, "wave", json_new_number((double)s->wave));
		list = json_new_array();
		for (j = 0; j < s->n; j++)
			json_array_append(list, plan_resource_json(s, s->v[j]));
		json_set(step, "resources", list);
		json_array_append(steps, step);
	}
	json_set(root, "steps", steps);
	list = json_new_array();
	for (j = 0; j < p->syncfail.n; j++)
		json_array_append(list,
		    plan_resource_json(&p->syncfail, p->syncfail.v[j]));
	json_set(root, "syncFail", list);
	return (root);
}

/*
 * App order. Apps are numbered by their place in the configuration; an
 * edge runs from an app to each app it depends on. The order is Kahn's
 * algorithm over the apps needed, taking among the apps whose dependencies
 * are all placed the one declared first in the configuration: the result
 * is the configuration order, bent only where depends_on requires it.
 */
struct plan_graph {
	const struct config	 *conf;
	size_t			  n;
	/* What i depends on: dep[dep_off[i]] up to dep[dep_off[i + 1]]. */
	size_t			 *dep_off;
	size_t			 *dep;
	/* The apps that depend on i, laid out the same way. */
	size_t			 *rdep_off;
	size_t			 *rdep;
};

static void
plan_graph_free(struct plan_graph *g)
{
	free(g->dep_off);
	free(g->dep);
	free(g->rdep_off);
	free(g->rdep);
}

static int
plan_graph_build(const struct config *conf, struct strmap *byname,
    struct plan_graph *g, char **cause)
{
	const struct config_app	*a;
	size_t			 i, j, k, d, nedges = 0, *fill = NULL;
	void			*idx;
	int			 rc = -1, unknown = 0;

	memset(g, 0, sizeof *g);
	g->conf = conf;
	g->n = conf->napps;
	g->dep_off = xcalloc(g->n + 1, sizeof *g->dep_off);
	g->rdep_off = xcalloc(g->n + 1, sizeof *g->rdep_off);
	for (i = 0; i < g->n; i++) {
		a = &conf->apps[i];
		g->dep_off[i] = nedges;
		for (j = 0; j < a->depends_on.n; j++) {
			idx = strmap_get(byname, a->depends_on.v[j]);
			if (idx == NULL) {
				struct buf where;

				buf_init(&where);
				plan_app_where(conf, i, &where);
				cause_append(cause, "%sapp '%s' depends on "
				    "unknown app '%s'", where.data != NULL ?
				    where.data : "", plan_str(a->name),
				    a->depends_on.v[j]);
				buf_free(&where);
				unknown++;
				continue;
			}
			g->rdep_off[(uintptr_t)idx - 1]++;
			nedges++;
		}
	}
	g->dep_off[g->n] = nedges;
	if (unknown != 0)
		goto fail;

	/* Counts to offsets, then fill both adjacency arrays. */
	for (i = 0, k = 0; i <= g->n; i++) {
		j = g->rdep_off[i];
		g->rdep_off[i] = k;
		k += j;
	}
	g->dep = xreallocarray(NULL, nedges + 1, sizeof *g->dep);
	g->rdep = xreallocarray(NULL, nedges + 1, sizeof *g->rdep);
	fill = xcalloc(g->n + 1, sizeof *fill);
	for (i = 0; i < g->n; i++) {
		a = &conf->apps[i];
		for (j = 0, k = g->dep_off[i]; j < a->depends_on.n; j++) {
			d = (uintptr_t)strmap_get(byname,
			    a->depends_on.v[j]) - 1;
			g->dep[k++] = d;
			g->rdep[g->rdep_off[d] + fill[d]++] = i;
		}
	}
	rc = 0;
fail:
	free(fill);
	if (rc == -1)
		plan_graph_free(g);
	return (rc);
}

/* A binary min-heap of app numbers. */
struct plan_heap {
	size_t	*v;
	size_t	 n;
};

static void
plan_heap_push(struct plan_heap *h, size_t x)
{
	size_t	i = h->n++, parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (h->v[parent] <= x)
			break;
		h->v[i] = h->v[parent];
		i = parent;
	}
	h->v[i] = x;
}

static size_t
plan_heap_pop(struct plan_heap *h)
{
	size_t	top = h->v[0], x, i = 0, c;

	x = h->v[--h->n];
	for (;;) {
		c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1] < h->v[c])
			c++;
		if (x <= h->v[c])
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n > 0)
		h->v[i] = x;
	return (top);
}

/*
 * The shortest cycle from start back to it through apps of its strongly
 * connected component, as "a -> b -> a" where "->" reads "depends on";
 * the apps on it are marked in oncycle. Breadth-first, so no recursion.
 */
static void
plan_cycle_path(const struct plan_graph *g, const size_t *comp, size_t start,
    unsigned char *oncycle, struct buf *out)
{
	size_t	*prev, *queue, head = 0, tail = 0, x, y, k, len, end;

	prev = xreallocarray(NULL, g->n, sizeof *prev);
	queue = xreallocarray(NULL, g->n, sizeof *queue);
	for (x = 0; x < g->n; x++)
		prev[x] = SIZE_MAX;
	end = start;
	queue[tail++] = start;
	while (head < tail) {
		x = queue[head++];
		for (k = g->dep_off[x]; k < g->dep_off[x + 1]; k++) {
			y = g->dep[k];
			if (y == start) {
				end = x;
				goto found;
			}
			if (comp[y] != comp[start] || prev[y] != SIZE_MAX)
				continue;
			prev[y] = x;
			queue[tail++] = y;
		}
	}
found:
	/* Walk back from end to start (queue is free again), then print. */
	len = 0;
	for (x = end; x != start; x = prev[x])
		queue[len++] = x;
	oncycle[start] = 1;
	buf_adds(out, plan_str(g->conf->apps[start].name));
	while (len > 0) {
		x = queue[--len];
		oncycle[x] = 1;
		buf_adds(out, " -> ");
		buf_adds(out, plan_str(g->conf->apps[x].name));
	}
	buf_adds(out, " -> ");
	buf_adds(out, plan_str(g->conf->apps[start].name));
	free(queue);
	free(prev);
}

/* Tarjan's strongly connected components, iterative, over apps left. */
static size_t
plan_components(const struct plan_graph *g, const unsigned char *left,
    size_t *comp)
{
	size_t		*index, *low, *stack, *cs, *ce;
	size_t		 next = 1, sp = 0, csp = 0, ncomp = 0, x, y, root;
	unsigned char	*on;

	index = xcalloc(g->n, sizeof *index);
	low = xcalloc(g->n, sizeof *low);
	stack = xcalloc(g->n, sizeof *stack);
	cs = xcalloc(g->n, sizeof *cs);	/* the DFS path: an app */
	ce = xcalloc(g->n, sizeof *ce);	/* and its next edge to follow */
	on = xcalloc(g->n, 1);
	for (x = 0; x < g->n; x++)
		comp[x] = SIZE_MAX;

	for (root = 0; root < g->n; root++) {
		if (!left[root] || index[root] != 0)
			continue;
		index[root] = low[root] = next++;
		stack[sp++] = root;
		on[root] = 1;
		cs[csp] = root;
		ce[csp++] = g->dep_off[root];
		while (csp > 0) {
			x = cs[csp - 1];
			if (ce[csp - 1] < g->dep_off[x + 1]) {
				y = g->dep[ce[csp - 1]++];
				if (!left[y])
					continue;
				if (index[y] == 0) {
					index[y] = low[y] = next++;
					stack[sp++] = y;
					on[y] = 1;
					cs[csp] = y;
					ce[csp++] = g->dep_off[y];
				} else if (on[y] && index[y] < low[x])
					low[x] = index[y];
				continue;
			}
			csp--;
			if (csp > 0 && low[x] < low[cs[csp - 1]])
				low[cs[csp - 1]] = low[x];
			if (low[x] != index[x])
				continue;
			do {
				y = stack[--sp];
				on[y] = 0;
				comp[y] = ncomp;
			} while (y != x);
			ncomp++;
		}
	}
	free(on);
	free(ce);
	free(cs);
	free(stack);
	free(low);
	free(index);
	return (ncomp);
}

static int
plan_self_dependent(const struct plan_graph *g, size_t x)
{
	size_t	k;

	for (k = g->dep_off[x]; k < g->dep_off[x + 1]; k++) {
		if (g->dep[k] == x)
			return (1);
	}
	return (0);
}

/*
 * Report every cycle among the apps Kahn's algorithm could not place: one
 * line per strongly connected component with more than one app, or with
 * an app that depends on itself, in the configuration order of its first
 * app. The line shows a cycle through that app and, when the component
 * holds more apps than that cycle, names the others too.
 */
static void
plan_cycles_report(const struct plan_graph *g, const unsigned char *left,
    char **cause)
{
	size_t		*comp, *off, *members, *fill, ncomp, c, i, x, k;
	unsigned char	*oncycle;
	struct buf	 msg;

	comp = xcalloc(g->n, sizeof *comp);
	ncomp = plan_components(g, left, comp);

	/* Members of each component, in configuration order. */
	off = xcalloc(ncomp + 1, sizeof *off);
	fill = xcalloc(ncomp + 1, sizeof *fill);
	members = xcalloc(g->n + 1, sizeof *members);
	for (x = 0; x < g->n; x++) {
		if (comp[x] != SIZE_MAX)
			off[comp[x] + 1]++;
	}
	for (c = 0; c < ncomp; c++)
		off[c + 1] += off[c];
	for (x = 0; x < g->n; x++) {
		if (comp[x] != SIZE_MAX)
			members[off[comp[x]] + fill[comp[x]]++] = x;
	}

	oncycle = xcalloc(g->n, 1);
	buf_init(&msg);
	for (x = 0; x < g->n; x++) {
		if (comp[x] == SIZE_MAX)
			continue;
		c = comp[x];
		if (members[off[c]] != x)
			continue;
		if (off[c + 1] - off[c] == 1 && !plan_self_dependent(g, x))
			continue;
		msg.len = 0;
		plan_app_where(g->conf, x, &msg);
		buf_adds(&msg, "dependency cycle: ");
		plan_cycle_path(g, comp, x, oncycle, &msg);
		for (i = off[c], k = 0; i < off[c + 1]; i++) {
			if (oncycle[members[i]])
				continue;
			buf_adds(&msg, k++ == 0 ?
			    "; also in cycles with them: " : ", ");
			buf_adds(&msg,
			    plan_str(g->conf->apps[members[i]].name));
		}
		cause_append(cause, "%s", msg.data);
	}
	buf_free(&msg);
	free(oncycle);
	free(members);
	free(fill);
	free(off);
	free(comp);
}

int
plan_app_order(const struct config *conf, const struct strv *names,
    struct strv *order, char **cause)
{
	struct plan_graph	 g;
	struct plan_heap	 heap;
	struct strmap		*byname;
	size_t			*indeg = NULL, *todo = NULL, *out = NULL;
	size_t			 n, i, k, x, y, ntodo = 0, nneed = 0;
	size_t			 nout = 0;
	unsigned char		*need = NULL;
	void			*idx;
	int			 rc = -1, graph = 0, unknown = 0;

	memset(&heap, 0, sizeof heap);
	n = conf->napps;
	byname = strmap_new(n * 2 + 1);
	for (i = 0; i < n; i++) {
		if (conf->apps[i].name != NULL &&
		    strmap_get(byname, conf->apps[i].name) == NULL)
			strmap_put(byname, conf->apps[i].name,
			    (void *)(uintptr_t)(i + 1));
	}
	if (plan_graph_build(conf, byname, &g, cause) == -1)
		goto fail;
	graph = 1;

	/* The apps asked for, then everything they depend on. */
	need = xcalloc(n + 1, 1);
	todo = xcalloc(n + 1, sizeof *todo);
	if (names == NULL || names->n == 0) {
		for (i = 0; i < n; i++) {
			need[i] = 1;
			todo[ntodo++] = i;
		}
	} else {
		for (i = 0; i < names->n; i++) {
			idx = strmap_get(byname, names->v[i]);
			if (idx == NULL) {
				cause_append(cause, "unknown app '%s'",
				    names->v[i]);
				unknown++;
				continue;
			}
			x = (size_t)(uintptr_t)idx - 1;
			if (!need[x]) {
				need[x] = 1;
				todo[ntodo++] = x;
			}
		}
		if (unknown != 0)
			goto fail;
	}
	while (ntodo > 0) {
		x = todo[--ntodo];
		nneed++;
		for (k = g.dep_off[x]; k < g.dep_off[x + 1]; k++) {
			y = g.dep[k];
			if (!need[y]) {
				need[y] = 1;
				todo[ntodo++] = y;
			}
		}
	}

	/* Kahn: an app is ready once every app it depends on is placed. */
	indeg = xcalloc(n + 1, sizeof *indeg);
	heap.v = xcalloc(n + 1, sizeof *heap.v);
	out = xcalloc(n + 1, sizeof *out);
	for (x = 0; x < n; x++) {
		if (!need[x])
			continue;
		indeg[x] = g.dep_off[x + 1] - g.dep_off[x];
		if (indeg[x] == 0)
			plan_heap_push(&heap, x);
	}
	while (heap.n > 0) {
		x = plan_heap_pop(&heap);
		out[nout++] = x;
		need[x] = 0;
		for (k = g.rdep_off[x]; k < g.rdep_off[x + 1]; k++) {
			y = g.rdep[k];
			if (need[y] && --indeg[y] == 0)
				plan_heap_push(&heap, y);
		}
	}
	if (nout != nneed) {
		/* What is still needed sits on a cycle or behind one. */
		plan_cycles_report(&g, need, cause);
		goto fail;
	}
	for (i = 0; i < nout; i++)
		strv_add(order, plan_str(conf->apps[out[i]].name));
	rc = 0;
fail:
	free(out);
	free(heap.v);
	free(indeg);
	free(todo);
	free(need);
	if (graph)
		plan_graph_free(&g);
	strmap_free(byname);
	return (rc);
}
