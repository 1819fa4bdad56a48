/*
 * git_source.c: the tree of a commit in a repository cache as a source of
 * manifests (source_git_new and its sg_* operations).
 *
 * Runs in the thread that reads the source; it opens its own handle on
 * the cache, so a render thread can read while the cache is fetched into.
 * It never fetches and never writes to the cache. Reading never leaves
 * the commit's tree: symlinks and submodules in it are refused rather
 * than followed, and ".." past the root is refused, so a repository
 * cannot make us read anything else.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>

#include "gitops.h"
#include "git_int.h"

/*
 * The git source: paths are looked up one segment at a time from the
 * commit's root tree, so a symlink or submodule anywhere on the way is
 * met and refused by name.
 */

struct source_git {
	git_repository	*repo;
	git_tree	*root;
	char		*label;
};

struct sg_entry {
	enum source_entry_type	 type;
	git_oid			 oid;
	unsigned int		 mode;
};

static char *
sg_display(struct source_git *sg, const char *rel)
{
	if (*rel == '\0')
		return (xstrdup(sg->label));
	return (path_join(sg->label, rel));
}

/*
 * Find path in the tree: 0 with *e set (type SOURCE_NONE if it does not
 * exist), or -1 on a path out of the tree, a symlink or a submodule on
 * the way, or a read failure. *display (allocated) names the path.
 */
/*
 * A tree entry name we accept: git's own tools never write "", ".", ".."
 * or a name with '/', but a crafted tree can, and such a name must never
 * reach a path we write to or read from.
 */
static int
sg_name_ok(const char *name)
{
	return (*name != '\0' && strcmp(name, ".") != 0 &&
	    strcmp(name, "..") != 0 && strchr(name, '/') == NULL);
}

static int
sg_lookup(struct source_git *sg, const char *path, struct sg_entry *e,
    char **display, char **cause)
{
	const git_tree_entry	*te;
	git_tree		*tree = sg->root, *sub;
	git_filemode_t		 mode;
	char			*rel = NULL, *seg, *slash, *at;
	int			 rv = -1;

	memset(e, 0, sizeof *e);
	e->type = SOURCE_NONE;
	*display = NULL;
	if ((rel = path_normalize(path)) == NULL) {
		xasprintf(cause, "path '%s' is outside '%s'", path, sg->label);
		return (-1);
	}
	*display = sg_display(sg, rel);
	if (*rel == '\0') {
		e->type = SOURCE_DIR;
		git_oid_cpy(&e->oid, git_tree_id(sg->root));
		e->mode = GIT_FILEMODE_TREE;
		rv = 0;
		goto out;
	}
	for (seg = rel; seg != NULL; seg = slash) {
		if ((slash = strchr(seg, '/')) != NULL)
			*slash++ = '\0';
		if ((te = git_tree_entry_byname(tree, seg)) == NULL) {
			rv = 0;
			goto out;
		}
		mode = git_tree_entry_filemode(te);
		if (mode == GIT_FILEMODE_LINK ||
		    mode == GIT_FILEMODE_COMMIT) {
			/* Name the entry itself: restore the path up to it. */
			for (at = rel; at < seg + strlen(seg); at++)
				if (*at == '\0')
					*at = '/';
			free(*display);
			*display = sg_display(sg, rel);
			xasprintf(cause, "'%s' is a %s in the repository: not "
			    "followed", *display, mode == GIT_FILEMODE_LINK ?
			    "symlink" : "submodule");
			goto out;
		}
		if (slash == NULL) {
			e->type = mode == GIT_FILEMODE_TREE ? SOURCE_DIR :
			    SOURCE_FILE;
			git_oid_cpy(&e->oid, git_tree_entry_id(te));
			e->mode = mode;
			rv = 0;
			goto out;
		}
		if (mode != GIT_FILEMODE_TREE) {
			/* A file in the way: no such path. */
			rv = 0;
			goto out;
		}
		if (git_tree_lookup(&sub, sg->repo,
		    git_tree_entry_id(te)) < 0) {
			xasprintf(cause, "cannot read '%s': %s", *display,
			    git_errmsg());
			goto out;
		}
		if (tree != sg->root)
			git_tree_free(tree);
		tree = sub;
	}
out:
	if (tree != sg->root)
		git_tree_free(tree);
	free(rel);
	if (rv == -1) {
		free(*display);
		*display = NULL;
	}
	return (rv);
}

static int
sg_stat(void *arg, const char *path, enum source_entry_type *type,
    char **cause)
{
	struct source_git	*sg = arg;
	struct sg_entry		 e;
	char			*display;

	*type = SOURCE_NONE;
	if (sg_lookup(sg, path, &e, &display, cause) == -1)
		return (-1);
	free(display);
	*type = e.type;
	return (0);
}

static int
sg_list(void *arg, const char *path, struct strv *names, char **cause)
{
	struct source_git	*sg = arg;
	struct sg_entry		 e;
	git_tree		*tree = NULL;
	char			*display = NULL;
	size_t			 i, n;

	memset(names, 0, sizeof *names);
	if (sg_lookup(sg, path, &e, &display, cause) == -1)
		return (-1);
	if (e.type != SOURCE_DIR) {
		xasprintf(cause, "cannot read '%s': %s", display,
		    strerror(e.type == SOURCE_NONE ? ENOENT : ENOTDIR));
		goto fail;
	}
	if (git_tree_lookup(&tree, sg->repo, &e.oid) < 0) {
		xasprintf(cause, "cannot read '%s': %s", display,
		    git_errmsg());
		goto fail;
	}
	n = git_tree_entrycount(tree);
	for (i = 0; i < n; i++) {
		const char *name = git_tree_entry_name(
		    git_tree_entry_byindex(tree, i));

		if (!sg_name_ok(name)) {
			xasprintf(cause, "'%s' holds an entry named '%s': not "
			    "a valid file name", display, name);
			goto fail;
		}
		strv_add(names, name);
	}
	/* Git orders a tree as if folder names ended in '/'. */
	strv_sort(names);
	git_tree_free(tree);
	free(display);
	return (0);
fail:
	strv_free(names);
	git_tree_free(tree);
	free(display);
	return (-1);
}

static int
sg_read_blob(struct source_git *sg, const git_oid *oid, const char *display,
    size_t max, char **out, size_t *outlen, char **cause)
{
	git_blob	*blob = NULL;
	git_object_size_t size;

	if (git_blob_lookup(&blob, sg->repo, oid) < 0) {
		xasprintf(cause, "cannot read '%s': %s", display,
		    git_errmsg());
		return (-1);
	}
	size = git_blob_rawsize(blob);
	if (size > max) {
		xasprintf(cause, "'%s' is too large: %ju bytes, the limit is "
		    "%zu", display, (uintmax_t)size, max);
		git_blob_free(blob);
		return (-1);
	}
	*out = xmalloc((size_t)size + 1);
	memcpy(*out, git_blob_rawcontent(blob), (size_t)size);
	(*out)[size] = '\0';
	*outlen = (size_t)size;
	git_blob_free(blob);
	return (0);
}

static int
sg_read(void *arg, const char *path, size_t max, char **out, size_t *outlen,
    char **cause)
{
	struct source_git	*sg = arg;
	struct sg_entry		 e;
	char			*display = NULL;
	int			 rv = -1;

	*out = NULL;
	*outlen = 0;
	if (sg_lookup(sg, path, &e, &display, cause) == -1)
		return (-1);
	if (e.type == SOURCE_NONE)
		xasprintf(cause, "cannot read '%s': %s", display,
		    strerror(ENOENT));
	else if (e.type == SOURCE_DIR)
		xasprintf(cause, "'%s' is not a regular file", display);
	else
		rv = sg_read_blob(sg, &e.oid, display, max, out, outlen,
		    cause);
	free(display);
	return (rv);
}

static int
sg_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return (remove(path));
}

static int
sg_write_file(const char *path, const char *display, const void *data,
    size_t len, mode_t mode, char **cause)
{
	const char	*p = data;
	ssize_t		 n;
	int		 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd == -1)
		goto fail;
	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	return (0);
fail:
	xasprintf(cause, "cannot write '%s' for '%s': %s", path, display,
	    strerror(errno));
	if (fd != -1)
		close(fd);
	return (-1);
}

/* Write tree (shown as display) into the existing directory dir. */
static int
sg_write_tree(struct source_git *sg, const git_oid *oid, const char *display,
    const char *dir, char **cause)
{
	const git_tree_entry	*te;
	git_tree		*tree = NULL;
	git_blob		*blob = NULL;
	git_filemode_t		 mode;
	char			*path = NULL, *shown = NULL;
	size_t			 i, n;
	int			 rv = -1;

	if (git_tree_lookup(&tree, sg->repo, oid) < 0) {
		xasprintf(cause, "cannot read '%s': %s", display,
		    git_errmsg());
		return (-1);
	}
	n = git_tree_entrycount(tree);
	for (i = 0; i < n; i++) {
		te = git_tree_entry_byindex(tree, i);
		mode = git_tree_entry_filemode(te);
		if (!sg_name_ok(git_tree_entry_name(te))) {
			xasprintf(cause, "'%s' holds an entry named '%s': not "
			    "a valid file name", display,
			    git_tree_entry_name(te));
			goto out;
		}
		path = path_join(dir, git_tree_entry_name(te));
		shown = path_join(display, git_tree_entry_name(te));
		switch (mode) {
		case GIT_FILEMODE_TREE:
			if (mkdir(path, 0700) == -1) {
				xasprintf(cause, "cannot create '%s': %s",
				    path, strerror(errno));
				goto out;
			}
			if (sg_write_tree(sg, git_tree_entry_id(te), shown,
			    path, cause) == -1)
				goto out;
			break;
		case GIT_FILEMODE_BLOB:
		case GIT_FILEMODE_BLOB_EXECUTABLE:
			if (git_blob_lookup(&blob, sg->repo,
			    git_tree_entry_id(te)) < 0) {
				xasprintf(cause, "cannot read '%s': %s", shown,
				    git_errmsg());
				goto out;
			}
			if (sg_write_file(path, shown,
			    git_blob_rawcontent(blob),
			    (size_t)git_blob_rawsize(blob),
			    mode == GIT_FILEMODE_BLOB ? 0600 : 0700,
			    cause) == -1)
				goto out;
			git_blob_free(blob);
			blob = NULL;
			break;
		default:
			xasprintf(cause, "'%s' is a %s in the repository: not "
			    "followed", shown, mode == GIT_FILEMODE_LINK ?
			    "symlink" : "submodule");
			goto out;
		}
		free(path);
		free(shown);
		path = shown = NULL;
	}
	rv = 0;
out:
	git_blob_free(blob);
	git_tree_free(tree);
	free(path);
	free(shown);
	return (rv);
}

static int
sg_materialize(void *arg, const char *path, char **dirp, int *cleanup,
    char **cause)
{
	struct source_git	*sg = arg;
	struct sg_entry		 e;
	const char		*tmp = getenv("TMPDIR");
	char			*display = NULL, *dir = NULL;

	*dirp = NULL;
	*cleanup = 0;
	if (sg_lookup(sg, path, &e, &display, cause) == -1)
		return (-1);
	if (e.type != SOURCE_DIR) {
		xasprintf(cause, "'%s' is not a directory", display);
		goto fail;
	}
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	xasprintf(&dir, "%s/gitops-git.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL) {
		xasprintf(cause, "cannot create a directory in '%s': %s", tmp,
		    strerror(errno));
		goto fail;
	}
	if (sg_write_tree(sg, &e.oid, display, dir, cause) == -1) {
		nftw(dir, sg_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
		goto fail;
	}
	free(display);
	*dirp = dir;
	*cleanup = 1;
	return (0);
fail:
	free(display);
	free(dir);
	return (-1);
}

static void
sg_free(void *arg)
{
	struct source_git	*sg = arg;

	if (sg == NULL)
		return;
	git_tree_free(sg->root);
	git_repository_free(sg->repo);
	free(sg->label);
	free(sg);
}

static const struct source_ops source_git_ops = {
	.stat = sg_stat,
	.list = sg_list,
	.read = sg_read,
	.materialize = sg_materialize,
	.free = sg_free,
};

struct source *
source_git_new(struct git_cache *gc, const char *rev, char **cause)
{
	struct source_git	*sg = xcalloc(1, sizeof *sg);
	git_oid			 oid;
	char			 hex[GIT_OID_HEXSZ + 1];

	if (git_repository_open_bare(&sg->repo, gc->dir) < 0) {
		xasprintf(cause, "cannot open the cache '%s': %s", gc->dir,
		    git_errmsg());
		goto fail;
	}
	if (git_rev_tree(sg->repo, git_cache_label(gc), rev, &oid,
	    &sg->root, cause) == -1)
		goto fail;
	git_oid_tostr(hex, GIT_SHORT_LEN + 1, &oid);
	xasprintf(&sg->label, "%s@%s", git_cache_label(gc), hex);
	return (source_new(&source_git_ops, sg, sg->label));
fail:
	sg_free(sg);
	return (NULL);
}
