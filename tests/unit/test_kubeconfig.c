/*
 * test_kubeconfig.c: credentials from fixture kubeconfigs in a scratch
 * directory: contexts, clusters and users, files relative to the
 * kubeconfig, -data keys, tokens and token files (re-read when they
 * change), an exec plugin (a shell script counting its runs), $KUBECONFIG,
 * a pod's service account, and errors that name the file and the key but
 * never a secret.
 */
#include "config.h"

#include "unit.h"
#include "kube.h"

/* "ca-pem" "cert-pem" "key-pem" in base64 */
#define B64_CA		"Y2EtcGVt"
#define B64_CERT	"Y2VydC1wZW0="
#define B64_KEY		"a2V5LXBlbQ=="

static const char kubeconfig[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "clusters:\n"
    "- name: prod\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:6443/\n"
    "    certificate-authority: certs/ca.crt\n"
    "    tls-server-name: api.prod.example\n"
    "- name: lab\n"
    "  cluster:\n"
    "    server: https://127.0.0.1:1\n"
    "    certificate-authority-data: " B64_CA "\n"
    "    insecure-skip-tls-verify: true\n"
    "users:\n"
    "- name: admin\n"
    "  user:\n"
    "    client-certificate: certs/client.crt\n"
    "    client-key-data: " B64_KEY "\n"
    "- name: robot\n"
    "  user:\n"
    "    token: s3cret-token\n"
    "- name: broken\n"
    "  user:\n"
    "    client-certificate-data: " B64_CERT "\n"
    "    client-key-data: '%%%not base64 s3cret'\n"
    "- name: filed\n"
    "  user:\n"
    "    tokenFile: token\n"
    "contexts:\n"
    "- name: prod\n"
    "  context: {cluster: prod, user: admin, namespace: shop}\n"
    "- name: lab\n"
    "  context: {cluster: lab, user: robot}\n"
    "- name: broken\n"
    "  context: {cluster: lab, user: broken}\n"
    "- name: filed\n"
    "  context: {cluster: lab, user: filed}\n"
    "- name: nouser\n"
    "  context: {cluster: lab, user: ghost}\n"
    "current-context: prod\n";

static struct kube_auth *
load(const char *dir, const char *file, const char *context, char **cause)
{
	struct kube_auth_opts	 o;
	struct kube_auth	*a;
	char			*path = path_join(dir, file);

	memset(&o, 0, sizeof o);
	o.kubeconfig = path;
	o.context = context;
	a = kube_auth_load(&o, cause);
	free(path);
	return (a);
}

static void
fixture(const char *dir)
{
	unit_write(dir, "kube/config", kubeconfig);
	unit_write(dir, "kube/certs/ca.crt", "ca-pem");
	unit_write(dir, "kube/certs/client.crt", "cert-pem");
	unit_write(dir, "kube/token", "filed-token-1\n");
}

/* The current context: files relative to the kubeconfig, namespace. */
static void
test_kube_auth_load_current_context_files(void **state)
{
	struct kube_auth	*a;
	struct http_req		 req;
	void			*hold;
	char			*cause = NULL;

	fixture(*state);
	assert_non_null(a = load(*state, "kube/config", NULL, &cause));
	assert_string_equal(kube_auth_server(a), "https://10.0.0.1:6443");
	assert_string_equal(kube_auth_namespace(a), "shop");
	assert_false(kube_auth_insecure(a));
	memset(&req, 0, sizeof req);
	assert_int_equal(kube_auth_prepare(a, &req, &hold, &cause), 0);
	assert_int_equal(req.ca_blob_len, 6);
	assert_memory_equal(req.ca_blob, "ca-pem", 6);
	assert_int_equal(req.cert_blob_len, 8);
	assert_memory_equal(req.cert_blob, "cert-pem", 8);
	assert_int_equal(req.key_blob_len, 7);
	assert_memory_equal(req.key_blob, "key-pem", 7);
	assert_string_equal(req.tls_server_name, "api.prod.example");
	assert_null(req.bearer);
	kube_auth_release(a, hold);
	/* Nothing to refresh. */
	assert_int_equal(kube_auth_invalidate(a), 0);
	kube_auth_free(a);
}

/* Another context: -data keys, a token, insecure, no namespace. */
static void
test_kube_auth_load_context_token_insecure(void **state)
{
	struct kube_auth	*a;
	struct http_req		 req;
	void			*hold;
	char			*cause = NULL;

	fixture(*state);
	assert_non_null(a = load(*state, "kube/config", "lab", &cause));
	assert_string_equal(kube_auth_server(a), "https://127.0.0.1:1");
	assert_string_equal(kube_auth_namespace(a), "");
	assert_true(kube_auth_insecure(a));
	memset(&req, 0, sizeof req);
	assert_int_equal(kube_auth_prepare(a, &req, &hold, &cause), 0);
	assert_memory_equal(req.ca_blob, "ca-pem", 6);
	assert_true(req.insecure);
	assert_string_equal(req.bearer, "s3cret-token");
	assert_null(req.cert_blob);
	kube_auth_release(a, hold);
	kube_auth_free(a);
}

/* Errors name the file and the key, never the secret. */
static void
test_kube_auth_load_errors_name_file_and_key(void **state)
{
	char	*cause = NULL, *want, *path;

	fixture(*state);
	path = path_join(*state, "kube/config");
	assert_null(load(*state, "kube/config", "broken", &cause));
	xasprintf(&want, "kubeconfig %s: user 'broken': client-key-data is "
	    "not base64", path);
	assert_string_equal(cause, want);
	assert_null(strstr(cause, "s3cret"));
	free(cause);
	free(want);
	assert_null(load(*state, "kube/config", "staging", &cause));
	xasprintf(&want, "kubeconfig %s: no context 'staging'", path);
	assert_string_equal(cause, want);
	free(cause);
	free(want);
	assert_null(load(*state, "kube/config", "nouser", &cause));
	xasprintf(&want, "kubeconfig %s: user 'ghost': no such user", path);
	assert_string_equal(cause, want);
	free(cause);
	free(want);
	/* A missing file the kubeconfig names. */
	unit_sh(*state, "rm kube/certs/client.crt");
	assert_null(load(*state, "kube/config", NULL, &cause));
	xasprintf(&want, "kubeconfig %s: user 'admin': client-certificate: ",
	    path);
	assert_non_null(strstr(cause, want));
	assert_non_null(strstr(cause, "certs/client.crt"));
	free(cause);
	free(want);
	free(path);
	/* No kubeconfig at all. */
	assert_null(load(*state, "nowhere", NULL, &cause));
	assert_non_null(strstr(cause, "nowhere"));
	free(cause);
}

/* A token file is read again when it changes, and after invalidate. */
static void
test_kube_auth_prepare_token_file_reread(void **state)
{
	struct kube_auth	*a;
	struct http_req		 req, req2;
	void			*hold, *hold2;
	char			*cause = NULL;

	fixture(*state);
	assert_non_null(a = load(*state, "kube/config", "filed", &cause));
	memset(&req, 0, sizeof req);
	memset(&req2, 0, sizeof req2);
	assert_int_equal(kube_auth_prepare(a, &req, &hold, &cause), 0);
	assert_string_equal(req.bearer, "filed-token-1");
	/* Rotated (another size): the next request has the new one. */
	unit_write(*state, "kube/token", "filed-token-22\n");
	assert_int_equal(kube_auth_prepare(a, &req2, &hold2, &cause), 0);
	assert_string_equal(req2.bearer, "filed-token-22");
	/* A request in flight keeps its own until it lets go. */
	assert_string_equal(req.bearer, "filed-token-1");
	kube_auth_release(a, hold);
	kube_auth_release(a, hold2);
	assert_int_equal(kube_auth_invalidate(a), 1);
	unit_sh(*state, "rm kube/token");
	assert_int_equal(kube_auth_prepare(a, &req, &hold, &cause), -1);
	assert_non_null(strstr(cause, "tokenFile"));
	free(cause);
	kube_auth_free(a);
}

/*
 * The plugin prints an ExecCredential whose token counts its runs (in
 * the file runs), from its args and env; EXPIRY says when it expires.
 */
static const char plugin[] =
    "#!/bin/sh\n"
    "n=$(cat \"$(dirname \"$0\")/runs\" 2>/dev/null || echo 0)\n"
    "n=$((n + 1))\n"
    "echo $n >\"$(dirname \"$0\")/runs\"\n"
    "case \"$KUBERNETES_EXEC_INFO\" in *ExecCredential*) ;; *) exit 3;; esac\n"
    "echo \"plugin says $1\" >&2\n"
    "[ \"$1\" = fail ] && exit 1\n"
    "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
    "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s-%s-%d\","
    "\"expirationTimestamp\":\"%s\"}}' \"$1\" \"$PLUGIN_ENV\" $n "
    "\"$EXPIRY\"\n";

static const char exec_config[] =
    "clusters:\n"
    "- name: c\n"
    "  cluster: {server: 'https://127.0.0.1:1'}\n"
    "users:\n"
    "- name: u\n"
    "  user:\n"
    "    exec:\n"
    "      apiVersion: client.authentication.k8s.io/v1\n"
    "      command: bin/plugin\n"
    "      args: [%s]\n"
    "      env: [{name: PLUGIN_ENV, value: e}, {name: EXPIRY, value: '%s'}]\n"
    "contexts:\n"
    "- name: c\n"
    "  context: {cluster: c, user: u}\n"
    "current-context: c\n";

static void
exec_fixture(const char *dir, const char *arg, const char *expiry)
{
	char	*text;

	xasprintf(&text, exec_config, arg, expiry);
	unit_write(dir, "kube/config", text);
	free(text);
	unit_write(dir, "kube/bin/plugin", plugin);
	unit_sh(dir, "chmod +x kube/bin/plugin; rm -f kube/bin/runs");
}

/* A bearer token from a prepare (copied), released at once. */
static char *
exec_token(struct kube_auth *a)
{
	struct http_req	 req;
	void		*hold;
	char		*cause = NULL, *tok;

	memset(&req, 0, sizeof req);
	if (kube_auth_prepare(a, &req, &hold, &cause) == -1)
		fail_msg("%s", cause);
	tok = xstrdup(req.bearer);
	kube_auth_release(a, hold);
	return (tok);
}

/* Cached until expiry; run again after invalidate. */
static void
test_kube_auth_prepare_exec_cached_until_invalidate(void **state)
{
	struct kube_auth	*a;
	char			*cause = NULL, *tok, *runs;

	exec_fixture(*state, "tok", "2999-01-01T00:00:00Z");
	assert_non_null(a = load(*state, "kube/config", NULL, &cause));
	tok = exec_token(a);
	assert_string_equal(tok, "tok-e-1");
	free(tok);
	tok = exec_token(a);
	assert_string_equal(tok, "tok-e-1");
	free(tok);
	runs = unit_read(*state, "kube/bin/runs");
	assert_string_equal(runs, "1\n");
	free(runs);
	assert_int_equal(kube_auth_invalidate(a), 1);
	tok = exec_token(a);
	assert_string_equal(tok, "tok-e-2");
	free(tok);
	kube_auth_free(a);
}

/* An expired credential runs the plugin at every prepare. */
static void
test_kube_auth_prepare_exec_expired_runs_again(void **state)
{
	struct kube_auth	*a;
	char			*cause = NULL, *tok;

	exec_fixture(*state, "tok", "2001-01-01T00:00:00Z");
	assert_non_null(a = load(*state, "kube/config", NULL, &cause));
	tok = exec_token(a);
	assert_string_equal(tok, "tok-e-1");
	free(tok);
	tok = exec_token(a);
	assert_string_equal(tok, "tok-e-2");
	free(tok);
	kube_auth_free(a);
}

/* A failing plugin: the cause names the user and the plugin. */
static void
test_kube_auth_prepare_exec_failure_named(void **state)
{
	struct kube_auth	*a;
	struct http_req		 req;
	void			*hold;
	char			*cause = NULL, *want, *path;

	exec_fixture(*state, "fail", "2999-01-01T00:00:00Z");
	assert_non_null(a = load(*state, "kube/config", NULL, &cause));
	memset(&req, 0, sizeof req);
	assert_int_equal(kube_auth_prepare(a, &req, &hold, &cause), -1);
	path = path_join(*state, "kube/config");
	xasprintf(&want, "kubeconfig %s: user 'u': exec plugin '%s/kube/"
	    "bin/plugin' failed: plugin says fail", path, (char *)*state);
	assert_string_equal(cause, want);
	free(want);
	free(path);
	free(cause);
	kube_auth_free(a);
}

/* $KUBECONFIG's first file when none is given. */
static void
test_kube_auth_load_kubeconfig_env_first_file(void **state)
{
	struct kube_auth_opts	 o;
	struct kube_auth	*a;
	char			*cause = NULL, *env;

	fixture(*state);
	xasprintf(&env, "%s/kube/config:%s/nowhere", (char *)*state,
	    (char *)*state);
	setenv("KUBECONFIG", env, 1);
	memset(&o, 0, sizeof o);
	assert_non_null(a = kube_auth_load(&o, &cause));
	assert_string_equal(kube_auth_server(a), "https://10.0.0.1:6443");
	kube_auth_free(a);
	unsetenv("KUBECONFIG");
	free(env);
}

/* A pod's service account, its folder from GITOPS_AGENT_SA_DIR. */
static void
test_kube_auth_load_in_cluster(void **state)
{
	struct kube_auth_opts	 o;
	struct kube_auth	*a;
	struct http_req		 req;
	void			*hold;
	char			*cause = NULL, *sa;

	unit_write(*state, "sa/ca.crt", "ca-pem");
	unit_write(*state, "sa/namespace", "shop\n");
	unit_write(*state, "sa/token", "sa-token-1");
	sa = path_join(*state, "sa");
	setenv("GITOPS_AGENT_SA_DIR", sa, 1);
	unsetenv("KUBERNETES_SERVICE_HOST");
	memset(&o, 0, sizeof o);
	o.in_cluster = 1;
	assert_null(kube_auth_load(&o, &cause));
	assert_non_null(strstr(cause, "KUBERNETES_SERVICE_HOST"));
	free(cause);
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_non_null(a = kube_auth_load(&o, &cause));
	assert_string_equal(kube_auth_server(a), "https://10.96.0.1:443");
	assert_string_equal(kube_auth_namespace(a), "shop");
	memset(&req, 0, sizeof req);
	assert_int_equal(kube_auth_prepare(a, &req, &hold, &cause), 0);
	assert_string_equal(req.bearer, "sa-token-1");
	assert_memory_equal(req.ca_blob, "ca-pem", 6);
	kube_auth_release(a, hold);
	/* The kubelet rotates it. */
	unit_write(*state, "sa/token", "sa-token-two");
	assert_int_equal(kube_auth_prepare(a, &req, &hold, &cause), 0);
	assert_string_equal(req.bearer, "sa-token-two");
	kube_auth_release(a, hold);
	kube_auth_free(a);
	unsetenv("GITOPS_AGENT_SA_DIR");
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	free(sa);
}

/* A plugin that keeps what KUBERNETES_EXEC_INFO said, in the file info. */
static const char info_plugin[] =
    "#!/bin/sh\n"
    "printf '%s' \"$KUBERNETES_EXEC_INFO\" >\"$(dirname \"$0\")/info.json\"\n"
    "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
    "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}'\n";

static const char info_config[] =
    "clusters:\n"
    "- name: c\n"
    "  cluster:\n"
    "    server: https://127.0.0.1:1\n"
    "    certificate-authority-data: " B64_CA "\n"
    "    tls-server-name: api.example\n"
    "    proxy-url: http://127.0.0.1:3128\n"
    "    extensions:\n"
    "    - name: other\n"
    "      extension: {x: 1}\n"
    "    - name: client.authentication.k8s.io/exec\n"
    "      extension: {audience: shop}\n"
    "users:\n"
    "- name: u\n"
    "  user:\n"
    "    exec:\n"
    "      apiVersion: client.authentication.k8s.io/v1\n"
    "      command: bin/info\n"
    "      provideClusterInfo: %s\n"
    "contexts:\n"
    "- name: c\n"
    "  context: {cluster: c, user: u}\n"
    "current-context: c\n";

/* What the plugin was told, as JSON (NULL if it did not run). */
static struct json *
exec_info_seen(const char *dir, const char *provide, const char **proxy)
{
	struct kube_auth	*a;
	struct http_req		 req;
	struct json		*j;
	void			*hold;
	char			*text, *cause = NULL;

	xasprintf(&text, info_config, provide);
	unit_write(dir, "kube/config", text);
	free(text);
	unit_write(dir, "kube/bin/info", info_plugin);
	unit_sh(dir, "chmod +x kube/bin/info");
	assert_non_null(a = load(dir, "kube/config", NULL, &cause));
	memset(&req, 0, sizeof req);
	assert_int_equal(kube_auth_prepare(a, &req, &hold, &cause), 0);
	*proxy = req.proxy != NULL &&
	    strcmp(req.proxy, "http://127.0.0.1:3128") == 0 ? "same" : "other";
	kube_auth_release(a, hold);
	kube_auth_free(a);
	text = unit_read(dir, "kube/bin/info.json");
	assert_non_null(text);
	j = json_parse(text, strlen(text), &cause);
	free(text);
	return (j);
}

/*
 * provideClusterInfo: the plugin learns the cluster (server, CA, TLS
 * name, proxy, the exec extension's config); without it, only that it
 * is not interactive. The proxy-url reaches every request.
 */
static void
test_kube_auth_exec_provide_cluster_info(void **state)
{
	struct json	*j;
	const char	*proxy;

	j = exec_info_seen(*state, "true", &proxy);
	assert_non_null(j);
	assert_string_equal(proxy, "same");
	assert_string_equal(json_path_string(j, "kind", NULL),
	    "ExecCredential");
	assert_string_equal(json_path_string(j, "spec", "cluster", "server",
	    NULL), "https://127.0.0.1:1");
	assert_string_equal(json_path_string(j, "spec", "cluster",
	    "certificate-authority-data", NULL), B64_CA);
	assert_string_equal(json_path_string(j, "spec", "cluster",
	    "tls-server-name", NULL), "api.example");
	assert_string_equal(json_path_string(j, "spec", "cluster",
	    "proxy-url", NULL), "http://127.0.0.1:3128");
	assert_string_equal(json_path_string(j, "spec", "cluster", "config",
	    "audience", NULL), "shop");
	assert_false(json_is_true(json_path(j, "spec", "interactive", NULL)));
	json_free(j);

	j = exec_info_seen(*state, "false", &proxy);
	assert_non_null(j);
	assert_null(json_path(j, "spec", "cluster", NULL));
	assert_non_null(json_path(j, "spec", "interactive", NULL));
	json_free(j);
}

/* A proxy-url of another scheme is refused, naming the key. */
static void
test_kube_auth_proxy_url_scheme(void **state)
{
	struct kube_auth	*a;
	char			*cause = NULL;

	unit_write(*state, "kube/config",
	    "clusters:\n"
	    "- name: c\n"
	    "  cluster: {server: 'https://127.0.0.1:1', "
	    "proxy-url: 'ftp://127.0.0.1:21'}\n"
	    "contexts:\n"
	    "- name: c\n"
	    "  context: {cluster: c}\n"
	    "current-context: c\n");
	assert_null(a = load(*state, "kube/config", NULL, &cause));
	assert_non_null(strstr(cause, "cluster 'c': proxy-url must be"));
	free(cause);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, unit_setup_dir, \
		    unit_teardown_dir)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_kube_auth_load_current_context_files),
		T(test_kube_auth_load_context_token_insecure),
		T(test_kube_auth_load_errors_name_file_and_key),
		T(test_kube_auth_prepare_token_file_reread),
		T(test_kube_auth_prepare_exec_cached_until_invalidate),
		T(test_kube_auth_prepare_exec_expired_runs_again),
		T(test_kube_auth_prepare_exec_failure_named),
		T(test_kube_auth_load_kubeconfig_env_first_file),
		T(test_kube_auth_load_in_cluster),
		T(test_kube_auth_exec_provide_cluster_info),
		T(test_kube_auth_proxy_url_scheme),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
