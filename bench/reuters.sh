#!/usr/bin/env bash
# Multi-label accuracy on Reuters-21578 ModApte: han's one-command run against
# one-vs-rest TF-IDF + linear SVM and logistic regression, on the same 90
# labels (bench/reuters.py prepare: those in both splits).
#
#   bench/reuters.sh [BUILD_DIR] [-- TRAIN_OPTIONS...]       (default: build)
#
# han trains with no options (or TRAIN_OPTIONS) for each seed in SEEDS
# (default 1 2 3) and is scored on the test split with `han evaluate --json`
# at the thresholds it tuned on its own validation split. Prints one JSON line
# per run and system. Environment: WORK (default /tmp/han-reuters), SEEDS,
# THREADS (default 2), HAN_DATA_DIR (default ../shared/data). Needs
# python3-sklearn for the baselines (scripts/install-deps.sh --bench).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
if [ $# -gt 0 ] && [ "$1" != "--" ]; then build=$1; shift; fi
[ "${1:-}" = "--" ] && shift
han=$build/han
[ -x "$han" ] || { echo "reuters.sh: $han is missing; build first (cmake --preset release && cmake --build --preset release)" >&2; exit 1; }
work=${WORK:-/tmp/han-reuters}
seeds=${SEEDS:-1 2 3}
threads=${THREADS:-2}
data=${HAN_DATA_DIR:-../shared/data}
python=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
mkdir -p "$work"
"$python" bench/reuters.py prepare "$data" "$work"
for seed in $seeds; do
  model=$work/han-$seed.han
  SECONDS=0
  "$han" --threads "$threads" train "$work/train.jsonl" -o "$model" --seed "$seed" --no-checkpoint "$@" \
    > "$work/han-$seed.log" 2>&1 || { cat "$work/han-$seed.log" >&2; exit 1; }
  seconds=$SECONDS
  "$han" -q --threads "$threads" evaluate "$model" "$work/test.jsonl" --json |
    "$python" -c "
import json, sys
r = json.load(sys.stdin)
print(json.dumps({'system': 'han', 'seed': $seed, 'micro_f1': r['micro']['f1'], 'macro_f1': r['macro']['f1'],
                  'labels': len(r['labels']), 'seconds': $seconds}))"
done
"$python" bench/reuters.py baselines "$work" --json
