#!/usr/bin/env python3
"""han serve under hostile and heavy clients, for docs/BENCHMARKS.md.

  bench/serve_attack.py MODEL HAN [HAN ...]

Runs the same attacks against each han binary in turn (give an older build
beside the new one to compare them side by side) on a loopback port:
- /healthz latency (median and worst of 20 probes) beside 0, 64 and 200
  connections that trickle a request header and never finish it;
- 200 requests pipelined on one connection: how many are answered;
- 8 chunked bodies of 100 MB at once: their statuses and the server's peak RSS;
- throughput: 2,000 one-document classify requests from 64 threads.
"""
import concurrent.futures
import json
import re
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

model, binaries = sys.argv[1], sys.argv[2:]
TEXT = "The crew visits an old house. I found the second half truly hilarious!"


def start(han):
    log = tempfile.NamedTemporaryFile(prefix="han-attack-", suffix=".log", delete=False)
    process = subprocess.Popen([han, "serve", model, "--port", "0", "--no-log"], stderr=log, stdout=subprocess.DEVNULL)
    for _ in range(600):
        m = re.search(r"on http://127\.0\.0\.1:(\d+)/", open(log.name).read())
        if m:
            return process, int(m.group(1))
        time.sleep(0.05)
    raise SystemExit(f"{han} did not start")


def peak_rss_mb(pid):
    status = open(f"/proc/{pid}/status").read()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024


def healthz_ms(port, timeout=30):
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as r:
            r.read()
        return (time.monotonic() - started) * 1000
    except Exception:
        return float("inf")


def beside_slow_clients(port, count):
    slow = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\n")
        slow.append(s)
    time.sleep(0.5)
    probes = [healthz_ms(port, timeout=5) for _ in range(20)]
    for s in slow:
        s.close()
    time.sleep(0.5)
    return statistics.median(probes), max(probes)


def pipelined(port, count=200):
    one = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(one * (count - 1) + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except socket.timeout:
            pass
    return data.count(b"HTTP/1.1 200")


def chunked_bodies(port, count=8, megabytes=100):
    statuses = []

    def send():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
                s.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                chunk = b"%x\r\n" % (1 << 20) + b"a" * (1 << 20) + b"\r\n"
                # As curl does: stop sending once the server has answered.
                for _ in range(megabytes):
                    if select.select([s], [], [], 0)[0]:
                        break
                    s.sendall(chunk)
                else:
                    s.sendall(b"0\r\n\r\n")
                statuses.append(s.recv(100).split(b" ")[1].decode())
        except OSError as e:
            statuses.append(type(e).__name__)

    threads = [threading.Thread(target=send) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(statuses)


def throughput(port, requests=2000, threads=64):
    body = json.dumps({"text": TEXT}).encode()

    def one(_):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/classify", data=body)
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        ok = sum(s == 200 for s in pool.map(one, range(requests)))
    return ok, requests / (time.monotonic() - started)


for han in binaries:
    process, port = start(han)
    try:
        print(f"## {han}")
        for count in (0, 64, 200):
            median, worst = beside_slow_clients(port, count)
            print(f"/healthz beside {count} stalled connections: median {median:.1f} ms, worst {worst:.1f} ms")
        print(f"200 pipelined requests on one connection: {pipelined(port)} answered")
        ok, rate = throughput(port)
        print(f"2,000 classify requests from 64 threads: {ok} answered 200, {rate:.0f} requests/s")
        before = peak_rss_mb(process.pid)
        print(f"8 chunked 100 MB bodies at once: {chunked_bodies(port)}; peak RSS {before:.0f} -> "
              f"{peak_rss_mb(process.pid):.0f} MB")
        print(f"/healthz afterwards: {healthz_ms(port):.1f} ms")
    finally:
        process.kill()
        process.wait()
