#!/usr/bin/env bash
# Browser test: the HTML attention report in headless Chromium, checked as a
# user would see it. A probe script appended to a copy of the page hovers the
# most attended word, switches the shading and moves the threshold through
# the page's own controls' events, then records what is on screen; Python
# compares that with the attention JSON. Screenshots go to ARTIFACTS.
#   tests/browser_test.sh PATH/TO/han PATH/TO/chromium ARTIFACTS
set -uo pipefail
han=${1:?usage: browser_test.sh PATH/TO/han PATH/TO/chromium ARTIFACTS}
chromium=${2:?chromium path}
artifacts=${3:?artifacts folder}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"
mkdir -p "$artifacts"

browse() {  # browse URL [chromium options...]: headless, no network beyond the file
  local url=$1; shift
  timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,900 \
    --virtual-time-budget=5000 "$@" "$url" 2> "$work/chromium.err"
}

"$han" -q demo -o "$work/demo" --documents 800 --epochs 3 > /dev/null || { fail "demo training failed"; summary; exit 1; }
model=$work/demo/demo.han

# Our own texts: English, one quoting a script element, and Chinese.
cat > "$work/docs.txt" <<'EOF'
The crew visits an old house in the winter. I found the second half truly hilarious! The narrator talks about the harbour.
What a creepy film. The whole film was simply chilling from start to finish. The camera visits the city market in the spring.
A reader wrote &lt;script&gt;document.title='pwned'&lt;/script&gt; in the middle. It is a deeply tender piece of cinema.
酒店的位置很好。房间干净，服务也不错。
EOF
"$han" -q explain "$model" "$work/docs.txt" --lines --html "$work/report.html" -o "$work/report.jsonl" \
  || { fail "explain --html failed"; summary; exit 1; }

# The probe runs after the page has drawn itself, through the same events a
# person's mouse and the controls send.
probe() {  # probe ACTION: hover | controls
  cat <<EOF
<script>
window.addEventListener('load', () => {
  const words = [...document.querySelectorAll('.w')];
  const result = {
    title: document.title,
    scripts: document.querySelectorAll('script').length,
    labels: [...document.querySelectorAll('.doc-label')].map((e) => e.textContent),
    words: words.map((w) => w.textContent),
    sentences: [...document.querySelectorAll('.sentence-text')].map((e) => e.textContent),
  };
  if ('$1' === 'hover') {
    const top = words.reduce((a, b) => (Number(b.dataset.score) > Number(a.dataset.score) ? b : a));
    top.dispatchEvent(new MouseEvent('mouseover', { bubbles: true }));
    const tip = document.getElementById('han-tooltip');
    result.hovered = top.textContent;
    result.tooltip = tip && !tip.hidden ? tip.textContent : null;
    result.alpha = words.map((w) => Number(w.style.getPropertyValue('--alpha')));
  } else {
    const weight = document.querySelector('input[name=han-shade][value=weight]');
    weight.checked = true;
    weight.dispatchEvent(new Event('change', { bubbles: true }));
    result.alpha = words.map((w) => Number(w.style.getPropertyValue('--alpha')));
    const range = document.getElementById('han-threshold');
    range.value = '0.3';
    range.dispatchEvent(new Event('input', { bubbles: true }));
    result.hidden = [...document.querySelectorAll('.sentence')].map((s) => s.hidden);
    result.threshold_shown = document.getElementById('han-threshold-value').textContent;
  }
  const out = document.createElement('pre');
  out.id = 'probe';
  out.hidden = true;
  out.textContent = JSON.stringify(result);
  document.body.prepend(out);
});
</script>
EOF
}
for action in hover controls; do
  { sed '$d' "$work/report.html" | sed '$d'; probe "$action"; printf '</body>\n</html>\n'; } > "$work/$action.html"
  browse "file://$work/$action.html" --dump-dom > "$work/$action.dom" || fail "chromium could not load the $action page: $(tail -3 "$work/chromium.err")"
done
browse "file://$work/report.html" --screenshot="$artifacts/report.png" > /dev/null || fail "no screenshot"
browse "file://$work/hover.html" --screenshot="$artifacts/report-hover.png" > /dev/null || fail "no hover screenshot"
[ -s "$artifacts/report.png" ] && ok || fail "screenshot missing"

if python3 - "$work" <<'PY'; then ok; else fail "what the browser shows differs from the attention JSON"; fi
import html, json, re, sys
work = sys.argv[1]
docs = [json.loads(line) for line in open(f"{work}/report.jsonl", encoding="utf-8")]
def probe(name):
    dom = open(f"{work}/{name}.dom", encoding="utf-8").read()
    m = re.search(r'<pre id="probe"[^>]*>(.*?)</pre>', dom, re.S)
    assert m, f"{name}: the probe did not run (script blocked or page broken)"
    return json.loads(html.unescape(m.group(1)))
hover, controls = probe("hover"), probe("controls")
words = [w for d in docs for s in d["sentences"] for w in s["words"]]
for p in (hover, controls):
    assert p["title"] == "han attention report", p["title"]  # the quoted script never ran
    assert p["scripts"] == 3, p["scripts"]  # data, page script, probe: no script from the text
    assert p["labels"] == [d["label"] for d in docs], (p["labels"], [d["label"] for d in docs])
    assert p["words"] == [w["token"] for w in words]
# The quoted element shows as text, and Chinese words sit together without spaces.
assert any("<script>document.title" in s for s in hover["sentences"]), hover["sentences"]
assert "酒店的位置很好。" in hover["sentences"], hover["sentences"]
# Shading: each word's display score relative to its document's highest.
i = 0
for d in docs:
    ws = [w for s in d["sentences"] for w in s["words"]]
    top_score = max(w["score"] for w in ws)
    top_weight = max(w["weight"] for w in ws)
    for w in ws:
        assert abs(hover["alpha"][i] - w["score"] / top_score) < 2e-3, (w, hover["alpha"][i])
        assert abs(controls["alpha"][i] - w["weight"] / top_weight) < 2e-3, (w, controls["alpha"][i])
        i += 1
# Hover: the most attended word, with its numbers.
best = max(((w, s) for d in docs for s in d["sentences"] for w in s["words"]), key=lambda p: p[0]["score"])
tip = hover["tooltip"]
assert tip and tip.startswith(best[0]["token"]), tip
for number in (best[0]["weight"], best[1]["weight"], best[0]["score"]):
    assert f"{number:.4f}" in tip, (number, tip)
# Threshold 0.3 hides exactly the sentences weighing less.
assert controls["threshold_shown"] == "0.30"
assert controls["hidden"] == [s["weight"] < 0.3 for d in docs for s in d["sentences"]], controls["hidden"]
print(f"browser: {len(docs)} documents, {len(words)} words, hover on {best[0]['token']!r}: {tip}")
PY

# evaluate --html: the misclassified documents, with their gold labels.
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
rows = [json.loads(l) for l in open(f"{work}/demo/train.jsonl", encoding="utf-8")]
# Flip every label: what the model gets right is now misclassified.
flip = {"comedy": "horror", "horror": "romance", "romance": "comedy"}
with open(f"{work}/flipped.jsonl", "w", encoding="utf-8") as f:
    for r in rows[:40]:
        r["label"] = flip[r["label"]]
        f.write(json.dumps(r) + "\n")
PY
"$han" -q evaluate "$model" "$work/flipped.jsonl" --html "$work/wrong.html" --html-max 5 > /dev/null \
  || fail "evaluate --html failed"
browse "file://$work/wrong.html" --dump-dom > "$work/wrong.dom" || fail "chromium could not load the evaluate page"
browse "file://$work/wrong.html" --screenshot="$artifacts/misclassified.png" > /dev/null || fail "no evaluate screenshot"
if python3 - "$work" <<'PY'; then ok; else fail "evaluate --html page"; fi
import re, sys
dom = open(f"{sys.argv[1]}/wrong.dom", encoding="utf-8").read()
rows = re.findall(r"<tr>(.*?)</tr>", dom, re.S)
assert len(rows) == 6, len(rows)  # header + 5 (--html-max)
assert all("\u2717" in r for r in rows[1:]), rows
confidences = [float(x) for x in re.findall(r'<td class="num">([\d.]+)%</td>', dom)]
assert len(confidences) == 5 and confidences == sorted(confidences, reverse=True), confidences
m = re.search(r"(\d+) of 40 documents misclassified", dom)
assert m and int(m.group(1)) >= 5 and "first 5 shown" in dom, m
PY

# A multi-label model: every predicted label marked, "no label" when none
# passes its threshold, and gold shown as a list on evaluate's page.
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
with open(f"{work}/multi.jsonl", "w", encoding="utf-8") as f:
    for line in open(f"{work}/demo/train.jsonl", encoding="utf-8"):
        r = json.loads(line)
        f.write(json.dumps({"text": r["text"], "labels": [r["label"]] + (["house"] if "house" in r["text"] else [])}) + "\n")
PY
"$han" -q --threads 2 train "$work/multi.jsonl" -o "$work/multi.han" --epochs 4 --no-checkpoint > /dev/null 2>&1 \
  || fail "multi-label training failed"
head -20 "$work/multi.jsonl" > "$work/multi-test.jsonl"
"$han" -q evaluate "$work/multi.han" "$work/multi-test.jsonl" --html "$work/multi.html" --predictions "$work/multi-pred.jsonl" \
  > /dev/null || fail "multi-label evaluate --html failed"
"$han" -q explain "$work/multi.han" "$work/multi-test.jsonl" --html "$work/multi-explain.html" -o "$work/multi-explain.jsonl" \
  || fail "multi-label explain --html failed"
for page in multi multi-explain; do
  browse "file://$work/$page.html" --dump-dom > "$work/$page.dom" || fail "chromium could not load $page.html"
done
if python3 - "$work" <<'PY'; then ok; else fail "multi-label pages"; fi
import html, json, re, sys
work = sys.argv[1]
def shown(page):
    dom = open(f"{work}/{page}.dom", encoding="utf-8").read()
    sections = re.findall(r'<section class="doc".*?</section>', dom, re.S)
    labels = [html.unescape(m) for m in re.findall(r'<strong class="doc-label">(.*?)</strong>', dom)]
    marked = [len(re.findall(r'class="prob predicted', s)) for s in sections]
    return dom, labels, marked
docs = [json.loads(l) for l in open(f"{work}/multi-explain.jsonl", encoding="utf-8")]
dom, labels, marked = shown("multi-explain")
expected = [", ".join(p["label"] for p in d["predicted"]) or "no label" for d in docs]
assert labels == expected, (labels, expected)
assert marked == [len(d["predicted"]) for d in docs], (marked, docs)
rows = [json.loads(l) for l in open(f"{work}/multi-pred.jsonl", encoding="utf-8")]
wrong = [r for r in rows if not r["correct"]]
assert wrong, "no misclassified document to show"
dom, labels, marked = shown("multi")
golds = [html.unescape(m) for m in re.findall(r'<strong class="doc-gold">(.*?)</strong>', dom)]
assert sorted(sorted(g.split(", ")) for g in golds) == sorted(sorted(r["gold"]) for r in wrong), (golds, wrong)
assert "label set is not the gold one" in dom
# The index's confidence: the best predicted label's probability, a dash when none passed.
page = open(f"{work}/multi.html", encoding="utf-8").read()
data = json.loads(re.search(r'id="han-data">(.*?)</script>', page, re.S).group(1))
cells = [html.unescape(c) for c in re.findall(r'<td class="num">([^<]*)</td>', dom)]
expected = [f"{100 * d['predicted'][0]['probability']:.1f}%" if d["predicted"] else "\u2014" for d in data]
assert cells == expected, (cells, expected)
print(f"multi-label pages: {len(docs)} explained, {len(wrong)} of {len(rows)} misclassified")
PY

summary
