#!/usr/bin/env bash
# Memory and time per step on paper-size corpora. Writes one seeded corpus
# of the largest size (bench/make_corpus.py), takes the smaller ones as its
# first lines, and for each size runs han prepare, then STEPS batches of
# training from the prepared file with the paper's model (no automatic
# recipe). Prints each size's peak RSS and seconds for both, and the
# training's milliseconds a step, which should not grow with the corpus.
#
#   bench/bounded.sh [BUILD_DIR]   env: SIZES ("250000 1000000 4000000"), STEPS (1000),
#                                       THREADS (2), WORK (a new temporary folder; it needs
#                                       about 1 KB a document, twice)
set -euo pipefail
build=${1:-build}
sizes=${SIZES:-250000 1000000 4000000}
steps=${STEPS:-1000}
threads=${THREADS:-2}
work=${WORK:-$(mktemp -d)}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
largest=$(printf '%s\n' $sizes | sort -n | tail -1)
corpus="$work/corpus-$largest.jsonl"
if [[ ! -s "$corpus" ]]; then
  echo "writing $largest documents to $corpus" >&2
  /usr/bin/python3 "$here/make_corpus.py" "$largest" -o "$corpus" --seed 1
fi
printf '| documents | corpus MB | .hanc MB | prepare s | prepare peak RSS MiB | train s (%s steps) | train peak RSS MiB | ms a step |\n' "$steps"
printf '|---|---|---|---|---|---|---|---|\n'
for size in $sizes; do
  text="$work/corpus-$size.jsonl"
  [[ -s "$text" ]] || head -n "$size" "$corpus" > "$text"
  rm -f "$work/c.hanc" "$work/m.han" "$work/m.jsonl"
  prepare=$( { /usr/bin/time -f '%e %M' "$build/han" -q --threads "$threads" prepare "$text" -o "$work/c.hanc" \
               2>&1 >/dev/null; } | tail -1)
  train=$( { /usr/bin/time -f '%e %M' "$build/han" -q --threads "$threads" train "$work/c.hanc" -o "$work/m.han" \
             --no-auto --no-checkpoint --max-steps "$steps" --set train.valid_fraction=0.01 \
             --metrics "$work/m.jsonl" 2>&1 >/dev/null; } | tail -1)
  # The epoch's own seconds: training steps only, no reading, validation or saving.
  per_step=$(/usr/bin/python3 -c "import json,sys; e=json.loads(open(sys.argv[1]).readline()); print(f'{1000*e[\"seconds\"]/$steps:.0f}')" "$work/m.jsonl")
  read -r prepare_s prepare_kib <<< "$prepare"
  read -r train_s train_kib <<< "$train"
  printf '| %s | %d | %d | %s | %d | %s | %d | %s |\n' "$size" "$(($(stat -c %s "$text") / 1000000))" \
    "$(($(stat -c %s "$work/c.hanc") / 1000000))" "$prepare_s" \
    $((prepare_kib / 1024)) "$train_s" $((train_kib / 1024)) "$per_step"
done
