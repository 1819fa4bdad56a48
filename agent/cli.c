/*
 * cli.c: placeholder until written.
 */
#include "config.h"
#include "agent.h"
int cmd_check(struct cli_env *e, int c, char **v) { return 2; }
int cmd_validate(struct cli_env *e, int c, char **v) { return 2; }
int cmd_plan(struct cli_env *e, int c, char **v) { return 2; }
int cmd_diff(struct cli_env *e, int c, char **v) { return 2; }
int cmd_sync(struct cli_env *e, int c, char **v) { return 2; }
int cmd_config_reference(struct cli_env *e, int c, char **v) { return 2; }
