/*
 * fuzz_yaml.c: libFuzzer harness for yaml_parse and yaml_emit. Not built
 * by make. Every parsed document must emit to text that parses back to an
 * equal tree; anything else aborts. From the top of the source tree, after
 * ./configure (for config.h, here in the build directory B):
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -DHAVE_CONFIG_H \
 *	    -IB -Igitops -Icompat -o fuzz_yaml tests/fuzz/fuzz_yaml.c \
 *	    gitops/yaml.c gitops/yaml_emit.c gitops/json.c gitops/util.c \
 *	    gitops/xmalloc.c gitops/log.c compat/strlcpy.c -lyaml -lcjson \
 *	    -lcrypto -lm
 *	./fuzz_yaml -max_len=4096 -timeout=10 CORPUS_DIR
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gitops.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct yaml_file	*f = NULL, *g = NULL;
	struct json		*root;
	char			*cause = NULL, *text;
	size_t			 i;
	int			 line, column;

	if (yaml_parse("fuzz", (const char *)data, size, YAML_ALLOW_EMPTY, &f,
	    &cause) == -1) {
		/* Every error is positioned. */
		if (cause == NULL || strncmp(cause, "fuzz:", 5) != 0)
			abort();
		free(cause);
		return (0);
	}
	for (i = 0; i < f->ndocs; i++) {
		root = f->docs[i].root;
		if (yaml_node_position(f, root, &line, &column) != 1 ||
		    line != f->docs[i].line || column != f->docs[i].column)
			abort();
		text = yaml_emit(root);
		if (yaml_parse("emitted", text, strlen(text), 0, &g,
		    &cause) == -1)
			abort();
		if (g->ndocs != 1 || !json_equal(g->docs[0].root, root))
			abort();
		yaml_file_free(g);
		free(text);
	}
	yaml_file_free(f);
	return (0);
}
