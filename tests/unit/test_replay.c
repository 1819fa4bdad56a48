/*
 * test_replay.c: the store of signed deploy bodies that landed: what it
 * remembers across a restart, what it forgets (age, count), and what it
 * makes of a file a crash cut short.
 */
#include "config.h"

#include <sys/stat.h>

#include "unit.h"
#include "agent.h"

#define DAY_MS	(24ULL * 60 * 60 * 1000)

static void
digest_of(int i, char out[65])
{
	char	text[32];

	snprintf(text, sizeof text, "body %d", i);
	sha256_hex(text, strlen(text), out);
}

static void
test_replay_record_survives_reopen(void **state)
{
	struct replay	*r;
	struct stat	 st;
	char		*dir = unit_mkdtemp(), *cause = NULL, *path, d[65], e[65];

	digest_of(1, d);
	digest_of(2, e);
	r = replay_open(dir, 8 * DAY_MS, 100, &cause);
	assert_non_null(r);
	assert_false(replay_landed(r, d));
	assert_int_equal(replay_record(r, d, &cause), 0);
	assert_true(replay_landed(r, d));
	assert_false(replay_landed(r, e));
	replay_free(r);
	/* A restart still knows it; the file is the owner's alone. */
	r = replay_open(dir, 8 * DAY_MS, 100, &cause);
	assert_non_null(r);
	assert_true(replay_landed(r, d));
	assert_false(replay_landed(r, e));
	replay_free(r);
	xasprintf(&path, "%s/deployments-landed", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(path);
	assert_int_equal(replay_record(r = replay_open(dir, 8 * DAY_MS, 100,
	    &cause), "not a digest", &cause), -1);
	assert_string_equal(cause, "not a SHA-256 digest");
	free(cause);
	replay_free(r);
	unit_rmtree(dir);
	free(dir);
}

static void
test_replay_open_forgets_old_and_cut_lines(void **state)
{
	struct replay	*r;
	char		*dir = unit_mkdtemp(), *cause = NULL, *text, d[65], e[65];
	char		 f[65];
	unsigned long long now = time_now_ms();

	digest_of(1, d);
	digest_of(2, e);
	digest_of(3, f);
	/* d is 9 days old, e an hour, f cut short by a crash. */
	xasprintf(&text, "%s %llu\n%s %llu\nnonsense line\n%s %llu",
	    d, now - 9 * DAY_MS, e, now - 3600 * 1000ULL, f, now);
	unit_write(dir, "deployments-landed", text);
	free(text);
	r = replay_open(dir, 8 * DAY_MS, 100, &cause);
	assert_non_null(r);
	assert_false(replay_landed(r, d));
	assert_true(replay_landed(r, e));
	assert_false(replay_landed(r, f));
	replay_free(r);
	/* Rewritten without what it forgot. */
	text = unit_read(dir, "deployments-landed");
	assert_null(strstr(text, d));
	assert_non_null(strstr(text, e));
	assert_null(strstr(text, "nonsense"));
	free(text);
	unit_rmtree(dir);
	free(dir);
}

static void
test_replay_record_bounded_keeps_newest(void **state)
{
	struct replay	*r;
	char		*dir = unit_mkdtemp(), *cause = NULL, d[65];
	int		 i, kept = 0;

	r = replay_open(dir, 8 * DAY_MS, 10, &cause);
	for (i = 0; i < 25; i++) {
		digest_of(i, d);
		assert_int_equal(replay_record(r, d, &cause), 0);
	}
	replay_free(r);
	r = replay_open(dir, 8 * DAY_MS, 10, &cause);
	for (i = 0; i < 25; i++) {
		digest_of(i, d);
		kept += replay_landed(r, d);
	}
	assert_true(kept >= 5 && kept <= 10);
	digest_of(24, d);
	assert_true(replay_landed(r, d));
	digest_of(0, d);
	assert_false(replay_landed(r, d));
	replay_free(r);
	unit_rmtree(dir);
	free(dir);
}

/* Found in review: a torn last line ate the next record at a restart. */
static void
test_replay_torn_line_does_not_swallow_next_record(void **state)
{
	struct replay	*r;
	char		*dir = unit_mkdtemp(), *cause = NULL, *text, d[65], e[65];

	digest_of(1, d);
	digest_of(2, e);
	xasprintf(&text, "%s %llu\n%.30s", d,
	    (unsigned long long)time_now_ms(), e);
	unit_write(dir, "deployments-landed", text);
	free(text);
	r = replay_open(dir, 8 * DAY_MS, 100, &cause);
	assert_non_null(r);
	assert_int_equal(replay_record(r, e, &cause), 0);
	replay_free(r);
	r = replay_open(dir, 8 * DAY_MS, 100, &cause);
	assert_true(replay_landed(r, d));
	assert_true(replay_landed(r, e));
	replay_free(r);
	unit_rmtree(dir);
	free(dir);
}

/* Found in review: a clock set back made landed bodies replayable. */
static void
test_replay_entry_from_future_kept(void **state)
{
	struct replay	*r;
	char		*dir = unit_mkdtemp(), *cause = NULL, *text, d[65];

	digest_of(1, d);
	xasprintf(&text, "%s %llu\n", d,
	    (unsigned long long)time_now_ms() + 3600 * 1000ULL);
	unit_write(dir, "deployments-landed", text);
	free(text);
	r = replay_open(dir, 8 * DAY_MS, 100, &cause);
	assert_true(replay_landed(r, d));
	replay_free(r);
	r = replay_open(dir, 8 * DAY_MS, 100, &cause);
	assert_true(replay_landed(r, d));
	replay_free(r);
	unit_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_record_survives_reopen),
		cmocka_unit_test(test_replay_open_forgets_old_and_cut_lines),
		cmocka_unit_test(test_replay_record_bounded_keeps_newest),
		cmocka_unit_test(
		    test_replay_torn_line_does_not_swallow_next_record),
		cmocka_unit_test(test_replay_entry_from_future_kept),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
