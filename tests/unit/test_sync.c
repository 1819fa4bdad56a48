/* test_sync.c: placeholder until written. */
#include "config.h"
#include "unit.h"

static void
test_sync_placeholder(void **state)
{
	skip();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_placeholder),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
