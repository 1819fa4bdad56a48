#!/bin/sh
# t0001-cli: the command line itself: version, help, usage errors.
. "$TEST_SRCDIR/tests/lib.sh"

test_expect_success 'version prints the package version' '
	gitops_agent version >out &&
	test_grep "^gitops-agent [0-9][0-9.]*" out
'

test_expect_success 'help lists every subcommand' '
	gitops_agent help >out &&
	for c in check validate plan diff sync version; do
		test_grep "^  $c" out || exit 1
	done
'

test_expect_success 'no command is a usage error (exit 2)' '
	test_expect_code 2 gitops_agent 2>err &&
	test_grep "^usage: gitops-agent" err
'

test_expect_success 'an unknown command is named (exit 2)' '
	test_expect_code 2 gitops_agent frobnicate 2>err &&
	test_grep "unknown command .frobnicate." err
'

test_expect_success 'an option that does not apply to a command is refused' '
	test_expect_code 2 gitops_agent plan --dry-run --path . 2>err &&
	test_grep "option .--dry-run. does not apply" err
'

test_expect_success 'an unknown output format is refused' '
	test_expect_code 2 gitops_agent plan --path . --output xml 2>err &&
	test_grep "unknown output format .xml." err
'

test_expect_success 'a missing configuration file is a clear error' '
	test_expect_code 1 gitops_agent -c nope.yaml check 2>err &&
	test_grep "nope.yaml" err
'

test_done
