/*
 * git.c: the repository cache and reading desired state from Git; the
 * only file that includes <git2.h>.
 *
 * Owns STATE_DIR/repos/NAME.git, one bare cache per repository, and the
 * fetch worker. libgit2 1.5 has no network timeouts, so a fetch never
 * runs in the calling process: git_cache_fetch() starts this same program
 * again (argv[1] GIT_WORKER_ARG) through spawn_run, which kills it at the
 * deadline. Secrets reach the worker on its stdin, never in argv or the
 * environment, and are never printed.
 *
 * A git_cache is used by one thread at a time; a git source opens its own
 * handle on the cache so a render thread can read while the cache is
 * fetched into. Reading never leaves the commit's tree: symlinks and
 * submodules in it are refused rather than followed, and ".." past the
 * root is refused, so a repository cannot make us read anything else.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>

#include "gitops.h"

/* The remote every cache fetches from. */
#define GIT_REMOTE_NAME		"origin"
#define GIT_REMOTE_URL_KEY	"remote." GIT_REMOTE_NAME ".url"
/* libgit2 may ask for credentials again and again after a refusal. */
#define GIT_CRED_MAX_CALLS	3
/* The worker's input (a token) and output (a commit id, or a message). */
#define GIT_WORKER_MAX_INPUT	(64 * 1024)
#define GIT_WORKER_MAX_OUTPUT	(64 * 1024)
/* Held by a fetching worker; released by the kernel if it is killed. */
#define GIT_FETCH_LOCK		"gitops-fetch.lock"
#define GIT_SHORT_LEN		7
/* Shortest commit id prefix git_resolve() looks up. */
#define GIT_MIN_PREFIX		4

struct git_cache {
	git_repository	*repo;
	char		*name;
	char		*dir;
	char		*url;		/* for messages: no credentials */
	char		*raw_url;	/* as configured: never printed */
};

static pthread_once_t	 git_once = PTHREAD_ONCE_INIT;

/* libgit2's message for its last failure on this thread. */
static const char *
git_errmsg(void)
{
	const git_error	*e = git_error_last();

	if (e == NULL || e->message == NULL || *e->message == '\0')
		return ("unknown error");
	return (e->message);
}

/*
 * The caches depend on nothing outside them: no global, XDG or system
 * Git configuration (a user's insteadOf, proxy or sslVerify setting must
 * not change what the agent fetches, or from where).
 */
static void
git_init_cb(void)
{
	const int	levels[] = { GIT_CONFIG_LEVEL_SYSTEM,
			    GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_GLOBAL,
			    GIT_CONFIG_LEVEL_PROGRAMDATA };
	size_t		i;

	if (git_libgit2_init() < 0)
		fatalx("cannot initialise libgit2: %s", git_errmsg());
	for (i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		if (git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, levels[i],
		    "") < 0)
			fatalx("cannot set libgit2's search path: %s",
			    git_errmsg());
	}
}

static void
git_init(void)
{
	pthread_once(&git_once, git_init_cb);
}

/* A URL for messages: any user and password in it left out. */
static char *
git_url_display(const char *url)
{
	const char	*scheme, *host, *at, *slash;
	char		*s;

	if (url == NULL)
		return (NULL);
	if ((scheme = strstr(url, "://")) == NULL)
		return (xstrdup(url));
	host = scheme + 3;
	/*
	 * The last '@' before the path: a password may itself hold an
	 * unencoded '@' or '/', and must not show. (A path holding an '@'
	 * is cut too: more is hidden, never less.)
	 */
	at = NULL;
	for (slash = host; *slash != '\0'; slash++) {
		if (*slash == '@')
			at = slash;
		else if (*slash == '/' && at != NULL)
			break;
	}
	if (at == NULL)
		return (xstrdup(url));
	xasprintf(&s, "%.*s%s", (int)(host - url), url, at + 1);
	return (s);
}

/*
 * msg (taken) with every copy of the raw URL replaced by its display
 * form: libgit2's own messages may quote the URL, credentials and all.
 */
static char *
git_redact(char *msg, const char *raw, const char *shown)
{
	struct buf	 b;
	const char	*p, *hit;
	size_t		 n;

	if (msg == NULL || raw == NULL || *raw == '\0' ||
	    strstr(msg, raw) == NULL)
		return (msg);
	buf_init(&b);
	n = strlen(raw);
	for (p = msg; (hit = strstr(p, raw)) != NULL; p = hit + n) {
		buf_add(&b, p, (size_t)(hit - p));
		buf_adds(&b, shown);
	}
	buf_adds(&b, p);
	free(msg);
	return (buf_release(&b));
}

static const char *
git_cache_label(const struct git_cache *gc)
{
	return (gc->url != NULL ? gc->url : gc->dir);
}

/* A repository name used as a directory name: nothing that could leave. */
static int
git_name_ok(const char *name)
{
	return (*name != '\0' && *name != '.' && strchr(name, '/') == NULL &&
	    strlen(name) <= NAME_MAX - 8);
}

/* "refs/heads/BRANCH" if the branch name is a valid one, else NULL. */
static char *
git_branch_ref(const char *branch)
{
	char	*ref;
	int	 valid = 0;

	if (*branch == '\0' || *branch == '-')
		return (NULL);
	xasprintf(&ref, "refs/heads/%s", branch);
	if (git_reference_name_is_valid(&valid, ref) < 0 || !valid) {
		free(ref);
		return (NULL);
	}
	return (ref);
}

/*
 * The remote is kept as plain configuration (remote.origin.url) and
 * never looked up as a git_remote: libgit2 1.5 leaks a pcre2 match for
 * every configuration entry its url.*.insteadOf scan does not match, in
 * git_remote_lookup and git_remote_create alike.
 */
static int
git_remote_setup(struct git_cache *gc, const char *url, char **cause)
{
	git_config	*cfg = NULL, *snap = NULL;
	const char	*cur = NULL;
	int		 error;

	if ((error = git_repository_config(&cfg, gc->repo)) == 0 &&
	    (error = git_config_snapshot(&snap, cfg)) == 0) {
		error = git_config_get_string(&cur, snap, GIT_REMOTE_URL_KEY);
		if (error == GIT_ENOTFOUND) {
			cur = NULL;
			error = 0;
		}
		if (error == 0 && (cur == NULL || strcmp(cur, url) != 0))
			error = git_config_set_string(cfg, GIT_REMOTE_URL_KEY,
			    url);
	}
	git_config_free(snap);
	git_config_free(cfg);
	if (error < 0) {
		xasprintf(cause, "cannot set the remote of '%s' to '%s': %s",
		    gc->dir, gc->url, git_errmsg());
		return (-1);
	}
	return (0);
}

/* Opened without a URL: the one configured before, for messages. */
static int
git_remote_url_get(struct git_cache *gc)
{
	git_config	*cfg = NULL;
	const char	*url;
	int		 error;

	if ((error = git_repository_config_snapshot(&cfg, gc->repo)) < 0)
		return (-1);
	error = git_config_get_string(&url, cfg, GIT_REMOTE_URL_KEY);
	if (error == 0) {
		gc->url = git_url_display(url);
		gc->raw_url = xstrdup(url);
	}
	git_config_free(cfg);
	return (error == 0 || error == GIT_ENOTFOUND ? 0 : -1);
}

int
git_cache_open(const char *state_dir, const char *name, const char *url,
    struct git_cache **gcp, char **cause)
{
	struct git_cache	*gc = NULL;
	char			*repos = NULL, *base = NULL;
	int			 error;

	*gcp = NULL;
	git_init();
	if (!git_name_ok(name)) {
		xasprintf(cause, "invalid repository name '%s'", name);
		goto fail;
	}
	repos = path_join(state_dir, "repos");
	if (file_mkdirs(repos, 0700, cause) == -1)
		goto fail;
	gc = xcalloc(1, sizeof *gc);
	gc->name = xstrdup(name);
	xasprintf(&base, "%s.git", name);
	gc->dir = path_join(repos, base);
	gc->url = git_url_display(url);
	gc->raw_url = url != NULL ? xstrdup(url) : NULL;

	error = git_repository_open_bare(&gc->repo, gc->dir);
	if (error == GIT_ENOTFOUND)
		error = git_repository_init(&gc->repo, gc->dir, 1);
	if (error < 0) {
		xasprintf(cause, "cannot open the cache '%s': %s", gc->dir,
		    git_errmsg());
		goto fail;
	}
	if (url != NULL && git_remote_setup(gc, url, cause) == -1)
		goto fail;
	if (url == NULL && git_remote_url_get(gc) == -1)
		goto fail_git;
	free(repos);
	free(base);
	*gcp = gc;
	return (0);
fail_git:
	xasprintf(cause, "cannot read the configuration of '%s': %s", gc->dir,
	    git_errmsg());
fail:
	free(repos);
	free(base);
	git_cache_free(gc);
	return (-1);
}

void
git_cache_free(struct git_cache *gc)
{
	if (gc == NULL)
		return;
	git_repository_free(gc->repo);
	free(gc->name);
	free(gc->dir);
	free(gc->url);
	freezero_string(gc->raw_url);
	free(gc);
}

const char *
git_cache_path(const struct git_cache *gc)
{
	return (gc->dir);
}

/*
 * The program to start as the worker. /proc/self/exe names this very
 * binary even if it was replaced on disk, but valgrind only rewrites the
 * readlink of it, not an exec of it: resolve it first and fall back to
 * the link when the file is gone.
 */
static char *
git_self_exe(void)
{
	char	path[PATH_MAX];
	ssize_t	n;

	n = readlink("/proc/self/exe", path, sizeof path - 1);
	if (n <= 0)
		return (xstrdup("/proc/self/exe"));
	path[n] = '\0';
	if (access(path, X_OK) == -1)
		return (xstrdup("/proc/self/exe"));
	return (xstrdup(path));
}

static int
git_is_hex(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return (0);
	}
	return (1);
}

/* The first line of a worker's message, for a cause. */
static char *
git_first_line(const char *s)
{
	size_t	len;

	while (*s == '\n' || *s == ' ')
		s++;
	len = strcspn(s, "\n");
	if (len == 0)
		return (xstrdup("no message"));
	return (xstrndup(s, len));
}

int
git_cache_fetch(struct git_cache *gc, const char *branch, uint64_t timeout_ms,
    const struct git_creds *creds, char **oidp, char **cause)
{
	struct spawn_opts	 so;
	struct spawn_result	 sr;
	char			*argv[6], *exe = NULL, *ref = NULL;
	char			*msg = NULL, *dur = NULL;
	size_t			 len;
	int			 rv = -1;

	*oidp = NULL;
	memset(&sr, 0, sizeof sr);
	if ((ref = git_branch_ref(branch)) == NULL) {
		xasprintf(cause, "cannot fetch '%s': invalid branch name '%s'",
		    git_cache_label(gc), branch);
		goto out;
	}
	if (timeout_ms == 0)
		timeout_ms = GIT_FETCH_TIMEOUT_MS;
	exe = git_self_exe();
	argv[0] = exe;
	argv[1] = (char *)GIT_WORKER_ARG;
	argv[2] = (char *)"fetch";
	argv[3] = gc->dir;
	argv[4] = (char *)branch;
	argv[5] = NULL;
	memset(&so, 0, sizeof so);
	so.timeout_ms = timeout_ms;
	so.max_output = GIT_WORKER_MAX_OUTPUT;
	so.input = "";
	if (creds != NULL && creds->https_token != NULL)
		so.input = creds->https_token;
	so.inputlen = strlen(so.input);
	if (spawn_run(argv, &so, &sr, cause) == -1)
		goto out;
	if (sr.timed_out) {
		dur = duration_format(timeout_ms);
		xasprintf(cause, "cannot fetch '%s': no answer within %s",
		    git_cache_label(gc), dur);
		goto out;
	}
	if (!sr.exited) {
		xasprintf(cause, "cannot fetch '%s': the fetch worker was "
		    "killed by signal %d", git_cache_label(gc), sr.status);
		goto out;
	}
	if (sr.status != 0) {
		msg = git_redact(git_first_line(sr.err), gc->raw_url,
		    git_cache_label(gc));
		xasprintf(cause, "cannot fetch '%s': %s", git_cache_label(gc),
		    msg);
		goto out;
	}
	len = strcspn(sr.out, "\n");
	if (len != GIT_OID_HEXSZ || !git_is_hex(sr.out, len)) {
		xasprintf(cause, "cannot fetch '%s': the fetch worker gave no "
		    "commit id", git_cache_label(gc));
		goto out;
	}
	*oidp = xstrndup(sr.out, len);
	log_debug("event=fetch repo=%s branch=%s commit=%s", gc->name, branch,
	    *oidp);
	rv = 0;
out:
	spawn_result_free(&sr);
	free(exe);
	free(ref);
	free(msg);
	free(dur);
	return (rv);
}

/*
 * Resolution: the remote-tracking branch, then a tag, then a commit id or
 * a prefix of one, like git's own order (a name before a hash).
 */
static int
git_resolve_ref(git_repository *repo, const char *name, git_oid *oid,
    int *found)
{
	git_reference	*ref = NULL;
	git_object	*obj = NULL;
	int		 valid = 0, error;

	*found = 0;
	if (git_reference_name_is_valid(&valid, name) < 0 || !valid)
		return (0);
	if ((error = git_reference_lookup(&ref, repo, name)) < 0)
		return (error == GIT_ENOTFOUND ? 0 : -1);
	error = git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT);
	git_reference_free(ref);
	if (error < 0)
		return (-1);
	git_oid_cpy(oid, git_object_id(obj));
	git_object_free(obj);
	*found = 1;
	return (0);
}

static int
git_resolve_oid(git_repository *repo, const char *label, const char *rev,
    git_oid *oid, char **cause)
{
	git_object	*obj = NULL, *commit = NULL;
	char		*names[2];
	size_t		 len = strlen(rev), i;
	int		 found, error;

	if (*rev == '\0') {
		xasprintf(cause, "cannot resolve an empty revision in '%s'",
		    label);
		return (-1);
	}
	if (len == GIT_OID_HEXSZ && git_is_hex(rev, len)) {
		/* A full id names an object: no tag may stand in for it. */
		names[0] = names[1] = NULL;
	} else if (strncmp(rev, "refs/", 5) == 0) {
		names[0] = xstrdup(rev);
		names[1] = NULL;
	} else {
		xasprintf(&names[0], "refs/remotes/%s/%s", GIT_REMOTE_NAME,
		    rev);
		xasprintf(&names[1], "refs/tags/%s", rev);
	}
	for (i = 0; i < 2 && names[i] != NULL; i++) {
		if (git_resolve_ref(repo, names[i], oid, &found) == -1) {
			xasprintf(cause, "cannot resolve '%s' in '%s': %s",
			    rev, label, git_errmsg());
			goto fail;
		}
		if (found) {
			free(names[0]);
			free(names[1]);
			return (0);
		}
	}
	free(names[0]);
	free(names[1]);
	names[0] = names[1] = NULL;

	if (len < GIT_MIN_PREFIX || len > GIT_OID_HEXSZ ||
	    !git_is_hex(rev, len)) {
		xasprintf(cause, "cannot resolve '%s' in '%s': no such branch, "
		    "tag or commit", rev, label);
		goto fail;
	}
	if (git_oid_fromstrn(oid, rev, len) < 0) {
		xasprintf(cause, "cannot resolve '%s' in '%s': %s", rev, label,
		    git_errmsg());
		goto fail;
	}
	error = git_object_lookup_prefix(&obj, repo, oid, len, GIT_OBJECT_ANY);
	if (error == GIT_ENOTFOUND) {
		xasprintf(cause, "cannot resolve '%s' in '%s': no such branch, "
		    "tag or commit", rev, label);
		goto fail;
	}
	if (error == GIT_EAMBIGUOUS) {
		xasprintf(cause, "cannot resolve '%s' in '%s': the short "
		    "commit id is ambiguous", rev, label);
		goto fail;
	}
	if (error < 0 ||
	    (error = git_object_peel(&commit, obj, GIT_OBJECT_COMMIT)) < 0) {
		xasprintf(cause, "cannot resolve '%s' in '%s': %s", rev, label,
		    error == GIT_EINVALIDSPEC || error == GIT_EPEEL ?
		    "not a commit" : git_errmsg());
		goto fail;
	}
	git_oid_cpy(oid, git_object_id(commit));
	git_object_free(commit);
	git_object_free(obj);
	return (0);
fail:
	free(names[0]);
	free(names[1]);
	git_object_free(obj);
	return (-1);
}

static char *
git_oid_hex(const git_oid *oid)
{
	char	hex[GIT_OID_HEXSZ + 1];

	git_oid_tostr(hex, sizeof hex, oid);
	return (xstrdup(hex));
}

int
git_resolve(struct git_cache *gc, const char *rev, char **oidp,
    char **cause)
{
	git_oid	oid;

	*oidp = NULL;
	if (git_resolve_oid(gc->repo, git_cache_label(gc), rev, &oid,
	    cause) == -1)
		return (-1);
	*oidp = git_oid_hex(&oid);
	return (0);
}

/* The tree of the commit rev names, and the commit's id. */
static int
git_rev_tree(git_repository *repo, const char *label, const char *rev,
    git_oid *oid, git_tree **tree, char **cause)
{
	git_commit	*commit = NULL;
	char		 hex[GIT_OID_HEXSZ + 1];

	*tree = NULL;
	if (git_resolve_oid(repo, label, rev, oid, cause) == -1)
		return (-1);
	if (git_commit_lookup(&commit, repo, oid) < 0 ||
	    git_commit_tree(tree, commit) < 0) {
		git_oid_tostr(hex, sizeof hex, oid);
		xasprintf(cause, "cannot read commit %s in '%s': %s", hex,
		    label, git_errmsg());
		git_commit_free(commit);
		return (-1);
	}
	git_commit_free(commit);
	return (0);
}

static void
git_paths_add(struct strv *paths, struct strmap *seen, const char *path)
{
	if (path == NULL || strmap_get(seen, path) != NULL)
		return;
	strmap_put(seen, path, (void *)1);
	strv_add(paths, path);
}

int
git_changed_paths(struct git_cache *gc, const char *old, const char *new,
    struct strv *paths, char **cause)
{
	git_diff_options	 opts;
	git_diff_find_options	 fopts;
	git_tree		*ot = NULL, *nt = NULL;
	git_diff		*diff = NULL;
	const git_diff_delta	*d;
	struct strmap		*seen = NULL;
	git_oid			 oid;
	const char		*label = git_cache_label(gc);
	size_t			 i, n;

	memset(paths, 0, sizeof *paths);
	if (old != NULL &&
	    git_rev_tree(gc->repo, label, old, &oid, &ot, cause) == -1)
		goto fail;
	if (git_rev_tree(gc->repo, label, new, &oid, &nt, cause) == -1)
		goto fail;
	git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
	git_diff_find_options_init(&fopts, GIT_DIFF_FIND_OPTIONS_VERSION);
	opts.flags = GIT_DIFF_INCLUDE_TYPECHANGE;
	fopts.flags = GIT_DIFF_FIND_RENAMES;
	if (git_diff_tree_to_tree(&diff, gc->repo, ot, nt, &opts) < 0 ||
	    git_diff_find_similar(diff, &fopts) < 0) {
		xasprintf(cause, "cannot compare %s and %s in '%s': %s",
		    old != NULL ? old : "nothing", new, label, git_errmsg());
		goto fail;
	}
	n = git_diff_num_deltas(diff);
	seen = strmap_new(n * 2 + 1);
	for (i = 0; i < n; i++) {
		d = git_diff_get_delta(diff, i);
		git_paths_add(paths, seen, d->old_file.path);
		git_paths_add(paths, seen, d->new_file.path);
	}
	strv_sort(paths);
	strmap_free(seen);
	git_diff_free(diff);
	git_tree_free(ot);
	git_tree_free(nt);
	return (0);
fail:
	strv_free(paths);
	strmap_free(seen);
	git_diff_free(diff);
	git_tree_free(ot);
	git_tree_free(nt);
	return (-1);
}

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

/*
 * The worker process: one fetch, then exit. It prints the commit id on
 * stdout, or one line of error on stderr and exits 1. Killed at the
 * deadline by its parent, it may leave lock files and a partial pack
 * behind; it holds GIT_FETCH_LOCK (a flock, gone with the process) while
 * fetching, so whatever it finds under that lock is stale and removed.
 */

struct worker_cred {
	char	*token;
	int	 calls;
};

static int
worker_cred_cb(git_credential **out, const char *url, const char *user,
    unsigned int allowed, void *payload)
{
	struct worker_cred	*wc = payload;

	(void)user;
	if (++wc->calls > GIT_CRED_MAX_CALLS) {
		git_error_set_str(GIT_ERROR_NET, "authentication refused");
		return (GIT_EUSER);
	}
	/* A token travels over TLS only, never in the clear. */
	if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) != 0 &&
	    wc->token != NULL && *wc->token != '\0' && url != NULL &&
	    strncmp(url, "https://", 8) == 0)
		return (git_credential_userpass_plaintext_new(out,
		    "x-access-token", wc->token));
	/*
	 * TODO SSH keys (with a pinned host key or known_hosts): the
	 * configuration has no fields for them yet (config.c, issue 3's
	 * credentials), so there is nothing to offer here.
	 */
	git_error_set_str(GIT_ERROR_NET, "authentication required, and no "
	    "credentials are configured for this kind");
	return (GIT_EUSER);
}

static char *
worker_read_input(void)
{
	struct buf	b;
	char		chunk[4096];
	ssize_t		n;

	buf_init(&b);
	for (;;) {
		n = read(STDIN_FILENO, chunk, sizeof chunk);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || b.len + (size_t)n > GIT_WORKER_MAX_INPUT)
			break;
		buf_add(&b, chunk, (size_t)n);
	}
	explicit_bzero(chunk, sizeof chunk);
	buf_addc(&b, '\0');
	return (b.data);
}

static int
worker_stale_cb(const char *path, const struct stat *st, int flag,
    struct FTW *f)
{
	size_t	len = strlen(path);

	(void)st;
	(void)f;
	if (flag == FTW_F && len > 5 && strcmp(path + len - 5, ".lock") == 0)
		unlink(path);
	return (0);
}

/* Remove what a killed worker left: ref locks and partial packs. */
static void
worker_clean_stale(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	char		*p;

	p = path_join(dir, "refs");
	nftw(p, worker_stale_cb, 16, FTW_PHYS);
	free(p);
	p = path_join(dir, "packed-refs.lock");
	unlink(p);
	free(p);
	p = path_join(dir, "objects/pack");
	if ((d = opendir(p)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			char *f;

			if (strncmp(de->d_name, "pack_git2_", 10) != 0)
				continue;
			f = path_join(p, de->d_name);
			unlink(f);
			free(f);
		}
		closedir(d);
	}
	free(p);
}

/* An in-memory remote for the configured URL (see git_remote_setup). */
static int
worker_remote(git_repository *repo, git_remote **remote)
{
	git_remote_create_options	 opts;
	git_config			*cfg = NULL;
	const char			*url;
	int				 error;

	*remote = NULL;
	if ((error = git_repository_config_snapshot(&cfg, repo)) < 0)
		return (error);
	if ((error = git_config_get_string(&url, cfg,
	    GIT_REMOTE_URL_KEY)) == 0) {
		git_remote_create_options_init(&opts,
		    GIT_REMOTE_CREATE_OPTIONS_VERSION);
		opts.repository = repo;
		opts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
		    GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
		error = git_remote_create_with_opts(remote, url, &opts);
	}
	git_config_free(cfg);
	return (error);
}

static int
worker_fetch(const char *dir, const char *branch, struct worker_cred *wc)
{
	git_fetch_options	 opts;
	git_remote_callbacks	 cbs;
	git_repository		*repo = NULL;
	git_remote		*remote = NULL;
	git_reference		*ref = NULL;
	const git_remote_head	**heads;
	const git_oid		*want = NULL;
	git_strarray		 specs;
	char			*head = NULL, *track = NULL, *spec = NULL;
	char			*lock = NULL, hex[GIT_OID_HEXSZ + 1];
	size_t			 nheads, i;
	int			 fd = -1, rv = 1;

	if ((head = git_branch_ref(branch)) == NULL) {
		fprintf(stderr, "invalid branch name '%s'\n", branch);
		goto out;
	}
	lock = path_join(dir, GIT_FETCH_LOCK);
	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
	    flock(fd, LOCK_EX) == -1) {
		fprintf(stderr, "cannot lock '%s': %s\n", lock,
		    strerror(errno));
		goto out;
	}
	worker_clean_stale(dir);

	xasprintf(&track, "refs/remotes/%s/%s", GIT_REMOTE_NAME, branch);
	xasprintf(&spec, "+%s:%s", head, track);
	specs.strings = &spec;
	specs.count = 1;
	git_remote_init_callbacks(&cbs, GIT_REMOTE_CALLBACKS_VERSION);
	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	cbs.credentials = worker_cred_cb;
	cbs.payload = wc;
	opts.callbacks = cbs;
	opts.update_fetchhead = 0;
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_AUTO;

	if (git_repository_open_bare(&repo, dir) < 0 ||
	    worker_remote(repo, &remote) < 0 ||
	    git_remote_connect(remote, GIT_DIRECTION_FETCH, &cbs, NULL,
	    NULL) < 0 ||
	    git_remote_ls(&heads, &nheads, remote) < 0) {
		fprintf(stderr, "%s\n", git_errmsg());
		goto out;
	}
	for (i = 0; i < nheads; i++) {
		if (strcmp(heads[i]->name, head) == 0)
			want = &heads[i]->oid;
	}
	if (want == NULL) {
		fprintf(stderr, "no branch '%s' on the remote\n", branch);
		goto out;
	}
	git_oid_tostr(hex, sizeof hex, want);
	if (git_remote_download(remote, &specs, &opts) < 0 ||
	    git_remote_update_tips(remote, &cbs, 0,
	    GIT_REMOTE_DOWNLOAD_TAGS_AUTO, NULL) < 0 ||
	    git_reference_lookup(&ref, repo, track) < 0) {
		fprintf(stderr, "%s\n", git_errmsg());
		goto out;
	}
	if (git_reference_target(ref) == NULL ||
	    !git_oid_equal(git_reference_target(ref), want)) {
		fprintf(stderr, "'%s' was not updated to %s\n", track, hex);
		goto out;
	}
	git_remote_disconnect(remote);
	printf("%s\n", hex);
	rv = fflush(stdout) == 0 ? 0 : 1;
out:
	git_reference_free(ref);
	git_remote_free(remote);
	git_repository_free(repo);
	if (fd != -1)
		close(fd);
	free(lock);
	free(head);
	free(track);
	free(spec);
	return (rv);
}

int
git_worker_main(int argc, char **argv)
{
	struct worker_cred	wc;
	int			rv;

	if (argc != 5 || strcmp(argv[1], GIT_WORKER_ARG) != 0 ||
	    strcmp(argv[2], "fetch") != 0) {
		fprintf(stderr, "usage: %s fetch DIR BRANCH\n", GIT_WORKER_ARG);
		return (2);
	}
	/*
	 * Die with the agent: the worker has its own process group (so the
	 * deadline can kill all of it), so a Ctrl-C or a killed agent would
	 * otherwise leave it running, holding the cache's lock.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() == 1)
		return (2);
	git_init();
	memset(&wc, 0, sizeof wc);
	wc.token = worker_read_input();
	rv = worker_fetch(argv[3], argv[4], &wc);
	freezero_string(wc.token);
	git_libgit2_shutdown();
	return (rv);
}
