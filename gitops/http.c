/*
 * http.c: a small blocking HTTP/1.1 client for health probes, Prometheus
 * queries and outgoing notifications: http:// only, one request per
 * connection, a deadline over the whole exchange (connect, send,
 * receive), a stop flag it honours within STOP_POLL_MS, a bound on the
 * answer, Content-Length or chunked bodies.
 *
 * Runs in whichever thread checks health (a sync's, a worker of the
 * daemon); never on the event loop. Thread-safe: no globals. Never logs;
 * errors name the URL and the cause.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gitops.h"

#define HTTP_DEFAULT_MAX_BODY	(4 * 1024 * 1024)

struct http_url {
	char	*host;
	char	*port;
	char	*path;		/* with the query */
};

static void
http_url_free(struct http_url *u)
{
	free(u->host);
	free(u->port);
	free(u->path);
}

static int
http_url_parse(const char *url, struct http_url *u, char **cause)
{
	const char	*p, *slash, *colon, *close;

	memset(u, 0, sizeof *u);
	if (strncasecmp(url, "http://", 7) != 0) {
		xasprintf(cause, "'%s': only http:// URLs are supported", url);
		return (-1);
	}
	p = url + 7;
	slash = strchr(p, '/');
	if (slash == NULL)
		slash = p + strlen(p);
	if (memchr(p, '@', (size_t)(slash - p)) != NULL) {
		xasprintf(cause, "'%s': credentials in the URL are not "
		    "supported", url);
		return (-1);
	}
	if (*p == '[') {
		if ((close = memchr(p, ']', (size_t)(slash - p))) == NULL)
			goto bad;
		u->host = xstrndup(p + 1, (size_t)(close - p - 1));
		colon = close + 1 < slash && close[1] == ':' ? close + 1 : NULL;
	} else {
		colon = memchr(p, ':', (size_t)(slash - p));
		u->host = xstrndup(p, (size_t)((colon != NULL ? colon : slash) -
		    p));
	}
	if (*u->host == '\0')
		goto bad;
	u->port = colon != NULL ? xstrndup(colon + 1, (size_t)(slash - colon -
	    1)) : xstrdup("80");
	if (*u->port == '\0' || strspn(u->port, "0123456789") !=
	    strlen(u->port))
		goto bad;
	u->path = xstrdup(*slash == '\0' ? "/" : slash);
	return (0);
bad:
	xasprintf(cause, "'%s': not a valid http:// URL", url);
	http_url_free(u);
	return (-1);
}

/* Milliseconds left before the deadline, at least 0. */
static int
http_left(uint64_t deadline)
{
	uint64_t	now = time_monotonic_ms();

	return (now >= deadline ? 0 : deadline - now > 60 * 60 * 1000 ?
	    60 * 60 * 1000 : (int)(deadline - now));
}

static int
http_stopped(const int *stop)
{
	return (stop != NULL && __atomic_load_n(stop, __ATOMIC_ACQUIRE) != 0);
}

/* Ready for events, or -1: ETIMEDOUT at the deadline, ECANCELED at stop. */
static int
http_wait(int fd, short events, uint64_t deadline, const int *stop)
{
	struct pollfd	pfd;
	int		n, left;

	pfd.fd = fd;
	pfd.events = events;
	for (;;) {
		if (http_stopped(stop)) {
			errno = ECANCELED;
			return (-1);
		}
		pfd.revents = 0;
		left = http_left(deadline);
		if (stop != NULL && left > STOP_POLL_MS)
			n = poll(&pfd, 1, STOP_POLL_MS);
		else
			n = poll(&pfd, 1, left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return (-1);
		if (n == 0 && left > STOP_POLL_MS && stop != NULL)
			continue;
		if (n == 0) {
			errno = ETIMEDOUT;
			return (-1);
		}
		return (0);
	}
}

static int
http_connect(const struct http_url *u, uint64_t deadline, const int *stop,
    char **cause)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	socklen_t	 len;
	int		 fd = -1, e, err = ECONNREFUSED, one = 1;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(u->host, u->port, &hints, &res)) != 0) {
		xasprintf(cause, "cannot resolve '%s': %s", u->host,
		    gai_strerror(e));
		return (-1);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS && http_wait(fd, POLLOUT,
		    deadline, stop) == 0) {
			len = sizeof err;
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
			    &len) == 0 && err == 0)
				break;
		} else
			err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		xasprintf(cause, "cannot connect to %s:%s: %s", u->host,
		    u->port, strerror(err));
		return (-1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return (fd);
}

static int
http_send_all(int fd, const char *p, size_t len, uint64_t deadline,
    const int *stop)
{
	ssize_t	n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			if (http_wait(fd, POLLOUT, deadline, stop) == -1)
				return (-1);
			continue;
		}
		if (n == -1)
			return (-1);
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

/* Decode a chunked body in place; -1 if malformed. */
static int
http_unchunk(char *body, size_t len, size_t *outlen)
{
	char		*in = body, *end = body + len, *out = body, *eol;
	unsigned long	 n;

	for (;;) {
		if ((eol = memmem(in, (size_t)(end - in), "\r\n", 2)) == NULL)
			return (-1);
		errno = 0;
		n = strtoul(in, NULL, 16);
		if (errno != 0 || !isxdigit((unsigned char)*in))
			return (-1);
		in = eol + 2;
		if (n == 0)
			break;
		if (n > (size_t)(end - in) || (size_t)(end - in) - n < 2)
			return (-1);
		memmove(out, in, n);
		out += n;
		in += n + 2;
	}
	*outlen = (size_t)(out - body);
	*out = '\0';
	return (0);
}

int
http_request(const char *method, const char *url, const char *type,
    const char *body, size_t bodylen, uint64_t timeout_ms, size_t max_body,
    struct http_response *resp, char **cause)
{
	return (http_request_stop(NULL, method, url, type, body, bodylen,
	    timeout_ms, max_body, resp, cause));
}

int
http_request_stop(const int *stop, const char *method, const char *url,
    const char *type, const char *body, size_t bodylen, uint64_t timeout_ms,
    size_t max_body, struct http_response *resp, char **cause)
{
	struct http_url	 u;
	struct buf	 req, in;
	char		 chunk[16384], *head_end, *line, *next, *v;
	uint64_t	 deadline;
	size_t		 headlen, clen = 0;
	ssize_t		 n;
	int		 fd = -1, rc = -1, chunked = 0, has_clen = 0;

	memset(resp, 0, sizeof *resp);
	if (max_body == 0)
		max_body = HTTP_DEFAULT_MAX_BODY;
	if (http_url_parse(url, &u, cause) == -1)
		return (-1);
	deadline = time_monotonic_ms() + (timeout_ms != 0 ? timeout_ms :
	    10000);
	buf_init(&req);
	buf_init(&in);
	if ((fd = http_connect(&u, deadline, stop, cause)) == -1)
		goto out;
	buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: "
	    "gitops-agent/%s\r\nAccept: */*\r\nConnection: close\r\n",
	    method, u.path, u.host, u.port, GITOPS_VERSION);
	if (body != NULL)
		buf_printf(&req, "Content-Type: %s\r\nContent-Length: %zu\r\n",
		    type != NULL ? type : "application/json", bodylen);
	buf_adds(&req, "\r\n");
	if (body != NULL)
		buf_add(&req, body, bodylen);
	if (http_send_all(fd, req.data, req.len, deadline, stop) == -1) {
		xasprintf(cause, "cannot send to %s: %s", url,
		    strerror(errno));
		goto out;
	}
	for (;;) {
		n = recv(fd, chunk, sizeof chunk, 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			if (http_wait(fd, POLLIN, deadline, stop) == -1) {
				if (errno == ECANCELED)
					xasprintf(cause, "stopped waiting for "
					    "%s: the agent is shutting down",
					    url);
				else
					xasprintf(cause, "no answer from %s "
					    "within %llu ms", url,
					    (unsigned long long)timeout_ms);
				goto out;
			}
			continue;
		}
		if (n == -1) {
			xasprintf(cause, "cannot read from %s: %s", url,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		buf_add(&in, chunk, (size_t)n);
		if (in.len > max_body + 65536) {
			xasprintf(cause, "answer from %s larger than %zu bytes",
			    url, max_body);
			goto out;
		}
	}
	buf_addc(&in, '\0');
	in.len--;
	if (sscanf(in.data, "HTTP/%*d.%*d %d", &resp->status) != 1 ||
	    (head_end = strstr(in.data, "\r\n\r\n")) == NULL) {
		xasprintf(cause, "%s did not answer HTTP", url);
		goto out;
	}
	*head_end = '\0';
	headlen = (size_t)(head_end - in.data) + 4;
	for (line = strstr(in.data, "\r\n"); line != NULL; line = next) {
		line += 2;
		next = strstr(line, "\r\n");
		if (next != NULL)
			*next = '\0';
		if ((v = strchr(line, ':')) == NULL)
			continue;
		*v++ = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		if (strcasecmp(line, "Transfer-Encoding") == 0 &&
		    strcasestr(v, "chunked") != NULL)
			chunked = 1;
		else if (strcasecmp(line, "Content-Length") == 0) {
			clen = strtoul(v, NULL, 10);
			has_clen = 1;
		}
	}
	resp->len = in.len - headlen;
	resp->body = xmalloc(resp->len + 1);
	memcpy(resp->body, in.data + headlen, resp->len);
	resp->body[resp->len] = '\0';
	if (chunked && http_unchunk(resp->body, resp->len, &resp->len) == -1) {
		xasprintf(cause, "%s sent a malformed chunked body", url);
		goto out;
	}
	if (!chunked && has_clen && clen < resp->len) {
		resp->len = clen;
		resp->body[clen] = '\0';
	}
	if (resp->len > max_body) {
		xasprintf(cause, "answer from %s larger than %zu bytes", url,
		    max_body);
		goto out;
	}
	rc = 0;
out:
	if (rc == -1)
		http_response_free(resp);
	if (fd != -1)
		close(fd);
	buf_free(&req);
	buf_free(&in);
	http_url_free(&u);
	return (rc);
}

void
http_response_free(struct http_response *resp)
{
	free(resp->body);
	memset(resp, 0, sizeof *resp);
}

char *
http_query_escape(const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	struct buf		 b;

	buf_init(&b);
	for (; *s != '\0'; s++) {
		if (isalnum((unsigned char)*s) || strchr("-_.~", *s) != NULL)
			buf_addc(&b, *s);
		else {
			buf_addc(&b, '%');
			buf_addc(&b, hex[(unsigned char)*s >> 4]);
			buf_addc(&b, hex[(unsigned char)*s & 15]);
		}
	}
	buf_addc(&b, '\0');
	b.len--;
	return (buf_release(&b));
}
