/*
 * webhook.c: what each Git provider sends, and how to trust it. Reads a
 * delivery's headers (through a lookup callback) and raw body into a
 * struct webhook_event; checks its signature against a secret in constant
 * time; normalises repository URLs so a push is matched to the configured
 * repositories however the provider spells the URL.
 *
 * Pure functions, called on the event loop thread (they are bounded by
 * the HTTP body limit) and by the unit tests; no I/O, no libevent. Never
 * logs a secret or a signature.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent.h"

static const char *const webhook_provider_names[WEBHOOK_PROVIDER_COUNT] = {
	[WEBHOOK_GITHUB] = "github",
	[WEBHOOK_GITLAB] = "gitlab",
	[WEBHOOK_GITEA] = "gitea",
	[WEBHOOK_BITBUCKET_SERVER] = "bitbucket-server",
	[WEBHOOK_GENERIC] = "generic",
};

const char *
webhook_provider_name(enum webhook_provider p)
{
	return (webhook_provider_names[p]);
}

int
webhook_provider_from_name(const char *name, enum webhook_provider *p)
{
	int	i;

	for (i = 0; i < WEBHOOK_PROVIDER_COUNT; i++) {
		if (strcmp(webhook_provider_names[i], name) == 0) {
			*p = (enum webhook_provider)i;
			return (0);
		}
	}
	return (-1);
}

const char *
webhook_kind_name(enum webhook_kind k)
{
	switch (k) {
	case WEBHOOK_PUSH:
		return ("push");
	case WEBHOOK_PING:
		return ("ping");
	case WEBHOOK_DEPLOY:
		return ("deploy");
	case WEBHOOK_OTHER:
		break;
	}
	return ("other");
}

/*
 * The URL of a repository without what differs between spellings of it:
 * scheme, user, port, a trailing ".git" or "/", the case of the host.
 * "https://GitHub.com/acme/infra.git", "git@github.com:acme/infra" and
 * "ssh://git@github.com:22/acme/infra" all give "github.com/acme/infra".
 */
char *
webhook_url_normalize(const char *url)
{
	const char	*p = url, *host, *slash, *colon, *at;
	struct buf	 b;
	char		*out;
	size_t		 n, hostlen;

	while (isspace((unsigned char)*p))
		p++;
	buf_init(&b);
	if ((colon = strstr(p, "://")) != NULL) {
		p = colon + 3;
		slash = strchr(p, '/');
		at = memchr(p, '@', slash != NULL ? (size_t)(slash - p) :
		    strlen(p));
		if (at != NULL)
			p = at + 1;
		host = p;
		hostlen = slash != NULL ? (size_t)(slash - p) : strlen(p);
		/* [v6]:port or host:port */
		if (hostlen > 0 && host[0] == '[') {
			colon = memchr(host, ']', hostlen);
			if (colon != NULL)
				hostlen = (size_t)(colon - host) + 1;
		} else if ((colon = memchr(host, ':', hostlen)) != NULL)
			hostlen = (size_t)(colon - host);
		p = slash != NULL ? slash : host + strlen(host);
	} else {
		/* scp-like: [user@]host:path */
		colon = strchr(p, ':');
		slash = strchr(p, '/');
		if (colon == NULL || (slash != NULL && slash < colon)) {
			/* A plain path: compared as it is. */
			host = "";
			hostlen = 0;
		} else {
			at = memchr(p, '@', (size_t)(colon - p));
			host = at != NULL ? at + 1 : p;
			hostlen = (size_t)(colon - host);
			p = colon + 1;
		}
	}
	for (n = 0; n < hostlen; n++)
		buf_addc(&b, (char)tolower((unsigned char)host[n]));
	if (hostlen != 0 && *p != '/')
		buf_addc(&b, '/');
	buf_adds(&b, p);
	out = buf_release(&b);
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '/' || isspace((unsigned char)
	    out[n - 1])))
		out[--n] = '\0';
	if (n >= 4 && strcmp(out + n - 4, ".git") == 0)
		out[n - 4] = '\0';
	n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
	return (out);
}

/* The header a provider names its event in, its signature in. */
struct webhook_headers {
	const char	*event;
	const char	*delivery;
	const char	*signature;
	const char	*prefix;	/* before the hex, or NULL: token */
};

static const struct webhook_headers webhook_headers[] = {
	[WEBHOOK_GITHUB] = { "X-GitHub-Event", "X-GitHub-Delivery",
	    "X-Hub-Signature-256", "sha256=" },
	[WEBHOOK_GITLAB] = { "X-Gitlab-Event", "X-Gitlab-Event-UUID",
	    "X-Gitlab-Token", NULL },
	[WEBHOOK_GITEA] = { "X-Gitea-Event", "X-Gitea-Delivery",
	    "X-Gitea-Signature", "" },
	[WEBHOOK_BITBUCKET_SERVER] = { "X-Event-Key", "X-Request-Id",
	    "X-Hub-Signature", "sha256=" },
	[WEBHOOK_GENERIC] = { "X-Gitops-Event", "X-Gitops-Delivery",
	    "X-Signature", "sha256=" },
};

/* Gogs sends its own names on the Gitea route (Gitea sends both). */
static const struct webhook_headers webhook_gogs_headers = {
	"X-Gogs-Event", "X-Gogs-Delivery", "X-Gogs-Signature", ""
};

static const struct webhook_headers *
webhook_headers_of(enum webhook_provider p, webhook_header_fn hdr,
    void *arg)
{
	if (p == WEBHOOK_GITEA && hdr(arg, webhook_headers[p].event) == NULL &&
	    hdr(arg, webhook_gogs_headers.event) != NULL)
		return (&webhook_gogs_headers);
	return (&webhook_headers[p]);
}

static int
webhook_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

int
webhook_verify(enum webhook_provider p, webhook_header_fn hdr, void *arg,
    const void *body, size_t len, const char *secret, size_t secretlen)
{
	const struct webhook_headers	*h = webhook_headers_of(p, hdr, arg);
	unsigned char			 want[32], got[32];
	const char			*sig;
	size_t				 i, plen;
	int				 hi, lo, ok;

	if (secret == NULL || secretlen == 0)
		return (0);
	if ((sig = hdr(arg, h->signature)) == NULL)
		return (0);
	if (h->prefix == NULL)	/* a shared token, sent as it is */
		return (timingsafe_equal(sig, strlen(sig), secret, secretlen));
	plen = strlen(h->prefix);
	if (strncasecmp(sig, h->prefix, plen) != 0)
		return (0);
	sig += plen;
	if (strlen(sig) != 2 * sizeof got)
		return (0);
	for (i = 0; i < sizeof got; i++) {
		hi = webhook_hex_value((unsigned char)sig[2 * i]);
		lo = webhook_hex_value((unsigned char)sig[2 * i + 1]);
		if (hi == -1 || lo == -1)
			return (0);
		got[i] = (unsigned char)(hi << 4 | lo);
	}
	hmac_sha256(secret, secretlen, body, len, want);
	ok = timingsafe_equal(want, sizeof want, got, sizeof got);
	explicit_bzero(want, sizeof want);
	return (ok);
}

void
deploy_request_free(struct deploy_request *d)
{
	if (d == NULL)
		return;
	free(d->service);
	free(d->environment);
	free(d->version);
	free(d->image);
	free(d->tag);
	free(d->digest);
	strv_free(&d->requires);
	strv_free(&d->required_by);
	free(d);
}

/* A field that must be a non-empty one-line string, if present. */
static int
deploy_string(const struct json *o, const char *key, int required,
    char **out, char **cause)
{
	struct json	*v = json_get(o, key);
	const char	*s;

	*out = NULL;
	if (v == NULL || json_type(v) == JSON_NULL) {
		if (required) {
			xasprintf(cause, "deploy request: '%s' is required",
			    key);
			return (-1);
		}
		return (0);
	}
	if ((s = json_string(v)) == NULL) {
		xasprintf(cause, "deploy request: '%s' must be a string, not "
		    "%s", key, json_type_phrase(v));
		return (-1);
	}
	if (*s == '\0' || strlen(s) > 256 || strpbrk(s, "\r\n\t") != NULL ||
	    !utf8_valid(s, strlen(s))) {
		xasprintf(cause, "deploy request: '%s' must be a non-empty "
		    "line of at most 256 characters of UTF-8", key);
		return (-1);
	}
	*out = xstrdup(s);
	return (0);
}

static int
deploy_strings(const struct json *o, const char *key, struct strv *out,
    char **cause)
{
	struct json	*v = json_get(o, key), *e;

	if (v == NULL || json_type(v) == JSON_NULL)
		return (0);
	if (json_type(v) != JSON_ARRAY) {
		xasprintf(cause, "deploy request: '%s' must be a list of "
		    "service names, not %s", key, json_type_phrase(v));
		return (-1);
	}
	for (e = json_child(v); e != NULL; e = json_next(e)) {
		if (json_string(e) == NULL || *json_string(e) == '\0' ||
		    !utf8_valid(json_string(e), strlen(json_string(e)))) {
			xasprintf(cause, "deploy request: '%s' must be a list "
			    "of service names", key);
			return (-1);
		}
		strv_add(out, json_string(e));
	}
	return (0);
}

struct deploy_request *
deploy_request_from_json(const struct json *o, char **cause)
{
	struct deploy_request	*d;
	struct json		*force;

	if (json_type(o) != JSON_OBJECT) {
		xasprintf(cause, "deploy request: must be an object, not %s",
		    json_type_phrase(o));
		return (NULL);
	}
	d = xcalloc(1, sizeof *d);
	if (deploy_string(o, "service", 1, &d->service, cause) == -1 ||
	    deploy_string(o, "environment", 1, &d->environment,
	    cause) == -1 ||
	    deploy_string(o, "version", 1, &d->version, cause) == -1 ||
	    deploy_string(o, "image", 0, &d->image, cause) == -1 ||
	    deploy_string(o, "tag", 0, &d->tag, cause) == -1 ||
	    deploy_string(o, "digest", 0, &d->digest, cause) == -1 ||
	    deploy_strings(o, "requires", &d->requires, cause) == -1 ||
	    deploy_strings(o, "requiredBy", &d->required_by, cause) == -1)
		goto fail;
	if (d->tag != NULL && d->digest != NULL) {
		xasprintf(cause, "deploy request: give 'tag' or 'digest', not "
		    "both");
		goto fail;
	}
	if ((force = json_get(o, "force")) != NULL) {
		if (json_type(force) != JSON_TRUE &&
		    json_type(force) != JSON_FALSE) {
			xasprintf(cause, "deploy request: 'force' must be "
			    "true or false");
			goto fail;
		}
		d->force = json_is_true(force);
	}
	return (d);
fail:
	deploy_request_free(d);
	return (NULL);
}

int
deploy_request_fresh(const struct json *o, int64_t now, int64_t skew,
    char **cause)
{
	const char	*t = json_path_string(o, "timestamp", NULL);
	int64_t		 at;

	if (t == NULL) {
		xasprintf(cause, "deploy request: 'timestamp' is required (the "
		    "time it was made, RFC 3339, e.g. 2026-01-02T15:04:05Z, "
		    "inside the signed body)");
		return (-1);
	}
	if (time_parse_rfc3339(t, &at) == -1) {
		xasprintf(cause, "deploy request: 'timestamp' is not an RFC 3339 "
		    "time (2026-01-02T15:04:05Z)");
		return (-1);
	}
	if (at < now - skew || at > now + skew) {
		xasprintf(cause, "deploy request: 'timestamp' is %lld seconds "
		    "from now, more than the %lld allowed: a stale or replayed "
		    "request is refused", (long long)(at - now),
		    (long long)skew);
		return (-1);
	}
	return (0);
}

struct json *
deploy_request_to_json(const struct deploy_request *d)
{
	struct json	*o = json_new_object(), *a;
	size_t		 i;

	json_set(o, "service", json_new_string(d->service));
	json_set(o, "environment", json_new_string(d->environment));
	json_set(o, "version", json_new_string(d->version));
	if (d->image != NULL)
		json_set(o, "image", json_new_string(d->image));
	if (d->tag != NULL)
		json_set(o, "tag", json_new_string(d->tag));
	if (d->digest != NULL)
		json_set(o, "digest", json_new_string(d->digest));
	a = json_new_array();
	for (i = 0; i < d->requires.n; i++)
		json_array_append(a, json_new_string(d->requires.v[i]));
	json_set(o, "requires", a);
	a = json_new_array();
	for (i = 0; i < d->required_by.n; i++)
		json_array_append(a, json_new_string(d->required_by.v[i]));
	json_set(o, "requiredBy", a);
	if (d->force)
		json_set(o, "force", json_new_bool(1));
	return (o);
}

void
webhook_event_free(struct webhook_event *ev)
{
	free(ev->event);
	free(ev->delivery);
	strv_free(&ev->urls);
	strv_free(&ev->branches);
	free(ev->after);
	deploy_request_free(ev->deploy);
	memset(ev, 0, sizeof *ev);
}

/*
 * The payload is read by a validating scanner, not parsed into a tree:
 * it runs before the signature is checked (the URL in the body says
 * whose secret to check it with), so an unauthenticated 25 MiB body must
 * cost one pass and no memory beyond the few strings kept. Each string
 * value is offered with its path of keys (NULL for a list item); the
 * fields wanted are picked by path.
 */
#define WEBHOOK_SCAN_DEPTH	128
#define WEBHOOK_VALUE_MAX	4096	/* longer strings are never kept */
#define WEBHOOK_KEY_MAX		32	/* longer keys match no field */

struct webhook_scan {
	const char	*start, *p, *end;
	int		 depth;
	const char	*key[WEBHOOK_SCAN_DEPTH];	/* text, or NULL: item */
	size_t		 keylen[WEBHOOK_SCAN_DEPTH];
	/* A key written with escapes, decoded: "re\u0066" is "ref". */
	char		 keybuf[WEBHOOK_SCAN_DEPTH][WEBHOOK_KEY_MAX + 1];
	struct webhook_fields *out;
	const char	*error;
};

struct webhook_fields {
	char		*ref;
	char		*after;
	char		*checkout_sha;
	char		*action;
	struct strv	 urls;
	struct strv	 change_refs;	/* Bitbucket Server changes[] */
	struct strv	 change_afters;
};

static void
webhook_fields_free(struct webhook_fields *f)
{
	free(f->ref);
	free(f->after);
	free(f->checkout_sha);
	free(f->action);
	strv_free(&f->urls);
	strv_free(&f->change_refs);
	strv_free(&f->change_afters);
	/* Freed twice (the scanner's error path, then its caller) is harmless. */
	memset(f, 0, sizeof *f);
}

/* The key at a depth is this name (a string literal). */
#define ws_key(ws, d, name)	ws_key_is(ws, d, name, sizeof(name) - 1)

static int
ws_key_is(const struct webhook_scan *ws, int d, const char *name,
    size_t len)
{
	return (ws->key[d] != NULL && ws->keylen[d] == len &&
	    memcmp(ws->key[d], name, len) == 0);
}

static int
ws_key_in(const struct webhook_scan *ws, int d, const char *const *names)
{
	for (; *names != NULL; names++) {
		if (ws_key_is(ws, d, *names, strlen(*names)))
			return (1);
	}
	return (0);
}

static int	ws_decode(const char *, size_t, int, char *);

/* A string value at the current path: keep it if it is a field. */
static void
ws_offer(struct webhook_scan *ws, const char *raw, size_t rawlen,
    int escaped)
{
	char			 v[WEBHOOK_VALUE_MAX + 1];
	static const char *const repo_urls[] = { "clone_url", "ssh_url",
	    "git_url", "html_url", "git_http_url", "git_ssh_url", "homepage",
	    "url", NULL };
	static const char *const project_urls[] = { "git_http_url",
	    "git_ssh_url", "web_url", NULL };
	struct webhook_fields	*f = ws->out;
	char			**one = NULL;
	struct strv		*many = NULL;

	switch (ws->depth) {
	case 1:
		if (ws_key(ws, 0, "ref"))
			one = &f->ref;
		else if (ws_key(ws, 0, "after"))
			one = &f->after;
		else if (ws_key(ws, 0, "checkout_sha"))
			one = &f->checkout_sha;
		else if (ws_key(ws, 0, "action"))
			one = &f->action;
		else if (ws_key(ws, 0, "repository"))
			many = &f->urls;
		break;
	case 2:
		if ((ws_key(ws, 0, "repository") && ws_key_in(ws, 1,
		    repo_urls)) || (ws_key(ws, 0, "project") &&
		    ws_key_in(ws, 1, project_urls)))
			many = &f->urls;
		break;
	case 3:
		if (ws_key(ws, 0, "changes") && ws->key[1] == NULL) {
			if (ws_key(ws, 2, "refId"))
				many = &f->change_refs;
			else if (ws_key(ws, 2, "toHash"))
				many = &f->change_afters;
		}
		break;
	case 4:
		if (ws_key(ws, 0, "repository") && ws_key(ws, 1, "links") &&
		    ws_key(ws, 2, "clone") && ws->key[3] == NULL)
			many = &f->urls;	/* the item's "href" below */
		else if (ws_key(ws, 0, "changes") && ws->key[1] == NULL &&
		    ws_key(ws, 2, "ref") && ws_key(ws, 3, "id"))
			many = &f->change_refs;
		break;
	case 5:
		if (ws_key(ws, 0, "repository") && ws_key(ws, 1, "links") &&
		    ws_key(ws, 2, "clone") && ws->key[3] == NULL &&
		    ws_key(ws, 4, "href"))
			many = &f->urls;
		break;
	}
	if (ws->depth == 4 && many == &f->urls)
		return;		/* a list item that is not an object */
	if ((one == NULL || *one != NULL) && many == NULL)
		return;
	if (ws_decode(raw, rawlen, escaped, v) == -1)
		return;		/* too long to be a URL, ref or commit */
	if (one != NULL && *one == NULL)
		*one = xstrdup(v);
	else if (many != NULL && *v != '\0' && many->n < 64 &&
	    !strv_contains(many, v))
		strv_add(many, v);
}

static void
ws_skip_space(struct webhook_scan *ws)
{
	while (ws->p < ws->end && (*ws->p == ' ' || *ws->p == '\t' ||
	    *ws->p == '\n' || *ws->p == '\r'))
		ws->p++;
}

static int
ws_fail(struct webhook_scan *ws, const char *why)
{
	if (ws->error == NULL)
		ws->error = why;
	return (-1);
}

static void
ws_utf8(char *out, size_t *n, unsigned long c)
{
	if (c < 0x80)
		out[(*n)++] = (char)c;
	else if (c < 0x800) {
		out[(*n)++] = (char)(0xc0 | c >> 6);
		out[(*n)++] = (char)(0x80 | (c & 0x3f));
	} else if (c < 0x10000) {
		out[(*n)++] = (char)(0xe0 | c >> 12);
		out[(*n)++] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[(*n)++] = (char)(0x80 | (c & 0x3f));
	} else {
		out[(*n)++] = (char)(0xf0 | c >> 18);
		out[(*n)++] = (char)(0x80 | ((c >> 12) & 0x3f));
		out[(*n)++] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[(*n)++] = (char)(0x80 | (c & 0x3f));
	}
}

static int
ws_hex4(struct webhook_scan *ws, unsigned long *c)
{
	int	i, v;

	if (ws->end - ws->p < 4)
		return (ws_fail(ws, "bad \\u escape"));
	for (*c = 0, i = 0; i < 4; i++) {
		if ((v = webhook_hex_value((unsigned char)*ws->p++)) == -1)
			return (ws_fail(ws, "bad \\u escape"));
		*c = *c << 4 | (unsigned long)v;
	}
	return (0);
}

/*
 * Past the bytes that need no attention in a string (anything but '"',
 * '\\' and control characters), eight at a time: a byte b of a word is
 * flagged by the high bit of (b ^ c) - 1 (b equals c) or of b - 0x20 (b
 * below 0x20), where b itself has its high bit clear.
 */
static const unsigned char *
ws_plain_run(const unsigned char *p, const unsigned char *end)
{
	const uint64_t	ones = 0x0101010101010101ULL;
	const uint64_t	high = 0x8080808080808080ULL;
	uint64_t	w, t;

	while (end - p >= 8) {
		memcpy(&w, p, 8);
		t = ((w ^ (ones * '"')) - ones) | ((w ^ (ones * '\\')) - ones) |
		    (w - ones * 0x20);
		if ((t & ~w & high) != 0)
			break;
		p += 8;
	}
	while (p < end && *p != '"' && *p != '\\' && *p >= 0x20)
		p++;
	return (p);
}

/*
 * A string, at the opening quote: checked and skipped, raw and rawlen
 * the bytes between the quotes, *escaped set when they hold escapes.
 * Plain runs are skipped a byte compare at a time; only the fields kept
 * are decoded (ws_decode).
 */
static int
ws_string(struct webhook_scan *ws, const char **raw, size_t *rawlen,
    int *escaped)
{
	const unsigned char	*p = (const unsigned char *)ws->p + 1;
	const unsigned char	*end = (const unsigned char *)ws->end;
	unsigned long		 c;

	*raw = (const char *)p;
	*escaped = 0;
	for (;;) {
		p = ws_plain_run(p, end);
		if (p >= end) {
			ws->p = (const char *)p;
			return (ws_fail(ws, "unterminated string"));
		}
		if (*p == '"')
			break;
		if (*p < 0x20) {
			ws->p = (const char *)p;
			return (ws_fail(ws, "control character in a string"));
		}
		/* An escape. */
		*escaped = 1;
		if (++p >= end) {
			ws->p = (const char *)p;
			return (ws_fail(ws, "unterminated string"));
		}
		switch (*p) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n':
		case 'r': case 't':
			p++;
			break;
		case 'u':
			ws->p = (const char *)p + 1;
			if (ws_hex4(ws, &c) == -1)
				return (-1);
			p = (const unsigned char *)ws->p;
			break;
		default:
			ws->p = (const char *)p;
			return (ws_fail(ws, "bad escape in a string"));
		}
	}
	*rawlen = (size_t)((const char *)p - *raw);
	ws->p = (const char *)p + 1;
	return (0);
}

/*
 * The text of a checked string (raw, between the quotes) into out, of
 * WEBHOOK_VALUE_MAX + 1 bytes; -1 when it does not fit.
 */
static int
ws_decode(const char *raw, size_t len, int escaped, char *out)
{
	const char	*p = raw, *end = raw + len;
	unsigned long	 c, lo;
	size_t		 n = 0;
	int		 i, v;

	if (!escaped) {
		if (len > WEBHOOK_VALUE_MAX)
			return (-1);
		memcpy(out, raw, len);
		out[len] = '\0';
		return (0);
	}
	while (p < end) {
		if (n + 4 > WEBHOOK_VALUE_MAX)
			return (-1);
		if (*p != '\\') {
			out[n++] = *p++;
			continue;
		}
		p++;
		switch (*p++) {
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case 'u':
			for (c = 0, i = 0; i < 4; i++) {
				v = webhook_hex_value((unsigned char)*p++);
				c = c << 4 | (unsigned long)v;
			}
			if (c >= 0xd800 && c < 0xdc00 && end - p >= 6 &&
			    p[0] == '\\' && p[1] == 'u') {
				for (lo = 0, i = 0; i < 4; i++) {
					v = webhook_hex_value(
					    (unsigned char)p[2 + i]);
					lo = v == -1 ? 0 : lo << 4 |
					    (unsigned long)v;
				}
				if (lo >= 0xdc00 && lo < 0xe000) {
					c = 0x10000 + ((c - 0xd800) << 10) +
					    (lo - 0xdc00);
					p += 6;
				}
			}
			break;
		default:
			c = (unsigned char)p[-1];	/* " \ / */
			break;
		}
		/* A NUL never reaches C strings. */
		ws_utf8(out, &n, c == 0 ? 0xfffd : c);
	}
	out[n] = '\0';
	return (0);
}

/*
 * The key at a depth: its raw bytes when it has no escapes, else its
 * decoded text, so that a key matches by what it means, as every JSON
 * parser reads it (a key too long to be one we want matches nothing).
 */
static void
ws_set_key(struct webhook_scan *ws, int d, const char *raw, size_t rawlen,
    int escaped)
{
	char	v[WEBHOOK_VALUE_MAX + 1];
	size_t	n;

	ws->key[d] = raw;
	ws->keylen[d] = rawlen;
	if (!escaped)
		return;
	if (ws_decode(raw, rawlen, escaped, v) == -1 ||
	    (n = strlen(v)) > WEBHOOK_KEY_MAX) {
		ws->keybuf[d][0] = '\0';
		ws->key[d] = ws->keybuf[d];
		ws->keylen[d] = WEBHOOK_KEY_MAX + 1;	/* matches no name */
		return;
	}
	memcpy(ws->keybuf[d], v, n + 1);
	ws->key[d] = ws->keybuf[d];
	ws->keylen[d] = n;
}

static int
ws_literal(struct webhook_scan *ws, const char *word)
{
	size_t	n = strlen(word);

	if ((size_t)(ws->end - ws->p) < n || memcmp(ws->p, word, n) != 0)
		return (ws_fail(ws, "unexpected character"));
	ws->p += n;
	return (0);
}

static int
ws_number(struct webhook_scan *ws)
{
	const char	*s = ws->p;

#define WS_DIGIT()	(ws->p < ws->end && *ws->p >= '0' && *ws->p <= '9')
	if (ws->p < ws->end && *ws->p == '-')
		ws->p++;
	if (!WS_DIGIT())
		return (ws_fail(ws, "unexpected character"));
	if (*ws->p == '0')
		ws->p++;
	else
		while (WS_DIGIT())
			ws->p++;
	if (ws->p < ws->end && *ws->p == '.') {
		ws->p++;
		if (!WS_DIGIT())
			return (ws_fail(ws, "bad number"));
		while (WS_DIGIT())
			ws->p++;
	}
	if (ws->p < ws->end && (*ws->p == 'e' || *ws->p == 'E')) {
		ws->p++;
		if (ws->p < ws->end && (*ws->p == '+' || *ws->p == '-'))
			ws->p++;
		if (!WS_DIGIT())
			return (ws_fail(ws, "bad number"));
		while (WS_DIGIT())
			ws->p++;
	}
#undef WS_DIGIT
	return (ws->p > s ? 0 : -1);
}

/* After a list item or member: 1 at ',' (another follows), 0 at close. */
static int
ws_next_item(struct webhook_scan *ws, char close)
{
	ws_skip_space(ws);
	if (ws->p < ws->end && *ws->p == ',') {
		ws->p++;
		return (1);
	}
	if (ws->p < ws->end && *ws->p == close)
		return (0);
	return (ws_fail(ws, close == ']' ? "expected ',' or ']'" :
	    "expected ',' or '}'"));
}

static int
ws_value(struct webhook_scan *ws)
{
	const char	*raw;
	size_t		 rawlen;
	int		 escaped, first, more;

	ws_skip_space(ws);
	if (ws->p >= ws->end)
		return (ws_fail(ws, "unexpected end"));
	switch (*ws->p) {
	case '"':
		if (ws_string(ws, &raw, &rawlen, &escaped) == -1)
			return (-1);
		if (ws->depth > 0)
			ws_offer(ws, raw, rawlen, escaped);
		return (0);
	case '{':
	case '[':
		if (ws->depth >= WEBHOOK_SCAN_DEPTH)
			return (ws_fail(ws, "nested too deeply"));
		first = 1;
		if (*ws->p++ == '[') {
			ws->key[ws->depth] = NULL;
			ws->depth++;
			for (;;) {
				ws_skip_space(ws);
				if (ws->p < ws->end && *ws->p == ']' && first)
					break;
				if (ws_value(ws) == -1)
					return (-1);
				first = 0;
				if ((more = ws_next_item(ws, ']')) == -1)
					return (-1);
				if (!more)
					break;
			}
		} else {
			ws->depth++;
			for (;;) {
				ws_skip_space(ws);
				if (ws->p < ws->end && *ws->p == '}' && first)
					break;
				if (ws->p >= ws->end || *ws->p != '"')
					return (ws_fail(ws, "expected a key"));
				if (ws_string(ws, &raw, &rawlen,
				    &escaped) == -1)
					return (-1);
				ws_set_key(ws, ws->depth - 1, raw, rawlen,
				    escaped);
				ws_skip_space(ws);
				if (ws->p >= ws->end || *ws->p != ':')
					return (ws_fail(ws, "expected ':'"));
				ws->p++;
				if (ws_value(ws) == -1)
					return (-1);
				first = 0;
				if ((more = ws_next_item(ws, '}')) == -1)
					return (-1);
				if (!more)
					break;
			}
		}
		ws->p++;
		ws->depth--;
		return (0);
	case 't':
		return (ws_literal(ws, "true"));
	case 'f':
		return (ws_literal(ws, "false"));
	case 'n':
		return (ws_literal(ws, "null"));
	default:
		return (ws_number(ws));
	}
}

/* Scan a body; on error, cause says where ("line L column C: why"). */
static int
webhook_scan(const char *body, size_t len, struct webhook_fields *f,
    char **cause)
{
	struct webhook_scan	 ws;
	const char		*q;
	int			 line = 1, column = 1;

	memset(&ws, 0, sizeof ws);
	memset(f, 0, sizeof *f);
	ws.start = ws.p = body;
	ws.end = body + len;
	ws.out = f;
	ws_skip_space(&ws);
	if (ws.p >= ws.end || *ws.p != '{') {
		*cause = xstrdup("body must be a JSON object");
		return (-1);
	}
	if (ws_value(&ws) == 0) {
		ws_skip_space(&ws);
		if (ws.p == ws.end)
			return (0);
		ws_fail(&ws, "text after the JSON value");
	}
	for (q = body; q < ws.p && q < ws.end; q++) {
		if (*q == '\n') {
			line++;
			column = 1;
		} else if (((unsigned char)*q & 0xc0) != 0x80)
			column++;
	}
	xasprintf(cause, "body is not JSON: line %d column %d: %s", line,
	    column, ws.error);
	webhook_fields_free(f);
	return (-1);
}

/* "refs/heads/main" -> "main"; tags and other refs move no branch. */
static void
webhook_add_ref(struct webhook_event *ev, const char *ref)
{
	if (ref != NULL && strncmp(ref, "refs/heads/", 11) == 0 &&
	    ref[11] != '\0' && !strv_contains(&ev->branches, ref + 11))
		strv_add(&ev->branches, ref + 11);
}

static void
webhook_set_after(struct webhook_event *ev, const char *after)
{
	if (after != NULL && ev->after == NULL && strlen(after) == 40 &&
	    strspn(after, "0123456789abcdef") == 40 &&
	    strspn(after, "0") != 40)
		ev->after = xstrdup(after);
}

int
webhook_parse(enum webhook_provider p, webhook_header_fn hdr, void *arg,
    const char *body, size_t len, struct webhook_event *ev, char **cause)
{
	const struct webhook_headers	*h = webhook_headers_of(p, hdr, arg);
	struct webhook_fields		 f;
	const char			*event, *delivery;
	size_t				 i;
	int				 push = 0;

	memset(ev, 0, sizeof *ev);
	memset(&f, 0, sizeof f);
	ev->provider = p;
	if ((event = hdr(arg, h->event)) == NULL || *event == '\0') {
		xasprintf(cause, "missing %s header", h->event);
		return (-1);
	}
	ev->event = xstrdup(event);
	if ((delivery = hdr(arg, h->delivery)) != NULL && *delivery != '\0')
		ev->delivery = xstrndup(delivery, 128);
	if (webhook_scan(body, len, &f, cause) == -1)
		goto fail;
	/* GitHub's repository.url is its API URL: harmless, never matches. */
	for (i = 0; i < f.urls.n; i++)
		strv_add(&ev->urls, f.urls.v[i]);
	ev->kind = WEBHOOK_OTHER;
	switch (p) {
	case WEBHOOK_GITHUB:
		if (strcmp(event, "ping") == 0)
			ev->kind = WEBHOOK_PING;
		else if (strcmp(event, "push") == 0)
			push = 1;
		else if (strcmp(event, "repository_dispatch") == 0 &&
		    f.action != NULL && strcmp(f.action, "deploy-service") == 0)
			ev->kind = WEBHOOK_DEPLOY;
		break;
	case WEBHOOK_GITLAB:
		push = strcmp(event, "Push Hook") == 0;
		webhook_set_after(ev, f.checkout_sha);
		break;
	case WEBHOOK_GITEA:
		push = strcmp(event, "push") == 0;
		break;
	case WEBHOOK_BITBUCKET_SERVER:
		if (strcmp(event, "diagnostics:ping") == 0)
			ev->kind = WEBHOOK_PING;
		else if (strcmp(event, "repo:refs_changed") == 0) {
			ev->kind = WEBHOOK_PUSH;
			for (i = 0; i < f.change_refs.n; i++)
				webhook_add_ref(ev, f.change_refs.v[i]);
			/* One branch: its new commit; several: unknown. */
			if (f.change_afters.n == 1)
				webhook_set_after(ev, f.change_afters.v[0]);
		}
		break;
	case WEBHOOK_GENERIC:
		if (strcmp(event, "ping") == 0)
			ev->kind = WEBHOOK_PING;
		else
			push = strcmp(event, "push") == 0;
		break;
	}
	if (push) {
		ev->kind = WEBHOOK_PUSH;
		webhook_add_ref(ev, f.ref);
		webhook_set_after(ev, f.after);
	}
	if ((ev->kind == WEBHOOK_PUSH || ev->kind == WEBHOOK_DEPLOY) &&
	    ev->urls.n == 0) {
		xasprintf(cause, "%s event without a repository URL", event);
		goto fail;
	}
	webhook_fields_free(&f);
	return (0);
fail:
	webhook_fields_free(&f);
	webhook_event_free(ev);
	return (-1);
}

struct deploy_request *
webhook_deploy_request(const char *body, size_t len, char **cause)
{
	struct deploy_request	*d;
	struct json		*root;
	char			*err = NULL;

	if ((root = json_parse(body, len, &err)) == NULL) {
		xasprintf(cause, "body is not JSON: %s", err);
		free(err);
		return (NULL);
	}
	if (json_get(root, "client_payload") == NULL) {
		xasprintf(cause, "repository_dispatch without a client_payload");
		d = NULL;
	} else
		d = deploy_request_from_json(json_get(root, "client_payload"),
		    cause);
	json_free(root);
	return (d);
}
