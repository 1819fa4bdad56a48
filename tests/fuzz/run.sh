#!/bin/sh
# run.sh: build every libFuzzer harness of tests/fuzz with clang
# (-fsanitize=fuzzer,address,undefined) and fuzz each one for a bounded
# time from its seed corpus; fails on any crash, leak, timeout or memory
# blow-up, and prints one line per harness with libFuzzer's final figures
# (executions, coverage: cov, ft). `make fuzz` and .ci/run use it.
#
#	tests/fuzz/run.sh [HARNESS...]	(default: all of tests/fuzz/fuzz_*.c)
#
# Environment: FUZZ_BUILDDIR, a configured build directory (for config.h;
# default build); FUZZ_OUT, where objects, new inputs and crash inputs go
# (default $FUZZ_BUILDDIR/fuzz); FUZZ_SECONDS per harness (30); CC (clang).
# Crashing inputs are left in $FUZZ_OUT/crashes: add each to the harness's
# corpus with the fix, so that `make check` replays it.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
builddir=$(cd "${FUZZ_BUILDDIR:-$top/build}" && pwd) || exit 2
out=${FUZZ_OUT:-$builddir/fuzz}
seconds=${FUZZ_SECONDS:-30}
cc=${CC:-clang}
if [ ! -f "$builddir/config.h" ]; then
	echo "run.sh: no config.h in $builddir: run configure there first" >&2
	exit 2
fi
pkgs="libgit2 libevent openssl libcjson yaml-0.1 libcurl"
# shellcheck disable=SC2086
cflags="-g -O1 -std=gnu11 -pthread -DHAVE_CONFIG_H -I$builddir -I$top/gitops
	-I$top/agent -I$top/compat -I$top/tests/fuzz $(pkg-config --cflags $pkgs)"
# shellcheck disable=SC2086
libs="$(pkg-config --libs $pkgs) -lm"
san="address,undefined -fno-sanitize-recover=undefined"
mkdir -p "$out/obj" "$out/crashes" || exit 2

# The library, webhook.c and the harnesses' in-memory source, compiled
# once with coverage for the fuzzer (two at a time), again only when a
# source or a header changed.
srcs=$(ls "$top"/gitops/*.c "$top"/compat/*.c "$top"/agent/webhook.c \
    "$top"/agent/webhook_form.c \
    "$top"/agent/metrics.c "$top"/tests/fuzz/memsource.c)
objs=
for src in $srcs; do
	objs="$objs $out/obj/$(basename "$src" .c).o"
done
export cc cflags san out top
for src in $srcs; do
	obj=$out/obj/$(basename "$src" .c).o
	[ "$obj" -nt "$src" ] && [ "$obj" -nt "$top/gitops/gitops.h" ] &&
	    [ "$obj" -nt "$top/agent/agent.h" ] &&
	    [ "$obj" -nt "$top/tests/fuzz/fuzz.h" ] && continue
	echo "$src"
done | xargs -r -n 1 -P 2 sh -c '
	obj=$out/obj/$(basename "$1" .c).o
	$cc $cflags -fsanitize=fuzzer-no-link,$san -c -o "$obj" "$1"' sh ||
    exit 1

if [ $# -eq 0 ]; then
	set -- $(cd "$top/tests/fuzz" && ls fuzz_*.c | sed 's/\.c$//')
fi
failed=0
for h in "$@"; do
	name=${h#fuzz_}
	# shellcheck disable=SC2086
	if ! $cc $cflags -fsanitize=fuzzer,$san -o "$out/$h" \
	    "$top/tests/fuzz/$h.c" $objs $libs; then
		echo "$h: does not build"
		failed=$((failed + 1))
		continue
	fi
	mkdir -p "$out/corpus/$name"
	"$out/$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	    -malloc_limit_mb=2048 -detect_leaks=1 -print_final_stats=1 \
	    -artifact_prefix="$out/crashes/$h-" \
	    "$out/corpus/$name" "$top/tests/fuzz/corpus/$name" \
	    >"$out/$h.log" 2>&1
	rc=$?
	# libFuzzer's last status line: "#EXECS DONE cov: N ft: N corp: ...".
	stats=$(grep -E '^#[0-9]+[[:space:]]+[A-Z]+[[:space:]].*cov:' \
	    "$out/$h.log" | tail -n 1 |
	    sed -E 's/^#([0-9]+)[[:space:]]+[A-Z]+[[:space:]]+/execs: \1 /')
	if [ "$rc" -ne 0 ]; then
		echo "$h: FAILED (exit $rc) ${stats}"
		# The report (its first frames) and where the input was kept.
		sed -n '/ERROR: \|ALARM: \|runtime error: /,$p' "$out/$h.log" |
		    grep -v 'in fuzzer::\|in __libc_\|in _start ' | head -n 20
		grep -E '^(SUMMARY|artifact_prefix)' "$out/$h.log"
		failed=$((failed + 1))
	else
		echo "$h: ok ${stats}"
	fi
done
[ "$failed" -eq 0 ]
