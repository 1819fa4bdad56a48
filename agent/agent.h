/*
 * agent.h: the gitops-agent binary: command line, and later the daemon.
 */
#ifndef AGENT_H
#define AGENT_H

#include "gitops.h"

/* Exit statuses, as diff(1) and `kubectl diff` use them for diff. */
#define EXIT_OK		0
#define EXIT_DIFFERENT	1
#define EXIT_ERROR	2

struct cli_env {
	const char	*config_file;	/* -c, or NULL for the default */
	int		 config_given;	/* -c was on the command line */
	int		 verbose;
};

/* cli.c */
int	cmd_check(struct cli_env *, int, char **);
int	cmd_validate(struct cli_env *, int, char **);
int	cmd_plan(struct cli_env *, int, char **);
int	cmd_diff(struct cli_env *, int, char **);
int	cmd_sync(struct cli_env *, int, char **);
int	cmd_config_reference(struct cli_env *, int, char **);
int	cmd_bump(struct cli_env *, int, char **);
int	cmd_rollback(struct cli_env *, int, char **);

#endif /* AGENT_H */
