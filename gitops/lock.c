/*
 * lock.c: an exclusive lock on a file, held between processes and between
 * threads of one process, that names its holder to whoever waits.
 *
 * flock(2) on a descriptor of our own: the lock belongs to the open file,
 * so two threads (or the CLI and the daemon) opening the file conflict,
 * and the kernel drops it when its holder dies (nothing to clean up after
 * a crash). The lock file itself is never written (a sync that changes
 * nothing writes nothing in its target). Given a folder for records, the
 * holder writes there, in a file named by the lock file's device and
 * inode (however its path is spelled), one line "PID SINCE_MS OWNER": who
 * holds it (lock_set_owner: "gitops-agent serve"; else its command line)
 * and since when, removed before the lock is released. A waiter trusts
 * that line only when the holder the kernel lists in /proc/locks (found
 * as lslocks finds it, by the file's device and inode) has its pid: a
 * line a dead holder left, or one being written, is never shown. Without
 * a matching line the holder is named from /proc/PID/cmdline, or as
 * "another process" where /proc says nothing.
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
	char	*record;	/* the holder's line, removed at release */
};

/* Who this process says it is in the records of the locks it holds. */
static char	*lock_owner;

/* Make text from anyone safe to show: printable, no quote or backslash. */
static void
lock_printable(char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\0')
			s[i] = ' ';
		else if (!isprint((unsigned char)s[i]) || s[i] == '"' ||
		    s[i] == '\\')
			s[i] = '?';
	}
}

void
lock_set_owner(const char *owner)
{
	free(lock_owner);
	lock_owner = owner != NULL ? xstrdup(owner) : NULL;
}

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
	lock_printable(buf, (size_t)n);
	base = buf;
	for (i = 0; i < (ssize_t)len0; i++) {
		if (buf[i] == '/')
			base = buf + i + 1;
	}
	return (xstrdup(base));
}

/* Where the holder of the lock file fd is open on writes its line. */
static char *
lock_record_path(const char *records, int fd)
{
	struct stat	 st;
	char		*path;

	if (records == NULL || fstat(fd, &st) == -1)
		return (NULL);
	xasprintf(&path, "%s/holder-%ju-%ju", records,
	    (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
	return (path);
}

/*
 * The holder's own line: "OWNER (pid N) since TIME" when pid wrote it,
 * else NULL.
 */
static char *
lock_record(const char *records, int lfd, long pid)
{
	char		 buf[LOCK_CMD_MAX + 64], at[TIME_FORMAT_LEN];
	char		*nl, *owner, *out, *path;
	ssize_t		 n;
	long		 rpid;
	unsigned long long since;
	int		 fd, off = 0;

	if ((path = lock_record_path(records, lfd)) == NULL)
		return (NULL);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd == -1)
		return (NULL);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return (NULL);
	buf[n] = '\0';
	if ((nl = strchr(buf, '\n')) == NULL)
		return (NULL);
	*nl = '\0';
	if (sscanf(buf, "%ld %llu %n", &rpid, &since, &off) != 2 ||
	    off == 0 || rpid != pid || buf[off] == '\0')
		return (NULL);
	owner = buf + off;
	lock_printable(owner, strlen(owner));
	time_format(since, at, sizeof at);
	xasprintf(&out, "%s (pid %ld) since %s", owner, pid, at);
	return (out);
}

/*
 * Write who holds the lock now (best effort: only shown to waiters); its
 * path, or NULL.
 */
static char *
lock_write_record(const char *records, int lfd)
{
	char	 line[LOCK_CMD_MAX + 64], *owner, *path;
	int	 len, fd;

	if ((path = lock_record_path(records, lfd)) == NULL)
		return (NULL);
	owner = lock_owner != NULL ? xstrdup(lock_owner) :
	    lock_command((long)getpid());
	len = snprintf(line, sizeof line, "%ld %llu %.*s\n", (long)getpid(),
	    (unsigned long long)time_now_ms(), LOCK_CMD_MAX,
	    owner != NULL ? owner : "?");
	free(owner);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1 || len <= 0 || (size_t)len >= sizeof line) {
		if (fd != -1)
			close(fd);
		free(path);
		return (NULL);
	}
	/* Written before the old tail is cut: a reader sees a whole line. */
	if (pwrite(fd, line, (size_t)len, 0) == len)
		(void)ftruncate(fd, len);
	close(fd);
	return (path);
}

/* Who holds the flock on the file fd is open on. */
static char *
lock_holder(const char *records, int fd)
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
		if ((out = lock_record(records, fd, pid)) != NULL)
			break;
		if ((cmd = lock_command(pid)) != NULL) {
			xasprintf(&out, "%s (pid %ld)", cmd, pid);
			free(cmd);
		} else
			xasprintf(&out, "pid %ld", pid);
	}
	fclose(f);
	return (out != NULL ? out : xstrdup("another process"));
}

int
lock_take(const char *path, const char *records, uint64_t wait_ms,
    const int *stop, struct lock **lp, char **holder, char **cause)
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
			*holder = lock_holder(records, fd);
			close(fd);
			return (1);
		}
		time_sleep_ms(LOCK_POLL_MS);
	}
	*lp = xcalloc(1, sizeof **lp);
	(*lp)->fd = fd;
	(*lp)->record = lock_write_record(records, fd);
	return (0);
}

void
lock_release(struct lock *l)
{
	if (l == NULL)
		return;
	/* Gone while still held: it can only be ours. */
	if (l->record != NULL)
		(void)unlink(l->record);
	free(l->record);
	/* Closing the only descriptor of the open file drops the flock. */
	close(l->fd);
	free(l);
}
