// The JSON requests of han serve's /v1/classify and /v1/explain, parsed and
// checked without LibTorch, so that the fuzzer and the tests reach them alone.
// docs/SERVE.md documents the format.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "han/data/data.h"

namespace han {

// A request the client got wrong: `status` is the HTTP status to answer
// (400 malformed, 413 over a limit, 422 well-formed but unusable).
class RequestError : public std::runtime_error {
 public:
  RequestError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// Accepts {"text": "..."} or {"documents": [D, ...]}, where each D is a
// string or {"text": "...", "id": "..."} (id: a string or an integer, echoed
// back). Documents without an id get "0", "1", ... by position.
// Throws RequestError naming the field at fault.
std::vector<Document> parse_documents_request(std::string_view body, size_t max_documents);

}  // namespace han
