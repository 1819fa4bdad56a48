#!/bin/sh
# t0091-man: the man pages gitops-agent(8) and gitops-agent.yaml(5) that
# the build makes (and `make install` installs) are what the program
# prints from its tables now, pass `mandoc -T lint` (or `groff -ww`), list
# every command with each of its options and every configuration key in
# its section, and the configuration they show passes `check`; `make
# install` puts them (and the bash completion) where man and bash look.
. "$TEST_SRCDIR/tests/lib.sh"

MAN8="$TEST_BUILDDIR/gitops-agent.8"
MAN5="$TEST_BUILDDIR/gitops-agent.yaml.5"
test_command_prereq MANDOC mandoc mandoc required
test_command_prereq GROFF groff groff-base

# The page without its date, which each run sets.
undated() {
	grep -v '^\.Dd ' "$1"
}

test_expect_success 'the built pages are what the program prints now' '
	gitops_agent manpage 8 >man8 &&
	gitops_agent manpage 5 >man5 &&
	undated man8 >expect && undated "$MAN8" >actual &&
	test_cmp expect actual &&
	undated man5 >expect && undated "$MAN5" >actual &&
	test_cmp expect actual
'

test_expect_success 'SOURCE_DATE_EPOCH dates the pages (reproducible builds)' '
	SOURCE_DATE_EPOCH=1700000000 gitops_agent manpage 8 >dated &&
	test_grep "^\.Dd November 14, 2023$" dated &&
	test_grep "^\.Dt GITOPS-AGENT 8$" dated
'

test_expect_success 'a wrong section is a usage error' '
	test_expect_code 2 gitops_agent manpage 3 2>err &&
	test_grep "gitops-agent manpage: give the section" err
'

# Every message but the manuals a page refers to (not installed here).
test_expect_success MANDOC 'mandoc -T lint finds nothing' '
	{ mandoc -T lint -W style "$MAN8" "$MAN5" 2>&1 || :; } |
	    grep -v "referenced manual not found" |
	    grep -v "mandoc.db" >lint || :
	test_cmp /dev/null lint &&
	mandoc -T lint -W warning "$MAN8" "$MAN5"
'

test_expect_success GROFF 'groff -ww renders them without a warning' '
	groff -ww -z -mandoc "$MAN8" 2>warn8 &&
	groff -ww -z -mandoc "$MAN5" 2>warn5 &&
	test_cmp /dev/null warn8 &&
	test_cmp /dev/null warn5
'

# The words of a command's options, as its help lists them.
help_options() {
	gitops_agent "$1" --help |
	    sed -n "/^options:/,/^\$/s/^  \(-., \)\{0,1\} *\(--[a-z-]*\).*/\2/p"
}

test_expect_success 'gitops-agent(8) has every command and its options' '
	gitops_agent help >help &&
	sed -n "s/^  \([a-z-]*\) .*/\1/p" help >commands &&
	test "$(wc -l <commands)" -ge 10 &&
	while read -r c; do
		awk -v c="$c" "
			/^\.It Xo\$/ { getline; on = \$0 == \".Cm \\\\&\" c }
			on" "$MAN8" >section &&
		test -s section || { echo "no command $c"; exit 1; }
		help_options "$c" >opts &&
		while read -r o; do
			grep -q -F "Fl \\-${o#--}" section ||
			    { echo "$c: no $o"; exit 1; }
		done <opts || exit 1
	done <commands &&
	for o in --config --verbose --help --version; do
		grep -q -F "Fl \\-${o#--}" "$MAN8" || exit 1
	done
'

test_expect_success 'gitops-agent.yaml(5) has every key in its section' '
	gitops_agent config-reference |
	    sed -n -e "s/^### \`\{0,1\}\([^\`]*\)\`\{0,1\}\$/section \1/p" \
	    -e "s/^| \`\([a-z_]*\)\` |.*/key \1/p" >expect &&
	sed -n -e "s/^\.Ss \(.*\)/section \1/p" -e "s/^\.It Ic \(.*\)/key \1/p" \
	    "$MAN5" | sed "s/\\\\&//g" >actual &&
	test "$(grep -c "^key" expect)" -ge 40 &&
	test_cmp expect actual
'

test_expect_success 'the configuration gitops-agent.yaml(5) shows is valid' '
	sed -n "/^\.Bd -literal/,/^\.Ed/p" "$MAN5" | sed "1d;\$d" >ex.yaml &&
	test_grep "^apps:" ex.yaml &&
	echo s3cret >infra.secret && chmod 600 infra.secret &&
	gitops_agent -c ex.yaml check
'

test_expect_success 'table text cannot become a roff request' '
	! grep -n "^\\.[^A-Z\\\\]" "$MAN8" "$MAN5" &&
	! grep -n "^'"'"'" "$MAN8" "$MAN5"
'

test_expect_success 'make install puts the pages and the completion in place' '
	MAKEFLAGS= MFLAGS= make -s -C "$TEST_BUILDDIR" install \
	    DESTDIR="$TRASH/root" prefix=/usr \
	    BASH_COMPLETION_DIR=/usr/share/bash-completion/completions \
	    >install.log 2>&1 &&
	undated "$MAN8" >expect &&
	undated root/usr/share/man/man8/gitops-agent.8 >actual &&
	test_cmp expect actual &&
	undated "$MAN5" >expect &&
	undated root/usr/share/man/man5/gitops-agent.yaml.5 >actual &&
	test_cmp expect actual &&
	test_cmp "$TEST_BUILDDIR/completion/gitops-agent" \
	    root/usr/share/bash-completion/completions/gitops-agent &&
	test -x root/usr/bin/gitops-agent
'

test_done
