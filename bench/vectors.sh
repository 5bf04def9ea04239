#!/usr/bin/env bash
# Accuracy bought by pretrained word vectors: for one corpus, train
# vectors with han embed, then train the classifier twice at the same budget,
# from those vectors and from random initialisation, and evaluate both on the
# test split. Writes OUT/vectors-CORPUS.json and prints it.
#
#   bench/vectors.sh imdb|20news|chnsenticorp [BUILD_DIR]
# Env: HAN_DATA_DIR (default ../shared/data), WORK (unpacked corpora; default a
#      temporary folder), OUT_DIR (default WORK), EMBED_ARGS and TRAIN_ARGS
#      (extra options for han embed and han train), INITS ("vectors random").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
corpus=${1:?usage: bench/vectors.sh imdb|20news|chnsenticorp [BUILD_DIR]}
build=${2:-$root/build}
han=$build/han
data=${HAN_DATA_DIR:-${HAN_DATA:-$root/../shared/data}}
work=${WORK:-$(mktemp -d)}
out=${OUT_DIR:-$work}
mkdir -p "$out"
read -r -a embed_args <<< "${EMBED_ARGS:-}"
read -r -a train_args <<< "${TRAIN_ARGS:-}"
inits=${INITS:-vectors random}
need() { [ -e "$1" ] || { echo "bench/vectors.sh: missing $1 (set HAN_DATA_DIR)" >&2; exit 1; }; }

valid=()
case "$corpus" in
  imdb)
    need "$data/aclImdb_v1_nofeat.tar.gz"
    [ -d "$work/aclImdb/test" ] || tar xzf "$data/aclImdb_v1_nofeat.tar.gz" -C "$work"
    train=$work/aclImdb/train; test=$work/aclImdb/test
    embed_inputs=("$train")  # its unsup/ folder is read too: 75,000 reviews
    ;;
  20news)
    need "$data/20news-bydate.tar.gz"
    [ -d "$work/20news-bydate-test" ] || tar xzf "$data/20news-bydate.tar.gz" -C "$work"
    train=$work/20news-bydate-train; test=$work/20news-bydate-test
    embed_inputs=("$train")
    ;;
  chnsenticorp)
    need "$data/ChnSentiCorp_htl_all.csv"
    python3 "$root/bench/split_csv.py" "$data/ChnSentiCorp_htl_all.csv" "$work/chnsenticorp" --seed 1 > /dev/null
    train=$work/chnsenticorp/train.csv; test=$work/chnsenticorp/test.csv
    valid=(--valid "$work/chnsenticorp/valid.csv")
    embed_inputs=("$train" "$work/chnsenticorp/valid.csv")  # the paper's choice: train and validation text
    ;;
  *) echo "bench/vectors.sh: unknown corpus $corpus (imdb, 20news, chnsenticorp)" >&2; exit 2 ;;
esac

vectors=$out/$corpus.vec
if [[ " $inits " == *" vectors "* ]]; then
  "$han" -q embed "${embed_inputs[@]}" -o "$vectors" "${embed_args[@]}" | tee "$out/$corpus-embed.txt"
fi
for init in $inits; do
  model=$out/$corpus-$init.han
  extra=()
  [ "$init" = vectors ] && extra=(--embeddings "$vectors")
  "$han" train "$train" "${valid[@]}" -o "$model" "${train_args[@]}" "${extra[@]}" 2>&1 | tee "$out/$corpus-$init-train.log"
  "$han" -q evaluate "$model" "$test" --json > "$out/$corpus-$init-eval.json"
done

python3 - "$out" "$corpus" "$inits" "${EMBED_ARGS:-}" "${TRAIN_ARGS:-}" <<'PY'
import json, re, sys
out, corpus, inits, embed_args, train_args = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4], sys.argv[5]
result = {"corpus": corpus, "embed_args": embed_args, "train_args": train_args}
if "vectors" in inits:
    line = open(f"{out}/{corpus}-embed.txt").readline()
    m = re.search(r"\((\d+) words x (\d+).*in ([\d.]+)s: (\d+) words/s, (\d+) per thread", line)
    result["embed"] = {"words": int(m[1]), "dimension": int(m[2]), "seconds": float(m[3]),
                       "words_per_second": int(m[4]), "words_per_second_per_thread": int(m[5])}
for init in inits:
    ev = json.load(open(f"{out}/{corpus}-{init}-eval.json"))
    epochs = [json.loads(l) for l in open(f"{out}/{corpus}-{init}.han.metrics.jsonl")]
    best = max(epochs, key=lambda e: (e.get("valid_accuracy", 0), -e.get("valid_loss", 0)))
    result[init] = {"test_accuracy": ev["accuracy"], "test_macro_f1": ev["macro_f1"], "test_documents": ev["documents"],
                    "epochs_run": len(epochs), "best_epoch": best["epoch"], "best_valid_accuracy": best.get("valid_accuracy")}
json.dump(result, open(f"{out}/vectors-{corpus}.json", "w"), indent=2)
print(json.dumps(result, indent=2))
PY
