/*
 * test_webhook.c: providers' deliveries (the real payload shapes in
 * tests/fixtures/webhooks), their signatures, URL normalisation, deploy
 * requests, and the metrics text.
 */
#include "config.h"

#include <strings.h>

#include "unit.h"
#include "agent.h"

/* Headers of a test delivery: name, value pairs, NULL-terminated. */
static const char *
hdr_cb(void *arg, const char *name)
{
	const char *const	*h = arg;

	for (; h[0] != NULL; h += 2) {
		if (strcasecmp(h[0], name) == 0)
			return (h[1]);
	}
	return (NULL);
}

static char *
fixture(const char *name, size_t *len)
{
	const char	*srcdir = getenv("TEST_SRCDIR");
	char		*path, *data = NULL, *cause = NULL;

	xasprintf(&path, "%s/tests/fixtures/webhooks/%s",
	    srcdir != NULL ? srcdir : ".", name);
	if (file_read(path, 1 << 20, &data, len, &cause) == -1)
		fail_msg("%s", cause);
	free(path);
	return (data);
}

static void
hex(const unsigned char *in, size_t n, char *out)
{
	size_t	i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

static void
test_webhook_verify_github_published_vector(void **state)
{
	const char	*secret = "It's a Secret to Everybody";
	const char	*body = "Hello, World!";
	const char	*good[] = { "X-Hub-Signature-256", "sha256=757107ea0eb2"
			    "509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e"
			    "17", NULL };
	const char	*upper[] = { "X-Hub-Signature-256", "sha256=757107EA0E"
			    "B2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B04"
			    "3E17", NULL };
	const char	*bad[] = { "X-Hub-Signature-256", "sha256=757107ea0eb2"
			    "509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e"
			    "18", NULL };
	const char	*shortsig[] = { "X-Hub-Signature-256", "sha256=7571",
			    NULL };
	const char	*none[] = { NULL };

	assert_true(webhook_verify(WEBHOOK_GITHUB, hdr_cb, good, body,
	    strlen(body), secret, strlen(secret)));
	assert_true(webhook_verify(WEBHOOK_GITHUB, hdr_cb, upper, body,
	    strlen(body), secret, strlen(secret)));
	assert_false(webhook_verify(WEBHOOK_GITHUB, hdr_cb, bad, body,
	    strlen(body), secret, strlen(secret)));
	assert_false(webhook_verify(WEBHOOK_GITHUB, hdr_cb, shortsig, body,
	    strlen(body), secret, strlen(secret)));
	assert_false(webhook_verify(WEBHOOK_GITHUB, hdr_cb, none, body,
	    strlen(body), secret, strlen(secret)));
	/* A body changed by one byte. */
	assert_false(webhook_verify(WEBHOOK_GITHUB, hdr_cb, good,
	    "Hello, World?", 13, secret, strlen(secret)));
	/* No secret configured: never verified. */
	assert_false(webhook_verify(WEBHOOK_GITHUB, hdr_cb, good, body,
	    strlen(body), NULL, 0));
}

static void
test_webhook_verify_each_provider_its_header(void **state)
{
	const char	*secret = "s3cret", *body = "{\"a\":1}";
	unsigned char	 mac[32];
	char		 h[65], pre[80];

	hmac_sha256(secret, strlen(secret), body, strlen(body), mac);
	hex(mac, 32, h);
	snprintf(pre, sizeof pre, "sha256=%s", h);
	{
		const char *gitea[] = { "X-Gitea-Signature", h, NULL };
		const char *gogs[] = { "X-Gogs-Event", "push",
		    "X-Gogs-Signature", h, NULL };
		const char *gitea_prefixed[] = { "X-Gitea-Signature", pre,
		    NULL };
		const char *bb[] = { "X-Hub-Signature", pre, NULL };
		const char *gen[] = { "X-Signature", pre, NULL };
		const char *gl[] = { "X-Gitlab-Token", "s3cret", NULL };
		const char *gl_bad[] = { "X-Gitlab-Token", "s3crex", NULL };
		const char *gl_long[] = { "X-Gitlab-Token", "s3cret!", NULL };

		assert_true(webhook_verify(WEBHOOK_GITEA, hdr_cb, gitea, body,
		    strlen(body), secret, strlen(secret)));
		assert_true(webhook_verify(WEBHOOK_GITEA, hdr_cb, gogs, body,
		    strlen(body), secret, strlen(secret)));
		assert_false(webhook_verify(WEBHOOK_GITEA, hdr_cb,
		    gitea_prefixed, body, strlen(body), secret,
		    strlen(secret)));
		assert_true(webhook_verify(WEBHOOK_BITBUCKET_SERVER, hdr_cb,
		    bb, body, strlen(body), secret, strlen(secret)));
		assert_true(webhook_verify(WEBHOOK_GENERIC, hdr_cb, gen, body,
		    strlen(body), secret, strlen(secret)));
		/* The generic route does not take GitHub's header. */
		assert_false(webhook_verify(WEBHOOK_GENERIC, hdr_cb, bb, body,
		    strlen(body), secret, strlen(secret)));
		assert_true(webhook_verify(WEBHOOK_GITLAB, hdr_cb, gl, body,
		    strlen(body), secret, strlen(secret)));
		assert_false(webhook_verify(WEBHOOK_GITLAB, hdr_cb, gl_bad,
		    body, strlen(body), secret, strlen(secret)));
		assert_false(webhook_verify(WEBHOOK_GITLAB, hdr_cb, gl_long,
		    body, strlen(body), secret, strlen(secret)));
	}
}

static void
test_webhook_url_normalize_spellings_agree(void **state)
{
	static const char *const same[] = {
		"https://github.com/acme/infra.git",
		"https://GitHub.com/acme/infra",
		"http://user:pass@github.com:443/acme/infra.git/",
		"git@github.com:acme/infra.git",
		"ssh://git@github.com:22/acme/infra",
		"git://github.com/acme/infra.git",
	};
	char	*n;
	size_t	 i;

	for (i = 0; i < sizeof same / sizeof same[0]; i++) {
		n = webhook_url_normalize(same[i]);
		assert_string_equal(n, "github.com/acme/infra");
		free(n);
	}
	/* The path keeps its case; another repository stays another. */
	n = webhook_url_normalize("https://github.com/Acme/infra");
	assert_string_equal(n, "github.com/Acme/infra");
	free(n);
	n = webhook_url_normalize("git://127.0.0.1:9418/infra.git");
	assert_string_equal(n, "127.0.0.1/infra");
	free(n);
	n = webhook_url_normalize("https://[::1]:8443/scm/prj/infra.git");
	assert_string_equal(n, "[::1]/scm/prj/infra");
	free(n);
}

static void
test_webhook_parse_github_push_fixture(void **state)
{
	const char		*h[] = { "X-GitHub-Event", "push",
				    "X-GitHub-Delivery", "d-1", NULL };
	struct webhook_event	 ev;
	char			*body, *cause = NULL;
	size_t			 len;

	body = fixture("github-push.json", &len);
	assert_int_equal(webhook_parse(WEBHOOK_GITHUB, hdr_cb, h, body, len,
	    &ev, &cause), 0);
	assert_int_equal(ev.kind, WEBHOOK_PUSH);
	assert_string_equal(ev.delivery, "d-1");
	assert_int_equal(ev.branches.n, 1);
	assert_true(strv_contains(&ev.urls,
	    "https://github.com/Codertocat/Hello-World.git"));
	assert_non_null(ev.after);
	webhook_event_free(&ev);
	free(body);
}

static void
test_webhook_parse_each_provider_fixture(void **state)
{
	static const struct {
		enum webhook_provider	 p;
		const char		*file;
		const char		*hname, *hvalue;
		enum webhook_kind	 kind;
	} cases[] = {
		{ WEBHOOK_GITHUB, "github-ping.json", "X-GitHub-Event",
		  "ping", WEBHOOK_PING },
		{ WEBHOOK_GITLAB, "gitlab-push.json", "X-Gitlab-Event",
		  "Push Hook", WEBHOOK_PUSH },
		{ WEBHOOK_GITEA, "gitea-push.json", "X-Gitea-Event", "push",
		  WEBHOOK_PUSH },
		{ WEBHOOK_GITEA, "gitea-push.json", "X-Gogs-Event", "push",
		  WEBHOOK_PUSH },
		{ WEBHOOK_GITHUB, "github-push.json", "X-GitHub-Event",
		  "watch", WEBHOOK_OTHER },
	};
	struct webhook_event	 ev;
	char			*body, *cause = NULL;
	size_t			 len, i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *h[] = { cases[i].hname, cases[i].hvalue, NULL };

		body = fixture(cases[i].file, &len);
		assert_int_equal(webhook_parse(cases[i].p, hdr_cb, h, body,
		    len, &ev, &cause), 0);
		assert_int_equal(ev.kind, cases[i].kind);
		if (ev.kind == WEBHOOK_PUSH) {
			assert_true(ev.urls.n > 0);
			assert_int_equal(ev.branches.n, 1);
		}
		webhook_event_free(&ev);
		free(body);
	}
}

static void
test_webhook_parse_bitbucket_server_refs_changed(void **state)
{
	const char		*h[] = { "X-Event-Key", "repo:refs_changed",
				    NULL };
	const char		*ping[] = { "X-Event-Key", "diagnostics:ping",
				    NULL };
	struct webhook_event	 ev;
	struct json		*o, *links;
	char			*body, *cause = NULL;
	size_t			 len;

	body = fixture("bitbucket-server-refs-changed.json", &len);
	/* As documented, without repository.links: no URL to match. */
	assert_int_equal(webhook_parse(WEBHOOK_BITBUCKET_SERVER, hdr_cb, h,
	    body, len, &ev, &cause), -1);
	assert_non_null(strstr(cause, "without a repository URL"));
	free(cause);
	cause = NULL;
	/* As servers send it, with its clone links. */
	o = json_parse(body, len, &cause);
	assert_non_null(o);
	free(body);
	links = json_parse("{\"clone\": [{\"href\": \"ssh://git@bb.example."
	    "com:7999/prj/infra.git\", \"name\": \"ssh\"}]}", 83, &cause);
	assert_non_null(links);
	json_set(json_get(o, "repository"), "links", links);
	body = json_print(o, 0);
	json_free(o);
	assert_int_equal(webhook_parse(WEBHOOK_BITBUCKET_SERVER, hdr_cb, h,
	    body, strlen(body), &ev, &cause), 0);
	assert_int_equal(ev.kind, WEBHOOK_PUSH);
	assert_true(strv_contains(&ev.urls,
	    "ssh://git@bb.example.com:7999/prj/infra.git"));
	assert_true(ev.branches.n >= 1);
	webhook_event_free(&ev);
	assert_int_equal(webhook_parse(WEBHOOK_BITBUCKET_SERVER, hdr_cb, ping,
	    "{}", 2, &ev, &cause), 0);
	assert_int_equal(ev.kind, WEBHOOK_PING);
	webhook_event_free(&ev);
	free(body);
}

/*
 * A key written with escapes means what it decodes to, as it does to
 * every JSON parser: "re\u0066" is "ref" (it was skipped, so the scanner
 * and a provider's own reading disagreed about what was pushed).
 */
static void
test_webhook_parse_escaped_keys_read_as_decoded(void **state)
{
	const char		*h[] = { "X-GitHub-Event", "push", NULL };
	const char		*body = "{\"re\\u0066\": \"refs/heads/main\", "
				    "\"\\u0061fter\": \"0123456789012345678901234"
				    "567890123456789\", \"repository\": {\"clone_"
				    "\\u0075rl\": \"https://example.com/a/b.git\", "
				    "\"\\u0075rl\\u0075rl\\u0075rl\\u0075rl\\u0075rl"
				    "\\u0075rl\\u0075rl\\u0075rl\\u0075rl\": "
				    "\"https://example.com/not/this.git\"}}";
	struct webhook_event	 ev;
	char			*cause = NULL;

	(void)state;
	assert_int_equal(webhook_parse(WEBHOOK_GITHUB, hdr_cb, h, body,
	    strlen(body), &ev, &cause), 0);
	assert_int_equal(ev.kind, WEBHOOK_PUSH);
	assert_int_equal(ev.branches.n, 1);
	assert_string_equal(ev.branches.v[0], "main");
	assert_string_equal(ev.after,
	    "0123456789012345678901234567890123456789");
	/* A long key matches no field. */
	assert_int_equal(ev.urls.n, 1);
	assert_string_equal(ev.urls.v[0], "https://example.com/a/b.git");
	webhook_event_free(&ev);
}

static void
test_webhook_parse_repository_dispatch_deploy(void **state)
{
	const char		*h[] = { "X-GitHub-Event", "repository_dispatch",
				    NULL };
	struct webhook_event	 ev;
	char			*body, *cause = NULL;
	size_t			 len;

	body = fixture("github-repository-dispatch.json", &len);
	assert_int_equal(webhook_parse(WEBHOOK_GITHUB, hdr_cb, h, body, len,
	    &ev, &cause), 0);
	assert_int_equal(ev.kind, WEBHOOK_DEPLOY);
	/* The request itself is read only once the signature is checked. */
	assert_null(ev.deploy);
	ev.deploy = webhook_deploy_request(body, len, &cause);
	assert_non_null(ev.deploy);
	assert_string_equal(ev.deploy->service, "checkout-service");
	assert_string_equal(ev.deploy->environment, "staging");
	assert_string_equal(ev.deploy->version, "v3.0.1-3f2c1ab");
	assert_string_equal(ev.deploy->image, "ghcr.io/acme/checkout-service");
	assert_string_equal(ev.deploy->tag, "3f2c1ab");
	assert_int_equal(ev.deploy->requires.n, 1);
	assert_string_equal(ev.deploy->requires.v[0], "inventory-service");
	assert_int_equal(ev.deploy->required_by.n, 2);
	webhook_event_free(&ev);
	free(body);
}

static void
test_webhook_parse_malformed_says_what(void **state)
{
	const char		*h[] = { "X-GitHub-Event", "push", NULL };
	const char		*none[] = { NULL };
	const char		*rd[] = { "X-GitHub-Event", "repository_dispatch",
				    NULL };
	struct webhook_event	 ev;
	const char		*body;
	char			*cause = NULL;

	assert_int_equal(webhook_parse(WEBHOOK_GITHUB, hdr_cb, none, "{}", 2,
	    &ev, &cause), -1);
	assert_string_equal(cause, "missing X-GitHub-Event header");
	free(cause);
	assert_int_equal(webhook_parse(WEBHOOK_GITHUB, hdr_cb, h, "{x", 2,
	    &ev, &cause), -1);
	assert_string_equal(cause, "body is not JSON: line 1 column 2: "
	    "expected a key");
	free(cause);
	assert_int_equal(webhook_parse(WEBHOOK_GITHUB, hdr_cb, h, "[]", 2,
	    &ev, &cause), -1);
	assert_string_equal(cause, "body must be a JSON object");
	free(cause);
	body = "{\"ref\": \"refs/heads/main\"}";
	assert_int_equal(webhook_parse(WEBHOOK_GITHUB, hdr_cb, h, body,
	    strlen(body), &ev, &cause), -1);
	assert_string_equal(cause, "push event without a repository URL");
	free(cause);
	body = "{\"action\": \"deploy-service\", \"repository\": "
	    "{\"clone_url\": \"x\"}, \"client_payload\": {\"service\": "
	    "\"a\", \"environment\": \"b\"}}";
	assert_int_equal(webhook_parse(WEBHOOK_GITHUB, hdr_cb, rd, body,
	    strlen(body), &ev, &cause), 0);
	webhook_event_free(&ev);
	assert_null(webhook_deploy_request(body, strlen(body), &cause));
	assert_string_equal(cause, "deploy request: 'version' is required");
	free(cause);
	body = "{\"action\": \"deploy-service\"}";
	assert_null(webhook_deploy_request(body, strlen(body), &cause));
	assert_string_equal(cause,
	    "repository_dispatch without a client_payload");
	free(cause);
}

/*
 * A body cut after fields were kept (issue 13): the scanner's error path
 * and webhook_parse's both release them; under ASan a double free here
 * aborted the agent on one unsigned request. Every provider, every field
 * the scanner keeps, and each fixture cut at every length.
 */
static void
test_webhook_parse_truncated_after_fields_no_double_free(void **state)
{
	static const struct {
		enum webhook_provider	 p;
		const char		*hdr[3];
		const char		*fixture;
	} cases[] = {
		{ WEBHOOK_GITHUB, { "X-GitHub-Event", "push", NULL },
		    "github-push.json" },
		{ WEBHOOK_GITHUB, { "X-GitHub-Event", "repository_dispatch",
		    NULL }, "github-repository-dispatch.json" },
		{ WEBHOOK_GITLAB, { "X-Gitlab-Event", "Push Hook", NULL },
		    "gitlab-push.json" },
		{ WEBHOOK_GITEA, { "X-Gitea-Event", "push", NULL },
		    "gitea-push.json" },
		{ WEBHOOK_BITBUCKET_SERVER, { "X-Event-Key",
		    "repo:refs_changed", NULL },
		    "bitbucket-server-refs-changed.json" },
		{ WEBHOOK_GENERIC, { "X-Gitops-Event", "push", NULL },
		    "github-push.json" },
	};
	const char		*body = "{\"ref\":\"refs/heads/main\",";
	struct webhook_event	 ev;
	char			*data, *cause;
	size_t			 c, len, cut;

	for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		cause = NULL;
		assert_int_equal(webhook_parse(cases[c].p, hdr_cb,
		    (void *)cases[c].hdr, body, strlen(body), &ev, &cause), -1);
		assert_non_null(strstr(cause, "body is not JSON"));
		free(cause);
		data = fixture(cases[c].fixture, &len);
		for (cut = 1; cut < len; cut += 7) {
			cause = NULL;
			if (webhook_parse(cases[c].p, hdr_cb,
			    (void *)cases[c].hdr, data, cut, &ev,
			    &cause) == 0) {
				webhook_event_free(&ev);
				continue;
			}
			assert_non_null(cause);
			free(cause);
		}
		free(data);
	}
}

/* A /api/v1/deployments body carries the time it was made. */
static void
test_deploy_request_fresh_window(void **state)
{
	struct json	*o;
	char		*cause = NULL;
	int64_t		 now = 1796454000;	/* 2026-12-05T07:00:00Z */

	o = json_parse("{\"timestamp\": \"2026-12-05T06:56:00Z\"}", 38,
	    &cause);
	assert_non_null(o);
	assert_int_equal(deploy_request_fresh(o, now, 300, &cause), 0);
	assert_int_equal(deploy_request_fresh(o, now + 120, 300, &cause), -1);
	assert_string_equal(cause, "deploy request: 'timestamp' is -360 "
	    "seconds from now, more than the 300 allowed: a stale or replayed "
	    "request is refused");
	free(cause);
	/* From the future: a clock far ahead is refused too. */
	assert_int_equal(deploy_request_fresh(o, now - 600, 300, &cause), -1);
	free(cause);
	json_free(o);
	o = json_parse("{\"timestamp\": 1796454000}", 25, &cause);
	assert_int_equal(deploy_request_fresh(o, now, 300, &cause), -1);
	assert_non_null(strstr(cause, "'timestamp' is required"));
	free(cause);
	json_free(o);
}

/* The scanner is a JSON validator: what it accepts, what it refuses. */
static void
test_webhook_parse_scanner_validates_json(void **state)
{
	static const struct {
		const char	*body;
		const char	*error;		/* NULL: accepted */
	} cases[] = {
		{ "{\"repository\": {\"clone_url\": \"https:\\/\\/h.example"
		  "\\/a\\/b.git\"}, \"ref\": \"refs\\/heads\\/m\\u00e9\"}",
		  NULL },
		{ "{\"repository\": {\"clone_url\": \"x\"}, \"n\": [1, -0.5e+3,"
		  " true, false, null, {}, []], \"s\": \"\\ud83d\\ude00\"}", NULL },
		{ "{\"repository\": {\"clone_url\": \"x\"}} x",
		  "body is not JSON: line 1 column 36: text after the JSON "
		  "value" },
		{ "{\"repository\": {\"clone_url\": \"x\"}, \"n\": 01}",
		  "body is not JSON: line 1 column 42: expected ',' or '}'" },
		{ "{\"repository\": {\"clone_url\": \"x\"}, \"n\": [1,]}",
		  "body is not JSON: line 1 column 44: unexpected character" },
		{ "{\"repository\": {\"clone_url\": \"x\"}, \"s\": \"\\q\"}",
		  "body is not JSON: line 1 column 43: bad escape in a string" },
		{ "{\"repository\": {\"clone_url\": \"x\"}, \"s\": \"a\nb\"}",
		  "body is not JSON: line 1 column 43: control character in a "
		  "string" },
		{ "{\"repository\": {\"clone_url\": \"x\"}, \"s\": tru}",
		  "body is not JSON: line 1 column 41: unexpected character" },
		{ "{\"repository\": {\"clone_url\": \"x\"", "body is not JSON: "
		  "line 1 column 33: expected ',' or '}'" },
	};
	const char		*h[] = { "X-GitHub-Event", "push", NULL };
	struct webhook_event	 ev;
	char			*cause = NULL;
	size_t			 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (cases[i].error == NULL) {
			assert_int_equal(webhook_parse(WEBHOOK_GITHUB, hdr_cb,
			    h, cases[i].body, strlen(cases[i].body), &ev,
			    &cause), 0);
			assert_true(ev.urls.n == 1);
			if (i == 0) {
				assert_string_equal(ev.urls.v[0],
				    "https://h.example/a/b.git");
				assert_string_equal(ev.branches.v[0],
				    "m\xc3\xa9");
			}
			webhook_event_free(&ev);
			continue;
		}
		assert_int_equal(webhook_parse(WEBHOOK_GITHUB, hdr_cb, h,
		    cases[i].body, strlen(cases[i].body), &ev, &cause), -1);
		assert_string_equal(cause, cases[i].error);
		free(cause);
		cause = NULL;
	}
}

/* Nesting is bounded; a huge body costs a pass, not a tree. */
static void
test_webhook_parse_deep_and_large_bodies(void **state)
{
	const char		*h[] = { "X-GitHub-Event", "push", NULL };
	struct webhook_event	 ev;
	struct buf		 b;
	char			*cause = NULL;
	int			 i;

	buf_init(&b);
	buf_adds(&b, "{\"a\": ");
	for (i = 0; i < 200; i++)
		buf_addc(&b, '[');
	for (i = 0; i < 200; i++)
		buf_addc(&b, ']');
	buf_addc(&b, '}');
	assert_int_equal(webhook_parse(WEBHOOK_GITHUB, hdr_cb, h, b.data,
	    b.len, &ev, &cause), -1);
	assert_non_null(strstr(cause, "nested too deeply"));
	free(cause);
	buf_free(&b);
	/* 8 MB of small objects, the URL at the end. */
	buf_init(&b);
	buf_adds(&b, "{\"pad\": [");
	for (i = 0; i < 1000000; i++)
		buf_adds(&b, i == 0 ? "{}" : ",{}");
	buf_adds(&b, "], \"ref\": \"refs/heads/main\", \"repository\": "
	    "{\"clone_url\": \"https://h/a\"}}");
	assert_int_equal(webhook_parse(WEBHOOK_GITHUB, hdr_cb, h, b.data,
	    b.len, &ev, &cause), 0);
	assert_string_equal(ev.urls.v[0], "https://h/a");
	assert_string_equal(ev.branches.v[0], "main");
	webhook_event_free(&ev);
	buf_free(&b);
}

static void
test_deploy_request_from_json_checks_fields(void **state)
{
	static const struct {
		const char	*json;
		const char	*error;	/* NULL: accepted */
	} cases[] = {
		{ "{\"service\":\"a\",\"environment\":\"e\",\"version\":\"v1\"}",
		  NULL },
		{ "{\"service\":\"a\",\"environment\":\"e\",\"version\":\"v1\","
		  "\"tag\":\"t\",\"digest\":\"sha256:x\"}",
		  "deploy request: give 'tag' or 'digest', not both" },
		{ "{\"service\":1,\"environment\":\"e\",\"version\":\"v1\"}",
		  "deploy request: 'service' must be a string, not a number" },
		{ "{\"service\":\"a\\nb\",\"environment\":\"e\","
		  "\"version\":\"v1\"}",
		  "deploy request: 'service' must be a non-empty line of at "
		  "most 256 characters of UTF-8" },
		/* Found by fuzz_deploy: not UTF-8, it would not round-trip. */
		{ "{\"service\":\"a\",\"environment\":\"e\","
		  "\"version\":\"v\377\"}",
		  "deploy request: 'version' must be a non-empty line of at "
		  "most 256 characters of UTF-8" },
		{ "{\"service\":\"a\",\"environment\":\"e\",\"version\":\"v1\","
		  "\"requires\":\"b\"}",
		  "deploy request: 'requires' must be a list of service "
		  "names, not a string" },
		{ "{\"service\":\"a\",\"environment\":\"e\",\"version\":\"v1\","
		  "\"force\":1}",
		  "deploy request: 'force' must be true or false" },
	};
	struct deploy_request	*d;
	struct json		*o, *back;
	char			*cause = NULL, *text;
	size_t			 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		o = json_parse(cases[i].json, strlen(cases[i].json), &cause);
		assert_non_null(o);
		d = deploy_request_from_json(o, &cause);
		if (cases[i].error == NULL) {
			assert_non_null(d);
			back = deploy_request_to_json(d);
			text = json_print(back, 0);
			assert_non_null(strstr(text, "\"version\":\"v1\""));
			free(text);
			json_free(back);
			deploy_request_free(d);
		} else {
			assert_null(d);
			assert_string_equal(cause, cases[i].error);
			free(cause);
			cause = NULL;
		}
		json_free(o);
	}
}

static void
test_metrics_render_text_format(void **state)
{
	struct metrics	*m = metrics_new();
	char		*text, *l;

	l = metrics_label_escape("a\"b\\c");
	assert_string_equal(l, "a\\\"b\\\\c");
	free(l);
	metrics_add(m, "gitops_webhooks_total",
	    "provider=\"github\",result=\"accepted\"", 1);
	metrics_add(m, "gitops_webhooks_total",
	    "provider=\"github\",result=\"accepted\"", 2);
	metrics_set(m, "gitops_jobs_queued", NULL, 4);
	metrics_observe(m, "gitops_sync_duration_seconds", "app=\"x\"", 0.2);
	metrics_observe(m, "gitops_sync_duration_seconds", "app=\"x\"", 7);
	assert_true(metrics_value(m, "gitops_webhooks_total",
	    "provider=\"github\",result=\"accepted\"") == 3);
	assert_true(metrics_value(m, "gitops_sync_duration_seconds",
	    "app=\"x\"") == 2);
	text = metrics_render(m);
	assert_non_null(strstr(text, "# TYPE gitops_webhooks_total counter\n"
	    "gitops_webhooks_total{provider=\"github\",result=\"accepted\"} "
	    "3\n"));
	assert_non_null(strstr(text, "gitops_jobs_queued 4\n"));
	assert_non_null(strstr(text, "gitops_sync_duration_seconds_bucket{"
	    "app=\"x\",le=\"0.25\"} 1\n"));
	assert_non_null(strstr(text, "gitops_sync_duration_seconds_bucket{"
	    "app=\"x\",le=\"10\"} 2\n"));
	assert_non_null(strstr(text, "gitops_sync_duration_seconds_bucket{"
	    "app=\"x\",le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(text, "gitops_sync_duration_seconds_count{"
	    "app=\"x\"} 2\n"));
	free(text);
	metrics_free(m);
}

/* form_payload BODY: the decoded payload, or NULL with the cause in why. */
static char *
form_payload(const char *body, size_t max, size_t *len, char **why)
{
	*why = NULL;
	return (webhook_form_payload(body, strlen(body), max, len, why));
}

static void
test_webhook_form_payload_decodes_percent_and_plus(void **state)
{
	char	*p, *why;
	size_t	 len;

	(void)state;
	p = form_payload("a=1&payload=%7B%22k%22%3A+%22a%2Bb%20c%25%22%7D&b=",
	    1024, &len, &why);
	assert_non_null(p);
	assert_null(why);
	assert_string_equal(p, "{\"k\": \"a+b c%\"}");
	assert_int_equal(len, strlen(p));
	free(p);
	/* an encoded name, an empty payload, a NUL byte kept in the length */
	p = form_payload("pay%6Coad=x%00y", 1024, &len, &why);
	assert_non_null(p);
	assert_int_equal(len, 3);
	assert_memory_equal(p, "x\0y", 3);
	free(p);
	p = form_payload("payload", 1024, &len, &why);
	assert_non_null(p);
	assert_int_equal(len, 0);
	free(p);
}

static void
test_webhook_form_payload_bad_bodies_say_what(void **state)
{
	static const struct {
		const char	*body;
		size_t		 max;
		const char	*why;
	} bad[] = {
		{ "payload=%7", 1024, "not followed by two hex digits at "
		    "byte 9" },
		{ "payload=%zz", 1024, "malformed" },
		{ "%=1&payload=x", 1024, "at byte 1" },
		{ "payloads=x&x=payload", 1024, "no 'payload' field" },
		{ "", 1024, "no 'payload' field" },
		{ "payload=1&payload=2", 1024, "more than one 'payload'" },
		{ "payload=1234", 11, "12 bytes, over the limit of 11" },
	};
	char	*p, *why;
	size_t	 i, len;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		p = form_payload(bad[i].body, bad[i].max, &len, &why);
		assert_null(p);
		assert_non_null(why);
		if (strstr(why, bad[i].why) == NULL)
			fail_msg("'%s': '%s' lacks '%s'", bad[i].body, why,
			    bad[i].why);
		free(why);
	}
}

static void
test_webhook_form_is_content_types_and_json(void **state)
{
	(void)state;
	assert_true(webhook_form_is("application/x-www-form-urlencoded"));
	assert_true(webhook_form_is("Application/X-WWW-Form-Urlencoded; "
	    "charset=utf-8"));
	assert_false(webhook_form_is("application/json"));
	assert_false(webhook_form_is("application/x-www-form-urlencodedx"));
	assert_false(webhook_form_is(NULL));
	assert_true(webhook_form_is_json(" \n{}", 4));
	assert_false(webhook_form_is_json("payload=%7B%7D", 14));
	assert_false(webhook_form_is_json("  ", 2));
}

/* GitHub's form delivery: the fixture's JSON, signed as sent. */
static void
test_webhook_form_github_push_parses_as_json(void **state)
{
	const char	*h[] = { "X-GitHub-Event", "push", NULL };
	struct webhook_event ev;
	struct buf	 b;
	char		*json, *p, *why = NULL;
	size_t		 len, plen, i;

	(void)state;
	json = fixture("github-push.json", &len);
	buf_init(&b);
	buf_adds(&b, "payload=");
	for (i = 0; i < len; i++) {
		if (json[i] == ' ')
			buf_adds(&b, "+");
		else
			buf_printf(&b, "%%%02X", (unsigned char)json[i]);
	}
	p = webhook_form_payload(b.data, b.len, b.len, &plen, &why);
	assert_non_null(p);
	assert_int_equal(plen, len);
	assert_memory_equal(p, json, len);
	assert_int_equal(webhook_parse(WEBHOOK_GITHUB, hdr_cb, h, p, plen,
	    &ev, &why), 0);
	assert_int_equal(ev.kind, WEBHOOK_PUSH);
	webhook_event_free(&ev);
	free(p);
	buf_free(&b);
	free(json);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_webhook_verify_github_published_vector),
		cmocka_unit_test(test_webhook_verify_each_provider_its_header),
		cmocka_unit_test(test_webhook_url_normalize_spellings_agree),
		cmocka_unit_test(test_webhook_parse_github_push_fixture),
		cmocka_unit_test(test_webhook_parse_each_provider_fixture),
		cmocka_unit_test(
		    test_webhook_parse_bitbucket_server_refs_changed),
		cmocka_unit_test(test_webhook_parse_escaped_keys_read_as_decoded),
		cmocka_unit_test(test_webhook_parse_repository_dispatch_deploy),
		cmocka_unit_test(test_webhook_parse_malformed_says_what),
		cmocka_unit_test(test_deploy_request_fresh_window),
		cmocka_unit_test(
		    test_webhook_parse_truncated_after_fields_no_double_free),
		cmocka_unit_test(test_webhook_parse_scanner_validates_json),
		cmocka_unit_test(test_webhook_parse_deep_and_large_bodies),
		cmocka_unit_test(test_deploy_request_from_json_checks_fields),
		cmocka_unit_test(test_metrics_render_text_format),
		cmocka_unit_test(
		    test_webhook_form_payload_decodes_percent_and_plus),
		cmocka_unit_test(test_webhook_form_payload_bad_bodies_say_what),
		cmocka_unit_test(test_webhook_form_is_content_types_and_json),
		cmocka_unit_test(test_webhook_form_github_push_parses_as_json),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
