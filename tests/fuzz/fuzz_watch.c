/*
 * fuzz_watch.c: libFuzzer harness for a Kubernetes watch's stream
 * (kube_stream_feed, kube_event_parse), what the API server or anything
 * posing as it sends while the agent waits for health. Input: the first
 * byte sets the size of the chunks (1 to 256 bytes) the rest is fed in,
 * as the network would cut it. Checks: no crash, leak or UB; every event
 * given is of a known type and names its object (but bookmarks); the
 * stream ends with a reason when it ends; and fed in chunks it gives the
 * very events, and ends the same way, as fed whole.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gitops.h"
#include "kube.h"
#include "fuzz.h"

struct seen {
	struct buf	 events;	/* type, name and rv of each */
};

static int
fuzz_watch_cb(void *arg, const struct kube_event *ev)
{
	struct seen	*s = arg;

	if (ev->type > KUBE_EVENT_BOOKMARK || ev->object == NULL)
		abort();
	if (ev->type != KUBE_EVENT_BOOKMARK &&
	    (ev->name == NULL || *ev->name == '\0'))
		abort();
	buf_printf(&s->events, "%d %s %s\n", (int)ev->type,
	    ev->name != NULL ? ev->name : "", ev->rv != NULL ? ev->rv : "");
	return (0);
}

/* Feed data in chunks of step bytes: how the stream ended, in *how. */
static void
fuzz_watch_run(const char *data, size_t size, size_t step, struct seen *s,
    char how[64])
{
	struct kube_stream	*ks;
	size_t			 off, n;
	int			 rc = 0;

	buf_init(&s->events);
	ks = kube_stream_new(fuzz_watch_cb, s);
	for (off = 0; off < size && rc == 0; off += n) {
		n = size - off < step ? size - off : step;
		rc = kube_stream_feed(ks, data + off, n);
	}
	if (rc == -1 && !kube_stream_expired(ks) &&
	    kube_stream_error(ks) == NULL)
		abort();	/* ended, and not by fn: a reason is owed */
	snprintf(how, 64, "%d %d %d", rc, kube_stream_expired(ks),
	    kube_stream_error(ks) != NULL);
	kube_stream_free(ks);
	buf_addc(&s->events, '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen	 whole, cut;
	char		 h1[64], h2[64];
	size_t		 step;

	if (size == 0)
		return (0);
	step = (size_t)data[0] + 1;
	fuzz_watch_run((const char *)data + 1, size - 1, size, &whole, h1);
	fuzz_watch_run((const char *)data + 1, size - 1, step, &cut, h2);
	/* An unfinished last line is not an event either way. */
	if (strcmp(whole.events.data, cut.events.data) != 0 ||
	    strcmp(h1, h2) != 0)
		abort();
	buf_free(&whole.events);
	buf_free(&cut.events);
	return (0);
}
