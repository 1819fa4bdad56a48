/*
 * secrets.c: the webhook secrets of a repository. A webhook_secret_file
 * may hold several, one a line (blank lines ignored), any of which
 * verifies, so a secret is rotated without a cutover: add the new one,
 * change the provider, remove the old one. The file is read when the
 * configuration is loaded (at start and on SIGHUP) and again when it
 * changes: its inode, size and modification time are looked at, at most
 * once a second, when a delivery is checked. A webhook_secret_env holds
 * one secret, read once.
 *
 * Loaded by whoever loads the configuration; refreshed and read on the
 * loop thread only (jobs never read webhook secrets). Never logs a secret,
 * a line of the file or how long one is; wipes every copy it frees.
 */
#include "config.h"

#include <sys/stat.h>

#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* A changed file is noticed at most this long after it changed. */
#define SECRETS_CHECK_MS	1000

static void
secrets_wipe(struct secrets *s)
{
	size_t	i;

	for (i = 0; i < s->n; i++) {
		explicit_bzero(s->v[i], s->lens[i]);
		free(s->v[i]);
	}
	free(s->v);
	free(s->lens);
	s->v = NULL;
	s->lens = NULL;
	s->n = 0;
}

void
secrets_clear(struct secrets *s)
{
	secrets_wipe(s);
	free(s->file);
	memset(s, 0, sizeof *s);
}

static void
secrets_add(struct secrets *s, const char *v, size_t len)
{
	s->v = xreallocarray(s->v, s->n + 1, sizeof *s->v);
	s->lens = xreallocarray(s->lens, s->n + 1, sizeof *s->lens);
	s->v[s->n] = xstrndup(v, len);
	s->lens[s->n++] = len;
}

/* The lines of data into s (its old secrets wiped); -1 if none. */
static int
secrets_split(struct secrets *s, const char *data, size_t len)
{
	const char	*p = data, *end = data + len, *nl;
	size_t		 n;

	secrets_wipe(s);
	while (p < end) {
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		n = nl - p;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > 0)
			secrets_add(s, p, n);
		p = nl + (nl < end);
	}
	return (s->n == 0 ? -1 : 0);
}

/* Read s->file into s; on failure s is as it was. */
static int
secrets_read(struct secrets *s, char **cause)
{
	struct secrets	 fresh;
	struct stat	 st;
	char		*data;
	size_t		 len;
	int		 rc;

	memset(&fresh, 0, sizeof fresh);
	memset(&st, 0, sizeof st);
	/* stat before reading: a change during the read is seen next time */
	(void)stat(s->file, &st);
	if (config_read_secret(s->file, NULL, &data, &len, cause) == -1)
		return (-1);
	rc = secrets_split(&fresh, data, len);
	explicit_bzero(data, len);
	free(data);
	if (rc == -1) {
		xasprintf(cause, "secret file '%s' holds no secret", s->file);
		return (-1);
	}
	secrets_wipe(s);
	s->v = fresh.v;
	s->lens = fresh.lens;
	s->n = fresh.n;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = st.st_size;
	s->mtime = st.st_mtim;
	return (0);
}

int
secrets_load(struct secrets *s, const char *file, const char *env,
    char **cause)
{
	char	*v;
	size_t	 len;

	memset(s, 0, sizeof *s);
	if (file == NULL) {
		if (config_read_secret(NULL, env, &v, &len, cause) == -1)
			return (-1);
		secrets_add(s, v, len);
		explicit_bzero(v, len);
		free(v);
		return (0);
	}
	s->file = xstrdup(file);
	s->checked_ms = time_now_ms();
	if (secrets_read(s, cause) == -1) {
		secrets_clear(s);
		return (-1);
	}
	return (0);
}

void
secrets_refresh(struct secrets *s, uint64_t now_ms)
{
	struct stat	 st;
	char		*cause = NULL;

	if (s->file == NULL || now_ms - s->checked_ms < SECRETS_CHECK_MS)
		return;
	s->checked_ms = now_ms;
	if (stat(s->file, &st) == 0 && st.st_dev == s->dev &&
	    st.st_ino == s->ino && st.st_size == s->size &&
	    st.st_mtim.tv_sec == s->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == s->mtime.tv_nsec)
		return;
	if (secrets_read(s, &cause) == -1) {
		log_event(LOG_LEVEL_WARN, "cannot read the webhook secret "
		    "file again: the secrets read before stay", "error", cause,
		    NULL);
		free(cause);
		return;
	}
	log_event(LOG_LEVEL_INFO, "webhook secret file changed: read again",
	    "file", s->file, NULL);
}
