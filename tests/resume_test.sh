#!/usr/bin/env bash
# Interrupted training loses nothing: runs killed with SIGKILL at random
# moments and resumed end with a model file byte-identical to an uninterrupted
# run's; SIGINT and SIGTERM write a checkpoint and say how to resume; a write
# that fails leaves the previous checkpoint intact; divergence names the step.
#   tests/resume_test.sh PATH/TO/han
set -uo pipefail
han=${1:?usage: resume_test.sh PATH/TO/han}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"

"$han" -q demo -o "$work/demo" --documents 600 --epochs 1 > /dev/null || { echo "demo failed" >&2; exit 1; }
corpus=$work/demo/train.jsonl
# Deterministic mode: a seed and a fixed thread count.
settings=(--epochs 3 --batch-size 16 --seed 11 --lr 0.01 --min-count 2 --set model.embedding_dim=32
          --set model.word_hidden=16 --set model.sentence_hidden=16 --set model.word_attention=16
          --set model.sentence_attention=16)
run=("$han" -q --threads 2 train "$corpus" "${settings[@]}" --checkpoint-every 4)
# Background runs start han itself (not a subshell), so that $! is its pid.
train() { "${run[@]}" "$@"; }

start=$(date +%s%N)
train -o "$work/reference.han" > /dev/null || fail "uninterrupted run"
reference_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ -e "$work/reference.han.ckpt" ] && fail "the checkpoint should be removed once the model is saved" || ok

# --- SIGKILL at random moments, then --resume auto, until a run finishes -------
for trial in 1 2 3; do
  model=$work/killed-$trial.han
  kills=0
  while :; do
    "${run[@]}" -o "$model" --resume auto > "$work/run.log" 2>&1 &
    pid=$!
    # Somewhere between 5% and 85% of a whole run, so that kills land before,
    # between and after checkpoints.
    delay_ms=$(( reference_ms * (5 + RANDOM % 80) / 100 ))
    sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
    if kill -9 "$pid" 2> /dev/null; then
      wait "$pid" 2> /dev/null
      kills=$((kills + 1))
      [ "$kills" -lt 4 ] && continue
      train -o "$model" --resume auto > "$work/run.log" 2>&1 || { fail "final resume: $(cat "$work/run.log")"; break; }
    else
      wait "$pid" || { fail "run after $kills kills: $(cat "$work/run.log")"; break; }
    fi
    break
  done
  if cmp -s "$work/reference.han" "$model"; then ok; else fail "trial $trial: model after $kills kills differs from the reference"; fi
done

# --- with a moving average of the weights (train.average), kept in checkpoints too ----
train -o "$work/average.han" --average 0.9 > /dev/null 2>&1 || fail "run with --average"
cmp -s "$work/reference.han" "$work/average.han" && fail "--average 0.9 changed nothing" || ok
model=$work/average-killed.han
# Killed as soon as its first checkpoint exists, so the resume starts mid-run.
"${run[@]}" -o "$model" --average 0.9 > "$work/run.log" 2>&1 &
pid=$!
for _ in $(seq 1000); do [ -s "$model.ckpt" ] && break; sleep 0.01; done
kill -9 "$pid" 2> /dev/null
wait "$pid" 2> /dev/null
[ -s "$model.ckpt" ] && [ ! -e "$model" ] && ok || fail "--average: the run was not stopped after its first checkpoint"
train -o "$model" --average 0.9 --resume auto > "$work/run.log" 2>&1 || fail "resume with --average: $(cat "$work/run.log")"
cmp -s "$work/average.han" "$model" && ok || fail "resumed run with --average differs from the uninterrupted one"

# --- SIGINT and SIGTERM: checkpoint, message, exit 128+signal ---------------------
for signal in INT TERM; do
  model=$work/signal-$signal.han
  # Background jobs of a script ignore SIGINT unless job control is on; set -m gives them their own group.
  set -m
  "${run[@]}" -o "$model" > "$work/signal.log" 2>&1 &
  pid=$!
  set +m
  for _ in $(seq 200); do [ -s "$model.ckpt" ] && break; sleep 0.02; done
  kill -s "$signal" "$pid"
  wait "$pid"
  status=$?
  expected=$([ "$signal" = INT ] && echo 130 || echo 143)
  [ "$status" -eq "$expected" ] && ok || fail "SIG$signal: exit $status, expected $expected: $(cat "$work/signal.log")"
  grep -q "resume with: han train --resume $model.ckpt" "$work/signal.log" && ok || fail "SIG$signal message: $(cat "$work/signal.log")"
  no_crash "$(cat "$work/signal.log")" && ok || fail "SIG$signal: crash output"
  train -o "$model" --resume "$model.ckpt" > /dev/null 2>&1 || fail "resume after SIG$signal"
  cmp -s "$work/reference.han" "$model" && ok || fail "SIG$signal: resumed model differs from the reference"
done

# --- a failed checkpoint write leaves the previous checkpoint intact --------------
model=$work/full.han
set -m
"${run[@]}" -o "$model" > /dev/null 2>&1 &
pid=$!
set +m
for _ in $(seq 200); do [ -s "$model.ckpt" ] && break; sleep 0.02; done
kill -INT "$pid"; wait "$pid"
cp "$model.ckpt" "$work/saved.ckpt"
size_kb=$(( $(stat -c %s "$model.ckpt") / 1024 ))
# A file-size limit below the checkpoint's size makes the next write fail (EFBIG),
# as a full disk would (ENOSPC); SIGXFSZ is ignored so that write() reports it.
output=$( (trap '' XFSZ; ulimit -f $((size_kb / 2)); exec "$han" -q --threads 2 train --resume "$model.ckpt") 2>&1 )
status=$?
[ "$status" -eq 1 ] && ok || fail "failed write: exit $status, expected 1: $output"
[[ "$output" == *"$model.ckpt: cannot write"*"previous file is left as it was"* ]] && ok || fail "failed write message: $output"
cmp -s "$model.ckpt" "$work/saved.ckpt" && ok || fail "the previous checkpoint changed"
ls "$work"/.full.han.ckpt.tmp.* > /dev/null 2>&1 && fail "a temporary file was left behind" || ok
train -o "$model" --resume "$model.ckpt" > /dev/null 2>&1 || fail "resume after the failed write"
cmp -s "$work/reference.han" "$model" && ok || fail "model after the failed write differs from the reference"

# --- divergence names the step and keeps the last good checkpoint ----------------
output=$("$han" -q --threads 2 train "$corpus" -o "$work/nan.han" --epochs 2 --lr 1e30 --checkpoint-every 1 \
         --min-count 2 --set model.embedding_dim=32 2>&1)
status=$?
[ "$status" -eq 1 ] && ok || fail "divergence: exit $status, expected 1"
[[ "$output" == *"training diverged"*"at step "* ]] && ok || fail "divergence message: $output"
[ -e "$work/nan.han" ] && fail "a diverged run saved a model" || ok

# --- inspect reads a checkpoint ---------------------------------------------------
output=$("$han" inspect "$work/saved.ckpt" 2>&1); status=$?
[ "$status" -eq 0 ] && [[ "$output" == *"a training run, not a model: han train --resume $work/saved.ckpt"* ]] \
  && [[ "$output" == *"progress       epoch "* ]] && ok || fail "inspect of a checkpoint: $status $output"
"$han" inspect "$work/saved.ckpt" --json > "$work/inspect.json" 2>&1 \
  && python3 -c "
import json
d = json.load(open('$work/inspect.json'))
assert d['checkpoint']['epoch'] >= 1 and d['checkpoint']['run']['output'].endswith('.han'), d['checkpoint']
assert d['labels'] and d['vocabulary_size'] > 0
" && ok || fail "inspect --json of a checkpoint: $(cat "$work/inspect.json")"

# --- resume errors ---------------------------------------------------------------
output=$("$han" train --resume "$work/none.ckpt" 2>&1); status=$?
[ "$status" -eq 1 ] && [[ "$output" == *"none.ckpt: cannot open checkpoint"* ]] && ok || fail "missing checkpoint: $status $output"
output=$("$han" train --resume "$corpus" 2>&1); status=$?
[ "$status" -eq 1 ] && [[ "$output" == *"not a han checkpoint"* ]] && ok || fail "foreign checkpoint: $status $output"
output=$("$han" train "$corpus" --resume "$work/saved.ckpt" "${settings[@]}" --set model.word_hidden=7 2>&1); status=$?
[ "$status" -eq 2 ] && [[ "$output" == *"checkpoint's settings, but these differ: model.word_hidden (7 here, "* ]] && ok || fail "settings with --resume: $status $output"
# --epochs may change: a run continues longer.
cp "$work/saved.ckpt" "$work/longer.ckpt"
output=$("$han" -q train --resume "$work/longer.ckpt" --set train.epochs=4 -o "$work/longer.han" 2>&1); status=$?
[ "$status" -eq 0 ] && [[ "$output" == *"of 4"* ]] && ok || fail "--resume with more epochs: $status $output"
# A checkpoint from another folder does not decide which file is replaced.
mkdir -p "$work/elsewhere"
cp "$work/saved.ckpt" "$work/elsewhere/evil.ckpt"
before=$(cksum < "$model")
output=$("$han" train --resume "$work/elsewhere/evil.ckpt" 2>&1); status=$?
[ "$status" -eq 2 ] && [[ "$output" == *"outside the checkpoint's folder: say where with -o MODEL"* ]] && ok \
  || fail "checkpoint from elsewhere: $status $output"
[ "$(cksum < "$model")" = "$before" ] && ok || fail "a checkpoint from elsewhere changed $model"
head -c 2000 "$work/saved.ckpt" > "$work/cut.ckpt"
output=$("$han" train --resume "$work/cut.ckpt" 2>&1); status=$?
[ "$status" -eq 1 ] && [[ "$output" == *"damaged or truncated"* ]] && ok || fail "truncated checkpoint: $status $output"
printf 'label,text\nx,other corpus\ny,entirely\n' > "$work/other.csv"
output=$("$han" -q train "$work/other.csv" --resume "$work/saved.ckpt" -o "$work/o.han" 2>&1); status=$?
[ "$status" -eq 1 ] && [[ "$output" == *"not the one the checkpoint was trained on"* ]] && ok || fail "other corpus: $status $output"

summary
