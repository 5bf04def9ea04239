#!/usr/bin/env python3
"""han serve against hostile clients, on 127.0.0.1: outcomes only, never latencies.

  tests/serve_attack_test.py PATH/TO/han

While 200 connections trickle a request header a byte at a time, 20,000
classify requests over 64 keep-alive connections must all get 200; each
attack gets its status; the server's peak RSS stays under 400 MB.
(bench/serve_attack.py measures the latencies.)
"""
import concurrent.futures
import http.client
import json
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

han = sys.argv[1]
failures = []
passed = 0


def check(condition, what):
    global passed
    if condition:
        passed += 1
    else:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


work = tempfile.mkdtemp()
subprocess.run([han, "-q", "demo", "-o", f"{work}/demo", "--documents", "400", "--epochs", "1"], check=True,
               stdout=subprocess.DEVNULL)
log = open(f"{work}/serve.log", "w")
process = subprocess.Popen([han, "serve", f"{work}/demo/demo.han", "--port", "0", "--no-log", "--read-timeout", "60"],
                           stderr=log, stdout=subprocess.DEVNULL)
for _ in range(600):
    m = re.search(r"on http://127\.0\.0\.1:(\d+)/", open(f"{work}/serve.log").read())
    if m:
        break
    time.sleep(0.05)
else:
    raise SystemExit("han serve did not start")
port = int(m.group(1))


def exchange(data, timeout=60):
    """Sends raw bytes; returns the first response's status (0: closed without one)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except OSError:
            pass  # answered and closed before all was sent: the answer is still there to read
        try:
            head = s.recv(64)
        except ConnectionResetError:
            return 0
    return int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0


def peak_rss_mb():
    return int(re.search(r"VmHWM:\s+(\d+)", open(f"/proc/{process.pid}/status").read()).group(1)) / 1024


try:
    # --- 200 slow connections, open through the load below ---------------------------------
    stop = threading.Event()
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]

    def trickle():
        header = b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
        for i in range(len(header)):
            if stop.wait(0.2):
                return
            for s in slow:
                try:
                    s.send(header[i:i + 1])
                except OSError:
                    pass

    trickler = threading.Thread(target=trickle)
    trickler.start()

    # --- 20,000 requests over 64 keep-alive connections --------------------------------------
    body = json.dumps({"text": "The crew visits an old house. I found it truly hilarious!"})

    def client(count):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        errors = 0
        for _ in range(count):
            try:
                connection.request("POST", "/v1/classify", body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                errors += response.status != 200
            except (OSError, http.client.HTTPException):
                errors += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.close()
        return errors

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        errors = sum(pool.map(client, [20_000 // 64 + (i < 20_000 % 64) for i in range(64)]))
    check(errors == 0, f"20,000 requests beside 200 slow connections: {errors} errors")
    check(exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") == 200, "/healthz beside the slow connections")

    # --- each attack gets its status ----------------------------------------------------------
    chunk = b"%x\r\n" % (1 << 20) + b"a" * (1 << 20) + b"\r\n"
    attacks = [
        ("a 20 MB chunked body", b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         + chunk * 20 + b"0\r\n\r\n", 413),
        ("a 20 MB body with its length", b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 20971520\r\n\r\n"
         + b"a" * (20 << 20), 413),
        ("100,000 header fields", b"GET /healthz HTTP/1.1\r\n" + b"X: y\r\n" * 100_000 + b"\r\n", 431),
        ("a 1 MB header field", b"GET /healthz HTTP/1.1\r\nX: " + b"a" * (1 << 20) + b"\r\n\r\n", 431),
        ("1 MB of nested arrays", b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
         + b"[" * 1_000_000, 400),
        ("1 MB of tiny JSON values", b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
         + b'{"text": "a", "x": [' + b"{}," * 333_325 + b"{}]} ", 413),
        ("two Content-Lengths", b"POST /v1/classify HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400),
        ("Content-Length beside chunked",
         b"POST /v1/classify HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("an unknown method", b"BREW /v1/classify HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        ("a 9 KB target", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        ("not HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 100 + b"\r\n\r\n", 400),
    ]
    for what, data, want in attacks:
        check(exchange(data) == want, f"{what}: expected {want}")
    # 64 of the nested-array bodies at once.
    nested = attacks[4][1]
    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        statuses = list(pool.map(exchange, [nested] * 64))
    check(statuses == [400] * 64, f"64 nested-array bodies at once: {sorted(set(statuses))}")
    # 1,000 pipelined requests on one connection, all answered in order.
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 999
                  + b"GET /v1/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = s.makefile("rb").read()
    statuses = re.findall(rb"HTTP/1\.1 (\d+) ", data)
    check(statuses == [b"200"] * 999 + [b"404"], f"1,000 pipelined requests: {len(statuses)} answered")

    stop.set()
    trickler.join()
    for s in slow:
        s.close()
    check(exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n") == 200, "/healthz after the attacks")
    rss = peak_rss_mb()
    check(rss < 400, f"peak RSS {rss:.0f} MB")
finally:
    process.kill()
    process.wait()

print(f"{passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
