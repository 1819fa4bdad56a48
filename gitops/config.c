/*
 * config.c: the configuration file. One table (opts[] below) lists every
 * option with its type, default, bounds and description; it drives
 * parsing, defaults, checks, freeing, the reference in the README and
 * the gitops-agent.yaml(5) man page, and (later) reload, so an option is
 * added in one place.
 *
 * Runs in whichever thread loads the file (the main thread, at start and
 * on reload); writes no globals, so two loads never share state. Never
 * exits on a bad file: every error found goes back in cause, one per line.
 * Never logs or returns a secret's value in a message.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "gitops.h"

/* A webhook secret is a line of text; anything larger is a wrong file. */
#define CONFIG_SECRET_MAX	(64 * 1024)

enum opt_section {
	SECTION_TOP,
	SECTION_REPOSITORY,
	SECTION_APP,
	SECTION_TARGET,
	SECTION_VERSIONS,
	SECTION_PROBE,
	SECTION_HOOK,
	SECTION_VERIFY,
	SECTION_HEALTH_RULE,
	SECTION_COORDINATION,
};
#define SECTION_COUNT	10

enum opt_type {
	OPT_STRING,
	OPT_PATH,	/* a local path, relative to the file's directory */
	OPT_REPO_PATH,	/* a path inside a repository */
	OPT_DURATION,	/* uint64_t milliseconds */
	OPT_BOOL,	/* int */
	OPT_INTEGER,	/* int */
	OPT_STRINGS,	/* struct strv */
	OPT_ENUM,	/* an enum, stored as int */
	OPT_ADDRESS,	/* host:port */
	OPT_LIST,	/* a list of mappings of another section */
	OPT_MAPPING,	/* a mapping of another section */
};

#define OPT_REQUIRED	0x1

struct opt {
	enum opt_section	 section;
	const char		*key;
	enum opt_type		 type;
	size_t			 offset;
	size_t			 count_offset;	/* OPT_LIST: its size_t count */
	const char		*def;		/* YAML text; NULL: none */
	const char		*min;		/* bounds as text; NULL: none */
	const char		*max;
	int			 flags;
	const char *const	*values;	/* OPT_ENUM: names, by value */
	enum opt_section	 sub;		/* OPT_LIST, OPT_MAPPING */
	int			(*check)(const struct opt *, const char *,
				    char **);
	const char		*desc;
};

struct section {
	const char	*title;
	size_t		 size;		/* one element of a list */
	int		 has_position;	/* records line and column */
	size_t		 line_offset;
	size_t		 column_offset;
};

static int	check_dns_label(const struct opt *, const char *, char **);
static int	check_env_name(const struct opt *, const char *, char **);
static int	check_host_key(const struct opt *, const char *, char **);
static int	check_condition(const struct opt *, const char *, char **);
static int	check_http_url(const struct opt *, const char *, char **);
static int	check_condition_pair(const struct opt *, const char *,
		    char **);

static const char *const log_level_names[] = { "debug", "info", "warn",
    NULL };
static const char *const target_type_names[] = { "directory",
    "kubernetes", NULL };
/* By enum probe_type and enum hook_phase. */
static const char *const probe_type_names[] = { "http", "command",
    "prometheus", NULL };
static const char *const hook_phase_names[] = { "PreSync", "Sync",
    "PostSync", "SyncFail", NULL };
static const char *const inconclusive_names[] = { "fail", "pass", NULL };
/* By config_app.sync_manual. */
static const char *const sync_policy_names[] = { "auto", "manual", NULL };

static const struct section sections[SECTION_COUNT] = {
	[SECTION_TOP] = { "Top level", sizeof(struct config), 0, 0, 0 },
	[SECTION_REPOSITORY] = { "repositories[]",
	    sizeof(struct config_repository), 1,
	    offsetof(struct config_repository, line),
	    offsetof(struct config_repository, column) },
	[SECTION_APP] = { "apps[]", sizeof(struct config_app), 1,
	    offsetof(struct config_app, line),
	    offsetof(struct config_app, column) },
	[SECTION_TARGET] = { "apps[].target", sizeof(struct config_app), 0,
	    0, 0 },
	[SECTION_VERSIONS] = { "versions", sizeof(struct config_versions), 0,
	    0, 0 },
	[SECTION_PROBE] = { "apps[].health[] and apps[].analysis[]",
	    sizeof(struct probe), 1, offsetof(struct probe, line),
	    offsetof(struct probe, column) },
	[SECTION_HOOK] = { "apps[].hooks[]", sizeof(struct config_hook), 1,
	    offsetof(struct config_hook, line),
	    offsetof(struct config_hook, column) },
	[SECTION_VERIFY] = { "repositories[].verify_commits",
	    sizeof(struct config_verify), 0, 0, 0 },
	[SECTION_HEALTH_RULE] = { "health_rules[]",
	    sizeof(struct health_rule), 1, offsetof(struct health_rule, line),
	    offsetof(struct health_rule, column) },
	[SECTION_COORDINATION] = { "coordination",
	    sizeof(struct config_coordination), 0, 0, 0 },
};

static const struct opt opts[] = {
	{ .section = SECTION_TOP, .key = "listen", .type = OPT_ADDRESS,
	  .offset = offsetof(struct config, listen),
	  .def = "127.0.0.1:8080",
	  .desc = "address the HTTP server (webhooks, status) listens on" },
	{ .section = SECTION_TOP, .key = "state_dir", .type = OPT_PATH,
	  .offset = offsetof(struct config, state_dir), .def = "./state",
	  .desc = "directory of the agent's state: sync results, caches" },
	{ .section = SECTION_TOP, .key = "log_level", .type = OPT_ENUM,
	  .offset = offsetof(struct config, log_level), .def = "info",
	  .values = log_level_names,
	  .desc = "least severe level that is logged" },
	{ .section = SECTION_TOP, .key = "tls_cert_file", .type = OPT_PATH,
	  .offset = offsetof(struct config, tls_cert_file),
	  .desc = "PEM certificate chain: with tls_key_file the server "
	  "speaks HTTPS only (a bad pair stops the start)" },
	{ .section = SECTION_TOP, .key = "tls_key_file", .type = OPT_PATH,
	  .offset = offsetof(struct config, tls_key_file),
	  .desc = "PEM private key of tls_cert_file" },
	{ .section = SECTION_TOP, .key = "http_max_body", .type = OPT_INTEGER,
	  .offset = offsetof(struct config, http_max_body),
	  .def = "26214400", .min = "1024", .max = "268435456",
	  .desc = "largest request body in bytes (GitHub sends at most "
	  "25 MiB); larger ones get 413" },
	{ .section = SECTION_TOP, .key = "http_max_headers", .type = OPT_INTEGER,
	  .offset = offsetof(struct config, http_max_headers),
	  .def = "65536", .min = "1024", .max = "1048576",
	  .desc = "largest request head (request line and headers) in bytes" },
	{ .section = SECTION_TOP, .key = "http_timeout", .type = OPT_DURATION,
	  .offset = offsetof(struct config, http_timeout_ms),
	  .def = "30s", .min = "1s", .max = "10m",
	  .desc = "a request must arrive whole within this long of its "
	  "connection's accept or of the previous answer, or the connection "
	  "is closed" },
	{ .section = SECTION_TOP, .key = "http_max_connections",
	  .type = OPT_INTEGER,
	  .offset = offsetof(struct config, http_max_connections),
	  .def = "512", .min = "1", .max = "65536",
	  .desc = "connections open at once, counted from their accept; past "
	  "it the one that has waited longest for a request is closed" },
	{ .section = SECTION_TOP, .key = "http_max_connections_per_client",
	  .type = OPT_INTEGER,
	  .offset = offsetof(struct config, http_max_connections_per_client),
	  .def = "64", .min = "1", .max = "65536",
	  .desc = "connections one client address may hold open; past it "
	  "its new ones are closed at once (behind a proxy, raise it to "
	  "http_max_connections)" },
	{ .section = SECTION_TOP, .key = "api_token_file", .type = OPT_PATH,
	  .offset = offsetof(struct config, api_token_file),
	  .desc = "file holding the bearer token POST /api/v1/apps/NAME/sync "
	  "needs (without one, only loopback clients may call it)" },
	{ .section = SECTION_TOP, .key = "api_token_env", .type = OPT_STRING,
	  .offset = offsetof(struct config, api_token_env),
	  .check = check_env_name,
	  .desc = "environment variable holding that token (instead of a "
	  "file)" },
	{ .section = SECTION_TOP, .key = "notify_url", .type = OPT_STRING,
	  .offset = offsetof(struct config, notify_url),
	  .check = check_http_url,
	  .desc = "http:// or https:// URL that gets a JSON POST for every "
	  "automatic rollback" },
	{ .section = SECTION_TOP, .key = "health_rules", .type = OPT_LIST,
	  .offset = offsetof(struct config, health_rules),
	  .count_offset = offsetof(struct config, nhealth_rules),
	  .def = "[]", .sub = SECTION_HEALTH_RULE,
	  .desc = "what the conditions of a kind mean (custom resources), "
	  "checked before the built-in rules; Kubernetes targets" },
	{ .section = SECTION_TOP, .key = "workers", .type = OPT_INTEGER,
	  .offset = offsetof(struct config, workers),
	  .def = "2", .min = "1", .max = "64",
	  .desc = "threads that fetch, render and sync (one job per "
	  "repository at a time)" },
	{ .section = SECTION_TOP, .key = "shutdown_timeout",
	  .type = OPT_DURATION,
	  .offset = offsetof(struct config, shutdown_timeout_ms),
	  .def = "30s", .min = "1s", .max = "10m",
	  .desc = "on SIGTERM, how long running syncs may take to finish "
	  "their wave before the agent exits anyway" },
	{ .section = SECTION_TOP, .key = "repositories", .type = OPT_LIST,
	  .offset = offsetof(struct config, repositories),
	  .count_offset = offsetof(struct config, nrepositories),
	  .def = "[]", .sub = SECTION_REPOSITORY,
	  .desc = "where manifests are read from: Git remotes or "
	  "directories" },
	{ .section = SECTION_TOP, .key = "apps", .type = OPT_LIST,
	  .offset = offsetof(struct config, apps),
	  .count_offset = offsetof(struct config, napps),
	  .def = "[]", .sub = SECTION_APP,
	  .desc = "the apps: a folder of a repository applied to a target" },
	{ .section = SECTION_TOP, .key = "versions", .type = OPT_MAPPING,
	  .offset = offsetof(struct config, versions),
	  .sub = SECTION_VERSIONS,
	  .desc = "the file recording which version each environment runs "
	  "(optional)" },
	{ .section = SECTION_TOP, .key = "coordination", .type = OPT_MAPPING,
	  .offset = offsetof(struct config, coordination),
	  .sub = SECTION_COORDINATION,
	  .desc = "replicas sharing the apps through Kubernetes Leases "
	  "(optional; without it this process syncs every app)" },

	{ .section = SECTION_REPOSITORY, .key = "name", .type = OPT_STRING,
	  .offset = offsetof(struct config_repository, name),
	  .flags = OPT_REQUIRED, .check = check_dns_label,
	  .desc = "name the apps refer to it by (a DNS-1123 label)" },
	{ .section = SECTION_REPOSITORY, .key = "url", .type = OPT_STRING,
	  .offset = offsetof(struct config_repository, url),
	  .desc = "a Git remote, fetched into a cache under state_dir "
	  "(set url or directory)" },
	{ .section = SECTION_REPOSITORY, .key = "directory", .type = OPT_PATH,
	  .offset = offsetof(struct config_repository, directory),
	  .desc = "a local directory read in place, without Git "
	  "(set url or directory)" },
	{ .section = SECTION_REPOSITORY, .key = "branch", .type = OPT_STRING,
	  .offset = offsetof(struct config_repository, branch), .def = "main",
	  .desc = "branch to follow" },
	{ .section = SECTION_REPOSITORY, .key = "poll_interval",
	  .type = OPT_DURATION,
	  .offset = offsetof(struct config_repository, poll_interval_ms),
	  .def = "3m", .min = "10s", .max = "24h",
	  .desc = "how often the remote is fetched, webhooks or not" },
	{ .section = SECTION_REPOSITORY, .key = "timeout", .type = OPT_DURATION,
	  .offset = offsetof(struct config_repository, timeout_ms),
	  .def = "60s", .min = "1s", .max = "1h",
	  .desc = "deadline of every network operation" },
	{ .section = SECTION_REPOSITORY, .key = "webhook_secret_file",
	  .type = OPT_PATH,
	  .offset = offsetof(struct config_repository, webhook_secret_file),
	  .desc = "file holding the webhook secrets, one a line, any of "
	  "which verifies (blank lines are ignored; read again when it "
	  "changes)" },
	{ .section = SECTION_REPOSITORY, .key = "webhook_secret_env",
	  .type = OPT_STRING,
	  .offset = offsetof(struct config_repository, webhook_secret_env),
	  .check = check_env_name,
	  .desc = "environment variable holding the webhook secret "
	  "(instead of a file)" },
	{ .section = SECTION_REPOSITORY, .key = "allow_force_deploy",
	  .type = OPT_BOOL,
	  .offset = offsetof(struct config_repository, allow_force_deploy),
	  .def = "false",
	  .desc = "a deploy request signed with this repository's webhook "
	  "secret may set `force` to deploy a held version" },
	{ .section = SECTION_REPOSITORY, .key = "token_file",
	  .type = OPT_PATH,
	  .offset = offsetof(struct config_repository, token_file),
	  .desc = "file holding an HTTPS access token for the remote (sent "
	  "as x-access-token, over https only)" },
	{ .section = SECTION_REPOSITORY, .key = "token_env",
	  .type = OPT_STRING,
	  .offset = offsetof(struct config_repository, token_env),
	  .check = check_env_name,
	  .desc = "environment variable holding the HTTPS access token "
	  "(instead of a file)" },
	{ .section = SECTION_REPOSITORY, .key = "ssh_key_file",
	  .type = OPT_PATH,
	  .offset = offsetof(struct config_repository, ssh_key_file),
	  .desc = "SSH private key (without passphrase) for an ssh:// or "
	  "user@host:path remote" },
	{ .section = SECTION_REPOSITORY, .key = "ssh_known_hosts_file",
	  .type = OPT_PATH,
	  .offset = offsetof(struct config_repository, ssh_known_hosts_file),
	  .desc = "known_hosts file the SSH server's host key must be in "
	  "(plain or hashed host names, [host]:port)" },
	{ .section = SECTION_REPOSITORY, .key = "ssh_host_key",
	  .type = OPT_STRING,
	  .offset = offsetof(struct config_repository, ssh_host_key),
	  .check = check_host_key,
	  .desc = "the SSH server's host key fingerprint, pinned, as "
	  "`ssh-keygen -lf` prints it (SHA256:...)" },
	{ .section = SECTION_REPOSITORY, .key = "verify_commits",
	  .type = OPT_MAPPING,
	  .offset = offsetof(struct config_repository, verify_commits),
	  .sub = SECTION_VERIFY,
	  .desc = "apply only commits signed by these keys: an unsigned or "
	  "unknown tip is refused and the last verified one stays live" },

	{ .section = SECTION_APP, .key = "name", .type = OPT_STRING,
	  .offset = offsetof(struct config_app, name),
	  .flags = OPT_REQUIRED, .check = check_dns_label,
	  .desc = "name of the app (a DNS-1123 label: it names files)" },
	{ .section = SECTION_APP, .key = "repository", .type = OPT_STRING,
	  .offset = offsetof(struct config_app, repository),
	  .flags = OPT_REQUIRED,
	  .desc = "name of the repository holding its manifests" },
	{ .section = SECTION_APP, .key = "path", .type = OPT_REPO_PATH,
	  .offset = offsetof(struct config_app, path),
	  .flags = OPT_REQUIRED,
	  .desc = "folder of manifests or kustomization in the repository" },
	{ .section = SECTION_APP, .key = "target", .type = OPT_MAPPING,
	  .offset = 0, .flags = OPT_REQUIRED, .sub = SECTION_TARGET,
	  .desc = "where its resources are applied" },
	{ .section = SECTION_APP, .key = "namespace", .type = OPT_STRING,
	  .offset = offsetof(struct config_app, namespace),
	  .check = check_dns_label,
	  .desc = "namespace of namespaced resources that declare none" },
	{ .section = SECTION_APP, .key = "depends_on", .type = OPT_STRINGS,
	  .offset = offsetof(struct config_app, depends_on), .def = "[]",
	  .desc = "apps synced (and healthy) before this one" },
	{ .section = SECTION_APP, .key = "prune", .type = OPT_BOOL,
	  .offset = offsetof(struct config_app, prune), .def = "true",
	  .desc = "delete what the agent applied and the repository no "
	  "longer holds" },
	{ .section = SECTION_APP, .key = "sync_timeout", .type = OPT_DURATION,
	  .offset = offsetof(struct config_app, sync_timeout_ms),
	  .def = "5m", .min = "1s", .max = "24h",
	  .desc = "deadline of a whole sync (a sync always has one)" },
	{ .section = SECTION_APP, .key = "wave_timeout", .type = OPT_DURATION,
	  .offset = offsetof(struct config_app, wave_timeout_ms),
	  .def = "0s", .min = "0s", .max = "24h",
	  .desc = "how long one wave may take to become healthy (0s: only "
	  "sync_timeout bounds it)" },
	{ .section = SECTION_APP, .key = "sync_policy", .type = OPT_ENUM,
	  .offset = offsetof(struct config_app, sync_manual),
	  .def = "auto", .values = sync_policy_names,
	  .desc = "auto: the daemon applies what Git says; manual: it only "
	  "reports OutOfSync, and applies on a request (POST .../sync, "
	  "reconcile, a deploy)" },
	{ .section = SECTION_APP, .key = "self_heal", .type = OPT_BOOL,
	  .offset = offsetof(struct config_app, self_heal), .def = "true",
	  .desc = "a poll or drift check that finds live state drifted "
	  "from an unchanged commit applies it again; false: it reports "
	  "OutOfSync only" },
	{ .section = SECTION_APP, .key = "drift_interval",
	  .type = OPT_DURATION,
	  .offset = offsetof(struct config_app, drift_interval_ms),
	  .def = "3m", .min = "0s", .max = "24h",
	  .desc = "how often the daemon compares live state with the last "
	  "commit synced, between polls (give or take 10%; 0s: only at "
	  "polls); drift is healed with self_heal, else reported" },
	{ .section = SECTION_APP, .key = "suspend", .type = OPT_BOOL,
	  .offset = offsetof(struct config_app, suspend), .def = "false",
	  .desc = "the daemon neither syncs nor checks it (the CLI still "
	  "can)" },
	{ .section = SECTION_APP, .key = "service", .type = OPT_STRING,
	  .offset = offsetof(struct config_app, service),
	  .desc = "the service it deploys, as named in the versions file "
	  "and deploy requests" },
	{ .section = SECTION_APP, .key = "environment", .type = OPT_STRING,
	  .offset = offsetof(struct config_app, environment),
	  .desc = "the environment it is, as named in the versions file" },

	{ .section = SECTION_APP, .key = "health", .type = OPT_LIST,
	  .offset = offsetof(struct config_app, health),
	  .count_offset = offsetof(struct config_app, nhealth),
	  .def = "[]", .sub = SECTION_PROBE,
	  .desc = "probes that must pass after the last wave (and the "
	  "PostSync hooks), within sync_timeout, for the sync to succeed" },
	{ .section = SECTION_APP, .key = "analysis", .type = OPT_LIST,
	  .offset = offsetof(struct config_app, analysis),
	  .count_offset = offsetof(struct config_app, nanalysis),
	  .def = "[]", .sub = SECTION_PROBE,
	  .desc = "checks run after a healthy sync (Prometheus queries, "
	  "probes); a failure rolls a deploy back" },
	{ .section = SECTION_APP, .key = "analysis_inconclusive",
	  .type = OPT_ENUM,
	  .offset = offsetof(struct config_app, analysis_inconclusive_pass),
	  .def = "fail", .values = inconclusive_names,
	  .desc = "what a Prometheus that cannot be asked means: fail (roll "
	  "back) or pass" },
	{ .section = SECTION_APP, .key = "analysis_timeout",
	  .type = OPT_DURATION,
	  .offset = offsetof(struct config_app, analysis_timeout_ms),
	  .def = "5m", .min = "1s", .max = "24h",
	  .desc = "deadline of the whole analysis" },
	{ .section = SECTION_APP, .key = "hooks", .type = OPT_LIST,
	  .offset = offsetof(struct config_app, hooks),
	  .count_offset = offsetof(struct config_app, nhooks),
	  .def = "[]", .sub = SECTION_HOOK,
	  .desc = "commands run in a phase of every sync that changes "
	  "something (a migration before, a restart after)" },
	{ .section = SECTION_APP, .key = "shard", .type = OPT_INTEGER,
	  .offset = offsetof(struct config_app, shard),
	  .min = "0", .max = "255",
	  .desc = "with coordination: the shard that syncs it, below "
	  "coordination.shards (default: a hash of its name)" },

	{ .section = SECTION_PROBE, .key = "name", .type = OPT_STRING,
	  .offset = offsetof(struct probe, name),
	  .desc = "what the results call it (default: its type and target)" },
	{ .section = SECTION_PROBE, .key = "type", .type = OPT_ENUM,
	  .offset = offsetof(struct probe, type), .flags = OPT_REQUIRED,
	  .values = probe_type_names,
	  .desc = "http (a URL's status), command (exit status) or "
	  "prometheus (an instant query and a condition)" },
	{ .section = SECTION_PROBE, .key = "url", .type = OPT_STRING,
	  .offset = offsetof(struct probe, url),
	  .desc = "http: the URL to GET; prometheus: the server's base URL "
	  "(http:// or https://, its certificate always verified)" },
	{ .section = SECTION_PROBE, .key = "ca_file", .type = OPT_PATH,
	  .offset = offsetof(struct probe, ca_file),
	  .desc = "http, prometheus: PEM file of the CAs an https:// URL's "
	  "certificate is checked against (default: the system's)" },
	{ .section = SECTION_PROBE, .key = "expect_status", .type = OPT_INTEGER,
	  .offset = offsetof(struct probe, expect_status), .def = "200",
	  .min = "100", .max = "599",
	  .desc = "http: the status that counts as healthy" },
	{ .section = SECTION_PROBE, .key = "successes", .type = OPT_INTEGER,
	  .offset = offsetof(struct probe, successes), .def = "1",
	  .min = "1", .max = "1000",
	  .desc = "http: answers in a row that make it healthy" },
	{ .section = SECTION_PROBE, .key = "failures", .type = OPT_INTEGER,
	  .offset = offsetof(struct probe, failures), .def = "0",
	  .min = "0", .max = "1000",
	  .desc = "http: wrong answers in a row that fail it at once (0: "
	  "keep trying until the deadline)" },
	{ .section = SECTION_PROBE, .key = "interval", .type = OPT_DURATION,
	  .offset = offsetof(struct probe, interval_ms), .def = "1s",
	  .min = "10ms", .max = "1h",
	  .desc = "time between tries (http) or measurements (prometheus)" },
	{ .section = SECTION_PROBE, .key = "timeout", .type = OPT_DURATION,
	  .offset = offsetof(struct probe, timeout_ms), .def = "5s",
	  .min = "10ms", .max = "1h",
	  .desc = "bound on one try, one query, or the command" },
	{ .section = SECTION_PROBE, .key = "command", .type = OPT_STRINGS,
	  .offset = offsetof(struct probe, argv),
	  .desc = "command: the program and its arguments (an argv, never a "
	  "shell, run in the configuration file's directory); exit 0 is "
	  "healthy" },
	{ .section = SECTION_PROBE, .key = "query", .type = OPT_STRING,
	  .offset = offsetof(struct probe, query),
	  .desc = "prometheus: the PromQL instant query (its first sample is "
	  "the result)" },
	{ .section = SECTION_PROBE, .key = "condition", .type = OPT_STRING,
	  .offset = offsetof(struct probe, condition),
	  .check = check_condition,
	  .desc = "prometheus: what a good result is, e.g. `result >= 0.95`" },
	{ .section = SECTION_PROBE, .key = "count", .type = OPT_INTEGER,
	  .offset = offsetof(struct probe, count), .def = "1",
	  .min = "1", .max = "10000",
	  .desc = "prometheus: measurements taken, interval apart" },
	{ .section = SECTION_PROBE, .key = "failure_limit",
	  .type = OPT_INTEGER,
	  .offset = offsetof(struct probe, failure_limit), .def = "0",
	  .min = "0", .max = "10000",
	  .desc = "prometheus: failed measurements tolerated" },

	{ .section = SECTION_HOOK, .key = "name", .type = OPT_STRING,
	  .offset = offsetof(struct config_hook, name), .flags = OPT_REQUIRED,
	  .check = check_dns_label,
	  .desc = "its name in the sync result (a DNS-1123 label)" },
	{ .section = SECTION_HOOK, .key = "phase", .type = OPT_ENUM,
	  .offset = offsetof(struct config_hook, phase), .flags = OPT_REQUIRED,
	  .values = hook_phase_names,
	  .desc = "PreSync (before the resources), Sync (after them), "
	  "PostSync (once healthy) or SyncFail (when a sync fails)" },
	{ .section = SECTION_HOOK, .key = "command", .type = OPT_STRINGS,
	  .offset = offsetof(struct config_hook, argv), .flags = OPT_REQUIRED,
	  .desc = "the program and its arguments (an argv, never a shell), "
	  "run in the configuration file's directory; a name without '/' "
	  "is looked up in PATH" },
	{ .section = SECTION_HOOK, .key = "timeout", .type = OPT_DURATION,
	  .offset = offsetof(struct config_hook, timeout_ms), .def = "1m",
	  .min = "10ms", .max = "24h",
	  .desc = "the command is killed past it and the hook fails" },

	{ .section = SECTION_TARGET, .key = "type", .type = OPT_ENUM,
	  .offset = offsetof(struct config_app, target.type),
	  .def = "directory", .values = target_type_names,
	  .desc = "kind of target: directory writes one file per resource, "
	  "kubernetes applies them to a cluster's API server" },
	{ .section = SECTION_TARGET, .key = "path", .type = OPT_PATH,
	  .offset = offsetof(struct config_app, target.path),
	  .desc = "directory: the folder the resources are written to "
	  "(required)" },
	{ .section = SECTION_TARGET, .key = "kubeconfig", .type = OPT_PATH,
	  .offset = offsetof(struct config_app, target.kubeconfig),
	  .desc = "kubernetes: the kubeconfig file (default: $KUBECONFIG's "
	  "first file, else ~/.kube/config)" },
	{ .section = SECTION_TARGET, .key = "context", .type = OPT_STRING,
	  .offset = offsetof(struct config_app, target.context),
	  .desc = "kubernetes: the kubeconfig context (default: its "
	  "current-context)" },
	{ .section = SECTION_TARGET, .key = "in_cluster", .type = OPT_BOOL,
	  .offset = offsetof(struct config_app, target.in_cluster),
	  .def = "false",
	  .desc = "kubernetes: use the pod's service account instead of a "
	  "kubeconfig" },
	{ .section = SECTION_TARGET, .key = "namespace", .type = OPT_STRING,
	  .offset = offsetof(struct config_app, target.namespace),
	  .check = check_dns_label,
	  .desc = "kubernetes: where namespaced resources that name none go "
	  "(default: the context's namespace, else default); the app's "
	  "inventory lives in the agent's namespace" },
	{ .section = SECTION_TARGET, .key = "field_manager",
	  .type = OPT_STRING,
	  .offset = offsetof(struct config_app, target.field_manager),
	  .def = "gitops-agent",
	  .desc = "kubernetes: the field manager of server-side apply" },
	{ .section = SECTION_TARGET, .key = "owner", .type = OPT_STRING,
	  .offset = offsetof(struct config_app, target.owner),
	  .desc = "kubernetes: who the app's inventory belongs to, recorded "
	  "in it; an inventory of another owner is refused (default: the "
	  "repository's URL or directory, '#', the app's path)" },
	{ .section = SECTION_TARGET, .key = "force_conflicts",
	  .type = OPT_BOOL,
	  .offset = offsetof(struct config_app, target.force_conflicts),
	  .def = "true",
	  .desc = "kubernetes: take fields another manager owns (false: a "
	  "conflict fails the sync, naming the manager and the fields)" },
	{ .section = SECTION_TARGET, .key = "qps", .type = OPT_INTEGER,
	  .offset = offsetof(struct config_app, target.qps),
	  .def = "50", .min = "1", .max = "100000",
	  .desc = "kubernetes: requests a second, on average" },
	{ .section = SECTION_TARGET, .key = "burst", .type = OPT_INTEGER,
	  .offset = offsetof(struct config_app, target.burst),
	  .def = "100", .min = "1", .max = "100000",
	  .desc = "kubernetes: requests sent at once above qps" },
	{ .section = SECTION_TARGET, .key = "request_timeout",
	  .type = OPT_DURATION,
	  .offset = offsetof(struct config_app, target.request_timeout_ms),
	  .def = "30s", .min = "1s", .max = "10m",
	  .desc = "kubernetes: one request, its retries included" },
	{ .section = SECTION_TARGET, .key = "prune_max_percent",
	  .type = OPT_INTEGER,
	  .offset = offsetof(struct config_app, target.prune_max_percent),
	  .def = "50", .min = "0", .max = "100",
	  .desc = "kubernetes: a sync that would prune more than this share "
	  "of the inventory (or all of it) is refused, unless `sync "
	  "--force-prune`" },

	{ .section = SECTION_HEALTH_RULE, .key = "kind", .type = OPT_STRING,
	  .offset = offsetof(struct health_rule, kind), .flags = OPT_REQUIRED,
	  .desc = "the kind the rule is for, such as Certificate" },
	{ .section = SECTION_HEALTH_RULE, .key = "group", .type = OPT_STRING,
	  .offset = offsetof(struct health_rule, group),
	  .desc = "its API group, such as cert-manager.io (default: any)" },
	{ .section = SECTION_HEALTH_RULE, .key = "healthy",
	  .type = OPT_STRINGS, .offset = offsetof(struct health_rule, healthy),
	  .flags = OPT_REQUIRED, .check = check_condition_pair,
	  .desc = "conditions, each Type=Status, that together mean healthy" },
	{ .section = SECTION_HEALTH_RULE, .key = "degraded",
	  .type = OPT_STRINGS, .offset = offsetof(struct health_rule, degraded),
	  .def = "[]", .check = check_condition_pair,
	  .desc = "conditions, each Type=Status, any of which means failed" },
	{ .section = SECTION_VERIFY, .key = "allowed_signers",
	  .type = OPT_PATH,
	  .offset = offsetof(struct config_verify, allowed_signers),
	  .desc = "SSH signatures: an allowed signers file (ssh-keygen(1), "
	  "as git's gpg.ssh.allowedSignersFile), checked with "
	  "`ssh-keygen -Y verify -n git`" },
	{ .section = SECTION_VERIFY, .key = "keyring", .type = OPT_PATH,
	  .offset = offsetof(struct config_verify, keyring),
	  .desc = "OpenPGP signatures: a keyring (`gpg --export` output), "
	  "checked with gpgv" },

	{ .section = SECTION_VERSIONS, .key = "repository", .type = OPT_STRING,
	  .offset = offsetof(struct config_versions, repository),
	  .flags = OPT_REQUIRED,
	  .desc = "name of the repository holding the versions file" },
	{ .section = SECTION_VERSIONS, .key = "file", .type = OPT_REPO_PATH,
	  .offset = offsetof(struct config_versions, file),
	  .def = "versions.yaml",
	  .desc = "path of the versions file in that repository" },
	{ .section = SECTION_VERSIONS, .key = "held_file", .type = OPT_REPO_PATH,
	  .offset = offsetof(struct config_versions, held_file),
	  .def = "held-versions.yaml",
	  .desc = "path of the file of versions rolled back and held (not "
	  "deployed again without --force), in that repository" },
	{ .section = SECTION_VERSIONS, .key = "author_name", .type = OPT_STRING,
	  .offset = offsetof(struct config_versions, author_name),
	  .def = "gitops-agent",
	  .desc = "author and committer name of the agent's commits" },
	{ .section = SECTION_VERSIONS, .key = "author_email",
	  .type = OPT_STRING,
	  .offset = offsetof(struct config_versions, author_email),
	  .def = "gitops-agent@localhost",
	  .desc = "author and committer email of the agent's commits" },
	{ .section = SECTION_VERSIONS, .key = "signing_key", .type = OPT_PATH,
	  .offset = offsetof(struct config_versions, signing_key),
	  .desc = "SSH private key the agent signs its commits with "
	  "(ssh-keygen -Y sign; git verify-commit with gpg.format=ssh)" },
	{ .section = SECTION_VERSIONS, .key = "timeout", .type = OPT_DURATION,
	  .offset = offsetof(struct config_versions, timeout_ms),
	  .def = "2m", .min = "1s", .max = "1h",
	  .desc = "deadline of a whole bump or rollback, retries included" },
	{ .section = SECTION_VERSIONS, .key = "max_attempts", .type = OPT_INTEGER,
	  .offset = offsetof(struct config_versions, max_attempts),
	  .def = "100", .min = "1", .max = "10000",
	  .desc = "most pushes a bump or rollback tries before giving up" },

	{ .section = SECTION_COORDINATION, .key = "kubeconfig", .type = OPT_PATH,
	  .offset = offsetof(struct config_coordination, kubeconfig),
	  .desc = "the kubeconfig file of the cluster holding the Leases "
	  "(default: $KUBECONFIG's first file, else ~/.kube/config)" },
	{ .section = SECTION_COORDINATION, .key = "context", .type = OPT_STRING,
	  .offset = offsetof(struct config_coordination, context),
	  .desc = "the kubeconfig context (default: its current-context)" },
	{ .section = SECTION_COORDINATION, .key = "in_cluster", .type = OPT_BOOL,
	  .offset = offsetof(struct config_coordination, in_cluster),
	  .def = "false",
	  .desc = "use the pod's service account instead of a kubeconfig" },
	{ .section = SECTION_COORDINATION, .key = "namespace",
	  .type = OPT_STRING,
	  .offset = offsetof(struct config_coordination, namespace),
	  .check = check_dns_label,
	  .desc = "namespace of the Leases (default: the context's or the "
	  "pod's namespace, else default)" },
	{ .section = SECTION_COORDINATION, .key = "shards", .type = OPT_INTEGER,
	  .offset = offsetof(struct config_coordination, shards),
	  .def = "1", .min = "1", .max = "256",
	  .desc = "how many parts the apps are split into, each held by one "
	  "replica through the Lease gitops-agent-shard-N; every replica "
	  "must say the same" },
	{ .section = SECTION_COORDINATION, .key = "lease_duration",
	  .type = OPT_DURATION,
	  .offset = offsetof(struct config_coordination, lease_duration_ms),
	  .def = "15s", .min = "1s", .max = "10m",
	  .desc = "a Lease not renewed for this long (by the observer's "
	  "clock) may be taken by another replica; holders renew every "
	  "third of it" },
	{ .section = SECTION_COORDINATION, .key = "identity",
	  .type = OPT_STRING,
	  .offset = offsetof(struct config_coordination, identity),
	  .check = check_dns_label,
	  .desc = "this replica's name in the Leases, unique among the "
	  "replicas (default: the host name and the process id, "
	  "HOST-PID)" },
};
#define NOPTS	(sizeof opts / sizeof opts[0])

struct config_error {
	int	 line;
	int	 column;
	size_t	 seq;
	char	*msg;
};

/* One load: the parsed file and the errors found so far. */
struct config_ctx {
	const char		*name;
	char			*dir;		/* relative paths start here */
	struct yaml_file	*yf;
	const struct opt	*in_default;	/* applying this default */
	struct config_error	*errors;
	size_t			 nerrors;
};

static void	parse_section(struct config_ctx *, enum opt_section,
		    const struct json *, void *);

/* Where a node is: for an object member, its key. */
static void
node_position(struct config_ctx *ctx, const struct json *node, int *line,
    int *column)
{
	*line = *column = 0;
	if (node == NULL || ctx->yf == NULL ||
	    yaml_node_position(ctx->yf, node, line, column) == 0 ||
	    *line <= 0) {
		*line = 0;
		*column = 0;
	}
}

/* Where a node's value is, even for an object member. */
static void
value_position(struct config_ctx *ctx, const struct json *node, int *line,
    int *column)
{
	*line = *column = 0;
	if (node == NULL || ctx->yf == NULL ||
	    yaml_value_position(ctx->yf, node, line, column) == 0 ||
	    *line <= 0) {
		*line = 0;
		*column = 0;
	}
}

static void __attribute__((format(printf, 4, 0)))
ctx_verror(struct config_ctx *ctx, int line, int column, const char *fmt,
    va_list ap)
{
	struct config_error	*e;
	char			*msg, *p;

	xvasprintf(&msg, fmt, ap);
	/* A key or value may hold a newline: keep one error per line. */
	for (p = msg; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	if (ctx->in_default != NULL)
		fatalx("default of '%s' is invalid: %s", ctx->in_default->key,
		    msg);
	ctx->errors = xreallocarray(ctx->errors, ctx->nerrors + 1,
	    sizeof *ctx->errors);
	e = &ctx->errors[ctx->nerrors];
	e->line = line;
	e->column = column;
	e->seq = ctx->nerrors++;
	e->msg = msg;
}

static void __attribute__((format(printf, 3, 4)))
ctx_error(struct config_ctx *ctx, const struct json *node, const char *fmt,
    ...)
{
	va_list	ap;
	int	line, column;

	node_position(ctx, node, &line, &column);
	va_start(ap, fmt);
	ctx_verror(ctx, line, column, fmt, ap);
	va_end(ap);
}

/* An error about what a value says rather than about its key. */
static void __attribute__((format(printf, 3, 4)))
ctx_error_value(struct config_ctx *ctx, const struct json *node,
    const char *fmt, ...)
{
	va_list	ap;
	int	line, column;

	value_position(ctx, node, &line, &column);
	va_start(ap, fmt);
	ctx_verror(ctx, line, column, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 4, 5)))
ctx_error_at(struct config_ctx *ctx, int line, int column, const char *fmt,
    ...)
{
	va_list	ap;

	va_start(ap, fmt);
	ctx_verror(ctx, line, column, fmt, ap);
	va_end(ap);
}

static int
config_error_cmp(const void *a, const void *b)
{
	const struct config_error	*x = a, *y = b;

	if (x->line != y->line)
		return (x->line < y->line ? -1 : 1);
	if (x->column != y->column)
		return (x->column < y->column ? -1 : 1);
	return (x->seq < y->seq ? -1 : x->seq > y->seq);
}

/* Every error, in the order of the file, one per line. */
static char *
ctx_errors_join(struct config_ctx *ctx)
{
	struct buf	b;
	size_t		i;

	qsort(ctx->errors, ctx->nerrors, sizeof *ctx->errors,
	    config_error_cmp);
	buf_init(&b);
	for (i = 0; i < ctx->nerrors; i++) {
		struct config_error *e = &ctx->errors[i];

		if (i != 0)
			buf_addc(&b, '\n');
		if (e->line > 0)
			buf_printf(&b, "%s:%d:%d: %s", ctx->name, e->line,
			    e->column, e->msg);
		else
			buf_printf(&b, "%s: %s", ctx->name, e->msg);
	}
	return (buf_release(&b));
}

/* Edit distance, for "did you mean"; long strings are never close. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b), i, j;
	size_t	prev[65], cur[65];

	if (la > 64 || lb > 64)
		return (SIZE_MAX);
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t best = prev[j - 1] + (a[i - 1] != b[j - 1]);

			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			cur[j] = best;
		}
		memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
	}
	return (prev[lb]);
}

/* The candidate closest to s, if close enough to be a typo of it. */
static const char *
suggest(const char *s, const char *const *candidates, size_t n)
{
	const char	*best = NULL;
	size_t		 bestd = SIZE_MAX, d, i, allowed;

	for (i = 0; i < n; i++) {
		if (candidates[i] == NULL)
			continue;
		d = edit_distance(s, candidates[i]);
		allowed = strlen(candidates[i]) >= 6 ? 2 : 1;
		if (d <= allowed && d < bestd) {
			best = candidates[i];
			bestd = d;
		}
	}
	return (best);
}

/* " (did you mean 'x'?)" or "". */
static char *
suggestion_text(const char *s, const char *const *candidates, size_t n)
{
	const char	*best = suggest(s, candidates, n);
	char		*text;

	if (best == NULL)
		return (xstrdup(""));
	xasprintf(&text, " (did you mean '%s'?)", best);
	return (text);
}

static const struct opt *
opt_find(enum opt_section section, const char *key)
{
	size_t	i;

	for (i = 0; i < NOPTS; i++) {
		if (opts[i].section == section && strcmp(opts[i].key, key) == 0)
			return (&opts[i]);
	}
	return (NULL);
}

static int
check_dns_label(const struct opt *o, const char *s, char **msg)
{
	if (name_is_dns_label(s))
		return (0);
	xasprintf(msg, "'%s' must be a DNS-1123 label (lower case letters, "
	    "digits and '-', starting and ending with a letter or digit, at "
	    "most 63 characters), not '%s'", o->key, s);
	return (-1);
}

static int
check_env_name(const struct opt *o, const char *s, char **msg)
{
	const char	*p;

	if (!isdigit((unsigned char)*s)) {
		for (p = s; *p != '\0'; p++) {
			if (!isalnum((unsigned char)*p) && *p != '_')
				break;
		}
		if (*p == '\0')
			return (0);
	}
	xasprintf(msg, "'%s' must be an environment variable name (letters, "
	    "digits and '_', not starting with a digit), not '%s'", o->key, s);
	return (-1);
}

/* "Type=Status" of a health rule: both parts, no spaces. */
static int
check_condition_pair(const struct opt *o, const char *s, char **msg)
{
	const char	*eq = strchr(s, '=');

	if (eq == NULL || eq == s || eq[1] == '\0' ||
	    strchr(eq + 1, '=') != NULL || strpbrk(s, " \t") != NULL) {
		xasprintf(msg, "'%s' items must be Type=Status, like "
		    "Ready=True, not '%s'", o->key, s);
		return (-1);
	}
	return (0);
}

static int
check_http_url(const struct opt *o, const char *v, char **cause)
{
	if ((strncmp(v, "http://", 7) != 0 || v[7] == '\0') &&
	    (strncmp(v, "https://", 8) != 0 || v[8] == '\0')) {
		xasprintf(cause, "'%s' must be an http:// or https:// URL, not "
		    "'%s'", o->key, v);
		return (-1);
	}
	return (0);
}

static int
check_condition(const struct opt *o, const char *v, char **cause)
{
	struct health_condition	c;

	(void)o;
	return (health_condition_parse(v, &c, cause));
}

/* "SHA256:" and 43 characters of unpadded base64, as ssh-keygen -l says. */
static int
check_host_key(const struct opt *o, const char *v, char **cause)
{
	const char	*b = v + 7;

	(void)o;
	if (strncmp(v, "SHA256:", 7) != 0 || strlen(b) != 43 ||
	    strspn(b, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/") != 43) {
		xasprintf(cause, "'%s' is not a SHA256 host key fingerprint "
		    "(SHA256: and 43 base64 characters, as `ssh-keygen -lf` "
		    "prints)", v);
		return (-1);
	}
	return (0);
}

/* host:port, [v6]:port; the port 1 to 65535. */
static int
address_check(const char *s)
{
	const char	*colon, *p;
	char		*end;
	long		 port;

	if (*s == '[') {
		if ((p = strchr(s, ']')) == NULL || p == s + 1 || p[1] != ':')
			return (-1);
		for (colon = s + 1; colon < p; colon++) {
			if (!isxdigit((unsigned char)*colon) &&
			    *colon != ':' && *colon != '.')
				return (-1);
		}
		colon = p + 1;
	} else {
		if ((colon = strchr(s, ':')) == NULL || colon == s ||
		    strchr(colon + 1, ':') != NULL)
			return (-1);
		for (p = s; p < colon; p++) {
			if (!isalnum((unsigned char)*p) && *p != '.' &&
			    *p != '-')
				return (-1);
		}
	}
	if (!isdigit((unsigned char)colon[1]))
		return (-1);
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port < 1 || port > 65535)
		return (-1);
	return (0);
}

/*
 * A path from the file, relative to the file's directory; "~/" is the
 * home directory, as a shell and kubectl read it.
 */
static char *
path_resolve(const char *dir, const char *path)
{
	const char	*home;

	if (*path == '/')
		return (xstrdup(path));
	if (path[0] == '~' && path[1] == '/' &&
	    (home = getenv("HOME")) != NULL && *home == '/')
		return (path_join(home, path + 2));
	while (path[0] == '.' && path[1] == '/') {
		path += 2;
		while (*path == '/')
			path++;
	}
	if (*path == '\0' || strcmp(path, ".") == 0)
		return (xstrdup(dir));
	if (strcmp(dir, ".") == 0)
		return (xstrdup(path));
	return (path_join(dir, path));
}

static char *
dir_of(const char *file)
{
	const char	*slash = strrchr(file, '/');

	if (slash == NULL)
		return (xstrdup("."));
	if (slash == file)
		return (xstrdup("/"));
	return (xstrndup(file, (size_t)(slash - file)));
}

static uint64_t
bound_duration(const struct opt *o, const char *text)
{
	uint64_t	 ms;
	char		*cause = NULL;

	if (duration_parse(text, &ms, &cause) == -1)
		fatalx("bound of '%s': %s", o->key, cause);
	return (ms);
}

static long long
bound_integer(const struct opt *o, const char *text)
{
	long long	 n;
	char		*end;

	errno = 0;
	n = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0' || end == text)
		fatalx("bound of '%s' is not an integer: %s", o->key, text);
	return (n);
}

static const char *
type_noun(const struct opt *o)
{
	switch (o->type) {
	case OPT_STRING:
	case OPT_PATH:
	case OPT_REPO_PATH:
	case OPT_ENUM:
		return ("a string");
	case OPT_DURATION:
		return ("a duration like 3m or 30s");
	case OPT_BOOL:
		return ("a boolean");
	case OPT_INTEGER:
		return ("an integer");
	case OPT_STRINGS:
		return ("a list of strings");
	case OPT_ADDRESS:
		return ("an address like 127.0.0.1:8080");
	case OPT_LIST:
		return ("a list");
	case OPT_MAPPING:
		return ("a mapping");
	}
	return ("a value");
}

/* The value of a string-like option, or NULL after reporting why not. */
static const char *
opt_string(struct config_ctx *ctx, const struct opt *o, const struct json *v)
{
	const char	*s;
	enum json_type	 t = json_type(v);

	if ((s = json_string(v)) == NULL) {
		ctx_error_value(ctx, v, "'%s' must be %s, not %s%s", o->key,
		    type_noun(o), json_type_phrase(v),
		    (o->type == OPT_STRING || o->type == OPT_PATH ||
		    o->type == OPT_REPO_PATH) && (t == JSON_NUMBER ||
		    t == JSON_TRUE || t == JSON_FALSE) ? " (quote it)" : "");
		return (NULL);
	}
	if (*s == '\0') {
		ctx_error_value(ctx, v, "'%s' must not be empty", o->key);
		return (NULL);
	}
	return (s);
}

static void
opt_set_duration(struct config_ctx *ctx, const struct opt *o,
    const struct json *v, void *p)
{
	const char	*s;
	char		*cause = NULL;
	uint64_t	 ms;

	if (json_type(v) == JSON_NUMBER) {
		ctx_error_value(ctx, v, "'%s' must be a duration with a unit, "
		    "like 3m or 30s, not a number", o->key);
		return;
	}
	if ((s = opt_string(ctx, o, v)) == NULL)
		return;
	if (duration_parse(s, &ms, &cause) == -1) {
		ctx_error_value(ctx, v, "'%s': %s", o->key, cause);
		free(cause);
		return;
	}
	if (o->min != NULL && ms < bound_duration(o, o->min)) {
		ctx_error_value(ctx, v, "'%s' must be at least %s, not %s",
		    o->key, o->min, s);
		return;
	}
	if (o->max != NULL && ms > bound_duration(o, o->max)) {
		ctx_error_value(ctx, v, "'%s' must be at most %s, not %s",
		    o->key, o->max, s);
		return;
	}
	*(uint64_t *)p = ms;
}

static void
opt_set_integer(struct config_ctx *ctx, const struct opt *o,
    const struct json *v, void *p)
{
	double	d;

	if (json_type(v) != JSON_NUMBER) {
		ctx_error_value(ctx, v, "'%s' must be an integer, not %s",
		    o->key, json_type_phrase(v));
		return;
	}
	d = json_number(v);
	if (d != (double)(long long)d || d < INT_MIN || d > INT_MAX) {
		ctx_error_value(ctx, v, "'%s' must be an integer, not %g",
		    o->key, d);
		return;
	}
	if (o->min != NULL && (long long)d < bound_integer(o, o->min)) {
		ctx_error_value(ctx, v, "'%s' must be at least %s, not %lld",
		    o->key, o->min, (long long)d);
		return;
	}
	if (o->max != NULL && (long long)d > bound_integer(o, o->max)) {
		ctx_error_value(ctx, v, "'%s' must be at most %s, not %lld",
		    o->key, o->max, (long long)d);
		return;
	}
	*(int *)p = (int)d;
}

static void
opt_set_strings(struct config_ctx *ctx, const struct opt *o,
    const struct json *v, void *p)
{
	struct strv	*sv = p;
	struct json	*item;
	const char	*s;
	char		*msg = NULL;

	if (json_type(v) != JSON_ARRAY) {
		ctx_error_value(ctx, v, "'%s' must be a list of strings, not "
		    "%s", o->key, json_type_phrase(v));
		return;
	}
	for (item = json_child(v); item != NULL; item = json_next(item)) {
		if ((s = json_string(item)) == NULL)
			ctx_error(ctx, item, "'%s' items must be strings, not "
			    "%s", o->key, json_type_phrase(item));
		else if (*s == '\0')
			ctx_error(ctx, item, "'%s' items must not be empty",
			    o->key);
		else if (o->check != NULL && o->check(o, s, &msg) == -1) {
			ctx_error(ctx, item, "%s", msg);
			free(msg);
		} else
			strv_add(sv, s);
	}
}

static void
opt_set_enum(struct config_ctx *ctx, const struct opt *o,
    const struct json *v, void *p)
{
	const char	*s;
	struct buf	 names;
	char		*list;
	int		 i;

	s = json_string(v);
	for (i = 0; s != NULL && o->values[i] != NULL; i++) {
		if (strcmp(o->values[i], s) == 0) {
			*(int *)p = i;
			return;
		}
	}
	buf_init(&names);
	for (i = 0; o->values[i] != NULL; i++)
		buf_printf(&names, "%s%s", i == 0 ? "" : ", ", o->values[i]);
	list = buf_release(&names);
	if (s == NULL)
		ctx_error_value(ctx, v, "'%s' must be one of %s, not %s",
		    o->key, list, json_type_phrase(v));
	else
		ctx_error_value(ctx, v, "'%s' must be one of %s, not '%s'",
		    o->key, list, s);
	free(list);
}

static void
opt_set_list(struct config_ctx *ctx, const struct opt *o,
    const struct json *v, void *base)
{
	const struct section	*sec = &sections[o->sub];
	struct json		*item;
	char			*elems;
	size_t			 n, i;

	if (json_type(v) != JSON_ARRAY) {
		ctx_error_value(ctx, v, "'%s' must be a list, not %s", o->key,
		    json_type_phrase(v));
		return;
	}
	if ((n = json_count(v)) == 0)
		return;
	elems = xcalloc(n, sec->size);
	memcpy((char *)base + o->offset, &elems, sizeof elems);
	memcpy((char *)base + o->count_offset, &n, sizeof n);
	for (i = 0, item = json_child(v); item != NULL;
	    i++, item = json_next(item)) {
		if (json_type(item) != JSON_OBJECT) {
			ctx_error(ctx, item, "'%s' items must be mappings, not "
			    "%s", o->key, json_type_phrase(item));
			continue;
		}
		parse_section(ctx, o->sub, item, elems + i * sec->size);
	}
}

/* Parse one option's value into its field of base. */
static void
opt_set(struct config_ctx *ctx, const struct opt *o, const struct json *v,
    void *base)
{
	void		*p = (char *)base + o->offset;
	const char	*s;
	char		*msg = NULL, *norm;

	switch (o->type) {
	case OPT_STRING:
	case OPT_PATH:
	case OPT_REPO_PATH:
	case OPT_ADDRESS:
		if ((s = opt_string(ctx, o, v)) == NULL)
			return;
		if (o->check != NULL && o->check(o, s, &msg) == -1) {
			ctx_error_value(ctx, v, "%s", msg);
			free(msg);
			return;
		}
		if (o->type == OPT_ADDRESS && address_check(s) == -1) {
			ctx_error_value(ctx, v, "'%s' must be HOST:PORT with a "
			    "port from 1 to 65535, like 127.0.0.1:8080, not "
			    "'%s'", o->key, s);
			return;
		}
		if (o->type == OPT_REPO_PATH) {
			if (*s == '/' || (norm = path_normalize(s)) == NULL) {
				ctx_error_value(ctx, v, "'%s' must be a "
				    "relative path inside the repository, not "
				    "'%s'", o->key, s);
				return;
			}
			if (*norm == '\0') {
				free(norm);
				norm = xstrdup(".");
			}
			*(char **)p = norm;
		} else if (o->type == OPT_PATH)
			*(char **)p = path_resolve(ctx->dir, s);
		else
			*(char **)p = xstrdup(s);
		break;
	case OPT_DURATION:
		opt_set_duration(ctx, o, v, p);
		break;
	case OPT_BOOL:
		if (json_type(v) != JSON_TRUE && json_type(v) != JSON_FALSE) {
			ctx_error_value(ctx, v, "'%s' must be a boolean, "
			    "not %s", o->key, json_type_phrase(v));
			return;
		}
		*(int *)p = json_is_true(v);
		break;
	case OPT_INTEGER:
		opt_set_integer(ctx, o, v, p);
		break;
	case OPT_STRINGS:
		opt_set_strings(ctx, o, v, p);
		break;
	case OPT_ENUM:
		opt_set_enum(ctx, o, v, p);
		break;
	case OPT_LIST:
		opt_set_list(ctx, o, v, base);
		break;
	case OPT_MAPPING:
		if (json_type(v) != JSON_OBJECT) {
			ctx_error_value(ctx, v, "'%s' must be a mapping, "
			    "not %s", o->key, json_type_phrase(v));
			return;
		}
		parse_section(ctx, o->sub, v, p);
		break;
	}
}

/* A default is YAML text, parsed like the file so both agree. */
static void
opt_default(struct config_ctx *ctx, const struct opt *o, void *base)
{
	struct yaml_file	*yf = NULL;
	char			*cause = NULL;

	if (yaml_parse(o->key, o->def, strlen(o->def), 0, &yf, &cause) == -1)
		fatalx("default of '%s': %s", o->key, cause);
	if (yf->ndocs != 1)
		fatalx("default of '%s' is not one value", o->key);
	ctx->in_default = o;
	opt_set(ctx, o, yf->docs[0].root, base);
	ctx->in_default = NULL;
	yaml_file_free(yf);
}

static void
parse_section(struct config_ctx *ctx, enum opt_section section,
    const struct json *node, void *base)
{
	const struct section	*sec = &sections[section];
	const char		*keys[NOPTS];
	const struct opt	*o;
	struct json		*m, *v;
	size_t			 i, nkeys = 0;
	char			*hint;
	int			 line, column;

	for (i = 0; i < NOPTS; i++) {
		if (opts[i].section == section)
			keys[nkeys++] = opts[i].key;
	}
	for (m = json_child(node); m != NULL; m = json_next(m)) {
		if (opt_find(section, json_key(m)) != NULL)
			continue;
		hint = suggestion_text(json_key(m), keys, nkeys);
		ctx_error(ctx, m, "unknown key '%s'%s", json_key(m), hint);
		free(hint);
	}
	for (i = 0; i < NOPTS; i++) {
		o = &opts[i];
		if (o->section != section)
			continue;
		if ((v = json_get(node, o->key)) != NULL)
			opt_set(ctx, o, v, base);
		else if (o->flags & OPT_REQUIRED)
			ctx_error(ctx, node, "missing required key '%s'",
			    o->key);
		else if (o->def != NULL)
			opt_default(ctx, o, base);
	}
	if (sec->has_position) {
		node_position(ctx, node, &line, &column);
		*(int *)((char *)base + sec->line_offset) = line;
		*(int *)((char *)base + sec->column_offset) = column;
	}
}

/* Free what the table says a section's fields own. */
static void
section_free(enum opt_section section, void *base)
{
	const struct opt	*o;
	char			*p, *elems;
	size_t			 i, j, n;

	for (i = 0; i < NOPTS; i++) {
		o = &opts[i];
		if (o->section != section)
			continue;
		p = (char *)base + o->offset;
		switch (o->type) {
		case OPT_STRING:
		case OPT_PATH:
		case OPT_REPO_PATH:
		case OPT_ADDRESS:
			free(*(char **)p);
			*(char **)p = NULL;
			break;
		case OPT_STRINGS:
			strv_free((struct strv *)p);
			break;
		case OPT_LIST:
			memcpy(&elems, p, sizeof elems);
			memcpy(&n, (char *)base + o->count_offset, sizeof n);
			for (j = 0; j < n; j++)
				section_free(o->sub,
				    elems + j * sections[o->sub].size);
			free(elems);
			break;
		case OPT_MAPPING:
			section_free(o->sub, p);
			break;
		case OPT_DURATION:
		case OPT_BOOL:
		case OPT_INTEGER:
		case OPT_ENUM:
			break;
		}
	}
	if (section == SECTION_TARGET) {
		/* Not options: check_target and config_check set them. */
		free(((struct config_app *)base)->target.lock_file);
		((struct config_app *)base)->target.lock_file = NULL;
		free(((struct config_app *)base)->target.digest_key);
		((struct config_app *)base)->target.digest_key = NULL;
		health_rules_free(((struct config_app *)base)->
		    target.health_rules,
		    ((struct config_app *)base)->target.nhealth_rules);
		((struct config_app *)base)->target.health_rules = NULL;
		((struct config_app *)base)->target.nhealth_rules = 0;
	}
}

void
config_target_copy(struct config_target *dst, const struct config_target *src)
{
	*dst = *src;
	dst->path = src->path != NULL ? xstrdup(src->path) : NULL;
	dst->kubeconfig = src->kubeconfig != NULL ? xstrdup(src->kubeconfig) :
	    NULL;
	dst->context = src->context != NULL ? xstrdup(src->context) : NULL;
	dst->namespace = src->namespace != NULL ? xstrdup(src->namespace) :
	    NULL;
	dst->field_manager = src->field_manager != NULL ?
	    xstrdup(src->field_manager) : NULL;
	dst->lock_file = src->lock_file != NULL ? xstrdup(src->lock_file) :
	    NULL;
	dst->owner = src->owner != NULL ? xstrdup(src->owner) : NULL;
	dst->digest_key = src->digest_key != NULL ?
	    xstrdup(src->digest_key) : NULL;
	health_rules_copy(&dst->health_rules, &dst->nhealth_rules,
	    src->health_rules, src->nhealth_rules);
}

void
config_target_clear(struct config_target *ct)
{
	free(ct->path);
	free(ct->kubeconfig);
	free(ct->context);
	free(ct->namespace);
	free(ct->field_manager);
	free(ct->lock_file);
	free(ct->owner);
	free(ct->digest_key);
	health_rules_free(ct->health_rules, ct->nhealth_rules);
	memset(ct, 0, sizeof *ct);
}

static const char *
opt_label(const char *what, const char *name, char *out, size_t len)
{
	if (name != NULL)
		snprintf(out, len, "%s '%s'", what, name);
	else
		snprintf(out, len, "%s", what);
	return (out);
}

/* verify_commits names keys, of a Git repository, in files that hold some. */
static void
check_verify(struct config_ctx *ctx, const struct config_repository *r,
    const struct json *node, const char *label)
{
	const struct config_verify	*v = &r->verify_commits;
	char				*cause = NULL;

	if (json_type(node) != JSON_OBJECT)
		return;
	if (v->allowed_signers == NULL && v->keyring == NULL) {
		/* Otherwise a key was misspelt or bad, and said so. */
		if (json_count(node) == 0)
			ctx_error(ctx, node, "%s: 'verify_commits' needs "
			    "'allowed_signers' (SSH) or 'keyring' (OpenPGP)",
			    label);
		return;
	}
	if (r->directory != NULL)
		ctx_error(ctx, node, "%s verifies commits, but a 'directory' "
		    "has none", label);
	else if (verify_check_files(v, &cause) == -1) {
		ctx_error(ctx, node, "%s: verify_commits: %s", label, cause);
		free(cause);
	}
}

static void
check_repositories(struct config_ctx *ctx, struct config *cfg,
    const struct json *list, struct strmap *names)
{
	/* Secrets that come from a file or a variable, never both. */
	static const char *const	 secrets[][2] = {
		{ "webhook_secret_file", "webhook_secret_env" },
		{ "token_file", "token_env" },
	};
	struct config_repository	*r;
	struct json			*item, *url, *dir, *file, *env, *first;
	char				 label[128];
	size_t				 i, k;
	int				 line, column;

	for (i = 0; i < cfg->nrepositories; i++) {
		r = &cfg->repositories[i];
		item = json_array_get(list, i);
		if (json_type(item) != JSON_OBJECT)
			continue;
		opt_label("repository", r->name, label, sizeof label);
		url = json_get(item, "url");
		dir = json_get(item, "directory");
		if (url != NULL && dir != NULL)
			ctx_error(ctx, dir, "%s sets both 'url' and "
			    "'directory': choose one", label);
		else if (url == NULL && dir == NULL)
			ctx_error(ctx, item, "%s needs 'url' (a Git remote) or "
			    "'directory' (a local directory)", label);
		for (k = 0; k < sizeof secrets / sizeof secrets[0]; k++) {
			file = json_get(item, secrets[k][0]);
			env = json_get(item, secrets[k][1]);
			if (file != NULL && env != NULL)
				ctx_error(ctx, env, "%s sets both '%s' and "
				    "'%s': choose one", label, secrets[k][0],
				    secrets[k][1]);
		}
		if (r->url != NULL && git_url_is_ssh(r->url) &&
		    (r->ssh_key_file == NULL || (r->ssh_known_hosts_file ==
		    NULL && r->ssh_host_key == NULL)))
			ctx_error(ctx, url, "%s is an SSH remote: it needs "
			    "'ssh_key_file', and 'ssh_known_hosts_file' or "
			    "'ssh_host_key' (a host key is never taken on "
			    "trust)", label);
		if (r->url != NULL && !git_url_is_ssh(r->url) &&
		    (r->ssh_key_file != NULL || r->ssh_host_key != NULL ||
		    r->ssh_known_hosts_file != NULL))
			ctx_error(ctx, item, "%s sets SSH options, but its url "
			    "is not an SSH remote", label);
		if (dir != NULL && (json_get(item, "token_file") != NULL ||
		    json_get(item, "token_env") != NULL))
			ctx_error(ctx, item, "%s sets a token, but a "
			    "'directory' has no remote to send it to", label);
		check_verify(ctx, r, json_get(item, "verify_commits"), label);
		if (r->name == NULL)
			continue;
		if ((first = strmap_get(names, r->name)) != NULL) {
			value_position(ctx, first, &line, &column);
			ctx_error_value(ctx, json_get(item, "name"),
			    "duplicate repository name '%s', first declared "
			    "at line %d column %d", r->name, line, column);
		} else
			strmap_put(names, r->name, json_get(item, "name"));
	}
}

static void
check_reference(struct config_ctx *ctx, const struct json *node,
    const char *what, const char *name, struct strmap *names)
{
	const char	**candidates;
	const char	 *key;
	char		 *hint;
	size_t		  cursor = 0, n = 0;

	if (strmap_get(names, name) != NULL)
		return;
	candidates = xcalloc(strmap_count(names) + 1, sizeof *candidates);
	while (strmap_next(names, &cursor, &key, NULL))
		candidates[n++] = key;
	hint = suggestion_text(name, candidates, n);
	ctx_error_value(ctx, node, "unknown %s '%s'%s", what, name, hint);
	free(hint);
	free(candidates);
}

/* Each probe has what its type needs, and nothing another type's. */
static void
check_probes(struct config_ctx *ctx, const struct json *list,
    const struct probe *v, size_t n, const char *what, const char *app)
{
	static const struct {
		enum probe_type	 type;
		const char	*need[4];
		const char	*only[8];
	} rules[] = {
		{ PROBE_HTTP, { "url", NULL },
		  { "expect_status", "successes", "failures", "ca_file",
		    NULL } },
		{ PROBE_COMMAND, { "command", NULL }, { NULL } },
		{ PROBE_PROMETHEUS, { "url", "query", "condition", NULL },
		  { "count", "failure_limit", "ca_file", NULL } },
	};
	static const char *const all_only[] = { "expect_status", "successes",
	    "failures", "query", "condition", "count", "failure_limit",
	    "command", "ca_file", NULL };
	struct json	*item;
	size_t		 i, k, r;
	int		 found;

	for (i = 0; i < n; i++) {
		item = json_array_get(list, i);
		if (json_type(item) != JSON_OBJECT)
			continue;
		for (r = 0; r < sizeof rules / sizeof rules[0]; r++) {
			if (rules[r].type == v[i].type)
				break;
		}
		if (r == sizeof rules / sizeof rules[0])
			continue;
		for (k = 0; rules[r].need[k] != NULL; k++) {
			if (json_get(item, rules[r].need[k]) == NULL)
				ctx_error(ctx, item, "app '%s': a %s probe in "
				    "'%s' needs '%s'", app,
				    probe_type_name(v[i].type), what,
				    rules[r].need[k]);
		}
		for (k = 0; all_only[k] != NULL; k++) {
			size_t	j;

			if (json_get(item, all_only[k]) == NULL)
				continue;
			found = 0;
			for (j = 0; rules[r].only[j] != NULL; j++)
				found |= strcmp(rules[r].only[j],
				    all_only[k]) == 0;
			for (j = 0; rules[r].need[j] != NULL; j++)
				found |= strcmp(rules[r].need[j],
				    all_only[k]) == 0;
			if (!found)
				ctx_error(ctx, json_get(item, all_only[k]),
				    "app '%s': '%s' does not apply to a %s "
				    "probe", app, all_only[k],
				    probe_type_name(v[i].type));
		}
		if (v[i].url != NULL && strncmp(v[i].url, "http://", 7) != 0 &&
		    strncmp(v[i].url, "https://", 8) != 0)
			ctx_error_value(ctx, json_get(item, "url"), "app '%s': "
			    "probe URL '%s' must be http:// or https://", app,
			    v[i].url);
		if (v[i].type == PROBE_COMMAND && v[i].argv.n == 0 &&
		    json_get(item, "command") != NULL)
			ctx_error(ctx, json_get(item, "command"), "app '%s': "
			    "an empty command", app);
	}
}

/*
 * The keys of a target that its type uses: path for a directory, the
 * rest for kubernetes. A kubernetes target gets its lock file under
 * state_dir, named by its app's lock key.
 */
static void
check_target(struct config_ctx *ctx, const struct config *cfg,
    const char *app, struct config_target *ct, const struct json *node)
{
	const struct opt	*o;
	const struct json	*m;
	const char		*type = target_type_names[ct->type];
	char			*key, hex[65];
	int			 dir = ct->type == TARGET_DIRECTORY;

	if (json_type(node) != JSON_OBJECT)
		return;
	for (m = json_child(node); m != NULL; m = json_next(m)) {
		if ((o = opt_find(SECTION_TARGET, json_key(m))) == NULL ||
		    strcmp(o->key, "type") == 0)
			continue;
		if ((strcmp(o->key, "path") == 0) != dir)
			ctx_error(ctx, m, "'%s' is not a key of a %s target",
			    o->key, type);
	}
	if (dir && json_get(node, "path") == NULL)
		ctx_error(ctx, node, "missing required key 'path' (the "
		    "directory target's folder)");
	if (dir)
		return;
	if (ct->in_cluster && json_get(node, "kubeconfig") != NULL)
		ctx_error(ctx, json_get(node, "kubeconfig"), "a target with "
		    "'in_cluster: true' reads no kubeconfig: choose one");
	if (cfg->state_dir == NULL || app == NULL)
		return;
	key = target_lock_key(ct, app);
	sha256_hex(key, strlen(key), hex);
	free(key);
	free(ct->lock_file);
	xasprintf(&ct->lock_file, "%s/locks/kubernetes-%.16s.lock",
	    cfg->state_dir, hex);
	free(ct->digest_key);
	xasprintf(&ct->digest_key, "%s/kube-digest.key", cfg->state_dir);
}

/*
 * A URL without what a user may have put before the host (a token in
 * https://user:TOKEN@host/...): the owner is shown in the cluster.
 */
static char *
owner_url(const char *url)
{
	const char	*scheme, *at, *host;
	char		*s;

	if ((scheme = strstr(url, "://")) == NULL)
		return (xstrdup(url));
	host = scheme + 3;
	at = memchr(host, '@', strcspn(host, "/"));
	if (at == NULL)
		return (xstrdup(url));
	xasprintf(&s, "%.*s%s", (int)(host - url), url, at + 1);
	return (s);
}

/*
 * A kubernetes app's default owner: where its manifests come from (the
 * repository's URL, or its directory) and the app's path there, so that
 * two agents or two configurations that give one app name to different
 * manifests never share an inventory.
 */
static void
check_owner(struct config *cfg, struct config_app *a)
{
	const struct config_repository	*r;
	char				*real = NULL;
	size_t				 i;

	if (a->target.type != TARGET_KUBERNETES || a->target.owner != NULL ||
	    a->repository == NULL)
		return;
	for (i = 0; i < cfg->nrepositories; i++) {
		r = &cfg->repositories[i];
		if (r->name == NULL || strcmp(r->name, a->repository) != 0)
			continue;
		/* Two configurations' "directory: ." are not one place. */
		if (r->url != NULL)
			real = owner_url(r->url);
		else if (r->directory != NULL)
			real = realpath(r->directory, NULL);
		xasprintf(&a->target.owner, "%s#%s", real != NULL ? real :
		    r->directory != NULL ? r->directory : r->name,
		    a->path != NULL ? a->path : "");
		free(real);
		return;
	}
}

static void
check_apps(struct config_ctx *ctx, struct config *cfg,
    const struct json *list, struct strmap *repos)
{
	struct config_app	*a;
	struct strmap		*names;
	struct json		*item, *first, *deps, *dep;
	const char		*s;
	size_t			 i;
	int			 line, column;

	names = strmap_new(cfg->napps);
	for (i = 0; i < cfg->napps; i++) {
		a = &cfg->apps[i];
		item = json_array_get(list, i);
		if (json_type(item) == JSON_OBJECT)
			check_target(ctx, cfg, a->name, &a->target,
			    json_get(item, "target"));
		if (a->name != NULL && json_type(item) == JSON_OBJECT) {
			check_probes(ctx, json_get(item, "health"), a->health,
			    a->nhealth, "health", a->name);
			check_probes(ctx, json_get(item, "analysis"),
			    a->analysis, a->nanalysis, "analysis", a->name);
		}
	}
	for (i = 0; i < cfg->napps; i++) {
		a = &cfg->apps[i];
		item = json_array_get(list, i);
		if (a->name == NULL || json_type(item) != JSON_OBJECT)
			continue;
		if ((first = strmap_get(names, a->name)) != NULL) {
			value_position(ctx, first, &line, &column);
			ctx_error_value(ctx, json_get(item, "name"),
			    "duplicate app name '%s', first declared at line "
			    "%d column %d", a->name, line, column);
		} else
			strmap_put(names, a->name, json_get(item, "name"));
	}
	for (i = 0; i < cfg->napps; i++) {
		a = &cfg->apps[i];
		item = json_array_get(list, i);
		if (json_type(item) != JSON_OBJECT)
			continue;
		if (a->repository != NULL)
			check_reference(ctx, json_get(item, "repository"),
			    "repository", a->repository, repos);
		check_owner(cfg, a);
		deps = json_get(item, "depends_on");
		if (json_type(deps) != JSON_ARRAY)
			continue;
		for (dep = json_child(deps); dep != NULL;
		    dep = json_next(dep)) {
			if ((s = json_string(dep)) == NULL || *s == '\0')
				continue;
			if (a->name != NULL && strcmp(s, a->name) == 0)
				ctx_error_value(ctx, dep, "app '%s' depends on "
				    "itself", s);
			else
				check_reference(ctx, dep, "app", s, names);
		}
	}
	strmap_free(names);
}

/*
 * A pinned shard must exist, and means nothing without coordination; an
 * app without one is -1 (its shard is a hash of its name, lease.c).
 */
static void
check_coordination(struct config_ctx *ctx, struct config *cfg,
    const struct json *root)
{
	struct config_coordination	*co = &cfg->coordination;
	struct json			*node, *item, *v;
	size_t				 i;

	node = json_get(root, "coordination");
	co->enabled = json_type(node) == JSON_OBJECT;
	if (co->in_cluster && json_get(node, "kubeconfig") != NULL)
		ctx_error(ctx, json_get(node, "kubeconfig"), "coordination "
		    "with 'in_cluster: true' reads no kubeconfig: choose one");
	for (i = 0; i < cfg->napps; i++) {
		item = json_array_get(json_get(root, "apps"), i);
		if ((v = json_get(item, "shard")) == NULL) {
			cfg->apps[i].shard = -1;
			continue;
		}
		if (!co->enabled)
			ctx_error(ctx, v, "app '%s' is pinned to a shard but "
			    "the configuration has no 'coordination'",
			    cfg->apps[i].name != NULL ? cfg->apps[i].name :
			    "");
		else if (cfg->apps[i].shard >= co->shards)
			ctx_error_value(ctx, v, "app '%s' is pinned to shard "
			    "%d, but shards are numbered 0 to %d",
			    cfg->apps[i].name != NULL ? cfg->apps[i].name :
			    "", cfg->apps[i].shard, co->shards - 1);
	}
}

static void
config_check(struct config_ctx *ctx, struct config *cfg,
    const struct json *root)
{
	struct strmap	*repos;
	struct json	*versions;
	size_t		 i;

	if ((cfg->tls_cert_file == NULL) != (cfg->tls_key_file == NULL))
		ctx_error(ctx, json_get(root, cfg->tls_cert_file == NULL ?
		    "tls_key_file" : "tls_cert_file"), "TLS needs both "
		    "'tls_cert_file' and 'tls_key_file'");
	if (json_get(root, "api_token_file") != NULL &&
	    json_get(root, "api_token_env") != NULL)
		ctx_error(ctx, json_get(root, "api_token_env"), "the "
		    "configuration sets both 'api_token_file' and "
		    "'api_token_env': choose one");
	repos = strmap_new(cfg->nrepositories);
	check_repositories(ctx, cfg, json_get(root, "repositories"), repos);
	check_apps(ctx, cfg, json_get(root, "apps"), repos);
	/* Rules with errors (a rule without its kind) are never copied. */
	for (i = 0; ctx->nerrors == 0 && i < cfg->napps; i++) {
		if (cfg->apps[i].target.type == TARGET_KUBERNETES)
			health_rules_copy(&cfg->apps[i].target.health_rules,
			    &cfg->apps[i].target.nhealth_rules,
			    cfg->health_rules, cfg->nhealth_rules);
	}
	check_coordination(ctx, cfg, root);
	versions = json_get(root, "versions");
	if (cfg->versions.repository != NULL) {
		const struct config_repository *vr;

		check_reference(ctx, json_get(versions, "repository"),
		    "repository", cfg->versions.repository, repos);
		vr = config_find_repository(cfg, cfg->versions.repository);
		if (vr != NULL && vr->url != NULL && git_url_is_local(vr->url))
			ctx_error_value(ctx, json_get(versions, "repository"),
			    "versions are pushed to repository '%s', whose url "
			    "'%s' is a local path: pushes there have no "
			    "compare-and-swap and lose updates; serve it with "
			    "git daemon, git http-backend or SSH", vr->name,
			    vr->url);
	}
	strmap_free(repos);
}

struct config *
config_parse(const char *name, const char *data, size_t len, char **cause)
{
	struct config_ctx	 ctx;
	struct config		*cfg = NULL;
	struct json		*root, *empty = NULL;
	size_t			 i;

	memset(&ctx, 0, sizeof ctx);
	ctx.name = name;
	ctx.dir = dir_of(name);
	if (yaml_parse(name, data, len, YAML_ALLOW_EMPTY, &ctx.yf,
	    cause) == -1)
		goto fail;
	if (ctx.yf->ndocs == 0)
		root = empty = json_new_object();
	else
		root = ctx.yf->docs[0].root;
	if (ctx.yf->ndocs > 1)
		ctx_error_at(&ctx, ctx.yf->docs[1].line,
		    ctx.yf->docs[1].column, "a configuration file holds one "
		    "document, not %zu", ctx.yf->ndocs);
	else if (json_type(root) != JSON_OBJECT)
		ctx_error_at(&ctx, ctx.yf->docs[0].line,
		    ctx.yf->docs[0].column, "the configuration must be a "
		    "mapping, not %s", json_type_phrase(root));
	else {
		cfg = xcalloc(1, sizeof *cfg);
		cfg->file = xstrdup(name);
		parse_section(&ctx, SECTION_TOP, root, cfg);
		config_check(&ctx, cfg, root);
	}
	if (ctx.nerrors != 0) {
		*cause = ctx_errors_join(&ctx);
		config_free(cfg);
		cfg = NULL;
	}
fail:
	for (i = 0; i < ctx.nerrors; i++)
		free(ctx.errors[i].msg);
	free(ctx.errors);
	json_free(empty);
	yaml_file_free(ctx.yf);
	free(ctx.dir);
	return (cfg);
}

struct config *
config_load(const char *path, char **cause)
{
	struct config	*cfg;
	char		*data = NULL;
	size_t		 len;

	if (file_read(path, YAML_MAX_FILE_SIZE, &data, &len, cause) == -1)
		return (NULL);
	cfg = config_parse(path, data, len, cause);
	free(data);
	return (cfg);
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	section_free(SECTION_TOP, cfg);
	free(cfg->file);
	free(cfg);
}

const struct config_app *
config_find_app(const struct config *cfg, const char *name)
{
	size_t	i;

	for (i = 0; i < cfg->napps; i++) {
		if (cfg->apps[i].name != NULL &&
		    strcmp(cfg->apps[i].name, name) == 0)
			return (&cfg->apps[i]);
	}
	return (NULL);
}

const struct config_repository *
config_find_repository(const struct config *cfg, const char *name)
{
	size_t	i;

	for (i = 0; i < cfg->nrepositories; i++) {
		if (cfg->repositories[i].name != NULL &&
		    strcmp(cfg->repositories[i].name, name) == 0)
			return (&cfg->repositories[i]);
	}
	return (NULL);
}

static void
reference_type(struct buf *b, const struct opt *o)
{
	size_t	i;

	switch (o->type) {
	case OPT_STRING:
		buf_adds(b, "string");
		break;
	case OPT_PATH:
		buf_adds(b, "path (relative to the file's directory)");
		break;
	case OPT_REPO_PATH:
		buf_adds(b, "path in the repository");
		break;
	case OPT_DURATION:
		buf_adds(b, "duration");
		break;
	case OPT_BOOL:
		buf_adds(b, "boolean");
		break;
	case OPT_INTEGER:
		buf_adds(b, "integer");
		break;
	case OPT_STRINGS:
		buf_adds(b, "list of strings");
		break;
	case OPT_ENUM:
		buf_adds(b, "one of");
		for (i = 0; o->values[i] != NULL; i++)
			buf_printf(b, "%s `%s`", i == 0 ? "" : ",",
			    o->values[i]);
		break;
	case OPT_ADDRESS:
		buf_adds(b, "address (host:port)");
		break;
	case OPT_LIST:
		buf_printf(b, "list of `%s`", sections[o->sub].title);
		break;
	case OPT_MAPPING:
		buf_printf(b, "mapping `%s`", sections[o->sub].title);
		break;
	}
	if (o->min != NULL && o->max != NULL)
		buf_printf(b, ", %s to %s", o->min, o->max);
	else if (o->min != NULL)
		buf_printf(b, ", at least %s", o->min);
	else if (o->max != NULL)
		buf_printf(b, ", at most %s", o->max);
}

/*
 * Every option, section by section in the table's order, handed to fn:
 * the one walk of the table that the README's reference and the man page
 * are printed from.
 */
void
config_reference_walk(void (*fn)(const struct config_ref *, void *),
    void *arg)
{
	struct config_ref	 r;
	struct buf		 type;
	const struct opt	*o;
	size_t			 s, i;

	buf_init(&type);
	for (s = 0; s < SECTION_COUNT; s++) {
		r.first = 1;
		for (i = 0; i < NOPTS; i++) {
			o = &opts[i];
			if (o->section != s)
				continue;
			type.len = 0;
			reference_type(&type, o);
			buf_addc(&type, '\0');
			r.section = sections[s].title;
			r.top = s == SECTION_TOP;
			r.key = o->key;
			r.type = type.data;
			r.def = o->def;
			r.required = (o->flags & OPT_REQUIRED) != 0;
			r.desc = o->desc;
			fn(&r, arg);
			r.first = 0;
		}
	}
	buf_free(&type);
}

static void
reference_markdown_cb(const struct config_ref *r, void *arg)
{
	FILE	*f = arg;

	if (r->first) {
		if (r->top)
			fprintf(f, "### %s\n\n", r->section);
		else
			fprintf(f, "\n### `%s`\n\n", r->section);
		fputs("| key | type | default | description |\n", f);
		fputs("|-----|------|---------|-------------|\n", f);
	}
	fprintf(f, "| `%s` | %s", r->key, r->type);
	if (r->required)
		fputs(" | required", f);
	else if (r->def != NULL)
		fprintf(f, " | `%s`", r->def);
	else
		fputs(" | ", f);
	fprintf(f, " | %s |\n", r->desc);
}

void
config_print_reference(FILE *f)
{
	config_reference_walk(reference_markdown_cb, f);
}

/* One secret of check's list: readable and not empty, then wiped. */
static void
config_check_secret(const char *what, const char *file, const char *env,
    char **cause)
{
	char	*value = NULL, *err = NULL;
	size_t	 len;

	if (file == NULL && env == NULL)
		return;
	if (config_read_secret(file, env, &value, &len, &err) == -1) {
		cause_append(cause, "%s: %s", what, err);
		free(err);
		return;
	}
	explicit_bzero(value, len);
	free(value);
}

/* A file check reads as serve will: there, not empty; a key private. */
/* A secret others may read: said once, where it is read. */
static void
config_warn_open(const char *file, const struct stat *st)
{
	char	mode[8];

	if ((st->st_mode & (S_IRWXG | S_IRWXO)) == 0)
		return;
	snprintf(mode, sizeof mode, "%04o", (unsigned int)(st->st_mode & 07777));
	log_event(LOG_LEVEL_WARN, "secret file is open to group or others; "
	    "chmod 600 it", "file", file, "mode", mode, NULL);
}

static void
config_check_file(const char *what, const char *file, int secret,
    char **cause)
{
	struct stat	st;

	if (file == NULL)
		return;
	if (stat(file, &st) == -1)
		cause_append(cause, "%s '%s': %s", what, file,
		    strerror(errno));
	else if (st.st_size == 0)
		cause_append(cause, "%s '%s' is empty", what, file);
	else if (secret)
		config_warn_open(file, &st);
}

int
config_check_secrets(const struct config *cfg, char **cause)
{
	const struct config_repository	*r;
	char				*what;
	size_t				 i;

	*cause = NULL;
	config_check_secret("api_token", cfg->api_token_file,
	    cfg->api_token_env, cause);
	config_check_file("tls_cert_file", cfg->tls_cert_file, 0, cause);
	config_check_file("tls_key_file", cfg->tls_key_file, 1, cause);
	for (i = 0; i < cfg->nrepositories; i++) {
		r = &cfg->repositories[i];
		xasprintf(&what, "repository '%s': webhook secret", r->name);
		config_check_secret(what, r->webhook_secret_file,
		    r->webhook_secret_env, cause);
		free(what);
		xasprintf(&what, "repository '%s': token", r->name);
		config_check_secret(what, r->token_file, r->token_env, cause);
		free(what);
		xasprintf(&what, "repository '%s': ssh_key_file", r->name);
		config_check_file(what, r->ssh_key_file, 1, cause);
		free(what);
	}
	return (*cause == NULL ? 0 : -1);
}

int
config_read_secret(const char *file, const char *env, char **out,
    size_t *outlen, char **cause)
{
	struct stat	 st;
	const char	*value;
	char		*data = NULL;
	size_t		 len = 0;

	*out = NULL;
	*outlen = 0;
	if ((file == NULL) == (env == NULL)) {
		xasprintf(cause, "a secret comes from exactly one of a file or "
		    "an environment variable");
		return (-1);
	}
	if (env != NULL) {
		if ((value = getenv(env)) == NULL) {
			xasprintf(cause, "environment variable '%s' is not set",
			    env);
			return (-1);
		}
		if (*value == '\0') {
			xasprintf(cause, "environment variable '%s' is empty",
			    env);
			return (-1);
		}
		*outlen = strlen(value);
		*out = xstrdup(value);
		return (0);
	}
	if (stat(file, &st) == 0)
		config_warn_open(file, &st);
	if (file_read(file, CONFIG_SECRET_MAX, &data, &len, cause) == -1)
		return (-1);
	if (len > 0 && data[len - 1] == '\n') {
		data[--len] = '\0';
		if (len > 0 && data[len - 1] == '\r')
			data[--len] = '\0';
	}
	if (len == 0) {
		free(data);
		xasprintf(cause, "secret file '%s' is empty", file);
		return (-1);
	}
	/* No line holds a secret (serve would refuse it: say it now). */
	if (strspn(data, " \t\r\n") == len) {
		explicit_bzero(data, len);
		free(data);
		xasprintf(cause, "secret file '%s' holds no secret: only "
		    "blank lines", file);
		return (-1);
	}
	*out = data;
	*outlen = len;
	return (0);
}

int
config_repository_creds(const struct config_repository *repo,
    struct git_creds *creds, char **cause)
{
	size_t	 len;
	char	*err = NULL;

	memset(creds, 0, sizeof *creds);
	creds->ssh_key_file = repo->ssh_key_file;
	creds->ssh_known_hosts_file = repo->ssh_known_hosts_file;
	creds->ssh_host_key = repo->ssh_host_key;
	if (repo->token_file == NULL && repo->token_env == NULL)
		return (0);
	if (config_read_secret(repo->token_file, repo->token_env,
	    &creds->https_token, &len, &err) == -1) {
		xasprintf(cause, "repository '%s': cannot read its token: %s",
		    repo->name, err);
		free(err);
		return (-1);
	}
	if (strpbrk(creds->https_token, "\r\n") != NULL ||
	    strlen(creds->https_token) != len) {
		xasprintf(cause, "repository '%s': its token holds a line "
		    "break or a NUL byte: not a token", repo->name);
		freezero_string(creds->https_token);
		creds->https_token = NULL;
		return (-1);
	}
	return (0);
}
