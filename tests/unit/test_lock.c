/*
 * test_lock.c: the file lock between processes and threads, and the
 * directory target's sync lock built on it (its message, its sweep of
 * the temporary files a crash left).
 */
#include "config.h"

#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>

#include "unit.h"

static int
exists(const char *root, const char *rel)
{
	struct stat	 st;
	char		*path = path_join(root, rel);
	int		 rc;

	rc = lstat(path, &st) == 0;
	free(path);
	return (rc);
}

/* lock_take with its records in root, and no stop flag. */
static int
take(const char *root, const char *path, uint64_t wait_ms, struct lock **lp,
    char **holder)
{
	char	*cause = NULL;
	int	 rc;

	rc = lock_take(path, root, wait_ms, NULL, lp, holder, &cause);
	assert_null(cause);
	return (rc);
}

static void
test_lock_take_second_open_is_refused_naming_holder(void **state)
{
	const char	*root = *state;
	struct lock	*a = NULL, *b = NULL;
	char		*path = path_join(root, "lock"), *holder = NULL;
	char		*cause = NULL, want[64];

	assert_int_equal(take(root, path, 0, &a, &holder), 0);
	assert_non_null(a);
	/* Another open file of the same process: a thread, say. */
	assert_int_equal(take(root, path, 0, &b, &holder), 1);
	assert_null(b);
	/* No owner set: its command line, from its own line in the file. */
	snprintf(want, sizeof want, "test_lock (pid %ld) since ",
	    (long)getpid());
	assert_non_null(strstr(holder, want));
	free(holder);
	/* A bounded wait gives up, and so does a set stop flag. */
	assert_int_equal(take(root, path, 100, &b, &holder), 1);
	free(holder);
	assert_int_equal(lock_take(path, root, 600000, &(int){ 1 }, &b,
	    &holder, &cause), 1);
	free(holder);
	lock_release(a);
	assert_int_equal(take(root, path, 0, &b, &holder), 0);
	lock_release(b);
	free(path);
}

/* The name of the holder's line of the lock file at path. */
static char *
record_name(const char *path)
{
	struct stat	 st;
	char		*name;

	assert_int_equal(stat(path, &st), 0);
	xasprintf(&name, "holder-%ju-%ju", (uintmax_t)st.st_dev,
	    (uintmax_t)st.st_ino);
	return (name);
}

/* Write the holder's line of the lock file at path, kept in root. */
static void
overwrite(const char *root, const char *path, const char *text)
{
	char	*name = record_name(path);

	unit_write(root, name, text);
	free(name);
}

/* Its line names the owner set and when it was taken, to the second. */
static void
test_lock_take_holder_line_names_owner_and_since(void **state)
{
	const char	*root = *state;
	struct lock	*a = NULL, *b = NULL;
	struct stat	 st;
	char		*path = path_join(root, "lock"), *holder = NULL;
	char		*name, want[128], at[TIME_FORMAT_LEN];
	uint64_t	 t0 = time_now_ms() / 1000 * 1000;

	lock_set_owner("gitops-agent serve");
	assert_int_equal(take(root, path, 0, &a, &holder), 0);
	lock_set_owner(NULL);
	assert_int_equal(take(root, path, 0, &b, &holder), 1);
	snprintf(want, sizeof want, "gitops-agent serve (pid %ld) since ",
	    (long)getpid());
	assert_int_equal(strncmp(holder, want, strlen(want)), 0);
	/* Taken at t0 or in the second after: RFC 3339, UTC. */
	time_format(t0, at, sizeof at);
	if (strcmp(holder + strlen(want), at) != 0) {
		time_format(t0 + 1000, at, sizeof at);
		assert_string_equal(holder + strlen(want), at);
	}
	free(holder);
	lock_release(a);

	/*
	 * A line another pid left (a dead holder's, or forged) is not
	 * believed: the holder the kernel lists is named from /proc.
	 */
	assert_int_equal(take(root, path, 0, &a, &holder), 0);
	overwrite(root, path, "1 0 \"forged\"\\\n");
	assert_int_equal(take(root, path, 0, &b, &holder), 1);
	snprintf(want, sizeof want, "test_lock");
	assert_int_equal(strncmp(holder, want, strlen(want)), 0);
	snprintf(want, sizeof want, "(pid %ld)", (long)getpid());
	assert_non_null(strstr(holder, want));
	assert_null(strstr(holder, "forged"));
	assert_null(strstr(holder, "since"));
	free(holder);
	/* Its own pid but quotes and a line break: shown safe. */
	snprintf(want, sizeof want, "%ld 0 a\"b\\c\x01" "d\n",
	    (long)getpid());
	overwrite(root, path, want);
	assert_int_equal(take(root, path, 0, &b, &holder), 1);
	snprintf(want, sizeof want, "a?b?c?d (pid %ld) since "
	    "1970-01-01T00:00:00Z", (long)getpid());
	assert_string_equal(holder, want);
	free(holder);
	/* The lock file is never written; the holder's line goes with it. */
	name = record_name(path);
	assert_true(exists(root, name));
	lock_release(a);
	assert_false(exists(root, name));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	free(name);
	free(path);
}

static void
test_lock_take_holder_killed_releases(void **state)
{
	const char	*root = *state;
	struct lock	*l = NULL;
	char		*path = path_join(root, "lock"), *holder = NULL;
	char		 c, want[64];
	int		 p[2], status;
	pid_t		 pid;

	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		if (take(root, path, 0, &l, &holder) != 0)
			_exit(1);
		(void)write(p[1], "x", 1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(take(root, path, 0, &l, &holder), 1);
	snprintf(want, sizeof want, "test_lock (pid %ld) since ", (long)pid);
	assert_non_null(strstr(holder, want));
	free(holder);
	/* A crash: the kernel drops the lock, nothing is left to clean. */
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	assert_int_equal(take(root, path, 0, &l, &holder), 0);
	lock_release(l);
	close(p[0]);
	close(p[1]);
	free(path);
}

static void
test_target_dir_lock_busy_names_app_and_holder(void **state)
{
	const char	*root = *state;
	struct lock	*a, *b;
	char		*cause = NULL, *want;

	assert_int_equal(target_dir_lock(root, root, "shop", 0, NULL, &a,
	    &cause), 0);
	assert_non_null(a);
	assert_int_equal(target_dir_lock(root, root, "web", 0, NULL, &b,
	    &cause), 1);
	assert_null(b);
	xasprintf(&want, "target of app 'web' is locked by test_lock "
	    "(pid %ld) since ", (long)getpid());
	assert_int_equal(strncmp(cause, want, strlen(want)), 0);
	free(want);
	free(cause);
	lock_release(a);
}

static void
test_target_dir_lock_sweeps_only_our_temporary_files(void **state)
{
	static const char *const	 gone[] = {
		"shop/ConfigMap/c.yaml.tmp.aB3xYz",
		"_cluster/Namespace/shop.yaml.tmp.000000",
		".gitops-agent/inventory/shop.json.tmp.Qq9Zz0",
	};
	static const char *const	 kept[] = {
		"shop/ConfigMap/c.yaml",
		"shop/ConfigMap/c.yaml.tmp",
		"shop/ConfigMap/c.yaml.tmp.abc",
		"shop/ConfigMap/c.yaml.tmp.abcdefg",
		"shop/ConfigMap/c.yaml.tmp.ab-cde",
		"shop/ConfigMap/notes.txt.tmp.abcdef",
		"a/b/c/d/e.yaml.tmp.abcdef",
	};
	const char			*root = *state;
	struct lock			*l;
	char				*cause = NULL, *p, *out;
	size_t				 i;

	for (i = 0; i < sizeof gone / sizeof gone[0]; i++)
		unit_write(root, gone[i], "kind: Secret\n");
	for (i = 0; i < sizeof kept / sizeof kept[0]; i++)
		unit_write(root, kept[i], "x\n");
	/* A link to a directory outside is never followed. */
	out = unit_mkdtemp();
	unit_write(out, "x.yaml.tmp.abcdef", "x\n");
	p = path_join(root, "shop/link");
	assert_int_equal(symlink(out, p), 0);
	free(p);
	assert_int_equal(target_dir_lock(root, NULL, "shop", 0, NULL, &l,
	    &cause), 0);
	assert_non_null(l);
	for (i = 0; i < sizeof gone / sizeof gone[0]; i++)
		assert_false(exists(root, gone[i]));
	for (i = 0; i < sizeof kept / sizeof kept[0]; i++)
		assert_true(exists(root, kept[i]));
	p = path_join(out, "x.yaml.tmp.abcdef");
	assert_int_equal(access(p, F_OK), 0);
	free(p);
	unit_rmtree(out);
	free(out);
	lock_release(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_lock_take_second_open_is_refused_naming_holder,
		    unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(
		    test_lock_take_holder_line_names_owner_and_since,
		    unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(
		    test_lock_take_holder_killed_releases, unit_setup_dir,
		    unit_teardown_dir),
		cmocka_unit_test_setup_teardown(
		    test_target_dir_lock_busy_names_app_and_holder,
		    unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(
		    test_target_dir_lock_sweeps_only_our_temporary_files,
		    unit_setup_dir, unit_teardown_dir),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
