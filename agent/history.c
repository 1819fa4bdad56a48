/*
 * history.c: `gitops-agent history APP`, what happened to an app: its
 * last sync results, as the agent keeps them in state_dir
 * (apps/APP/history.json), and the deploys and rollbacks of its service
 * to its environment, read from the trailers of the commits of the
 * versions repository (fetched first into its cache; when the fetch
 * fails, the cache as it is, with a warning).
 *
 * Main thread of a one-shot command; reads state_dir and writes nothing
 * there but the repository cache.
 * What it prints from those files is shown without control characters.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define HISTORY_DEFAULT	10
#define HISTORY_MAX	1000

static void
history_print(FILE *f, const struct json *h)
{
	const struct json	*e;
	const char		*err;
	char			 at[32], kind[16], v[40], pv[40], c[13];
	char			 subject[256];

	fprintf(f, "SYNCS (newest first)\n");
	if (json_count(json_get(h, "syncs")) == 0)
		fprintf(f, "none recorded\n");
	for (e = json_child(json_get(h, "syncs")); e != NULL;
	    e = json_next(e))
		status_print_sync(f, e);
	if (json_get(h, "deploys") == NULL &&
	    json_path_string(h, "deploysError", NULL) == NULL)
		return;
	fprintf(f, "\nDEPLOYS AND ROLLBACKS (newest first)\n");
	if ((err = json_path_string(h, "deploysError", NULL)) != NULL) {
		fprintf(f, "cannot read them: %s\n", status_clean(subject,
		    sizeof subject, err));
		return;
	}
	if (json_count(json_get(h, "deploys")) == 0) {
		fprintf(f, "none in the versions repository\n");
		return;
	}
	fprintf(f, "%-20s %-8s %-16s %-16s %-12s %s\n", "AT", "KIND",
	    "VERSION", "PREVIOUS", "COMMIT", "SUBJECT");
	for (e = json_child(json_get(h, "deploys")); e != NULL;
	    e = json_next(e)) {
		fprintf(f, "%-20s %-8s %-16s %-16s %-12s %s\n",
		    status_clean(at, sizeof at, json_path_string(e, "at",
		    NULL)), status_clean(kind, sizeof kind, json_path_string(e,
		    "kind", NULL)), status_clean(v, sizeof v,
		    json_path_string(e, "version", NULL)), status_clean(pv,
		    sizeof pv, json_path_string(e, "previousVersion", NULL)),
		    status_clean(c, sizeof c, json_path_string(e, "commit",
		    NULL)), status_clean(subject, sizeof subject,
		    json_path_string(e, "subject", NULL)));
	}
}

/* The versions repository fetched, so a deploy pushed elsewhere shows. */
static void
history_fetch(const struct config *cfg)
{
	const struct config_repository	*repo;
	char				*tip = NULL, *cause = NULL;

	repo = config_find_repository(cfg, cfg->versions.repository);
	if (repo == NULL || repo->url == NULL)
		return;
	if (repo_fetch(cfg, repo, &tip, &cause) == -1) {
		fprintf(stderr, "gitops-agent history: cannot fetch '%s', "
		    "showing the deploys its cache holds: %s\n", repo->name,
		    cause);
		free(cause);
	}
	free(tip);
}

int
cmd_history(struct cli_env *env, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const struct config_app	*app;
	struct config		*cfg = NULL;
	struct json		*syncs = NULL, *h = NULL, *deploys = NULL;
	enum cli_format		 fmt = CLI_FORMAT_TABLE;
	const char		*name;
	char			*cause = NULL, *text, *end;
	long long		 n = HISTORY_DEFAULT;
	int			 ch, rc = EXIT_ERROR;

	while ((ch = getopt_long(argc, argv, "n:o:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			errno = 0;
			n = strtoll(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    n < 1 || n > HISTORY_MAX)
				return (cli_usage_error(argv[0], "-n wants a "
				    "number from 1 to %d, not '%s'",
				    HISTORY_MAX, optarg));
			break;
		case 'o':
			if (cli_format_parse(argv[0], optarg, &fmt) == -1)
				return (EXIT_ERROR);
			break;
		default:
			/* main.c checked them against the command table. */
			return (cli_usage_error(argv[0], "bad option"));
		}
	}
	if ((name = cli_app_operand(argc, argv, optind)) == NULL)
		return (EXIT_ERROR);
	if ((cfg = config_load(env->config_file, &cause)) == NULL) {
		fprintf(stderr, "%s\n", cause);
		goto out;
	}
	if ((app = config_find_app(cfg, name)) == NULL) {
		fprintf(stderr, "gitops-agent history: no app '%s' in %s\n",
		    name, env->config_file);
		goto out;
	}
	if (state_load_history(cfg->state_dir, app->name, (size_t)n, &syncs,
	    &cause) == -1) {
		fprintf(stderr, "gitops-agent history: %s\n", cause);
		goto out;
	}
	h = json_new_object();
	json_set(h, "app", json_new_string(app->name));
	json_set(h, "syncs", syncs);
	if (app->service != NULL && app->environment != NULL &&
	    cfg->versions.repository != NULL) {
		json_set(h, "service", json_new_string(app->service));
		json_set(h, "environment", json_new_string(app->environment));
		history_fetch(cfg);
		if (versions_history(cfg, app->service, app->environment,
		    (size_t)n, &deploys, &cause) == -1) {
			json_set(h, "deploysError", json_new_string(cause));
			free(cause);
			cause = NULL;
		} else
			json_set(h, "deploys", deploys);
	}
	if (fmt == CLI_FORMAT_TABLE)
		history_print(stdout, h);
	else {
		text = cli_format_text(h, fmt);
		fputs(text, stdout);
		free(text);
	}
	rc = EXIT_OK;
out:
	if (h == NULL)
		json_free(syncs);
	json_free(h);
	free(cause);
	config_free(cfg);
	return (rc);
}
