/*
 * fuzz_config.c: libFuzzer harness for config_parse, the configuration
 * loader (the same code config_load runs on a file's bytes). Checks: no
 * crash, leak or UB, and no exit (bad input is never fatal); a failure
 * has a cause whose every line is positioned in the file
 * ("NAME:LINE:COLUMN: message").
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gitops.h"
#include "fuzz.h"

#define FUZZ_CONFIG_NAME "fuzz/gitops-agent.yaml"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*cfg;
	char		*cause = NULL, *line, *next;

	if ((cfg = config_parse(FUZZ_CONFIG_NAME, (const char *)data, size,
	    &cause)) != NULL) {
		if (cause != NULL)
			abort();
		config_free(cfg);
		return (0);
	}
	if (cause == NULL || *cause == '\0')
		abort();
	for (line = cause; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strncmp(line, FUZZ_CONFIG_NAME ":",
		    sizeof FUZZ_CONFIG_NAME) != 0)
			abort();
	}
	free(cause);
	return (0);
}
