/*
 * git.c: the repository cache, the part of Git the rest of the library
 * uses: open, fetch, resolve, changed paths, commits, history, ancestry,
 * signatures, push, repack. With git_source.c and git_worker.c, the only
 * files that include <git2.h>; git_int.h is what the three share.
 *
 * Owns STATE_DIR/repos/NAME.git, one bare cache per repository. libgit2
 * 1.5 has no network timeouts, so no network operation runs in the
 * calling process: git_cache_fetch() and git_cache_push() start this same
 * program again (argv[1] GIT_WORKER_ARG, see git_worker.c) through
 * spawn_run, which kills it at the deadline. Credentials reach the worker
 * on its stdin, never in argv or the environment, and are never printed.
 * Commits are made in the cache from a parent's tree (git_commit_files),
 * never from a working tree, and pushed compare-and-swap, never forced.
 *
 * A git_cache is used by one thread at a time; a git source (see
 * git_source.c) opens its own handle on the cache so a render thread can
 * read while the cache is fetched into.
 */
#include "config.h"

#include <sys/file.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>

#include "gitops.h"
#include "git_int.h"

/* Shortest commit id prefix git_resolve() looks up. */
#define GIT_MIN_PREFIX		4
/* ssh-keygen signs locally; it only hangs on a passphrase prompt. */
#define GIT_SIGN_TIMEOUT_MS	10000
/*
 * Each fetch adds a pack to the cache: past this many, the fetch ends
 * with `git repack -a -d` (one pack again), bounded in time.
 */
#define GIT_REPACK_PACKS	16
#define GIT_REPACK_TIMEOUT_MS	(2 * 60 * 1000)

static pthread_once_t	 git_once = PTHREAD_ONCE_INIT;

/* libgit2's message for its last failure on this thread. */
const char *
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

void
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

const char *
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
char *
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

static int
git_branch_ok(const char *branch)
{
	char	*ref;

	if ((ref = git_branch_ref(branch)) == NULL)
		return (0);
	free(ref);
	return (1);
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
	char			*repos = NULL, *base = NULL, *lock = NULL;
	int			 error, fd = -1;

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

	/*
	 * Writers started at once (a bump per CI job) must not race on
	 * creating the cache or on its config.lock: a lock of our own,
	 * held for the opening only.
	 */
	xasprintf(&lock, "%s.open-lock", gc->dir);
	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
	    flock(fd, LOCK_EX) == -1) {
		xasprintf(cause, "cannot lock '%s': %s", lock, strerror(errno));
		goto fail;
	}
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
	if (fd != -1)
		close(fd);
	free(lock);
	free(repos);
	free(base);
	*gcp = gc;
	return (0);
fail_git:
	xasprintf(cause, "cannot read the configuration of '%s': %s", gc->dir,
	    git_errmsg());
fail:
	if (fd != -1)
		close(fd);
	free(lock);
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

void
git_creds_clear(struct git_creds *creds)
{
	freezero_string(creds->https_token);
	creds->https_token = NULL;
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

/* Lines joined with "; ", in place (a cause is one line). */
static void
git_one_line(char *s)
{
	size_t	len = strlen(s);
	char	*p;

	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' '))
		s[--len] = '\0';
	for (p = s; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ';';
	}
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

/*
 * What the worker may authenticate with, on its stdin as "key=value"
 * lines: secrets never in argv or the environment.
 */
static void
git_worker_input(const struct git_creds *creds, struct buf *b)
{
	buf_init(b);
	if (creds != NULL && creds->https_token != NULL &&
	    strpbrk(creds->https_token, "\r\n") == NULL)
		buf_printf(b, "token=%s\n", creds->https_token);
	if (creds != NULL && creds->ssh_key_file != NULL)
		buf_printf(b, "ssh-key=%s\n", creds->ssh_key_file);
	if (creds != NULL && creds->ssh_known_hosts_file != NULL)
		buf_printf(b, "known-hosts=%s\n", creds->ssh_known_hosts_file);
	if (creds != NULL && creds->ssh_host_key != NULL)
		buf_printf(b, "host-key=%s\n", creds->ssh_host_key);
	buf_addc(b, '\0');
	b->len--;
}

int
git_url_is_local(const char *url)
{
	return (strncmp(url, "file://", 7) == 0 ||
	    (strstr(url, "://") == NULL && !git_url_is_ssh(url)));
}

int
git_url_is_ssh(const char *url)
{
	const char	*colon, *slash;

	if (strncmp(url, "ssh://", 6) == 0 ||
	    strncmp(url, "git+ssh://", 10) == 0 ||
	    strncmp(url, "ssh+git://", 10) == 0)
		return (1);
	if (strstr(url, "://") != NULL || *url == '/' || *url == '.')
		return (0);
	/* scp-like: [user@]host:path, a colon before any slash */
	colon = strchr(url, ':');
	slash = strchr(url, '/');
	return (colon != NULL && colon != url &&
	    (slash == NULL || colon < slash));
}

/*
 * The name an SSH remote's host has in known_hosts: "host", or
 * "[host]:port" for another port than 22. NULL if the URL has none.
 */
char *
git_ssh_known_name(const char *url)
{
	const char	*p, *end, *at;
	char		*host, *name;
	long		 port = 22;

	if ((p = strstr(url, "://")) != NULL) {
		p += 3;
		end = p + strcspn(p, "/");
	} else {
		p = url;
		end = strchr(p, ':');
		if (end == NULL)
			return (NULL);
	}
	/* The last '@' before the host: a user name may hold one. */
	for (at = end; at > p && at[-1] != '@'; at--)
		;
	if (at > p)
		p = at;
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (rb == NULL)
			return (NULL);
		host = xstrndup(p + 1, (size_t)(rb - p - 1));
		if (rb[1] == ':' && strstr(url, "://") != NULL)
			port = strtol(rb + 2, NULL, 10);
	} else {
		const char *c = strstr(url, "://") != NULL ?
		    memchr(p, ':', (size_t)(end - p)) : NULL;

		host = xstrndup(p, (size_t)((c != NULL ? c : end) - p));
		if (c != NULL)
			port = strtol(c + 1, NULL, 10);
	}
	if (*host == '\0' || port <= 0 || port > 65535) {
		free(host);
		return (NULL);
	}
	/* Host names compare without case, as ssh does. */
	for (at = host; *at != '\0'; at++)
		host[at - host] = (char)tolower((unsigned char)*at);
	if (port == 22)
		return (host);
	xasprintf(&name, "[%s]:%ld", host, port);
	free(host);
	return (name);
}

/*
 * Run the worker: argv after GIT_WORKER_ARG is verb and args; the
 * credentials go on stdin. 0 with *sr when it ran and exited (whatever its status);
 * -1 with cause ("cannot VERB 'URL': ...") when it could not start, was
 * killed, or passed the deadline.
 */
static int
git_worker_run(struct git_cache *gc, const char *verb, const char *what,
    char *const *args, uint64_t timeout_ms, const struct git_creds *creds,
    struct spawn_result *sr, char **cause)
{
	struct spawn_opts	 so;
	struct buf		 input;
	char			*argv[8], *exe, *dur = NULL, *err = NULL;
	size_t			 n = 0;
	int			 rv = -1;

	memset(sr, 0, sizeof *sr);
	if (timeout_ms == 0)
		timeout_ms = GIT_FETCH_TIMEOUT_MS;
	exe = git_self_exe();
	argv[n++] = exe;
	argv[n++] = (char *)GIT_WORKER_ARG;
	argv[n++] = (char *)verb;
	argv[n++] = gc->dir;
	while (*args != NULL && n < sizeof argv / sizeof argv[0] - 1)
		argv[n++] = *args++;
	argv[n] = NULL;
	memset(&so, 0, sizeof so);
	so.timeout_ms = timeout_ms;
	so.max_output = GIT_WORKER_MAX_OUTPUT;
	git_worker_input(creds, &input);
	so.input = input.data;
	so.inputlen = input.len;
	if (spawn_run(argv, &so, sr, &err) == -1) {
		xasprintf(cause, "cannot %s '%s': %s", what,
		    git_cache_label(gc), err);
		goto out;
	}
	if (sr->timed_out) {
		dur = duration_format(timeout_ms);
		xasprintf(cause, "cannot %s '%s': no answer within %s", what,
		    git_cache_label(gc), dur);
		goto out;
	}
	if (!sr->exited) {
		xasprintf(cause, "cannot %s '%s': the worker was killed by "
		    "signal %d", what, git_cache_label(gc), sr->status);
		goto out;
	}
	rv = 0;
out:
	if (rv == -1)
		spawn_result_free(sr);
	explicit_bzero(input.data, input.len);
	buf_free(&input);
	free(exe);
	free(dur);
	free(err);
	return (rv);
}

/* The worker's error, first line, credentials redacted. */
static void
git_worker_cause(struct git_cache *gc, const char *what,
    const struct spawn_result *sr, char **cause)
{
	char	*msg;

	msg = git_redact(git_first_line(sr->err != NULL ? sr->err : ""),
	    gc->raw_url, git_cache_label(gc));
	xasprintf(cause, "cannot %s '%s': %s", what, git_cache_label(gc), msg);
	free(msg);
}

/* A full commit id at the start of s (ending at a newline or NUL). */
static int
git_is_oid_line(const char *s)
{
	size_t	len = strcspn(s, "\n");

	return (len == GIT_OID_HEXSZ && git_is_hex(s, len));
}

/* The packs in the cache (not what a running or killed writer left). */
static size_t
git_pack_count(const struct git_cache *gc)
{
	struct dirent	*de;
	DIR		*d;
	char		*p;
	size_t		 n = 0, len;

	p = path_join(gc->dir, "objects/pack");
	if ((d = opendir(p)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			len = strlen(de->d_name);
			if (de->d_name[0] != '.' && len > 5 &&
			    strncmp(de->d_name, "tmp_", 4) != 0 &&
			    strcmp(de->d_name + len - 5, ".pack") == 0)
				n++;
		}
		closedir(d);
	}
	free(p);
	return (n);
}

/*
 * Past GIT_REPACK_PACKS packs, make them one with `git repack -a -d`,
 * under the fetch lock (skipped while a fetch holds it: the next one
 * will do it). git writes the new pack before deleting the old ones, so
 * killing it at the deadline leaves a valid cache (the next fetch
 * removes its temporary files). Best effort: a fetch never fails here.
 */
static void
git_cache_repack(struct git_cache *gc)
{
	struct spawn_opts	 so;
	struct spawn_result	 sr;
	struct lock		*l = NULL;
	char			*lock, *gitdir, *holder = NULL, *err = NULL, *first;
	char			*argv[] = { (char *)"git", NULL, (char *)"repack",
				    (char *)"-a", (char *)"-d", (char *)"-q",
				    NULL };
	size_t			 n;

	if ((n = git_pack_count(gc)) <= GIT_REPACK_PACKS)
		return;
	lock = path_join(gc->dir, GIT_FETCH_LOCK);
	if (lock_take(lock, NULL, 0, NULL, &l, &holder, &err) != 0) {
		free(lock);
		free(holder);
		free(err);
		return;
	}
	xasprintf(&gitdir, "--git-dir=%s", gc->dir);
	argv[1] = gitdir;
	memset(&so, 0, sizeof so);
	so.timeout_ms = GIT_REPACK_TIMEOUT_MS;
	so.max_output = 64 * 1024;
	if (spawn_run(argv, &so, &sr, &err) == -1) {
		log_event(LOG_LEVEL_WARN, "cannot repack the cache", "repo",
		    gc->name, "packs", LOG_UINT(n), "error", err, NULL);
		free(err);
	} else {
		if (!sr.exited || sr.status != 0) {
			/* Its first line says why; the rest is noise. */
			first = xstrndup(sr.err != NULL ? sr.err : "",
			    strcspn(sr.err != NULL ? sr.err : "", "\n"));
			log_event(LOG_LEVEL_WARN,
			    sr.timed_out ? "repack of the cache did not "
					   "finish in time"
					 : "repack of the cache failed",
			    "repo", gc->name, "packs", LOG_UINT(n), "error",
			    first, NULL);
			free(first);
		} else
			log_event(LOG_LEVEL_INFO, "cache repacked", "repo",
			    gc->name, "packs", LOG_UINT(n), NULL);
		spawn_result_free(&sr);
	}
	lock_release(l);
	free(gitdir);
	free(lock);
}

int
git_cache_fetch(struct git_cache *gc, const char *branch, uint64_t timeout_ms,
    const struct git_creds *creds, char **oidp, char **cause)
{
	struct spawn_result	 sr;
	char			*args[2];

	*oidp = NULL;
	if (!git_branch_ok(branch)) {
		xasprintf(cause, "cannot fetch '%s': invalid branch name '%s'",
		    git_cache_label(gc), branch);
		return (-1);
	}
	args[0] = (char *)branch;
	args[1] = NULL;
	if (git_worker_run(gc, "fetch", "fetch", args, timeout_ms, creds, &sr,
	    cause) == -1)
		return (-1);
	if (sr.status != 0)
		git_worker_cause(gc, "fetch", &sr, cause);
	else if (!git_is_oid_line(sr.out))
		xasprintf(cause, "cannot fetch '%s': the fetch worker gave no "
		    "commit id", git_cache_label(gc));
	else {
		*oidp = xstrndup(sr.out, GIT_OID_HEXSZ);
		log_event(LOG_LEVEL_DEBUG, "fetched into the cache", "event",
		    "fetch", "repo", gc->name, "branch", branch, "commit",
		    *oidp, NULL);
	}
	spawn_result_free(&sr);
	if (*oidp != NULL)
		git_cache_repack(gc);
	return (*oidp != NULL ? 0 : -1);
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
int
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
 * Writing: commits made in the cache from a parent's tree, never from a
 * working tree, and pushed by the worker.
 */

static int
git_oid_parse(git_repository *repo, const char *label, const char *hex,
    git_commit **commit, char **cause)
{
	git_oid	oid;

	*commit = NULL;
	if (strlen(hex) != GIT_OID_HEXSZ || git_oid_fromstr(&oid, hex) < 0) {
		xasprintf(cause, "'%s' is not a full commit id", hex);
		return (-1);
	}
	if (git_commit_lookup(commit, repo, &oid) < 0) {
		xasprintf(cause, "cannot read commit %s in '%s': %s", hex,
		    label, git_errmsg());
		return (-1);
	}
	return (0);
}

/*
 * Sign a commit buffer with `ssh-keygen -Y sign` (namespace "git", as
 * git's gpg.format=ssh does); the armoured signature without its last
 * newline (libgit2 adds the header's own).
 */
static char *
git_ssh_sign(const char *key, const char *data, char **cause)
{
	struct spawn_opts	 so;
	struct spawn_result	 sr;
	char			*argv[9], *err = NULL, *sig;
	size_t			 len;

	argv[0] = (char *)"ssh-keygen";
	argv[1] = (char *)"-q";
	argv[2] = (char *)"-Y";
	argv[3] = (char *)"sign";
	argv[4] = (char *)"-n";
	argv[5] = (char *)"git";
	argv[6] = (char *)"-f";
	argv[7] = (char *)key;
	argv[8] = NULL;
	memset(&so, 0, sizeof so);
	so.timeout_ms = GIT_SIGN_TIMEOUT_MS;
	so.input = data;
	so.inputlen = strlen(data);
	if (spawn_run(argv, &so, &sr, &err) == -1) {
		xasprintf(cause, "cannot sign the commit with '%s': %s", key,
		    err);
		free(err);
		return (NULL);
	}
	if (!sr.exited || sr.status != 0 ||
	    strncmp(sr.out, "-----BEGIN SSH SIGNATURE-----", 29) != 0) {
		err = git_first_line(sr.err != NULL ? sr.err : "");
		xasprintf(cause, "cannot sign the commit with '%s': "
		    "ssh-keygen %s: %s", key, sr.timed_out ? "timed out" :
		    "failed", err);
		free(err);
		spawn_result_free(&sr);
		return (NULL);
	}
	len = strlen(sr.out);
	while (len > 0 && sr.out[len - 1] == '\n')
		len--;
	sig = xstrndup(sr.out, len);
	spawn_result_free(&sr);
	return (sig);
}

int
git_commit_files(struct git_cache *gc, const char *parent_hex,
    const struct git_file_update *files, size_t nfiles, const char *message,
    const struct git_author *author, char **oidp, char **cause)
{
	git_tree_update		*ups = NULL;
	git_tree_entry		*te = NULL;
	git_commit		*parent = NULL;
	git_tree		*tree = NULL, *newtree = NULL;
	git_signature		*sig = NULL;
	git_buf			 cbuf = { NULL, 0, 0 };
	git_oid			 tree_oid, oid;
	const char		*label = git_cache_label(gc);
	char			*signature = NULL;
	size_t			 i;
	int			 rv = -1;

	*oidp = NULL;
	if (git_oid_parse(gc->repo, label, parent_hex, &parent, cause) == -1)
		goto out;
	if (git_commit_tree(&tree, parent) < 0)
		goto fail_git;
	ups = xcalloc(nfiles, sizeof *ups);
	for (i = 0; i < nfiles; i++) {
		ups[i].action = GIT_TREE_UPDATE_UPSERT;
		ups[i].path = files[i].path;
		ups[i].filemode = GIT_FILEMODE_BLOB;
		if (git_tree_entry_bypath(&te, tree, files[i].path) == 0) {
			git_filemode_t mode = git_tree_entry_filemode(te);

			git_tree_entry_free(te);
			te = NULL;
			if (mode != GIT_FILEMODE_BLOB &&
			    mode != GIT_FILEMODE_BLOB_EXECUTABLE) {
				xasprintf(cause, "cannot write '%s' in '%s': "
				    "not a regular file in commit %s",
				    files[i].path, label, parent_hex);
				goto out;
			}
			ups[i].filemode = mode;
		}
		if (git_blob_create_from_buffer(&ups[i].id, gc->repo,
		    files[i].data, files[i].len) < 0)
			goto fail_git;
	}
	if (git_tree_create_updated(&tree_oid, gc->repo, tree, nfiles,
	    ups) < 0 || git_tree_lookup(&newtree, gc->repo, &tree_oid) < 0)
		goto fail_git;
	if (git_signature_now(&sig, author->name, author->email) < 0) {
		xasprintf(cause, "invalid commit author '%s <%s>': %s",
		    author->name, author->email, git_errmsg());
		goto out;
	}
	if (author->signing_key == NULL) {
		if (git_commit_create(&oid, gc->repo, NULL, sig, sig, NULL,
		    message, newtree, 1, (const git_commit **)&parent) < 0)
			goto fail_git;
	} else {
		if (git_commit_create_buffer(&cbuf, gc->repo, sig, sig, NULL,
		    message, newtree, 1, (const git_commit **)&parent) < 0)
			goto fail_git;
		if ((signature = git_ssh_sign(author->signing_key, cbuf.ptr,
		    cause)) == NULL)
			goto out;
		if (git_commit_create_with_signature(&oid, gc->repo, cbuf.ptr,
		    signature, "gpgsig") < 0)
			goto fail_git;
	}
	*oidp = git_oid_hex(&oid);
	rv = 0;
	goto out;
fail_git:
	xasprintf(cause, "cannot commit on %s in '%s': %s", parent_hex, label,
	    git_errmsg());
out:
	free(ups);
	free(signature);
	git_buf_dispose(&cbuf);
	git_signature_free(sig);
	git_tree_free(newtree);
	git_tree_free(tree);
	git_commit_free(parent);
	return (rv);
}

int
git_log_first_parent(struct git_cache *gc, const char *start, size_t max,
    int (*cb)(const struct git_commit_info *, void *, char **), void *arg,
    char **cause)
{
	struct git_commit_info	 info;
	git_revwalk		*walk = NULL;
	git_commit		*c = NULL;
	git_oid			 oid;
	char			 hex[GIT_OID_HEXSZ + 1];
	char			 phex[GIT_OID_HEXSZ + 1];
	const char		*label = git_cache_label(gc);
	size_t			 n;
	int			 error, rc;

	if (git_resolve_oid(gc->repo, label, start, &oid, cause) == -1)
		return (-1);
	if (git_revwalk_new(&walk, gc->repo) < 0 ||
	    git_revwalk_simplify_first_parent(walk) < 0 ||
	    git_revwalk_push(walk, &oid) < 0)
		goto fail_git;
	for (n = 0; n < max; n++) {
		if ((error = git_revwalk_next(&oid, walk)) == GIT_ITEROVER)
			break;
		if (error < 0 || git_commit_lookup(&c, gc->repo, &oid) < 0)
			goto fail_git;
		git_oid_tostr(hex, sizeof hex, &oid);
		info.id = hex;
		info.parent = NULL;
		if (git_commit_parentcount(c) > 0) {
			git_oid_tostr(phex, sizeof phex,
			    git_commit_parent_id(c, 0));
			info.parent = phex;
		}
		info.message = git_commit_message(c);
		if (info.message == NULL)
			info.message = "";
		rc = cb(&info, arg, cause);
		git_commit_free(c);
		c = NULL;
		if (rc == -1) {
			git_revwalk_free(walk);
			return (-1);
		}
		if (rc == 1)
			break;
	}
	git_revwalk_free(walk);
	return (0);
fail_git:
	xasprintf(cause, "cannot read the history of '%s': %s", label,
	    git_errmsg());
	git_commit_free(c);
	git_revwalk_free(walk);
	return (-1);
}

int
git_is_ancestor(struct git_cache *gc, const char *ancestor,
    const char *commit, int *yes, char **cause)
{
	git_oid	a, c;
	int	rc;

	*yes = 0;
	if (git_resolve_oid(gc->repo, git_cache_label(gc), ancestor, &a,
	    cause) == -1 ||
	    git_resolve_oid(gc->repo, git_cache_label(gc), commit, &c,
	    cause) == -1)
		return (-1);
	if (git_oid_equal(&a, &c)) {
		*yes = 1;
		return (0);
	}
	if ((rc = git_graph_descendant_of(gc->repo, &c, &a)) < 0) {
		xasprintf(cause, "cannot read the history of '%s': %s",
		    git_cache_label(gc), git_errmsg());
		return (-1);
	}
	*yes = rc;
	return (0);
}

int
git_commit_signature(struct git_cache *gc, const char *hex, char **sig,
    char **data, size_t *datalen, char **cause)
{
	git_buf		 sb = { NULL, 0, 0 }, db = { NULL, 0, 0 };
	git_commit	*commit = NULL;
	git_oid		 oid;
	int		 rc, rv = -1;

	*sig = *data = NULL;
	*datalen = 0;
	/* Read first: a missing commit is an error, not "unsigned". */
	if (git_oid_parse(gc->repo, git_cache_label(gc), hex, &commit,
	    cause) == -1)
		return (-1);
	git_oid_cpy(&oid, git_commit_id(commit));
	git_commit_free(commit);
	rc = git_commit_extract_signature(&sb, &db, gc->repo, &oid, NULL);
	if (rc == GIT_ENOTFOUND) {
		rv = 0;
		goto out;
	}
	if (rc < 0) {
		xasprintf(cause, "cannot read the signature of commit %s in "
		    "'%s': %s", hex, git_cache_label(gc), git_errmsg());
		goto out;
	}
	/* Text, checked whole: never cut short at a NUL inside it. */
	if (memchr(sb.ptr, '\0', sb.size) != NULL) {
		xasprintf(cause, "its signature holds a NUL byte");
		goto out;
	}
	*sig = xstrndup(sb.ptr, sb.size);
	*data = xmalloc(db.size + 1);
	memcpy(*data, db.ptr, db.size);
	(*data)[db.size] = '\0';
	*datalen = db.size;
	rv = 0;
out:
	git_buf_dispose(&sb);
	git_buf_dispose(&db);
	return (rv);
}

int
git_cache_push(struct git_cache *gc, const char *branch, const char *expected,
    const char *commit, uint64_t timeout_ms, const struct git_creds *creds,
    enum git_push_result *result, char **cause)
{
	struct spawn_result	 sr;
	char			*args[4];
	const char		*rest;
	int			 rv = -1;

	*result = GIT_PUSH_REJECTED;
	if (!git_branch_ok(branch)) {
		xasprintf(cause, "cannot push to '%s': invalid branch name "
		    "'%s'", git_cache_label(gc), branch);
		return (-1);
	}
	args[0] = (char *)branch;
	args[1] = (char *)expected;
	args[2] = (char *)commit;
	args[3] = NULL;
	if (git_worker_run(gc, "push", "push to", args, timeout_ms, creds, &sr,
	    cause) == -1)
		return (-1);
	rest = sr.out + strcspn(sr.out, "\n");
	rest += strspn(rest, "\n");
	if (sr.status != 0) {
		git_worker_cause(gc, "push to", &sr, cause);
	} else if (strncmp(sr.out, GIT_PUSH_OK_LINE "\n",
	    sizeof GIT_PUSH_OK_LINE) == 0) {
		*result = GIT_PUSHED;
		rv = 0;
	} else if (strncmp(sr.out, GIT_PUSH_STALE_LINE "\n",
	    sizeof GIT_PUSH_STALE_LINE) == 0) {
		*result = GIT_PUSH_STALE;
		rv = 0;
	} else if (strncmp(sr.out, GIT_PUSH_REJECTED_LINE "\n",
	    sizeof GIT_PUSH_REJECTED_LINE) == 0) {
		*result = GIT_PUSH_REJECTED;
		*cause = git_redact(xstrdup(*rest != '\0' ? rest :
		    "no reason given"), gc->raw_url, git_cache_label(gc));
		git_one_line(*cause);
		rv = 0;
	} else
		xasprintf(cause, "cannot push to '%s': the push worker gave "
		    "no result", git_cache_label(gc));
	if (rv == 0)
		log_event(LOG_LEVEL_DEBUG, "pushed", "event", "push", "repo",
		    gc->name, "branch", branch, "commit", commit, "result",
		    *result == GIT_PUSHED	    ? "pushed"
			: *result == GIT_PUSH_STALE ? "stale"
						    : "rejected",
		    NULL);
	spawn_result_free(&sr);
	return (rv);
}
