#include "han/report/report.h"

#include <fmt/format.h>

namespace han {
namespace {

std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Colours follow the paper: red bars for sentences, blue shading for words.
constexpr std::string_view kStyle = R"CSS(
:root { --word: 37, 99, 235; --sentence: 220, 38, 38; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.6 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC", "WenQuanYi Zen Hei",
        "Microsoft YaHei", "PingFang SC", sans-serif; }
header { position: sticky; top: 0; z-index: 2; background: #f6f8fa; border-bottom: 1px solid var(--line); padding: 10px 24px; }
header h1 { font-size: 18px; margin: 0; }
header .subtitle { color: var(--muted); margin: 0; font-size: 13px; }
.controls { display: flex; flex-wrap: wrap; gap: 8px 24px; margin-top: 6px; font-size: 13px; align-items: center; }
.controls input[type=range] { vertical-align: middle; width: 140px; }
.legend { display: inline-flex; align-items: center; gap: 4px; }
.legend .swatch { display: inline-block; width: 60px; height: 10px; border: 1px solid var(--line);
  background: linear-gradient(to right, rgba(var(--word), 0), rgba(var(--word), 0.85)); }
main { padding: 8px 24px 48px; max-width: 1100px; }
#han-index table { border-collapse: collapse; font-size: 13px; margin: 12px 0; }
#han-index th, #han-index td { border-bottom: 1px solid var(--line); padding: 2px 10px; text-align: left; }
#han-index td.num { text-align: right; font-variant-numeric: tabular-nums; }
.doc { border-top: 2px solid var(--line); padding: 8px 0 16px; }
.doc h2 { font-size: 15px; margin: 4px 0; font-weight: 600; }
.doc-number { color: var(--muted); margin-right: 8px; }
.doc-source { font-family: ui-monospace, monospace; font-size: 13px; word-break: break-all; }
.verdict { margin: 2px 0 6px; }
.ok { color: #1a7f37; font-weight: 600; }
.wrong { color: #cf222e; font-weight: 600; }
.probs { display: grid; grid-template-columns: max-content 200px max-content; gap: 1px 8px; font-size: 12px; margin-bottom: 8px; }
.prob { display: contents; }
.prob.predicted .prob-label { font-weight: 700; }
.prob.gold .prob-label::after { content: " (gold)"; color: var(--muted); font-weight: 400; }
.prob-bar { background: #eef1f4; height: 10px; align-self: center; }
.prob-fill { display: block; height: 100%; background: #57606a; }
.prob.predicted .prob-fill { background: rgb(var(--word)); }
.prob-value { font-variant-numeric: tabular-nums; color: var(--muted); }
.sentence { display: flex; gap: 8px; align-items: flex-start; padding: 1px 0; }
.sentence[hidden] { display: none; }
.sentence-bar { flex: 0 0 14px; align-self: stretch; min-height: 1.2em; border: 1px solid rgba(var(--sentence), 0.35);
  background: rgba(var(--sentence), var(--alpha, 0)); }
.sentence-text { flex: 1; overflow-wrap: anywhere; }
.w { background: rgba(var(--word), calc(var(--alpha, 0) * 0.85)); border-radius: 2px; padding: 0 1px; cursor: default; }
.w.unk { text-decoration: underline dotted var(--muted); }
.w:hover { outline: 1px solid var(--ink); }
.note { color: var(--muted); font-size: 12px; margin: 4px 0 0; }
#han-tooltip { position: absolute; z-index: 3; pointer-events: none; background: #1f2328; color: #fff; font-size: 12px;
  padding: 4px 8px; border-radius: 4px; white-space: nowrap; font-variant-numeric: tabular-nums; }
)CSS";

// Builds the page from the attention JSON with textContent only: a token such
// as "<script>" stays text.
constexpr std::string_view kScript = R"JS(
(function () {
  'use strict';
  const state = { mode: 'score', threshold: 0 };
  const percent = (p) => (100 * p).toFixed(1) + '%';
  const fixed = (x) => Number(x).toFixed(4);
  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  // A multi-label model predicts the labels over their thresholds ("predicted"),
  // possibly none, and its gold is a list; a single-label one predicts "label".
  function predictedLabels(doc) {
    return doc.multi_label ? (doc.predicted || []).map((p) => p.label) : [doc.label];
  }
  function goldLabels(doc) {
    return doc.gold === undefined ? [] : Array.isArray(doc.gold) ? doc.gold : [doc.gold];
  }
  function predictedText(doc) {
    const labels = predictedLabels(doc);
    return labels.length ? labels.join(', ') : 'no label';
  }

  function renderProbabilities(doc) {
    const box = el('div', 'probs');
    const entries = Object.entries(doc.probabilities || {}).sort((a, b) => b[1] - a[1]);
    const predicted = predictedLabels(doc), gold = goldLabels(doc);
    for (const [label, p] of entries) {
      const row = el('div', 'prob' + (predicted.includes(label) ? ' predicted' : '') +
        (gold.includes(label) ? ' gold' : ''));
      const bar = el('span', 'prob-bar');
      const fill = el('span', 'prob-fill');
      fill.style.width = (100 * p).toFixed(2) + '%';
      bar.append(fill);
      row.append(el('span', 'prob-label', label), bar, el('span', 'prob-value', percent(p)));
      box.append(row);
    }
    return box;
  }

  function renderDocument(doc, index) {
    const section = el('section', 'doc');
    section.id = 'doc-' + (index + 1);
    const heading = el('h2');
    heading.append(el('span', 'doc-number', '#' + (index + 1)), el('span', 'doc-source', doc.source || ''));
    const verdict = el('p', 'verdict');
    if (doc.multi_label) {
      verdict.append('predicted ', el('strong', 'doc-label', predictedText(doc)), ' (labels over their thresholds)');
    } else {
      verdict.append('predicted ', el('strong', 'doc-label', doc.label), ' (' + percent(doc.confidence) + ')');
    }
    if (doc.gold !== undefined) {
      verdict.append(', gold ', el('strong', 'doc-gold', goldLabels(doc).join(', ') || 'no label'), ' ');
      verdict.append(el('span', doc.correct ? 'ok' : 'wrong', doc.correct ? '\u2713 correct' : '\u2717 wrong'));
    }
    section.append(heading, verdict, renderProbabilities(doc));
    if (doc.pooling === 'mean') {
      section.append(el('p', 'note', 'This model averages (pooling: mean): every sentence, and every word of a ' +
        'sentence, weighs the same. The shading shows no attention.'));
    } else if (doc.pooling === 'max') {
      section.append(el('p', 'note', 'This model keeps each feature\'s maximum (pooling: max): a weight is the ' +
        'share of the features a word or sentence supplied, not attention.'));
    }

    const sentences = doc.sentences || [];
    let maxSentence = 0, maxScore = 0, maxWeight = 0;
    for (const s of sentences) {
      maxSentence = Math.max(maxSentence, s.weight);
      for (const w of s.words) { maxScore = Math.max(maxScore, w.score); maxWeight = Math.max(maxWeight, w.weight); }
    }
    const body = el('div', 'doc-text');
    body.dataset.maxScore = maxScore;
    body.dataset.maxWeight = maxWeight;
    if (!sentences.length) body.append(el('p', 'note', 'No words: the document is empty.'));
    for (const s of sentences) {
      const row = el('div', 'sentence');
      row.dataset.weight = s.weight;
      const bar = el('span', 'sentence-bar');
      bar.style.setProperty('--alpha', (maxSentence > 0 ? s.weight / maxSentence : 0).toFixed(3));
      bar.dataset.weight = s.weight;
      const text = el('span', 'sentence-text');
      let previousEnd = null;
      for (const w of s.words) {
        // Spans count code points of the original: a gap means a space there.
        if (previousEnd !== null && w.span[0] > previousEnd) text.append(' ');
        const word = el('span', 'w', w.token);
        word.dataset.weight = w.weight;
        word.dataset.score = w.score;
        word.dataset.sentence = s.weight;
        if (w.id === 1) word.classList.add('unk');
        text.append(word);
        previousEnd = w.span[1];
      }
      row.append(bar, text);
      body.append(row);
    }
    section.append(body);
    const cut = doc.truncated || {};
    if (cut.sentences || cut.words || cut.bytes) {
      section.append(el('p', 'note', 'The model read only part of this document: ' + (cut.sentences || 0) +
                        ' sentences, ' + (cut.words || 0) + ' words and ' + (cut.bytes || 0) + ' bytes were cut.'));
    }
    section.append(el('p', 'note hidden-note', ''));
    return section;
  }

  function renderIndex(docs) {
    const box = document.getElementById('han-index');
    if (!box) return;
    box.replaceChildren();
    if (docs.length < 2 && !docs.some((d) => d.gold !== undefined)) return;
    const withGold = docs.some((d) => d.gold !== undefined);
    const table = el('table');
    const head = el('tr');
    for (const name of ['#', 'source', 'predicted', 'confidence'].concat(withGold ? ['gold', 'correct'] : [])) {
      head.append(el('th', '', name));
    }
    table.append(head);
    docs.forEach((doc, i) => {
      const row = el('tr');
      const number = el('td', 'num');
      const link = el('a', '', i + 1);
      link.href = '#doc-' + (i + 1);
      number.append(link);
      // Multi-label: the best predicted label's probability, a dash when none passed its threshold.
      const confidence = !doc.multi_label ? percent(doc.confidence)
        : doc.predicted && doc.predicted.length ? percent(doc.predicted[0].probability) : '\u2014';
      row.append(number, el('td', 'doc-source', doc.source || ''), el('td', '', predictedText(doc)),
        el('td', 'num', confidence));
      if (withGold) {
        row.append(el('td', '', doc.gold === undefined ? '' : goldLabels(doc).join(', ')));
        row.append(el('td', doc.correct ? 'ok' : 'wrong', doc.gold === undefined ? '' : doc.correct ? '\u2713' : '\u2717'));
      }
      table.append(row);
    });
    box.append(table);
  }

  // Applies the shading mode and the sentence threshold to what is drawn.
  function refresh() {
    for (const body of document.querySelectorAll('.doc-text')) {
      const max = Number(state.mode === 'score' ? body.dataset.maxScore : body.dataset.maxWeight) || 1;
      for (const w of body.querySelectorAll('.w')) {
        w.style.setProperty('--alpha', (Number(w.dataset[state.mode]) / max).toFixed(3));
      }
      let hidden = 0;
      for (const s of body.querySelectorAll('.sentence')) {
        s.hidden = Number(s.dataset.weight) < state.threshold;
        if (s.hidden) hidden++;
      }
      const note = body.parentElement.querySelector('.hidden-note');
      if (note) note.textContent = hidden ? hidden + ' sentence(s) below the threshold are hidden.' : '';
    }
  }

  function showTooltip(word) {
    let tip = document.getElementById('han-tooltip');
    if (!tip) { tip = el('div'); tip.id = 'han-tooltip'; tip.setAttribute('role', 'tooltip'); document.body.append(tip); }
    tip.textContent = word.textContent + ' \u2014 word weight ' + fixed(word.dataset.weight) + ' \u00b7 sentence weight ' +
                      fixed(word.dataset.sentence) + ' \u00b7 display score ' + fixed(word.dataset.score);
    const box = word.getBoundingClientRect();
    tip.style.left = (window.scrollX + box.left) + 'px';
    tip.style.top = (window.scrollY + box.bottom + 4) + 'px';
    tip.hidden = false;
  }

  function render(docs) {
    renderIndex(docs);
    const box = document.getElementById('han-documents');
    box.replaceChildren(...docs.map(renderDocument));
    refresh();
  }

  document.addEventListener('mouseover', (event) => {
    const word = event.target.closest && event.target.closest('.w');
    if (word) showTooltip(word);
  });
  document.addEventListener('mouseout', (event) => {
    const tip = document.getElementById('han-tooltip');
    if (tip && event.target.closest && event.target.closest('.w')) tip.hidden = true;
  });
  document.addEventListener('change', (event) => {
    if (event.target.name === 'han-shade') { state.mode = event.target.value; refresh(); }
  });
  document.addEventListener('input', (event) => {
    if (event.target.id === 'han-threshold') {
      state.threshold = Number(event.target.value);
      const out = document.getElementById('han-threshold-value');
      if (out) out.textContent = state.threshold.toFixed(2);
      refresh();
    }
  });

  window.hanReport = { render };
  const data = document.getElementById('han-data');
  if (data) render(JSON.parse(data.textContent));
})();
)JS";

constexpr std::string_view kControls = R"HTML(
<div class="controls">
  <span>shade words by
    <label><input type="radio" name="han-shade" value="score" checked> display score &radic;&alpha;<sub>s</sub>&middot;&alpha;<sub>w</sub></label>
    <label><input type="radio" name="han-shade" value="weight"> word weight &alpha;<sub>w</sub></label></span>
  <label>hide sentences with weight below
    <input type="range" id="han-threshold" min="0" max="0.5" step="0.01" value="0"> <output id="han-threshold-value">0.00</output></label>
  <span class="legend">low <span class="swatch"></span> high (relative to each document's highest)</span>
</div>
)HTML";

constexpr std::string_view kServiceStyle = R"CSS(
#han-form { margin: 12px 0; }
#han-input { width: 100%; min-height: 8em; font: inherit; padding: 6px; border: 1px solid var(--line); border-radius: 4px; }
#han-run { margin-top: 6px; font: inherit; padding: 4px 16px; }
#han-status { color: var(--muted); }
)CSS";

// Sends the pasted text to the service and draws the answer with the report's script.
constexpr std::string_view kServiceScript = R"JS(
(function () {
  'use strict';
  const input = document.getElementById('han-input');
  const button = document.getElementById('han-run');
  const status = document.getElementById('han-status');
  // A service started with --api-key answers 401 without it: ask once, keep it for the tab.
  let key = sessionStorage.getItem('han-api-key') || '';
  function explain(payload) {
    const headers = { 'Content-Type': 'application/json' };
    if (key) headers.Authorization = 'Bearer ' + key;
    return fetch('v1/explain', { method: 'POST', headers, body: payload });
  }
  async function run() {
    if (!input.value.trim()) { status.textContent = 'Paste some text first.'; return; }
    button.disabled = true;
    status.textContent = 'Explaining\u2026';
    try {
      const payload = JSON.stringify({ documents: [{ text: input.value, id: 'pasted text' }] });
      let response = await explain(payload);
      if (response.status === 401) {
        const given = window.prompt('This service needs its API key (han serve --api-key):');
        if (given) {
          key = given.trim();
          sessionStorage.setItem('han-api-key', key);
          response = await explain(payload);
        }
      }
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || response.statusText);
      window.hanReport.render(body.results);
      status.textContent = '';
    } catch (error) {
      status.textContent = 'Error: ' + error.message;
    } finally {
      button.disabled = false;
    }
  }
  button.addEventListener('click', run);
  const shared = location.hash.match(/^#text=([\s\S]*)$/);
  if (shared) {
    try {
      input.value = decodeURIComponent(shared[1]);
      run();
    } catch (error) {
      status.textContent = 'The link\u2019s #text= is not valid URL encoding.';
    }
  }
})();
)JS";

std::string page_head(const std::string& title, std::string_view policy, std::string_view extra_style) {
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n"
      "<title>{}</title>\n<style>{}{}</style>\n</head>\n<body>\n",
      policy, escape_html(title), kStyle, extra_style);
}

std::string page_header(const std::string& title, const std::string& subtitle) {
  std::string out = fmt::format("<header>\n<h1>{}</h1>\n", escape_html(title));
  if (!subtitle.empty()) out += fmt::format("<p class=\"subtitle\">{}</p>\n", escape_html(subtitle));
  out += kControls;
  out += "</header>\n";
  return out;
}

}  // namespace

std::string render_service_page(const std::string& title, const std::string& subtitle) {
  // The page may call back only the server it came from.
  std::string page =
      page_head(title, "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'",
                kServiceStyle);
  page += page_header(title, subtitle);
  page +=
      "<main>\n<div id=\"han-form\">\n<textarea id=\"han-input\" placeholder=\"Paste a document here\"></textarea>\n"
      "<button id=\"han-run\" type=\"button\">Explain</button> <span id=\"han-status\"></span>\n</div>\n"
      "<nav id=\"han-index\"></nav>\n<div id=\"han-documents\"></div>\n</main>\n<script>";
  page += kScript;
  page += "</script>\n<script>";
  page += kServiceScript;
  page += "</script>\n</body>\n</html>\n";
  return page;
}

std::string_view report_style() { return kStyle; }
std::string_view report_script() { return kScript; }

std::string json_for_script(const nlohmann::json& value) {
  const std::string json = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(json.size() + json.size() / 16);
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    // These occur only inside JSON strings, where \u escapes mean the same.
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xE2' && i + 2 < json.size() && json[i + 1] == '\x80' &&
               (json[i + 2] == '\xA8' || json[i + 2] == '\xA9')) {
      out += json[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";  // line and paragraph separators
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string render_html_report(const nlohmann::json& documents, const ReportOptions& options) {
  if (!documents.is_array()) throw std::invalid_argument("render_html_report: documents must be a JSON array");
  std::string page;
  HtmlReportWriter writer([&page](std::string_view bytes) { page += bytes; }, options);
  for (const nlohmann::json& document : documents) writer.add(document);
  writer.finish();
  return page;
}

HtmlReportWriter::HtmlReportWriter(std::function<void(std::string_view)> write, const ReportOptions& options)
    : write_(std::move(write)) {
  // No network: the policy forbids every external load, as a second guard.
  put(page_head(options.title, "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'", ""));
  put(page_header(options.title, options.subtitle));
  put("<main>\n<nav id=\"han-index\"></nav>\n<div id=\"han-documents\"></div>\n</main>\n");
  // The data element's JSON array, one element at a time.
  put("<script type=\"application/json\" id=\"han-data\">[");
}

void HtmlReportWriter::add(const nlohmann::json& document) {
  if (finished_) throw std::logic_error("HtmlReportWriter::add after finish");
  if (documents_++ > 0) put(",\n");
  put(json_for_script(document));
}

void HtmlReportWriter::finish() {
  if (finished_) return;
  finished_ = true;
  put("]</script>\n<script>");
  put(kScript);
  put("</script>\n</body>\n</html>\n");
}

void HtmlReportWriter::put(std::string_view bytes) {
  write_(bytes);
  bytes_ += static_cast<int64_t>(bytes.size());
}

}  // namespace han
