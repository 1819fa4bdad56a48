/*
 * test_http.c: the HTTP client against a real server on 127.0.0.1 run by
 * the test (a thread that keeps connections open, records what it was
 * sent and answers a canned reply): bodies sent and bounded, redirects
 * not followed, connections reused, URLs refused, a stalled server timed
 * out or given up at the stop flag, proxies from the environment; then
 * TLS against the Kubernetes double (tests/kube/): CAs, client
 * certificates and tokens from memory, tls_server_name, insecure.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <poll.h>

#include "unit.h"

/* A keep-alive server: each request read whole, then answered reply. */
struct srv {
	int		 fd;
	int		 port;
	int		 wake[2];
	const char	*reply;
	int		 accepts;	/* connections taken */
	struct buf	 got;		/* the last request, as sent */
	pthread_t	 thread;
};

/* A whole request in b: its headers and Content-Length bytes of body. */
static int
srv_complete(const struct buf *b)
{
	const char	*end, *cl;

	if (b->data == NULL || (end = strstr(b->data, "\r\n\r\n")) == NULL)
		return (0);
	if ((cl = strcasestr(b->data, "\r\nContent-Length:")) == NULL ||
	    cl > end)
		return (1);
	return (b->len - (size_t)(end + 4 - b->data) >=
	    strtoul(cl + 17, NULL, 10));
}

static void *
srv_run(void *arg)
{
	struct srv	*s = arg;
	struct pollfd	 pfd[3];
	struct buf	 in;
	char		 chunk[4096];
	ssize_t		 n;
	int		 c = -1;

	buf_init(&in);
	for (;;) {
		pfd[0].fd = s->wake[0];
		pfd[1].fd = s->fd;
		pfd[2].fd = c;
		pfd[0].events = pfd[1].events = pfd[2].events = POLLIN;
		if (poll(pfd, 3, -1) == -1 || pfd[0].revents != 0)
			break;
		if (pfd[1].revents != 0) {
			if (c != -1)
				close(c);
			c = accept(s->fd, NULL, NULL);
			s->accepts++;
			buf_free(&in);
			continue;
		}
		if ((n = recv(c, chunk, sizeof chunk, 0)) <= 0) {
			close(c);
			c = -1;
			continue;
		}
		buf_add(&in, chunk, (size_t)n);
		buf_addc(&in, '\0');
		in.len--;
		if (!srv_complete(&in))
			continue;
		buf_free(&s->got);
		s->got = in;
		buf_init(&in);
		send(c, s->reply, strlen(s->reply), MSG_NOSIGNAL);
	}
	if (c != -1)
		close(c);
	buf_free(&in);
	return (NULL);
}

static void
srv_start(struct srv *s, const char *reply)
{
	memset(s, 0, sizeof *s);
	s->fd = unit_listen(&s->port);
	s->reply = reply;
	buf_init(&s->got);
	assert_int_equal(pipe(s->wake), 0);
	pthread_create(&s->thread, NULL, srv_run, s);
}

static void
srv_stop(struct srv *s)
{
	close(s->wake[1]);
	pthread_join(s->thread, NULL);
	close(s->wake[0]);
	close(s->fd);
	buf_free(&s->got);
}

static void
srv_url(const struct srv *s, char *url, size_t len, const char *path)
{
	snprintf(url, len, "http://127.0.0.1:%d%s", s->port, path);
}

#define OK_HELLO	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"

static void
test_http_request_post_sends_body_and_type(void **state)
{
	struct srv		 s;
	struct http_response	 resp;
	char			*cause = NULL, url[64];

	srv_start(&s, OK_HELLO);
	srv_url(&s, url, sizeof url, "/events?x=1");
	assert_int_equal(http_request("POST", url, "application/json",
	    "{\"a\":1}", 7, 5000, 0, &resp, &cause), 0);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.len, 5);
	assert_string_equal(resp.body, "hello");
	assert_non_null(strstr(s.got.data, "POST /events?x=1 HTTP/1.1\r\n"));
	assert_non_null(strstr(s.got.data,
	    "\r\nContent-Type: application/json\r\n"));
	assert_non_null(strstr(s.got.data, "\r\nUser-Agent: gitops-agent/"));
	assert_non_null(strstr(s.got.data, "\r\n\r\n{\"a\":1}"));
	http_response_free(&resp);
	srv_stop(&s);
}

/* Two requests from one thread share one connection. */
static void
test_http_request_reuses_the_connection(void **state)
{
	struct srv		 s;
	struct http_response	 resp;
	char			*cause = NULL, url[64];
	int			 i;

	srv_start(&s, OK_HELLO);
	srv_url(&s, url, sizeof url, "/healthz");
	for (i = 0; i < 3; i++) {
		assert_int_equal(http_request("GET", url, NULL, NULL, 0, 5000,
		    0, &resp, &cause), 0);
		assert_int_equal(resp.status, 200);
		http_response_free(&resp);
	}
	assert_int_equal(s.accepts, 1);
	srv_stop(&s);
}

static void
test_http_request_redirect_is_the_answer(void **state)
{
	struct srv		 s;
	struct http_response	 resp;
	char			*cause = NULL, url[64];

	srv_start(&s, "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/x"
	    "\r\nContent-Length: 0\r\n\r\n");
	srv_url(&s, url, sizeof url, "/old");
	assert_int_equal(http_request("GET", url, NULL, NULL, 0, 5000, 0,
	    &resp, &cause), 0);
	assert_int_equal(resp.status, 302);
	assert_int_equal(resp.len, 0);
	assert_string_equal(resp.body, "");
	http_response_free(&resp);
	srv_stop(&s);
}

/* Past max_body, announced or not, the answer is refused. */
static void
test_http_request_body_bound_refused(void **state)
{
	struct srv		 s;
	struct http_response	 resp;
	char			*cause = NULL, url[64], *want;

	srv_start(&s, OK_HELLO);
	srv_url(&s, url, sizeof url, "/big");
	assert_int_equal(http_request("GET", url, NULL, NULL, 0, 5000, 4,
	    &resp, &cause), -1);
	xasprintf(&want, "answer from %s larger than 4 bytes", url);
	assert_string_equal(cause, want);
	free(cause);
	srv_stop(&s);
	/* Chunked: no length up front, cut while it arrives. */
	srv_start(&s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "3\r\nhel\r\n3\r\nlo!\r\n0\r\n\r\n");
	srv_url(&s, url, sizeof url, "/big");
	assert_int_equal(http_request("GET", url, NULL, NULL, 0, 5000, 5,
	    &resp, &cause), -1);
	free(want);
	xasprintf(&want, "answer from %s larger than 5 bytes", url);
	assert_string_equal(cause, want);
	free(cause);
	free(want);
	/* Within the bound, the chunks come back joined. */
	assert_int_equal(http_request("GET", url, NULL, NULL, 0, 5000, 6,
	    &resp, &cause), 0);
	assert_string_equal(resp.body, "hello!");
	http_response_free(&resp);
	srv_stop(&s);
}

/* A server that takes the connection and never answers. */
static void
test_http_request_stalled_server_times_out(void **state)
{
	struct http_response	 resp;
	char			*cause = NULL, url[64], *want;
	int			 fd, port;

	fd = unit_listen(&port);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
	assert_int_equal(http_request("GET", url, NULL, NULL, 0, 200, 0,
	    &resp, &cause), -1);
	xasprintf(&want, "no answer from %s within 200 ms", url);
	assert_string_equal(cause, want);
	assert_false(resp.broken);
	free(want);
	free(cause);
	close(fd);
}

static void
test_http_request_stop_aborts_a_stalled_request(void **state)
{
	struct unit_stopper	 st;
	struct http_response	 resp;
	char			*cause = NULL, url[64], *want;
	int			 fd, port, stop = 0;

	fd = unit_listen(&port);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
	unit_stopper_start(&st, &stop, 200);
	/* An hour's timeout: only the stop flag ends it. */
	assert_int_equal(http_request_stop(&stop, "GET", url, NULL, NULL, 0,
	    3600 * 1000, 0, &resp, &cause), -1);
	unit_stopper_join(&st);
	xasprintf(&want, "stopped waiting for %s: the agent is shutting down",
	    url);
	assert_string_equal(cause, want);
	free(want);
	free(cause);
	close(fd);
}

static void
test_http_request_refuses_other_urls(void **state)
{
	struct http_response	 resp;
	char			*cause = NULL;

	assert_int_equal(http_request("GET", "ftp://127.0.0.1/x", NULL, NULL,
	    0, 1000, 0, &resp, &cause), -1);
	assert_string_equal(cause, "'ftp://127.0.0.1/x': only http:// and "
	    "https:// URLs are supported");
	free(cause);
	assert_int_equal(http_request("GET", "file:///etc/passwd", NULL, NULL,
	    0, 1000, 0, &resp, &cause), -1);
	assert_non_null(strstr(cause, "only http:// and https://"));
	free(cause);
	/* The password never shows in the error. */
	assert_int_equal(http_request("GET", "http://u:hunter2@127.0.0.1/x",
	    NULL, NULL, 0, 1000, 0, &resp, &cause), -1);
	assert_string_equal(cause, "a URL of http://127.0.0.1: credentials "
	    "in the URL are not supported");
	free(cause);
	assert_int_equal(http_request("GET", "not a url", NULL, NULL, 0, 1000,
	    0, &resp, &cause), -1);
	assert_string_equal(cause, "'not a url': not a valid http:// or "
	    "https:// URL");
	free(cause);
}

static void
test_http_request_refused_connection_names_url(void **state)
{
	struct http_response	 resp;
	char			*cause = NULL, url[64];
	int			 fd, port;

	fd = unit_listen(&port);
	close(fd);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
	assert_int_equal(http_request("GET", url, NULL, NULL, 0, 5000, 0,
	    &resp, &cause), -1);
	assert_non_null(strstr(cause, "cannot connect to "));
	assert_non_null(strstr(cause, url));
	/* Worth a retry, unlike a timeout. */
	assert_true(resp.broken);
	free(cause);
}

/*
 * http_proxy from the environment carries a request for another host
 * (the proxy sees the absolute URL); a loopback host never goes through
 * it, even when no_proxy does not say so.
 */
static void
test_http_request_proxy_from_environment(void **state)
{
	struct srv		 proxy, direct;
	struct http_response	 resp;
	char			*cause = NULL, url[64], purl[64];

	srv_start(&proxy, OK_HELLO);
	srv_start(&direct, OK_HELLO);
	srv_url(&proxy, purl, sizeof purl, "");
	setenv("http_proxy", purl, 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	assert_int_equal(http_request("GET", "http://service.invalid/healthz",
	    NULL, NULL, 0, 5000, 0, &resp, &cause), 0);
	http_response_free(&resp);
	assert_non_null(strstr(proxy.got.data,
	    "GET http://service.invalid/healthz HTTP/1.1\r\n"));
	srv_url(&direct, url, sizeof url, "/healthz");
	assert_int_equal(http_request("GET", url, NULL, NULL, 0, 5000, 0,
	    &resp, &cause), 0);
	http_response_free(&resp);
	assert_int_equal(direct.accepts, 1);
	assert_non_null(strstr(direct.got.data, "GET /healthz HTTP/1.1\r\n"));
	unsetenv("http_proxy");
	srv_stop(&direct);
	srv_stop(&proxy);
}

/* PATCH and DELETE carry their bodies, with Accept and a bearer token. */
static void
test_http_send_patch_and_delete_with_bodies(void **state)
{
	struct srv		 s;
	struct http_req		 req;
	struct http_response	 resp;
	char			*cause = NULL, url[64];

	srv_start(&s, OK_HELLO);
	srv_url(&s, url, sizeof url, "/apis/x?fieldManager=m");
	memset(&req, 0, sizeof req);
	req.method = "PATCH";
	req.url = url;
	req.type = "application/apply-patch+yaml";
	req.body = "{\"kind\":\"A\"}";
	req.bodylen = strlen(req.body);
	req.accept = "application/json";
	req.bearer = "t0ken";
	assert_int_equal(http_send(&req, &resp, &cause), 0);
	assert_int_equal(resp.status, 200);
	http_response_free(&resp);
	assert_non_null(strstr(s.got.data,
	    "PATCH /apis/x?fieldManager=m HTTP/1.1\r\n"));
	assert_non_null(strstr(s.got.data,
	    "\r\nContent-Type: application/apply-patch+yaml\r\n"));
	assert_non_null(strstr(s.got.data, "\r\nAccept: application/json\r\n"));
	assert_non_null(strstr(s.got.data,
	    "\r\nAuthorization: Bearer t0ken\r\n"));
	assert_non_null(strstr(s.got.data, "\r\n\r\n{\"kind\":\"A\"}"));
	req.method = "DELETE";
	req.body = "{\"propagationPolicy\":\"Background\"}";
	req.bodylen = strlen(req.body);
	req.type = NULL;
	req.bearer = NULL;
	assert_int_equal(http_send(&req, &resp, &cause), 0);
	http_response_free(&resp);
	assert_non_null(strstr(s.got.data, "DELETE /apis/x?fieldManager=m "));
	assert_null(strstr(s.got.data, "Authorization"));
	assert_non_null(strstr(s.got.data,
	    "\r\n\r\n{\"propagationPolicy\":\"Background\"}"));
	srv_stop(&s);
}

/* Retry-After in seconds; Warning texts a line each, bounded. */
static void
test_http_send_retry_after_and_warnings(void **state)
{
	struct srv		 s;
	struct http_response	 resp;
	struct buf		 reply;
	char			*cause = NULL, url[64], *long_one, *p;
	int			 i;

	srv_start(&s, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\n"
	    "Warning: 299 - \"apps/v1beta1 Deployment is deprecated\"\r\n"
	    "warning: 299 - \"a \\\"quoted\\\" word\"\r\n"
	    "Content-Length: 0\r\n\r\n");
	srv_url(&s, url, sizeof url, "/x");
	assert_int_equal(http_request("GET", url, NULL, NULL, 0, 5000, 0,
	    &resp, &cause), 0);
	assert_int_equal(resp.status, 429);
	assert_int_equal(resp.retry_after_ms, 3000);
	assert_string_equal(resp.warnings, "apps/v1beta1 Deployment is "
	    "deprecated\na \"quoted\" word\n");
	http_response_free(&resp);
	srv_stop(&s);
	/* None: nothing. */
	srv_start(&s, OK_HELLO);
	srv_url(&s, url, sizeof url, "/x");
	assert_int_equal(http_request("GET", url, NULL, NULL, 0, 5000, 0,
	    &resp, &cause), 0);
	assert_int_equal(resp.retry_after_ms, 0);
	assert_null(resp.warnings);
	http_response_free(&resp);
	srv_stop(&s);
	/* One of 2000 bytes, then forty: 16 kept, each cut at 512. */
	long_one = xmalloc(2001);
	memset(long_one, 'z', 2000);
	long_one[2000] = '\0';
	buf_init(&reply);
	buf_printf(&reply, "HTTP/1.1 200 OK\r\nWarning: 299 - \"%s\"\r\n",
	    long_one);
	for (i = 1; i < 40; i++)
		buf_printf(&reply, "Warning: 299 - \"w%d\"\r\n", i);
	buf_adds(&reply, "Content-Length: 0\r\n\r\n");
	p = buf_release(&reply);
	srv_start(&s, p);
	srv_url(&s, url, sizeof url, "/x");
	assert_int_equal(http_request("GET", url, NULL, NULL, 0, 5000, 0,
	    &resp, &cause), 0);
	assert_int_equal(strspn(resp.warnings, "z"), 512);
	assert_non_null(strstr(resp.warnings, "z\nw1\nw2\n"));
	assert_non_null(strstr(resp.warnings, "\nw15\n"));
	assert_null(strstr(resp.warnings, "w16"));
	http_response_free(&resp);
	srv_stop(&s);
	free(p);
	free(long_one);
}

/* users[0].user.KEY of a kubeconfig the double wrote (allocated). */
static char *
kube_user_key(const struct unit_kube *k, const char *file, const char *key)
{
	struct yaml_file	*yf;
	char			*path = unit_kube_path(k, file), *cause, *v;
	const char		*s;

	assert_int_equal(yaml_parse_file(path, NULL, 0, &yf, &cause), 0);
	s = json_path_string(json_array_get(json_get(yf->docs[0].root,
	    "users"), 0), "user", key, NULL);
	assert_non_null(s);
	v = xstrdup(s);
	yaml_file_free(yf);
	free(path);
	return (v);
}

/* users[0].user.KEY, base64-decoded (allocated). */
static char *
kube_user_data(const struct unit_kube *k, const char *key, size_t *len)
{
	char		*b64 = kube_user_key(k, "kubeconfig", key);
	unsigned char	*out;

	assert_int_equal(base64_decode(b64, strlen(b64), &out, len), 0);
	free(b64);
	return ((char *)out);
}

/* GET /api on the double, its CA trusted, nothing more. */
static void
kube_req(struct http_req *req, const struct unit_kube *k, char **url)
{
	xasprintf(url, "%s/api", k->url);
	memset(req, 0, sizeof *req);
	req->method = "GET";
	req->url = *url;
	req->timeout_ms = 30000;
	req->ca_blob = k->ca;
	req->ca_blob_len = strlen(k->ca);
}

/* GET /api on the double as req says: the status, or -1 and *cause. */
static int
kube_get_api(struct http_req *req, char **cause)
{
	struct http_response	resp;
	int			status;

	if (http_send(req, &resp, cause) == -1)
		return (-1);
	status = resp.status;
	http_response_free(&resp);
	return (status);
}

/*
 * A client certificate from memory authenticates; the next request of
 * the same thread without it does not ride on its connection (the
 * double trusts a connection's certificate, so reuse would answer 200).
 */
static void
test_http_send_tls_client_cert_from_memory(void **state)
{
	struct unit_kube	 k;
	struct http_req		 req;
	char			*cause = NULL, *url, *cert, *key, *token;
	size_t			 certlen, keylen;

	unit_kube_start(&k);
	cert = kube_user_data(&k, "client-certificate-data", &certlen);
	key = kube_user_data(&k, "client-key-data", &keylen);
	token = kube_user_key(&k, "token.kubeconfig", "token");
	kube_req(&req, &k, &url);
	assert_int_equal(kube_get_api(&req, &cause), 401);
	req.cert_blob = cert;
	req.cert_blob_len = certlen;
	req.key_blob = key;
	req.key_blob_len = keylen;
	assert_int_equal(kube_get_api(&req, &cause), 200);
	assert_int_equal(kube_get_api(&req, &cause), 200);
	req.cert_blob = req.key_blob = NULL;
	assert_int_equal(kube_get_api(&req, &cause), 401);
	/* Not the CA: refused, the system's CAs do not know the double. */
	req.ca_blob = NULL;
	assert_int_equal(kube_get_api(&req, &cause), -1);
	assert_non_null(strstr(cause, "TLS with "));
	free(cause);
	/* insecure: no verification at all. */
	req.insecure = 1;
	assert_int_equal(kube_get_api(&req, &cause), 401);
	/* A bearer token. */
	req.insecure = 0;
	req.ca_blob = k.ca;
	req.bearer = k.admin;	/* not an API token */
	assert_int_equal(kube_get_api(&req, &cause), 401);
	req.bearer = token;
	assert_int_equal(kube_get_api(&req, &cause), 200);
	free(token);
	explicit_bzero(key, keylen);
	free(key);
	free(cert);
	free(url);
	unit_kube_stop(&k);
}

/*
 * tls_server_name: the certificate is checked against that name, the
 * connection goes where the URL says.
 */
static void
test_http_send_tls_server_name(void **state)
{
	struct unit_kube	 k;
	struct http_req		 req;
	char			*cause = NULL, *url;

	unit_kube_start(&k);
	kube_req(&req, &k, &url);
	req.tls_server_name = "localhost";
	assert_int_equal(kube_get_api(&req, &cause), 401);
	req.tls_server_name = "api.example.invalid";
	assert_int_equal(kube_get_api(&req, &cause), -1);
	assert_non_null(strstr(cause, "TLS with "));
	/* Errors name the URL asked for. */
	assert_non_null(strstr(cause, url));
	free(cause);
	free(url);
	unit_kube_stop(&k);
}

static void
test_http_query_escape_reserved(void **state)
{
	char	*s = http_query_escape("sum(rate(x{a=\"b c\"}[1m]))&-_.~");

	assert_string_equal(s, "sum%28rate%28x%7Ba%3D%22b%20c%22%7D%5B1m%5D"
	    "%29%29%26-_.~");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http_request_post_sends_body_and_type),
		cmocka_unit_test(test_http_request_reuses_the_connection),
		cmocka_unit_test(test_http_request_redirect_is_the_answer),
		cmocka_unit_test(test_http_request_body_bound_refused),
		cmocka_unit_test(test_http_request_stalled_server_times_out),
		cmocka_unit_test(
		    test_http_request_stop_aborts_a_stalled_request),
		cmocka_unit_test(test_http_request_refuses_other_urls),
		cmocka_unit_test(test_http_request_refused_connection_names_url),
		cmocka_unit_test(test_http_request_proxy_from_environment),
		cmocka_unit_test(test_http_send_patch_and_delete_with_bodies),
		cmocka_unit_test(test_http_send_retry_after_and_warnings),
		cmocka_unit_test(test_http_send_tls_client_cert_from_memory),
		cmocka_unit_test(test_http_send_tls_server_name),
		cmocka_unit_test(test_http_query_escape_reserved),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
