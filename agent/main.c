/*
 * main.c: the gitops-agent command line: the global options, anywhere on
 * the line, every option checked against the command table, and dispatch
 * to a subcommand. Runs in the main thread; never touches the network
 * itself.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

enum main_action {
	MAIN_RUN,
	MAIN_HELP,
	MAIN_VERSION,
};

struct main_line {
	struct cli_env			 env;
	const struct cli_command	*cmd;	/* NULL: not yet seen */
	enum main_action		 action;
	struct strv			 args;	/* the command's */
};

/* A global option (with its value, if it takes one). */
static void
main_global(struct main_line *l, const struct cli_option *o,
    const char *value)
{
	switch (o->short_name) {
	case 'c':
		l->env.config_file = value;
		l->env.config_given = 1;
		break;
	case 'v':
		l->env.verbose++;
		log_set_level(l->env.verbose > 1 ? LOG_LEVEL_DEBUG :
		    LOG_LEVEL_INFO);
		break;
	case 'h':
		l->action = MAIN_HELP;
		break;
	case 'V':
		if (l->action != MAIN_HELP)
			l->action = MAIN_VERSION;
		break;
	}
}

static int
main_unknown(struct main_line *l, const char *dashes, const char *name,
    size_t len)
{
	const char	*cmd = l->cmd != NULL ? l->cmd->name : NULL;

	if (l->cmd != NULL && cli_option_known(len > 0 ? name : NULL, len,
	    len > 0 ? 0 : *name))
		return (cli_usage_error(cmd, "option '%s%.*s' does not apply "
		    "to this command", dashes, (int)(len > 0 ? len : 1),
		    name));
	return (cli_usage_error(cmd, "unknown option '%s%.*s'", dashes,
	    (int)(len > 0 ? len : 1), name));
}

/*
 * One option word at argv[*i], with the value it takes from the next word
 * if it needs one (*i moves past it). The command's own options come
 * first (bump's --version is the version to deploy), then the global
 * ones; a command's option is kept for it, a global one is taken here.
 */
static int
main_long(struct main_line *l, int argc, char **argv, int *i)
{
	const struct cli_option	*o = NULL;
	const char		*name = argv[*i] + 2, *value = NULL, *cmd;
	size_t			 len = strcspn(name, "=");
	int			 global = 0;

	cmd = l->cmd != NULL ? l->cmd->name : NULL;
	if (l->cmd != NULL)
		o = cli_option_find(l->cmd->options, name, len, 0);
	if (o == NULL && (o = cli_option_find(cli_global_options, name, len,
	    0)) != NULL)
		global = 1;
	if (o == NULL)
		return (main_unknown(l, "--", name, len));
	if (name[len] == '=') {
		if (o->arg == NULL)
			return (cli_usage_error(cmd, "option '--%s' takes no "
			    "argument", o->name));
		value = name + len + 1;
	} else if (o->arg != NULL) {
		if (*i + 1 >= argc)
			return (cli_usage_error(cmd, "option '--%s' needs an "
			    "argument (%s)", o->name, o->arg));
		value = argv[++*i];
	}
	if (global) {
		main_global(l, o, value);
		return (0);
	}
	if (name[len] == '=')
		strv_add(&l->args, argv[*i]);
	else {
		strv_add(&l->args, argv[*i - (value != NULL)]);
		if (value != NULL)
			strv_add(&l->args, value);
	}
	return (0);
}

/* A word of short options: -vc FILE, -ojson, -o json. */
static int
main_short(struct main_line *l, int argc, char **argv, int *i)
{
	const struct cli_option	*o;
	const char		*p, *value, *cmd;
	char			 flag[3];
	int			 global;

	cmd = l->cmd != NULL ? l->cmd->name : NULL;
	for (p = argv[*i] + 1; *p != '\0'; p++) {
		global = 0;
		o = l->cmd != NULL ? cli_option_find(l->cmd->options, NULL, 0,
		    *p) : NULL;
		if (o == NULL && (o = cli_option_find(cli_global_options,
		    NULL, 0, *p)) != NULL)
			global = 1;
		if (o == NULL)
			return (main_unknown(l, "-", p, 0));
		value = NULL;
		if (o->arg != NULL) {
			if (p[1] != '\0')
				value = p + 1;
			else if (*i + 1 < argc)
				value = argv[++*i];
			else
				return (cli_usage_error(cmd, "option '-%c' "
				    "needs an argument (%s)", *p, o->arg));
		}
		if (global)
			main_global(l, o, value);
		else {
			snprintf(flag, sizeof flag, "-%c", *p);
			strv_add(&l->args, flag);
			if (value != NULL)
				strv_add(&l->args, value);
		}
		if (value != NULL)
			break;
	}
	return (0);
}

/* The words of the line: options, the command, its operands. */
static int
main_parse(struct main_line *l, int argc, char **argv)
{
	int	i, rc, operands = 1;

	for (i = 1; i < argc; i++) {
		if (operands && strcmp(argv[i], "--") == 0) {
			operands = 0;
			if (l->cmd != NULL)
				strv_add(&l->args, argv[i]);
			continue;
		}
		if (operands && argv[i][0] == '-' && argv[i][1] != '\0') {
			rc = argv[i][1] == '-' ? main_long(l, argc, argv, &i) :
			    main_short(l, argc, argv, &i);
			if (rc != 0)
				return (rc);
			continue;
		}
		if (l->cmd != NULL) {
			strv_add(&l->args, argv[i]);
			continue;
		}
		if ((l->cmd = cli_command_find(argv[i])) == NULL)
			return (cli_usage_error(NULL, "unknown command '%s'",
			    argv[i]));
		strv_add(&l->args, argv[i]);
	}
	return (0);
}

int
main(int argc, char **argv)
{
	struct main_line	l;
	char			*owner;
	int			rc;

	/* A Git network operation, run in a process that can be killed. */
	if (argc > 1 && strcmp(argv[1], GIT_WORKER_ARG) == 0)
		return (git_worker_main(argc, argv));
	memset(&l, 0, sizeof l);
	l.env.config_file = CLI_DEFAULT_CONFIG;
	log_init(LOG_LEVEL_WARN, stderr);
	if ((rc = main_parse(&l, argc, argv)) != 0)
		goto out;
	if (l.action == MAIN_HELP)
		cli_help(stdout, l.cmd);
	else if (l.action == MAIN_VERSION)
		rc = cmd_version(&l.env, 0, NULL);
	else if (l.cmd == NULL)
		rc = cli_usage_error(NULL, "no command given");
	else {
		optind = 1;
		/* How a sync holding a target is named to whoever waits. */
		xasprintf(&owner, "gitops-agent %s", l.cmd->name);
		lock_set_owner(owner);
		free(owner);
		rc = l.cmd->fn(&l.env, (int)l.args.n, l.args.v);
		lock_set_owner(NULL);
	}
out:
	strv_free(&l.args);
	return (rc);
}
