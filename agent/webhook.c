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
	if (*s == '\0' || strlen(s) > 256 || strpbrk(s, "\r\n\t") != NULL) {
		xasprintf(cause, "deploy request: '%s' must be a non-empty "
		    "line of at most 256 characters", key);
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
		if (json_string(e) == NULL || *json_string(e) == '\0') {
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

/* Add the string at a path of the payload to the URLs, if there. */
static void
webhook_add_url(struct webhook_event *ev, const struct json *root, ...)
{
	const struct json	*v = root;
	const char		*key;
	va_list			 ap;

	va_start(ap, root);
	while (v != NULL && (key = va_arg(ap, const char *)) != NULL)
		v = json_get(v, key);
	va_end(ap);
	if (v != NULL && json_string(v) != NULL && *json_string(v) != '\0' &&
	    !strv_contains(&ev->urls, json_string(v)))
		strv_add(&ev->urls, json_string(v));
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

/* The repository URLs every provider's payload carries somewhere. */
static void
webhook_add_urls(struct webhook_event *ev, const struct json *root)
{
	struct json	*clone, *e;

	webhook_add_url(ev, root, "repository", "clone_url", NULL);
	webhook_add_url(ev, root, "repository", "ssh_url", NULL);
	webhook_add_url(ev, root, "repository", "git_url", NULL);
	webhook_add_url(ev, root, "repository", "html_url", NULL);
	webhook_add_url(ev, root, "repository", "git_http_url", NULL);
	webhook_add_url(ev, root, "repository", "git_ssh_url", NULL);
	webhook_add_url(ev, root, "repository", "homepage", NULL);
	webhook_add_url(ev, root, "project", "git_http_url", NULL);
	webhook_add_url(ev, root, "project", "git_ssh_url", NULL);
	webhook_add_url(ev, root, "project", "web_url", NULL);
	/* GitHub's repository.url is an API URL; generic's is the remote. */
	if (ev->provider == WEBHOOK_GENERIC ||
	    ev->provider == WEBHOOK_GITLAB) {
		webhook_add_url(ev, root, "repository", "url", NULL);
		webhook_add_url(ev, root, "repository", NULL);
	}
	clone = json_path(root, "repository", "links", "clone", NULL);
	for (e = json_child(clone); e != NULL; e = json_next(e))
		webhook_add_url(ev, e, "href", NULL);
}

int
webhook_parse(enum webhook_provider p, webhook_header_fn hdr, void *arg,
    const char *body, size_t len, struct webhook_event *ev, char **cause)
{
	const struct webhook_headers	*h = webhook_headers_of(p, hdr, arg);
	struct json			*root = NULL, *changes, *c, *cp;
	const char			*event, *delivery, *action;
	char				*err = NULL;
	int				 push = 0;

	memset(ev, 0, sizeof *ev);
	ev->provider = p;
	if ((event = hdr(arg, h->event)) == NULL || *event == '\0') {
		xasprintf(cause, "missing %s header", h->event);
		return (-1);
	}
	ev->event = xstrdup(event);
	if ((delivery = hdr(arg, h->delivery)) != NULL && *delivery != '\0')
		ev->delivery = xstrndup(delivery, 128);
	if ((root = json_parse(body, len, &err)) == NULL) {
		xasprintf(cause, "body is not JSON: %s", err);
		free(err);
		goto fail;
	}
	if (json_type(root) != JSON_OBJECT) {
		xasprintf(cause, "body must be a JSON object, not %s",
		    json_type_phrase(root));
		goto fail;
	}
	webhook_add_urls(ev, root);
	ev->kind = WEBHOOK_OTHER;
	switch (p) {
	case WEBHOOK_GITHUB:
		if (strcmp(event, "ping") == 0)
			ev->kind = WEBHOOK_PING;
		else if (strcmp(event, "push") == 0)
			push = 1;
		else if (strcmp(event, "repository_dispatch") == 0) {
			action = json_path_string(root, "action", NULL);
			if (action == NULL ||
			    strcmp(action, "deploy-service") != 0)
				break;
			cp = json_get(root, "client_payload");
			if ((ev->deploy = deploy_request_from_json(cp,
			    cause)) == NULL)
				goto fail;
			ev->kind = WEBHOOK_DEPLOY;
		}
		break;
	case WEBHOOK_GITLAB:
		push = strcmp(event, "Push Hook") == 0 ||
		    strcmp(event, "System Hook") == 0;
		if (json_path_string(root, "checkout_sha", NULL) != NULL)
			webhook_set_after(ev, json_path_string(root,
			    "checkout_sha", NULL));
		break;
	case WEBHOOK_GITEA:
		push = strcmp(event, "push") == 0;
		break;
	case WEBHOOK_BITBUCKET_SERVER:
		if (strcmp(event, "diagnostics:ping") == 0)
			ev->kind = WEBHOOK_PING;
		else if (strcmp(event, "repo:refs_changed") == 0) {
			ev->kind = WEBHOOK_PUSH;
			changes = json_get(root, "changes");
			for (c = json_child(changes); c != NULL;
			    c = json_next(c)) {
				webhook_add_ref(ev, json_path_string(c, "ref",
				    "id", NULL));
				webhook_add_ref(ev, json_path_string(c,
				    "refId", NULL));
				webhook_set_after(ev, json_path_string(c,
				    "toHash", NULL));
			}
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
		webhook_add_ref(ev, json_path_string(root, "ref", NULL));
		webhook_set_after(ev, json_path_string(root, "after", NULL));
	}
	if ((ev->kind == WEBHOOK_PUSH || ev->kind == WEBHOOK_DEPLOY) &&
	    ev->urls.n == 0) {
		xasprintf(cause, "%s event without a repository URL", event);
		goto fail;
	}
	json_free(root);
	return (0);
fail:
	json_free(root);
	webhook_event_free(ev);
	return (-1);
}
