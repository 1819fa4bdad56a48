/*
 * log.c: one event a line in logfmt, to stderr (or a given file).
 *
 * time= and level= come first, then msg=, then the caller's key=value pairs
 * in the order given. Every value goes through log_value(): bare when it is
 * made only of safe bytes, else quoted with quotes, backslashes and control
 * bytes escaped and invalid UTF-8 written as \xHH, so a value from the
 * network can never start a new line or forge a key. Keys are literals of
 * the call sites and are checked. Any thread may log; each line is written
 * with one fwrite on a locked stream so lines never interleave. Never logs
 * secrets: callers pass none.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gitops.h"

static enum log_level	 log_level = LOG_LEVEL_INFO;
static FILE		*log_file;

void
log_init(enum log_level level, FILE *f)
{
	log_level = level;
	log_file = f;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

static int
log_safe_byte(unsigned char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("_.:/@+-", c) != NULL);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if none. */
static size_t
log_utf8_len(const unsigned char *s, size_t n)
{
	size_t		 len, i;
	unsigned int	 cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return (0);
	if (len > n)
		return (0);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (0);
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return (0);
	return (len);
}

void
log_value(struct buf *b, const char *v)
{
	const unsigned char	*s = (const unsigned char *)v;
	size_t			 i, n, len;

	if (v == NULL) {
		buf_addc(b, '-');
		return;
	}
	n = strlen(v);
	for (i = 0; i < n && log_safe_byte(s[i]); i++)
		;
	if (n != 0 && i == n) {
		buf_add(b, v, n);
		return;
	}
	buf_addc(b, '"');
	for (i = 0; i < n; i++) {
		switch (s[i]) {
		case '"':
			buf_adds(b, "\\\"");
			continue;
		case '\\':
			buf_adds(b, "\\\\");
			continue;
		case '\n':
			buf_adds(b, "\\n");
			continue;
		case '\r':
			buf_adds(b, "\\r");
			continue;
		case '\t':
			buf_adds(b, "\\t");
			continue;
		}
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			buf_addc(b, (char)s[i]);
			continue;
		}
		if (s[i] >= 0x80 && (len = log_utf8_len(s + i, n - i)) != 0) {
			buf_add(b, s + i, len);
			i += len - 1;
			continue;
		}
		buf_printf(b, "\\x%02x", s[i]);
	}
	buf_addc(b, '"');
}

/* Keys are literals of the call sites: a bad one is a bug, found by tests. */
static void
log_check_key(const char *k)
{
	const char	*p;

	if (*k == '\0' || !(*k >= 'a' && *k <= 'z'))
		goto bad;
	for (p = k; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '_'))
			goto bad;
	}
	return;
bad:
	fprintf(stderr, "log: invalid key\n");
	abort();
}

static const char *
log_level_name(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_DEBUG:
		return ("debug");
	case LOG_LEVEL_INFO:
		return ("info");
	case LOG_LEVEL_WARN:
		break;
	}
	return ("warn");
}

static void
log_stamp(struct buf *b, const char *level)
{
	struct timespec	 ts;
	struct tm	 tm;
	char		 stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	buf_printf(b, "time=%s.%03ldZ level=%s", stamp, ts.tv_nsec / 1000000,
	    level);
}

/* One fwrite on a locked stream: lines of several threads never mix. */
static void
log_put(FILE *f, struct buf *b)
{
	flockfile(f);
	fwrite(b->data, 1, b->len, f);
	fflush(f);
	funlockfile(f);
	buf_free(b);
}

void
log_format(struct buf *b, const char *level, const char *msg, va_list ap,
    const char *err)
{
	const char	*k, *v;

	log_stamp(b, level);
	buf_adds(b, " msg=");
	log_value(b, msg);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		log_check_key(k);
		buf_printf(b, " %s=", k);
		log_value(b, v);
	}
	if (err != NULL) {
		buf_adds(b, " error=");
		log_value(b, err);
	}
	buf_addc(b, '\n');
}

static void
log_write(const char *level, const char *msg, va_list ap, const char *err)
{
	struct buf	 b;

	buf_init(&b);
	log_format(&b, level, msg, ap, err);
	log_put(log_file != NULL ? log_file : stderr, &b);
}

const char *
log_int(char *buf, size_t size, long long n)
{
	snprintf(buf, size, "%lld", n);
	return (buf);
}

const char *
log_uint(char *buf, size_t size, unsigned long long n)
{
	snprintf(buf, size, "%llu", n);
	return (buf);
}

void
log_event(enum log_level level, const char *msg, ...)
{
	va_list	ap;

	if (level < log_level)
		return;
	va_start(ap, msg);
	log_write(log_level_name(level), msg, ap, NULL);
	va_end(ap);
}

void
log_event_errno(enum log_level level, const char *msg, ...)
{
	va_list	ap;
	int	saved = errno;

	if (level < log_level)
		return;
	va_start(ap, msg);
	log_write(log_level_name(level), msg, ap, strerror(saved));
	va_end(ap);
}

/* A line without the caller's pairs: fatal's formatted message. */
static void
log_line(const char *level, const char *err, const char *msg, ...)
{
	va_list	ap;

	va_start(ap, msg);
	log_write(level, msg, ap, err);
	va_end(ap);
}

static __attribute__((noreturn)) void
log_fatal(const char *err, const char *fmt, va_list ap)
{
	char	*msg;

	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	log_line("fatal", err, msg != NULL ? msg : fmt, (const char *)NULL);
	free(msg);
	exit(1);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_fatal(strerror(saved), fmt, ap);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_fatal(NULL, fmt, ap);
}
