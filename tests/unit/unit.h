/*
 * unit.h: what every cmocka program shares: scratch directories and files.
 * Fixtures live in a fresh temporary directory removed at the end.
 */
#ifndef UNIT_H
#define UNIT_H

#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gitops.h"

static inline char *
unit_mkdtemp(void)
{
	const char	*tmp = getenv("TMPDIR");
	char		*dir;

	xasprintf(&dir, "%s/gitops-unit.XXXXXX", tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	return (dir);
}

static inline int
unit_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return (remove(path));
}

static inline void
unit_rmtree(const char *dir)
{
	nftw(dir, unit_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* cmocka setup and teardown: a fresh scratch directory in *state. */
static inline int
unit_setup_dir(void **state)
{
	*state = unit_mkdtemp();
	return (0);
}

static inline int
unit_teardown_dir(void **state)
{
	unit_rmtree(*state);
	free(*state);
	return (0);
}

/* Write a file under dir, creating parent directories. */
static inline void
unit_write(const char *dir, const char *rel, const char *content)
{
	char	*path = path_join(dir, rel), *cause = NULL;

	if (file_write_atomic(path, content, strlen(content), 0644,
	    &cause) == -1)
		fatalx("unit_write: %s", cause);
	free(path);
}

/* Run a shell script in dir (git fixtures); any failure ends the test. */
static inline void
unit_sh(const char *dir, const char *script)
{
	const char		*argv[] = { "sh", "-ec", script, NULL };
	struct spawn_opts	 so;
	struct spawn_result	 sr;
	char			*cause = NULL;

	memset(&so, 0, sizeof so);
	so.cwd = dir;
	so.timeout_ms = 60000;
	if (spawn_run((char *const *)argv, &so, &sr, &cause) == -1)
		fatalx("fixture: %s", cause);
	if (!sr.exited || sr.status != 0)
		fatalx("fixture failed: %s\n%s", script, sr.err);
	spawn_result_free(&sr);
}

/* Read a file under dir; NULL if it does not exist. */
static inline char *
unit_read(const char *dir, const char *rel)
{
	char	*path = path_join(dir, rel), *cause = NULL;
	char	*out[1] = { NULL };
	size_t	 len;
	int	 rc;

	rc = file_read(path, 64 << 20, &out[0], &len, &cause);
	free(path);
	free(cause);
	return (rc == 0 ? out[0] : NULL);
}

/* Sets *flag ms after its start, from another thread, as a SIGTERM does. */
struct unit_stopper {
	int		*flag;
	uint64_t	 ms;
	pthread_t	 thread;
};

static inline void *
unit_stopper_run(void *arg)
{
	struct unit_stopper	*s = arg;

	time_sleep_ms(s->ms);
	__atomic_store_n(s->flag, 1, __ATOMIC_RELEASE);
	return (NULL);
}

static inline void
unit_stopper_start(struct unit_stopper *s, int *flag, uint64_t ms)
{
	s->flag = flag;
	s->ms = ms;
	if (pthread_create(&s->thread, NULL, unit_stopper_run, s) != 0)
		fatalx("cannot start a thread");
}

static inline void
unit_stopper_join(struct unit_stopper *s)
{
	pthread_join(s->thread, NULL);
}

/*
 * A socket listening on 127.0.0.1 (a free port, in *port) that nobody
 * accepts from: connections wait in its backlog, never answered (a hung
 * service), until the caller accepts or closes it.
 */
static inline int
unit_listen(int *port)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof sin;
	int			fd;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(listen(fd, 16), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	*port = ntohs(sin.sin_port);
	return (fd);
}

#endif /* UNIT_H */
