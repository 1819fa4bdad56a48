/*
 * test_target_dir.c: the directory target: paths from identities, atomic
 * apply, get, compare, health, the inventory and what prune may delete.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <time.h>

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

static int
live_exists_rel(const char *rel)
{
	char	*p = path_join(root, rel);
	int	 rc = exists(p);

	free(p);
	return (rc);
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

/*
 * The inventory is its owner's alone, and a Secret's digests in it are
 * keyed (HMAC-SHA256 with the target's key, itself 0600): a plain SHA-256
 * of a Secret's bytes would let a reader of the inventory test guesses.
 * A ConfigMap's stays the plain SHA-256 of its file.
 */
static void
test_target_inventory_private_secret_digest_keyed(void **state)
{
	struct target	*t = target_dir_new("shop", root);
	struct resource	*cm = res_cm("shop", "a", "one", 0);
	struct resource	*sec = res_yaml("apiVersion: v1\nkind: Secret\n"
			    "metadata:\n  name: db\n  namespace: shop\n"
			    "stringData:\n  password: hunter2\n");
	struct stat	 st;
	unsigned char	 key[32], mac[32];
	unsigned int	 byte;
	char		*cause = NULL, *inv, *keyhex, *path, *bytes, plain[65];
	char		 keyed[65], *p;
	enum diff_action a;
	struct json	*live = NULL;
	size_t		 i, len;

	apply_ok(t, cm);
	apply_ok(t, sec);
	assert_int_equal(target_inventory_save(t, &cause), 0);
	target_free(t);
	path = path_join(root, ".gitops-agent/inventory/shop.json");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(path);
	path = path_join(root, ".gitops-agent/key");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(path);
	keyhex = unit_read(root, ".gitops-agent/key");
	for (i = 0; i < 32; i++) {
		assert_int_equal(sscanf(keyhex + 2 * i, "%2x", &byte), 1);
		key[i] = (unsigned char)byte;
	}
	free(keyhex);
	inv = unit_read(root, ".gitops-agent/inventory/shop.json");

	path = live_path(sec);
	assert_int_equal(file_read(path, 1 << 20, &bytes, &len, &cause), 0);
	free(path);
	sha256_hex(bytes, len, plain);
	hmac_sha256(key, sizeof key, bytes, len, mac);
	for (i = 0; i < 32; i++)
		snprintf(keyed + 2 * i, 3, "%02x", mac[i]);
	free(bytes);
	assert_null(strstr(inv, plain));
	assert_non_null(p = strstr(inv, "\"id\":\"Secret/shop/db\""));
	assert_non_null(strstr(p, keyed));

	path = live_path(cm);
	assert_int_equal(file_read(path, 1 << 20, &bytes, &len, &cause), 0);
	free(path);
	sha256_hex(bytes, len, plain);
	free(bytes);
	assert_non_null(strstr(inv, plain));
	free(inv);

	/* Read back with the same key: the Secret is unchanged, not drift. */
	t = target_dir_new("shop", root);
	assert_int_equal(target_compare(t, sec, &a, &live, &cause), 0);
	assert_int_equal(a, DIFF_UNCHANGED);
	target_free(t);
	resource_free(cm);
	resource_free(sec);
}

/*
 * Found in review: an inventory written before Secrets' digests were
 * keyed holds a plain SHA-256; the Secret is still ours, and pruned.
 */
static void
test_target_remove_secret_of_unkeyed_inventory_prunes(void **state)
{
	struct target		*t = target_dir_new("shop", root);
	struct resource		*sec = res_yaml("apiVersion: v1\nkind: Secret\n"
				    "metadata:\n  name: db\n  namespace: shop\n"
				    "stringData:\n  password: hunter2\n");
	enum target_remove_status rs;
	char			*cause = NULL, *inv, *path, *bytes, *p;
	char			 plain[65];
	size_t			 len;

	apply_ok(t, sec);
	assert_int_equal(target_inventory_save(t, &cause), 0);
	target_free(t);
	path = live_path(sec);
	assert_int_equal(file_read(path, 1 << 20, &bytes, &len, &cause), 0);
	sha256_hex(bytes, len, plain);
	free(bytes);
	/* The Secret's entry as the release before wrote it. */
	inv = unit_read(root, ".gitops-agent/inventory/shop.json");
	assert_non_null(p = strstr(inv, "\"sha256\":\""));
	memcpy(p + 10, plain, 64);
	unit_write(root, ".gitops-agent/inventory/shop.json", inv);
	free(inv);
	t = target_dir_new("shop", root);
	assert_int_equal(target_remove(t, sec->id, &rs, &cause), 0);
	assert_int_equal(rs, TARGET_REMOVED);
	assert_false(exists(path));
	free(path);
	target_free(t);
	resource_free(sec);
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
	    "{\"app\": \"shop\", \"format\": \"gitops-agent inventory 1\"}\n"
	    "{\"id\": \"ConfigMap/shop/a\", \"phase\": \"Sync\", "
	    "\"wave\": 0}\n"
	    "{\"id\": \"ConfigMap/../x\", \"phase\": \"Sync\", "
	    "\"wave\": 0}\n");
	assert_int_equal(target_inventory(t, &ids, &cause), -1);
	assert_non_null(strstr(cause, "inventory/shop.json"));
	assert_non_null(strstr(cause, "line 3 is not a valid entry"));
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


static void
stat_of(const char *path, struct stat *st)
{
	if (lstat(path, st) == -1)
		fail_msg("lstat '%s': %s", path, strerror(errno));
}

/*
 * Wait until the file system's clock has moved past both times of path,
 * so that the inventory written next is newer than the file (the entry is
 * then not racy). Polls a probe file; never asserts on time.
 */
static void
wait_fs_tick(const char *path)
{
	struct stat	 st, probe;
	struct timespec	 ts = { 0, 1000000 };
	char		*p;
	int		 i;

	stat_of(path, &st);
	p = path_join(root, "probe");
	for (i = 0; i < 10000; i++) {
		unit_write(root, "probe", "x");
		stat_of(p, &probe);
		if (probe.st_mtim.tv_sec > st.st_ctim.tv_sec ||
		    (probe.st_mtim.tv_sec == st.st_ctim.tv_sec &&
		    probe.st_mtim.tv_nsec > st.st_ctim.tv_nsec))
			break;
		nanosleep(&ts, NULL);
	}
	unlink(p);
	free(p);
	if (i == 10000)
		fail_msg("the clock of the file system does not move");
}

/*
 * a applied and its inventory written in a later tick of the file
 * system's clock than a's file (by applying b then), as after any sync
 * that is not the last moment: the stat cache can answer for a.
 */
static struct target *
synced_not_racy(struct resource *a, struct resource *b)
{
	struct target	*t = target_dir_new("shop", root);
	char		*p = live_path(a), *cause = NULL;

	apply_ok(t, a);
	wait_fs_tick(p);
	apply_ok(t, b);
	if (target_inventory_save(t, &cause) == -1)
		fail_msg("target_inventory_save: %s", cause);
	target_free(t);
	free(p);
	return (target_dir_new("shop", root));
}

/* Overwrite a file in place (same inode), same size, other bytes. */
static void
edit_same_size(const char *path)
{
	struct stat	 st;
	char		*data, *one;
	size_t		 len;
	int		 fd;

	data = unit_read(root, path + strlen(root) + 1);
	assert_non_null(data);
	len = strlen(data);
	one = strstr(data, "one");
	assert_non_null(one);
	memcpy(one, "eno", 3);
	stat_of(path, &st);
	assert_true((fd = open(path, O_WRONLY)) != -1);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	free(data);
}

static void
test_target_compare_stat_cache_unchanged_reads_nothing(void **state)
{
	struct resource		*a = res_cm("shop", "a", "one", 0);
	struct resource		*b = res_cm("shop", "b", "two", 0);
	struct target		*t = synced_not_racy(a, b);
	struct target_dir_counts c;
	enum diff_action	 act;
	enum health_status	 h;
	char			*cause = NULL, *inv;

	inv = unit_read(root, ".gitops-agent/inventory/shop.json");
	assert_non_null(inv);
	assert_non_null(strstr(inv, "\"stat\""));
	free(inv);
	assert_int_equal(target_compare(t, a, &act, NULL, &cause), 0);
	assert_int_equal(act, DIFF_UNCHANGED);
	assert_int_equal(target_health(t, a, &h, &cause), 0);
	assert_int_equal(h, HEALTH_HEALTHY);
	target_dir_counts(t, &c);
	assert_int_equal(c.stat_hits, 2);
	assert_int_equal(c.reads, 0);
	target_free(t);
	resource_free(a);
	resource_free(b);
}

/*
 * Digests made ahead on two threads (600 resources) are the ones compare
 * would make: every file is answered from the stat cache, none is read;
 * and an object other than the one warmed is never given a stale digest.
 */
static void
test_target_warm_digests_match_and_never_go_stale(void **state)
{
	struct resource		*v[600], *last, *changed;
	struct target		*t = target_dir_new("shop", root);
	struct target_dir_counts c;
	enum diff_action	 act;
	char			 name[32], *p, *cause = NULL;
	size_t			 i, n = sizeof v / sizeof v[0];

	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "cm-%zu", i);
		v[i] = res_cm("shop", name, "one", 0);
		apply_ok(t, v[i]);
	}
	p = live_path(v[n - 1]);
	wait_fs_tick(p);
	free(p);
	last = res_cm("shop", "last", "one", 0);
	apply_ok(t, last);
	assert_int_equal(target_inventory_save(t, &cause), 0);
	target_free(t);

	t = target_dir_new("shop", root);
	target_warm(t, v, n);
	for (i = 0; i < n; i++) {
		assert_int_equal(target_compare(t, v[i], &act, NULL, &cause),
		    0);
		assert_int_equal(act, DIFF_UNCHANGED);
	}
	target_dir_counts(t, &c);
	assert_int_equal(c.stat_hits, n);
	assert_int_equal(c.reads, 0);
	changed = res_cm("shop", "cm-7", "seven", 0);
	assert_int_equal(target_compare(t, changed, &act, NULL, &cause), 0);
	assert_int_equal(act, DIFF_UPDATE);
	target_free(t);
	for (i = 0; i < n; i++)
		resource_free(v[i]);
	resource_free(last);
	resource_free(changed);
}

static void
test_target_compare_stat_cache_desired_changed_gives_update(void **state)
{
	struct resource		*a = res_cm("shop", "a", "one", 0);
	struct resource		*a2 = res_cm("shop", "a", "uno", 0);
	struct resource		*b = res_cm("shop", "b", "two", 0);
	struct target		*t = synced_not_racy(a, b);
	struct target_dir_counts c;
	enum diff_action	 act;
	struct json		*live = NULL;
	char			*cause = NULL;

	assert_int_equal(target_compare(t, a2, &act, &live, &cause), 0);
	assert_int_equal(act, DIFF_UPDATE);
	assert_non_null(live);
	assert_string_equal(json_path_string(live, "data", "key", NULL),
	    "one");
	json_free(live);
	target_dir_counts(t, &c);
	assert_int_equal(c.stat_hits, 0);
	target_free(t);
	resource_free(a);
	resource_free(a2);
	resource_free(b);
}

/* Same size, same inode: only the times tell, mtime first. */
static void
test_target_compare_same_size_edit_detected_by_mtime(void **state)
{
	struct resource		*a = res_cm("shop", "a", "one", 0);
	struct resource		*b = res_cm("shop", "b", "two", 0);
	struct target		*t = synced_not_racy(a, b);
	struct target_dir_counts c;
	enum diff_action	 act;
	char			*p = live_path(a), *cause = NULL;

	wait_fs_tick(p);
	edit_same_size(p);
	assert_int_equal(target_compare(t, a, &act, NULL, &cause), 0);
	assert_int_equal(act, DIFF_UPDATE);
	target_dir_counts(t, &c);
	assert_int_equal(c.stat_hits, 0);
	assert_int_equal(c.reads, 1);
	free(p);
	target_free(t);
	resource_free(a);
	resource_free(b);
}

/*
 * Same size, same inode, mtime put back (touch -d, utimensat): ctime,
 * which only the kernel sets, still tells.
 */
static void
test_target_compare_same_size_edit_mtime_restored_detected_by_ctime(
    void **state)
{
	struct resource		*a = res_cm("shop", "a", "one", 0);
	struct resource		*b = res_cm("shop", "b", "two", 0);
	struct target		*t = synced_not_racy(a, b);
	struct target_dir_counts c;
	struct timespec		 times[2];
	struct stat		 before, after;
	enum diff_action	 act;
	enum health_status	 h;
	char			*p = live_path(a), *cause = NULL;

	stat_of(p, &before);
	wait_fs_tick(p);
	edit_same_size(p);
	times[0] = before.st_atim;
	times[1] = before.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
	stat_of(p, &after);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(after.st_size, before.st_size);
	assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	assert_int_equal(target_compare(t, a, &act, NULL, &cause), 0);
	assert_int_equal(act, DIFF_UPDATE);
	assert_int_equal(target_health(t, a, &h, &cause), 0);
	assert_int_equal(h, HEALTH_DEGRADED);
	target_dir_counts(t, &c);
	assert_int_equal(c.stat_hits, 0);
	free(p);
	target_free(t);
	resource_free(a);
	resource_free(b);
}

/* Replace the "stat" of the inventory's only entry for id. */
static void
inventory_set_stat(const char *id, const char *stat)
{
	struct json	*doc, *o;
	char		*text, *err = NULL, *out;

	struct buf	 b;
	char		*line, *save = NULL;

	text = unit_read(root, ".gitops-agent/inventory/shop.json");
	assert_non_null(text);
	buf_init(&b);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		doc = json_parse(line, strlen(line), &err);
		assert_non_null(doc);
		o = doc;
		if (json_path_string(o, "id", NULL) != NULL &&
		    strcmp(json_path_string(o, "id", NULL), id) == 0)
			json_set(o, "stat", json_new_string(stat));
		out = json_print(doc, 0);
		buf_adds(&b, out);
		buf_addc(&b, '\n');
		free(out);
		json_free(doc);
	}
	unit_write(root, ".gitops-agent/inventory/shop.json", b.data);
	buf_free(&b);
	free(text);
}

static void
set_mtime(const char *path, const struct timespec *ts)
{
	struct timespec	times[2];

	times[0] = *ts;
	times[1] = *ts;
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
}

/*
 * The racy case: a file changed within the tick of its recorded times,
 * here simulated by an inventory recording the edited file's own stat. A
 * file not older than the inventory is read; one older is trusted (what
 * git's index does; the stat cache's limit).
 */
static void
test_target_compare_racy_entry_is_read_and_hashed(void **state)
{
	struct resource		*a = res_cm("shop", "a", "one", 0);
	struct resource		*b = res_cm("shop", "b", "two", 0);
	struct target		*t = synced_not_racy(a, b);
	struct target_dir_counts c;
	struct timespec		 ts;
	struct stat		 st;
	enum diff_action	 act;
	char			*p = live_path(a), *cause = NULL, *inv, buf[128];

	target_free(t);
	edit_same_size(p);
	stat_of(p, &st);
	snprintf(buf, sizeof buf, "%ju %jd %jd.%09ld %jd.%09ld",
	    (uintmax_t)st.st_ino, (intmax_t)st.st_size,
	    (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
	    (intmax_t)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	inventory_set_stat(a->id, buf);
	inv = path_join(root, ".gitops-agent/inventory/shop.json");

	/* Inventory as old as the file's ctime: racy, read. */
	set_mtime(inv, &st.st_ctim);
	t = target_dir_new("shop", root);
	assert_int_equal(target_compare(t, a, &act, NULL, &cause), 0);
	assert_int_equal(act, DIFF_UPDATE);
	target_dir_counts(t, &c);
	assert_int_equal(c.stat_hits, 0);
	assert_int_equal(c.reads, 1);
	target_free(t);

	/* Newer than the file: trusted, the edit is not seen. */
	ts = st.st_ctim;
	ts.tv_sec += 10;
	set_mtime(inv, &ts);
	t = target_dir_new("shop", root);
	assert_int_equal(target_compare(t, a, &act, NULL, &cause), 0);
	assert_int_equal(act, DIFF_UNCHANGED);
	target_dir_counts(t, &c);
	assert_int_equal(c.stat_hits, 1);
	target_free(t);
	free(inv);
	free(p);
	resource_free(a);
	resource_free(b);
}

static void
test_target_inventory_bad_stat_fails(void **state)
{
	struct resource		*a = res_cm("shop", "a", "one", 0);
	struct resource		*b = res_cm("shop", "b", "two", 0);
	struct target		*t = synced_not_racy(a, b);
	struct strv		 ids = { NULL, 0 };
	static const char	*bad[] = { "1 2 3.4 5.6", "1 2 3.000000004",
	    "x 2 3.000000004 5.000000006", "1 -2 3.000000004 5.000000006",
	    "1 2 3.000000004 5.000000006 7", "" };
	char			*cause = NULL;
	size_t			 i;

	target_free(t);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		inventory_set_stat(a->id, bad[i]);
		t = target_dir_new("shop", root);
		if (target_inventory(t, &ids, &cause) != -1)
			fail_msg("stat '%s' was accepted", bad[i]);
		assert_non_null(strstr(cause, "is not a valid entry"));
		free(cause);
		cause = NULL;
		target_free(t);
	}
	resource_free(a);
	resource_free(b);
}

static int
count_tmp(void)
{
	tmp_found = 0;
	nftw(root, find_tmp_cb, 16, FTW_PHYS);
	return (tmp_found);
}

/*
 * Between begin and commit an apply writes only a temporary file; commit
 * puts all in place with one data sync and one sync per directory.
 */
static void
test_target_commit_batch_syncs_once_per_step(void **state)
{
	struct target		*t = target_dir_new("shop", root);
	struct resource		*a = res_cm("shop", "a", "one", 0);
	struct resource		*b = res_cm("shop", "b", "two", 0);
	struct resource		*n = res_cm("other", "n", "three", 0);
	struct resource		*v[3] = { a, b, n };
	struct target_dir_counts c;
	struct strv		 ids = { NULL, 0 };
	char			*pa = live_path(a), *cause = NULL, *got, *want;
	char			*id;

	assert_int_equal(target_prepare(t, v, 3, &cause), 0);
	target_begin(t);
	apply_ok(t, a);
	apply_ok(t, b);
	apply_ok(t, n);
	assert_false(exists(pa));
	assert_int_equal(count_tmp(), 3);
	assert_int_equal(target_commit(t, &id, &cause), 0);
	assert_null(id);
	assert_int_equal(count_tmp(), 0);
	got = unit_read(root, "shop/ConfigMap/a.yaml");
	want = yaml_emit(a->obj);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
	free(want);
	assert_true(exists(pa));
	target_dir_counts(t, &c);
	/* Data once (or each file where there is no syncfs), then dirs. */
	assert_true((c.syncfs == 1 && c.file_syncs == 0) ||
	    (c.syncfs == 0 && c.file_syncs == 3));
	assert_int_equal(c.dir_syncs, 2);
	assert_int_equal(target_inventory_save(t, &cause), 0);
	target_free(t);

	/* The inventory holds all three, written. */
	t = target_dir_new("shop", root);
	assert_int_equal(target_inventory(t, &ids, &cause), 0);
	assert_int_equal(ids.n, 3);
	strv_free(&ids);
	target_free(t);

	/* Outside a batch, apply writes at once: nothing to commit. */
	t = target_dir_new("shop", root);
	assert_int_equal(target_commit(t, &id, &cause), 0);
	target_dir_counts(t, &c);
	assert_int_equal(c.syncfs + c.file_syncs + c.dir_syncs, 0);
	target_free(t);
	free(pa);
	resource_free(a);
	resource_free(b);
	resource_free(n);
}

/*
 * A failed apply in a batch: what was staged before it is put in place by
 * commit, nothing is left behind, the inventory holds exactly that.
 */
static void
test_target_commit_after_failed_apply_leaves_no_tmp(void **state)
{
	struct target		*t = target_dir_new("shop", root);
	struct resource		*a = res_cm("shop", "a", "one", 0);
	struct resource		*b = res_cm("other", "b", "two", 0);
	struct resource		*v[2] = { a, b };
	struct strv		 ids = { NULL, 0 };
	char			*cause = NULL, *id;

	/* b's kind directory is a file: its temporary file cannot be. */
	unit_write(root, "other/ConfigMap", "in the way\n");
	assert_int_equal(target_prepare(t, v, 2, &cause), 0);
	target_begin(t);
	apply_ok(t, a);
	assert_int_equal(target_apply(t, b, &cause), -1);
	assert_non_null(strstr(cause, "other/ConfigMap"));
	free(cause);
	cause = NULL;
	assert_int_equal(target_commit(t, &id, &cause), 0);
	assert_int_equal(count_tmp(), 0);
	assert_true(live_exists_rel("shop/ConfigMap/a.yaml"));
	assert_int_equal(target_inventory_save(t, &cause), 0);
	target_free(t);

	t = target_dir_new("shop", root);
	assert_int_equal(target_inventory(t, &ids, &cause), 0);
	assert_int_equal(ids.n, 1);
	assert_string_equal(ids.v[0], a->id);
	strv_free(&ids);
	target_free(t);
	resource_free(a);
	resource_free(b);
}

/*
 * A rename that fails in commit: renamed before it stays and is recorded,
 * the rest is removed and forgotten, with the intent already on disk.
 */
static void
test_target_commit_rename_failure_keeps_inventory_exact(void **state)
{
	struct target		*t = target_dir_new("shop", root);
	struct resource		*a = res_cm("shop", "a", "one", 0);
	struct resource		*b = res_cm("shop", "b", "two", 0);
	struct resource		*d = res_cm("shop", "d", "four", 0);
	struct resource		*v[3] = { a, b, d };
	struct strv		 ids = { NULL, 0 };
	char			*pb = live_path(b), *cause = NULL, *inv, *id;

	assert_int_equal(target_prepare(t, v, 3, &cause), 0);
	inv = unit_read(root, ".gitops-agent/inventory/shop.json");
	assert_non_null(strstr(inv, "ConfigMap/shop/d"));
	assert_non_null(strstr(inv, "\"pending\""));
	free(inv);
	target_begin(t);
	apply_ok(t, a);
	apply_ok(t, b);
	apply_ok(t, d);
	/* b's path becomes a directory, with something in it. */
	assert_int_equal(file_mkdirs(pb, 0755, &cause), 0);
	unit_write(pb, "x", "x\n");
	assert_int_equal(target_commit(t, &id, &cause), -1);
	assert_non_null(id);
	assert_string_equal(id, b->id);
	free(id);
	assert_non_null(strstr(cause, "cannot rename"));
	assert_non_null(strstr(cause, "b.yaml"));
	free(cause);
	cause = NULL;
	assert_int_equal(count_tmp(), 0);
	assert_true(live_exists_rel("shop/ConfigMap/a.yaml"));
	assert_false(live_exists_rel("shop/ConfigMap/d.yaml"));
	assert_int_equal(target_inventory_save(t, &cause), 0);
	target_free(t);

	t = target_dir_new("shop", root);
	assert_int_equal(target_inventory(t, &ids, &cause), 0);
	assert_int_equal(ids.n, 1);
	assert_string_equal(ids.v[0], a->id);
	strv_free(&ids);
	target_free(t);
	free(pb);
	resource_free(a);
	resource_free(b);
	resource_free(d);
}

/* Staged and never committed: nothing appears, nothing is claimed. */
static void
test_target_begin_without_commit_discards_staged(void **state)
{
	struct target		*t = target_dir_new("shop", root);
	struct resource		*a = res_cm("shop", "a", "one", 0);
	struct resource		*b = res_cm("shop", "b", "two", 0);
	struct strv		 ids = { NULL, 0 };
	char			*cause = NULL;

	target_begin(t);
	apply_ok(t, a);
	assert_int_equal(count_tmp(), 1);
	assert_int_equal(target_inventory_save(t, &cause), 0);
	assert_int_equal(count_tmp(), 0);
	assert_false(live_exists_rel("shop/ConfigMap/a.yaml"));
	/* The batch is over: apply writes at once again. */
	apply_ok(t, b);
	assert_true(live_exists_rel("shop/ConfigMap/b.yaml"));
	target_begin(t);
	apply_ok(t, a);
	target_free(t);		/* free discards too */
	assert_int_equal(count_tmp(), 0);
	assert_false(live_exists_rel("shop/ConfigMap/a.yaml"));

	t = target_dir_new("shop", root);
	assert_int_equal(target_inventory(t, &ids, &cause), 0);
	assert_int_equal(ids.n, 1);
	assert_string_equal(ids.v[0], b->id);
	strv_free(&ids);
	target_free(t);
	resource_free(a);
	resource_free(b);
}


/*
 * The digest of the object a file was written from is stored in
 * inventories on disk: its encoding must not change. The value is what
 * the first version of the directory target wrote for this object.
 */
static void
test_target_apply_object_digest_is_stable(void **state)
{
	struct target	*t = target_dir_new("shop", root);
	struct resource	*r;
	char		*cause = NULL, *inv;

	r = res_yaml("apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
	    "  name: kat\n  namespace: shop\n  labels:\n    app: kat\n"
	    "spec:\n  ints: [0, 1, -7, 8080, 999999999999999, "
	    "1000000000000000, 9007199254740992]\n"
	    "  floats: [0.5, -2.25, 1e300, 3.14159]\n"
	    "  flags: [true, false, null]\n  empty: {}\n  list: []\n"
	    "data:\n  key: \"value with \xc3\xbc" "n\xc3\xaf" "code\"\n");
	apply_ok(t, r);
	assert_int_equal(target_inventory_save(t, &cause), 0);
	inv = unit_read(root, ".gitops-agent/inventory/shop.json");
	assert_non_null(inv);
	/* Pinned: a change of the digest encoding shows here. */
	assert_non_null(strstr(inv, "\"cfa5026183a7785fa82c31ca65eef3e11b7666ff"
	    "f0fc460603a98974e0c1ea90\""));
	free(inv);
	resource_free(r);
	target_free(t);
}

/* The factory opens the kind the configuration names, and keys it. */
static void
test_target_open_directory_from_config(void **state)
{
	struct config_target	 ct = { .type = TARGET_DIRECTORY };
	struct target		*t;
	struct resource		*r = res_cm("shop", "a", "one", 0);
	struct lock		*lk;
	char			*cause = NULL, *key, *got;

	(void)state;
	assert_null(target_open("shop", &ct, NULL, &cause));
	assert_string_equal(cause, "app 'shop': its target names no directory");
	free(cause);
	cause = NULL;
	ct.path = root;
	key = target_key(&ct);
	assert_string_equal(key, root);
	free(key);
	assert_int_equal(target_lock("shop", &ct, NULL, 0, NULL, &lk,
	    &cause), 0);
	assert_non_null(lk);
	t = target_open("shop", &ct, NULL, &cause);
	assert_non_null(t);
	apply_ok(t, r);
	assert_int_equal(target_inventory_save(t, &cause), 0);
	got = unit_read(root, "shop/ConfigMap/a.yaml");
	assert_non_null(got);
	free(got);
	target_free(t);
	lock_release(lk);
	resource_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_target_dir_path_namespaced_uses_namespace_kind_name),
		cmocka_unit_test_setup_teardown(
		    test_target_warm_digests_match_and_never_go_stale,
		    setup, teardown),
		cmocka_unit_test(
		    test_target_dir_path_cluster_scoped_uses_cluster_dir),
		cmocka_unit_test(test_target_dir_path_unsafe_id_returns_null),
		cmocka_unit_test_setup_teardown(
		    test_target_open_directory_from_config, setup, teardown),
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
		    test_target_inventory_private_secret_digest_keyed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_remove_secret_of_unkeyed_inventory_prunes,
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
		cmocka_unit_test_setup_teardown(
		    test_target_compare_stat_cache_unchanged_reads_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_compare_stat_cache_desired_changed_gives_update,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_compare_same_size_edit_detected_by_mtime,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_compare_same_size_edit_mtime_restored_detected_by_ctime,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_compare_racy_entry_is_read_and_hashed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_inventory_bad_stat_fails,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_commit_batch_syncs_once_per_step,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_commit_after_failed_apply_leaves_no_tmp,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_commit_rename_failure_keeps_inventory_exact,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_begin_without_commit_discards_staged,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_target_apply_object_digest_is_stable,
		    setup, teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
