#!/bin/sh
# t0094-container: contrib/Containerfile builds the way the README says
# to install (its build stage's RUN lines are the README's install
# command), runs as an unprivileged user with the state directory as a
# volume, and its runtime stage installs the package of every library the
# binary links. No container runtime is needed: the file is read, as
# t0090 reads the README.
. "$TEST_SRCDIR/tests/lib.sh"

CF="$TEST_SRCDIR/contrib/Containerfile"
README="$TEST_SRCDIR/README.md"
test_command_prereq DPKG dpkg-query dpkg

# stage N: the instructions of the Nth stage (1: the first), with
# continuation lines joined and comments left out.
stage() {
	sed -e '/^#/d' -e '/^$/d' "$CF" |
	    sed -e ':a' -e '/\\$/{N;s/\\\n//;ba' -e '}' |
	    awk -v n="$1" '/^FROM /{s++} s == n'
}

test_expect_success 'the build stage runs the README install command' '
	sed -n "/^<!-- install-command:begin -->\$/,/^<!-- install-command:end -->\$/p" \
	    "$README" | grep -v "^<!--" | grep -v "^\`\`\`" >expect &&
	test "$(wc -l <expect)" -eq 1 &&
	stage 1 >build &&
	test_grep "^FROM debian:bookworm AS build\$" build &&
	sed -n "s/^RUN //p" build | sed -e :a -e "\$!N" -e "s/\n/ \&\& /" -e ta \
	    >actual &&
	test_cmp expect actual
'

test_expect_success 'the image runs unprivileged, its state a volume' '
	test "$(grep -c "^FROM " "$CF")" -eq 2 &&
	stage 2 >run &&
	test_grep "^FROM debian:bookworm" run &&
	user=$(sed -n "s/^USER //p" run) &&
	test -n "$user" &&
	case "$user" in 0 | 0:* | root | root:*) exit 1 ;; esac &&
	test_grep "^VOLUME \[\"/var/lib/gitops-agent\"\]\$" run &&
	test_grep "^ENV HOME=/var/lib/gitops-agent\$" run &&
	bin=$(sed -n "s/^ENTRYPOINT \[\"\([^\"]*\)\"\]\$/\1/p" run) &&
	test_grep "^COPY --from=build $bin $bin\$" run
'

test_expect_success DPKG 'the runtime stage installs every library the binary links' '
	stage 2 | sed -n "s/^RUN apt-get.*install //p" | tr " " "\n" |
	    grep -v "^-" | sort -u >installed &&
	test_grep "^libgit2" installed &&
	readelf -d "$GITOPS_AGENT" | sed -n "s/.*(NEEDED).*\[\(.*\)\]/\1/p" \
	    >needed &&
	test "$(wc -l <needed)" -ge 5 &&
	while read -r lib; do
		path=$(ldd "$GITOPS_AGENT" | awk -v l="$lib" "\$1 == l { print \$3 }") &&
		pkg=$(dpkg-query -S "$(readlink -f "$path")" 2>/dev/null ||
		    dpkg-query -S "$path") &&
		pkg=${pkg%%:*} &&
		case $pkg in
		libc6 | libasan* | libubsan* | libgcc-s*) continue ;;
		esac &&
		grep -q -x -F "$pkg" installed ||
		    { echo "$lib ($pkg) is not installed"; exit 1; }
	done <needed
'

test_expect_success 'deps.sh takes build, or nothing' '
	test_expect_code 2 sh "$TEST_SRCDIR/contrib/deps.sh" bogus 2>err &&
	test_grep "usage: deps.sh \[build\]" err
'

test_done
