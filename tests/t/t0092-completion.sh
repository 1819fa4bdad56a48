#!/bin/sh
# t0092-completion: the bash completion the build makes (and `make install`
# installs) is what the program prints from its command table now, and in
# bash it completes the commands, each command's options and the global
# ones, the values of --output, folders and files where an option takes
# one, the apps of the configuration the line names for an APP operand,
# and commands after `help`.
. "$TEST_SRCDIR/tests/lib.sh"

COMPLETION="$TEST_BUILDDIR/completion/gitops-agent"
test_command_prereq BASH bash bash

# comp_words WORD...: what bash offers for the last word of
# `gitops-agent WORD...` (an empty last word: a TAB after a space), one a
# line, sorted.
comp_words() {
	bash -c '
		. "$1" && shift &&
		COMP_WORDS=("$@") && COMP_CWORD=$(($# - 1)) &&
		_gitops_agent &&
		for w in "${COMPREPLY[@]}"; do printf "%s\n" "$w"; done
	' comp_words "$COMPLETION" "$GITOPS_AGENT" "$@" | LC_ALL=C sort
}

test_expect_success 'the built completion is what the program prints now' '
	gitops_agent completion bash >expect &&
	test_cmp expect "$COMPLETION" &&
	test_expect_code 2 gitops_agent completion zsh 2>err &&
	test_grep "give the shell: bash" err
'

test_expect_success BASH 'it completes every command of the help' '
	gitops_agent help | sed -n "s/^  \([a-z-]*\) .*/\1/p" |
	    LC_ALL=C sort >expect &&
	test "$(wc -l <expect)" -ge 10 &&
	comp_words "" >actual &&
	test_cmp expect actual &&
	comp_words -v sy >actual &&
	echo sync >expect &&
	test_cmp expect actual
'

test_expect_success BASH 'it completes each command'"'"'s options and the global ones' '
	gitops_agent help | sed -n "s/^  \([a-z-]*\) .*/\1/p" >commands &&
	while read -r c; do
		gitops_agent "$c" --help | sed -n \
		    -e "s/^  \(-.\), \(--[a-z-]*\).*/\1\n\2/p" \
		    -e "s/^      \(--[a-z-]*\).*/\1/p" |
		    LC_ALL=C sort >expect &&
		comp_words "$c" - >actual &&
		test_cmp expect actual || { echo "command $c"; exit 1; }
	done <commands &&
	comp_words sync --dr >actual &&
	echo --dry-run >expect &&
	test_cmp expect actual
'

test_expect_success BASH 'the values of --output, folders, files' '
	printf "%s\n" json table yaml >expect &&
	comp_words plan -o "" >actual &&
	test_cmp expect actual &&
	comp_words status --output "" >actual &&
	test_cmp expect actual &&
	printf "%s\n" json text yaml >expect &&
	comp_words diff web --output "" >actual &&
	test_cmp expect actual &&
	mkdir -p live/web && : >live-file &&
	echo live >expect &&
	comp_words sync --target li >actual &&
	test_cmp expect actual &&
	printf "%s\n" live live-file >expect &&
	comp_words -c li >actual &&
	test_cmp expect actual
'

test_expect_success BASH 'an option'"'"'s argument is not the command, nor an app' '
	comp_words bump --version "" >actual &&
	test_cmp /dev/null actual &&
	comp_words bump --version 1.0 --s >actual &&
	echo --service >expect &&
	test_cmp expect actual &&
	comp_words --config x.yaml "" >actual &&
	gitops_agent help | sed -n "s/^  \([a-z-]*\) .*/\1/p" |
	    LC_ALL=C sort >expect &&
	test_cmp expect actual
'

test_expect_success BASH 'an APP operand completes to the apps of the configuration' '
	cat >gitops-agent.yaml <<-EOF &&
	repositories: [{name: local, directory: .}]
	apps:
	  - {name: web, repository: local, path: app, target: {path: ./live/web}}
	  - {name: worker, repository: local, path: app, target: {path: ./live/w}}
	  - {name: db, repository: local, path: app, target: {path: ./live/db}}
	EOF
	mkdir -p other && sed "s/name: w/name: other-w/" gitops-agent.yaml \
	    >other/agent.yaml &&
	printf "%s\n" web worker >expect &&
	comp_words sync w >actual &&
	test_cmp expect actual &&
	comp_words -v plan --output json w >actual &&
	test_cmp expect actual &&
	printf "%s\n" other-web other-worker >expect &&
	comp_words -c other/agent.yaml render o >actual &&
	test_cmp expect actual &&
	comp_words sync --config=other/agent.yaml o >actual &&
	test_cmp expect actual &&
	comp_words bump w >actual &&
	test_cmp /dev/null actual &&
	comp_words -c missing.yaml sync w >actual &&
	test_cmp /dev/null actual
'

test_expect_success BASH 'help completes commands; after -- no options' '
	echo rollback >expect &&
	comp_words help ro >actual &&
	test_cmp expect actual &&
	comp_words sync -- --d >actual &&
	test_cmp /dev/null actual
'

test_done
