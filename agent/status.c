/*
 * status.c: `gitops-agent status`, the apps' state as the running agent
 * knows it: GET /api/v1/apps from the configured listen address (or
 * --address), printed as a table or passed through as JSON.
 *
 * Runs in the main thread of a one-shot command: a blocking HTTP/1.0
 * request over a socket with a deadline; never touches the state files.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define STATUS_TIMEOUT_S	10
#define STATUS_MAX_REPLY	(64 * 1024 * 1024)

/*
 * GET path from host:port, with the API token if there is one; the body
 * of a 200 answer, or -1 and cause.
 */
static int
status_get(const char *address, const char *path, const char *token,
    char **body, size_t *len, char **cause)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	struct timeval	 tv;
	struct buf	 b;
	char		*host, *port, *req, chunk[8192], *sep;
	ssize_t		 n;
	int		 fd = -1, code, rc = -1, e;

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
	xasprintf(&req, "GET %s HTTP/1.0\r\nHost: %s\r\nAccept: "
	    "application/json\r\n%s%s%s\r\n", path, address,
	    token != NULL ? "Authorization: Bearer " : "",
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
	if (sscanf(b.data, "HTTP/%*d.%*d %d", &code) != 1 ||
	    (sep = strstr(b.data, "\r\n\r\n")) == NULL) {
		xasprintf(cause, "%s did not answer HTTP", address);
		buf_free(&b);
		goto out;
	}
	if (code != 200) {
		xasprintf(cause, "%s answered %d: %s", address, code, sep + 4);
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

int
cmd_status(struct cli_env *env, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct config	*cfg = NULL;
	struct json	*apps = NULL, *e;
	const char	*address = NULL, *output = "table", *rev, *err, *head;
	char		*body = NULL, *cause = NULL, ago[32], shortrev[13];
	char		*token = NULL;
	size_t		 len, token_len = 0;
	int		 ch, rc = EXIT_ERROR;

	while ((ch = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			address = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		default:
			/* main.c checked them against the command table. */
			return (cli_usage_error(argv[0], "bad option"));
		}
	}
	if (argc > optind)
		return (cli_usage_error(argv[0], "unexpected argument '%s'",
		    argv[optind]));
	if (strcmp(output, "table") != 0 && strcmp(output, "json") != 0)
		return (cli_usage_error(argv[0], "unknown output format '%s' "
		    "(use table or json)", output));
	if (address == NULL) {
		if ((cfg = config_load(env->config_file, &cause)) == NULL) {
			fprintf(stderr, "%s\n", cause);
			free(cause);
			return (EXIT_ERROR);
		}
		address = cfg->listen;
	}
	/* The token the agent reads, when the configuration names one. */
	if (cfg == NULL && (cfg = config_load(env->config_file,
	    &cause)) == NULL) {
		free(cause);
		cause = NULL;
	}
	if (cfg != NULL && (cfg->api_token_file != NULL ||
	    cfg->api_token_env != NULL) && config_read_secret(
	    cfg->api_token_file, cfg->api_token_env, &token, &token_len,
	    &cause) == -1) {
		fprintf(stderr, "gitops-agent status: %s\n", cause);
		goto out;
	}
	if (status_get(address, "/api/v1/apps", token, &body, &len,
	    &cause) == -1 ||
	    (apps = json_parse(body, len, &cause)) == NULL) {
		fprintf(stderr, "gitops-agent status: %s\n", cause);
		goto out;
	}
	if (strcmp(output, "json") == 0) {
		printf("%s\n", body);
		rc = EXIT_OK;
		goto out;
	}
	printf("%-24s %-10s %-12s %-12s %-10s %s\n", "APP", "STATUS",
	    "SYNCED", "HEAD", "WHEN", "MESSAGE");
	for (e = json_child(apps); e != NULL; e = json_next(e)) {
		rev = json_path_string(e, "lastSyncedCommit", NULL);
		head = json_path_string(e, "head", NULL);
		err = json_path_string(e, "lastSync", "error", NULL);
		if (err == NULL)
			err = json_path_string(e, "fetchError", NULL);
		if (err == NULL)
			err = json_path_string(e, "lastCheckReason", NULL);
		status_ago(ago, sizeof ago, status_finished(e));
		snprintf(shortrev, sizeof shortrev, "%.12s", rev != NULL ?
		    rev : "-");
		printf("%-24s %-10s %-12s %-12.12s %-10s %s\n",
		    json_path_string(e, "name", NULL),
		    json_path_string(e, "status", NULL), shortrev,
		    head != NULL ? head : "-", ago, err != NULL ? err : "");
	}
	rc = EXIT_OK;
out:
	if (token != NULL) {
		explicit_bzero(token, token_len);
		free(token);
	}
	free(cause);
	free(body);
	json_free(apps);
	config_free(cfg);
	return (rc);
}
