/*
 * log.c: one line per event, logfmt-friendly, to stderr (or a given file).
 *
 * Any thread may log; each line is written with a single fprintf on a
 * locked stream so lines never interleave. Never logs secrets: callers pass
 * none.
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

static void
log_vwrite(const char *level, const char *fmt, va_list ap, const char *err)
{
	FILE		*f = log_file != NULL ? log_file : stderr;
	struct timespec	 ts;
	struct tm	 tm;
	char		 stamp[32];
	char		*msg;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	if (vasprintf(&msg, fmt, ap) == -1)
		return;
	flockfile(f);
	if (err != NULL)
		fprintf(f, "time=%s.%03ldZ level=%s msg=\"%s: %s\"\n", stamp,
		    ts.tv_nsec / 1000000, level, msg, err);
	else
		fprintf(f, "time=%s.%03ldZ level=%s %s\n", stamp,
		    ts.tv_nsec / 1000000, level, msg);
	fflush(f);
	funlockfile(f);
	free(msg);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (log_level > LOG_LEVEL_DEBUG)
		return;
	va_start(ap, fmt);
	log_vwrite("debug", fmt, ap, NULL);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	if (log_level > LOG_LEVEL_INFO)
		return;
	va_start(ap, fmt);
	log_vwrite("info", fmt, ap, NULL);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite("warn", fmt, ap, NULL);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite("warn", fmt, ap, strerror(saved));
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite("fatal", fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite("fatal", fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
