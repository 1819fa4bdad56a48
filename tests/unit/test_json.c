/* test_json.c: placeholder until written. */
#include "config.h"
#include "unit.h"

static void
test_json_placeholder(void **state)
{
	skip();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_placeholder),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
