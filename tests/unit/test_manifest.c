/* test_manifest.c: placeholder until written. */
#include "config.h"
#include "unit.h"

static void
test_manifest_placeholder(void **state)
{
	skip();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest_placeholder),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
