/*
 * test_spawn.c: running programs with an argv: exit status, captured
 * output, input, the output bound, the deadline (and the process group),
 * a clean signal state in the child, and programs that cannot start.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>

#include "unit.h"

static void
run_ok(char *const *argv, const struct spawn_opts *opts,
    struct spawn_result *r)
{
	char	*cause = NULL;
	int	 rv;

	rv = spawn_run(argv, opts, r, &cause);
	if (rv != 0)
		fail_msg("spawn_run: %s", cause);
	assert_non_null(r->out);
	assert_non_null(r->err);
}

static void
test_spawn_run_exit_status_reported(void **state)
{
	const char		*argv[] = { "sh", "-c", "exit 3", NULL };
	struct spawn_result	r;

	(void)state;
	run_ok((char *const *)argv, NULL, &r);
	assert_int_equal(r.exited, 1);
	assert_int_equal(r.status, 3);
	assert_int_equal(r.timed_out, 0);
	assert_int_equal(r.truncated, 0);
	spawn_result_free(&r);
}

static void
test_spawn_run_killed_by_signal_reports_signal(void **state)
{
	const char		*argv[] = { "sh", "-c",
				    "kill -USR1 $$; exit 0",
				    NULL };
	struct spawn_result	r;

	(void)state;
	run_ok((char *const *)argv, NULL, &r);
	assert_int_equal(r.exited, 0);
	assert_int_equal(r.status, SIGUSR1);
	spawn_result_free(&r);
}

static void
test_spawn_run_output_captured_separately(void **state)
{
	const char		*argv[] = { "sh", "-c",
				    "echo out; echo err >&2; "
				    "printf 'x%s' \"$1\"",
				    "sh", "a b", NULL };
	struct spawn_result	r;

	(void)state;
	run_ok((char *const *)argv, NULL, &r);
	assert_string_equal(r.out, "out\nxa b");
	assert_int_equal(r.outlen, 8);
	assert_string_equal(r.err, "err\n");
	assert_int_equal(r.errlen, 4);
	assert_int_equal(r.exited, 1);
	assert_int_equal(r.status, 0);
	spawn_result_free(&r);
}

static void
test_spawn_run_argv_not_shell_expanded(void **state)
{
	const char		*argv[] = { "printf", "%s", "$HOME;`id`*",
				    NULL };
	struct spawn_result	r;

	(void)state;
	run_ok((char *const *)argv, NULL, &r);
	assert_string_equal(r.out, "$HOME;`id`*");
	spawn_result_free(&r);
}

static void
test_spawn_run_input_larger_than_pipe_delivered(void **state)
{
	const char		*argv[] = { "cat", NULL };
	struct spawn_opts	opts;
	struct spawn_result	r;
	size_t			len = 600 * 1024, i;
	char			*in;

	(void)state;
	in = xmalloc(len);
	for (i = 0; i < len; i++)
		in[i] = "abcdefghijklmnopqrstuvwxyz\n"[i % 27];
	memset(&opts, 0, sizeof opts);
	opts.input = in;
	opts.inputlen = len;
	run_ok((char *const *)argv, &opts, &r);
	assert_int_equal(r.outlen, len);
	assert_memory_equal(r.out, in, len);
	assert_int_equal(r.truncated, 0);
	assert_int_equal(r.status, 0);
	spawn_result_free(&r);
	free(in);
}

static void
test_spawn_run_input_unread_not_fatal(void **state)
{
	const char		*argv[] = { "true", NULL };
	struct spawn_opts	opts;
	struct spawn_result	r;
	size_t			len = 1024 * 1024;
	char			*in;

	(void)state;
	in = xcalloc(1, len);
	memset(&opts, 0, sizeof opts);
	opts.input = in;
	opts.inputlen = len;
	/* A SIGPIPE raised in this process would kill the test. */
	run_ok((char *const *)argv, &opts, &r);
	assert_int_equal(r.exited, 1);
	assert_int_equal(r.status, 0);
	spawn_result_free(&r);
	free(in);
}

static void
test_spawn_run_no_input_reads_dev_null(void **state)
{
	const char		*argv[] = { "cat", NULL };
	struct spawn_result	r;

	(void)state;
	run_ok((char *const *)argv, NULL, &r);
	assert_int_equal(r.outlen, 0);
	assert_string_equal(r.out, "");
	assert_int_equal(r.status, 0);
	spawn_result_free(&r);
}

static void
test_spawn_run_output_past_bound_truncated(void **state)
{
	const char		*argv[] = { "sh", "-c",
				    "head -c 300000 /dev/zero; echo done >&2",
				    NULL };
	struct spawn_opts	opts;
	struct spawn_result	r;

	(void)state;
	memset(&opts, 0, sizeof opts);
	opts.max_output = 1000;
	run_ok((char *const *)argv, &opts, &r);
	assert_int_equal(r.outlen, 1000);
	assert_int_equal(r.truncated, 1);
	/* The child was not blocked on a full pipe: it finished. */
	assert_int_equal(r.exited, 1);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.timed_out, 0);
	assert_string_equal(r.err, "done\n");
	spawn_result_free(&r);
}

static void
test_spawn_run_deadline_kills_process_group(void **state)
{
	const char		*argv[] = { "sh", "-c",
				    "sleep 30 & echo $!; wait", NULL };
	struct spawn_opts	opts;
	struct spawn_result	r;
	pid_t			gpid, w;
	int			status;

	(void)state;
	/* Orphans come to us, so the grandchild's end can be observed. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		skip();
	memset(&opts, 0, sizeof opts);
	opts.timeout_ms = 300;
	run_ok((char *const *)argv, &opts, &r);
	assert_int_equal(r.timed_out, 1);
	assert_int_equal(r.exited, 0);
	assert_int_equal(r.status, SIGTERM);
	gpid = (pid_t)atol(r.out);
	assert_true(gpid > 0);
	/* Had it survived, it would exit 0 after its 30 seconds. */
	while ((w = waitpid(gpid, &status, 0)) == -1 && errno == EINTR)
		;
	assert_int_equal(w, gpid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	spawn_result_free(&r);
}

static void
test_spawn_run_deadline_ignored_term_gets_kill(void **state)
{
	const char		*argv[] = { "sh", "-c",
				    "trap '' TERM; sleep 30", NULL };
	struct spawn_opts	opts;
	struct spawn_result	r;

	(void)state;
	memset(&opts, 0, sizeof opts);
	opts.timeout_ms = 200;
	run_ok((char *const *)argv, &opts, &r);
	assert_int_equal(r.timed_out, 1);
	assert_int_equal(r.exited, 0);
	assert_int_equal(r.status, SIGKILL);
	spawn_result_free(&r);
}

static void
test_spawn_run_stop_flag_kills_before_deadline(void **state)
{
	const char		*argv[] = { "sh", "-c",
				    "trap '' TERM; sleep 60", NULL };
	struct unit_stopper	st;
	struct spawn_opts	opts;
	struct spawn_result	r;
	uint64_t		t0 = time_monotonic_ms();
	int			stop = 0;

	(void)state;
	memset(&opts, 0, sizeof opts);
	opts.timeout_ms = 60000;
	opts.stop = &stop;
	unit_stopper_start(&st, &stop, 300);
	run_ok((char *const *)argv, &opts, &r);
	unit_stopper_join(&st);
	/* Stopped, not timed out; it ignored SIGTERM, so SIGKILL. */
	assert_int_equal(r.stopped, 1);
	assert_int_equal(r.timed_out, 0);
	assert_int_equal(r.exited, 0);
	assert_int_equal(r.status, SIGKILL);
	assert_true(time_monotonic_ms() - t0 < 30000);
	spawn_result_free(&r);
}

static void
test_spawn_run_leftover_group_killed_at_exit(void **state)
{
	const char		*argv[] = { "sh", "-c",
				    "sleep 30 >/dev/null 2>&1 & echo $!",
				    NULL };
	struct spawn_result	r;
	pid_t			gpid, w;
	int			status;

	(void)state;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		skip();
	run_ok((char *const *)argv, NULL, &r);
	assert_int_equal(r.timed_out, 0);
	assert_int_equal(r.exited, 1);
	assert_int_equal(r.status, 0);
	gpid = (pid_t)atol(r.out);
	assert_true(gpid > 0);
	while ((w = waitpid(gpid, &status, 0)) == -1 && errno == EINTR)
		;
	assert_int_equal(w, gpid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	spawn_result_free(&r);
}

static void
test_spawn_run_signal_state_reset_in_child(void **state)
{
	const char		*argv1[] = { "sh", "-c",
				    "kill -INT $$; exit 7",
				    NULL };
	const char		*argv2[] = { "sh", "-c",
				    "kill -TERM $$; exit 7",
				    NULL };
	struct spawn_result	r, r2;
	struct sigaction	sa, oldsa;
	sigset_t		set, oldset;

	(void)state;
	/* As the daemon does: TERM ignored, INT blocked. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGTERM, &sa, &oldsa);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, &oldset);

	run_ok((char *const *)argv1, NULL, &r);
	run_ok((char *const *)argv2, NULL, &r2);

	pthread_sigmask(SIG_SETMASK, &oldset, NULL);
	sigaction(SIGTERM, &oldsa, NULL);
	/* Unblocked in the child. */
	assert_int_equal(r.exited, 0);
	assert_int_equal(r.status, SIGINT);
	/* Back to the default action in the child. */
	assert_int_equal(r2.exited, 0);
	assert_int_equal(r2.status, SIGTERM);
	spawn_result_free(&r);
	spawn_result_free(&r2);
}

static void
test_spawn_run_cwd_and_env_applied(void **state)
{
	char			*dir = unit_mkdtemp(), *want;
	const char		*argv[] = { "sh", "-c",
				    "pwd -P; echo \"$FOO\"",
				    NULL };
	const char		*envp[] = { "FOO=bar baz",
				    "PATH=/usr/bin:/bin",
				    NULL };
	struct spawn_opts	opts;
	struct spawn_result	r;
	char			*real;

	(void)state;
	memset(&opts, 0, sizeof opts);
	opts.cwd = dir;
	opts.envp = (char *const *)envp;
	run_ok((char *const *)argv, &opts, &r);
	real = realpath(dir, NULL);
	xasprintf(&want, "%s\nbar baz\n", real);
	assert_string_equal(r.out, want);
	free(want);
	free(real);
	spawn_result_free(&r);
	unit_rmtree(dir);
	free(dir);
}

static void
test_spawn_run_parent_fds_not_inherited(void **state)
{
	char			 script[128];
	const char		*argv[] = { "sh", "-c", script, NULL };
	struct spawn_result	 r;
	int			 fd;

	(void)state;
	if (access("/proc/self/fd", F_OK) != 0)
		skip();
	/* Opened without close-on-exec, as a careless library might. */
	fd = open("/dev/null", O_RDONLY);
	assert_true(fd > 2);
	snprintf(script, sizeof script,
	    "if [ -e /proc/$$/fd/%d ]; then echo leaked; fi; echo ok", fd);
	run_ok((char *const *)argv, NULL, &r);
	assert_string_equal(r.out, "ok\n");
	spawn_result_free(&r);
	close(fd);
}

static void
test_spawn_run_missing_program_fails_to_start(void **state)
{
	const char		*argv[] = { "gitops-no-such-program", "x",
				    NULL };
	struct spawn_result	r;
	char			*cause = NULL;

	(void)state;
	assert_int_equal(spawn_run((char *const *)argv, NULL, &r, &cause), -1);
	assert_string_equal(cause,
	    "cannot run 'gitops-no-such-program': No such file or directory");
	assert_null(r.out);
	free(cause);
}

static void
test_spawn_run_not_executable_fails_to_start(void **state)
{
	char			*dir = unit_mkdtemp(), *path, *cause = NULL;
	struct spawn_result	 r;

	(void)state;
	unit_write(dir, "script", "#!/bin/sh\necho hi\n");
	path = path_join(dir, "script");
	{
		char *const argv[] = { path, NULL };

		assert_int_equal(spawn_run(argv, NULL, &r, &cause), -1);
	}
	assert_non_null(strstr(cause, "cannot run '"));
	assert_non_null(strstr(cause, "': Permission denied"));
	free(cause);
	free(path);
	unit_rmtree(dir);
	free(dir);
}

static void
test_spawn_find_program_searches_path(void **state)
{
	char	*p;

	(void)state;
	p = spawn_find_program("sh");
	assert_non_null(p);
	assert_int_equal(p[0], '/');
	assert_string_equal(strrchr(p, '/'), "/sh");
	free(p);
	assert_null(spawn_find_program("gitops-no-such-program"));
	assert_null(spawn_find_program("/nonexistent/sh"));
	assert_null(spawn_find_program(""));
	p = spawn_find_program("/bin/sh");
	assert_string_equal(p, "/bin/sh");
	free(p);
}

struct thread_arg {
	char	 input[64];
	int	 ok;
};

static void *
spawn_thread_cb(void *p)
{
	struct thread_arg	*a = p;
	const char		*argv[] = { "cat", NULL };
	struct spawn_opts	 opts;
	struct spawn_result	 r;
	char			*cause = NULL;
	int			 i;

	a->ok = 1;
	for (i = 0; i < 10; i++) {
		memset(&opts, 0, sizeof opts);
		opts.input = a->input;
		opts.inputlen = strlen(a->input);
		if (spawn_run((char *const *)argv, &opts, &r, &cause) == -1) {
			free(cause);
			a->ok = 0;
			return (NULL);
		}
		if (strcmp(r.out, a->input) != 0)
			a->ok = 0;
		spawn_result_free(&r);
	}
	return (NULL);
}

static void
test_spawn_run_concurrent_threads_independent(void **state)
{
	pthread_t		t[4];
	struct thread_arg	a[4];
	int			i;

	(void)state;
	for (i = 0; i < 4; i++) {
		snprintf(a[i].input, sizeof a[i].input, "thread %d\n", i);
		assert_int_equal(pthread_create(&t[i], NULL, spawn_thread_cb,
		    &a[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].ok, 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spawn_run_exit_status_reported),
		cmocka_unit_test(
		    test_spawn_run_killed_by_signal_reports_signal),
		cmocka_unit_test(test_spawn_run_output_captured_separately),
		cmocka_unit_test(test_spawn_run_argv_not_shell_expanded),
		cmocka_unit_test(
		    test_spawn_run_input_larger_than_pipe_delivered),
		cmocka_unit_test(test_spawn_run_input_unread_not_fatal),
		cmocka_unit_test(test_spawn_run_no_input_reads_dev_null),
		cmocka_unit_test(test_spawn_run_output_past_bound_truncated),
		cmocka_unit_test(test_spawn_run_deadline_kills_process_group),
		cmocka_unit_test(
		    test_spawn_run_deadline_ignored_term_gets_kill),
		cmocka_unit_test(test_spawn_run_leftover_group_killed_at_exit),
		cmocka_unit_test(test_spawn_run_signal_state_reset_in_child),
		cmocka_unit_test(test_spawn_run_cwd_and_env_applied),
		cmocka_unit_test(test_spawn_run_parent_fds_not_inherited),
		cmocka_unit_test(
		    test_spawn_run_missing_program_fails_to_start),
		cmocka_unit_test(
		    test_spawn_run_not_executable_fails_to_start),
		cmocka_unit_test(
		    test_spawn_run_stop_flag_kills_before_deadline),
		cmocka_unit_test(test_spawn_find_program_searches_path),
		cmocka_unit_test(
		    test_spawn_run_concurrent_threads_independent),
	};

	signal(SIGPIPE, SIG_DFL);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
