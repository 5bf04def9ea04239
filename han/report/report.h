// Visualisation: attention as a self-contained HTML page, drawn as in the
// HAN paper's figures (a bar per sentence for its weight, each word shaded by
// sqrt(p_sentence) * p_word). docs/REPORT.md describes the page.
//
// The page carries its data once, as the attention JSON of han explain
// (docs/ATTENTION_JSON.md), and builds everything else in the browser with
// textContent only, so document text can never become markup or script.
// No external scripts, fonts, styles or requests.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace han {

struct ReportOptions {
  std::string title = "han attention report";
  std::string subtitle;  // one line under the title, e.g. the model and the corpus
};

// documents: a JSON array of attention objects, as han explain writes them;
// those with "gold" and "correct" show them in the index.
std::string render_html_report(const nlohmann::json& documents, const ReportOptions& options = {});

// han serve's page: a box to paste text into and a button; the answer of
// POST v1/explain is drawn as in the report. A URL ending in #text=... fills
// the box and runs at once (a link that shows a document's attention).
std::string render_service_page(const std::string& title, const std::string& subtitle);

// JSON that is safe inside an HTML <script> element: '<', '>' and '&' are
// written as \u escapes (so "</script>" cannot close the element), and so are
// U+2028 and U+2029. The result parses back to the same value.
std::string json_for_script(const nlohmann::json& value);

// The page's style sheet and script, shared with han serve's page. The script
// defines window.hanReport.render(documents) and draws into #han-index and
// #han-documents; it renders a <script id="han-data"> element's JSON if the
// page has one.
std::string_view report_style();
std::string_view report_script();

}  // namespace han
