#!/usr/bin/env bash
# The Python reference HAN (bench/reference/han_reference.py, run with
# Debian's python3-torch) as a numerical oracle: given the weights of a model
# han trained, it recomputes from the word ids of `han explain`'s JSON the
# probabilities and the sentence and word attention, within 1e-4.
#   tests/reference_oracle_test.sh PATH/TO/han
set -uo pipefail
han=${1:?usage: reference_oracle_test.sh PATH/TO/han}
here=$(cd "$(dirname "$0")" && pwd)
reference=$here/../bench/reference/han_reference.py
python=${HAN_REFERENCE_PYTHON:-/usr/bin/python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$here/lib.sh"

if ! "$python" -c 'import torch' 2> /dev/null; then
  echo "FAIL: $python cannot import torch: install Debian's python3-torch (scripts/install-deps.sh --test)" >&2
  exit 1
fi

"$han" -q demo -o "$work/demo" --documents 300 --epochs 1 > /dev/null || { echo "demo failed" >&2; exit 1; }
# Documents: held-out demo reviews, unknown words, one sentence alone, a long
# run-on sentence: batches full of padding at both levels.
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    print(json.loads(line)["text"])
' "$work/demo/train.jsonl" | head -60 > "$work/docs.txt"
{
  echo "Zyxwv qwerty plugh. Xyzzy frobnicate the grue."
  echo "Superb."
  echo "The cast follows a long journey and the crew visits the harbour and the old sailor returns to the school yard again and again until the music was dull and the dialogue was charming."
} >> "$work/docs.txt"

# The paper's sizes, and uneven sizes that would show a mix-up of dimensions.
"$han" -q train "$work/demo/train.jsonl" -o "$work/paper.han" --epochs 1 --min-count 2 > /dev/null \
  || fail "training the paper-size model"
"$han" -q train "$work/demo/train.jsonl" -o "$work/uneven.han" --epochs 1 --min-count 2 \
  --set model.embedding_dim=24 --set model.word_hidden=7 --set model.sentence_hidden=5 \
  --set model.word_attention=9 --set model.sentence_attention=6 > /dev/null || fail "training the uneven model"

for model in paper uneven; do
  "$han" -q explain "$work/$model.han" "$work/docs.txt" --lines > "$work/$model.jsonl" || { fail "$model: explain"; continue; }
  grep -q '"id":1,' "$work/$model.jsonl" && ok || fail "$model: unknown words should carry id 1"
  if output=$("$python" "$reference" oracle "$work/$model.han" "$work/$model.jsonl" 2>&1); then
    ok
    echo "$model: $output"
  else
    fail "$model: the reference disagrees with han: $output"
  fi
done

# The oracle can fail: one attention weight moved by 1e-3 must be caught.
python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
doc = json.loads(lines[0])
doc["sentences"][0]["words"][0]["weight"] += 1e-3
lines[0] = json.dumps(doc)
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
' "$work/paper.jsonl" "$work/tampered.jsonl"
if output=$("$python" "$reference" oracle "$work/paper.han" "$work/tampered.jsonl" 2>&1); then
  fail "the oracle accepted a tampered word weight: $output"
else
  [[ "$output" == *"word differs by"* ]] && ok || fail "tampered weight: unexpected output: $output"
fi
summary
