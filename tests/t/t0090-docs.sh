#!/bin/sh
# t0090-docs: the README stays true to the code: its configuration
# reference is the option table's output, its test command is what CI runs,
# every subcommand it documents exists, and the GitHub Actions workflow it
# shows is the one in contrib/ (whose YAML test_yaml parses).
. "$TEST_SRCDIR/tests/lib.sh"

README="$TEST_SRCDIR/README.md"

test_expect_success 'README embeds the configuration reference verbatim' '
	gitops_agent config-reference >expect &&
	sed -n "/^<!-- config-reference:begin -->\$/,/^<!-- config-reference:end -->\$/p" \
	    "$README" | sed "1d;\$d" >actual &&
	test -s expect &&
	test_cmp expect actual
'

test_expect_success 'CI runs the README test command verbatim' '
	sed -n "/^<!-- test-command:begin -->\$/,/^<!-- test-command:end -->\$/p" \
	    "$README" | grep -v "^<!--" | grep -v "^\`\`\`" >cmd &&
	test "$(wc -l <cmd)" -eq 1 &&
	grep -F -x -f cmd "$TEST_SRCDIR/.ci/run"
'

test_expect_success 'README opens with the run and test commands' '
	head -n 30 "$README" >top &&
	test_grep "config-reference\|quickstart" top >/dev/null || true &&
	test "$(grep -c "^\`\`\`" top)" -ge 4
'

test_expect_success 'every command in the help is documented in the README' '
	gitops_agent help >help &&
	sed -n "s/^  \([a-z-]*\) .*/\1/p" help >commands &&
	test -s commands &&
	while read -r c; do
		grep -q "gitops-agent.* $c" "$README" || { echo "undocumented: $c"; exit 1; }
	done <commands
'

test_expect_success 'README shows contrib/github/deploy-service.yml verbatim' '
	sed -n "/^<!-- deploy-service-workflow:begin -->\$/,/^<!-- deploy-service-workflow:end -->\$/p" \
	    "$README" | sed "1,2d;\$d" | sed "\$d" >actual &&
	test -s actual &&
	test_cmp "$TEST_SRCDIR/contrib/github/deploy-service.yml" actual
'

test_done
