#!/bin/sh
# t0001-cli: the command line itself: version, help, global options
# anywhere on the line, one style of usage error (exit 2).
. "$TEST_SRCDIR/tests/lib.sh"

# A usage error: the message on stderr's first line, the pointer to the
# help on its second, nothing on stdout, exit 2.
usage_error() { # EXPECTED-FIRST-LINE-REGEX CMD-FOR-TRY ARGS...
	first=$1 try=$2 && shift 2 &&
	test_expect_code 2 gitops_agent "$@" >out 2>err &&
	test ! -s out &&
	test "$(wc -l <err)" -eq 2 &&
	head -n 1 err >line && test_grep "$first" line &&
	printf "Try '%s --help'.\n" "$try" >expect &&
	tail -n 1 err >actual && test_cmp expect actual
}

printf 'state_dir: ./state\napps: []\n' >ok.yaml

test_expect_success 'version prints the package version' '
	gitops_agent version >out &&
	test_grep "^gitops-agent [0-9][0-9.]*" out
'

test_expect_success '--version and -V print it too, before or after a command' '
	gitops_agent version >expect &&
	gitops_agent --version >actual && test_cmp expect actual &&
	gitops_agent -V >actual && test_cmp expect actual &&
	gitops_agent check --version >actual && test_cmp expect actual &&
	gitops_agent sync -V >actual && test_cmp expect actual
'

test_expect_success 'help lists every subcommand' '
	gitops_agent help >out &&
	for c in check validate render plan diff sync bump rollback serve \
	    status config-reference version help; do
		test_grep "^  $c " out || exit 1
	done
'

test_expect_success '--help and -h print the same list, exit 0' '
	gitops_agent help >expect &&
	gitops_agent --help >actual && test_cmp expect actual &&
	gitops_agent -h >actual && test_cmp expect actual &&
	test_grep "^  -c, --config FILE" actual
'

test_expect_success 'COMMAND --help prints its usage, options and examples' '
	for c in check validate render plan diff sync bump rollback serve \
	    status config-reference version help; do
		gitops_agent $c --help >out 2>err || exit 1
		test ! -s err &&
		test_grep "^usage: gitops-agent $c" out &&
		test_grep "^examples:" out &&
		test_grep "^  gitops-agent .*$c" out || exit 1
	done &&
	gitops_agent sync --help >out &&
	test_grep "^      --dry-run " out &&
	test_grep "^  -o, --output FORMAT " out
'

test_expect_success '-h, help COMMAND and --help after operands agree' '
	gitops_agent plan --help >expect &&
	gitops_agent plan -h >actual && test_cmp expect actual &&
	gitops_agent help plan >actual && test_cmp expect actual &&
	gitops_agent plan some-app --help >actual && test_cmp expect actual &&
	gitops_agent -h plan >actual && test_cmp expect actual
'

test_expect_success 'bump keeps --version for the version it deploys' '
	gitops_agent bump --help >out &&
	test_grep "^      --version V " out &&
	usage_error "^gitops-agent bump: option .--version. needs an argument" \
	    "gitops-agent bump" bump --service s --environment e --version
'

test_expect_success '-c FILE and --config FILE work before and after the command' '
	gitops_agent -c ok.yaml check >out && test_grep "configuration OK" out &&
	gitops_agent check -c ok.yaml >out && test_grep "configuration OK" out &&
	gitops_agent check --config ok.yaml >out &&
	test_grep "configuration OK" out &&
	gitops_agent --config=ok.yaml check >out &&
	test_grep "configuration OK" out &&
	gitops_agent -cok.yaml check >out && test_grep "configuration OK" out &&
	gitops_agent -v check -c ok.yaml >out && test_grep "configuration OK" out
'

test_expect_success 'the last -c wins wherever it is' '
	test_expect_code 1 gitops_agent -c ok.yaml check -c nope.yaml 2>err &&
	test_grep "nope.yaml" err &&
	gitops_agent -c nope.yaml check --config ok.yaml >out &&
	test_grep "configuration OK" out
'

test_expect_success 'after --, words are operands, not options' '
	test_expect_code 1 gitops_agent validate -c ok.yaml -- --help 2>err &&
	test_grep "unknown app .--help." err
'

test_expect_success 'no command is a usage error (exit 2)' '
	usage_error "^gitops-agent: no command given$" "gitops-agent"
'

test_expect_success 'an unknown command is named (exit 2)' '
	usage_error "^gitops-agent: unknown command .frobnicate.$" \
	    "gitops-agent" frobnicate
'

test_expect_success 'an unknown option is named, before or after the command' '
	usage_error "^gitops-agent: unknown option .--frob.$" "gitops-agent" \
	    --frob check &&
	usage_error "^gitops-agent check: unknown option .--frob.$" \
	    "gitops-agent check" check --frob &&
	usage_error "^gitops-agent check: unknown option .-x.$" \
	    "gitops-agent check" check -x &&
	usage_error "^gitops-agent status: unknown option .--dry.$" \
	    "gitops-agent status" status --dry
'

test_expect_success 'an option that does not apply to a command is refused' '
	usage_error "^gitops-agent plan: option .--dry-run. does not apply" \
	    "gitops-agent plan" plan --dry-run --path . &&
	usage_error "^gitops-agent serve: option .--output. does not apply" \
	    "gitops-agent serve" serve --output json
'

test_expect_success 'a missing argument is named' '
	usage_error "^gitops-agent plan: option .--path. needs an argument" \
	    "gitops-agent plan" plan --path &&
	usage_error "^gitops-agent: option .-c. needs an argument" \
	    "gitops-agent" -c &&
	usage_error "^gitops-agent check: option .--config. needs an argument" \
	    "gitops-agent check" check --config &&
	usage_error "^gitops-agent sync: option .--dry-run. takes no argument" \
	    "gitops-agent sync" sync --dry-run=yes &&
	usage_error "^gitops-agent render: missing APP" "gitops-agent render" \
	    render &&
	usage_error "^gitops-agent bump: missing --service" "gitops-agent bump" \
	    bump --version v1
'

test_expect_success 'extra operands are refused' '
	usage_error "^gitops-agent check: unexpected argument .x.$" \
	    "gitops-agent check" -c ok.yaml check x &&
	usage_error "^gitops-agent serve: unexpected argument .x.$" \
	    "gitops-agent serve" serve x &&
	usage_error "^gitops-agent plan: give either APP or --path" \
	    "gitops-agent plan" plan a --path . &&
	usage_error "^gitops-agent help: unknown command .frob." \
	    "gitops-agent help" help frob
'

test_expect_success 'an unknown output format is refused' '
	usage_error "^gitops-agent plan: unknown output format .xml." \
	    "gitops-agent plan" plan --path . --output xml &&
	usage_error "^gitops-agent status: unknown output format .xml." \
	    "gitops-agent status" status -o xml
'

test_expect_success 'a missing configuration file is a clear error' '
	test_expect_code 1 gitops_agent -c nope.yaml check 2>err &&
	test_grep "nope.yaml" err
'

test_done
