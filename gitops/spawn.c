/*
 * spawn.c: run an external program with an argv (never through a shell),
 * feed it its input, capture its stdout and stderr up to a bound, and stop
 * it at a deadline, or at once when the caller's stop flag is set (the
 * agent is shutting down: SIGKILL follows SIGTERM after STOP_POLL_MS).
 *
 * Used by rendering (kubectl kustomize), and later by hooks, health
 * commands and ssh-keygen. Called from worker threads: no globals, only
 * this thread's signal mask is touched (SIGPIPE is blocked while we write
 * the child's input). The child runs in its own process group, so a
 * timeout reaches the grandchildren it started (a shell's pipeline, a
 * kubectl plugin); when the child exits, whatever is left of its group is
 * killed, so nothing it started outlives the run.
 *
 * Never blocks without a deadline once one is set; never logs.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gitops.h"

extern char **environ;

#define SPAWN_DEFAULT_MAX_OUTPUT	(1024 * 1024)
/* After SIGTERM at the deadline, how long before SIGKILL. */
#define SPAWN_KILL_GRACE_MS		1000
/* After the child exited, how long to drain pipes held open elsewhere. */
#define SPAWN_DRAIN_GRACE_MS		1000
/* How often to look for the child's exit when no pidfd is available. */
#define SPAWN_POLL_INTERVAL_MS		20
#define SPAWN_READ_CHUNK		16384

struct spawn_stream {
	int		 fd;
	struct buf	 b;
	size_t		 max;
	int		 truncated;
};

static int
spawn_is_executable(const char *path)
{
	struct stat	st;

	if (stat(path, &st) == -1 || !S_ISREG(st.st_mode))
		return (0);
	return (access(path, X_OK) == 0);
}

char *
spawn_find_program(const char *name)
{
	const char	*path, *s, *e;
	char		*dir, *full;
	size_t		 n;

	if (name == NULL || *name == '\0')
		return (NULL);
	if (strchr(name, '/') != NULL) {
		if (spawn_is_executable(name))
			return (xstrdup(name));
		return (NULL);
	}
	if ((path = getenv("PATH")) == NULL || *path == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	for (s = path;; s = e + 1) {
		e = strchr(s, ':');
		n = e != NULL ? (size_t)(e - s) : strlen(s);
		/* An empty element means the current directory. */
		dir = n == 0 ? xstrdup(".") : xstrndup(s, n);
		full = path_join(dir, name);
		free(dir);
		if (spawn_is_executable(full))
			return (full);
		free(full);
		if (e == NULL)
			break;
	}
	return (NULL);
}

void
spawn_result_free(struct spawn_result *r)
{
	if (r == NULL)
		return;
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof *r);
}

/*
 * A pipe whose ends are close-on-exec (other threads may spawn at the same
 * time) and above the standard descriptors, so that the dup2 file actions
 * in the child can never overwrite one end with another.
 */
static int
spawn_pipe(int fds[2])
{
	int	i, fd;

	if (pipe2(fds, O_CLOEXEC) == -1)
		return (-1);
	for (i = 0; i < 2; i++) {
		if (fds[i] > STDERR_FILENO)
			continue;
		if ((fd = fcntl(fds[i], F_DUPFD_CLOEXEC,
		    STDERR_FILENO + 1)) == -1) {
			close(fds[0]);
			close(fds[1]);
			return (-1);
		}
		close(fds[i]);
		fds[i] = fd;
	}
	return (0);
}

static void
spawn_close(int *fd)
{
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

static int
spawn_set_nonblock(int fd)
{
	int	flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return (-1);
	return (fcntl(fd, F_SETFL, flags | O_NONBLOCK));
}

/* Read what is there; past the bound, keep reading and drop it. */
static void
spawn_read(struct spawn_stream *st)
{
	char	chunk[SPAWN_READ_CHUNK];
	ssize_t	n;
	size_t	keep;

	for (;;) {
		n = read(st->fd, chunk, sizeof chunk);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* End of file, or an error: nothing more to read. */
			spawn_close(&st->fd);
			return;
		}
		keep = (size_t)n;
		if (st->b.len + keep > st->max) {
			keep = st->max - st->b.len;
			st->truncated = 1;
		}
		if (keep != 0)
			buf_add(&st->b, chunk, keep);
	}
}

/* Signal the child's whole process group, and the child itself. */
static void
spawn_signal(pid_t pid, int sig)
{
	kill(-pid, sig);
	kill(pid, sig);
}

/*
 * Has the child exited? Looks without reaping it, so that its pid, and so
 * its process group id, cannot be reused while we still signal the group.
 * SPAWN_GONE: someone else reaped it (a careless waitpid(-1) elsewhere);
 * its pid may already be another process's, so it must not be signalled.
 */
enum spawn_state {
	SPAWN_RUNNING,
	SPAWN_EXITED,
	SPAWN_GONE,
};

static enum spawn_state
spawn_exited(pid_t pid)
{
	siginfo_t	si;

	for (;;) {
		memset(&si, 0, sizeof si);
		if (waitid(P_PID, (id_t)pid, &si,
		    WEXITED | WNOHANG | WNOWAIT) == 0)
			return (si.si_pid == pid ? SPAWN_EXITED :
			    SPAWN_RUNNING);
		if (errno != EINTR)
			return (SPAWN_GONE);
	}
}

static int
spawn_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	long	fd;

	fd = syscall(SYS_pidfd_open, pid, 0);
	if (fd >= 0) {
		if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) == -1) {
			close((int)fd);
			return (-1);
		}
		return ((int)fd);
	}
#endif
	return (-1);
}

static int
spawn_prepare(char *const *argv, const struct spawn_opts *opts,
    posix_spawn_file_actions_t *fa, posix_spawnattr_t *attr,
    const int in[2], const int out[2], const int err[2], char **cause)
{
	sigset_t	 set;
	int		 error, have_fa = 0, have_attr = 0;
	const char	*what;

	what = "file actions";
	if ((error = posix_spawn_file_actions_init(fa)) != 0)
		goto fail;
	have_fa = 1;
	if (in[0] != -1)
		error = posix_spawn_file_actions_adddup2(fa, in[0],
		    STDIN_FILENO);
	else
		error = posix_spawn_file_actions_addopen(fa, STDIN_FILENO,
		    "/dev/null", O_RDONLY, 0);
	if (error != 0)
		goto fail;
	if ((error = posix_spawn_file_actions_adddup2(fa, out[1],
	    STDOUT_FILENO)) != 0)
		goto fail;
	if ((error = posix_spawn_file_actions_adddup2(fa, err[1],
	    STDERR_FILENO)) != 0)
		goto fail;
#if defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	/*
	 * Descriptors another part of the daemon opened without
	 * close-on-exec must not reach the child.
	 */
	if ((error = posix_spawn_file_actions_addclosefrom_np(fa,
	    STDERR_FILENO + 1)) != 0)
		goto fail;
#endif
	if (opts->cwd != NULL) {
#if defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29))
		if ((error = posix_spawn_file_actions_addchdir_np(fa,
		    opts->cwd)) != 0)
			goto fail;
#else
		error = ENOTSUP;
		what = "working directory";
		goto fail;
#endif
	}

	what = "attributes";
	if ((error = posix_spawnattr_init(attr)) != 0)
		goto fail;
	have_attr = 1;
	/* The daemon blocks and handles signals; the child starts clean. */
	sigemptyset(&set);
	if ((error = posix_spawnattr_setsigmask(attr, &set)) != 0)
		goto fail;
	sigfillset(&set);
	sigdelset(&set, SIGKILL);
	sigdelset(&set, SIGSTOP);
	if ((error = posix_spawnattr_setsigdefault(attr, &set)) != 0)
		goto fail;
	if ((error = posix_spawnattr_setpgroup(attr, 0)) != 0)
		goto fail;
	if ((error = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) != 0)
		goto fail;
	return (0);

fail:
	if (have_fa)
		posix_spawn_file_actions_destroy(fa);
	if (have_attr)
		posix_spawnattr_destroy(attr);
	xasprintf(cause, "cannot prepare to run '%s': %s: %s", argv[0], what,
	    strerror(error));
	return (-1);
}

/*
 * Talk to the running child until it exits and its pipes are drained
 * (killing it at the deadline), then reap it. Returns -1 only when poll
 * or wait fails; the child is killed and reaped all the same.
 */
static int
spawn_wait(pid_t pid, const struct spawn_opts *opts, int *infd,
    struct spawn_stream *so, struct spawn_stream *se,
    struct spawn_result *r, char **cause)
{
	struct pollfd	 pfd[4];
	struct spawn_stream *streams[2] = { so, se };
	uint64_t	 now, deadline = 0, kill_at = 0, drain_until = 0;
	size_t		 inoff = 0, i;
	enum spawn_state state = SPAWN_RUNNING;
	int		 pidfd, n, timeout, leader_gone = 0, status, rv = -1;
	int		 signalled = 0;	/* SIGTERM sent: deadline or stop */
	ssize_t		 w;

	if (opts->timeout_ms != 0) {
		now = time_monotonic_ms();
		deadline = opts->timeout_ms > UINT64_MAX / 2 ? UINT64_MAX :
		    now + opts->timeout_ms;
	}
	pidfd = spawn_pidfd(pid);

	for (;;) {
		if (!leader_gone && (state = spawn_exited(pid)) !=
		    SPAWN_RUNNING) {
			leader_gone = 1;
			if (state == SPAWN_GONE) {
				xasprintf(cause, "cannot wait for child %ld: "
				    "%s", (long)pid, strerror(ECHILD));
				goto out;
			}
			/*
			 * The child is a zombie, so its group id is still
			 * ours to signal: stop what it left behind.
			 */
			kill(-pid, SIGKILL);
			spawn_close(infd);
			drain_until = time_monotonic_ms() +
			    SPAWN_DRAIN_GRACE_MS;
		}
		if (leader_gone && so->fd == -1 && se->fd == -1)
			break;

		now = time_monotonic_ms();
		if (leader_gone && now >= drain_until)
			break;	/* a stray process holds the pipes open */
		if (!leader_gone && !r->timed_out && !r->stopped &&
		    opts->stop != NULL &&
		    __atomic_load_n(opts->stop, __ATOMIC_ACQUIRE) != 0) {
			/* Killed as at the deadline, the grace included. */
			r->stopped = 1;
			deadline = now;
		}
		if (!leader_gone && deadline != 0 && now >= deadline) {
			if (!signalled) {
				signalled = 1;
				r->timed_out = !r->stopped;
				spawn_signal(pid, SIGTERM);
				kill_at = now + (r->stopped ? STOP_POLL_MS :
				    SPAWN_KILL_GRACE_MS);
				spawn_close(infd);
			} else if (now >= kill_at) {
				spawn_signal(pid, SIGKILL);
				kill_at = UINT64_MAX;
			}
		}

		n = 0;
		for (i = 0; i < 2; i++) {
			if (streams[i]->fd == -1)
				continue;
			pfd[n].fd = streams[i]->fd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			n++;
		}
		if (*infd != -1) {
			pfd[n].fd = *infd;
			pfd[n].events = POLLOUT;
			pfd[n].revents = 0;
			n++;
		}
		if (pidfd != -1 && !leader_gone) {
			pfd[n].fd = pidfd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			n++;
		}

		/* How long until something must happen without an event. */
		timeout = -1;
		if (leader_gone)
			timeout = (int)(drain_until - now);
		else if (signalled && kill_at != UINT64_MAX)
			timeout = kill_at > now ? (int)(kill_at - now) : 0;
		else if (!signalled && deadline != 0) {
			if (deadline - now > INT_MAX)
				timeout = INT_MAX;
			else
				timeout = (int)(deadline - now);
		}
		if (pidfd == -1 && !leader_gone &&
		    (timeout == -1 || timeout > SPAWN_POLL_INTERVAL_MS))
			timeout = SPAWN_POLL_INTERVAL_MS;
		if (opts->stop != NULL && !r->stopped && !leader_gone &&
		    (timeout == -1 || timeout > STOP_POLL_MS))
			timeout = STOP_POLL_MS;

		if (poll(pfd, (nfds_t)n, timeout) == -1) {
			if (errno == EINTR)
				continue;
			xasprintf(cause, "cannot wait for child %ld: poll: %s",
			    (long)pid, strerror(errno));
			goto out;
		}

		for (i = 0; i < (size_t)n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (pfd[i].fd == so->fd)
				spawn_read(so);
			else if (pfd[i].fd == se->fd)
				spawn_read(se);
			else if (pfd[i].fd == *infd) {
				if (pfd[i].revents & (POLLERR | POLLHUP)) {
					spawn_close(infd);
					continue;
				}
				w = write(*infd, opts->input + inoff,
				    opts->inputlen - inoff);
				if (w == -1 && (errno == EINTR ||
				    errno == EAGAIN || errno == EWOULDBLOCK))
					continue;
				if (w == -1) {
					/* EPIPE: it stopped reading, fine. */
					spawn_close(infd);
					continue;
				}
				inoff += (size_t)w;
				if (inoff == opts->inputlen)
					spawn_close(infd);
			}
		}
	}
	rv = 0;

out:
	if (pidfd != -1)
		close(pidfd);
	if (state == SPAWN_GONE)
		return (-1);
	if (!leader_gone) {
		/* Failing: do not leave the child running. */
		spawn_signal(pid, SIGKILL);
	}
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			if (rv == 0)
				xasprintf(cause, "cannot wait for child %ld: "
				    "%s", (long)pid, strerror(errno));
			return (-1);
		}
	}
	if (WIFEXITED(status)) {
		r->exited = 1;
		r->status = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		r->exited = 0;
		r->status = WTERMSIG(status);
	}
	return (rv);
}

int
spawn_run(char *const *argv, const struct spawn_opts *opts,
    struct spawn_result *r, char **cause)
{
	static const struct spawn_opts defaults;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct spawn_stream so, se;
	sigset_t	 pipeset, oldmask, pending;
	char		*prog = NULL, *abs;
	int		 in[2] = { -1, -1 }, out[2] = { -1, -1 };
	int		 err[2] = { -1, -1 }, error, have_fa = 0, rv = -1;
	int		 sigpipe_was_pending = 0, mask_set = 0;
	pid_t		 pid;

	memset(r, 0, sizeof *r);
	memset(&so, 0, sizeof so);
	memset(&se, 0, sizeof se);
	so.fd = se.fd = -1;
	if (opts == NULL)
		opts = &defaults;
	if (argv == NULL || argv[0] == NULL || *argv[0] == '\0') {
		xasprintf(cause, "cannot run a command: empty argv");
		return (-1);
	}

	/*
	 * A path is run as given. Check it first: posix_spawn reports exec
	 * failures only where it runs the child with CLONE_VFORK (not under
	 * valgrind, for one), and the error should not depend on that.
	 */
	if (strchr(argv[0], '/') != NULL) {
		if (access(argv[0], X_OK) == -1) {
			xasprintf(cause, "cannot run '%s': %s", argv[0],
			    strerror(errno));
			return (-1);
		}
		prog = xstrdup(argv[0]);
	} else if ((prog = spawn_find_program(argv[0])) == NULL) {
		xasprintf(cause, "cannot run '%s': %s", argv[0],
		    strerror(ENOENT));
		return (-1);
	}
	/* The child changes directory first: a relative path would move. */
	if (*prog != '/' && (abs = realpath(prog, NULL)) != NULL) {
		free(prog);
		prog = abs;
	}

	if ((opts->input != NULL && spawn_pipe(in) == -1) ||
	    spawn_pipe(out) == -1 || spawn_pipe(err) == -1) {
		xasprintf(cause, "cannot run '%s': pipe: %s", argv[0],
		    strerror(errno));
		goto fail;
	}
	if (spawn_prepare(argv, opts, &fa, &attr, in, out, err,
	    cause) == -1)
		goto fail;
	have_fa = 1;

	error = posix_spawn(&pid, prog, &fa, &attr, argv,
	    opts->envp != NULL ? opts->envp : environ);
	if (error != 0) {
		xasprintf(cause, "cannot run '%s': %s", argv[0],
		    strerror(error));
		goto fail;
	}
	spawn_close(&in[0]);
	spawn_close(&out[1]);
	spawn_close(&err[1]);

	so.fd = out[0];
	se.fd = err[0];
	out[0] = err[0] = -1;
	so.max = se.max = opts->max_output != 0 ? opts->max_output :
	    SPAWN_DEFAULT_MAX_OUTPUT;
	spawn_set_nonblock(so.fd);
	spawn_set_nonblock(se.fd);
	if (in[1] != -1) {
		spawn_set_nonblock(in[1]);
		if (opts->inputlen == 0)
			spawn_close(&in[1]);
	}

	/*
	 * A child that exits before reading all its input would raise
	 * SIGPIPE in this thread: block it, and take back one we caused.
	 */
	sigemptyset(&pipeset);
	sigaddset(&pipeset, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &pipeset, &oldmask) == 0) {
		mask_set = 1;
		if (sigpending(&pending) == 0)
			sigpipe_was_pending = sigismember(&pending, SIGPIPE);
	}

	rv = spawn_wait(pid, opts, &in[1], &so, &se, r, cause);

	if (mask_set) {
		if (!sigpipe_was_pending && sigpending(&pending) == 0 &&
		    sigismember(&pending, SIGPIPE)) {
			struct timespec zero = { 0, 0 };

			while (sigtimedwait(&pipeset, NULL, &zero) == -1 &&
			    errno == EINTR)
				;
		}
		pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
	}

	if (rv == 0) {
		r->truncated = so.truncated || se.truncated;
		r->outlen = so.b.len;
		r->out = buf_release(&so.b);
		r->errlen = se.b.len;
		r->err = buf_release(&se.b);
	}

fail:
	if (have_fa) {
		posix_spawn_file_actions_destroy(&fa);
		posix_spawnattr_destroy(&attr);
	}
	spawn_close(&in[0]);
	spawn_close(&in[1]);
	spawn_close(&out[0]);
	spawn_close(&out[1]);
	spawn_close(&err[0]);
	spawn_close(&err[1]);
	spawn_close(&so.fd);
	spawn_close(&se.fd);
	buf_free(&so.b);
	buf_free(&se.b);
	free(prog);
	if (rv == -1) {
		free(r->out);
		free(r->err);
		memset(r, 0, sizeof *r);
	}
	return (rv);
}
