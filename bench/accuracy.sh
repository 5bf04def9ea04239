#!/usr/bin/env bash
# han's one-command accuracy against what a user would try instead, on every
# single-label corpus of shared/data, and the table in docs/ACCURACY.md.
#
#   bench/accuracy.sh [BUILD_DIR]                      (default: build)
#
# For each corpus (bench/prepare_corpora.py writes the splits):
#   han:       han train CORPUS/train.jsonl -o MODEL, no options, seeds 1, 2 and 3;
#              han evaluate on test.jsonl; the median of the three is han's figure
#   baselines: bench/baselines.py (TF-IDF + logistic regression, fastText three ways)
# Environment: WORK (default /tmp/han-accuracy: splits, models, results),
# CORPORA (default: imdb,20news,chnsenticorp,trec,polarity,sms), SEEDS (default
# "1 2 3"), THREADS (default 2), AUTOTUNE_SECONDS (default 60), OUT (default
# docs/ACCURACY.md; "-" prints the table only), HAN_DATA_DIR (the corpora),
# SYSTEMS (default "han baselines"; "han" reruns han only and keeps the baseline
# rows already in WORK/results.jsonl). Earlier rows of a system that is rerun are
# replaced.
# Needs python3-sklearn and fasttext: scripts/install-deps.sh --bench.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
han=$build/han
# An empty cache of tokenized corpora and vectors for this script (older builds ignore it): the
# first run on a corpus tokenizes it; vectors depend on the seed, so every run pretrains its own.
export HAN_CACHE_DIR=$(mktemp -d)
trap 'rm -rf "$HAN_CACHE_DIR"' EXIT
[ -x "$han" ] || { echo "accuracy.sh: $han is missing; build first (cmake --preset release && cmake --build --preset release)" >&2; exit 1; }
work=${WORK:-/tmp/han-accuracy}
corpora=${CORPORA:-imdb,20news,chnsenticorp,trec,polarity,sms}
seeds=${SEEDS:-1 2 3}
threads=${THREADS:-2}
out=${OUT:-docs/ACCURACY.md}
# Debian's interpreter, which has python3-sklearn (a pyenv or venv python3 may not).
python=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
mkdir -p "$work/models"
results=$work/results.jsonl
systems=${SYSTEMS:-han baselines}

"$python" bench/prepare_corpora.py "$work" --corpora "$corpora"
# Rows of what is rerun go; the rest (e.g. baselines kept with SYSTEMS=han) stay.
if [ -f "$results" ]; then
  "$python" - "$results" "$corpora" "$systems" <<'PY'
import json, sys
path, corpora, systems = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split()
rows = [json.loads(l) for l in open(path) if l.strip()]
def rerun(r):
    is_han = r["system"] == "han"
    return r["corpus"] in corpora and (("han" in systems and is_han) or ("baselines" in systems and not is_han))
with open(path, "w") as f:
    for r in rows:
        if not rerun(r):
            f.write(json.dumps(r) + "\n")
PY
fi
for corpus in ${corpora//,/ }; do
  for seed in $seeds; do
    [[ " $systems " == *" han "* ]] || break
    model=$work/models/$corpus-$seed.han
    start=$(date +%s.%N)
    "$han" -q --threads "$threads" train "$work/$corpus/train.jsonl" -o "$model" --seed "$seed" --no-checkpoint \
      > "$work/models/$corpus-$seed.log" 2>&1
    seconds=$(awk -v start="$start" -v end="$(date +%s.%N)" 'BEGIN { printf "%.1f", end - start }')
    "$han" -q --threads "$threads" evaluate "$model" "$work/$corpus/test.jsonl" --json |
      "$python" -c "import json, sys; r = json.load(sys.stdin); print(json.dumps({'corpus': '$corpus', 'system': 'han', 'seed': $seed, 'accuracy': r['accuracy'], 'macro_f1': r['macro_f1'], 'seconds': $seconds}))" \
      >> "$results"
    echo "$corpus: han seed $seed done in ${seconds%.*}s" >&2
  done
  if [[ " $systems " == *" baselines "* ]]; then
    "$python" bench/baselines.py "$work/$corpus" --json --autotune-seconds "${AUTOTUNE_SECONDS:-60}" >> "$results"
    echo "$corpus: baselines done" >&2
  fi
done
"$python" bench/accuracy_table.py "$results" --corpora "$corpora" --threads "$threads" --out "$out"
