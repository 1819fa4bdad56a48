/* test_source.c: the generic source calls and the directory source. */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>

#include "unit.h"

struct fixture {
	char		*dir;	/* scratch: holds root/ and outside/ */
	char		*root;
	char		*outside;
	struct source	*src;
};

static int
setup(void **state)
{
	struct fixture	*f = xcalloc(1, sizeof *f);

	f->dir = unit_mkdtemp();
	f->root = path_join(f->dir, "root");
	f->outside = path_join(f->dir, "outside");
	unit_write(f->dir, "root/apps/x/deploy.yaml", "kind: Deployment\n");
	unit_write(f->dir, "root/apps/x/b.yaml", "b\n");
	unit_write(f->dir, "root/apps/x/.hidden.yaml", "h\n");
	unit_write(f->dir, "root/top.yaml", "top\n");
	unit_write(f->dir, "outside/secret.yaml", "password: hunter2\n");
	f->src = source_dir_new(f->root);
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	source_free(f->src);
	unit_rmtree(f->dir);
	free(f->dir);
	free(f->root);
	free(f->outside);
	free(f);
	return (0);
}

/* A symlink at root/rel pointing at target. */
static void
link_at(struct fixture *f, const char *target, const char *rel)
{
	char	*p = path_join(f->root, rel);

	if (symlink(target, p) == -1)
		fatal("symlink %s", p);
	free(p);
}

/* Read rel expecting failure; returns the cause (caller frees). */
static char *
read_fails(struct fixture *f, const char *rel)
{
	char	*data = NULL, *cause = NULL;
	size_t	 len = 0;

	assert_int_equal(source_read(f->src, rel, 1024, &data, &len, &cause),
	    -1);
	assert_null(data);
	assert_non_null(cause);
	return (cause);
}

static void assert_cause(char *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* The cause is exactly the formatted message; frees the cause. */
static void
assert_cause(char *cause, const char *fmt, ...)
{
	va_list	 ap;
	char	*want;

	va_start(ap, fmt);
	xvasprintf(&want, fmt, ap);
	va_end(ap);
	assert_string_equal(cause, want);
	free(want);
	free(cause);
}

static void
test_source_read_file_returns_content(void **state)
{
	struct fixture	*f = *state;
	char		*data = NULL, *cause = NULL;
	size_t		 len;

	assert_int_equal(source_read(f->src, "apps/x/deploy.yaml", 1024,
	    &data, &len, &cause), 0);
	assert_null(cause);
	assert_int_equal(len, strlen("kind: Deployment\n"));
	assert_string_equal(data, "kind: Deployment\n");
	free(data);
}

static void
test_source_read_normalises_path_inside_root(void **state)
{
	struct fixture	*f = *state;
	char		*data = NULL, *cause = NULL;
	size_t		 len;

	assert_int_equal(source_read(f->src, "./apps//x/../../top.yaml", 1024,
	    &data, &len, &cause), 0);
	assert_string_equal(data, "top\n");
	free(data);
}

static void
test_source_read_missing_fails_with_path(void **state)
{
	struct fixture	*f = *state;

	assert_cause(read_fails(f, "apps/nope.yaml"),
	    "cannot read '%s/apps/nope.yaml': No such file or directory",
	    f->root);
}

static void
test_source_read_dotdot_past_root_refused(void **state)
{
	struct fixture	*f = *state;

	assert_cause(read_fails(f, "apps/../../outside/secret.yaml"),
	    "path 'apps/../../outside/secret.yaml' is outside '%s'", f->root);
}

static void
test_source_read_absolute_path_refused(void **state)
{
	struct fixture	*f = *state;

	assert_cause(read_fails(f, "/etc/passwd"),
	    "path '/etc/passwd' is outside '%s'", f->root);
}

static void
test_source_read_symlink_escape_refused(void **state)
{
	struct fixture	*f = *state;
	char		*target = path_join(f->outside, "secret.yaml");

	link_at(f, target, "apps/x/passwd.yaml");
	link_at(f, "/etc/passwd", "etc.yaml");
	link_at(f, "../outside/secret.yaml", "rel.yaml");
	assert_cause(read_fails(f, "apps/x/passwd.yaml"),
	    "'%s/apps/x/passwd.yaml' leads outside '%s' through a symlink",
	    f->root, f->root);
	assert_cause(read_fails(f, "etc.yaml"),
	    "'%s/etc.yaml' leads outside '%s' through a symlink", f->root,
	    f->root);
	assert_cause(read_fails(f, "rel.yaml"),
	    "'%s/rel.yaml' leads outside '%s' through a symlink", f->root,
	    f->root);
	free(target);
}

static void
test_source_read_through_escaping_dir_symlink_refused(void **state)
{
	struct fixture		*f = *state;
	enum source_entry_type	 type;
	struct strv		 names;
	char			*cause = NULL;

	link_at(f, f->outside, "ext");
	assert_cause(read_fails(f, "ext/secret.yaml"),
	    "'%s/ext/secret.yaml' leads outside '%s' through a symlink",
	    f->root, f->root);
	assert_int_equal(source_list(f->src, "ext", &names, &cause), -1);
	assert_cause(cause, "'%s/ext' leads outside '%s' through a symlink",
	    f->root, f->root);
	cause = NULL;
	assert_int_equal(source_stat(f->src, "ext", &type, &cause), -1);
	assert_cause(cause, "'%s/ext' leads outside '%s' through a symlink",
	    f->root, f->root);
}

static void
test_source_read_symlink_inside_root_followed(void **state)
{
	struct fixture	*f = *state;
	char		*data = NULL, *cause = NULL;
	size_t		 len;

	link_at(f, "../../top.yaml", "apps/x/link.yaml");
	link_at(f, "apps", "apps-link");
	assert_int_equal(source_read(f->src, "apps/x/link.yaml", 1024, &data,
	    &len, &cause), 0);
	assert_string_equal(data, "top\n");
	free(data);
	assert_int_equal(source_read(f->src, "apps-link/x/b.yaml", 1024,
	    &data, &len, &cause), 0);
	assert_string_equal(data, "b\n");
	free(data);
}

static void
test_source_read_too_large_refused(void **state)
{
	struct fixture	*f = *state;
	char		*data = NULL, *cause = NULL, *want;
	size_t		 len;

	assert_int_equal(source_read(f->src, "apps/x/deploy.yaml", 4, &data,
	    &len, &cause), -1);
	assert_null(data);
	xasprintf(&want, "'%s/apps/x/deploy.yaml' is too large: 17 bytes, "
	    "the limit is 4", f->root);
	assert_string_equal(cause, want);
	free(want);
	free(cause);
}

static void
test_source_read_fifo_refused_without_blocking(void **state)
{
	struct fixture	*f = *state;
	char		*p = path_join(f->root, "pipe.yaml");

	if (mkfifo(p, 0600) == -1)
		fatal("mkfifo");
	assert_cause(read_fails(f, "pipe.yaml"),
	    "'%s/pipe.yaml' is not a regular file", f->root);
	free(p);
}

static void
test_source_read_directory_refused(void **state)
{
	struct fixture	*f = *state;

	assert_cause(read_fails(f, "apps"),
	    "'%s/apps' is not a regular file", f->root);
}

static void
test_source_stat_reports_types(void **state)
{
	struct fixture		*f = *state;
	enum source_entry_type	 type;
	char			*cause = NULL;

	assert_int_equal(source_stat(f->src, "apps/x", &type, &cause), 0);
	assert_int_equal(type, SOURCE_DIR);
	assert_int_equal(source_stat(f->src, "", &type, &cause), 0);
	assert_int_equal(type, SOURCE_DIR);
	assert_int_equal(source_stat(f->src, "top.yaml", &type, &cause), 0);
	assert_int_equal(type, SOURCE_FILE);
	assert_int_equal(source_stat(f->src, "nope", &type, &cause), 0);
	assert_int_equal(type, SOURCE_NONE);
	assert_int_equal(source_stat(f->src, "top.yaml/x", &type, &cause), 0);
	assert_int_equal(type, SOURCE_NONE);
	link_at(f, "nowhere", "dangling.yaml");
	assert_int_equal(source_stat(f->src, "dangling.yaml", &type, &cause),
	    0);
	assert_int_equal(type, SOURCE_NONE);
	assert_null(cause);
	assert_int_equal(source_stat(f->src, "..", &type, &cause), -1);
	assert_cause(cause, "path '..' is outside '%s'", f->root);
}

static void
test_source_stat_symlink_loop_refused(void **state)
{
	struct fixture		*f = *state;
	enum source_entry_type	 type;
	char			*cause = NULL;

	link_at(f, ".", "apps/x/self");
	link_at(f, "../..", "apps/x/up");
	assert_int_equal(source_stat(f->src, "apps/x/self", &type, &cause),
	    -1);
	assert_cause(cause, "'%s/apps/x/self' is a symlink loop: it leads "
	    "back to a folder above it", f->root);
	cause = NULL;
	assert_int_equal(source_stat(f->src, "apps/x/up", &type, &cause), -1);
	assert_cause(cause, "'%s/apps/x/up' is a symlink loop: it leads "
	    "back to a folder above it", f->root);
	/* Two links into each other: caught one level down. */
	unit_write(f->root, "y/keep", "");
	link_at(f, "../y", "apps/l");
	link_at(f, "../apps/l", "y/m");
	cause = NULL;
	assert_int_equal(source_stat(f->src, "apps/l", &type, &cause), 0);
	assert_int_equal(type, SOURCE_DIR);
	assert_int_equal(source_stat(f->src, "apps/l/m", &type, &cause), -1);
	assert_cause(cause, "'%s/apps/l/m' is a symlink loop: it leads "
	    "back to a folder above it", f->root);
	/* A link to a sibling folder is no loop. */
	link_at(f, "../top.yaml", "apps/top-link.yaml");
	link_at(f, "x", "apps/x-link");
	cause = NULL;
	assert_int_equal(source_stat(f->src, "apps/x-link", &type, &cause),
	    0);
	assert_int_equal(type, SOURCE_DIR);
}

static void
test_source_list_sorted_with_hidden_names(void **state)
{
	struct fixture	*f = *state;
	struct strv	 names;
	char		*cause = NULL;

	assert_int_equal(source_list(f->src, "apps/x", &names, &cause), 0);
	assert_int_equal(names.n, 3);
	assert_string_equal(names.v[0], ".hidden.yaml");
	assert_string_equal(names.v[1], "b.yaml");
	assert_string_equal(names.v[2], "deploy.yaml");
	strv_free(&names);
	assert_int_equal(source_list(f->src, "", &names, &cause), 0);
	assert_int_equal(names.n, 2);
	assert_string_equal(names.v[0], "apps");
	assert_string_equal(names.v[1], "top.yaml");
	strv_free(&names);
}

static void
test_source_list_missing_fails(void **state)
{
	struct fixture	*f = *state;
	struct strv	 names;
	char		*cause = NULL;

	assert_int_equal(source_list(f->src, "nope", &names, &cause), -1);
	assert_int_equal(names.n, 0);
	assert_cause(cause, "cannot read '%s/nope': No such file or directory",
	    f->root);
}

static void
test_source_materialize_dir_returns_path_in_place(void **state)
{
	struct fixture	*f = *state;
	char		*dir = NULL, *cause = NULL, *want;
	int		 cleanup = 1;

	assert_int_equal(source_materialize(f->src, "apps/./x", &dir,
	    &cleanup, &cause), 0);
	assert_int_equal(cleanup, 0);
	want = path_join(f->root, "apps/x");
	assert_string_equal(dir, want);
	free(want);
	free(dir);
	assert_int_equal(source_materialize(f->src, "", &dir, &cleanup,
	    &cause), 0);
	assert_string_equal(dir, f->root);
	free(dir);
	assert_int_equal(source_materialize(f->src, "top.yaml", &dir,
	    &cleanup, &cause), -1);
	assert_null(dir);
	assert_cause(cause, "'%s/top.yaml' is not a directory", f->root);
}

static void
test_source_display_path_joins_label(void **state)
{
	struct fixture	*f = *state;
	struct source	*rel, *dot;
	char		*p, *want;

	p = source_display_path(f->src, "apps/x/deploy.yaml");
	want = path_join(f->root, "apps/x/deploy.yaml");
	assert_string_equal(p, want);
	free(p);
	free(want);
	rel = source_dir_new("manifests/examples/ecommerce");
	assert_string_equal(rel->label, "manifests/examples/ecommerce");
	p = source_display_path(rel, "apps/x/base/deploy.yaml");
	assert_string_equal(p,
	    "manifests/examples/ecommerce/apps/x/base/deploy.yaml");
	free(p);
	dot = source_dir_new(".");
	p = source_display_path(dot, "apps/x.yaml");
	assert_string_equal(p, "apps/x.yaml");
	free(p);
	source_free(rel);
	source_free(dot);
}

static void
test_source_dir_missing_root_fails_on_use(void **state)
{
	struct fixture	*f = *state;
	struct source	*src;
	char		*root, *data = NULL, *cause = NULL;
	size_t		 len;

	root = path_join(f->dir, "absent");
	src = source_dir_new(root);
	assert_int_equal(source_read(src, "x.yaml", 10, &data, &len, &cause),
	    -1);
	assert_cause(cause, "cannot open '%s': No such file or directory",
	    root);
	source_free(src);
	free(root);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
		T(test_source_read_file_returns_content),
		T(test_source_read_normalises_path_inside_root),
		T(test_source_read_missing_fails_with_path),
		T(test_source_read_dotdot_past_root_refused),
		T(test_source_read_absolute_path_refused),
		T(test_source_read_symlink_escape_refused),
		T(test_source_read_through_escaping_dir_symlink_refused),
		T(test_source_read_symlink_inside_root_followed),
		T(test_source_read_too_large_refused),
		T(test_source_read_fifo_refused_without_blocking),
		T(test_source_read_directory_refused),
		T(test_source_stat_reports_types),
		T(test_source_stat_symlink_loop_refused),
		T(test_source_list_sorted_with_hidden_names),
		T(test_source_list_missing_fails),
		T(test_source_materialize_dir_returns_path_in_place),
		T(test_source_display_path_joins_label),
		T(test_source_dir_missing_root_fails_on_use),
#undef T
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
