/*
 * status.c: `gitops-agent status [APP]`, the apps' state as the running
 * agent knows it (GET /api/v1/apps, or /api/v1/apps/APP in detail),
 * printed as a table, JSON or YAML, once or redrawn on change (--watch);
 * and the client the commands that talk to the agent share (status,
 * reconcile): the address, the API token, one request.
 *
 * Runs in the main thread of a one-shot command: blocking HTTP/1.0
 * requests over a socket with a deadline; never touches the state files.
 * What the agent sends is data: control characters never reach the
 * terminal from a table.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define STATUS_TIMEOUT_S	10
#define STATUS_MAX_REPLY	(64 * 1024 * 1024)

/*
 * A request to host:port, with the API token if there is one: the code
 * and body of the answer, or -1 and cause when there is no HTTP answer.
 */
static int
status_request(const char *address, const char *method, const char *path,
    const char *token, int *code, char **body, size_t *len, char **cause)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	struct timeval	 tv;
	struct buf	 b;
	char		*host, *port, *req, chunk[8192], *sep;
	ssize_t		 n;
	int		 fd = -1, rc = -1, e;

	host = xstrdup(address);
	if ((port = strrchr(host, ':')) == NULL) {
		xasprintf(cause, "bad address '%s': want HOST:PORT", address);
		free(host);
		return (-1);
	}
	*port++ = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(*host == '\0' ? "127.0.0.1" : host, port, &hints,
	    &res)) != 0) {
		xasprintf(cause, "cannot resolve '%s': %s", address,
		    gai_strerror(e));
		free(host);
		return (-1);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype,
		    ai->ai_protocol)) == -1)
			continue;
		tv.tv_sec = STATUS_TIMEOUT_S;
		tv.tv_usec = 0;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		xasprintf(cause, "cannot connect to the agent at %s: %s (is "
		    "`gitops-agent serve` running?)", address, strerror(errno));
		free(host);
		return (-1);
	}
	xasprintf(&req, "%s %s HTTP/1.0\r\nHost: %s\r\nAccept: "
	    "application/json\r\nContent-Length: 0\r\n%s%s%s\r\n", method,
	    path, address, token != NULL ? "Authorization: Bearer " : "",
	    token != NULL ? token : "", token != NULL ? "\r\n" : "");
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		xasprintf(cause, "cannot send to %s: %s", address,
		    strerror(errno));
		goto out;
	}
	buf_init(&b);
	while ((n = read(fd, chunk, sizeof chunk)) > 0) {
		buf_add(&b, chunk, (size_t)n);
		if (b.len > STATUS_MAX_REPLY) {
			xasprintf(cause, "answer from %s too large", address);
			buf_free(&b);
			goto out;
		}
	}
	if (n == -1) {
		xasprintf(cause, "cannot read from %s: %s", address,
		    strerror(errno));
		buf_free(&b);
		goto out;
	}
	buf_addc(&b, '\0');
	if (sscanf(b.data, "HTTP/%*d.%*d %d", code) != 1 ||
	    (sep = strstr(b.data, "\r\n\r\n")) == NULL) {
		xasprintf(cause, "%s did not answer HTTP", address);
		buf_free(&b);
		goto out;
	}
	*len = b.len - 1 - (size_t)(sep + 4 - b.data);
	*body = xstrndup(sep + 4, *len);
	buf_free(&b);
	rc = 0;
out:
	if (token != NULL)
		explicit_bzero(req, strlen(req));
	free(req);
	free(host);
	close(fd);
	return (rc);
}

int
status_client_open(struct status_client *c, struct cli_env *env,
    const char *address, char **cause)
{
	char	*err = NULL;

	memset(c, 0, sizeof *c);
	if ((c->cfg = config_load(env->config_file, &err)) == NULL) {
		/* --address alone needs no configuration. */
		if (address == NULL) {
			*cause = err;
			return (-1);
		}
		free(err);
	}
	c->address = address != NULL ? address : c->cfg->listen;
	/* The token the agent reads, when the configuration names one. */
	if (c->cfg != NULL && (c->cfg->api_token_file != NULL ||
	    c->cfg->api_token_env != NULL) && config_read_secret(
	    c->cfg->api_token_file, c->cfg->api_token_env, &c->token,
	    &c->token_len, cause) == -1) {
		status_client_close(c);
		return (-1);
	}
	return (0);
}

void
status_client_close(struct status_client *c)
{
	if (c->token != NULL) {
		explicit_bzero(c->token, c->token_len);
		free(c->token);
	}
	config_free(c->cfg);
	memset(c, 0, sizeof *c);
}

/* The JSON of the agent's answer; anything but want is an error. */
struct json *
status_client_call(struct status_client *c, const char *method,
    const char *path, int want, char **cause)
{
	struct json	*j = NULL;
	const char	*msg;
	char		*body = NULL, *perr = NULL;
	size_t		 len;
	int		 code;

	if (status_request(c->address, method, path, c->token, &code, &body,
	    &len, cause) == -1)
		return (NULL);
	j = json_parse(body, len, &perr);
	if (code != want) {
		msg = j != NULL ? json_path_string(j, "message", NULL) : NULL;
		xasprintf(cause, "the agent at %s answered %d: %s",
		    c->address, code, msg != NULL ? msg : "(no message)");
		json_free(j);
		j = NULL;
	} else if (j == NULL)
		xasprintf(cause, "the agent at %s sent bad JSON: %s",
		    c->address, perr);
	else if (json_type(j) != JSON_ARRAY && json_type(j) != JSON_OBJECT) {
		xasprintf(cause, "the agent at %s sent JSON that is not an "
		    "object or an array", c->address);
		json_free(j);
		j = NULL;
	}
	free(perr);
	free(body);
	return (j);
}

/* /api/v1/apps/NAME[/rest], the name percent-encoded. */
char *
status_app_path(const char *app, const char *rest)
{
	static const char	 hex[] = "0123456789ABCDEF";
	struct buf		 b;
	const unsigned char	*p;

	buf_init(&b);
	buf_adds(&b, "/api/v1/apps/");
	for (p = (const unsigned char *)app; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL)
			buf_addc(&b, (char)*p);
		else {
			buf_addc(&b, '%');
			buf_addc(&b, hex[*p >> 4]);
			buf_addc(&b, hex[*p & 15]);
		}
	}
	if (rest != NULL)
		buf_adds(&b, rest);
	buf_addc(&b, '\0');
	return (b.data);
}

/* A value fit for a terminal: control characters shown as '?'. */
const char *
status_clean(char *out, size_t len, const char *s)
{
	size_t	i;

	if (s == NULL)
		s = "-";
	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' :
		    s[i];
	out[i] = '\0';
	return (out);
}

static void
status_ago(char *out, size_t len, double at_s)
{
	double	d = (double)time(NULL) - at_s;

	if (at_s <= 0)
		snprintf(out, len, "-");
	else if (d < 120)
		snprintf(out, len, "%.0fs ago", d < 0 ? 0 : d);
	else if (d < 7200)
		snprintf(out, len, "%.0fm ago", d / 60);
	else
		snprintf(out, len, "%.0fh ago", d / 3600);
}

/* The finishedAt of a sync result as seconds since the epoch, or 0. */
static double
status_finished(const struct json *app)
{
	const char	*t = json_path_string(app, "lastSync", "finishedAt",
			    NULL);
	struct tm	 tm;

	memset(&tm, 0, sizeof tm);
	if (t == NULL || strptime(t, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return (0);
	return ((double)timegm(&tm));
}

/*
 * The apps as a table; WHEN is how long ago each last synced, or in a
 * watch (which redraws only on change) the time it finished.
 */
static void
status_print_apps(FILE *f, const struct json *apps, int watch)
{
	const struct json	*e;
	const char		*err;
	char			 ago[32], name[64], st[32], rev[13], head[13];
	char			 msg[512], sy[16], he[16];

	fprintf(f, "%-24s %-10s %-10s %-12s %-12s %-12s %-*s %s\n", "APP",
	    "STATUS", "SYNC", "HEALTH", "SYNCED", "HEAD", watch ? 20 : 10,
	    "WHEN", "MESSAGE");
	for (e = json_child(apps); e != NULL; e = json_next(e)) {
		err = json_path_string(e, "lastSync", "error", NULL);
		if (err == NULL)
			err = json_path_string(e, "fetchError", NULL);
		if (err == NULL)
			err = json_path_string(e, "lastCheckReason", NULL);
		if (watch)
			status_clean(ago, sizeof ago, json_path_string(e,
			    "lastSync", "finishedAt", NULL));
		else
			status_ago(ago, sizeof ago, status_finished(e));
		fprintf(f, "%-24s %-10s %-10s %-12s %-12s %-12s %-*s %s\n",
		    status_clean(name, sizeof name, json_path_string(e, "name",
		    NULL)), status_clean(st, sizeof st, json_path_string(e,
		    "status", NULL)), status_clean(sy, sizeof sy,
		    json_path_string(e, "syncState", NULL)), status_clean(he,
		    sizeof he, json_path_string(e, "health", NULL)),
		    status_clean(rev, sizeof rev,
		    json_path_string(e, "lastSyncedCommit", NULL)),
		    status_clean(head, sizeof head, json_path_string(e, "head",
		    NULL)), watch ? 20 : 10, ago, err != NULL ?
		    status_clean(msg, sizeof msg,
		    err) : "");
	}
}

/* "KEY:  value" when the value is there. */
static void
status_line(FILE *f, const char *key, const char *value)
{
	char	clean[1024];

	if (value != NULL)
		fprintf(f, "%-14s %s\n", key, status_clean(clean, sizeof clean,
		    value));
}

/*
 * "KEY:  " and the fields of an object that are there, each after its
 * prefix: pairs of prefix and field name, to a NULL.
 */
static void
status_fields(FILE *f, const char *key, const struct json *o,
    const char *const *pairs)
{
	struct buf	 b;
	const char	*v;

	if (o == NULL || json_type(o) != JSON_OBJECT)
		return;
	buf_init(&b);
	for (; pairs[0] != NULL; pairs += 2) {
		if ((v = json_path_string(o, pairs[1], NULL)) == NULL)
			continue;
		buf_adds(&b, b.len != 0 ? pairs[0] : "");
		buf_adds(&b, v);
	}
	buf_addc(&b, '\0');
	status_line(f, key, b.data);
	buf_free(&b);
}

/* One sync result on a line: when, status, revision, counts, error. */
void
status_print_sync(FILE *f, const struct json *s)
{
	char	at[32], st[32], rev[13], err[512];

	fprintf(f, "%-20s %-10s %-12s %3.0f created %3.0f updated %3.0f "
	    "pruned%s%s\n", status_clean(at, sizeof at, json_path_string(s,
	    "finishedAt", NULL)), status_clean(st, sizeof st,
	    json_path_string(s, "status", NULL)), status_clean(rev,
	    sizeof rev, json_path_string(s, "revision", NULL)),
	    json_number(json_get(s, "created")),
	    json_number(json_get(s, "updated")),
	    json_number(json_get(s, "pruned")),
	    json_path_string(s, "error", NULL) != NULL ? "  " : "",
	    json_path_string(s, "error", NULL) != NULL ? status_clean(err,
	    sizeof err, json_path_string(s, "error", NULL)) : "");
}

/* A list of strings as "a, b, c (and N more)". */
static void
status_join(struct buf *b, const struct json *list, const struct json *more)
{
	const struct json	*e;
	size_t			 n = 0;

	for (e = json_child(list); e != NULL; e = json_next(e))
		if (json_string(e) != NULL)
			buf_printf(b, "%s%s", n++ != 0 ? ", " : "",
			    json_string(e));
	if (json_number(more) > 0)
		buf_printf(b, " (and %.0f more)", json_number(more));
}

/*
 * What the last drift check found drifted: per resource, the fields of
 * ours (an apply sets them back) and those only other managers set.
 */
static void
status_print_drift(FILE *f, const struct json *drift)
{
	const struct json	*d;
	struct buf		 b;
	char			 id[256], line[1024];

	if (drift == NULL || json_count(drift) == 0)
		return;
	fprintf(f, "\nDRIFT\n");
	for (d = json_child(drift); d != NULL; d = json_next(d)) {
		buf_init(&b);
		if (json_count(json_get(d, "fields")) != 0) {
			buf_adds(&b, "ours: ");
			status_join(&b, json_get(d, "fields"),
			    json_get(d, "fieldsNotListed"));
		}
		if (json_count(json_get(d, "othersFields")) != 0) {
			buf_adds(&b, b.len != 0 ? "; not ours (" : "not ours (");
			status_join(&b, json_get(d, "managers"), NULL);
			buf_adds(&b, "): ");
			status_join(&b, json_get(d, "othersFields"),
			    json_get(d, "othersFieldsNotListed"));
		}
		buf_addc(&b, '\0');
		fprintf(f, "%-56s %s\n", status_clean(id, sizeof id,
		    json_path_string(d, "id", NULL)), status_clean(line,
		    sizeof line, b.data));
		buf_free(&b);
	}
}

static void
status_print_app(FILE *f, const struct json *app)
{
	const struct json	*r, *s, *rs;
	char			 id[256], sy[16], he[16], line[512];

	status_line(f, "app:", json_path_string(app, "name", NULL));
	status_line(f, "repository:", json_path_string(app, "repository",
	    NULL));
	status_line(f, "path:", json_path_string(app, "path", NULL));
	status_line(f, "target:", json_path_string(app, "target", NULL));
	status_line(f, "service:", json_path_string(app, "service", NULL));
	status_line(f, "environment:", json_path_string(app, "environment",
	    NULL));
	status_line(f, "status:", json_path_string(app, "status", NULL));
	status_line(f, "sync state:", json_path_string(app, "syncState",
	    NULL));
	status_line(f, "health:", json_path_string(app, "health", NULL));
	status_line(f, "synced:", json_path_string(app, "lastSyncedCommit",
	    NULL));
	status_line(f, "head:", json_path_string(app, "head", NULL));
	status_line(f, "fetch error:", json_path_string(app, "fetchError",
	    NULL));
	if (json_path_string(app, "lastCheck", NULL) != NULL) {
		snprintf(line, sizeof line, "%s%s%s", json_path_string(app,
		    "lastCheck", NULL), json_path_string(app,
		    "lastCheckReason", NULL) != NULL ? ": " : "",
		    json_path_string(app, "lastCheckReason", NULL) != NULL ?
		    json_path_string(app, "lastCheckReason", NULL) : "");
		status_line(f, "last check:", line);
	}
	status_fields(f, "last deploy:", json_get(app, "lastDeploy"),
	    (const char *const[]){ "", "version", " ", "outcome", " commit ",
	    "commit", ": ", "error", NULL });
	status_fields(f, "last rollback:", json_get(app, "lastRollback"),
	    (const char *const[]){ "", "outcome", " at ", "at", ": ",
	    "summary", NULL });
	s = json_get(app, "lastSync");
	if (s != NULL && json_type(s) == JSON_OBJECT) {
		fprintf(f, "\nLAST SYNC\n");
		status_print_sync(f, s);
		/* As the last drift check found them, if one did since. */
		if ((rs = json_get(app, "resources")) == NULL ||
		    json_count(rs) == 0)
			rs = json_get(s, "resources");
		fprintf(f, "\n%-56s %-10s %s\n", "RESOURCE", "SYNC", "HEALTH");
		for (r = json_child(rs); r != NULL; r = json_next(r)) {
			fprintf(f, "%-56s %-10s %s%s%s\n", status_clean(id,
			    sizeof id, json_path_string(r, "id", NULL)),
			    status_clean(sy, sizeof sy, json_path_string(r,
			    "sync", NULL)), status_clean(he, sizeof he,
			    json_path_string(r, "health", NULL)),
			    json_path_string(r, "healthReason", NULL) != NULL ?
			    ": " : "", json_path_string(r, "healthReason",
			    NULL) != NULL ? status_clean(line, sizeof line,
			    json_path_string(r, "healthReason", NULL)) : "");
		}
	}
	status_print_drift(f, json_get(app, "drift"));
	if ((s = json_get(app, "recentSyncs")) != NULL &&
	    json_count(s) != 0) {
		fprintf(f, "\nRECENT SYNCS\n");
		for (r = json_child(s); r != NULL; r = json_next(r))
			status_print_sync(f, r);
	}
}

static volatile sig_atomic_t	status_stop;

static void
status_sig(int sig)
{
	(void)sig;
	status_stop = 1;
}

/* What one look prints, in the format asked for. */
static char *
status_text(const struct json *j, int one, int watch, enum cli_format fmt)
{
	char	*p;
	size_t	 len;
	FILE	*f;

	if (fmt != CLI_FORMAT_TABLE)
		return (cli_format_text(j, fmt));
	if ((f = open_memstream(&p, &len)) == NULL)
		fatal("open_memstream");
	if (one)
		status_print_app(f, j);
	else
		status_print_apps(f, j, watch);
	fclose(f);
	return (p);
}

/* Sleep ms, or less when a signal asked to stop. */
static void
status_pause(uint64_t ms)
{
	uint64_t	step;

	for (; ms > 0 && !status_stop; ms -= step) {
		step = ms < 100 ? ms : 100;
		time_sleep_ms(step);
	}
}

/*
 * --watch: print what the agent says whenever the text changes (a blank
 * line, or YAML's "---", between two); an error is said once while it
 * lasts. Until SIGINT or SIGTERM.
 */
static void
status_watch(struct status_client *c, const char *path, int one,
    enum cli_format fmt, uint64_t interval_ms)
{
	struct sigaction	 sa;
	struct json		*j;
	char			*cause = NULL, *prev = NULL, *text;
	int			 failing = 0, drawn = 0;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = status_sig;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!status_stop) {
		if ((j = status_client_call(c, "GET", path, 200,
		    &cause)) == NULL) {
			if (status_stop) {
				/* The signal cut the call short: not an error. */
				free(cause);
				break;
			}
			if (!failing)
				fprintf(stderr, "gitops-agent status: %s\n",
				    cause);
			failing = 1;
			free(cause);
			cause = NULL;
			free(prev);
			prev = NULL;
		} else {
			failing = 0;
			text = status_text(j, one, 1, fmt);
			json_free(j);
			if (prev == NULL || strcmp(prev, text) != 0) {
				if (drawn++ > 0 || fmt == CLI_FORMAT_YAML)
					fputs(fmt == CLI_FORMAT_YAML ?
					    "---\n" : fmt == CLI_FORMAT_TABLE ?
					    "\n" : "", stdout);
				fputs(text, stdout);
				fflush(stdout);
			}
			free(prev);
			prev = text;
		}
		status_pause(interval_ms);
	}
	free(prev);
}

int
cmd_status(struct cli_env *env, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' },
		{ "watch", no_argument, NULL, 'w' },
		{ "interval", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	struct status_client	 c;
	struct json		*j;
	enum cli_format		 fmt = CLI_FORMAT_TABLE;
	const char		*address = NULL, *app = NULL;
	char			*cause = NULL, *text = NULL, *path;
	uint64_t		 interval_ms = 2000;
	int			 ch, watch = 0, rc = EXIT_ERROR;

	while ((ch = getopt_long(argc, argv, "o:w", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			address = optarg;
			break;
		case 'o':
			if (cli_format_parse(argv[0], optarg, &fmt) == -1)
				return (EXIT_ERROR);
			break;
		case 'w':
			watch = 1;
			break;
		case 'i':
			if (cli_duration_arg(argv[0], "interval", optarg, 100,
			    &interval_ms) == -1)
				return (EXIT_ERROR);
			break;
		default:
			/* main.c checked them against the command table. */
			return (cli_usage_error(argv[0], "bad option"));
		}
	}
	if (argc > optind + 1)
		return (cli_usage_error(argv[0], "unexpected argument '%s'",
		    argv[optind + 1]));
	if (argc > optind)
		app = argv[optind];
	if (status_client_open(&c, env, address, &cause) == -1) {
		fprintf(stderr, "gitops-agent status: %s\n", cause);
		free(cause);
		return (EXIT_ERROR);
	}
	path = app != NULL ? status_app_path(app, NULL) :
	    xstrdup("/api/v1/apps");
	if (watch) {
		status_watch(&c, path, app != NULL, fmt, interval_ms);
		rc = EXIT_OK;
	} else if ((j = status_client_call(&c, "GET", path, 200,
	    &cause)) == NULL)
		fprintf(stderr, "gitops-agent status: %s\n", cause);
	else {
		text = status_text(j, app != NULL, 0, fmt);
		fputs(text, stdout);
		json_free(j);
		rc = EXIT_OK;
	}
	free(path);
	free(text);
	free(cause);
	status_client_close(&c);
	return (rc);
}
