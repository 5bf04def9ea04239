#!/usr/bin/env bash
# han serve against hostile clients: trains the demo's model (once, in WORK)
# and runs bench/serve_attack.py against each han binary given, side by side.
#
#   bench/serve_attack.sh [HAN ...]      (default: build/han)
# Env: WORK (default a temporary folder). Figures: docs/BENCHMARKS.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || set -- "$root/build/han"
work=${WORK:-$(mktemp -d)}
[ -f "$work/demo/demo.han" ] || "$1" -q demo -o "$work/demo" --documents 600 --epochs 1 > /dev/null
exec python3 "$root/bench/serve_attack.py" "$work/demo/demo.han" "$@"
