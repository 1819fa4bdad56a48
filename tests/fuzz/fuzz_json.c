/*
 * fuzz_json.c: libFuzzer harness for json_parse, the reader of JSON
 * manifests, deploy requests and the agent's own state files. Checks: no
 * crash, leak or UB; a failure has a cause; a parsed tree prints (compact
 * and indented) to text that parses back to an equal tree.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gitops.h"
#include "fuzz.h"

static void
fuzz_json_round_trip(const struct json *root, int indent)
{
	struct json	*back;
	char		*text, *cause = NULL;

	text = json_print(root, indent);
	if ((back = json_parse(text, strlen(text), &cause)) == NULL)
		abort();
	if (!json_equal(root, back))
		abort();
	json_free(back);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json	*root;
	char		*cause = NULL;

	if ((root = json_parse((const char *)data, size, &cause)) == NULL) {
		if (cause == NULL)
			abort();
		free(cause);
		return (0);
	}
	fuzz_json_round_trip(root, 0);
	fuzz_json_round_trip(root, 1);
	json_free(root);
	return (0);
}
