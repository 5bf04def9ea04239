// han serve's request parsing: what is accepted, and the status of each mistake.
#include <catch2/catch.hpp>

#include <string>

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
