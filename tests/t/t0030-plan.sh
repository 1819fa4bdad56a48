#!/bin/sh
# t0030-plan: placeholder until written.
. "$TEST_SRCDIR/tests/lib.sh"
test_skip placeholder "not written yet"
test_done
