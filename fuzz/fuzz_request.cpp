// libFuzzer target: the parsing of han serve that is ours (HTTP itself is
// Beast's). Any body must end in a list of documents with valid UTF-8 or in
// RequestError with a 4xx status; any target must decode to no more bytes
// than it has, without a query; any Authorization value must match a key only
// when it is exactly "Bearer KEY".
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "han/serve/request.h"
#include "han/text/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  try {
    const auto documents = han::parse_documents_request(body, 64);
    if (documents.empty() || documents.size() > 64) __builtin_trap();
    for (const auto& document : documents) {
      if (!han::is_valid_utf8(document.text) || !han::is_valid_utf8(document.origin)) __builtin_trap();
    }
  } catch (const han::RequestError& e) {
    if (e.status() < 400 || e.status() > 499) __builtin_trap();
  }
  const std::string path = han::decoded_path(body);
  if (path.size() > body.size() || path.size() > body.substr(0, body.find('?')).size()) __builtin_trap();
  if (han::bearer_token_matches(body, "s3cr3t") && body.find("s3cr3t") == std::string_view::npos) __builtin_trap();
  return 0;
}
