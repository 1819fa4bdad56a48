/*
 * redact.c: what a hook or a probe printed, made fit to show in the API,
 * the state files and the log: secret-shaped values masked, and the bytes
 * made valid UTF-8 whatever the command wrote.
 *
 * A command's output is not ours: a migration that echoes its connection
 * string, a script run with `set -x` that prints `DATABASE_PASSWORD=...`.
 * The masking is line-based and errs towards masking: a line is secret-
 * shaped when a key naming a secret (password, token, secret, api key,
 * private key, credential...) is followed by `=` or `:`; then everything
 * after the separator goes. Bearer and Basic credentials, passwords in
 * URLs (scheme://user:PASSWORD@host) and PEM private-key blocks are masked
 * wherever they appear.
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

/*
 * Where a secret value starts on the line [s, end): after the `=` or `:`
 * that follows a secret-naming key (the key's own characters and
 * quotes, spaces between); NULL when the line has none.
 */
static const char *
redact_key_value(const char *s, const char *end)
{
	const char	*k, *p;
	size_t		 i;

	for (i = 0; redact_keys[i] != NULL; i++) {
		for (p = s; (k = redact_find(p, end, redact_keys[i])) != NULL;
		    p = k + 1) {
			p = k + strlen(redact_keys[i]);
			/* The rest of the key: DATABASE_PASSWORD_FILE too. */
			while (p < end && (isalnum((unsigned char)*p) ||
			    *p == '_' || *p == '-' || *p == '.'))
				p++;
			while (p < end && (*p == '"' || *p == '\'' ||
			    *p == ' ' || *p == '\t'))
				p++;
			if (p < end && (*p == '=' || *p == ':')) {
				p++;
				while (p < end && (*p == ' ' || *p == '\t'))
					p++;
				if (p < end)
					return (p);
			}
		}
	}
	return (NULL);
}

/* Mask "Bearer X", "Basic X" and "scheme://user:X@" in a line. */
static void
redact_inline(struct buf *b, const char *s, const char *end)
{
	const char	*p, *q, *at, *bearer, *basic, *url, *next;

	while (s < end) {
		bearer = redact_find(s, end, "bearer ");
		basic = redact_find(s, end, "basic ");
		url = redact_find(s, end, "://");
		next = NULL;
		if (bearer != NULL)
			next = bearer;
		if (basic != NULL && (next == NULL || basic < next))
			next = basic;
		if (url != NULL && (next == NULL || url < next))
			next = url;
		if (next == NULL)
			break;
		if (next == url) {
			/* user:password@ before the first / of the authority. */
			p = url + 3;
			for (q = p; q < end && *q != '/' && *q != '@' &&
			    *q != ' ' && *q != '"' && *q != '\''; q++)
				;
			at = (q < end && *q == '@') ? q : NULL;
			q = at != NULL ? memchr(p, ':', at - p) : NULL;
			if (q != NULL) {
				buf_add(b, s, q + 1 - s);
				buf_add(b, REDACT_MASK, strlen(REDACT_MASK));
				s = at;
			} else {
				buf_add(b, s, p - s);
				s = p;
			}
			continue;
		}
		p = next + (next == bearer ? 7 : 6);
		while (p < end && *p == ' ')
			p++;
		for (q = p; q < end && *q != ' ' && *q != '"' && *q != '\'' &&
		    *q != ','; q++)
			;
		buf_add(b, s, p - s);
		if (q > p)
			buf_add(b, REDACT_MASK, strlen(REDACT_MASK));
		s = q;
	}
	if (end > s)
		buf_add(b, s, end - s);
}

char *
redact_output(const char *s, size_t len)
{
	struct buf	 b;
	const char	*end = s + len, *eol, *v;
	char		*out;
	int		 pem = 0;

	buf_init(&b);
	while (s < end) {
		if ((eol = memchr(s, '\n', end - s)) == NULL)
			eol = end;
		if (redact_find(s, eol, "-----begin") != NULL &&
		    redact_find(s, eol, "private key-----") != NULL) {
			pem = 1;
			buf_add(&b, s, eol - s);
		} else if (pem) {
			if (redact_find(s, eol, "-----end") != NULL) {
				pem = 0;
				buf_add(&b, s, eol - s);
			} else
				buf_add(&b, REDACT_MASK, strlen(REDACT_MASK));
		} else if ((v = redact_key_value(s, eol)) != NULL) {
			redact_inline(&b, s, v);
			buf_add(&b, REDACT_MASK, strlen(REDACT_MASK));
		} else
			redact_inline(&b, s, eol);
		if (eol < end)
			buf_addc(&b, '\n');
		s = eol + 1;
	}
	buf_addc(&b, '\0');
	out = utf8_repair(b.data, b.len - 1);
	buf_free(&b);
	return (out);
}
