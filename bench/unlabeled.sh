#!/usr/bin/env bash
# What unlabeled text adds on aclImdb: the one-command run with and without
# --unlabeled aclImdb/train/unsup (50,000 reviews without labels), scored on
# the test split.
#
#   bench/unlabeled.sh [BUILD_DIR]                       (default: build)
#
# For each seed: han train imdb/train.jsonl -o MODEL --seed S [--unlabeled
# UNSUP], then han evaluate on imdb/test.jsonl. Prints one line per run
# (accuracy, seconds) and the medians. Environment: WORK (default
# /tmp/han-accuracy, bench/prepare_corpora.py's splits), SEEDS (default
# "1 2 3"), THREADS (default 2), HAN_DATA_DIR (default ../shared/data, which
# holds aclImdb_v1_nofeat.tar.gz), BASELINE=0 skips the runs without it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
han=$build/han
[ -x "$han" ] || { echo "unlabeled.sh: $han is missing; build first" >&2; exit 1; }
work=${WORK:-/tmp/han-accuracy}
seeds=${SEEDS:-1 2 3}
threads=${THREADS:-2}
data=${HAN_DATA_DIR:-../shared/data}
python=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
"$python" bench/prepare_corpora.py "$work" --corpora imdb
unsup=$work/aclImdb/train/unsup
if [ ! -d "$unsup" ]; then
  archive=$data/aclImdb_v1_nofeat.tar.gz
  [ -f "$archive" ] || { echo "unlabeled.sh: $archive is missing (set HAN_DATA_DIR)" >&2; exit 1; }
  tar -xzf "$archive" -C "$work" aclImdb/train/unsup
fi
# Vectors depend on the seed and the text: a cache of their own, so no run reads another's.
HAN_CACHE_DIR=$(mktemp -d)
export HAN_CACHE_DIR
trap 'rm -rf "$HAN_CACHE_DIR"' EXIT
mkdir -p "$work/models"
runs=$(mktemp)
variants=("--unlabeled $unsup")
[ "${BASELINE:-1}" = 0 ] || variants=("" "${variants[@]}")
for variant in "${variants[@]}"; do
  for seed in $seeds; do
    model=$work/models/imdb-unlabeled-$seed.han
    start=$(date +%s.%N)
    # shellcheck disable=SC2086  # the variant is a list of options
    "$han" -q --threads "$threads" train "$work/imdb/train.jsonl" -o "$model" --seed "$seed" --no-checkpoint \
      $variant > "$model.log" 2>&1
    seconds=$(awk -v start="$start" -v end="$(date +%s.%N)" 'BEGIN { printf "%.1f", end - start }')
    accuracy=$("$han" -q --threads "$threads" evaluate "$model" "$work/imdb/test.jsonl" --json |
      "$python" -c 'import json, sys; print(json.load(sys.stdin)["accuracy"])')
    echo "${variant:-no unlabeled text} seed $seed: accuracy $accuracy, $seconds s" | tee -a "$runs"
  done
done
"$python" - "$runs" <<'PY'
import re, statistics, sys
groups = {}
for line in open(sys.argv[1]):
    variant, rest = line.split(" seed ", 1)
    accuracy, seconds = re.search(r"accuracy ([0-9.]+), ([0-9.]+) s", rest).groups()
    groups.setdefault(variant, []).append((float(accuracy), float(seconds)))
for variant, rows in groups.items():
    print(f"{variant}: median accuracy {100 * statistics.median(a for a, _ in rows):.2f}%, "
          f"median {statistics.median(s for _, s in rows):.0f} s over {len(rows)} seeds")
PY
rm -f "$runs"
