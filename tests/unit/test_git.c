/*
 * test_git.c: the repository cache and reading from commits: the git
 * source (read, list, stat, materialize; paths out of the tree, symlinks
 * and submodules refused), resolving revisions, changed paths, the cache's
 * remote, and a fetch from a local path through the worker process.
 *
 * Fixtures are built with the git CLI into a scratch directory and pushed
 * into the cache by path: reading needs no network. With arguments the
 * program is instead a small driver for tests/t/t0100-git-read.sh (and,
 * with GIT_WORKER_ARG, the fetch worker itself).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>

#include "unit.h"

struct fixture {
	char		*tmp;
	char		*state;
	char		*work;
	char		 c1[41];	/* first commit, tagged v1 */
	char		 c2[41];	/* second commit, main */
	struct git_cache *gc;
};

static void
fx_read_id(struct fixture *f, const char *name, char id[41])
{
	char	*s = unit_read(f->tmp, name);

	if (s == NULL || strlen(s) < 40)
		fatalx("fixture: no %s", name);
	memcpy(id, s, 40);
	id[40] = '\0';
	free(s);
}

static int
setup(void **state)
{
	struct fixture	*f = xcalloc(1, sizeof *f);
	char		*cause = NULL, *script;

	f->tmp = unit_mkdtemp();
	f->state = path_join(f->tmp, "state");
	f->work = path_join(f->tmp, "work");
	setenv("HOME", f->tmp, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "A U Thor", 1);
	setenv("GIT_AUTHOR_EMAIL", "author@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "C O Mitter", 1);
	setenv("GIT_COMMITTER_EMAIL", "committer@example.com", 1);
	if (git_cache_open(f->state, "infra", NULL, &f->gc, &cause) == -1)
		fatalx("git_cache_open: %s", cause);

	unit_write(f->work, "apps/shop/deploy.yaml", "kind: Deployment\n");
	unit_write(f->work, "apps/shop/config.yaml",
	    "kind: ConfigMap\nmetadata:\n  name: shop-config\n"
	    "data:\n  a: \"1\"\n  b: \"2\"\n  c: \"3\"\n");
	unit_write(f->work, "apps/shop/bin/run.sh", "#!/bin/sh\necho hi\n");
	unit_write(f->work, "apps/a-b/x.yaml", "a-b\n");
	unit_write(f->work, "apps/a/x.yaml", "a\n");
	unit_write(f->work, "apps/linked/ok.yaml", "ok\n");
	unit_write(f->work, "big.txt", "0123456789012345678901234567890\n");
	xasprintf(&script,
	    "git init -q -b main .\n"
	    "chmod 755 apps/shop/bin/run.sh\n"
	    "ln -s ../shop/deploy.yaml apps/linked/link.yaml\n"
	    "ln -s ../../../etc apps/evil\n"
	    "git add -A\n"
	    "git commit -q -m one\n"
	    "git tag -a -m v1 v1\n"
	    "git rev-parse HEAD >../c1\n"
	    "echo 'replicas: 2' >>apps/shop/deploy.yaml\n"
	    "git mv apps/shop/config.yaml apps/shop/settings.yaml\n"
	    "echo new >apps/new.yaml\n"
	    "git add -A\n"
	    "git commit -q -m two\n"
	    "git rev-parse HEAD >../c2\n"
	    "git push -q '%s' main:refs/remotes/origin/main "
	    "refs/tags/v1:refs/tags/v1\n", git_cache_path(f->gc));
	unit_sh(f->work, script);
	free(script);
	fx_read_id(f, "c1", f->c1);
	fx_read_id(f, "c2", f->c2);
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	git_cache_free(f->gc);
	unit_rmtree(f->tmp);
	free(f->tmp);
	free(f->state);
	free(f->work);
	free(f);
	return (0);
}

static struct source *
fx_source(struct fixture *f, const char *rev)
{
	struct source	*src;
	char		*cause = NULL;

	if ((src = source_git_new(f->gc, rev, &cause)) == NULL)
		fail_msg("source_git_new: %s", cause);
	return (src);
}

/* The cause of a failed read, which the caller frees. */
static char *
fx_read_fails(struct source *src, const char *path, size_t max)
{
	char	*data = NULL, *cause = NULL;
	size_t	 len;

	assert_int_equal(source_read(src, path, max, &data, &len, &cause), -1);
	assert_null(data);
	assert_non_null(cause);
	return (cause);
}

static void
test_source_git_read_file_returns_content(void **state)
{
	struct fixture	*f = *state;
	struct source	*src = fx_source(f, f->c2);
	char		*data = NULL, *cause = NULL;
	size_t		 len;

	assert_int_equal(source_read(src, "apps/shop/deploy.yaml", 1024,
	    &data, &len, &cause), 0);
	assert_string_equal(data, "kind: Deployment\nreplicas: 2\n");
	assert_int_equal(len, strlen(data));
	free(data);
	/* The same path in the first commit: that commit's bytes. */
	source_free(src);
	src = fx_source(f, f->c1);
	assert_int_equal(source_read(src, "./apps//shop/deploy.yaml", 1024,
	    &data, &len, &cause), 0);
	assert_string_equal(data, "kind: Deployment\n");
	free(data);
	source_free(src);
}

static void
test_source_git_list_sorted_bytewise(void **state)
{
	struct fixture	*f = *state;
	struct source	*src = fx_source(f, f->c2);
	struct strv	 names;
	char		*cause = NULL;

	/* Git's own order puts "a-b" before "a" (it compares "a/"). */
	assert_int_equal(source_list(src, "apps", &names, &cause), 0);
	assert_int_equal(names.n, 6);
	assert_string_equal(names.v[0], "a");
	assert_string_equal(names.v[1], "a-b");
	assert_string_equal(names.v[2], "evil");
	assert_string_equal(names.v[3], "linked");
	assert_string_equal(names.v[4], "new.yaml");
	assert_string_equal(names.v[5], "shop");
	strv_free(&names);
	assert_int_equal(source_list(src, "apps/shop/deploy.yaml", &names,
	    &cause), -1);
	assert_non_null(strstr(cause, "Not a directory"));
	free(cause);
	source_free(src);
}

static void
test_source_git_stat_reports_types(void **state)
{
	struct fixture		*f = *state;
	struct source		*src = fx_source(f, f->c2);
	enum source_entry_type	 t;
	char			*cause = NULL;

	assert_int_equal(source_stat(src, "", &t, &cause), 0);
	assert_int_equal(t, SOURCE_DIR);
	assert_int_equal(source_stat(src, "apps/shop", &t, &cause), 0);
	assert_int_equal(t, SOURCE_DIR);
	assert_int_equal(source_stat(src, "apps/new.yaml", &t, &cause), 0);
	assert_int_equal(t, SOURCE_FILE);
	assert_int_equal(source_stat(src, "apps/nope", &t, &cause), 0);
	assert_int_equal(t, SOURCE_NONE);
	/* A file in the way of a path: no such path. */
	assert_int_equal(source_stat(src, "big.txt/x", &t, &cause), 0);
	assert_int_equal(t, SOURCE_NONE);
	source_free(src);
}

static void
test_source_git_read_outside_root_refused(void **state)
{
	struct fixture	*f = *state;
	struct source	*src = fx_source(f, f->c2);
	char		*cause;

	cause = fx_read_fails(src, "apps/../../etc/passwd", 1024);
	assert_non_null(strstr(cause, "is outside"));
	free(cause);
	source_free(src);
}

static void
test_source_git_symlink_refused_by_name(void **state)
{
	struct fixture		*f = *state;
	struct source		*src = fx_source(f, f->c2);
	enum source_entry_type	 t;
	char			*cause = NULL;

	/* Even a link that stays inside the tree is not followed. */
	cause = fx_read_fails(src, "apps/linked/link.yaml", 1024);
	assert_non_null(strstr(cause, "/apps/linked/link.yaml' is a symlink"));
	free(cause);
	/* A link on the way is named itself, not the path asked for. */
	cause = fx_read_fails(src, "apps/evil/passwd", 1024);
	assert_non_null(strstr(cause, "/apps/evil' is a symlink"));
	free(cause);
	cause = NULL;
	assert_int_equal(source_stat(src, "apps/evil", &t, &cause), -1);
	assert_non_null(strstr(cause, "symlink"));
	free(cause);
	source_free(src);
}

static void
test_source_git_read_too_large_refused(void **state)
{
	struct fixture	*f = *state;
	struct source	*src = fx_source(f, f->c2);
	char		*cause;

	cause = fx_read_fails(src, "big.txt", 10);
	assert_non_null(strstr(cause, "is too large: 32 bytes"));
	free(cause);
	cause = fx_read_fails(src, "apps", 1024);
	assert_non_null(strstr(cause, "not a regular file"));
	free(cause);
	cause = fx_read_fails(src, "apps/missing.yaml", 1024);
	assert_non_null(strstr(cause, "No such file"));
	free(cause);
	source_free(src);
}

static void
test_source_git_materialize_writes_tree(void **state)
{
	struct fixture	*f = *state;
	struct source	*src = fx_source(f, f->c2);
	struct stat	 st;
	char		*dir = NULL, *cause = NULL, *s, *p;
	int		 cleanup = 0;

	assert_int_equal(source_materialize(src, "apps/shop", &dir, &cleanup,
	    &cause), 0);
	assert_int_equal(cleanup, 1);
	s = unit_read(dir, "deploy.yaml");
	assert_string_equal(s, "kind: Deployment\nreplicas: 2\n");
	free(s);
	s = unit_read(dir, "settings.yaml");
	assert_non_null(s);
	free(s);
	p = path_join(dir, "bin/run.sh");
	assert_int_equal(stat(p, &st), 0);
	assert_true((st.st_mode & S_IXUSR) != 0);
	free(p);
	p = path_join(dir, "config.yaml");
	assert_int_equal(stat(p, &st), -1);
	free(p);
	unit_rmtree(dir);
	free(dir);
	dir = NULL;

	/* A symlink anywhere in the tree: refused, nothing left behind. */
	assert_int_equal(source_materialize(src, "", &dir, &cleanup, &cause),
	    -1);
	assert_null(dir);
	assert_non_null(strstr(cause, "is a symlink"));
	free(cause);
	cause = NULL;
	assert_int_equal(source_materialize(src, "big.txt", &dir, &cleanup,
	    &cause), -1);
	assert_non_null(strstr(cause, "not a directory"));
	free(cause);
	source_free(src);
}

static void
test_source_git_label_names_short_commit(void **state)
{
	struct fixture	*f = *state;
	struct source	*src = fx_source(f, "main");
	char		*want;

	xasprintf(&want, "%s@%.7s", git_cache_path(f->gc), f->c2);
	assert_string_equal(src->label, want);
	free(want);
	source_free(src);
}

static void
test_git_resolve_branch_tag_and_short_id(void **state)
{
	struct fixture	*f = *state;
	char		*oid = NULL, *cause = NULL, short_id[9];

	assert_int_equal(git_resolve(f->gc, "main", &oid, &cause), 0);
	assert_string_equal(oid, f->c2);
	free(oid);
	/* An annotated tag peels to its commit. */
	assert_int_equal(git_resolve(f->gc, "v1", &oid, &cause), 0);
	assert_string_equal(oid, f->c1);
	free(oid);
	snprintf(short_id, sizeof short_id, "%.8s", f->c1);
	assert_int_equal(git_resolve(f->gc, short_id, &oid, &cause), 0);
	assert_string_equal(oid, f->c1);
	free(oid);
	assert_int_equal(git_resolve(f->gc, f->c2, &oid, &cause), 0);
	assert_string_equal(oid, f->c2);
	free(oid);
}

static void
test_git_resolve_unknown_fails(void **state)
{
	struct fixture	*f = *state;
	char		*oid = NULL, *cause = NULL;

	assert_int_equal(git_resolve(f->gc, "nope", &oid, &cause), -1);
	assert_null(oid);
	assert_non_null(strstr(cause, "cannot resolve 'nope'"));
	assert_non_null(strstr(cause, "no such branch, tag or commit"));
	free(cause);
	cause = NULL;
	assert_int_equal(git_resolve(f->gc, "0000000000", &oid, &cause), -1);
	assert_non_null(strstr(cause, "no such branch, tag or commit"));
	free(cause);
	cause = NULL;
	assert_int_equal(git_resolve(f->gc, "../../x", &oid, &cause), -1);
	free(cause);
}

static void
test_git_changed_paths_rename_gives_both(void **state)
{
	struct fixture	*f = *state;
	struct strv	 paths;
	char		*cause = NULL;

	assert_int_equal(git_changed_paths(f->gc, f->c1, f->c2, &paths,
	    &cause), 0);
	assert_int_equal(paths.n, 4);
	assert_string_equal(paths.v[0], "apps/new.yaml");
	assert_string_equal(paths.v[1], "apps/shop/config.yaml");
	assert_string_equal(paths.v[2], "apps/shop/deploy.yaml");
	assert_string_equal(paths.v[3], "apps/shop/settings.yaml");
	strv_free(&paths);
	assert_int_equal(git_changed_paths(f->gc, f->c2, f->c2, &paths,
	    &cause), 0);
	assert_int_equal(paths.n, 0);
	strv_free(&paths);
}

static void
test_git_changed_paths_no_old_lists_everything(void **state)
{
	struct fixture	*f = *state;
	struct strv	 paths;
	char		*cause = NULL;

	assert_int_equal(git_changed_paths(f->gc, NULL, "v1", &paths,
	    &cause), 0);
	assert_int_equal(paths.n, 9);
	assert_true(strv_contains(&paths, "apps/shop/config.yaml"));
	assert_true(strv_contains(&paths, "apps/evil"));
	assert_false(strv_contains(&paths, "apps/new.yaml"));
	strv_free(&paths);
	assert_int_equal(git_changed_paths(f->gc, "nope", f->c2, &paths,
	    &cause), -1);
	assert_non_null(strstr(cause, "'nope'"));
	free(cause);
}

static void
test_git_cache_open_sets_and_updates_remote(void **state)
{
	struct fixture		*f = *state;
	struct git_cache	*gc = NULL;
	char			*cause = NULL, *cfg;

	assert_int_equal(git_cache_open(f->state, "other",
	    "git://127.0.0.1:1/a.git", &gc, &cause), 0);
	git_cache_free(gc);
	assert_int_equal(git_cache_open(f->state, "other",
	    "git://127.0.0.1:1/b.git", &gc, &cause), 0);
	assert_non_null(strstr(git_cache_path(gc), "/repos/other.git"));
	git_cache_free(gc);
	cfg = unit_read(f->state, "repos/other.git/config");
	assert_non_null(cfg);
	assert_non_null(strstr(cfg, "url = git://127.0.0.1:1/b.git"));
	assert_null(strstr(cfg, "a.git"));
	/* Only the configured branch is fetched: no refs/heads/ * refspec. */
	assert_null(strstr(cfg, "fetch ="));
	free(cfg);
}

static void
test_git_cache_open_bad_name_refused(void **state)
{
	struct fixture		*f = *state;
	struct git_cache	*gc = NULL;
	char			*cause = NULL;

	assert_int_equal(git_cache_open(f->state, "../x", NULL, &gc, &cause),
	    -1);
	assert_null(gc);
	assert_non_null(strstr(cause, "invalid repository name '../x'"));
	free(cause);
	cause = NULL;
	assert_int_equal(git_cache_open(f->state, ".hidden", NULL, &gc,
	    &cause), -1);
	free(cause);
}

static void
test_git_messages_hide_url_password(void **state)
{
	struct fixture		*f = *state;
	struct git_cache	*gc = NULL;
	char			*cause = NULL, *oid = NULL;

	assert_int_equal(git_cache_open(f->state, "private",
	    "https://bot:s3cret@example.invalid/infra.git", &gc, &cause), 0);
	assert_int_equal(git_resolve(gc, "main", &oid, &cause), -1);
	assert_non_null(strstr(cause,
	    "'https://example.invalid/infra.git'"));
	assert_null(strstr(cause, "s3cret"));
	free(cause);
	git_cache_free(gc);
}

static void
test_git_cache_fetch_local_gives_tip(void **state)
{
	struct fixture		*f = *state;
	struct git_cache	*gc = NULL;
	struct source		*src;
	struct git_creds	 creds = { .https_token = (char *)"not-used" };
	char			*cause = NULL, *oid = NULL, *data = NULL;
	size_t			 len;

	assert_int_equal(git_cache_open(f->state, "local", f->work, &gc,
	    &cause), 0);
	/* What a worker killed at its deadline may leave behind. */
	unit_write(git_cache_path(gc), "refs/remotes/origin/main.lock", "");
	unit_write(git_cache_path(gc), "objects/pack/pack_git2_Xy12ab", "x");
	if (git_cache_fetch(gc, "main", 30000, &creds, &oid, &cause) == -1)
		fail_msg("git_cache_fetch: %s", cause);
	assert_string_equal(oid, f->c2);
	free(oid);
	assert_null(unit_read(git_cache_path(gc),
	    "objects/pack/pack_git2_Xy12ab"));
	/* What was fetched is readable; the tag came along. */
	assert_non_null(src = source_git_new(gc, "main", &cause));
	assert_int_equal(source_read(src, "apps/new.yaml", 100, &data, &len,
	    &cause), 0);
	assert_string_equal(data, "new\n");
	free(data);
	source_free(src);
	assert_int_equal(git_resolve(gc, "v1", &oid, &cause), 0);
	assert_string_equal(oid, f->c1);
	free(oid);
	/* The handle opened before the fetch sees what it brought. */
	assert_int_equal(git_resolve(gc, "main", &oid, &cause), 0);
	assert_string_equal(oid, f->c2);
	free(oid);

	assert_int_equal(git_cache_fetch(gc, "gone", 30000, NULL, &oid,
	    &cause), -1);
	assert_null(oid);
	assert_non_null(strstr(cause, "no branch 'gone' on the remote"));
	free(cause);
	cause = NULL;
	assert_int_equal(git_cache_fetch(gc, "a..b", 30000, NULL, &oid,
	    &cause), -1);
	assert_non_null(strstr(cause, "invalid branch name 'a..b'"));
	free(cause);
	git_cache_free(gc);
}

/*
 * A commit's signature: none on an unsigned commit; on one the agent
 * signed (git_commit_files with a key), the armoured SSH signature and
 * the commit without its gpgsig header, which verify with that key.
 */
static void
test_git_commit_signature_unsigned_signed_and_missing(void **state)
{
	struct fixture		*f = *state;
	struct git_file_update	 up = { "apps/new.yaml", "signed\n", 7 };
	struct git_author	 author = { "Deploy Bot", "deploy@example.com",
				    NULL };
	struct config_verify	 keys = { NULL, NULL };
	char			*sig, *data, *id = NULL, *cause = NULL;
	char			*pub, *line, *who = NULL;
	size_t			 len;

	assert_int_equal(git_commit_signature(f->gc, f->c2, &sig, &data, &len,
	    &cause), 0);
	assert_null(sig);
	assert_null(data);
	assert_int_equal(git_commit_signature(f->gc,
	    "0123456789012345678901234567890123456789", &sig, &data, &len,
	    &cause), -1);
	assert_non_null(strstr(cause, "cannot read commit 0123456789"));
	free(cause);

	if ((pub = spawn_find_program("ssh-keygen")) == NULL)
		skip();
	free(pub);
	unit_sh(f->tmp, "ssh-keygen -q -t ed25519 -N '' -C deploy -f key");
	author.signing_key = line = path_join(f->tmp, "key");
	if (git_commit_files(f->gc, f->c2, &up, 1, "signed\n", &author, &id,
	    &cause) == -1)
		fail_msg("git_commit_files: %s", cause);
	free(line);
	assert_int_equal(git_commit_signature(f->gc, id, &sig, &data, &len,
	    &cause), 0);
	assert_non_null(sig);
	assert_int_equal(strncmp(sig, "-----BEGIN SSH SIGNATURE-----\n", 30),
	    0);
	assert_int_equal(strncmp(data, "tree ", 5), 0);
	assert_int_equal(len, strlen(data));
	assert_null(strstr(data, "gpgsig"));
	assert_non_null(strstr(data, "\n\nsigned\n"));

	pub = unit_read(f->tmp, "key.pub");
	xasprintf(&line, "deploy@example.com namespaces=\"git\" %s", pub);
	unit_write(f->tmp, "allowed", line);
	keys.allowed_signers = path_join(f->tmp, "allowed");
	if (verify_signature(&keys, sig, strlen(sig), data, len, &who,
	    &cause) == -1)
		fail_msg("verify_signature: %s", cause);
	assert_int_equal(strncmp(who, "deploy@example.com with ED25519", 31),
	    0);
	free(keys.allowed_signers);
	free(who);
	free(line);
	free(pub);
	free(sig);
	free(data);
	free(id);
}

/*
 * The driver for the shell tests:
 *   fetch STATE NAME URL BRANCH [TIMEOUT_MS]	prints the commit id
 *   cat STATE NAME REV PATH			prints the file
 *   ls STATE NAME REV PATH			prints the names
 *   changed STATE NAME OLD|- NEW		prints the paths
 *   resolve STATE NAME REV			prints the commit id
 * An error is printed on stderr and the exit status is 1.
 */
static int
driver(int argc, char **argv)
{
	struct git_cache	*gc = NULL;
	struct source		*src = NULL;
	struct git_creds	 creds = { .https_token = getenv("TEST_GIT_TOKEN") };
	struct strv		 sv;
	const char		*cmd = argv[1], *url = NULL;
	char			*cause = NULL, *out = NULL;
	uint64_t		 timeout = 0;
	size_t			 len, i;
	int			 rv = 1;

	memset(&sv, 0, sizeof sv);
	if (argc < 5)
		goto usage;
	if (strcmp(cmd, "fetch") == 0) {
		if (argc != 6 && argc != 7)
			goto usage;
		url = argv[4];
		if (argc == 7)
			timeout = strtoull(argv[6], NULL, 10);
	}
	if (git_cache_open(argv[2], argv[3], url, &gc, &cause) == -1)
		goto out;
	if (strcmp(cmd, "fetch") == 0) {
		if (git_cache_fetch(gc, argv[5], timeout, &creds, &out,
		    &cause) == -1)
			goto out;
		printf("%s\n", out);
	} else if (strcmp(cmd, "resolve") == 0 && argc == 5) {
		if (git_resolve(gc, argv[4], &out, &cause) == -1)
			goto out;
		printf("%s\n", out);
	} else if (strcmp(cmd, "changed") == 0 && argc == 6) {
		if (git_changed_paths(gc, strcmp(argv[4], "-") == 0 ? NULL :
		    argv[4], argv[5], &sv, &cause) == -1)
			goto out;
		for (i = 0; i < sv.n; i++)
			printf("%s\n", sv.v[i]);
	} else if ((strcmp(cmd, "cat") == 0 || strcmp(cmd, "ls") == 0) &&
	    argc == 6) {
		if ((src = source_git_new(gc, argv[4], &cause)) == NULL)
			goto out;
		if (*cmd == 'c') {
			if (source_read(src, argv[5], YAML_MAX_FILE_SIZE,
			    &out, &len, &cause) == -1)
				goto out;
			fwrite(out, 1, len, stdout);
		} else {
			if (source_list(src, argv[5], &sv, &cause) == -1)
				goto out;
			for (i = 0; i < sv.n; i++)
				printf("%s\n", sv.v[i]);
		}
	} else
		goto usage;
	rv = 0;
	goto out;
usage:
	fprintf(stderr, "usage: test_git fetch|cat|ls|changed|resolve ...\n");
	rv = 2;
out:
	if (cause != NULL)
		fprintf(stderr, "%s\n", cause);
	free(cause);
	free(out);
	strv_free(&sv);
	source_free(src);
	git_cache_free(gc);
	return (rv);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
		T(test_source_git_read_file_returns_content),
		T(test_source_git_list_sorted_bytewise),
		T(test_source_git_stat_reports_types),
		T(test_source_git_read_outside_root_refused),
		T(test_source_git_symlink_refused_by_name),
		T(test_source_git_read_too_large_refused),
		T(test_source_git_materialize_writes_tree),
		T(test_source_git_label_names_short_commit),
		T(test_git_resolve_branch_tag_and_short_id),
		T(test_git_resolve_unknown_fails),
		T(test_git_changed_paths_rename_gives_both),
		T(test_git_changed_paths_no_old_lists_everything),
		T(test_git_cache_open_sets_and_updates_remote),
		T(test_git_cache_open_bad_name_refused),
		T(test_git_messages_hide_url_password),
		T(test_git_cache_fetch_local_gives_tip),
		T(test_git_commit_signature_unsigned_signed_and_missing),
#undef T
	};

	if (argc > 1 && strcmp(argv[1], GIT_WORKER_ARG) == 0)
		return (git_worker_main(argc, argv));
	if (argc > 1)
		return (driver(argc, argv));
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
