/*
 * diff.c: what differs between a desired resource and its live copy, and
 * the unified diff of two texts that shows it.
 *
 * Only what the desired manifest declares is compared (like `kubectl diff`
 * with server-side apply, and Argo CD): live is projected onto desired's
 * shape, status and server-managed metadata are left out of both.
 *
 * Pure functions on trees and strings: no I/O, no globals, safe in any
 * thread. Must never let a Secret's data or stringData value into a text
 * it returns: values are masked before anything is emitted.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gitops.h"

#define DIFF_CONTEXT		3
/* The least number of edits searched for a shortest script, see below. */
#define DIFF_MIN_COST		4096
/* Argo CD's masks: 8 '+' for the first value of a key, 4 more per other. */
#define DIFF_MASK_FIRST		8
#define DIFF_MASK_STEP		4
/* Objects with more members than this are looked up through a map. */
#define DIFF_INDEX_MIN		16
#define DIFF_LAST_APPLIED \
	"kubectl.kubernetes.io/last-applied-configuration"

static const char *diff_ignored_metadata[] = {
	"resourceVersion",
	"uid",
	"generation",
	"creationTimestamp",
	"managedFields",
	"selfLink",
	"deletionTimestamp",
};

const char *
diff_action_name(enum diff_action action)
{
	switch (action) {
	case DIFF_UNCHANGED:
		return ("unchanged");
	case DIFF_CREATE:
		return ("create");
	case DIFF_UPDATE:
		return ("update");
	case DIFF_PRUNE:
		return ("prune");
	}
	return ("unknown");
}

/*
 * Member lookup that stays linear for big objects (a ConfigMap with
 * thousands of keys): a map is built only past DIFF_INDEX_MIN members.
 */
struct diff_index {
	const struct json	*obj;
	struct strmap		*map;
};

static void
diff_index_init(struct diff_index *ix, const struct json *obj)
{
	struct json	*c;

	ix->obj = obj;
	ix->map = NULL;
	if (json_type(obj) != JSON_OBJECT || json_count(obj) <= DIFF_INDEX_MIN)
		return;
	ix->map = strmap_new(json_count(obj));
	for (c = json_child(obj); c != NULL; c = json_next(c)) {
		if (strmap_get(ix->map, json_key(c)) == NULL)
			strmap_put(ix->map, json_key(c), c);
	}
}

static struct json *
diff_index_get(const struct diff_index *ix, const char *key)
{
	if (ix->map != NULL)
		return (strmap_get(ix->map, key));
	return (json_get(ix->obj, key));
}

static void
diff_index_free(struct diff_index *ix)
{
	if (ix->map != NULL)
		strmap_free(ix->map);
	ix->map = NULL;
}

/* A copy without status and the metadata the server manages. */
static struct json *
diff_clean(const struct json *obj)
{
	struct json	*c, *md, *ann;
	size_t		 i;

	c = json_dup(obj);
	if (json_type(c) != JSON_OBJECT)
		return (c);
	json_remove(c, "status");
	md = json_get(c, "metadata");
	if (json_type(md) != JSON_OBJECT)
		return (c);
	for (i = 0; i < sizeof diff_ignored_metadata /
	    sizeof diff_ignored_metadata[0]; i++)
		json_remove(md, diff_ignored_metadata[i]);
	ann = json_get(md, "annotations");
	if (json_type(ann) == JSON_OBJECT)
		json_remove(ann, DIFF_LAST_APPLIED);
	return (c);
}

static int
diff_key_cmp(const void *a, const void *b)
{
	const struct json *const	*x = a, *const *y = b;

	return (strcmp(json_key(*x), json_key(*y)));
}

static struct json *diff_project_node(const struct json *,
    const struct json *);

static struct json *
diff_project_object(const struct json *d, const struct json *l)
{
	struct diff_index	 ix;
	struct json		*out, *dc, *lc;
	const char		*key;

	diff_index_init(&ix, l);
	out = json_new_object();
	for (dc = json_child(d); dc != NULL; dc = json_next(dc)) {
		key = json_key(dc);
		lc = diff_index_get(&ix, key);
		if (lc != NULL)
			json_append_member(out, key, diff_project_node(dc, lc));
		else if (json_type(dc) == JSON_NULL) {
			/* A field declared null is one asked to be absent. */
			json_append_member(out, key, json_new_null());
		}
	}
	diff_index_free(&ix);
	return (out);
}

/* Every item is an object with a string "name": containers, env, ports... */
static int
diff_is_named_list(const struct json *a)
{
	struct json	*c;

	if (json_count(a) == 0)
		return (0);
	for (c = json_child(a); c != NULL; c = json_next(c)) {
		if (json_type(c) != JSON_OBJECT ||
		    json_string(json_get(c, "name")) == NULL)
			return (0);
	}
	return (1);
}

/*
 * Items matched by name, in desired's order. Names may repeat (one volume
 * mounted at two paths): each live item is used once, and among live items
 * of the same name the one that projects equal wins.
 */
static struct json *
diff_project_named(const struct json *d, const struct json *l)
{
	struct strmap		 *first;
	const struct json	**items;
	struct json		 *out, *c, *proj, *best;
	const char		 *name;
	size_t			  n, i, pick, *chain;
	char			 *used;
	uintptr_t		  head;
	int			  equal;

	n = json_count(l);
	items = xcalloc(n + 1, sizeof *items);
	chain = xcalloc(n + 1, sizeof *chain);
	used = xcalloc(n + 1, 1);
	first = strmap_new(n + 1);
	for (i = 0, c = json_child(l); c != NULL; c = json_next(c), i++)
		items[i] = c;
	/* Chains of live indices (plus one) sharing a name, in list order. */
	for (i = n; i-- > 0;) {
		name = json_string(json_get(items[i], "name"));
		if (json_type(items[i]) != JSON_OBJECT || name == NULL)
			continue;
		head = (uintptr_t)strmap_get(first, name);
		chain[i] = head;
		strmap_put(first, name, (void *)(uintptr_t)(i + 1));
	}

	out = json_new_array();
	for (c = json_child(d); c != NULL; c = json_next(c)) {
		name = json_string(json_get(c, "name"));
		best = NULL;
		pick = 0;
		head = (uintptr_t)strmap_get(first, name);
		for (i = head; i != 0; i = chain[i - 1]) {
			if (used[i - 1])
				continue;
			proj = diff_project_node(c, items[i - 1]);
			equal = json_equal(proj, c);
			if (best == NULL || equal) {
				json_free(best);
				best = proj;
				pick = i;
				if (equal)
					break;
			} else
				json_free(proj);
		}
		if (best != NULL) {
			used[pick - 1] = 1;
			json_array_append(out, best);
		}
	}
	strmap_free(first);
	free(used);
	free(chain);
	free(items);
	return (out);
}

static struct json *
diff_project_array(const struct json *d, const struct json *l)
{
	struct json	*out, *dc, *lc;

	if (diff_is_named_list(d))
		return (diff_project_named(d, l));
	if (json_count(d) != json_count(l))
		return (json_dup(l));
	out = json_new_array();
	for (dc = json_child(d), lc = json_child(l); dc != NULL && lc != NULL;
	    dc = json_next(dc), lc = json_next(lc))
		json_array_append(out, diff_project_node(dc, lc));
	return (out);
}

static struct json *
diff_project_node(const struct json *d, const struct json *l)
{
	if (json_type(d) == JSON_OBJECT && json_type(l) == JSON_OBJECT)
		return (diff_project_object(d, l));
	if (json_type(d) == JSON_ARRAY && json_type(l) == JSON_ARRAY)
		return (diff_project_array(d, l));
	return (json_dup(l));
}

struct json *
diff_project(const struct json *desired, const struct json *live)
{
	struct json	*clean, *out;

	if (desired == NULL || live == NULL)
		return (NULL);
	/*
	 * Only desired needs cleaning: the projection takes nothing desired
	 * does not declare, so live's ignored fields never enter it.
	 */
	clean = diff_clean(desired);
	out = diff_project_node(clean, live);
	json_free(clean);
	return (out);
}

int
diff_equal(const struct json *desired, const struct json *live)
{
	return (diff_equal_mode(desired, live, DIFF_PROJECT));
}

/*
 * What desired is compared with: the projection of live, or all of live
 * (cleaned) when live holds exactly what was applied.
 */
static struct json *
diff_live_view(const struct json *clean_desired, const struct json *live,
    enum diff_mode mode)
{
	struct json	*view, *meta, *ann;

	if (mode != DIFF_EXACT)
		return (diff_project_node(clean_desired, live));
	view = diff_clean(live);
	/*
	 * Cleaning may leave metadata or its annotations empty (a uid, the
	 * last-applied annotation): empty and absent mean the same there.
	 */
	meta = json_get(view, "metadata");
	ann = json_get(meta, "annotations");
	if (ann != NULL && json_count(ann) == 0 && json_path(clean_desired,
	    "metadata", "annotations", NULL) == NULL)
		json_remove(meta, "annotations");
	if (meta != NULL && json_count(meta) == 0 &&
	    json_get(clean_desired, "metadata") == NULL)
		json_remove(view, "metadata");
	return (view);
}

void
diff_views(const struct json *desired, const struct json *live,
    enum diff_mode mode, struct json **want, struct json **got)
{
	*want = diff_clean(desired);
	*got = diff_live_view(*want, live, mode);
}

int
diff_equal_mode(const struct json *desired, const struct json *live,
    enum diff_mode mode)
{
	struct json	*clean, *proj;
	int		 equal;

	if (desired == NULL || live == NULL)
		return (desired == live);
	clean = diff_clean(desired);
	proj = diff_live_view(clean, live, mode);
	equal = json_equal(proj, clean);
	json_free(proj);
	json_free(clean);
	return (equal);
}

enum diff_action
diff_classify(const struct json *desired, const struct json *live)
{
	if (live == NULL)
		return (DIFF_CREATE);
	if (desired == NULL)
		return (DIFF_PRUNE);
	return (diff_equal(desired, live) ? DIFF_UNCHANGED : DIFF_UPDATE);
}

int
diff_is_secret(const struct json *obj)
{
	const char	*kind, *version;

	kind = json_path_string(obj, "kind", NULL);
	version = json_path_string(obj, "apiVersion", NULL);
	return (kind != NULL && version != NULL &&
	    strcmp(kind, "Secret") == 0 && strcmp(version, "v1") == 0);
}

static struct json *
diff_mask_new(size_t n)
{
	struct json	*j;
	char		*s;

	s = xmalloc(n + 1);
	memset(s, '+', n);
	s[n] = '\0';
	j = json_new_string(s);
	free(s);
	return (j);
}

/* The masks of one key: equal values share one, different ones do not. */
static void
diff_mask_sizes(const struct json *va, const struct json *vb, size_t *na,
    size_t *nb)
{
	*na = DIFF_MASK_FIRST;
	if (va == NULL || json_equal(va, vb))
		*nb = DIFF_MASK_FIRST;
	else
		*nb = DIFF_MASK_FIRST + DIFF_MASK_STEP;
}

/*
 * Mask one field (data or stringData) of a and b together. The masked
 * objects are built new and swapped in whole, so no value node of the
 * originals is reused.
 */
static void
diff_mask_field(struct json *a, struct json *b, const char *field)
{
	struct diff_index	 ixa, ixb;
	struct json		*fa, *fb, *ma = NULL, *mb = NULL, *c, *other;
	size_t			 na, nb;

	fa = json_get(a, field);
	fb = json_get(b, field);
	if (fa == NULL && fb == NULL)
		return;
	if ((fa != NULL && json_type(fa) != JSON_OBJECT) ||
	    (fb != NULL && json_type(fb) != JSON_OBJECT)) {
		/* Not a map of values: the whole field is one value. */
		diff_mask_sizes(fa, fb, &na, &nb);
		if (fa != NULL)
			json_set(a, field, diff_mask_new(na));
		if (fb != NULL)
			json_set(b, field, diff_mask_new(fa != NULL ? nb : na));
		return;
	}

	diff_index_init(&ixa, fa);
	diff_index_init(&ixb, fb);
	if (fa != NULL) {
		ma = json_new_object();
		for (c = json_child(fa); c != NULL; c = json_next(c)) {
			diff_mask_sizes(c, NULL, &na, &nb);
			json_append_member(ma, json_key(c), diff_mask_new(na));
		}
	}
	if (fb != NULL) {
		mb = json_new_object();
		for (c = json_child(fb); c != NULL; c = json_next(c)) {
			other = fa != NULL ? diff_index_get(&ixa, json_key(c)) :
			    NULL;
			diff_mask_sizes(other, c, &na, &nb);
			json_append_member(mb, json_key(c), diff_mask_new(nb));
		}
	}
	diff_index_free(&ixa);
	diff_index_free(&ixb);
	if (ma != NULL)
		json_set(a, field, ma);
	if (mb != NULL)
		json_set(b, field, mb);
}

void
diff_mask_secret_pair(struct json *a, struct json *b)
{
	if (!diff_is_secret(a) && !diff_is_secret(b))
		return;
	if (json_type(a) != JSON_OBJECT)
		a = NULL;
	if (json_type(b) != JSON_OBJECT)
		b = NULL;
	diff_mask_field(a, b, "data");
	diff_mask_field(a, b, "stringData");
}

struct json *
diff_mask_secret(const struct json *obj)
{
	struct json	*c;

	c = json_dup(obj);
	diff_mask_secret_pair(c, NULL);
	return (c);
}

/*
 * The unified diff. Lines are numbered into classes (equal lines, equal
 * class) so the search compares integers. Lines of one text that occur
 * nowhere in the other cannot match and are marked changed before the
 * search: that keeps a rewrite of a big file cheap and does not change the
 * result, which stays a shortest edit script. The search is Myers' O(ND)
 * algorithm, linear-space variant (middle snake, divide and conquer), so
 * memory is O(N+M). Changed runs are then slid to where GNU diff puts
 * them, and printed the way `diff -u` prints them.
 */
struct diff_line {
	const char	*p;
	size_t		 len;	/* without the newline */
	int		 nonl;	/* the last line, without a newline */
	uint64_t	 hash;
};

struct diff_file {
	struct diff_line *lines;
	long		  n;
	long		 *cls;		/* class of each line */
	char		 *changed;	/* n + 2 bytes: diff_changed() */
};

struct diff_myers {
	const long	*a;
	const long	*b;
	char		*ca;	/* changed flags of the sequences */
	char		*cb;
	long		*v1;	/* furthest x per diagonal, forward */
	long		*v2;	/* and backward */
	long		 max_cost;	/* edits before cutting */
};

/* changed[-1] and changed[n] exist and stay 0: sentinels for sliding. */
#define diff_changed(f)	((f)->changed + 1)

static void
diff_split_lines(const char *text, struct diff_file *f)
{
	const char	*p, *nl;
	size_t		 n = 0, cap = 0, i;
	uint64_t	 h;

	memset(f, 0, sizeof *f);
	for (p = text; *p != '\0'; p = nl + 1) {
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			f->lines = xreallocarray(f->lines, cap,
			    sizeof *f->lines);
		}
		f->lines[n].p = p;
		nl = strchr(p, '\n');
		if (nl == NULL) {
			f->lines[n].len = strlen(p);
			f->lines[n].nonl = 1;
		} else {
			f->lines[n].len = nl - p;
			f->lines[n].nonl = 0;
		}
		h = 14695981039346656037ULL;	/* FNV-1a */
		for (i = 0; i < f->lines[n].len; i++) {
			h ^= (unsigned char)p[i];
			h *= 1099511628211ULL;
		}
		f->lines[n].hash = h ^ (uint64_t)f->lines[n].nonl;
		n++;
		if (nl == NULL)
			break;
	}
	f->n = n;
	f->cls = xcalloc(n + 1, sizeof *f->cls);
	f->changed = xcalloc(n + 2, 1);
}

static void
diff_file_free(struct diff_file *f)
{
	free(f->lines);
	free(f->cls);
	free(f->changed);
}

static int
diff_line_equal(const struct diff_line *x, const struct diff_line *y)
{
	return (x->hash == y->hash && x->len == y->len &&
	    x->nonl == y->nonl && memcmp(x->p, y->p, x->len) == 0);
}

/* Number the lines of both files into classes; returns how many. */
static long
diff_classify_lines(struct diff_file *fa, struct diff_file *fb)
{
	struct diff_file	 *files[2] = { fa, fb };
	const struct diff_line	**rep;
	long			 *slots, nclasses = 0, i, c;
	size_t			  size = 16, mask, s;
	int			  k;

	while (size < 2 * (size_t)(fa->n + fb->n) + 1)
		size *= 2;
	mask = size - 1;
	slots = xcalloc(size, sizeof *slots);	/* class + 1, 0 free */
	rep = xcalloc(fa->n + fb->n + 1, sizeof *rep);
	for (k = 0; k < 2; k++) {
		for (i = 0; i < files[k]->n; i++) {
			const struct diff_line *l = &files[k]->lines[i];

			for (s = l->hash & mask; (c = slots[s]) != 0;
			    s = (s + 1) & mask) {
				if (diff_line_equal(rep[c - 1], l))
					break;
			}
			if (c == 0) {
				rep[nclasses] = l;
				c = slots[s] = ++nclasses;
			}
			files[k]->cls[i] = c - 1;
		}
	}
	free(rep);
	free(slots);
	return (nclasses);
}

/*
 * Past max_cost, give up on the shortest script for this part: split at
 * the forward point that got furthest (largest x + y), as GNU diff does
 * when a comparison gets too expensive. The result is still a correct
 * diff, only maybe longer than needed, and the time stays bounded for
 * inputs that have almost nothing in common but many repeated lines.
 * Any such point is past (0,0), and short of the end (reaching the end
 * would have met the backward search already).
 */
static int
diff_bisect_cut(const struct diff_myers *m, long d, long k1s, long k1e,
    long n, long mm, long *xo, long *yo)
{
	long	k, x, y, best = -1, off = (n + mm + 1) / 2;

	for (k = -d + k1s; k <= d - k1e; k += 2) {
		x = m->v1[off + k];
		y = x - k;
		if (x < 0 || x > n || y < 0 || y > mm || x + y <= best)
			continue;
		if ((x == 0 && y == 0) || (x == n && y == mm))
			continue;
		best = x + y;
		*xo = x;
		*yo = y;
	}
	return (best == -1 ? -1 : 0);
}

/*
 * Find a point on an optimal path through a[a0..a1) x b[b0..b1), walking
 * from both ends until the paths meet. Both ranges are non-empty and
 * their first and last elements differ, so the point found splits the
 * problem into two strictly smaller ones.
 */
static int
diff_bisect(struct diff_myers *m, long a0, long a1, long b0, long b1,
    long *xo, long *yo)
{
	const long	*a = m->a + a0, *b = m->b + b0;
	long		*v1 = m->v1, *v2 = m->v2;
	long		 n = a1 - a0, mm = b1 - b0;
	long		 maxd, off, len, delta, d, k1, k2, k1o, k2o, i;
	long		 x1, y1, x2, y2, k1s = 0, k1e = 0, k2s = 0, k2e = 0;
	int		 front;

	maxd = (n + mm + 1) / 2;
	off = maxd;
	len = 2 * maxd + 2;
	for (i = 0; i < len; i++)
		v1[i] = v2[i] = -1;
	v1[off + 1] = 0;
	v2[off + 1] = 0;
	delta = n - mm;
	front = delta % 2 != 0;

	for (d = 0; d < maxd; d++) {
		for (k1 = -d + k1s; k1 <= d - k1e; k1 += 2) {
			k1o = off + k1;
			if (k1 == -d || (k1 != d && v1[k1o - 1] < v1[k1o + 1]))
				x1 = v1[k1o + 1];
			else
				x1 = v1[k1o - 1] + 1;
			y1 = x1 - k1;
			while (x1 < n && y1 < mm && a[x1] == b[y1]) {
				x1++;
				y1++;
			}
			v1[k1o] = x1;
			if (x1 > n)
				k1e += 2;	/* off the right edge */
			else if (y1 > mm)
				k1s += 2;	/* off the bottom */
			else if (front) {
				k2o = off + delta - k1;
				if (k2o >= 0 && k2o < len && v2[k2o] != -1 &&
				    x1 >= n - v2[k2o]) {
					*xo = a0 + x1;
					*yo = b0 + y1;
					return (0);
				}
			}
		}
		for (k2 = -d + k2s; k2 <= d - k2e; k2 += 2) {
			k2o = off + k2;
			if (k2 == -d || (k2 != d && v2[k2o - 1] < v2[k2o + 1]))
				x2 = v2[k2o + 1];
			else
				x2 = v2[k2o - 1] + 1;
			y2 = x2 - k2;
			while (x2 < n && y2 < mm &&
			    a[n - x2 - 1] == b[mm - y2 - 1]) {
				x2++;
				y2++;
			}
			v2[k2o] = x2;
			if (x2 > n)
				k2e += 2;
			else if (y2 > mm)
				k2s += 2;
			else if (!front) {
				k1o = off + delta - k2;
				if (k1o >= 0 && k1o < len && v1[k1o] != -1) {
					x1 = v1[k1o];
					y1 = x1 - (k1o - off);
					if (x1 >= n - x2) {
						*xo = a0 + x1;
						*yo = b0 + y1;
						return (0);
					}
				}
			}
		}
		if (d >= m->max_cost && diff_bisect_cut(m, d, k1s, k1e, n, mm,
		    &x1, &y1) == 0) {
			*xo = a0 + x1;
			*yo = b0 + y1;
			return (0);
		}
	}
	return (-1);
}

static void
diff_compare(struct diff_myers *m, long a0, long a1, long b0, long b1)
{
	long	x, y;

	for (;;) {
		while (a0 < a1 && b0 < b1 && m->a[a0] == m->b[b0]) {
			a0++;
			b0++;
		}
		while (a0 < a1 && b0 < b1 && m->a[a1 - 1] == m->b[b1 - 1]) {
			a1--;
			b1--;
		}
		if (a0 == a1 || b0 == b1 ||
		    diff_bisect(m, a0, a1, b0, b1, &x, &y) == -1) {
			memset(m->ca + a0, 1, a1 - a0);
			memset(m->cb + b0, 1, b1 - b0);
			return;
		}
		/* Recurse on the first part, loop on the second. */
		diff_compare(m, a0, x, b0, y);
		a0 = x;
		b0 = y;
	}
}

/*
 * Mark changed lines: those of a class the other file lacks at once, the
 * rest by the search over what remains.
 */
static void
diff_search(struct diff_file *fa, struct diff_file *fb, long nclasses)
{
	struct diff_file	*files[2] = { fa, fb };
	struct diff_myers	 m;
	long			*count[2], *idx[2], *seq[2], n[2], i, len;
	int			 k;

	for (k = 0; k < 2; k++) {
		count[k] = xcalloc(nclasses + 1, sizeof *count[k]);
		for (i = 0; i < files[k]->n; i++)
			count[k][files[k]->cls[i]]++;
	}
	for (k = 0; k < 2; k++) {
		idx[k] = xcalloc(files[k]->n + 1, sizeof *idx[k]);
		seq[k] = xcalloc(files[k]->n + 1, sizeof *seq[k]);
		n[k] = 0;
		for (i = 0; i < files[k]->n; i++) {
			if (count[1 - k][files[k]->cls[i]] == 0)
				diff_changed(files[k])[i] = 1;
			else {
				idx[k][n[k]] = i;
				seq[k][n[k]++] = files[k]->cls[i];
			}
		}
	}

	memset(&m, 0, sizeof m);
	m.a = seq[0];
	m.b = seq[1];
	m.ca = xcalloc(n[0] + 1, 1);
	m.cb = xcalloc(n[1] + 1, 1);
	len = 2 * ((n[0] + n[1] + 1) / 2) + 3;
	/* Like GNU diff: about the square root of the size, at least 4096. */
	for (m.max_cost = 1; m.max_cost * m.max_cost < n[0] + n[1];)
		m.max_cost *= 2;
	if (m.max_cost < DIFF_MIN_COST)
		m.max_cost = DIFF_MIN_COST;
	m.v1 = xcalloc(len, sizeof *m.v1);
	m.v2 = xcalloc(len, sizeof *m.v2);
	diff_compare(&m, 0, n[0], 0, n[1]);
	for (i = 0; i < n[0]; i++) {
		if (m.ca[i])
			diff_changed(fa)[idx[0][i]] = 1;
	}
	for (i = 0; i < n[1]; i++) {
		if (m.cb[i])
			diff_changed(fb)[idx[1][i]] = 1;
	}

	free(m.v1);
	free(m.v2);
	free(m.ca);
	free(m.cb);
	for (k = 0; k < 2; k++) {
		free(count[k]);
		free(idx[k]);
		free(seq[k]);
	}
}

/*
 * Slide each run of changed lines of f over equal lines: up as far as it
 * goes, merging with runs before it, then down as far as it goes, merging
 * with runs after it; then back up to the last place where its end met a
 * run of changes in the other file, so that a deletion and an insertion
 * show as one change. This is where GNU diff and git place them. The
 * other file's changed lines tell, for any unchanged line of f, which
 * unchanged line of the other it stands for: j follows the line just
 * after the run.
 */
static void
diff_slide(struct diff_file *f, const struct diff_file *o)
{
	char		*ch = diff_changed(f);
	const char	*och = diff_changed(o);
	const long	*cls = f->cls;
	long		 n = f->n, i = 0, j = 0, start, runlen, corr;

	for (;;) {
		/* The next run, and the other file's line after its end. */
		while (i < n && !ch[i]) {
			while (och[j])
				j++;
			i++;
			j++;
		}
		if (i == n)
			break;
		start = i;
		while (ch[i])
			i++;
		while (och[j])
			j++;

		do {
			runlen = i - start;
			while (start > 0 && cls[start - 1] == cls[i - 1]) {
				ch[--start] = 1;
				ch[--i] = 0;
				while (ch[start - 1])
					start--;
				/* The line after the run: one earlier. */
				do
					j--;
				while (och[j]);
			}
			corr = och[j - 1] ? i : n;
			while (i < n && cls[start] == cls[i]) {
				ch[start++] = 0;
				ch[i++] = 1;
				while (ch[i])
					i++;
				/* One unchanged line later. */
				while (och[++j])
					corr = i;
			}
		} while (runlen != i - start);

		while (corr < i) {
			ch[--start] = 1;
			ch[--i] = 0;
			do
				j--;
			while (och[j]);
		}
	}
}

struct diff_change {
	long	a0, a1;		/* lines of a removed */
	long	b0, b1;		/* lines of b added */
};

static void
diff_put_line(struct buf *out, char prefix, const struct diff_line *l)
{
	buf_addc(out, prefix);
	buf_add(out, l->p, l->len);
	buf_addc(out, '\n');
	if (l->nonl)
		buf_adds(out, "\\ No newline at end of file\n");
}

/* A hunk range as diff -u prints it: "l", "l,n", or "l-1,0" if empty. */
static void
diff_put_range(struct buf *out, long start, long count)
{
	if (count == 0)
		buf_printf(out, "%ld,0", start);
	else if (count == 1)
		buf_printf(out, "%ld", start + 1);
	else
		buf_printf(out, "%ld,%ld", start + 1, count);
}

static void
diff_put_hunks(struct buf *out, const struct diff_file *fa,
    const struct diff_file *fb)
{
	const char		*ca = diff_changed(fa);
	const char		*cb = diff_changed(fb);
	struct diff_change	*v = NULL;
	size_t			 nv = 0, cap = 0, h, e, k;
	long			 i = 0, j = 0, sa, sb, ea, eb, x;

	while (i < fa->n || j < fb->n) {
		if (i < fa->n && j < fb->n && !ca[i] && !cb[j]) {
			i++;
			j++;
			continue;
		}
		if (nv == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			v = xreallocarray(v, cap, sizeof *v);
		}
		v[nv].a0 = i;
		v[nv].b0 = j;
		while (i < fa->n && ca[i])
			i++;
		while (j < fb->n && cb[j])
			j++;
		v[nv].a1 = i;
		v[nv].b1 = j;
		if (v[nv].a0 == i && v[nv].b0 == j)
			fatalx("%s: unchanged lines do not pair up", __func__);
		nv++;
	}

	for (h = 0; h < nv; h = e) {
		/* Changes closer than twice the context share a hunk. */
		for (e = h + 1; e < nv; e++) {
			if (v[e].a0 - v[e - 1].a1 > 2 * DIFF_CONTEXT)
				break;
		}
		sa = v[h].a0 > DIFF_CONTEXT ? v[h].a0 - DIFF_CONTEXT : 0;
		sb = v[h].b0 - (v[h].a0 - sa);
		ea = v[e - 1].a1 + DIFF_CONTEXT;
		if (ea > fa->n)
			ea = fa->n;
		eb = v[e - 1].b1 + (ea - v[e - 1].a1);
		buf_adds(out, "@@ -");
		diff_put_range(out, sa, ea - sa);
		buf_adds(out, " +");
		diff_put_range(out, sb, eb - sb);
		buf_adds(out, " @@\n");
		i = sa;
		for (k = h; k < e; k++) {
			for (; i < v[k].a0; i++)
				diff_put_line(out, ' ', &fa->lines[i]);
			for (; i < v[k].a1; i++)
				diff_put_line(out, '-', &fa->lines[i]);
			for (x = v[k].b0; x < v[k].b1; x++)
				diff_put_line(out, '+', &fb->lines[x]);
		}
		for (; i < ea; i++)
			diff_put_line(out, ' ', &fa->lines[i]);
	}
	free(v);
}

char *
diff_unified_text(const char *a, const char *b, const char *label_a,
    const char *label_b)
{
	struct diff_file	fa, fb;
	struct buf		out;
	long			nclasses;

	if (a == NULL)
		a = "";
	if (b == NULL)
		b = "";
	if (label_a == NULL)
		label_a = "a";
	if (label_b == NULL)
		label_b = "b";
	if (strcmp(a, b) == 0)
		return (NULL);
	diff_split_lines(a, &fa);
	diff_split_lines(b, &fb);
	nclasses = diff_classify_lines(&fa, &fb);
	diff_search(&fa, &fb, nclasses);
	diff_slide(&fa, &fb);
	diff_slide(&fb, &fa);

	buf_init(&out);
	buf_printf(&out, "--- %s\n+++ %s\n", label_a, label_b);
	diff_put_hunks(&out, &fa, &fb);
	diff_file_free(&fa);
	diff_file_free(&fb);
	return (buf_release(&out));
}

/*
 * Masking comes after the comparison (masks are equal exactly when the
 * values are) and before any text is made.
 */
char *
diff_resource_text(const struct resource *r, const struct json *live)
{
	return (diff_resource_text_mode(r, live, DIFF_PROJECT));
}

char *
diff_resource_text_mode(const struct resource *r, const struct json *live,
    enum diff_mode mode)
{
	struct json	*desired, *proj = NULL;
	char		*ta = NULL, *tb = NULL, *la = NULL, *lb = NULL;
	char		*out = NULL;
	int		 secret;

	desired = diff_clean(r->obj);
	if (live != NULL) {
		proj = diff_live_view(desired, live, mode);
		if (json_equal(proj, desired))
			goto done;
	}
	secret = diff_is_secret(desired) || diff_is_secret(proj);
	diff_mask_secret_pair(desired, proj);
	if (secret && proj != NULL && json_type(proj) != JSON_OBJECT) {
		/* Live is no object at all: show nothing of it. */
		json_free(proj);
		proj = diff_mask_new(DIFF_MASK_FIRST + DIFF_MASK_STEP);
	}
	ta = proj != NULL ? yaml_emit(proj) : xstrdup("");
	tb = yaml_emit(desired);
	if (proj != NULL)
		xasprintf(&la, "live/%s", r->id);
	else
		la = xstrdup("/dev/null");
	xasprintf(&lb, "desired/%s", r->id);
	out = diff_unified_text(ta, tb, la, lb);
done:
	free(ta);
	free(tb);
	free(la);
	free(lb);
	json_free(proj);
	json_free(desired);
	return (out);
}

/* A copy with every object's members in byte order of their keys. */
static struct json *
diff_sorted(const struct json *j)
{
	const struct json	 *c, **v;
	struct json		 *out;
	size_t			  i, n;

	switch (json_type(j)) {
	case JSON_ARRAY:
		out = json_new_array();
		for (c = json_child(j); c != NULL; c = json_next(c))
			json_array_append(out, diff_sorted(c));
		return (out);
	case JSON_OBJECT:
		n = json_count(j);
		v = xreallocarray(NULL, n + 1, sizeof *v);
		for (i = 0, c = json_child(j); c != NULL; c = json_next(c))
			v[i++] = c;
		qsort(v, n, sizeof *v, diff_key_cmp);
		out = json_new_object();
		for (i = 0; i < n; i++)
			json_append_member(out, json_key(v[i]),
			    diff_sorted(v[i]));
		free(v);
		return (out);
	default:
		return (json_dup(j));
	}
}

/* What kubectl diff shows of an object: all of it but managedFields. */
static struct json *
diff_kubectl_view(const struct json *obj)
{
	struct json	*o, *md;

	if (obj == NULL)
		return (NULL);
	o = diff_sorted(obj);
	if ((md = json_get(o, "metadata")) != NULL)
		json_remove(md, "managedFields");
	return (o);
}

char *
diff_merged_text(const char *id, const struct json *live,
    const struct json *merged)
{
	struct json	*a, *b;
	char		*ta, *tb, *la, *lb, *out = NULL;

	a = diff_kubectl_view(live);
	b = diff_kubectl_view(merged);
	if (a != NULL && b != NULL && json_equal(a, b))
		goto done;
	diff_mask_secret_pair(a, b);
	ta = a != NULL ? yaml_emit(a) : xstrdup("");
	tb = b != NULL ? yaml_emit(b) : xstrdup("");
	if (a != NULL)
		xasprintf(&la, "live/%s", id);
	else
		la = xstrdup("/dev/null");
	if (b != NULL)
		xasprintf(&lb, "merged/%s", id);
	else
		lb = xstrdup("/dev/null");
	out = diff_unified_text(ta, tb, la, lb);
	free(ta);
	free(tb);
	free(la);
	free(lb);
done:
	json_free(a);
	json_free(b);
	return (out);
}

char *
diff_prune_text(const char *id, const struct json *live)
{
	struct json	*clean;
	char		*text, *label, *out;

	if (live == NULL)
		return (NULL);
	clean = diff_clean(live);
	diff_mask_secret_pair(clean, NULL);
	text = yaml_emit(clean);
	xasprintf(&label, "live/%s", id);
	out = diff_unified_text(text, "", label, "/dev/null");
	free(label);
	free(text);
	json_free(clean);
	return (out);
}
