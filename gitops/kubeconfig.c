/*
 * kubeconfig.c: where the Kubernetes API server is and how to prove who
 * we are. A kubeconfig (YAML, read with yaml.c): its clusters, users and
 * contexts, certificates and keys from files or -data keys, tokens,
 * token files and exec credential plugins (ExecCredential v1); or a
 * pod's service account (KUBERNETES_SERVICE_HOST/PORT and the files under
 * /var/run/secrets/kubernetes.io/serviceaccount, or $GITOPS_AGENT_SA_DIR
 * for tests).
 *
 * Runs in any thread (a sync applies from several): the credential in
 * use is shared under a mutex and reference-counted, so a rotated token
 * or a re-run plugin never frees what a request in flight points at.
 * Certificates, keys and tokens stay in memory (never written to a
 * file), are wiped when freed, and never appear in a cause or a log; an
 * exec plugin's stderr, which may hold one, is shown only through
 * redact_output.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gitops.h"
#include "kube.h"

extern char **environ;

#define KUBE_SA_DIR		"/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBE_MAX_FILE		(1024 * 1024)	/* a certificate, key, token */
#define KUBE_EXEC_TIMEOUT_MS	30000
#define KUBE_EXEC_MAX_OUTPUT	(256 * 1024)
#define KUBE_EXEC_API		"client.authentication.k8s.io/v1"
#define KUBE_EXEC_EXTENSION	"client.authentication.k8s.io/exec"
/* A credential expiring this soon is fetched again (as client-go). */
#define KUBE_EXPIRY_MARGIN_S	10

/* A credential requests point at, freed when its last holder lets go. */
struct kube_cred {
	int		 refs;
	char		*token;
	char		*cert;
	size_t		 certlen;
	char		*key;
	size_t		 keylen;
	int64_t		 expiry;	/* seconds since the epoch; 0: never */
};

struct kube_auth {
	pthread_mutex_t	 mu;
	char		*where;		/* "kubeconfig FILE: user 'U'" */
	char		*server;
	char		*namespace;
	char		*tls_server_name;
	char		*proxy_url;	/* NULL: the environment's */
	int		 insecure;
	char		*ca;		/* PEM; NULL: the system's CAs */
	size_t		 calen;
	/* what the kubeconfig says, from which cur is made */
	struct kube_cred base;
	char		*token_file;
	struct timespec	 token_mtime;
	off_t		 token_size;
	struct strv	 exec_argv;
	struct strv	 exec_env;	/* NAME=VALUE */
	char		*exec_info;	/* KUBERNETES_EXEC_INFO=... */
	struct kube_cred *cur;		/* NULL: make one at the next prepare */
};

static void
kube_cred_free(struct kube_cred *c)
{
	if (c == NULL)
		return;
	freezero_string(c->token);
	if (c->cert != NULL)
		explicit_bzero(c->cert, c->certlen);
	free(c->cert);
	if (c->key != NULL)
		explicit_bzero(c->key, c->keylen);
	free(c->key);
	free(c);
}

static void
kube_cred_drop(struct kube_cred *c)
{
	if (c != NULL && --c->refs == 0)
		kube_cred_free(c);
}

/* A copy of what the kubeconfig says, to add a token to. */
static struct kube_cred *
kube_cred_base(const struct kube_auth *a)
{
	struct kube_cred	*c = xcalloc(1, sizeof *c);

	c->refs = 1;
	if (a->base.token != NULL)
		c->token = xstrdup(a->base.token);
	if (a->base.cert != NULL) {
		c->cert = xmalloc(a->base.certlen + 1);
		memcpy(c->cert, a->base.cert, a->base.certlen + 1);
		c->certlen = a->base.certlen;
	}
	if (a->base.key != NULL) {
		c->key = xmalloc(a->base.keylen + 1);
		memcpy(c->key, a->base.key, a->base.keylen + 1);
		c->keylen = a->base.keylen;
	}
	return (c);
}

/* A path of the kubeconfig relative to its folder (allocated). */
static char *
kube_path(const char *dir, const char *path)
{
	if (*path == '/' || dir == NULL)
		return (xstrdup(path));
	return (path_join(dir, path));
}

/* "~/x" as $HOME/x (allocated). */
static char *
kube_home(const char *path)
{
	const char	*home = getenv("HOME");

	if (strncmp(path, "~/", 2) == 0 && home != NULL)
		return (path_join(home, path + 2));
	return (xstrdup(path));
}

/* A string member, or NULL; -1 and *cause when it is not a string. */
static int
kube_str(const struct json *obj, const char *key, const char *where,
    const char **out, char **cause)
{
	const struct json	*v = json_get(obj, key);

	*out = NULL;
	if (v == NULL || json_type(v) == JSON_NULL)
		return (0);
	if ((*out = json_string(v)) == NULL) {
		xasprintf(cause, "%s: %s must be a string, not %s", where, key,
		    json_type_phrase(v));
		return (-1);
	}
	return (0);
}

/*
 * KEY-data (base64) or KEY (a file relative to dir): its bytes in *out
 * (NUL-terminated); 0 with *out NULL when neither is there.
 */
static int
kube_blob(const struct json *obj, const char *key, const char *dir,
    const char *where, char **out, size_t *len, char **cause)
{
	const char	*data, *file;
	char		*dkey, *path, *why = NULL;
	unsigned char	*raw;
	int		 rc = -1;

	*out = NULL;
	*len = 0;
	xasprintf(&dkey, "%s-data", key);
	if (kube_str(obj, dkey, where, &data, cause) == -1 ||
	    kube_str(obj, key, where, &file, cause) == -1)
		goto fail;
	if (data != NULL) {
		if (base64_decode(data, strlen(data), &raw, len) == -1) {
			xasprintf(cause, "%s: %s is not base64", where, dkey);
			goto fail;
		}
		*out = xmalloc(*len + 1);
		memcpy(*out, raw, *len);
		(*out)[*len] = '\0';
		explicit_bzero(raw, *len);
		free(raw);
	} else if (file != NULL) {
		path = kube_path(dir, file);
		if (file_read(path, KUBE_MAX_FILE, out, len, &why) == -1) {
			xasprintf(cause, "%s: %s: %s", where, key, why);
			free(why);
			free(path);
			goto fail;
		}
		free(path);
	}
	rc = 0;
fail:
	free(dkey);
	return (rc);
}

/* The member of list whose name is name: its field (cluster, user...). */
static const struct json *
kube_named(const struct json *root, const char *list, const char *name,
    const char *field)
{
	const struct json	*e;
	const char		*n;

	for (e = json_child(json_get(root, list)); e != NULL;
	    e = json_next(e)) {
		if ((n = json_path_string(e, "name", NULL)) != NULL &&
		    strcmp(n, name) == 0)
			return (json_get(e, field));
	}
	return (NULL);
}

/* user.exec: the plugin's argv and environment. */
static int
kube_exec_load(struct kube_auth *a, const struct json *ex, const char *dir,
    char **cause)
{
	const struct json	*e;
	const char		*cmd, *api, *n, *v;
	char			*path, *kv;

	if (kube_str(ex, "command", a->where, &cmd, cause) == -1 ||
	    kube_str(ex, "apiVersion", a->where, &api, cause) == -1)
		return (-1);
	if (cmd == NULL || *cmd == '\0') {
		xasprintf(cause, "%s: exec has no command", a->where);
		return (-1);
	}
	if (api != NULL && strcmp(api, KUBE_EXEC_API) != 0) {
		xasprintf(cause, "%s: exec apiVersion '%s' is not supported "
		    "(only %s)", a->where, api, KUBE_EXEC_API);
		return (-1);
	}
	/* A relative path with a '/' is the kubeconfig's, as in client-go. */
	path = strchr(cmd, '/') != NULL ? kube_path(dir, cmd) : xstrdup(cmd);
	strv_add(&a->exec_argv, path);
	free(path);
	for (e = json_child(json_get(ex, "args")); e != NULL;
	    e = json_next(e)) {
		if ((v = json_string(e)) == NULL) {
			xasprintf(cause, "%s: exec args must be strings",
			    a->where);
			return (-1);
		}
		strv_add(&a->exec_argv, v);
	}
	for (e = json_child(json_get(ex, "env")); e != NULL;
	    e = json_next(e)) {
		n = json_path_string(e, "name", NULL);
		v = json_path_string(e, "value", NULL);
		if (n == NULL || v == NULL || *n == '\0' ||
		    strchr(n, '=') != NULL) {
			xasprintf(cause, "%s: exec env entries need a name and "
			    "a value", a->where);
			return (-1);
		}
		xasprintf(&kv, "%s=%s", n, v);
		strv_add(&a->exec_env, kv);
		freezero_string(kv);
	}
	return (0);
}

/* cluster.proxy-url: http, https or socks5, as client-go takes. */
static int
kube_proxy_load(struct kube_auth *a, const struct json *cl, char **cause)
{
	static const char *const schemes[] = { "http://", "https://",
	    "socks5://", NULL };
	const char		*url;
	size_t			 i;

	if (kube_str(cl, "proxy-url", a->where, &url, cause) == -1)
		return (-1);
	if (url == NULL)
		return (0);
	for (i = 0; schemes[i] != NULL; i++) {
		if (strncmp(url, schemes[i], strlen(schemes[i])) == 0 &&
		    url[strlen(schemes[i])] != '\0')
			break;
	}
	if (schemes[i] == NULL) {
		xasprintf(cause, "%s: proxy-url must be an http://, https:// "
		    "or socks5:// URL", a->where);
		return (-1);
	}
	a->proxy_url = xstrdup(url);
	return (0);
}

/*
 * KUBERNETES_EXEC_INFO for the plugin: an ExecCredential whose spec says
 * it is not interactive and, when the kubeconfig asks with
 * provideClusterInfo, describes the cluster as client-go does (its
 * server, TLS settings, CA and the exec extension's config).
 */
static char *
kube_exec_info(const struct kube_auth *a, const struct json *cl,
    int provide)
{
	const struct json	*e;
	struct json		*o, *spec, *c;
	char			*text, *out;

	o = json_new_object();
	json_set(o, "apiVersion", json_new_string(KUBE_EXEC_API));
	json_set(o, "kind", json_new_string("ExecCredential"));
	spec = json_new_object();
	if (provide) {
		c = json_new_object();
		json_set(c, "server", json_new_string(a->server));
		if (a->tls_server_name != NULL)
			json_set(c, "tls-server-name",
			    json_new_string(a->tls_server_name));
		if (a->insecure)
			json_set(c, "insecure-skip-tls-verify",
			    json_new_bool(1));
		if (a->ca != NULL)
			json_set(c, "certificate-authority-data",
			    json_new_string_owned(base64_encode(a->ca,
			    a->calen)));
		if (a->proxy_url != NULL)
			json_set(c, "proxy-url", json_new_string(a->proxy_url));
		for (e = json_child(json_get(cl, "extensions")); e != NULL;
		    e = json_next(e)) {
			if (json_get(e, "extension") != NULL &&
			    strcmp(json_path_string(e, "name", NULL) != NULL ?
			    json_path_string(e, "name", NULL) : "",
			    KUBE_EXEC_EXTENSION) == 0)
				json_set(c, "config",
				    json_dup(json_get(e, "extension")));
		}
		json_set(spec, "cluster", c);
	}
	json_set(spec, "interactive", json_new_bool(0));
	json_set(o, "spec", spec);
	text = json_print(o, 0);
	json_free(o);
	xasprintf(&out, "KUBERNETES_EXEC_INFO=%s", text);
	free(text);
	return (out);
}

/* The kubeconfig's user: certificate, key, token, token file, exec. */
static int
kube_user_load(struct kube_auth *a, const struct json *user, const char *dir,
    char **cause)
{
	const struct json	*ex;
	const char		*tok, *tf;

	if (kube_blob(user, "client-certificate", dir, a->where,
	    &a->base.cert, &a->base.certlen, cause) == -1 ||
	    kube_blob(user, "client-key", dir, a->where, &a->base.key,
	    &a->base.keylen, cause) == -1 ||
	    kube_str(user, "token", a->where, &tok, cause) == -1 ||
	    kube_str(user, "tokenFile", a->where, &tf, cause) == -1)
		return (-1);
	if ((a->base.cert == NULL) != (a->base.key == NULL)) {
		xasprintf(cause, "%s: client-certificate and client-key go "
		    "together", a->where);
		return (-1);
	}
	if (tok != NULL)
		a->base.token = xstrdup(tok);
	else if (tf != NULL)
		a->token_file = kube_path(dir, tf);
	if ((ex = json_get(user, "exec")) != NULL &&
	    json_type(ex) == JSON_OBJECT &&
	    kube_exec_load(a, ex, dir, cause) == -1)
		return (-1);
	return (0);
}

static int
kube_auth_kubeconfig(struct kube_auth *a, const struct kube_auth_opts *o,
    char **cause)
{
	struct yaml_file	*yf = NULL;
	const struct json	*root, *ctx, *cl, *user;
	const char		*env, *cur, *cname, *uname, *ns, *server, *tsn;
	char			*path, *dir = NULL, *slash, *why = NULL;
	int			 rc = -1;

	if (o->kubeconfig != NULL)
		path = kube_home(o->kubeconfig);
	else if ((env = getenv("KUBECONFIG")) != NULL && *env != '\0')
		path = xstrndup(env, strcspn(env, ":"));
	else
		path = kube_home("~/.kube/config");
	xasprintf(&a->where, "kubeconfig %s", path);
	if (yaml_parse_file(path, NULL, 0, &yf, &why) == -1) {
		xasprintf(cause, "%s", why);
		goto fail;
	}
	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	else {
		free(dir);
		dir = NULL;
	}
	root = yf->docs[0].root;
	if ((cur = o->context) == NULL &&
	    (cur = json_path_string(root, "current-context", NULL)) == NULL) {
		xasprintf(cause, "%s: no current-context and no context "
		    "given", a->where);
		goto fail;
	}
	if ((ctx = kube_named(root, "contexts", cur, "context")) == NULL) {
		xasprintf(cause, "%s: no context '%s'", a->where, cur);
		goto fail;
	}
	cname = json_path_string(ctx, "cluster", NULL);
	uname = json_path_string(ctx, "user", NULL);
	if (cname == NULL ||
	    (cl = kube_named(root, "clusters", cname, "cluster")) == NULL) {
		xasprintf(cause, "%s: context '%s': no cluster '%s'", a->where,
		    cur, cname != NULL ? cname : "");
		goto fail;
	}
	if ((ns = json_path_string(ctx, "namespace", NULL)) != NULL)
		a->namespace = xstrdup(ns);
	free(a->where);
	xasprintf(&a->where, "kubeconfig %s: cluster '%s'", path, cname);
	if (kube_str(cl, "server", a->where, &server, cause) == -1 ||
	    kube_str(cl, "tls-server-name", a->where, &tsn, cause) == -1 ||
	    kube_proxy_load(a, cl, cause) == -1 ||
	    kube_blob(cl, "certificate-authority", dir, a->where, &a->ca,
	    &a->calen, cause) == -1)
		goto fail;
	if (server == NULL || *server == '\0') {
		xasprintf(cause, "%s: no server", a->where);
		goto fail;
	}
	a->server = xstrndup(server, strlen(server) -
	    (server[strlen(server) - 1] == '/'));
	if (tsn != NULL)
		a->tls_server_name = xstrdup(tsn);
	a->insecure = json_is_true(json_get(cl, "insecure-skip-tls-verify"));
	free(a->where);
	xasprintf(&a->where, "kubeconfig %s: user '%s'", path,
	    uname != NULL ? uname : "");
	/* A context without a user is anonymous. */
	if (uname != NULL) {
		if ((user = kube_named(root, "users", uname, "user")) == NULL) {
			xasprintf(cause, "%s: no such user", a->where);
			goto fail;
		}
		if (kube_user_load(a, user, dir, cause) == -1)
			goto fail;
		if (a->exec_argv.n != 0)
			a->exec_info = kube_exec_info(a, cl,
			    json_is_true(json_path(user, "exec",
			    "provideClusterInfo", NULL)));
	}
	rc = 0;
fail:
	free(why);
	free(dir);
	free(path);
	yaml_file_free(yf);
	return (rc);
}

/* A file of the service account folder, trimmed (allocated); NULL if none. */
static char *
kube_sa_read(const char *dir, const char *name, size_t *len)
{
	char	*path = path_join(dir, name), *out = NULL, *why = NULL;

	if (file_read(path, KUBE_MAX_FILE, &out, len, &why) == -1)
		out = NULL;
	free(why);
	free(path);
	return (out);
}

static int
kube_auth_in_cluster(struct kube_auth *a, char **cause)
{
	const char	*host = getenv("KUBERNETES_SERVICE_HOST");
	const char	*port = getenv("KUBERNETES_SERVICE_PORT");
	const char	*dir = getenv("GITOPS_AGENT_SA_DIR");
	size_t		 len;

	if (dir == NULL || *dir == '\0')
		dir = KUBE_SA_DIR;
	xasprintf(&a->where, "in-cluster service account %s", dir);
	if (host == NULL || *host == '\0' || port == NULL || *port == '\0') {
		xasprintf(cause, "%s: KUBERNETES_SERVICE_HOST and "
		    "KUBERNETES_SERVICE_PORT are not set (not in a pod)",
		    a->where);
		return (-1);
	}
	xasprintf(&a->server, strchr(host, ':') != NULL ? "https://[%s]:%s" :
	    "https://%s:%s", host, port);
	if ((a->ca = kube_sa_read(dir, "ca.crt", &a->calen)) == NULL) {
		xasprintf(cause, "%s: cannot read ca.crt", a->where);
		return (-1);
	}
	if ((a->namespace = kube_sa_read(dir, "namespace", &len)) != NULL)
		a->namespace[strcspn(a->namespace, "\r\n")] = '\0';
	a->token_file = path_join(dir, "token");
	return (0);
}

struct kube_auth *
kube_auth_load(const struct kube_auth_opts *o, char **cause)
{
	struct kube_auth	*a = xcalloc(1, sizeof *a);

	if (pthread_mutex_init(&a->mu, NULL) != 0)
		fatalx("cannot make a mutex");
	if ((o->in_cluster ? kube_auth_in_cluster(a, cause) :
	    kube_auth_kubeconfig(a, o, cause)) == -1) {
		kube_auth_free(a);
		return (NULL);
	}
	if (a->namespace == NULL)
		a->namespace = xstrdup("");
	return (a);
}

const char *
kube_auth_server(const struct kube_auth *a)
{
	return (a->server);
}

const char *
kube_auth_namespace(const struct kube_auth *a)
{
	return (a->namespace);
}

int
kube_auth_insecure(const struct kube_auth *a)
{
	return (a->insecure);
}

/*
 * The token file, read again when its size or time changed (the kubelet
 * rotates a service account's): a new credential, or the current one.
 */
static int
kube_token_file(struct kube_auth *a, char **cause)
{
	struct kube_cred	*c;
	struct stat		 st;
	char			*tok = NULL, *why = NULL;
	size_t			 len;

	if (stat(a->token_file, &st) == -1) {
		xasprintf(cause, "%s: tokenFile %s: %s", a->where,
		    a->token_file, strerror(errno));
		return (-1);
	}
	if (a->cur != NULL && st.st_size == a->token_size &&
	    st.st_mtim.tv_sec == a->token_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == a->token_mtime.tv_nsec)
		return (0);
	if (file_read(a->token_file, KUBE_MAX_FILE, &tok, &len, &why) == -1) {
		xasprintf(cause, "%s: tokenFile: %s", a->where, why);
		free(why);
		return (-1);
	}
	tok[strcspn(tok, "\r\n")] = '\0';
	c = kube_cred_base(a);
	freezero_string(c->token);
	c->token = xstrdup(tok);
	explicit_bzero(tok, len);
	free(tok);
	kube_cred_drop(a->cur);
	a->cur = c;
	a->token_mtime = st.st_mtim;
	a->token_size = st.st_size;
	return (0);
}

/* The plugin's answer: an ExecCredential with a token or a key pair. */
static struct kube_cred *
kube_exec_parse(struct kube_auth *a, const char *out, size_t len,
    char **cause)
{
	struct kube_cred	*c = NULL;
	struct json		*j;
	const struct json	*st;
	const char		*kind, *tok, *cert, *key, *exp;
	char			*why = NULL;

	if ((j = json_parse(out, len, &why)) == NULL) {
		/* Its output may hold a secret: only where it broke. */
		xasprintf(cause, "%s: exec plugin output is not JSON: %s",
		    a->where, why);
		free(why);
		return (NULL);
	}
	kind = json_path_string(j, "kind", NULL);
	st = json_get(j, "status");
	tok = json_path_string(st, "token", NULL);
	cert = json_path_string(st, "clientCertificateData", NULL);
	key = json_path_string(st, "clientKeyData", NULL);
	exp = json_path_string(st, "expirationTimestamp", NULL);
	if (kind == NULL || strcmp(kind, "ExecCredential") != 0 ||
	    (tok == NULL && (cert == NULL || key == NULL))) {
		xasprintf(cause, "%s: exec plugin did not print an "
		    "ExecCredential with a status.token or "
		    "clientCertificateData and clientKeyData", a->where);
		goto fail;
	}
	c = kube_cred_base(a);
	if (tok != NULL) {
		freezero_string(c->token);
		c->token = xstrdup(tok);
	}
	if (cert != NULL && key != NULL) {
		free(c->cert);
		if (c->key != NULL)
			explicit_bzero(c->key, c->keylen);
		free(c->key);
		c->cert = xstrdup(cert);
		c->certlen = strlen(cert);
		c->key = xstrdup(key);
		c->keylen = strlen(key);
	}
	if (exp != NULL && time_parse_rfc3339(exp, &c->expiry) == -1) {
		xasprintf(cause, "%s: exec plugin's expirationTimestamp '%s' "
		    "is not an RFC 3339 time", a->where, exp);
		kube_cred_free(c);
		c = NULL;
	}
fail:
	json_free(j);
	return (c);
}

/* Run the exec plugin for a new credential. */
static int
kube_exec_run(struct kube_auth *a, const int *stop, char **cause)
{
	struct spawn_opts	 so;
	struct spawn_result	 sr;
	struct strv		 env;
	struct kube_cred	*c;
	char			**e, *shown;
	size_t			 i;
	int			 rc = -1;

	memset(&env, 0, sizeof env);
	memset(&sr, 0, sizeof sr);
	for (e = environ; e != NULL && *e != NULL; e++) {
		if (strncmp(*e, "KUBERNETES_EXEC_INFO=", 21) != 0)
			strv_add(&env, *e);
	}
	for (i = 0; i < a->exec_env.n; i++)
		strv_add(&env, a->exec_env.v[i]);
	strv_add(&env, a->exec_info);
	memset(&so, 0, sizeof so);
	so.envp = env.v;
	so.timeout_ms = KUBE_EXEC_TIMEOUT_MS;
	so.max_output = KUBE_EXEC_MAX_OUTPUT;
	so.stop = stop;
	if (spawn_run(a->exec_argv.v, &so, &sr, cause) == -1) {
		shown = *cause;
		xasprintf(cause, "%s: exec plugin: %s", a->where, shown);
		free(shown);
		goto fail;
	}
	if (sr.timed_out || sr.stopped || sr.truncated || !sr.exited ||
	    sr.status != 0) {
		shown = redact_output(sr.err, strnlen(sr.err, 200));
		shown[strcspn(shown, "\r\n")] = '\0';
		xasprintf(cause, "%s: exec plugin '%s' %s%s%s", a->where,
		    a->exec_argv.v[0], sr.timed_out ? "timed out" :
		    sr.stopped ? "was stopped" : sr.truncated ?
		    "printed too much" : "failed",
		    *shown != '\0' ? ": " : "", shown);
		free(shown);
		goto fail;
	}
	if ((c = kube_exec_parse(a, sr.out, sr.outlen, cause)) == NULL)
		goto fail;
	kube_cred_drop(a->cur);
	a->cur = c;
	rc = 0;
fail:
	if (sr.out != NULL)
		explicit_bzero(sr.out, sr.outlen);
	spawn_result_free(&sr);
	/* env holds the plugin's env entries, which may be secrets. */
	for (i = 0; i < env.n; i++)
		explicit_bzero(env.v[i], strlen(env.v[i]));
	strv_free(&env);
	return (rc);
}

int
kube_auth_prepare(struct kube_auth *a, struct http_req *req, void **hold,
    char **cause)
{
	struct kube_cred	*c;
	int			 rc = -1;

	*hold = NULL;
	pthread_mutex_lock(&a->mu);
	if (a->exec_argv.n != 0) {
		if ((a->cur == NULL || (a->cur->expiry != 0 &&
		    (int64_t)(time_now_ms() / 1000) + KUBE_EXPIRY_MARGIN_S >=
		    a->cur->expiry)) &&
		    kube_exec_run(a, req->stop, cause) == -1)
			goto fail;
	} else if (a->token_file != NULL) {
		if (kube_token_file(a, cause) == -1)
			goto fail;
	} else if (a->cur == NULL)
		a->cur = kube_cred_base(a);
	c = a->cur;
	c->refs++;
	*hold = c;
	req->ca_blob = a->ca;
	req->ca_blob_len = a->calen;
	req->insecure = a->insecure;
	req->tls_server_name = a->tls_server_name;
	req->proxy = a->proxy_url;
	req->cert_blob = c->cert;
	req->cert_blob_len = c->certlen;
	req->key_blob = c->key;
	req->key_blob_len = c->keylen;
	req->bearer = c->token;
	rc = 0;
fail:
	pthread_mutex_unlock(&a->mu);
	return (rc);
}

void
kube_auth_release(struct kube_auth *a, void *hold)
{
	pthread_mutex_lock(&a->mu);
	kube_cred_drop(hold);
	pthread_mutex_unlock(&a->mu);
}

int
kube_auth_invalidate(struct kube_auth *a)
{
	int	 dropped = 0;

	pthread_mutex_lock(&a->mu);
	if (a->exec_argv.n != 0 || a->token_file != NULL) {
		kube_cred_drop(a->cur);
		a->cur = NULL;
		dropped = 1;
	}
	pthread_mutex_unlock(&a->mu);
	return (dropped);
}

void
kube_auth_free(struct kube_auth *a)
{
	size_t	i;

	if (a == NULL)
		return;
	kube_cred_drop(a->cur);
	freezero_string(a->base.token);
	if (a->base.cert != NULL)
		explicit_bzero(a->base.cert, a->base.certlen);
	free(a->base.cert);
	if (a->base.key != NULL)
		explicit_bzero(a->base.key, a->base.keylen);
	free(a->base.key);
	free(a->where);
	free(a->server);
	free(a->namespace);
	free(a->tls_server_name);
	free(a->proxy_url);
	freezero_string(a->exec_info);	/* may hold the extension config */
	free(a->ca);
	free(a->token_file);
	strv_free(&a->exec_argv);
	for (i = 0; i < a->exec_env.n; i++)
		explicit_bzero(a->exec_env.v[i], strlen(a->exec_env.v[i]));
	strv_free(&a->exec_env);
	pthread_mutex_destroy(&a->mu);
	free(a);
}
