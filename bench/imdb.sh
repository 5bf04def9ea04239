#!/usr/bin/env bash
# Benchmark on aclImdb: train on the full training split (25,000 reviews, a
# stratified 10% held out for validation), evaluate on the full test split.
# Prints epoch times, docs/s, accuracy and peak RSS; writes bench-imdb.json.
#
#   bench/imdb.sh [BUILD_DIR] [extra han train options...]
# Env: HAN_DATA_DIR (default ../shared/data), WORK (default a temporary folder).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}; shift || true
han=$build/han
# An empty cache of tokenized corpora and vectors for this script (older builds ignore it): the
# first run on a corpus tokenizes it; vectors depend on the seed, so every run pretrains its own.
export HAN_CACHE_DIR=$(mktemp -d)
trap 'rm -rf "$HAN_CACHE_DIR"' EXIT
data=${HAN_DATA_DIR:-${HAN_DATA:-$root/../shared/data}}
tarball=$data/aclImdb_v1_nofeat.tar.gz
[ -f "$tarball" ] || { echo "bench/imdb.sh: missing $tarball (set HAN_DATA_DIR)" >&2; exit 1; }
work=${WORK:-$(mktemp -d)}
if [ ! -d "$work/aclImdb/test" ]; then
  tar xzf "$tarball" -C "$work"
fi
out=${OUT_DIR:-$work}
log=$out/imdb-train.log

/usr/bin/time -v "$han" train "$work/aclImdb/train" -o "$out/imdb.han" "$@" 2> >(tee "$log" >&2)
train_rss=$(grep 'Maximum resident' "$log" | awk '{print $NF}')
/usr/bin/time -v "$han" evaluate "$out/imdb.han" "$work/aclImdb/test" --json > "$out/imdb-eval.json" 2> "$out/imdb-eval.log"
eval_rss=$(grep 'Maximum resident' "$out/imdb-eval.log" | awk '{print $NF}')
eval_seconds=$(grep 'Elapsed (wall' "$out/imdb-eval.log" | awk '{print $NF}')

python3 - "$out" "$train_rss" "$eval_rss" "$eval_seconds" <<'PY'
import json, sys
out, train_rss, eval_rss, eval_wall = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
epochs = [json.loads(l) for l in open(f"{out}/imdb.han.metrics.jsonl")]
ev = json.load(open(f"{out}/imdb-eval.json"))
parts = [float(p) for p in eval_wall.split(":")]
eval_s = parts[-1] + 60 * parts[-2] + (3600 * parts[-3] if len(parts) > 2 else 0)
best = max(epochs, key=lambda e: (e.get("valid_accuracy", 0), -e.get("valid_loss", 0)))
result = {
    "epochs": [{k: e[k] for k in ("epoch", "seconds", "docs_per_second", "train_loss", "valid_accuracy") if k in e} for e in epochs],
    "best_epoch": best["epoch"],
    "median_train_docs_per_second": sorted(e["docs_per_second"] for e in epochs)[len(epochs) // 2],
    "test_accuracy": ev["accuracy"], "test_macro_f1": ev["macro_f1"],
    "test_documents": ev["documents"],
    "evaluate_seconds_wall": eval_s,
    "inference_docs_per_second": ev["documents"] / ev["seconds"],
    "peak_rss_train_mib": train_rss / 1024, "peak_rss_evaluate_mib": eval_rss / 1024,
}
json.dump(result, open(f"{out}/bench-imdb.json", "w"), indent=2)
print(json.dumps(result, indent=2))
PY
