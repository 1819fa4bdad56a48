/*
 * yaml_emit.c: struct json documents to YAML text (block style, strings
 * quoted when a plain scalar would read back as something else), and the
 * scalar quoting yaml_edit.c reuses for the values it splices in.
 *
 * Runs in whichever thread calls it and keeps no state. It never fails
 * and must never produce text that reads back as a different document;
 * it does not include <yaml.h> (it writes text, libyaml is for reading).
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gitops.h"
#include "yaml_int.h"

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
int
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

/*
 * A string that starts with a digit yet no YAML 1.1 or 1.2 reader takes
 * for a number or a time: it holds a letter that no number or
 * timestamp may hold (anything but e, E, t, T, z, Z) and is not 0x, 0o
 * or 0b of something. Plain as Go's YAML writes it, so a uid such as
 * 3bb8822e-b4b2-... reads as kubectl prints it.
 */
static int
yaml_digits_word(const char *s)
{
	const char	*p;

	if (s[0] == '0' && strchr("xXoObB", s[1]) != NULL && s[1] != '\0')
		return (0);
	for (p = s; *p != '\0'; p++) {
		if (((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) &&
		    strchr("eEtTzZ", *p) == NULL)
			return (1);
	}
	return (0);
}

/* Can this string be written as a plain scalar and read back the same? */
int
yaml_plain_ok(const char *s)
{
	static const char *const words[] = {
		"<<", "=", ".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN", NULL
	};
	size_t	 n = strlen(s);
	double	 d;

	if (n == 0 || yaml_resolve(s, &d) != YAML_KIND_STRING)
		return (0);
	if (yaml_in_list(s, words) || yaml_is_bool11(s))
		return (0);
	if (strchr("-?:,[]{}#&*!|>'\"%@`+ ", s[0]) != NULL)
		return (0);
	if (s[0] >= '0' && s[0] <= '9' && !yaml_digits_word(s))
		return (0);
	if (s[0] == '.' && (s[1] == '.' || (s[1] >= '0' && s[1] <= '9')))
		return (0);
	if (s[n - 1] == ' ' || s[n - 1] == ':')
		return (0);
	if (strstr(s, ": ") != NULL || strstr(s, " #") != NULL)
		return (0);
	return (yaml_all_printable(s, 0));
}

void
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
