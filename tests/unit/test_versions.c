/*
 * test_versions.c: the version writer's checks before anything reaches
 * the network or the queue: bad requests, a configuration that cannot
 * take a bump (no versions section, a directory or local repository,
 * two apps deploying one service), each refused with a message that
 * says what; which bump a failed sync blames (versions_blame) on a
 * history made with the git CLI. Landing bumps and rollbacks on a real
 * git daemon is tests/t/t0120-bump.sh.
 */
#include "config.h"

#include "unit.h"

static struct config *
load(const char *url, const char *extra)
{
	struct config	*cfg;
	char		*text, *cause = NULL;

	xasprintf(&text, "state_dir: /nonexistent/state\n"
	    "repositories:\n  - name: infra\n    url: %s\n"
	    "apps:\n"
	    "  - name: checkout-staging\n    repository: infra\n"
	    "    path: apps/checkout\n"
	    "    target: {type: directory, path: /nonexistent/live}\n"
	    "    service: checkout\n    environment: staging\n"
	    "%s", url, extra);
	cfg = config_parse("agent.yaml", text, strlen(text), &cause);
	free(text);
	if (cfg == NULL)
		fail_msg("%s", cause);
	return (cfg);
}

/* versions_write refuses; the cause holds want. */
static void
expect_refused(const struct config *cfg, const struct versions_request *req,
    const char *want)
{
	struct versions_result	 r;
	char			*cause = NULL;

	assert_int_equal(versions_write(cfg, req, &r, &cause), -1);
	assert_non_null(cause);
	if (strstr(cause, want) == NULL)
		fail_msg("'%s' not in '%s'", want, cause);
	free(cause);
}

static void
bump(struct versions_request *req, const char *version)
{
	memset(req, 0, sizeof *req);
	req->kind = VERSIONS_BUMP;
	req->service = "checkout";
	req->environment = "staging";
	req->version = version;
}

static void
test_versions_write_bad_requests_refused_first(void **state)
{
	struct versions_request	 req;
	struct config		*cfg;

	(void)state;
	cfg = load("git://127.0.0.1:1/infra.git",
	    "versions:\n  repository: infra\n");
	bump(&req, "v1 2");
	expect_refused(cfg, &req, "invalid version 'v1 2'");
	bump(&req, "v2");
	req.tag = "v2";
	req.digest = "sha256:00";
	expect_refused(cfg, &req, "a tag or a digest, not both");
	bump(&req, "v2");
	req.digest = "sha256:ABC";
	expect_refused(cfg, &req, "invalid image digest 'sha256:ABC'");
	bump(&req, "v2");
	req.tag = "-v2";
	expect_refused(cfg, &req, "invalid image tag '-v2'");
	bump(&req, "v2");
	req.service = "a:b";
	expect_refused(cfg, &req, "invalid service or environment name");
	bump(&req, "v2");
	req.image = "ghcr.io/acme/x@sha256";
	expect_refused(cfg, &req, "invalid image name");
	config_free(cfg);
}

static void
test_versions_write_needs_a_remote_with_compare_and_swap(void **state)
{
	struct versions_request	 req;
	struct config		*cfg;

	(void)state;
	bump(&req, "v2");
	cfg = load("git://127.0.0.1:1/infra.git", "");
	expect_refused(cfg, &req, "no versions section");
	config_free(cfg);
	/* The configuration check says it too, with the position. */
	{
		char *cause = NULL;
		const char *text = "repositories:\n  - name: infra\n"
		    "    url: file:///srv/infra.git\n"
		    "versions:\n  repository: infra\n";

		assert_null(config_parse("agent.yaml", text, strlen(text),
		    &cause));
		if (strstr(cause, "agent.yaml:5:15: versions are pushed to "
		    "repository 'infra', whose url 'file:///srv/infra.git' "
		    "is a local path") == NULL)
			fail_msg("%s", cause);
		free(cause);
	}
}

static void
test_versions_write_one_app_per_service_and_environment(void **state)
{
	struct versions_request	 req;
	struct config		*cfg;

	(void)state;
	cfg = load("git://127.0.0.1:1/infra.git",
	    "  - name: checkout-staging-2\n    repository: infra\n"
	    "    path: apps/checkout2\n"
	    "    target: {type: directory, path: /nonexistent/live}\n"
	    "    service: checkout\n    environment: staging\n"
	    "versions:\n  repository: infra\n");
	bump(&req, "v2");
	expect_refused(cfg, &req, "apps 'checkout-staging' and "
	    "'checkout-staging-2' both deploy checkout to staging");
	config_free(cfg);
}

static void
test_git_url_kinds(void **state)
{
	(void)state;
	assert_true(git_url_is_local("/srv/infra.git"));
	assert_true(git_url_is_local("file:///srv/infra.git"));
	assert_true(git_url_is_local("./infra.git"));
	assert_false(git_url_is_local("git://127.0.0.1/infra.git"));
	assert_false(git_url_is_local("https://example.com/infra.git"));
	assert_false(git_url_is_local("git@example.com:org/infra.git"));
	assert_true(git_url_is_ssh("git@example.com:org/infra.git"));
	assert_true(git_url_is_ssh("ssh://git@example.com:2222/infra.git"));
	assert_false(git_url_is_ssh("https://example.com/infra.git"));
	assert_false(git_url_is_ssh("/srv/a:b"));
}

/* One finding of versions_blame, checked and freed. */
static void
expect_blame(const struct config *cfg, const char *head, const char *good,
    enum versions_blame_kind kind, const char *commit, size_t commits)
{
	struct versions_blame	 b;
	char			*cause = NULL;

	if (versions_blame(cfg, head, good, "web", "staging", &b,
	    &cause) == -1)
		fail_msg("versions_blame: %s", cause);
	assert_int_equal(b.kind, kind);
	if (commit == NULL)
		assert_null(b.commit);
	else
		assert_string_equal(b.commit, commit);
	assert_int_equal(b.commits, commits);
	versions_blame_free(&b);
}

static void
test_versions_blame_range_since_good_newest_bump(void **state)
{
	struct config		*cfg;
	struct git_cache	*gc;
	char			*tmp = *state, *sdir, *work, *text, *script;
	char			*cause = NULL, *good, *bump, *head, *rev;

	sdir = path_join(tmp, "state");
	work = path_join(tmp, "work");
	setenv("HOME", tmp, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	xasprintf(&text, "state_dir: %s\n"
	    "repositories:\n  - name: infra\n    url: git://127.0.0.1/i.git\n"
	    "apps:\n  - name: web-staging\n    repository: infra\n"
	    "    path: apps/web\n"
	    "    target: {type: directory, path: /nonexistent/live}\n"
	    "    service: web\n    environment: staging\n"
	    "versions:\n  repository: infra\n", sdir);
	if ((cfg = config_parse("agent.yaml", text, strlen(text),
	    &cause)) == NULL)
		fail_msg("%s", cause);
	if (git_cache_open(sdir, "infra", "git://127.0.0.1/i.git", &gc,
	    &cause) == -1)
		fail_msg("git_cache_open: %s", cause);
	unit_write(work, "f", "a\n");
	xasprintf(&script,
	    "git init -q -b main .\n"
	    "git config user.name U && git config user.email u@example.com\n"
	    "git add f && git commit -qm good && git rev-parse HEAD >../good\n"
	    "echo b >>f && git commit -qam 'Deploy web v2 to staging' "
	    "-m 'Deploy-Service: web\nDeploy-Environment: staging'\n"
	    "git rev-parse HEAD >../bump\n"
	    "echo c >g && git add g && git commit -qm unrelated\n"
	    "git rev-parse HEAD >../head\n"
	    "git revert --no-edit HEAD~1 >/dev/null\n"
	    "git rev-parse HEAD >../rev\n"
	    "git push -q '%s' main:refs/remotes/origin/main\n",
	    git_cache_path(gc));
	unit_sh(work, script);
	good = unit_read(tmp, "good");
	bump = unit_read(tmp, "bump");
	head = unit_read(tmp, "head");
	rev = unit_read(tmp, "rev");
	good[40] = bump[40] = head[40] = rev[40] = '\0';

	/* A bump under an unrelated commit is still the one to blame. */
	expect_blame(cfg, head, good, VERSIONS_BLAME_FOUND, bump, 2);
	expect_blame(cfg, bump, good, VERSIONS_BLAME_FOUND, bump, 1);
	/* Nothing since the good sync, or no bump in the range. */
	expect_blame(cfg, head, head, VERSIONS_BLAME_NONE, NULL, 0);
	expect_blame(cfg, head, bump, VERSIONS_BLAME_NONE, NULL, 1);
	/* Reverted since: blamed but not to revert again. */
	expect_blame(cfg, rev, good, VERSIONS_BLAME_REVERTED, bump, 3);
	/* No good sync known, or not on the history: unknown. */
	expect_blame(cfg, head, NULL, VERSIONS_BLAME_UNKNOWN, NULL, 0);
	expect_blame(cfg, good, head, VERSIONS_BLAME_UNKNOWN, NULL, 1);

	free(good);
	free(bump);
	free(head);
	free(rev);
	free(script);
	free(text);
	free(sdir);
	free(work);
	git_cache_free(gc);
	config_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_versions_write_bad_requests_refused_first),
		cmocka_unit_test(
		    test_versions_write_needs_a_remote_with_compare_and_swap),
		cmocka_unit_test(
		    test_versions_write_one_app_per_service_and_environment),
		cmocka_unit_test(test_git_url_kinds),
		cmocka_unit_test_setup_teardown(
		    test_versions_blame_range_since_good_newest_bump,
		    unit_setup_dir, unit_teardown_dir),
	};

	log_init(LOG_LEVEL_WARN, stderr);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
