#!/usr/bin/env bash
# 20 Newsgroups (bydate) accuracy with the recipe in configs/20news.json, over
# several seeds. For each seed:
#   1. train on 20news-bydate-train with 10% held out, stopping early: this
#      picks the number of epochs;
#   2. refit: train again from scratch on all 11,314 training posts
#      (--valid-fraction 0) for that many epochs;
#   3. evaluate both models on the 7,532 posts of 20news-bydate-test.
# The test split is only evaluated, never used to choose anything. Word vectors
# come first, from han embed on the training posts. Writes OUT/20news.json
# (every run, and medians over the seeds) and prints it.
#
#   bench/20news.sh [BUILD_DIR]
# Env: HAN_DATA_DIR (default ../shared/data), WORK (unpacked corpus; default a
#      temporary folder), OUT_DIR (default WORK), SEEDS (default "1 2 3"),
#      EMBED_ARGS (han embed options), TRAIN_ARGS (extra han train options),
#      VECTORS (an existing vectors file: skips han embed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
han=$build/han
data=${HAN_DATA_DIR:-${HAN_DATA:-$root/../shared/data}}
work=${WORK:-$(mktemp -d)}
out=${OUT_DIR:-$work}
seeds=${SEEDS:-1 2 3}
read -r -a embed_args <<< "${EMBED_ARGS:---window 10 --epochs 20}"
read -r -a train_args <<< "${TRAIN_ARGS:-}"
mkdir -p "$out"

tarball=$data/20news-bydate.tar.gz
[ -f "$tarball" ] || { echo "bench/20news.sh: missing $tarball (set HAN_DATA_DIR)" >&2; exit 1; }
[ -d "$work/20news-bydate-test" ] || tar xzf "$tarball" -C "$work"
train=$work/20news-bydate-train
test=$work/20news-bydate-test

vectors=${VECTORS:-$out/20news.vec}
if [ -z "${VECTORS:-}" ]; then
  "$han" -q embed "$train" -o "$vectors" "${embed_args[@]}" | tee "$out/20news-embed.txt"
fi

# --set comes last in han's order of settings, so it overrides TRAIN_ARGS.
recipe=(-c "$root/configs/20news.json" --embeddings "$vectors" --no-checkpoint "${train_args[@]}")
for seed in $seeds; do
  picked=$out/20news-s$seed-valid.han
  "$han" train "$train" -o "$picked" "${recipe[@]}" --set train.seed="$seed" 2>&1 | tee "$out/20news-s$seed-valid.log"
  "$han" -q evaluate "$picked" "$test" --json > "$out/20news-s$seed-valid.eval.json"
  best_epoch=$(python3 -c '
import json, sys
epochs = [json.loads(l) for l in open(sys.argv[1])]
print(max(epochs, key=lambda e: (e["valid_accuracy"], -e["valid_loss"]))["epoch"])' "$picked.metrics.jsonl")
  refit=$out/20news-s$seed-refit.han
  "$han" train "$train" -o "$refit" "${recipe[@]}" --set train.seed="$seed" \
    --set train.valid_fraction=0 --set train.epochs="$best_epoch" \
    2>&1 | tee "$out/20news-s$seed-refit.log"
  "$han" -q evaluate "$refit" "$test" --json > "$out/20news-s$seed-refit.eval.json"
done

python3 - "$out" "$seeds" <<'PY'
import json, statistics, sys
out, seeds = sys.argv[1], sys.argv[2].split()
runs = []
for seed in seeds:
    epochs = [json.loads(l) for l in open(f"{out}/20news-s{seed}-valid.han.metrics.jsonl")]
    best = max(epochs, key=lambda e: (e["valid_accuracy"], -e["valid_loss"]))
    valid_eval = json.load(open(f"{out}/20news-s{seed}-valid.eval.json"))
    refit_eval = json.load(open(f"{out}/20news-s{seed}-refit.eval.json"))
    runs.append({"seed": int(seed), "best_epoch": best["epoch"], "epochs_run": len(epochs),
                 "valid_accuracy": best["valid_accuracy"],
                 "test_accuracy_early_stopped": valid_eval["accuracy"],
                 "test_accuracy_refit": refit_eval["accuracy"],
                 "test_macro_f1_refit": refit_eval["macro_f1"]})
result = {"corpus": "20news-bydate", "test_documents": refit_eval["documents"], "runs": runs,
          "median_test_accuracy_early_stopped": statistics.median(r["test_accuracy_early_stopped"] for r in runs),
          "median_test_accuracy_refit": statistics.median(r["test_accuracy_refit"] for r in runs)}
json.dump(result, open(f"{out}/20news.json", "w"), indent=2)
print(json.dumps(result, indent=2))
PY
