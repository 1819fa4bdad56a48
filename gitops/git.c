/*
 * git.c: the repository cache and reading desired state from Git; the
 * only file that includes <git2.h>.
 *
 * Owns STATE_DIR/repos/NAME.git, one bare cache per repository, and the
 * worker that fetches and pushes. libgit2 1.5 has no network timeouts, so
 * no network operation runs in the calling process: git_cache_fetch() and
 * git_cache_push() start this same program again (argv[1]
 * GIT_WORKER_ARG) through spawn_run, which kills it at the deadline.
 * Credentials reach the worker on its stdin, never in argv or the
 * environment, and are never printed; an SSH server is trusted only by a
 * pinned host key or a known_hosts entry (worker_cert_cb). Commits are
 * made in the cache from a parent's tree (git_commit_files), never from a
 * working tree, and pushed compare-and-swap, never forced.
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
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netdb.h>

#include <ctype.h>
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
#include <git2/sys/stream.h>

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
/* ssh-keygen signs locally; it only hangs on a passphrase prompt. */
#define GIT_SIGN_TIMEOUT_MS	10000
/* A push's temporary ref (see worker_push), and when one is stale. */
#define GIT_PUSH_REF_DIR	"gitops-agent/push"
#define GIT_PUSH_REF_STALE_MS	(2 * 60 * 60 * 1000)
/*
 * Each fetch adds a pack to the cache: past this many, the fetch ends
 * with `git repack -a -d` (one pack again), bounded in time.
 */
#define GIT_REPACK_PACKS	16
#define GIT_REPACK_TIMEOUT_MS	(2 * 60 * 1000)
/* What the worker keeps of the remote's messages on a refused push. */
#define GIT_REMOTE_MSG_MAX	4096

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
static char *
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
	if (lock_take(lock, 0, NULL, &l, &holder, &err) != 0) {
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

/*
 * The worker prints one of these on its first line of output; what
 * follows is the remote's reason (status, then its messages).
 */
#define GIT_PUSH_OK_LINE	"pushed"
#define GIT_PUSH_STALE_LINE	"stale"
#define GIT_PUSH_REJECTED_LINE	"rejected"

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

struct worker {
	char		*input;		/* stdin: key=value lines */
	const char	*token;		/* pointers into input */
	const char	*ssh_key;
	const char	*known_hosts;
	const char	*host_key;
	char		*known_name;	/* the remote's name in known_hosts */
	int		 cred_calls;
	/* push */
	const char	*ref;		/* refs/heads/BRANCH */
	git_oid		 expected;	/* the remote's tip we built on */
	int		 stale;
	char		*status;	/* the remote's refusal of ref */
	struct buf	 remote_msg;	/* its sideband ("remote:") lines */
};

/* Split the input into its fields (in place). */
static void
worker_parse_input(struct worker *w)
{
	char	*line, *next, *eq;

	for (line = w->input; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((eq = strchr(line, '=')) == NULL)
			continue;
		*eq++ = '\0';
		if (strcmp(line, "token") == 0)
			w->token = eq;
		else if (strcmp(line, "ssh-key") == 0)
			w->ssh_key = eq;
		else if (strcmp(line, "known-hosts") == 0)
			w->known_hosts = eq;
		else if (strcmp(line, "host-key") == 0)
			w->host_key = eq;
	}
}

static int
worker_cred_cb(git_credential **out, const char *url, const char *user,
    unsigned int allowed, void *payload)
{
	struct worker	*w = payload;
	char		*pub;
	int		 rc;

	if (++w->cred_calls > GIT_CRED_MAX_CALLS) {
		git_error_set_str(GIT_ERROR_NET, "authentication refused");
		return (GIT_EUSER);
	}
	/* A token travels over TLS only, never in the clear. */
	if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) != 0 &&
	    w->token != NULL && *w->token != '\0' && url != NULL &&
	    strncmp(url, "https://", 8) == 0)
		return (git_credential_userpass_plaintext_new(out,
		    "x-access-token", w->token));
	if (w->ssh_key != NULL && (allowed & GIT_CREDENTIAL_USERNAME) != 0)
		return (git_credential_username_new(out, user != NULL ?
		    user : "git"));
	if (w->ssh_key != NULL && (allowed & GIT_CREDENTIAL_SSH_KEY) != 0) {
		/* libssh2 (gcrypt) cannot derive the public key itself. */
		xasprintf(&pub, "%s.pub", w->ssh_key);
		rc = git_credential_ssh_key_new(out, user != NULL ? user :
		    "git", access(pub, R_OK) == 0 ? pub : NULL, w->ssh_key,
		    NULL);
		free(pub);
		return (rc);
	}
	git_error_set_str(GIT_ERROR_NET, "authentication required, and no "
	    "credentials are configured for this kind");
	return (GIT_EUSER);
}

/* OpenSSH's host patterns: '*' and '?' only ('[' is literal). */
static int
worker_pattern_match(const char *p, const char *s)
{
	for (; *p != '\0'; p++, s++) {
		if (*p == '*') {
			for (;; s++) {
				if (worker_pattern_match(p + 1, s))
					return (1);
				if (*s == '\0')
					return (0);
			}
		}
		if (*s == '\0' || (*p != '?' && tolower((unsigned char)*p) !=
		    tolower((unsigned char)*s)))
			return (0);
	}
	return (*s == '\0');
}

/* A known_hosts host field matches name: plain patterns or |1| hashes. */
static int
worker_known_host_match(const char *field, const char *name)
{
	unsigned char	*salt = NULL, *hash = NULL, mac[20];
	char		*copy, *pat, *save = NULL, *bar;
	size_t		 saltlen, hashlen;
	int		 match = 0, neg;

	if (strncmp(field, "|1|", 3) == 0) {
		if ((bar = strchr(field + 3, '|')) == NULL)
			return (0);
		if (base64_decode(field + 3, (size_t)(bar - field - 3), &salt,
		    &saltlen) == 0 && base64_decode(bar + 1, strlen(bar + 1),
		    &hash, &hashlen) == 0 && hashlen == 20) {
			hmac_sha1(salt, saltlen, name, strlen(name), mac);
			match = timingsafe_equal(mac, 20, hash, 20);
		}
		free(salt);
		free(hash);
		return (match);
	}
	copy = xstrdup(field);
	for (pat = strtok_r(copy, ",", &save); pat != NULL;
	    pat = strtok_r(NULL, ",", &save)) {
		neg = *pat == '!';
		if (worker_pattern_match(pat + neg, name)) {
			if (neg) {
				match = 0;
				break;
			}
			match = 1;
		}
	}
	free(copy);
	return (match);
}

/* 1: the key is listed for name; 0: not; -1: revoked or unreadable. */
static int
worker_known_hosts(const char *file, const char *name,
    const unsigned char *key, size_t keylen, char **why)
{
	unsigned char	*blob;
	char		*data = NULL, *line, *next, *f[4], *save;
	size_t		 len, bloblen, n;
	int		 found = 0, revoked;

	if (file_read(file, 4 * 1024 * 1024, &data, &len, why) == -1)
		return (-1);
	for (line = data; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		save = NULL;
		for (n = 0; n < 4 && (f[n] = strtok_r(n == 0 ? line : NULL,
		    " \t\r", &save)) != NULL; n++)
			;
		if (n == 0 || *f[0] == '#')
			continue;
		revoked = strcmp(f[0], "@revoked") == 0;
		if (*f[0] == '@') {
			if (!revoked || n < 4)
				continue;	/* @cert-authority: not ours */
			f[0] = f[1];
			f[1] = f[2];
			f[2] = f[3];
		} else if (n < 3)
			continue;
		if (!worker_known_host_match(f[0], name) ||
		    base64_decode(f[2], strlen(f[2]), &blob, &bloblen) == -1)
			continue;
		if (bloblen == keylen && memcmp(blob, key, keylen) == 0) {
			if (revoked) {
				free(blob);
				free(data);
				xasprintf(why, "the host key of %s is revoked "
				    "in '%s'", name, file);
				return (-1);
			}
			found = 1;
		}
		free(blob);
	}
	free(data);
	if (!found)
		xasprintf(why, "the host key of %s is not in '%s'", name,
		    file);
	return (found);
}

/* An SSH server is trusted only by a pinned key or known_hosts. */
static int
worker_cert_cb(git_cert *cert, int valid, const char *host, void *payload)
{
	struct worker		*w = payload;
	git_cert_hostkey	*hk = (git_cert_hostkey *)cert;
	char			*fp, *why = NULL;
	size_t			 len;
	int			 rc;

	(void)valid;
	if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
		return (GIT_PASSTHROUGH);
	if (w->host_key != NULL) {
		if ((hk->type & GIT_CERT_SSH_SHA256) == 0) {
			git_error_set_str(GIT_ERROR_SSH, "no SHA256 host key "
			    "fingerprint to compare with the pinned one");
			return (GIT_ECERTIFICATE);
		}
		fp = base64_encode(hk->hash_sha256, 32);
		len = strlen(fp);
		while (len > 0 && fp[len - 1] == '=')
			fp[--len] = '\0';
		rc = strcmp(fp, w->host_key + 7) == 0;
		if (!rc) {
			xasprintf(&why, "the host key of %s is SHA256:%s, not "
			    "the pinned %s", host, fp, w->host_key);
			git_error_set_str(GIT_ERROR_SSH, why);
			free(why);
		}
		free(fp);
		return (rc ? 0 : GIT_ECERTIFICATE);
	}
	if (w->known_hosts != NULL && w->known_name != NULL) {
		if ((hk->type & GIT_CERT_SSH_RAW) == 0) {
			git_error_set_str(GIT_ERROR_SSH, "the server's host "
			    "key was not given to compare with known_hosts");
			return (GIT_ECERTIFICATE);
		}
		rc = worker_known_hosts(w->known_hosts, w->known_name,
		    (const unsigned char *)hk->hostkey, hk->hostkey_len, &why);
		if (rc == 1)
			return (0);
		git_error_set_str(GIT_ERROR_SSH, why);
		free(why);
		return (GIT_ECERTIFICATE);
	}
	git_error_set_str(GIT_ERROR_SSH, "no pinned host key or known_hosts "
	    "file to check the SSH server against");
	return (GIT_ECERTIFICATE);
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

	(void)f;
	if (flag != FTW_F)
		return (0);
	/*
	 * A push's temporary refs are not under the fetch lock: leave
	 * them to their push, unless no push can still be running.
	 */
	if (strstr(path, "/refs/" GIT_PUSH_REF_DIR "/") != NULL) {
		if ((uint64_t)st->st_mtime * 1000 + GIT_PUSH_REF_STALE_MS <
		    time_now_ms())
			unlink(path);
		return (0);
	}
	if (len > 5 && strcmp(path + len - 5, ".lock") == 0)
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

			/* libgit2's partial packs; a killed git repack's. */
			if (strncmp(de->d_name, "pack_git2_", 10) != 0 &&
			    strncmp(de->d_name, ".tmp-", 5) != 0 &&
			    strncmp(de->d_name, "tmp_", 4) != 0)
				continue;
			f = path_join(p, de->d_name);
			unlink(f);
			free(f);
		}
		closedir(d);
	}
	free(p);
}

/*
 * The git:// transport over a socket of our own. libgit2's leaves Nagle
 * on and ACKs late: `git upload-pack` writes its negotiation answer in
 * small pieces, and each fetch then waits out a 40 ms delayed ACK. Ours
 * sets TCP_NODELAY and re-arms TCP_QUICKACK after every read. Registered
 * for git:// remotes only (libgit2's SSH transport reaches into its own
 * socket stream's fields, so SSH keeps libgit2's).
 */
struct quick_stream {
	git_stream	 parent;	/* first: libgit2 sees only this */
	char		*host;
	char		*port;
	int		 fd;
};

static int
quick_connect(git_stream *st)
{
	struct quick_stream	*qs = (struct quick_stream *)st;
	struct addrinfo		 hints, *res = NULL, *ai;
	int			 one = 1, e, saved = ECONNREFUSED;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = AF_UNSPEC;
	if ((e = getaddrinfo(qs->host, qs->port, &hints, &res)) != 0) {
		git_error_set_str(GIT_ERROR_NET, gai_strerror(e));
		return (-1);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		qs->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (qs->fd == -1)
			continue;
		if (connect(qs->fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		close(qs->fd);
		qs->fd = -1;
	}
	freeaddrinfo(res);
	if (qs->fd == -1) {
		char	msg[512];

		snprintf(msg, sizeof msg, "failed to connect to %s: %s",
		    qs->host, strerror(saved));
		git_error_set_str(GIT_ERROR_NET, msg);
		return (-1);
	}
	setsockopt(qs->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(qs->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
	return (0);
}

static ssize_t
quick_read(git_stream *st, void *data, size_t len)
{
	struct quick_stream	*qs = (struct quick_stream *)st;
	ssize_t			 n;
	int			 one = 1;

	while ((n = recv(qs->fd, data, len, 0)) == -1 && errno == EINTR)
		;
	if (n == -1) {
		git_error_set_str(GIT_ERROR_NET, strerror(errno));
		return (-1);
	}
	/* The kernel drops quick ACK mode on its own: ask again. */
	setsockopt(qs->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
	return (n);
}

static ssize_t
quick_write(git_stream *st, const char *data, size_t len, int flags)
{
	struct quick_stream	*qs = (struct quick_stream *)st;
	ssize_t			 n;

	while ((n = send(qs->fd, data, len, MSG_NOSIGNAL)) == -1 &&
	    errno == EINTR)
		;
	if (n == -1) {
		git_error_set_str(GIT_ERROR_NET, strerror(errno));
		return (-1);
	}
	return (n);
}

static int
quick_close(git_stream *st)
{
	struct quick_stream	*qs = (struct quick_stream *)st;

	if (qs->fd != -1)
		close(qs->fd);
	qs->fd = -1;
	return (0);
}

static void
quick_free(git_stream *st)
{
	struct quick_stream	*qs = (struct quick_stream *)st;

	quick_close(st);
	free(qs->host);
	free(qs->port);
	free(qs);
}

static int
quick_init(git_stream **out, const char *host, const char *port)
{
	struct quick_stream	*qs = xcalloc(1, sizeof *qs);

	qs->parent.version = GIT_STREAM_VERSION;
	qs->parent.connect = quick_connect;
	qs->parent.read = quick_read;
	qs->parent.write = quick_write;
	qs->parent.close = quick_close;
	qs->parent.free = quick_free;
	qs->host = xstrdup(host);
	qs->port = xstrdup(port);
	qs->fd = -1;
	*out = &qs->parent;
	return (0);
}

static void
worker_use_quick_stream(const char *url)
{
	static git_stream_registration	reg = { GIT_STREAM_VERSION,
					    quick_init, NULL };

	if (strncmp(url, "git://", 6) == 0 &&
	    git_stream_register(GIT_STREAM_STANDARD, &reg) < 0)
		log_event(LOG_LEVEL_WARN, "cannot register the git:// stream",
		    "error", git_error_last()->message, NULL);
}

/* An in-memory remote for the configured URL (see git_remote_setup). */
static int
worker_remote(git_repository *repo, git_remote **remote, struct worker *w)
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
		worker_use_quick_stream(url);
		error = git_remote_create_with_opts(remote, url, &opts);
		if (git_url_is_ssh(url))
			w->known_name = git_ssh_known_name(url);
	}
	git_config_free(cfg);
	return (error);
}

static int
worker_fetch(const char *dir, const char *branch, struct worker *w)
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
	cbs.certificate_check = worker_cert_cb;
	cbs.payload = w;
	opts.callbacks = cbs;
	opts.update_fetchhead = 0;
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_AUTO;

	if (git_repository_open_bare(&repo, dir) < 0 ||
	    worker_remote(repo, &remote, w) < 0 ||
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

/*
 * Compare-and-swap: the update is sent only if the remote's branch is
 * still at the commit ours was built on. The server checks the old value
 * again under its ref lock, so a push racing ours makes one of the two
 * fail there instead.
 */
static int
worker_push_negotiation_cb(const git_push_update **updates, size_t len,
    void *payload)
{
	struct worker	*w = payload;
	size_t		 i;

	for (i = 0; i < len; i++) {
		if (strcmp(updates[i]->dst_refname, w->ref) != 0)
			continue;
		if (!git_oid_equal(&updates[i]->src, &w->expected)) {
			w->stale = 1;
			git_error_set_str(GIT_ERROR_REFERENCE, "stale");
			return (-1);
		}
	}
	return (0);
}

static int
worker_push_update_cb(const char *ref, const char *status, void *payload)
{
	struct worker	*w = payload;

	if (status != NULL && strcmp(ref, w->ref) == 0 && w->status == NULL)
		w->status = xstrdup(status);
	return (0);
}

static int
worker_sideband_cb(const char *str, int len, void *payload)
{
	struct worker	*w = payload;
	size_t		 room;

	if (len <= 0 || w->remote_msg.len >= GIT_REMOTE_MSG_MAX)
		return (0);
	room = GIT_REMOTE_MSG_MAX - w->remote_msg.len;
	buf_add(&w->remote_msg, str, (size_t)len < room ? (size_t)len : room);
	return (0);
}

/* The remote's messages, one per line, without "remote: " noise. */
static void
worker_print_remote(const struct buf *b)
{
	const char	*p = b->data, *end = b->data + b->len, *nl;
	size_t		 n;

	while (p != NULL && p < end) {
		for (nl = p; nl < end && *nl != '\n' && *nl != '\r'; nl++)
			;
		n = (size_t)(nl - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > 0)
			printf("remote: %.*s\n", (int)n, p);
		p = nl + 1;
	}
}

static int
worker_push(const char *dir, const char *branch, const char *expected,
    const char *commit, struct worker *w)
{
	git_push_options	 opts;
	git_repository		*repo = NULL;
	git_remote		*remote = NULL;
	git_reference		*ref = NULL;
	git_strarray		 specs;
	git_oid			 new;
	char			*head = NULL, *spec = NULL, *local = NULL;
	int			 rv = 1;

	if ((head = git_branch_ref(branch)) == NULL) {
		fprintf(stderr, "invalid branch name '%s'\n", branch);
		goto out;
	}
	if (git_oid_fromstr(&w->expected, expected) < 0 ||
	    git_oid_fromstr(&new, commit) < 0) {
		fprintf(stderr, "invalid commit id\n");
		goto out;
	}
	w->ref = head;
	/*
	 * libgit2 pushes only from a reference: a temporary one per commit
	 * (so writers sharing the cache never meet), removed afterwards.
	 * Never "+": libgit2 refuses a non-fast-forward itself too.
	 */
	xasprintf(&local, "refs/%s/%s", GIT_PUSH_REF_DIR, commit);
	xasprintf(&spec, "%s:%s", local, head);
	specs.strings = &spec;
	specs.count = 1;
	git_push_options_init(&opts, GIT_PUSH_OPTIONS_VERSION);
	opts.callbacks.credentials = worker_cred_cb;
	opts.callbacks.certificate_check = worker_cert_cb;
	opts.callbacks.push_negotiation = worker_push_negotiation_cb;
	opts.callbacks.push_update_reference = worker_push_update_cb;
	opts.callbacks.sideband_progress = worker_sideband_cb;
	opts.callbacks.payload = w;
	opts.pb_parallelism = 1;

	if (git_repository_open_bare(&repo, dir) < 0 ||
	    worker_remote(repo, &remote, w) < 0 ||
	    git_reference_create(&ref, repo, local, &new, 1,
	    "gitops-agent push") < 0) {
		fprintf(stderr, "%s\n", git_errmsg());
		goto out;
	}
	if (git_remote_push(remote, &specs, &opts) < 0) {
		if (w->stale) {
			printf("%s\n", GIT_PUSH_STALE_LINE);
			rv = 0;
		} else if (w->status != NULL) {
			printf("%s\n%s\n", GIT_PUSH_REJECTED_LINE, w->status);
			worker_print_remote(&w->remote_msg);
			rv = 0;
		} else
			fprintf(stderr, "%s\n", git_errmsg());
		goto out;
	}
	/* libgit2 returns 0 for a refused ref: its status says so. */
	if (w->status != NULL) {
		printf("%s\n%s\n", GIT_PUSH_REJECTED_LINE, w->status);
		worker_print_remote(&w->remote_msg);
	} else
		printf("%s\n", GIT_PUSH_OK_LINE);
	rv = 0;
out:
	if (fflush(stdout) != 0)
		rv = 1;
	if (ref != NULL)
		git_reference_delete(ref);
	git_reference_free(ref);
	git_remote_free(remote);
	git_repository_free(repo);
	free(head);
	free(spec);
	free(local);
	return (rv);
}

int
git_worker_main(int argc, char **argv)
{
	struct worker	w;
	int		rv;

	if (!(argc == 5 && strcmp(argv[1], GIT_WORKER_ARG) == 0 &&
	    strcmp(argv[2], "fetch") == 0) &&
	    !(argc == 7 && strcmp(argv[1], GIT_WORKER_ARG) == 0 &&
	    strcmp(argv[2], "push") == 0)) {
		fprintf(stderr, "usage: %s fetch DIR BRANCH\n"
		    "       %s push DIR BRANCH EXPECTED COMMIT\n",
		    GIT_WORKER_ARG, GIT_WORKER_ARG);
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
	memset(&w, 0, sizeof w);
	buf_init(&w.remote_msg);
	w.input = worker_read_input();
	worker_parse_input(&w);
	if (strcmp(argv[2], "fetch") == 0)
		rv = worker_fetch(argv[3], argv[4], &w);
	else
		rv = worker_push(argv[3], argv[4], argv[5], argv[6], &w);
	freezero_string(w.input);
	free(w.known_name);
	free(w.status);
	buf_free(&w.remote_msg);
	git_libgit2_shutdown();
	return (rv);
}
