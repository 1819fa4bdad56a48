/*
 * test_diff.c: projection of live onto desired, ignored fields, Secret
 * masking, and the unified diff checked against GNU diff(1) itself.
 */
#include "config.h"
#include "unit.h"

#include <sys/wait.h>

static char	*scratch;

static int
setup(void **state)
{
	scratch = unit_mkdtemp();
	return (0);
}

static int
teardown(void **state)
{
	unit_rmtree(scratch);
	free(scratch);
	return (0);
}

static struct json *
parse(const char *text)
{
	struct json	*j;
	char		*cause = NULL;

	j = json_parse(text, strlen(text), &cause);
	if (j == NULL)
		fail_msg("bad test JSON: %s: %s", cause, text);
	return (j);
}

/* diff_equal of two JSON texts. */
static int
equal_text(const char *desired, const char *live)
{
	struct json	*d = parse(desired), *l = parse(live);
	int		 r;

	r = diff_equal(d, l);
	json_free(d);
	json_free(l);
	return (r);
}

/* The projection, compared with the expected JSON. */
static void
assert_projection(const char *desired, const char *live, const char *want)
{
	struct json	*d = parse(desired), *l = parse(live);
	struct json	*w = parse(want), *p;
	char		*got;

	p = diff_project(d, l);
	assert_non_null(p);
	if (!json_equal(p, w)) {
		got = json_print(p, 0);
		fail_msg("projection %s, want %s", got, want);
	}
	json_free(p);
	json_free(w);
	json_free(l);
	json_free(d);
}

#define DEPLOY_HEAD \
	"\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\"," \
	"\"metadata\":{\"name\":\"checkout\",\"namespace\":\"shop\"}"

static void
test_diff_action_name_each_action_named(void **state)
{
	assert_string_equal(diff_action_name(DIFF_UNCHANGED), "unchanged");
	assert_string_equal(diff_action_name(DIFF_CREATE), "create");
	assert_string_equal(diff_action_name(DIFF_UPDATE), "update");
	assert_string_equal(diff_action_name(DIFF_PRUNE), "prune");
}

static void
test_diff_project_extra_live_fields_ignored(void **state)
{
	const char	*d = "{" DEPLOY_HEAD ",\"spec\":{\"replicas\":2}}";
	const char	*l = "{\"apiVersion\":\"apps/v1\","
	    "\"kind\":\"Deployment\","
	    "\"metadata\":{\"name\":\"checkout\",\"namespace\":\"shop\","
	    "\"labels\":{\"injected\":\"yes\"}},"
	    "\"spec\":{\"replicas\":2,\"revisionHistoryLimit\":10,"
	    "\"strategy\":{\"type\":\"RollingUpdate\"}},"
	    "\"status\":{\"replicas\":2}}";

	assert_true(equal_text(d, l));
	assert_projection(d, l, d);
}

static void
test_diff_project_nested_change_is_drift(void **state)
{
	const char	*d = "{" DEPLOY_HEAD ",\"spec\":{\"template\":"
	    "{\"spec\":"
	    "{\"nodeSelector\":{\"disk\":\"ssd\"}}}}}";
	const char	*l = "{" DEPLOY_HEAD ",\"spec\":{\"template\":"
	    "{\"spec\":"
	    "{\"nodeSelector\":{\"disk\":\"hdd\",\"zone\":\"a\"},"
	    "\"dnsPolicy\":\"ClusterFirst\"}}}}";

	assert_false(equal_text(d, l));
	assert_projection(d, l, "{" DEPLOY_HEAD ",\"spec\":{\"template\":"
	    "{\"spec\":{\"nodeSelector\":{\"disk\":\"hdd\"}}}}}");
}

static void
test_diff_project_missing_live_field_is_drift(void **state)
{
	const char	*d = "{" DEPLOY_HEAD ",\"spec\":{\"replicas\":2,"
	    "\"paused\":false}}";
	const char	*l = "{" DEPLOY_HEAD ",\"spec\":{\"replicas\":2}}";

	assert_false(equal_text(d, l));
	assert_projection(d, l, l);
}

static void
test_diff_project_named_list_reordered_with_defaults_equal(void **state)
{
	const char	*d = "{" DEPLOY_HEAD ",\"spec\":{\"template\":"
	    "{\"spec\":"
	    "{\"containers\":["
	    "{\"name\":\"app\",\"image\":\"shop/app:1\","
	    "\"env\":[{\"name\":\"A\",\"value\":\"1\"},"
	    "{\"name\":\"B\",\"value\":\"2\"}]},"
	    "{\"name\":\"proxy\",\"image\":\"envoy:1\"}]}}}}";
	/* Containers and env in another order; defaults filled in. */
	const char	*l = "{" DEPLOY_HEAD ",\"spec\":{\"template\":"
	    "{\"spec\":"
	    "{\"containers\":["
	    "{\"name\":\"proxy\",\"image\":\"envoy:1\","
	    "\"imagePullPolicy\":\"IfNotPresent\","
	    "\"terminationMessagePath\":\"/dev/termination-log\"},"
	    "{\"name\":\"app\",\"image\":\"shop/app:1\",\"resources\":{},"
	    "\"env\":[{\"name\":\"B\",\"value\":\"2\"},"
	    "{\"name\":\"A\",\"value\":\"1\"}]}],"
	    "\"restartPolicy\":\"Always\"}}}}";

	assert_true(equal_text(d, l));
	assert_projection(d, l, d);
}

static void
test_diff_project_named_list_changed_item_is_drift(void **state)
{
	const char	*d = "{" DEPLOY_HEAD ",\"spec\":{\"containers\":["
	    "{\"name\":\"app\",\"image\":\"shop/app:2\"},"
	    "{\"name\":\"proxy\",\"image\":\"envoy:1\"}]}}";
	const char	*l = "{" DEPLOY_HEAD ",\"spec\":{\"containers\":["
	    "{\"name\":\"proxy\",\"image\":\"envoy:1\",\"tty\":false},"
	    "{\"name\":\"app\",\"image\":\"shop/app:1\"}]}}";

	assert_false(equal_text(d, l));
	assert_projection(d, l, "{" DEPLOY_HEAD ",\"spec\":{\"containers\":["
	    "{\"name\":\"app\",\"image\":\"shop/app:1\"},"
	    "{\"name\":\"proxy\",\"image\":\"envoy:1\"}]}}");
}

static void
test_diff_project_named_item_missing_in_live_absent(void **state)
{
	const char	*d = "{" DEPLOY_HEAD ",\"spec\":{\"containers\":["
	    "{\"name\":\"app\",\"image\":\"a\"},"
	    "{\"name\":\"proxy\",\"image\":\"p\"}]}}";
	const char	*l = "{" DEPLOY_HEAD ",\"spec\":{\"containers\":["
	    "{\"name\":\"app\",\"image\":\"a\"}]}}";

	assert_false(equal_text(d, l));
	assert_projection(d, l, l);
}

static void
test_diff_project_named_extra_live_item_ignored(void **state)
{
	const char	*d = "{" DEPLOY_HEAD ",\"spec\":{\"containers\":["
	    "{\"name\":\"app\",\"image\":\"a\"}]}}";
	const char	*l = "{" DEPLOY_HEAD ",\"spec\":{\"containers\":["
	    "{\"name\":\"istio-proxy\",\"image\":\"istio\"},"
	    "{\"name\":\"app\",\"image\":\"a\"}]}}";

	assert_true(equal_text(d, l));
}

static void
test_diff_project_repeated_names_each_matched_once(void **state)
{
	/* One volume mounted twice: same name, two paths. */
	const char	*d = "{\"volumeMounts\":["
	    "{\"name\":\"data\",\"mountPath\":\"/a\"},"
	    "{\"name\":\"data\",\"mountPath\":\"/b\",\"subPath\":\"b\"}]}";
	const char	*l = "{\"volumeMounts\":["
	    "{\"name\":\"data\",\"mountPath\":\"/b\",\"subPath\":\"b\","
	    "\"readOnly\":false},"
	    "{\"name\":\"data\",\"mountPath\":\"/a\",\"readOnly\":false}]}";
	const char	*changed = "{\"volumeMounts\":["
	    "{\"name\":\"data\",\"mountPath\":\"/a\"},"
	    "{\"name\":\"data\",\"mountPath\":\"/c\",\"subPath\":\"b\"}]}";

	assert_true(equal_text(d, l));
	assert_false(equal_text(d, changed));
}

static void
test_diff_project_positional_array_by_index(void **state)
{
	const char	*d = "{\"args\":[\"--port\",\"8080\"],"
	    "\"ports\":[{\"containerPort\":80},{\"containerPort\":443}]}";
	/* Unnamed objects matched by position: defaults inside ignored. */
	const char	*l = "{\"args\":[\"--port\",\"8080\"],"
	    "\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"},"
	    "{\"containerPort\":443,\"protocol\":\"TCP\"}]}";
	const char	*swapped = "{\"args\":[\"8080\",\"--port\"],"
	    "\"ports\":[{\"containerPort\":80},{\"containerPort\":443}]}";

	assert_true(equal_text(d, l));
	assert_false(equal_text(d, swapped));
	assert_projection(d, swapped, swapped);
}

static void
test_diff_project_array_length_change_is_drift(void **state)
{
	const char	*d = "{\"args\":[\"a\"],"
	    "\"ports\":[{\"containerPort\":80}]}";
	const char	*l = "{\"args\":[\"a\",\"b\"],"
	    "\"ports\":[{\"containerPort\":80,\"protocol\":\"TCP\"},"
	    "{\"containerPort\":81,\"protocol\":\"TCP\"}]}";

	assert_false(equal_text(d, l));
	/* Taken whole when the lengths differ. */
	assert_projection(d, l, l);
}

static void
test_diff_project_type_change_is_drift(void **state)
{
	assert_false(equal_text("{\"spec\":{\"a\":{\"b\":1}}}",
	    "{\"spec\":{\"a\":\"b\"}}"));
	assert_false(equal_text("{\"spec\":{\"a\":[1]}}",
	    "{\"spec\":{\"a\":{\"0\":1}}}"));
	assert_false(equal_text("{\"spec\":{\"a\":\"1\"}}",
	    "{\"spec\":{\"a\":1}}"));
}

static void
test_diff_project_ignored_metadata_fields_ignored(void **state)
{
	const char	*d = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
	    "\"metadata\":{\"name\":\"c\",\"namespace\":\"shop\","
	    "\"generation\":7,\"uid\":\"mine\","
	    "\"annotations\":{\"team\":\"shop\"}},"
	    "\"data\":{\"k\":\"v\"},\"status\":{\"phase\":\"Mine\"}}";
	const char	*l = "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
	    "\"metadata\":{\"name\":\"c\",\"namespace\":\"shop\","
	    "\"resourceVersion\":\"123\",\"uid\":\"0d5c-44\",\"generation\":1,"
	    "\"creationTimestamp\":\"2024-01-01T00:00:00Z\","
	    "\"managedFields\":[{\"manager\":\"kubectl\"}],"
	    "\"selfLink\":\"/api/v1/x\","
	    "\"deletionTimestamp\":\"2024-01-02T00:00:00Z\","
	    "\"annotations\":{\"team\":\"shop\","
	    "\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\"}},"
	    "\"data\":{\"k\":\"v\"},\"status\":{\"phase\":\"Theirs\"}}";
	const char	*want = "{\"apiVersion\":\"v1\","
	    "\"kind\":\"ConfigMap\","
	    "\"metadata\":{\"name\":\"c\",\"namespace\":\"shop\","
	    "\"annotations\":{\"team\":\"shop\"}},\"data\":{\"k\":\"v\"}}";

	assert_true(equal_text(d, l));
	assert_projection(d, l, want);
	/* Declaring the annotation does not make it compared either. */
	assert_true(equal_text("{\"metadata\":{\"annotations\":{"
	    "\"kubectl.kubernetes.io/last-applied-configuration\":\"x\"}}}",
	    "{\"metadata\":{\"annotations\":{}}}"));
	/* But the same names elsewhere are ordinary fields. */
	assert_false(equal_text("{\"spec\":{\"uid\":\"a\"}}",
	    "{\"spec\":{\"uid\":\"b\"}}"));
}

static void
test_diff_equal_int_and_float_equal(void **state)
{
	assert_true(equal_text("{\"spec\":{\"replicas\":1}}",
	    "{\"spec\":{\"replicas\":1.0}}"));
	assert_false(equal_text("{\"spec\":{\"replicas\":1}}",
	    "{\"spec\":{\"replicas\":1.5}}"));
}

static void
test_diff_equal_declared_null_matches_absent(void **state)
{
	assert_true(equal_text("{\"spec\":{\"a\":null,\"b\":1}}",
	    "{\"spec\":{\"b\":1}}"));
	assert_false(equal_text("{\"spec\":{\"a\":null}}",
	    "{\"spec\":{\"a\":3}}"));
}

static void
test_diff_classify_each_case(void **state)
{
	struct json	*d = parse("{\"a\":1}"), *other = parse("{\"a\":2}");
	struct json	*same = parse("{\"a\":1,\"b\":2}");

	assert_int_equal(diff_classify(d, NULL), DIFF_CREATE);
	assert_int_equal(diff_classify(NULL, d), DIFF_PRUNE);
	assert_int_equal(diff_classify(d, same), DIFF_UNCHANGED);
	assert_int_equal(diff_classify(d, other), DIFF_UPDATE);
	assert_null(diff_project(d, NULL));
	json_free(d);
	json_free(same);
	json_free(other);
}

#define SECRET(data) \
	"{\"apiVersion\":\"v1\",\"kind\":\"Secret\"," \
	"\"metadata\":{\"name\":\"db\",\"namespace\":\"shop\"}," data "}"

static void
test_diff_mask_secret_values_replaced(void **state)
{
	struct json	*s, *m, *cm, *mcm;

	s = parse(SECRET("\"data\":{\"password\":\"aHVudGVyMg==\","
	    "\"user\":\"YWRtaW4=\"},\"stringData\":{\"token\":\"t0ps3cret\"},"
	    "\"type\":\"Opaque\""));
	m = diff_mask_secret(s);
	assert_string_equal(json_path_string(m, "data", "password", NULL),
	    "++++++++");
	assert_string_equal(json_path_string(m, "data", "user", NULL),
	    "++++++++");
	assert_string_equal(json_path_string(m, "stringData", "token", NULL),
	    "++++++++");
	assert_string_equal(json_path_string(m, "type", NULL), "Opaque");
	/* The original is left alone. */
	assert_string_equal(json_path_string(s, "data", "password", NULL),
	    "aHVudGVyMg==");
	assert_true(diff_is_secret(s));

	/* Not a Secret: nothing masked. */
	cm = parse("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
	    "\"data\":{\"k\":\"visible\"}}");
	mcm = diff_mask_secret(cm);
	assert_false(diff_is_secret(cm));
	assert_true(json_equal(cm, mcm));
	json_free(s);
	json_free(m);
	json_free(cm);
	json_free(mcm);
}

static void
test_diff_mask_secret_pair_same_value_same_mask(void **state)
{
	struct json	*a, *b;

	a = parse(SECRET("\"data\":{\"password\":\"aHVudGVyMg==\"}"));
	b = parse(SECRET("\"data\":{\"password\":\"aHVudGVyMg==\"}"));
	diff_mask_secret_pair(a, b);
	assert_string_equal(json_path_string(a, "data", "password", NULL),
	    "++++++++");
	assert_true(json_equal(a, b));
	json_free(a);
	json_free(b);
}

static void
test_diff_mask_secret_pair_changed_value_different_mask(void **state)
{
	struct json	*a, *b;
	const char	*ma, *mb;

	a = parse(SECRET("\"data\":{\"password\":\"bmV3\",\"user\":\"dQ==\"},"
	    "\"stringData\":{\"only-desired\":\"x\"}"));
	b = parse(SECRET("\"data\":{\"password\":\"b2xk\",\"user\":\"dQ==\","
	    "\"only-live\":\"eQ==\"}"));
	diff_mask_secret_pair(a, b);
	ma = json_path_string(a, "data", "password", NULL);
	mb = json_path_string(b, "data", "password", NULL);
	assert_non_null(ma);
	assert_non_null(mb);
	assert_string_not_equal(ma, mb);
	assert_int_equal(strspn(ma, "+"), strlen(ma));
	assert_int_equal(strspn(mb, "+"), strlen(mb));
	assert_string_equal(json_path_string(a, "data", "user", NULL),
	    json_path_string(b, "data", "user", NULL));
	assert_string_equal(json_path_string(b, "data", "only-live", NULL),
	    "++++++++");
	assert_string_equal(json_path_string(a, "stringData", "only-desired",
	    NULL), "++++++++");
	assert_null(json_get(b, "stringData"));
	json_free(a);
	json_free(b);
}

static void
test_diff_mask_secret_pair_non_map_data_masked(void **state)
{
	struct json	*a, *b;

	a = parse(SECRET("\"data\":\"c2VjcmV0\""));
	b = parse(SECRET("\"data\":[\"c2VjcmV0\",\"b3RoZXI=\"]"));
	diff_mask_secret_pair(a, b);
	assert_string_equal(json_path_string(a, "data", NULL), "++++++++");
	assert_string_equal(json_path_string(b, "data", NULL), "++++++++++++");
	json_free(a);
	json_free(b);
}

/* A resource straight from JSON, without manifest.c's checks. */
static struct resource *
resource_json(const char *text, const char *id)
{
	struct resource	*r;

	r = xcalloc(1, sizeof *r);
	r->obj = parse(text);
	r->id = xstrdup(id);
	return (r);
}

static void
resource_json_free(struct resource *r)
{
	json_free(r->obj);
	free(r->id);
	free(r);
}

/*
 * The length of the mask on the line that starts with prefix, -1 if there
 * is no such line or it holds anything but a mask (maybe quoted).
 */
static int
mask_on_line(const char *text, const char *prefix)
{
	const char	*p = text, *v;
	size_t		 n;

	for (; p != NULL && *p != '\0'; p = strchr(p, '\n'), p += p != NULL) {
		if (strncmp(p, prefix, strlen(prefix)) != 0)
			continue;
		v = p + strlen(prefix);
		if (*v == '"' || *v == '\'')
			v++;
		n = strspn(v, "+");
		if (v[n] != '\n' && v[n + 1] != '\n')
			return (-1);
		return ((int)n);
	}
	return (-1);
}

static void
test_diff_resource_text_secret_value_absent(void **state)
{
	struct resource	*r;
	struct json	*live;
	char		*text;

	r = resource_json(SECRET("\"data\":{\"password\":\"TkVXLXBBU1M=\","
	    "\"user\":\"YWRtaW4=\"},"
	    "\"stringData\":{\"api\":\"plain-new-key\"}"),
	    "Secret/shop/db");
	live = parse("{\"apiVersion\":\"v1\",\"kind\":\"Secret\","
	    "\"metadata\":{\"name\":\"db\",\"namespace\":\"shop\","
	    "\"annotations\":{"
	    "\"kubectl.kubernetes.io/last-applied-configuration\":"
	    "\"{\\\"data\\\":{\\\"password\\\":\\\"T0xELXBBU1M=\\\"}}\"}},"
	    "\"data\":{\"password\":\"T0xELXBBU1M=\","
	    "\"user\":\"YWRtaW4=\"},"
	    "\"stringData\":{\"api\":\"plain-old-key\"}}");
	text = diff_resource_text(r, live);
	assert_non_null(text);
	assert_null(strstr(text, "TkVXLXBBU1M="));
	assert_null(strstr(text, "T0xELXBBU1M="));
	assert_null(strstr(text, "YWRtaW4="));
	assert_null(strstr(text, "plain-new-key"));
	assert_null(strstr(text, "plain-old-key"));
	assert_non_null(strstr(text, "--- live/Secret/shop/db\n"));
	assert_non_null(strstr(text, "+++ desired/Secret/shop/db\n"));
	/* That it changed shows; what it was does not. */
	assert_int_equal(mask_on_line(text, "-  password: "), 12);
	assert_int_equal(mask_on_line(text, "+  password: "), 8);
	assert_int_equal(mask_on_line(text, "   user: "), 8);
	assert_int_equal(mask_on_line(text, "-  api: "), 12);
	assert_int_equal(mask_on_line(text, "+  api: "), 8);
	free(text);

	/* Creation and prune of a Secret do not show values either. */
	text = diff_resource_text(r, NULL);
	assert_non_null(text);
	assert_null(strstr(text, "TkVXLXBBU1M="));
	assert_null(strstr(text, "plain-new-key"));
	assert_non_null(strstr(text, "--- /dev/null\n"));
	free(text);
	text = diff_prune_text("Secret/shop/db", live);
	assert_non_null(text);
	assert_null(strstr(text, "T0xELXBBU1M="));
	assert_null(strstr(text, "plain-old-key"));
	assert_null(strstr(text, "YWRtaW4="));
	assert_non_null(strstr(text, "+++ /dev/null\n"));
	free(text);
	json_free(live);
	resource_json_free(r);
}

static void
test_diff_resource_text_update_shows_yaml_diff(void **state)
{
	struct resource	*r;
	struct json	*live, *same;
	char		*text;

	r = resource_json("{" DEPLOY_HEAD ",\"spec\":{\"replicas\":3,"
	    "\"template\":{\"spec\":{\"containers\":[{\"name\":\"app\","
	    "\"image\":\"shop/app:2\"}]}}}}", "Deployment.apps/shop/checkout");
	live = parse("{" DEPLOY_HEAD ",\"spec\":{\"replicas\":3,"
	    "\"template\":{\"spec\":{\"containers\":[{\"name\":\"app\","
	    "\"image\":\"shop/app:1\",\"imagePullPolicy\":\"Always\"}]}}},"
	    "\"status\":{\"replicas\":3}}");
	same = parse("{" DEPLOY_HEAD ",\"spec\":{\"replicas\":3,"
	    "\"template\":{\"spec\":{\"containers\":[{\"name\":\"app\","
	    "\"image\":\"shop/app:2\",\"imagePullPolicy\":\"Always\"}]}}},"
	    "\"status\":{\"replicas\":3}}");
	text = diff_resource_text(r, live);
	assert_non_null(text);
	assert_non_null(strstr(text,
	    "--- live/Deployment.apps/shop/checkout\n"
	    "+++ desired/Deployment.apps/shop/checkout\n@@ "));
	assert_non_null(strstr(text, "\n-        image: shop/app:1\n"
	    "+        image: shop/app:2\n"));
	/* Neither live's defaults nor its status are shown. */
	assert_null(strstr(text, "imagePullPolicy"));
	assert_null(strstr(text, "status"));
	free(text);
	assert_null(diff_resource_text(r, same));
	json_free(live);
	json_free(same);
	resource_json_free(r);
}

static void
test_diff_resource_text_create_from_dev_null(void **state)
{
	struct resource	*r;
	char		*text, *yaml, *want;

	r = resource_json("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\","
	    "\"metadata\":{\"name\":\"c\",\"namespace\":\"shop\"},"
	    "\"data\":{\"k\":\"v\"}}", "ConfigMap/shop/c");
	yaml = yaml_emit(r->obj);
	text = diff_resource_text(r, NULL);
	want = diff_unified_text("", yaml, "/dev/null",
	    "desired/ConfigMap/shop/c");
	assert_non_null(text);
	assert_string_equal(text, want);
	assert_non_null(strstr(text, "@@ -0,0 +1,"));
	free(want);
	free(text);
	text = diff_prune_text("ConfigMap/shop/c", r->obj);
	want = diff_unified_text(yaml, "", "live/ConfigMap/shop/c",
	    "/dev/null");
	assert_string_equal(text, want);
	assert_non_null(strstr(text, " +0,0 @@\n"));
	free(want);
	free(text);
	free(yaml);
	resource_json_free(r);
}

/* A plain write: file_write_atomic's fsyncs would make 600 runs slow. */
static void
write_file(const char *name, const char *text)
{
	char	*path = path_join(scratch, name);
	FILE	*f;

	f = fopen(path, "w");
	if (f == NULL || fputs(text, f) == EOF || fclose(f) == EOF)
		fail_msg("cannot write '%s'", path);
	free(path);
}

/*
 * The unified diff, against GNU diff. run_diff() runs diff(1) on the two
 * texts with the same labels and returns what it printed ("" if equal).
 */
static char *
run_diff(const char *opts, const char *a, const char *b)
{
	struct buf	 out;
	char		*cmd, chunk[4096];
	FILE		*p;
	size_t		 n;
	int		 status;

	write_file("a", a);
	write_file("b", b);
	xasprintf(&cmd, "diff %s --label A --label B '%s/a' '%s/b'", opts,
	    scratch, scratch);
	p = popen(cmd, "r");
	if (p == NULL)
		fail_msg("popen: %s", cmd);
	buf_init(&out);
	buf_adds(&out, "");
	while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
		buf_add(&out, chunk, n);
	status = pclose(p);
	if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
		fail_msg("%s: status %d", cmd, status);
	free(cmd);
	return (buf_release(&out));
}

/* Our diff equals diff -u's, byte for byte. */
static void
assert_like_gnu(const char *a, const char *b)
{
	char	*ours, *gnu;

	ours = diff_unified_text(a, b, "A", "B");
	gnu = run_diff("-u", a, b);
	if (*gnu == '\0')
		assert_null(ours);
	else {
		assert_non_null(ours);
		if (strcmp(ours, gnu) != 0)
			fail_msg("ours:\n%s\ngnu:\n%s", ours, gnu);
	}
	free(ours);
	free(gnu);
}

/* Lines of a text, pointing into it; each runs to its newline or the end. */
struct lines {
	const char	**v;
	size_t		  n;
};

static void
lines_split(const char *s, struct lines *l)
{
	size_t	cap = 0;

	memset(l, 0, sizeof *l);
	while (*s != '\0') {
		if (l->n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			l->v = xreallocarray(l->v, cap, sizeof *l->v);
		}
		l->v[l->n++] = s;
		s += strcspn(s, "\n");
		if (*s == '\n')
			s++;
	}
}

/* A line with its newline, if it has one. */
static void
line_add(struct buf *out, const char *line)
{
	size_t	n = strcspn(line, "\n");

	buf_add(out, line, n + (line[n] == '\n'));
}

/* Equal lines, whether or not each ends in a newline. */
static int
same_line(const char *x, const char *y)
{
	size_t	lx = strcspn(x, "\n"), ly = strcspn(y, "\n");

	return (lx == ly && memcmp(x, y, lx) == 0);
}

/*
 * Apply a unified diff to a as patch(1) would, checking every context and
 * removed line; returns the result.
 */
static char *
patch_apply(const char *a, const char *udiff)
{
	struct lines	 av, dv;
	struct buf	 out;
	size_t		 ai = 0, di = 2;
	long		 sa, na, sb, nb;
	const char	*l;
	int		 last_added = 0;

	lines_split(a, &av);
	lines_split(udiff, &dv);
	buf_init(&out);
	buf_adds(&out, "");
	assert_true(dv.n >= 3);
	assert_int_equal(strncmp(dv.v[0], "--- A\n", 6), 0);
	assert_int_equal(strncmp(dv.v[1], "+++ B\n", 6), 0);
	while (di < dv.n) {
		na = nb = 1;
		if (sscanf(dv.v[di], "@@ -%ld,%ld +", &sa, &na) != 2)
			assert_int_equal(sscanf(dv.v[di], "@@ -%ld +", &sa), 1);
		l = strchr(dv.v[di], '+');
		if (sscanf(l, "+%ld,%ld @@", &sb, &nb) != 2)
			assert_int_equal(sscanf(l, "+%ld @@", &sb), 1);
		if (na == 0)
			sa++;
		/* Lines before the hunk are copied. */
		assert_true((size_t)sa >= ai + 1);
		while (ai + 1 < (size_t)sa)
			line_add(&out, av.v[ai++]);
		for (di++; di < dv.n && dv.v[di][0] != '@'; di++) {
			l = dv.v[di];
			switch (l[0]) {
			case ' ':
			case '-':
				assert_true(ai < av.n);
				assert_true(same_line(l + 1, av.v[ai]));
				if (l[0] == ' ')
					line_add(&out, av.v[ai]);
				last_added = 0;
				ai++;
				break;
			case '+':
				line_add(&out, l + 1);
				last_added = 1;
				break;
			case '\\':
				assert_true(same_line(l,
				    "\\ No newline at end of file"));
				if (last_added)
					out.data[--out.len] = '\0';
				break;
			default:
				fail_msg("bad diff line: %.40s", l);
			}
		}
	}
	while (ai < av.n)
		line_add(&out, av.v[ai++]);
	free(av.v);
	free(dv.v);
	return (buf_release(&out));
}

/* Count of '-' and '+' lines of a unified diff, the two headers left out. */
static long
edit_count(const char *udiff)
{
	const char	*p;
	long		 n = 0, line = 0;

	if (udiff == NULL)
		return (0);
	for (p = udiff; *p != '\0'; p = strchr(p, '\n') + 1) {
		if (line++ >= 2 && (p[0] == '-' || p[0] == '+'))
			n++;
	}
	return (n);
}

static void
test_diff_unified_text_equal_returns_null(void **state)
{
	assert_null(diff_unified_text("a\nb\n", "a\nb\n", "A", "B"));
	assert_null(diff_unified_text("", "", "A", "B"));
	assert_null(diff_unified_text(NULL, "", "A", "B"));
}

static void
test_diff_unified_text_golden_simple_change(void **state)
{
	char	*d;

	d = diff_unified_text("1\n2\n3\n4\n5\n6\n7\n8\n9\n",
	    "1\n2\n3\n4\nfive\n6\n7\n8\n9\n", "live/x", "desired/x");
	assert_string_equal(d,
	    "--- live/x\n"
	    "+++ desired/x\n"
	    "@@ -2,7 +2,7 @@\n"
	    " 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
	free(d);
}

static void
test_diff_unified_text_golden_cases_match_gnu_diff(void **state)
{
	static const char *cases[][2] = {
		/* one change in the middle */
		{ "a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nD\ne\nf\ng\nh\n" },
		/* insertion at the top, deletion at the end */
		{ "b\nc\nd\ne\n", "a\nb\nc\nd\ne\n" },
		{ "a\nb\nc\nd\ne\n", "a\nb\nc\nd\n" },
		/* creation and removal of everything */
		{ "", "x\ny\n" },
		{ "x\ny\n", "" },
		{ "x\n", "y\n" },
		/* changes 6 apart share a hunk, 7 apart do not */
		{ "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n",
		  "0\n1\nX\n3\n4\n5\n6\n7\n8\nY\n10\n11\n12\n13\n14\n" },
		{ "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n",
		  "0\n1\nX\n3\n4\n5\n6\n7\n8\n9\nY\n11\n12\n13\n14\n" },
		/* pure insertions and deletions far from the ends */
		{ "1\n2\n3\n4\n5\n6\n7\n8\n", "1\n2\n3\n4\nnew\n5\n6\n7\n8\n" },
		{ "1\n2\n3\n4\n5\n6\n7\n8\n", "1\n2\n3\n4\n6\n7\n8\n" },
		/* a repeated block: where the change is placed */
		{ "items:\n- a\n  x: 1\n- a\n  x: 1\nend\n",
		  "items:\n- a\n  x: 1\n- a\n  x: 1\n- a\n  x: 1\nend\n" },
		{ "{\n}\n{\n}\n", "{\n}\n{\n}\n{\n}\n" },
		{ "a\n\nb\n\nc\n", "a\n\nb\n\nb\n\nc\n" },
		/* blank lines and whitespace-only lines differ */
		{ "a\n \nb\n", "a\n\nb\n" },
		/* everything different, several times over */
		{ "a\nb\nc\na\nb\nc\n", "c\nb\na\nc\nb\na\n" },
		/* YAML-like edit with a list item added */
		{ "spec:\n  containers:\n  - name: app\n    image: a:1\n"
		  "  - name: proxy\n    image: p:1\n",
		  "spec:\n  containers:\n  - name: app\n    image: a:2\n"
		  "  - name: log\n    image: l:1\n"
		  "  - name: proxy\n    image: p:1\n" },
	};
	size_t	i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_like_gnu(cases[i][0], cases[i][1]);
}

/*
 * Inputs where several shortest edit scripts exist and only sliding the
 * changed runs (as GNU diff does) gives diff's output.
 */
static void
test_diff_unified_text_change_placement_matches_gnu_diff(void **state)
{
	static const char *cases[][2] = {
		{ "a\na\nb\na\na\n", "c\nc\nb\nb\na\n" },
		{ "c\nb\na\nb\n", "b\n" },
		{ "b\na\n", "c\nc\nb\nb\na\n" },
		{ "c\nc\n", "b\nc\nc\nc\n" },
		{ "c\nb\na\n", "a\na\na\nc\n" },
		{ "b\n", "c\nb\nb\n" },
		{ "b\nc\na\nb\nb\nc\n", "a\na\nc\nb\nb\nb\n" },
		{ "b\na\nb\na\na\na\n", "a\nc\nb\na\n" },
		{ "c\nc\na\na\nb\nb\nb\n",
		  "a\nc\na\na\nc\na\na\nb\nc\nb\nb\nb\n" },
	};
	size_t	i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_like_gnu(cases[i][0], cases[i][1]);
}

static void
test_diff_unified_text_no_newline_at_end_like_gnu(void **state)
{
	char	*d;

	d = diff_unified_text("a\nb", "a\nb\n", "A", "B");
	assert_string_equal(d, "--- A\n+++ B\n@@ -1,2 +1,2 @@\n a\n-b\n"
	    "\\ No newline at end of file\n+b\n");
	free(d);
	assert_like_gnu("a\nb", "a\nb\n");
	assert_like_gnu("a\nb\n", "a\nb");
	assert_like_gnu("a\nb", "a\nc");
	assert_like_gnu("1\n2\n3\n4\n5\n6\n7\nend",
	    "1\nTWO\n3\n4\n5\n6\n7\nend");
	assert_like_gnu("x", "");
	assert_like_gnu("", "x");
	assert_like_gnu("same\nx", "other\nx");
}

/* Random texts over a few lines, so that many edit scripts tie. */
static char *
random_text(unsigned int *seed, int maxlines, int alphabet)
{
	struct buf	out;
	int		n, i;

	buf_init(&out);
	buf_adds(&out, "");
	n = rand_r(seed) % (maxlines + 1);
	for (i = 0; i < n; i++)
		buf_printf(&out, "line %c\n", 'a' + rand_r(seed) % alphabet);
	if (n > 0 && rand_r(seed) % 8 == 0)
		out.data[--out.len] = '\0';
	return (buf_release(&out));
}

static void
test_diff_unified_text_random_minimal_and_applies(void **state)
{
	unsigned int	 seed = 4242;
	char		*a, *b, *ours, *gnu, *patched;
	int		 i, same = 0;

	for (i = 0; i < 200; i++) {
		a = random_text(&seed, 30, 2 + i % 6);
		b = random_text(&seed, 30, 2 + i % 6);
		ours = diff_unified_text(a, b, "A", "B");
		gnu = run_diff("-u --minimal", a, b);
		if (strcmp(a, b) == 0)
			assert_null(ours);
		else {
			assert_non_null(ours);
			/* A shortest edit script, as diff --minimal finds. */
			assert_int_equal(edit_count(ours), edit_count(gnu));
			patched = patch_apply(a, ours);
			assert_string_equal(patched, b);
			free(patched);
			same += strcmp(ours, gnu) == 0;
		}
		free(ours);
		free(gnu);
		free(a);
		free(b);
	}
	print_message("# %d of 200 byte-identical to diff -u --minimal\n",
	    same);
}

static char *
numbered_lines(int n, int skip, int change, int insert)
{
	struct buf	out;
	int		i;

	buf_init(&out);
	for (i = 0; i < n; i++) {
		if (i == insert)
			buf_printf(&out, "inserted before %d\n", i);
		if (i == skip)
			continue;
		if (i == change)
			buf_printf(&out, "  key%d: changed\n", i);
		else
			buf_printf(&out, "  key%d: value %d\n", i, i % 7);
	}
	return (buf_release(&out));
}

static void
test_diff_unified_text_large_input_correct(void **state)
{
	char	*a, *b, *d, *patched;

	/* 20,000 lines, a deletion, a change and an insertion. */
	a = numbered_lines(20000, -1, -1, -1);
	b = numbered_lines(20000, 150, 9000, 19990);
	assert_like_gnu(a, b);
	d = diff_unified_text(a, b, "A", "B");
	assert_int_equal(edit_count(d), 4);
	patched = patch_apply(a, d);
	assert_string_equal(patched, b);
	free(patched);
	free(d);
	free(b);

	/* Every line different: still one hunk, and it applies. */
	b = numbered_lines(10000, -1, -1, -1);
	for (d = b; (d = strstr(d, "value")) != NULL; d++)
		d[0] = 'V';
	d = diff_unified_text(a, b, "A", "B");
	assert_int_equal(edit_count(d), 30000);
	patched = patch_apply(a, d);
	assert_string_equal(patched, b);
	free(patched);
	free(d);
	free(b);
	free(a);
}

static void
test_diff_unified_text_large_shuffled_repeats_correct(void **state)
{
	struct buf	 sa, sb;
	unsigned int	 seed = 7;
	char		*a, *b, *d, *patched;
	int		 i;

	/*
	 * Lines repeated in random order: the costly case for the search,
	 * which gives up on the shortest script past 4096 edits. The diff
	 * must still be right.
	 */
	buf_init(&sa);
	buf_init(&sb);
	for (i = 0; i < 8000; i++) {
		buf_printf(&sa, "- %d\n", rand_r(&seed) % 50);
		buf_printf(&sb, "- %d\n", rand_r(&seed) % 50);
	}
	a = buf_release(&sa);
	b = buf_release(&sb);
	d = diff_unified_text(a, b, "A", "B");
	patched = patch_apply(a, d);
	assert_string_equal(patched, b);
	free(patched);
	free(d);
	free(a);
	free(b);
}

/*
 * A key removed from desired: invisible to the projection (live state a
 * server fills in), a change when live holds exactly what was applied.
 */
static void
test_diff_equal_mode_exact_sees_removed_key(void **state)
{
	struct json	*d = parse("{\"kind\":\"ConfigMap\",\"data\":"
			    "{\"A\":\"1\"}}");
	struct json	*l = parse("{\"kind\":\"ConfigMap\",\"data\":"
			    "{\"A\":\"1\",\"B\":\"2\"},\"status\":{}}");
	struct json	*same = parse("{\"kind\":\"ConfigMap\",\"data\":"
			    "{\"A\":\"1\"},\"metadata\":{\"uid\":\"x\"}}");

	assert_true(diff_equal_mode(d, l, DIFF_PROJECT));
	assert_false(diff_equal_mode(d, l, DIFF_EXACT));
	/* Server-managed fields are still left out in exact mode. */
	assert_true(diff_equal_mode(d, same, DIFF_EXACT));
	json_free(d);
	json_free(l);
	json_free(same);
}

static void
test_diff_resource_text_mode_exact_shows_removed_key(void **state)
{
	struct resource	*r = resource_json("{\"apiVersion\":\"v1\","
			    "\"kind\":\"ConfigMap\",\"data\":{\"A\":\"1\"}}",
			    "ConfigMap/shop/c");
	struct json	*l = parse("{\"apiVersion\":\"v1\",\"kind\":"
			    "\"ConfigMap\",\"data\":{\"A\":\"1\",\"B\":\"2\"}}");
	char		*text;

	assert_null(diff_resource_text_mode(r, l, DIFF_PROJECT));
	text = diff_resource_text_mode(r, l, DIFF_EXACT);
	assert_non_null(text);
	assert_non_null(strstr(text, "\n-  B: \"2\"\n"));
	free(text);
	json_free(l);
	resource_json_free(r);
}

/* kubectl diff --server-side's view: whole objects, sorted, no fields. */
static void
test_diff_merged_text_kubectl_view(void **state)
{
	struct json	*live = parse("{\"kind\":\"ConfigMap\","
			    "\"apiVersion\":\"v1\",\"metadata\":{\"name\":"
			    "\"c\",\"managedFields\":[{\"manager\":\"x\"}],"
			    "\"generation\":1},\"data\":{\"B\":\"2\","
			    "\"A\":\"1\"}}");
	struct json	*merged = parse("{\"apiVersion\":\"v1\",\"kind\":"
			    "\"ConfigMap\",\"data\":{\"A\":\"1\"},\"metadata\":"
			    "{\"generation\":2,\"name\":\"c\",\"managedFields\":"
			    "[{\"manager\":\"y\"}]}}");
	char		*text;

	(void)state;
	text = diff_merged_text("ConfigMap/shop/c", live, merged);
	assert_non_null(text);
	assert_string_equal(text,
	    "--- live/ConfigMap/shop/c\n"
	    "+++ merged/ConfigMap/shop/c\n"
	    "@@ -1,8 +1,7 @@\n"
	    " apiVersion: v1\n"
	    " data:\n"
	    "   A: \"1\"\n"
	    "-  B: \"2\"\n"
	    " kind: ConfigMap\n"
	    " metadata:\n"
	    "-  generation: 1\n"
	    "+  generation: 2\n"
	    "   name: c\n");
	free(text);
	/* Equal but for managedFields and member order: nothing. */
	json_remove(json_get(live, "data"), "B");
	json_set(json_get(live, "metadata"), "generation",
	    json_new_number(2));
	assert_null(diff_merged_text("ConfigMap/shop/c", live, merged));
	/* A creation: /dev/null against the object. */
	text = diff_merged_text("ConfigMap/shop/c", NULL, merged);
	assert_non_null(strstr(text, "--- /dev/null\n+++ merged/"));
	free(text);
	json_free(live);
	json_free(merged);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff_action_name_each_action_named),
		cmocka_unit_test(test_diff_merged_text_kubectl_view),
		cmocka_unit_test(test_diff_project_extra_live_fields_ignored),
		cmocka_unit_test(test_diff_project_nested_change_is_drift),
		cmocka_unit_test(test_diff_project_missing_live_field_is_drift),
		cmocka_unit_test(
		    test_diff_project_named_list_reordered_with_defaults_equal),
		cmocka_unit_test(
		    test_diff_project_named_list_changed_item_is_drift),
		cmocka_unit_test(
		    test_diff_project_named_item_missing_in_live_absent),
		cmocka_unit_test(
		    test_diff_project_named_extra_live_item_ignored),
		cmocka_unit_test(
		    test_diff_project_repeated_names_each_matched_once),
		cmocka_unit_test(test_diff_project_positional_array_by_index),
		cmocka_unit_test(
		    test_diff_project_array_length_change_is_drift),
		cmocka_unit_test(test_diff_project_type_change_is_drift),
		cmocka_unit_test(
		    test_diff_project_ignored_metadata_fields_ignored),
		cmocka_unit_test(test_diff_equal_int_and_float_equal),
		cmocka_unit_test(test_diff_equal_mode_exact_sees_removed_key),
		cmocka_unit_test(
		    test_diff_resource_text_mode_exact_shows_removed_key),
		cmocka_unit_test(test_diff_equal_declared_null_matches_absent),
		cmocka_unit_test(test_diff_classify_each_case),
		cmocka_unit_test(test_diff_mask_secret_values_replaced),
		cmocka_unit_test(
		    test_diff_mask_secret_pair_same_value_same_mask),
		cmocka_unit_test(
		    test_diff_mask_secret_pair_changed_value_different_mask),
		cmocka_unit_test(
		    test_diff_mask_secret_pair_non_map_data_masked),
		cmocka_unit_test(test_diff_resource_text_secret_value_absent),
		cmocka_unit_test(
		    test_diff_resource_text_update_shows_yaml_diff),
		cmocka_unit_test(test_diff_resource_text_create_from_dev_null),
		cmocka_unit_test(test_diff_unified_text_equal_returns_null),
		cmocka_unit_test(test_diff_unified_text_golden_simple_change),
		cmocka_unit_test(
		    test_diff_unified_text_golden_cases_match_gnu_diff),
		cmocka_unit_test(
		    test_diff_unified_text_change_placement_matches_gnu_diff),
		cmocka_unit_test(
		    test_diff_unified_text_no_newline_at_end_like_gnu),
		cmocka_unit_test(
		    test_diff_unified_text_random_minimal_and_applies),
		cmocka_unit_test(test_diff_unified_text_large_input_correct),
		cmocka_unit_test(
		    test_diff_unified_text_large_shuffled_repeats_correct),
	};

	return (cmocka_run_group_tests(tests, setup, teardown));
}
