/*
 * test_metrics.c: the metrics store: what a series renders as, and what
 * forgetting an app's series takes away and what it leaves.
 */
#include "config.h"

#include "unit.h"
#include "agent.h"

static void
test_metrics_forget_only_that_label_value(void **state)
{
	struct metrics	*m = metrics_new();
	char		*text;

	(void)state;
	metrics_add(m, "gitops_syncs_total", "app=\"shop\",result=\"ok\"", 1);
	metrics_add(m, "gitops_syncs_total", "result=\"ok\",app=\"shop\"", 1);
	metrics_add(m, "gitops_syncs_total", "app=\"shop2\",result=\"ok\"", 1);
	metrics_add(m, "gitops_syncs_total", "app=\"x\",reason=\"app=\\\"shop\\\"\"", 1);
	metrics_set(m, "gitops_app_synced", "app=\"shop\"", 1);
	metrics_observe(m, "gitops_sync_duration_seconds", "app=\"shop\"", 0.1);
	metrics_add(m, "gitops_fetches_total", "repository=\"shop\"", 1);

	metrics_forget(m, "app", "shop");
	assert_true(metrics_value(m, "gitops_syncs_total",
	    "app=\"shop\",result=\"ok\"") == 0);
	assert_true(metrics_value(m, "gitops_app_synced", "app=\"shop\"") == 0);
	text = metrics_render(m);
	/* Every series of app shop is gone, wherever the label stood. */
	assert_null(strstr(text, "app=\"shop\""));
	/* A longer name, a value quoting the label, another label: kept. */
	assert_non_null(strstr(text, "app=\"shop2\""));
	assert_non_null(strstr(text, "reason=\"app=\\\"shop\\\"\""));
	assert_non_null(strstr(text, "repository=\"shop\""));
	free(text);
	metrics_forget(m, "app", "absent");
	metrics_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_forget_only_that_label_value),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
