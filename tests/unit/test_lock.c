/*
 * test_lock.c: the file lock between processes and threads, and the
 * directory target's sync lock built on it (its message, its sweep of
 * the temporary files a crash left).
 */
#include "config.h"

#include <sys/wait.h>

#include <signal.h>

#include "unit.h"

static void
test_lock_take_second_open_is_refused_naming_holder(void **state)
{
	const char	*root = *state;
	struct lock	*a = NULL, *b = NULL;
	char		*path = path_join(root, "lock"), *holder = NULL;
	char		*cause = NULL, want[64];

	assert_int_equal(lock_take(path, 0, NULL, &a, &holder, &cause), 0);
	assert_non_null(a);
	/* Another open file of the same process: a thread, say. */
	assert_int_equal(lock_take(path, 0, NULL, &b, &holder, &cause), 1);
	assert_null(b);
	snprintf(want, sizeof want, "pid %ld (test_lock", (long)getpid());
	assert_non_null(strstr(holder, want));
	free(holder);
	/* A bounded wait gives up, and so does a set stop flag. */
	assert_int_equal(lock_take(path, 100, NULL, &b, &holder, &cause), 1);
	free(holder);
	assert_int_equal(lock_take(path, 600000, &(int){ 1 }, &b, &holder,
	    &cause), 1);
	free(holder);
	lock_release(a);
	assert_int_equal(lock_take(path, 0, NULL, &b, &holder, &cause), 0);
	lock_release(b);
	free(path);
}

static void
test_lock_take_holder_killed_releases(void **state)
{
	const char	*root = *state;
	struct lock	*l = NULL;
	char		*path = path_join(root, "lock"), *holder = NULL;
	char		*cause = NULL, c, want[64];
	int		 p[2], status;
	pid_t		 pid;

	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		if (lock_take(path, 0, NULL, &l, &holder, &cause) != 0)
			_exit(1);
		(void)write(p[1], "x", 1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(lock_take(path, 0, NULL, &l, &holder, &cause), 1);
	snprintf(want, sizeof want, "pid %ld (", (long)pid);
	assert_non_null(strstr(holder, want));
	free(holder);
	/* A crash: the kernel drops the lock, nothing is left to clean. */
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	assert_int_equal(lock_take(path, 0, NULL, &l, &holder, &cause), 0);
	lock_release(l);
	close(p[0]);
	close(p[1]);
	free(path);
}

static void
test_target_dir_lock_busy_names_target_and_holder(void **state)
{
	const char	*root = *state;
	struct lock	*a, *b;
	char		*cause = NULL, *want;

	a = target_dir_lock(root, 0, NULL, &cause);
	assert_non_null(a);
	b = target_dir_lock(root, 0, NULL, &cause);
	assert_null(b);
	xasprintf(&want, "target '%s' is being synced by pid %ld (", root,
	    (long)getpid());
	assert_non_null(strstr(cause, want));
	assert_non_null(strstr(cause, "); try again when it is done"));
	free(want);
	free(cause);
	lock_release(a);
}

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
	l = target_dir_lock(root, 0, NULL, &cause);
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
		    test_lock_take_holder_killed_releases, unit_setup_dir,
		    unit_teardown_dir),
		cmocka_unit_test_setup_teardown(
		    test_target_dir_lock_busy_names_target_and_holder,
		    unit_setup_dir, unit_teardown_dir),
		cmocka_unit_test_setup_teardown(
		    test_target_dir_lock_sweeps_only_our_temporary_files,
		    unit_setup_dir, unit_teardown_dir),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
