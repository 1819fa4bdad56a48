#!/bin/sh
# t0001-cli: placeholder until written.
. "$TEST_SRCDIR/tests/lib.sh"
test_skip placeholder "not written yet"
test_done
