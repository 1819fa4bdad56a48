#!/bin/sh
# run-engine.sh: the engine benchmark and its peers on identical input.
#
#   tests/bench/run-engine.sh [GITOPS_AGENT [BENCH_ENGINE]]
#
# `make bench` runs it with both built programs. It generates 10,000
# resources in 100 files under $BENCH_DIR (default tests/bench/work in the
# current directory, which `make clean` removes), prints bench_engine's
# table for (a) load + plan + diff with no changes and (b) a first apply,
# then times, the same way (fork to exit, peak RSS from wait4), peers that
# read the same 100 files:
#   - the gitops-agent CLI: `diff --path --target` against the synced state;
#   - python3 with PyYAML's CSafeLoader (libyaml, the parser we use too),
#     holding every document, when python3 has PyYAML;
#   - `kubectl kustomize` on a kustomization listing the same files, only
#     when BENCH_KUSTOMIZE=1: it takes minutes on 10,000 resources, so it
#     runs once.
# Environment: BENCH_RUNS (default 5), BENCH_DIR, BENCH_KUSTOMIZE.
# Figures are meaningful only from a build without --enable-sanitizers.

agent=${1:-./gitops-agent}
bench=${2:-./tests/bench/bench_engine}
runs=${BENCH_RUNS:-5}
dir=${BENCH_DIR:-$(pwd)/tests/bench/work}

if [ ! -x "$bench" ]; then
	echo "run-engine.sh: no benchmark program '$bench'" \
	    "(make tests/bench/bench_engine)" >&2
	exit 2
fi

"$bench" -n "$runs" "$dir" || exit 1

echo
echo "peers on the same 100 files (whole process, fork to exit):"
if [ -x "$agent" ]; then
	"$bench" peer -n "$runs" "gitops-agent diff --path --target" -- \
	    "$agent" diff --path "$dir/manifests" --target "$dir/live-synced" \
	    --app bench
else
	echo "gitops-agent: not built ('$agent'), skipped"
fi

py='
import sys, yaml
docs = []
for f in sys.argv[1:]:
    with open(f) as fh:
        docs.extend(d for d in yaml.load_all(fh, Loader=yaml.CSafeLoader)
                    if d is not None)
assert len(docs) == 10000, len(docs)
'
if command -v python3 >/dev/null 2>&1 &&
    python3 -c 'import yaml; yaml.CSafeLoader' >/dev/null 2>&1; then
	# shellcheck disable=SC2086
	"$bench" peer -n "$runs" "python3 PyYAML CSafeLoader, parse only" -- \
	    python3 -c "$py" "$dir"/manifests/*.yaml
else
	echo "python3 with PyYAML (python3-yaml): not installed, skipped"
fi

if [ "${BENCH_KUSTOMIZE:-0}" = 1 ] && command -v kubectl >/dev/null 2>&1
then
	"$bench" peer -n 1 "kubectl kustomize, render only" -- \
	    kubectl kustomize --load-restrictor LoadRestrictionsNone \
	    "$dir/peer-kustomize"
else
	echo "kubectl kustomize: skipped (BENCH_KUSTOMIZE=1 runs it, once;" \
	    "it takes minutes)"
fi
