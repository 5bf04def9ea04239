// The HTML report: data embedded once and safely, nothing loaded from outside.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "han/report/report.h"

namespace {

using nlohmann::json;

json document_with(const std::string& token, const std::string& source = "review.txt") {
  return json{
      {"schema_version", 1},
      {"source", source},
      {"label", "pos"},
      {"confidence", 0.75},
      {"probabilities", {{"neg", 0.25}, {"pos", 0.75}}},
      {"sentences",
       json::array(
           {{{"index", 0},
             {"text", token + " here"},
             {"span", {0, 10}},
             {"weight", 1.0},
             {"words",
              json::array({{{"token", token}, {"span", {0, 5}}, {"weight", 0.6}, {"id", 7}, {"score", 0.6}},
                           {{"token", "here"}, {"span", {6, 10}}, {"weight", 0.4}, {"id", 1}, {"score", 0.4}}})}}})},
      {"truncated", {{"sentences", 0}, {"words", 0}, {"bytes", 0}}},
      {"length", 10}};
}

// The text between <script type="application/json" id="han-data"> and </script>.
std::string embedded_data(const std::string& page) {
  const std::string open = "<script type=\"application/json\" id=\"han-data\">";
  const size_t begin = page.find(open);
  REQUIRE(begin != std::string::npos);
  REQUIRE(page.find(open, begin + 1) == std::string::npos);  // embedded once
  const size_t end = page.find("</script>", begin);
  REQUIRE(end != std::string::npos);
  return page.substr(begin + open.size(), end - begin - open.size());
}

}  // namespace

TEST_CASE("json_for_script escapes what could end the script element and parses back") {
  const json value = {{"text", "a </script><script>alert(1)</script> & b \xE2\x80\xA8 line"}, {"n", 1.5}};
  const std::string out = han::json_for_script(value);
  CHECK(out.find('<') == std::string::npos);
  CHECK(out.find('>') == std::string::npos);
  CHECK(out.find('&') == std::string::npos);
  CHECK(out.find("\xE2\x80\xA8") == std::string::npos);
  CHECK(out.find("\\u003c/script\\u003e") != std::string::npos);
  CHECK(json::parse(out) == value);
}

TEST_CASE("a report carries the documents once, unchanged, and text stays text") {
  const json documents =
      json::array({document_with("<script>alert('x')</script>"), document_with("很好", "hotel.csv:3")});
  const std::string page = han::render_html_report(documents);
  const std::string data = embedded_data(page);
  CHECK(json::parse(data) == documents);
  // The only <script> elements are the page's own two.
  size_t scripts = 0;
  for (size_t at = page.find("<script"); at != std::string::npos; at = page.find("<script", at + 1)) ++scripts;
  CHECK(scripts == 2);
  CHECK(page.find("<script>alert") == std::string::npos);
  CHECK(page.find("\\u003cscript\\u003ealert('x')") != std::string::npos);  // kept, as data
  // Chinese stays readable UTF-8 in the page (not escaped away).
  CHECK(data.find("很好") != std::string::npos);
  CHECK(page.find("<meta charset=\"utf-8\">") != std::string::npos);
}

TEST_CASE("a report written in pieces is the page rendered whole") {
  const json documents =
      json::array({document_with("first"), document_with("</script>", "b.txt"), document_with("third", "c.txt:9")});
  std::string page;
  han::HtmlReportWriter writer([&](std::string_view bytes) { page += bytes; });
  for (const json& document : documents) writer.add(document);
  writer.finish();
  writer.finish();  // a second finish writes nothing
  CHECK(page == han::render_html_report(documents));
  CHECK(writer.bytes_written() == static_cast<int64_t>(page.size()));
  CHECK(json::parse(embedded_data(page)) == documents);
  CHECK_THROWS_AS(writer.add(documents[0]), std::logic_error);

  std::string empty;
  han::HtmlReportWriter none([&](std::string_view bytes) { empty += bytes; });
  none.finish();
  CHECK(json::parse(embedded_data(empty)) == json::array());
}

TEST_CASE("a report loads nothing from outside") {
  const std::string page = han::render_html_report(json::array({document_with("fine")}));
  CHECK(page.find("http://") == std::string::npos);
  CHECK(page.find("https://") == std::string::npos);
  CHECK(page.find(" src=") == std::string::npos);
  CHECK(page.find("<link") == std::string::npos);
  CHECK(page.find("@import") == std::string::npos);
  CHECK(page.find("default-src 'none'") != std::string::npos);  // the browser enforces it too
}

TEST_CASE("report titles are escaped") {
  han::ReportOptions options;
  options.title = "<b>bold</b> & more";
  options.subtitle = "model \"m.han\"";
  const std::string page = han::render_html_report(json::array(), options);
  CHECK(page.find("<b>bold</b>") == std::string::npos);
  CHECK(page.find("&lt;b&gt;bold&lt;/b&gt; &amp; more") != std::string::npos);
  CHECK(page.find("model &quot;m.han&quot;") != std::string::npos);
  CHECK(json::parse(embedded_data(page)) == json::array());
}

TEST_CASE("a report needs an array of documents") {
  CHECK_THROWS_AS(han::render_html_report(json::object()), std::invalid_argument);
}

TEST_CASE("the shared script and style are the page's") {
  const std::string page = han::render_html_report(json::array());
  CHECK(page.find(std::string(han::report_script())) != std::string::npos);
  CHECK(page.find(std::string(han::report_style())) != std::string::npos);
  CHECK(std::string(han::report_script()).find("innerHTML") == std::string::npos);  // text only, never markup
}
