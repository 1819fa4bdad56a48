/*
 * reconcile.c: `gitops-agent reconcile APP [--wait]`, a sync asked of the
 * running agent (POST /api/v1/apps/APP/sync: a fetch, then a sync of APP
 * whatever changed) and, with --wait, followed until the agent has looked
 * at the app again and its repository is idle: the exit status says the
 * outcome (0 Succeeded, 1 anything else or no answer in time).
 *
 * Main thread of a one-shot command; talks to the agent only (status.c's
 * client), polling GET /api/v1/apps/APP.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define RECONCILE_TIMEOUT_MS	(10 * 60 * 1000)
#define RECONCILE_POLL_MAX_MS	1000

/* What --output prints: the app, the outcome, why, the sync it made. */
static struct json *
reconcile_result(const char *app, const struct json *a, const char *outcome)
{
	struct json	*o = json_new_object();
	const char	*v;

	json_set(o, "app", json_new_string(app));
	json_set(o, "outcome", json_new_string(outcome));
	v = json_path_string(a, "lastCheckReason", NULL);
	json_set(o, "reason", v != NULL ? json_new_string(v) :
	    json_new_null());
	v = json_path_string(a, "lastSyncedCommit", NULL);
	json_set(o, "revision", v != NULL ? json_new_string(v) :
	    json_new_null());
	v = json_path_string(a, "lastSync", "error", NULL);
	json_set(o, "error", v != NULL ? json_new_string(v) :
	    json_new_null());
	return (o);
}

static void
reconcile_print(const struct json *r, enum cli_format fmt)
{
	char	*text, a[128], o[32], why[512];

	if (fmt != CLI_FORMAT_TABLE) {
		text = cli_format_text(r, fmt);
		fputs(text, stdout);
		free(text);
		return;
	}
	status_clean(a, sizeof a, json_path_string(r, "app", NULL));
	status_clean(o, sizeof o, json_path_string(r, "outcome", NULL));
	if (json_path_string(r, "error", NULL) != NULL)
		status_clean(why, sizeof why, json_path_string(r, "error",
		    NULL));
	else if (json_path_string(r, "reason", NULL) != NULL)
		status_clean(why, sizeof why, json_path_string(r, "reason",
		    NULL));
	else
		why[0] = '\0';
	printf("%s: %s%s%s\n", a, o, why[0] != '\0' ? ": " : "", why);
}

/*
 * Poll the app until a job newer than the request looked at it (checks
 * past before) and its repository has nothing queued or running; *app
 * is the last answer. 1 when that happened, 0 at the deadline.
 */
static int
reconcile_wait(struct status_client *c, const char *path, double before,
    uint64_t timeout_ms, struct json **app, char **cause)
{
	uint64_t	deadline, now, delay = 50;

	deadline = time_monotonic_ms() + timeout_ms;
	for (;;) {
		json_free(*app);
		if ((*app = status_client_call(c, "GET", path, 200,
		    cause)) == NULL)
			return (-1);
		if (json_number(json_get(*app, "checks")) > before &&
		    json_type(json_get(*app, "syncing")) == JSON_FALSE)
			return (1);
		now = time_monotonic_ms();
		if (now >= deadline)
			return (0);
		time_sleep_ms(delay < deadline - now ? delay : deadline - now);
		delay = delay * 2 > RECONCILE_POLL_MAX_MS ?
		    RECONCILE_POLL_MAX_MS : delay * 2;
	}
}

int
cmd_reconcile(struct cli_env *env, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' },
		{ "wait", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct status_client	 c;
	struct json		*app = NULL, *r = NULL;
	enum cli_format		 fmt = CLI_FORMAT_TABLE;
	const char		*address = NULL, *name, *outcome;
	char			*cause = NULL, *path = NULL, *sync = NULL, *d;
	uint64_t		 timeout_ms = RECONCILE_TIMEOUT_MS;
	double			 before;
	int			 ch, wait = 0, rc = EXIT_ERROR, done;

	while ((ch = getopt_long(argc, argv, "o:w", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			address = optarg;
			break;
		case 'o':
			if (cli_format_parse(argv[0], optarg, &fmt) == -1)
				return (EXIT_ERROR);
			break;
		case 'w':
			wait = 1;
			break;
		case 't':
			if (cli_duration_arg(argv[0], "timeout", optarg, 1,
			    &timeout_ms) == -1)
				return (EXIT_ERROR);
			break;
		default:
			/* main.c checked them against the command table. */
			return (cli_usage_error(argv[0], "bad option"));
		}
	}
	if ((name = cli_app_operand(argc, argv, optind)) == NULL)
		return (EXIT_ERROR);
	if (status_client_open(&c, env, address, &cause) == -1) {
		fprintf(stderr, "gitops-agent reconcile: %s\n", cause);
		free(cause);
		return (EXIT_ERROR);
	}
	path = status_app_path(name, NULL);
	sync = status_app_path(name, "/sync");
	/* Where the app stands before: a job after this one answers. */
	if ((app = status_client_call(&c, "GET", path, 200, &cause)) == NULL ||
	    (r = status_client_call(&c, "POST", sync, 202, &cause)) == NULL) {
		fprintf(stderr, "gitops-agent reconcile: %s\n", cause);
		goto out;
	}
	before = json_number(json_get(app, "checks"));
	if (!wait) {
		json_free(r);
		r = json_new_object();
		json_set(r, "app", json_new_string(name));
		json_set(r, "outcome", json_new_string("Queued"));
		reconcile_print(r, fmt);
		rc = EXIT_OK;
		goto out;
	}
	if ((done = reconcile_wait(&c, path, before, timeout_ms, &app,
	    &cause)) == -1) {
		fprintf(stderr, "gitops-agent reconcile: %s\n", cause);
		goto out;
	}
	if (done == 0) {
		d = duration_format(timeout_ms);
		fprintf(stderr, "gitops-agent reconcile: %s: no outcome after "
		    "%s (the agent is still %s)\n", name, d,
		    json_type(json_get(app, "syncing")) == JSON_TRUE ?
		    "syncing its repository" : "to look at it");
		free(d);
		rc = EXIT_FAILED;
		goto out;
	}
	outcome = json_path_string(app, "lastCheck", NULL);
	json_free(r);
	r = reconcile_result(name, app, outcome != NULL ? outcome : "Unknown");
	reconcile_print(r, fmt);
	rc = outcome != NULL && strcmp(outcome, "Succeeded") == 0 ? EXIT_OK :
	    EXIT_FAILED;
out:
	json_free(app);
	json_free(r);
	free(path);
	free(sync);
	free(cause);
	status_client_close(&c);
	return (rc);
}
