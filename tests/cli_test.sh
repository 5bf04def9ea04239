#!/usr/bin/env bash
# End-to-end: the real han binary on the synthetic demo corpus, then the
# error messages and exit codes a user sees on bad input.
#   tests/cli_test.sh PATH/TO/han
set -uo pipefail
han=${1:?usage: cli_test.sh PATH/TO/han}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tests=$(cd "$(dirname "$0")" && pwd)
source "$(dirname "$0")/lib.sh"

check() {  # check DESCRIPTION python-expression-on-stdin-json...
  local what=$1; shift
  if python3 -c "$1" 2> "$work/check.err"; then ok; else fail "$what: $(cat "$work/check.err")"; fi
}

# --- the demo, the main job ---------------------------------------------------
expect 0 "drew" -- "$han" -q demo -o "$work/demo" --documents 800 --epochs 3 --heldout 20
expect 0 "cue sentence" -- "$han" -q demo -o "$work/demo2" --documents 60 --epochs 1 --heldout 2
expect 0 '"min_count": 2' -- "$han" demo --dump-config --epochs 9
expect 0 '"epochs": 9' -- "$han" demo --dump-config --epochs 9
[ -s "$work/demo/demo.han" ] && ok || fail "demo wrote no model"
[ -s "$work/demo/attention.jsonl" ] && ok || fail "demo wrote no attention JSON"
grep -q 'id="han-data"' "$work/demo/attention.html" && ok || fail "demo wrote no attention page"
check "demo attention JSON" "
import json
for line in open('$work/demo/attention.jsonl'):
    d = json.loads(line)
    assert d['schema_version'] == 1
    assert abs(sum(s['weight'] for s in d['sentences']) - 1) < 1e-4
    for s in d['sentences']:
        assert abs(sum(w['weight'] for w in s['words']) - 1) < 1e-4
"

# --- train, evaluate, classify, explain, inspect ------------------------------
corpus=$work/demo/train.jsonl
expect 0 "saved" -- "$han" -q train "$corpus" -o "$work/m.han" --epochs 8 --no-auto --set model.embedding_dim=32 \
  --set model.word_hidden=16 --set model.sentence_hidden=16 --min-count 2 --lr 0.005 --seed 5
[ "$(wc -l < "$work/m.han.metrics.jsonl")" -eq 8 ] && ok || fail "metrics log should have 8 lines"
check "metrics log is JSON" "
import json
rows = [json.loads(l) for l in open('$work/m.han.metrics.jsonl')]
assert [r['epoch'] for r in rows] == list(range(1, 9)) and all('valid_accuracy' in r for r in rows)
"

"$han" -q evaluate "$work/m.han" "$work/demo/heldout.jsonl" --json > "$work/eval.json"
check "evaluate --json" "
import json
r = json.load(open('$work/eval.json'))
assert r['documents'] == 60 and 0 <= r['accuracy'] <= 1 and len(r['confusion']) == 3
"
expect 0 "confusion" -- "$han" -q evaluate "$work/m.han" "$corpus"

printf 'I found the second half truly hilarious. The crew leaves the harbour.\nThe whole film was really creepy from start to finish. The family visits a quiet village.\n' > "$work/two.txt"
"$han" -q classify "$work/m.han" "$work/two.txt" --lines > "$work/classify.tsv"
check "classify TSV" "
rows = [l.rstrip('\n').split('\t') for l in open('$work/classify.tsv')]
assert len(rows) == 2, rows
assert rows[0][0].endswith('two.txt:1') and rows[0][1] == 'comedy', rows
assert rows[1][1] == 'horror', rows
assert 0.5 <= float(rows[0][2]) <= 1
"
echo "What a witty film this turned out to be!" | "$han" -q classify "$work/m.han" - --json --top-k 2 > "$work/classify.jsonl"
check "classify --json --top-k 2 from stdin" "
import json, sys
sys.path.insert(0, '$tests')
from prediction_schema import check_prediction
r = check_prediction(json.loads(open('$work/classify.jsonl').read()), ('comedy', 'horror', 'romance'), 2)
assert r['source'] == '<stdin>' and len(r['labels']) == 2 and r['labels'][0]['label'] == 'comedy'
assert r['labels'][0]['probability'] >= r['labels'][1]['probability']
assert sum(l['probability'] for l in r['labels']) < 1  # the third genre has the rest
"
"$han" -q classify "$work/m.han" "$work/two.txt" --lines --threshold 0.999999 > "$work/threshold.tsv"
check "--threshold leaves out unlikely labels" "
rows = [l.rstrip('\n').split('\t') for l in open('$work/threshold.tsv')]
assert all(len(r) in (1, 3) for r in rows), rows
"

# Inputs are read and answered a block of 4,096 documents at a time: 10,000
# lines come out whole, in order, each predicted as it is alone.
python3 -c "
lines = open('$work/two.txt').read().split('\n')[:2]
open('$work/many.txt', 'w').write(''.join(lines[i % 2] + '\n' for i in range(10000)))
"
"$han" -q classify "$work/m.han" "$work/many.txt" --lines > "$work/many.tsv"
check "classify streams 10,000 lines in order" "
rows = [l.rstrip('\n').split('\t') for l in open('$work/many.tsv')]
alone = [l.rstrip('\n').split('\t') for l in open('$work/classify.tsv')]
assert len(rows) == 10000, len(rows)
assert [r[0].rsplit(':', 1)[1] for r in rows] == [str(i) for i in range(1, 10001)]
assert all(r[1:] == alone[i % 2][1:] for i, r in enumerate(rows)), 'a block changed a prediction'
"
"$han" -q explain "$work/m.han" "$work/many.txt" --lines --html "$work/many.html"
check "explain --html streams 10,000 documents into one page" "
import json, re
page = open('$work/many.html', encoding='utf-8').read()
data = json.loads(re.search(r'<script type=\"application/json\" id=\"han-data\">(.*?)</script>', page, re.S).group(1))
assert len(data) == 10000 and data[9999]['source'].endswith('many.txt:10000'), len(data)
"
expect 2 "give two files" -- "$han" -q explain "$work/m.han" "$work/two.txt" --lines -o "$work/same.out" --html "$work/same.out"
"$han" -q explain "$work/m.han" "$work/two.txt" --lines -o "$work/explain.jsonl"
check "explain JSON" "
import json, sys
sys.path.insert(0, '$tests')
from prediction_schema import check_prediction
docs = [json.loads(l) for l in open('$work/explain.jsonl')]
assert len(docs) == 2
for d in docs:
    check_prediction(d, ('comedy', 'horror', 'romance'), 3)
    assert d['labels'][0]['label'] == d['label'] and d['labels'][0]['probability'] == d['confidence'], d['labels']
text = open('$work/two.txt').read().split('\n')[0]
d = docs[0]
assert d['label'] in ('comedy', 'horror', 'romance') and len(d['sentences']) == 2
w = d['sentences'][0]['words'][6]
assert w['token'] == 'hilarious' and text[w['span'][0]:w['span'][1]] == 'hilarious', w
s = d['sentences'][1]
assert text[s['span'][0]:s['span'][1]] == s['text'] == 'The crew leaves the harbour.'
assert abs(w['score'] - d['sentences'][0]['weight'] ** 0.5 * w['weight']) < 1e-5
"
expect 0 "sentence 1 of 2" -- "$han" -q explain "$work/m.han" "$work/two.txt" --lines --summary
# --html: one page holding the same JSON; nothing on stdout unless -o is given too.
"$han" -q explain "$work/m.han" "$work/two.txt" --lines --html "$work/explain.html" > "$work/html.stdout"
[ -s "$work/explain.html" ] && [ ! -s "$work/html.stdout" ] && ok || fail "explain --html: no page, or JSON on stdout"
check "explain --html embeds the explain JSON" "
import json, re
page = open('$work/explain.html', encoding='utf-8').read()
data = re.search(r'<script type=\"application/json\" id=\"han-data\">(.*?)</script>', page, re.S).group(1)
assert json.loads(data) == [json.loads(l) for l in open('$work/explain.jsonl')]
assert 'http://' not in page and 'https://' not in page
"
expect 1 "does not exist" -- "$han" -q explain "$work/m.han" "$work/two.txt" --lines --html "$work/missing/r.html"
expect 0 "misclassified documents to $work/wrong.html" -- "$han" evaluate "$work/m.han" "$corpus" --html "$work/wrong.html"
expect 2 "--html-max" -- "$han" evaluate "$work/m.han" "$corpus" --html "$work/wrong.html" --html-max -1
expect 0 "vocabulary" -- "$han" inspect "$work/m.han"
expect 0 "kept, validation accuracy" -- "$han" inspect "$work/m.han"
"$han" inspect "$work/m.han" --json > "$work/inspect.json"
check "inspect --json" "
import json
r = json.load(open('$work/inspect.json'))
assert r['labels'] == ['comedy', 'horror', 'romance'] and r['parameters'] > 1000 and r['config']['model']['embedding_dim'] == 32
"
# Automatic choices: printed, stored in the model, the user's own settings kept, the same from the same seed.
small=(--epochs 1 --set model.embedding_dim=16 --set model.word_hidden=8 --set model.sentence_hidden=8)
expect 0 "chose train.pretrain_epochs = 20" -- "$han" train "$corpus" -o "$work/auto.han" "${small[@]}" --seed 4
"$han" -q train "$corpus" -o "$work/auto2.han" "${small[@]}" --seed 4 --no-checkpoint
cmp -s "$work/auto.han" "$work/auto2.han" && ok || fail "the same command and seed should give the same model file"
"$han" inspect "$work/auto.han" --json > "$work/auto.json"
"$han" -q train "$corpus" -o "$work/mine.han" "${small[@]}" --min-count 3 --set train.pretrain_epochs=2
"$han" inspect "$work/mine.han" --json > "$work/mine.json"
"$han" -q train "$corpus" -o "$work/plain.han" "${small[@]}" --no-auto
"$han" inspect "$work/plain.han" --json > "$work/plain.json"
check "automatic choices in the model file" "
import json
auto, mine, plain = (json.load(open('$work/' + n + '.json')) for n in ('auto', 'mine', 'plain'))
chosen = {c['key']: c['value'] for c in auto['choices']}
assert chosen['train.min_count'] == 2 and chosen['train.pretrain_epochs'] == 20, chosen
assert all(c['reason'] for c in auto['choices'])
assert auto['config']['train']['pretrain_epochs'] == 20
keys = {c['key'] for c in mine['choices']}
assert 'train.min_count' not in keys and 'train.pretrain_epochs' not in keys, keys
assert mine['config']['train']['min_count'] == 3 and mine['config']['train']['pretrain_epochs'] == 2
assert plain['choices'] == [] and plain['config']['train']['pretrain_epochs'] == 0
"
expect 0 "chosen by han train" -- "$han" inspect "$work/auto.han"

# Tokenized corpora: from the text, from the cache and from a prepared file, the same model.
export HAN_CACHE_DIR=$work/cache
expect 0 "cached the tokenized corpus in $work/cache/" -- "$han" train "$corpus" -o "$work/c1.han" "${small[@]}" \
  --seed 4 --no-checkpoint
expect 0 "from the cache" -- "$han" train "$corpus" -o "$work/c2.han" "${small[@]}" --seed 4 --no-checkpoint
cmp -s "$work/auto.han" "$work/c2.han" && ok || fail "the cached corpus should train the model the text trains"
expect 0 "wrote $work/p.hanc: 800 documents" -- "$han" prepare "$corpus" -o "$work/p.hanc"
expect 0 "saved" -- "$han" train "$work/p.hanc" -o "$work/c3.han" "${small[@]}" --seed 4 --no-checkpoint
"$han" inspect "$work/c3.han" --json > "$work/c3.json"
check "a prepared corpus trains the model its text trains" "
import json
a, b = (json.load(open('$work/' + n + '.json')) for n in ('auto', 'c3'))
assert a['choices'] == b['choices'] and a['config'] == b['config'] and a['parameters'] == b['parameters']
"
expect 1 "text.max_words 50 here, 100 in the file" -- "$han" train "$work/p.hanc" -o "$work/c4.han" --max-words 50
expect 2 "is prepared already" -- "$han" prepare "$work/p.hanc" -o "$work/q.hanc"
expect 1 "is a prepared corpus (han prepare): only han train reads it" -- "$han" evaluate "$work/m.han" "$work/p.hanc"
expect 1 "is a prepared corpus (han prepare)" -- "$han" classify "$work/m.han" "$work/p.hanc"
expect 1 "is a prepared corpus (han prepare)" -- "$han" embed "$work/p.hanc" -o "$work/p.vec"
expect 1 "exists and is not a prepared corpus" -- "$han" prepare "$corpus" -o "$work/m.han"
expect 1 "other reader options" -- "$han" train "$work/p.hanc" -o "$work/c7.han" --text-field body
expect 2 "--output is required" -- "$han" prepare "$corpus"
expect 1 "would destroy" -- "$han" prepare "$corpus" -o "$corpus"
python3 -c "
import sys; p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[len(b) // 2] ^= 1; open(p, 'wb').write(b)" "$work/p.hanc"
expect 1 "damaged prepared corpus" -- "$han" train "$work/p.hanc" -o "$work/c5.han" "${small[@]}"
rm -rf "$work/cache"
"$han" -q train "$corpus" -o "$work/c6.han" "${small[@]}" --no-cache --no-checkpoint
[ -e "$work/cache" ] && fail "--no-cache wrote a cache" || ok

# One run per output: a second train on the same -o is refused while the
# first runs; a killed run leaves a lock file that blocks nothing.
"$han" -q --threads 1 train "$corpus" -o "$work/locked.han" --epochs 500 --no-auto --no-checkpoint > /dev/null 2>&1 &
first=$!
for _ in $(seq 100); do [ -e "$work/locked.han.lock" ] && break; sleep 0.1; done
expect 1 "another han run is writing it now" -- "$han" train "$corpus" -o "$work/locked.han" "${small[@]}"
kill -9 "$first"; wait "$first" 2> /dev/null
expect 0 "saved" -- "$han" -q train "$corpus" -o "$work/locked.han" "${small[@]}"
[ -e "$work/locked.han.lock" ] && fail "a finished run left its lock file" || ok

# An empty document gets no label; what the caps cut is reported.
printf '' | "$han" classify "$work/m.han" - > "$work/empty.tsv" 2> "$work/empty.err"
[ "$(cat "$work/empty.tsv")" = "<stdin>"$'\t\t' ] && grep -q "1 empty document got no label" "$work/empty.err" && ok \
  || fail "empty document: $(cat -A "$work/empty.tsv") $(cat "$work/empty.err")"
python3 -c "print('The crew leaves the harbour. ' * 100)" > "$work/long.txt"
"$han" -q classify "$work/m.han" "$work/long.txt" "$work/two.txt" --json > "$work/cut.json"
check "classify --json says what was cut" "
import json
rows = [json.loads(l) for l in open('$work/cut.json')]
assert rows[0]['truncated']['sentences'] == 36 and rows[0]['labels'], rows[0]
assert 'truncated' not in rows[1] and 'empty' not in rows[1], rows[1]
"
# A file far past max_bytes is read only up to the cap; the rest is counted,
# also through gzip and a pipe, and a cut inside a character is not repaired.
python3 -c "
import gzip
# The read stops 8 bytes past the 1 MB cap, inside this é.
text = ('The crew leaves the harbour. ' * 40000).encode()[:1048583] + 'é'.encode() + b' More text.' * 200000
open('$work/huge.txt', 'wb').write(text)
gzip.open('$work/huge.txt.gz', 'wb').write(text)
print(len(text), file=open('$work/huge.size', 'w'))
"
for input in "$work/huge.txt" "$work/huge.txt.gz" -; do
  "$han" classify "$work/m.han" "$input" --json < "$work/huge.txt" > "$work/huge.json" 2> "$work/huge.err"
  check "a huge file ($input): bytes past max_bytes counted" "
import json
row = json.loads(open('$work/huge.json').read())
assert row['truncated']['bytes'] == int(open('$work/huge.size').read()) - 1048576, row
assert 'invalid' not in open('$work/huge.err').read(), open('$work/huge.err').read()
assert 'bytes from 1 documents' in open('$work/huge.err').read(), open('$work/huge.err').read()
"
done

# Global options after the verb; misspellings name the nearest spelling.
expect 0 "two.txt:1"$'\t'"comedy" -- "$han" classify "$work/m.han" "$work/two.txt" --lines -q --threads 1
expect 2 "trian is not a command; did you mean han train?" -- "$han" trian "$corpus"
expect 2 "--epoch is not an option; did you mean --epochs?" -- "$han" train "$corpus" --epoch 3
expect 2 "--thread is not an option; did you mean --threads?" -- "$han" --thread 2 inspect "$work/m.han"

# Unbalanced classes: 6 horror documents against all the others.
python3 -c "
import json
horror = 0
with open('$work/unbalanced.jsonl', 'w') as out:
    for line in open('$corpus'):
        d = json.loads(line)
        horror += d['label'] == 'horror'
        if d['label'] != 'horror' or horror <= 6:
            out.write(line)
"
expect 0 "warning: a class has training documents under 10: horror (6)" -- "$han" -q train "$work/unbalanced.jsonl" \
  -o "$work/unbalanced.han" "${small[@]}"
# A class of under 10 documents stays whole in training: none held out.
expect 0 "warning: validation documents under 2: horror (0)" -- "$han" -q train "$work/unbalanced.jsonl" \
  -o "$work/unbalanced.han" "${small[@]}"
"$han" inspect "$work/unbalanced.han" --json > "$work/unbalanced.json"
check "balanced class weights chosen and stored" "
import json
m = json.load(open('$work/unbalanced.json'))
chosen = {c['key']: c['value'] for c in m['choices']}
assert chosen['train.class_weights'] == 'balanced' and chosen['train.select_by'] == 'macro_f1', chosen
w = m['class_weights']
assert set(w) == {'comedy', 'horror', 'romance'} and w['horror'] > 10 * w['comedy'], w
"
printf '{"horror": 4}' > "$work/weights.json"
expect 0 "class weights ($work/weights.json): comedy 1, horror 4, romance 1" -- "$han" train "$work/unbalanced.jsonl" \
  -o "$work/weighted.han" "${small[@]}" --class-weights "$work/weights.json" --select-by loss
expect 1 "label 'drama' is not in the training data" -- "$han" train "$work/unbalanced.jsonl" -o "$work/bad.han" \
  "${small[@]}" --class-weights <(printf '{"drama": 2}')
expect 1 "give none, balanced" -- "$han" train "$work/unbalanced.jsonl" -o "$work/bad.han" "${small[@]}" \
  --class-weights balance
expect 2 "must be accuracy, macro_f1 or loss" -- "$han" train "$work/unbalanced.jsonl" -o "$work/bad.han" --select-by f1
expect 0 '"embedding_dim": 200' -- "$han" train --dump-config -c "$(dirname "$0")/../configs/han-paper.json"
expect 0 '"learning_rate": 0.02' -- "$han" train --dump-config --lr 0.02
expect 0 "Examples" -- "$han" train --help

# --join-lines: a model keeps its line-break reading, so explain sees whole sentences
expect 0 '"join_lines": true' -- "$han" train --dump-config --join-lines
expect 0 "saved" -- "$han" -q train "$corpus" -o "$work/joined.han" --epochs 1 --set model.embedding_dim=16 \
  --set model.word_hidden=8 --set model.sentence_hidden=8 --min-count 2 --join-lines
printf 'The whole film was\nreally creepy.\n\nI found it sweet.\n' > "$work/wrapped.txt"
"$han" -q explain "$work/joined.han" "$work/wrapped.txt" > "$work/joined.json"
"$han" -q explain "$work/m.han" "$work/wrapped.txt" > "$work/by-line.json"
check "explain with a --join-lines model" "
import json
joined = json.load(open('$work/joined.json'))
by_line = json.load(open('$work/by-line.json'))
assert [s['text'] for s in joined['sentences']] == ['The whole film was really creepy.', 'I found it sweet.'], joined['sentences']
assert len(by_line['sentences']) == 3, by_line['sentences']
assert joined['sentences'][0]['span'] == [0, 33]
"

# --- embed: word vectors from raw text, then used by train -------------------------
printf 'A quiet film about a lighthouse keeper.\nThe keeper writes letters to the sea.\n' > "$work/plain.txt"
expect 0 "wrote $work/vec.txt" -- "$han" -q --threads 1 embed "$corpus" "$work/plain.txt" -o "$work/vec.txt" \
  --dim 32 --epochs 2 --min-count 2 --neighbours film,Keeper,zzzunseen --top 3
check "embed writes the word2vec text format" "
lines = open('$work/vec.txt').read().splitlines()
words, dim = map(int, lines[0].split())
assert dim == 32 and words == len(lines) - 1 and words > 50, (words, dim)
for line in lines[1:]:
    parts = line.split(' ')
    assert len(parts) == 33, line
    [float(v) for v in parts[1:]]
assert len({l.split(' ')[0] for l in lines[1:]}) == words  # no duplicates
"
"$han" -q --threads 1 embed "$corpus" -o "$work/vec.txt" --dim 32 --epochs 1 --min-count 2 \
  --neighbours Film,zzzunseen --top 3 > "$work/embed.out"
grep -q '^Film: [^ ]* ([0-9.-]*) [^ ]* ([0-9.-]*) [^ ]* ([0-9.-]*)$' "$work/embed.out" && ok || fail "neighbours line: $(cat "$work/embed.out")"
grep -q '^zzzunseen: not in the vocabulary$' "$work/embed.out" && ok || fail "unknown word line"
"$han" -q --threads 1 embed "$corpus" -o "$work/again.txt" --dim 32 --epochs 1 --min-count 2 > /dev/null
cmp -s "$work/vec.txt" "$work/again.txt" && ok || fail "one thread and the default seed should give the same vectors"
expect 0 "word2vec binary" -- "$han" -q embed "$corpus" -o "$work/vec.bin" --binary --dim 32 --epochs 1 --min-count 2
expect 0 "vocabulary words found" -- "$han" train "$corpus" -o "$work/vec.han" --epochs 1 \
  --set model.embedding_dim=32 --set model.word_hidden=8 --set model.sentence_hidden=8 --min-count 2 \
  --embeddings "$work/vec.bin"
expect 1 "dimension" -- "$han" -q train "$corpus" -o "$work/vec.han" --epochs 1 --embeddings "$work/vec.txt"
expect 2 "--dim must be" -- "$han" embed "$corpus" --dim 0
expect 2 "--sample must be" -- "$han" embed "$corpus" --sample 2
expect 2 "inputs is required" -- "$han" embed
expect 1 "does not exist" -- "$han" embed "$corpus" -o "$work/no/such/folder/v.vec"
expect 1 "lower --min-count" -- "$han" -q embed "$work/plain.txt" -o "$work/v.vec" --min-count 100
expect 1 "no-corpus.txt: no such file" -- "$han" embed "$work/no-corpus.txt"

# --- bad input: one clear line, the right exit code, no stack trace ---------------
expect 2 "" -- "$han"
expect 2 "nonsense" -- "$han" nonsense
expect 1 "no-such-dir: no such file or folder" -- "$han" train "$work/no-such-dir" -o "$work/x.han"
expect 1 "does not exist" -- "$han" train "$corpus" -o "$work/missing/x.han"
expect 2 "sgd, adam or lazy_adam" -- "$han" train "$corpus" -o "$work/x.han" --optimizer rmsprop
# An output that is one of the inputs, by any name (a symbolic or a hard link), is refused before any work.
cp "$corpus" "$work/victim.jsonl"
expect 1 "is also an input" -- "$han" -q train "$work/victim.jsonl" -o "$work/victim.jsonl" --epochs 1
ln -s "$work/victim.jsonl" "$work/symlink.jsonl"
expect 1 "is also an input" -- "$han" -q train "$work/victim.jsonl" -o "$work/symlink.jsonl" --epochs 1
ln "$work/victim.jsonl" "$work/hardlink.txt"
expect 1 "is also an input" -- "$han" -q train "$work/victim.jsonl" -o "$work/v.han" --metrics "$work/hardlink.txt"
cmp -s "$corpus" "$work/victim.jsonl" && ok || fail "train -o CORPUS changed the corpus"
[ ! -e "$work/v.han" ] && ok || fail "a refused run wrote a model"
cp "$work/two.txt" "$work/three.txt"
expect 1 "is also an input" -- "$han" -q explain "$work/m.han" "$work/three.txt" -o "$work/three.txt"
expect 1 "is also an input" -- "$han" -q explain "$work/m.han" "$work/three.txt" --html "$work/m.han"
expect 1 "is also an input" -- "$han" -q evaluate "$work/m.han" "$work/victim.jsonl" --html "$work/victim.jsonl"
expect 1 "is also an input" -- "$han" -q embed "$work/three.txt" -o "$work/three.txt"
cmp -s "$work/two.txt" "$work/three.txt" && ok || fail "explain or embed -o INPUT changed the input"
# Written files get the umask's mode, a replaced file keeps its own, and no temporary file stays.
(umask 077 && "$han" -q embed "$corpus" -o "$work/private.vec" --dim 8 --epochs 1 > /dev/null)
[ "$(stat -c %a "$work/private.vec")" = 600 ] && ok || fail "umask 077: mode $(stat -c %a "$work/private.vec"), expected 600"
chmod 640 "$work/private.vec"
"$han" -q embed "$corpus" -o "$work/private.vec" --dim 8 --epochs 1 > /dev/null
[ "$(stat -c %a "$work/private.vec")" = 640 ] && ok || fail "a replaced file's mode became $(stat -c %a "$work/private.vec")"
find "$work" -name '.*.tmp.*' | grep -q . && fail "temporary files left: $(find "$work" -name '.*.tmp.*')" || ok
expect 2 "--set expects section.key=value" -- "$han" train "$corpus" --set epochs
expect 2 "unknown key train.epoch" -- "$han" train "$corpus" --set train.epoch=3
expect 2 "auto, folder, csv" -- "$han" train "$corpus" --format xml
expect 2 "train.word_dropout must be in [0, 1)" -- "$han" train "$corpus" -o "$work/x.han" --word-dropout 1
expect 2 "train.sentence_dropout must be in [0, 1)" -- "$han" train "$corpus" -o "$work/x.han" --sentence-dropout 1.5
expect 2 "give vectors with --embeddings FILE" -- "$han" train "$corpus" -o "$work/x.han" --no-auto \
  -c "$(dirname "$0")/../configs/20news.json"
# Unlabeled text for the word vectors: a folder of files, read and counted; mistakes named.
mkdir -p "$work/unsup"
for k in 1 2 3; do printf 'An unlabeled note about a numbat, number %s.\nThe numbat is here again.\n' "$k" > "$work/unsup/$k.txt"; done
expect 0 "unlabeled text $work/unsup: 3 documents" -- "$han" train "$corpus" -o "$work/unl.han" "${small[@]}" \
  --unlabeled "$work/unsup" --no-checkpoint
expect 0 "only in the unlabeled text" -- "$han" train "$corpus" -o "$work/unl.han" "${small[@]}" \
  --unlabeled "$work/unsup" --no-checkpoint
expect 0 "word vectors also from 3 unlabeled documents" -- "$han" inspect "$work/unl.han"
# Unlabeled text in the training file's layout reads with its --delimiter and --text-field.
printf 'id;stars;review\n' > "$work/semi.csv"
printf 'id;review\n' > "$work/semi-unlabeled.csv"
for k in $(seq 1 40); do
  printf '%s;pos;A wonderful bright film, number %s.\n%s;neg;A dull grey film, number %s.\n' "$k" "$k" "$k" "$k" >> "$work/semi.csv"
  printf '%s;Another film about a numbat number %s.\n' "$k" "$k" >> "$work/semi-unlabeled.csv"
done
expect 0 "unlabeled text $work/semi-unlabeled.csv: 40 documents" -- "$han" train "$work/semi.csv" -o "$work/semi.han" \
  "${small[@]}" --delimiter ';' --text-field review --label-field stars --unlabeled "$work/semi-unlabeled.csv" --no-checkpoint
# In another layout its columns are guessed, as han embed does; when that fails too, both ways are named.
tr ';' ',' < "$work/semi-unlabeled.csv" > "$work/comma-unlabeled.csv"
expect 0 "read with its columns guessed" -- "$han" train "$work/semi.csv" -o "$work/semi.han" "${small[@]}" \
  --delimiter ';' --text-field review --label-field stars --unlabeled "$work/comma-unlabeled.csv" --no-checkpoint
sed '1s/review/note/' "$work/comma-unlabeled.csv" > "$work/note-unlabeled.csv"
expect 1 "read with the training corpus's --text-field, --delimiter" -- "$han" train "$work/semi.csv" -o "$work/semi.han" \
  "${small[@]}" --delimiter ';' --text-field review --label-field stars --unlabeled "$work/note-unlabeled.csv" \
  --no-checkpoint
expect 1 "cannot open the unlabeled text" -- "$han" train "$corpus" -o "$work/x.han" --unlabeled "$work/nowhere"
expect 2 "train.pretrain_epochs is 0" -- "$han" train "$corpus" -o "$work/x.han" --no-auto --unlabeled "$work/unsup"
expect 2 "drop one" -- "$han" train "$corpus" -o "$work/x.han" --unlabeled "$work/unsup" --embeddings "$work/unsup/1.txt"
expect 1 "is also an input" -- "$han" train "$corpus" -o "$work/unsup/1.txt" --unlabeled "$work/unsup/1.txt"
expect 2 "where the next run would read it as text" -- "$han" train "$corpus" -o "$work/unsup/m.han" --unlabeled "$work/unsup"
[ ! -e "$work/unsup/m.han" ] && [ ! -e "$work/unsup/m.han.lock" ] && ok || fail "a refused run wrote into the unlabeled folder"
expect 1 "must be a file or a folder" -- "$han" train "$corpus" -o "$work/x.han" --unlabeled /dev/null

printf '{"text": "fine", "label": "a"}\nnot json at all\n' > "$work/bad.jsonl"
expect 1 "bad.jsonl:2" -- "$han" train "$work/bad.jsonl" -o "$work/x.han"
printf '{"text": 5, "label": "a"}\n' > "$work/type.jsonl"
expect 1 "type.jsonl:1" -- "$han" train "$work/type.jsonl" -o "$work/x.han"
printf 'label,text\npos,"never closed\n' > "$work/quote.csv"
expect 1 "quote.csv:2" -- "$han" train "$work/quote.csv" -o "$work/x.han"
printf 'stars,body\n1,hello\n' > "$work/cols.csv"
expect 1 "stars" -- "$han" train "$work/cols.csv" -o "$work/x.han"
expect 1 "nope" -- "$han" train "$work/cols.csv" -o "$work/x.han" --text-field nope
printf '__label__a fine\nno label here\n' > "$work/ft.txt"
expect 1 "ft.txt:2" -- "$han" train "$work/ft.txt" -o "$work/x.han"
: > "$work/empty.csv"
expect 1 "empty.csv" -- "$han" train "$work/empty.csv" -o "$work/x.han"
printf '{"text": "only one", "label": "a"}\n{"text": "label here", "label": "a"}\n' > "$work/one.jsonl"
expect 1 "at least 2 labels" -- "$han" train "$work/one.jsonl" -o "$work/x.han"
printf '{"text": "The ending was dull.", "label": "neutral"}\n' > "$work/unseen.jsonl"
expect 1 "label 'neutral' is not one the model knows" -- "$han" evaluate "$work/m.han" "$work/unseen.jsonl"

expect 1 "not a han model file" -- "$han" classify "$corpus" "$work/two.txt"
head -c 5000 "$work/m.han" > "$work/truncated.han"
expect 1 "truncated" -- "$han" inspect "$work/truncated.han"
cp "$work/m.han" "$work/flipped.han"
printf '\xff' | dd of="$work/flipped.han" bs=1 seek=3000 conv=notrunc status=none
expect 1 "damaged" -- "$han" inspect "$work/flipped.han"
cp "$work/m.han" "$work/future.han"
printf '\x09' | dd of="$work/future.han" bs=1 seek=8 conv=notrunc status=none
expect 1 "format version 9 is not supported" -- "$han" inspect "$work/future.han"
expect 1 "no-model.han: cannot open" -- "$han" inspect "$work/no-model.han"
expect 1 "no-input.txt" -- "$han" classify "$work/m.han" "$work/no-input.txt"

printf 'bad \xff\xfe bytes. Still a review.\n' > "$work/latin.txt"
expect 0 "invalid UTF-8" -- "$han" classify "$work/m.han" "$work/latin.txt"

# --- bench: every phase reports plausible figures, as JSON programs can read --------
small=(--documents 48 --inference-documents 40 --latency-documents 5 --vocabulary 500 --labels 3
       --set model.embedding_dim=16 --set model.word_hidden=8 --set model.sentence_hidden=8
       --set model.word_attention=8 --set model.sentence_attention=8)
for engine in fused reference; do
  if "$han" -q --threads 2 bench "${small[@]}" --engine "$engine" --json > "$work/bench-$engine.json" 2> "$work/bench.err"; then
    check "bench $engine JSON" "
import json
r = json.load(open('$work/bench-$engine.json'))
assert r['engine'] == '$engine' and r['threads'] == 2
assert r['synthetic']['documents'] == 48 and r['synthetic']['vocabulary'] == 500
assert 5 <= r['tokens_per_document'] / 15 <= 40, r['tokens_per_document']  # 5-25 sentences of 5-40 words
assert len(r['matmul']) == 4 and all(m['gflops'] > 0 for m in r['matmul'])
assert r['inference']['documents'] == 40 and r['inference']['docs_per_second'] > 0
assert r['latency']['documents'] == 5 and 0 < r['latency']['median_ms'] <= r['latency']['p90_ms']
assert len(r['training']['runs']) == 1 and r['training']['median_docs_per_second'] > 0
assert r['peak_rss_mib'] >= r['peak_rss_mib_inference'] > 0
import os
blas, core = r['blas'], os.environ.get('OPENBLAS_CORETYPE', '')
assert blas == '' or (blas.startswith('OpenBLAS 0.') and blas.endswith(' kernels')), blas
assert not (blas and core) or core.lower() in blas.lower(), (blas, core)  # the kernels OpenBLAS was told to run
"
  else
    fail "bench --engine $engine: $(cat "$work/bench.err")"
  fi
done
expect 0 "training" -- "$han" -q bench "${small[@]}" --phases training,latency
expect 2 "unknown benchmark phase 'speed'" -- "$han" -q bench --phases speed
expect 2 "train.engine must be fused or reference" -- "$han" -q bench --engine fast
expect 0 "" -- "$han" -q bench --documents 7 --write-documents "$work/docs.jsonl"
check "bench --write-documents" "
import json
docs = [json.loads(l) for l in open('$work/docs.jsonl')]
assert len(docs) == 7
for d in docs:
    assert 5 <= len(d['sentences']) <= 25 and all(5 <= len(s) <= 40 for s in d['sentences'])
    assert all(2 <= w < 30000 for s in d['sentences'] for w in s) and d['label'] in (0, 1)
"
expect 1 "does not exist" -- "$han" -q bench --write-documents "$work/missing/docs.jsonl"
expect 1 "no-corpus" -- "$han" -q bench --corpus "$work/no-corpus" --phases matmul


# --- the model remembers the corpus fields it was trained on ---------------------
python3 -c "
import csv, json
rows = [json.loads(l) for l in open('$corpus')]
with open('$work/fields.csv', 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['body', 'cat', 'note'])
    for r in rows:
        w.writerow([r['text'], r['label'], 'x'])
"
expect 0 "saved" -- "$han" -q train "$work/fields.csv" -o "$work/fields.han" --text-field body --label-field cat \
  --epochs 1 --no-auto --set model.embedding_dim=16 --set model.word_hidden=8 --set model.sentence_hidden=8
expect 0 "reading the field 'cat' as the model was trained" -- "$han" evaluate "$work/fields.han" "$work/fields.csv"
expect 0 '"fields":{"label_field":"cat","text_field":"body"}' -- "$han" inspect "$work/fields.han" --json
expect 1 "label 'x' is not one the model knows" -- "$han" -q evaluate "$work/fields.han" "$work/fields.csv" --label-field note

# --- --init: a warm start from a model ---------------------------------------------
expect 0 "starting from $work/fields.han" -- "$han" train "$work/fields.csv" --init "$work/fields.han" -o "$work/warm.han" \
  --epochs 1 --set train.learning_rate=1e-12 --set train.average=0 --no-checkpoint
"$han" -q classify "$work/fields.han" "$work/two.txt" --lines --top-k 3 > "$work/cold.tsv"
"$han" -q classify "$work/warm.han" "$work/two.txt" --lines --top-k 3 > "$work/warm.tsv"
cmp -s "$work/cold.tsv" "$work/warm.tsv" && ok || fail "--init with a learning rate of ~0 should keep the model's predictions"
expect 2 "model.word_hidden (9 here, 8 in the model)" -- "$han" train "$work/fields.csv" --init "$work/fields.han" \
  -o "$work/warm2.han" --set model.word_hidden=9
expect 1 "is also an input" -- "$han" train "$work/fields.csv" --init "$work/fields.han" -o "$work/fields.han"
printf 'body,cat\nsome text,western\n' > "$work/western.csv"
expect 1 "label 'western' is not one of the model's" -- "$han" train "$work/western.csv" --init "$work/fields.han" -o "$work/w.han"
expect 2 "give one" -- "$han" train "$work/fields.csv" --init "$work/fields.han" -o "$work/warm3.han" --resume "$work/x.ckpt"

# --- classify and explain read corpus files record by record ------------------------
expect 0 "" -- "$han" -q classify "$work/fields.han" "$work/fields.csv"
[ "$("$han" -q classify "$work/fields.han" "$work/fields.csv" | wc -l)" -eq "$(wc -l < "$corpus")" ] && ok \
  || fail "classify of a CSV should give one line a record"
[ "$("$han" -q classify "$work/fields.han" "$work/fields.csv" | head -1 | cut -f1)" = "$work/fields.csv:2" ] && ok \
  || fail "classify of a CSV should name each record by its line"
[ "$("$han" -q classify "$work/fields.han" "$work/fields.csv" --format text | wc -l)" -eq 1 ] && ok \
  || fail "--format text should read the CSV as one document"
[ "$(head -3 "$corpus" | "$han" -q explain "$work/fields.han" - --format jsonl --text-field text | wc -l)" -eq 3 ] && ok \
  || fail "explain - --format jsonl should read stdin record by record"
expect 1 'missing field "nope"' -- "$han" -q classify "$work/fields.han" "$corpus" --text-field nope
expect 2 "--format xml: expected auto, text" -- "$han" -q classify "$work/fields.han" "$corpus" --format xml

# --- predictions written where the data is: -o in the input's own format --------
printf 'id,body,cat\n7,"A witty comedy, ""truly"" funny.",x\n8,"",x\n' > "$work/pred.csv"
expect 0 "wrote 2 records" -- "$han" classify "$work/fields.han" "$work/pred.csv" -o "$work/pred.out.csv" --top-k 2
check "classify -o keeps the CSV and adds the prediction columns" "
import csv
rows = list(csv.reader(open('$work/pred.out.csv', newline='')))
assert rows[0] == ['id', 'body', 'cat', 'predicted_label', 'probability', 'predicted_label_2', 'probability_2'], rows[0]
assert rows[1][:3] == ['7', 'A witty comedy, \"truly\" funny.', 'x'], rows[1]
assert rows[1][3] and rows[1][5] and rows[1][3] != rows[1][5] and 0 < float(rows[1][4]) <= 1, rows[1]
assert float(rows[1][4]) >= float(rows[1][6]), rows[1]
assert rows[2][3:] == ['', '', '', ''], rows[2]  # an empty document gets no label
assert len(rows) == 3
"
expect 1 'already has a "predicted_label" column' -- "$han" classify "$work/fields.han" "$work/pred.out.csv" -o "$work/again.csv"
expect 2 "name the output after its format" -- "$han" classify "$work/fields.han" "$work/pred.csv" -o "$work/pred.jsonl"
expect 1 "is also an input" -- "$han" classify "$work/fields.han" "$work/pred.csv" -o "$work/pred.csv"
printf '{"z": 1.50, "text": "A witty comedy.", "id": "a"}\n\n{}\n' > "$work/pred.jsonl"
expect 1 'pred.jsonl:3: missing field "text"' -- "$han" classify "$work/fields.han" "$work/pred.jsonl" -o "$work/pred.out.jsonl" --text-field text
[ ! -e "$work/pred.out.jsonl" ] && ok || fail "a failed classify -o should leave no output"
printf '{"z": 1.50, "text": "A witty comedy.", "id": "a"}\n\n{"text": ""}\n' > "$work/pred.jsonl"
expect 0 "wrote 2 records" -- "$han" classify "$work/fields.han" "$work/pred.jsonl" -o "$work/pred.out.jsonl" --text-field text
check "classify -o keeps JSON Lines records and their field order" "
import json, sys
sys.path.insert(0, '$tests')
from prediction_schema import check_prediction
lines = open('$work/pred.out.jsonl').read().splitlines()
assert lines[0].startswith('{\"z\": 1.50, \"text\": \"A witty comedy.\", \"id\": \"a\",\"prediction\":'), lines[0]
first, second = [json.loads(l) for l in lines]
assert first['prediction']['labels'][0]['label'] and 0 < first['prediction']['labels'][0]['probability'] <= 1, first
assert second['prediction'] == {'empty': True, 'labels': []}, second
check_prediction(first['prediction'], count=1)
"
expect 0 "(JSON Lines)" -- "$han" classify "$work/fields.han" "$work/two.txt" --lines -o "$work/two.out.jsonl"
check "classify -o of text files writes JSON Lines with the source" "
import json
rows = [json.loads(l) for l in open('$work/two.out.jsonl')]
assert [r['source'] for r in rows] == ['$work/two.txt:1', '$work/two.txt:2'], rows
"
expect 2 "name the output .jsonl" -- "$han" classify "$work/fields.han" "$work/two.txt" -o "$work/two.csv"

# --- evaluate --predictions --------------------------------------------------------
expect 0 "wrote the predictions of" -- "$han" evaluate "$work/fields.han" "$work/fields.csv" --predictions "$work/eval.jsonl" --json
"$han" -q evaluate "$work/fields.han" "$work/fields.csv" --json > "$work/eval.json"
check "evaluate --predictions agrees with the accuracy" "
import json, sys
sys.path.insert(0, '$tests')
from prediction_schema import check_prediction
rows = [json.loads(l) for l in open('$work/eval.jsonl')]
report = json.load(open('$work/eval.json'))
assert len(rows) == report['documents'], (len(rows), report['documents'])
assert abs(sum(r['correct'] for r in rows) / len(rows) - report['accuracy']) < 1e-9
for r in rows:
    assert r['correct'] == (r['labels'][0]['label'] == r['gold']) and len(r['labels']) >= 2, r
    assert abs(sum(l['probability'] for l in r['labels']) - 1) < 1e-4, r
    check_prediction(r, known_labels=report['labels'], count=len(report['labels']))
"

expect 2 "give two files" -- "$han" evaluate "$work/fields.han" "$work/fields.csv" --predictions "$work/same.out" --html "$work/./same.out"
expect 2 "the path is empty" -- "$han" evaluate "$work/fields.han" "$work/fields.csv" --predictions ""
expect 2 "the path is empty" -- "$han" classify "$work/fields.han" "$work/pred.csv" -o ""
expect 2 "expected a probability from 0 to 1" -- "$han" classify "$work/fields.han" "$work/pred.csv" --threshold 1.5
expect 2 "train.min_count (the vocabulary and vectors are the model's)" -- "$han" train "$work/fields.csv" \
  --init "$work/fields.han" -o "$work/warm4.han" --min-count 1
expect 2 "give one" -- "$han" train "$work/fields.csv" --init "$work/fields.han" -o "$work/warm5.han" --resume auto

# --- CSV without a header, other delimiters; TSV output escaping ------------------
python3 -c "
import json
rows = [json.loads(l) for l in open('$corpus')]
with open('$work/plain.txt', 'w') as f:
    for r in rows:
        f.write(r['label'] + '\t\"' + r['text'].replace('\n', ' ') + '\" she said\n')
with open('$work/semi.csv', 'w') as f:
    f.write('cat;body\n')
    for r in rows:
        f.write(r['label'] + ';\"' + r['text'].replace('\"', '\"\"') + '\"\n')
"
expect 0 "saved" -- "$han" -q train "$work/plain.txt" --no-header -o "$work/plain.han" --epochs 1 --no-auto \
  --set model.embedding_dim=16 --set model.word_hidden=8 --set model.sentence_hidden=8
expect 0 '"no_header":true' -- "$han" inspect "$work/plain.han" --json
expect 0 "documents" -- "$han" evaluate "$work/plain.han" "$work/plain.txt"
expect 0 "give --no-header" -- "$han" classify "$work/plain.han" "$work/fields.csv"
[ "$("$han" -q classify "$work/plain.han" "$work/plain.txt" --no-header | wc -l)" -eq "$(wc -l < "$corpus")" ] && ok \
  || fail "classify --no-header should give one line a record"
expect 0 "saved" -- "$han" -q train "$work/semi.csv" --delimiter ';' -o "$work/semi.han" --label-field cat --epochs 1 --no-auto \
  --set model.embedding_dim=16 --set model.word_hidden=8 --set model.sentence_hidden=8
expect 1 "cannot tell the text column" -- "$han" -q train "$work/semi.csv" -o "$work/semi2.han"
expect 2 "expected one character" -- "$han" -q train "$work/semi.csv" --delimiter ';;' -o "$work/semi2.han"
mkdir -p "$work/odd"
printf 'A witty comedy.' > "$work/odd/a"$'\t'"b.txt"
printf 'A witty comedy.' > "$work/odd/c"$'\xff'".txt"
"$han" -q classify "$work/fields.han" "$work/odd" > "$work/odd.tsv"
check "a tab in a file name is escaped in TSV" "
rows = [l.rstrip('\n').split('\t') for l in open('$work/odd.tsv', encoding='utf-8', errors='surrogateescape')]
assert len(rows) == 2 and all(len(r) == 3 for r in rows), rows
assert rows[0][0] == '$work/odd/a\\\\tb.txt', rows[0]
"
printf 'A witty comedy.' > "$work/odd/e"$'\x01'".txt"
[ "$("$han" -q classify "$work/fields.han" "$work/odd/e"$'\x01'".txt" | cut -f1)" = "$work/odd/e\\x01.txt" ] && ok \
  || fail "a control character in a file name should be written \\x01"
rm "$work/odd/e"$'\x01'".txt"
printf '{"text": "A film.", "label": "com\\tedy"}\n{"text": "Another film.", "label": "horror"}\n' > "$work/tab-label.jsonl"
expect 1 "tab-label.jsonl:1: the label holds a control character (byte 0x09" -- "$han" -q train "$work/tab-label.jsonl" -o "$work/tab.han"
"$han" -q classify "$work/fields.han" "$work/odd" --json > "$work/odd.jsonl"
check "a file name that is not UTF-8 still gives JSON" "
import json
rows = [json.loads(l) for l in open('$work/odd.jsonl')]
assert len(rows) == 2 and rows[1]['source'].endswith('c\ufffd.txt'), rows
"

# --- outputs that are not files are refused before any work ---------------------
mkfifo "$work/fifo"
expect 1 "is a device, FIFO or socket" -- "$han" -q train "$work/fields.csv" -o "$work/fifo" --text-field body --label-field cat
expect 1 "the output path is empty" -- "$han" -q train "$work/fields.csv" -o "" --text-field body --label-field cat
[ -p "$work/fifo" ] && ok || fail "the FIFO given as output was replaced"

# Multi-label: documents about one to three of four topics (our own word pools).
python3 - "$work" <<'PY'
import json, random, sys
work = sys.argv[1]
random.seed(3)
pools = {
    'sports': 'the team won the match with a late goal and the coach praised the players'.split(),
    'politics': 'the minister announced a new law and the parliament voted on the budget'.split(),
    'science': 'the researchers measured the cells and the experiment confirmed the theory'.split(),
    'weather': 'heavy rain and strong wind hit the coast while the temperature dropped'.split(),
}
def document(labels):
    sentences = [' '.join(random.choice(pools[l]) for _ in range(8)).capitalize() + '.' for l in labels for _ in range(2)]
    random.shuffle(sentences)
    return ' '.join(sentences)
with open(f'{work}/ml.jsonl', 'w') as train, open(f'{work}/ml-test.jsonl', 'w') as test, \
        open(f'{work}/ml.txt', 'w') as fasttext, open(f'{work}/ml.csv', 'w') as csv:
    csv.write('labels,text\n')
    for i in range(1000):
        labels = random.sample(list(pools), random.choice([1, 1, 2, 2, 3]))
        text = document(labels)
        (train if i < 800 else test).write(json.dumps({'text': text, 'labels': labels}) + '\n')
        if i < 300:
            fasttext.write(' '.join('__label__' + l for l in labels) + ' ' + text + '\n')
            csv.write('"%s",%s\n' % ('|'.join(labels), text))
PY
expect 0 "multi-label (documents carry several labels)" -- \
  "$han" train "$work/ml.jsonl" -o "$work/ml.han" --epochs 25 --threads 1
"$han" -q evaluate "$work/ml.han" "$work/ml-test.jsonl" --json > "$work/ml-eval.json"
check "multi-label evaluate --json" "
import json
r = json.load(open('$work/ml-eval.json'))
assert r['multi_label'] and r['documents'] == 200, r
assert r['micro']['f1'] >= 0.9 and r['macro']['f1'] >= 0.9, r['micro']
assert 0 <= r['hamming_loss'] <= 0.05 and r['example_f1'] >= 0.9 and r['recall_at_3'] >= 0.9, r
assert [l['label'] for l in r['labels']] == ['politics', 'science', 'sports', 'weather'], r['labels']
assert all(l['support'] > 0 for l in r['labels'])
"
expect 0 "example-based F1" -- "$han" -q evaluate "$work/ml.han" "$work/ml-test.jsonl"
"$han" -q evaluate "$work/ml.han" "$work/ml-test.jsonl" --predictions "$work/ml-pred.jsonl" > /dev/null
check "multi-label evaluate --predictions: gold and predicted sets, correct when equal" "
import json
gold = [json.loads(l)['labels'] for l in open('$work/ml-test.jsonl')]
rows = [json.loads(l) for l in open('$work/ml-pred.jsonl')]
assert len(rows) == 200
for g, r in zip(gold, rows):
    assert sorted(r['gold']) == sorted(g), (r['gold'], g)
    assert r['correct'] == (set(r['predicted']) == set(g)), r
    assert len(r['labels']) == 4 and set(r['predicted']) <= {x['label'] for x in r['labels']}
exact = json.load(open('$work/ml-eval.json'))['subset_accuracy']
assert abs(sum(r['correct'] for r in rows) / 200 - exact) < 1e-9, exact
"
# Every fifth test document gets a gold label it lacks: those the page must show.
python3 - "$work/ml-test.jsonl" "$work/ml-altered.jsonl" <<'EOF'
import json, sys
names = ['politics', 'science', 'sports', 'weather']
with open(sys.argv[2], 'w') as out:
    for i, line in enumerate(open(sys.argv[1])):
        row = json.loads(line)
        if i % 5 == 0:
            row['labels'].append(next(n for n in names if n not in row['labels']))
        out.write(json.dumps(row) + '\n')
EOF
expect 0 "wrote" -- "$han" evaluate "$work/ml.han" "$work/ml-altered.jsonl" --html "$work/ml.html" \
  --predictions "$work/ml-altered-pred.jsonl"
check "multi-label evaluate --html: the documents whose label set is wrong, gold and predicted as sets" "
import json, re
page = open('$work/ml.html').read()
docs = json.loads(re.search(r'<script type=\"application/json\" id=\"han-data\">(.*?)</script>', page, re.S).group(1))
rows = [json.loads(l) for l in open('$work/ml-altered-pred.jsonl')]
wrong = {r['source'] for r in rows if not r['correct']}
assert len(wrong) >= 40, len(wrong)  # the 40 altered ones at least
assert {d['source'] for d in docs} == wrong and len(docs) == len(wrong), (len(docs), len(wrong))
for d in docs:
    assert d['multi_label'] and isinstance(d['gold'], list) and d['correct'] is False, d
    assert set(d['gold']) != {p['label'] for p in d['predicted']}
assert 'label set is not the gold one' in page and 'most wrong labels first' in page
"
"$han" -q classify "$work/ml.han" "$work/ml-test.jsonl" --json > "$work/ml-classify.jsonl"
check "multi-label classify: every label over its threshold, and only those" "
import json
gold = [json.loads(l)['labels'] for l in open('$work/ml-test.jsonl')]
got = [json.loads(l) for l in open('$work/ml-classify.jsonl')]
exact = sum(sorted(g) == sorted(x['label'] for x in r['labels']) for g, r in zip(gold, got))
assert exact >= 0.8 * len(gold), exact
assert max(len(r['labels']) for r in got) >= 2
"
"$han" inspect "$work/ml.han" --json > "$work/ml-inspect.json"
check "the model file carries its thresholds" "
import json
m = json.load(open('$work/ml-inspect.json'))
assert m['config']['model']['multi_label'] is True
t = m['thresholds']
assert sorted(t) == ['politics', 'science', 'sports', 'weather'] and all(0 < v < 1 for v in t.values()), t
"
"$han" -q classify "$work/ml.han" "$work/ml-test.jsonl" --threshold 0.999999 --json > "$work/ml-strict.jsonl"
check "--threshold replaces the model's thresholds" "
import json
for l in open('$work/ml-strict.jsonl'):
    assert all(x['probability'] >= 0.999999 for x in json.loads(l)['labels'])
"
"$han" -q classify "$work/ml.han" "$work/ml-test.jsonl" --top-k 1 > "$work/ml-top1.tsv"
check "--top-k 1 prints one label" "
rows = [l.rstrip('\n').split('\t') for l in open('$work/ml-top1.tsv')]
assert len(rows) == 200 and all(len(r) == 3 for r in rows), rows[0]
"
head -2 "$work/ml-test.jsonl" > "$work/ml-two.jsonl"
"$han" -q explain "$work/ml.han" "$work/ml-two.jsonl" > "$work/ml-explain.jsonl"
check "multi-label explain: the labels classify chose, beside the one attention" "
import json
classified = [json.loads(l) for l in open('$work/ml-classify.jsonl')][:2]
for d, c in zip(map(json.loads, open('$work/ml-explain.jsonl')), classified):
    # Probabilities as close as batches of other sizes allow (their products sum in another order).
    assert d['multi_label'] is True, d
    assert [x['label'] for x in d['predicted']] == [x['label'] for x in c['labels']], (d['predicted'], c['labels'])
    assert all(abs(x['probability'] - y['probability']) < 1e-5 for x, y in zip(d['predicted'], c['labels']))
    assert abs(sum(s['weight'] for s in d['sentences']) - 1) < 1e-4
"
cp "$work/ml-test.jsonl" "$work/ml-in.jsonl"
head -5 "$work/ml.csv" > "$work/ml-in.csv"
"$han" -q classify "$work/ml.han" "$work/ml-in.csv" -o "$work/ml-out.csv"
check "multi-label classify -o CSV: predicted_labels joined by |" "
import csv
rows = list(csv.DictReader(open('$work/ml-out.csv')))
assert len(rows) == 4 and 'predicted_labels' in rows[0] and 'probabilities' in rows[0], rows[0].keys()
assert any('|' in r['predicted_labels'] for r in rows), rows
"
expect 0 "multi-label" -- "$han" train "$work/ml.txt" -o "$work/ml-ft.han" --epochs 2 --threads 1
expect 0 "multi-label" -- "$han" train "$work/ml.csv" -o "$work/ml-csv.han" --epochs 2 --threads 1 --label-separator '|'
expect 1 "but the model is single-label" -- "$han" -q evaluate "$work/m.han" "$work/ml-test.jsonl"
expect 0 "warning: no document carries several labels" -- "$han" -q train "$work/unbalanced.jsonl" --multi-label \
  -o "$work/one-label-multi.han" --epochs 1 --set model.embedding_dim=16 --set model.word_hidden=8 \
  --set model.sentence_hidden=8

# Folder corpora: a file in several class folders is one document only with
# --multi-label, and only when its bytes are the same in each.
python3 - "$work" <<'PY'
import json, os, sys
work = sys.argv[1]
for i, line in enumerate(open(f'{work}/ml.jsonl')):
    if i == 300:
        break
    doc = json.loads(line)
    for label in doc['labels']:
        os.makedirs(f'{work}/mlf/{label}', exist_ok=True)
        open(f'{work}/mlf/{label}/{i}.txt', 'w').write(doc['text'])
# The same name in two folders with different posts (as 20 Newsgroups has) stays two documents.
open(f'{work}/mlf/sports/reused.txt', 'w').write('The team won the match.')
open(f'{work}/mlf/weather/reused.txt', 'w').write('Heavy rain hit the coast.')
PY
files=$(find "$work/mlf" -type f | wc -l)
expect 0 "files identical to one in another class folder (--multi-label reads them" -- \
  "$han" train "$work/mlf" -o "$work/mlf-single.han" --epochs 1 --threads 1
"$han" train "$work/mlf" -o "$work/mlf.han" --epochs 2 --threads 1 --multi-label > "$work/mlf.out" 2>&1
check "--multi-label on a folder: identical copies are one document, same-named posts stay apart" "
import json, re
out = open('$work/mlf.out').read()
docs = [json.loads(l) for l in open('$work/ml.jsonl')][:300]
several = sum(len(d['labels']) > 1 for d in docs)
extra = sum(len(d['labels']) - 1 for d in docs)
m = re.search(r'read \\S+ \\(folder\\): (\\d+) documents, (\\d+) files also in another class folder', out)
assert m, out
assert int(m.group(1)) == 302 and int(m.group(2)) == extra == $files - 302, (m.groups(), extra)
assert f'{300 - several + 2} with 1 label' in out, out
"
expect 0 "files also in another class folder" -- "$han" evaluate "$work/mlf.han" "$work/mlf"
expect 0 "files also in another class folder" -- "$han" train "$work/mlf" -o "$work/mlf-set.han" --epochs 1 \
  --threads 1 --set model.multi_label=true

summary
