#!/bin/sh
# run-bump.sh: version bump figures on loopback, against a real
# `git daemon --enable=receive-pack` on 127.0.0.1.
#
#   (1) latency of one bump (fetch, edit, commit, compare-and-swap push)
#       with no contention: p50 and p99 of BENCH_BUMPS sequential bumps;
#   (2) contention: WRITERS processes x BUMPS bumps of different services
#       (adjacent lines of one versions.yaml) at once, with gitops-agent,
#       then the same workload with the git CLI: a `git pull --rebase &&
#       git push` loop that, on a conflict, aborts, resets to the remote
#       and redoes the edit. Both must land every update exactly once.
#
# Usage: run-bump.sh GITOPS_AGENT [WORKDIR]. Bounded: every writer does a
# fixed number of bumps, and each bump has the agent's own deadline.
set -eu

AGENT=$1
WORK=${2:-${BENCH_DIR:-tests/bench/work}/bump}
WRITERS=${BENCH_WRITERS:-8}
BUMPS=${BENCH_WRITER_BUMPS:-25}
LAT=${BENCH_BUMPS:-100}

rm -rf "$WORK"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cd "$WORK"
export HOME="$WORK" GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir srv
git daemon --reuseaddr --base-path="$WORK/srv" --export-all \
    --enable=receive-pack --listen=127.0.0.1 --port="$PORT" "$WORK/srv" \
    >daemon.log 2>&1 &
DAEMON=$!
trap 'kill $DAEMON 2>/dev/null; wait $DAEMON 2>/dev/null' EXIT

now_ms() { date +%s%3N; }

# A fresh remote REPO with WRITERS services in staging.
new_remote() { # NAME
	git init -q --bare -b main "srv/$1.git"
	rm -rf seed && git init -q -b main seed
	{
		echo "# bench versions"
		echo "staging:"
		for w in $(seq 1 "$WRITERS"); do
			printf '  svc%d: "v0"\n' "$w"
		done
	} >seed/versions.yaml
	git -C seed add -A && git -C seed commit -q -m init
	tries=50
	until git -C seed push -q "git://127.0.0.1:$PORT/$1.git" main 2>/dev/null; do
		tries=$((tries - 1)); [ $tries -gt 0 ] || exit 1; sleep 0.1
	done
	rm -rf seed
}

agent_config() { # FILE REPO STATE
	cat >"$1" <<-EOF
	state_dir: $3
	repositories:
	  - name: infra
	    url: git://127.0.0.1:$PORT/$2.git
	versions:
	  repository: infra
	  timeout: 10m
	  max_attempts: 1000
	EOF
}

# Check a remote: COUNT commits after the first, each subject once, the
# last value of every service, no merges, fsck clean.
verify() { # REPO COUNT
	rm -rf verify && git clone -q "git://127.0.0.1:$PORT/$1.git" verify
	git -C verify fsck --strict >/dev/null 2>&1 || { echo "fsck failed"; return 1; }
	n=$(git -C verify rev-list --count HEAD~0 --not "$(git -C verify rev-list --max-parents=0 HEAD)")
	m=$(git -C verify rev-list --merges --count HEAD)
	u=$(git -C verify log --format=%s | sort | uniq -d | wc -l)
	for w in $(seq 1 "$WRITERS"); do
		grep -q "^  svc$w: \"v$BUMPS\"" verify/versions.yaml ||
		    { echo "svc$w lost its last value"; return 1; }
	done
	[ "$n" -eq "$2" ] && [ "$m" -eq 0 ] && [ "$u" -eq 0 ] ||
	    { echo "commits $n (want $2), merges $m, duplicates $u"; return 1; }
}

pct() { # FILE: p50 p99 max of a column of numbers
	python3 -c '
import sys
v = sorted(int(x) for x in open(sys.argv[1]))
p = lambda q: v[min(len(v) - 1, int(round(q * (len(v) - 1))))]
print("p50 %d ms, p99 %d ms, max %d ms (n=%d)" % (p(.5), p(.99), v[-1], len(v)))
' "$1"
}

echo "# gitops-agent bump on loopback ($(uname -m), $(nproc) CPUs)"

# (1) latency, one writer
new_remote lat
agent_config lat.yaml lat ./state-lat
: >lat.ms
for i in $(seq 1 "$LAT"); do
	t0=$(now_ms)
	"$AGENT" -c lat.yaml bump --versions-only --service svc1 \
	    --environment staging \
	    --version "v$i" >/dev/null
	t1=$(now_ms)
	echo $((t1 - t0)) >>lat.ms
done
echo "(1) one bump, no contention:     $(pct lat.ms)"

# the CLI's single-writer latency, for scale
rm -rf cli1 && git clone -q "git://127.0.0.1:$PORT/lat.git" cli1
: >cli1.ms
for i in $(seq 1 "$LAT"); do
	t0=$(now_ms)
	(cd cli1 && git pull -q --rebase && sed -i "s/^  svc2: .*/  svc2: \"w$i\"/" versions.yaml &&
	    git commit -q -am "Deploy svc2 w$i to staging" && git push -q origin main)
	t1=$(now_ms)
	echo $((t1 - t0)) >>cli1.ms
done
echo "    git CLI pull --rebase, commit, push: $(pct cli1.ms)"

# (2a) contention: gitops-agent. run_agent REPO SHARED: writers with one
# state directory (one host: requests batched into group commits) or one
# each (separate hosts: compare-and-swap between them only).
run_agent() {
	new_remote "$1"
	rm -f failures
	t0=$(now_ms)
	pids=
	for w in $(seq 1 "$WRITERS"); do
		if [ "$2" = yes ]; then st=./state-$1; else st=./state-$1-$w; fi
		agent_config "$1$w.yaml" "$1" "$st"
		(
			for b in $(seq 1 "$BUMPS"); do
				"$AGENT" -c "$1$w.yaml" bump --versions-only \
				    --service "svc$w" \
				    --environment staging --version "v$b" ||
				    echo "writer $w bump $b failed" >>failures
			done >"$1$w.out" 2>&1
		) &
		pids="$pids $!"
	done
	wait $pids
	t1=$(now_ms)
	run_ms=$((t1 - t0))
	[ ! -s failures ] || { cat failures; exit 1; }
	verify "$1" $((WRITERS * BUMPS))
	run_stats=$(cat "$1"*.out | sed -n 's/.*(attempt \([0-9]*\), batch of \([0-9]*\),.*/\1 \2/p' |
	    awk '{ s += $1; if ($1 > m) m = $1; b += $2 } END { printf "attempts per bump %.2f mean, %d max; batch %.1f mean", s / NR, m, b / NR }')
}
run_agent agent yes
agent_ms=$run_ms
attempts=$run_stats
run_agent apart no
apart_ms=$run_ms
apart_stats=$run_stats

# (2b) contention: the git CLI loop
new_remote cli
cli_writer() { # W
	w=$1
	git clone -q "git://127.0.0.1:$PORT/cli.git" "c$w"
	cd "c$w"
	tries=0
	for b in $(seq 1 "$BUMPS"); do
		edit() {
			sed -i "s/^  svc$w: .*/  svc$w: \"v$b\"/" versions.yaml &&
			git commit -q -am "Deploy svc$w v$b to staging"
		}
		edit
		until git push -q origin main 2>/dev/null; do
			tries=$((tries + 1))
			if ! git pull -q --rebase 2>/dev/null; then
				git rebase --abort 2>/dev/null || true
				git fetch -q origin
				git reset -q --hard origin/main
				edit
			fi
		done
		tries=$((tries + 1))
	done
	echo "$tries" >"../c$w.tries"
}
t0=$(now_ms)
pids=
for w in $(seq 1 "$WRITERS"); do
	(cli_writer "$w") >"c$w.out" 2>&1 &
	pids="$pids $!"
done
wait $pids
t1=$(now_ms)
cli_ms=$((t1 - t0))
verify cli $((WRITERS * BUMPS))
cli_tries=$(cat c*.tries | awk '{ s += $1 } END { printf "%.2f", s / '"$((WRITERS * BUMPS))"' }')

total=$((WRITERS * BUMPS))
python3 - "$total" "$agent_ms" "$cli_ms" "$attempts" "$cli_tries" "$WRITERS" "$BUMPS" "$apart_ms" "$apart_stats" <<'EOF'
import sys
n, a, c, s = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[8])
print("(2) %s writers x %s bumps, one versions.yaml, every run: all %d landed once, linear, fsck clean"
      % (sys.argv[6], sys.argv[7], n))
print("    gitops-agent bump, one host (group commit): %6.1f s %6.1f commits/s  (%s)"
      % (a / 1000, n * 1000 / a, sys.argv[4]))
print("    gitops-agent bump, a state dir per writer:  %6.1f s %6.1f commits/s  (%s)"
      % (s / 1000, n * 1000 / s, sys.argv[9]))
print("    git pull --rebase && git push loop:         %6.1f s %6.1f commits/s  (pushes per commit %s)"
      % (c / 1000, n * 1000 / c, sys.argv[5]))
ratio = c / a
print("    throughput, one host vs the git CLI loop: %.1fx (target: at least 5x) %s"
      % (ratio, "met" if ratio >= 5 else "NOT met"))
print("    throughput, a state dir per writer vs the git CLI loop: %.1fx" % (c / s))
EOF
