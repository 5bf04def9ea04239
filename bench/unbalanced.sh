#!/usr/bin/env bash
# han's one-command run on an unbalanced corpus: does it predict every class?
#
#   bench/unbalanced.sh [BUILD_DIR] [-- TRAIN_OPTIONS...]       (default: build)
#
# bench/unbalanced.py samples four classes as 1,000 / 1,000 / 30 / 5 training
# documents (seed 1): with CORPUS=trec (the default) the TREC questions' DESC,
# ENTY, HUM and LOC, tested on every TREC_10 question of those classes; with
# CORPUS=20news the 20 Newsgroups posts by hierarchy (comp, rec, sci, talk),
# tested on every test post of those groups. han trains with no options (or TRAIN_OPTIONS)
# for seeds 1, 2 and 3 and is scored on the test split; TF-IDF + logistic
# regression (bench/baselines.py) runs on the same split. Prints one line per
# run (accuracy, macro-F1, how often each class was predicted) and the
# medians. Environment: CORPUS, WORK (default /tmp/han-unbalanced-CORPUS), SEEDS, THREADS
# (default 2), HAN_DATA_DIR (the corpora). Needs python3-sklearn for the baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
if [ $# -gt 0 ] && [ "$1" != "--" ]; then build=$1; shift; fi
[ "${1:-}" = "--" ] && shift
han=$build/han
# An empty cache of tokenized corpora and vectors for this script (older builds ignore it): the
# first run on a corpus tokenizes it; vectors depend on the seed, so every run pretrains its own.
export HAN_CACHE_DIR=$(mktemp -d)
trap 'rm -rf "$HAN_CACHE_DIR"' EXIT
[ -x "$han" ] || { echo "unbalanced.sh: $han is missing; build first (cmake --preset release && cmake --build --preset release)" >&2; exit 1; }
corpus=${CORPUS:-trec}
case "$corpus" in
  trec) sample=(--sizes DESC=1000,ENTY=1000,HUM=30,LOC=5) ;;
  20news) sample=(--top-level --sizes comp=1000,rec=1000,sci=30,talk=5) ;;
  *) echo "unbalanced.sh: CORPUS must be trec or 20news, not '$corpus'" >&2; exit 2 ;;
esac
work=${WORK:-/tmp/han-unbalanced-$corpus}
seeds=${SEEDS:-1 2 3}
threads=${THREADS:-2}
python=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
mkdir -p "$work"
"$python" bench/prepare_corpora.py "$work/splits" --corpora "$corpus"
"$python" bench/unbalanced.py "$work/splits/$corpus" "$work/corpus" "${sample[@]}"
: > "$work/results.jsonl"
for seed in $seeds; do
  model=$work/han-$seed.han
  "$han" -q --threads "$threads" train "$work/corpus/train.jsonl" -o "$model" --seed "$seed" --no-checkpoint "$@" \
    > "$work/han-$seed.log" 2>&1 || { cat "$work/han-$seed.log" >&2; exit 1; }
  "$han" -q --threads "$threads" evaluate "$model" "$work/corpus/test.jsonl" --json |
    "$python" -c "
import json, sys
r = json.load(sys.stdin)
predicted = {label: sum(row[j] for row in r['confusion']) for j, label in enumerate(r['labels'])}
print(json.dumps({'system': 'han', 'seed': $seed, 'accuracy': r['accuracy'], 'macro_f1': r['macro_f1'], 'predicted': predicted}))" \
    >> "$work/results.jsonl"
done
"$python" bench/baselines.py "$work/corpus" --systems tfidf --json | sed 's/^{/{"seed": 0, /' >> "$work/results.jsonl" || true
"$python" - "$work/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for r in rows:
    predicted = r.get("predicted")
    shown = ", ".join(f"{k} {v}" for k, v in predicted.items()) if predicted else "-"
    print(f"{r['system']:<8} seed {r['seed']}  accuracy {100 * r['accuracy']:6.2f}  macro-F1 {100 * r['macro_f1']:6.2f}  predicted: {shown}")
han = [r for r in rows if r["system"] == "han"]
if han:
    print(f"han median: accuracy {100 * statistics.median(r['accuracy'] for r in han):.2f}, "
          f"macro-F1 {100 * statistics.median(r['macro_f1'] for r in han):.2f}; "
          f"every class predicted in {sum(all(v > 0 for v in r['predicted'].values()) for r in han)} of {len(han)} runs")
PY
