/*
 * app.c: one app's sync from its configuration, as the command line and
 * the daemon both do it: fetch its repository, open the tree of a commit
 * (or the directory), render, sync against the target, record the result.
 *
 * Runs in the thread that syncs the app (the main thread of a CLI
 * command, a worker thread of the daemon); one sync per app at a time,
 * one thread per repository cache at a time. Never touches the network
 * itself: fetches go through git.c's worker process.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gitops.h"

int
repo_fetch(const struct config *cfg, const struct config_repository *repo,
    char **tip, char **cause)
{
	struct git_cache	*gc = NULL;
	struct git_creds	 creds;
	int			 rc;

	*tip = NULL;
	if (repo->url == NULL) {
		xasprintf(cause, "repository '%s' is a directory: nothing to "
		    "fetch", repo->name);
		return (-1);
	}
	if (git_cache_open(cfg->state_dir, repo->name, repo->url, &gc,
	    cause) == -1)
		return (-1);
	if (config_repository_creds(repo, &creds, cause) == -1) {
		git_cache_free(gc);
		return (-1);
	}
	rc = git_cache_fetch(gc, repo->branch, repo->timeout_ms, &creds, tip,
	    cause);
	git_creds_clear(&creds);
	git_cache_free(gc);
	return (rc);
}

struct source *
repo_source(const struct config *cfg, const struct config_repository *repo,
    const char *revision, char **commit, char **cause)
{
	struct git_cache	*gc = NULL;
	struct source		*src = NULL;

	*commit = NULL;
	if (repo->directory != NULL) {
		if (revision != NULL) {
			xasprintf(cause, "a revision needs a Git repository, "
			    "and '%s' is a directory", repo->name);
			return (NULL);
		}
		return (source_dir_new(repo->directory));
	}
	if (git_cache_open(cfg->state_dir, repo->name, repo->url, &gc,
	    cause) == -1)
		return (NULL);
	if (git_resolve(gc, revision != NULL ? revision : repo->branch,
	    commit, cause) == -1)
		goto out;
	src = source_git_new(gc, *commit, cause);
out:
	if (src == NULL) {
		free(*commit);
		*commit = NULL;
	}
	git_cache_free(gc);
	return (src);
}

int
repo_changed_paths(const struct config *cfg,
    const struct config_repository *repo, const char *from, const char *to,
    struct strv *paths, char **cause)
{
	struct git_cache	*gc = NULL;
	int			 rc;

	if (git_cache_open(cfg->state_dir, repo->name, repo->url, &gc,
	    cause) == -1)
		return (-1);
	rc = git_changed_paths(gc, from, to, paths, cause);
	git_cache_free(gc);
	return (rc);
}

void
app_record_failure(const char *state_dir, const char *app,
    const char *revision, const char *why)
{
	struct sync_result	*r = xcalloc(1, sizeof *r);
	char			*cause = NULL;

	r->app = xstrdup(app);
	r->status = SYNC_FAILED;
	r->started_ms = r->finished_ms = time_now_ms();
	if (revision != NULL)
		r->revision = xstrdup(revision);
	r->error = xstrdup(why);
	if (state_save_sync(state_dir, r, &cause) == -1) {
		log_warnx("app=%s msg=\"cannot record the failed sync\" "
		    "error=\"%s\"", app, cause);
		free(cause);
	}
	sync_result_free(r);
}

int
app_sync(const struct app_run *run, struct sync_result **resultp,
    char **cause)
{
	struct resource_set	*set = NULL;
	struct target		*t = NULL;
	struct source		*src;
	struct render_opts	 ro;
	struct sync_opts	 so;
	struct strv		 inputs;
	int			 rc = -1, rendered;

	*resultp = NULL;
	memset(&inputs, 0, sizeof inputs);
	if (run->target_path == NULL) {
		xasprintf(cause, "no target directory: give --target DIR");
		return (-1);
	}
	memset(&ro, 0, sizeof ro);
	ro.default_namespace = run->namespace;
	ro.no_external = run->no_external;
	src = run->record_inputs ? source_record_new(run->source, &inputs) :
	    run->source;
	rendered = render_path(src, run->path, &ro, &set, cause);
	if (src != run->source)
		source_free(src);
	if (rendered == -1) {
		/* Recorded too: the state must not go on saying Succeeded. */
		if (!run->dry_run && run->state_dir != NULL)
			app_record_failure(run->state_dir, run->name,
			    run->revision, *cause);
		goto out;
	}
	t = target_dir_new(run->name, run->target_path);
	memset(&so, 0, sizeof so);
	so.dry_run = run->dry_run;
	so.diff_texts = run->diff_texts;
	so.revision = run->revision;
	so.prune = run->prune;
	so.timeout_ms = run->timeout_ms;
	so.stop = run->stop;
	if (sync_run(t, set, &so, resultp, cause) == -1)
		goto out;
	(*resultp)->inputs = inputs;
	memset(&inputs, 0, sizeof inputs);
	if (!run->dry_run && run->state_dir != NULL &&
	    state_save_sync(run->state_dir, *resultp, cause) == -1)
		goto out;
	rc = 0;
out:
	strv_free(&inputs);
	target_free(t);
	resource_set_free(set);
	return (rc);
}

int
app_dependency_failed(const struct config *cfg, const char *name,
    const struct strv *failed)
{
	const struct config_app	*app = config_find_app(cfg, name);
	size_t			 i;

	if (app == NULL)
		return (0);
	for (i = 0; i < app->depends_on.n; i++) {
		if (strv_contains(failed, app->depends_on.v[i]))
			return (1);
	}
	return (0);
}

int
app_state_inputs(const struct json *state, struct strv *inputs)
{
	struct json	*arr, *e;

	memset(inputs, 0, sizeof *inputs);
	if ((arr = json_get(state, "inputs")) == NULL ||
	    json_type(arr) != JSON_ARRAY)
		return (-1);
	for (e = json_child(arr); e != NULL; e = json_next(e)) {
		if (json_string(e) == NULL) {
			strv_free(inputs);
			return (-1);
		}
		strv_add(inputs, json_string(e));
	}
	return (0);
}
