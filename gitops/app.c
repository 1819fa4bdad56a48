/*
 * app.c: one app's sync from its configuration, as the command line and
 * the daemon both do it: fetch its repository, open the tree of a commit
 * (or the directory), check the commit's signature when the repository
 * asks (verify_commits), render, sync against the target, record the
 * result.
 *
 * Runs in the thread that syncs the app (the main thread of a CLI
 * command, a worker thread of the daemon); one sync per app at a time,
 * one thread per repository cache at a time. Never touches the network
 * itself: fetches go through the git worker process (git_worker.c).
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

int
repo_verify(const struct config *cfg, const struct config_repository *repo,
    const char *commit, char **cause)
{
	const struct config_verify	*keys = &repo->verify_commits;
	struct git_cache		*gc = NULL;
	char				*sig = NULL, *data = NULL;
	char				*signer = NULL, *why = NULL;
	size_t				 len;
	int				 rc = -1;

	if (keys->allowed_signers == NULL && keys->keyring == NULL)
		return (0);
	if (repo->url == NULL || commit == NULL) {
		xasprintf(cause, "repository '%s' verifies commits, and this "
		    "sync has none to verify", repo->name);
		return (-1);
	}
	if (git_cache_open(cfg->state_dir, repo->name, repo->url, &gc,
	    &why) == -1 || git_commit_signature(gc, commit, &sig, &data, &len,
	    &why) == -1)
		goto out;
	if (verify_signature(keys, sig, sig != NULL ? strlen(sig) : 0, data,
	    len, &signer, &why) == -1)
		goto out;
	log_event(LOG_LEVEL_INFO, "signature verified", "repo", repo->name,
	    "commit", commit, "signer", signer, NULL);
	rc = 0;
out:
	if (rc == -1)
		xasprintf(cause, "commit %s is not verified: %s", commit, why);
	free(why);
	free(signer);
	free(sig);
	free(data);
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
		log_event(LOG_LEVEL_WARN, "cannot record the failed sync",
		    "app", app, "error", cause, NULL);
		free(cause);
	}
	sync_result_free(r);
}

/* Everything a hook or command probe is told, and where it runs. */
struct app_env {
	struct strv	 vars;		/* NAME=value, then NULL */
	char		**envp;
	char		*dir;		/* the configuration file's directory */
};

extern char	**environ;

static void
app_env_set(struct strv *v, const char *name, const char *value)
{
	char	*e;

	xasprintf(&e, "%s=%s", name, value != NULL ? value : "");
	strv_add(v, e);
	free(e);
}

static void
app_env_init(struct app_env *env, const struct app_run *run,
    const char *version, const char *previous)
{
	const char	*keep[] = { "PATH=", "HOME=", "LANG=", "TZ=", "TMPDIR=",
			    "USER=", "LOGNAME=", NULL };
	char		**e, *slash, *target;
	size_t		 i;

	memset(env, 0, sizeof *env);
	/* A short list from our environment: never the agent's secrets. */
	for (e = environ; e != NULL && *e != NULL; e++) {
		for (i = 0; keep[i] != NULL; i++) {
			if (strncmp(*e, keep[i], strlen(keep[i])) == 0)
				strv_add(&env->vars, *e);
		}
	}
	app_env_set(&env->vars, "GITOPS_APP", run->name);
	app_env_set(&env->vars, "GITOPS_REVISION", run->revision);
	target = target_key(run->target);
	app_env_set(&env->vars, "GITOPS_TARGET", target);
	free(target);
	app_env_set(&env->vars, "GITOPS_SERVICE", run->app->service);
	app_env_set(&env->vars, "GITOPS_ENVIRONMENT", run->app->environment);
	app_env_set(&env->vars, "GITOPS_VERSION", version);
	app_env_set(&env->vars, "GITOPS_PREVIOUS_VERSION", previous);
	app_env_set(&env->vars, "GITOPS_PHASE", "");
	env->envp = xcalloc(env->vars.n + 1, sizeof *env->envp);
	for (i = 0; i < env->vars.n; i++)
		env->envp[i] = env->vars.v[i];
	env->dir = xstrdup(run->cfg->file);
	if ((slash = strrchr(env->dir, '/')) != NULL)
		*(slash == env->dir ? slash + 1 : slash) = '\0';
	else {
		free(env->dir);
		env->dir = xstrdup(".");
	}
}

static void
app_env_phase(struct app_env *env, enum hook_phase phase)
{
	char	*e;

	xasprintf(&e, "GITOPS_PHASE=%s", phase_name(phase));
	free(env->vars.v[env->vars.n - 1]);
	env->vars.v[env->vars.n - 1] = e;
	env->envp[env->vars.n - 1] = e;
}

static void
app_env_free(struct app_env *env)
{
	free(env->envp);
	strv_free(&env->vars);
	free(env->dir);
}

static struct sync_check *
app_check_add(struct sync_result *r, const char *name, const char *kind)
{
	struct sync_check	*c;

	r->checks = xreallocarray(r->checks, r->nchecks + 1,
	    sizeof *r->checks);
	c = &r->checks[r->nchecks++];
	memset(c, 0, sizeof *c);
	c->name = xstrdup(name);
	c->kind = kind;
	return (c);
}

/*
 * The last lines of a command's output, for the result (shown by the API
 * and kept in the state): masked before it is cut, so a cut never splits
 * a key from its secret value; at most 4 KiB, from a line's start.
 */
static char *
app_output_tail(const struct spawn_result *sr)
{
	struct buf	 b;
	size_t		 max = 4096, len;
	char		*all, *from, *out;

	buf_init(&b);
	if (sr->outlen > 0)
		buf_add(&b, sr->out, sr->outlen);
	if (sr->outlen > 0 && sr->errlen > 0 && sr->out[sr->outlen - 1] != '\n')
		buf_addc(&b, '\n');
	if (sr->errlen > 0)
		buf_add(&b, sr->err, sr->errlen);
	all = redact_output(b.data != NULL ? b.data : "", b.len);
	buf_free(&b);
	len = strlen(all);
	if (len <= max)
		return (all);
	from = all + len - max;
	while (*from != '\0' && from[-1] != '\n')
		from++;
	out = xstrdup(from);
	free(all);
	return (out);
}

/*
 * Run the app's hooks of a phase, in order; the first failure stops them
 * and is returned (allocated), NULL when all passed.
 */
static char *
app_run_hooks(const struct app_run *run, struct app_env *env,
    enum hook_phase phase, struct sync_result *r)
{
	const struct config_hook	*h;
	struct sync_check		*c;
	struct spawn_opts		 so;
	struct spawn_result		 sr;
	char				*cause, *why = NULL, *d;
	uint64_t			 t0;
	size_t				 i;

	app_env_phase(env, phase);
	for (i = 0; i < run->app->nhooks; i++) {
		h = &run->app->hooks[i];
		if (h->phase != phase)
			continue;
		c = app_check_add(r, h->name, "hook");
		c->phase = phase;
		memset(&so, 0, sizeof so);
		so.cwd = env->dir;
		so.envp = env->envp;
		so.timeout_ms = h->timeout_ms;
		so.max_output = 256 * 1024;
		so.stop = run->stop;
		t0 = time_monotonic_ms();
		cause = NULL;
		if (spawn_run(h->argv.v, &so, &sr, &cause) == -1) {
			c->verdict = "Failed";
			c->detail = cause;
			xasprintf(&why, "%s hook '%s': %s", phase_name(phase),
			    h->name, cause);
		} else {
			c->detail = app_output_tail(&sr);
			if (sr.exited && sr.status == 0)
				c->verdict = "Passed";
			else {
				c->verdict = "Failed";
				d = duration_format(h->timeout_ms);
				if (sr.stopped)
					xasprintf(&why, "%s hook '%s' was "
					    "stopped: the agent is shutting "
					    "down", phase_name(phase), h->name);
				else if (sr.timed_out)
					xasprintf(&why, "%s hook '%s' did not "
					    "finish within %s", phase_name(phase),
					    h->name, d);
				else if (sr.exited)
					xasprintf(&why, "%s hook '%s' exited "
					    "%d", phase_name(phase), h->name,
					    sr.status);
				else
					xasprintf(&why, "%s hook '%s' was "
					    "killed by signal %d",
					    phase_name(phase), h->name,
					    sr.status);
				free(d);
			}
			spawn_result_free(&sr);
		}
		c->ms = time_monotonic_ms() - t0;
		log_event(LOG_LEVEL_INFO, "hook run", "app", run->name, "hook",
		    h->name, "phase", phase_name(phase), "verdict", c->verdict,
		    "ms", LOG_UINT(c->ms), NULL);
		if (why != NULL)
			return (why);
	}
	return (NULL);
}

/*
 * Run probes (health or analysis) in order until one fails; the failure
 * (allocated) or NULL. Inconclusive fails unless the policy says pass.
 */
static char *
app_run_probes(const struct app_run *run, struct app_env *env,
    const struct probe *v, size_t n, const char *kind, uint64_t deadline,
    struct sync_result *r)
{
	struct sync_check	*c;
	enum probe_verdict	 verdict;
	char			*why, *name, *fail = NULL;
	uint64_t		 t0;
	size_t			 i;

	for (i = 0; i < n; i++) {
		if (v[i].name != NULL)
			name = xstrdup(v[i].name);
		else
			xasprintf(&name, "%s %s", probe_type_name(v[i].type),
			    v[i].type == PROBE_COMMAND ? v[i].argv.v[0] :
			    v[i].type == PROBE_PROMETHEUS ? v[i].query :
			    v[i].url);
		c = app_check_add(r, name, kind);
		t0 = time_monotonic_ms();
		if (v[i].type == PROBE_COMMAND)
			app_env_phase(env, PHASE_POSTSYNC);
		verdict = probe_run(&v[i], env->envp, deadline, run->stop,
		    &why);
		c->ms = time_monotonic_ms() - t0;
		c->detail = why;
		c->verdict = verdict == PROBE_PASSED ? "Passed" :
		    verdict == PROBE_FAILED ? "Failed" : "Inconclusive";
		/* kind is a literal of the callers: health or analysis. */
		log_event(LOG_LEVEL_INFO, "probe run", "app", run->name, kind,
		    name, "verdict", c->verdict, "detail",
		    why != NULL ? why : "", NULL);
		if (verdict == PROBE_FAILED || (verdict == PROBE_INCONCLUSIVE &&
		    !run->app->analysis_inconclusive_pass))
			xasprintf(&fail, "%s '%s' %s: %s", kind, name,
			    verdict == PROBE_FAILED ? "failed" :
			    "was inconclusive", why != NULL ? why : "");
		free(name);
		if (fail != NULL)
			return (fail);
	}
	return (NULL);
}

/* The service's version in the versions file of the commit, or NULL. */
static char *
app_service_version(const struct app_run *run)
{
	const struct config	*cfg = run->cfg;
	struct yaml_file	*yf = NULL;
	const char		*v;
	char			*data = NULL, *err = NULL, *out = NULL;
	size_t			 len;

	if (cfg->versions.repository == NULL || run->app->service == NULL ||
	    run->app->environment == NULL ||
	    strcmp(cfg->versions.repository, run->app->repository) != 0)
		return (NULL);
	if (source_read(run->source, cfg->versions.file, YAML_MAX_FILE_SIZE,
	    &data, &len, &err) == -1 || yaml_parse(cfg->versions.file, data,
	    len, YAML_ALLOW_EMPTY | YAML_PLAIN_STRINGS, &yf, &err) == -1) {
		free(err);
		free(data);
		return (NULL);
	}
	if (yf->ndocs > 0 && (v = json_path_string(yf->docs[0].root,
	    run->app->environment, run->app->service, NULL)) != NULL)
		out = xstrdup(v);
	yaml_file_free(yf);
	free(data);
	return (out);
}

/*
 * A hook, probe or analysis the shutdown interrupted says nothing of the
 * release: its failure must not roll it back.
 */
static int
app_stopped(const struct app_run *run)
{
	return (run->stop != NULL &&
	    __atomic_load_n(run->stop, __ATOMIC_ACQUIRE) != 0);
}

/* Fail a result that had succeeded (a hook, probe or analysis said no). */
static void
app_fail(struct sync_result *r, char *why, int after_apply)
{
	r->status = SYNC_FAILED;
	r->failed_after_apply |= after_apply;
	if (r->error == NULL)
		r->error = why;
	else
		free(why);
	log_event(LOG_LEVEL_WARN, "sync failed", "app", r->app, "status",
	    "Failed", "error", r->error, NULL);
}

/*
 * An app of a repository with verify_commits syncs only a verified
 * commit: anything else fails before the render, so nothing is applied
 * or pruned and what is live stays the last verified commit's. A dry run
 * (diff) only warns: it applies nothing, and shows what the commit would.
 */
static int
app_verify(const struct app_run *run, char **cause)
{
	const struct config_repository	*repo;

	if (run->cfg == NULL || run->app == NULL || (repo =
	    config_find_repository(run->cfg, run->app->repository)) == NULL)
		return (0);
	if (repo_verify(run->cfg, repo, run->revision, cause) == 0)
		return (0);
	if (run->dry_run) {
		log_event(LOG_LEVEL_WARN, "not applied by a sync", "app",
		    run->name, "error", *cause, NULL);
		free(*cause);
		*cause = NULL;
		return (0);
	}
	if (run->state_dir != NULL)
		app_record_failure(run->state_dir, run->name, run->revision,
		    *cause);
	return (-1);
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
	struct sync_result	*dry = NULL, *r, pre;
	struct strv		 inputs;
	struct app_env		 env;
	struct json		*prev = NULL;
	struct lock		*lk = NULL;
	const char		*pstatus, *prev_rev;
	char			*err = NULL, *why, *version = NULL;
	uint64_t		 deadline;
	int			 rc = -1, lrc, rendered, extras, changes, verify;

	*resultp = NULL;
	memset(&inputs, 0, sizeof inputs);
	memset(&env, 0, sizeof env);
	if (run->target == NULL) {
		xasprintf(cause, "no target directory: give --target DIR");
		return (-1);
	}
	if (app_verify(run, cause) == -1)
		goto out;
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
	/* Two syncs of one target at once lose track of files: one waits. */
	/* Its own status: rc stays -1 for the failures after it. */
	if (!run->dry_run && (lrc = target_lock(run->name, run->target,
	    run->state_dir, run->lock_wait_ms, run->stop, &lk, cause)) != 0) {
		if (lrc == 1 && run->locked != NULL)
			*run->locked = 1;
		goto out;
	}
	if ((t = target_open(run->name, run->target, run->stop, cause)) == NULL)
		goto out;
	/* The render leaves it to the target: its namespace for those left. */
	if (resource_set_default_namespace(set, t->namespace, cause) == -1)
		goto out;
	memset(&so, 0, sizeof so);
	so.dry_run = run->dry_run;
	so.drift = run->dry_run && run->drift;
	so.diff_texts = run->diff_texts;
	so.revision = run->revision;
	so.prune = run->prune;
	so.timeout_ms = run->timeout_ms;
	so.wave_timeout_ms = run->wave_timeout_ms;
	so.stop = run->stop;
	so.fence = run->fence;
	so.fence_arg = run->fence_arg;
	extras = run->app != NULL && run->cfg != NULL && !run->dry_run &&
	    (run->app->nhooks != 0 || run->app->nhealth != 0 ||
	    run->app->nanalysis != 0);
	if (!extras) {
		if (sync_run(t, set, &so, resultp, cause) == -1)
			goto out;
		goto record;
	}

	/* What will change decides which hooks run. */
	deadline = run->timeout_ms != 0 ? time_monotonic_ms() +
	    run->timeout_ms : 0;
	so.dry_run = 1;
	if (sync_run(t, set, &so, &dry, cause) == -1)
		goto out;
	changes = sync_result_has_changes(dry);
	sync_result_free(dry);
	target_free(t);
	if ((t = target_open(run->name, run->target, run->stop, cause)) == NULL)
		goto out;
	so.dry_run = 0;
	if (run->state_dir != NULL && state_load_sync(run->state_dir,
	    run->name, &prev, &err) == -1) {
		free(err);
		prev = NULL;
	}
	pstatus = json_path_string(prev, "status", NULL);
	prev_rev = json_path_string(prev, "revision", NULL);
	verify = changes || pstatus == NULL ||
	    strcmp(pstatus, "Succeeded") != 0 || prev_rev == NULL ||
	    run->revision == NULL || strcmp(prev_rev, run->revision) != 0;
	version = app_service_version(run);
	app_env_init(&env, run, version, json_path_string(prev, "version",
	    NULL));

	/* PreSync hooks' results go first in the sync's. */
	memset(&pre, 0, sizeof pre);
	why = changes ? app_run_hooks(run, &env, PHASE_PRESYNC, &pre) : NULL;
	if (why != NULL) {
		/* Nothing applied: the result says why, SyncFail follows. */
		r = xcalloc(1, sizeof *r);
		r->app = xstrdup(run->name);
		r->started_ms = r->finished_ms = time_now_ms();
		if (run->revision != NULL)
			r->revision = xstrdup(run->revision);
		app_fail(r, why, 0);
	} else if (sync_run(t, set, &so, &r, cause) == -1) {
		while (pre.nchecks-- > 0) {
			free(pre.checks[pre.nchecks].name);
			free(pre.checks[pre.nchecks].detail);
		}
		free(pre.checks);
		goto out;
	}
	if (pre.nchecks != 0) {
		r->checks = pre.checks;
		r->nchecks = pre.nchecks;
	}
	*resultp = r;
	if (r->status == SYNC_SUCCEEDED && changes &&
	    ((why = app_run_hooks(run, &env, PHASE_SYNC, r)) != NULL ||
	    (why = app_run_hooks(run, &env, PHASE_POSTSYNC, r)) != NULL))
		app_fail(r, why, !app_stopped(run));
	if (r->status == SYNC_SUCCEEDED && verify && (why = app_run_probes(run,
	    &env, run->app->health, run->app->nhealth, "health", deadline,
	    r)) != NULL)
		app_fail(r, why, !app_stopped(run));
	if (r->status == SYNC_SUCCEEDED && verify && run->app->nanalysis != 0 &&
	    (why = app_run_probes(run, &env, run->app->analysis,
	    run->app->nanalysis, "analysis", time_monotonic_ms() +
	    run->app->analysis_timeout_ms, r)) != NULL)
		app_fail(r, why, !app_stopped(run));
	if (r->status == SYNC_FAILED && (why = app_run_hooks(run, &env,
	    PHASE_SYNCFAIL, r)) != NULL) {
		cause_append(&r->error, "%s", why);
		free(why);
	}
	r->version = version;
	version = NULL;
	r->finished_ms = time_now_ms();
record:
	(*resultp)->inputs = inputs;
	memset(&inputs, 0, sizeof inputs);
	/* The render and the target are done with: not held while saving. */
	resource_set_free(set);
	set = NULL;
	target_free(t);
	t = NULL;
	if (!run->dry_run && run->state_dir != NULL &&
	    state_save_sync(run->state_dir, *resultp, cause) == -1)
		goto out;
	rc = 0;
out:
	if (rc == -1 && *resultp != NULL) {
		sync_result_free(*resultp);
		*resultp = NULL;
	}
	app_env_free(&env);
	json_free(prev);
	free(version);
	strv_free(&inputs);
	target_free(t);
	lock_release(lk);
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
