// han serve's request parsing: what is accepted, and the status of each mistake.
#include <catch2/catch.hpp>

#include <string>

#include <fmt/format.h>

#include "han/serve/request.h"

namespace {

int status_of(const std::string& body, size_t max_documents = 64) {
  try {
    han::parse_documents_request(body, max_documents);
  } catch (const han::RequestError& e) {
    return e.status();
  }
  return 200;
}

}  // namespace

TEST_CASE("requests hold one text or an array of documents, with ids") {
  auto one = han::parse_documents_request(R"({"text": "A fine film."})", 64);
  REQUIRE(one.size() == 1);
  CHECK(one[0].text == "A fine film.");
  CHECK(one[0].origin == "0");

  auto many = han::parse_documents_request(
      R"({"documents": ["first", {"text": "second", "id": "b"}, {"text": "第三", "id": 42}]})", 64);
  REQUIRE(many.size() == 3);
  CHECK(many[0].origin == "0");
  CHECK(many[1].text == "second");
  CHECK(many[1].origin == "b");
  CHECK(many[2].text == "第三");
  CHECK(many[2].origin == "42");
  CHECK(many[2].label.empty());
}

TEST_CASE("malformed or mistyped requests are 400, with the field named") {
  CHECK(status_of("") == 400);
  CHECK(status_of("{\"documents\": [") == 400);
  CHECK(status_of("[\"a\"]") == 400);
  CHECK(status_of(R"({"text": 5})") == 400);
  CHECK(status_of(R"({"documents": "a"})") == 400);
  CHECK(status_of(R"({"documents": [null]})") == 400);
  CHECK(status_of(R"({"documents": [{"id": "x"}]})") == 400);
  CHECK(status_of(R"({"documents": [{"text": "a", "id": 1.5}]})") == 400);
  CHECK(status_of(R"({"text": "a", "documents": ["b"]})") == 400);
  CHECK(status_of(R"({"other": 1})") == 400);
  CHECK(status_of("{\"text\": \"\xff\"}") == 400);  // invalid UTF-8
  try {
    han::parse_documents_request(R"({"documents": ["ok", {"text": ["no"]}]})", 64);
    FAIL("no error");
  } catch (const han::RequestError& e) {
    CHECK(std::string(e.what()) == "documents[1].text: expected a string, got array");
  }
}

TEST_CASE("limits: too many documents is 413, none is 422") {
  CHECK(status_of(R"({"documents": ["a", "b", "c"]})", 3) == 200);
  CHECK(status_of(R"({"documents": ["a", "b", "c"]})", 2) == 413);
  CHECK(status_of(R"({"documents": []})") == 422);
}

TEST_CASE("nesting is limited while parsing: deep arrays are 400, not memory") {
  const auto nested = [](int depth) {
    return R"({"text": "a", "extra": )" + std::string(static_cast<size_t>(depth), '[') +
           std::string(static_cast<size_t>(depth), ']') + "}";
  };
  // The root object is level 0: an array opened at level kMaxRequestDepth is one too many.
  CHECK(status_of(nested(han::kMaxRequestDepth - 1)) == 200);
  CHECK(status_of(nested(han::kMaxRequestDepth)) == 400);
  const std::string deep = "{\"text\": " + std::string(1 << 20, '[');  // 1 MB of '[', never closed
  try {
    han::parse_documents_request(deep, 64);
    FAIL("no error");
  } catch (const han::RequestError& e) {
    CHECK(e.status() == 400);
    CHECK(std::string(e.what()).find("deeper than 32 levels") != std::string::npos);
  }
}

TEST_CASE("the number of JSON values is limited while parsing: many tiny ones are 413, not memory") {
  // --max-documents 4 allows 64 + 16 * 4 = 128 values.
  std::string full = R"({"documents": [)";
  for (int i = 0; i < 4; ++i) {
    full += fmt::format(R"({}{{"text": "a", "id": {}, "tags": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}})", i ? "," : "", i);
  }
  full += "]}";
  CHECK(status_of(full, 4) == 200);  // 2 + 4 * 15 values: well inside
  std::string tiny = R"({"text": "a", "extra": [)";
  for (int i = 0; i < 200; ++i) tiny += i ? ",{}" : "{}";
  tiny += "]}";
  CHECK(status_of(tiny, 4) == 413);
  CHECK(status_of(tiny, 64) == 200);  // 203 values are within 64 + 16 * 64
  try {
    han::parse_documents_request(tiny, 4);
    FAIL("no error");
  } catch (const han::RequestError& e) {
    CHECK(std::string(e.what()).find("more than 128 JSON values") != std::string::npos);
  }
}

TEST_CASE("message framing: one decimal Content-Length, never beside Transfer-Encoding") {
  CHECK(han::framing_error({}, false).empty());
  CHECK(han::framing_error({}, true).empty());
  CHECK(han::framing_error({"13"}, false).empty());
  CHECK(han::framing_error({"13", "13"}, false) == "2 Content-Length headers: send exactly one");
  CHECK(han::framing_error({"13", "5"}, false) == "2 Content-Length headers: send exactly one");
  CHECK(han::framing_error({"13"}, true) == "both Content-Length and Transfer-Encoding: send one of them");
  CHECK(han::framing_error({"-1"}, false) == "Content-Length is not a decimal number of bytes");
  CHECK(han::framing_error({"1e3"}, false) == "Content-Length is not a decimal number of bytes");
  CHECK(han::framing_error({""}, false) == "Content-Length is not a decimal number of bytes");
  CHECK(han::framing_error({"99999999999999999999"}, false) == "Content-Length is not a decimal number of bytes");
}

TEST_CASE("the Allow header of each endpoint") {
  CHECK(han::allowed_methods("/v1/classify") == "POST");
  CHECK(han::allowed_methods("/v1/explain") == "POST");
  CHECK(han::allowed_methods("/healthz") == "GET, HEAD");
  CHECK(han::allowed_methods("/v1/model") == "GET, HEAD");
  CHECK(han::allowed_methods("/nowhere").empty());
}

TEST_CASE("an API key is matched only as 'Bearer KEY'") {
  CHECK(han::bearer_token_matches("Bearer s3cr3t", "s3cr3t"));
  CHECK(han::bearer_token_matches("bearer  s3cr3t ", "s3cr3t"));  // the scheme is case-insensitive
  CHECK_FALSE(han::bearer_token_matches("Bearer s3cr3", "s3cr3t"));
  CHECK_FALSE(han::bearer_token_matches("Bearer s3cr3tt", "s3cr3t"));
  CHECK_FALSE(han::bearer_token_matches("Bearer S3CR3T", "s3cr3t"));
  CHECK_FALSE(han::bearer_token_matches("s3cr3t", "s3cr3t"));
  CHECK_FALSE(han::bearer_token_matches("Basic s3cr3t", "s3cr3t"));
  CHECK_FALSE(han::bearer_token_matches("", "s3cr3t"));
  CHECK_FALSE(han::bearer_token_matches("Bearer ", ""));  // an empty key matches nothing
}

TEST_CASE("request targets are percent-decoded, without their query") {
  CHECK(han::decoded_path("/v1/%63lassify?x=1") == "/v1/classify");
  CHECK(han::decoded_path("/%0Ahan:%20forged") == "/\nhan: forged");
  CHECK(han::decoded_path("/100%") == "/100%");
  CHECK(han::decoded_path("/%zz%4") == "/%zz%4");
  CHECK(han::decoded_path("?only=query").empty());
}
