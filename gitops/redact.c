/*
 * redact.c: what a hook or a probe printed, made fit to show in the API,
 * the state files and the log: secret-shaped values masked, and the bytes
 * made valid UTF-8 whatever the command wrote.
 *
 * A command's output is not ours: a migration that echoes its connection
 * string, a script run with `set -x` that prints `DATABASE_PASSWORD=...`
 * or `curl -u admin:pw`. The masking is line-based and errs towards
 * masking:
 * - after a key naming a secret (password, token, secret, api key,
 *   private key, credential, ..., or one ending in _PASS or _PW) and its
 *   `=` or `:`, the rest of the line goes; with nothing after the
 *   separator, the next line goes (a YAML value below its key); a flag
 *   (`--password X`) masks the word after it;
 * - `Bearer X` and `Basic X`; the password of `user:PASSWORD@host` in a
 *   URL or a DSN (up to the last `@` of the word); the password of
 *   `-u user:PASSWORD` and `--user user:PASSWORD`;
 * - PEM private keys (OpenSSH, PKCS#8, PGP blocks): everything between
 *   the BEGIN line and the END line, also when both are on one line
 *   (a JSON service-account key).
 *
 * Pure functions, any thread.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "gitops.h"

#define REDACT_MASK	"***"

/* Key names that say the value after them is a secret (lower case). */
static const char *const redact_keys[] = {
	"password", "passwd", "passphrase", "pwd", "secret", "token",
	"apikey", "api_key", "api-key", "access_key", "access-key",
	"accesskey", "private_key", "private-key", "privatekey",
	"credential", "authorization", "cookie", NULL
};
/* Names that are secret only as the end of a key (DB_PASS, PGPASS). */
static const char *const redact_suffixes[] = { "pass", "pw", NULL };

/* Case-insensitive search for needle (lower case) in [s, end). */
static const char *
redact_find(const char *s, const char *end, const char *needle)
{
	size_t	n = strlen(needle), i;

	for (; s + n <= end; s++) {
		for (i = 0; i < n; i++) {
			if (tolower((unsigned char)s[i]) != needle[i])
				break;
		}
		if (i == n)
			return (s);
	}
	return (NULL);
}

static int
redact_keychar(int c)
{
	return (isalnum((unsigned char)c) || c == '_' || c == '-' ||
	    c == '.');
}

static void
redact_mask(struct buf *b)
{
	buf_add(b, REDACT_MASK, strlen(REDACT_MASK));
}

/*
 * Where a secret value starts on the line [s, end), after a key naming
 * one; *next_line when the key ends the line (its value is below it).
 */
static const char *
redact_value_at(const char *s, const char *end, const char *k, size_t klen,
    int suffix, int *next_line)
{
	const char	*p = k + klen, *start = k;

	while (start > s && redact_keychar(start[-1]))
		start--;
	if (suffix && p < end && redact_keychar(*p) && *p != '.')
		return (NULL);
	/* The rest of the key: DATABASE_PASSWORD_FILE too. */
	while (p < end && redact_keychar(*p))
		p++;
	while (p < end && (*p == '"' || *p == '\'' || *p == ' ' ||
	    *p == '\t'))
		p++;
	if (p < end && (*p == '=' || *p == ':')) {
		p++;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end)
			*next_line = 1;
		return (p < end ? p : NULL);
	}
	/* A flag: --password VALUE. */
	if (*start == '-' && p > k + klen && p < end && p[-1] == ' ' &&
	    *p != '-')
		return (p);
	return (NULL);
}

static const char *
redact_key_value(const char *s, const char *end, int *next_line)
{
	const char	*k, *p, *v, *best = NULL;
	size_t		 i;

	for (i = 0; redact_keys[i] != NULL; i++) {
		for (p = s; (k = redact_find(p, end, redact_keys[i])) != NULL;
		    p = k + 1) {
			v = redact_value_at(s, end, k, strlen(redact_keys[i]),
			    0, next_line);
			if (v != NULL && (best == NULL || v < best))
				best = v;
		}
	}
	for (i = 0; redact_suffixes[i] != NULL; i++) {
		for (p = s; (k = redact_find(p, end, redact_suffixes[i])) !=
		    NULL; p = k + 1) {
			v = redact_value_at(s, end, k,
			    strlen(redact_suffixes[i]), 1, next_line);
			if (v != NULL && (best == NULL || v < best))
				best = v;
		}
	}
	return (best);
}

static int
redact_wordchar(int c)
{
	return (c != ' ' && c != '\t' && c != '"' && c != '\'' && c != ',' &&
	    c != '\0');
}

/*
 * One word [w, e): the password of user:PASSWORD@host (URL or DSN), or of
 * user:PASSWORD after -u/--user (after_user), masked into b.
 */
static void
redact_word(struct buf *b, const char *w, const char *e, int after_user)
{
	const char	*p = w, *colon, *at = NULL, *q;

	if ((q = redact_find(w, e, "://")) != NULL)
		p = q + 3;
	colon = memchr(p, ':', e - p);
	if (colon != NULL) {
		for (q = colon + 1; q < e; q++) {
			if (*q == '@')
				at = q;
		}
	}
	if (colon != NULL && (at != NULL || after_user)) {
		buf_add(b, w, colon + 1 - w);
		redact_mask(b);
		if (at != NULL)
			buf_add(b, at, e - at);
		return;
	}
	buf_add(b, w, e - w);
}

/* Mask "Bearer X", "Basic X", credentials in words, in [s, end). */
static void
redact_inline(struct buf *b, const char *s, const char *end)
{
	const char	*w, *e;
	int		 after_user = 0, after_scheme = 0;

	while (s < end) {
		if (!redact_wordchar(*s)) {
			buf_addc(b, *s++);
			continue;
		}
		for (w = s, e = s; e < end && redact_wordchar(*e); e++)
			;
		if (after_scheme) {
			redact_mask(b);
			after_scheme = 0;
		} else
			redact_word(b, w, e, after_user);
		after_user = (e - w == 2 && strncmp(w, "-u", 2) == 0) ||
		    (e - w == 6 && strncmp(w, "--user", 6) == 0);
		after_scheme = (e - w == 6 && redact_find(w, e, "bearer") ==
		    w) || (e - w == 5 && redact_find(w, e, "basic") == w);
		s = e;
	}
}

/*
 * A PEM private key's header on the line [s, end): where its BEGIN line
 * ends ("-----" after the label), or NULL.
 */
static const char *
redact_pem_begin(const char *s, const char *end)
{
	const char	*k, *p;

	if ((k = redact_find(s, end, "-----begin")) == NULL ||
	    redact_find(k, end, "private key") == NULL)
		return (NULL);
	if ((p = redact_find(k + 10, end, "-----")) == NULL)
		return (end);
	return (p + 5);
}

char *
redact_output(const char *s, size_t len)
{
	struct buf	 b;
	const char	*end = s + len, *eol, *v, *hdr, *fin;
	char		*out;
	int		 pem = 0, next_line = 0, mask_line;

	buf_init(&b);
	while (s < end) {
		if ((eol = memchr(s, '\n', end - s)) == NULL)
			eol = end;
		mask_line = next_line && eol > s;
		if (eol > s)
			next_line = 0;
		if (pem || mask_line) {
			if (pem && (fin = redact_find(s, eol, "-----end")) !=
			    NULL) {
				pem = 0;
				if (fin > s)
					redact_mask(&b);
				buf_add(&b, fin, eol - fin);
			} else
				redact_mask(&b);
		} else if ((hdr = redact_pem_begin(s, eol)) != NULL) {
			buf_add(&b, s, hdr - s);
			fin = redact_find(hdr, eol, "-----end");
			if (fin == NULL) {
				pem = 1;
				if (hdr < eol)
					redact_mask(&b);
			} else {
				if (fin > hdr)
					redact_mask(&b);
				buf_add(&b, fin, eol - fin);
			}
		} else if ((v = redact_key_value(s, eol, &next_line)) != NULL) {
			redact_inline(&b, s, v);
			redact_mask(&b);
		} else
			redact_inline(&b, s, eol);
		if (eol < end)
			buf_addc(&b, '\n');
		s = eol + 1;
	}
	buf_addc(&b, '\0');
	out = utf8_repair(b.data, b.len - 1);
	explicit_bzero(b.data, b.len);
	buf_free(&b);
	return (out);
}
