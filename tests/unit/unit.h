/*
 * unit.h: what every cmocka program shares: scratch directories and files.
 * Fixtures live in a fresh temporary directory removed at the end.
 */
#ifndef UNIT_H
#define UNIT_H

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
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

/*
 * The Kubernetes API server double (tests/kube/kube-double, $KUBE_DOUBLE
 * as the Makefile sets it) run in a scratch directory: its URL, CA and
 * admin token read back. A test skips without it, and fails under CI (CI
 * set), as tests/lib.sh's test_kube_prereq does.
 */
struct unit_kube {
	char	*dir;
	pid_t	 pid;
	char	*url;		/* https://127.0.0.1:PORT */
	char	*ca;		/* PEM */
	char	*admin;		/* the admin token, for /double/ knobs */
};

static inline void
unit_kube_start(struct unit_kube *k)
{
	const char			*bin = getenv("KUBE_DOUBLE");
	const char			*argv[4];
	char				*kc, *nl;
	posix_spawn_file_actions_t	 fa;
	int				 i;

	memset(k, 0, sizeof *k);
	if (bin == NULL || access(bin, X_OK) != 0) {
		if (getenv("CI") != NULL && *getenv("CI") != '\0')
			fail_msg("the Kubernetes double is missing (%s): go "
			    "not found at build time", bin != NULL ? bin :
			    "KUBE_DOUBLE unset");
		skip();
	}
	k->dir = unit_mkdtemp();
	kc = path_join(k->dir, "log");
	argv[0] = bin;
	argv[1] = "--dir";
	argv[2] = k->dir;
	argv[3] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, kc, O_WRONLY | O_CREAT, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	assert_int_equal(posix_spawn(&k->pid, bin, &fa, NULL,
	    (char *const *)argv, environ),
	    0);
	posix_spawn_file_actions_destroy(&fa);
	free(kc);
	/* Readiness by polling: the kubeconfig is written last. */
	kc = path_join(k->dir, "kubeconfig");
	for (i = 0; i < 600 && access(kc, R_OK) != 0; i++)
		time_sleep_ms(50);
	free(kc);
	assert_non_null(k->url = unit_read(k->dir, "url"));
	assert_non_null(k->ca = unit_read(k->dir, "ca.crt"));
	assert_non_null(k->admin = unit_read(k->dir, "admin-token"));
	if ((nl = strchr(k->url, '\n')) != NULL)
		*nl = '\0';
	if ((nl = strchr(k->admin, '\n')) != NULL)
		*nl = '\0';
}

static inline void
unit_kube_stop(struct unit_kube *k)
{
	int	status;

	if (k->pid > 0) {
		kill(k->pid, SIGTERM);
		waitpid(k->pid, &status, 0);
	}
	if (k->dir != NULL)
		unit_rmtree(k->dir);
	free(k->dir);
	free(k->url);
	free(k->ca);
	free(k->admin);
	memset(k, 0, sizeof *k);
}

/*
 * A file the double wrote (kubeconfig, token.kubeconfig), as a path
 * (allocated).
 */
static inline char *
unit_kube_path(const struct unit_kube *k, const char *name)
{
	return (path_join(k->dir, name));
}

/*
 * METHOD /double/KNOB with an optional JSON body; the answer's body
 * (allocated) when out is not NULL. Any failure ends the test.
 */
static inline void
unit_kube_admin(const struct unit_kube *k, const char *method,
    const char *knob, const char *json, char **out)
{
	struct http_req		 req;
	struct http_response	 resp;
	char			*url, *cause = NULL;

	xasprintf(&url, "%s/double/%s", k->url, knob);
	memset(&req, 0, sizeof req);
	req.method = method;
	req.url = url;
	req.body = json;
	req.bodylen = json != NULL ? strlen(json) : 0;
	req.timeout_ms = 30000;
	req.ca_blob = k->ca;
	req.ca_blob_len = strlen(k->ca);
	req.bearer = k->admin;
	if (http_send(&req, &resp, &cause) == -1)
		fail_msg("%s %s: %s", method, url, cause);
	if (resp.status != 200)
		fail_msg("%s %s: %d %s", method, url, resp.status, resp.body);
	if (out != NULL) {
		*out = resp.body;
		resp.body = NULL;
	}
	http_response_free(&resp);
	free(url);
}

#endif /* UNIT_H */
