/*
 * source.c: where manifests are read from. The first part dispatches to a
 * source's operations and knows nothing of any one kind of source; the
 * second part is the directory source.
 *
 * Runs in whatever thread renders an app; a source is used by one thread
 * at a time. A directory source must never read outside its root: not
 * through "..", not through an absolute path, not through a symlink that
 * leads out of the root (a manifest repository must not be able to read
 * /etc/passwd). Symlinks that stay inside the root are followed.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gitops.h"

/*
 * Generic part: every kind of source (a directory now, a Git tree later)
 * is reached through these.
 */

struct source *
source_new(const struct source_ops *ops, void *arg, const char *label)
{
	struct source	*src = xcalloc(1, sizeof *src);

	src->ops = ops;
	src->arg = arg;
	src->label = xstrdup(label);
	return (src);
}

void
source_free(struct source *src)
{
	if (src == NULL)
		return;
	if (src->ops != NULL && src->ops->free != NULL)
		src->ops->free(src->arg);
	free(src->label);
	free(src->strip);
	free(src);
}

int
source_stat(struct source *src, const char *path,
    enum source_entry_type *type, char **cause)
{
	return (src->ops->stat(src->arg, path, type, cause));
}

int
source_list(struct source *src, const char *path, struct strv *names,
    char **cause)
{
	return (src->ops->list(src->arg, path, names, cause));
}

int
source_read(struct source *src, const char *path, size_t max, char **out,
    size_t *outlen, char **cause)
{
	return (src->ops->read(src->arg, path, max, out, outlen, cause));
}

int
source_materialize(struct source *src, const char *path, char **dir,
    int *cleanup, char **cause)
{
	*dir = NULL;
	*cleanup = 0;
	if (src->ops->materialize == NULL) {
		xasprintf(cause, "cannot use '%s' as a local directory",
		    src->label);
		return (-1);
	}
	return (src->ops->materialize(src->arg, path, dir, cleanup, cause));
}

/*
 * label joined with path; a label of "." or "" is left out. A path below
 * strip (an absolute directory, or NULL) is shown relative to it.
 */
static char *
source_join_label(const char *label, const char *path, const char *strip)
{
	char	*p, *rel;
	size_t	 n;

	if (*label == '\0' || strcmp(label, ".") == 0)
		p = xstrdup(*path == '\0' ? "." : path);
	else
		p = path_join(label, path);
	if (strip != NULL && (n = strlen(strip)) > 1 &&
	    strncmp(p, strip, n) == 0 && p[n] == '/' && p[n + 1] != '\0') {
		rel = xstrdup(p + n + 1);
		free(p);
		p = rel;
	}
	return (p);
}

char *
source_display_path(struct source *src, const char *path)
{
	return (source_join_label(src->label, path, src->strip));
}

/*
 * A recording source: every path an app's render looked at, so a later
 * commit can be checked against it (source_inputs_touched). Entries are
 * "f:PATH" for a file read or a path looked up (one that appears later
 * counts too) and "d:PATH" for a folder listed or materialized, whose
 * whole subtree counts. Used by the thread that renders; the loader's
 * own lock serializes its reads.
 */
struct source_record {
	struct source	*inner;
	struct strv	*inputs;
};

static void
sr_add(struct source_record *sr, char kind, const char *path)
{
	char	*e;

	xasprintf(&e, "%c:%s", kind, path);
	if (!strv_contains(sr->inputs, e))
		strv_add(sr->inputs, e);
	free(e);
}

static int
sr_stat(void *arg, const char *path, enum source_entry_type *type,
    char **cause)
{
	struct source_record	*sr = arg;

	sr_add(sr, 'f', path);
	return (source_stat(sr->inner, path, type, cause));
}

static int
sr_list(void *arg, const char *path, struct strv *names, char **cause)
{
	struct source_record	*sr = arg;

	sr_add(sr, 'd', path);
	return (source_list(sr->inner, path, names, cause));
}

static int
sr_read(void *arg, const char *path, size_t max, char **out, size_t *len,
    char **cause)
{
	struct source_record	*sr = arg;

	sr_add(sr, 'f', path);
	return (source_read(sr->inner, path, max, out, len, cause));
}

static int
sr_materialize(void *arg, const char *path, char **dir, int *cleanup,
    char **cause)
{
	struct source_record	*sr = arg;

	sr_add(sr, 'd', path);
	return (source_materialize(sr->inner, path, dir, cleanup, cause));
}

static void
sr_free(void *arg)
{
	free(arg);
}

static const struct source_ops source_record_ops = {
	.stat = sr_stat,
	.list = sr_list,
	.read = sr_read,
	.materialize = sr_materialize,
	.free = sr_free,
};

struct source *
source_record_new(struct source *inner, struct strv *inputs)
{
	struct source_record	*sr = xcalloc(1, sizeof *sr);
	struct source		*src;

	sr->inner = inner;
	sr->inputs = inputs;
	src = source_new(&source_record_ops, sr, inner->label);
	if (inner->strip != NULL)
		src->strip = xstrdup(inner->strip);
	return (src);
}

/* Path p is d or below it ("" is the root: everything is below it). */
static int
source_path_below(const char *p, const char *d)
{
	size_t	n = strlen(d);

	if (n == 0)
		return (1);
	return (strncmp(p, d, n) == 0 && (p[n] == '\0' || p[n] == '/'));
}

int
source_inputs_touched(const struct strv *inputs, const struct strv *changed)
{
	const char	*e, *p;
	size_t		 i, j;

	for (i = 0; i < inputs->n; i++) {
		e = inputs->v[i];
		if ((e[0] != 'f' && e[0] != 'd') || e[1] != ':')
			return (1);	/* not ours: assume it matters */
		for (j = 0; j < changed->n; j++) {
			p = changed->v[j];
			if (e[0] == 'f' ? strcmp(p, e + 2) == 0 :
			    source_path_below(p, e + 2))
				return (1);
		}
	}
	return (0);
}

/*
 * Directory source. Every path is normalised with path_normalize (so ".."
 * past the root is refused), then resolved with realpath and checked to
 * be the root or under it. Files and directories are then opened by their
 * resolved path without following a final symlink, and the opened
 * descriptor's path is checked again through /proc where Linux has it, so
 * a symlink swapped in between the check and the open cannot lead out.
 */

struct source_dir {
	char	*root;	/* as given: for messages and materialize */
	char	*real;	/* realpath of root; NULL until it resolves */
	char	*strip;	/* messages show paths below it relative to it */
};

static const char *
sd_real(struct source_dir *sd, char **cause)
{
	if (sd->real == NULL && (sd->real = realpath(sd->root, NULL)) == NULL)
		xasprintf(cause, "cannot open '%s': %s", sd->root,
		    strerror(errno));
	return (sd->real);
}

static int
sd_inside(const char *real, const char *path)
{
	size_t	len = strlen(real);

	if (strcmp(real, "/") == 0)
		return (*path == '/');
	return (strncmp(path, real, len) == 0 &&
	    (path[len] == '\0' || path[len] == '/'));
}

/*
 * Resolve path: 0 and *resolved set when it exists inside the root, 1
 * when it does not exist, -1 on error (outside the root, unreadable).
 * *display is always set (the path for messages) unless the path itself
 * is refused before resolving.
 */
static int
sd_resolve(struct source_dir *sd, const char *path, char **display,
    char **resolved, char **cause)
{
	const char	*real;
	char		*rel, *full;
	int		 saved;

	*resolved = NULL;
	*display = NULL;
	if ((rel = path_normalize(path)) == NULL) {
		xasprintf(cause, "path '%s' is outside '%s'", path, sd->root);
		return (-1);
	}
	*display = source_join_label(sd->root, rel, sd->strip);
	if ((real = sd_real(sd, cause)) == NULL) {
		free(rel);
		return (-1);
	}
	full = *rel == '\0' ? xstrdup(real) : path_join(real, rel);
	free(rel);
	*resolved = realpath(full, NULL);
	saved = errno;
	free(full);
	if (*resolved == NULL) {
		if (saved == ENOENT || saved == ENOTDIR)
			return (1);
		xasprintf(cause, "cannot read '%s': %s", *display,
		    strerror(saved));
		return (-1);
	}
	if (!sd_inside(real, *resolved)) {
		xasprintf(cause, "'%s' leads outside '%s' through a symlink",
		    *display, sd->root);
		free(*resolved);
		*resolved = NULL;
		return (-1);
	}
	return (0);
}

/* Check where an open descriptor really is, where /proc can say. */
static int
sd_check_fd(struct source_dir *sd, int fd, const char *display,
    char **cause)
{
	char	link[64], target[PATH_MAX];
	ssize_t	n;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	if ((n = readlink(link, target, sizeof target - 1)) == -1)
		return (0);	/* no /proc: the realpath check stands */
	target[n] = '\0';
	if (!sd_inside(sd->real, target)) {
		xasprintf(cause, "'%s' leads outside '%s' through a symlink",
		    display, sd->root);
		return (-1);
	}
	return (0);
}

/* Open path inside the root; returns the descriptor or -1. */
static int
sd_open(struct source_dir *sd, const char *path, int flags, char **display,
    char **cause)
{
	char	*resolved = NULL;
	int	 fd = -1, r;

	if ((r = sd_resolve(sd, path, display, &resolved, cause)) == -1)
		return (-1);
	if (r == 1) {
		xasprintf(cause, "cannot read '%s': %s", *display,
		    strerror(ENOENT));
		return (-1);
	}
	fd = open(resolved, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd == -1) {
		xasprintf(cause, "cannot read '%s': %s", *display,
		    strerror(errno));
		goto fail;
	}
	if (sd_check_fd(sd, fd, *display, cause) == -1)
		goto fail;
	free(resolved);
	return (fd);
fail:
	if (fd != -1)
		close(fd);
	free(resolved);
	return (-1);
}

/*
 * A directory that is one of its own ancestors, reached through a
 * symlink, would make a recursive walk endless: every endless walk meets
 * one. Without symlinks on the way (resolved is the plain join) there can
 * be none, so the ancestors are resolved only when a symlink was crossed.
 */
static int
sd_loop(struct source_dir *sd, const char *path, const char *resolved)
{
	char	*rel, *plain, *slash, *anc, *real;
	int	 loop = 0;

	if ((rel = path_normalize(path)) == NULL)
		return (0);
	plain = *rel == '\0' ? xstrdup(sd->real) : path_join(sd->real, rel);
	if (strcmp(plain, resolved) == 0 || *rel == '\0') {
		free(plain);
		free(rel);
		return (0);
	}
	free(plain);
	for (;;) {
		if ((slash = strrchr(rel, '/')) != NULL)
			*slash = '\0';
		else
			*rel = '\0';
		anc = *rel == '\0' ? xstrdup(sd->real) :
		    path_join(sd->real, rel);
		real = realpath(anc, NULL);
		free(anc);
		if (real != NULL && strcmp(real, resolved) == 0)
			loop = 1;
		free(real);
		if (loop || *rel == '\0')
			break;
	}
	free(rel);
	return (loop);
}

static int
sd_stat(void *arg, const char *path, enum source_entry_type *type,
    char **cause)
{
	struct source_dir	*sd = arg;
	struct stat		 st;
	char			*display = NULL, *resolved = NULL;
	int			 r, rc = -1;

	*type = SOURCE_NONE;
	if ((r = sd_resolve(sd, path, &display, &resolved, cause)) == -1)
		goto out;
	if (r == 1) {
		rc = 0;
		goto out;
	}
	if (stat(resolved, &st) == -1) {
		if (errno == ENOENT) {
			rc = 0;
			goto out;
		}
		xasprintf(cause, "cannot read '%s': %s", display,
		    strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode) && sd_loop(sd, path, resolved)) {
		xasprintf(cause, "'%s' is a symlink loop: it leads back to a "
		    "folder above it", display);
		goto out;
	}
	/*
	 * Anything that is not a directory is read as a file, and refused
	 * there if it is not a regular one.
	 */
	*type = S_ISDIR(st.st_mode) ? SOURCE_DIR : SOURCE_FILE;
	rc = 0;
out:
	free(display);
	free(resolved);
	return (rc);
}

static int
sd_list(void *arg, const char *path, struct strv *names, char **cause)
{
	struct source_dir	*sd = arg;
	struct dirent		*de;
	DIR			*d = NULL;
	char			*display = NULL;
	int			 fd;

	memset(names, 0, sizeof *names);
	if ((fd = sd_open(sd, path, O_RDONLY | O_DIRECTORY, &display,
	    cause)) == -1)
		goto fail;
	if ((d = fdopendir(fd)) == NULL) {
		xasprintf(cause, "cannot read '%s': %s", display,
		    strerror(errno));
		close(fd);
		goto fail;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0) {
				xasprintf(cause, "cannot read '%s': %s",
				    display, strerror(errno));
				goto fail;
			}
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		strv_add(names, de->d_name);
	}
	closedir(d);
	strv_sort(names);
	free(display);
	return (0);
fail:
	if (d != NULL)
		closedir(d);
	strv_free(names);
	free(display);
	return (-1);
}

static int
sd_read(void *arg, const char *path, size_t max, char **out, size_t *outlen,
    char **cause)
{
	struct source_dir	*sd = arg;
	char			*display = NULL;
	int			 fd, rc;

	*out = NULL;
	*outlen = 0;
	if ((fd = sd_open(sd, path, O_RDONLY, &display, cause)) == -1) {
		free(display);
		return (-1);
	}
	rc = fd_read_all(fd, display, max, out, outlen, NULL, cause);
	close(fd);
	free(display);
	return (rc);
}

static int
sd_materialize(void *arg, const char *path, char **dir, int *cleanup,
    char **cause)
{
	struct source_dir	*sd = arg;
	enum source_entry_type	 type;
	char			*rel;

	*dir = NULL;
	*cleanup = 0;
	if (sd_stat(sd, path, &type, cause) == -1)
		return (-1);
	rel = path_normalize(path);	/* not NULL: sd_stat checked it */
	if (type != SOURCE_DIR) {
		char *display = source_join_label(sd->root, rel, sd->strip);

		xasprintf(cause, "'%s' is not a directory", display);
		free(display);
		free(rel);
		return (-1);
	}
	*dir = *rel == '\0' ? xstrdup(sd->root) : path_join(sd->root, rel);
	free(rel);
	return (0);
}

static void
sd_free(void *arg)
{
	struct source_dir	*sd = arg;

	free(sd->root);
	free(sd->real);
	free(sd->strip);
	free(sd);
}

static const struct source_ops source_dir_ops = {
	.stat = sd_stat,
	.list = sd_list,
	.read = sd_read,
	.materialize = sd_materialize,
	.free = sd_free,
};

struct source *
source_dir_new(const char *root)
{
	struct source_dir	*sd = xcalloc(1, sizeof *sd);

	sd->root = xstrdup(root);
	sd->real = realpath(root, NULL);	/* retried when used */
	return (source_new(&source_dir_ops, sd, root));
}

struct source *
source_dir_new_relative(const char *root, const char *base)
{
	struct source		*src = source_dir_new(root);
	struct source_dir	*sd = src->arg;

	sd->strip = xstrdup(base);
	src->strip = xstrdup(base);
	return (src);
}
