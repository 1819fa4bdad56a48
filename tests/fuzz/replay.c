/*
 * replay.c: a main for a libFuzzer harness built without libFuzzer (gcc
 * or clang, with the build's sanitizers or under valgrind): calls
 * LLVMFuzzerTestOneInput once on each file of the corpus folders (or
 * files) given, or of tests/fuzz/corpus/NAME under $TEST_SRCDIR when none
 * is, and reports one TAP line a file. Each input is copied to a buffer
 * of its exact size, as libFuzzer does, so a read past its end is caught.
 * A harness aborts on a broken property; a crash ends the plan early,
 * which the TAP driver reports, after the "# FILE" line naming the input.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gitops.h"
#include "fuzz.h"

#ifndef FUZZ_NAME
#error "FUZZ_NAME: the harness's corpus folder under tests/fuzz/corpus"
#endif

#define REPLAY_MAX_INPUT (16 * 1024 * 1024)

/* Add path, or the files of a folder (sorted), to inputs. */
static void
replay_collect(const char *path, struct strv *inputs)
{
	struct stat	 st;
	struct strv	 names;
	struct dirent	*de;
	DIR		*d;
	char		*file;
	size_t		 i;

	if (stat(path, &st) == -1 || !S_ISDIR(st.st_mode)) {
		strv_add(inputs, path);
		return;
	}
	if ((d = opendir(path)) == NULL) {
		strv_add(inputs, path);	/* reported when it fails to read */
		return;
	}
	memset(&names, 0, sizeof names);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			strv_add(&names, de->d_name);
	}
	closedir(d);
	strv_sort(&names);
	for (i = 0; i < names.n; i++) {
		file = path_join(path, names.v[i]);
		strv_add(inputs, file);
		free(file);
	}
	strv_free(&names);
}

int
main(int argc, char **argv)
{
	struct strv	 inputs;
	const char	*srcdir;
	char		*data, *exact, *cause = NULL, *dir;
	size_t		 len, i;
	int		 a, failed = 0;

	memset(&inputs, 0, sizeof inputs);
	if (argc > 1) {
		for (a = 1; a < argc; a++)
			replay_collect(argv[a], &inputs);
	} else {
		if ((srcdir = getenv("TEST_SRCDIR")) == NULL)
			srcdir = ".";
		xasprintf(&dir, "%s/tests/fuzz/corpus/%s", srcdir, FUZZ_NAME);
		replay_collect(dir, &inputs);
		free(dir);
	}
	printf("1..%zu\n", inputs.n);
	for (i = 0; i < inputs.n; i++) {
		printf("# %s\n", inputs.v[i]);
		fflush(stdout);
		if (file_read(inputs.v[i], REPLAY_MAX_INPUT, &data, &len,
		    &cause) == -1) {
			printf("not ok %zu - %s: %s\n", i + 1, inputs.v[i],
			    cause);
			free(cause);
			cause = NULL;
			failed = 1;
			continue;
		}
		exact = xmalloc(len == 0 ? 1 : len);
		memcpy(exact, data, len);
		free(data);
		LLVMFuzzerTestOneInput((const uint8_t *)exact, len);
		free(exact);
		printf("ok %zu - %s\n", i + 1, inputs.v[i]);
		fflush(stdout);
	}
	strv_free(&inputs);
	return (failed);
}
