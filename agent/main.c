/*
 * main.c: the gitops-agent command line: global options and dispatch to
 * a subcommand. Runs in the main thread; never touches the network itself.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define DEFAULT_CONFIG_FILE "./gitops-agent.yaml"

struct command {
	const char	*name;
	int		(*fn)(struct cli_env *, int, char **);
	const char	*usage;
	const char	*summary;
};

static int	cmd_version(struct cli_env *, int, char **);
static int	cmd_help(struct cli_env *, int, char **);

static const struct command commands[] = {
	{ "check", cmd_check, "check [-c FILE]",
	    "check the configuration file and print every error" },
	{ "validate", cmd_validate, "validate [APP...] | --path DIR",
	    "load and render manifests without applying anything" },
	{ "render", cmd_render, "render APP | --path DIR",
	    "print the rendered resources as YAML, as kubectl kustomize does" },
	{ "plan", cmd_plan, "plan APP | --path DIR [--output table|json]",
	    "show the ordered phases and waves of a sync" },
	{ "diff", cmd_diff,
	    "diff APP | --path DIR --target DIR [--output text|json]",
	    "show what a sync would change (exit 0 in sync, 1 different)" },
	{ "sync", cmd_sync,
	    "sync [APP...] [--dry-run] | --path DIR --target DIR",
	    "apply wave by wave, then prune; all apps in order if none given" },
	{ "bump", cmd_bump, "bump --service S --environment E --version V "
	    "[--image I] [--tag T | --digest D] [--force]",
	    "commit a version bump and push it compare-and-swap" },
	{ "rollback", cmd_rollback,
	    "rollback --service S --environment E [--commit SHA]",
	    "commit the revert of a deploy's values and push it" },
	{ "serve", cmd_serve, "serve",
	    "run the agent: webhooks, polling, syncs, API and metrics" },
	{ "status", cmd_status, "status [--address HOST:PORT] [--output json]",
	    "print the apps' state from the running agent" },
	{ "config-reference", cmd_config_reference, "config-reference",
	    "print the configuration reference (Markdown)" },
	{ "version", cmd_version, "version", "print the version" },
	{ "help", cmd_help, "help", "print this help" },
};

static void
usage(FILE *f)
{
	size_t	i;

	fprintf(f, "usage: gitops-agent [-v] [-c FILE] COMMAND [ARGS]\n\n"
	    "commands:\n");
	for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-58s %s\n", commands[i].usage,
		    commands[i].summary);
	fprintf(f, "\n-c FILE defaults to %s\n", DEFAULT_CONFIG_FILE);
}

static int
cmd_version(struct cli_env *env, int argc, char **argv)
{
	printf("gitops-agent %s\n", GITOPS_VERSION);
	return (EXIT_OK);
}

static int
cmd_help(struct cli_env *env, int argc, char **argv)
{
	usage(stdout);
	return (EXIT_OK);
}

int
main(int argc, char **argv)
{
	struct cli_env	 env;
	const char	*name;
	size_t		 i;
	int		 ch;

	/* A Git network operation, run in a process that can be killed. */
	if (argc > 1 && strcmp(argv[1], GIT_WORKER_ARG) == 0)
		return (git_worker_main(argc, argv));
	memset(&env, 0, sizeof env);
	env.config_file = DEFAULT_CONFIG_FILE;
	log_init(LOG_LEVEL_WARN, stderr);
	while ((ch = getopt(argc, argv, "+c:hvV")) != -1) {
		switch (ch) {
		case 'c':
			env.config_file = optarg;
			env.config_given = 1;
			break;
		case 'v':
			env.verbose++;
			log_set_level(env.verbose > 1 ? LOG_LEVEL_DEBUG :
			    LOG_LEVEL_INFO);
			break;
		case 'V':
			return (cmd_version(&env, 0, NULL));
		case 'h':
			usage(stdout);
			return (EXIT_OK);
		default:
			usage(stderr);
			return (EXIT_ERROR);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage(stderr);
		return (EXIT_ERROR);
	}
	name = argv[0];
	for (i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(commands[i].name, name) == 0) {
			optind = 1;
			return (commands[i].fn(&env, argc, argv));
		}
	}
	fprintf(stderr, "gitops-agent: unknown command '%s'\n", name);
	usage(stderr);
	return (EXIT_ERROR);
}
