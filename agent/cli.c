/*
 * cli.c: the one-shot subcommands: check, validate, plan, diff, sync and
 * config-reference. Each reads its input, does its work through the
 * gitops/ library in the main thread and exits; none of them starts the
 * daemon or listens on the network.
 *
 * Exit statuses: 0 success; 1 the input is invalid, a sync failed or
 * (for diff) there are differences; 2 usage or operational error (and
 * for diff, any error), as diff(1) and `kubectl diff` do.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

#define DEFAULT_SYNC_TIMEOUT_MS	(5 * 60 * 1000)

/* One app to work on, from the configuration or from --path/--target. */
struct cli_app {
	char			*name;
	struct source		*source;
	char			*path;		/* inside the source */
	struct config_target	 target;		/* path NULL: none given */
	char			*namespace;	/* default namespace or NULL */
	int			 prune;
	uint64_t		 timeout_ms;
	char			*revision;	/* commit id, for a Git app */
	const struct config_app	*app;		/* NULL in --path mode */
	const struct config	*cfg;		/* likewise */
};

/* Options shared by the subcommands; each takes the ones it needs. */
struct cli_opts {
	const char	*path;
	const char	*target;
	const char	*app_name;
	const char	*output;
	const char	*state_dir;
	const char	*revision;
	const char	*service;
	const char	*environment;
	const char	*version;
	const char	*image;
	const char	*tag;
	const char	*digest;
	const char	*commit;
	int		 force;
	char *const	*args;		/* the operands: apps named */
	int		 nargs;
	int		 dry_run;
	int		 prune;		/* -1: default */
	uint64_t	 timeout_ms;	/* 0: default */
	uint64_t	 wait_lock_ms;	/* sync: wait for a locked one */
	int		 no_external;
	int		 force_prune;	/* past a target's prune bound */
	int		 versions_only;	/* bump, rollback: no app needed */
};

enum {
	OPT_PATH = 256,
	OPT_TARGET,
	OPT_APP,
	OPT_OUTPUT,
	OPT_STATE_DIR,
	OPT_DRY_RUN,
	OPT_PRUNE,
	OPT_NO_PRUNE,
	OPT_TIMEOUT,
	OPT_NO_EXTERNAL,
	OPT_REVISION,
	OPT_SERVICE,
	OPT_ENVIRONMENT,
	OPT_VERSION,
	OPT_IMAGE,
	OPT_TAG,
	OPT_DIGEST,
	OPT_COMMIT,
	OPT_FORCE,
	OPT_FORCE_PRUNE,
	OPT_VERSIONS_ONLY,
	OPT_WAIT_LOCK,
};

static const struct option cli_long_options[] = {
	{ "path", required_argument, NULL, OPT_PATH },
	{ "target", required_argument, NULL, OPT_TARGET },
	{ "app", required_argument, NULL, OPT_APP },
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "prune", no_argument, NULL, OPT_PRUNE },
	{ "no-prune", no_argument, NULL, OPT_NO_PRUNE },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "no-external-renderer", no_argument, NULL, OPT_NO_EXTERNAL },
	{ "revision", required_argument, NULL, OPT_REVISION },
	{ "service", required_argument, NULL, OPT_SERVICE },
	{ "environment", required_argument, NULL, OPT_ENVIRONMENT },
	{ "version", required_argument, NULL, OPT_VERSION },
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "tag", required_argument, NULL, OPT_TAG },
	{ "digest", required_argument, NULL, OPT_DIGEST },
	{ "commit", required_argument, NULL, OPT_COMMIT },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "force-prune", no_argument, NULL, OPT_FORCE_PRUNE },
	{ "versions-only", no_argument, NULL, OPT_VERSIONS_ONLY },
	{ "wait-lock", required_argument, NULL, OPT_WAIT_LOCK },
	{ NULL, 0, NULL, 0 },
};

/* A duration option's value (optarg), more than zero. */
static int
cli_parse_duration(const char *cmd, const char *opt, uint64_t *ms)
{
	char	*cause = NULL;

	if (duration_parse(optarg, ms, &cause) == -1 || *ms == 0) {
		cli_usage_error(cmd, "%s: %s", opt, cause != NULL ? cause :
		    "must be more than zero");
		free(cause);
		return (-1);
	}
	return (0);
}

/*
 * Parse the options of a subcommand; main.c has checked that the command
 * takes them (the command table says which).
 */
static int
cli_parse_opts(int argc, char **argv, struct cli_opts *o)
{
	int	ch;

	memset(o, 0, sizeof *o);
	o->prune = -1;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "o:", cli_long_options,
	    NULL)) != -1) {
		if (ch == 'o')
			ch = OPT_OUTPUT;
		/* main.c checked them against the command table. */
		if (ch == '?' || ch == ':') {
			cli_usage_error(argv[0], "bad option '%s'",
			    argv[optind - 1]);
			return (-1);
		}
		switch (ch) {
		case OPT_PATH:
			o->path = optarg;
			break;
		case OPT_TARGET:
			o->target = optarg;
			break;
		case OPT_APP:
			o->app_name = optarg;
			break;
		case OPT_OUTPUT:
			o->output = optarg;
			break;
		case OPT_STATE_DIR:
			o->state_dir = optarg;
			break;
		case OPT_DRY_RUN:
			o->dry_run = 1;
			break;
		case OPT_PRUNE:
			o->prune = 1;
			break;
		case OPT_NO_PRUNE:
			o->prune = 0;
			break;
		case OPT_TIMEOUT:
		case OPT_WAIT_LOCK:
			if (cli_parse_duration(argv[0], ch == OPT_TIMEOUT ?
			    "--timeout" : "--wait-lock", ch == OPT_TIMEOUT ?
			    &o->timeout_ms : &o->wait_lock_ms) == -1)
				return (-1);
			break;
		case OPT_NO_EXTERNAL:
			o->no_external = 1;
			break;
		case OPT_REVISION:
			o->revision = optarg;
			break;
		case OPT_SERVICE:
			o->service = optarg;
			break;
		case OPT_ENVIRONMENT:
			o->environment = optarg;
			break;
		case OPT_VERSION:
			o->version = optarg;
			break;
		case OPT_IMAGE:
			o->image = optarg;
			break;
		case OPT_TAG:
			o->tag = optarg;
			break;
		case OPT_DIGEST:
			o->digest = optarg;
			break;
		case OPT_COMMIT:
			o->commit = optarg;
			break;
		case OPT_FORCE:
			o->force = 1;
			break;
		case OPT_FORCE_PRUNE:
			o->force_prune = 1;
			break;
		case OPT_VERSIONS_ONLY:
			o->versions_only = 1;
			break;
		}
	}
	o->args = argv + optind;
	o->nargs = argc - optind;
	return (0);
}

/* --output: table (or text) by default, json or yaml. */
static int
cli_check_output(const char *cmd, const char *output, enum cli_format *fmt)
{
	*fmt = CLI_FORMAT_TABLE;
	return (output == NULL ? 0 : cli_format_parse(cmd, output, fmt));
}

/* A document on stdout as --output asked; it takes j. */
static void
cli_print_doc(struct json *j, enum cli_format fmt)
{
	char	*text = cli_format_text(j, fmt);

	fputs(text, stdout);
	free(text);
	json_free(j);
}

/* Print every line of a multi-line cause on stderr. */
static void
cli_print_cause(const char *prefix, const char *cause)
{
	if (prefix != NULL)
		fprintf(stderr, "%s: %s\n", prefix, cause);
	else
		fprintf(stderr, "%s\n", cause);
}

static struct config *
cli_load_config(struct cli_env *env)
{
	struct config	*cfg;
	char		*cause = NULL;

	if ((cfg = config_load(env->config_file, &cause)) == NULL) {
		cli_print_cause(NULL, cause);
		free(cause);
		return (NULL);
	}
	return (cfg);
}

static void
cli_app_free(struct cli_app *a)
{
	if (a == NULL)
		return;
	free(a->name);
	source_free(a->source);
	free(a->path);
	config_target_clear(&a->target);
	free(a->namespace);
	free(a->revision);
	free(a);
}

/*
 * The source of a path given on the command line. Kustomizations may
 * reach up ("../../base"), so the source is rooted at "/"; this is the
 * user's own command, not input from a repository, so that is no escape.
 */
static struct cli_app *
cli_app_from_path(const struct cli_opts *o, char **cause)
{
	struct cli_app	*a;
	char		 abs[PATH_MAX], cwd[PATH_MAX], *base, *slash;

	if (o->revision != NULL) {
		xasprintf(cause, "--revision reads an app from its Git "
		    "repository: give APP, not --path");
		return (NULL);
	}
	if (realpath(o->path, abs) == NULL) {
		xasprintf(cause, "cannot read '%s': %s", o->path,
		    strerror(errno));
		return (NULL);
	}
	a = xcalloc(1, sizeof *a);
	if (getcwd(cwd, sizeof cwd) != NULL)
		a->source = source_dir_new_relative("/", cwd);
	else
		a->source = source_dir_new("/");
	a->path = xstrdup(abs[1] == '\0' ? "" : abs + 1);
	if (o->target != NULL)
		a->target.path = xstrdup(o->target);
	if (o->app_name != NULL)
		a->name = xstrdup(o->app_name);
	else if (o->target != NULL) {
		base = xstrdup(o->target);
		while ((slash = strrchr(base, '/')) != NULL &&
		    slash[1] == '\0' && slash != base)
			*slash = '\0';
		slash = strrchr(base, '/');
		a->name = xstrdup(slash != NULL ? slash + 1 : base);
		free(base);
	} else
		a->name = xstrdup("default");
	a->prune = o->prune != 0;
	a->timeout_ms = o->timeout_ms != 0 ? o->timeout_ms :
	    DEFAULT_SYNC_TIMEOUT_MS;
	return (a);
}

/*
 * Repositories fetched by this run: name -> commit id, or "!" and the
 * error when the fetch failed (freed at exit).
 */
static struct strmap	*cli_fetched;

static void
cli_fetched_free(void)
{
	size_t	 cursor = 0;
	void	*v;

	while (strmap_next(cli_fetched, &cursor, NULL, &v))
		free(v);
	strmap_free(cli_fetched);
	cli_fetched = NULL;
}

/*
 * The tree an app of a Git repository is read from: fetch the branch
 * into the repository's cache (within its deadline), then take the tip,
 * or revision when one is given. *commit is the commit id read.
 */
static struct source *
cli_git_source(const struct config *cfg,
    const struct config_repository *repo, const char *revision,
    char **commit, char **cause)
{
	char	*tip;

	*commit = NULL;
	/* One fetch per repository per run: its apps see one commit. */
	if (cli_fetched == NULL) {
		cli_fetched = strmap_new(8);
		atexit(cli_fetched_free);
	}
	if ((tip = strmap_get(cli_fetched, repo->name)) != NULL) {
		if (strncmp(tip, "!", 1) == 0) {
			/* It failed once this run: not again per app. */
			*cause = xstrdup(tip + 1);
			return (NULL);
		}
	} else {
		if (repo_fetch(cfg, repo, &tip, cause) == -1) {
			xasprintf(&tip, "!%s", *cause);
			strmap_put(cli_fetched, repo->name, tip);
			return (NULL);
		}
		log_event(LOG_LEVEL_INFO, "fetched", "repo", repo->name,
		    "branch", repo->branch, "commit", tip, NULL);
		strmap_put(cli_fetched, repo->name, tip);
	}
	return (repo_source(cfg, repo, revision != NULL ? revision : tip,
	    commit, cause));
}

static struct cli_app *
cli_app_from_config(const struct config *cfg, const char *name,
    const struct cli_opts *o, char **cause)
{
	const struct config_app		*app;
	const struct config_repository	*repo;
	struct cli_app			*a;

	if ((app = config_find_app(cfg, name)) == NULL) {
		xasprintf(cause, "unknown app '%s' in %s", name, cfg->file);
		return (NULL);
	}
	if ((repo = config_find_repository(cfg, app->repository)) == NULL) {
		xasprintf(cause, "app '%s': unknown repository '%s'", name,
		    app->repository);
		return (NULL);
	}
	a = xcalloc(1, sizeof *a);
	a->app = app;
	a->cfg = cfg;
	a->name = xstrdup(app->name);
	if (repo->directory != NULL) {
		if (o->revision != NULL) {
			xasprintf(cause, "app '%s': --revision needs a Git "
			    "repository, and '%s' is a directory", name,
			    repo->name);
			cli_app_free(a);
			return (NULL);
		}
		a->source = source_dir_new(repo->directory);
	} else if ((a->source = cli_git_source(cfg, repo, o->revision,
	    &a->revision, cause)) == NULL) {
		cli_app_free(a);
		return (NULL);
	}
	a->path = xstrdup(app->path);
	/* --target DIR: the app's resources go to that directory instead. */
	if (o->target != NULL)
		a->target.path = xstrdup(o->target);
	else
		config_target_copy(&a->target, &app->target);
	a->target.force_prune = o->force_prune;
	if (app->namespace != NULL)
		a->namespace = xstrdup(app->namespace);
	a->prune = o->prune == -1 ? app->prune : o->prune;
	a->timeout_ms = o->timeout_ms != 0 ? o->timeout_ms :
	    app->sync_timeout_ms;
	return (a);
}

/* Render an app; resources that declare no namespace keep none. */
static int
cli_render_path(struct cli_app *a, const struct cli_opts *o,
    struct resource_set **set, char **cause)
{
	struct render_opts	ro;

	memset(&ro, 0, sizeof ro);
	ro.default_namespace = a->namespace;
	ro.no_external = o->no_external;
	return (render_path(a->source, a->path, &ro, set, cause));
}

/*
 * Render an app as its sync would see it: the namespace of resources that
 * declare none is the app's, or its target's ("default" for --path with
 * no target, as a directory target's).
 */
static int
cli_render(struct cli_app *a, const struct cli_opts *o,
    struct resource_set **set, char **cause)
{
	struct target	*t;
	int		 rv;

	if (cli_render_path(a, o, set, cause) == -1)
		return (-1);
	if (a->target.path == NULL)
		return (resource_set_default_namespace(*set, "default",
		    cause));
	if ((t = target_open(a->name, &a->target, NULL, cause)) == NULL)
		return (-1);
	rv = resource_set_default_namespace(*set, t->namespace, cause);
	target_free(t);
	return (rv);
}

/*
 * The apps a command works on: --path mode gives one; otherwise the named
 * apps (or all) in dependency order.
 */
static int
cli_resolve_apps(struct cli_env *env, int argc, char **argv,
    const struct cli_opts *o, struct config **cfgp, struct strv *order)
{
	struct config	*cfg;
	struct strv	 names;
	char		*cause = NULL;
	int		 i;

	*cfgp = NULL;
	memset(order, 0, sizeof *order);
	if (o->path != NULL) {
		if (argc > optind) {
			return (cli_usage_error(argv[0], "give either APP or "
			    "--path, not both"));
		}
		strv_add(order, "");
		return (EXIT_OK);
	}
	if ((cfg = cli_load_config(env)) == NULL)
		return (EXIT_DIFFERENT);
	memset(&names, 0, sizeof names);
	for (i = optind; i < argc; i++)
		strv_add(&names, argv[i]);
	if (plan_app_order(cfg, &names, order, &cause) == -1) {
		cli_print_cause(NULL, cause);
		free(cause);
		strv_free(&names);
		config_free(cfg);
		return (EXIT_DIFFERENT);
	}
	strv_free(&names);
	*cfgp = cfg;
	return (EXIT_OK);
}

/* The app was named on the command line. */
static int
cli_named(const struct cli_opts *o, const char *name)
{
	int	i;

	for (i = 0; i < o->nargs; i++) {
		if (strcmp(o->args[i], name) == 0)
			return (1);
	}
	return (0);
}

static struct cli_app *
cli_app_get(const struct config *cfg, const char *name,
    const struct cli_opts *o, char **cause)
{
	struct cli_opts	 dep;

	if (cfg == NULL)
		return (cli_app_from_path(o, cause));
	if (o->revision != NULL && !cli_named(o, name)) {
		/*
		 * --revision is for the apps named; a dependency synced on
		 * the way is read at its own branch tip.
		 */
		dep = *o;
		dep.revision = NULL;
		return (cli_app_from_config(cfg, name, &dep, cause));
	}
	return (cli_app_from_config(cfg, name, o, cause));
}

/* The operands of a one-app command: APP, or none with --path. */
static int
cli_one_app(const char *cmd, const struct cli_opts *o)
{
	if (o->path != NULL && o->nargs > 0) {
		cli_usage_error(cmd, "give either APP or --path, not both");
		return (-1);
	}
	if (o->path == NULL && o->nargs == 0) {
		cli_usage_error(cmd, "missing APP (or --path DIR)");
		return (-1);
	}
	if (o->nargs > 1) {
		cli_usage_error(cmd, "one APP only ('%s' is one too many)",
		    o->args[1]);
		return (-1);
	}
	return (0);
}

int
cmd_check(struct cli_env *env, int argc, char **argv)
{
	struct cli_opts		 o;
	struct config		*cfg;
	struct strv		 order;
	char			*cause = NULL;

	if (cli_parse_opts(argc, argv, &o) == -1)
		return (EXIT_ERROR);
	if (argc > optind) {
		return (cli_usage_error(argv[0], "unexpected argument '%s'",
		    argv[optind]));
	}
	if ((cfg = cli_load_config(env)) == NULL)
		return (EXIT_DIFFERENT);
	memset(&order, 0, sizeof order);
	if (plan_app_order(cfg, NULL, &order, &cause) == -1) {
		cli_print_cause(NULL, cause);
		free(cause);
		config_free(cfg);
		return (EXIT_DIFFERENT);
	}
	strv_free(&order);
	if (config_check_secrets(cfg, &cause) == -1) {
		cli_print_cause(NULL, cause);
		free(cause);
		config_free(cfg);
		return (EXIT_DIFFERENT);
	}
	config_free(cfg);
	printf("configuration OK\n");
	return (EXIT_OK);
}

int
cmd_config_reference(struct cli_env *env, int argc, char **argv)
{
	config_print_reference(stdout);
	return (EXIT_OK);
}

int
cmd_validate(struct cli_env *env, int argc, char **argv)
{
	struct cli_opts		 o;
	struct config		*cfg;
	struct strv		 order;
	struct cli_app		*a;
	struct resource_set	*set;
	char			*cause;
	size_t			 i;
	int			 rc, failed = 0;

	if (cli_parse_opts(argc, argv, &o) == -1)
		return (EXIT_ERROR);
	if ((rc = cli_resolve_apps(env, argc, argv, &o, &cfg,
	    &order)) != EXIT_OK)
		return (rc);
	for (i = 0; i < order.n; i++) {
		cause = NULL;
		set = NULL;
		if ((a = cli_app_get(cfg, order.v[i], &o, &cause)) == NULL ||
		    cli_render(a, &o, &set, &cause) == -1) {
			cli_print_cause(NULL, cause);
			failed = 1;
		} else if (cfg != NULL)
			printf("%s: %zu resources OK\n", a->name, set->n);
		else
			printf("%zu resources OK\n", set->n);
		free(cause);
		resource_set_free(set);
		cli_app_free(a);
	}
	strv_free(&order);
	config_free(cfg);
	return (failed ? EXIT_DIFFERENT : EXIT_OK);
}

/*
 * The app a one-app command names (or --path's) rendered, raw: with no
 * namespace given to those that declare none. EXIT_OK and *cfgp, *ap and
 * *setp for the caller to free (also on failure), or an exit status.
 */
static int
cli_render_one(struct cli_env *env, char **argv, const struct cli_opts *o,
    int raw, struct config **cfgp, struct cli_app **ap,
    struct resource_set **setp)
{
	char	*cause = NULL;

	if (o->path == NULL && (*cfgp = cli_load_config(env)) == NULL)
		return (EXIT_DIFFERENT);
	if ((*ap = cli_app_get(*cfgp, argv[optind], o, &cause)) == NULL ||
	    (raw ? cli_render_path(*ap, o, setp, &cause) :
	    cli_render(*ap, o, setp, &cause)) == -1) {
		cli_print_cause(NULL, cause);
		free(cause);
		return (EXIT_DIFFERENT);
	}
	return (EXIT_OK);
}

/*
 * The render alone, as `kubectl kustomize` prints it: the documents of
 * one app in order, no namespace given to those that name none.
 */
int
cmd_render(struct cli_env *env, int argc, char **argv)
{
	struct cli_opts		 o;
	struct config		*cfg = NULL;
	struct cli_app		*a = NULL;
	struct resource_set	*set = NULL;
	char			*text;
	size_t			 i;
	int			 rc;

	if (cli_parse_opts(argc, argv, &o) == -1)
		return (EXIT_ERROR);
	if (cli_one_app(argv[0], &o) == -1)
		return (EXIT_ERROR);
	if ((rc = cli_render_one(env, argv, &o, 1, &cfg, &a, &set)) ==
	    EXIT_OK) {
		for (i = 0; i < set->n; i++) {
			text = yaml_emit(set->v[i]->obj);
			printf("%s%s", i != 0 ? "---\n" : "", text);
			free(text);
		}
	}
	resource_set_free(set);
	cli_app_free(a);
	config_free(cfg);
	return (rc);
}

int
cmd_plan(struct cli_env *env, int argc, char **argv)
{
	struct cli_opts		 o;
	struct config		*cfg = NULL;
	struct cli_app		*a = NULL;
	struct resource_set	*set = NULL;
	struct plan		*plan;
	enum cli_format		 fmt;
	int			 rc = EXIT_DIFFERENT;

	if (cli_parse_opts(argc, argv, &o) == -1 ||
	    cli_check_output(argv[0], o.output, &fmt) == -1)
		return (EXIT_ERROR);
	if (cli_one_app(argv[0], &o) == -1)
		return (EXIT_ERROR);
	if ((rc = cli_render_one(env, argv, &o, 0, &cfg, &a, &set)) !=
	    EXIT_OK)
		goto out;
	plan = plan_build(set);
	if (fmt != CLI_FORMAT_TABLE)
		cli_print_doc(plan_to_json(plan), fmt);
	else
		plan_print_table(stdout, plan);
	plan_free(plan);
	rc = EXIT_OK;
out:
	resource_set_free(set);
	cli_app_free(a);
	config_free(cfg);
	return (rc);
}

/* Render an app and compare (or sync) it against its target. */
static int
cli_sync_app(struct cli_app *a, const struct cli_opts *o, int dry_run,
    int diffs, const char *state_dir, int *locked,
    struct sync_result **resultp, char **cause)
{
	struct app_run	run;

	memset(&run, 0, sizeof run);
	run.name = a->name;
	run.source = a->source;
	run.path = a->path;
	run.target = a->target.path != NULL ||
	    a->target.type != TARGET_DIRECTORY ? &a->target : NULL;
	run.namespace = a->namespace;
	run.prune = a->prune;
	run.timeout_ms = a->timeout_ms;
	run.wave_timeout_ms = a->app != NULL ? a->app->wave_timeout_ms : 0;
	run.revision = a->revision;
	run.dry_run = dry_run;
	run.diff_texts = diffs;
	run.no_external = o->no_external;
	run.record_inputs = a->app != NULL;
	run.state_dir = state_dir;
	run.cfg = a->cfg;
	run.app = a->app;
	run.lock_wait_ms = o->wait_lock_ms;
	run.locked = locked;
	return (app_sync(&run, resultp, cause));
}

int
cmd_diff(struct cli_env *env, int argc, char **argv)
{
	struct cli_opts		 o;
	struct config		*cfg = NULL;
	struct cli_app		*a = NULL;
	struct sync_result	*r = NULL;
	struct json		*j, *changes, *c;
	enum cli_format		 fmt;
	char			*cause = NULL;
	size_t			 i;
	int			 rc = EXIT_ERROR, json;

	if (cli_parse_opts(argc, argv, &o) == -1 ||
	    cli_check_output(argv[0], o.output, &fmt) == -1)
		return (EXIT_ERROR);
	json = fmt != CLI_FORMAT_TABLE;
	if (cli_one_app(argv[0], &o) == -1)
		return (EXIT_ERROR);
	if (o.path != NULL && o.target == NULL)
		return (cli_usage_error(argv[0], "--path needs --target"));
	if (o.path == NULL && (cfg = cli_load_config(env)) == NULL)
		return (EXIT_ERROR);
	if ((a = cli_app_get(cfg, argv[optind], &o, &cause)) == NULL ||
	    cli_sync_app(a, &o, 1, 1, NULL, NULL, &r, &cause) == -1) {
		cli_print_cause(NULL, cause);
		goto out;
	}
	if (r->status == SYNC_FAILED) {
		/* Something could not be compared: no answer is an error. */
		fprintf(stderr, "%s%s%s\n", r->failed_resource != NULL ?
		    r->failed_resource : "", r->failed_resource != NULL ?
		    ": " : "", r->error != NULL ? r->error : "diff failed");
		goto out;
	}
	if (json) {
		j = json_new_object();
		json_set(j, "app", json_new_string(a->name));
		json_set(j, "inSync", json_new_bool(
		    !sync_result_has_changes(r)));
		changes = json_new_array();
		for (i = 0; i < r->nchanges; i++) {
			if (r->changes[i].action == DIFF_UNCHANGED)
				continue;
			c = json_new_object();
			json_set(c, "id", json_new_string(r->changes[i].id));
			json_set(c, "action", json_new_string(
			    diff_action_name(r->changes[i].action)));
			json_set(c, "phase", json_new_string(
			    phase_name(r->changes[i].phase)));
			json_set(c, "wave", json_new_number(
			    (double)r->changes[i].wave));
			if (r->changes[i].diff != NULL)
				json_set(c, "diff", json_new_string(
				    r->changes[i].diff));
			json_array_append(changes, c);
		}
		json_set(j, "changes", changes);
		cli_print_doc(j, fmt);
	} else {
		for (i = 0; i < r->nchanges; i++) {
			if (r->changes[i].action != DIFF_UNCHANGED &&
			    r->changes[i].diff != NULL)
				fputs(r->changes[i].diff, stdout);
		}
	}
	rc = sync_result_has_changes(r) ? EXIT_DIFFERENT : EXIT_OK;
out:
	free(cause);
	sync_result_free(r);
	cli_app_free(a);
	config_free(cfg);
	return (rc);
}

static void
cli_print_result(const struct sync_result *r)
{
	size_t	i;

	switch (r->status) {
	case SYNC_DRY_RUN:
		printf("%s: dry run: %zu to create, %zu to update, %zu to "
		    "prune, %zu unchanged\n", r->app, r->created, r->updated,
		    r->pruned, r->unchanged);
		break;
	case SYNC_SUCCEEDED:
		printf("%s: synced in %llu ms: %zu created, %zu updated, "
		    "%zu pruned, %zu unchanged\n", r->app,
		    (unsigned long long)(r->finished_ms - r->started_ms),
		    r->created, r->updated, r->pruned, r->unchanged);
		break;
	case SYNC_FAILED:
		printf("%s: sync FAILED: %s%s%s\n", r->app,
		    r->failed_resource != NULL ? r->failed_resource : "",
		    r->failed_resource != NULL ? ": " : "",
		    r->error != NULL ? r->error : "unknown error");
		break;
	}
	for (i = 0; i < r->nchanges; i++) {
		const struct sync_change *c = &r->changes[i];

		if (c->action == DIFF_UNCHANGED)
			continue;
		printf("  %-9s %s (%s wave %ld)\n", diff_action_name(c->action),
		    c->id, phase_name(c->phase), c->wave);
	}
	for (i = 0; i < r->kept.n; i++)
		printf("  %-9s %s (not pruned: changed since the agent "
		    "wrote it, or another app owns it)\n", "kept",
		    r->kept.v[i]);
}

int
cmd_sync(struct cli_env *env, int argc, char **argv)
{
	struct cli_opts		 o;
	struct config		*cfg = NULL;
	struct strv		 order, failed;
	struct cli_app		*a;
	struct sync_result	*r;
	struct json		*all = NULL;
	const char		*state_dir;
	enum cli_format		 fmt;
	char			*cause;
	size_t			 i;
	int			 rc, json, locked;

	if (cli_parse_opts(argc, argv, &o) == -1 ||
	    cli_check_output(argv[0], o.output, &fmt) == -1)
		return (EXIT_ERROR);
	json = fmt != CLI_FORMAT_TABLE;
	if (o.path != NULL && o.target == NULL)
		return (cli_usage_error(argv[0], "--path needs --target"));
	if ((rc = cli_resolve_apps(env, argc, argv, &o, &cfg,
	    &order)) != EXIT_OK)
		return (rc);
	state_dir = o.state_dir != NULL ? o.state_dir :
	    cfg != NULL ? cfg->state_dir : NULL;
	memset(&failed, 0, sizeof failed);
	if (json)
		all = json_new_array();
	for (i = 0; i < order.n; i++) {
		cause = NULL;
		r = NULL;
		if (cfg != NULL && app_dependency_failed(cfg, order.v[i],
		    &failed)) {
			fprintf(stderr, "%s: not synced: a dependency did not "
			    "sync\n", order.v[i]);
			strv_add(&failed, order.v[i]);
			rc = EXIT_DIFFERENT;
			continue;
		}
		locked = 0;
		if ((a = cli_app_get(cfg, order.v[i], &o, &cause)) == NULL ||
		    cli_sync_app(a, &o, o.dry_run, 0, state_dir, &locked, &r,
		    &cause) == -1) {
			/* The message names the app: said as a usage error. */
			cli_print_cause(locked ? "gitops-agent sync" :
			    a != NULL ? a->name : order.v[i], cause);
			strv_add(&failed, order.v[i]);
			rc = EXIT_DIFFERENT;
		} else {
			if (json)
				json_array_append(all, sync_result_to_json(r));
			else
				cli_print_result(r);
			if (r->status == SYNC_FAILED) {
				strv_add(&failed, order.v[i]);
				rc = EXIT_DIFFERENT;
			}
		}
		free(cause);
		sync_result_free(r);
		cli_app_free(a);
	}
	if (json)
		cli_print_doc(all, fmt);
	strv_free(&failed);
	strv_free(&order);
	config_free(cfg);
	return (rc);
}

/*
 * What applies a commit of the versions repository: the agent syncing
 * the app at its next fetch (a webhook or a poll), not this command.
 */
static void
cli_versions_follow(const struct cli_env *env, const struct config_app *app)
{
	const char	*c = env->config_given ? " -c " : "";

	printf("not deployed yet: a running agent syncs app '%s' when it next "
	    "fetches repository '%s'; follow it with 'gitops-agent%s%s "
	    "status'\n", app->name, app->repository, c,
	    env->config_given ? env->config_file : "");
}

/*
 * bump and rollback: one commit to the versions repository, pushed
 * compare-and-swap. Exit 0 when it landed or the remote already held it,
 * 1 when it was refused (held, superseded) or failed, 2 on usage.
 */
static int
cli_versions(struct cli_env *env, int argc, char **argv,
    enum versions_kind kind)
{
	const struct config_app	*app;
	struct versions_request	 req;
	struct versions_result	 r;
	struct cli_opts		 o;
	struct config		*cfg;
	struct json		*j;
	enum cli_format		 fmt;
	char			*cause = NULL;
	int			 rc;

	if (cli_parse_opts(argc, argv, &o) == -1 ||
	    cli_check_output(argv[0], o.output, &fmt) == -1)
		return (EXIT_ERROR);
	if (o.nargs != 0)
		return (cli_usage_error(argv[0], "unexpected argument '%s'",
		    o.args[0]));
	if (o.service == NULL || o.environment == NULL ||
	    (kind == VERSIONS_BUMP && o.version == NULL))
		return (cli_usage_error(argv[0], "missing %s",
		    o.service == NULL ? "--service S" : o.environment == NULL ?
		    "--environment E" : "--version V"));
	if ((cfg = cli_load_config(env)) == NULL)
		return (EXIT_ERROR);
	memset(&req, 0, sizeof req);
	req.kind = kind;
	req.service = o.service;
	req.environment = o.environment;
	req.version = o.version;
	req.image = o.image;
	req.tag = o.tag;
	req.digest = o.digest;
	req.commit = o.commit;
	req.force = o.force;
	req.timeout_ms = o.timeout_ms;
	req.require_image = !o.versions_only;
	if (versions_write(cfg, &req, &r, &cause) == -1) {
		cli_print_cause(argv[0], cause);
		free(cause);
		config_free(cfg);
		return (EXIT_DIFFERENT);
	}
	rc = r.outcome == VERSIONS_REFUSED ? EXIT_DIFFERENT : EXIT_OK;
	app = job_deploy_app(cfg, o.service, o.environment);
	if (fmt != CLI_FORMAT_TABLE) {
		j = json_new_object();
		json_set(j, "outcome", json_new_string(
		    r.outcome == VERSIONS_COMMITTED ? "committed" :
		    r.outcome == VERSIONS_UNCHANGED ? "unchanged" : "refused"));
		json_set(j, "summary", json_new_string(r.summary));
		if (r.commit != NULL)
			json_set(j, "commit", json_new_string(r.commit));
		if (r.previous_version != NULL)
			json_set(j, "previousVersion",
			    json_new_string(r.previous_version));
		if (r.version != NULL)
			json_set(j, "version", json_new_string(r.version));
		if (r.previous_image != NULL)
			json_set(j, "previousImage",
			    json_new_string(r.previous_image));
		if (r.image != NULL)
			json_set(j, "image", json_new_string(r.image));
		json_set(j, "attempts", json_new_number(r.attempts));
		json_set(j, "batch", json_new_number(r.batch));
		json_set(j, "elapsedMs", json_new_number((double)r.elapsed_ms));
		if (app != NULL)
			json_set(j, "app", json_new_string(app->name));
		cli_print_doc(j, fmt);
	} else if (r.outcome == VERSIONS_REFUSED)
		fprintf(stderr, "%s: %s\n", argv[0], r.summary);
	else if (r.commit != NULL) {
		printf("%s: commit %s (attempt %d, batch of %d, %llu ms)\n",
		    r.summary, r.commit, r.attempts, r.batch,
		    (unsigned long long)r.elapsed_ms);
		if (app != NULL)
			cli_versions_follow(env, app);
	} else
		printf("%s\n", r.summary);
	versions_result_free(&r);
	config_free(cfg);
	return (rc);
}

int
cmd_bump(struct cli_env *env, int argc, char **argv)
{
	return (cli_versions(env, argc, argv, VERSIONS_BUMP));
}

int
cmd_rollback(struct cli_env *env, int argc, char **argv)
{
	return (cli_versions(env, argc, argv, VERSIONS_ROLLBACK));
}
