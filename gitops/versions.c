/*
 * versions.c: the version writer. A bump sets a service's version in the
 * versions file and its image tag or digest in its app's kustomization;
 * a rollback sets them back to what they were before a bump. Either is
 * one commit pushed to the shared remote, compare-and-swap: fetch, edit
 * the tip's files, commit on the tip, push expecting the tip. When the
 * remote has moved or refuses, fetch again and redo the edit on the new
 * tip, after a jittered exponential backoff, bounded in attempts and
 * time. Nothing is ever force-pushed, and an edit that finds the remote
 * already holding the wanted values commits nothing (which also settles
 * a push whose answer was lost). Requests reach this loop through the
 * group-commit queue in versions_queue.c, whose leader runs vw_run().
 *
 * Runs in the caller's thread and blocks; network operations run in
 * the git worker process, each within the repository's deadline. It
 * never touches a working tree: files are read from commits and written
 * as new commits in the repository's cache.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gitops.h"
#include "versions_int.h"

/* Trailers of the agent's commits, read back by rollback. */
#define TRAILER_SERVICE		"Deploy-Service"
#define TRAILER_ENVIRONMENT	"Deploy-Environment"
#define TRAILER_PREV_VERSION	"Deploy-Previous-Version"
#define TRAILER_VERSION		"Deploy-Version"
#define TRAILER_PREV_IMAGE	"Deploy-Previous-Image"
#define TRAILER_IMAGE		"Deploy-Image"
#define TRAILER_HELD		"Deploy-Held-Version"
#define TRAILER_ROLLBACK_OF	"Rollback-Of"
#define REVERTS_LINE		"This reverts commit "

/* Backoff between attempts: doubling from MIN up to MAX, jittered. */
#define VERSIONS_BACKOFF_MIN_MS	10
#define VERSIONS_BACKOFF_MAX_MS	2000
/* How far back a rollback looks for the bump and what replaced it. */
#define VERSIONS_HISTORY_MAX	10000
/*
 * A refusal repeated with the remote's tip unchanged is not a race:
 * a hook or a branch protection refuses the agent.
 */
#define VERSIONS_SAME_TIP_REFUSALS 2
/* Failed pushes in a row (no answer) before giving up. */
#define VERSIONS_PUSH_ERRORS_MAX 2

static const char *const kustomization_names[] = {
	"kustomization.yaml", "kustomization.yml", "Kustomization", NULL
};

static void
vw_values_free(struct vw_values *v)
{
	free(v->version);
	free(v->kustomization);
	free(v->image);
	free(v->new_name);
	free(v->tag);
	free(v->digest);
	free(v->image_error);
	memset(v, 0, sizeof *v);
}

static void
vw_edit_free(struct vw_edit *e)
{
	size_t	i;

	for (i = 0; i < e->nfiles; i++) {
		free(e->data[i]);
		free(e->paths[i]);
	}
	free(e->message);
	free(e->summary);
	free(e->previous_version);
	free(e->version);
	free(e->previous_image);
	free(e->image);
	memset(e, 0, sizeof *e);
}

int
vw_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

char *
vw_strdup(const char *s)
{
	return (s != NULL ? xstrdup(s) : NULL);
}

static char *
vw_short(const char *id)
{
	return (xstrndup(id, 10));
}

/* "NAME[:TAG][@DIGEST]" of an images entry, or NULL without one. */
static char *
vw_image_ref(const struct vw_values *v)
{
	struct buf	b;

	if (v->image == NULL)
		return (NULL);
	buf_init(&b);
	buf_adds(&b, v->new_name != NULL ? v->new_name : v->image);
	if (v->tag != NULL)
		buf_printf(&b, ":%s", v->tag);
	if (v->digest != NULL)
		buf_printf(&b, "@%s", v->digest);
	return (buf_release(&b));
}

/* A scalar of the images entry as a string (tags may be plain numbers). */
static char *
vw_scalar(const struct json *j)
{
	char	*s;

	if (j == NULL)
		return (NULL);
	if (json_type(j) == JSON_STRING)
		return (xstrdup(json_string(j)));
	if (json_type(j) == JSON_NUMBER) {
		xasprintf(&s, "%.17g", json_number(j));
		return (s);
	}
	return (NULL);
}

/*
 * The images entry a bump edits: the one named image (by name, then by
 * newName); with no image asked for, the only entry there is, or the
 * one whose last path segment is the service's name.
 */
static const struct json *
vw_image_entry(const struct json *root, const char *display,
    const char *image, const char *service, char **cause)
{
	const struct json	*images, *e, *only = NULL;
	struct buf		 names;
	size_t			 n = 0;
	const char		*name, *base;

	images = json_get(root, "images");
	if (images == NULL || json_type(images) != JSON_ARRAY ||
	    json_count(images) == 0) {
		xasprintf(cause, "%s: no images entry to set%s%s", display,
		    image != NULL ? " for " : "", image != NULL ? image : "");
		return (NULL);
	}
	for (e = json_child(images); e != NULL; e = json_next(e)) {
		if ((name = json_path_string(e, "name", NULL)) == NULL)
			continue;
		n++;
		only = e;
		if (image != NULL && strcmp(name, image) == 0)
			return (e);
	}
	if (image != NULL) {
		for (e = json_child(images); e != NULL; e = json_next(e)) {
			if (json_path_string(e, "name", NULL) != NULL &&
			    vw_streq(json_path_string(e, "newName", NULL),
			    image))
				return (e);
		}
	}
	if (image == NULL && n == 1)
		return (only);
	/* Several: the one whose repository is named like the service. */
	if (image == NULL && service != NULL) {
		for (e = json_child(images); e != NULL; e = json_next(e)) {
			if ((name = json_path_string(e, "name", NULL)) == NULL)
				continue;
			base = strrchr(name, '/');
			if (strcmp(base != NULL ? base + 1 : name,
			    service) == 0)
				return (e);
		}
	}
	buf_init(&names);
	for (e = json_child(images); e != NULL; e = json_next(e)) {
		if ((name = json_path_string(e, "name", NULL)) != NULL)
			buf_printf(&names, "%s%s", names.len > 0 ? ", " : "",
			    name);
	}
	buf_addc(&names, '\0');
	if (image != NULL)
		xasprintf(cause, "%s: no images entry named '%s' (it has: %s)",
		    display, image, names.data);
	else
		xasprintf(cause, "%s: %zu images entries (%s) and none named "
		    "after the service: name the one to set with --image",
		    display, n, names.data);
	buf_free(&names);
	return (NULL);
}

/* Read a file of a commit; *found 0 when it does not exist. */
static int
vw_read(struct source *src, const char *path, char **data, size_t *len,
    int *found, char **cause)
{
	enum source_entry_type	type;

	*data = NULL;
	*len = 0;
	*found = 0;
	if (source_stat(src, path, &type, cause) == -1)
		return (-1);
	if (type == SOURCE_NONE)
		return (0);
	if (source_read(src, path, VERSIONS_FILE_MAX, data, len, cause) == -1)
		return (-1);
	*found = 1;
	return (0);
}

/* The app's kustomization file in a commit, or NULL. */
static int
vw_kustomization_path(struct source *src, const char *dir, char **path,
    char **cause)
{
	enum source_entry_type	 type;
	char			*p;
	size_t			 i;

	*path = NULL;
	for (i = 0; kustomization_names[i] != NULL; i++) {
		p = *dir == '\0' ? xstrdup(kustomization_names[i]) :
		    path_join(dir, kustomization_names[i]);
		if (source_stat(src, p, &type, cause) == -1) {
			free(p);
			return (-1);
		}
		if (type == SOURCE_FILE) {
			*path = p;
			return (0);
		}
		free(p);
	}
	return (0);
}

/* Parse YAML read from a commit; its first document's root. */
static int
vw_parse(struct source *src, const char *path, const char *data, size_t len,
    struct yaml_file **yf, char **cause)
{
	char	*display;
	int	 rc;

	display = source_display_path(src, path);
	rc = yaml_parse(display, data, len, YAML_ALLOW_EMPTY |
	    YAML_PLAIN_STRINGS, yf, cause);
	free(display);
	return (rc);
}

/*
 * Values read from a repository end up in commit trailers, which a
 * rollback trusts: one line each, printable.
 */
static int
vw_values_check(const struct vw_values *v, struct source *src, char **cause)
{
	const char	*vals[] = { v->version, v->image, v->new_name, v->tag,
			    v->digest };
	const char	*p;
	size_t		 i;

	for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		if (vals[i] == NULL)
			continue;
		for (p = vals[i]; *p != '\0'; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				xasprintf(cause, "%s: the value '%.40s' holds "
				    "a control character (a line break?): "
				    "refused", src->label, vals[i]);
				return (-1);
			}
		}
	}
	return (0);
}

/*
 * What the service runs in the environment at a commit. With image_name
 * NULL, the images entry is picked as a bump would (the only one); a
 * missing kustomization or entry leaves those fields NULL.
 */
static int
vw_values_read(struct vw *w, struct source *src, const char *image_name,
    struct vw_values *v, char **cause)
{
	const struct json	*root, *e;
	struct yaml_file	*yf = NULL;
	char			*data = NULL, *err = NULL;
	size_t			 len;
	int			 found, rv = -1;

	memset(v, 0, sizeof *v);
	if (vw_read(src, w->cfg->versions.file, &data, &len, &found,
	    cause) == -1)
		goto out;
	if (found) {
		if (vw_parse(src, w->cfg->versions.file, data, len, &yf,
		    cause) == -1)
			goto out;
		root = yf->ndocs > 0 ? yf->docs[0].root : NULL;
		v->version = vw_scalar(json_path(root, w->req->environment,
		    w->req->service, NULL));
		yaml_file_free(yf);
		yf = NULL;
	}
	free(data);
	data = NULL;
	if (w->app == NULL) {
		rv = vw_values_check(v, src, cause);
		goto out;
	}
	if (vw_kustomization_path(src, w->app->path, &v->kustomization,
	    cause) == -1)
		goto out;
	if (v->kustomization == NULL) {
		rv = vw_values_check(v, src, cause);
		goto out;
	}
	if (vw_read(src, v->kustomization, &data, &len, &found, cause) == -1 ||
	    vw_parse(src, v->kustomization, data, len, &yf, cause) == -1)
		goto out;
	root = yf->ndocs > 0 ? yf->docs[0].root : NULL;
	v->has_images = json_count(json_get(root, "images")) > 0;
	if ((e = vw_image_entry(root, yf->name, image_name,
	    w->req->service, &err)) != NULL) {
		v->image = xstrdup(json_path_string(e, "name", NULL));
		v->new_name = vw_scalar(json_get(e, "newName"));
		v->tag = vw_scalar(json_get(e, "newTag"));
		v->digest = vw_scalar(json_get(e, "digest"));
	} else {
		v->image_error = err;
		err = NULL;
	}
	free(err);
	rv = vw_values_check(v, src, cause);
out:
	yaml_file_free(yf);
	free(data);
	if (rv == -1)
		vw_values_free(v);
	return (rv);
}

/* Add a changed file to the edit (taking data). */
static void
vw_edit_add(struct vw_edit *e, const char *path, char *data, size_t len)
{
	e->data[e->nfiles] = data;
	e->paths[e->nfiles] = xstrdup(path);
	e->files[e->nfiles].path = e->paths[e->nfiles];
	e->files[e->nfiles].data = data;
	e->files[e->nfiles].len = len;
	e->nfiles++;
}

/* Set environment.service = version in the versions file. */
static int
vw_set_version(struct vw *w, struct source *src, const char *version,
    struct vw_edit *e, char **cause)
{
	const char	*path[3];
	char		*data = NULL, *out = NULL, *display;
	size_t		 len, outlen;
	int		 found, changed, rc;

	if (vw_read(src, w->cfg->versions.file, &data, &len, &found,
	    cause) == -1)
		return (-1);
	display = source_display_path(src, w->cfg->versions.file);
	if (!found) {
		xasprintf(cause, "%s: no such file (create it with the "
		    "environments and services it tracks)", display);
		free(display);
		return (-1);
	}
	path[0] = w->req->environment;
	path[1] = w->req->service;
	path[2] = NULL;
	rc = yaml_edit_set(display, data, len, path, version, &out, &outlen,
	    &changed, cause);
	free(display);
	free(data);
	if (rc == -1)
		return (-1);
	if (changed)
		vw_edit_add(e, w->cfg->versions.file, out, outlen);
	else
		free(out);
	return (0);
}

/* Set the image entry's tag and digest (NULL: left alone). */
static int
vw_set_image(struct source *src, const char *kustomization,
    const char *image, const char *tag, const char *digest,
    struct vw_edit *e, char **cause)
{
	char	*data = NULL, *out = NULL, *display;
	size_t	 len, outlen;
	int	 found, changed, rc;

	if (vw_read(src, kustomization, &data, &len, &found, cause) == -1)
		return (-1);
	display = source_display_path(src, kustomization);
	rc = yaml_edit_image(display, data, len, image, NULL, tag, digest,
	    &out, &outlen, &changed, cause);
	free(display);
	free(data);
	if (rc == -1)
		return (-1);
	if (changed)
		vw_edit_add(e, kustomization, out, outlen);
	else
		free(out);
	return (0);
}

/* Record version as held in the environment, with why. */
static int
vw_set_held(struct vw *w, struct source *src, const char *version,
    const char *why, struct vw_edit *e, char **cause)
{
	static const char	 header[] = "# Versions rolled back by "
	    "gitops-agent, per environment and service: not\n# deployed "
	    "again unless a bump says --force. Delete an entry to release "
	    "it.\n";
	struct json		*root, *env, *svc;
	const char		*path[4];
	char			*data = NULL, *out = NULL, *display, *text;
	size_t			 len, outlen;
	int			 found, changed, rc;

	if (vw_read(src, w->cfg->versions.held_file, &data, &len, &found,
	    cause) == -1)
		return (-1);
	if (!found) {
		/* A new file in block style, as people write it. */
		root = json_new_object();
		env = json_new_object();
		svc = json_new_object();
		json_set(svc, version, json_new_string(why));
		json_set(env, w->req->service, svc);
		json_set(root, w->req->environment, env);
		text = yaml_emit(root);
		json_free(root);
		xasprintf(&out, "%s%s", header, text);
		free(text);
		vw_edit_add(e, w->cfg->versions.held_file, out, strlen(out));
		return (0);
	}
	display = source_display_path(src, w->cfg->versions.held_file);
	path[0] = w->req->environment;
	path[1] = w->req->service;
	path[2] = version;
	path[3] = NULL;
	rc = yaml_edit_set(display, data, len, path, why, &out, &outlen,
	    &changed, cause);
	free(display);
	free(data);
	if (rc == -1)
		return (-1);
	if (changed)
		vw_edit_add(e, w->cfg->versions.held_file, out, outlen);
	else
		free(out);
	return (0);
}

/*
 * Whether version is held in the environment: *why (allocated) says by
 * what and where (FILE:LINE:COLUMN), NULL when it is not.
 */
static int
vw_held(struct vw *w, struct source *src, const char *version, char **why,
    char **cause)
{
	const struct json	*root, *j;
	struct yaml_file	*yf = NULL;
	char			*data = NULL, *reason;
	size_t			 len;
	int			 found, line, column;

	*why = NULL;
	if (vw_read(src, w->cfg->versions.held_file, &data, &len, &found,
	    cause) == -1)
		return (-1);
	if (!found) {
		free(data);
		return (0);
	}
	if (vw_parse(src, w->cfg->versions.held_file, data, len, &yf,
	    cause) == -1) {
		free(data);
		return (-1);
	}
	root = yf->ndocs > 0 ? yf->docs[0].root : NULL;
	j = json_path(root, w->req->environment, w->req->service, version,
	    NULL);
	if (j != NULL) {
		reason = vw_scalar(j);
		yaml_node_position(yf, j, &line, &column);
		xasprintf(why, "%s:%d:%d%s%s", yf->name, line, column,
		    reason != NULL ? ": " : "", reason != NULL ? reason : "");
		free(reason);
	}
	yaml_file_free(yf);
	free(data);
	return (0);
}

static void
vw_trailer(struct buf *b, const char *key, const char *value)
{
	if (value != NULL)
		buf_printf(b, "%s: %s\n", key, value);
}

/* The trailers every commit of the writer carries. */
static void
vw_trailers(struct buf *b, const struct vw *w, const struct vw_edit *e)
{
	vw_trailer(b, TRAILER_SERVICE, w->req->service);
	vw_trailer(b, TRAILER_ENVIRONMENT, w->req->environment);
	vw_trailer(b, TRAILER_PREV_VERSION, e->previous_version);
	vw_trailer(b, TRAILER_VERSION, e->version);
	vw_trailer(b, TRAILER_PREV_IMAGE, e->previous_image);
	vw_trailer(b, TRAILER_IMAGE, e->image);
}

/* The tag and digest a bump sets: as asked, else the version as tag. */
static void
vw_bump_image_fields(const struct versions_request *req, const char **tag,
    const char **digest)
{
	*tag = req->tag;
	*digest = req->digest;
	if (*tag == NULL && *digest == NULL)
		*tag = req->version;
}

/* Why there is no images entry to set, naming service and environment. */
static void
vw_no_image(struct vw *w, const struct vw_values *now, char **cause)
{
	const struct versions_request	*req = w->req;

	if (now->kustomization == NULL)
		xasprintf(cause, "%s in %s: app '%s' has no kustomization in "
		    "'%s': there is no image to set", req->service,
		    req->environment, w->app->name, w->app->path);
	else
		xasprintf(cause, "%s in %s: %s", req->service,
		    req->environment, now->image_error != NULL ?
		    now->image_error : "no images entry to set");
}

static int
vw_bump_edit(struct vw *w, struct source *src, const char *tip,
    struct vw_edit *e, char **cause)
{
	const struct versions_request	*req = w->req;
	struct vw_values		 now, then;
	struct buf			 b;
	const char			*tag, *digest;
	char				*held = NULL, *short_tip;
	int				 explicit_image, rv = -1;

	memset(&then, 0, sizeof then);
	explicit_image = req->image != NULL || req->tag != NULL ||
	    req->digest != NULL;
	if (vw_values_read(w, src, req->image, &now, cause) == -1)
		return (-1);
	if (w->app != NULL && now.image == NULL &&
	    (explicit_image || now.has_images || req->require_image)) {
		vw_no_image(w, &now, cause);
		goto out;
	}
	if (vw_held(w, src, req->version, &held, cause) == -1)
		goto out;
	if (held != NULL && !req->force) {
		xasprintf(&e->summary, "%s %s is held in %s (rolled back; %s): "
		    "not deployed; bump with --force to deploy it anyway",
		    req->service, req->version, req->environment, held);
		rv = VW_REFUSED;
		goto out;
	}
	if (vw_set_version(w, src, req->version, e, cause) == -1)
		goto out;
	then.version = xstrdup(req->version);
	if (now.image != NULL) {
		vw_bump_image_fields(req, &tag, &digest);
		if (vw_set_image(src, now.kustomization, now.image, tag, digest,
		    e, cause) == -1)
			goto out;
		then.image = xstrdup(now.image);
		then.new_name = vw_strdup(now.new_name);
		then.tag = vw_strdup(tag != NULL ? tag : now.tag);
		/* A new tag without a digest drops the old digest. */
		then.digest = vw_strdup(digest != NULL ? digest :
		    tag != NULL ? NULL : now.digest);
	}
	e->previous_version = vw_strdup(now.version);
	e->version = xstrdup(req->version);
	e->previous_image = vw_image_ref(&now);
	e->image = vw_image_ref(&then);
	short_tip = vw_short(tip);
	if (e->nfiles == 0) {
		xasprintf(&e->summary, "%s is already at %s in %s (commit %s): "
		    "nothing to commit", req->service, req->version,
		    req->environment, short_tip);
		free(short_tip);
		rv = VW_NOTHING;
		goto out;
	}
	free(short_tip);
	buf_init(&b);
	buf_printf(&b, "Deploy %s %s to %s\n\n", req->service, req->version,
	    req->environment);
	if (held != NULL)
		buf_printf(&b, "Deployed with --force although held (%s).\n\n",
		    held);
	vw_trailers(&b, w, e);
	e->message = buf_release(&b);
	xasprintf(&e->summary, "committed %s %s to %s", req->service,
	    req->version, req->environment);
	rv = VW_COMMIT;
out:
	free(held);
	vw_values_free(&now);
	vw_values_free(&then);
	return (rv);
}

/* A trailer's value in a message ("Key: value" on a line of its own). */
static char *
vw_message_trailer(const char *msg, const char *key)
{
	const char	*p, *nl;
	size_t		 klen = strlen(key), n;

	for (p = msg; p != NULL && *p != '\0'; p = nl != NULL ? nl + 1 :
	    NULL) {
		nl = strchr(p, '\n');
		n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (n > klen + 2 && strncmp(p, key, klen) == 0 &&
		    p[klen] == ':' && p[klen + 1] == ' ')
			return (xstrndup(p + klen + 2, n - klen - 2));
	}
	return (NULL);
}

/* The commit a revert names ("This reverts commit SHA."), or NULL. */
static char *
vw_message_reverts(const char *msg)
{
	const char	*p;
	size_t		 n;

	if ((p = strstr(msg, REVERTS_LINE)) == NULL)
		return (NULL);
	p += sizeof REVERTS_LINE - 1;
	n = strspn(p, "0123456789abcdef");
	if (n != 40)
		return (NULL);
	return (xstrndup(p, n));
}

static char *
vw_subject(const char *msg)
{
	return (xstrndup(msg, strcspn(msg, "\n")));
}

/* The message's trailers name this service and environment. */
static int
vw_message_ours(const char *msg, const char *service, const char *environment)
{
	char	*svc, *env;
	int	 ours;

	svc = vw_message_trailer(msg, TRAILER_SERVICE);
	env = vw_message_trailer(msg, TRAILER_ENVIRONMENT);
	ours = vw_streq(svc, service) && vw_streq(env, environment);
	free(svc);
	free(env);
	return (ours);
}

/*
 * Finding the newest bump of the service that was not reverted; with stop
 * (blame), only down to that commit, and the newest bump even if reverted.
 */
struct vw_find {
	const char	*service;
	const char	*environment;
	const char	*stop;
	int		 stopped;
	int		 was_reverted;
	struct strv	 reverted;
	char		*found;
	size_t		 seen;
};

static int
vw_find_cb(const struct git_commit_info *ci, void *arg, char **cause)
{
	struct vw_find	*f = arg;
	char		*of;

	(void)cause;
	if (f->stop != NULL && strcmp(ci->id, f->stop) == 0) {
		f->stopped = 1;
		return (1);
	}
	f->seen++;
	if ((of = vw_message_reverts(ci->message)) != NULL) {
		strv_add(&f->reverted, of);
		free(of);
	}
	if ((of = vw_message_trailer(ci->message, TRAILER_ROLLBACK_OF)) !=
	    NULL) {
		strv_add(&f->reverted, of);
		free(of);
		return (0);
	}
	if (!vw_message_ours(ci->message, f->service, f->environment))
		return (0);
	if (strv_contains(&f->reverted, ci->id)) {
		if (f->stop == NULL)
			return (0);
		f->was_reverted = 1;
	}
	f->found = xstrdup(ci->id);
	return (1);
}

/* The subject and first parent of one commit. */
struct vw_commit {
	char	*subject;
	char	*parent;
};

static int
vw_commit_cb(const struct git_commit_info *ci, void *arg, char **cause)
{
	struct vw_commit	*c = arg;

	(void)cause;
	c->subject = vw_subject(ci->message);
	c->parent = vw_strdup(ci->parent);
	return (1);
}

static int
vw_values_at(struct vw *w, const char *commit, const char *image,
    struct vw_values *v, char **cause)
{
	struct source	*src;
	int		 rc;

	if ((src = source_git_new(w->gc, commit, cause)) == NULL)
		return (-1);
	rc = vw_values_read(w, src, image, v, cause);
	source_free(src);
	return (rc);
}

static int
vw_values_equal(const struct vw_values *a, const struct vw_values *b)
{
	return (vw_streq(a->version, b->version) &&
	    vw_streq(a->image, b->image) &&
	    vw_streq(a->new_name, b->new_name) &&
	    vw_streq(a->tag, b->tag) && vw_streq(a->digest, b->digest));
}

/*
 * Pick the bump to revert (first attempt only) and read what the service
 * ran before it (good) and with it (bad).
 */
static int
vw_rollback_target(struct vw *w, const char *tip, char **cause)
{
	const struct versions_request	*req = w->req;
	struct vw_find			 f;
	struct vw_commit		 c;
	char				*id = NULL, *sid;
	int				 yes;

	memset(&c, 0, sizeof c);
	if (req->commit != NULL) {
		if (git_resolve(w->gc, req->commit, &id, cause) == -1)
			return (-1);
		if (git_is_ancestor(w->gc, id, tip, &yes, cause) == -1)
			goto fail;
		if (!yes) {
			xasprintf(cause, "commit %s is not on branch '%s' of "
			    "'%s'", req->commit, w->repo->branch,
			    w->repo->name);
			goto fail;
		}
	} else {
		memset(&f, 0, sizeof f);
		f.service = req->service;
		f.environment = req->environment;
		if (git_log_first_parent(w->gc, tip, VERSIONS_HISTORY_MAX,
		    vw_find_cb, &f, cause) == -1) {
			strv_free(&f.reverted);
			return (-1);
		}
		strv_free(&f.reverted);
		if (f.found == NULL) {
			xasprintf(cause, "no deploy of %s to %s to roll back "
			    "in the last %zu commits of '%s' (none carries "
			    "the trailers %s and %s; name one with --commit)",
			    req->service, req->environment, f.seen,
			    w->repo->name, TRAILER_SERVICE,
			    TRAILER_ENVIRONMENT);
			return (-1);
		}
		id = f.found;
	}
	if (git_log_first_parent(w->gc, id, 1, vw_commit_cb, &c, cause) == -1)
		goto fail;
	sid = vw_short(id);
	if (c.parent == NULL) {
		xasprintf(cause, "commit %s is the first commit: there is "
		    "nothing before it to roll back to", sid);
		free(sid);
		goto fail;
	}
	if (vw_values_at(w, id, req->image, &w->bad, cause) == -1 ||
	    vw_values_at(w, c.parent, w->bad.image, &w->good, cause) == -1) {
		free(sid);
		goto fail;
	}
	if (vw_values_equal(&w->bad, &w->good)) {
		xasprintf(cause, "commit %s (\"%s\") did not change %s in %s: "
		    "nothing to roll back", sid, c.subject, req->service,
		    req->environment);
		free(sid);
		goto fail;
	}
	if (!vw_streq(w->bad.version, w->good.version) &&
	    w->good.version == NULL) {
		xasprintf(cause, "commit %s added %s to %s in the versions "
		    "file: there is no earlier version to roll back to", sid,
		    req->service, req->environment);
		free(sid);
		goto fail;
	}
	if (!vw_streq(w->bad.tag, w->good.tag) ||
	    !vw_streq(w->bad.digest, w->good.digest) ||
	    !vw_streq(w->bad.image, w->good.image)) {
		if (w->good.image == NULL || (w->good.tag == NULL &&
		    w->good.digest == NULL) || !vw_streq(w->bad.image,
		    w->good.image) || !vw_streq(w->bad.new_name,
		    w->good.new_name)) {
			xasprintf(cause, "commit %s changed the image entry of "
			    "%s in a way a rollback cannot undo (it added the "
			    "entry, renamed it or it had no tag or digest "
			    "before): revert it by hand", sid, req->service);
			free(sid);
			goto fail;
		}
	}
	free(sid);
	w->bump = id;
	w->bump_subject = c.subject;
	free(c.parent);
	return (0);
fail:
	free(id);
	free(c.subject);
	free(c.parent);
	return (-1);
}

/* Finding the newest commit that changed the service's values. */
struct vw_changer {
	struct vw	*w;
	const char	*stop;		/* the bump: not past it */
	char		*found;
	char		*subject;
	int		 failed;
};

static int
vw_changer_cb(const struct git_commit_info *ci, void *arg, char **cause)
{
	struct vw_changer	*ch = arg;
	struct vw_values	 a, b;
	int			 same;

	if (strcmp(ci->id, ch->stop) == 0 || ci->parent == NULL)
		return (1);
	if (vw_values_at(ch->w, ci->id, ch->w->bad.image, &a, cause) == -1)
		return (-1);
	if (vw_values_at(ch->w, ci->parent, ch->w->bad.image, &b,
	    cause) == -1) {
		vw_values_free(&a);
		return (-1);
	}
	same = vw_values_equal(&a, &b);
	vw_values_free(&a);
	vw_values_free(&b);
	if (same)
		return (0);
	ch->found = xstrdup(ci->id);
	ch->subject = vw_subject(ci->message);
	return (1);
}

static int
vw_rollback_edit(struct vw *w, struct source *src, const char *tip,
    struct vw_edit *e, char **cause)
{
	const struct versions_request	*req = w->req;
	struct vw_values		 now;
	struct vw_changer		 ch;
	struct buf			 b;
	char				*sbump, *why = NULL, *date;
	char				 day[32];
	time_t				 t;
	struct tm			 tm;
	int				 rv = -1;

	if (vw_values_read(w, src, w->bad.image, &now, cause) == -1)
		return (-1);
	if (w->app != NULL && now.image == NULL && req->require_image) {
		vw_no_image(w, &now, cause);
		vw_values_free(&now);
		return (-1);
	}
	sbump = vw_short(w->bump);
	if (vw_values_equal(&now, &w->good)) {
		xasprintf(&e->summary, "%s in %s is already back at what it "
		    "ran before %s (%s): nothing to commit", req->service,
		    req->environment, sbump, w->good.version != NULL ?
		    w->good.version : "its image");
		rv = VW_NOTHING;
		goto out;
	}
	if (!vw_values_equal(&now, &w->bad)) {
		memset(&ch, 0, sizeof ch);
		ch.w = w;
		ch.stop = w->bump;
		if (git_log_first_parent(w->gc, tip, VERSIONS_HISTORY_MAX,
		    vw_changer_cb, &ch, cause) == -1)
			goto out;
		if (ch.found != NULL) {
			char *s = vw_short(ch.found);

			xasprintf(&e->summary, "%s in %s was changed after %s "
			    "by %s (\"%s\"): it no longer runs what %s "
			    "deployed, nothing rolled back", req->service,
			    req->environment, sbump, s, ch.subject, sbump);
			free(s);
		} else
			xasprintf(&e->summary, "%s in %s no longer runs what "
			    "%s deployed: nothing rolled back", req->service,
			    req->environment, sbump);
		free(ch.found);
		free(ch.subject);
		rv = VW_REFUSED;
		goto out;
	}
	if (!vw_streq(now.version, w->good.version) &&
	    vw_set_version(w, src, w->good.version, e, cause) == -1)
		goto out;
	if (now.image != NULL && (!vw_streq(now.tag, w->good.tag) ||
	    !vw_streq(now.digest, w->good.digest)) &&
	    vw_set_image(src, now.kustomization, now.image,
	    w->good.tag != NULL ? w->good.tag : "",
	    w->good.digest != NULL ? w->good.digest : "", e, cause) == -1)
		goto out;
	/* Remember the bad version, so that automation does not redeploy it. */
	if (w->bad.version != NULL &&
	    !vw_streq(w->bad.version, w->good.version)) {
		t = time(NULL);
		gmtime_r(&t, &tm);
		strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%SZ", &tm);
		date = day;
		xasprintf(&why, "rolled back from %s on %s", sbump, date);
		if (vw_set_held(w, src, w->bad.version, why, e, cause) == -1)
			goto out;
	}
	e->previous_version = vw_strdup(now.version);
	e->version = vw_strdup(w->good.version);
	e->previous_image = vw_image_ref(&now);
	e->image = vw_image_ref(&w->good);
	buf_init(&b);
	buf_printf(&b, "Revert \"%s\"\n\n%s%s.\n\n", w->bump_subject,
	    REVERTS_LINE, w->bump);
	vw_trailers(&b, w, e);
	if (w->bad.version != NULL &&
	    !vw_streq(w->bad.version, w->good.version))
		vw_trailer(&b, TRAILER_HELD, w->bad.version);
	vw_trailer(&b, TRAILER_ROLLBACK_OF, w->bump);
	e->message = buf_release(&b);
	xasprintf(&e->summary, "committed the rollback of %s in %s to %s "
	    "(reverting %s)",
	    req->service, req->environment, w->good.version != NULL ?
	    w->good.version : e->image, sbump);
	rv = VW_COMMIT;
out:
	free(why);
	free(sbump);
	vw_values_free(&now);
	return (rv);
}

/* Sleep a jittered, doubling backoff before attempt n (2, 3...). */
static void
vw_backoff(int attempt, uint64_t deadline)
{
	struct timespec	ts;
	uint64_t	cap = VERSIONS_BACKOFF_MIN_MS, ms, now;
	int		i;

	for (i = 2; i < attempt && cap < VERSIONS_BACKOFF_MAX_MS; i++)
		cap *= 2;
	if (cap > VERSIONS_BACKOFF_MAX_MS)
		cap = VERSIONS_BACKOFF_MAX_MS;
	/* Half fixed, half random: writers that collided spread out. */
	ms = cap / 2 + arc4random_uniform((uint32_t)(cap / 2 + 1));
	now = time_monotonic_ms();
	if (now >= deadline)
		return;
	if (ms > deadline - now)
		ms = deadline - now;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
vw_edit(struct vw *w, const char *tip, struct vw_edit *e, char **cause)
{
	struct source	*src;
	int		 rc;

	if (w->req->kind == VERSIONS_ROLLBACK && w->bump == NULL &&
	    vw_rollback_target(w, tip, cause) == -1)
		return (-1);
	if ((src = source_git_new(w->gc, tip, cause)) == NULL)
		return (-1);
	if (w->req->kind == VERSIONS_BUMP)
		rc = vw_bump_edit(w, src, tip, e, cause);
	else
		rc = vw_rollback_edit(w, src, tip, e, cause);
	source_free(src);
	return (rc);
}

/* The one network deadline: the repository's, within what is left. */
uint64_t
vw_op_timeout(const struct config_repository *repo, uint64_t deadline)
{
	uint64_t	now = time_monotonic_ms(), left;

	left = deadline > now ? deadline - now : 1;
	return (repo->timeout_ms < left ? repo->timeout_ms : left);
}

void
vw_job_free(struct vw_job *j)
{
	if (j == NULL)
		return;
	free(j->w.bump);
	free(j->w.bump_subject);
	vw_values_free(&j->w.bad);
	vw_values_free(&j->w.good);
	vw_edit_free(&j->e);
	json_free(j->doc);
	free(j->id);
	free(j->commit);
	free(j->error);
	free(j->pushing);
	versions_result_free(&j->r);
	free(j);
}

/* Everyone still open gets this error, final. */
static void
vw_batch_fail(struct vw_job **jobs, size_t n, const char *cause)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (jobs[i]->final)
			continue;
		free(jobs[i]->error);
		jobs[i]->error = xstrdup(cause);
		jobs[i]->final = 1;
	}
}

/*
 * Edit every open request on the tip, in order, each commit on the one
 * before: one push lands them all (a group commit). The head to push in
 * *head (NULL when nothing is to be committed).
 */
static int
vw_batch_round(struct vw_job **jobs, size_t n, const char *tip,
    const struct git_author *author, char **head, char **cause)
{
	struct vw_job	*j;
	char		*cur = xstrdup(tip), *err;
	size_t		 i;
	int		 commits = 0;

	*head = NULL;
	for (i = 0; i < n; i++) {
		j = jobs[i];
		if (j->final)
			continue;
		vw_edit_free(&j->e);
		free(j->commit);
		free(j->error);
		j->commit = j->error = NULL;
		err = NULL;
		j->rc = vw_edit(&j->w, cur, &j->e, &err);
		if (j->rc == -1) {
			j->error = err;
			continue;
		}
		if (j->rc != VW_COMMIT)
			continue;
		if (git_commit_files(j->w.gc, cur, j->e.files, j->e.nfiles,
		    j->e.message, author, &j->commit, cause) == -1) {
			free(cur);
			return (-1);
		}
		free(cur);
		cur = xstrdup(j->commit);
		commits++;
	}
	if (commits > 0)
		*head = cur;
	else
		free(cur);
	return (0);
}

static void
vw_result_take(struct versions_result *r, struct vw_edit *e)
{
	r->summary = e->summary;
	r->previous_version = e->previous_version;
	r->version = e->version;
	r->previous_image = e->previous_image;
	r->image = e->image;
	e->summary = e->previous_version = e->version = NULL;
	e->previous_image = e->image = NULL;
}

/*
 * Before a push, each queued job's commit is written beside its request
 * (the "pushing" file): a leader that takes over from one that died
 * checks whether that commit landed instead of doing the job again (a
 * rollback done twice would revert one deploy too many).
 */
static void
vw_batch_mark_pushing(struct vw_job **jobs, size_t n)
{
	char	*err = NULL;
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (jobs[i]->final || jobs[i]->pushing == NULL ||
		    jobs[i]->commit == NULL)
			continue;
		/* For a leader that dies, not a machine: no fsync. */
		if (vw_queue_write(jobs[i]->pushing, jobs[i]->commit,
		    &err) == -1) {
			log_event(LOG_LEVEL_WARN, "cannot mark a push",
			    "error", err, NULL);
			free(err);
			err = NULL;
		}
	}
}

/* Whether every job is final. */
static int
vw_batch_done(struct vw_job **jobs, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (!jobs[i]->final)
			return (0);
	}
	return (1);
}

/* A commit we pushed without an answer is on the remote's tip. */
int
vw_landed(struct git_cache *gc, const char *commit, const char *tip)
{
	char	*err = NULL;
	int	 yes = 0;

	if (git_is_ancestor(gc, commit, tip, &yes, &err) == -1) {
		free(err);
		return (0);
	}
	if (yes)
		log_event(LOG_LEVEL_INFO, "a push with no answer landed",
		    "repo", git_cache_path(gc), "commit", commit, NULL);
	return (yes);
}

/* The round landed (or had nothing to push): its outcomes are final. */
static void
vw_batch_settle(struct vw_job **jobs, size_t n, int attempts,
    uint64_t start)
{
	struct vw_job	*j;
	size_t		 i;

	for (i = 0; i < n; i++) {
		j = jobs[i];
		if (j->final)
			continue;
		j->final = 1;
		j->r.attempts = attempts;
		j->r.elapsed_ms = time_monotonic_ms() - start;
		if (j->rc == -1)
			continue;
		j->r.outcome = j->rc == VW_COMMIT ? VERSIONS_COMMITTED :
		    j->rc == VW_NOTHING ? VERSIONS_UNCHANGED : VERSIONS_REFUSED;
		j->r.commit = j->commit;
		j->commit = NULL;
		vw_result_take(&j->r, &j->e);
	}
}

/*
 * The loop: fetch, edit every request on the tip, commit, push
 * compare-and-swap; again on a stale tip or a refusal, until it lands,
 * the remote already has it all, it is refused for good, or attempts or
 * time run out. Each job ends final, with an outcome or an error.
 */
void
vw_run(const struct config *cfg, const struct config_repository *repo,
    struct git_cache *gc, struct vw_job **jobs, size_t n, uint64_t deadline,
    char **last_push)
{
	const struct config_versions	*cv = &cfg->versions;
	struct git_author		 author;
	struct git_creds		 creds;
	enum git_push_result		 pr;
	uint64_t			 start = time_monotonic_ms();
	uint64_t			 t_round = 0, t_push = 0;
	char				*tip = NULL, *head = NULL;
	char				*cause = NULL, *err = NULL, *dur;
	char				*refused_tip = NULL, *refusal = NULL;
	char				*uncertain = NULL, *last_failure = NULL;
	int				 refusals = 0, push_errors = 0;
	int				 attempts, verified = 0;
	size_t				 i;

	author.name = cv->author_name;
	author.email = cv->author_email;
	author.signing_key = cv->signing_key;
	if (config_repository_creds(repo, &creds, &cause) == -1) {
		vw_batch_fail(jobs, n, cause);
		free(cause);
		return;
	}
	/*
	 * Where our last push left the branch: most likely still the tip
	 * when this host is the busy writer. Building on it saves a fetch;
	 * the compare-and-swap push checks it, and a round that would push
	 * nothing fetches first, since only a push proves the tip.
	 */
	for (i = 0; i < n; i++) {
		/* A rollback picks its bump from history the remote holds. */
		if (jobs[i]->req.kind == VERSIONS_ROLLBACK)
			break;
	}
	if (i == n)
		tip = *last_push;
	else
		free(*last_push);
	/* Set again only by a push that lands. */
	*last_push = NULL;
	for (attempts = 1;; attempts++) {
		if (tip == NULL) {
			if (git_cache_fetch(gc, repo->branch,
			    vw_op_timeout(repo, deadline), &creds, &tip,
			    &cause) == -1)
				break;
			verified = 1;
		}
		/* A push with no answer: did it land? The tip says. */
		if (uncertain != NULL) {
			if (vw_landed(gc, uncertain, tip)) {
				vw_batch_settle(jobs, n, attempts - 1, start);
				break;
			}
			free(uncertain);
			uncertain = NULL;
		}
		if (refusal != NULL && strcmp(tip, refused_tip) == 0 &&
		    refusals >= VERSIONS_SAME_TIP_REFUSALS) {
			xasprintf(&cause, "'%s' refused the push %d times with "
			    "branch '%s' unchanged at %.10s: %s (a protected "
			    "branch or a hook refuses the agent's commits; "
			    "not retried)", repo->name, refusals, repo->branch,
			    tip, refusal);
			break;
		}
		t_round = time_monotonic_ms();
		if (vw_batch_round(jobs, n, tip, &author, &head,
		    &cause) == -1)
			break;
		t_push = time_monotonic_ms();
		if (head == NULL && !verified) {
			free(tip);
			tip = NULL;
			attempts--;
			continue;
		}
		if (head == NULL) {
			vw_batch_settle(jobs, n, attempts, start);
			break;
		}
		vw_batch_mark_pushing(jobs, n);
		if (git_cache_push(gc, repo->branch, tip, head,
		    vw_op_timeout(repo, deadline), &creds, &pr, &err) == -1) {
			/* It may have landed: the next fetch tells. */
			log_event(LOG_LEVEL_WARN, "push failed", "repo",
			    repo->name, "commit", head, "attempt",
			    LOG_INT(attempts), "error", err, NULL);
			uncertain = head;
			head = NULL;
			free(last_failure);
			last_failure = err;
			err = NULL;
			if (++push_errors >= VERSIONS_PUSH_ERRORS_MAX)
				break;
		} else if (pr == GIT_PUSHED) {
			log_event(LOG_LEVEL_DEBUG, "batch pushed", "repo",
			    repo->name, "jobs", LOG_UINT(n), "attempt",
			    LOG_INT(attempts), "fetch_ms",
			    LOG_UINT(t_round - start), "edit_ms",
			    LOG_UINT(t_push - t_round), "push_ms",
			    LOG_UINT(time_monotonic_ms() - t_push), NULL);
			vw_batch_settle(jobs, n, attempts, start);
			*last_push = head;
			head = NULL;
			break;
		} else if (pr == GIT_PUSH_REJECTED) {
			log_event(LOG_LEVEL_INFO, "push refused", "repo",
			    repo->name, "commit", head, "attempt",
			    LOG_INT(attempts), "reason", err, NULL);
			if (refused_tip != NULL &&
			    strcmp(refused_tip, tip) == 0)
				refusals++;
			else
				refusals = 1;
			free(refused_tip);
			refused_tip = xstrdup(tip);
			free(refusal);
			refusal = err;
			err = NULL;
			free(last_failure);
			xasprintf(&last_failure, "the remote refused the push: "
			    "%s", refusal);
			push_errors = 0;
		} else {
			log_event(LOG_LEVEL_DEBUG, "remote moved", "repo",
			    repo->name, "attempt", LOG_INT(attempts), NULL);
			free(last_failure);
			xasprintf(&last_failure, "branch '%s' kept moving",
			    repo->branch);
			push_errors = 0;
		}
		free(err);
		err = NULL;
		free(head);
		head = NULL;
		free(tip);
		tip = NULL;
		verified = 0;
		if (attempts >= cv->max_attempts ||
		    time_monotonic_ms() >= deadline)
			break;
		vw_backoff(attempts + 1, deadline);
	}
	if (cause == NULL && !vw_batch_done(jobs, n)) {
		dur = duration_format(time_monotonic_ms() - start);
		xasprintf(&cause, "gave up on '%s' after %d attempts in %s: %s",
		    repo->name, attempts, dur, last_failure != NULL ?
		    last_failure : "no attempt succeeded");
		free(dur);
	}
	/* Stopped right after a push with no answer: check once more. */
	if (cause != NULL && uncertain != NULL) {
		free(tip);
		tip = NULL;
		free(err);
		err = NULL;
		if (git_cache_fetch(gc, repo->branch, repo->timeout_ms, &creds,
		    &tip, &err) == 0 && vw_landed(gc, uncertain, tip)) {
			vw_batch_settle(jobs, n, attempts, start);
		} else if (tip == NULL) {
			dur = cause;
			xasprintf(&cause, "%s; the last push (commit %s) may "
			    "have landed: the remote could not be checked (%s)",
			    dur, uncertain, err);
			free(dur);
		}
	}
	if (cause != NULL)
		vw_batch_fail(jobs, n, cause);
	git_creds_clear(&creds);
	free(cause);
	free(tip);
	free(head);
	free(uncertain);
	free(last_failure);
	free(refused_tip);
	free(refusal);
	free(err);
}

static int
versions_check_request(const struct versions_request *req, char **cause)
{
	static const char	 hex[] = "0123456789abcdef";
	const char		*p;

	if (req->service == NULL || *req->service == '\0' ||
	    req->environment == NULL || *req->environment == '\0') {
		xasprintf(cause, "a service and an environment are required");
		return (-1);
	}
	if (strpbrk(req->service, " \t\r\n:") != NULL ||
	    strpbrk(req->environment, " \t\r\n:") != NULL) {
		xasprintf(cause, "invalid service or environment name '%s' / "
		    "'%s'", req->service, req->environment);
		return (-1);
	}
	if (req->kind == VERSIONS_ROLLBACK)
		return (0);
	if (req->version == NULL || *req->version == '\0' ||
	    strpbrk(req->version, " \t\r\n") != NULL) {
		xasprintf(cause, "invalid version '%s'", req->version != NULL ?
		    req->version : "");
		return (-1);
	}
	if (req->tag != NULL && req->digest != NULL) {
		xasprintf(cause, "give a tag or a digest, not both");
		return (-1);
	}
	if (req->tag != NULL && (*req->tag == '\0' || strlen(req->tag) > 128 ||
	    *req->tag == '.' || *req->tag == '-' || strspn(req->tag,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_.-") != strlen(req->tag))) {
		xasprintf(cause, "invalid image tag '%s' (letters, digits, "
		    "'_', '.', '-'; at most 128)", req->tag);
		return (-1);
	}
	if (req->digest != NULL) {
		p = req->digest;
		if (strncmp(p, "sha256:", 7) != 0 || strlen(p + 7) != 64 ||
		    strspn(p + 7, hex) != 64) {
			xasprintf(cause, "invalid image digest '%s' (want "
			    "sha256: and 64 lower-case hex digits)", p);
			return (-1);
		}
	}
	if (req->image != NULL && (*req->image == '\0' ||
	    strpbrk(req->image, " \t\r\n@") != NULL)) {
		xasprintf(cause, "invalid image name '%s'", req->image);
		return (-1);
	}
	return (0);
}

/*
 * A job for a request: its app (the one deploying the service to the
 * environment, if any) found, the request checked.
 */
struct vw_job *
vw_job_new(const struct config *cfg, const struct config_repository *repo,
    struct git_cache *gc, const struct versions_request *req, char **cause)
{
	struct vw_job	*j;
	size_t		 i;

	if (versions_check_request(req, cause) == -1)
		return (NULL);
	j = xcalloc(1, sizeof *j);
	j->req = *req;
	j->w.cfg = cfg;
	j->w.repo = repo;
	j->w.gc = gc;
	j->w.req = &j->req;
	for (i = 0; i < cfg->napps; i++) {
		const struct config_app *a = &cfg->apps[i];

		if (!vw_streq(a->service, req->service) ||
		    !vw_streq(a->environment, req->environment))
			continue;
		if (j->w.app != NULL) {
			xasprintf(cause, "apps '%s' and '%s' both deploy %s to "
			    "%s: which image to set is ambiguous",
			    j->w.app->name, a->name, req->service,
			    req->environment);
			goto fail;
		}
		j->w.app = a;
	}
	if (j->w.app == NULL && req->require_image) {
		xasprintf(cause, "no app deploys %s to %s: nothing would "
		    "change what runs (--versions-only records the version "
		    "alone)", req->service, req->environment);
		goto fail;
	}
	if (j->w.app != NULL && strcmp(j->w.app->repository, repo->name) != 0) {
		xasprintf(cause, "app '%s' is in repository '%s' and the "
		    "versions file in '%s': a deploy must be one commit",
		    j->w.app->name, j->w.app->repository, repo->name);
		goto fail;
	}
	return (j);
fail:
	vw_job_free(j);
	return (NULL);
}

int
versions_write(const struct config *cfg, const struct versions_request *req,
    struct versions_result *r, char **cause)
{
	const struct config_repository	*repo;
	struct vw_job			*j;
	uint64_t			 start = time_monotonic_ms(), timeout;
	int				 rv;

	memset(r, 0, sizeof *r);
	if (cfg->versions.repository == NULL) {
		xasprintf(cause, "%s: no versions section: there is no "
		    "versions file to write", cfg->file);
		return (-1);
	}
	repo = config_find_repository(cfg, cfg->versions.repository);
	if (repo == NULL || repo->url == NULL) {
		xasprintf(cause, "repository '%s' of the versions file is not "
		    "a Git remote (url:): versions are written as commits",
		    cfg->versions.repository);
		return (-1);
	}
	if (git_url_is_local(repo->url)) {
		xasprintf(cause, "repository '%s' of the versions file is a "
		    "local path ('%s'): pushes there have no compare-and-swap "
		    "and lose updates", repo->name, repo->url);
		return (-1);
	}
	/* Check it here, so a bad request never reaches the queue. */
	if ((j = vw_job_new(cfg, repo, NULL, req, cause)) == NULL)
		return (-1);
	vw_job_free(j);
	timeout = req->timeout_ms != 0 ? req->timeout_ms :
	    cfg->versions.timeout_ms;
	rv = vw_queue_submit(cfg, repo, req, timeout, r, cause);
	r->elapsed_ms = time_monotonic_ms() - start;
	if (rv == 0)
		log_event(LOG_LEVEL_INFO, r->summary, "repo", repo->name,
		    "service", req->service, "environment", req->environment,
		    "outcome", r->outcome == VERSIONS_COMMITTED ? "committed" :
		    r->outcome == VERSIONS_UNCHANGED ? "unchanged" : "refused",
		    "commit", r->commit, "attempts", LOG_INT(r->attempts),
		    "batch", LOG_INT(r->batch), NULL);
	return (rv);
}

void
versions_result_free(struct versions_result *r)
{
	free(r->commit);
	free(r->summary);
	free(r->previous_version);
	free(r->version);
	free(r->previous_image);
	free(r->image);
	memset(r, 0, sizeof *r);
}

/* What a commit's message says of the deploy it makes, if any. */
static int
vw_info_cb(const struct git_commit_info *ci, void *arg, char **cause)
{
	struct versions_commit	*info = arg;
	char			*of;

	(void)cause;
	info->service = vw_message_trailer(ci->message, TRAILER_SERVICE);
	info->environment = vw_message_trailer(ci->message,
	    TRAILER_ENVIRONMENT);
	info->version = vw_message_trailer(ci->message, TRAILER_VERSION);
	info->previous_version = vw_message_trailer(ci->message,
	    TRAILER_PREV_VERSION);
	if ((of = vw_message_trailer(ci->message, TRAILER_ROLLBACK_OF)) !=
	    NULL || (of = vw_message_reverts(ci->message)) != NULL) {
		info->rollback = 1;
		free(of);
	}
	info->subject = vw_subject(ci->message);
	return (1);
}

/* The local cache of the versions repository. */
static int
vw_versions_cache(const struct config *cfg, struct git_cache **gc,
    char **cause)
{
	const struct config_repository	*repo;

	if (cfg->versions.repository == NULL ||
	    (repo = config_find_repository(cfg,
	    cfg->versions.repository)) == NULL || repo->url == NULL) {
		xasprintf(cause, "no versions repository configured");
		return (-1);
	}
	return (git_cache_open(cfg->state_dir, repo->name, repo->url, gc,
	    cause));
}

int
versions_commit_info(const struct config *cfg, const char *commit,
    struct versions_commit *info, char **cause)
{
	struct git_cache	*gc = NULL;
	int			 rc;

	memset(info, 0, sizeof *info);
	if (vw_versions_cache(cfg, &gc, cause) == -1)
		return (-1);
	rc = git_log_first_parent(gc, commit, 1, vw_info_cb, info, cause);
	git_cache_free(gc);
	if (rc == -1) {
		versions_commit_free(info);
		return (-1);
	}
	info->bump = info->service != NULL && info->environment != NULL &&
	    !info->rollback;
	return (0);
}

/* Collecting the deploys and rollbacks of a service. */
struct vw_history {
	const char	*service;
	const char	*environment;
	size_t		 max;
	struct json	*events;
};

static void
vw_json_trailer(struct json *o, const char *key, const char *msg,
    const char *trailer)
{
	char	*v = vw_message_trailer(msg, trailer);

	json_set(o, key, v != NULL ? json_new_string_owned(v) :
	    json_new_null());
}

static int
vw_history_cb(const struct git_commit_info *ci, void *arg, char **cause)
{
	struct vw_history	*h = arg;
	struct json		*o;
	char			*of, at[TIME_FORMAT_LEN];

	(void)cause;
	if (!vw_message_ours(ci->message, h->service, h->environment))
		return (0);
	of = vw_message_trailer(ci->message, TRAILER_ROLLBACK_OF);
	o = json_new_object();
	json_set(o, "commit", json_new_string(ci->id));
	time_format((uint64_t)(ci->time > 0 ? ci->time : 0) * 1000, at,
	    sizeof at);
	json_set(o, "at", json_new_string(at));
	json_set(o, "kind", json_new_string(of != NULL ? "rollback" :
	    "deploy"));
	vw_json_trailer(o, "version", ci->message, TRAILER_VERSION);
	vw_json_trailer(o, "previousVersion", ci->message,
	    TRAILER_PREV_VERSION);
	json_set(o, "subject", json_new_string_owned(vw_subject(
	    ci->message)));
	json_set(o, "rollbackOf", of != NULL ? json_new_string_owned(of) :
	    json_new_null());
	json_array_append(h->events, o);
	return (json_count(h->events) >= h->max);
}

int
versions_history(const struct config *cfg, const char *service,
    const char *environment, size_t max, struct json **out, char **cause)
{
	const struct config_repository	*repo;
	struct git_cache		*gc = NULL;
	struct vw_history		 h;
	int				 rc = -1;

	*out = NULL;
	if (vw_versions_cache(cfg, &gc, cause) == -1)
		return (-1);
	repo = config_find_repository(cfg, cfg->versions.repository);
	memset(&h, 0, sizeof h);
	h.service = service;
	h.environment = environment;
	h.max = max;
	h.events = json_new_array();
	if (max == 0) {
		rc = 0;
		goto out;
	}
	rc = git_log_first_parent(gc, repo->branch, VERSIONS_HISTORY_MAX,
	    vw_history_cb, &h, cause);
out:
	git_cache_free(gc);
	if (rc == -1) {
		json_free(h.events);
		return (-1);
	}
	*out = h.events;
	return (0);
}

int
versions_blame(const struct config *cfg, const char *head, const char *good,
    const char *service, const char *environment, struct versions_blame *b,
    char **cause)
{
	struct git_cache	*gc = NULL;
	struct vw_find		 f;
	int			 rc;

	memset(b, 0, sizeof *b);
	if (good == NULL)
		return (0);
	if (vw_versions_cache(cfg, &gc, cause) == -1)
		return (-1);
	memset(&f, 0, sizeof f);
	f.service = service;
	f.environment = environment;
	f.stop = good;
	/* One more than the bound, to meet the good commit right after it. */
	rc = git_log_first_parent(gc, head, VERSIONS_BLAME_MAX + 1, vw_find_cb,
	    &f, cause);
	git_cache_free(gc);
	strv_free(&f.reverted);
	if (rc == -1) {
		free(f.found);
		return (-1);
	}
	b->commits = f.seen;
	if (f.found != NULL && f.seen <= VERSIONS_BLAME_MAX) {
		b->kind = f.was_reverted ? VERSIONS_BLAME_REVERTED :
		    VERSIONS_BLAME_FOUND;
		b->commit = f.found;
		f.found = NULL;
	} else if (f.stopped && f.seen <= VERSIONS_BLAME_MAX)
		b->kind = VERSIONS_BLAME_NONE;
	free(f.found);
	return (0);
}

void
versions_blame_free(struct versions_blame *b)
{
	free(b->commit);
	memset(b, 0, sizeof *b);
}

void
versions_commit_free(struct versions_commit *info)
{
	free(info->service);
	free(info->environment);
	free(info->version);
	free(info->previous_version);
	free(info->subject);
	memset(info, 0, sizeof *info);
}
