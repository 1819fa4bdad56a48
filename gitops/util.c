/*
 * util.c: small shared pieces: growable buffers, string maps and vectors,
 * error collection, whole-file reads, atomic writes, paths, durations and
 * Kubernetes name rules.
 *
 * Thread-safe (no globals). Never logs: failures go back in cause.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gitops.h"

void
buf_init(struct buf *b)
{
	memset(b, 0, sizeof *b);
}

static void
buf_reserve(struct buf *b, size_t extra)
{
	size_t	want;

	if (b->len + extra + 1 <= b->size)
		return;
	want = b->size == 0 ? 256 : b->size;
	while (want < b->len + extra + 1)
		want *= 2;
	b->data = xrealloc(b->data, want);
	b->size = want;
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("buf_printf: bad format");
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *
buf_release(struct buf *b)
{
	char	*p;

	if (b->data == NULL)
		return (xstrdup(""));
	p = b->data;
	buf_init(b);
	return (p);
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

struct strmap_slot {
	char	*key;
	void	*value;
	size_t	 hash;
};

struct strmap {
	struct strmap_slot	*slots;
	size_t			 size;	/* a power of two */
	size_t			 count;
};

static size_t
strmap_hash(const char *s)
{
	size_t	h = (size_t)1469598103934665603ULL;

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= (size_t)1099511628211ULL;
	}
	return (h);
}

struct strmap *
strmap_new(size_t hint)
{
	struct strmap	*m = xcalloc(1, sizeof *m);

	m->size = 16;
	while (m->size < hint * 2)
		m->size *= 2;
	m->slots = xcalloc(m->size, sizeof *m->slots);
	return (m);
}

void
strmap_free(struct strmap *m)
{
	size_t	i;

	if (m == NULL)
		return;
	for (i = 0; i < m->size; i++)
		free(m->slots[i].key);
	free(m->slots);
	free(m);
}

static struct strmap_slot *
strmap_slot(const struct strmap *m, const char *key, size_t h)
{
	size_t	i = h & (m->size - 1);

	for (;;) {
		struct strmap_slot *s = &m->slots[i];

		if (s->key == NULL ||
		    (s->hash == h && strcmp(s->key, key) == 0))
			return (s);
		i = (i + 1) & (m->size - 1);
	}
}

void *
strmap_get(const struct strmap *m, const char *key)
{
	struct strmap_slot	*s = strmap_slot(m, key, strmap_hash(key));

	return (s->key != NULL ? s->value : NULL);
}

static void
strmap_grow(struct strmap *m)
{
	struct strmap_slot	*old = m->slots;
	size_t			 oldsize = m->size, i;

	m->size *= 2;
	m->slots = xcalloc(m->size, sizeof *m->slots);
	for (i = 0; i < oldsize; i++) {
		if (old[i].key != NULL)
			*strmap_slot(m, old[i].key, old[i].hash) = old[i];
	}
	free(old);
}

void *
strmap_put(struct strmap *m, const char *key, void *value)
{
	struct strmap_slot	*s;
	size_t			 h = strmap_hash(key);
	void			*prev;

	if ((m->count + 1) * 4 > m->size * 3)
		strmap_grow(m);
	s = strmap_slot(m, key, h);
	if (s->key != NULL) {
		prev = s->value;
		s->value = value;
		return (prev);
	}
	s->key = xstrdup(key);
	s->hash = h;
	s->value = value;
	m->count++;
	return (NULL);
}

/*
 * Linear probing without tombstones: after emptying a slot, move back
 * every later entry of the run that the hole now keeps from its home.
 */
void *
strmap_remove(struct strmap *m, const char *key)
{
	struct strmap_slot	*s = strmap_slot(m, key, strmap_hash(key));
	size_t			 mask = m->size - 1, i, j, home;
	void			*prev;

	if (s->key == NULL)
		return (NULL);
	prev = s->value;
	free(s->key);
	i = (size_t)(s - m->slots);
	m->slots[i].key = NULL;
	m->count--;
	for (j = (i + 1) & mask; m->slots[j].key != NULL; j = (j + 1) & mask) {
		home = m->slots[j].hash & mask;
		/* Stays unless its home is cyclically outside (i, j]. */
		if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
			continue;
		m->slots[i] = m->slots[j];
		m->slots[j].key = NULL;
		i = j;
	}
	return (prev);
}

size_t
strmap_count(const struct strmap *m)
{
	return (m->count);
}

int
strmap_next(const struct strmap *m, size_t *cursor, const char **key,
    void **value)
{
	while (*cursor < m->size) {
		struct strmap_slot *s = &m->slots[(*cursor)++];

		if (s->key != NULL) {
			if (key != NULL)
				*key = s->key;
			if (value != NULL)
				*value = s->value;
			return (1);
		}
	}
	return (0);
}

void
strv_add(struct strv *sv, const char *s)
{
	sv->v = xreallocarray(sv->v, sv->n + 2, sizeof *sv->v);
	sv->v[sv->n++] = xstrdup(s);
	sv->v[sv->n] = NULL;
}

void
strv_free(struct strv *sv)
{
	size_t	i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

int
strv_contains(const struct strv *sv, const char *s)
{
	size_t	i;

	for (i = 0; i < sv->n; i++) {
		if (strcmp(sv->v[i], s) == 0)
			return (1);
	}
	return (0);
}

static int
strv_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

void
strv_sort(struct strv *sv)
{
	if (sv->n > 1)
		qsort(sv->v, sv->n, sizeof *sv->v, strv_cmp);
}

void
cause_append(char **cause, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg, *joined;

	if (cause == NULL)
		return;
	va_start(ap, fmt);
	xvasprintf(&msg, fmt, ap);
	va_end(ap);
	if (*cause == NULL) {
		*cause = msg;
		return;
	}
	xasprintf(&joined, "%s\n%s", *cause, msg);
	free(*cause);
	free(msg);
	*cause = joined;
}

int
fd_read_all(int fd, const char *display, size_t max, char **out,
    size_t *outlen, struct stat *stp, char **cause)
{
	struct stat	 st;
	char		*data = NULL;
	size_t		 len = 0, size;
	ssize_t		 n;

	*out = NULL;
	*outlen = 0;
	if (fstat(fd, &st) == -1) {
		xasprintf(cause, "cannot stat '%s': %s", display,
		    strerror(errno));
		return (-1);
	}
	if (!S_ISREG(st.st_mode)) {
		xasprintf(cause, "'%s' is not a regular file", display);
		return (-1);
	}
	if ((uintmax_t)st.st_size > max) {
		xasprintf(cause, "'%s' is too large: %jd bytes, the limit is "
		    "%zu", display, (intmax_t)st.st_size, max);
		return (-1);
	}
	/* The size may change while reading: grow, but never past max. */
	size = (size_t)st.st_size + 1;
	data = xmalloc(size);
	for (;;) {
		if (len + 1 >= size) {
			if (len >= max) {
				xasprintf(cause, "'%s' is too large: more "
				    "than %zu bytes", display, max);
				goto fail;
			}
			size *= 2;
			data = xrealloc(data, size);
		}
		n = read(fd, data + len, size - len - 1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			xasprintf(cause, "cannot read '%s': %s", display,
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		xasprintf(cause, "'%s' is too large: more than %zu bytes",
		    display, max);
		goto fail;
	}
	data[len] = '\0';
	*out = data;
	*outlen = len;
	if (stp != NULL)
		*stp = st;
	return (0);
fail:
	free(data);
	return (-1);
}

int
file_read(const char *path, size_t max, char **out, size_t *outlen,
    char **cause)
{
	int	fd, rc;

	*out = NULL;
	*outlen = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "cannot open '%s': %s", path, strerror(errno));
		return (-1);
	}
	rc = fd_read_all(fd, path, max, out, outlen, NULL, cause);
	close(fd);
	return (rc);
}

int
file_mkdirs(const char *path, mode_t mode, char **cause)
{
	char	*p, *s;

	p = xstrdup(path);
	for (s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		{
			char c = *s;

			*s = '\0';
			if (mkdir(p, mode) == -1 && errno != EEXIST) {
				xasprintf(cause, "cannot create directory "
				    "'%s': %s", p, strerror(errno));
				free(p);
				return (-1);
			}
			*s = c;
			if (c == '\0')
				break;
		}
	}
	free(p);
	return (0);
}

static int
fsync_dir(const char *dir, char **cause)
{
	int	fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "cannot open directory '%s': %s", dir,
		    strerror(errno));
		return (-1);
	}
	if (fsync(fd) == -1 && errno != EINVAL) {
		xasprintf(cause, "cannot sync directory '%s': %s", dir,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	close(fd);
	return (0);
}

int
file_is_temp(const char *name)
{
	size_t	n = strlen(name), x = sizeof "XXXXXX" - 1, i;
	size_t	suffix = sizeof FILE_TEMP_SUFFIX - 1;

	/* mkostemp's letters: [A-Za-z0-9], exactly as many as the X's. */
	if (n <= suffix || memcmp(name + n - suffix, FILE_TEMP_SUFFIX,
	    suffix - x) != 0)
		return (0);
	for (i = n - x; i < n; i++) {
		if (!isalnum((unsigned char)name[i]))
			return (0);
	}
	return (1);
}

int
file_write_atomic(const char *path, const void *data, size_t len,
    mode_t mode, char **cause)
{
	const char	*p = data;
	char		*dir, *slash, *tmp = NULL;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd = -1;

	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) == NULL) {
		free(dir);
		dir = xstrdup(".");
	} else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (file_mkdirs(dir, 0755, cause) == -1)
		goto fail;
	xasprintf(&tmp, "%s" FILE_TEMP_SUFFIX, path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		xasprintf(cause, "cannot create temporary file for '%s': %s",
		    path, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto fail;
	}
	while (off < len) {
		n = write(fd, p + off, len - off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			xasprintf(cause, "cannot write '%s': %s", tmp,
			    strerror(errno));
			goto fail;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, mode) == -1 || fsync(fd) == -1) {
		xasprintf(cause, "cannot sync '%s': %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		xasprintf(cause, "cannot close '%s': %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		xasprintf(cause, "cannot rename '%s' to '%s': %s", tmp, path,
		    strerror(errno));
		goto fail;
	}
	free(tmp);
	tmp = NULL;
	if (fsync_dir(dir, cause) == -1)
		goto fail;
	free(dir);
	return (0);
fail:
	if (fd != -1)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	free(dir);
	return (-1);
}

/*
 * The first half of file_write_atomic for writing many files at once:
 * the data goes to a new temporary file beside path, not synced. Parent
 * directories are only created when the temporary file cannot be (they
 * usually exist, and file_mkdirs costs a mkdir per component).
 */
int
file_write_temp(const char *path, const void *data, size_t len,
    mode_t mode, char **tmpp, char **cause)
{
	const char	*p = data;
	char		*dir, *slash, *tmp;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd;

	*tmpp = NULL;
	xasprintf(&tmp, "%s" FILE_TEMP_SUFFIX, path);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1 && errno == ENOENT) {
		dir = xstrdup(path);
		if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
			*slash = '\0';
			if (file_mkdirs(dir, 0755, cause) == -1) {
				free(dir);
				free(tmp);
				return (-1);
			}
		}
		free(dir);
		xasprintf(&dir, "%s" FILE_TEMP_SUFFIX, path);
		free(tmp);
		tmp = dir;
		fd = mkostemp(tmp, O_CLOEXEC);
	}
	if (fd == -1) {
		xasprintf(cause, "cannot create temporary file for '%s': %s",
		    path, strerror(errno));
		free(tmp);
		return (-1);
	}
	while (off < len) {
		n = write(fd, p + off, len - off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			xasprintf(cause, "cannot write '%s': %s", tmp,
			    strerror(errno));
			goto fail;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, mode) == -1) {
		xasprintf(cause, "cannot change mode of '%s': %s", tmp,
		    strerror(errno));
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		xasprintf(cause, "cannot close '%s': %s", tmp, strerror(errno));
		goto fail;
	}
	*tmpp = tmp;
	return (0);
fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(tmp);
	return (-1);
}

int
file_sync(const char *path, char **cause)
{
	int	fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		xasprintf(cause, "cannot open '%s': %s", path,
		    strerror(errno));
		return (-1);
	}
	if (fsync(fd) == -1) {
		xasprintf(cause, "cannot sync '%s': %s", path,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	close(fd);
	return (0);
}

int
file_sync_dir(const char *dir, char **cause)
{
	return (fsync_dir(dir, cause));
}

/*
 * syncfs(2) reports write-back errors of the file system since the
 * descriptor was opened from Linux 5.8 on; older kernels return 0
 * regardless, like sync(2). Elsewhere there is no such call.
 */
int
file_syncfs(const char *path, char **cause)
{
#ifdef __linux__
	int	fd;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "cannot open directory '%s': %s", path,
		    strerror(errno));
		return (-1);
	}
	if (syncfs(fd) == -1) {
		xasprintf(cause, "cannot sync the file system of '%s': %s",
		    path, strerror(errno));
		close(fd);
		return (-1);
	}
	close(fd);
	return (0);
#else
	(void)path;
	(void)cause;
	return (1);
#endif
}

char *
path_join(const char *a, const char *b)
{
	char	*p;
	size_t	 alen = strlen(a);

	if (*a == '\0')
		return (xstrdup(b));
	if (*b == '\0')
		return (xstrdup(a));
	while (alen > 1 && a[alen - 1] == '/')
		alen--;
	while (*b == '/')
		b++;
	if (alen == 1 && a[0] == '/')
		xasprintf(&p, "/%s", b);
	else
		xasprintf(&p, "%.*s/%s", (int)alen, a, b);
	return (p);
}

char *
path_normalize(const char *path)
{
	struct buf	 out;
	const char	*s = path, *e;
	size_t		*marks = NULL, nmarks = 0;

	buf_init(&out);
	if (*path == '/')
		return (NULL);
	while (*s != '\0') {
		size_t n;

		e = strchr(s, '/');
		n = e != NULL ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.')) {
			/* nothing */
		} else if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (nmarks == 0) {
				free(marks);
				buf_free(&out);
				return (NULL);
			}
			out.len = marks[--nmarks];
			if (out.data != NULL)
				out.data[out.len] = '\0';
		} else {
			marks = xreallocarray(marks, nmarks + 1,
			    sizeof *marks);
			marks[nmarks++] = out.len;
			if (out.len != 0)
				buf_addc(&out, '/');
			buf_add(&out, s, n);
		}
		s += n;
		if (*s == '/')
			s++;
	}
	free(marks);
	return (buf_release(&out));
}

int
duration_parse(const char *s, uint64_t *out, char **cause)
{
	static const struct {
		const char	*unit;
		uint64_t	 ms;
	} units[] = {
		{ "ms", 1 },
		{ "s", 1000 },
		{ "m", 60 * 1000 },
		{ "h", 60 * 60 * 1000 },
		{ "d", 24 * 60 * 60 * 1000 },
	};
	const char	*p = s;
	uint64_t	 total = 0;
	size_t		 i;

	if (*p == '\0')
		goto bad;
	while (*p != '\0') {
		uint64_t	 n = 0;
		const char	*start = p;

		while (isdigit((unsigned char)*p)) {
			if (n > (UINT64_MAX - 9) / 10)
				goto range;
			n = n * 10 + (uint64_t)(*p - '0');
			p++;
		}
		if (p == start)
			goto bad;
		for (i = 0; i < sizeof units / sizeof units[0]; i++) {
			size_t ulen = strlen(units[i].unit);

			if (strncmp(p, units[i].unit, ulen) == 0 &&
			    !isalpha((unsigned char)p[ulen]))
				break;
			/* "m" must not match the "m" of "ms" */
		}
		if (i == sizeof units / sizeof units[0])
			goto bad;
		if (n > UINT64_MAX / units[i].ms ||
		    total > UINT64_MAX - n * units[i].ms)
			goto range;
		total += n * units[i].ms;
		p += strlen(units[i].unit);
	}
	*out = total;
	return (0);
bad:
	xasprintf(cause, "invalid duration '%s': expected a number and a "
	    "unit (ms, s, m, h, d), like 30s or 1h30m", s);
	return (-1);
range:
	xasprintf(cause, "duration '%s' is too large", s);
	return (-1);
}

char *
duration_format(uint64_t ms)
{
	struct buf	b;

	buf_init(&b);
	if (ms == 0)
		return (xstrdup("0s"));
	if (ms % 1000 != 0) {
		buf_printf(&b, "%llums", (unsigned long long)ms);
		return (buf_release(&b));
	}
	ms /= 1000;
	if (ms >= 3600) {
		buf_printf(&b, "%lluh", (unsigned long long)(ms / 3600));
		ms %= 3600;
	}
	if (ms >= 60) {
		buf_printf(&b, "%llum", (unsigned long long)(ms / 60));
		ms %= 60;
	}
	if (ms != 0)
		buf_printf(&b, "%llus", (unsigned long long)ms);
	return (buf_release(&b));
}

uint64_t
time_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/*
 * A wall-clock time as the CLI and the API print every time: RFC 3339 in
 * UTC, to the second (2026-12-05T23:10:15Z).
 */
void
time_format(uint64_t ms, char *out, size_t len)
{
	struct tm	tm;
	time_t		sec = (time_t)(ms / 1000);

	if (gmtime_r(&sec, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		strlcpy(out, "1970-01-01T00:00:00Z", len);
}

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t
utf8_sequence(const unsigned char *s, size_t n)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		need, i;

	if (s[0] >= 0x01 && s[0] <= 0x7f)
		return (1);
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 1;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 2;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;	/* no surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return (0);
	if (n < need + 1 || s[1] < lo || s[1] > hi)
		return (0);
	for (i = 2; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (0);
	}
	return (need + 1);
}

int
utf8_valid(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, n;

	while (i < len) {
		if ((n = utf8_sequence(p + i, len - i)) == 0)
			return (0);
		i += n;
	}
	return (1);
}

char *
utf8_repair(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	struct buf		 b;
	size_t			 i = 0, n;

	buf_init(&b);
	while (i < len) {
		if ((n = utf8_sequence(p + i, len - i)) == 0) {
			buf_add(&b, "\xef\xbf\xbd", 3);	/* U+FFFD */
			i++;
		} else {
			buf_add(&b, s + i, n);
			i += n;
		}
	}
	buf_addc(&b, '\0');
	return (buf_release(&b));
}

/*
 * An RFC 3339 date-time ("2026-12-05T07:00:00Z", fractions and a
 * +hh:mm offset allowed) as seconds since the epoch; -1 when it is not
 * one.
 */
int
time_parse_rfc3339(const char *s, int64_t *out)
{
	struct tm	 tm;
	const char	*p;
	int64_t		 off = 0;

	memset(&tm, 0, sizeof tm);
	if (s == NULL || strlen(s) < 20 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' ||
	    (p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL ||
	    p != s + 19)
		return (-1);
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			return (-1);
		while (isdigit((unsigned char)*p))
			p++;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		off = 0;
	else if ((*p == '+' || *p == '-') && strlen(p) == 6 &&
	    isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
	    p[3] == ':' && isdigit((unsigned char)p[4]) &&
	    isdigit((unsigned char)p[5])) {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
		    ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (*p == '-')
			off = -off;
	} else
		return (-1);
	*out = (int64_t)timegm(&tm) - off;
	return (0);
}

/* Sleep for ms milliseconds, the whole time even when signals come. */
void
time_sleep_ms(uint64_t ms)
{
	struct timespec	ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1)
		;
}

uint64_t
time_monotonic_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

static int
is_lower_alnum(char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
}

int
name_is_dns_label(const char *s)
{
	size_t	n = strlen(s), i;

	if (n == 0 || n > 63)
		return (0);
	if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return (0);
	for (i = 0; i < n; i++) {
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return (0);
	}
	return (1);
}

int
name_is_dns_subdomain(const char *s)
{
	size_t	n = strlen(s), i;

	if (n == 0 || n > 253)
		return (0);
	/* Each dot-separated part starts and ends alphanumeric. */
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (is_lower_alnum(c))
			continue;
		if (c != '-' && c != '.')
			return (0);
		if (i == 0 || i == n - 1)
			return (0);
		if (c == '.' && (!is_lower_alnum(s[i - 1]) ||
		    !is_lower_alnum(s[i + 1])))
			return (0);
	}
	return (1);
}
