/*
 * webhook_form.c: deliveries sent as application/x-www-form-urlencoded,
 * the content type GitHub's and Gitea's webhook forms offer first: the
 * JSON of the event is the percent-encoded value of a "payload" field.
 * The signature is checked by the caller over the raw body; this only
 * takes the JSON out of it.
 *
 * Pure functions, called on the event loop thread and by the unit tests
 * and fuzzer; no I/O, no libevent. The body comes from the network:
 * every byte is checked, nothing is trusted to be well formed.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent.h"

#define WEBHOOK_FORM_TYPE	"application/x-www-form-urlencoded"

int
webhook_form_is(const char *content_type)
{
	size_t	n = sizeof WEBHOOK_FORM_TYPE - 1;

	if (content_type == NULL)
		return (0);
	while (*content_type == ' ' || *content_type == '\t')
		content_type++;
	if (strncasecmp(content_type, WEBHOOK_FORM_TYPE, n) != 0)
		return (0);
	content_type += n;
	return (*content_type == '\0' || *content_type == ';' ||
	    *content_type == ' ' || *content_type == '\t');
}

/* A form body never starts with '{' (GitHub's and Gitea's: "payload="). */
int
webhook_form_is_json(const char *body, size_t len)
{
	size_t	i;

	for (i = 0; i < len && isspace((unsigned char)body[i]); i++)
		;
	return (i < len && body[i] == '{');
}

static int
webhook_form_hex(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/*
 * Decode s[0..len) (at off in the body) into out, which has room for len
 * bytes and a NUL; -1 with cause at the first bad escape.
 */
static int
webhook_form_decode(const char *s, size_t len, size_t off, char *out,
    size_t *outlen, char **cause)
{
	size_t	i, n = 0;
	int	hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] == '+')
			out[n++] = ' ';
		else if (s[i] != '%')
			out[n++] = s[i];
		else {
			hi = i + 1 < len ? webhook_form_hex(
			    (unsigned char)s[i + 1]) : -1;
			lo = i + 2 < len ? webhook_form_hex(
			    (unsigned char)s[i + 2]) : -1;
			if (hi == -1 || lo == -1) {
				xasprintf(cause, "form body is malformed: '%%' "
				    "not followed by two hex digits at byte "
				    "%zu", off + i + 1);
				return (-1);
			}
			out[n++] = (char)(hi << 4 | lo);
			i += 2;
		}
	}
	out[n] = '\0';
	*outlen = n;
	return (0);
}

char *
webhook_form_payload(const char *body, size_t len, size_t max,
    size_t *outlen, char **cause)
{
	const char	*p = body, *end = body + len, *amp, *eq;
	char		*name = NULL, *value = NULL;
	size_t		 n, namelen;

	*outlen = 0;
	if (len > max) {
		xasprintf(cause, "form body is %zu bytes, over the limit of "
		    "%zu", len, max);
		return (NULL);
	}
	while (p < end) {
		if ((amp = memchr(p, '&', end - p)) == NULL)
			amp = end;
		if ((eq = memchr(p, '=', amp - p)) == NULL)
			eq = amp;
		name = xmalloc(eq - p + 1);
		if (webhook_form_decode(p, eq - p, p - body, name, &namelen,
		    cause) == -1)
			goto fail;
		if (namelen == sizeof "payload" - 1 &&
		    memcmp(name, "payload", namelen) == 0) {
			if (value != NULL) {
				xasprintf(cause, "form body has more than one "
				    "'payload' field");
				goto fail;
			}
			n = eq < amp ? amp - eq - 1 : 0;
			value = xmalloc(n + 1);
			if (webhook_form_decode(eq + (eq < amp), n,
			    eq + (eq < amp) - body, value, outlen,
			    cause) == -1)
				goto fail;
		}
		free(name);
		name = NULL;
		if (amp == end)
			break;
		p = amp + 1;
	}
	if (value == NULL) {
		xasprintf(cause, "form body has no 'payload' field (the "
		    "event's JSON)");
		return (NULL);
	}
	return (value);
fail:
	free(name);
	free(value);
	*outlen = 0;
	return (NULL);
}
