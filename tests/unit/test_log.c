/*
 * test_log.c: log lines are logfmt whatever the values hold: one line,
 * keys only where the caller put them, quotes and bytes escaped.
 */
#include "config.h"

#include <sys/wait.h>

#include <errno.h>

#include "unit.h"

/* The line log_event wrote, without its time= field. */
static char *
logged(char **buf, size_t *len, FILE *f)
{
	char	*p;

	(void)len;
	fflush(f);
	assert_non_null(*buf);
	p = strstr(*buf, " level=");
	assert_non_null(p);
	return (p + 1);
}

/*
 * The keys of a logfmt line, space-separated, as a parser reads them:
 * key=bare or key="quoted with \-escapes".
 */
static void
keys_of(const char *line, char *out, size_t size)
{
	const char	*p = line, *k;

	*out = '\0';
	while (*p != '\0' && *p != '\n') {
		k = p;
		while (*p != '=' && *p != '\0')
			p++;
		assert_int_equal(*p, '=');
		if (*out != '\0')
			strlcat(out, " ", size);
		strncat(out, k, (size_t)(p - k));
		p++;
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				assert_int_not_equal(*p, '\0');
				if (*p == '\\')
					p++;
			}
			p++;
		} else {
			while (*p != ' ' && *p != '\n' && *p != '\0')
				p++;
		}
		if (*p == ' ')
			p++;
	}
}

static void
test_log_event_forged_value_stays_one_value(void **state)
{
	char	*buf = NULL, *line, keys[256];
	size_t	 len = 0;
	FILE	*f = open_memstream(&buf, &len);

	(void)state;
	log_init(LOG_LEVEL_INFO, f);
	log_event(LOG_LEVEL_WARN, "webhook signature missing or wrong",
	    "delivery", "x\" level=error msg=forged\nlevel=error msg=forged2",
	    "event", "a\\b\r\t\x01\x7f", "bytes", "\xff\xc3(\xe2\x82",
	    "utf8", "caf\xc3\xa9", NULL);
	line = logged(&buf, &len, f);
	assert_string_equal(line, "level=warn "
	    "msg=\"webhook signature missing or wrong\" "
	    "delivery=\"x\\\" level=error msg=forged\\nlevel=error "
	    "msg=forged2\" event=\"a\\\\b\\r\\t\\x01\\x7f\" "
	    "bytes=\"\\xff\\xc3(\\xe2\\x82\" utf8=\"caf\xc3\xa9\"\n");
	/* One line, and a parser finds only the caller's keys. */
	assert_ptr_equal(strchr(buf, '\n'), buf + len - 1);
	keys_of(buf, keys, sizeof keys);
	assert_string_equal(keys, "time level msg delivery event bytes utf8");
	log_init(LOG_LEVEL_INFO, NULL);
	fclose(f);
	free(buf);
}

static void
test_log_event_safe_values_bare_null_dash_empty_quoted(void **state)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f = open_memstream(&buf, &len);

	(void)state;
	log_init(LOG_LEVEL_INFO, f);
	log_event(LOG_LEVEL_INFO, "fetched", "repo", "infra", "url",
	    "git://127.0.0.1:9418/a_b-c.git@v1+x", "commit", NULL, "empty", "",
	    "n", LOG_UINT(42), "i", LOG_INT(-7), NULL);
	assert_string_equal(logged(&buf, &len, f), "level=info msg=fetched "
	    "repo=infra url=git://127.0.0.1:9418/a_b-c.git@v1+x commit=- "
	    "empty=\"\" n=42 i=-7\n");
	log_init(LOG_LEVEL_INFO, NULL);
	fclose(f);
	free(buf);
}

static void
test_log_event_errno_appends_error_and_levels_filter(void **state)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f = open_memstream(&buf, &len);

	(void)state;
	log_init(LOG_LEVEL_INFO, f);
	log_event(LOG_LEVEL_DEBUG, "hidden", NULL);
	errno = ENOENT;
	log_event_errno(LOG_LEVEL_WARN, "cannot remove the deploy file",
	    "file", "/x y", NULL);
	assert_string_equal(logged(&buf, &len, f), "level=warn "
	    "msg=\"cannot remove the deploy file\" file=\"/x y\" "
	    "error=\"No such file or directory\"\n");
	log_init(LOG_LEVEL_INFO, NULL);
	fclose(f);
	free(buf);
}

static void
test_fatalx_message_is_one_quoted_value(void **state)
{
	char	 out[512];
	int	 fd[2], status;
	ssize_t	 n;
	pid_t	 pid;
	FILE	*f;

	(void)state;
	assert_int_equal(pipe(fd), 0);
	if ((pid = fork()) == 0) {
		close(fd[0]);
		f = fdopen(fd[1], "w");
		log_init(LOG_LEVEL_INFO, f);
		fatalx("bad '%s'", "x\"\nlevel=error msg=forged");
	}
	close(fd[1]);
	n = read(fd[0], out, sizeof out - 1);
	close(fd[0]);
	assert_true(n > 0);
	out[n] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_non_null(strstr(out, " level=fatal "
	    "msg=\"bad 'x\\\"\\nlevel=error msg=forged'\"\n"));
	assert_ptr_equal(strchr(out, '\n'), out + n - 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_event_forged_value_stays_one_value),
		cmocka_unit_test(
		    test_log_event_safe_values_bare_null_dash_empty_quoted),
		cmocka_unit_test(
		    test_log_event_errno_appends_error_and_levels_filter),
		cmocka_unit_test(test_fatalx_message_is_one_quoted_value),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
