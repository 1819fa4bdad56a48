/*
 * yaml.c: YAML text to struct json documents with the position of every
 * node, and struct json back to YAML text. The only file that includes
 * <yaml.h>.
 *
 * Runs in whichever thread calls it and keeps no global state; a parsed
 * file builds its position index on the first question, so two threads
 * must not ask about one file at once. It must never abort on bad input:
 * every problem in the text goes back in cause as "NAME:LINE:COLUMN:
 * message". Alias expansion (YAML_MAX_ALIAS_NODES) and nesting
 * (YAML_MAX_DEPTH) are bounded before anything is built, so a hostile
 * file cannot make it use unbounded memory, time or stack.
 *
 * Parsing walks libyaml's events. Anchored nodes are remembered with the
 * number of nodes they expand to, so an alias is charged its full size
 * before it is copied. Merge keys ("<<: *base", "<<: [*a, *b]") are
 * supported: explicit keys win, then earlier sources over later ones.
 */
#include "config.h"

#include <yaml.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gitops.h"

/* Mappings up to this size find duplicate keys by a linear scan. */
#define YAML_SMALL_MAP	16

/* Where a node starts, and for an object member where its key starts. */
struct yaml_pos {
	const struct json	*node;
	int			 line;
	int			 column;
	int			 kline;		/* 0: not a member */
	int			 kcolumn;
};

/*
 * Positions are appended to a vector while parsing (cheap, in order); the
 * hash from node pointers to them is built the first time someone asks,
 * since most files are never asked about.
 */
struct yaml_posmap {
	struct yaml_pos	*v;
	size_t		 n;
	size_t		 cap;
	struct yaml_pos	**slots;	/* open addressing, or NULL */
	size_t		 size;		/* a power of two */
};

struct yaml_anchor {
	struct json	*node;		/* borrowed: in the tree, or kept */
	char		*text;		/* a scalar's text, for keys */
	size_t		 weight;	/* nodes a copy creates */
	int		 height;	/* collection levels */
};

struct yaml_parse {
	yaml_parser_t	 parser;
	yaml_event_t	 ev;
	int		 have_ev;
	const char	*name;
	const char	*text;
	size_t		 len;
	struct yaml_posmap *pm;
	struct strmap	*anchors;	/* per document, NULL if none */
	struct json	*keep;		/* freed at document end */
	size_t		 alias_nodes;	/* per file */
	int		 flags;
	char		*error;
};

/* What parsing one node hands its parent. */
struct yaml_node {
	struct json	*json;
	size_t		 weight;
	int		 height;
	int		 empty;		/* plain "", no tag nor anchor */
	int		 line;
	int		 column;
};

struct yaml_keyset {
	struct json	*obj;
	size_t		 n;
	struct strmap	*map;		/* past YAML_SMALL_MAP keys */
};

static int	yaml_node_parse(struct yaml_parse *, int, struct yaml_node *);

/* Position map. */

static size_t
yaml_posmap_hash(const void *p)
{
	uint64_t	h = (uint64_t)(uintptr_t)p;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return ((size_t)h);
}

static struct yaml_posmap *
yaml_posmap_new(size_t hint)
{
	struct yaml_posmap	*pm = xcalloc(1, sizeof *pm);

	pm->cap = hint < 64 ? 64 : hint;
	pm->v = xreallocarray(NULL, pm->cap, sizeof *pm->v);
	return (pm);
}

static void
yaml_posmap_free(struct yaml_posmap *pm)
{
	if (pm == NULL)
		return;
	free(pm->slots);
	free(pm->v);
	free(pm);
}

/* A later entry for the same node wins (an alias copy then its parent). */
static void
yaml_posmap_put(struct yaml_posmap *pm, const struct json *node, int line,
    int column, int kline, int kcolumn)
{
	struct yaml_pos	*p;

	if (pm->slots != NULL) {
		free(pm->slots);
		pm->slots = NULL;
	}
	if (pm->n == pm->cap) {
		pm->cap *= 2;
		pm->v = xreallocarray(pm->v, pm->cap, sizeof *pm->v);
	}
	p = &pm->v[pm->n++];
	p->node = node;
	p->line = line;
	p->column = column;
	p->kline = kline;
	p->kcolumn = kcolumn;
}

static struct yaml_pos **
yaml_posmap_slot(const struct yaml_posmap *pm, const void *node)
{
	size_t	i = yaml_posmap_hash(node) & (pm->size - 1);

	while (pm->slots[i] != NULL && pm->slots[i]->node != node)
		i = (i + 1) & (pm->size - 1);
	return (&pm->slots[i]);
}

static const struct yaml_pos *
yaml_posmap_get(const struct yaml_posmap *pm0, const struct json *node)
{
	struct yaml_posmap	*pm = (struct yaml_posmap *)pm0;
	size_t			 i;

	if (pm == NULL || node == NULL)
		return (NULL);
	if (pm->slots == NULL) {
		pm->size = 16;
		while (pm->size < pm->n * 2)
			pm->size *= 2;
		pm->slots = xcalloc(pm->size, sizeof *pm->slots);
		for (i = 0; i < pm->n; i++)
			*yaml_posmap_slot(pm, pm->v[i].node) = &pm->v[i];
	}
	return (*yaml_posmap_slot(pm, node));
}

/*
 * Give every node of a copied tree one position (where the alias or merge
 * that made it was). Returns the number of nodes and sets their height.
 */
static size_t
yaml_posmap_tree(struct yaml_posmap *pm, const struct json *j, int line,
    int column, int *height)
{
	const struct json	*c;
	size_t			 n = 1;
	int			 h, max = 0;

	if (pm != NULL)
		yaml_posmap_put(pm, j, line, column, line, column);
	for (c = json_child(j); c != NULL; c = json_next(c)) {
		n += yaml_posmap_tree(pm, c, line, column, &h);
		if (h > max)
			max = h;
	}
	switch (json_type(j)) {
	case JSON_ARRAY:
	case JSON_OBJECT:
		*height = max + 1;
		break;
	default:
		*height = 0;
		break;
	}
	return (n);
}

/* Errors. */

static void
yaml_error(struct yaml_parse *y, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
yaml_error(struct yaml_parse *y, int line, int column, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (y->error != NULL)
		return;
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	xasprintf(&y->error, "%s:%d:%d: %s", y->name, line, column, msg);
	free(msg);
}

/* libyaml's reader reports a byte offset: count lines and characters. */
static void
yaml_offset_position(const char *text, size_t len, size_t offset, int *line,
    int *column)
{
	size_t	i;

	*line = 1;
	*column = 1;
	for (i = 0; i < offset && i < len; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*column = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80)
			(*column)++;
	}
}

static void
yaml_error_syntax(struct yaml_parse *y)
{
	yaml_parser_t	*p = &y->parser;
	const char	*problem;
	int		 line, column;

	problem = p->problem != NULL ? p->problem : "invalid YAML";
	switch (p->error) {
	case YAML_MEMORY_ERROR:
		yaml_error(y, 1, 1, "out of memory");
		break;
	case YAML_READER_ERROR:
		yaml_offset_position(y->text, y->len, p->problem_offset,
		    &line, &column);
		yaml_error(y, line, column, "%s", problem);
		break;
	default:
		line = (int)p->problem_mark.line + 1;
		column = (int)p->problem_mark.column + 1;
		if (p->context != NULL) {
			yaml_error(y, line, column,
			    "%s (%s at line %d column %d)", problem, p->context,
			    (int)p->context_mark.line + 1,
			    (int)p->context_mark.column + 1);
		} else
			yaml_error(y, line, column, "%s", problem);
		break;
	}
}

static int
yaml_next(struct yaml_parse *y)
{
	if (y->have_ev) {
		yaml_event_delete(&y->ev);
		y->have_ev = 0;
	}
	if (!yaml_parser_parse(&y->parser, &y->ev)) {
		yaml_error_syntax(y);
		return (-1);
	}
	y->have_ev = 1;
	return (0);
}

/* Anchors. */

static struct yaml_anchor *
yaml_anchor_get(struct yaml_parse *y, const char *name)
{
	if (y->anchors == NULL)
		return (NULL);
	return (strmap_get(y->anchors, name));
}

/* Remember an anchored node; takes the name (libyaml's allocation). */
static void
yaml_anchor_set(struct yaml_parse *y, char *name, struct json *node,
    const char *text, size_t weight, int height)
{
	struct yaml_anchor	*a = xcalloc(1, sizeof *a), *old;

	a->node = node;
	a->text = text != NULL ? xstrdup(text) : NULL;
	a->weight = weight;
	a->height = height;
	if (y->anchors == NULL)
		y->anchors = strmap_new(16);
	if ((old = strmap_put(y->anchors, name, a)) != NULL) {
		free(old->text);
		free(old);
	}
	free(name);
}

static void
yaml_document_reset(struct yaml_parse *y)
{
	struct yaml_anchor	*a;
	size_t			 cursor = 0;
	void			*v;

	if (y->anchors != NULL) {
		while (strmap_next(y->anchors, &cursor, NULL, &v)) {
			a = v;
			free(a->text);
			free(a);
		}
		strmap_free(y->anchors);
		y->anchors = NULL;
	}
	json_free(y->keep);
	y->keep = NULL;
}

/* Keep a node alive (an anchor may point into it) until document end. */
static void
yaml_keep(struct yaml_parse *y, struct json *node)
{
	if (y->keep == NULL)
		y->keep = json_new_array();
	json_array_append(y->keep, node);
}

/* Steal a string out of the current event so deleting it keeps ours. */
static char *
yaml_steal(yaml_char_t **p)
{
	char	*s = (char *)*p;

	*p = NULL;
	return (s);
}

/*
 * Take a scalar's text out of the current event. libyaml grows its
 * strings by doubling, so a buffer the tree may keep is cut to size;
 * short text is interned (and this buffer freed) more often than not.
 */
static char *
yaml_steal_text(yaml_event_t *ev)
{
	size_t	len = ev->data.scalar.length;
	char	*s = yaml_steal(&ev->data.scalar.value);

	if (len <= JSON_INTERN_MAX_LEN)
		return (s);
	return (xreallocarray(s, len + 1, 1));
}

/* Scalars. */

enum yaml_kind {
	YAML_KIND_NULL,
	YAML_KIND_TRUE,
	YAML_KIND_FALSE,
	YAML_KIND_INT,
	YAML_KIND_FLOAT,
	YAML_KIND_STRING,
	/*
	 * A number a double cannot hold exactly: an integer past 2^53, or
	 * anything past a double's range. Refused rather than silently
	 * changed (quoted, it is a string like any other).
	 */
	YAML_KIND_INEXACT,
};

/* 2^53: integers up to it are exact in a double (and in JSON parsers). */
#define YAML_MAX_EXACT_INT	9007199254740992.0

static int
yaml_is_digits(const char *s, const char *set)
{
	if (*s == '\0')
		return (0);
	for (; *s != '\0'; s++) {
		if (strchr(set, *s) == NULL)
			return (0);
	}
	return (1);
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int
yaml_is_float(const char *s)
{
	int	digits = 0;

	if (*s == '-' || *s == '+')
		s++;
	while (*s >= '0' && *s <= '9') {
		s++;
		digits++;
	}
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9') {
			s++;
			digits++;
		}
	}
	if (digits == 0)
		return (0);
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (*s < '0' || *s > '9')
			return (0);
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return (*s == '\0');
}

static double
yaml_radix(const char *s, int base)
{
	double	d = 0;
	int	v;

	for (; *s != '\0'; s++) {
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else
			v = *s - 'A' + 10;
		d = d * base + v;
	}
	return (d);
}

/*
 * YAML 1.2 core schema. .inf and .nan stay strings: JSON has no such
 * numbers and Kubernetes never wants them.
 */
/*
 * An integer's kind, judged on its digits (a double would round 2^53 + 1
 * down to 2^53 and hide the loss): INT up to 2^53, else INEXACT.
 */
static enum yaml_kind
yaml_int_kind(const char *digits, int base)
{
	uintmax_t	v;
	char		*end;

	errno = 0;
	v = strtoumax(digits, &end, base);
	if (errno == ERANGE || *end != '\0' ||
	    v > (uintmax_t)YAML_MAX_EXACT_INT)
		return (YAML_KIND_INEXACT);
	return (YAML_KIND_INT);
}

static enum yaml_kind
yaml_resolve(const char *s, double *d)
{
	const char	*t = s;

	switch (*s) {
	case '\0':
	case '~':
		if (*s == '\0' || s[1] == '\0')
			return (YAML_KIND_NULL);
		break;
	case 'n':
	case 'N':
		if (strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
		    strcmp(s, "NULL") == 0)
			return (YAML_KIND_NULL);
		break;
	case 't':
	case 'T':
		if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 ||
		    strcmp(s, "TRUE") == 0)
			return (YAML_KIND_TRUE);
		break;
	case 'f':
	case 'F':
		if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 ||
		    strcmp(s, "FALSE") == 0)
			return (YAML_KIND_FALSE);
		break;
	case '0':
		if (s[1] == 'o' && yaml_is_digits(s + 2, "01234567")) {
			*d = yaml_radix(s + 2, 8);
			return (yaml_int_kind(s + 2, 8));
		}
		if (s[1] == 'x' && yaml_is_digits(s + 2,
		    "0123456789abcdefABCDEF")) {
			*d = yaml_radix(s + 2, 16);
			return (yaml_int_kind(s + 2, 16));
		}
		break;
	}
	if (*t == '-' || *t == '+')
		t++;
	if (yaml_is_digits(t, "0123456789")) {
		*d = strtod(s, NULL);
		return (yaml_int_kind(t, 10));
	}
	if (yaml_is_float(s)) {
		*d = strtod(s, NULL);
		return (isfinite(*d) ? YAML_KIND_FLOAT : YAML_KIND_INEXACT);
	}
	return (YAML_KIND_STRING);
}

/* A string node of the event's text, taken from the event if steal. */
static struct json *
yaml_string_json(yaml_event_t *ev, int steal)
{
	/* Short text is looked up in place: most of it is interned. */
	if (steal && ev->data.scalar.length > JSON_INTERN_VALUE_MAX_LEN)
		return (json_new_string_owned(yaml_steal_text(ev)));
	return (json_new_string((const char *)ev->data.scalar.value));
}

static struct json *
yaml_kind_json(enum yaml_kind k, yaml_event_t *ev, int steal, double d)
{
	switch (k) {
	case YAML_KIND_NULL:
		return (json_new_null());
	case YAML_KIND_TRUE:
		return (json_new_bool(1));
	case YAML_KIND_FALSE:
		return (json_new_bool(0));
	case YAML_KIND_INT:
	case YAML_KIND_FLOAT:
		return (json_new_number(d));
	default:
		return (yaml_string_json(ev, steal));
	}
}

/*
 * The node of a scalar event; NULL (error set) for a bad tagged value.
 * With steal, a string node takes the event's text.
 */
static struct json *
yaml_scalar_json(struct yaml_parse *y, yaml_event_t *ev, int steal)
{
	const char	*s = (const char *)ev->data.scalar.value;
	const char	*tag = (const char *)ev->data.scalar.tag;
	const char	*want = NULL;
	int		 plain;
	enum yaml_kind	 k;
	double		 d = 0;

	plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	if (tag == NULL || strncmp(tag, "tag:yaml.org,2002:", 18) != 0) {
		if (tag != NULL && strcmp(tag, "!") == 0)
			plain = 0;
		if (!plain)
			return (yaml_string_json(ev, steal));
		k = yaml_resolve(s, &d);
		/* Versions and tags: "1.10" stays "1.10", never 1.1. */
		if ((y->flags & YAML_PLAIN_STRINGS) != 0 &&
		    k != YAML_KIND_NULL)
			return (yaml_string_json(ev, steal));
		if (k == YAML_KIND_INEXACT)
			goto inexact;
		return (yaml_kind_json(k, ev, steal, d));
	}
	tag += 18;
	if (strcmp(tag, "str") == 0)
		return (yaml_string_json(ev, steal));
	k = yaml_resolve(s, &d);
	if (strcmp(tag, "null") == 0) {
		if (k != YAML_KIND_NULL)
			want = "!!null";
	} else if (strcmp(tag, "bool") == 0) {
		if (k != YAML_KIND_TRUE && k != YAML_KIND_FALSE)
			want = "!!bool";
	} else if (strcmp(tag, "int") == 0) {
		if (k != YAML_KIND_INT)
			want = "!!int";
	} else if (strcmp(tag, "float") == 0) {
		if (k != YAML_KIND_INT && k != YAML_KIND_FLOAT)
			want = "!!float";
	} else if (!plain)
		return (yaml_string_json(ev, steal));
	if (want != NULL) {
		yaml_error(y, (int)ev->start_mark.line + 1,
		    (int)ev->start_mark.column + 1, "invalid %s value '%s'",
		    want, s);
		return (NULL);
	}
	if (k == YAML_KIND_INEXACT && plain)
		goto inexact;
	return (yaml_kind_json(k, ev, steal, d));
inexact:
	yaml_error(y, (int)ev->start_mark.line + 1,
	    (int)ev->start_mark.column + 1, "number '%s' cannot be kept "
	    "exactly (integers up to 2^53 can): quote it to keep it as text",
	    s);
	return (NULL);
}

static int
yaml_scalar_parse(struct yaml_parse *y, struct yaml_node *out)
{
	yaml_event_t	*ev = &y->ev;
	char		*anchor;

	if (strlen((char *)ev->data.scalar.value) != ev->data.scalar.length) {
		yaml_error(y, out->line, out->column,
		    "NUL characters are not supported in strings");
		return (-1);
	}
	out->empty = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    ev->data.scalar.length == 0 && ev->data.scalar.tag == NULL &&
	    ev->data.scalar.anchor == NULL;
	/* An anchor keeps the text (for keys), so only then is it copied. */
	if ((out->json = yaml_scalar_json(y, ev,
	    ev->data.scalar.anchor == NULL)) == NULL)
		return (-1);
	out->weight = 1;
	if (ev->data.scalar.anchor != NULL) {
		anchor = yaml_steal(&ev->data.scalar.anchor);
		yaml_anchor_set(y, anchor, out->json,
		    (const char *)ev->data.scalar.value, 1, 0);
	}
	return (0);
}

/* Aliases. */

static int
yaml_alias_check(struct yaml_parse *y, const struct yaml_anchor *a,
    const char *name, int depth, int line, int column)
{
	if (a == NULL) {
		yaml_error(y, line, column, "undefined alias '%s'", name);
		return (-1);
	}
	if (depth + a->height - 1 > YAML_MAX_DEPTH) {
		yaml_error(y, line, column, "alias '%s' nests deeper than %d "
		    "levels", name, YAML_MAX_DEPTH);
		return (-1);
	}
	if (a->weight > YAML_MAX_ALIAS_NODES - y->alias_nodes) {
		yaml_error(y, line, column, "alias '%s' expands past %d nodes "
		    "created through aliases", name, YAML_MAX_ALIAS_NODES);
		return (-1);
	}
	y->alias_nodes += a->weight;
	return (0);
}

static int
yaml_alias_parse(struct yaml_parse *y, int depth, struct yaml_node *out)
{
	const char		*name = (const char *)y->ev.data.alias.anchor;
	struct yaml_anchor	*a = yaml_anchor_get(y, name);
	int			 h;

	if (yaml_alias_check(y, a, name, depth, out->line, out->column) == -1)
		return (-1);
	out->json = json_dup(a->node);
	out->weight = a->weight;
	out->height = a->height;
	yaml_posmap_tree(y->pm, out->json, out->line, out->column, &h);
	return (0);
}

/* Keys of one mapping, for duplicates and merges. */

static struct json *
yaml_keyset_find(const struct yaml_keyset *ks, const char *key)
{
	struct json	*c;
	const char	*k;

	if (ks->map != NULL)
		return (strmap_get(ks->map, key));
	for (c = json_child(ks->obj); c != NULL; c = json_next(c)) {
		k = json_key(c);
		if (k[0] == key[0] && strcmp(k, key) == 0)
			return (c);
	}
	return (NULL);
}

/* Record a member just appended to the object. */
static void
yaml_keyset_add(struct yaml_keyset *ks, const char *key, struct json *m)
{
	struct json	*c;

	ks->n++;
	if (ks->map != NULL) {
		strmap_put(ks->map, key, m);
		return;
	}
	if (ks->n <= YAML_SMALL_MAP)
		return;
	ks->map = strmap_new(ks->n * 2);
	for (c = json_child(ks->obj); c != NULL; c = json_next(c))
		strmap_put(ks->map, json_key(c), c);
}

/* Collections. */

static int
yaml_depth_check(struct yaml_parse *y, int depth, const struct yaml_node *out)
{
	if (depth <= YAML_MAX_DEPTH)
		return (0);
	yaml_error(y, out->line, out->column, "nesting deeper than %d levels",
	    YAML_MAX_DEPTH);
	return (-1);
}

static int
yaml_sequence_parse(struct yaml_parse *y, int depth, struct yaml_node *out)
{
	struct yaml_node	 child;
	char			*anchor = NULL;
	int			 height = 0;

	if (yaml_depth_check(y, depth, out) == -1)
		return (-1);
	anchor = yaml_steal(&y->ev.data.sequence_start.anchor);
	out->json = json_new_array();
	out->weight = 1;
	for (;;) {
		if (yaml_next(y) == -1)
			goto fail;
		if (y->ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		if (yaml_node_parse(y, depth + 1, &child) == -1)
			goto fail;
		json_array_append(out->json, child.json);
		yaml_posmap_put(y->pm, child.json, child.line, child.column,
		    0, 0);
		out->weight += child.weight;
		if (child.height > height)
			height = child.height;
	}
	out->height = height + 1;
	if (anchor != NULL)
		yaml_anchor_set(y, anchor, out->json, NULL, out->weight,
		    out->height);
	return (0);

fail:
	free(anchor);
	json_free(out->json);
	out->json = NULL;
	return (-1);
}

struct yaml_merge {
	const struct json	*src;	/* a mapping */
	int			 line;	/* of the "<<" key */
	int			 column;
};

struct yaml_merges {
	struct yaml_merge	*v;
	size_t			 n;
};

static int
yaml_merge_source(struct yaml_parse *y, int depth, struct yaml_merges *mv,
    int kline, int kcolumn)
{
	const char		*name;
	struct yaml_anchor	*a;
	struct yaml_node	 child;
	const struct json	*src;

	memset(&child, 0, sizeof child);
	child.line = (int)y->ev.start_mark.line + 1;
	child.column = (int)y->ev.start_mark.column + 1;
	switch (y->ev.type) {
	case YAML_ALIAS_EVENT:
		name = (const char *)y->ev.data.alias.anchor;
		a = yaml_anchor_get(y, name);
		if (yaml_alias_check(y, a, name, depth, child.line,
		    child.column) == -1)
			return (-1);
		src = a->node;
		break;
	case YAML_MAPPING_START_EVENT:
		if (yaml_node_parse(y, depth, &child) == -1)
			return (-1);
		yaml_keep(y, child.json);
		src = child.json;
		break;
	default:
		src = NULL;
		break;
	}
	if (json_type(src) != JSON_OBJECT) {
		yaml_error(y, child.line, child.column, "the value of a merge "
		    "key '<<' must be a mapping or a list of mappings");
		return (-1);
	}
	mv->v = xreallocarray(mv->v, mv->n + 1, sizeof *mv->v);
	mv->v[mv->n].src = src;
	mv->v[mv->n].line = kline;
	mv->v[mv->n].column = kcolumn;
	mv->n++;
	return (0);
}

static int
yaml_merge_parse(struct yaml_parse *y, int depth, struct yaml_merges *mv,
    int kline, int kcolumn)
{
	if (y->ev.type != YAML_SEQUENCE_START_EVENT)
		return (yaml_merge_source(y, depth, mv, kline, kcolumn));
	for (;;) {
		if (yaml_next(y) == -1)
			return (-1);
		if (y->ev.type == YAML_SEQUENCE_END_EVENT)
			return (0);
		if (yaml_merge_source(y, depth + 1, mv, kline, kcolumn) == -1)
			return (-1);
	}
}

/* Add the members of merge sources that the mapping does not have. */
static int
yaml_merge_apply(struct yaml_parse *y, int depth, struct yaml_node *out,
    struct yaml_keyset *ks, const struct yaml_merges *mv)
{
	const struct yaml_merge	*m;
	const struct json	*c;
	struct json		*d;
	size_t			 i;
	int			 h;

	for (i = 0; i < mv->n; i++) {
		m = &mv->v[i];
		for (c = json_child(m->src); c != NULL; c = json_next(c)) {
			if (yaml_keyset_find(ks, json_key(c)) != NULL)
				continue;
			yaml_posmap_tree(NULL, c, 0, 0, &h);
			if (depth + h > YAML_MAX_DEPTH) {
				yaml_error(y, m->line, m->column, "merge "
				    "nests deeper than %d levels",
				    YAML_MAX_DEPTH);
				return (-1);
			}
			d = json_dup(c);
			json_append_member(out->json, json_key(c), d);
			yaml_keyset_add(ks, json_key(c), d);
			out->weight += yaml_posmap_tree(y->pm, d, m->line,
			    m->column, &h);
			if (h + 1 > out->height)
				out->height = h + 1;
		}
	}
	return (0);
}

/*
 * The key of a mapping member: its text, allocated. *merge is set for
 * a plain "<<".
 */
static char *
yaml_key_parse(struct yaml_parse *y, int *merge)
{
	yaml_event_t		*ev = &y->ev;
	struct yaml_anchor	*a;
	const char		*name;
	char			*key, *anchor;
	struct json		*node;
	int			 line, column;

	*merge = 0;
	line = (int)ev->start_mark.line + 1;
	column = (int)ev->start_mark.column + 1;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (strlen((char *)ev->data.scalar.value) !=
		    ev->data.scalar.length) {
			yaml_error(y, line, column,
			    "NUL characters are not supported in strings");
			return (NULL);
		}
		if (ev->data.scalar.anchor != NULL) {
			if ((node = yaml_scalar_json(y, ev, 0)) == NULL)
				return (NULL);
			yaml_keep(y, node);
			anchor = yaml_steal(&ev->data.scalar.anchor);
			yaml_anchor_set(y, anchor, node,
			    (const char *)ev->data.scalar.value, 1, 0);
		}
		*merge = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    ev->data.scalar.tag == NULL &&
		    strcmp((char *)ev->data.scalar.value, "<<") == 0;
		return (yaml_steal_text(ev));
	case YAML_ALIAS_EVENT:
		name = (const char *)ev->data.alias.anchor;
		if ((a = yaml_anchor_get(y, name)) == NULL) {
			yaml_error(y, line, column, "undefined alias '%s'",
			    name);
			return (NULL);
		}
		if (a->text == NULL)
			break;
		key = xstrdup(a->text);
		return (key);
	default:
		break;
	}
	yaml_error(y, line, column, "non-scalar mapping key");
	return (NULL);
}

static int
yaml_mapping_parse(struct yaml_parse *y, int depth, struct yaml_node *out)
{
	struct yaml_keyset	 ks;
	struct yaml_merges	 mv;
	struct yaml_node	 child;
	const struct yaml_pos	*p;
	struct json		*prev;
	char			*anchor = NULL, *key = NULL;
	int			 height = 0, merge, kline, kcolumn;

	if (yaml_depth_check(y, depth, out) == -1)
		return (-1);
	anchor = yaml_steal(&y->ev.data.mapping_start.anchor);
	out->json = json_new_object();
	out->weight = 1;
	memset(&ks, 0, sizeof ks);
	ks.obj = out->json;
	memset(&mv, 0, sizeof mv);
	for (;;) {
		if (yaml_next(y) == -1)
			goto fail;
		if (y->ev.type == YAML_MAPPING_END_EVENT)
			break;
		kline = (int)y->ev.start_mark.line + 1;
		kcolumn = (int)y->ev.start_mark.column + 1;
		if ((key = yaml_key_parse(y, &merge)) == NULL)
			goto fail;
		if (yaml_next(y) == -1)
			goto fail;
		if (merge) {
			if (yaml_merge_parse(y, depth + 1, &mv, kline,
			    kcolumn) == -1)
				goto fail;
			free(key);
			key = NULL;
			continue;
		}
		if ((prev = yaml_keyset_find(&ks, key)) != NULL) {
			p = yaml_posmap_get(y->pm, prev);
			yaml_error(y, kline, kcolumn, "duplicate key '%s' "
			    "(first at line %d)", key,
			    p != NULL ? p->kline : 0);
			goto fail;
		}
		if (yaml_node_parse(y, depth + 1, &child) == -1)
			goto fail;
		json_append_member_owned(out->json, key, child.json);
		key = NULL;
		yaml_keyset_add(&ks, json_key(child.json), child.json);
		yaml_posmap_put(y->pm, child.json, child.line, child.column,
		    kline, kcolumn);
		out->weight += child.weight;
		if (child.height > height)
			height = child.height;
	}
	out->height = height + 1;
	if (mv.n != 0 && yaml_merge_apply(y, depth, out, &ks, &mv) == -1)
		goto fail;
	strmap_free(ks.map);
	free(mv.v);
	if (anchor != NULL)
		yaml_anchor_set(y, anchor, out->json, NULL, out->weight,
		    out->height);
	return (0);

fail:
	free(key);
	free(anchor);
	strmap_free(ks.map);
	free(mv.v);
	json_free(out->json);
	out->json = NULL;
	return (-1);
}

/* Parse the node whose first event is current; depth is its level. */
static int
yaml_node_parse(struct yaml_parse *y, int depth, struct yaml_node *out)
{
	memset(out, 0, sizeof *out);
	out->line = (int)y->ev.start_mark.line + 1;
	out->column = (int)y->ev.start_mark.column + 1;
	switch (y->ev.type) {
	case YAML_SCALAR_EVENT:
		return (yaml_scalar_parse(y, out));
	case YAML_ALIAS_EVENT:
		return (yaml_alias_parse(y, depth, out));
	case YAML_SEQUENCE_START_EVENT:
		return (yaml_sequence_parse(y, depth, out));
	case YAML_MAPPING_START_EVENT:
		return (yaml_mapping_parse(y, depth, out));
	default:
		yaml_error(y, out->line, out->column, "unexpected YAML event");
		return (-1);
	}
}

void
yaml_file_free(struct yaml_file *f)
{
	size_t	i;

	if (f == NULL)
		return;
	for (i = 0; i < f->ndocs; i++)
		json_free(f->docs[i].root);
	free(f->docs);
	free(f->name);
	yaml_posmap_free(f->pos);
	free(f);
}

int
yaml_parse(const char *name, const char *text, size_t len, int flags,
    struct yaml_file **out, char **cause)
{
	struct yaml_parse	 y;
	struct yaml_file	*f;
	struct yaml_node	 root;
	size_t			 size = 0;

	*out = NULL;
	memset(&y, 0, sizeof y);
	y.name = name;
	y.text = text;
	y.len = len;
	y.flags = flags;
	f = xcalloc(1, sizeof *f);
	f->name = xstrdup(name);
	f->pos = y.pm = yaml_posmap_new(len / 16);
	if (!yaml_parser_initialize(&y.parser))
		fatalx("yaml_parser_initialize: out of memory");
	/* libyaml asserts on a NULL string, even an empty one. */
	yaml_parser_set_input_string(&y.parser,
	    (const unsigned char *)(text != NULL ? text : ""), len);

	if (yaml_next(&y) == -1)
		goto fail;
	for (;;) {
		if (yaml_next(&y) == -1)
			goto fail;
		if (y.ev.type == YAML_STREAM_END_EVENT)
			break;
		/* DOCUMENT-START: the parser allows nothing else here. */
		if (yaml_next(&y) == -1)
			goto fail;
		if (yaml_node_parse(&y, 1, &root) == -1)
			goto fail;
		if (root.empty)
			json_free(root.json);
		else {
			yaml_posmap_put(y.pm, root.json, root.line,
			    root.column, 0, 0);
			if (f->ndocs == size) {
				size = size == 0 ? 4 : size * 2;
				f->docs = xreallocarray(f->docs, size,
				    sizeof *f->docs);
			}
			f->docs[f->ndocs].root = root.json;
			f->docs[f->ndocs].line = root.line;
			f->docs[f->ndocs].column = root.column;
			f->ndocs++;
		}
		/* DOCUMENT-END. */
		if (yaml_next(&y) == -1)
			goto fail;
		yaml_document_reset(&y);
	}
	if (f->ndocs == 0 && (flags & YAML_ALLOW_EMPTY) == 0) {
		yaml_error(&y, 1, 1, "no documents");
		goto fail;
	}
	if (y.have_ev)
		yaml_event_delete(&y.ev);
	yaml_parser_delete(&y.parser);
	*out = f;
	return (0);

fail:
	if (y.have_ev)
		yaml_event_delete(&y.ev);
	yaml_parser_delete(&y.parser);
	yaml_document_reset(&y);
	yaml_file_free(f);
	*cause = y.error;
	return (-1);
}

int
yaml_parse_file(const char *path, const char *name, int flags,
    struct yaml_file **out, char **cause)
{
	char	*data;
	size_t	 len;
	int	 rc;

	*out = NULL;
	if (file_read(path, YAML_MAX_FILE_SIZE, &data, &len, cause) == -1)
		return (-1);
	rc = yaml_parse(name != NULL ? name : path, data, len, flags, out,
	    cause);
	free(data);
	return (rc);
}

struct json *
yaml_doc_detach(struct yaml_file *f, size_t i)
{
	struct json	*root;

	if (i >= f->ndocs)
		return (NULL);
	root = f->docs[i].root;
	f->docs[i].root = NULL;
	return (root);
}

int
yaml_node_position(const struct yaml_file *f, const struct json *node,
    int *line, int *column)
{
	const struct yaml_pos	*p = yaml_posmap_get(f->pos, node);

	*line = *column = 0;
	if (p == NULL)
		return (0);
	if (p->kline != 0) {
		*line = p->kline;
		*column = p->kcolumn;
	} else {
		*line = p->line;
		*column = p->column;
	}
	return (1);
}

int
yaml_value_position(const struct yaml_file *f, const struct json *node,
    int *line, int *column)
{
	const struct yaml_pos	*p = yaml_posmap_get(f->pos, node);

	*line = *column = 0;
	if (p == NULL)
		return (0);
	*line = p->line;
	*column = p->column;
	return (1);
}

/* Emitting. */

/* Decode one UTF-8 character; 0 if the bytes are not valid UTF-8. */
static size_t
yaml_utf8(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t		need, i;
	uint32_t	c = s[0];

	if (c < 0x80) {
		*cp = c;
		return (1);
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		c &= 0x07;
	} else
		return (0);
	if (n < need + 1)
		return (0);
	for (i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (0);
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((need == 2 && c < 0x800) || (need == 3 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return (0);
	*cp = c;
	return (need + 1);
}

/*
 * A character that may appear as itself outside double quotes: YAML's
 * printable set less the characters YAML 1.1 reads as line breaks, and
 * the byte order mark.
 */
static int
yaml_printable(uint32_t c)
{
	if (c >= 0x20 && c <= 0x7e)
		return (1);
	if (c < 0xa0 || c == 0x2028 || c == 0x2029 || c == 0xfeff)
		return (0);
	return ((c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) ||
	    (c >= 0x10000 && c <= 0x10ffff));
}

/* Every character printable (tab and newline allowed if asked). */
static int
yaml_all_printable(const char *s, int allow_breaks)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n = strlen(s), k;
	uint32_t		 c;

	while (n != 0) {
		if ((k = yaml_utf8(p, n, &c)) == 0)
			return (0);
		if (!yaml_printable(c) &&
		    !(allow_breaks && (c == '\n' || c == '\t')))
			return (0);
		p += k;
		n -= k;
	}
	return (1);
}

static int
yaml_in_list(const char *s, const char *const *list)
{
	for (; *list != NULL; list++) {
		if (strcmp(s, *list) == 0)
			return (1);
	}
	return (0);
}

/* Can this string be written as a plain scalar and read back the same? */
static int
yaml_plain_ok(const char *s)
{
	static const char *const words[] = {
		"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
		"on", "On", "ON", "off", "Off", "OFF", "<<", "=",
		".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN", NULL
	};
	size_t	 n = strlen(s);
	double	 d;

	if (n == 0 || yaml_resolve(s, &d) != YAML_KIND_STRING)
		return (0);
	if (yaml_in_list(s, words))
		return (0);
	if (strchr("-?:,[]{}#&*!|>'\"%@`+ ", s[0]) != NULL)
		return (0);
	if ((s[0] >= '0' && s[0] <= '9') ||
	    (s[0] == '.' && (s[1] == '.' || (s[1] >= '0' && s[1] <= '9'))))
		return (0);
	if (s[n - 1] == ' ' || s[n - 1] == ':')
		return (0);
	if (strstr(s, ": ") != NULL || strstr(s, " #") != NULL)
		return (0);
	return (yaml_all_printable(s, 0));
}

static void
yaml_emit_quoted(struct buf *b, const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n = strlen(s), k;
	uint32_t		 c;

	buf_addc(b, '"');
	while (n != 0) {
		if ((k = yaml_utf8(p, n, &c)) == 0) {
			/* Not UTF-8: cannot round-trip; keep the byte. */
			buf_printf(b, "\\x%02X", *p);
			p++;
			n--;
			continue;
		}
		switch (c) {
		case '"':
			buf_adds(b, "\\\"");
			break;
		case '\\':
			buf_adds(b, "\\\\");
			break;
		case '\n':
			buf_adds(b, "\\n");
			break;
		case '\t':
			buf_adds(b, "\\t");
			break;
		case '\r':
			buf_adds(b, "\\r");
			break;
		default:
			if (yaml_printable(c))
				buf_add(b, p, k);
			else if (c <= 0xff)
				buf_printf(b, "\\x%02X", c);
			else if (c <= 0xffff)
				buf_printf(b, "\\u%04X", c);
			else
				buf_printf(b, "\\U%08X", c);
			break;
		}
		p += k;
		n -= k;
	}
	buf_addc(b, '"');
}

/*
 * A multi-line string that a literal block holds exactly: printable, no
 * whitespace at the end of a line (a block cannot tell it from
 * indentation), something besides line breaks.
 */
static int
yaml_literal_ok(const char *s)
{
	const char	*p;
	int		 text = 0;

	if (strchr(s, '\n') == NULL)
		return (0);
	for (p = s; *p != '\0'; p++) {
		if ((*p == ' ' || *p == '\t') &&
		    (p[1] == '\n' || p[1] == '\0'))
			return (0);
		if (*p != '\n')
			text = 1;
	}
	return (text && yaml_all_printable(s, 1));
}

static void
yaml_emit_indent(struct buf *b, int indent)
{
	int	i;

	for (i = 0; i < indent; i++)
		buf_addc(b, ' ');
}

/* A literal block after "key: " or "- ", content at indent. */
static void
yaml_emit_literal(struct buf *b, const char *s, int indent)
{
	const char	*p, *end, *nl;
	size_t		 n = strlen(s), trailing = 0, len;

	while (trailing < n && s[n - 1 - trailing] == '\n')
		trailing++;
	buf_addc(b, '|');
	if (s[0] == ' ' || s[0] == '\t' || s[0] == '\n')
		buf_addc(b, '2');
	if (trailing == 0)
		buf_addc(b, '-');
	else if (trailing > 1)
		buf_addc(b, '+');
	buf_addc(b, '\n');
	end = s + n - trailing;
	for (p = s; p < end;) {
		nl = memchr(p, '\n', end - p);
		len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (len != 0) {
			yaml_emit_indent(b, indent);
			buf_add(b, p, len);
		}
		buf_addc(b, '\n');
		p += len + 1;
	}
	for (; trailing > 1; trailing--)
		buf_addc(b, '\n');
}

static void
yaml_emit_number(struct buf *b, double d)
{
	char	tmp[64];
	int	prec;

	if (!isfinite(d)) {
		/* As cJSON prints them. */
		buf_adds(b, "null");
		return;
	}
	if (d == floor(d) && fabs(d) <= 9007199254740992.0) {
		snprintf(tmp, sizeof tmp, "%.0f", d);
		buf_adds(b, tmp);
		return;
	}
	for (prec = 15; prec < 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	if (prec == 17)
		snprintf(tmp, sizeof tmp, "%.17g", d);
	/*
	 * An integral value past 2^53 printed as digits alone would read
	 * back as an inexact integer (refused): keep it a float.
	 */
	if (strpbrk(tmp, ".eE") == NULL)
		strlcat(tmp, ".0", sizeof tmp);
	buf_adds(b, tmp);
}

static void
yaml_emit_string(struct buf *b, const char *s)
{
	if (yaml_plain_ok(s))
		buf_adds(b, s);
	else
		yaml_emit_quoted(b, s);
}

/* A scalar or an empty collection, then the end of the line. */
static void
yaml_emit_scalar(struct buf *b, const struct json *j, int indent)
{
	const char	*s;

	switch (json_type(j)) {
	case JSON_TRUE:
		buf_adds(b, "true\n");
		return;
	case JSON_FALSE:
		buf_adds(b, "false\n");
		return;
	case JSON_NUMBER:
		yaml_emit_number(b, json_number(j));
		break;
	case JSON_STRING:
		s = json_string(j);
		if (yaml_literal_ok(s)) {
			yaml_emit_literal(b, s, indent);
			return;
		}
		yaml_emit_string(b, s);
		break;
	case JSON_ARRAY:
		buf_adds(b, "[]");
		break;
	case JSON_OBJECT:
		buf_adds(b, "{}");
		break;
	default:
		buf_adds(b, "null");
		break;
	}
	buf_addc(b, '\n');
}

static int
yaml_is_block(const struct json *j)
{
	enum json_type	t = json_type(j);

	return ((t == JSON_ARRAY || t == JSON_OBJECT) && json_child(j) != NULL);
}

static void	yaml_emit_mapping(struct buf *, const struct json *, int,
		    int);
static void	yaml_emit_sequence(struct buf *, const struct json *, int,
		    int);

/*
 * After "- ", or after ": " of an explicit key: a block collection
 * starts on the same line, compact.
 */
static void
yaml_emit_compact(struct buf *b, const struct json *v, int indent)
{
	buf_addc(b, ' ');
	if (!yaml_is_block(v))
		yaml_emit_scalar(b, v, indent + 2);
	else if (json_type(v) == JSON_OBJECT)
		yaml_emit_mapping(b, v, indent + 2, 1);
	else
		yaml_emit_sequence(b, v, indent + 2, 1);
}

/* Members at indent; the first on the current line if inline. */
static void
yaml_emit_mapping(struct buf *b, const struct json *obj, int indent,
    int inline_first)
{
	const struct json	*m;
	const char		*key;
	size_t			 start;
	int			 first = 1;

	for (m = json_child(obj); m != NULL; m = json_next(m)) {
		if (!first || !inline_first)
			yaml_emit_indent(b, indent);
		first = 0;
		key = json_key(m);
		start = b->len;
		yaml_emit_string(b, key);
		if (b->len - start > 1000) {
			/* Past libyaml's 1024-character simple key limit. */
			b->len = start;
			b->data[start] = '\0';
			buf_adds(b, "? ");
			yaml_emit_quoted(b, key);
			buf_addc(b, '\n');
			yaml_emit_indent(b, indent);
			buf_addc(b, ':');
			yaml_emit_compact(b, m, indent);
			continue;
		}
		buf_addc(b, ':');
		if (!yaml_is_block(m)) {
			buf_addc(b, ' ');
			yaml_emit_scalar(b, m, indent + 2);
		} else if (json_type(m) == JSON_OBJECT) {
			buf_addc(b, '\n');
			yaml_emit_mapping(b, m, indent + 2, 0);
		} else {
			/* Like kubectl: a list at its key's indentation. */
			buf_addc(b, '\n');
			yaml_emit_sequence(b, m, indent, 0);
		}
	}
}

static void
yaml_emit_sequence(struct buf *b, const struct json *arr, int indent,
    int inline_first)
{
	const struct json	*item;
	int			 first = 1;

	for (item = json_child(arr); item != NULL; item = json_next(item)) {
		if (!first || !inline_first)
			yaml_emit_indent(b, indent);
		first = 0;
		buf_addc(b, '-');
		yaml_emit_compact(b, item, indent);
	}
}

char *
yaml_emit(const struct json *j)
{
	struct buf	b;

	buf_init(&b);
	if (!yaml_is_block(j))
		yaml_emit_scalar(&b, j, 2);
	else if (json_type(j) == JSON_OBJECT)
		yaml_emit_mapping(&b, j, 0, 0);
	else
		yaml_emit_sequence(&b, j, 0, 0);
	return (buf_release(&b));
}

/*
 * ------------------------------------------------------------------------
 * Byte-preserving edits (version bumps).
 *
 * An edit never goes through the emitter (it drops comments): the events
 * of the first document locate the scalar to change, or the mapping to
 * add a member to, and the new text is spliced into the original bytes.
 * The result is parsed again and compared with the original tree with
 * only the edit applied; anything else is refused rather than written.
 * libyaml's marks count characters (a CR LF pair counts two), so they are
 * turned into byte offsets by walking the UTF-8 text.
 * ------------------------------------------------------------------------
 */

/* One step of a path: a mapping key, or (key NULL) a list index. */
struct yaml_edit_seg {
	const char	*key;
	size_t		 index;
};

/* What locating a path found: the node, or where its parent ends. */
struct yaml_edit_loc {
	int			found;
	size_t			level;		/* segments matched */
	/* The node at the path (found). */
	yaml_event_type_t	type;
	yaml_scalar_style_t	style;
	int			tagged;
	int			inflow;		/* inside a flow collection */
	size_t			start, end;	/* characters */
	size_t			kstart;		/* its key, or SIZE_MAX */
	int			line, column;
	/* The collection at level where segs[level] is missing. */
	int			cflow;
	int			cseq;
	int			chas;		/* has entries */
	size_t			cfirst;		/* first entry starts */
	int			cfcolumn;	/* its column, 0-based */
	size_t			clast;		/* last content ends */
	size_t			cendstart;	/* a flow end ('}', ']') */
	int			cline, ccolumn;
};

struct yaml_edit_walk {
	yaml_parser_t		 parser;
	yaml_event_t		 ev;
	int			 have_ev;
	const char		*name;
	const struct yaml_edit_seg *segs;
	size_t			 nseg;
	struct yaml_edit_loc	*loc;
	char			*error;
};

/* "staging.checkout-service", "images[2].newTag": for messages. */
static char *
yaml_edit_label(const struct yaml_edit_seg *segs, size_t n)
{
	struct buf	b;
	size_t		i;

	buf_init(&b);
	for (i = 0; i < n; i++) {
		if (segs[i].key != NULL)
			buf_printf(&b, "%s%s", i == 0 ? "" : ".", segs[i].key);
		else
			buf_printf(&b, "[%zu]", segs[i].index);
	}
	if (b.len == 0)
		buf_adds(&b, "the document");
	return (buf_release(&b));
}

static void
yaml_edit_error(struct yaml_edit_walk *w, int line, int column,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
yaml_edit_error(struct yaml_edit_walk *w, int line, int column,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (w->error != NULL)
		return;
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	xasprintf(&w->error, "%s:%d:%d: %s", w->name, line, column, msg);
	free(msg);
}

static int
yaml_edit_next(struct yaml_edit_walk *w)
{
	yaml_parser_t	*p = &w->parser;

	if (w->have_ev) {
		yaml_event_delete(&w->ev);
		w->have_ev = 0;
	}
	if (!yaml_parser_parse(p, &w->ev)) {
		yaml_edit_error(w, (int)p->problem_mark.line + 1,
		    (int)p->problem_mark.column + 1, "%s",
		    p->problem != NULL ? p->problem : "invalid YAML");
		return (-1);
	}
	w->have_ev = 1;
	return (0);
}

/* Skip the node whose first event is current; *end: where content ends. */
static int
yaml_edit_skip(struct yaml_edit_walk *w, size_t *end)
{
	int	flow;

	switch (w->ev.type) {
	case YAML_SCALAR_EVENT:
	case YAML_ALIAS_EVENT:
		*end = w->ev.end_mark.index;
		return (0);
	case YAML_SEQUENCE_START_EVENT:
		flow = w->ev.data.sequence_start.style ==
		    YAML_FLOW_SEQUENCE_STYLE;
		break;
	case YAML_MAPPING_START_EVENT:
		flow = w->ev.data.mapping_start.style ==
		    YAML_FLOW_MAPPING_STYLE;
		break;
	default:
		yaml_edit_error(w, (int)w->ev.start_mark.line + 1,
		    (int)w->ev.start_mark.column + 1, "unexpected YAML event");
		return (-1);
	}
	for (;;) {
		if (yaml_edit_next(w) == -1)
			return (-1);
		if (w->ev.type == YAML_SEQUENCE_END_EVENT ||
		    w->ev.type == YAML_MAPPING_END_EVENT) {
			/* A block end's mark is where the next token is. */
			if (flow)
				*end = w->ev.end_mark.index;
			return (0);
		}
		if (yaml_edit_skip(w, end) == -1)
			return (-1);
	}
}

/*
 * Walk down the path from the node whose first event is current. Returns
 * 1 with loc filled (the node, or the collection missing the next step),
 * or -1 with w->error set.
 */
static int
yaml_edit_descend(struct yaml_edit_walk *w, size_t level, int inflow)
{
	struct yaml_edit_loc		*l = w->loc;
	const struct yaml_edit_seg	*s;
	yaml_event_t			*ev = &w->ev;
	const char			*anchor = NULL, *key;
	char				*label;
	size_t				 i, end, kstart;
	int				 line, column, ismap, flow, match;

	line = (int)ev->start_mark.line + 1;
	column = (int)ev->start_mark.column + 1;
	label = yaml_edit_label(w->segs, level);
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		yaml_edit_error(w, line, column, "'%s' is an alias: editing "
		    "through it would change other places", label);
		goto fail;
	case YAML_SCALAR_EVENT:
		anchor = (const char *)ev->data.scalar.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = (const char *)ev->data.sequence_start.anchor;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = (const char *)ev->data.mapping_start.anchor;
		break;
	default:
		yaml_edit_error(w, line, column, "unexpected YAML event");
		goto fail;
	}
	if (anchor != NULL) {
		yaml_edit_error(w, line, column, "'%s' has an anchor (&%s): "
		    "editing it would change its aliases too", label, anchor);
		goto fail;
	}
	if (level == w->nseg) {
		l->found = 1;
		l->level = level;
		l->type = ev->type;
		l->inflow = inflow;
		l->start = ev->start_mark.index;
		l->end = ev->end_mark.index;
		l->line = line;
		l->column = column;
		if (ev->type == YAML_SCALAR_EVENT) {
			l->style = ev->data.scalar.style;
			l->tagged = ev->data.scalar.tag != NULL;
		}
		free(label);
		return (1);
	}
	s = &w->segs[level];
	ismap = ev->type == YAML_MAPPING_START_EVENT;
	if (s->key != NULL ? !ismap : ev->type != YAML_SEQUENCE_START_EVENT) {
		if (level == 0)
			yaml_edit_error(w, line, column, "the document is not "
			    "a %s", s->key != NULL ? "mapping" : "list");
		else
			yaml_edit_error(w, line, column, "'%s' is not a %s",
			    label, s->key != NULL ? "mapping" : "list");
		goto fail;
	}
	free(label);
	label = NULL;
	if (ismap)
		flow = ev->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
	else
		flow = ev->data.sequence_start.style ==
		    YAML_FLOW_SEQUENCE_STYLE;
	end = ev->end_mark.index;
	for (i = 0;; i++) {
		if (yaml_edit_next(w) == -1)
			return (-1);
		if (ev->type == YAML_MAPPING_END_EVENT ||
		    ev->type == YAML_SEQUENCE_END_EVENT)
			break;
		if (i == 0) {
			l->cfirst = ev->start_mark.index;
			l->cfcolumn = (int)ev->start_mark.column;
		}
		if (!ismap) {
			if (i == s->index) {
				l->kstart = SIZE_MAX;
				return (yaml_edit_descend(w, level + 1,
				    inflow || flow));
			}
			if (yaml_edit_skip(w, &end) == -1)
				return (-1);
			continue;
		}
		key = (const char *)ev->data.scalar.value;
		match = ev->type == YAML_SCALAR_EVENT &&
		    strlen(key) == ev->data.scalar.length &&
		    strcmp(key, s->key) == 0;
		kstart = ev->start_mark.index;
		if (yaml_edit_skip(w, &end) == -1 || yaml_edit_next(w) == -1)
			return (-1);
		if (match) {
			l->kstart = kstart;
			return (yaml_edit_descend(w, level + 1,
			    inflow || flow));
		}
		if (yaml_edit_skip(w, &end) == -1)
			return (-1);
	}
	l->found = 0;
	l->level = level;
	l->cflow = flow;
	l->cseq = !ismap;
	l->chas = i != 0;
	l->clast = end;
	l->cendstart = ev->start_mark.index;
	l->cline = line;
	l->ccolumn = column;
	return (1);

fail:
	free(label);
	return (-1);
}

static int
yaml_edit_locate(const char *name, const char *buf, size_t len,
    const struct yaml_edit_seg *segs, size_t n, struct yaml_edit_loc *loc,
    char **cause)
{
	struct yaml_edit_walk	w;
	int			rc = -1;

	memset(&w, 0, sizeof w);
	memset(loc, 0, sizeof *loc);
	loc->kstart = SIZE_MAX;
	w.name = name;
	w.segs = segs;
	w.nseg = n;
	w.loc = loc;
	if (!yaml_parser_initialize(&w.parser))
		fatalx("yaml_parser_initialize: out of memory");
	yaml_parser_set_input_string(&w.parser,
	    (const unsigned char *)(buf != NULL ? buf : ""), len);
	/* STREAM-START, then DOCUMENT-START or STREAM-END. */
	if (yaml_edit_next(&w) == -1 || yaml_edit_next(&w) == -1)
		goto out;
	if (w.ev.type != YAML_DOCUMENT_START_EVENT) {
		yaml_edit_error(&w, 1, 1, "no documents");
		goto out;
	}
	if (yaml_edit_next(&w) == -1)
		goto out;
	if (yaml_edit_descend(&w, 0, 0) == 1)
		rc = 0;
out:
	if (w.have_ev)
		yaml_event_delete(&w.ev);
	yaml_parser_delete(&w.parser);
	if (rc == -1)
		*cause = w.error;
	else
		free(w.error);
	return (rc);
}

/* The byte offset of libyaml's character index. */
static size_t
yaml_edit_byte(const char *buf, size_t len, size_t index)
{
	size_t	i = 0, n = 0;

	/* The reader drops a byte order mark before counting. */
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	for (; i < len; i++) {
		if (((unsigned char)buf[i] & 0xc0) == 0x80)
			continue;
		if (n == index)
			return (i);
		n++;
	}
	return (len);
}

/* The file's line break: CR LF if its first line ends so. */
static const char *
yaml_edit_eol(const char *buf, size_t len)
{
	const char	*nl = memchr(buf, '\n', len);

	if (nl != NULL && nl > buf && nl[-1] == '\r')
		return ("\r\n");
	return ("\n");
}

static void
yaml_edit_spaces(struct buf *b, int n)
{
	for (; n > 0; n--)
		buf_addc(b, ' ');
}

/* A key or a name: plain when it reads back the same, else quoted. */
static void
yaml_edit_key(struct buf *b, const char *s, int inflow)
{
	if (yaml_plain_ok(s) && (!inflow || strpbrk(s, ",[]{}") == NULL))
		buf_adds(b, s);
	else
		yaml_emit_quoted(b, s);
}

/* The new text of a scalar, in the old one's style where possible. */
static void
yaml_edit_scalar_text(struct buf *b, const char *value,
    yaml_scalar_style_t style, int inflow)
{
	const char	*p;

	switch (style) {
	case YAML_PLAIN_SCALAR_STYLE:
		if (yaml_plain_ok(value) &&
		    (!inflow || strpbrk(value, ",[]{}") == NULL)) {
			buf_adds(b, value);
			return;
		}
		break;
	case YAML_SINGLE_QUOTED_SCALAR_STYLE:
		if (!yaml_all_printable(value, 0))
			break;
		buf_addc(b, '\'');
		for (p = value; *p != '\0'; p++) {
			if (*p == '\'')
				buf_addc(b, '\'');
			buf_addc(b, *p);
		}
		buf_addc(b, '\'');
		return;
	default:
		break;
	}
	yaml_emit_quoted(b, value);
}

/* The node at a path of a tree, or NULL. */
static struct json *
yaml_edit_tree_get(const struct json *j, const struct yaml_edit_seg *segs,
    size_t n)
{
	size_t	i;

	for (i = 0; i < n && j != NULL; i++) {
		if (segs[i].key != NULL)
			j = json_type(j) == JSON_OBJECT ?
			    json_get(j, segs[i].key) : NULL;
		else
			j = json_type(j) == JSON_ARRAY ?
			    json_array_get(j, segs[i].index) : NULL;
	}
	return ((struct json *)j);
}

/* Set a member at a path (keys only at the end), making mappings. */
static void
yaml_edit_tree_set(struct json *j, const struct yaml_edit_seg *segs,
    size_t n, struct json *v)
{
	struct json	*c;
	size_t		 i;

	for (i = 0; i + 1 < n; i++) {
		if (segs[i].key == NULL) {
			j = json_array_get(j, segs[i].index);
			continue;
		}
		if ((c = json_get(j, segs[i].key)) == NULL ||
		    json_type(c) == JSON_NULL) {
			c = json_new_object();
			json_set(j, segs[i].key, c);
		}
		j = c;
	}
	json_set(j, segs[n - 1].key, v);
}

/*
 * Parse the edited text and check it holds want as its first document and
 * the original's other documents unchanged.
 */
static int
yaml_edit_verify(const char *name, const struct yaml_file *f0,
    const struct json *want, const char *text, size_t len, char **cause)
{
	struct yaml_file	*f1;
	char			*why = NULL;
	size_t			 i;
	int			 ok;

	if (yaml_parse(name, text, len, 0, &f1, &why) == -1) {
		xasprintf(cause, "%s: the edited text does not parse (%s): "
		    "refusing to write it", name, why);
		free(why);
		return (-1);
	}
	ok = f1->ndocs == f0->ndocs && json_equal(f1->docs[0].root, want);
	for (i = 1; ok && i < f0->ndocs; i++)
		ok = json_equal(f1->docs[i].root, f0->docs[i].root);
	yaml_file_free(f1);
	if (!ok) {
		xasprintf(cause, "%s: the edited text does not read back as "
		    "the intended change: refusing to write it", name);
		return (-1);
	}
	return (0);
}

/* Where new lines go after a collection's last content: a byte offset. */
static size_t
yaml_edit_line_after(const char *buf, size_t len, size_t last, int *needeol)
{
	size_t	p = yaml_edit_byte(buf, len, last);

	*needeol = 0;
	if (p == 0 || buf[p - 1] == '\n')
		return (p);
	while (p < len && buf[p] != '\n')
		p++;
	if (p == len) {
		*needeol = 1;
		return (len);
	}
	return (p + 1);
}

/*
 * Insert into the collection loc stops in: block text (whole lines, each
 * ending in eol) after its last line, or flow text (without its leading
 * ", ") after its last entry.
 */
static void
yaml_edit_insert(const char *buf, size_t len, const struct yaml_edit_loc *l,
    const char *block, const char *flow, const char *eol, struct buf *out)
{
	size_t	at;
	int	needeol;

	if (l->cflow) {
		at = yaml_edit_byte(buf, len, l->chas ? l->clast :
		    l->cendstart);
		buf_add(out, buf, at);
		if (l->chas)
			buf_adds(out, ", ");
		buf_adds(out, flow);
	} else {
		at = yaml_edit_line_after(buf, len, l->clast, &needeol);
		buf_add(out, buf, at);
		if (needeol)
			buf_adds(out, eol);
		buf_add(out, block, strlen(block) - (needeol ?
		    strlen(eol) : 0));
	}
	buf_add(out, buf + at, len - at);
}

/*
 * Put block lines on the lines after a key whose value is empty (null),
 * at its column plus step; l locates that value.
 */
static int
yaml_edit_null_lines(const char *name, const char *buf, size_t len,
    const struct yaml_edit_loc *l, struct buf *block, int *column,
    const char *eol, struct buf *out, char **cause)
{
	size_t	k, a;
	int	needeol;

	if (!l->found || l->type != YAML_SCALAR_EVENT || l->inflow ||
	    l->style != YAML_PLAIN_SCALAR_STYLE || l->tagged ||
	    l->start != l->end || l->kstart == SIZE_MAX) {
		xasprintf(cause, "%s:%d:%d: the value is null but not empty: "
		    "cannot add to it", name, l->line, l->column);
		return (-1);
	}
	if (block == NULL) {
		/* Only the key's column is wanted. */
		*column = 0;
		k = yaml_edit_byte(buf, len, l->kstart);
		while (k > 0 && buf[k - 1] != '\n') {
			k--;
			(*column)++;
		}
		return (0);
	}
	/* On the lines after the key's (a comment beside it stays there). */
	a = yaml_edit_line_after(buf, len, l->start, &needeol);
	buf_add(out, buf, a);
	if (needeol)
		buf_adds(out, eol);
	buf_add(out, block->data, block->len - (needeol ? strlen(eol) : 0));
	buf_add(out, buf + a, len - a);
	return (0);
}

/* Nested "key:" lines under an empty value, the last with the value. */
static int
yaml_edit_under_null(const char *name, const char *buf, size_t len,
    const struct yaml_edit_loc *l, const struct yaml_edit_seg *segs,
    size_t n, const char *value, const char *eol, struct buf *out,
    char **cause)
{
	struct buf	block;
	size_t		i;
	int		column, rc;

	if (yaml_edit_null_lines(name, buf, len, l, NULL, &column, eol, out,
	    cause) == -1)
		return (-1);
	buf_init(&block);
	for (i = 0; i < n; i++) {
		if (segs[i].key == NULL)
			fatalx("%s: list index under a null", __func__);
		yaml_edit_spaces(&block, column + 2 * (int)(i + 1));
		yaml_edit_key(&block, segs[i].key, 0);
		buf_addc(&block, ':');
		if (i + 1 == n) {
			buf_addc(&block, ' ');
			yaml_emit_quoted(&block, value);
		}
		buf_adds(&block, eol);
	}
	rc = yaml_edit_null_lines(name, buf, len, l, &block, &column, eol,
	    out, cause);
	buf_free(&block);
	return (rc);
}

/*
 * Set the string at a path, verified. f0 is buf parsed; *changed says
 * whether out differs from buf.
 */
static int
yaml_edit_path(const char *name, const char *buf, size_t len,
    const struct yaml_file *f0, const struct yaml_edit_seg *segs, size_t n,
    const char *value, struct buf *out, int *changed, char **cause)
{
	struct yaml_edit_loc	 l;
	struct json		*want = NULL, *cur;
	struct buf		 block, flow;
	const char		*eol = yaml_edit_eol(buf, len);
	char			*label = NULL;
	size_t			 a, b, i;
	int			 depth;

	buf_init(&block);
	buf_init(&flow);
	*changed = 0;
	cur = yaml_edit_tree_get(f0->docs[0].root, segs, n);
	if (cur != NULL && json_string(cur) != NULL &&
	    strcmp(json_string(cur), value) == 0) {
		buf_add(out, buf, len);
		return (0);
	}
	for (i = 1; i < n; i++) {
		cur = yaml_edit_tree_get(f0->docs[0].root, segs, i);
		if (cur == NULL || json_type(cur) != JSON_OBJECT)
			break;
	}
	if (i < n && cur != NULL && json_type(cur) == JSON_NULL &&
	    segs[i - 1].key != NULL) {
		/* "production:" with nothing: the mapping goes under it. */
		if (yaml_edit_locate(name, buf, len, segs, i, &l, cause) == -1)
			goto fail;
		if (yaml_edit_under_null(name, buf, len, &l, segs + i, n - i,
		    value, eol, out, cause) == -1)
			goto fail;
		goto verify;
	}
	if (yaml_edit_locate(name, buf, len, segs, n, &l, cause) == -1)
		goto fail;
	if (l.found) {
		label = yaml_edit_label(segs, n);
		if (l.type != YAML_SCALAR_EVENT) {
			xasprintf(cause, "%s:%d:%d: '%s' is not a scalar",
			    name, l.line, l.column, label);
			goto fail;
		}
		if (l.style == YAML_LITERAL_SCALAR_STYLE ||
		    l.style == YAML_FOLDED_SCALAR_STYLE) {
			xasprintf(cause, "%s:%d:%d: '%s' is a block scalar: "
			    "cannot edit it in place", name, l.line, l.column,
			    label);
			goto fail;
		}
		a = yaml_edit_byte(buf, len, l.start);
		b = yaml_edit_byte(buf, len, l.end);
		if (l.tagged) {
			/* Keep the tag: skip it and the blanks after it. */
			while (a < b && buf[a] != ' ' && buf[a] != '\t')
				a++;
			while (a < b && (buf[a] == ' ' || buf[a] == '\t'))
				a++;
		}
		buf_add(out, buf, a);
		/* An empty value right after its colon. */
		if (a == b && a != 0 && buf[a - 1] == ':')
			buf_addc(out, ' ');
		yaml_edit_scalar_text(out, value, l.style, l.inflow);
		buf_add(out, buf + b, len - b);
	} else {
		if (l.cseq) {
			label = yaml_edit_label(segs, l.level);
			xasprintf(cause, "%s:%d:%d: '%s' has no item %zu",
			    name, l.cline, l.ccolumn, label,
			    segs[l.level].index);
			goto fail;
		}
		for (i = l.level; i < n; i++) {
			if (segs[i].key == NULL)
				fatalx("%s: list index past a missing key",
				    __func__);
			depth = (int)(i - l.level);
			yaml_edit_spaces(&block, l.cfcolumn + 2 * depth);
			yaml_edit_key(&block, segs[i].key, 0);
			buf_addc(&block, ':');
			if (i > l.level)
				buf_adds(&flow, "{");
			yaml_edit_key(&flow, segs[i].key, 1);
			buf_adds(&flow, ": ");
			if (i + 1 == n) {
				buf_addc(&block, ' ');
				yaml_emit_quoted(&block, value);
				yaml_emit_quoted(&flow, value);
			}
			buf_adds(&block, eol);
		}
		for (i = l.level + 1; i < n; i++)
			buf_addc(&flow, '}');
		buf_addc(&block, '\0');
		buf_addc(&flow, '\0');
		yaml_edit_insert(buf, len, &l, block.data, flow.data, eol,
		    out);
	}
verify:
	want = json_dup(f0->docs[0].root);
	yaml_edit_tree_set(want, segs, n, json_new_string(value));
	if (yaml_edit_verify(name, f0, want, out->data, out->len,
	    cause) == -1)
		goto fail;
	json_free(want);
	free(label);
	buf_free(&block);
	buf_free(&flow);
	*changed = 1;
	return (0);

fail:
	json_free(want);
	free(label);
	buf_free(&block);
	buf_free(&flow);
	return (-1);
}

/* Remove a scalar member at a path (its whole line in block style). */
static int
yaml_edit_remove(const char *name, const char *buf, size_t len,
    const struct yaml_file *f0, const struct yaml_edit_seg *segs, size_t n,
    struct buf *out, char **cause)
{
	struct yaml_edit_loc	 l;
	struct json		*want = NULL, *parent;
	char			*label = yaml_edit_label(segs, n);
	size_t			 a, b, s;

	if (yaml_edit_locate(name, buf, len, segs, n, &l, cause) == -1)
		goto fail;
	if (!l.found || l.kstart == SIZE_MAX || l.type != YAML_SCALAR_EVENT) {
		xasprintf(cause, "%s: cannot remove '%s'", name, label);
		goto fail;
	}
	a = yaml_edit_byte(buf, len, l.kstart);
	b = yaml_edit_byte(buf, len, l.end);
	if (l.inflow) {
		s = b;
		while (s < len && (buf[s] == ' ' || buf[s] == '\t'))
			s++;
		if (s < len && buf[s] == ',') {
			b = s + 1;
			while (b < len && (buf[b] == ' ' || buf[b] == '\t'))
				b++;
		} else {
			s = a;
			while (s > 0 && (buf[s - 1] == ' ' ||
			    buf[s - 1] == '\t'))
				s--;
			if (s > 0 && buf[s - 1] == ',')
				a = s - 1;
		}
	} else {
		while (a > 0 && buf[a - 1] == ' ')
			a--;
		if (a != 0 && buf[a - 1] != '\n') {
			xasprintf(cause, "%s:%d:%d: cannot remove '%s': it "
			    "shares its line with other content", name,
			    l.line, l.column, label);
			goto fail;
		}
		while (b < len && buf[b] != '\n')
			b++;
		if (b < len)
			b++;
	}
	buf_add(out, buf, a);
	buf_add(out, buf + b, len - b);
	want = json_dup(f0->docs[0].root);
	parent = yaml_edit_tree_get(want, segs, n - 1);
	json_remove(parent, segs[n - 1].key);
	if (yaml_edit_verify(name, f0, want, out->data, out->len,
	    cause) == -1)
		goto fail;
	json_free(want);
	free(label);
	return (0);

fail:
	json_free(want);
	free(label);
	return (-1);
}

int
yaml_edit_set(const char *name, const char *buf, size_t len,
    const char *const *path, const char *value, char **out, size_t *outlen,
    int *changed, char **cause)
{
	struct yaml_file	*f0 = NULL;
	struct yaml_edit_seg	*segs = NULL;
	struct buf		 b;
	size_t			 n, i;

	*out = NULL;
	*outlen = 0;
	*changed = 0;
	buf_init(&b);
	for (n = 0; path[n] != NULL; n++)
		;
	if (n == 0) {
		xasprintf(cause, "%s: empty path", name);
		goto fail;
	}
	segs = xcalloc(n, sizeof *segs);
	for (i = 0; i < n; i++)
		segs[i].key = path[i];
	if (yaml_parse(name, buf, len, 0, &f0, cause) == -1)
		goto fail;
	if (yaml_edit_path(name, buf, len, f0, segs, n, value, &b, changed,
	    cause) == -1)
		goto fail;
	yaml_file_free(f0);
	free(segs);
	*outlen = b.len;
	buf_addc(&b, '\0');
	*out = buf_release(&b);
	return (0);

fail:
	yaml_file_free(f0);
	free(segs);
	buf_free(&b);
	return (-1);
}

/* A new images entry: block lines at the dash's column, or flow text. */
static void
yaml_edit_image_entry(struct buf *block, struct buf *flow, int dash,
    int content, const char *image, const char *const *keys,
    const char *const *values, const char *eol)
{
	size_t	i;

	yaml_edit_spaces(block, dash);
	buf_addc(block, '-');
	yaml_edit_spaces(block, content - dash - 1);
	buf_adds(block, "name: ");
	yaml_edit_key(block, image, 0);
	buf_adds(block, eol);
	buf_adds(flow, "{name: ");
	yaml_edit_key(flow, image, 1);
	for (i = 0; keys[i] != NULL; i++) {
		if (values[i] == NULL || *values[i] == '\0')
			continue;
		yaml_edit_spaces(block, content);
		buf_printf(block, "%s: ", keys[i]);
		yaml_emit_quoted(block, values[i]);
		buf_adds(block, eol);
		buf_printf(flow, ", %s: ", keys[i]);
		yaml_emit_quoted(flow, values[i]);
	}
	buf_addc(flow, '}');
}

/* Replace an empty "images:" value by a block list of one entry. */
static int
yaml_edit_image_null(const char *name, const char *buf, size_t len,
    const char *image, const char *const *keys, const char *const *values,
    const char *eol, struct buf *out, char **cause)
{
	static const struct yaml_edit_seg segs[] = { { "images", 0 } };
	struct yaml_edit_loc	l;
	struct buf		block, flow;
	int			column, rc;

	if (yaml_edit_locate(name, buf, len, segs, 1, &l, cause) == -1)
		return (-1);
	if (yaml_edit_null_lines(name, buf, len, &l, NULL, &column, eol, out,
	    cause) == -1)
		return (-1);
	buf_init(&block);
	buf_init(&flow);
	yaml_edit_image_entry(&block, &flow, column, column + 2, image, keys,
	    values, eol);
	rc = yaml_edit_null_lines(name, buf, len, &l, &block, &column, eol,
	    out, cause);
	buf_free(&block);
	buf_free(&flow);
	return (rc);
}

int
yaml_edit_image(const char *name, const char *buf, size_t len,
    const char *image, const char *new_name, const char *new_tag,
    const char *digest, char **out, size_t *outlen, int *changed,
    char **cause)
{
	static const char *const keys[] = { "newName", "newTag", "digest",
	    NULL };
	const char		*values[3] = { new_name, new_tag, digest };
	struct yaml_file	*f0 = NULL, *fc = NULL;
	struct yaml_edit_loc	 l;
	struct yaml_edit_seg	 segs[3];
	struct json		*root, *images, *item, *want = NULL, *obj;
	struct buf		 cur, next, block, flow;
	const char		*eol = yaml_edit_eol(buf, len), *s;
	size_t			 i, n, at;
	int			 line, column, ch, dash;

	*out = NULL;
	*outlen = 0;
	*changed = 0;
	buf_init(&cur);
	buf_init(&next);
	buf_init(&block);
	buf_init(&flow);
	if (yaml_parse(name, buf, len, 0, &f0, cause) == -1)
		goto fail;
	root = f0->docs[0].root;
	if (json_type(root) != JSON_OBJECT) {
		xasprintf(cause, "%s:%d:%d: the document is not a mapping",
		    name, f0->docs[0].line, f0->docs[0].column);
		goto fail;
	}
	if (new_name == NULL && new_tag == NULL && digest == NULL) {
		xasprintf(cause, "%s: nothing to set for image '%s'", name,
		    image);
		goto fail;
	}
	images = json_get(root, "images");
	if (images != NULL && json_type(images) == JSON_NULL) {
		/* "images:" with nothing: the list goes in its place. */
		if (yaml_edit_image_null(name, buf, len, image, keys, values,
		    eol, &cur, cause) == -1)
			goto fail;
		want = json_dup(root);
		obj = json_new_object();
		json_set(obj, "name", json_new_string(image));
		for (i = 0; keys[i] != NULL; i++) {
			if (values[i] != NULL && *values[i] != '\0')
				json_set(obj, keys[i],
				    json_new_string(values[i]));
		}
		images = json_new_array();
		json_array_append(images, obj);
		json_set(want, "images", images);
		goto verify;
	}
	if (images != NULL && json_type(images) != JSON_ARRAY) {
		yaml_value_position(f0, images, &line, &column);
		xasprintf(cause, "%s:%d:%d: images is %s, not a list", name,
		    line, column, json_type_phrase(images));
		goto fail;
	}
	item = NULL;
	n = images != NULL ? json_count(images) : 0;
	for (i = 0; i < n; i++) {
		item = json_array_get(images, i);
		s = json_path_string(item, "name", NULL);
		if (s != NULL && strcmp(s, image) == 0)
			break;
		item = NULL;
	}
	segs[0].key = "images";
	if (item != NULL) {
		/* Edit the entry key by key, each step checked. */
		segs[1].key = NULL;
		segs[1].index = i;
		buf_add(&cur, buf, len);
		for (i = 0; keys[i] != NULL; i++) {
			if (values[i] == NULL || (*values[i] == '\0' &&
			    json_get(item, keys[i]) == NULL))
				continue;
			segs[2].key = keys[i];
			if (yaml_parse(name, cur.data, cur.len, 0, &fc,
			    cause) == -1)
				goto fail;
			buf_init(&next);
			if (*values[i] == '\0') {
				/* An empty value removes the key. */
				if (yaml_edit_remove(name, cur.data, cur.len,
				    fc, segs, 3, &next, cause) == -1)
					goto fail;
			} else if (yaml_edit_path(name, cur.data, cur.len, fc,
			    segs, 3, values[i], &next, &ch, cause) == -1)
				goto fail;
			yaml_file_free(fc);
			fc = NULL;
			buf_free(&cur);
			cur = next;
			buf_init(&next);
		}
		/* A digest wins over a tag: a new tag drops the old pin. */
		if (new_tag != NULL && *new_tag != '\0' && digest == NULL &&
		    json_get(item, "digest") != NULL) {
			segs[2].key = "digest";
			if (yaml_parse(name, cur.data, cur.len, 0, &fc,
			    cause) == -1)
				goto fail;
			if (yaml_edit_remove(name, cur.data, cur.len, fc, segs,
			    3, &next, cause) == -1)
				goto fail;
			yaml_file_free(fc);
			fc = NULL;
			buf_free(&cur);
			cur = next;
			buf_init(&next);
		}
		want = json_dup(root);
		obj = json_array_get(json_get(want, "images"), segs[1].index);
		for (i = 0; keys[i] != NULL; i++) {
			if (values[i] != NULL && *values[i] == '\0')
				json_remove(obj, keys[i]);
			else if (values[i] != NULL)
				json_set(obj, keys[i],
				    json_new_string(values[i]));
		}
		if (new_tag != NULL && *new_tag != '\0' && digest == NULL)
			json_remove(obj, "digest");
	} else {
		if (images == NULL) {
			n = 1;
		} else {
			segs[1].key = NULL;
			segs[1].index = n;
			n = 2;
		}
		if (yaml_edit_locate(name, buf, len, segs, n, &l, cause) == -1)
			goto fail;
		if (l.found) {
			xasprintf(cause, "%s: cannot add image '%s'", name,
			    image);
			goto fail;
		}
		if (images == NULL) {
			/* A new "images:" member with one entry. */
			yaml_edit_spaces(&block, l.cfcolumn);
			buf_printf(&block, "images:%s", eol);
			buf_adds(&flow, "images: [");
			yaml_edit_image_entry(&block, &flow, l.cfcolumn,
			    l.cfcolumn + 2, image, keys, values, eol);
			buf_addc(&flow, ']');
		} else {
			dash = 0;
			if (!l.cflow && l.chas) {
				/* The first item's dash sets the column. */
				at = yaml_edit_byte(buf, len, l.cfirst);
				while (at > 0 && buf[at - 1] == ' ')
					at--;
				if (at > 0 && buf[at - 1] == '-')
					at--;
				while (at > 0 && buf[at - 1] != '\n') {
					at--;
					dash++;
				}
			}
			yaml_edit_image_entry(&block, &flow, dash,
			    l.cfcolumn > dash ? l.cfcolumn : dash + 2, image,
			    keys, values, eol);
		}
		buf_addc(&block, '\0');
		buf_addc(&flow, '\0');
		yaml_edit_insert(buf, len, &l, block.data, flow.data, eol,
		    &cur);
		want = json_dup(root);
		obj = json_new_object();
		json_set(obj, "name", json_new_string(image));
		for (i = 0; keys[i] != NULL; i++) {
			if (values[i] != NULL && *values[i] != '\0')
				json_set(obj, keys[i],
				    json_new_string(values[i]));
		}
		if (images == NULL) {
			images = json_new_array();
			json_set(want, "images", images);
		} else
			images = json_get(want, "images");
		json_array_append(images, obj);
	}
verify:
	if (yaml_edit_verify(name, f0, want, cur.data, cur.len, cause) == -1)
		goto fail;
	*changed = cur.len != len || memcmp(cur.data, buf, len) != 0;
	json_free(want);
	yaml_file_free(f0);
	buf_free(&block);
	buf_free(&flow);
	*outlen = cur.len;
	buf_addc(&cur, '\0');
	*out = buf_release(&cur);
	return (0);

fail:
	json_free(want);
	yaml_file_free(f0);
	yaml_file_free(fc);
	buf_free(&cur);
	buf_free(&next);
	buf_free(&block);
	buf_free(&flow);
	return (-1);
}
