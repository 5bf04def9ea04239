#!/usr/bin/env bash
# Data-parallel training over c10d Gloo on loopback, with the real binary:
# 2 ranks with per-rank batch B train the same weights as 1 process with
# batch 2B; torchrun's variables set by hand work like --nproc; a rank that
# dies, or never comes, stops the others with a clear error within the
# timeout; an interrupted 2-rank run resumes to the uninterrupted result;
# --device asks clearly for what this build lacks.
#   tests/distributed_test.sh PATH/TO/han
set -uo pipefail
han=${1:?usage: distributed_test.sh PATH/TO/han}
work=$(mktemp -d)
pids=()
trap 'kill -9 "${pids[@]}" 2> /dev/null; rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"

"$han" -q demo -o "$work/demo" --documents 600 --epochs 1 > /dev/null || { echo "demo failed" >&2; exit 1; }
corpus=$work/demo/train.jsonl
# Dropout on, so that masks must follow each document's place in the whole batch.
settings=(--epochs 3 --seed 11 --lr 0.01 --min-count 2 --dropout 0.3 --set model.embedding_dim=32
          --set model.word_hidden=16 --set model.sentence_hidden=16 --set model.word_attention=16
          --set model.sentence_attention=16)

# probabilities MODEL OUT: every training line's label probabilities, as JSON lines.
probabilities() { "$han" -q classify "$1" "$corpus" --lines --top-k 2 --json > "$2"; }
# same_outputs A B: equal within 1e-6, and not trivially (some probability strays from 0.5).
same_outputs() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 600, (len(a), len(b))
worst, spread = 0.0, 0.0
for x, y in zip(a, b):
    px = {l["label"]: l["probability"] for l in x["labels"]}
    py = {l["label"]: l["probability"] for l in y["labels"]}
    assert px.keys() == py.keys()
    for k in px:
        worst = max(worst, abs(px[k] - py[k]))
        spread = max(spread, abs(px[k] - 0.5))
print(f"largest difference {worst:.3g}")
sys.exit(0 if worst <= 1e-6 and spread > 0.2 else 1)
EOF
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- equivalence: 1 process, batch 16, 2 threads == 2 ranks, batch 8 each ------
"$han" -q --threads 2 train "$corpus" "${settings[@]}" --batch-size 16 --no-checkpoint -o "$work/one.han" \
  > /dev/null 2>&1 || fail "single-process run"
probabilities "$work/one.han" "$work/one.json"

output=$("$han" --threads 1 train "$corpus" "${settings[@]}" --batch-size 8 --nproc 2 --no-checkpoint \
  -o "$work/nproc.han" 2>&1)
status=$?
[ "$status" -eq 0 ] || fail "--nproc 2: exit $status"$'\n'"$output"
[[ "$output" == *"data-parallel: 2 ranks over c10d gloo, 16 documents a batch (8 each)"* ]] && ok \
  || fail "--nproc 2 does not say how it splits the batch"$'\n'"$output"
[ "$(grep -c 'epoch 1/3' <<< "$output")" -eq 1 ] && ok || fail "only rank 0 should report epochs"$'\n'"$output"
[ -e "$work/nproc.han.metrics.jsonl" ] && ok || fail "rank 0 writes the metrics log"
probabilities "$work/nproc.han" "$work/nproc.json"
same_outputs "$work/one.json" "$work/nproc.json" && ok || fail "--nproc 2 weights differ from one process with batch 16"

# The same by hand, as torchrun or several machines set the variables.
port=$(free_port)
for rank in 0 1; do
  RANK=$rank LOCAL_RANK=$rank WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    "$han" -q --threads 1 train "$corpus" "${settings[@]}" --batch-size 8 --no-checkpoint -o "$work/env.han" \
    > "$work/env-$rank.log" 2>&1 &
  pids+=($!)
done
wait "${pids[0]}" && wait "${pids[1]}" && ok || fail "ranks from the environment: $(cat "$work"/env-*.log)"
pids=()
probabilities "$work/env.han" "$work/env.json"
same_outputs "$work/one.json" "$work/env.json" && ok || fail "environment ranks' weights differ from one process"

# Multi-label: the demo's genre plus "house" where the text names one. Each rank
# scores the whole validation split; the result is still one process's.
python3 - "$corpus" "$work/multi.jsonl" <<'EOF'
import json, sys
with open(sys.argv[2], "w") as out:
    for line in open(sys.argv[1]):
        row = json.loads(line)
        labels = [row["label"]] + (["house"] if "house" in row["text"] else [])
        out.write(json.dumps({"text": row["text"], "labels": labels}) + "\n")
EOF
"$han" -q --threads 2 train "$work/multi.jsonl" "${settings[@]}" --batch-size 16 --no-checkpoint -o "$work/multi-one.han" \
  > /dev/null 2>&1 || fail "multi-label, single process"
output=$("$han" --threads 1 train "$work/multi.jsonl" "${settings[@]}" --batch-size 8 --nproc 2 --no-checkpoint \
  -o "$work/multi-two.han" 2>&1) && ok || fail "multi-label --nproc 2"$'\n'"$output"
[[ "$output" == *"micro-F1"* && "$output" == *"thresholds tuned on validation"* ]] && ok \
  || fail "multi-label --nproc 2 does not validate by micro-F1 or tune thresholds"$'\n'"$output"
"$han" -q classify "$work/multi-one.han" "$corpus" --lines --top-k 4 --json > "$work/multi-one.json"
"$han" -q classify "$work/multi-two.han" "$corpus" --lines --top-k 4 --json > "$work/multi-two.json"
same_outputs "$work/multi-one.json" "$work/multi-two.json" && ok \
  || fail "multi-label --nproc 2 weights differ from one process with batch 16"

# Under torchrun (python3-torch's), whose agent serves the store itself. Debian's torchrun
# 1.13 on Python 3.11 fails on its default --redirects/--tee ("0"); 1 works in every version.
if command -v torchrun > /dev/null; then
  output=$(torchrun --nproc_per_node=2 --master_port "$(free_port)" --redirects 1 --tee 1 --no_python \
    "$han" -q --threads 1 train "$corpus" "${settings[@]}" --batch-size 8 --no-checkpoint -o "$work/torchrun.han" 2>&1)
  status=$?
  [ "$status" -eq 0 ] && ok || fail "torchrun: exit $status"$'\n'"$output"
  probabilities "$work/torchrun.han" "$work/torchrun.json"
  same_outputs "$work/one.json" "$work/torchrun.json" && ok || fail "torchrun ranks' weights differ from one process"
else
  fail "torchrun is missing (python3-torch; scripts/install-deps.sh --test installs it)"
fi

# --- faults --------------------------------------------------------------------
long=(--epochs 200 --patience 1000 --seed 5 --batch-size 2 --no-checkpoint --dist-timeout 20
      --set model.embedding_dim=32 --set model.word_hidden=16 --set model.sentence_hidden=16)
port=$(free_port)
for rank in 0 1; do
  RANK=$rank WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    "$han" -q --threads 1 train "$corpus" "${long[@]}" -o "$work/fault.han" > "$work/fault-$rank.log" 2>&1 &
  pids+=($!)
done
# Rank 1 dies with SIGKILL while training runs (200 epochs take minutes); rank 0 must
# stop well within the 20 s timeout.
sleep 3
kill -9 "${pids[1]}"
start=$(date +%s%N)
wait "${pids[0]}"
status=$?
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
pids=()
message=$(cat "$work/fault-0.log")
[ "$status" -eq 1 ] && ok || fail "rank 0 after rank 1 died: exit $status, expected 1"$'\n'"$message"
[ "$elapsed_ms" -lt 20000 ] && ok || fail "rank 0 took $elapsed_ms ms to notice rank 1 died"
[[ "$message" == *"rank 0 of 2:"*"failed"*"another rank stopped or cannot be reached"* ]] && ok \
  || fail "rank 0's error does not say a rank was lost"$'\n'"$message"
no_crash "$message" && ok || fail "stack trace after a rank died"$'\n'"$message"
[ -e "$work/fault.han" ] && fail "a failed run must not write a model" || ok

# A rank that never comes: the first stops after --dist-timeout, naming the store.
port=$(free_port)
start=$(date +%s%N)
expect_case "rank 1 never starts" 1 "the ranks did not all connect within 2 s" -- \
  env RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port GLOG_minloglevel=3 \
  "$han" -q --threads 1 train "$corpus" --no-checkpoint --dist-timeout 2 -o "$work/lonely.han"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed_ms" -lt 15000 ] && ok || fail "waiting for a missing rank took $elapsed_ms ms"
expect_case "no store to reach" 1 "cannot reach the rendezvous store at 127.0.0.1:$port within 2 s" -- \
  env RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port GLOG_minloglevel=3 \
  "$han" -q --threads 1 train "$corpus" --no-checkpoint --dist-timeout 2 -o "$work/lonely.han"

# --nproc with a worker that cannot start its work: every rank fails, and so does the launcher.
expect_case "--nproc with a missing corpus" 1 "rank 0: error: $work/missing.jsonl" -- \
  "$han" -q --threads 1 train "$work/missing.jsonl" --nproc 2 --no-checkpoint --dist-timeout 5 -o "$work/m.han"

# Wrong or half-set variables are usage errors.
expect_case "WORLD_SIZE without RANK" 2 "WORLD_SIZE is set but RANK is not" -- \
  env WORLD_SIZE=2 "$han" -q train "$corpus" -o "$work/x.han"
expect_case "RANK out of range" 2 "RANK=2 must be below WORLD_SIZE=2" -- \
  env WORLD_SIZE=2 RANK=2 "$han" -q train "$corpus" -o "$work/x.han"
expect_case "MASTER_PORT not a number" 2 "MASTER_PORT=http is not a whole number" -- \
  env WORLD_SIZE=2 RANK=0 MASTER_PORT=http "$han" -q train "$corpus" -o "$work/x.han"
expect_case "--nproc against WORLD_SIZE" 2 "--nproc 3 differs from WORLD_SIZE=2" -- \
  env WORLD_SIZE=2 RANK=0 "$han" -q train "$corpus" --nproc 3 -o "$work/x.han"

# --- SIGINT to --nproc: rank 0 checkpoints, and --resume auto finishes the run ---------
resumable=("$han" -q --threads 1 train "$corpus" "${settings[@]}" --batch-size 8 --nproc 2 --checkpoint-every 5)
"${resumable[@]}" -o "$work/whole.han" > /dev/null 2>&1 || fail "uninterrupted --nproc run with checkpoints"
set -m
"${resumable[@]}" -o "$work/cut.han" > "$work/cut.log" 2>&1 &
pid=$!
set +m
for _ in $(seq 400); do [ -s "$work/cut.han.ckpt" ] && break; sleep 0.02; done
kill -INT "$pid"
wait "$pid"
status=$?
[ "$status" -eq 130 ] && ok || fail "--nproc after SIGINT: exit $status, expected 130"$'\n'"$(cat "$work/cut.log")"
grep -q "han train --resume" "$work/cut.log" && ok || fail "no resume hint after SIGINT"$'\n'"$(cat "$work/cut.log")"
if [ "$status" -eq 130 ]; then
  "${resumable[@]}" -o "$work/cut.han" --resume auto > "$work/resume.log" 2>&1 \
    || fail "resuming the 2-rank run: $(cat "$work/resume.log")"
  probabilities "$work/whole.han" "$work/whole.json"
  probabilities "$work/cut.han" "$work/cut.json"
  same_outputs "$work/whole.json" "$work/cut.json" && ok || fail "the resumed 2-rank run ends elsewhere"
fi

# --- devices ---------------------------------------------------------------------
if "$han" -q classify "$work/one.han" --device cuda < /dev/null > /dev/null 2>&1; then
  echo "CUDA is available: the CPU-only checks below are skipped" >&2
else
  expect_case "train --device cuda" 2 "--device cuda:" -- "$han" -q train "$corpus" --device cuda -o "$work/c.han"
  for command in classify explain; do
    expect_case "$command --device cuda:1" 2 "--device cuda:1:" -- \
      "$han" -q "$command" "$work/one.han" --device cuda:1 <<< "A quiet film."
  done
fi
expect_case "--amp on the CPU" 2 "--amp needs a CUDA device; this run is on the cpu (--device cpu)" -- \
  "$han" -q train "$corpus" --amp --device cpu -o "$work/amp.han"
expect_case "--device gpu" 2 "--device must be auto, cpu, cuda or cuda:N, not 'gpu'" -- \
  "$han" -q evaluate "$work/one.han" "$corpus" --device gpu
"$han" -q classify "$work/one.han" "$corpus" --lines --top-k 2 --json --device cpu > "$work/cpu.json" \
  && same_outputs "$work/one.json" "$work/cpu.json" && ok || fail "--device cpu changes the answers"

summary
