/*
 * commands.c: the command table (every command's name, synopsis, summary,
 * options and examples) and what reads it: the help, the check of a
 * command's options, usage errors. The one description of the command
 * line: the help, the README's command list, the man page (manpage.c) and
 * the shell completion (completion.c) come from it. Main thread; prints
 * only.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

/* The completion offers the formats this help lists: keep it a list. */
#define O_OUTPUT(formats)                                                     \
	{ 'o', "output", "FORMAT", "print " formats }
#define O_PATH                                                                \
	{ 0, "path", "DIR", "work on a folder instead of a configured app" }
#define O_NO_EXTERNAL                                                         \
	{ 0, "no-external-renderer", NULL,                                    \
	    "never run kubectl kustomize: unsupported fields are errors" }
#define O_REVISION                                                            \
	{ 0, "revision", "REV", "read this commit or tag, not the tip" }
#define O_TARGET                                                              \
	{ 0, "target", "DIR", "the live directory of --path" }
#define O_APP                                                                 \
	{ 0, "app", "NAME", "the inventory name of --path (default: the "     \
	    "target's name)" }
#define O_PRUNE { 0, "prune", NULL, "prune, whatever the app says" }
#define O_NO_PRUNE { 0, "no-prune", NULL, "do not prune" }
#define O_TIMEOUT(what) { 0, "timeout", "DURATION", what }
#define O_SERVICE { 0, "service", "S", "the service" }
#define O_ENVIRONMENT { 0, "environment", "E", "the environment" }
#define O_VERSIONS_ONLY                                                       \
	{ 0, "versions-only", NULL, "only record the version: no app or "     \
	    "image entry needed" }
#define O_END { 0, NULL, NULL, NULL }

const struct cli_option cli_global_options[] = {
	{ 'c', "config", "FILE", "the configuration (default "
	    CLI_DEFAULT_CONFIG ")" },
	{ 'v', "verbose", NULL, "log more (twice: debug)" },
	{ 'h', "help", NULL, "print the help of the command, or the list" },
	{ 'V', "version", NULL, "print the version" },
	O_END,
};

static const struct cli_option opts_none[] = { O_END };
static const struct cli_option opts_render[] = { O_PATH, O_NO_EXTERNAL,
	O_REVISION, O_END };
static const struct cli_option opts_plan[] = { O_PATH,
	O_OUTPUT("table, json or yaml"), O_NO_EXTERNAL, O_REVISION, O_END };
static const struct cli_option opts_diff[] = { O_PATH, O_TARGET, O_APP,
	O_OUTPUT("text, json or yaml"), O_PRUNE, O_NO_PRUNE, O_NO_EXTERNAL,
	O_REVISION, O_END };
static const struct cli_option opts_sync[] = { O_PATH, O_TARGET, O_APP,
	O_OUTPUT("text, json or yaml"),
	{ 0, "state-dir", "DIR", "record results there (default: state_dir)" },
	{ 0, "dry-run", NULL, "compute and print the changes, write nothing" },
	O_PRUNE, O_NO_PRUNE,
	O_TIMEOUT("the whole sync's deadline (default: the app's)"),
	O_NO_EXTERNAL, O_REVISION,
	{ 0, "force-prune", NULL, "prune past the target's prune bound" },
	{ 0, "wait-lock", "DURATION", "wait that long for a sync of the same "
	    "target to end (default: fail at once)" },
	O_END };
static const struct cli_option opts_bump[] = { O_SERVICE, O_ENVIRONMENT,
	{ 0, "version", "V", "the version to deploy" },
	{ 0, "image", "I", "the images entry to set (default: the only one, "
	    "or the service's)" },
	{ 0, "tag", "T", "the image tag (default: the version)" },
	{ 0, "digest", "D", "pin the image digest instead of a tag" },
	{ 0, "force", NULL, "deploy a version that a rollback holds" },
	O_TIMEOUT("give up after it (default: versions.timeout)"),
	O_VERSIONS_ONLY, O_OUTPUT("text, json or yaml"), O_END };
static const struct cli_option opts_rollback[] = { O_SERVICE,
	O_ENVIRONMENT,
	{ 0, "commit", "SHA", "the deploy to revert (default: the newest)" },
	{ 0, "image", "I", "the images entry (default: the deploy's)" },
	O_TIMEOUT("give up after it (default: versions.timeout)"),
	O_VERSIONS_ONLY, O_OUTPUT("text, json or yaml"), O_END };
#define O_ADDRESS                                                             \
	{ 0, "address", "HOST:PORT", "the agent (default: listen)" }
static const struct cli_option opts_status[] = { O_ADDRESS,
	O_OUTPUT("table, json or yaml"),
	{ 'w', "watch", NULL, "print again whenever it changes, until "
	    "interrupted" },
	{ 0, "interval", "DURATION", "how often --watch asks (default 2s)" },
	O_END };

static const char *const ex_check[] = { "gitops-agent check",
	"gitops-agent check -c /etc/gitops-agent.yaml", NULL };
static const char *const ex_validate[] = { "gitops-agent validate",
	"gitops-agent validate --path apps/web/production", NULL };
static const char *const ex_render[] = { "gitops-agent render web",
	"gitops-agent render --path apps/web/production", NULL };
static const char *const ex_plan[] = { "gitops-agent plan web",
	"gitops-agent plan --path apps/web/production --output json", NULL };
static const char *const ex_diff[] = { "gitops-agent diff web",
	"gitops-agent diff --path apps/web --target /srv/live/web", NULL };
static const char *const ex_sync[] = { "gitops-agent sync web --dry-run",
	"gitops-agent sync --path apps/web --target /srv/live/web", NULL };
static const char *const ex_bump[] = {
	"gitops-agent bump --service checkout --environment staging "
	"--version v1.4.0", NULL };
static const char *const ex_rollback[] = {
	"gitops-agent rollback --service checkout --environment staging",
	NULL };
static const char *const ex_serve[] = {
	"gitops-agent -c /etc/gitops-agent.yaml serve", NULL };
static const struct cli_option opts_history[] = {
	{ 'n', "count", "N", "the last N syncs and deploys (default 10)" },
	O_OUTPUT("table, json or yaml"), O_END };
static const char *const ex_history[] = { "gitops-agent history web",
	"gitops-agent history web -n 3 --output json", NULL };
static const struct cli_option opts_reconcile[] = { O_ADDRESS,
	{ 'w', "wait", NULL, "wait for the outcome: exit 0 Succeeded, 1 not" },
	O_TIMEOUT("how long --wait waits (default 10m)"),
	O_OUTPUT("table, json or yaml"), O_END };
static const char *const ex_reconcile[] = {
	"gitops-agent reconcile web",
	"gitops-agent reconcile web --wait --timeout 5m", NULL };
static const char *const ex_status[] = { "gitops-agent status",
	"gitops-agent status web --output yaml",
	"gitops-agent status --watch --interval 5s",
	"gitops-agent status --address 127.0.0.1:8080 --output json", NULL };
static const char *const ex_config_reference[] = {
	"gitops-agent config-reference >reference.md", NULL };
static const char *const ex_version[] = { "gitops-agent version", NULL };
static const char *const ex_help[] = { "gitops-agent help sync", NULL };

static const struct cli_command cli_table[] = {
	{ "check", cmd_check, "", "check the configuration file and print "
	    "every error", opts_none, ex_check },
	{ "validate", cmd_validate, "[APP...] | --path DIR",
	    "load and render manifests without applying anything",
	    opts_render, ex_validate },
	{ "render", cmd_render, "APP | --path DIR",
	    "print the rendered resources as YAML, as kubectl kustomize does",
	    opts_render, ex_render },
	{ "plan", cmd_plan, "APP | --path DIR [--output table|json|yaml]",
	    "show the ordered phases and waves of a sync", opts_plan,
	    ex_plan },
	{ "diff", cmd_diff, "APP | --path DIR --target DIR [--output "
	    "text|json|yaml]", "show what a sync would change (exit 0 in sync, "
	    "1 different)", opts_diff, ex_diff },
	{ "sync", cmd_sync, "[APP...] [--dry-run] | --path DIR --target DIR",
	    "apply wave by wave, then prune; all apps in order if none given",
	    opts_sync, ex_sync },
	{ "bump", cmd_bump, "--service S --environment E --version V "
	    "[--image I] [--tag T | --digest D] [--force] [--versions-only]",
	    "commit a version bump and push it compare-and-swap", opts_bump,
	    ex_bump },
	{ "rollback", cmd_rollback, "--service S --environment E "
	    "[--commit SHA] [--versions-only]", "commit the revert of a deploy's values and "
	    "push it", opts_rollback, ex_rollback },
	{ "serve", cmd_serve, "", "run the agent: webhooks, polling, syncs, "
	    "API and metrics", opts_none, ex_serve },
	{ "status", cmd_status, "[APP] [--watch [--interval D]] [--address "
	    "HOST:PORT] [--output table|json|yaml]", "print the apps' state "
	    "from the running agent, or one app's in detail", opts_status,
	    ex_status },
	{ "reconcile", cmd_reconcile, "APP [--wait [--timeout D]] "
	    "[--address HOST:PORT] [--output table|json|yaml]",
	    "ask the running agent to fetch and sync an app now", opts_reconcile,
	    ex_reconcile },
	{ "history", cmd_history, "APP [-n N] [--output table|json|yaml]",
	    "print an app's last syncs and its service's deploys and "
	    "rollbacks", opts_history, ex_history },
	{ "config-reference", cmd_config_reference, "", "print the "
	    "configuration reference (Markdown)", opts_none,
	    ex_config_reference },
	{ "version", cmd_version, "", "print the version", opts_none,
	    ex_version },
	{ "help", cmd_help, "[COMMAND]", "print this help, or a command's",
	    opts_none, ex_help },
};

const struct cli_command *
cli_commands(size_t *n)
{
	*n = sizeof cli_table / sizeof cli_table[0];
	return (cli_table);
}

/*
 * Commands the build and the shell completion run, not listed in the
 * help: the man pages and the completion script are printed from the
 * table above, so they list whatever it holds.
 */
static const char *const ex_manpage[] = { "gitops-agent manpage 8",
	NULL };
static const char *const ex_completion[] = {
	"gitops-agent completion bash >gitops-agent.bash", NULL };
static const char *const ex_list_apps[] = {
	"gitops-agent -c /etc/gitops-agent.yaml list-apps", NULL };
static const struct cli_command cli_hidden[] = {
	{ "manpage", cmd_manpage, "8 | 5", "print the man page of the "
	    "command (8) or of its configuration (5), in mdoc", opts_none,
	    ex_manpage },
	{ "completion", cmd_completion, "bash", "print the bash completion "
	    "script", opts_none, ex_completion },
	{ "list-apps", cmd_list_apps, "", "print the names of the "
	    "configuration's apps, one a line", opts_none, ex_list_apps },
};

const struct cli_command *
cli_command_find(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof cli_table / sizeof cli_table[0]; i++) {
		if (strcmp(cli_table[i].name, name) == 0)
			return (&cli_table[i]);
	}
	for (i = 0; i < sizeof cli_hidden / sizeof cli_hidden[0]; i++) {
		if (strcmp(cli_hidden[i].name, name) == 0)
			return (&cli_hidden[i]);
	}
	return (NULL);
}

/* The option of a list by long name (len bytes of it) or short letter. */
const struct cli_option *
cli_option_find(const struct cli_option *opts, const char *name, size_t len,
    int letter)
{
	for (; opts->name != NULL; opts++) {
		if (name != NULL && strlen(opts->name) == len &&
		    strncmp(opts->name, name, len) == 0)
			return (opts);
		if (name == NULL && letter != 0 && opts->short_name == letter)
			return (opts);
	}
	return (NULL);
}

/* Whether some command has the option: it exists, elsewhere. */
int
cli_option_known(const char *name, size_t len, int letter)
{
	size_t	i;

	for (i = 0; i < sizeof cli_table / sizeof cli_table[0]; i++) {
		if (cli_option_find(cli_table[i].options, name, len,
		    letter) != NULL)
			return (1);
	}
	return (0);
}

static void
cli_print_options(FILE *f, const struct cli_option *o)
{
	char	flags[64];

	for (; o->name != NULL; o++) {
		if (o->short_name != 0)
			snprintf(flags, sizeof flags, "-%c, --%s%s%s",
			    o->short_name, o->name, o->arg != NULL ? " " : "",
			    o->arg != NULL ? o->arg : "");
		else
			snprintf(flags, sizeof flags, "    --%s%s%s", o->name,
			    o->arg != NULL ? " " : "",
			    o->arg != NULL ? o->arg : "");
		fprintf(f, "  %-30s %s\n", flags, o->help);
	}
}

/* A command's help, or with c NULL the list of commands. */
void
cli_help(FILE *f, const struct cli_command *c)
{
	const char *const	*ex;
	size_t			 i;

	if (c == NULL) {
		fprintf(f, "usage: gitops-agent [OPTIONS] COMMAND [ARGS]\n\n"
		    "commands:\n");
		for (i = 0; i < sizeof cli_table / sizeof cli_table[0]; i++)
			fprintf(f, "  %-17s %s\n", cli_table[i].name,
			    cli_table[i].summary);
		fprintf(f, "\noptions (anywhere on the line):\n");
		cli_print_options(f, cli_global_options);
		fprintf(f, "\n'gitops-agent COMMAND --help' prints a command's "
		    "usage, options and examples.\n");
		return;
	}
	fprintf(f, "usage: gitops-agent %s%s%s\n\n%s\n", c->name,
	    *c->synopsis != '\0' ? " " : "", c->synopsis, c->summary);
	if (c->options[0].name != NULL) {
		fprintf(f, "\noptions:\n");
		cli_print_options(f, c->options);
	}
	fprintf(f, "\nglobal options:\n");
	cli_print_options(f, cli_global_options);
	fprintf(f, "\nexamples:\n");
	for (ex = c->examples; *ex != NULL; ex++)
		fprintf(f, "  %s\n", *ex);
}

/*
 * A usage error, in the one style: what is wrong, then where the help
 * is, on stderr. Returns the exit status for the caller to return.
 */
int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "gitops-agent%s%s: ", cmd != NULL ? " " : "",
	    cmd != NULL ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'gitops-agent%s%s --help'.\n",
	    cmd != NULL ? " " : "", cmd != NULL ? cmd : "");
	return (EXIT_ERROR);
}

int
cli_format_parse(const char *cmd, const char *s, enum cli_format *fmt)
{
	if (strcmp(s, "table") == 0 || strcmp(s, "text") == 0)
		*fmt = CLI_FORMAT_TABLE;
	else if (strcmp(s, "json") == 0)
		*fmt = CLI_FORMAT_JSON;
	else if (strcmp(s, "yaml") == 0)
		*fmt = CLI_FORMAT_YAML;
	else {
		cli_usage_error(cmd, "unknown output format '%s' (use table, "
		    "json or yaml)", s);
		return (-1);
	}
	return (0);
}

/* The one APP operand after the options, or NULL after a usage error. */
const char *
cli_app_operand(int argc, char **argv, int first)
{
	if (argc == first) {
		cli_usage_error(argv[0], "missing APP");
		return (NULL);
	}
	if (argc > first + 1) {
		cli_usage_error(argv[0], "one APP only ('%s' is one too many)",
		    argv[first + 1]);
		return (NULL);
	}
	return (argv[first]);
}

/* A duration option's value, at least min_ms; -1 after a usage error. */
int
cli_duration_arg(const char *cmd, const char *opt, const char *value,
    uint64_t min_ms, uint64_t *ms)
{
	char	*cause = NULL;

	if (duration_parse(value, ms, &cause) == -1 || *ms < min_ms) {
		if (cause == NULL)
			cause = duration_format(min_ms);
		cli_usage_error(cmd, "bad --%s '%s': %s%s", opt, value,
		    *ms < min_ms ? "at least " : "", cause);
		free(cause);
		return (-1);
	}
	return (0);
}

char *
cli_format_text(const struct json *j, enum cli_format fmt)
{
	char	*text, *out;

	if (fmt == CLI_FORMAT_YAML)
		return (yaml_emit(j));
	text = json_print(j, 1);
	xasprintf(&out, "%s\n", text);
	free(text);
	return (out);
}

int
cmd_version(struct cli_env *env, int argc, char **argv)
{
	printf("gitops-agent %s\n", GITOPS_VERSION);
	return (EXIT_OK);
}

int
cmd_help(struct cli_env *env, int argc, char **argv)
{
	const struct cli_command	*c = NULL;

	if (argc > 2)
		return (cli_usage_error("help", "one command at most"));
	if (argc == 2 && (c = cli_command_find(argv[1])) == NULL)
		return (cli_usage_error("help", "unknown command '%s'",
		    argv[1]));
	cli_help(stdout, c);
	return (EXIT_OK);
}
