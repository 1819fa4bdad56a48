/*
 * fuzz_manifest.c: libFuzzer harness for manifest_load_dir, the loader of
 * a folder of manifests (YAML and JSON, several documents a file, lists
 * expanded, hooks and waves read). The input is cut at NUL bytes into
 * the files of an in-memory tree (a.yaml, b/c.yml, b/d.json, e.yaml).
 * Checks: no crash, leak or UB; a failure has a cause and no set; every
 * resource loaded has a name and is found again by its identity.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gitops.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct source		*src;
	struct resource_set	*set = NULL;
	struct resource		*r;
	char			*cause = NULL, *first;
	size_t			 i;

	src = fuzz_source_new("a.yaml", data, size, &first);
	free(first);
	if (manifest_load_dir(src, ".", NULL, &set, &cause) == -1) {
		if (cause == NULL || set != NULL)
			abort();
		free(cause);
		source_free(src);
		return (0);
	}
	for (i = 0; i < set->n; i++) {
		r = set->v[i];
		if (r->id == NULL || r->name == NULL || *r->name == '\0' ||
		    resource_set_find(set, r->id) != r)
			abort();
	}
	resource_set_free(set);
	free(cause);
	source_free(src);
	return (0);
}
