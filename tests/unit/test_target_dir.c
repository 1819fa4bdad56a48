/*
 * test_target_dir.c: the directory target: paths from identities, atomic
 * apply, get, compare, health, the inventory and what prune may delete.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>

#include "unit.h"

static char *root;

static int
setup(void **state)
{
	root = unit_mkdtemp();
	return (0);
}

static int
teardown(void **state)
{
	unit_rmtree(root);
	free(root);
	return (0);
}

/* One resource from YAML text; the caller frees it. */
static struct resource *
res_yaml(const char *text)
{
	struct yaml_file	*yf = NULL;
	struct resource		*r;
	struct json		*obj;
	char			*cause = NULL;

	if (yaml_parse("test.yaml", text, strlen(text), 0, &yf, &cause) == -1)
		fail_msg("yaml_parse: %s", cause);
	obj = yaml_doc_detach(yf, 0);
	yaml_file_free(yf);
	if ((r = resource_new(obj, "test.yaml", 1, 1, NULL, &cause)) == NULL)
		fail_msg("resource_new: %s", cause);
	return (r);
}

static struct resource *
res_cm(const char *ns, const char *name, const char *value, int wave)
{
	char		*text;
	struct resource	*r;

	xasprintf(&text, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
	    "  name: %s\n  namespace: %s\n  annotations:\n"
	    "    argocd.argoproj.io/sync-wave: \"%d\"\ndata:\n  key: %s\n",
	    name, ns, wave, value);
	r = res_yaml(text);
	free(text);
	return (r);
}

static char *
live_path(const struct resource *r)
{
	char	*p = target_dir_path(root, r->id);

	assert_non_null(p);
	return (p);
}

static int
exists(const char *path)
{
	struct stat	st;

	return (lstat(path, &st) == 0);
}

static int	tmp_found;

static int
find_tmp_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	if (strstr(path, ".tmp.") != NULL)
		tmp_found++;
	return (0);
}

static void
apply_ok(struct target *t, const struct resource *r)
{
	char	*cause = NULL;

	if (target_apply(t, r, &cause) == -1)
		fail_msg("target_apply: %s", cause);
}

static void
test_target_dir_path_namespaced_uses_namespace_kind_name(void **state)
{
	char	*p;

	p = target_dir_path("/live", "Deployment.apps/shop/checkout");
	assert_string_equal(p, "/live/shop/Deployment.apps/checkout.yaml");
	free(p);
	p = target_dir_path("/live/", "ConfigMap/shop/checkout-config");
	assert_string_equal(p, "/live/shop/ConfigMap/checkout-config.yaml");
	free(p);
}

static void
test_target_dir_path_cluster_scoped_uses_cluster_dir(void **state)
{
	char	*p;

	p = target_dir_path("/live", "Namespace/shop");
	assert_string_equal(p, "/live/_cluster/Namespace/shop.yaml");
	free(p);
	p = target_dir_path("/live", "CustomResourceDefinition."
	    "apiextensions.k8s.io/rollouts.argoproj.io");
	assert_string_equal(p, "/live/_cluster/CustomResourceDefinition."
	    "apiextensions.k8s.io/rollouts.argoproj.io.yaml");
	free(p);
}

static void
test_target_dir_path_unsafe_id_returns_null(void **state)
{
	static const char *bad[] = {
		"ConfigMap/../x", "ConfigMap/shop/..", "ConfigMap/./x",
		"../shop/x", "ConfigMap/a/b/c", "ConfigMap//x", "ConfigMap/",
		"noslash", "/x", "ConfigMap/_cluster/x", ".gitops-agent/x/y",
		"ConfigMap/shop/.hidden",
	};
	size_t	i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *p = target_dir_path("/live", bad[i]);

		if (p != NULL)
			fail_msg("'%s' gave '%s'", bad[i], p);
	}
}

static void
test_target_apply_new_resource_writes_yaml_atomically(void **state)
{
	struct target	*t = target_dir_new("shop", root);
	struct resource	*r = res_cm("shop", "a", "one", 0);
	char		*path = live_path(r), *want, *got, *cause = NULL;

	apply_ok(t, r);
	want = yaml_emit(r->obj);
	got = unit_read(root, "shop/ConfigMap/a.yaml");
	assert_non_null(got);
	assert_string_equal(got, want);
	tmp_found = 0;
	nftw(root, find_tmp_cb, 16, FTW_PHYS);
	assert_int_equal(tmp_found, 0);
	assert_int_equal(target_inventory_save(t, &cause), 0);
	free(got);
	free(want);
	free(path);
	resource_free(r);
	target_free(t);
}

static void
test_target_get_applied_resource_round_trips(void **state)
{
	struct target	*t = target_dir_new("shop", root);
	struct resource	*r = res_cm("shop", "a", "one", 0);
	struct json	*live = NULL;
	char		*cause = NULL;

	assert_int_equal(target_get(t, r->id, &live, &cause), 0);
	assert_null(live);
	apply_ok(t, r);
	assert_int_equal(target_get(t, r->id, &live, &cause), 0);
	assert_non_null(live);
	assert_true(json_equal(live, r->obj));
	json_free(live);
	resource_free(r);
	target_free(t);
}

static void
test_target_compare_states_gives_create_unchanged_update(void **state)
{
	struct target	*t = target_dir_new("shop", root);
	struct resource	*r = res_cm("shop", "a", "one", 0);
	struct resource	*r2 = res_cm("shop", "a", "two", 0);
	enum diff_action a;
	struct json	*live = NULL;
	char		*cause = NULL, *text, *extra;

	assert_int_equal(target_compare(t, r, &a, &live, &cause), 0);
	assert_int_equal(a, DIFF_CREATE);
	apply_ok(t, r);
	assert_int_equal(target_compare(t, r, &a, &live, &cause), 0);
	assert_int_equal(a, DIFF_UNCHANGED);
	assert_null(live);
	assert_int_equal(target_compare(t, r2, &a, &live, &cause), 0);
	assert_int_equal(a, DIFF_UPDATE);
	assert_non_null(live);
	assert_string_equal(json_path_string(live, "data", "key", NULL),
	    "one");
	json_free(live);
	live = NULL;

	/* Fields live has beyond desired are not drift. */
	text = yaml_emit(r->obj);
	xasprintf(&extra, "%sstatus:\n  seen: true\n", text);
	unit_write(root, "shop/ConfigMap/a.yaml", extra);
	assert_int_equal(target_compare(t, r, &a, &live, &cause), 0);
	assert_int_equal(a, DIFF_UNCHANGED);
	free(extra);
	free(text);
	resource_free(r);
	resource_free(r2);
	target_free(t);
}

static void
test_target_compare_unreadable_path_fails(void **state)
{
	struct target	*t = target_dir_new("shop", root);
	struct resource	*r = res_cm("shop", "a", "one", 0);
	char		*path = live_path(r), *cause = NULL;
	enum diff_action a;

	assert_int_equal(file_mkdirs(path, 0755, &cause), 0);
	assert_int_equal(target_compare(t, r, &a, NULL, &cause), -1);
	assert_non_null(strstr(cause, "is not a regular file"));
	free(cause);
	cause = NULL;
	assert_int_equal(target_apply(t, r, &cause), -1);
	assert_non_null(cause);
	free(cause);
	free(path);
	resource_free(r);
	target_free(t);
}

static void
test_target_inventory_save_then_load_keeps_entries(void **state)
{
	struct target		*t = target_dir_new("shop", root);
	struct resource		*a = res_cm("shop", "a", "one", -2);
	struct resource		*b = res_cm("shop", "b", "two", 3);
	struct target_entry	*v;
	struct strv		 ids = { NULL, 0 };
	size_t			 n;
	char			*cause = NULL, *inv;

	apply_ok(t, b);
	apply_ok(t, a);
	assert_int_equal(target_inventory_save(t, &cause), 0);
	target_free(t);

	inv = unit_read(root, ".gitops-agent/inventory/shop.json");
	assert_non_null(inv);
	assert_non_null(strstr(inv, "\"sha256\""));
	free(inv);

	t = target_dir_new("shop", root);
	assert_int_equal(target_inventory_entries(t, &v, &n, &cause), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, "ConfigMap/shop/a");
	assert_int_equal(v[0].wave, -2);
	assert_int_equal(v[0].phase, PHASE_SYNC);
	assert_string_equal(v[1].id, "ConfigMap/shop/b");
	assert_int_equal(v[1].wave, 3);
	target_entries_free(v, n);
	assert_int_equal(target_inventory(t, &ids, &cause), 0);
	assert_int_equal(ids.n, 2);
	strv_free(&ids);
	target_free(t);

	/* Another app on the same directory has its own inventory. */
	t = target_dir_new("other", root);
	assert_int_equal(target_inventory_entries(t, &v, &n, &cause), 0);
	assert_int_equal(n, 0);
	target_entries_free(v, n);
	target_free(t);
	resource_free(a);
	resource_free(b);
}

static void
test_target_inventory_save_unchanged_writes_nothing(void **state)
{
	struct target	*t = target_dir_new("shop", root);
	struct resource	*a = res_cm("shop", "a", "one", 0);
	struct stat	 st1, st2;
	struct strv	 ids = { NULL, 0 };
	char		*cause = NULL, *inv;

	apply_ok(t, a);
	assert_int_equal(target_inventory_save(t, &cause), 0);
	target_free(t);
	inv = path_join(root, ".gitops-agent/inventory/shop.json");
	assert_int_equal(stat(inv, &st1), 0);

	t = target_dir_new("shop", root);
	assert_int_equal(target_inventory(t, &ids, &cause), 0);
	assert_int_equal(ids.n, 1);
	strv_free(&ids);
	assert_int_equal(target_inventory_save(t, &cause), 0);
	assert_int_equal(stat(inv, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	assert_int_equal(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
	target_free(t);
	free(inv);
	resource_free(a);
}

static void
test_target_inventory_corrupt_fails_naming_file(void **state)
{
	struct target	*t = target_dir_new("shop", root);
	struct strv	 ids = { NULL, 0 };
	char		*cause = NULL;

	unit_write(root, ".gitops-agent/inventory/shop.json",
	    "{\"resources\": [{\"id\": \"ConfigMap/shop/a\", \"phase\": "
	    "\"Sync\", \"wave\": 0}, {\"id\": \"ConfigMap/../x\", "
	    "\"phase\": \"Sync\", \"wave\": 0}]}\n");
	assert_int_equal(target_inventory(t, &ids, &cause), -1);
	assert_non_null(strstr(cause, "inventory/shop.json"));
	assert_non_null(strstr(cause, "resources[1]"));
	free(cause);
	target_free(t);
}

static void
test_target_inventory_bad_app_name_fails(void **state)
{
	struct target	*t = target_dir_new("../evil", root);
	struct strv	 ids = { NULL, 0 };
	char		*cause = NULL;

	assert_int_equal(target_inventory(t, &ids, &cause), -1);
	assert_non_null(strstr(cause, "invalid app name"));
	free(cause);
	target_free(t);
}

static void
test_target_remove_file_not_written_refuses(void **state)
{
	struct target		*t = target_dir_new("shop", root);
	enum target_remove_status rs;
	char			*cause = NULL, *got;

	unit_write(root, "shop/ConfigMap/mine.yaml", "hand: made\n");
	assert_int_equal(target_remove(t, "ConfigMap/shop/mine", &rs,
	    &cause), -1);
	assert_non_null(strstr(cause, "not in the inventory"));
	got = unit_read(root, "shop/ConfigMap/mine.yaml");
	assert_non_null(got);
	assert_string_equal(got, "hand: made\n");
	free(got);
	free(cause);
	target_free(t);
}

static void
test_target_remove_written_file_deletes_and_empty_dirs(void **state)
{
	struct target		*t = target_dir_new("shop", root);
	struct resource		*a = res_cm("shop", "a", "one", 0);
	struct resource		*b = res_cm("shop", "b", "two", 0);
	enum target_remove_status rs;
	char			*pa = live_path(a), *pb = live_path(b), *d;
	char			*cause = NULL;
	struct strv		 ids = { NULL, 0 };

	apply_ok(t, a);
	apply_ok(t, b);
	assert_int_equal(target_remove(t, a->id, &rs, &cause), 0);
	assert_int_equal(rs, TARGET_REMOVED);
	assert_false(exists(pa));
	d = path_join(root, "shop/ConfigMap");
	assert_true(exists(d));		/* b is still there */
	assert_int_equal(target_remove(t, b->id, &rs, &cause), 0);
	assert_int_equal(rs, TARGET_REMOVED);
	assert_false(exists(pb));
	assert_false(exists(d));
	free(d);
	d = path_join(root, "shop");
	assert_false(exists(d));
	free(d);
	assert_true(exists(root));
	assert_int_equal(target_inventory(t, &ids, &cause), 0);
	assert_int_equal(ids.n, 0);
	free(pa);
	free(pb);
	resource_free(a);
	resource_free(b);
	target_free(t);
}

static void
test_target_remove_hand_edited_file_keeps_and_forgets(void **state)
{
	struct target		*t = target_dir_new("shop", root);
	struct resource		*a = res_cm("shop", "a", "one", 0);
	enum target_remove_status rs;
	struct strv		 ids = { NULL, 0 };
	char			*cause = NULL, *got;

	apply_ok(t, a);
	unit_write(root, "shop/ConfigMap/a.yaml", "edited: by hand\n");
	assert_int_equal(target_remove(t, a->id, &rs, &cause), 0);
	assert_int_equal(rs, TARGET_KEPT);
	got = unit_read(root, "shop/ConfigMap/a.yaml");
	assert_non_null(got);
	assert_string_equal(got, "edited: by hand\n");
	free(got);
	/* Forgotten: a later prune cannot touch it. */
	assert_int_equal(target_inventory(t, &ids, &cause), 0);
	assert_int_equal(ids.n, 0);
	assert_int_equal(target_remove(t, a->id, &rs, &cause), -1);
	free(cause);
	resource_free(a);
	target_free(t);
}

static void
test_target_remove_missing_file_is_gone(void **state)
{
	struct target		*t = target_dir_new("shop", root);
	struct resource		*a = res_cm("shop", "a", "one", 0);
	enum target_remove_status rs;
	char			*p = live_path(a), *cause = NULL;

	apply_ok(t, a);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(target_remove(t, a->id, &rs, &cause), 0);
	assert_int_equal(rs, TARGET_GONE);
	free(p);
	resource_free(a);
	target_free(t);
}

static void
test_target_health_states_follow_file(void **state)
{
	struct target		*t = target_dir_new("shop", root);
	struct resource		*a = res_cm("shop", "a", "one", 0);
	enum health_status	 h;
	char			*p = live_path(a), *cause = NULL;

	assert_int_equal(target_health(t, a, &h, &cause), 0);
	assert_int_equal(h, HEALTH_MISSING);
	apply_ok(t, a);
	assert_int_equal(target_health(t, a, &h, &cause), 0);
	assert_int_equal(h, HEALTH_HEALTHY);
	unit_write(root, "shop/ConfigMap/a.yaml", "apiVersion: v1\n"
	    "kind: ConfigMap\nmetadata:\n  name: a\n  namespace: shop\n"
	    "data:\n  key: other\n");
	assert_int_equal(target_health(t, a, &h, &cause), 0);
	assert_int_equal(h, HEALTH_DEGRADED);
	assert_string_equal(health_status_name(h), "Degraded");
	assert_string_equal(health_status_name(HEALTH_MISSING), "Missing");
	free(p);
	resource_free(a);
	target_free(t);
}

/*
 * A crash between recording intent and writing: the next load learns from
 * the disk whether the file was written, so it is neither orphaned nor
 * wrongly claimed.
 */
static void
test_target_prepare_then_crash_accounts_for_written_file(void **state)
{
	struct target		*t;
	struct resource		*a = res_cm("shop", "a", "one", 0);
	struct resource		*b = res_cm("shop", "b", "two", 0);
	struct resource		*v[2] = { a, b };
	enum target_remove_status rs;
	struct strv		 ids = { NULL, 0 };
	char			*cause = NULL, *inv, *text;

	t = target_dir_new("shop", root);
	assert_int_equal(target_prepare(t, v, 2, &cause), 0);
	target_free(t);		/* crash: nothing else happens */
	inv = unit_read(root, ".gitops-agent/inventory/shop.json");
	assert_non_null(inv);
	assert_non_null(strstr(inv, "ConfigMap/shop/a"));
	assert_non_null(strstr(inv, "\"pending\""));
	free(inv);

	/* As if a's write had completed before the crash. */
	text = yaml_emit(a->obj);
	unit_write(root, "shop/ConfigMap/a.yaml", text);
	free(text);

	t = target_dir_new("shop", root);
	assert_int_equal(target_inventory(t, &ids, &cause), 0);
	assert_int_equal(ids.n, 1);
	assert_string_equal(ids.v[0], "ConfigMap/shop/a");
	strv_free(&ids);
	assert_int_equal(target_remove(t, a->id, &rs, &cause), 0);
	assert_int_equal(rs, TARGET_REMOVED);
	target_free(t);
	resource_free(a);
	resource_free(b);
}

/* Prepared but never applied: the saved inventory does not claim it. */
static void
test_target_inventory_save_drops_unapplied_intent(void **state)
{
	struct target	*t = target_dir_new("shop", root);
	struct resource	*a = res_cm("shop", "a", "one", 0);
	struct resource	*b = res_cm("shop", "b", "two", 0);
	struct resource	*v[2] = { a, b };
	struct strv	 ids = { NULL, 0 };
	char		*cause = NULL;

	assert_int_equal(target_prepare(t, v, 2, &cause), 0);
	apply_ok(t, a);
	assert_int_equal(target_inventory_save(t, &cause), 0);
	target_free(t);
	t = target_dir_new("shop", root);
	assert_int_equal(target_inventory(t, &ids, &cause), 0);
	assert_int_equal(ids.n, 1);
	assert_string_equal(ids.v[0], "ConfigMap/shop/a");
	strv_free(&ids);
	target_free(t);
	resource_free(a);
	resource_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_target_dir_path_namespaced_uses_namespace_kind_name),
		cmocka_unit_test(
		    test_target_dir_path_cluster_scoped_uses_cluster_dir),
		cmocka_unit_test(test_target_dir_path_unsafe_id_returns_null),
		cmocka_unit_test_setup_teardown(
		    test_target_apply_new_resource_writes_yaml_atomically,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_get_applied_resource_round_trips,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_compare_states_gives_create_unchanged_update,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_compare_unreadable_path_fails,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_inventory_save_then_load_keeps_entries,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_inventory_save_unchanged_writes_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_inventory_corrupt_fails_naming_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_inventory_bad_app_name_fails,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_remove_file_not_written_refuses,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_remove_written_file_deletes_and_empty_dirs,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_remove_hand_edited_file_keeps_and_forgets,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_remove_missing_file_is_gone,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_health_states_follow_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_prepare_then_crash_accounts_for_written_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_inventory_save_drops_unapplied_intent,
		    setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
