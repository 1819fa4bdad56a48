/*
 * yaml_edit.c: byte-preserving value edits for version bumps
 * (yaml_edit_set, yaml_edit_image): the new scalar is spliced into the
 * original bytes, so comments, order and indentation stay as they were.
 *
 * Runs in whichever thread calls it and keeps no state. It must never
 * write an edit it has not verified: the result is parsed again with
 * yaml.c and refused unless only the wanted value changed. Bad input
 * comes back in cause, never as an abort.
 */
#include "config.h"

#include <yaml.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gitops.h"
#include "yaml_int.h"

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
