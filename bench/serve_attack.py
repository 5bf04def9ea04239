#!/usr/bin/env python3
"""han serve under hostile and heavy clients, for docs/BENCHMARKS.md.

  bench/serve_attack.py MODEL HAN [HAN ...]

Runs the same attacks against each han binary in turn (give an older build
beside the new one to compare them side by side) on a loopback port:
- /healthz latency (median and worst of 20 probes) beside 0, 64 and 200
  connections that trickle a request header and never finish it;
- 200 requests pipelined on one connection: how many are answered;
- 8 chunked bodies of 100 MB at once: their statuses and the server's peak RSS;
- the largest bodies --max-body lets through (1 MB: 64 documents of 16 KB; one
  document of 1 MB; 1,088 tiny JSON values padded with spaces), 64 of a kind
  at once (one per request thread): the peak RSS each request adds, against
  20 times --max-body;
- 20,000 one-document classify requests over 64 keep-alive connections, with
  and without 200 connections trickling a header a byte a second: errors,
  requests/s, p50 and p99 latency, and /healthz probed every 10 ms meanwhile.
"""
import concurrent.futures
import http.client
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


def largest_bodies(han, at_once=64, max_body=1 << 20):
    """Per costly kind of body: a fresh server, warmed by one request, then
    `at_once` such explain requests at once; the peak RSS they add."""
    words = ("the crew visits an old house and i found the second half truly hilarious " * 20000).split()

    def text_of(size):
        out, length = [], 0
        for w in words:
            if length + len(w) + 1 > size:
                break
            out.append(w)
            length += len(w) + 1
        return " ".join(out)
    values = '{"text": "a", "x": [' + ",".join(["0"] * 1080) + "]}"
    kinds = {"64 documents of 16 KB": json.dumps({"documents": [text_of(16000) for _ in range(64)]}),
             "one document of 1 MB": json.dumps({"text": text_of(max_body - 100)}),
             "1,088 JSON values, padded": values + " " * (max_body - len(values) - 10)}

    def send(port, body):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        connection.request("POST", "/v1/explain", body=body.encode(), headers={"Content-Type": "application/json"})
        status = connection.getresponse().status
        connection.close()
        return status

    rows = []
    for name, body in kinds.items():
        assert len(body.encode()) <= max_body, (name, len(body))
        process, port = start(han)
        try:
            send(port, json.dumps({"text": TEXT}))
            before = peak_rss_mb(process.pid)
            with concurrent.futures.ThreadPoolExecutor(at_once) as pool:
                statuses = list(pool.map(lambda b: send(port, b), [body] * at_once))
            rows.append((name, len(body), sorted(set(statuses)), before, peak_rss_mb(process.pid)))
        finally:
            process.kill()
            process.wait()
    return rows


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("inf")


def under_load(port, slow_count=200, requests=20000, threads=64):
    """20,000 classify requests over 64 keep-alive connections while `slow_count`
    connections trickle a header a byte a second, and /healthz is probed every
    10 ms from its own connection. Returns the counts and latencies."""
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(slow_count)]
    done = threading.Event()

    def trickle():
        header = b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 600
        for i in range(len(header)):
            for s in slow:
                try:
                    s.send(header[i:i + 1])
                except OSError:
                    pass
            if done.wait(1.0):
                return

    health = []

    def probe():
        while not done.is_set():
            health.append(healthz_ms(port, timeout=10))
            time.sleep(0.01)

    body = json.dumps({"text": TEXT})

    def client(count):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        latencies, errors = [], 0
        for _ in range(count):
            if time.monotonic() - began > 60:  # a starved server: count what is left as errors
                errors += 1
                continue
            sent = time.monotonic()
            try:
                connection.request("POST", "/v1/classify", body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                errors += response.status != 200
            except (OSError, http.client.HTTPException):
                errors += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            latencies.append((time.monotonic() - sent) * 1000)
        connection.close()
        return latencies, errors

    helpers = [threading.Thread(target=trickle), threading.Thread(target=probe)]
    for t in helpers:
        t.start()
    began = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(client, [requests // threads] * threads))
    seconds = time.monotonic() - began
    done.set()
    for t in helpers:
        t.join()
    for s in slow:
        s.close()
    latencies = [l for r in results for l in r[0]]  # answered or failed, not the ones never sent
    errors = sum(r[1] for r in results)
    return errors, len(latencies) / seconds, latencies, health


for han in binaries:
    print(f"## {han}: the largest bodies --max-body lets through, 64 explain requests at once")
    for name, size, statuses, before, after in largest_bodies(han):
        print(f"{name} ({size:,} bytes): statuses {statuses}; peak RSS {before:.0f} -> {after:.0f} MB, "
              f"{(after - before) / 64:.1f} MB a request (20 x --max-body: 20 MB)")
    process, port = start(han)
    try:
        print(f"## {han}")
        for count in (0, 64, 200):
            median, worst = beside_slow_clients(port, count)
            print(f"/healthz beside {count} stalled connections: median {median:.1f} ms, worst {worst:.1f} ms")
        print(f"200 pipelined requests on one connection: {pipelined(port)} answered")
        for slow_count in (0, 200):
            errors, rate, latencies, health = under_load(port, slow_count)
            print(f"{len(latencies):,} classify requests over 64 connections beside {slow_count} slow ones: "
                  f"{errors} errors, {rate:.0f} requests/s, p50 {percentile(latencies, 0.5):.1f} ms, "
                  f"p99 {percentile(latencies, 0.99):.1f} ms; /healthz meanwhile: p50 "
                  f"{percentile(health, 0.5):.1f} ms, p99 {percentile(health, 0.99):.1f} ms ({len(health)} probes)")
        before = peak_rss_mb(process.pid)
        print(f"8 chunked 100 MB bodies at once: {chunked_bodies(port)}; peak RSS {before:.0f} -> "
              f"{peak_rss_mb(process.pid):.0f} MB")
        print(f"/healthz afterwards: {healthz_ms(port):.1f} ms")
    finally:
        process.kill()
        process.wait()
