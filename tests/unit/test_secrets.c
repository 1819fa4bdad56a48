/*
 * test_secrets.c: a repository's webhook secrets: the lines of a secret
 * file (blank lines and CRs ignored), one secret from the environment,
 * and a file read again only when it changed and at most once a second,
 * keeping the secrets it had when the new file holds none.
 */
#include "config.h"

#include "unit.h"
#include "agent.h"

static void
assert_secrets(const struct secrets *s, const char *const *want, size_t n)
{
	size_t	i;

	assert_int_equal(s->n, n);
	for (i = 0; i < n; i++) {
		assert_int_equal(s->lens[i], strlen(want[i]));
		assert_memory_equal(s->v[i], want[i], s->lens[i]);
	}
}

static void
test_secrets_load_one_a_line_blank_lines_ignored(void **state)
{
	static const char *const want[] = { "old secret", "new" };
	struct secrets	 s;
	char		*path, *cause = NULL;

	unit_write(*state, "secret", "\nold secret\r\n\n\nnew\n\n");
	path = path_join(*state, "secret");
	assert_int_equal(secrets_load(&s, path, NULL, &cause), 0);
	assert_null(cause);
	assert_secrets(&s, want, 2);
	secrets_clear(&s);
	free(path);
}

static void
test_secrets_load_no_secret_refused(void **state)
{
	struct secrets	 s;
	char		*path, *cause = NULL;

	unit_write(*state, "secret", "\n\r\n\n");
	path = path_join(*state, "secret");
	assert_int_equal(secrets_load(&s, path, NULL, &cause), -1);
	assert_non_null(strstr(cause, "holds no secret"));
	assert_int_equal(s.n, 0);
	free(cause);
	free(path);
}

static void
test_secrets_load_env_is_one_secret(void **state)
{
	static const char *const want[] = { "a\nb" };
	struct secrets	 s;
	char		*cause = NULL;

	(void)state;
	setenv("TEST_SECRETS_ENV", "a\nb", 1);
	assert_int_equal(secrets_load(&s, NULL, "TEST_SECRETS_ENV", &cause),
	    0);
	assert_secrets(&s, want, 1);
	secrets_refresh(&s, s.checked_ms + 60000);
	assert_secrets(&s, want, 1);
	secrets_clear(&s);
	unsetenv("TEST_SECRETS_ENV");
}

static void
test_secrets_refresh_changed_file_once_a_second(void **state)
{
	static const char *const old[] = { "old" };
	static const char *const both[] = { "old", "new" };
	static const char *const new[] = { "new" };
	struct secrets	 s;
	uint64_t	 t;
	char		*path, *cause = NULL;

	unit_write(*state, "secret", "old\n");
	path = path_join(*state, "secret");
	assert_int_equal(secrets_load(&s, path, NULL, &cause), 0);
	t = s.checked_ms;
	unit_write(*state, "secret", "old\nnew\n");
	secrets_refresh(&s, t + 999);	/* looked at less than 1 s ago */
	assert_secrets(&s, old, 1);
	secrets_refresh(&s, t + 1000);
	assert_secrets(&s, both, 2);
	unit_write(*state, "secret", "new\n");
	secrets_refresh(&s, t + 2000);
	assert_secrets(&s, new, 1);
	/* unchanged: not read again; no secret, or no file: the old stay */
	secrets_refresh(&s, t + 3000);
	assert_secrets(&s, new, 1);
	unit_write(*state, "secret", "\n");
	secrets_refresh(&s, t + 4000);
	assert_secrets(&s, new, 1);
	assert_int_equal(unlink(path), 0);
	secrets_refresh(&s, t + 5000);
	assert_secrets(&s, new, 1);
	unit_write(*state, "secret", "old\n");
	secrets_refresh(&s, t + 6000);
	assert_secrets(&s, old, 1);
	secrets_clear(&s);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_secrets_load_one_a_line_blank_lines_ignored,
		    unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(
		    test_secrets_load_no_secret_refused, unit_setup_dir,
		    unit_teardown_dir),
		cmocka_unit_test(test_secrets_load_env_is_one_secret),
		cmocka_unit_test_setup_teardown(
		    test_secrets_refresh_changed_file_once_a_second,
		    unit_setup_dir, unit_teardown_dir),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
