/*
 * health_object.c: a live object's health from its own status, by the
 * rules kstatus (kubernetes-sigs/cli-utils) applies, in its order:
 * being deleted; paused on purpose (a Deployment's spec.paused, a
 * CronJob's spec.suspend: Suspended, as Argo CD says, before kstatus's
 * rules); a generation the controller has not observed; the
 * Reconciling and Stalled conditions; then the rules of the kind
 * (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, Pod,
 * PersistentVolumeClaim, a LoadBalancer Service, CustomResourceDefinition);
 * anything else by its Ready condition if it has one. A configured rule
 * (health_rules) for the object's group and kind comes before the kind's
 * own. Failed in kstatus
 * is Degraded here, InProgress is Progressing, Current is Healthy, as
 * Argo CD names them.
 *
 * Pure: reads one object, allocates only the reason. Any thread.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gitops.h"

/* Container states that do not end by waiting: the pod is failing. */
static const char *const health_bad_waits[] = {
	"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull",
	"InvalidImageName", "CreateContainerConfigError",
	"CreateContainerError", "RunContainerError", NULL
};
/*
 * Of those, what a workload is failed by: not ErrImagePull alone (a
 * registry's hiccup, which the kubelet retries) nor the create errors it
 * retries too.
 */
static const char *const health_lasting_waits[] = {
	"CrashLoopBackOff", "ImagePullBackOff", "InvalidImageName",
	"CreateContainerConfigError", NULL
};

static int	health_group_is(const struct json *, const char *);

static double
health_number(const struct json *o, const char *a, const char *b,
    double def)
{
	struct json	*v = json_path(o, a, b, NULL);

	return (json_type(v) == JSON_NUMBER ? json_number(v) : def);
}

static int
health_is(const char *s, const char *want)
{
	return (s != NULL && strcmp(s, want) == 0);
}

/* The condition of the object's status with this type, if any. */
static const struct json *
health_condition(const struct json *obj, const char *type)
{
	struct json	*c;

	for (c = json_child(json_path(obj, "status", "conditions", NULL));
	    c != NULL; c = json_next(c)) {
		if (health_is(json_path_string(c, "type", NULL), type))
			return (c);
	}
	return (NULL);
}

/* The condition's status, "" when it is absent. */
static const char *
health_condition_status(const struct json *obj, const char *type)
{
	const char	*s;

	s = json_path_string(health_condition(obj, type), "status", NULL);
	return (s != NULL ? s : "");
}

/* A condition's message, else its reason, else dflt. */
static const char *
health_condition_text(const struct json *c, const char *dflt)
{
	const char	*s;

	if ((s = json_path_string(c, "message", NULL)) != NULL && *s != '\0')
		return (s);
	if ((s = json_path_string(c, "reason", NULL)) != NULL && *s != '\0')
		return (s);
	return (dflt);
}

/* Progressing or Degraded, and why (a format and its arguments). */
#define health_progressing(why, ...) \
	(xasprintf((why), __VA_ARGS__), HEALTH_PROGRESSING)
#define health_degraded(why, ...) \
	(xasprintf((why), __VA_ARGS__), HEALTH_DEGRADED)

static enum health_status
health_deployment(const struct json *obj, char **why)
{
	const struct json	*c;
	double			 want, updated, total, avail;

	c = health_condition(obj, "Progressing");
	if (health_is(json_path_string(c, "reason", NULL),
	    "ProgressDeadlineExceeded"))
		return (health_degraded(why, "rollout failed: %s",
		    health_condition_text(c, "ProgressDeadlineExceeded")));
	want = health_number(obj, "spec", "replicas", 1);
	updated = health_number(obj, "status", "updatedReplicas", 0);
	total = health_number(obj, "status", "replicas", 0);
	avail = health_number(obj, "status", "availableReplicas", 0);
	if (updated < want)
		return (health_progressing(why, "%.0f of %.0f replicas "
		    "updated", updated, want));
	if (total > updated)
		return (health_progressing(why, "%.0f old replicas pending "
		    "termination (of %.0f)", total - updated, total));
	if (avail < updated)
		return (health_progressing(why, "%.0f of %.0f updated replicas "
		    "available", avail, updated));
	return (HEALTH_HEALTHY);
}

static enum health_status
health_statefulset(const struct json *obj, char **why)
{
	const char	*cur, *upd, *strategy;
	double		 want, updated, ready, partition;

	want = health_number(obj, "spec", "replicas", 1);
	ready = health_number(obj, "status", "readyReplicas", 0);
	strategy = json_path_string(obj, "spec", "updateStrategy", "type",
	    NULL);
	if (health_is(strategy, "OnDelete")) {
		/* Pods change only when deleted: ready is all one can ask. */
		if (ready < want)
			return (health_progressing(why, "%.0f of %.0f replicas "
			    "ready", ready, want));
		return (HEALTH_HEALTHY);
	}
	partition = json_type(json_path(obj, "spec", "updateStrategy",
	    "rollingUpdate", "partition", NULL)) == JSON_NUMBER ?
	    json_number(json_path(obj, "spec", "updateStrategy",
	    "rollingUpdate", "partition", NULL)) : 0;
	updated = health_number(obj, "status", "updatedReplicas", 0);
	if (partition > 0) {
		/* Only the replicas at or above the partition roll. */
		if (partition < want && updated < want - partition)
			return (health_progressing(why, "%.0f of %.0f replicas "
			    "above partition %.0f updated", updated,
			    want - partition, partition));
		if (ready < want)
			return (health_progressing(why, "%.0f of %.0f replicas "
			    "ready", ready, want));
		return (HEALTH_HEALTHY);
	}
	if (updated < want)
		return (health_progressing(why, "%.0f of %.0f replicas updated",
		    updated, want));
	if (ready < want)
		return (health_progressing(why, "%.0f of %.0f replicas ready",
		    ready, want));
	cur = json_path_string(obj, "status", "currentRevision", NULL);
	upd = json_path_string(obj, "status", "updateRevision", NULL);
	if (cur != NULL && upd != NULL && strcmp(cur, upd) != 0)
		return (health_progressing(why, "rolling out: %.0f of %.0f "
		    "replicas at the new revision", updated, want));
	return (HEALTH_HEALTHY);
}

static enum health_status
health_daemonset(const struct json *obj, char **why)
{
	double	 want, updated, avail;

	want = health_number(obj, "status", "desiredNumberScheduled", 0);
	updated = health_number(obj, "status", "updatedNumberScheduled", 0);
	avail = health_number(obj, "status", "numberAvailable", 0);
	if (updated < want)
		return (health_progressing(why, "%.0f of %.0f pods updated",
		    updated, want));
	if (avail < want)
		return (health_progressing(why, "%.0f of %.0f pods available",
		    avail, want));
	return (HEALTH_HEALTHY);
}

static enum health_status
health_replicaset(const struct json *obj, char **why)
{
	double	 want, ready, avail;

	if (health_is(health_condition_status(obj, "ReplicaFailure"), "True"))
		return (health_degraded(why, "replica failure: %s",
		    health_condition_text(health_condition(obj,
		    "ReplicaFailure"), "ReplicaFailure")));
	want = health_number(obj, "spec", "replicas", 1);
	ready = health_number(obj, "status", "readyReplicas", 0);
	avail = health_number(obj, "status", "availableReplicas", 0);
	if (ready < want)
		return (health_progressing(why, "%.0f of %.0f replicas ready",
		    ready, want));
	if (avail < want)
		return (health_progressing(why, "%.0f of %.0f replicas "
		    "available", avail, want));
	return (HEALTH_HEALTHY);
}

static enum health_status
health_job(const struct json *obj, char **why)
{
	if (health_is(health_condition_status(obj, "Failed"), "True"))
		return (health_degraded(why, "job failed: %s",
		    health_condition_text(health_condition(obj, "Failed"),
		    "Failed")));
	if (health_is(health_condition_status(obj, "Complete"), "True"))
		return (HEALTH_HEALTHY);
	*why = xstrdup("job running");
	return (HEALTH_PROGRESSING);
}

/* A container of a list waiting for one of reasons: Degraded and why. */
static enum health_status
health_containers(const struct json *list, const char *const *reasons,
    char **why)
{
	const struct json	*c;
	const char		*reason, *msg, *name;
	size_t			 i;

	for (c = json_child(list); c != NULL; c = json_next(c)) {
		reason = json_path_string(c, "state", "waiting", "reason",
		    NULL);
		if (reason == NULL)
			continue;
		for (i = 0; reasons[i] != NULL; i++) {
			if (strcmp(reason, reasons[i]) != 0)
				continue;
			name = json_path_string(c, "name", NULL);
			msg = json_path_string(c, "state", "waiting",
			    "message", NULL);
			return (health_degraded(why, "container '%s': %s%s%s",
			    name != NULL ? name : "", reason,
			    msg != NULL ? ": " : "", msg != NULL ? msg : ""));
		}
	}
	return (HEALTH_HEALTHY);
}

/* A pod Failed, or a container of it waiting for one of reasons. */
static enum health_status
health_pod_failed(const struct json *obj, const char *const *reasons,
    char **why)
{
	enum health_status	 h;

	if (health_is(json_path_string(obj, "status", "phase", NULL),
	    "Failed"))
		return (health_degraded(why, "pod failed: %s",
		    json_path_string(obj, "status", "message", NULL) != NULL ?
		    json_path_string(obj, "status", "message", NULL) :
		    json_path_string(obj, "status", "reason", NULL) != NULL ?
		    json_path_string(obj, "status", "reason", NULL) :
		    "Failed"));
	if ((h = health_containers(json_path(obj, "status",
	    "initContainerStatuses", NULL), reasons, why)) != HEALTH_HEALTHY)
		return (h);
	return (health_containers(json_path(obj, "status",
	    "containerStatuses", NULL), reasons, why));
}

static enum health_status
health_pod(const struct json *obj, char **why)
{
	const char		*phase;
	enum health_status	 h;

	phase = json_path_string(obj, "status", "phase", NULL);
	if (health_is(phase, "Succeeded"))
		return (HEALTH_HEALTHY);
	if ((h = health_pod_failed(obj, health_bad_waits, why)) !=
	    HEALTH_HEALTHY)
		return (h);
	if (health_is(phase, "Running") &&
	    health_is(health_condition_status(obj, "Ready"), "True"))
		return (HEALTH_HEALTHY);
	return (health_progressing(why, "pod %s%s", phase != NULL ? phase :
	    "Pending", health_is(phase, "Running") ? ", not ready" : ""));
}

/*
 * A pod of a workload that will not come up by waiting: failed, or a
 * container in a back-off or misconfigured (not ErrImagePull alone, which
 * a registry's hiccup causes and the kubelet retries). 1 and *why if so.
 */
int
health_pod_failing(const struct json *pod, char **why)
{
	char	*w = NULL;

	*why = NULL;
	if (health_pod_failed(pod, health_lasting_waits, &w) ==
	    HEALTH_HEALTHY)
		return (0);
	xasprintf(why, "pod %s: %s", json_path_string(pod, "metadata",
	    "name", NULL) != NULL ? json_path_string(pod, "metadata", "name",
	    NULL) : "?", w);
	free(w);
	return (1);
}

/* A Deployment, StatefulSet or DaemonSet (group apps, or none named). */
int
health_is_workload(const struct json *obj)
{
	const char	*kind = json_path_string(obj, "kind", NULL);

	return (kind != NULL && health_group_is(obj, "apps") &&
	    (strcmp(kind, "Deployment") == 0 ||
	    strcmp(kind, "StatefulSet") == 0 ||
	    strcmp(kind, "DaemonSet") == 0));
}

static enum health_status
health_pvc(const struct json *obj, char **why)
{
	const char	*s = json_path_string(obj, "status", "phase", NULL);

	if (health_is(s, "Bound"))
		return (HEALTH_HEALTHY);
	if (health_is(s, "Lost")) {
		*why = xstrdup("claim lost its volume");
		return (HEALTH_DEGRADED);
	}
	return (health_progressing(why, "claim %s", s != NULL ? s :
	    "not bound"));
}

static enum health_status
health_service(const struct json *obj, char **why)
{
	if (!health_is(json_path_string(obj, "spec", "type", NULL),
	    "LoadBalancer"))
		return (HEALTH_HEALTHY);
	if (json_child(json_path(obj, "status", "loadBalancer", "ingress",
	    NULL)) != NULL)
		return (HEALTH_HEALTHY);
	*why = xstrdup("waiting for the load balancer's address");
	return (HEALTH_PROGRESSING);
}

static enum health_status
health_crd(const struct json *obj, char **why)
{
	if (health_is(health_condition_status(obj, "NamesAccepted"), "False"))
		return (health_degraded(why, "names not accepted: %s",
		    health_condition_text(health_condition(obj,
		    "NamesAccepted"), "NamesAccepted is False")));
	if (health_is(health_condition_status(obj, "Established"), "True"))
		return (HEALTH_HEALTHY);
	*why = xstrdup("not established yet");
	return (HEALTH_PROGRESSING);
}

/* Anything else: its Ready condition, if it has one. */
static enum health_status
health_generic(const struct json *obj, char **why)
{
	const struct json	*c = health_condition(obj, "Ready");
	const char		*s = json_path_string(c, "status", NULL);

	if (c == NULL || health_is(s, "True"))
		return (HEALTH_HEALTHY);
	return (health_progressing(why, "not ready: %s",
	    health_condition_text(c, s != NULL ? s : "Unknown")));
}

/*
 * Paused on purpose, as Argo CD says Suspended: a Deployment with
 * spec.paused (its rollout waits for a resume) or a CronJob with
 * spec.suspend (no Job is started). Before the status, which a CronJob
 * that never ran lacks and a paused Deployment's controller stops
 * updating.
 */
static int
health_suspended(const struct json *obj, const char *kind, char **why)
{
	if (strcmp(kind, "Deployment") == 0 && health_group_is(obj, "apps") &&
	    json_is_true(json_path(obj, "spec", "paused", NULL))) {
		*why = xstrdup("deployment is paused");
		return (1);
	}
	if (strcmp(kind, "CronJob") == 0 && health_group_is(obj, "batch") &&
	    json_is_true(json_path(obj, "spec", "suspend", NULL))) {
		*why = xstrdup("cronjob is suspended");
		return (1);
	}
	return (0);
}

/* By group and kind: a Knative Service or a Volcano Job is not ours. */
static const struct {
	const char	 *group;
	const char	 *kind;
	enum health_status (*fn)(const struct json *, char **);
} health_kinds[] = {
	{ "apps", "Deployment", health_deployment },
	{ "apps", "StatefulSet", health_statefulset },
	{ "apps", "DaemonSet", health_daemonset },
	{ "apps", "ReplicaSet", health_replicaset },
	{ "batch", "Job", health_job },
	{ "", "Pod", health_pod },
	{ "", "PersistentVolumeClaim", health_pvc },
	{ "", "Service", health_service },
	{ "apiextensions.k8s.io", "CustomResourceDefinition", health_crd },
};

/* "apps/v1" is group apps; "v1" the core group "". */
static int
health_group_is(const struct json *obj, const char *group)
{
	const char	*api = json_path_string(obj, "apiVersion", NULL);
	const char	*slash;

	if (group == NULL || api == NULL)
		return (1);	/* any group; an object that names none */
	if ((slash = strchr(api, '/')) == NULL)
		return (*group == '\0');
	return (strlen(group) == (size_t)(slash - api) &&
	    strncmp(api, group, (size_t)(slash - api)) == 0);
}

/* Does the condition "Type=Status" hold? */
static int
health_pair_holds(const struct json *obj, const char *pair,
    const struct json **c)
{
	const char	*eq = strchr(pair, '=');
	char		*type;
	const char	*s;

	type = xstrndup(pair, (size_t)(eq - pair));
	*c = health_condition(obj, type);
	free(type);
	s = json_path_string(*c, "status", NULL);
	return (s != NULL && strcmp(s, eq + 1) == 0);
}

static enum health_status
health_by_rule(const struct json *obj, const struct health_rule *r,
    char **why)
{
	const struct json	*c;
	size_t			 i;

	for (i = 0; i < r->degraded.n; i++) {
		if (health_pair_holds(obj, r->degraded.v[i], &c))
			return (health_degraded(why, "%s: %s",
			    r->degraded.v[i], health_condition_text(c,
			    "as health_rules say")));
	}
	for (i = 0; i < r->healthy.n; i++) {
		if (!health_pair_holds(obj, r->healthy.v[i], &c))
			return (health_progressing(why, "waiting for %s%s%s",
			    r->healthy.v[i], c != NULL ? ": " : "",
			    c != NULL ? health_condition_text(c, "") : ""));
	}
	return (HEALTH_HEALTHY);
}

void
health_rules_copy(struct health_rule **dst, size_t *ndst,
    const struct health_rule *src, size_t n)
{
	size_t	 i, j;

	*dst = NULL;
	*ndst = 0;
	if (n == 0)
		return;
	*dst = xcalloc(n, sizeof **dst);
	for (i = 0; i < n; i++) {
		(*dst)[i] = src[i];
		(*dst)[i].group = src[i].group != NULL ?
		    xstrdup(src[i].group) : NULL;
		(*dst)[i].kind = xstrdup(src[i].kind);
		memset(&(*dst)[i].healthy, 0, sizeof (*dst)[i].healthy);
		memset(&(*dst)[i].degraded, 0, sizeof (*dst)[i].degraded);
		for (j = 0; j < src[i].healthy.n; j++)
			strv_add(&(*dst)[i].healthy, src[i].healthy.v[j]);
		for (j = 0; j < src[i].degraded.n; j++)
			strv_add(&(*dst)[i].degraded, src[i].degraded.v[j]);
	}
	*ndst = n;
}

void
health_rules_free(struct health_rule *v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		free(v[i].group);
		free(v[i].kind);
		strv_free(&v[i].healthy);
		strv_free(&v[i].degraded);
	}
	free(v);
}

enum health_status
health_of_object(const struct json *obj, char **why)
{
	return (health_of_object_ruled(obj, NULL, 0, why));
}

enum health_status
health_of_object_ruled(const struct json *obj,
    const struct health_rule *rules, size_t nrules, char **why)
{
	const struct json	*c;
	const char		*kind = json_path_string(obj, "kind", NULL);
	double			 gen, observed;
	size_t			 i;

	*why = NULL;
	if (kind == NULL)
		return (HEALTH_HEALTHY);
	if (json_path(obj, "metadata", "deletionTimestamp", NULL) != NULL &&
	    json_type(json_path(obj, "metadata", "deletionTimestamp",
	    NULL)) != JSON_NULL) {
		*why = xstrdup("being deleted");
		return (HEALTH_PROGRESSING);
	}
	if (health_suspended(obj, kind, why))
		return (HEALTH_SUSPENDED);
	if (json_get(obj, "status") == NULL)
		return (HEALTH_HEALTHY);	/* nothing to wait for */
	/*
	 * A controller that has not seen this generation has not acted on
	 * it. Workloads always report observedGeneration (0 until then);
	 * other kinds only when they do.
	 */
	gen = health_number(obj, "metadata", "generation", 0);
	if (health_is_workload(obj) || json_type(json_path(obj, "status",
	    "observedGeneration", NULL)) == JSON_NUMBER) {
		observed = health_number(obj, "status", "observedGeneration",
		    0);
		if (gen != 0 && observed < gen)
			return (health_progressing(why, "the controller has "
			    "not observed generation %.0f yet (it saw %.0f)",
			    gen, observed));
	}
	if (health_is(health_condition_status(obj, "Reconciling"), "True")) {
		c = health_condition(obj, "Reconciling");
		return (health_progressing(why, "reconciling: %s",
		    health_condition_text(c, "Reconciling")));
	}
	if (health_is(health_condition_status(obj, "Stalled"), "True")) {
		c = health_condition(obj, "Stalled");
		return (health_degraded(why, "stalled: %s",
		    health_condition_text(c, "Stalled")));
	}
	for (i = 0; i < nrules; i++) {
		if (strcmp(rules[i].kind, kind) == 0 &&
		    health_group_is(obj, rules[i].group))
			return (health_by_rule(obj, &rules[i], why));
	}
	for (i = 0; i < sizeof health_kinds / sizeof health_kinds[0]; i++) {
		if (strcmp(kind, health_kinds[i].kind) == 0 &&
		    health_group_is(obj, health_kinds[i].group))
			return (health_kinds[i].fn(obj, why));
	}
	return (health_generic(obj, why));
}
