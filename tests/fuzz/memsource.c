/*
 * memsource.c: an in-memory source for the harnesses that read a tree
 * (manifests, kustomizations): files cut from the fuzzer's input, never
 * the disk. It cannot be materialized, so nothing runs kubectl.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gitops.h"
#include "fuzz.h"

struct fuzz_source {
	struct strv	  names;
	char		**data;
	size_t		 *len;
};

/* "." and "" are the root; "./a" is "a". */
static const char *
fuzz_source_path(const char *path)
{
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	if (strcmp(path, ".") == 0)
		return ("");
	return (path);
}

static int
fuzz_source_stat(void *arg, const char *path, enum source_entry_type *type,
    char **cause)
{
	struct fuzz_source	*fs = arg;
	size_t			 i, plen;

	(void)cause;
	path = fuzz_source_path(path);
	plen = strlen(path);
	*type = SOURCE_NONE;
	for (i = 0; i < fs->names.n; i++) {
		if (strcmp(fs->names.v[i], path) == 0) {
			*type = SOURCE_FILE;
			return (0);
		}
		if (plen == 0 || (strncmp(fs->names.v[i], path, plen) == 0 &&
		    fs->names.v[i][plen] == '/'))
			*type = SOURCE_DIR;
	}
	return (0);
}

static int
fuzz_source_list(void *arg, const char *path, struct strv *out,
    char **cause)
{
	struct fuzz_source	*fs = arg;
	const char		*rest, *slash;
	char			*name;
	size_t			 i, plen;

	(void)cause;
	memset(out, 0, sizeof *out);
	path = fuzz_source_path(path);
	plen = strlen(path);
	for (i = 0; i < fs->names.n; i++) {
		rest = fs->names.v[i];
		if (plen != 0) {
			if (strncmp(rest, path, plen) != 0 || rest[plen] != '/')
				continue;
			rest += plen + 1;
		}
		slash = strchr(rest, '/');
		name = xstrndup(rest, slash == NULL ? strlen(rest) :
		    (size_t)(slash - rest));
		if (!strv_contains(out, name))
			strv_add(out, name);
		free(name);
	}
	strv_sort(out);
	return (0);
}

static int
fuzz_source_read(void *arg, const char *path, size_t max, char **out,
    size_t *outlen, char **cause)
{
	struct fuzz_source	*fs = arg;
	size_t			 i;

	path = fuzz_source_path(path);
	for (i = 0; i < fs->names.n; i++) {
		if (strcmp(fs->names.v[i], path) != 0)
			continue;
		if (fs->len[i] > max) {
			xasprintf(cause, "%s: too large", path);
			return (-1);
		}
		*out = xmalloc(fs->len[i] + 1);
		memcpy(*out, fs->data[i], fs->len[i]);
		(*out)[fs->len[i]] = '\0';
		*outlen = fs->len[i];
		return (0);
	}
	xasprintf(cause, "cannot read '%s': No such file or directory", path);
	return (-1);
}

static int
fuzz_source_materialize(void *arg, const char *path, char **dir,
    int *cleanup, char **cause)
{
	(void)arg;
	(void)dir;
	(void)cleanup;
	xasprintf(cause, "cannot materialize '%s' in a fuzzer", path);
	return (-1);
}

static void
fuzz_source_free(void *arg)
{
	struct fuzz_source	*fs = arg;
	size_t			 i;

	for (i = 0; i < fs->names.n; i++)
		free(fs->data[i]);
	free(fs->data);
	free(fs->len);
	strv_free(&fs->names);
	free(fs);
}

static const struct source_ops fuzz_source_ops = {
	.stat = fuzz_source_stat,
	.list = fuzz_source_list,
	.read = fuzz_source_read,
	.materialize = fuzz_source_materialize,
	.free = fuzz_source_free,
};

/* Add a file; a name given twice keeps its first text. */
static void
fuzz_source_add(struct fuzz_source *fs, const char *name, size_t namelen,
    const uint8_t *data, size_t len)
{
	char	*n = xstrndup(name, namelen);
	size_t	 i = fs->names.n;

	if (*n == '\0' || strv_contains(&fs->names, n)) {
		free(n);
		return;
	}
	strv_add(&fs->names, n);
	free(n);
	fs->data = xreallocarray(fs->data, i + 1, sizeof *fs->data);
	fs->len = xreallocarray(fs->len, i + 1, sizeof *fs->len);
	fs->data[i] = xmalloc(len + 1);
	memcpy(fs->data[i], data, len);
	fs->data[i][len] = '\0';
	fs->len[i] = len;
}

/* The next "=== " line at or after p, or end. */
static const uint8_t *
fuzz_source_mark(const uint8_t *p, const uint8_t *start, const uint8_t *end)
{
	for (; p + 4 <= end; p++) {
		if ((p == start || p[-1] == '\n') && memcmp(p, "=== ", 4) == 0)
			return (p);
	}
	return (end);
}

struct source *
fuzz_source_new(const char *first, const uint8_t *data, size_t size,
    char **firstp)
{
	struct fuzz_source	*fs = xcalloc(1, sizeof *fs);
	const uint8_t		*end = data + size, *p, *name, *nl, *next;

	p = fuzz_source_mark(data, data, end);
	if (p != data)
		fuzz_source_add(fs, first, strlen(first), data, p - data);
	while (p < end) {
		name = p + 4;
		if ((nl = memchr(name, '\n', end - name)) == NULL)
			nl = end;
		next = nl < end ? fuzz_source_mark(nl + 1, data, end) : end;
		fuzz_source_add(fs, (const char *)name, nl - name,
		    nl < end ? nl + 1 : end, nl < end ? next - nl - 1 : 0);
		p = next;
	}
	*firstp = xstrdup(fs->names.n != 0 ? fs->names.v[0] : first);
	return (source_new(&fuzz_source_ops, fs, "fuzz"));
}
