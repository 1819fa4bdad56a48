/*
 * lock.c: an exclusive lock on a file, held between processes and between
 * threads of one process, that names its holder to whoever waits.
 *
 * flock(2) on a descriptor of our own: the lock belongs to the open file,
 * so two threads (or the CLI and the daemon) opening the file conflict,
 * and the kernel drops it when its holder dies (nothing to clean up after
 * a crash). The lock file is created once and never written, so holding
 * it changes nothing on disk; the holder is found the way lslocks finds
 * it, in /proc/locks by the file's device and inode, and its command in
 * /proc/PID/cmdline ("another process" where /proc says nothing).
 *
 * Runs in any thread; blocks at most the wait given, polling so that a
 * stop flag is honoured. Never deletes the lock file: a process that
 * opened it and waits would then lock a file nobody else sees.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gitops.h"

/* How often a waiter tries again. */
#define LOCK_POLL_MS	50
/* The longest command line shown for a holder. */
#define LOCK_CMD_MAX	120

struct lock {
	int	 fd;
};

/* The command line of pid, printable, or NULL. */
static char *
lock_command(long pid)
{
	char	 path[64], buf[LOCK_CMD_MAX + 1], *base;
	size_t	 len0;
	ssize_t	 n, i;
	int	 fd;

	snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (NULL);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return (NULL);
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	if (n == 0)
		return (NULL);
	buf[n] = '\0';
	/*
	 * The program's base name, then its arguments, shown safe: any
	 * process can choose them, and they end up in log lines.
	 */
	len0 = strlen(buf);
	for (i = 0; i < n; i++) {
		if (buf[i] == '\0')
			buf[i] = ' ';
		else if (!isprint((unsigned char)buf[i]) || buf[i] == '"' ||
		    buf[i] == '\\')
			buf[i] = '?';
	}
	base = buf;
	for (i = 0; i < (ssize_t)len0; i++) {
		if (buf[i] == '/')
			base = buf + i + 1;
	}
	return (xstrdup(base));
}

/* Who holds the flock on the file fd is open on: "pid N (CMD)". */
static char *
lock_holder(int fd)
{
	struct stat	 st;
	FILE		*f;
	char		 line[256], kind[16], *cmd, *out = NULL;
	unsigned int	 maj, min;
	uintmax_t	 ino;
	long		 pid;

	if (fstat(fd, &st) == -1 || (f = fopen("/proc/locks", "re")) == NULL)
		return (xstrdup("another process"));
	while (out == NULL && fgets(line, sizeof line, f) != NULL) {
		/* "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" */
		if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%ju", kind, &pid,
		    &maj, &min, &ino) != 5 || strcmp(kind, "FLOCK") != 0 ||
		    ino != (uintmax_t)st.st_ino || maj != major(st.st_dev) ||
		    min != minor(st.st_dev) || pid <= 0)
			continue;
		if ((cmd = lock_command(pid)) != NULL) {
			xasprintf(&out, "pid %ld (%s)", pid, cmd);
			free(cmd);
		} else
			xasprintf(&out, "pid %ld", pid);
	}
	fclose(f);
	return (out != NULL ? out : xstrdup("another process"));
}

int
lock_take(const char *path, uint64_t wait_ms, const int *stop,
    struct lock **lp, char **holder, char **cause)
{
	uint64_t	deadline = time_monotonic_ms() + wait_ms;
	int		fd;

	*lp = NULL;
	*holder = NULL;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		xasprintf(cause, "cannot open '%s': %s", path,
		    strerror(errno));
		return (-1);
	}
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			xasprintf(cause, "cannot lock '%s': %s", path,
			    strerror(errno));
			close(fd);
			return (-1);
		}
		if (time_monotonic_ms() >= deadline || (stop != NULL &&
		    __atomic_load_n(stop, __ATOMIC_ACQUIRE) != 0)) {
			*holder = lock_holder(fd);
			close(fd);
			return (1);
		}
		time_sleep_ms(LOCK_POLL_MS);
	}
	*lp = xcalloc(1, sizeof **lp);
	(*lp)->fd = fd;
	return (0);
}

void
lock_release(struct lock *l)
{
	if (l == NULL)
		return;
	/* Closing the only descriptor of the open file drops the flock. */
	close(l->fd);
	free(l);
}
