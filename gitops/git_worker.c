/*
 * git_worker.c: the killable worker process that runs a repository
 * cache's network operations (git_worker_main): a fetch or a
 * compare-and-swap push.
 *
 * Runs in a process of its own, this same program started again by
 * git.c with argv[1] GIT_WORKER_ARG and killed at the deadline, because
 * libgit2 1.5 has no network timeouts. Its credentials come on stdin and
 * must never be printed; an SSH server is trusted only by a pinned host
 * key or a known_hosts entry (worker_cert_cb); a push is never forced.
 * git:// remotes go over a TCP stream of our own (quick_*).
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
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/stream.h>

#include "gitops.h"
#include "git_int.h"

/* libgit2 may ask for credentials again and again after a refusal. */
#define GIT_CRED_MAX_CALLS	3
/* A push's temporary ref (see worker_push), and when one is stale. */
#define GIT_PUSH_REF_DIR	"gitops-agent/push"
#define GIT_PUSH_REF_STALE_MS	(2 * 60 * 60 * 1000)
/* What the worker keeps of the remote's messages on a refused push. */
#define GIT_REMOTE_MSG_MAX	4096

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
