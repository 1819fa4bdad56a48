/*
 * test_config.c: the configuration file: defaults, every check with its
 * exact message and position, relative paths, many errors at once, the
 * reference table and secrets.
 */
#include "config.h"
#include "unit.h"

#define NAME	"conf/gitops-agent.yaml"

/* A repository and an app that pass every check, for tests to extend. */
#define GOOD_REPO \
	"repositories:\n" \
	"  - name: infra\n" \
	"    directory: ./manifests\n"
#define GOOD_APP \
	"apps:\n" \
	"  - name: web\n" \
	"    repository: infra\n" \
	"    path: apps/web\n" \
	"    target: {path: ./live}\n"

static struct config *
parse_ok(const char *text)
{
	struct config	*cfg;
	char		*cause = NULL;

	cfg = config_parse(NAME, text, strlen(text), &cause);
	if (cfg == NULL)
		fail_msg("unexpected errors:\n%s", cause);
	assert_null(cause);
	return (cfg);
}

/* The file fails with exactly these errors (one per line). */
static void
parse_fails(const char *text, const char *expected)
{
	struct config	*cfg;
	char		*cause = NULL;

	cfg = config_parse(NAME, text, strlen(text), &cause);
	assert_null(cfg);
	assert_non_null(cause);
	assert_string_equal(cause, expected);
	free(cause);
}

static void
test_config_parse_defaults_applied(void **state)
{
	struct config		*cfg;
	const struct config_repository *r;
	const struct config_app	*a;

	cfg = parse_ok(GOOD_REPO GOOD_APP);
	assert_string_equal(cfg->file, NAME);
	assert_string_equal(cfg->listen, "127.0.0.1:8080");
	assert_string_equal(cfg->state_dir, "conf/state");
	assert_int_equal(cfg->log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg->nrepositories, 1);
	r = &cfg->repositories[0];
	assert_string_equal(r->name, "infra");
	assert_null(r->url);
	assert_string_equal(r->directory, "conf/manifests");
	assert_string_equal(r->branch, "main");
	assert_int_equal(r->poll_interval_ms, 3 * 60 * 1000);
	assert_int_equal(r->timeout_ms, 60 * 1000);
	assert_null(r->webhook_secret_file);
	assert_null(r->webhook_secret_env);
	assert_int_equal(r->line, 2);
	assert_int_equal(r->column, 5);
	assert_int_equal(cfg->napps, 1);
	a = &cfg->apps[0];
	assert_string_equal(a->name, "web");
	assert_string_equal(a->repository, "infra");
	assert_string_equal(a->path, "apps/web");
	assert_int_equal(a->target.type, TARGET_DIRECTORY);
	assert_string_equal(a->target.path, "conf/live");
	assert_null(a->namespace);
	assert_int_equal(a->depends_on.n, 0);
	assert_int_equal(a->prune, 1);
	assert_int_equal(a->sync_timeout_ms, 5 * 60 * 1000);
	assert_null(a->service);
	assert_null(a->environment);
	assert_int_equal(a->line, 5);
	assert_int_equal(a->column, 5);
	assert_null(cfg->versions.repository);
	assert_null(cfg->versions.file);
	config_free(cfg);
}

static void
test_config_parse_empty_file_all_defaults(void **state)
{
	struct config	*cfg;

	cfg = parse_ok("# nothing but a comment\n");
	assert_string_equal(cfg->listen, "127.0.0.1:8080");
	assert_string_equal(cfg->state_dir, "conf/state");
	assert_int_equal(cfg->nrepositories, 0);
	assert_int_equal(cfg->napps, 0);
	config_free(cfg);

	cfg = parse_ok("repositories: []\napps: []\n");
	assert_int_equal(cfg->nrepositories, 0);
	assert_int_equal(cfg->napps, 0);
	config_free(cfg);
}

static void
test_config_parse_full_example_every_value(void **state)
{
	static const char text[] =
	    "listen: 0.0.0.0:9090\n"
	    "state_dir: /var/lib/gitops-agent\n"
	    "log_level: debug\n"
	    "repositories:\n"
	    "  - name: infra\n"
	    "    url: git://127.0.0.1:9418/infra.git\n"
	    "    branch: release\n"
	    "    poll_interval: 1h30m\n"
	    "    timeout: 10s\n"
	    "    webhook_secret_env: INFRA_SECRET\n"
	    "  - name: local\n"
	    "    directory: /srv/manifests\n"
	    "    webhook_secret_file: secrets/webhook\n"
	    "apps:\n"
	    "  - name: inventory-staging\n"
	    "    repository: local\n"
	    "    path: ./apps/inventory//staging/\n"
	    "    target: {type: directory, path: /srv/live}\n"
	    "  - name: checkout-staging\n"
	    "    repository: infra\n"
	    "    path: apps/checkout-service/overlays/staging\n"
	    "    target:\n"
	    "      type: directory\n"
	    "      path: ../live/staging\n"
	    "    namespace: shop\n"
	    "    depends_on: [inventory-staging]\n"
	    "    prune: false\n"
	    "    sync_timeout: 90s\n"
	    "    service: checkout-service\n"
	    "    environment: staging\n"
	    "versions:\n"
	    "  repository: infra\n"
	    "  file: env/versions.yaml\n";
	struct config		*cfg;
	const struct config_repository *r;
	const struct config_app	*a;

	cfg = parse_ok(text);
	assert_string_equal(cfg->listen, "0.0.0.0:9090");
	assert_string_equal(cfg->state_dir, "/var/lib/gitops-agent");
	assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(cfg->nrepositories, 2);
	r = config_find_repository(cfg, "infra");
	assert_ptr_equal(r, &cfg->repositories[0]);
	assert_string_equal(r->url, "git://127.0.0.1:9418/infra.git");
	assert_null(r->directory);
	assert_string_equal(r->branch, "release");
	assert_int_equal(r->poll_interval_ms, 90 * 60 * 1000);
	assert_int_equal(r->timeout_ms, 10 * 1000);
	assert_string_equal(r->webhook_secret_env, "INFRA_SECRET");
	r = config_find_repository(cfg, "local");
	assert_string_equal(r->directory, "/srv/manifests");
	assert_string_equal(r->webhook_secret_file, "conf/secrets/webhook");
	assert_null(config_find_repository(cfg, "nope"));
	assert_int_equal(cfg->napps, 2);
	a = config_find_app(cfg, "inventory-staging");
	assert_ptr_equal(a, &cfg->apps[0]);
	assert_string_equal(a->path, "apps/inventory/staging");
	assert_string_equal(a->target.path, "/srv/live");
	a = config_find_app(cfg, "checkout-staging");
	assert_ptr_equal(a, &cfg->apps[1]);
	assert_string_equal(a->path, "apps/checkout-service/overlays/staging");
	assert_string_equal(a->target.path, "conf/../live/staging");
	assert_string_equal(a->namespace, "shop");
	assert_int_equal(a->depends_on.n, 1);
	assert_string_equal(a->depends_on.v[0], "inventory-staging");
	assert_int_equal(a->prune, 0);
	assert_int_equal(a->sync_timeout_ms, 90 * 1000);
	assert_string_equal(a->service, "checkout-service");
	assert_string_equal(a->environment, "staging");
	assert_null(config_find_app(cfg, "nope"));
	assert_string_equal(cfg->versions.repository, "infra");
	assert_string_equal(cfg->versions.file, "env/versions.yaml");
	config_free(cfg);
}

static void
test_config_parse_versions_file_default(void **state)
{
	struct config	*cfg;

	cfg = parse_ok(GOOD_REPO "versions: {repository: infra}\n");
	assert_string_equal(cfg->versions.repository, "infra");
	assert_string_equal(cfg->versions.file, "versions.yaml");
	config_free(cfg);
}

static void
test_config_parse_coordination_defaults_and_pins(void **state)
{
	static const char text[] =
	    "repositories: [{name: infra, directory: .}]\n"
	    "coordination: {kubeconfig: kc, namespace: gitops-system,\n"
	    "  shards: 4}\n"
	    "apps:\n"
	    "  - {name: a, repository: infra, path: x, shard: 3,\n"
	    "     target: {type: directory, path: out}}\n"
	    "  - {name: b, repository: infra, path: y,\n"
	    "     target: {type: directory, path: out2}}\n";
	static const char none[] =
	    "repositories: [{name: infra, directory: .}]\n"
	    "apps:\n"
	    "  - {name: a, repository: infra, path: x, shard: 0,\n"
	    "     target: {type: directory, path: out}}\n";
	static const char bad[] =
	    "repositories: [{name: infra, directory: .}]\n"
	    "coordination: {in_cluster: true, kubeconfig: kc, shards: 2,\n"
	    "  lease_duration: 500ms, identity: Not_A_Label}\n"
	    "apps:\n"
	    "  - {name: a, repository: infra, path: x, shard: 2,\n"
	    "     target: {type: directory, path: out}}\n";
	struct config	*cfg;
	char		*cause = NULL;

	(void)state;
	cfg = config_parse("conf/g.yaml", text, strlen(text), &cause);
	assert_non_null(cfg);
	assert_int_equal(cfg->coordination.enabled, 1);
	assert_string_equal(cfg->coordination.kubeconfig, "conf/kc");
	assert_string_equal(cfg->coordination.namespace, "gitops-system");
	assert_int_equal(cfg->coordination.shards, 4);
	assert_int_equal(cfg->coordination.lease_duration_ms, 15000);
	assert_null(cfg->coordination.identity);
	assert_int_equal(cfg->apps[0].shard, 3);
	assert_int_equal(cfg->apps[1].shard, -1);
	config_free(cfg);

	/* Without coordination: off, and a pin means nothing. */
	cfg = config_parse("g.yaml", none, strlen(none), &cause);
	assert_null(cfg);
	assert_non_null(strstr(cause, "pinned to a shard but the "
	    "configuration has no 'coordination'"));
	free(cause);
	cfg = config_parse("g.yaml", "", 0, &cause);
	assert_non_null(cfg);
	assert_int_equal(cfg->coordination.enabled, 0);
	config_free(cfg);

	cfg = config_parse("g.yaml", bad, strlen(bad), &cause);
	assert_null(cfg);
	assert_non_null(strstr(cause, "reads no kubeconfig"));
	assert_non_null(strstr(cause, "pinned to shard 2, but shards are "
	    "numbered 0 to 1"));
	assert_non_null(strstr(cause, "lease_duration"));
	assert_non_null(strstr(cause, "identity"));
	free(cause);
}

static void
test_config_parse_kubernetes_target(void **state)
{
	static const char text[] =
	    "state_dir: /var/lib/ga\n"
	    "repositories: [{name: infra, directory: .},\n"
	    "  {name: git, url: \"https://bot:s3cret@git.example/infra.git\"}]\n"
	    "apps:\n"
	    "  - name: a\n"
	    "    repository: infra\n"
	    "    path: x\n"
	    "    target: {type: kubernetes, kubeconfig: kc, namespace: shop,\n"
	    "             request_timeout: 5s, force_conflicts: false}\n"
	    "  - name: b\n"
	    "    repository: git\n"
	    "    path: y\n"
	    "    target: {type: kubernetes, in_cluster: true}\n"
	    "  - name: c\n"
	    "    repository: infra\n"
	    "    path: z\n"
	    "    target: {type: kubernetes, kubeconfig: ~/.kube/config,\n"
	    "             owner: shop-team}\n";
	struct config		*cfg;
	struct config_target	 copy;
	char			*cause = NULL;
	char			*key;

	(void)state;
	setenv("HOME", "/home/u", 1);
	cfg = config_parse("conf/gitops-agent.yaml", text, strlen(text),
	    &cause);
	assert_non_null(cfg);
	assert_int_equal(cfg->apps[0].target.type, TARGET_KUBERNETES);
	/* "~/" is the home directory, as kubectl reads it. */
	assert_string_equal(cfg->apps[2].target.kubeconfig,
	    "/home/u/.kube/config");
	assert_string_equal(cfg->apps[0].target.kubeconfig, "conf/kc");
	assert_string_equal(cfg->apps[0].target.namespace, "shop");
	assert_string_equal(cfg->apps[0].target.field_manager, "gitops-agent");
	assert_int_equal(cfg->apps[0].target.force_conflicts, 0);
	assert_int_equal(cfg->apps[0].target.request_timeout_ms, 5000);
	assert_int_equal(cfg->apps[0].target.qps, 50);
	assert_int_equal(cfg->apps[0].target.burst, 100);
	assert_int_equal(cfg->apps[0].target.prune_max_percent, 50);
	assert_null(cfg->apps[0].target.path);
	assert_int_equal(cfg->apps[1].target.force_conflicts, 1);
	assert_int_equal(cfg->apps[1].target.in_cluster, 1);
	/* Each target's lock is under state_dir, named by its key. */
	assert_non_null(cfg->apps[0].target.lock_file);
	assert_true(strncmp(cfg->apps[0].target.lock_file,
	    "/var/lib/ga/locks/kubernetes-", 29) == 0);
	assert_string_not_equal(cfg->apps[0].target.lock_file,
	    cfg->apps[1].target.lock_file);
	key = target_key(&cfg->apps[0].target);
	assert_string_equal(key, "kubernetes:conf/kc::shop");
	free(key);
	/* The owner: the repository (no credentials), '#', the path. */
	assert_string_equal(cfg->apps[1].target.owner,
	    "https://git.example/infra.git#y");
	assert_string_equal(cfg->apps[2].target.owner, "shop-team");
	assert_non_null(cfg->apps[0].target.owner);
	assert_non_null(strstr(cfg->apps[0].target.owner, "#x"));
	assert_string_equal(cfg->apps[0].target.digest_key,
	    "/var/lib/ga/kube-digest.key");
	config_target_copy(&copy, &cfg->apps[0].target);
	assert_string_equal(copy.lock_file, cfg->apps[0].target.lock_file);
	assert_ptr_not_equal(copy.lock_file, cfg->apps[0].target.lock_file);
	assert_string_equal(copy.owner, cfg->apps[0].target.owner);
	assert_ptr_not_equal(copy.owner, cfg->apps[0].target.owner);
	config_target_clear(&copy);
	config_free(cfg);
}

/* health_rules: parsed, checked, and copied into Kubernetes targets. */
static void
test_config_parse_health_rules(void **state)
{
	static const char text[] =
	    "health_rules:\n"
	    "  - kind: Certificate\n"
	    "    group: cert-manager.io\n"
	    "    healthy: [Ready=True]\n"
	    "    degraded: [Ready=False, Issuing=Failed]\n"
	    "repositories: [{name: infra, directory: .}]\n"
	    "apps:\n"
	    "  - name: a\n"
	    "    repository: infra\n"
	    "    path: x\n"
	    "    target: {type: kubernetes, in_cluster: true}\n"
	    "  - name: b\n"
	    "    repository: infra\n"
	    "    path: y\n"
	    "    target: {path: ./live}\n";
	struct config		*cfg;
	struct config_target	 copy;
	const struct health_rule *r;

	(void)state;
	cfg = parse_ok(text);
	assert_int_equal(cfg->nhealth_rules, 1);
	assert_string_equal(cfg->health_rules[0].kind, "Certificate");
	assert_string_equal(cfg->health_rules[0].group, "cert-manager.io");
	assert_int_equal(cfg->health_rules[0].degraded.n, 2);
	assert_int_equal(cfg->apps[0].target.nhealth_rules, 1);
	r = &cfg->apps[0].target.health_rules[0];
	assert_ptr_not_equal(r, &cfg->health_rules[0]);
	assert_string_equal(r->healthy.v[0], "Ready=True");
	assert_string_equal(r->degraded.v[1], "Issuing=Failed");
	assert_int_equal(cfg->apps[1].target.nhealth_rules, 0);
	config_target_copy(&copy, &cfg->apps[0].target);
	assert_int_equal(copy.nhealth_rules, 1);
	assert_ptr_not_equal(copy.health_rules[0].kind, r->kind);
	assert_string_equal(copy.health_rules[0].kind, "Certificate");
	config_target_clear(&copy);
	config_free(cfg);

	parse_fails("health_rules:\n"
	    "  - kind: Widget\n"
	    "    healthy: [Ready]\n"
	    "    degraded: [Ready=False=x]\n"
	    "  - group: x.io\n"
	    "    healthy: [Ready=True]\n",
	    NAME ":3:15: 'healthy' items must be Type=Status, like Ready=True, "
	    "not 'Ready'\n"
	    NAME ":4:16: 'degraded' items must be Type=Status, like "
	    "Ready=True, not 'Ready=False=x'\n"
	    NAME ":5:5: missing required key 'kind'");
	/* A rule without its kind, and a Kubernetes app: an error, no crash. */
	parse_fails("health_rules: [{healthy: [Ready=True]}]\n"
	    "repositories: [{name: infra, directory: .}]\n"
	    "apps:\n"
	    "  - name: a\n"
	    "    repository: infra\n"
	    "    path: x\n"
	    "    target: {type: kubernetes, in_cluster: true}\n",
	    NAME ":1:16: missing required key 'kind'");
}

/*
 * A cluster target's lock is per app, and the same however the
 * kubeconfig's path is spelled (the CLI and the daemon may name the
 * configuration differently).
 */
static void
test_target_lock_key_per_app_and_real_kubeconfig_path(void **state)
{
	struct config_target	 a = { .type = TARGET_KUBERNETES };
	struct config_target	 b = { .type = TARGET_KUBERNETES };
	char			*dir = unit_mkdtemp(), *ka, *kb;

	(void)state;
	unit_write(dir, "conf/kc", "apiVersion: v1\n");
	unit_write(dir, "other/x", "\n");
	a.kubeconfig = path_join(dir, "conf/kc");
	b.kubeconfig = path_join(dir, "other/../conf/./kc");
	a.namespace = b.namespace = (char *)"shop";
	ka = target_lock_key(&a, "web");
	kb = target_lock_key(&b, "web");
	assert_string_equal(ka, kb);
	/* The temporary folder may itself be behind a link: its end. */
	assert_non_null(strstr(ka, "/conf/kc::shop:web"));
	assert_null(strstr(ka, "other"));
	free(kb);
	kb = target_lock_key(&a, "api");
	assert_string_not_equal(ka, kb);
	free(ka);
	free(kb);
	free(a.kubeconfig);
	free(b.kubeconfig);
	unit_rmtree(dir);
	free(dir);
}

static void
test_config_parse_relative_paths_resolved_against_file(void **state)
{
	static const char text[] =
	    "state_dir: ./var/state\n"
	    "repositories:\n"
	    "  - name: infra\n"
	    "    directory: .\n"
	    "    webhook_secret_file: ../secret\n"
	    "apps:\n"
	    "  - {name: a, repository: infra, path: x, target: {path: ./}}\n";
	struct config	*cfg;
	char		*cause = NULL;

	cfg = config_parse("some/dir/gitops-agent.yaml", text, strlen(text),
	    &cause);
	assert_non_null(cfg);
	assert_string_equal(cfg->state_dir, "some/dir/var/state");
	assert_string_equal(cfg->repositories[0].directory, "some/dir");
	assert_string_equal(cfg->repositories[0].webhook_secret_file,
	    "some/dir/../secret");
	assert_string_equal(cfg->apps[0].target.path, "some/dir");
	config_free(cfg);

	/* A file in the current directory: paths stay as written. */
	cfg = config_parse("gitops-agent.yaml", text, strlen(text), &cause);
	assert_non_null(cfg);
	assert_string_equal(cfg->state_dir, "var/state");
	assert_string_equal(cfg->repositories[0].directory, ".");
	assert_string_equal(cfg->repositories[0].webhook_secret_file,
	    "../secret");
	config_free(cfg);

	cfg = config_parse("/etc/gitops-agent.yaml", text, strlen(text),
	    &cause);
	assert_non_null(cfg);
	assert_string_equal(cfg->state_dir, "/etc/var/state");
	config_free(cfg);
}

static void
test_config_parse_unknown_key_suggests_closest(void **state)
{
	parse_fails(GOOD_REPO GOOD_APP
	    "    depend_on: [x]\n"
	    "lisen: 1.2.3.4:80\n"
	    "colour: blue\n",
	    NAME ":9:5: unknown key 'depend_on' (did you mean 'depends_on'?)\n"
	    NAME ":10:1: unknown key 'lisen' (did you mean 'listen'?)\n"
	    NAME ":11:1: unknown key 'colour'");
	/* A newline in a key must not split the error in two. */
	parse_fails("\"two\\nlines\": 1\n",
	    NAME ":1:1: unknown key 'two?lines'");
}

static void
test_config_parse_unknown_key_in_nested_mapping(void **state)
{
	parse_fails(GOOD_REPO
	    "apps:\n"
	    "  - name: web\n"
	    "    repository: infra\n"
	    "    path: apps/web\n"
	    "    target: {pth: ./live}\n"
	    "versions: {repository: infra, fil: v.yaml}\n",
	    NAME ":8:5: missing required key 'path' (the directory target's "
	    "folder)\n"
	    NAME ":8:14: unknown key 'pth' (did you mean 'path'?)\n"
	    NAME ":9:31: unknown key 'fil' (did you mean 'file'?)");
}

static void
test_config_parse_wrong_types_rejected(void **state)
{
	parse_fails(GOOD_REPO GOOD_APP
	    "    prune: \"yes\"\n"
	    "    namespace: 42\n"
	    "    depends_on: web\n"
	    "listen: [a]\n"
	    "log_level: 3\n"
	    "state_dir: {a: b}\n",
	    NAME ":9:12: 'prune' must be a boolean, not a string\n"
	    NAME ":10:16: 'namespace' must be a string, not a number "
	    "(quote it)\n"
	    NAME ":11:17: 'depends_on' must be a list of strings, not a "
	    "string\n"
	    NAME ":12:9: 'listen' must be an address like 127.0.0.1:8080, "
	    "not a list\n"
	    NAME ":13:12: 'log_level' must be one of debug, info, warn, not a "
	    "number\n"
	    NAME ":14:12: 'state_dir' must be a string, not a mapping");
}

static void
test_config_parse_null_and_empty_values_rejected(void **state)
{
	parse_fails(GOOD_REPO GOOD_APP
	    "    service:\n"
	    "    environment: \"\"\n"
	    "    depends_on: [1, \"\"]\n",
	    NAME ":9:13: 'service' must be a string, not null\n"
	    NAME ":10:18: 'environment' must not be empty\n"
	    NAME ":11:18: 'depends_on' items must be strings, not a number\n"
	    NAME ":11:21: 'depends_on' items must not be empty");
}

static void
test_config_parse_lists_and_mappings_checked(void **state)
{
	parse_fails("repositories: {name: infra}\n"
	    "apps:\n"
	    "  - web\n"
	    "versions: [infra]\n",
	    NAME ":1:15: 'repositories' must be a list, not a mapping\n"
	    NAME ":3:5: 'apps' items must be mappings, not a string\n"
	    NAME ":4:11: 'versions' must be a mapping, not a list");
}

static void
test_config_parse_root_not_mapping_rejected(void **state)
{
	parse_fails("- a\n- b\n",
	    NAME ":1:1: the configuration must be a mapping, not a list");
	parse_fails("listen: 1.2.3.4:5\n---\nlisten: 1.2.3.4:6\n",
	    NAME ":3:1: a configuration file holds one document, not 2");
}

static void
test_config_parse_yaml_syntax_error_positioned(void **state)
{
	struct config	*cfg;
	char		*cause = NULL;
	const char	 text[] = "listen: [1.2.3.4:5\n";

	cfg = config_parse(NAME, text, strlen(text), &cause);
	assert_null(cfg);
	assert_non_null(cause);
	assert_true(strncmp(cause, NAME ":", strlen(NAME ":")) == 0);
	assert_null(strchr(cause, '\n'));
	free(cause);
}

static void
test_config_parse_durations_checked(void **state)
{
	parse_fails("repositories:\n"
	    "  - name: a\n"
	    "    directory: a\n"
	    "    poll_interval: 3 minutes\n"
	    "    timeout: 30\n"
	    "apps:\n"
	    "  - name: web\n"
	    "    repository: a\n"
	    "    path: p\n"
	    "    target: {path: l}\n"
	    "    sync_timeout: 0s\n",
	    NAME ":4:20: 'poll_interval': invalid duration '3 minutes': "
	    "expected a number and a unit (ms, s, m, h, d), like 30s or 1h30m\n"
	    NAME ":5:14: 'timeout' must be a duration with a unit, like 3m or "
	    "30s, not a number\n"
	    NAME ":11:19: 'sync_timeout' must be at least 1s, not 0s");
}

static void
test_config_parse_duration_bounds_enforced(void **state)
{
	struct config	*cfg;

	parse_fails("repositories:\n"
	    "  - {name: a, directory: a, poll_interval: 5s, timeout: 2h}\n"
	    "  - {name: b, directory: b, poll_interval: 2d, timeout: 500ms}\n",
	    NAME ":2:44: 'poll_interval' must be at least 10s, not 5s\n"
	    NAME ":2:57: 'timeout' must be at most 1h, not 2h\n"
	    NAME ":3:44: 'poll_interval' must be at most 24h, not 2d\n"
	    NAME ":3:57: 'timeout' must be at least 1s, not 500ms");
	parse_fails(GOOD_REPO GOOD_APP "    sync_timeout: 25h\n",
	    NAME ":9:19: 'sync_timeout' must be at most 24h, not 25h");

	/* The bounds themselves are allowed. */
	cfg = parse_ok("repositories:\n"
	    "  - {name: a, directory: a, poll_interval: 10s, timeout: 1h}\n"
	    "  - {name: b, directory: b, poll_interval: 24h, timeout: 1s}\n");
	assert_int_equal(cfg->repositories[0].poll_interval_ms, 10000);
	assert_int_equal(cfg->repositories[1].poll_interval_ms,
	    24 * 3600 * 1000);
	config_free(cfg);
}

static void
test_config_parse_listen_address_checked(void **state)
{
	static const char *bad[] = {
		"localhost", ":8080", "127.0.0.1:", "127.0.0.1:0",
		"127.0.0.1:65536", "127.0.0.1:80x", "::1:8080", "[::1]8080",
		"a b:80", "[]:80",
	};
	static const char *good[] = {
		"localhost:80", "[::1]:8080", "0.0.0.0:65535", "my-host.lan:1",
	};
	struct config	*cfg;
	char		*text, *want;
	size_t		 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		xasprintf(&text, "listen: \"%s\"\n", bad[i]);
		xasprintf(&want, NAME ":1:9: 'listen' must be HOST:PORT with a "
		    "port from 1 to 65535, like 127.0.0.1:8080, not '%s'",
		    bad[i]);
		parse_fails(text, want);
		free(text);
		free(want);
	}
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		xasprintf(&text, "listen: \"%s\"\n", good[i]);
		cfg = parse_ok(text);
		assert_string_equal(cfg->listen, good[i]);
		config_free(cfg);
		free(text);
	}
}

static void
test_config_parse_log_level_enum_checked(void **state)
{
	struct config	*cfg;

	parse_fails("log_level: verbose\n",
	    NAME ":1:12: 'log_level' must be one of debug, info, warn, not "
	    "'verbose'");
	cfg = parse_ok("log_level: warn\n");
	assert_int_equal(cfg->log_level, LOG_LEVEL_WARN);
	config_free(cfg);
}

static void
test_config_parse_target_type_checked(void **state)
{
	parse_fails(GOOD_REPO
	    "apps:\n"
	    "  - name: web\n"
	    "    repository: infra\n"
	    "    path: apps/web\n"
	    "    target: {type: helm, path: ./live}\n",
	    NAME ":8:20: 'type' must be one of directory, kubernetes, not "
	    "'helm'");
}

static void
test_config_parse_missing_required_at_mapping(void **state)
{
	parse_fails("repositories:\n"
	    "  - directory: a\n"
	    "  - {name: a, directory: a}\n"
	    "apps:\n"
	    "  - name: web\n"
	    "    repository: a\n"
	    "  - name: api\n"
	    "    repository: a\n"
	    "    path: p\n"
	    "    target: {}\n"
	    "versions:\n"
	    "  file: v.yaml\n",
	    NAME ":2:5: missing required key 'name'\n"
	    NAME ":5:5: missing required key 'path'\n"
	    NAME ":5:5: missing required key 'target'\n"
	    NAME ":10:5: missing required key 'path' (the directory target's "
	    "folder)\n"
	    NAME ":11:1: missing required key 'repository'");
}

static void
test_config_parse_url_or_directory_exactly_one(void **state)
{
	parse_fails("repositories:\n"
	    "  - name: both\n"
	    "    url: git://h/r.git\n"
	    "    directory: ./r\n"
	    "  - name: neither\n"
	    "    branch: main\n",
	    NAME ":4:5: repository 'both' sets both 'url' and 'directory': "
	    "choose one\n"
	    NAME ":5:5: repository 'neither' needs 'url' (a Git remote) or "
	    "'directory' (a local directory)");
}

static void
test_config_parse_token_file_or_env_and_only_with_url(void **state)
{
	struct config	*cfg;

	parse_fails("repositories:\n"
	    "  - name: infra\n"
	    "    url: https://example.com/infra.git\n"
	    "    token_file: ./t\n"
	    "    token_env: TOKEN\n"
	    "  - name: local\n"
	    "    directory: r\n"
	    "    token_env: TOKEN\n",
	    NAME ":5:5: repository 'infra' sets both 'token_file' and "
	    "'token_env': choose one\n"
	    NAME ":6:5: repository 'local' sets a token, but a 'directory' "
	    "has no remote to send it to");
	cfg = parse_ok("repositories:\n"
	    "  - {name: a, url: https://example.com/a.git, token_env: GH}\n");
	assert_string_equal(cfg->repositories[0].token_env, "GH");
	assert_null(cfg->repositories[0].token_file);
	config_free(cfg);
}

static void
test_config_parse_webhook_secret_file_or_env(void **state)
{
	struct config	*cfg;

	parse_fails("repositories:\n"
	    "  - name: infra\n"
	    "    directory: r\n"
	    "    webhook_secret_file: ./s\n"
	    "    webhook_secret_env: SECRET\n"
	    "  - name: other\n"
	    "    directory: r\n"
	    "    webhook_secret_env: 1SECRET-X\n",
	    NAME ":5:5: repository 'infra' sets both 'webhook_secret_file' "
	    "and 'webhook_secret_env': choose one\n"
	    NAME ":8:25: 'webhook_secret_env' must be an environment variable "
	    "name (letters, digits and '_', not starting with a digit), not "
	    "'1SECRET-X'");
	cfg = parse_ok("repositories:\n"
	    "  - {name: a, directory: r, webhook_secret_env: _MY_SECRET_2}\n");
	assert_string_equal(cfg->repositories[0].webhook_secret_env,
	    "_MY_SECRET_2");
	config_free(cfg);
}

static void
test_config_parse_unknown_repository_named(void **state)
{
	parse_fails(GOOD_REPO
	    "apps:\n"
	    "  - name: web\n"
	    "    repository: infr\n"
	    "    path: p\n"
	    "    target: {path: l}\n"
	    "  - {name: api, repository: elsewhere, path: p, target: "
	    "{path: l}}\n"
	    "versions: {repository: nfra}\n",
	    NAME ":6:17: unknown repository 'infr' (did you mean 'infra'?)\n"
	    NAME ":9:29: unknown repository 'elsewhere'\n"
	    NAME ":10:24: unknown repository 'nfra' (did you mean 'infra'?)");
}

static void
test_config_parse_depends_on_checked(void **state)
{
	parse_fails(GOOD_REPO
	    "apps:\n"
	    "  - name: inventory\n"
	    "    repository: infra\n"
	    "    path: p\n"
	    "    target: {path: l}\n"
	    "  - name: checkout\n"
	    "    repository: infra\n"
	    "    path: p\n"
	    "    target: {path: l}\n"
	    "    depends_on: [inventroy, checkout, payments, inventory]\n",
	    NAME ":13:18: unknown app 'inventroy' (did you mean "
	    "'inventory'?)\n"
	    NAME ":13:29: app 'checkout' depends on itself\n"
	    NAME ":13:39: unknown app 'payments'");
}

static void
test_config_parse_cycle_not_checked(void **state)
{
	struct config	*cfg;

	/* plan_app_order() names cycles; loading must not refuse them. */
	cfg = parse_ok(GOOD_REPO
	    "apps:\n"
	    "  - {name: a, repository: infra, path: p, target: {path: l},\n"
	    "     depends_on: [b]}\n"
	    "  - {name: b, repository: infra, path: p, target: {path: l},\n"
	    "     depends_on: [a]}\n");
	assert_int_equal(cfg->napps, 2);
	config_free(cfg);
}

static void
test_config_parse_duplicate_names_point_at_first(void **state)
{
	parse_fails("repositories:\n"
	    "  - name: infra\n"
	    "    directory: a\n"
	    "  - name: infra\n"
	    "    directory: b\n"
	    "apps:\n"
	    "  - name: web\n"
	    "    repository: infra\n"
	    "    path: p\n"
	    "    target: {path: l}\n"
	    "  - repository: infra\n"
	    "    name: web\n"
	    "    path: q\n"
	    "    target: {path: m}\n",
	    NAME ":4:11: duplicate repository name 'infra', first declared at "
	    "line 2 column 11\n"
	    NAME ":12:11: duplicate app name 'web', first declared at line 7 "
	    "column 11");
}

static void
test_config_parse_names_must_be_dns_labels(void **state)
{
	parse_fails("repositories:\n"
	    "  - name: Infra_1\n"
	    "    directory: a\n"
	    "apps:\n"
	    "  - name: ../etc\n"
	    "    repository: Infra_1\n"
	    "    path: p\n"
	    "    target: {path: l}\n"
	    "    namespace: -shop\n",
	    NAME ":2:11: 'name' must be a DNS-1123 label (lower case letters, "
	    "digits and '-', starting and ending with a letter or digit, at "
	    "most 63 characters), not 'Infra_1'\n"
	    NAME ":5:11: 'name' must be a DNS-1123 label (lower case letters, "
	    "digits and '-', starting and ending with a letter or digit, at "
	    "most 63 characters), not '../etc'\n"
	    NAME ":6:17: unknown repository 'Infra_1'\n"
	    NAME ":9:16: 'namespace' must be a DNS-1123 label (lower case "
	    "letters, digits and '-', starting and ending with a letter or "
	    "digit, at most 63 characters), not '-shop'");
}

static void
test_config_parse_app_path_stays_in_repository(void **state)
{
	struct config	*cfg;

	parse_fails(GOOD_REPO
	    "apps:\n"
	    "  - {name: a, repository: infra, path: /etc, target: {path: l}}\n"
	    "  - {name: b, repository: infra, path: x/../../y, "
	    "target: {path: l}}\n"
	    "versions: {repository: infra, file: ../v.yaml}\n",
	    NAME ":5:40: 'path' must be a relative path inside the "
	    "repository, not '/etc'\n"
	    NAME ":6:40: 'path' must be a relative path inside the "
	    "repository, not 'x/../../y'\n"
	    NAME ":7:37: 'file' must be a relative path inside the "
	    "repository, not '../v.yaml'");
	cfg = parse_ok(GOOD_REPO
	    "apps:\n"
	    "  - {name: a, repository: infra, path: ., target: {path: l}}\n"
	    "  - {name: b, repository: infra, path: x/../y/, "
	    "target: {path: l}}\n");
	assert_string_equal(cfg->apps[0].path, ".");
	assert_string_equal(cfg->apps[1].path, "y");
	config_free(cfg);
}

static void
test_config_parse_every_error_reported_in_order(void **state)
{
	static const char text[] =
	    "listen: nowhere\n"
	    "log_level: loud\n"
	    "repositories:\n"
	    "  - name: infra\n"
	    "    url: git://h/r.git\n"
	    "    poll_interval: 1s\n"
	    "    brnch: main\n"
	    "apps:\n"
	    "  - name: checkout\n"
	    "    repository: infra\n"
	    "    path: p\n"
	    "    target: {path: l}\n"
	    "    depends_on: [inventory]\n"
	    "    prune: maybe\n";
	char	*cause = NULL, *p;
	size_t	 lines = 1;

	assert_null(config_parse(NAME, text, strlen(text), &cause));
	assert_string_equal(cause,
	    NAME ":1:9: 'listen' must be HOST:PORT with a port from 1 to "
	    "65535, like 127.0.0.1:8080, not 'nowhere'\n"
	    NAME ":2:12: 'log_level' must be one of debug, info, warn, not "
	    "'loud'\n"
	    NAME ":6:20: 'poll_interval' must be at least 10s, not 1s\n"
	    NAME ":7:5: unknown key 'brnch' (did you mean 'branch'?)\n"
	    NAME ":13:18: unknown app 'inventory'\n"
	    NAME ":14:12: 'prune' must be a boolean, not a string");
	for (p = cause; *p != '\0'; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 6);
	free(cause);
}

static void
test_config_load_file_and_missing_file(void **state)
{
	struct config	*cfg;
	char		*dir, *path, *cause = NULL;

	dir = unit_mkdtemp();
	unit_write(dir, "sub/gitops-agent.yaml", GOOD_REPO GOOD_APP);
	path = path_join(dir, "sub/gitops-agent.yaml");
	cfg = config_load(path, &cause);
	assert_non_null(cfg);
	assert_string_equal(cfg->file, path);
	free(path);
	xasprintf(&path, "%s/sub/live", dir);
	assert_string_equal(cfg->apps[0].target.path, path);
	free(path);
	config_free(cfg);

	path = path_join(dir, "missing.yaml");
	assert_null(config_load(path, &cause));
	assert_non_null(strstr(cause, "missing.yaml"));
	assert_non_null(strstr(cause, "No such file or directory"));
	free(cause);
	free(path);
	unit_rmtree(dir);
	free(dir);
}

static void
test_config_print_reference_lists_every_option(void **state)
{
	static const char *expected[] = {
		"### Top level\n\n| key | type | default | description |\n",
		"| `listen` | address (host:port) | `127.0.0.1:8080` |",
		"| `log_level` | one of `debug`, `info`, `warn` | `info` |",
		"| `repositories` | list of `repositories[]` | `[]` |",
		"| `versions` | mapping `versions` |  |",
		"### `repositories[]`",
		"| `name` | string | required |",
		"| `poll_interval` | duration, 10s to 24h | `3m` |",
		"| `timeout` | duration, 1s to 1h | `60s` |",
		"| `webhook_secret_env` | string |  |",
		"### `apps[]`",
		"| `depends_on` | list of strings | `[]` |",
		"| `prune` | boolean | `true` |",
		"| `sync_timeout` | duration, 1s to 24h | `5m` |",
		"### `apps[].target`",
		"| `type` | one of `directory`, `kubernetes` | `directory` |",
		"| `path` | path (relative to the file's directory) |  | "
		    "directory: the folder",
		"### `versions`",
		"| `file` | path in the repository | `versions.yaml` |",
	};
	char	*text = NULL;
	size_t	 len = 0, i;
	FILE	*f;

	f = open_memstream(&text, &len);
	assert_non_null(f);
	config_print_reference(f);
	fclose(f);
	for (i = 0; i < sizeof expected / sizeof expected[0]; i++) {
		if (strstr(text, expected[i]) == NULL)
			fail_msg("no '%s' in:\n%s", expected[i], text);
	}
	free(text);
}

static void
test_config_read_secret_from_file_strips_newline(void **state)
{
	char	*dir, *path, *secret = NULL, *cause = NULL;
	size_t	 len;

	dir = unit_mkdtemp();
	unit_write(dir, "secret", "It's a Secret to Everybody\n");
	path = path_join(dir, "secret");
	chmod(path, 0600);
	assert_int_equal(config_read_secret(path, NULL, &secret, &len,
	    &cause), 0);
	assert_int_equal(len, strlen("It's a Secret to Everybody"));
	assert_memory_equal(secret, "It's a Secret to Everybody", len);
	assert_int_equal(secret[len], '\0');
	explicit_bzero(secret, len);
	free(secret);
	free(path);

	/* Only one newline goes; CRLF counts as one. */
	unit_write(dir, "two", "abc\r\n\n");
	path = path_join(dir, "two");
	chmod(path, 0600);
	assert_int_equal(config_read_secret(path, NULL, &secret, &len,
	    &cause), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(secret, "abc\r\n", 5);
	explicit_bzero(secret, len);
	free(secret);
	free(path);
	unit_write(dir, "crlf", "abc\r\n");
	path = path_join(dir, "crlf");
	chmod(path, 0600);
	assert_int_equal(config_read_secret(path, NULL, &secret, &len,
	    &cause), 0);
	assert_int_equal(len, 3);
	assert_string_equal(secret, "abc");
	explicit_bzero(secret, len);
	free(secret);
	free(path);
	unit_rmtree(dir);
	free(dir);
}

static void
test_config_read_secret_errors_name_file_not_content(void **state)
{
	char	*dir, *path, *secret = NULL, *cause = NULL;
	size_t	 len;

	dir = unit_mkdtemp();
	unit_write(dir, "empty", "\n");
	path = path_join(dir, "empty");
	chmod(path, 0600);
	assert_int_equal(config_read_secret(path, NULL, &secret, &len,
	    &cause), -1);
	assert_null(secret);
	assert_non_null(strstr(cause, "is empty"));
	assert_non_null(strstr(cause, path));
	free(cause);
	cause = NULL;
	free(path);

	path = path_join(dir, "absent");
	assert_int_equal(config_read_secret(path, NULL, &secret, &len,
	    &cause), -1);
	assert_non_null(strstr(cause, path));
	free(cause);
	cause = NULL;
	free(path);

	assert_int_equal(config_read_secret(NULL, NULL, &secret, &len,
	    &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(config_read_secret("f", "E", &secret, &len,
	    &cause), -1);
	free(cause);
	unit_rmtree(dir);
	free(dir);
}

static void
test_config_read_secret_loose_mode_warns_without_value(void **state)
{
	char	*dir, *path, *secret = NULL, *cause = NULL, *logged = NULL;
	size_t	 len, loglen = 0;
	FILE	*log;

	dir = unit_mkdtemp();
	unit_write(dir, "secret", "hunter2-top-secret\n");
	path = path_join(dir, "secret");
	chmod(path, 0644);
	log = open_memstream(&logged, &loglen);
	log_init(LOG_LEVEL_DEBUG, log);
	assert_int_equal(config_read_secret(path, NULL, &secret, &len,
	    &cause), 0);
	log_init(LOG_LEVEL_INFO, NULL);
	fclose(log);
	assert_memory_equal(secret, "hunter2-top-secret", len);
	assert_non_null(strstr(logged, "level=warn"));
	assert_non_null(strstr(logged, path));
	assert_null(strstr(logged, "hunter2"));
	free(logged);
	explicit_bzero(secret, len);
	free(secret);

	/* A private file: nothing to say. */
	chmod(path, 0600);
	logged = NULL;
	log = open_memstream(&logged, &loglen);
	log_init(LOG_LEVEL_DEBUG, log);
	assert_int_equal(config_read_secret(path, NULL, &secret, &len,
	    &cause), 0);
	log_init(LOG_LEVEL_INFO, NULL);
	fclose(log);
	assert_int_equal(loglen, 0);
	free(logged);
	explicit_bzero(secret, len);
	free(secret);
	free(path);
	unit_rmtree(dir);
	free(dir);
}

static void
test_config_read_secret_from_env(void **state)
{
	char	*secret = NULL, *cause = NULL;
	size_t	 len;

	setenv("GITOPS_TEST_SECRET", "from-the-env", 1);
	assert_int_equal(config_read_secret(NULL, "GITOPS_TEST_SECRET",
	    &secret, &len, &cause), 0);
	assert_int_equal(len, strlen("from-the-env"));
	assert_string_equal(secret, "from-the-env");
	explicit_bzero(secret, len);
	free(secret);

	setenv("GITOPS_TEST_SECRET", "", 1);
	assert_int_equal(config_read_secret(NULL, "GITOPS_TEST_SECRET",
	    &secret, &len, &cause), -1);
	assert_string_equal(cause,
	    "environment variable 'GITOPS_TEST_SECRET' is empty");
	free(cause);
	cause = NULL;

	unsetenv("GITOPS_TEST_SECRET");
	assert_int_equal(config_read_secret(NULL, "GITOPS_TEST_SECRET",
	    &secret, &len, &cause), -1);
	assert_string_equal(cause,
	    "environment variable 'GITOPS_TEST_SECRET' is not set");
	free(cause);
}

/* A Git repository verifying commits with this mapping, in dir. */
static char *
verify_config(const char *dir, const char *verify, const char *where,
    char **cause)
{
	struct config	*cfg;
	char		*name, *text, *out = NULL;

	xasprintf(&name, "%s/gitops-agent.yaml", dir);
	xasprintf(&text,
	    "repositories:\n"
	    "  - name: infra\n"
	    "    %s\n"
	    "    verify_commits: %s\n", where, verify);
	cfg = config_parse(name, text, strlen(text), cause);
	if (cfg != NULL) {
		const struct config_verify *v =
		    &cfg->repositories[0].verify_commits;

		xasprintf(&out, "%s|%s", v->allowed_signers != NULL ?
		    v->allowed_signers + strlen(dir) : "-", v->keyring != NULL ?
		    v->keyring + strlen(dir) : "-");
		config_free(cfg);
	} else {
		/* Errors without the scratch directory, which varies. */
		char *p;

		while ((p = strstr(*cause, dir)) != NULL)
			memmove(p, p + strlen(dir), strlen(p + strlen(dir)) +
			    1);
	}
	free(text);
	free(name);
	return (out);
}

static void
test_config_parse_verify_commits_paths_resolved_and_checked(void **state)
{
	char	*dir = unit_mkdtemp(), *out, *cause = NULL;
	const char *git = "url: git://127.0.0.1:1/infra.git";

	unit_write(dir, "keys/allowed", "# ops\n\nalice@example.com "
	    "ssh-ed25519 AAAA\n");
	unit_write(dir, "keys/ring.gpg", "\x99\x01");
	out = verify_config(dir, "{allowed_signers: keys/allowed}", git,
	    &cause);
	assert_string_equal(out, "/keys/allowed|-");
	free(out);
	out = verify_config(dir, "{keyring: ./keys/ring.gpg}", git, &cause);
	assert_string_equal(out, "-|/keys/ring.gpg");
	free(out);
	out = verify_config(dir, "{allowed_signers: keys/allowed, keyring: "
	    "keys/ring.gpg}", git, &cause);
	assert_string_equal(out, "/keys/allowed|/keys/ring.gpg");
	free(out);

	/* A file missing, empty or only comments fails the check. */
	assert_null(verify_config(dir, "{allowed_signers: nope}", git,
	    &cause));
	assert_string_equal(cause, "/gitops-agent.yaml:4:5: repository "
	    "'infra': verify_commits: allowed_signers: cannot open '/nope': "
	    "No such file or directory");
	free(cause);
	unit_write(dir, "empty", "");
	unit_write(dir, "comments", "# nobody yet\n   \n");
	assert_null(verify_config(dir, "{allowed_signers: empty}", git,
	    &cause));
	assert_string_equal(cause, "/gitops-agent.yaml:4:5: repository "
	    "'infra': verify_commits: allowed_signers '/empty' lists no key");
	free(cause);
	assert_null(verify_config(dir, "{allowed_signers: comments}", git,
	    &cause));
	assert_non_null(strstr(cause, "'/comments' lists no key"));
	free(cause);
	assert_null(verify_config(dir, "{keyring: empty}", git, &cause));
	assert_string_equal(cause, "/gitops-agent.yaml:4:5: repository "
	    "'infra': verify_commits: keyring '/empty' is empty");
	free(cause);

	/* No key at all, a typo, or a directory repository. */
	assert_null(verify_config(dir, "{}", git, &cause));
	assert_string_equal(cause, "/gitops-agent.yaml:4:5: repository "
	    "'infra': 'verify_commits' needs 'allowed_signers' (SSH) or "
	    "'keyring' (OpenPGP)");
	free(cause);
	assert_null(verify_config(dir, "{allowed_signer: keys/allowed}", git,
	    &cause));
	assert_string_equal(cause, "/gitops-agent.yaml:4:22: unknown key "
	    "'allowed_signer' (did you mean 'allowed_signers'?)");
	free(cause);
	assert_null(verify_config(dir, "{allowed_signers: keys/allowed}",
	    "directory: .", &cause));
	assert_string_equal(cause, "/gitops-agent.yaml:4:5: repository "
	    "'infra' verifies commits, but a 'directory' has none");
	free(cause);
	unit_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_parse_defaults_applied),
		cmocka_unit_test(test_config_parse_empty_file_all_defaults),
		cmocka_unit_test(test_config_parse_full_example_every_value),
		cmocka_unit_test(test_config_parse_versions_file_default),
		cmocka_unit_test(
		    test_config_parse_relative_paths_resolved_against_file),
		cmocka_unit_test(
		    test_config_parse_unknown_key_suggests_closest),
		cmocka_unit_test(
		    test_config_parse_unknown_key_in_nested_mapping),
		cmocka_unit_test(test_config_parse_wrong_types_rejected),
		cmocka_unit_test(
		    test_config_parse_null_and_empty_values_rejected),
		cmocka_unit_test(test_config_parse_lists_and_mappings_checked),
		cmocka_unit_test(test_config_parse_root_not_mapping_rejected),
		cmocka_unit_test(
		    test_config_parse_yaml_syntax_error_positioned),
		cmocka_unit_test(test_config_parse_durations_checked),
		cmocka_unit_test(test_config_parse_duration_bounds_enforced),
		cmocka_unit_test(test_config_parse_listen_address_checked),
		cmocka_unit_test(test_config_parse_log_level_enum_checked),
		cmocka_unit_test(test_config_parse_target_type_checked),
		cmocka_unit_test(
		    test_config_parse_missing_required_at_mapping),
		cmocka_unit_test(
		    test_config_parse_url_or_directory_exactly_one),
		cmocka_unit_test(test_config_parse_webhook_secret_file_or_env),
		cmocka_unit_test(
		    test_config_parse_token_file_or_env_and_only_with_url),
		cmocka_unit_test(test_config_parse_unknown_repository_named),
		cmocka_unit_test(test_config_parse_depends_on_checked),
		cmocka_unit_test(test_config_parse_cycle_not_checked),
		cmocka_unit_test(
		    test_config_parse_duplicate_names_point_at_first),
		cmocka_unit_test(test_config_parse_names_must_be_dns_labels),
		cmocka_unit_test(
		    test_config_parse_app_path_stays_in_repository),
		cmocka_unit_test(
		    test_config_parse_every_error_reported_in_order),
		cmocka_unit_test(test_config_load_file_and_missing_file),
		cmocka_unit_test(
		    test_config_print_reference_lists_every_option),
		cmocka_unit_test(
		    test_config_read_secret_from_file_strips_newline),
		cmocka_unit_test(
		    test_config_read_secret_errors_name_file_not_content),
		cmocka_unit_test(
		    test_config_read_secret_loose_mode_warns_without_value),
		cmocka_unit_test(test_config_read_secret_from_env),
		cmocka_unit_test(test_config_parse_kubernetes_target),
		cmocka_unit_test(
		    test_config_parse_coordination_defaults_and_pins),
		cmocka_unit_test(test_config_parse_health_rules),
		cmocka_unit_test(
		    test_target_lock_key_per_app_and_real_kubeconfig_path),
		cmocka_unit_test(
		    test_config_parse_verify_commits_paths_resolved_and_checked),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
