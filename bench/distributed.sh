#!/usr/bin/env bash
# Data-parallel on one machine, side by side: 2 Gloo ranks with 1 thread each
# (--nproc 2, batch 32 each) against 1 process with 2 threads (batch 64), the
# same 64-document steps, alternating, RUNS times. Prints training docs/s per
# epoch (from the metrics logs) and test accuracy.
#   bench/distributed.sh [BUILD] [DATA] [RUNS] [EPOCHS]
#   defaults: build, /tmp/data/aclImdb (train and test inside), 3, 2
set -euo pipefail
build=${1:-build}
data=${2:-/tmp/data/aclImdb}
runs=${3:-3}
epochs=${4:-2}
han=$build/han
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(train "$data/train" --epochs "$epochs" --patience 100 --seed 1 --no-checkpoint)
for run in $(seq "$runs"); do
  for setup in one two; do
    if [ "$setup" = one ]; then
      "$han" -q --threads 2 "${common[@]}" --batch-size 64 -o "$out/$setup.han" > /dev/null
    else
      "$han" -q --threads 1 "${common[@]}" --batch-size 32 --nproc 2 -o "$out/$setup.han" > /dev/null
    fi
    accuracy=$("$han" -q --threads 2 evaluate "$out/$setup.han" "$data/test" --json |
               python3 -c 'import json,sys; print("%.2f" % (100 * json.load(sys.stdin)["accuracy"]))')
    rates=$(python3 -c 'import json,sys; print(" ".join("%.0f" % json.loads(l)["docs_per_second"] for l in open(sys.argv[1])))' \
            "$out/$setup.han.metrics.jsonl")
    label=$([ "$setup" = one ] && echo "1 process x 2 threads" || echo "2 ranks x 1 thread  ")
    echo "run $run  $label  docs/s per epoch: $rates  test accuracy: $accuracy%"
  done
done
