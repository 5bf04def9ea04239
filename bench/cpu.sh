#!/usr/bin/env bash
# Side-by-side CPU benchmark: han's fused engine, han's reference engine (the
# plain LibTorch modules, i.e. han before the fused engine) and the Python reference HAN
# (bench/reference/, Debian's python3-torch), on the same synthetic documents,
# the same sizes and the same machine, interleaved run by run. Prints medians
# and ratios; writes every run's JSON to $OUT_DIR.
#
# Three more engines: "lazy" is the fused engine with train.optimizer=lazy_adam,
# "libtorch" the fused engine with its matrix products on LibTorch's BLAS
# instead of oneDNN (HAN_MATMUL=libtorch), "before" the fused engine of
# another build of han, $BEFORE/han (e.g. an earlier commit built in a git
# worktree), to measure a change side by side.
#
#   bench/cpu.sh [BUILD_DIR]       env: RUNS (5), THREADS (2), ENGINES ("fused reference python"), OUT_DIR,
#                                  ZIPF (1: Zipf-like word ids; 0: uniform), BEFORE
set -euo pipefail
build=${1:-build}
runs=${RUNS:-5}
threads=${THREADS:-2}
engines=${ENGINES:-fused reference python}
out=${OUT_DIR:-$(mktemp -d)}
zipf=${ZIPF:-1}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
"$build/han" -q bench --zipf "$zipf" --write-documents "$out/documents.jsonl"
# The reference HAN's usual settings: OpenBLAS on one thread, torch on $threads.
export OPENBLAS_NUM_THREADS=1
for run in $(seq "$runs"); do
  for engine in $engines; do
    echo "run $run/$runs: $engine" >&2
    case "$engine" in
      python) /usr/bin/python3 "$here/reference/han_reference.py" bench "$out/documents.jsonl" --threads "$threads" --json \
                > "$out/$engine-$run.json" ;;
      lazy) "$build/han" -q --threads "$threads" bench --zipf "$zipf" --set train.optimizer=lazy_adam --json \
              > "$out/$engine-$run.json" ;;
      libtorch) HAN_MATMUL=libtorch "$build/han" -q --threads "$threads" bench --zipf "$zipf" --json \
                  > "$out/$engine-$run.json" ;;
      before) "${BEFORE:?set BEFORE to the build folder of the han to compare}/han" -q --threads "$threads" bench \
                --zipf "$zipf" --json > "$out/$engine-$run.json" ;;
      *) "$build/han" -q --threads "$threads" bench --zipf "$zipf" --engine "$engine" --json > "$out/$engine-$run.json" ;;
    esac
  done
done
/usr/bin/python3 - "$out" $engines <<'PY'
import glob, json, statistics, sys
out, engines = sys.argv[1], sys.argv[2:]
def value(result, path):
    for key in path:
        result = result[key]
    return result
metrics = [("training docs/s", ("training", "median_docs_per_second"), ("training", "docs_per_second")),
           ("inference docs/s", ("inference", "docs_per_second"), None),
           ("latency ms (median)", ("latency", "median_ms"), None),
           ("peak RSS MiB, inference", ("peak_rss_mib_inference",), None),
           ("peak RSS MiB, all", ("peak_rss_mib",), None)]
medians = {}
for engine in engines:
    results = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{engine}-*.json"))]
    for name, path, alternative in metrics:
        values = []
        for r in results:
            try:
                values.append(value(r, path))
            except KeyError:
                values.append(value(r, alternative))
        medians[(engine, name)] = (statistics.median(values), values)
print(f"| metric | " + " | ".join(engines) + " | " +
      " | ".join(f"fused / {e}" for e in engines if e != "fused") + " |")
print("|---" * (1 + len(engines) + len([e for e in engines if e != "fused"])) + "|")
for name, _, _ in metrics:
    row = [f"{medians[(e, name)][0]:.1f}" for e in engines]
    ratios = []
    for e in engines:
        if e == "fused" or "fused" not in engines:
            continue
        a, b = medians[("fused", name)][0], medians[(e, name)][0]
        ratios.append(f"{(a / b if 'docs/s' in name else b / a):.2f}x")
    print(f"| {name} | " + " | ".join(row) + " | " + " | ".join(ratios) + " |")
print()
for (engine, name), (median, values) in medians.items():
    print(f"{engine:10} {name:26} median {median:9.2f}  runs " + ", ".join(f"{v:.1f}" for v in values))
json.dump({f"{e}|{n}": m for (e, n), m in medians.items()}, open(f"{out}/medians.json", "w"), indent=1)
PY
echo "runs: $out" >&2
