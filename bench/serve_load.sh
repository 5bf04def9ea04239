#!/usr/bin/env bash
# Load test of han serve on loopback: BLOCKS blocks of 5,000
# classify requests over 64 connections with wrk, the server's RSS read after
# each block. Prints requests/s, p50/p99 latency and errors per block, and the
# peak RSS; writes OUT_DIR/serve-load.json.
#
#   bench/serve_load.sh MODEL [BUILD_DIR]
# Env: BLOCKS (default 4), CONNECTIONS (64), WRK_THREADS (2), SERVE_ARGS
#      (extra han serve options), OUT_DIR (default a temporary folder).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
model=${1:?usage: bench/serve_load.sh MODEL [BUILD_DIR]}
build=${2:-$root/build}
blocks=${BLOCKS:-4}
connections=${CONNECTIONS:-64}
wrk_threads=${WRK_THREADS:-2}
out=${OUT_DIR:-$(mktemp -d)}
mkdir -p "$out"
command -v wrk > /dev/null || { echo "bench/serve_load.sh: wrk is missing (apt-get install wrk)" >&2; exit 1; }
read -r -a serve_args <<< "${SERVE_ARGS:-}"

"$build/han" serve "$model" --port 0 --no-log "${serve_args[@]}" 2> "$out/serve.log" &
server=$!
trap 'kill $server 2> /dev/null || true' EXIT
for _ in $(seq 100); do grep -q "serving" "$out/serve.log" && break; sleep 0.1; done
port=$(grep -o '127.0.0.1:[0-9]*' "$out/serve.log" | cut -d: -f2)
[ -n "$port" ] || { cat "$out/serve.log" >&2; exit 1; }
url=http://127.0.0.1:$port

per_thread=$((5000 / wrk_threads))
# Warm-up: the first requests build the vocabulary table and grow buffers.
REQUESTS_PER_THREAD=200 wrk -t"$wrk_threads" -c"$connections" -d5s -s "$root/bench/serve/classify.lua" "$url" > /dev/null
: > "$out/blocks.txt"
for block in $(seq "$blocks"); do
  # wrk always runs its whole -d; the script times the requests themselves.
  REQUESTS_PER_THREAD=$per_thread wrk -t"$wrk_threads" -c"$connections" -d"${BLOCK_SECONDS:-30}s" --latency \
    -s "$root/bench/serve/classify.lua" "$url" > "$out/wrk-$block.txt"
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
  echo "$block $rss" >> "$out/blocks.txt"
done
peak=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
kill -TERM $server; wait $server || true; trap - EXIT

python3 - "$out" "$blocks" "$peak" "$connections" <<'PY'
import json, re, sys
out, blocks, peak, connections = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rss = dict(line.split() for line in open(f"{out}/blocks.txt"))
rows = []
for b in range(1, blocks + 1):
    text = open(f"{out}/wrk-{b}.txt").read()
    timing = re.search(r"elapsed ([\d.]+) (\d+) (\d+)", text)
    assert timing, f"block {b}: not every wrk thread finished its requests within BLOCK_SECONDS:\n{text}"
    seconds, requests, failed = float(timing.group(1)), int(timing.group(2)), int(timing.group(3))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", text)) else 0
    socket = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    rows.append({"block": b, "requests": requests, "errors": max(failed, non2xx) + socket, "seconds": seconds,
                 "requests_per_second": requests / seconds,
                 "p50_ms": ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1)),
                 "p99_ms": ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1)),
                 "rss_mib": int(rss[str(b)]) / 1024})
result = {"connections": connections, "blocks": rows, "requests": sum(r["requests"] for r in rows),
          "errors": sum(r["errors"] for r in rows), "peak_rss_mib": peak / 1024}
json.dump(result, open(f"{out}/serve-load.json", "w"), indent=2)
print(f"{'block':>5} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'RSS MiB':>8}")
for r in rows:
    print(f"{r['block']:>5} {r['requests']:>8} {r['errors']:>6} {r['requests_per_second']:>8.0f} {r['p50_ms']:>7.2f} "
          f"{r['p99_ms']:>7.2f} {r['rss_mib']:>8.1f}")
print(f"total {result['requests']} requests, {result['errors']} errors; peak RSS {result['peak_rss_mib']:.1f} MiB")
PY
