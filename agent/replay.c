/*
 * replay.c: the digests of signed deploy bodies that landed, so that a
 * captured request replayed later (with a new delivery id, or none) is
 * refused. A webhook's HMAC covers only its body: the body's digest is
 * what identifies a request, whatever its headers say.
 *
 * Kept in STATE_DIR/deployments-landed, one "DIGEST MILLISECONDS" line a
 * request, appended and synced when a deploy lands, so a restart still
 * knows them. Entries are kept REPLAY_KEEP_MS (more than the 7 days
 * promised) and at most REPLAY_MAX of them (the oldest go first), so the
 * file and the table stay bounded; the file is rewritten without the
 * expired ones when it is opened.
 *
 * Runs on the daemon's loop thread only. Never holds a secret: a digest of
 * a signed body tells nothing of the key.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

#define REPLAY_FILE	"deployments-landed"
#define REPLAY_LINE	(64 + 1 + 20 + 1)

struct replay_entry {
	uint64_t	 at;		/* landed, ms since the epoch */
	uint64_t	 seq;		/* order of recording */
};

struct replay {
	char		*path;
	struct strmap	*seen;		/* digest -> struct replay_entry */
	uint64_t	 seq;
	uint64_t	 keep_ms;
	size_t		 max;
};

static int
replay_digest_ok(const char *s, size_t len)
{
	return (len == 64 && strspn(s, "0123456789abcdef") >= 64);
}

static void
replay_put(struct replay *r, const char *digest, uint64_t at)
{
	struct replay_entry	*e = xmalloc(sizeof *e);

	e->at = at;
	e->seq = ++r->seq;
	free(strmap_put(r->seen, digest, e));
}

/* Drop entries older than keep_ms, then, at max, all but the max/2 newest. */
static void
replay_trim(struct replay *r, uint64_t now)
{
	struct replay_entry	*e;
	struct strv		 old;
	const char		*k;
	uint64_t		 cut = 0;
	size_t			 cursor = 0, i;

	memset(&old, 0, sizeof old);
	if (strmap_count(r->seen) >= r->max)
		cut = r->seq - r->max / 2;
	while (strmap_next(r->seen, &cursor, &k, (void **)&e)) {
		/*
		 * One from the future (the clock was set back) is kept: it
		 * ages from its own time, never dropped for the clock's sake.
		 */
		if ((e->at < now && now - e->at > r->keep_ms) || e->seq <= cut)
			strv_add(&old, k);
	}
	for (i = 0; i < old.n; i++)
		free(strmap_remove(r->seen, old.v[i]));
	strv_free(&old);
}

struct replay_line {
	const char	*digest;
	uint64_t	 at;
	uint64_t	 seq;
};

static int
replay_line_cmp(const void *a, const void *b)
{
	const struct replay_line	*x = a, *y = b;

	return (x->seq < y->seq ? -1 : x->seq > y->seq);
}

/*
 * The file again from the table (atomically), after a trim; in the order
 * recorded, so that a reopen still knows which are the newest.
 */
static int
replay_rewrite(struct replay *r, char **cause)
{
	struct replay_entry	*e;
	struct replay_line	*lines;
	struct buf		 b;
	const char		*k;
	size_t			 cursor = 0, i, n = strmap_count(r->seen);
	int			 rc;

	lines = xcalloc(n + 1, sizeof *lines);
	for (i = 0; strmap_next(r->seen, &cursor, &k, (void **)&e); i++) {
		lines[i].digest = k;
		lines[i].at = e->at;
		lines[i].seq = e->seq;
	}
	qsort(lines, n, sizeof *lines, replay_line_cmp);
	buf_init(&b);
	for (i = 0; i < n; i++)
		buf_printf(&b, "%s %llu\n", lines[i].digest,
		    (unsigned long long)lines[i].at);
	free(lines);
	rc = file_write_atomic(r->path, b.data != NULL ? b.data : "", b.len,
	    0600, cause);
	buf_free(&b);
	return (rc);
}

struct replay *
replay_open(const char *state_dir, uint64_t keep_ms, size_t max,
    char **cause)
{
	struct replay	*r = xcalloc(1, sizeof *r);
	char		*data = NULL, *line, *next, *end;
	size_t		 len, n = 0;
	int		 torn = 0;
	unsigned long long at;

	r->path = path_join(state_dir, REPLAY_FILE);
	r->seen = strmap_new(64);
	r->keep_ms = keep_ms;
	r->max = max < 2 ? 2 : max;
	if (file_read(r->path, (r->max + 16) * REPLAY_LINE * 2, &data, &len,
	    cause) == -1) {
		if (errno != ENOENT)
			goto fail;
		free(*cause);
		*cause = NULL;
		return (r);
	}
	for (line = data; line < data + len; line = next) {
		if ((next = memchr(line, '\n', data + len - line)) == NULL) {
			/* Cut by a crash: never landed; rewritten below. */
			torn = 1;
			break;
		}
		*next++ = '\0';
		n++;
		if (strlen(line) < 66 || line[64] != ' ' ||
		    !replay_digest_ok(line, 64))
			continue;
		errno = 0;
		at = strtoull(line + 65, &end, 10);
		if (errno != 0 || *end != '\0' || end == line + 65)
			continue;
		line[64] = '\0';
		replay_put(r, line, at);
	}
	free(data);
	replay_trim(r, time_now_ms());
	/* A record appended after a torn line must start a line of its own. */
	if ((torn || strmap_count(r->seen) != n) &&
	    replay_rewrite(r, cause) == -1)
		goto fail;
	return (r);
fail:
	replay_free(r);
	return (NULL);
}

void
replay_free(struct replay *r)
{
	size_t	 cursor = 0;
	void	*v;

	if (r == NULL)
		return;
	while (strmap_next(r->seen, &cursor, NULL, &v))
		free(v);
	strmap_free(r->seen);
	free(r->path);
	free(r);
}

int
replay_landed(const struct replay *r, const char *digest)
{
	struct replay_entry	*e = strmap_get(r->seen, digest);
	uint64_t		 now = time_now_ms();

	return (e != NULL && (e->at >= now || now - e->at <= r->keep_ms));
}

int
replay_record(struct replay *r, const char *digest, char **cause)
{
	uint64_t	 now = time_now_ms();
	char		 line[REPLAY_LINE + 1];
	int		 fd, n;

	if (!replay_digest_ok(digest, strlen(digest))) {
		xasprintf(cause, "not a SHA-256 digest");
		return (-1);
	}
	if (strmap_count(r->seen) >= r->max) {
		replay_trim(r, now);
		replay_put(r, digest, now);
		return (replay_rewrite(r, cause));
	}
	replay_put(r, digest, now);
	n = snprintf(line, sizeof line, "%s %llu\n", digest,
	    (unsigned long long)now);
	if ((fd = open(r->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) == -1) {
		xasprintf(cause, "cannot open '%s': %s", r->path,
		    strerror(errno));
		return (-1);
	}
	if (write(fd, line, n) != n || fsync(fd) == -1) {
		close(fd);
		/* A short append would tear the file: write it whole. */
		return (replay_rewrite(r, cause));
	}
	close(fd);
	return (0);
}
