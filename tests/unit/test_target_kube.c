/*
 * test_target_kube.c: the pieces of the Kubernetes target that need no
 * server (tests/t/t0410-kube-target.sh drives it against the API double):
 * the ApplySet id kubectl computes for a parent.
 */
#include "config.h"

#include "unit.h"

static void
test_target_kube_applyset_id_is_kubectls(void **state)
{
	char	*id;

	(void)state;
	/* What kubectl 1.32 labels a ConfigMap gitops-set in default. */
	id = target_kube_applyset_id("gitops-set", "default", "ConfigMap", "");
	assert_string_equal(id,
	    "applyset-bg9MclLxAbR2PeAZpEonnZ7aMbdF8vg6b9Xxl85X1bE-v1");
	free(id);
	/* Unpadded base64url: no '=', '+' or '/' whatever the digest. */
	id = target_kube_applyset_id("gitops-agent.shop", "shop", "ConfigMap",
	    "");
	assert_null(strpbrk(id, "=+/"));
	assert_int_equal(strlen(id), strlen("applyset--v1") + 43);
	free(id);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_target_kube_applyset_id_is_kubectls),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
