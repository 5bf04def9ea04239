#!/usr/bin/env python3
"""End-to-end test of han serve: the real binary on a loopback port.

  tests/serve_test.py PATH/TO/han [CHROMIUM ARTIFACTS]

Checks the API against han classify/explain on the same text, every bad
request (4xx with a JSON error, and the service still answers), concurrent
requests, the request log, SIGTERM with requests in flight, and, given
Chromium, the served page as a browser draws it.
"""
import concurrent.futures
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prediction_schema import check_prediction  # noqa: E402

han = sys.argv[1]
chromium = sys.argv[2] if len(sys.argv) > 2 else None
artifacts = sys.argv[3] if len(sys.argv) > 3 else None
failures = []
passed = 0


def check(condition, what):
    global passed
    if condition:
        passed += 1
    else:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


def start(*extra):
    """Starts han serve on a free port; returns (process, base URL, stderr path)."""
    log = tempfile.NamedTemporaryFile(prefix="han-serve-", suffix=".log", delete=False)
    process = subprocess.Popen([han, "serve", model, "--port", "0", *extra], stderr=log, stdout=subprocess.DEVNULL)
    for _ in range(300):
        text = open(log.name, encoding="utf-8").read()
        m = re.search(r"on (http://127\.0\.0\.1:\d+/)", text)
        if m:
            return process, m.group(1), log.name
        if process.poll() is not None:
            raise SystemExit(f"han serve exited with {process.returncode}: {text}")
        time.sleep(0.05)
    raise SystemExit("han serve did not say where it listens")


def request(base, path, body=None, method=None, raw=None):
    """Returns (status, parsed JSON or text)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path.lstrip("/"), data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            status, payload, kind = response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, payload, kind = e.code, e.read(), e.headers.get("Content-Type", "")
    return status, (json.loads(payload) if "json" in kind else payload.decode())


def cli(*args, stdin=None):
    return subprocess.run([han, "-q", *args], input=stdin, capture_output=True, text=True, check=True).stdout


texts = ["The crew visits an old house. I found the second half truly hilarious!",
         "What a creepy film. The whole film was simply chilling from start to finish.",
         "酒店的位置很好。房间干净。"]
work = tempfile.mkdtemp()
subprocess.run([han, "-q", "demo", "-o", f"{work}/demo", "--documents", "800", "--epochs", "3"], check=True,
               stdout=subprocess.DEVNULL)
model = f"{work}/demo/demo.han"
with open(f"{work}/texts.txt", "w", encoding="utf-8") as f:
    f.write("\n".join(texts) + "\n")
expected_classify = [json.loads(l) for l in cli("classify", model, f"{work}/texts.txt", "--lines", "--json", "--top-k", "9").splitlines()]
expected_explain = [json.loads(l) for l in cli("explain", model, f"{work}/texts.txt", "--lines").splitlines()]

process, base, log = start()
try:
    # --- the API, against the command line on the same texts ----------------------------
    status, body = request(base, "/healthz")
    check(status == 200 and body == {"status": "ok"}, f"healthz: {status} {body}")
    status, info = request(base, "/v1/model")
    check(status == 200 and info["labels"] == json.loads(cli("inspect", model, "--json"))["labels"], f"model: {info}")
    check(info.get("format_version") == 1 and "config" in info and info.get("han_version"), "model info fields")

    status, body = request(base, "/v1/classify", {"documents": [texts[0], {"id": "b", "text": texts[1]}, {"id": 7, "text": texts[2]}]})
    check(status == 200 and [r["id"] for r in body["results"]] == ["0", "b", "7"], f"classify ids: {body}")
    for got, want in zip(body["results"], expected_classify):
        probabilities = {l["label"]: l["probability"] for l in want["labels"]}
        check(got["label"] == want["labels"][0]["label"], f"classify label {got} vs {want}")
        # The prediction object of han classify --json, with the id and every probability.
        check(got["labels"] == [{"label": want["labels"][0]["label"], "probability": got["confidence"]}],
              f"classify labels {got}")
        check(all(abs(got["probabilities"][k] - v) < 1e-6 for k, v in probabilities.items()), "classify probabilities")
        check(abs(sum(got["probabilities"].values()) - 1) < 1e-5, "probabilities sum to 1")
        try:
            check_prediction(got, known_labels=info["labels"], count=1)
            ok = True
        except AssertionError as e:
            ok = False
            print(f"schema: {e}", file=sys.stderr)
        check(ok, "classify results follow docs/PREDICTION_JSON.md")
    status, body = request(base, "/v1/classify", {"text": " \n "})
    check(status == 200 and body["results"][0]["labels"] == [] and body["results"][0]["empty"] is True
          and body["results"][0]["label"] is None, f"an empty document gets no label: {body}")
    status, body = request(base, "/v1/classify", {"text": texts[1]})
    check(status == 200 and len(body["results"]) == 1 and body["results"][0]["label"] == expected_classify[1]["labels"][0]["label"],
          f"classify with text: {body}")

    status, body = request(base, "/v1/explain", {"documents": texts})
    check(status == 200 and len(body["results"]) == 3, f"explain: {status}")
    for got, want in zip(body["results"], expected_explain):
        for key in ("label", "sentences", "probabilities", "truncated", "length", "schema_version"):
            check(got[key] == want[key], f"explain {key} differs from han explain")

    # --- bad requests: each a 4xx with a JSON error, and the service goes on -------------
    big = json.dumps({"text": "word " * 300_000}).encode()
    bad = [
        ("malformed JSON", "/v1/classify", None, b'{"documents": [', 400),
        ("not an object", "/v1/classify", None, b'["a", "b"]', 400),
        ("wrong field type", "/v1/classify", {"documents": "one text"}, None, 400),
        ("wrong element type", "/v1/explain", {"documents": [{"text": 5}]}, None, 400),
        ("both fields", "/v1/classify", {"text": "a", "documents": ["b"]}, None, 400),
        ("neither field", "/v1/classify", {"texts": ["a"]}, None, 400),
        ("empty documents", "/v1/classify", {"documents": []}, None, 422),
        ("too many documents", "/v1/classify", {"documents": ["a"] * 65}, None, 413),
        ("body over the limit", "/v1/classify", None, big, 413),
        ("invalid UTF-8", "/v1/classify", None, b'{"text": "\xff\xfe"}', 400),
        ("unknown endpoint", "/v1/nothing", {"text": "a"}, None, 404),
        ("GET on a POST endpoint", "/v1/classify", None, None, 405),
        ("a path forging a log line", "/%0Ahan:%20forged", None, None, 404),
    ]
    for what, path, body, raw, code in bad:
        status, answer = request(base, path, body, raw=raw, method=None)
        check(status == code and isinstance(answer, dict) and answer.get("error"), f"{what}: {status} {answer}")
        check(request(base, "/healthz")[0] == 200, f"{what}: the service stopped answering")

    # --- many requests at once: the same answers as one by one ----------------------------
    def classify(i):
        return request(base, "/v1/classify", {"documents": [texts[i % 3]]})
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(classify, range(200)))
    check(all(s == 200 for s, _ in answers), "concurrent requests all 200")
    check(all(abs(b["results"][0]["confidence"] - max(l["probability"] for l in expected_classify[i % 3]["labels"])) < 1e-6
              for i, (_, b) in enumerate(answers)), "concurrent answers equal the single ones")

    # --- the page, as a browser draws it --------------------------------------------------
    status, page = request(base, "/")
    check(status == 200 and 'id="han-input"' in page and "http://" not in page.replace(base, ""), "page served")
    if chromium:
        url = base + "#text=" + urllib.parse.quote(texts[0])
        common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1100,700",
                  "--virtual-time-budget=5000"]
        dom = subprocess.run(common + ["--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
        labels = re.findall(r'<strong class="doc-label">([^<]*)</strong>', dom)
        check(labels == [expected_explain[0]["label"]], f"served page shows the label: {labels}")
        words = re.findall(r'<span class="w[^"]*"[^>]*>([^<]*)</span>', dom)
        want_words = [w["token"] for s in expected_explain[0]["sentences"] for w in s["words"]]
        check(words == want_words, f"served page shows the words: {words}")
        # The most attended word carries the strongest shading.
        shades = [float(a) for a in re.findall(r'<span class="w[^"]*"[^>]*style="--alpha: ([\d.]+);', dom)]
        scores = [w["score"] for s in expected_explain[0]["sentences"] for w in s["words"]]
        check(len(shades) == len(scores) and shades[scores.index(max(scores))] == 1.0,
              f"served page shading: {shades}")
        if artifacts:
            os.makedirs(artifacts, exist_ok=True)
            subprocess.run(common + [f"--screenshot={artifacts}/serve.png", url], capture_output=True, timeout=120)
            check(os.path.getsize(f"{artifacts}/serve.png") > 0, "served page screenshot")

    # --- SIGTERM with requests in flight: they are answered, then exit 0 ------------------
    long_text = " ".join(texts[:2] * 40)  # 80 sentences: the caps keep 64
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(request, base, "/v1/explain", {"documents": [long_text] * 64}) for _ in range(8)]
        time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        results = [f.result() for f in futures]
    check(all(s == 200 for s, _ in results), f"requests in flight at SIGTERM: {[s for s, _ in results]}")
    check(process.wait(timeout=60) == 0, f"exit status after SIGTERM: {process.returncode}")
    text = open(log, encoding="utf-8").read()
    check("SIGTERM: finishing the requests being answered" in text, "SIGTERM message")
    after = text.split("SIGTERM: finishing the requests being answered", 1)[-1]
    check("POST /v1/explain 200 64 docs" in after, "no request was in flight at SIGTERM: the check proved nothing")
    check(re.search(r"han: POST /v1/classify 200 3 docs [\d.]+ ms", text) is not None, "one log line per request")
    check(re.search(r"han: POST /v1/classify 413 0 docs", text) is not None, "rejected requests are logged")
    check("han: GET /?han: forged 404" in text and "\nhan: forged" not in text, "a path cannot forge a log line")
finally:
    if process.poll() is None:
        process.kill()

def post_raw(base, path, body, headers):
    """POST with exactly these headers (an iterable body is sent chunked); returns (status, JSON)."""
    url = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def exchange_raw(base, data):
    """Sends these bytes as they are; returns (status, headers, JSON body) of the first response."""
    url = urllib.parse.urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=30) as s:
        s.sendall(data)
        response = http.client.HTTPResponse(s)
        response.begin()
        return response.status, response.headers, json.loads(response.read())


# The HTTP layer itself: wrong methods are 405 with Allow, ambiguous framing is 400.
process, base, log = start("--no-log")
try:
    for line, allow in [(b"GET /v1/classify", "POST"), (b"PUT /v1/explain", "POST"), (b"DELETE /healthz", "GET, HEAD"),
                        (b"BREW /v1/classify", "POST")]:
        status, headers, body = exchange_raw(base, line + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        check(status == 405 and headers["Allow"] == allow and "use " + allow in body["error"],
              f"{line}: {status} {headers['Allow']} {body}")
    one = b'{"text": "a"}'
    for headers, why in [(b"Content-Length: 13\r\nContent-Length: 13", "exactly one"),
                         (b"Content-Length: 13\r\nContent-Length: 5", "exactly one"),
                         (b"Content-Length: 13\r\nTransfer-Encoding: chunked", "Transfer-Encoding"),
                         (b"Content-Length: +13", "decimal")]:
        status, got, body = exchange_raw(base, b"POST /v1/classify HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n\r\n" + one)
        check(status == 400 and why in body["error"] and got["Connection"] == "close", f"{headers}: {status} {body}")
    check(exchange_raw(base, b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\n" + one)[0] == 200,
          "one Content-Length is read")
    status, _, body = exchange_raw(base, b"BREW /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n")
    check(status == 404 and "no such endpoint" in body["error"], f"an unknown method on an unknown path: {status}")
    # The header section has a size and a count limit.
    status, _, body = exchange_raw(base, b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    check(status == 431 and "header" in body["error"], f"a 20 KB header: {status} {body}")
    status, _, body = exchange_raw(base, b"GET /healthz HTTP/1.1\r\n" + b"X: y\r\n" * 150 + b"\r\n")
    check(status == 431 and "150" in body["error"] or "151" in body["error"], f"150 header fields: {status} {body}")
    # Pipelined requests are all answered, in order, on one connection.
    url = urllib.parse.urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=30) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\n" + one +
                  b"GET /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = s.makefile("rb").read()  # to the close the last request asked for
    statuses = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        statuses.append(int(head.split(b" ", 2)[1]))
        length = int(re.search(rb"Content-Length: (\d+)", head, re.IGNORECASE).group(1))
        data = rest[length:]
    check(statuses == [200, 200, 404, 200], f"pipelined requests: {statuses}")
finally:
    process.kill()

# Slow clients cannot starve the service: with more connections trickling a
# header than there are request threads, /healthz still answers, and a
# stalled request is closed at the header deadline (--read-timeout).
process, base, log = start("--no-log", "--http-threads", "4", "--read-timeout", "3")
try:
    url = urllib.parse.urlsplit(base)
    slow = []
    for _ in range(100):
        s = socket.create_connection((url.hostname, url.port), timeout=30)
        s.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        slow.append(s)
    started = time.monotonic()
    status = request(base, "/healthz")[0]
    waited = time.monotonic() - started
    check(status == 200 and waited < 2, f"/healthz beside 100 stalled connections: {status} after {waited:.2f} s")
    status, body = request(base, "/v1/classify", {"text": texts[0]})
    check(status == 200, f"classify beside 100 stalled connections: {status}")
    slow[0].settimeout(30)
    answer = slow[0].makefile("rb").read()
    waited = time.monotonic() - started
    check(answer == b"" and 1.5 < waited < 20, f"a stalled header after {waited:.1f} s: {answer[:40]}")
    for s in slow:
        s.close()
finally:
    process.kill()

# --api-key (here from HAN_API_KEY): /v1/* need the bearer token, / and /healthz do not;
# --max-connections: one more connection is answered 503.
os.environ["HAN_API_KEY"] = "s3cr3t key"
try:
    process, base, log = start("--max-connections", "3")
finally:
    del os.environ["HAN_API_KEY"]
try:
    check("API key required on /v1/*" in open(log, encoding="utf-8").read(), "the start line says a key is needed")
    empty = subprocess.run([han, "serve", model, "--port", "0", "--api-key", " "], capture_output=True, text=True,
                           timeout=60)
    check(empty.returncode == 2 and "--api-key (or HAN_API_KEY) is empty" in empty.stderr,
          f"an empty --api-key: {empty.returncode} {empty.stderr}")
    one = json.dumps({"text": texts[0]}).encode()
    for authorization, want in [(None, 401), ("Bearer wrong", 401), ("Basic s3cr3t key", 401),
                                ("Bearer s3cr3t key", 200), ("bearer s3cr3t key", 200)]:
        headers = {"Content-Type": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        status, body = post_raw(base, "/v1/classify", one, headers)
        check(status == want and (want == 200 or "API key" in body["error"]), f"Authorization {authorization}: {status}")
    status, headers, _ = exchange_raw(base, b"GET /v1/model HTTP/1.1\r\nHost: x\r\n\r\n")
    check(status == 401 and headers["WWW-Authenticate"] == "Bearer", f"/v1/model without the key: {status}")
    check(request(base, "/healthz")[0] == 200 and request(base, "/")[0] == 200, "/ and /healthz need no key")
    url = urllib.parse.urlsplit(base)
    time.sleep(0.5)  # connections answered above may still be closing, and they count
    held = [socket.create_connection((url.hostname, url.port), timeout=30) for _ in range(3)]
    time.sleep(0.3)
    with socket.create_connection((url.hostname, url.port), timeout=30) as extra:
        answer = extra.makefile("rb").read()
    check(answer.startswith(b"HTTP/1.1 503 ") and b"--max-connections" in answer, f"a 4th connection: {answer[:60]}")
    for s in held:
        s.close()
    time.sleep(0.3)
    check(request(base, "/healthz")[0] == 200, "connections are accepted again once others close")
finally:
    process.kill()


# --no-log: no line per request; a taken port: a clear error.
process, base, log = start("--no-log", "--max-documents", "2", "--max-body", "20000")
try:
    # What `curl -d` sends (form-encoded) is read up to --max-body, not httplib's 8 KB.
    form_body = json.dumps({"text": "The crew visits an old house. " * 500}).encode()  # 15,001 bytes
    status, body = post_raw(base, "/v1/classify", form_body, {"Content-Type": "application/x-www-form-urlencoded"})
    check(status == 200 and len(body["results"]) == 1, f"a 15 KB form-encoded body: {status} {body}")
    # A chunked body (no Content-Length) is cut at --max-body too.
    chunks = (b"x" * 1000 for _ in range(60))
    status, body = post_raw(base, "/v1/classify", chunks, {"Content-Type": "application/json"})
    check(status == 413 and "--max-body" in body["error"], f"a 60 KB chunked body: {status} {body}")
    check(request(base, "/healthz")[0] == 200, "after a chunked body over the limit: the service stopped answering")
    # ... and its connection stays in step: the dropped bytes are not read as further requests.
    url = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    connection.request("POST", "/v1/classify", body=(b"y" * 1000 for _ in range(60)),
                       headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    first = (response.status, response.read())
    connection.request("GET", "/healthz")
    response = connection.getresponse()
    second = (response.status, response.read())
    connection.close()
    check(first[0] == 413 and second == (200, b'{"status":"ok"}'), f"the same connection after a 413: {first} {second}")
    status, body = post_raw(base, "/v1/classify", (c for c in [b'{"text": ', b'"a short one"}']),
                            {"Content-Type": "application/json"})
    check(status == 200 and len(body["results"]) == 1, f"a small chunked body: {status} {body}")
    status, body = post_raw(base, "/v1/classify", b'--x\r\n\r\n--x--\r\n',
                            {"Content-Type": "multipart/form-data; boundary=x"})
    check(status == 415 and "multipart" in body["error"], f"multipart body: {status} {body}")
    status, body = request(base, "/v1/classify", {"documents": ["a", "b", "c"]})
    check(status == 413 and "--max-documents" in body["error"], f"--max-documents: {body}")
    port = base.rsplit(":", 1)[1].strip("/")
    try:
        taken = subprocess.run([han, "serve", model, "--port", port], capture_output=True, text=True, timeout=60)
        check(taken.returncode == 1 and "cannot listen on 127.0.0.1:" + port in taken.stderr, f"port in use: {taken.stderr}")
    except subprocess.TimeoutExpired:
        check(False, "a second server started on a port in use")
    process.send_signal(signal.SIGINT)
    check(process.wait(timeout=60) == 0, "exit status after SIGINT")
    check("POST" not in open(log, encoding="utf-8").read(), "--no-log still logged requests")
finally:
    if process.poll() is None:
        process.kill()

print(f"{passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
