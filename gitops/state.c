/*
 * state.c: what the agent last did, kept under state_dir:
 * STATE_DIR/apps/APP/last-sync.json, the JSON of the last sync result,
 * written atomically so a reader sees the old or the new one. A sync that
 * changed nothing and ends as the recorded one did is not written: a sync
 * with nothing to change writes nothing, state included.
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
state_sync_path(const char *state_dir, const char *app, char **cause)
{
	char	*rel, *path;

	if (*app == '\0' || *app == '.' || strchr(app, '/') != NULL) {
		xasprintf(cause, "invalid app name '%s' for the state "
		    "directory", app);
		return (NULL);
	}
	xasprintf(&rel, "apps/%s/last-sync.json", app);
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

int
state_save_sync(const char *state_dir, const struct sync_result *res,
    char **cause)
{
	struct json	*j, *prev = NULL;
	struct buf	 b;
	char		*path, *text, *err = NULL;
	int		 rc;

	if ((path = state_sync_path(state_dir, res->app, cause)) == NULL)
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
	text = json_print(j, 1);
	json_free(j);
	buf_init(&b);
	buf_adds(&b, text);
	buf_addc(&b, '\n');
	free(text);
	rc = file_write_atomic(path, b.data, b.len, 0600, cause);
	buf_free(&b);
	free(path);
	return (rc);
}

int
state_load_sync(const char *state_dir, const char *app, struct json **out,
    char **cause)
{
	struct json	*j;
	char		*path, *data = NULL, *err = NULL;
	size_t		 len;

	*out = NULL;
	if ((path = state_sync_path(state_dir, app, cause)) == NULL)
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
