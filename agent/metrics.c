/*
 * metrics.c: the agent's counters, gauges and histograms, rendered in
 * Prometheus' text exposition format (version 0.0.4). One table below
 * names every metric with its type and help; a series is a metric plus
 * its label text.
 *
 * Used from the event loop thread only (workers hand their figures back
 * through the completion queue), so nothing here locks.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
};

struct metric_def {
	const char		*name;
	enum metric_type	 type;
	const char		*help;
};

static const struct metric_def metric_defs[] = {
	{ "gitops_webhooks_total", METRIC_COUNTER,
	  "Webhook deliveries by provider and result." },
	{ "gitops_fetches_total", METRIC_COUNTER,
	  "Fetches of a repository by result." },
	{ "gitops_fetch_duration_seconds", METRIC_HISTOGRAM,
	  "How long fetches took." },
	{ "gitops_syncs_total", METRIC_COUNTER,
	  "App syncs by result (Succeeded, Failed)." },
	{ "gitops_sync_duration_seconds", METRIC_HISTOGRAM,
	  "How long each app's sync took, render included." },
	{ "gitops_syncs_skipped_total", METRIC_COUNTER,
	  "Apps not synced: nothing they read changed, a dependency "
	  "failed, another process held the target (locked), suspended, "
	  "or found out of sync and left so (out_of_sync: sync_policy "
	  "manual or self_heal false)." },
	{ "gitops_jobs_coalesced_total", METRIC_COUNTER,
	  "Requests for a repository folded into a fetch already queued "
	  "or running." },
	{ "gitops_jobs_queued", METRIC_GAUGE,
	  "Jobs waiting for a worker." },
	{ "gitops_jobs_running", METRIC_GAUGE, "Jobs being worked on." },
	{ "gitops_bumps_total", METRIC_COUNTER,
	  "Version bumps by outcome (committed, unchanged, refused, "
	  "failed)." },
	{ "gitops_push_retries_total", METRIC_COUNTER,
	  "Pushes of version commits that had to be redone on a new tip." },
	{ "gitops_rollbacks_total", METRIC_COUNTER,
	  "Rollback commits by outcome." },
	{ "gitops_deployments_total", METRIC_COUNTER,
	  "Deploy requests by result." },
	{ "gitops_http_requests_total", METRIC_COUNTER,
	  "HTTP requests answered, by route and status code." },
	{ "gitops_http_connections", METRIC_GAUGE,
	  "HTTP connections open." },
	{ "gitops_http_connections_closed_total", METRIC_COUNTER,
	  "HTTP connections the agent closed before their request arrived, "
	  "by reason (deadline, evicted, per_client, stopping)." },
	{ "gitops_http_accept_pauses_total", METRIC_COUNTER,
	  "Pauses of accepting connections for want of file descriptors." },
	{ "gitops_config_reloads_total", METRIC_COUNTER,
	  "Configuration reloads by result." },
	{ "gitops_app_synced", METRIC_GAUGE,
	  "1 when the app's last sync succeeded, 0 when it failed." },
	{ "gitops_app_sync_state", METRIC_GAUGE,
	  "1 for the app's sync state (Synced, OutOfSync, Unknown), 0 for "
	  "the others." },
	{ "gitops_shards", METRIC_GAUGE,
	  "Shards the apps are split into (coordination)." },
	{ "gitops_shards_held", METRIC_GAUGE,
	  "Shards this replica holds the Lease of (renewed in time)." },
	{ "gitops_lease_replicas", METRIC_GAUGE,
	  "Live replicas as this one counts them (member Leases)." },
	{ "gitops_lease_transitions_total", METRIC_COUNTER,
	  "Shards this replica took or lost." },
	{ "gitops_lease_renew_seconds", METRIC_GAUGE,
	  "How long the last Lease round took on the API server." },
	{ "gitops_app_health", METRIC_GAUGE,
	  "1 for the app's health (Healthy, Progressing, Degraded, Missing, "
	  "Suspended, Unknown), 0 for the others." },
	{ "gitops_drift_checks_total", METRIC_COUNTER,
	  "Drift checks between polls, by what they found: synced, "
	  "out_of_sync (reported: sync_policy manual or self_heal false) or "
	  "healed (self-heal: the last commit applied again)." },
};
#define METRIC_DEFS	(sizeof metric_defs / sizeof metric_defs[0])

/* Seconds: from a fast no-op sync to a slow rollout. */
static const double metric_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300 };
#define METRIC_BUCKETS	(sizeof metric_buckets / sizeof metric_buckets[0])

struct metric_series {
	const struct metric_def	*def;
	char			*labels;	/* "" when none */
	double			 value;		/* counter, gauge; sum */
	uint64_t		 count;		/* histogram */
	uint64_t		 buckets[METRIC_BUCKETS];
};

struct metrics {
	struct strmap	*series;	/* "name{labels}" -> series */
};

struct metrics *
metrics_new(void)
{
	struct metrics	*m = xcalloc(1, sizeof *m);

	m->series = strmap_new(64);
	return (m);
}

void
metrics_free(struct metrics *m)
{
	struct metric_series	*s;
	size_t			 cursor = 0;
	void			*v;

	if (m == NULL)
		return;
	while (strmap_next(m->series, &cursor, NULL, &v)) {
		s = v;
		free(s->labels);
		free(s);
	}
	strmap_free(m->series);
	free(m);
}

static const struct metric_def *
metrics_def(const char *name)
{
	size_t	i;

	for (i = 0; i < METRIC_DEFS; i++) {
		if (strcmp(metric_defs[i].name, name) == 0)
			return (&metric_defs[i]);
	}
	fatalx("metrics: unknown metric %s", name);
}

static struct metric_series *
metrics_series(struct metrics *m, const char *name, const char *labels,
    int create)
{
	struct metric_series	*s;
	char			*key;

	xasprintf(&key, "%s{%s}", name, labels != NULL ? labels : "");
	s = strmap_get(m->series, key);
	if (s == NULL && create) {
		s = xcalloc(1, sizeof *s);
		s->def = metrics_def(name);
		s->labels = xstrdup(labels != NULL ? labels : "");
		strmap_put(m->series, key, s);
	}
	free(key);
	return (s);
}

void
metrics_add(struct metrics *m, const char *name, const char *labels,
    double v)
{
	metrics_series(m, name, labels, 1)->value += v;
}

void
metrics_set(struct metrics *m, const char *name, const char *labels,
    double v)
{
	metrics_series(m, name, labels, 1)->value = v;
}

void
metrics_observe(struct metrics *m, const char *name, const char *labels,
    double v)
{
	struct metric_series	*s = metrics_series(m, name, labels, 1);
	size_t			 i;

	s->value += v;
	s->count++;
	for (i = 0; i < METRIC_BUCKETS; i++) {
		if (v <= metric_buckets[i])
			s->buckets[i]++;
	}
}

double
metrics_value(const struct metrics *m, const char *name, const char *labels)
{
	struct metric_series	*s;

	s = metrics_series((struct metrics *)m, name, labels, 0);
	if (s == NULL)
		return (0);
	return (s->def->type == METRIC_HISTOGRAM ? (double)s->count :
	    s->value);
}

/* Whether label text has WANT ("key=\"value\"") as one of its labels. */
static int
metrics_labels_have(const char *labels, const char *want)
{
	const char	*p = labels;
	size_t		 n = strlen(want);

	/*
	 * A value's own quotes are escaped, so key=" can only start a label:
	 * at the start or after a comma.
	 */
	while ((p = strstr(p, want)) != NULL) {
		if ((p == labels || p[-1] == ',') &&
		    (p[n] == ',' || p[n] == '\0'))
			return (1);
		p++;
	}
	return (0);
}

void
metrics_forget(struct metrics *m, const char *key, const char *value)
{
	struct metric_series	*s;
	struct strv		 gone;
	const char		*k;
	char			*esc, *want;
	size_t			 cursor = 0, i;
	void			*v;

	memset(&gone, 0, sizeof gone);
	esc = metrics_label_escape(value);
	xasprintf(&want, "%s=\"%s\"", key, esc);
	free(esc);
	while (strmap_next(m->series, &cursor, &k, &v)) {
		s = v;
		if (metrics_labels_have(s->labels, want))
			strv_add(&gone, k);
	}
	for (i = 0; i < gone.n; i++) {
		s = strmap_remove(m->series, gone.v[i]);
		free(s->labels);
		free(s);
	}
	strv_free(&gone);
	free(want);
}

char *
metrics_label_escape(const char *v)
{
	struct buf	b;

	buf_init(&b);
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			buf_addc(&b, '\\');
		if (*v == '\n') {
			buf_adds(&b, "\\n");
			continue;
		}
		buf_addc(&b, *v);
	}
	buf_addc(&b, '\0');
	b.len--;
	return (buf_release(&b));
}

static int
metrics_key_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* name{labels,extra} or name{extra} or name{labels} or name. */
static void
metrics_print_name(struct buf *b, const char *name, const char *suffix,
    const char *labels, const char *extra)
{
	buf_printf(b, "%s%s", name, suffix);
	if (*labels == '\0' && extra == NULL)
		return;
	buf_printf(b, "{%s%s%s}", labels, *labels != '\0' && extra != NULL ?
	    "," : "", extra != NULL ? extra : "");
}

static void
metrics_print_value(struct buf *b, double v)
{
	if (v == floor(v) && fabs(v) < 1e15)
		buf_printf(b, " %.0f\n", v);
	else
		buf_printf(b, " %.6g\n", v);
}

char *
metrics_render(const struct metrics *m)
{
	static const char *const	 types[] = { "counter", "gauge",
					     "histogram" };
	struct metric_series		*s;
	struct strv			 keys;
	struct buf			 b;
	const char			*key;
	char				 le[32];
	size_t				 cursor = 0, d, i, j, n;
	void				*v;

	memset(&keys, 0, sizeof keys);
	while (strmap_next(m->series, &cursor, &key, &v))
		strv_add(&keys, key);
	qsort(keys.v, keys.n, sizeof *keys.v, metrics_key_cmp);
	buf_init(&b);
	for (d = 0; d < METRIC_DEFS; d++) {
		buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n",
		    metric_defs[d].name, metric_defs[d].help,
		    metric_defs[d].name, types[metric_defs[d].type]);
		n = strlen(metric_defs[d].name);
		for (i = 0; i < keys.n; i++) {
			if (strncmp(keys.v[i], metric_defs[d].name, n) != 0 ||
			    keys.v[i][n] != '{')
				continue;
			s = strmap_get(m->series, keys.v[i]);
			if (s->def->type != METRIC_HISTOGRAM) {
				metrics_print_name(&b, s->def->name, "",
				    s->labels, NULL);
				metrics_print_value(&b, s->value);
				continue;
			}
			for (j = 0; j < METRIC_BUCKETS; j++) {
				snprintf(le, sizeof le, "le=\"%g\"",
				    metric_buckets[j]);
				metrics_print_name(&b, s->def->name, "_bucket",
				    s->labels, le);
				metrics_print_value(&b, (double)s->buckets[j]);
			}
			metrics_print_name(&b, s->def->name, "_bucket",
			    s->labels, "le=\"+Inf\"");
			metrics_print_value(&b, (double)s->count);
			metrics_print_name(&b, s->def->name, "_sum",
			    s->labels, NULL);
			metrics_print_value(&b, s->value);
			metrics_print_name(&b, s->def->name, "_count",
			    s->labels, NULL);
			metrics_print_value(&b, (double)s->count);
		}
	}
	strv_free(&keys);
	buf_addc(&b, '\0');
	b.len--;
	return (buf_release(&b));
}
