/*
 * fuzz_webhook_form.c: libFuzzer harness for webhook_form_payload, the
 * decoder of form-encoded deliveries (unauthenticated when it runs). The
 * input is the whole body. Checks: no crash, leak or UB; a failure has a
 * cause and no payload; a payload is NUL-terminated, no longer than the
 * body, and encoding it again as "payload=..." decodes to the same bytes;
 * a body over the limit is refused.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "fuzz.h"

/* value percent-encoded in full, as the only field of a form. */
static char *
fuzz_form_encode(const char *value, size_t len, size_t *outlen)
{
	char	*out, *p;
	size_t	 i;

	p = out = xmalloc(sizeof "payload=" + 3 * len);
	memcpy(p, "payload=", 8);
	p += 8;
	for (i = 0; i < len; i++) {
		snprintf(p, 4, "%%%02X", (unsigned char)value[i]);
		p += 3;
	}
	*outlen = p - out;
	return (out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*body = (const char *)data;
	char		*payload, *again, *form, *cause = NULL;
	size_t		 len, len2, flen;

	if ((payload = webhook_form_payload(body, size, size, &len,
	    &cause)) == NULL) {
		if (cause == NULL || len != 0)
			abort();
		free(cause);
		return (0);
	}
	if (cause != NULL || len > size || payload[len] != '\0')
		abort();
	form = fuzz_form_encode(payload, len, &flen);
	if ((again = webhook_form_payload(form, flen, flen, &len2,
	    &cause)) == NULL || len2 != len || memcmp(again, payload, len) != 0)
		abort();
	free(again);
	if (flen > 0 && (again = webhook_form_payload(form, flen, flen - 1,
	    &len2, &cause)) != NULL)
		abort();
	free(cause);
	free(form);
	free(payload);
	return (0);
}
