/*
 * test_lease.c: the Leases of replicas sharing the apps (lease.c): the
 * stable hash of an app's name, the quota arithmetic, expiry by
 * observation with our monotonic clock (the holder's renewTime never
 * compared with ours), and lease sets against the API server double:
 * two replicas balancing four shards, a silent holder's shards taken
 * once its Leases stayed unchanged for the duration (and its hold lost
 * by fencing before that), a release handing over at once, and a push
 * nudged through the Leases to another shard's holder without passing
 * for a renewal, and a release that meets a nudge tried again.
 */
#include "config.h"

#include "unit.h"

#define DURATION	3000
#define T0		1000000

static void
test_lease_hash_is_fnv1a_64(void **state)
{
	(void)state;
	assert_true(lease_hash("") == 0xcbf29ce484222325ULL);
	assert_true(lease_hash("a") == 0xaf63dc4c8601ec8cULL);
	assert_true(lease_hash("foobar") == 0x85944171f73967e8ULL);
}

static void
test_lease_shard_of_pinned_or_hash(void **state)
{
	(void)state;
	assert_int_equal(lease_shard_of("web", -1, 1), 0);
	assert_int_equal(lease_shard_of("web", 3, 4), 3);
	assert_int_equal(lease_shard_of("foobar", -1, 7),
	    (int)(0x85944171f73967e8ULL % 7));
	/* A pin past the shards (a config that changed) falls to the hash. */
	assert_int_equal(lease_shard_of("foobar", 9, 7),
	    (int)(0x85944171f73967e8ULL % 7));
}

static void
test_lease_quota_is_ceiling(void **state)
{
	(void)state;
	assert_int_equal(lease_quota(4, 1), 4);
	assert_int_equal(lease_quota(4, 2), 2);
	assert_int_equal(lease_quota(4, 3), 2);
	assert_int_equal(lease_quota(5, 2), 3);
	assert_int_equal(lease_quota(1, 3), 1);
	assert_int_equal(lease_quota(4, 0), 4);
}

static void
test_lease_obs_expires_by_our_clock(void **state)
{
	struct lease_obs	o;

	(void)state;
	memset(&o, 0, sizeof o);
	assert_int_equal(lease_obs_expired(&o, T0, DURATION), 0);
	/* A renewTime years in the past is just a record: not expired. */
	assert_int_equal(lease_observe(&o, "a\n2001-01-01T00:00:00Z\n7", T0),
	    1);
	assert_int_equal(lease_obs_expired(&o, T0 + DURATION - 1, DURATION),
	    0);
	/* Seen again unchanged: the clock keeps running from the first. */
	assert_int_equal(lease_observe(&o, "a\n2001-01-01T00:00:00Z\n7",
	    T0 + 2000), 0);
	assert_int_equal(lease_obs_expired(&o, T0 + DURATION, DURATION), 1);
	/* A renewal (new record) restarts it. */
	assert_int_equal(lease_observe(&o, "a\n2001-01-01T00:00:05Z\n8",
	    T0 + DURATION), 1);
	assert_int_equal(lease_obs_expired(&o, T0 + DURATION + 1, DURATION),
	    0);
	lease_obs_clear(&o);
}

static struct lease_set *
open_set(const struct unit_kube *d, const char *identity)
{
	struct config_coordination	 co;
	struct lease_set		*ls;
	char				*cause = NULL;

	memset(&co, 0, sizeof co);
	co.kubeconfig = unit_kube_path(d, "kubeconfig");
	co.namespace = (char *)"default";
	co.shards = 4;
	co.lease_duration_ms = DURATION;
	co.identity = (char *)identity;
	if ((ls = lease_set_open(&co, &cause)) == NULL)
		fail_msg("lease_set_open: %s", cause);
	free(co.kubeconfig);
	return (ls);
}

static void
round_ok(struct lease_set *ls, uint64_t now)
{
	char	*cause = NULL;

	if (lease_set_round(ls, now, &cause) == -1)
		fail_msg("lease_set_round %s: %s", lease_set_identity(ls),
		    cause);
}

static int
held(struct lease_set *ls, uint64_t now)
{
	struct lease_stats	st;

	lease_set_stats(ls, now, &st);
	return (st.held);
}

/* The double, and replicas a and b holding two shards each after t. */
static void
open_pair(struct unit_kube *d, struct lease_set **a, struct lease_set **b,
    uint64_t t)
{
	unit_kube_start(d);
	*a = open_set(d, "a");
	*b = open_set(d, "b");
	round_ok(*a, t);
	round_ok(*b, t);
	round_ok(*a, t + 1000);
	round_ok(*b, t + 1000);
	assert_int_equal(held(*a, t + 1000), 2);
	assert_int_equal(held(*b, t + 1000), 2);
}

static void
test_lease_two_replicas_balance_failover_release(void **state)
{
	struct unit_kube	 d;
	struct lease_set	*a, *b, *c;
	uint64_t		 t = T0;
	char			*h;
	int			 i;

	(void)state;
	unit_kube_start(&d);
	a = open_set(&d, "a");
	b = open_set(&d, "b");

	/* Alone, a takes every shard; b then sees them held and waits. */
	round_ok(a, t);
	assert_int_equal(held(a, t), 4);
	round_ok(b, t);
	assert_int_equal(held(b, t), 0);
	/* a counts two replicas and gives two up; b takes them. */
	t += 1000;
	round_ok(a, t);
	assert_int_equal(held(a, t), 2);
	round_ok(b, t);
	assert_int_equal(held(b, t), 2);
	for (i = 0; i < 4; i++) {
		assert_true(lease_set_holds(a, i, t) !=
		    lease_set_holds(b, i, t));
		h = lease_set_holder(b, i);
		assert_non_null(h);
		assert_string_equal(h, lease_set_holds(a, i, t) ? "a" : "b");
		free(h);
	}

	/*
	 * a falls silent. Its hold ends by fencing (three quarters of the
	 * duration after its last renewal was sent) before b may take
	 * over (a whole duration after b saw the Leases last change).
	 */
	round_ok(b, t + 1000);
	assert_int_equal(held(a, t + DURATION * 3 / 4 - 1), 2);
	assert_int_equal(held(a, t + DURATION * 3 / 4), 0);
	round_ok(b, t + 2000);
	assert_int_equal(held(b, t + 2000), 2);
	round_ok(b, t + 1000 + DURATION);
	/* a's member Lease expired too: b may hold all four. */
	round_ok(b, t + 1000 + DURATION + 1000);
	assert_int_equal(held(b, t + 1000 + DURATION + 1000), 4);
	/* a wakes: it sees b holding everything and claims nothing. */
	t += 1000 + DURATION + 1000;
	round_ok(a, t);
	for (i = 0; i < 4; i++)
		assert_false(lease_set_holds(a, i, t));
	lease_set_release(a);
	lease_set_close(a);

	/* b leaves: a newcomer takes every shard without waiting. */
	lease_set_release(b);
	assert_int_equal(held(b, t), 0);
	c = open_set(&d, "c");
	round_ok(c, t);
	assert_int_equal(held(c, t), 4);
	lease_set_release(c);
	lease_set_close(b);
	lease_set_close(c);
	unit_kube_stop(&d);
}

static void
test_lease_nudge_reaches_holder_and_is_no_renewal(void **state)
{
	struct unit_kube	 d;
	struct lease_set	*a, *b;
	struct strv		 got;
	uint64_t		 t = T0;

	(void)state;
	open_pair(&d, &a, &b, t);

	/* A push reached a: b, holding the other shards, hears of it. */
	lease_set_nudge(a, "infra");
	round_ok(a, t + 2000);
	round_ok(b, t + 2000);
	lease_set_nudged(b, &got);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.v[0], "infra");
	strv_free(&got);
	/* Heard once: nothing more at the next round. */
	round_ok(b, t + 3000);
	lease_set_nudged(b, &got);
	assert_int_equal(got.n, 0);
	strv_free(&got);
	lease_set_nudged(a, &got);
	assert_int_equal(got.n, 0);
	strv_free(&got);

	/*
	 * b falls silent after its renewal at t + 3000; a nudges again. The
	 * annotation changes b's Leases but not their record: they still
	 * expire a duration after a last saw b renew.
	 */
	round_ok(a, t + 3000);
	lease_set_nudge(a, "infra");
	round_ok(a, t + 3500);
	round_ok(a, t + 3000 + DURATION - 1);
	assert_int_equal(held(a, t + 3000 + DURATION - 1), 2);
	round_ok(a, t + 3000 + DURATION);
	round_ok(a, t + 3000 + DURATION + 1);
	assert_int_equal(held(a, t + 3000 + DURATION + 1), 4);
	lease_set_release(a);
	lease_set_close(a);
	lease_set_close(b);
	unit_kube_stop(&d);
}

static void
test_lease_release_over_a_nudge_hands_over_at_once(void **state)
{
	struct unit_kube	 d;
	struct lease_set	*a, *b;
	uint64_t		 t = T0;

	(void)state;
	open_pair(&d, &a, &b, t);
	/* b nudges a's shards: a's versions of them are stale now. */
	lease_set_nudge(b, "infra");
	round_ok(b, t + 1100);
	/* a leaves all the same: b takes everything at its next round. */
	lease_set_release(a);
	round_ok(b, t + 1200);
	assert_int_equal(held(b, t + 1200), 4);
	lease_set_release(b);
	lease_set_close(a);
	lease_set_close(b);
	unit_kube_stop(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lease_hash_is_fnv1a_64),
		cmocka_unit_test(test_lease_shard_of_pinned_or_hash),
		cmocka_unit_test(test_lease_quota_is_ceiling),
		cmocka_unit_test(test_lease_obs_expires_by_our_clock),
		cmocka_unit_test(
		    test_lease_two_replicas_balance_failover_release),
		cmocka_unit_test(
		    test_lease_nudge_reaches_holder_and_is_no_renewal),
		cmocka_unit_test(
		    test_lease_release_over_a_nudge_hands_over_at_once),
	};

	log_init(LOG_LEVEL_WARN, stderr);
	return (cmocka_run_group_tests(tests, NULL, NULL));
}
