/*
 * fuzz_render.c: libFuzzer harness for render_path's kustomization reader
 * (the built-in subset: resources, namespace, commonLabels, images, and
 * the refusal of what lies beyond it), never with kubectl. The input is
 * an in-memory tree: text up to the first "=== PATH" line is
 * kustomization.yaml, each such line starts a file; the folder of the
 * first file is rendered. Checks: no crash, leak or UB, no endless
 * recursion between kustomizations; a failure has a cause and no set;
 * every resource rendered is found again by its identity.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gitops.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct render_opts	 ro;
	struct source		*src;
	struct resource_set	*set = NULL;
	char			*cause = NULL, *first, *slash;
	size_t			 i;

	memset(&ro, 0, sizeof ro);
	ro.no_external = 1;
	ro.kubectl = "/nonexistent/kubectl";
	src = fuzz_source_new("kustomization.yaml", data, size, &first);
	if ((slash = strrchr(first, '/')) != NULL)
		*slash = '\0';
	else
		strlcpy(first, ".", 2);
	if (render_path(src, first, &ro, &set, &cause) == -1) {
		if (cause == NULL || set != NULL)
			abort();
		free(cause);
		free(first);
		source_free(src);
		return (0);
	}
	for (i = 0; i < set->n; i++) {
		if (resource_set_find(set, set->v[i]->id) != set->v[i])
			abort();
	}
	resource_set_free(set);
	free(cause);
	free(first);
	source_free(src);
	return (0);
}
