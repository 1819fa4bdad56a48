/*
 * health.c: is what was applied healthy, beyond its status (which
 * health_object.c reads)? Two kinds of answer:
 * - probes: an HTTP URL answering the expected status N times in a row,
 *   or a command's exit status, each bounded in time;
 * - Prometheus instant queries compared with a condition, Argo Rollouts'
 *   way (a count of measurements, a failure limit, and a policy for a
 *   Prometheus that cannot be asked).
 *
 * Runs in the thread that syncs (a daemon worker, the CLI's main thread)
 * and blocks while it waits; every wait is bounded by the caller's
 * deadline, and ends within STOP_POLL_MS once the caller's stop flag is
 * set (the agent is shutting down). Commands run through spawn.c (an
 * argv, never a shell).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gitops.h"

/*
 * A condition: "result OP NUMBER" (or "NUMBER OP result"), OP one of
 * < <= > >= == !=; checked when configured, evaluated per measurement.
 */
int
health_condition_parse(const char *text, struct health_condition *c,
    char **cause)
{
	static const char *const	 ops[] = { "<=", ">=", "==", "!=", "<",
					     ">", NULL };
	const char			*p = text, *q, *num;
	char				*end;
	size_t				 i;
	int				 flipped = 0;

	memset(c, 0, sizeof *c);
	while (*p == ' ')
		p++;
	if (strncmp(p, "result", 6) == 0)
		p += 6;
	else
		flipped = 1;
	num = p;
	if (flipped) {
		c->value = strtod(p, &end);
		if (end == p)
			goto bad;
		p = end;
	}
	while (*p == ' ')
		p++;
	for (i = 0; ops[i] != NULL; i++) {
		if (strncmp(p, ops[i], strlen(ops[i])) == 0)
			break;
	}
	if (ops[i] == NULL)
		goto bad;
	c->op = (int)i;
	p += strlen(ops[i]);
	while (*p == ' ')
		p++;
	if (flipped) {
		if (strncmp(p, "result", 6) != 0)
			goto bad;
		p += 6;
		/* NUMBER < result is result > NUMBER. */
		static const int swap[] = { 1, 0, 2, 3, 5, 4 };
		c->op = swap[c->op];
	} else {
		q = p;
		c->value = strtod(p, &end);
		if (end == q)
			goto bad;
		p = end;
	}
	while (*p == ' ')
		p++;
	if (*p != '\0' || !isfinite(c->value))
		goto bad;
	(void)num;
	return (0);
bad:
	xasprintf(cause, "condition '%s': want 'result OP NUMBER' with OP one "
	    "of < <= > >= == !=", text);
	return (-1);
}

int
health_condition_eval(const struct health_condition *c, double v)
{
	switch (c->op) {
	case 0: return (v <= c->value);
	case 1: return (v >= c->value);
	case 2: return (v == c->value);
	case 3: return (v != c->value);
	case 4: return (v < c->value);
	case 5: return (v > c->value);
	}
	return (0);
}


static int
health_stopped(const int *stop)
{
	return (stop != NULL && __atomic_load_n(stop, __ATOMIC_ACQUIRE) != 0);
}

/* The verdict of a probe the stop flag interrupted. */
static enum probe_verdict
health_stop(char **why)
{
	free(*why);
	*why = xstrdup("stopped: the agent is shutting down");
	return (PROBE_FAILED);
}

/*
 * Wait interval, or until the deadline, or until stop is set; 0 when the
 * deadline passed or stop is set.
 */
static int
health_pause(uint64_t interval, uint64_t deadline, const int *stop)
{
	uint64_t	now = time_monotonic_ms(), until;

	if (deadline != 0 && now >= deadline)
		return (0);
	until = now + interval;
	if (deadline != 0 && until > deadline)
		until = deadline;
	while (!health_stopped(stop) && (now = time_monotonic_ms()) < until)
		time_sleep_ms(until - now > STOP_POLL_MS ? STOP_POLL_MS :
		    until - now);
	return (!health_stopped(stop) && (deadline == 0 ||
	    time_monotonic_ms() < deadline));
}

static int	health_prometheus_ask(const char *, const char *, uint64_t,
		    const int *, const char *, double *, char **);

/* One measurement of a Prometheus query: its value, or -1 and cause. */
int
health_prometheus_query(const char *base, const char *query,
    uint64_t timeout_ms, double *value, char **cause)
{
	return (health_prometheus_ask(base, query, timeout_ms, NULL, NULL,
	    value, cause));
}

static int
health_prometheus_ask(const char *base, const char *query,
    uint64_t timeout_ms, const int *stop, const char *ca_file, double *value,
    char **cause)
{
	struct http_req		 req;
	struct http_response	 resp;
	struct json		*o = NULL, *res, *v;
	const char		*status, *s;
	char			*q, *url, *end, *err = NULL;
	size_t			 n;
	int			 rc = -1;

	q = http_query_escape(query);
	n = strlen(base);
	xasprintf(&url, "%.*s/api/v1/query?query=%s", (int)(n > 0 &&
	    base[n - 1] == '/' ? n - 1 : n), base, q);
	free(q);
	memset(&req, 0, sizeof req);
	req.method = "GET";
	req.url = url;
	req.timeout_ms = timeout_ms;
	req.stop = stop;
	req.ca_file = ca_file;
	if (http_send(&req, &resp, cause) == -1) {
		free(url);
		return (-1);
	}
	if ((o = json_parse(resp.body, resp.len, &err)) == NULL) {
		xasprintf(cause, "Prometheus answered %d, not JSON: %s",
		    resp.status, err);
		free(err);
		goto out;
	}
	status = json_path_string(o, "status", NULL);
	if (resp.status != 200 || status == NULL ||
	    strcmp(status, "success") != 0) {
		xasprintf(cause, "query '%s' failed (%d): %s", query,
		    resp.status, json_path_string(o, "error", NULL) != NULL ?
		    json_path_string(o, "error", NULL) : "no error given");
		goto out;
	}
	/* A vector's first sample, or a scalar: [time, "value"]. */
	res = json_path(o, "data", "result", NULL);
	if (json_type(res) == JSON_ARRAY && json_count(res) > 0 &&
	    json_type(json_child(res)) == JSON_OBJECT)
		v = json_path(json_child(res), "value", NULL);
	else
		v = res;
	s = json_string(json_array_get(v, 1));
	if (json_type(res) == JSON_ARRAY && json_count(res) == 0) {
		xasprintf(cause, "query '%s' returned no data", query);
		goto out;
	}
	if (s == NULL) {
		xasprintf(cause, "query '%s' returned no number", query);
		goto out;
	}
	*value = strtod(s, &end);
	if (end == s || *end != '\0') {
		xasprintf(cause, "query '%s' returned '%s', not a number",
		    query, s);
		goto out;
	}
	/*
	 * NaN is Prometheus' 0/0 (a rate with no traffic yet): no evidence
	 * either way, so a measurement that could not be taken, never a miss
	 * (every comparison with NaN but != is false).
	 */
	if (isnan(*value)) {
		xasprintf(cause, "query '%s' returned NaN", query);
		goto out;
	}
	rc = 0;
out:
	json_free(o);
	http_response_free(&resp);
	free(url);
	return (rc);
}

const char *
probe_type_name(enum probe_type t)
{
	switch (t) {
	case PROBE_HTTP:
		return ("http");
	case PROBE_COMMAND:
		return ("command");
	case PROBE_PROMETHEUS:
		return ("prometheus");
	}
	return ("?");
}

/*
 * Run a probe to its verdict: PROBE_PASSED, PROBE_FAILED, or
 * PROBE_INCONCLUSIVE (Prometheus could not be asked, policy aside);
 * *why says what was seen. deadline (monotonic ms, 0: none) bounds it.
 */
enum probe_verdict
probe_run(const struct probe *p, char *const *envp, uint64_t deadline,
    const int *stop, char **why)
{
	struct http_req		 req;
	struct http_response	 resp;
	struct spawn_opts	 so;
	struct spawn_result	 sr;
	struct health_condition	 cond;
	char			*cause = NULL, *out;
	double			 v;
	int			 ok = 0, bad = 0, errors = 0, i, want;
	uint64_t		 timeout;

	*why = NULL;
	timeout = p->timeout_ms != 0 ? p->timeout_ms : 5000;
	switch (p->type) {
	case PROBE_HTTP:
		memset(&req, 0, sizeof req);
		req.method = "GET";
		req.url = p->url;
		req.timeout_ms = timeout;
		req.max_body = 64 * 1024;
		req.stop = stop;
		req.ca_file = p->ca_file;
		want = p->successes > 0 ? p->successes : 1;
		for (;;) {
			cause = NULL;
			if (http_send(&req, &resp, &cause) == 0 &&
			    resp.status == (p->expect_status != 0 ?
			    p->expect_status : 200)) {
				http_response_free(&resp);
				if (++ok >= want) {
					free(*why);
					xasprintf(why, "%s answered %d, %d "
					    "times in a row", p->url,
					    p->expect_status != 0 ?
					    p->expect_status : 200, ok);
					return (PROBE_PASSED);
				}
			} else {
				ok = 0;
				bad++;
				free(*why);
				if (cause != NULL)
					*why = cause;
				else {
					xasprintf(why, "%s answered %d, not %d",
					    p->url, resp.status,
					    p->expect_status != 0 ?
					    p->expect_status : 200);
					http_response_free(&resp);
				}
				cause = NULL;
				if (p->failures > 0 && bad >= p->failures) {
					out = *why;
					xasprintf(why, "%d wrong answers in a "
					    "row: %s", bad, out);
					free(out);
					return (PROBE_FAILED);
				}
			}
			if (ok > 0)
				bad = 0;
			if (!health_pause(p->interval_ms != 0 ?
			    p->interval_ms : 1000, deadline, stop)) {
				if (health_stopped(stop))
					return (health_stop(why));
				out = *why;
				xasprintf(why, "not healthy by the deadline: %s",
				    out != NULL ? out : "no answer yet");
				free(out);
				return (PROBE_FAILED);
			}
		}
	case PROBE_COMMAND:
		memset(&so, 0, sizeof so);
		so.envp = envp;
		so.timeout_ms = timeout;
		if (deadline != 0 && deadline - time_monotonic_ms() < timeout)
			so.timeout_ms = deadline > time_monotonic_ms() ?
			    deadline - time_monotonic_ms() : 1;
		so.max_output = 64 * 1024;
		so.stop = stop;
		if (spawn_run(p->argv.v, &so, &sr, &cause) == -1) {
			*why = cause;
			return (PROBE_FAILED);
		}
		if (sr.stopped) {
			spawn_result_free(&sr);
			return (health_stop(why));
		}
		if (sr.exited && sr.status == 0) {
			xasprintf(why, "'%s' exited 0", p->argv.v[0]);
			spawn_result_free(&sr);
			return (PROBE_PASSED);
		}
		out = redact_output(sr.err != NULL ? sr.err : "",
		    sr.errlen > 512 ? 512 : sr.errlen);
		xasprintf(why, "'%s' %s%s%s", p->argv.v[0], sr.timed_out ?
		    "did not finish in time" : sr.exited ? "failed" :
		    "was killed", *out != '\0' ? ": " : "", out);
		free(out);
		spawn_result_free(&sr);
		return (PROBE_FAILED);
	case PROBE_PROMETHEUS:
		if (health_condition_parse(p->condition, &cond, why) == -1)
			return (PROBE_FAILED);
		want = p->count > 0 ? p->count : 1;
		for (i = 0; i < want; i++) {
			cause = NULL;
			if (health_prometheus_ask(p->url, p->query, timeout,
			    stop, p->ca_file, &v, &cause) == -1) {
				errors++;
				free(*why);
				*why = cause;
			} else if (health_condition_eval(&cond, v)) {
				ok++;
			} else {
				bad++;
				free(*why);
				xasprintf(why, "%s = %g, wanted %s", p->query,
				    v, p->condition);
				if (bad > p->failure_limit)
					return (PROBE_FAILED);
			}
			if (health_stopped(stop))
				return (health_stop(why));
			if (i + 1 < want && !health_pause(p->interval_ms != 0 ?
			    p->interval_ms : 1000, deadline, stop)) {
				if (health_stopped(stop))
					return (health_stop(why));
				out = *why;
				xasprintf(why, "analysis not finished by the "
				    "deadline%s%s", out != NULL ? ": " : "",
				    out != NULL ? out : "");
				free(out);
				return (PROBE_FAILED);
			}
		}
		if (ok == 0 && errors > 0) {
			out = *why;
			xasprintf(why, "Prometheus at %s gave no measurement: %s",
			    p->url, out != NULL ? out : "no answer");
			free(out);
			return (PROBE_INCONCLUSIVE);
		}
		if (errors > p->failure_limit) {
			out = *why;
			xasprintf(why, "%d of %d measurements failed: %s",
			    errors, want, out != NULL ? out : "");
			free(out);
			return (PROBE_INCONCLUSIVE);
		}
		free(*why);
		xasprintf(why, "%s met %s in %d of %d measurements", p->query,
		    p->condition, ok, want);
		return (PROBE_PASSED);
	}
	return (PROBE_FAILED);
}
