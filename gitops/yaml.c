/*
 * yaml.c: YAML text to struct json documents with the position of every
 * node (the reader); yaml_emit.c writes documents back as YAML text and
 * yaml_edit.c edits values in place. With yaml_edit.c, the only files
 * that include <yaml.h>.
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
#include "yaml_int.h"

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

/*
 * A scalar starting with a digit or a sign, as go-yaml reads it (the
 * reader of kubectl, YAML 1.1, and of kustomize, YAML 1.2, which agree
 * on numbers): every '_' dropped, then an integer in Go's notation (0x,
 * 0o, 0b, or a leading 0 for octal) or a float. So 010 is 8, 1_000 is
 * 1000 and 0x_1F is 31.
 */
static enum yaml_kind
yaml_resolve_number(const char *s, double *d)
{
	char		 small[64], *p, *t;
	const char	*digits, *set = "0123456789";
	enum yaml_kind	 k = YAML_KIND_STRING;
	size_t		 n = strlen(s);
	int		 base = 10, neg = 0;

	p = n < sizeof small ? small : xmalloc(n + 1);
	for (t = p; *s != '\0'; s++) {
		if (*s != '_')
			*t++ = *s;
	}
	*t = '\0';
	t = p;
	if (*t == '-' || *t == '+')
		neg = *t++ == '-';
	digits = t;
	if (t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
		base = 16;
		set = "0123456789abcdefABCDEF";
		digits = t + 2;
	} else if (t[0] == '0' && (t[1] == 'o' || t[1] == 'O')) {
		base = 8;
		digits = t + 2;
	} else if (t[0] == '0' && (t[1] == 'b' || t[1] == 'B')) {
		base = 2;
		digits = t + 2;
	} else if (t[0] == '0' && yaml_is_digits(t + 1, "01234567")) {
		base = 8;
		digits = t + 1;
	}
	if (base == 8)
		set = "01234567";
	else if (base == 2)
		set = "01";
	if (yaml_is_digits(digits, set)) {
		/* -0 is 0, as in Go: JSON has no negative zero. */
		*d = yaml_radix(digits, base);
		if (neg && *d != 0)
			*d = -*d;
		k = yaml_int_kind(digits, base);
	} else if (yaml_is_float(p)) {
		*d = strtod(p, NULL);
		k = isfinite(*d) ? YAML_KIND_FLOAT : YAML_KIND_INEXACT;
	}
	if (p != small)
		free(p);
	return (k);
}

/*
 * Null and booleans as in YAML 1.2's core schema (kubectl's YAML 1.1 also
 * reads on, yes, y, off, no, n as booleans, kustomize as strings: they
 * stay strings, see yaml_ambiguous()); numbers as yaml_resolve_number()
 * says. .inf and .nan stay strings: JSON has no such numbers and
 * Kubernetes never wants them.
 */
enum yaml_kind
yaml_resolve(const char *s, double *d)
{
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
	case '+':
	case '-':
		return (yaml_resolve_number(s, d));
	default:
		if (*s >= '0' && *s <= '9')
			return (yaml_resolve_number(s, d));
		break;
	}
	if (yaml_is_float(s)) {
		*d = strtod(s, NULL);
		return (isfinite(*d) ? YAML_KIND_FLOAT : YAML_KIND_INEXACT);
	}
	return (YAML_KIND_STRING);
}

int
yaml_is_bool11(const char *s)
{
	static const char *const words[] = {
		"y", "Y", "yes", "Yes", "YES", "on", "On", "ON",
		"n", "N", "no", "No", "NO", "off", "Off", "OFF", NULL
	};
	size_t	i;

	for (i = 0; words[i] != NULL; i++) {
		if (strcmp(s, words[i]) == 0)
			return (1);
	}
	return (0);
}

/* min to max decimal digits at *sp, their value in *v; *sp moves on. */
static int
yaml_scan_int(const char **sp, int min, int max, int *v)
{
	const char	*s = *sp;

	*v = 0;
	while (s - *sp < max && *s >= '0' && *s <= '9')
		*v = *v * 10 + (*s++ - '0');
	min = s - *sp >= min;
	*sp = s;
	return (min);
}

static int
yaml_days_in(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	if (month == 2 && year % 4 == 0 &&
	    (year % 100 != 0 || year % 400 == 0))
		return (29);
	return (days[month - 1]);
}

/*
 * Whether kustomize would write this plain scalar back as other text.
 * go-yaml v3 reads YYYY-M-D, YYYY-M-D[Tt]h:m:s[.f](Z|+hh:mm) and
 * YYYY-M-D h:m:s[.f] as timestamps, and kustomize writes them in RFC
 * 3339 (2024-01-02 becomes 2024-01-02T00:00:00Z); kubectl keeps the
 * text. Only a timestamp already in that form comes back the same.
 */
static int
yaml_is_rewritten_timestamp(const char *s)
{
	const char	*p = s, *f;
	int		 year, month, day, h, m, sec, same, sep;

	if (!yaml_scan_int(&p, 4, 4, &year) || *p++ != '-' ||
	    !yaml_scan_int(&p, 1, 2, &month) || *p++ != '-' ||
	    !yaml_scan_int(&p, 1, 2, &day) || month < 1 || month > 12 ||
	    day < 1 || day > yaml_days_in(year, month))
		return (0);
	if (*p == '\0')
		return (1);
	same = p - s == 10 && *p == 'T';
	if (*p != 'T' && *p != 't' && *p != ' ')
		return (0);
	sep = *p;
	f = p++;
	if (!yaml_scan_int(&p, 1, 2, &h) || *p++ != ':' ||
	    !yaml_scan_int(&p, 1, 2, &m) || *p++ != ':' ||
	    !yaml_scan_int(&p, 1, 2, &sec) || h > 23 || m > 59 || sec > 59)
		return (0);
	same = same && p - f == 9;
	if (*p == '.') {
		f = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == f)
			return (0);
		same = same && p[-1] != '0' && p - f <= 9;
	}
	if (sep == ' ')
		return (*p == '\0');
	if (*p == 'Z')
		p++;
	else if (*p == '+' || *p == '-') {
		f = p + 1;
		if (!yaml_scan_int(&f, 2, 2, &h) || *f++ != ':' ||
		    !yaml_scan_int(&f, 2, 2, &m))
			return (0);
		/* Go writes a zero offset as Z. */
		same = same && strncmp(p + 1, "00:00", 5) != 0;
		p = f;
	} else
		return (0);
	return (*p == '\0' && !same);
}

/*
 * Warn of a plain scalar that kubectl and kustomize read differently:
 * the agent keeps YAML 1.2's reading (text), and the same file means
 * one thing to kubectl apply and another after kustomize.
 */
static void
yaml_warn_ambiguous(struct yaml_parse *y, const yaml_event_t *ev)
{
	const char	*s = (const char *)ev->data.scalar.value;
	const char	*msg;
	char		*at;

	if (yaml_is_bool11(s))
		msg = "kubectl reads this plain scalar as a boolean and "
		    "kustomize as a string (kept): quote it";
	else if (yaml_is_rewritten_timestamp(s))
		msg = "kustomize rewrites this plain scalar as a timestamp and "
		    "kubectl keeps the text (kept): quote it";
	else
		return;
	xasprintf(&at, "%s:%d:%d", y->name, (int)ev->start_mark.line + 1,
	    (int)ev->start_mark.column + 1);
	log_event(LOG_LEVEL_WARN, msg, "file", at, "value", s, NULL);
	free(at);
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
		if (k == YAML_KIND_STRING && (y->flags & YAML_BOOL11) != 0 &&
		    yaml_is_bool11(s))
			return (json_new_bool(s[0] == 'y' || s[0] == 'Y' ||
			    s[1] == 'n' || s[1] == 'N'));
		if (k == YAML_KIND_STRING &&
		    (y->flags & YAML_WARN_AMBIGUOUS) != 0)
			yaml_warn_ambiguous(y, ev);
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
