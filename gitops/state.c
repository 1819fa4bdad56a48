/*
 * state.c: what the agent last did, kept under state_dir:
 * STATE_DIR/apps/APP/last-sync.json, the JSON of the last sync result,
 * and STATE_DIR/apps/APP/history.json, the last STATE_HISTORY_MAX of them
 * oldest first (without their resources and inputs), each written
 * atomically so a reader sees the old or the new one. A sync that changed
 * nothing and ends as the recorded one did is not written: a sync with
 * nothing to change writes nothing, state and history included.
 *
 * Called by whichever thread finished a sync; one writer per app at a
 * time. Never writes outside state_dir; diffs (which may be large) are not
 * stored.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gitops.h"

#define STATE_MAX_FILE	(16 * 1024 * 1024)

static char *
state_app_path(const char *state_dir, const char *app, const char *file,
    char **cause)
{
	char	*rel, *path;

	if (*app == '\0' || *app == '.' || strchr(app, '/') != NULL) {
		xasprintf(cause, "invalid app name '%s' for the state "
		    "directory", app);
		return (NULL);
	}
	xasprintf(&rel, "apps/%s/%s", app, file);
	path = path_join(state_dir, rel);
	free(rel);
	return (path);
}

/*
 * Nothing worth a write: the new result changed nothing, and says what
 * the recorded one says about status, revision and error. The record then
 * stays the last sync that changed something, with its counts and times.
 */
static int
state_same_outcome(const struct json *new, const struct json *prev)
{
	static const char *const	 same[] = { "status", "revision",
					     "error", "failedResource", "inputs" };
	static const char *const	 zero[] = { "created", "updated",
					     "pruned" };
	size_t				 i;

	if (new == NULL || prev == NULL)
		return (0);
	for (i = 0; i < sizeof zero / sizeof zero[0]; i++) {
		if (json_number(json_get(new, zero[i])) != 0)
			return (0);
	}
	/* A file kept instead of pruned is news too. */
	if (json_count(json_get(new, "kept")) != 0)
		return (0);
	for (i = 0; i < sizeof same / sizeof same[0]; i++) {
		if (!json_equal(json_get(new, same[i]),
		    json_get(prev, same[i])))
			return (0);
	}
	return (1);
}

/* A document as the files of state_dir hold it: two-space JSON, newline. */
static int
state_write(const char *path, const struct json *j, char **cause)
{
	struct buf	 b;
	char		*text;
	int		 rc;

	text = json_print(j, 1);
	buf_init(&b);
	buf_adds(&b, text);
	buf_addc(&b, '\n');
	free(text);
	rc = file_write_atomic(path, b.data, b.len, 0600, cause);
	buf_free(&b);
	return (rc);
}

/* The JSON of a file of an app's; *out NULL when there is none. */
static int
state_read(const char *state_dir, const char *app, const char *file,
    struct json **out, char **cause)
{
	struct json	*j;
	char		*path, *data = NULL, *err = NULL;
	size_t		 len;

	*out = NULL;
	if ((path = state_app_path(state_dir, app, file, cause)) == NULL)
		return (-1);
	if (access(path, F_OK) == -1 && errno == ENOENT) {
		free(path);
		return (0);
	}
	if (file_read(path, STATE_MAX_FILE, &data, &len, cause) == -1)
		goto fail;
	if ((j = json_parse(data, len, &err)) == NULL) {
		xasprintf(cause, "cannot parse '%s': %s", path, err);
		goto fail;
	}
	free(data);
	free(path);
	*out = j;
	return (0);
fail:
	free(err);
	free(data);
	free(path);
	return (-1);
}

/*
 * The result appended to the app's history, the oldest dropped past
 * STATE_HISTORY_MAX. An unreadable history is started again: losing it
 * must not fail a sync.
 */
static int
state_history_add(const char *state_dir, const char *app,
    const struct json *result, char **cause)
{
	struct json	*h = NULL, *kept, *e;
	char		*path, *err = NULL;
	size_t		 skip;
	int		 rc;

	if ((path = state_app_path(state_dir, app, "history.json",
	    cause)) == NULL)
		return (-1);
	if (state_read(state_dir, app, "history.json", &h, &err) == -1 ||
	    (h != NULL && json_type(h) != JSON_ARRAY)) {
		log_event(LOG_LEVEL_WARN, "sync history unreadable: started "
		    "again", "app", app, "error", err != NULL ? err :
		    "not an array", NULL);
		free(err);
		json_free(h);
		h = NULL;
	}
	kept = json_new_array();
	skip = json_count(h) >= STATE_HISTORY_MAX ?
	    json_count(h) - STATE_HISTORY_MAX + 1 : 0;
	for (e = json_child(h); e != NULL; e = json_next(e)) {
		if (skip > 0)
			skip--;
		else
			json_array_append(kept, json_dup(e));
	}
	json_free(h);
	e = json_dup(result);
	json_free(json_detach(e, "resources"));
	json_free(json_detach(e, "inputs"));
	json_array_append(kept, e);
	rc = state_write(path, kept, cause);
	json_free(kept);
	free(path);
	return (rc);
}

int
state_save_sync(const char *state_dir, const struct sync_result *res,
    char **cause)
{
	struct json	*j, *prev = NULL;
	char		*path, *err = NULL;
	int		 rc;

	if ((path = state_app_path(state_dir, res->app, "last-sync.json",
	    cause)) == NULL)
		return (-1);
	j = sync_result_to_json(res);
	/* An unreadable previous record is replaced, not an error. */
	if (state_load_sync(state_dir, res->app, &prev, &err) == -1)
		free(err);
	if (state_same_outcome(j, prev)) {
		json_free(prev);
		json_free(j);
		free(path);
		return (0);
	}
	json_free(prev);
	/* The history first: a crash between leaves it one ahead, not behind. */
	rc = state_history_add(state_dir, res->app, j, cause);
	if (rc == 0)
		rc = state_write(path, j, cause);
	json_free(j);
	free(path);
	return (rc);
}

int
state_load_sync(const char *state_dir, const char *app, struct json **out,
    char **cause)
{
	return (state_read(state_dir, app, "last-sync.json", out, cause));
}

int
state_load_history(const char *state_dir, const char *app, size_t max,
    struct json **out, char **cause)
{
	struct json	*all = NULL;
	size_t		 i, n;

	*out = NULL;
	if (state_read(state_dir, app, "history.json", &all, cause) == -1)
		return (-1);
	if (all != NULL && json_type(all) != JSON_ARRAY) {
		xasprintf(cause, "the sync history of '%s' is not a JSON array",
		    app);
		json_free(all);
		return (-1);
	}
	*out = json_new_array();
	n = json_count(all);
	for (i = n; i > 0 && n - i < max; i--)
		json_array_append(*out, json_dup(json_array_get(all, i - 1)));
	json_free(all);
	return (0);
}
