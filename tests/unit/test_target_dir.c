/* test_target_dir.c: placeholder until written. */
#include "config.h"
#include "unit.h"

static void
test_target_dir_placeholder(void **state)
{
	skip();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_target_dir_placeholder),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
