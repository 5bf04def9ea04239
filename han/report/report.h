// Visualisation: attention as a self-contained HTML page, drawn as in the
// HAN paper's figures (a bar per sentence for its weight, each word shaded by
// sqrt(p_sentence) * p_word). docs/REPORT.md describes the page.
//
// The page carries its data once, as the attention JSON of han explain
// (docs/ATTENTION_JSON.md), and builds everything else in the browser with
// textContent only, so document text can never become markup or script.
// No external scripts, fonts, styles or requests.
#pragma once

#include <cstdint>
#include <functional>
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

// The same page written in pieces, for documents that arrive one at a time:
// the constructor writes the head, add() each document, finish() the tail;
// the pieces joined are render_html_report's page. Nothing is held between
// calls, so memory does not grow with the documents.
class HtmlReportWriter {
 public:
  HtmlReportWriter(std::function<void(std::string_view)> write, const ReportOptions& options = {});
  void add(const nlohmann::json& document);
  void finish();
  int64_t bytes_written() const { return bytes_; }

 private:
  void put(std::string_view bytes);

  std::function<void(std::string_view)> write_;
  int64_t documents_ = 0;
  int64_t bytes_ = 0;
  bool finished_ = false;
};

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
