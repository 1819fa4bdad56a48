/*
 * http.c: the HTTP client, on libcurl (its only user): health probes,
 * Prometheus queries, outgoing notifications and the Kubernetes API
 * client over http:// or https:// (TLS verified, against the system's
 * CAs, a given file or CAs in memory, unless the caller says insecure; a
 * client certificate and key from memory, never written to a file). A
 * deadline bounds the whole exchange, a stop flag is honoured within
 * STOP_POLL_MS, the answer is bounded (or streamed to the caller as it
 * arrives, for a Kubernetes watch), redirects are not followed, and
 * proxies come from the environment as curl reads them (http_proxy,
 * https_proxy, no_proxy), as the Go clients of peers do (and, like them,
 * never for a loopback host).
 *
 * Runs in whichever thread checks health or notifies (a sync's, a worker
 * of the daemon); never on the event loop. Each thread keeps its own
 * curl handles (a pthread key), so a connection is reused by the same
 * thread's next request to that server, and nothing is shared between
 * threads. Never logs; errors name the URL and the cause.
 */
#include "config.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "gitops.h"

#define HTTP_DEFAULT_MAX_BODY	 (4 * 1024 * 1024)
#define HTTP_DEFAULT_TIMEOUT_MS	 10000
#define HTTP_MAX_IDLE		 4	/* idle connections kept a thread */
#define HTTP_MAX_WARNINGS	 16	/* Warning headers kept an answer */
#define HTTP_MAX_WARNING_LEN	 512	/* bytes kept of each */

/* One thread's handles: the multi one keeps the idle connections. */
struct http_conn {
	CURLM	*multi;
	CURL	*easy;
};

/* What the write and header callbacks gather. */
struct http_sink {
	struct buf	 body;
	size_t		 max;
	int		 too_big;
	struct buf	 warnings;	/* texts, a line each */
	size_t		 nwarnings;
	const struct http_req *req;
	CURL		*easy;
	int		 streaming;	/* a 2xx answer goes to req->stream */
	int		 streamed;	/* some of it did */
	int		 ended;		/* req->stream said enough */
};

/* What a request's options point at, freed when it is done. */
struct http_xfer {
	struct curl_slist	*headers;
	struct curl_slist	*connect_to;
	char			*url;	/* rewritten for tls_server_name */
};

static pthread_once_t	http_once = PTHREAD_ONCE_INIT;
static pthread_key_t	http_key;

/* A thread's handles, on its exit (connections closed). */
static void
http_conn_free(void *arg)
{
	struct http_conn	*c = arg;

	curl_easy_cleanup(c->easy);
	curl_multi_cleanup(c->multi);
	free(c);
}

/*
 * curl_global_init once, through pthread_once (as git_init does), before
 * this process makes any handle: curl_easy_init would otherwise call it
 * itself, unguarded. Debian's 7.88 initialises thread-safely
 * (CURL_VERSION_THREADSAFE); the once guards the rest.
 */
static void
http_init_cb(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("cannot initialise libcurl");
	if (pthread_key_create(&http_key, http_conn_free) != 0)
		fatalx("cannot create the HTTP client's thread key");
}

static struct http_conn *
http_conn_get(void)
{
	struct http_conn	*c;

	pthread_once(&http_once, http_init_cb);
	if ((c = pthread_getspecific(http_key)) != NULL)
		return (c);
	c = xcalloc(1, sizeof *c);
	if ((c->multi = curl_multi_init()) == NULL ||
	    (c->easy = curl_easy_init()) == NULL)
		fatalx("cannot create a libcurl handle");
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)HTTP_MAX_IDLE);
	if (pthread_setspecific(http_key, c) != 0)
		fatalx("cannot keep the HTTP client's handles");
	return (c);
}

static int
http_stopped(const int *stop)
{
	return (stop != NULL && __atomic_load_n(stop, __ATOMIC_ACQUIRE) != 0);
}

static size_t
http_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct http_sink	*s = arg;
	size_t			 len = size * n;

	if (s->streaming) {
		s->streamed = 1;
		if (s->req->stream(s->req->stream_arg, data, len) == -1) {
			s->ended = 1;
			return (0);	/* curl stops with CURLE_WRITE_ERROR */
		}
		return (len);
	}
	if (len > s->max - s->body.len) {
		s->too_big = 1;
		return (0);	/* curl stops with CURLE_WRITE_ERROR */
	}
	buf_add(&s->body, data, len);
	return (len);
}

/*
 * The text of a Warning header's value (RFC 7234: code, agent, then a
 * quoted text), control characters replaced, at most
 * HTTP_MAX_WARNING_LEN bytes, as a line of s->warnings.
 */
static void
http_warning_add(struct http_sink *s, const char *v, size_t len)
{
	const char	*q, *end = v + len;
	size_t		 i;

	if (s->nwarnings >= HTTP_MAX_WARNINGS)
		return;
	if ((q = memchr(v, '"', len)) != NULL) {
		v = q + 1;
		for (q = end; q > v && q[-1] != '"'; q--)
			;
		if (q > v)
			end = q - 1;
	}
	if ((size_t)(end - v) > HTTP_MAX_WARNING_LEN)
		end = v + HTTP_MAX_WARNING_LEN;
	for (i = 0; v + i < end; i++) {
		if (v[i] == '\\' && v + i + 1 < end && v[i + 1] == '"')
			continue;
		buf_addc(&s->warnings, (unsigned char)v[i] < 0x20 ||
		    v[i] == 0x7f ? '?' : v[i]);
	}
	buf_addc(&s->warnings, '\n');
	s->nwarnings++;
}

/* Each header line of the answer: a new status line starts afresh. */
static size_t
http_header_cb(char *data, size_t size, size_t n, void *arg)
{
	struct http_sink	*s = arg;
	size_t			 len = size * n, skip = 8;
	long			 status = 0;

	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		s->warnings.len = 0;
		s->nwarnings = 0;
	} else if (len <= 2 && (*data == '\r' || *data == '\n')) {
		/* The end of the headers: a streamed 2xx answer starts. */
		curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
		s->streaming = s->req->stream != NULL && status >= 200 &&
		    status < 300;
	} else if (len > skip && strncasecmp(data, "Warning:", skip) == 0) {
		while (len > skip && (data[len - 1] == '\n' ||
		    data[len - 1] == '\r'))
			len--;
		while (skip < len && (data[skip] == ' ' || data[skip] == '\t'))
			skip++;
		http_warning_add(s, data + skip, len - skip);
	}
	return (size * n);
}

/*
 * Only http:// and https://, and no user or password in it (it would
 * show in every error message and log line naming the URL). *loopback
 * says whether its host is this machine.
 */
static int
http_url_check(const char *url, int *loopback, char **cause)
{
	CURLU	*u;
	char	*scheme = NULL, *user = NULL, *host = NULL;
	int	 rc = -1;

	if ((u = curl_url()) == NULL)
		fatalx("cannot create a libcurl URL handle");
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		xasprintf(cause, "'%s': only http:// and https:// URLs are "
		    "supported", url);
	else if (scheme == NULL ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		xasprintf(cause, "'%s': not a valid http:// or https:// URL",
		    url);
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
		xasprintf(cause, "a URL of %s://%s: credentials in the URL "
		    "are not supported", scheme, host);
	else {
		*loopback = strcasecmp(host, "localhost") == 0 ||
		    strncmp(host, "127.", 4) == 0 ||
		    strcmp(host, "[::1]") == 0;
		rc = 0;
	}
	curl_free(scheme);
	curl_free(user);
	curl_free(host);
	curl_url_cleanup(u);
	return (rc);
}

static void
http_header(struct curl_slist **headers, const char *line)
{
	struct curl_slist	*l;

	if ((l = curl_slist_append(*headers, line)) == NULL)
		fatalx("cannot add an HTTP header");
	*headers = l;
}

/*
 * tls_server_name: the URL names that host (so curl sends it as SNI and
 * checks the certificate against it) and CURLOPT_CONNECT_TO sends the
 * connection where the URL pointed. 0, or -1 if the name is refused.
 */
static int
http_server_name(const struct http_req *req, struct http_xfer *x)
{
	CURLU	*u;
	char	*host = NULL, *port = NULL, *to = NULL;
	int	 rc = -1;

	if ((u = curl_url()) == NULL)
		fatalx("cannot create a libcurl URL handle");
	if (curl_url_set(u, CURLUPART_URL, req->url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK ||
	    curl_url_set(u, CURLUPART_HOST, req->tls_server_name, 0) !=
	    CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &x->url, 0) != CURLUE_OK)
		goto fail;
	xasprintf(&to, "::%s:%s", host, port);
	http_header(&x->connect_to, to);
	rc = 0;
fail:
	free(to);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return (rc);
}

/* A blob option, copied by curl (it lives as long as the handle's use). */
static CURLcode
http_blob(CURL *e, CURLoption opt, const char *data, size_t len)
{
	struct curl_blob	blob;

	blob.data = (void *)(uintptr_t)data;
	blob.len = len;
	blob.flags = CURL_BLOB_COPY;
	return (curl_easy_setopt(e, opt, &blob));
}

/* Set e up for req: 0, or -1 if libcurl refused an option. */
static int
http_setup(CURL *e, const struct http_req *req, int loopback,
    struct http_sink *sink, struct http_xfer *x, char *errbuf)
{
	static char	 agent[] = "gitops-agent/" GITOPS_VERSION;
	CURLcode	 r = CURLE_OK;
	uint64_t	 timeout;
	char		*type, *proxy;

	timeout = req->timeout_ms != 0 ? req->timeout_ms :
	    HTTP_DEFAULT_TIMEOUT_MS;
	curl_easy_reset(e);
#define SET(opt, v)	do {						\
	if (r == CURLE_OK)						\
		r = curl_easy_setopt(e, opt, v);			\
} while (0)
	SET(CURLOPT_ERRORBUFFER, errbuf);
	if (req->tls_server_name != NULL) {
		if (http_server_name(req, x) == -1) {
			snprintf(errbuf, CURL_ERROR_SIZE, "tls_server_name "
			    "'%s' is not a host name", req->tls_server_name);
			return (-1);
		}
		SET(CURLOPT_URL, x->url);
		SET(CURLOPT_CONNECT_TO, x->connect_to);
	} else
		SET(CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	/*
	 * A proxy the caller names (a kubeconfig's proxy-url) is always
	 * used; the environment's never for this machine (as in Go).
	 */
	if (req->proxy != NULL) {
		/* socks5: names resolved by the proxy, as client-go does. */
		if (strncmp(req->proxy, "socks5://", 9) == 0) {
			xasprintf(&proxy, "socks5h://%s", req->proxy + 9);
			SET(CURLOPT_PROXY, proxy);	/* curl copies it */
			free(proxy);
		} else
			SET(CURLOPT_PROXY, req->proxy);
		SET(CURLOPT_NOPROXY, "");	/* NO_PROXY does not apply */
	}
	else if (loopback)
		SET(CURLOPT_PROXY, "");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, (long)timeout);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)timeout);
	SET(CURLOPT_USERAGENT, agent);
	SET(CURLOPT_SSL_VERIFYPEER, req->insecure ? 0L : 1L);
	SET(CURLOPT_SSL_VERIFYHOST, req->insecure ? 0L : 2L);
	if (req->ca_blob != NULL && r == CURLE_OK)
		r = http_blob(e, CURLOPT_CAINFO_BLOB, req->ca_blob,
		    req->ca_blob_len);
	else if (req->ca_file != NULL)
		SET(CURLOPT_CAINFO, req->ca_file);
	/*
	 * curl keeps the certificate in the connection's TLS configuration
	 * and reuses a connection only for a request with the same one.
	 */
	if (req->cert_blob != NULL && r == CURLE_OK) {
		r = http_blob(e, CURLOPT_SSLCERT_BLOB, req->cert_blob,
		    req->cert_blob_len);
		SET(CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (req->key_blob != NULL && r == CURLE_OK) {
		r = http_blob(e, CURLOPT_SSLKEY_BLOB, req->key_blob,
		    req->key_blob_len);
		SET(CURLOPT_SSLKEYTYPE, "PEM");
	}
	SET(CURLOPT_WRITEFUNCTION, http_write_cb);
	SET(CURLOPT_WRITEDATA, sink);
	SET(CURLOPT_HEADERFUNCTION, http_header_cb);
	SET(CURLOPT_HEADERDATA, sink);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)sink->max);
	if (req->accept != NULL) {
		xasprintf(&type, "Accept: %s", req->accept);
		http_header(&x->headers, type);
		free(type);
	}
	if (req->bearer != NULL) {
		xasprintf(&type, "Authorization: Bearer %s", req->bearer);
		http_header(&x->headers, type);
		freezero_string(type);
	}
	if (req->body != NULL) {
		SET(CURLOPT_POSTFIELDS, req->body);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->bodylen);
		if (strcmp(req->method, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, req->method);
		/* No 100-continue round trip: nobody here refuses a body. */
		http_header(&x->headers, "Expect:");
		xasprintf(&type, "Content-Type: %s", req->type != NULL ?
		    req->type : "application/json");
		http_header(&x->headers, type);
		free(type);
	} else if (strcmp(req->method, "HEAD") == 0)
		SET(CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "GET") != 0)
		SET(CURLOPT_CUSTOMREQUEST, req->method);
	if (x->headers != NULL)
		SET(CURLOPT_HTTPHEADER, x->headers);
#undef SET
	return (r == CURLE_OK ? 0 : -1);
}

/* *cause for a transfer that ended with r. */
static void
http_error(const struct http_req *req, CURLcode r, const char *errbuf,
    const struct http_sink *sink, uint64_t timeout, char **cause)
{
	const char	*why = *errbuf != '\0' ? errbuf : curl_easy_strerror(r);

	if (r == CURLE_WRITE_ERROR && sink->too_big)
		r = CURLE_FILESIZE_EXCEEDED;
	switch (r) {
	case CURLE_OPERATION_TIMEDOUT:
		xasprintf(cause, "no answer from %s within %llu ms", req->url,
		    (unsigned long long)timeout);
		break;
	case CURLE_FILESIZE_EXCEEDED:
		xasprintf(cause, "answer from %s larger than %zu bytes",
		    req->url, sink->max);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		xasprintf(cause, "cannot resolve the host of %s: %s", req->url,
		    why);
		break;
	case CURLE_COULDNT_CONNECT:
		xasprintf(cause, "cannot connect to %s: %s", req->url, why);
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
		xasprintf(cause, "TLS with %s failed: %s", req->url, why);
		break;
	default:
		xasprintf(cause, "%s %s failed: %s", req->method, req->url,
		    why);
		break;
	}
}

int
http_send(const struct http_req *req, struct http_response *resp,
    char **cause)
{
	struct http_conn	*c = NULL;
	struct http_sink	 sink;
	struct http_xfer	 x;
	struct curl_slist	*l;
	curl_off_t		 retry_after = -1;
	CURLMsg			*msg;
	CURLMcode		 mc;
	CURLcode		 r = CURLE_OK;
	char			 errbuf[CURL_ERROR_SIZE];
	uint64_t		 timeout, deadline, now, wait;
	long			 status = 0;
	int			 running = 1, queued, added = 0, loopback;
	int			 rc = -1;

	memset(resp, 0, sizeof *resp);
	memset(&sink, 0, sizeof sink);
	memset(&x, 0, sizeof x);
	buf_init(&sink.body);
	buf_init(&sink.warnings);
	sink.req = req;
	sink.max = req->max_body != 0 ? req->max_body : HTTP_DEFAULT_MAX_BODY;
	timeout = req->timeout_ms != 0 ? req->timeout_ms :
	    HTTP_DEFAULT_TIMEOUT_MS;
	errbuf[0] = '\0';
	if (http_url_check(req->url, &loopback, cause) == -1)
		goto out;
	c = http_conn_get();
	sink.easy = c->easy;
	if (http_setup(c->easy, req, loopback, &sink, &x, errbuf) == -1) {
		xasprintf(cause, "%s %s: libcurl refused an option: %s",
		    req->method, req->url, errbuf);
		goto out;
	}
	if (curl_multi_add_handle(c->multi, c->easy) != CURLM_OK)
		fatalx("cannot start a libcurl transfer");
	added = 1;
	/*
	 * The multi interface rather than curl_easy_perform: waits of at
	 * most STOP_POLL_MS between looks at the stop flag (curl's progress
	 * callback runs only about once a second on a silent connection).
	 */
	deadline = time_monotonic_ms() + timeout;
	for (;;) {
		if ((mc = curl_multi_perform(c->multi, &running)) !=
		    CURLM_OK) {
			xasprintf(cause, "%s %s failed: %s", req->method,
			    req->url, curl_multi_strerror(mc));
			goto out;
		}
		if (running == 0)
			break;
		if (http_stopped(req->stop)) {
			xasprintf(cause, "stopped waiting for %s: the agent is "
			    "shutting down", req->url);
			goto out;
		}
		if (http_stopped(req->cancel)) {
			if (sink.streaming)
				break;
			xasprintf(cause, "%s %s: cancelled", req->method,
			    req->url);
			goto out;
		}
		if ((now = time_monotonic_ms()) >= deadline) {
			r = CURLE_OPERATION_TIMEDOUT;
			break;
		}
		wait = deadline - now;
		if (req->stop != NULL || req->cancel != NULL) {
			if (wait > STOP_POLL_MS)
				wait = STOP_POLL_MS;
		} else if (wait > 60000)
			wait = 60000;
		curl_multi_poll(c->multi, NULL, 0, (int)wait, NULL);
	}
	if (running == 0) {
		while ((msg = curl_multi_info_read(c->multi, &queued)) !=
		    NULL) {
			if (msg->msg == CURLMSG_DONE)
				r = msg->data.result;
		}
	}
	/* A stream that ended as its reader or caller wanted, or in time. */
	if (sink.streaming && (sink.ended || r == CURLE_OPERATION_TIMEDOUT ||
	    running != 0))
		r = CURLE_OK;
	if (r != CURLE_OK) {
		http_error(req, r, errbuf, &sink, timeout, cause);
		resp->broken = r == CURLE_GOT_NOTHING ||
		    r == CURLE_SEND_ERROR || r == CURLE_RECV_ERROR ||
		    r == CURLE_PARTIAL_FILE || r == CURLE_COULDNT_CONNECT;
		if (sink.streamed)
			resp->broken = 0;
		goto out;
	}
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	resp->status = (int)status;
	if (curl_easy_getinfo(c->easy, CURLINFO_RETRY_AFTER, &retry_after) ==
	    CURLE_OK && retry_after > 0)
		resp->retry_after_ms = retry_after > 86400 ? 86400000 :
		    (uint64_t)retry_after * 1000;
	if (sink.warnings.len != 0) {
		buf_addc(&sink.warnings, '\0');
		resp->warnings = buf_release(&sink.warnings);
	}
	resp->len = sink.body.len;
	buf_addc(&sink.body, '\0');
	resp->body = buf_release(&sink.body);
	rc = 0;
out:
	if (added)
		curl_multi_remove_handle(c->multi, c->easy);
	/*
	 * Nothing of this request (error buffer, headers, sink, body) stays
	 * in the handle; its connections do. No signals, even when a
	 * thread's exit closes them.
	 */
	if (c != NULL) {
		curl_easy_reset(c->easy);
		curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	}
	/* The Authorization header is wiped, not only freed. */
	for (l = x.headers; l != NULL; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(x.headers);
	curl_slist_free_all(x.connect_to);
	curl_free(x.url);
	buf_free(&sink.body);
	buf_free(&sink.warnings);
	return (rc);
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
	struct http_req	req;

	memset(&req, 0, sizeof req);
	req.method = method;
	req.url = url;
	req.type = type;
	req.body = body;
	req.bodylen = bodylen;
	req.timeout_ms = timeout_ms;
	req.max_body = max_body;
	req.stop = stop;
	return (http_send(&req, resp, cause));
}

void
http_response_free(struct http_response *resp)
{
	free(resp->body);
	free(resp->warnings);
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
