/*
 * test_sync.c: sync_run on a directory target in a scratch directory:
 * create, no-op, update, prune order, dry run, failures and what they
 * leave behind, the result's JSON and its record in state_dir.
 *
 * A recording target wraps the directory target to log the order of
 * applies and removes and to inject failures and health states.
 */
#include "config.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <time.h>

#include "unit.h"

static char *root;

/* The recording wrapper around a directory target. */
static struct {
	struct target		*inner;
	struct strv		 log;
	struct strv		 batch;	/* begin, apply ID, commit */
	const char		*fail_apply;	/* id whose apply fails */
	const char		*fail_compare;	/* id whose compare fails */
	/* id whose path a directory takes once it is applied (staged) */
	const char		*block_after_apply;
	const char		*health_id;	/* its health is forced */
	enum health_status	 health;
	const char		*health_why;	/* and the reason it gives */
	/* applies of an id the inventory on disk did not hold yet */
	int			 intent_missing;
} rec;

static int
rec_get(struct target *t, const char *id, struct json **live, char **cause)
{
	return (target_get(rec.inner, id, live, cause));
}

static int
rec_compare(struct target *t, const struct resource *r,
    enum diff_action *a, struct json **live, char **cause)
{
	if (rec.fail_compare != NULL && strcmp(rec.fail_compare, r->id) == 0) {
		xasprintf(cause, "injected compare failure");
		return (-1);
	}
	return (target_compare(rec.inner, r, a, live, cause));
}

static int
rec_apply(struct target *t, const struct resource *r, char **cause)
{
	char	*line, *inv;

	xasprintf(&line, "apply %s", r->id);
	strv_add(&rec.log, line);
	strv_add(&rec.batch, line);
	free(line);
	if (rec.fail_apply != NULL && strcmp(rec.fail_apply, r->id) == 0) {
		xasprintf(cause, "injected failure");
		return (-1);
	}
	inv = unit_read(root, ".gitops-agent/inventory/shop.json");
	if (inv == NULL || strstr(inv, r->id) == NULL)
		rec.intent_missing++;
	free(inv);
	if (target_apply(rec.inner, r, cause) == -1)
		return (-1);
	if (rec.block_after_apply != NULL &&
	    strcmp(rec.block_after_apply, r->id) == 0) {
		inv = target_dir_path(root, r->id);
		if (file_mkdirs(inv, 0755, cause) == -1)
			fail_msg("file_mkdirs: %s", *cause);
		unit_write(inv, "x", "x\n");
		free(inv);
	}
	return (0);
}

static void
rec_begin(struct target *t)
{
	strv_add(&rec.batch, "begin");
	target_begin(rec.inner);
}

static int
rec_commit(struct target *t, char **id, char **cause)
{
	strv_add(&rec.batch, "commit");
	return (target_commit(rec.inner, id, cause));
}

static int
rec_remove(struct target *t, const char *id, enum target_remove_status *rs,
    char **cause)
{
	char	*line;

	xasprintf(&line, "remove %s", id);
	strv_add(&rec.log, line);
	free(line);
	return (target_remove(rec.inner, id, rs, cause));
}

static int
rec_health(struct target *t, const struct resource *r,
    enum health_status *h, char **cause)
{
	if (rec.health_id != NULL && strcmp(rec.health_id, r->id) == 0) {
		*h = rec.health;
		if (rec.health_why != NULL)
			*cause = xstrdup(rec.health_why);
		return (0);
	}
	return (target_health(rec.inner, r, h, cause));
}

static int
rec_inventory(struct target *t, struct target_entry **v, size_t *n,
    char **cause)
{
	return (target_inventory_entries(rec.inner, v, n, cause));
}

static int
rec_prepare(struct target *t, struct resource *const *v, size_t n,
    char **cause)
{
	return (target_prepare(rec.inner, v, n, cause));
}

static int
rec_save(struct target *t, char **cause)
{
	return (target_inventory_save(rec.inner, cause));
}

static void
rec_free(struct target *t)
{
	target_free(rec.inner);
	rec.inner = NULL;
}

static const struct target_ops rec_ops = {
	.name = "recording",
	.get = rec_get,
	.compare = rec_compare,
	.apply = rec_apply,
	.remove = rec_remove,
	.health = rec_health,
	.inventory = rec_inventory,
	.prepare = rec_prepare,
	.inventory_save = rec_save,
	.begin = rec_begin,
	.commit = rec_commit,
	.free = rec_free,
};

/* The same, comparing as a server's dry-run apply does. */
static const struct target_ops rec_validating_ops = {
	.name = "recording",
	.validates = 1,
	.get = rec_get,
	.compare = rec_compare,
	.apply = rec_apply,
	.remove = rec_remove,
	.health = rec_health,
	.inventory = rec_inventory,
	.prepare = rec_prepare,
	.inventory_save = rec_save,
	.begin = rec_begin,
	.commit = rec_commit,
	.free = rec_free,
};

static struct target *
rec_new(void)
{
	struct target	*t = xcalloc(1, sizeof *t);

	strv_free(&rec.log);
	strv_free(&rec.batch);
	rec.inner = target_dir_new("shop", root);
	rec.fail_apply = NULL;
	rec.fail_compare = NULL;
	rec.block_after_apply = NULL;
	rec.health_id = NULL;
	rec.health_why = NULL;
	rec.intent_missing = 0;
	t->ops = &rec_ops;
	t->app = xstrdup("shop");
	t->label = xstrdup(root);
	return (t);
}

static int
setup(void **state)
{
	root = unit_mkdtemp();
	memset(&rec, 0, sizeof rec);
	return (0);
}

static int
teardown(void **state)
{
	strv_free(&rec.log);
	strv_free(&rec.batch);
	unit_rmtree(root);
	free(root);
	return (0);
}

static const char base_yaml[] =
    "apiVersion: v1\n"
    "kind: Namespace\n"
    "metadata:\n"
    "  name: shop\n"
    "  annotations:\n"
    "    argocd.argoproj.io/sync-wave: \"-1\"\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: ConfigMap\n"
    "metadata:\n"
    "  name: a\n"
    "data:\n"
    "  key: one\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: ConfigMap\n"
    "metadata:\n"
    "  name: c\n"
    "  annotations:\n"
    "    argocd.argoproj.io/sync-wave: \"5\"\n"
    "data:\n"
    "  key: %s\n"
    "---\n"
    "apiVersion: batch/v1\n"
    "kind: Job\n"
    "metadata:\n"
    "  name: migrate\n"
    "  annotations:\n"
    "    argocd.argoproj.io/hook: PreSync\n"
    "spec:\n"
    "  template:\n"
    "    spec:\n"
    "      restartPolicy: Never\n"
    "      containers:\n"
    "      - name: migrate\n"
    "        image: ghcr.io/acme/migrate:v1\n";

static const char fail_yaml[] =
    "apiVersion: v1\n"
    "kind: ConfigMap\n"
    "metadata:\n"
    "  name: b\n"
    "  annotations:\n"
    "    argocd.argoproj.io/sync-wave: \"3\"\n"
    "data:\n"
    "  key: two\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: ConfigMap\n"
    "metadata:\n"
    "  name: notify\n"
    "  annotations:\n"
    "    argocd.argoproj.io/hook: SyncFail\n"
    "data:\n"
    "  key: failed\n";

static struct resource_set *
set_yaml(const char *text)
{
	struct resource_set	*set = resource_set_new();
	struct yaml_file	*yf = NULL;
	char			*cause = NULL;

	if (yaml_parse("test.yaml", text, strlen(text), YAML_ALLOW_EMPTY, &yf,
	    &cause) == -1)
		fail_msg("yaml_parse: %s", cause);
	if (manifest_load_yaml(set, yf, "shop", &cause) == -1)
		fail_msg("manifest_load_yaml: %s", cause);
	yaml_file_free(yf);
	return (set);
}

static struct resource_set *
set_base(const char *cvalue, int with_fail)
{
	struct resource_set	*set;
	char			*text;

	xasprintf(&text, base_yaml, cvalue);
	if (with_fail) {
		char *joined;

		xasprintf(&joined, "%s---\n%s", text, fail_yaml);
		free(text);
		text = joined;
	}
	set = set_yaml(text);
	free(text);
	return (set);
}

/* The ids in the inventory on disk, as a fresh target reads them. */
static void
inventory_reopen(struct strv *ids)
{
	struct target	*t = target_dir_new("shop", root);
	char		*cause = NULL;

	if (target_inventory(t, ids, &cause) == -1)
		fail_msg("target_inventory: %s", cause);
	target_free(t);
}

/* set_base's PreSync hook alone: what is left when the rest is removed. */
static struct resource_set *
set_hook_only(void)
{
	return (set_yaml("apiVersion: batch/v1\nkind: Job\nmetadata:\n"
	    "  name: migrate\n  annotations:\n"
	    "    argocd.argoproj.io/hook: PreSync\nspec:\n  template:\n"
	    "    spec:\n      restartPolicy: Never\n      containers:\n"
	    "      - name: migrate\n        image: ghcr.io/acme/migrate:v1\n"));
}

static struct sync_result *
run_texts(struct target *t, const struct resource_set *set, int dry_run,
    int prune, uint64_t timeout_ms, int diff_texts)
{
	struct sync_opts	 opts;
	struct sync_result	*res = NULL;
	char			*cause = NULL;

	memset(&opts, 0, sizeof opts);
	opts.dry_run = dry_run;
	opts.prune = prune;
	opts.timeout_ms = timeout_ms;
	opts.revision = "abc123";
	opts.diff_texts = diff_texts;
	if (sync_run(t, set, &opts, &res, &cause) == -1)
		fail_msg("sync_run: %s", cause);
	assert_non_null(res);
	return (res);
}

static struct sync_result *
run(struct target *t, const struct resource_set *set, int dry_run,
    int prune, uint64_t timeout_ms)
{
	return (run_texts(t, set, dry_run, prune, timeout_ms, 1));
}

static int
live_exists(const char *rel)
{
	char		*p = path_join(root, rel);
	struct stat	 st;
	int		 rc = lstat(p, &st) == 0;

	free(p);
	return (rc);
}

static struct buf	snap;

static int
snap_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	buf_printf(&snap, "%s %ju %jd.%09ld %jd\n", path, (uintmax_t)st->st_ino,
	    (intmax_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
	    (intmax_t)st->st_size);
	return (0);
}

/* Every path under root with inode, mtime and size. */
static char *
snapshot(void)
{
	buf_init(&snap);
	nftw(root, snap_cb, 16, FTW_PHYS);
	return (buf_release(&snap));
}

static size_t
log_index(const char *line)
{
	size_t	i;

	for (i = 0; i < rec.log.n; i++) {
		if (strcmp(rec.log.v[i], line) == 0)
			return (i);
	}
	fail_msg("'%s' not in the log", line);
	return (0);
}

static void
test_sync_run_first_sync_creates_in_plan_order(void **state)
{
	struct resource_set	*set = set_base("v1", 0);
	struct target		*t = rec_new();
	struct sync_result	*res;

	res = run(t, set, 0, 1, 0);
	assert_int_equal(res->status, SYNC_SUCCEEDED);
	assert_int_equal(res->created, 4);
	assert_int_equal(res->nchanges, 4);
	assert_null(res->error);
	/* The Namespace moves ahead of the PreSync hook that lives in it. */
	assert_int_equal(rec.log.n, 4);
	assert_string_equal(rec.log.v[0], "apply Namespace/shop");
	assert_string_equal(rec.log.v[1], "apply Job.batch/shop/migrate");
	assert_string_equal(rec.log.v[2], "apply ConfigMap/shop/a");
	assert_string_equal(rec.log.v[3], "apply ConfigMap/shop/c");
	assert_int_equal(rec.intent_missing, 0);
	assert_int_equal(res->nwaves, 3);
	assert_int_equal(res->waves[0].phase, PHASE_PRESYNC);
	assert_int_equal(res->waves[0].applied, 2);
	assert_int_equal(res->waves[1].phase, PHASE_SYNC);
	assert_int_equal(res->waves[2].wave, 5);
	assert_true(res->waves[2].ok);
	assert_int_equal(res->waves[2].applied, 1);
	assert_true(live_exists("_cluster/Namespace/shop.yaml"));
	assert_true(live_exists("shop/ConfigMap/a.yaml"));
	assert_true(live_exists("shop/Job.batch/migrate.yaml"));
	assert_true(live_exists(".gitops-agent/inventory/shop.json"));
	assert_string_equal(res->revision, "abc123");
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
}

static void
test_sync_run_nothing_to_change_writes_nothing(void **state)
{
	struct resource_set	*set = set_base("v1", 0);
	struct target		*t = rec_new();
	struct sync_result	*res;
	char			*before, *after;

	res = run(t, set, 0, 1, 0);
	sync_result_free(res);
	target_free(t);
	before = snapshot();

	t = rec_new();
	res = run(t, set, 0, 1, 0);
	after = snapshot();
	assert_int_equal(res->status, SYNC_SUCCEEDED);
	assert_int_equal(res->created + res->updated + res->pruned, 0);
	assert_int_equal(res->unchanged, 4);
	assert_int_equal(res->nchanges, 0);
	assert_false(sync_result_has_changes(res));
	/* Hooks included: nothing unchanged is applied again. */
	assert_int_equal(rec.log.n, 0);
	assert_string_equal(before, after);
	free(before);
	free(after);
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
}

static void
test_sync_run_without_diff_texts_makes_none(void **state)
{
	struct resource_set	*set = set_base("v1", 0), *set2;
	struct target		*t = rec_new();
	struct sync_result	*res;

	res = run_texts(t, set, 0, 1, 0, 0);
	assert_true(res->nchanges > 0);
	assert_null(res->changes[0].diff);
	sync_result_free(res);
	target_free(t);
	set2 = set_base("v2", 0);
	t = rec_new();
	res = run_texts(t, set2, 1, 1, 0, 0);
	assert_int_equal(res->updated, 2);	/* c, and the hook re-runs */
	assert_int_equal(res->nchanges, 2);
	assert_null(res->changes[0].diff);
	assert_null(res->changes[1].diff);
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
	resource_set_free(set2);
}

/*
 * A change applies what changed, and runs the hooks again as Argo CD
 * does: the PreSync Job is deleted first (BeforeHookCreation).
 */
static void
test_sync_run_changed_resource_updates_it_and_reruns_hooks(void **state)
{
	struct resource_set	*set = set_base("v1", 0), *set2;
	struct target		*t = rec_new();
	struct sync_result	*res;
	char			*got;

	res = run(t, set, 0, 1, 0);
	sync_result_free(res);
	target_free(t);

	set2 = set_base("v2", 0);
	t = rec_new();
	res = run(t, set2, 0, 1, 0);
	assert_int_equal(res->status, SYNC_SUCCEEDED);
	assert_int_equal(res->updated, 2);
	assert_int_equal(res->created, 0);
	assert_int_equal(res->unchanged, 2);
	assert_int_equal(rec.log.n, 3);
	assert_string_equal(rec.log.v[0], "remove Job.batch/shop/migrate");
	assert_string_equal(rec.log.v[1], "apply Job.batch/shop/migrate");
	assert_string_equal(rec.log.v[2], "apply ConfigMap/shop/c");
	assert_true(live_exists("shop/Job.batch/migrate.yaml"));
	assert_int_equal(res->nchanges, 2);
	assert_string_equal(res->changes[1].id, "Job.batch/shop/migrate");
	assert_int_equal(res->changes[0].action, DIFF_UPDATE);
	assert_non_null(res->changes[0].diff);
	assert_non_null(strstr(res->changes[0].diff, "+  key: v2"));
	got = unit_read(root, "shop/ConfigMap/c.yaml");
	assert_non_null(strstr(got, "key: v2"));
	free(got);
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
	resource_set_free(set2);
}

static void
test_sync_run_prune_removes_in_reverse_wave_order(void **state)
{
	struct resource_set	*set = set_base("v1", 0), *set2;
	struct target		*t = rec_new();
	struct sync_result	*res;

	res = run(t, set, 0, 1, 0);
	sync_result_free(res);
	target_free(t);

	/* Only the hook is left in Git. */
	set2 = set_hook_only();
	t = rec_new();
	res = run(t, set2, 0, 1, 0);
	assert_int_equal(res->status, SYNC_SUCCEEDED);
	assert_int_equal(res->pruned, 3);
	/* A prune is a change: the hook runs first. */
	assert_int_equal(rec.log.n, 5);
	assert_string_equal(rec.log.v[0], "remove Job.batch/shop/migrate");
	assert_string_equal(rec.log.v[1], "apply Job.batch/shop/migrate");
	assert_string_equal(rec.log.v[2], "remove ConfigMap/shop/c");
	assert_string_equal(rec.log.v[3], "remove ConfigMap/shop/a");
	assert_string_equal(rec.log.v[4], "remove Namespace/shop");
	assert_int_equal(res->changes[1].action, DIFF_PRUNE);
	assert_string_equal(res->changes[1].id, "ConfigMap/shop/c");
	assert_false(live_exists("shop/ConfigMap"));
	assert_false(live_exists("_cluster"));
	assert_true(live_exists("shop/Job.batch/migrate.yaml"));
	sync_result_free(res);
	target_free(t);

	/* And the inventory no longer holds them: a re-run is a no-op. */
	t = rec_new();
	res = run(t, set2, 0, 1, 0);
	assert_int_equal(res->nchanges, 0);
	assert_int_equal(rec.log.n, 0);
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
	resource_set_free(set2);
}

/* A fence that lets the first n waves (or prunes) through. */
static int
fence_n_cb(void *arg, char **cause)
{
	int	*n = arg;

	if ((*n)-- > 0)
		return (1);
	*cause = xstrdup("lost shard 1 to another replica");
	return (0);
}

static struct sync_result *
run_fenced(struct target *t, const struct resource_set *set, int *allow)
{
	struct sync_opts	 opts;
	struct sync_result	*res = NULL;
	char			*cause = NULL;

	memset(&opts, 0, sizeof opts);
	opts.prune = 1;
	opts.revision = "abc123";
	opts.fence = fence_n_cb;
	opts.fence_arg = allow;
	if (sync_run(t, set, &opts, &res, &cause) == -1)
		fail_msg("sync_run: %s", cause);
	assert_non_null(res);
	return (res);
}

static void
test_sync_run_fence_stops_before_next_wave_and_prune(void **state)
{
	struct resource_set	*set = set_base("v1", 0), *set2;
	struct target		*t = rec_new();
	struct sync_result	*res;
	int			 allow = 1;

	/* The PreSync wave is written; the fence shuts before the next. */
	res = run_fenced(t, set, &allow);
	assert_int_equal(res->status, SYNC_FAILED);
	assert_non_null(strstr(res->error, "lost shard 1"));
	assert_int_equal(rec.log.n, 2);
	assert_string_equal(rec.log.v[1], "apply Job.batch/shop/migrate");
	assert_false(live_exists("shop/ConfigMap/a.yaml"));
	sync_result_free(res);
	target_free(t);

	/* Everything written, then only the hook left: no prune fenced. */
	t = rec_new();
	res = run(t, set, 0, 1, 0);
	assert_int_equal(res->status, SYNC_SUCCEEDED);
	sync_result_free(res);
	target_free(t);
	set2 = set_hook_only();
	t = rec_new();
	allow = 1;
	res = run_fenced(t, set2, &allow);
	assert_int_equal(res->status, SYNC_FAILED);
	assert_int_equal(res->pruned, 0);
	assert_true(live_exists("shop/ConfigMap/a.yaml"));
	assert_true(live_exists("_cluster/Namespace/shop.yaml"));
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
	resource_set_free(set2);
}

static void
test_sync_run_prune_namespace_goes_after_its_contents(void **state)
{
	struct resource_set	*set, *empty;
	struct target		*t = rec_new();
	struct sync_result	*res;

	set = set_yaml("apiVersion: v1\nkind: Namespace\nmetadata:\n"
	    "  name: shop\n  annotations:\n"
	    "    argocd.argoproj.io/sync-wave: \"10\"\n---\n"
	    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"
	    "data:\n  key: one\n");
	res = run(t, set, 0, 1, 0);
	assert_int_equal(res->status, SYNC_SUCCEEDED);
	sync_result_free(res);
	target_free(t);

	empty = resource_set_new();
	t = rec_new();
	res = run(t, empty, 0, 1, 0);
	assert_int_equal(res->pruned, 2);
	assert_int_equal(rec.log.n, 2);
	assert_string_equal(rec.log.v[0], "remove ConfigMap/shop/a");
	assert_string_equal(rec.log.v[1], "remove Namespace/shop");
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
	resource_set_free(empty);
}

static void
test_sync_run_prune_disabled_keeps_files_and_inventory(void **state)
{
	struct resource_set	*set = set_base("v1", 0), *empty;
	struct target		*t = rec_new();
	struct sync_result	*res;
	struct strv		 ids = { NULL, 0 };
	char			*cause = NULL;

	res = run(t, set, 0, 1, 0);
	sync_result_free(res);
	target_free(t);

	empty = resource_set_new();
	t = rec_new();
	res = run(t, empty, 0, 0, 0);
	assert_int_equal(res->status, SYNC_SUCCEEDED);
	assert_int_equal(res->pruned, 0);
	assert_int_equal(res->nchanges, 4);
	assert_int_equal(res->changes[0].action, DIFF_PRUNE);
	assert_int_equal(rec.log.n, 0);
	assert_true(live_exists("shop/ConfigMap/a.yaml"));
	assert_int_equal(target_inventory(t, &ids, &cause), 0);
	assert_int_equal(ids.n, 4);
	strv_free(&ids);
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
	resource_set_free(empty);
}

static void
test_sync_run_hand_edited_prune_is_kept_and_reported(void **state)
{
	struct resource_set	*set = set_base("v1", 0), *empty;
	struct target		*t = rec_new();
	struct sync_result	*res;
	struct json		*j;
	char			*got;

	res = run(t, set, 0, 1, 0);
	sync_result_free(res);
	target_free(t);
	unit_write(root, "shop/ConfigMap/a.yaml", "mine: now\n");

	empty = resource_set_new();
	t = rec_new();
	res = run(t, empty, 0, 1, 0);
	assert_int_equal(res->status, SYNC_SUCCEEDED);
	assert_int_equal(res->pruned, 3);
	assert_int_equal(res->kept.n, 1);
	assert_string_equal(res->kept.v[0], "ConfigMap/shop/a");
	got = unit_read(root, "shop/ConfigMap/a.yaml");
	assert_string_equal(got, "mine: now\n");
	free(got);
	j = sync_result_to_json(res);
	assert_string_equal(json_string(json_array_get(json_get(j, "kept"),
	    0)), "ConfigMap/shop/a");
	json_free(j);
	sync_result_free(res);
	target_free(t);

	/* Converged: the next sync has nothing to prune. */
	t = rec_new();
	res = run(t, empty, 0, 1, 0);
	assert_int_equal(res->nchanges, 0);
	assert_int_equal(res->kept.n, 0);
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
	resource_set_free(empty);
}

static void
test_sync_run_dry_run_writes_nothing(void **state)
{
	struct resource_set	*set = set_base("v1", 0), *set2;
	struct target		*t = rec_new();
	struct sync_result	*res;
	char			*before, *after;

	before = snapshot();
	res = run(t, set, 1, 1, 0);
	after = snapshot();
	assert_int_equal(res->status, SYNC_DRY_RUN);
	assert_int_equal(res->created, 4);
	assert_int_equal(res->nchanges, 4);
	assert_true(sync_result_has_changes(res));
	assert_int_equal(rec.log.n, 0);
	assert_string_equal(before, after);
	free(before);
	free(after);
	sync_result_free(res);
	target_free(t);

	t = rec_new();
	res = run(t, set, 0, 1, 0);
	sync_result_free(res);
	target_free(t);
	set2 = set_base("v2", 0);
	before = snapshot();
	t = rec_new();
	res = run(t, set2, 1, 1, 0);
	after = snapshot();
	assert_int_equal(res->updated, 2);	/* c and the hook */
	assert_non_null(strstr(res->changes[0].diff, "-  key: v1"));
	assert_string_equal(before, after);
	free(before);
	free(after);
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
	resource_set_free(set2);
}

static void
test_sync_run_unwritable_path_stops_at_its_wave(void **state)
{
	struct resource_set	*set = set_base("v1", 1);
	struct target		*t = rec_new();
	struct sync_result	*res;
	struct strv		 ids = { NULL, 0 };
	struct json		*j, *waves;
	char			*p, *cause = NULL;
	size_t			 i;

	/* b (wave 3) cannot be written: a directory holds its path. */
	p = path_join(root, "shop/ConfigMap/b.yaml");
	assert_int_equal(file_mkdirs(p, 0755, &cause), 0);
	free(p);

	res = run(t, set, 0, 1, 0);
	assert_int_equal(res->status, SYNC_FAILED);
	assert_string_equal(res->failed_resource, "ConfigMap/shop/b");
	assert_non_null(strstr(res->error, "not a regular file"));
	assert_true(live_exists("shop/ConfigMap/a.yaml"));
	assert_false(live_exists("shop/ConfigMap/c.yaml"));
	for (i = 0; i < rec.log.n; i++)
		assert_null(strstr(rec.log.v[i], "ConfigMap/shop/c"));
	/* PreSync 0, Sync 0, Sync 3 (failed), then SyncFail. */
	assert_int_equal(res->nwaves, 4);
	assert_true(res->waves[1].ok);
	assert_false(res->waves[2].ok);
	assert_int_equal(res->waves[2].wave, 3);
	assert_non_null(res->waves[2].error);
	assert_int_equal(res->waves[3].phase, PHASE_SYNCFAIL);
	assert_int_equal(res->waves[3].applied, 1);
	assert_true(live_exists("shop/ConfigMap/notify.yaml"));
	assert_true(log_index("apply ConfigMap/shop/notify") >
	    log_index("apply ConfigMap/shop/a"));

	j = sync_result_to_json(res);
	assert_string_equal(json_path_string(j, "status", NULL), "Failed");
	assert_string_equal(json_path_string(j, "failedResource", NULL),
	    "ConfigMap/shop/b");
	waves = json_get(j, "waves");
	assert_int_equal(json_count(waves), 4);
	assert_int_equal(json_type(json_get(json_array_get(waves, 2), "ok")),
	    JSON_FALSE);
	json_free(j);
	sync_result_free(res);
	target_free(t);

	/* The inventory holds exactly what was written. */
	inventory_reopen(&ids);
	assert_int_equal(ids.n, 4);
	assert_true(strv_contains(&ids, "Job.batch/shop/migrate"));
	assert_true(strv_contains(&ids, "Namespace/shop"));
	assert_true(strv_contains(&ids, "ConfigMap/shop/a"));
	assert_true(strv_contains(&ids, "ConfigMap/shop/notify"));
	strv_free(&ids);

	/* Failing again: the SyncFail hook, unchanged, runs again. */
	t = rec_new();
	res = run(t, set, 0, 1, 0);
	assert_int_equal(res->status, SYNC_FAILED);
	assert_true(log_index("apply ConfigMap/shop/notify") >
	    log_index("remove ConfigMap/shop/notify"));
	assert_true(live_exists("shop/ConfigMap/notify.yaml"));
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
}

static void
test_sync_run_apply_failure_stops_later_waves(void **state)
{
	struct resource_set	*set = set_base("v1", 1);
	struct target		*t = rec_new();
	struct sync_result	*res;
	struct strv		 ids = { NULL, 0 };
	size_t			 i;

	rec.fail_apply = "ConfigMap/shop/a";
	res = run(t, set, 0, 1, 0);
	assert_int_equal(res->status, SYNC_FAILED);
	assert_string_equal(res->failed_resource, "ConfigMap/shop/a");
	assert_non_null(strstr(res->error, "injected failure"));
	for (i = 0; i < rec.log.n; i++) {
		assert_null(strstr(rec.log.v[i], "ConfigMap/shop/b"));
		assert_null(strstr(rec.log.v[i], "ConfigMap/shop/c"));
	}
	assert_true(live_exists("_cluster/Namespace/shop.yaml"));
	assert_false(live_exists("shop/ConfigMap/a.yaml"));
	assert_true(live_exists("shop/ConfigMap/notify.yaml"));
	assert_int_equal(res->created, 3);	/* hook, namespace, notify */
	sync_result_free(res);
	target_free(t);

	inventory_reopen(&ids);
	assert_false(strv_contains(&ids, "ConfigMap/shop/a"));
	assert_true(strv_contains(&ids, "Namespace/shop"));
	strv_free(&ids);
	resource_set_free(set);
}

/*
 * A target that validates at compare (Kubernetes' dry-run apply): one
 * resource refused fails the sync before any wave is applied; a target
 * that does not fails that resource at its wave.
 */
static void
test_sync_run_validation_failure_applies_nothing(void **state)
{
	struct resource_set	*set = set_base("v1", 1);
	struct target		*t = rec_new();
	struct sync_result	*res;

	t->ops = &rec_validating_ops;
	rec.fail_compare = "ConfigMap/shop/c";
	res = run(t, set, 0, 1, 0);
	assert_int_equal(res->status, SYNC_FAILED);
	assert_string_equal(res->failed_resource, "ConfigMap/shop/c");
	assert_non_null(strstr(res->error, "injected compare failure"));
	assert_int_equal(rec.log.n, 0);
	assert_int_equal(res->created, 0);
	assert_false(live_exists("_cluster/Namespace/shop.yaml"));
	sync_result_free(res);
	target_free(t);

	t = rec_new();
	rec.fail_compare = "ConfigMap/shop/c";
	res = run(t, set, 0, 1, 0);
	assert_int_equal(res->status, SYNC_FAILED);
	assert_string_equal(res->failed_resource, "ConfigMap/shop/c");
	assert_true(live_exists("_cluster/Namespace/shop.yaml"));
	assert_true(live_exists("shop/ConfigMap/a.yaml"));
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
}

static void
test_sync_run_unhealthy_wave_times_out_naming_resource(void **state)
{
	struct resource_set	*set = set_base("v1", 0);
	struct target		*t = rec_new();
	struct sync_result	*res;
	size_t			 i;

	/* In the first wave, so no earlier wave can use up the time. */
	rec.health_id = "Job.batch/shop/migrate";
	rec.health = HEALTH_PROGRESSING;
	rec.health_why = "job running";
	res = run(t, set, 0, 1, 200);
	assert_int_equal(res->status, SYNC_FAILED);
	assert_non_null(res->failed_resource);
	assert_string_equal(res->failed_resource, "Job.batch/shop/migrate");
	assert_non_null(strstr(res->error, "timed out"));
	assert_non_null(strstr(res->error, "Progressing (job running)"));
	for (i = 0; i < rec.log.n; i++)
		assert_null(strstr(rec.log.v[i], "ConfigMap/shop/a"));
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
}

/* A resource paused on purpose (Suspended) holds up no wave. */
static void
test_sync_run_suspended_resource_does_not_hold_its_wave(void **state)
{
	struct resource_set	*set = set_base("v1", 0);
	struct target		*t = rec_new();
	struct sync_result	*res;

	rec.health_id = "ConfigMap/shop/a";
	rec.health = HEALTH_SUSPENDED;
	rec.health_why = "paused";
	res = run(t, set, 0, 1, 2000);
	assert_int_equal(res->status, SYNC_SUCCEEDED);
	assert_string_equal(res->resources[2].id, "ConfigMap/shop/a");
	assert_int_equal(res->resources[2].health, HEALTH_SUSPENDED);
	assert_string_equal(res->resources[2].health_reason, "paused");
	assert_true(live_exists("shop/ConfigMap/c.yaml"));
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
}

/*
 * A drift check's dry run: the field a hand edit changed is named on
 * its resource, every resource has its live health, nothing is written.
 */
static void
test_sync_run_drift_names_fields_and_live_health(void **state)
{
	struct resource_set	*set = set_base("v1", 0);
	struct target		*t = rec_new();
	struct sync_result	*res = NULL;
	struct sync_opts	 opts;
	struct json		*j;
	char			*live, *at, *cause = NULL;

	res = run(t, set, 0, 1, 0);
	assert_int_equal(res->status, SYNC_SUCCEEDED);
	sync_result_free(res);
	target_free(t);
	live = unit_read(root, "shop/ConfigMap/c.yaml");
	assert_non_null(at = strstr(live, "key: v1"));
	at[6] = '2';
	unit_write(root, "shop/ConfigMap/c.yaml", live);

	t = rec_new();
	memset(&opts, 0, sizeof opts);
	opts.dry_run = 1;
	opts.drift = 1;
	if (sync_run(t, set, &opts, &res, &cause) == -1)
		fail_msg("sync_run: %s", cause);
	assert_int_equal(res->nresources, 4);
	assert_string_equal(res->resources[3].id, "ConfigMap/shop/c");
	assert_string_equal(res->resources[3].sync, "OutOfSync");
	/* The directory target's own rule: a file that differs. */
	assert_int_equal(res->resources[3].health, HEALTH_DEGRADED);
	assert_int_equal(res->resources[2].health, HEALTH_HEALTHY);
	assert_null(res->resources[2].drift);
	j = sync_result_to_json(res);
	assert_string_equal(json_path_string(json_array_get(json_path(
	    json_array_get(json_get(j, "resources"), 3), "drift", "fields",
	    NULL), 0), NULL), ".data.key");
	json_free(j);
	free(live);
	live = unit_read(root, "shop/ConfigMap/c.yaml");
	assert_non_null(strstr(live, "key: v2"));
	free(live);
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
}

/* Each desired resource in plan order: synced and healthy once gated. */
static void
test_sync_run_resources_say_sync_and_health(void **state)
{
	struct resource_set	*set = set_base("v1", 0);
	struct target		*t = rec_new();
	struct sync_result	*res;
	struct json		*j;

	res = run(t, set, 0, 1, 0);
	assert_int_equal(res->nresources, 4);
	assert_string_equal(res->resources[0].id, "Namespace/shop");
	assert_string_equal(res->resources[3].id, "ConfigMap/shop/c");
	assert_string_equal(res->resources[3].sync, "Synced");
	assert_int_equal(res->resources[3].health, HEALTH_HEALTHY);
	j = sync_result_to_json(res);
	assert_string_equal(json_path_string(json_array_get(json_get(j,
	    "resources"), 1), "health", NULL), "Healthy");
	assert_string_equal(json_path_string(json_array_get(json_get(j,
	    "resources"), 1), "id", NULL), "Job.batch/shop/migrate");
	json_free(j);
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
}

/* A wave never healthy: its last health; a later wave is not reached. */
static void
test_sync_run_resources_unhealthy_wave_states(void **state)
{
	struct resource_set	*set = set_base("v1", 0);
	struct target		*t = rec_new();
	struct sync_result	*res;
	struct json		*j;

	rec.health_id = "Job.batch/shop/migrate";
	rec.health = HEALTH_PROGRESSING;
	rec.health_why = "0 of 1 completions";
	res = run(t, set, 0, 1, 200);
	assert_int_equal(res->status, SYNC_FAILED);
	assert_int_equal(res->nresources, 4);
	assert_string_equal(res->resources[1].health_reason,
	    "0 of 1 completions");
	assert_null(res->resources[0].health_reason);
	j = sync_result_to_json(res);
	assert_string_equal(json_path_string(json_array_get(json_get(j,
	    "resources"), 1), "healthReason", NULL), "0 of 1 completions");
	assert_null(json_get(json_array_get(json_get(j, "resources"), 0),
	    "healthReason"));
	json_free(j);
	assert_string_equal(res->resources[1].id, "Job.batch/shop/migrate");
	assert_string_equal(res->resources[1].sync, "Synced");
	assert_int_equal(res->resources[1].health, HEALTH_PROGRESSING);
	assert_int_equal(res->resources[0].health, HEALTH_HEALTHY);
	assert_string_equal(res->resources[2].sync, "OutOfSync");
	assert_int_equal(res->resources[2].health, HEALTH_UNKNOWN);
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
}

/* A sync where the PreSync Job never gets ready, each wave bounded. */
static struct sync_result *
run_job_never_ready(struct target *t, const struct resource_set *set,
    uint64_t wave_timeout_ms)
{
	struct sync_opts	 opts;
	struct sync_result	*res = NULL;
	char			*cause = NULL;

	rec.health_id = "Job.batch/shop/migrate";
	rec.health = HEALTH_PROGRESSING;
	memset(&opts, 0, sizeof opts);
	opts.prune = 1;
	opts.timeout_ms = 60000;
	opts.wave_timeout_ms = wave_timeout_ms;
	assert_int_equal(sync_run(t, set, &opts, &res, &cause), 0);
	return (res);
}

/* A wave's own timeout ends the wait long before the sync's. */
static void
test_sync_run_wave_timeout_fails_before_sync_timeout(void **state)
{
	struct resource_set	*set = set_base("v1", 0);
	struct target		*t = rec_new();
	struct sync_result	*res;
	uint64_t		 t0;

	t0 = time_monotonic_ms();
	res = run_job_never_ready(t, set, 150);
	assert_true(time_monotonic_ms() - t0 < 30000);
	assert_int_equal(res->status, SYNC_FAILED);
	assert_string_equal(res->failed_resource, "Job.batch/shop/migrate");
	assert_non_null(strstr(res->error, "timed out after 150ms"));
	/* The Job was written: the revision failed as a probe would. */
	assert_true(res->failed_after_apply);
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
}

static void
test_sync_run_degraded_resource_fails_at_once(void **state)
{
	struct resource_set	*set = set_base("v1", 0);
	struct target		*t = rec_new();
	struct sync_result	*res;

	rec.health_id = "Namespace/shop";
	rec.health = HEALTH_DEGRADED;
	rec.health_why = "stalled: quota exceeded";
	res = run(t, set, 0, 1, 0);	/* no timeout: must not hang */
	assert_int_equal(res->status, SYNC_FAILED);
	assert_string_equal(res->failed_resource, "Namespace/shop");
	/* The reason its status gives is in the error. */
	assert_non_null(strstr(res->error,
	    "'Namespace/shop' is Degraded: stalled: quota exceeded"));
	assert_false(live_exists("shop/ConfigMap/a.yaml"));
	assert_true(res->failed_after_apply);
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
}

/* A wave this sync changed nothing in is not the revision's failure. */
static void
test_sync_run_unhealthy_unchanged_wave_is_not_after_apply(void **state)
{
	struct resource_set	*set = set_base("v1", 0);
	struct target		*t = rec_new();
	struct sync_result	*res;

	res = run(t, set, 0, 1, 0);
	assert_int_equal(res->status, SYNC_SUCCEEDED);
	sync_result_free(res);
	resource_set_free(set);
	/* Only wave 5 changes (and the hook runs); a, unchanged, never gets
	 * ready. */
	set = set_base("v2", 0);
	rec.health_id = "ConfigMap/shop/a";
	rec.health = HEALTH_PROGRESSING;
	res = run(t, set, 0, 1, 100);
	assert_int_equal(res->status, SYNC_FAILED);
	assert_string_equal(res->failed_resource, "ConfigMap/shop/a");
	assert_int_equal(res->created + res->updated, 1);	/* the hook */
	assert_false(res->failed_after_apply);
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
}

/* The base set, its hook with this hook-delete-policy. */
static struct resource_set *
set_policy(const char *cvalue, const char *policy)
{
	struct resource_set	*set;
	char			*text, *p, *with;

	xasprintf(&text, base_yaml, cvalue);
	p = strstr(text, "    argocd.argoproj.io/hook: PreSync\n");
	assert_non_null(p);
	p += strlen("    argocd.argoproj.io/hook: PreSync\n");
	xasprintf(&with, "%.*s    argocd.argoproj.io/hook-delete-policy: "
	    "%s\n%s", (int)(p - text), text, policy, p);
	set = set_yaml(with);
	free(with);
	free(text);
	return (set);
}

/*
 * HookSucceeded: deleted once its wave is healthy; its absence is no
 * change, so a sync with nothing else to do runs nothing; the next
 * change creates it again (nothing to delete first).
 */
static void
test_sync_run_hook_succeeded_deleted_and_not_a_change(void **state)
{
	struct resource_set	*set = set_policy("v1", "HookSucceeded");
	struct resource_set	*set2 = set_policy("v2", "HookSucceeded");
	struct target		*t = rec_new();
	struct sync_result	*res;

	res = run(t, set, 0, 1, 0);
	assert_int_equal(res->status, SYNC_SUCCEEDED);
	assert_false(live_exists("shop/Job.batch/migrate.yaml"));
	/* Created, then deleted once its (PreSync) wave was healthy. */
	assert_string_equal(rec.log.v[0], "apply Namespace/shop");
	assert_string_equal(rec.log.v[1], "apply Job.batch/shop/migrate");
	assert_string_equal(rec.log.v[2], "remove Job.batch/shop/migrate");
	sync_result_free(res);
	target_free(t);

	t = rec_new();
	res = run(t, set, 0, 1, 0);
	assert_int_equal(res->nchanges, 0);
	assert_int_equal(rec.log.n, 0);
	assert_false(live_exists("shop/Job.batch/migrate.yaml"));
	sync_result_free(res);
	target_free(t);

	t = rec_new();
	res = run(t, set2, 0, 1, 0);
	assert_int_equal(res->status, SYNC_SUCCEEDED);
	assert_int_equal(res->created, 1);	/* the hook, absent */
	assert_int_equal(res->updated, 1);	/* c */
	assert_string_equal(rec.log.v[0], "apply Job.batch/shop/migrate");
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
	resource_set_free(set2);
}

/* HookFailed: the hook that failed is deleted, the sync still fails. */
static void
test_sync_run_hook_failed_deleted(void **state)
{
	struct resource_set	*set = set_policy("v1", "HookFailed");
	struct target		*t = rec_new();
	struct sync_result	*res;

	rec.health_id = "Job.batch/shop/migrate";
	rec.health = HEALTH_DEGRADED;
	res = run(t, set, 0, 1, 0);
	assert_int_equal(res->status, SYNC_FAILED);
	assert_string_equal(res->failed_resource, "Job.batch/shop/migrate");
	assert_false(live_exists("shop/Job.batch/migrate.yaml"));
	assert_false(live_exists("shop/ConfigMap/c.yaml"));
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
}

/*
 * Each recorded result joins the history, newest first when read, at
 * most STATE_HISTORY_MAX kept, without resources; a broken history file
 * is an error to its reader and started again by the next record.
 */
static void
test_sync_state_history_bounded_newest_first(void **state)
{
	struct resource_set	*set = set_base("v1", 0);
	struct target		*t = rec_new();
	struct sync_result	*res;
	struct json		*h = NULL;
	char			*sd, *cause = NULL, rev[32];
	int			 i;

	res = run(t, set, 0, 1, 0);
	sd = path_join(root, "state");
	assert_int_equal(state_load_history(sd, "shop", 10, &h, &cause), 0);
	assert_int_equal(json_count(h), 0);
	json_free(h);
	for (i = 0; i < STATE_HISTORY_MAX + 5; i++) {
		free(res->revision);
		snprintf(rev, sizeof rev, "rev%d", i);
		res->revision = xstrdup(rev);
		assert_int_equal(state_save_sync(sd, res, &cause), 0);
	}
	assert_int_equal(state_load_history(sd, "shop", 1000, &h, &cause), 0);
	assert_int_equal(json_count(h), STATE_HISTORY_MAX);
	snprintf(rev, sizeof rev, "rev%d", STATE_HISTORY_MAX + 4);
	assert_string_equal(json_path_string(json_array_get(h, 0),
	    "revision", NULL), rev);
	assert_string_equal(json_path_string(json_array_get(h,
	    STATE_HISTORY_MAX - 1), "revision", NULL), "rev5");
	assert_null(json_get(json_array_get(h, 0), "resources"));
	assert_non_null(json_get(json_array_get(h, 0), "changes"));
	json_free(h);
	assert_int_equal(state_load_history(sd, "shop", 2, &h, &cause), 0);
	assert_int_equal(json_count(h), 2);
	json_free(h);

	unit_write(sd, "apps/shop/history.json", "{not json");
	assert_int_equal(state_load_history(sd, "shop", 2, &h, &cause), -1);
	assert_non_null(strstr(cause, "history.json"));
	free(cause);
	cause = NULL;
	res->revision[0] = 'R';
	assert_int_equal(state_save_sync(sd, res, &cause), 0);
	assert_int_equal(state_load_history(sd, "shop", 9, &h, &cause), 0);
	assert_int_equal(json_count(h), 1);
	json_free(h);
	free(sd);
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
}

static void
test_sync_state_save_then_load_round_trips(void **state)
{
	struct resource_set	*set = set_base("v1", 0);
	struct target		*t = rec_new();
	struct sync_result	*res;
	struct json		*j = NULL;
	char			*sd, *cause = NULL, *text;
	const char		*at;

	res = run(t, set, 0, 1, 0);
	sd = path_join(root, "state");
	assert_int_equal(state_save_sync(sd, res, &cause), 0);
	text = unit_read(sd, "apps/shop/last-sync.json");
	assert_non_null(text);
	assert_null(strstr(text, "+++"));	/* no diffs stored */
	free(text);
	assert_int_equal(state_load_sync(sd, "shop", &j, &cause), 0);
	assert_non_null(j);
	assert_string_equal(json_path_string(j, "app", NULL), "shop");
	assert_string_equal(json_path_string(j, "status", NULL), "Succeeded");
	assert_string_equal(json_path_string(j, "revision", NULL), "abc123");
	assert_true(json_number(json_get(j, "created")) == 4);
	assert_int_equal(json_count(json_get(j, "waves")), 3);
	assert_int_equal(json_count(json_get(j, "changes")), 4);
	assert_string_equal(json_path_string(json_array_get(json_get(j,
	    "changes"), 0), "action", NULL), diff_action_name(DIFF_CREATE));
	assert_int_equal(json_type(json_get(j, "failedResource")), JSON_NULL);
	at = json_path_string(j, "startedAt", NULL);
	assert_non_null(at);
	/* RFC 3339 UTC to the second: 2026-12-05T23:10:15Z. */
	assert_int_equal(strlen(at), 20);
	assert_int_equal(at[10], 'T');
	assert_int_equal(at[19], 'Z');
	assert_non_null(json_path_string(j, "finishedAt", NULL));
	json_free(j);

	j = (struct json *)1;
	assert_int_equal(state_load_sync(sd, "nothing-yet", &j, &cause), 0);
	assert_null(j);
	assert_int_equal(state_load_sync(sd, "../x", &j, &cause), -1);
	free(cause);
	free(sd);
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
}


static int	tmp_found;

static int
find_tmp_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	if (strstr(path, ".tmp.") != NULL)
		tmp_found++;
	return (0);
}

/*
 * Each wave is one batch: its files are made durable together, once for
 * the data and once per directory, not twice per file; every apply of a
 * wave comes between its begin and its commit, before its health.
 */
static void
test_sync_run_each_wave_made_durable_once(void **state)
{
	struct resource_set	*set = set_base("v1", 0);
	struct target		*t = rec_new();
	struct sync_result	*res;
	struct target_dir_counts c;
	size_t			 i, nw = 0, ncommit = 0;

	res = run(t, set, 0, 1, 0);
	assert_int_equal(res->status, SYNC_SUCCEEDED);
	assert_int_equal(res->created, 4);
	for (i = 0; i < res->nwaves; i++) {
		if (res->waves[i].applied != 0)
			nw++;
	}
	assert_true(nw >= 2);
	target_dir_counts(rec.inner, &c);
	if (c.syncfs != 0) {
		assert_int_equal(c.syncfs, nw);
		assert_int_equal(c.file_syncs, 0);
	} else
		assert_int_equal(c.file_syncs, 4);
	assert_true(c.dir_syncs >= nw && c.dir_syncs <= 4);
	/* begin, apply..., commit per wave, never an apply outside. */
	for (i = 0; i < rec.batch.n; i++) {
		if (strcmp(rec.batch.v[i], "commit") == 0)
			ncommit++;
		if (strncmp(rec.batch.v[i], "apply ", 6) == 0) {
			assert_true(i > 0);
			assert_true(strcmp(rec.batch.v[i - 1], "begin") == 0 ||
			    strncmp(rec.batch.v[i - 1], "apply ", 6) == 0);
			assert_true(i + 1 < rec.batch.n);
			assert_true(strcmp(rec.batch.v[i + 1], "commit") ==
			    0 || strncmp(rec.batch.v[i + 1], "apply ", 6) == 0);
		}
	}
	assert_int_equal(ncommit, nw);
	assert_true(live_exists("shop/ConfigMap/c.yaml"));
	tmp_found = 0;
	nftw(root, find_tmp_cb, 16, FTW_PHYS);
	assert_int_equal(tmp_found, 0);
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
}

/*
 * A write that fails when the wave is committed stops the sync at that
 * wave, naming the resource: later waves are not applied, no temporary
 * file is left, the inventory holds exactly what was written.
 */
static void
test_sync_run_commit_failure_stops_at_its_wave(void **state)
{
	struct resource_set	*set = set_base("v1", 0);
	struct target		*t = rec_new();
	struct sync_result	*res;
	struct strv		 ids = { NULL, 0 };
	size_t			 i;

	rec.block_after_apply = "ConfigMap/shop/a";
	res = run(t, set, 0, 1, 0);
	assert_int_equal(res->status, SYNC_FAILED);
	assert_non_null(res->failed_resource);
	assert_string_equal(res->failed_resource, "ConfigMap/shop/a");
	assert_non_null(strstr(res->error, "cannot rename"));
	for (i = 0; i < rec.log.n; i++)
		assert_null(strstr(rec.log.v[i], "ConfigMap/shop/c"));
	assert_false(live_exists("shop/ConfigMap/c.yaml"));
	assert_true(live_exists("_cluster/Namespace/shop.yaml"));
	tmp_found = 0;
	nftw(root, find_tmp_cb, 16, FTW_PHYS);
	assert_int_equal(tmp_found, 0);
	sync_result_free(res);
	target_free(t);

	inventory_reopen(&ids);
	assert_false(strv_contains(&ids, "ConfigMap/shop/a"));
	assert_false(strv_contains(&ids, "ConfigMap/shop/c"));
	assert_true(strv_contains(&ids, "Namespace/shop"));
	assert_true(strv_contains(&ids, "Job.batch/shop/migrate"));
	strv_free(&ids);
	resource_set_free(set);
}

/*
 * After a sync, once the inventory is older than nothing it records (a
 * later tick; here its mtime moved ahead), a no-change dry run reads no
 * live file: the stat cache answers.
 */
static void
test_sync_run_no_change_reads_no_live_file(void **state)
{
	struct resource_set	*set = set_base("v1", 0);
	struct target		*t = rec_new();
	struct sync_result	*res;
	struct target_dir_counts c;
	struct timespec		 times[2];
	char			*inv;

	res = run(t, set, 0, 1, 0);
	assert_int_equal(res->status, SYNC_SUCCEEDED);
	sync_result_free(res);
	target_free(t);
	inv = path_join(root, ".gitops-agent/inventory/shop.json");
	assert_int_equal(clock_gettime(CLOCK_REALTIME, &times[0]), 0);
	times[0].tv_sec += 60;
	times[1] = times[0];
	assert_int_equal(utimensat(AT_FDCWD, inv, times, 0), 0);
	free(inv);

	t = rec_new();
	res = run(t, set, 1, 1, 0);
	assert_int_equal(res->status, SYNC_DRY_RUN);
	assert_int_equal(res->unchanged, 4);
	target_dir_counts(rec.inner, &c);
	/* The hook is not even looked at: nothing else changes. */
	assert_int_equal(c.stat_hits, 3);
	assert_int_equal(c.reads, 0);
	sync_result_free(res);
	target_free(t);
	resource_set_free(set);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_sync_run_first_sync_creates_in_plan_order),
		T(test_sync_run_nothing_to_change_writes_nothing),
		T(test_sync_run_changed_resource_updates_it_and_reruns_hooks),
		T(test_sync_run_without_diff_texts_makes_none),
		T(test_sync_run_prune_removes_in_reverse_wave_order),
		T(test_sync_run_prune_namespace_goes_after_its_contents),
		T(test_sync_run_prune_disabled_keeps_files_and_inventory),
		T(test_sync_run_hand_edited_prune_is_kept_and_reported),
		T(test_sync_run_dry_run_writes_nothing),
		T(test_sync_run_unwritable_path_stops_at_its_wave),
		T(test_sync_run_apply_failure_stops_later_waves),
		T(test_sync_run_fence_stops_before_next_wave_and_prune),
		T(test_sync_run_validation_failure_applies_nothing),
		T(test_sync_run_unhealthy_wave_times_out_naming_resource),
		T(test_sync_run_suspended_resource_does_not_hold_its_wave),
		T(test_sync_run_drift_names_fields_and_live_health),
		T(test_sync_run_resources_say_sync_and_health),
		T(test_sync_state_history_bounded_newest_first),
		T(test_sync_run_resources_unhealthy_wave_states),
		T(test_sync_run_wave_timeout_fails_before_sync_timeout),
		T(test_sync_run_degraded_resource_fails_at_once),
		T(test_sync_run_unhealthy_unchanged_wave_is_not_after_apply),
		T(test_sync_run_hook_succeeded_deleted_and_not_a_change),
		T(test_sync_run_hook_failed_deleted),
		T(test_sync_state_save_then_load_round_trips),
		T(test_sync_run_each_wave_made_durable_once),
		T(test_sync_run_commit_failure_stops_at_its_wave),
		T(test_sync_run_no_change_reads_no_live_file),
	};
#undef T

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
