#!/usr/bin/env bash
# The paper's pooling ablations (Yang et al., 2016, table 3): HN-ATT, HN-AVE
# and HN-MAX, each trained by the one-command run with only model.pooling set.
#
#   bench/pooling.sh [BUILD_DIR]                        (default: build)
#
# For each corpus and pooling: han train CORPUS/train.jsonl -o MODEL
# --set model.pooling=P --seed S, then han evaluate on test.jsonl. One JSON
# row per run is appended to WORK/pooling.jsonl (rows of a rerun corpus,
# pooling and seed are replaced); the table (median over the seeds) is printed.
# Environment: WORK (default /tmp/han-accuracy, the splits bench/accuracy.sh
# writes), CORPORA (default imdb,20news), POOLINGS (default "attention mean
# max"; "" trains nothing and prints the table), SEEDS (default 1), THREADS (default 2), HAN_DATA_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
han=$build/han
# An empty cache of tokenized corpora and vectors for this script (older builds ignore it): the
# first run on a corpus tokenizes it; vectors depend on the seed, so every run pretrains its own.
export HAN_CACHE_DIR=$(mktemp -d)
trap 'rm -rf "$HAN_CACHE_DIR"' EXIT
[ -x "$han" ] || { echo "pooling.sh: $han is missing; build first" >&2; exit 1; }
work=${WORK:-/tmp/han-accuracy}
corpora=${CORPORA:-imdb,20news}
poolings=${POOLINGS-attention mean max}  # POOLINGS="" prints the table only
seeds=${SEEDS:-1}
threads=${THREADS:-2}
python=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
results=$work/pooling.jsonl
mkdir -p "$work/models"
"$python" bench/prepare_corpora.py "$work" --corpora "$corpora"
touch "$results"

for corpus in ${corpora//,/ }; do
  for pooling in $poolings; do
    for seed in $seeds; do
      model=$work/models/$corpus-$pooling-$seed.han
      start=$(date +%s.%N)
      "$han" -q --threads "$threads" train "$work/$corpus/train.jsonl" -o "$model" --seed "$seed" --no-checkpoint \
        --set "model.pooling=$pooling" > "$work/models/$corpus-$pooling-$seed.log" 2>&1
      seconds=$(awk -v start="$start" -v end="$(date +%s.%N)" 'BEGIN { printf "%.1f", end - start }')
      row=$("$han" -q --threads "$threads" evaluate "$model" "$work/$corpus/test.jsonl" --json |
        "$python" -c "import json, sys; r = json.load(sys.stdin); print(json.dumps({'corpus': '$corpus', 'pooling': '$pooling', 'seed': $seed, 'accuracy': r['accuracy'], 'macro_f1': r['macro_f1'], 'seconds': $seconds}))")
      "$python" - "$results" "$row" <<'PY'
import json, sys
path, row = sys.argv[1], json.loads(sys.argv[2])
same = lambda r: all(r[k] == row[k] for k in ("corpus", "pooling", "seed"))
rows = [r for r in map(json.loads, filter(str.strip, open(path))) if not same(r)] + [row]
with open(path, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows)
PY
      echo "$corpus: pooling $pooling seed $seed: $row" >&2
    done
  done
done

"$python" - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
names = {"attention": "HN-ATT", "mean": "HN-AVE", "max": "HN-MAX"}
print("| corpus | pooling | test accuracy (median) | seeds | macro-F1 | seconds |")
print("|---|---|---|---|---|---|")
for corpus in dict.fromkeys(r["corpus"] for r in rows):
    for pooling in ("attention", "mean", "max"):
        runs = [r for r in rows if r["corpus"] == corpus and r["pooling"] == pooling]
        if not runs:
            continue
        acc = statistics.median(r["accuracy"] for r in runs)
        f1 = statistics.median(r["macro_f1"] for r in runs)
        sec = statistics.median(r["seconds"] for r in runs)
        print(f"| {corpus} | {names[pooling]} (`{pooling}`) | {100 * acc:.2f} | {len(runs)} | {100 * f1:.2f} | {sec:.0f} |")
PY
