/*
 * fuzz_webhook.c: libFuzzer harness for webhook_parse, the scanner that
 * reads every provider's unauthenticated delivery. The first input byte
 * picks the provider and the event header (its low 7 bits: GitHub,
 * GitLab, Gitea and Gogs, Bitbucket Server, generic) and whether a
 * delivery id is sent (its high bit); the rest is the body. Checks: no
 * crash, leak or UB; a failure has a cause; a push or deploy event has a
 * repository URL, a branch is a non-empty name and a commit is 40 hex
 * digits; the event and delivery are the headers'.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent.h"
#include "fuzz.h"

struct fuzz_delivery {
	enum webhook_provider	 provider;
	const char		*header;	/* the event header's name */
	const char		*event;
};

static const struct fuzz_delivery fuzz_deliveries[] = {
	{ WEBHOOK_GITHUB, "X-GitHub-Event", "push" },
	{ WEBHOOK_GITHUB, "X-GitHub-Event", "ping" },
	{ WEBHOOK_GITHUB, "X-GitHub-Event", "repository_dispatch" },
	{ WEBHOOK_GITLAB, "X-Gitlab-Event", "Push Hook" },
	{ WEBHOOK_GITLAB, "X-Gitlab-Event", "Tag Push Hook" },
	{ WEBHOOK_GITEA, "X-Gitea-Event", "push" },
	{ WEBHOOK_GITEA, "X-Gogs-Event", "push" },
	{ WEBHOOK_BITBUCKET_SERVER, "X-Event-Key", "repo:refs_changed" },
	{ WEBHOOK_BITBUCKET_SERVER, "X-Event-Key", "diagnostics:ping" },
	{ WEBHOOK_GENERIC, "X-Gitops-Event", "push" },
	{ WEBHOOK_GENERIC, "X-Gitops-Event", "ping" },
	{ WEBHOOK_GITHUB, "X-GitHub-Event", "release" },
};
#define FUZZ_NDELIVERIES (sizeof fuzz_deliveries / sizeof fuzz_deliveries[0])

static const char fuzz_delivery_id[] = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

struct fuzz_headers {
	const struct fuzz_delivery	*d;
	int				 with_id;
};

static const char *
fuzz_header(void *arg, const char *name)
{
	const struct fuzz_headers	*h = arg;

	if (strcasecmp(name, h->d->header) == 0)
		return (h->d->event);
	if (!h->with_id)
		return (NULL);
	if (strcasestr(name, "Delivery") != NULL ||
	    strcasestr(name, "UUID") != NULL ||
	    strcasecmp(name, "X-Request-Id") == 0)
		return (fuzz_delivery_id);
	return (NULL);
}

static int
fuzz_is_commit(const char *s)
{
	return (strlen(s) == 40 && strspn(s, "0123456789abcdef") == 40);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fuzz_delivery	*d;
	struct fuzz_headers		 h;
	struct webhook_event		 ev;
	char				*cause = NULL;
	size_t				 i;

	if (size == 0)
		return (0);
	d = &fuzz_deliveries[(data[0] & 0x7f) % FUZZ_NDELIVERIES];
	h.d = d;
	h.with_id = (data[0] & 0x80) != 0;
	if (webhook_parse(d->provider, fuzz_header, &h,
	    (const char *)data + 1, size - 1, &ev, &cause) == -1) {
		if (cause == NULL || ev.event != NULL || ev.urls.n != 0)
			abort();
		free(cause);
		return (0);
	}
	if (cause != NULL || ev.provider != d->provider ||
	    strcmp(ev.event, d->event) != 0 || (h.with_id ?
	    ev.delivery == NULL || strcmp(ev.delivery, fuzz_delivery_id) != 0 :
	    ev.delivery != NULL))
		abort();
	if ((ev.kind == WEBHOOK_PUSH || ev.kind == WEBHOOK_DEPLOY) &&
	    ev.urls.n == 0)
		abort();
	for (i = 0; i < ev.branches.n; i++) {
		if (*ev.branches.v[i] == '\0')
			abort();
	}
	if (ev.after != NULL && !fuzz_is_commit(ev.after))
		abort();
	if (ev.deploy != NULL)	/* set only after verification */
		abort();
	webhook_event_free(&ev);
	return (0);
}
