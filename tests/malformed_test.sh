#!/usr/bin/env bash
# Every row of docs/MALFORMED.md, run through the real binary: the exit code
# and the one line the user sees, and never a crash or a stack trace.
#   tests/malformed_test.sh PATH/TO/han
set -uo pipefail
han=${1:?usage: malformed_test.sh PATH/TO/han}
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2> /dev/null; rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"

# A small model to classify and evaluate with.
"$han" -q demo -o "$work/demo" --documents 200 --epochs 1 > /dev/null || { echo "demo failed" >&2; exit 1; }
model=$work/demo/demo.han
tiny=(--epochs 1 --min-count 1 --set model.embedding_dim=8 --set model.word_hidden=4 --set model.sentence_hidden=4)

# Repaired, not fatal: the note names the file and counts the documents.
printf 'label,text\npos,"bad \xff\xfe bytes"\nneg,fine text\n' > "$work/utf8.csv"
expect_case "invalid UTF-8 in a corpus" 0 "read $work/utf8.csv (csv): 2 documents, 1 with invalid UTF-8 (repaired)" -- \
  "$han" train "$work/utf8.csv" -o "$work/m.han" "${tiny[@]}"
printf 'bad \xff bytes. Still a review.\n' > "$work/utf8.txt"
expect_case "invalid UTF-8 in an input" 0 "1 with invalid UTF-8 (repaired)" -- "$han" classify "$model" "$work/utf8.txt"
printf 'label,text\npos,"a \x00 nul byte"\nneg,"another\x00one"\n' > "$work/nul.csv"
expect_case "NUL bytes in a corpus" 0 "saved" -- "$han" -q train "$work/nul.csv" -o "$work/m.han" "${tiny[@]}"
printf 'nul\x00byte text. Still fine.' > "$work/nul.txt"
expect_case "NUL bytes in an input" 0 "$work/nul.txt"$'\t' -- "$han" -q classify "$model" "$work/nul.txt"

# Huge inputs: read, capped, answered.
python3 -c "
import random
random.seed(1)
words = ['good', 'bad', 'film', 'plot', 'actor', 'the', 'a', 'was', 'very', 'boring', 'superb']
line = ' '.join(random.choice(words) for _ in range(11_000_000))[:50_000_000]
open('$work/line.txt', 'w').write(line + '\n')
open('$work/sentences.txt', 'w').write(' '.join(f'The film was good number {i}.' for i in range(100_000)) + '\n')
"
expect_case "a 50 MB single line" 0 "$work/line.txt:1"$'\t' -- "$han" -q classify "$model" "$work/line.txt" --lines
expect_case "a 50 MB line, explained" 0 '"bytes":' -- "$han" -q explain "$model" "$work/line.txt"
expect_case "a document of 100,000 sentences" 0 '"sentences":' -- "$han" -q explain "$model" "$work/sentences.txt"
# A 2 GB (sparse) file as one document: read only to max_bytes, the rest counted.
printf 'A fine film.' > "$work/sparse.txt"
truncate -s 2G "$work/sparse.txt"
expect_case "a 2 GB file as a document" 0 '"bytes":2146435072' -- timeout 60 "$han" -q classify "$model" "$work/sparse.txt" --json

# Errors: one line naming the file (and line), exit 1.
: > "$work/empty.csv"
expect_case "an empty corpus file" 1 "empty.csv: no documents found" -- "$han" train "$work/empty.csv" -o "$work/m.han"
: > "$work/empty.jsonl"
expect_case "an empty JSON Lines file" 1 "empty.jsonl: no documents found" -- "$han" train "$work/empty.jsonl" -o "$work/m.han"
printf 'label,text\npos,"never closed\nneg,fine\n' > "$work/quote.csv"
expect_case "a CSV with an unbalanced quote" 1 "quote.csv:2: quoted field is never closed" -- \
  "$han" train "$work/quote.csv" -o "$work/m.han"
printf '{"text": "fine", "label": "a"}\n{"text": 5, "label": "b"}\n' > "$work/type.jsonl"
expect_case "a JSON line with a wrong type" 1 'type.jsonl:2: field "text" has the wrong type (found number, expected a string)' -- \
  "$han" train "$work/type.jsonl" -o "$work/m.han"
printf '{"text": "The ending was dull.", "label": "neutral"}\n' > "$work/unseen.jsonl"
expect_case "a label never seen in training" 1 "label 'neutral' is not one the model knows" -- \
  "$han" evaluate "$model" "$work/unseen.jsonl"
head -c 5000 "$model" > "$work/truncated.han"
expect_case "a truncated model file" 1 "truncated.han: truncated model file" -- "$han" classify "$work/truncated.han" "$work/nul.txt"
# Devices never end: refused at once, not read until memory runs out.
expect_case "/dev/zero as a model" 1 "/dev/zero: not a han model file (no HANMODEL signature)" -- \
  timeout 10 "$han" classify /dev/zero "$work/nul.txt"
# A large file that starts like a model: refused at its first bad field.
printf 'HANMODEL\x00\x00\x00\x00' > "$work/foreign.han"
truncate -s 2G "$work/foreign.han"
expect_case "a 2 GB file with a model's signature" 1 "foreign.han: model format version 0 is not supported" -- \
  timeout 10 "$han" classify "$work/foreign.han" "$work/nul.txt"
printf 'HANMODEL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00' > "$work/huge-header.han"
expect_case "a model declaring a 1 TB header" 1 "huge-header.han: model header of 1099511627776 bytes" -- \
  timeout 10 "$han" classify "$work/huge-header.han" "$work/nul.txt"
# Several labels on a document make it multi-label: a single-label model refuses
# to score it rather than cut it to one label.
printf '__label__comedy one fine day\n__label__comedy __label__horror both\n' > "$work/two-labels.txt"
expect_case "fastText lines with two labels, single-label model" 1 \
  "two-labels.txt:2: 2 labels, but the model is single-label" -- "$han" evaluate "$model" "$work/two-labels.txt"
printf '{"text": "a b", "labels": ["comedy", "horror"]}\n' > "$work/label-array.jsonl"
expect_case "a JSON array of labels, single-label model" 1 "label-array.jsonl:1: 2 labels, but the model is single-label" -- \
  "$han" evaluate "$model" "$work/label-array.jsonl"
printf '{"text": "a b", "labels": []}\n' > "$work/no-labels.jsonl"
expect_case "an empty JSON array of labels" 1 'no-labels.jsonl:1: missing label (found an empty array "labels"' -- \
  "$han" train "$work/no-labels.jsonl" -o "$work/m.han" "${tiny[@]}"
expect_case "/dev/zero as an input" 1 "/dev/zero: is a device, not a file" -- timeout 10 "$han" classify "$model" /dev/zero
expect_case "/dev/zero as a corpus" 1 "/dev/zero: is a device, not a file" -- \
  timeout 10 "$han" train /dev/zero -o "$work/zero.han" --format jsonl
cp "$model" "$work/flipped.han"
printf '\xff' | dd of="$work/flipped.han" bs=1 seek=3000 conv=notrunc status=none
expect_case "a bit-flipped model file" 1 "flipped.han: model file is damaged (checksum mismatch)" -- \
  "$han" classify "$work/flipped.han" "$work/nul.txt"
cp "$model" "$work/future.han"
printf '\x02' | dd of="$work/future.han" bs=1 seek=8 conv=notrunc status=none
expect_case "a model from a future format version" 1 "model format version 2 is not supported (this han reads version 1); it was written by a newer han" -- \
  "$han" classify "$work/future.han" "$work/nul.txt"
expect_case "an output path in a missing folder" 1 "folder $work/missing does not exist" -- \
  "$han" -q train "$work/utf8.csv" -o "$work/missing/m.han"
mkdir "$work/readonly" && chmod 555 "$work/readonly"
if touch "$work/readonly/probe" 2> /dev/null; then
  readonly_dir=/sys  # root ignores folder permissions; sysfs is read-only
else
  readonly_dir=$work/readonly
fi
expect_case "an output path in a read-only folder" 1 "cannot write in $readonly_dir" -- \
  "$han" -q train "$work/utf8.csv" -o "$readonly_dir/m.han"
mkdir -p "$work/loop/pos" "$work/loop/neg"
echo "good film" > "$work/loop/pos/1.txt"
echo "bad film" > "$work/loop/neg/1.txt"
ln -s .. "$work/loop/pos/up"
ln -s ../neg "$work/loop/neg/again"
expect_case "a corpus folder holding a symlink loop" 0 "2 documents, 2 files skipped" -- \
  "$han" train "$work/loop" -o "$work/m.han" "${tiny[@]}"
expect_case "inputs holding a symlink loop" 0 "1.txt"$'\t' -- "$han" -q classify "$model" "$work/loop"

summary
