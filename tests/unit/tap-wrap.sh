#!/bin/sh
# tap-wrap.sh: run a cmocka program with TAP output for Automake's TAP driver.
# cmocka 1.1 prints "not ok N # SKIP" for a skipped test; TAP says a skip
# is "ok N # SKIP", so rewrite that one form and keep the exit status.
CMOCKA_MESSAGE_OUTPUT=TAP
export CMOCKA_MESSAGE_OUTPUT
out=$(${VALGRIND:-} "$@" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^not ok \([0-9]*\) # SKIP/ok \1 # SKIP/'
exit $rc
