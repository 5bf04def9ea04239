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

// Nesting deeper than this is refused (400) while parsing; a request needs 3.
inline constexpr int kMaxRequestDepth = 32;
// JSON values (strings, numbers, arrays, objects...) a request may hold per
// document it may carry, and besides: ample for {"text", "id"} and a few
// fields more, and a bound on the parsed tree, whose nodes cost up to 20
// times the bytes of "{}," that make them.
inline constexpr size_t kMaxValuesPerDocument = 16;
inline constexpr size_t kMaxValuesBesides = 64;

// Why a request's framing is refused (400), or empty when it is sound:
// more than one Content-Length (even equal ones), one that is not a decimal
// number, or a Content-Length beside a Transfer-Encoding. Proxies and
// servers that pick differently would read different bodies from the same
// bytes (request smuggling).
std::string framing_error(const std::vector<std::string>& content_lengths, bool has_transfer_encoding);

// The methods a path answers ("GET", "POST"), or empty for an unknown path:
// the Allow header of a 405.
std::string allowed_methods(std::string_view path);

// Whether an Authorization header value is "Bearer KEY" for this key. The
// comparison takes the same time whatever the token holds (it depends only
// on the key's length), so timing does not tell how much of a guess was right.
bool bearer_token_matches(std::string_view authorization, std::string_view key);

// The path of a request target, percent-decoded ("/v1/%63lassify" is
// "/v1/classify"), without its query; a '%' not followed by two hex digits
// stays as it is.
std::string decoded_path(std::string_view target);

// Accepts {"text": "..."} or {"documents": [D, ...]}, where each D is a
// string or {"text": "...", "id": "..."} (id: a string or an integer, echoed
// back). Documents without an id get "0", "1", ... by position.
// Throws RequestError naming the field at fault.
std::vector<Document> parse_documents_request(std::string_view body, size_t max_documents);

}  // namespace han
