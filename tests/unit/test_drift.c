/*
 * test_drift.c: the fields a drift check names: where two objects
 * differ (fields, named list items, positions), the fields managedFields
 * give only to other managers, the bound per resource, and the report.
 */
#include "config.h"
#include "unit.h"

static struct json *
obj(const char *text)
{
	char		*cause = NULL;
	struct json	*o = json_parse(text, strlen(text), &cause);

	if (o == NULL)
		fail_msg("%s", cause);
	return (o);
}

static void
test_drift_fields_paths_named_and_counted(void **state)
{
	struct json	*a, *b;
	struct strv	 out;

	(void)state;
	memset(&out, 0, sizeof out);
	a = obj("{\"data\":{\"MODE\":\"blue\",\"same\":\"x\"},\"spec\":{"
	    "\"containers\":[{\"name\":\"web\",\"image\":\"a:1\"},"
	    "{\"name\":\"side\",\"image\":\"s:1\"}],\"args\":[\"-v\",\"-q\"]}}");
	b = obj("{\"data\":{\"MODE\":\"red\",\"same\":\"x\",\"extra\":\"y\"},"
	    "\"spec\":{\"containers\":[{\"name\":\"side\",\"image\":\"s:1\"},"
	    "{\"name\":\"web\",\"image\":\"a:2\"}],\"args\":[\"-v\",\"-x\"]}}");
	assert_int_equal(drift_fields(a, b, 10, &out), 4);
	assert_int_equal(out.n, 4);
	assert_string_equal(out.v[0], ".data.MODE");
	assert_string_equal(out.v[1], ".data.extra");
	/* Containers by name, whatever their order. */
	assert_string_equal(out.v[2], ".spec.containers[name=web].image");
	assert_string_equal(out.v[3], ".spec.args[1]");
	strv_free(&out);
	/* Bounded: two listed, all four counted. */
	assert_int_equal(drift_fields(a, b, 2, &out), 4);
	assert_int_equal(out.n, 2);
	strv_free(&out);
	/* Equal: nothing. */
	assert_int_equal(drift_fields(a, a, 10, &out), 0);
	assert_int_equal(out.n, 0);
	json_free(a);
	json_free(b);
}

static void
test_drift_fields_type_or_length_change_names_the_node(void **state)
{
	struct json	*a, *b;
	struct strv	 out;

	(void)state;
	memset(&out, 0, sizeof out);
	a = obj("{\"spec\":{\"ports\":[1,2],\"replicas\":3}}");
	b = obj("{\"spec\":{\"ports\":[1],\"replicas\":\"3\"}}");
	assert_int_equal(drift_fields(a, b, 10, &out), 2);
	assert_string_equal(out.v[0], ".spec.ports");
	assert_string_equal(out.v[1], ".spec.replicas");
	strv_free(&out);
	json_free(a);
	json_free(b);
}

static const char *const managed =
    "{\"metadata\":{\"name\":\"web\",\"managedFields\":["
    "{\"manager\":\"gitops-agent\",\"operation\":\"Apply\",\"fieldsV1\":{"
    "\"f:data\":{\"f:MODE\":{}},\"f:metadata\":{\"f:labels\":{"
    "\"f:app\":{}}},\"f:spec\":{\"f:containers\":{"
    "\"k:{\\\"name\\\":\\\"web\\\"}\":{\".\":{},\"f:image\":{}}}}}},"
    "{\"manager\":\"kubectl-label\",\"operation\":\"Update\",\"fieldsV1\":{"
    "\"f:metadata\":{\"f:labels\":{\".\":{},\"f:team\":{}}}}},"
    "{\"manager\":\"kubectl-edit\",\"operation\":\"Update\",\"fieldsV1\":{"
    "\"f:data\":{\"f:MODE\":{}},\"f:spec\":{\"f:containers\":{"
    "\"k:{\\\"name\\\":\\\"side\\\",\\\"port\\\":80}\":{\"f:image\":{}}}},"
    "\"f:finalizers\":{\"v:example.com/keep\":{}}}},"
    "{\"manager\":\"kube-controller-manager\",\"operation\":\"Update\","
    "\"subresource\":\"status\",\"fieldsV1\":{\"f:status\":{"
    "\"f:replicas\":{}}}}]}}";

static void
test_drift_foreign_fields_from_managed_fields(void **state)
{
	struct json	*live = obj(managed);
	struct strv	 out, by;

	(void)state;
	memset(&out, 0, sizeof out);
	memset(&by, 0, sizeof by);
	/* MODE is ours too; status is the status subresource's. */
	assert_int_equal(drift_foreign_fields(live, "gitops-agent", 10, &out,
	    &by), 3);
	assert_int_equal(out.n, 3);
	assert_string_equal(out.v[0], ".metadata.labels.team");
	assert_string_equal(out.v[1],
	    ".spec.containers[name=side,port=80].image");
	assert_string_equal(out.v[2], ".finalizers[example.com/keep]");
	assert_int_equal(by.n, 2);
	assert_string_equal(by.v[0], "kubectl-label");
	assert_string_equal(by.v[1], "kubectl-edit");
	strv_free(&out);
	strv_free(&by);
	/* Bounded: one listed, three counted. */
	assert_int_equal(drift_foreign_fields(live, "gitops-agent", 1, &out,
	    NULL), 3);
	assert_int_equal(out.n, 1);
	strv_free(&out);
	json_free(live);
	/* No managedFields: nothing. */
	live = obj("{\"metadata\":{\"name\":\"x\"}}");
	assert_int_equal(drift_foreign_fields(live, "gitops-agent", 10, &out,
	    NULL), 0);
	json_free(live);
}

static void
test_drift_report_shapes(void **state)
{
	struct strv	 ours, theirs, by;
	struct json	*rep;
	char		*text;

	(void)state;
	memset(&ours, 0, sizeof ours);
	memset(&theirs, 0, sizeof theirs);
	memset(&by, 0, sizeof by);
	assert_null(drift_report(&ours, 0, &theirs, 0, &by));
	strv_add(&ours, ".data.MODE");
	strv_add(&theirs, ".data.MODE");
	strv_add(&theirs, ".metadata.labels.team");
	strv_add(&by, "kubectl-edit");
	/* A field of ours another manager took is said once, as ours. */
	rep = drift_report(&ours, 12, &theirs, 2, &by);
	text = json_print(rep, 0);
	assert_string_equal(text, "{\"fields\":[\".data.MODE\"],"
	    "\"fieldsNotListed\":11,\"othersFields\":"
	    "[\".metadata.labels.team\"],\"managers\":[\"kubectl-edit\"]}");
	free(text);
	json_free(rep);
	strv_free(&ours);
	strv_free(&theirs);
	strv_free(&by);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drift_fields_paths_named_and_counted),
		cmocka_unit_test(
		    test_drift_fields_type_or_length_change_names_the_node),
		cmocka_unit_test(test_drift_foreign_fields_from_managed_fields),
		cmocka_unit_test(test_drift_report_shapes),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
