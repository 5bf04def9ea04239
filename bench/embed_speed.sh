#!/usr/bin/env bash
# han embed speed at dimension 200: words/s per thread on aclImdb's 50,000
# unlabeled reviews (one epoch), with 1 thread and with all threads, each run
# RUNS times (default 3); prints every run and the medians.
#
#   bench/embed_speed.sh [BUILD_DIR]
# Env: HAN_DATA_DIR (default ../shared/data), WORK (default a temporary folder), RUNS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
han=$build/han
data=${HAN_DATA_DIR:-${HAN_DATA:-$root/../shared/data}}
tarball=$data/aclImdb_v1_nofeat.tar.gz
[ -f "$tarball" ] || { echo "bench/embed_speed.sh: missing $tarball (set HAN_DATA_DIR)" >&2; exit 1; }
work=${WORK:-$(mktemp -d)}
[ -d "$work/aclImdb/train/unsup" ] || tar xzf "$tarball" -C "$work"
runs=${RUNS:-3}
cores=$(nproc)
for threads in 1 "$cores"; do
  for run in $(seq "$runs"); do
    "$han" -q --threads "$threads" embed "$work/aclImdb/train/unsup" -o "$work/speed.vec" --dim 200 --epochs 1 \
      | sed -n 's/.*: \([0-9]*\) words\/s, \([0-9]*\) per thread.*/\1 \2/p' \
      | while read -r total per_thread; do echo "threads=$threads run=$run words/s=$total per_thread=$per_thread"; done
  done
done | tee "$work/embed-speed.txt"
python3 - "$work/embed-speed.txt" <<'PY'
import re, statistics, sys
rows = [dict(kv.split("=") for kv in line.split()) for line in open(sys.argv[1])]
for threads in sorted({r["threads"] for r in rows}, key=int):
    per = [int(r["per_thread"]) for r in rows if r["threads"] == threads]
    tot = [int(r["words/s"]) for r in rows if r["threads"] == threads]
    print(f"threads {threads}: median {statistics.median(tot):.0f} words/s, {statistics.median(per):.0f} per thread (runs: {per})")
PY
