/*
 * fuzz_deploy.c: libFuzzer harness for webhook_deploy_request (the full
 * parse of a signed repository_dispatch body) and
 * deploy_request_from_json. Checks: no crash, leak or UB; a failure has
 * a cause; a request that parses has its required fields, never both a
 * tag and a digest, and survives deploy_request_to_json and
 * deploy_request_from_json unchanged (the deploy queue on disk relies on
 * that round trip).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "fuzz.h"

static int
fuzz_str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

static int
fuzz_strv_equal(const struct strv *a, const struct strv *b)
{
	size_t	i;

	if (a->n != b->n)
		return (0);
	for (i = 0; i < a->n; i++) {
		if (strcmp(a->v[i], b->v[i]) != 0)
			return (0);
	}
	return (1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct deploy_request	*d, *e;
	struct json		*o;
	char			*cause = NULL;

	if ((d = webhook_deploy_request((const char *)data, size,
	    &cause)) == NULL) {
		if (cause == NULL)
			abort();
		free(cause);
		return (0);
	}
	if (cause != NULL || d->service == NULL || d->environment == NULL ||
	    d->version == NULL || (d->tag != NULL && d->digest != NULL))
		abort();
	o = deploy_request_to_json(d);
	if ((e = deploy_request_from_json(o, &cause)) == NULL)
		abort();
	if (!fuzz_str_equal(d->service, e->service) ||
	    !fuzz_str_equal(d->environment, e->environment) ||
	    !fuzz_str_equal(d->version, e->version) ||
	    !fuzz_str_equal(d->image, e->image) ||
	    !fuzz_str_equal(d->tag, e->tag) ||
	    !fuzz_str_equal(d->digest, e->digest) ||
	    !fuzz_strv_equal(&d->requires, &e->requires) ||
	    !fuzz_strv_equal(&d->required_by, &e->required_by) ||
	    d->force != e->force)
		abort();
	deploy_request_free(e);
	json_free(o);
	deploy_request_free(d);
	return (0);
}
