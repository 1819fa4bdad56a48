/*
 * handoff.c: deploy requests a replica accepted and has not finished,
 * kept on the API server so the next holder of their shard carries them
 * out if that replica dies. One ConfigMap each, gitops-agent-deploy-
 * DIGEST (the first 40 hex digits of the signed body's SHA-256) in the
 * coordination namespace, labelled with its shard; its "request" key is
 * the request as the replica keeps it on disk.
 *
 * The API server is the store because every replica reaches it already
 * and nothing else of theirs is shared: a request is not in Git until
 * its bump is committed, and a replica's disk goes with it. Carrying a
 * request out twice (its replica committed the bump, then died before
 * deleting it) commits nothing the second time: the version is already
 * there.
 *
 * Blocking: the daemon's lease thread calls these, never the loop.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gitops.h"
#include "kube.h"

#define HANDOFF_PREFIX		"gitops-agent-deploy-"
#define HANDOFF_LABEL		"gitops-agent.io/deploy-shard"
#define HANDOFF_MANAGER		"gitops-agent"
#define HANDOFF_DIGEST_LEN	40

static int
handoff_kind(struct lease_set *ls, const struct kube_kind **kk, char **cause)
{
	int	rc;

	rc = kube_kind_lookup(lease_set_kube(ls), "v1", "ConfigMap", kk,
	    cause);
	if (rc == 1)
		xasprintf(cause, "the API server does not serve ConfigMaps");
	return (rc == 0 ? 0 : -1);
}

static char *
handoff_name(const char *digest)
{
	char	*name;

	xasprintf(&name, "%s%.*s", HANDOFF_PREFIX, HANDOFF_DIGEST_LEN, digest);
	return (name);
}

int
handoff_put(struct lease_set *ls, const char *digest, int shard,
    const char *request, char **cause)
{
	const struct kube_kind	*kk;
	struct json		*obj, *md, *labels, *data;
	enum kube_why		 why;
	char			*name, n[16];
	int			 rc;

	if (handoff_kind(ls, &kk, cause) == -1)
		return (-1);
	name = handoff_name(digest);
	snprintf(n, sizeof n, "%d", shard);
	obj = json_new_object();
	json_set(obj, "apiVersion", json_new_string("v1"));
	json_set(obj, "kind", json_new_string("ConfigMap"));
	md = json_new_object();
	json_set(md, "name", json_new_string(name));
	json_set(md, "namespace", json_new_string(lease_set_namespace(ls)));
	labels = json_new_object();
	json_set(labels, HANDOFF_LABEL, json_new_string(n));
	json_set(md, "labels", labels);
	json_set(obj, "metadata", md);
	data = json_new_object();
	json_set(data, "request", json_new_string(request));
	json_set(obj, "data", data);
	rc = kube_write(lease_set_kube(ls), kk, obj, HANDOFF_MANAGER, NULL,
	    &why, cause);
	/* There already: a redelivery, or a replica before us put it. */
	if (rc == -1 && why == KUBE_WHY_EXISTS) {
		free(*cause);
		*cause = NULL;
		rc = 0;
	}
	json_free(obj);
	free(name);
	return (rc);
}

int
handoff_done(struct lease_set *ls, const char *digest, char **cause)
{
	const struct kube_kind	*kk;
	struct json		*obj = NULL;
	const char		*uid;
	char			*name;
	int			 rc = -1;

	if (handoff_kind(ls, &kk, cause) == -1)
		return (-1);
	name = handoff_name(digest);
	if (kube_get(lease_set_kube(ls), kk, lease_set_namespace(ls), name,
	    &obj, cause) == -1)
		goto out;
	/* Gone already, or never kept (the store was down): done. */
	if (obj == NULL ||
	    (uid = json_path_string(obj, "metadata", "uid", NULL)) == NULL) {
		rc = 0;
		goto out;
	}
	rc = kube_delete(lease_set_kube(ls), kk, lease_set_namespace(ls),
	    name, uid, 0, NULL, cause);
out:
	json_free(obj);
	free(name);
	return (rc);
}

struct handoff_list {
	struct lease_set	*ls;
	uint64_t		 now;
	void			(*fn)(void *, const char *, const char *);
	void			*arg;
};

static void
handoff_list_cb(void *arg, struct json *item)
{
	struct handoff_list	*hl = arg;
	const char		*name, *shard, *request;
	char			*end;
	long			 n;

	name = json_path_string(item, "metadata", "name", NULL);
	shard = json_path_string(item, "metadata", "labels", HANDOFF_LABEL,
	    NULL);
	request = json_path_string(item, "data", "request", NULL);
	if (name == NULL || shard == NULL || request == NULL ||
	    strncmp(name, HANDOFF_PREFIX, strlen(HANDOFF_PREFIX)) != 0)
		return;
	n = strtol(shard, &end, 10);
	if (*shard == '\0' || *end != '\0' || n < 0 || n > INT32_MAX ||
	    !lease_set_holds(hl->ls, (int)n, hl->now))
		return;
	hl->fn(hl->arg, name + strlen(HANDOFF_PREFIX), request);
}

int
handoff_adopt(struct lease_set *ls, uint64_t now,
    void (*fn)(void *, const char *, const char *), void *arg, char **cause)
{
	const struct kube_kind	*kk;
	struct handoff_list	 hl;

	if (handoff_kind(ls, &kk, cause) == -1)
		return (-1);
	hl.ls = ls;
	hl.now = now;
	hl.fn = fn;
	hl.arg = arg;
	return (kube_list_each(lease_set_kube(ls), kk, lease_set_namespace(ls),
	    HANDOFF_LABEL, handoff_list_cb, &hl, cause));
}
