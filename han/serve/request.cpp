#include "han/serve/request.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace han {
namespace {

using nlohmann::json;

Document document_from(const json& item, size_t index) {
  Document document;
  document.origin = std::to_string(index);
  if (item.is_string()) {
    document.text = item.get<std::string>();
    return document;
  }
  if (!item.is_object()) {
    throw RequestError(400, fmt::format("documents[{}]: expected a string or an object with \"text\", got {}", index,
                                        item.type_name()));
  }
  const auto text = item.find("text");
  if (text == item.end()) throw RequestError(400, fmt::format("documents[{}]: missing \"text\"", index));
  if (!text->is_string()) {
    throw RequestError(400, fmt::format("documents[{}].text: expected a string, got {}", index, text->type_name()));
  }
  document.text = text->get<std::string>();
  if (const auto id = item.find("id"); id != item.end()) {
    if (id->is_string()) {
      document.origin = id->get<std::string>();
    } else if (id->is_number_integer()) {
      document.origin = id->dump();
    } else {
      throw RequestError(
          400, fmt::format("documents[{}].id: expected a string or an integer, got {}", index, id->type_name()));
    }
  }
  return document;
}

}  // namespace

std::string framing_error(const std::vector<std::string>& content_lengths, bool has_transfer_encoding) {
  if (content_lengths.size() > 1) {
    return fmt::format("{} Content-Length headers: send exactly one", content_lengths.size());
  }
  if (content_lengths.empty()) return "";
  if (has_transfer_encoding) return "both Content-Length and Transfer-Encoding: send one of them";
  const std::string& length = content_lengths[0];
  const bool digits = !length.empty() && length.size() <= 19 &&
                      std::all_of(length.begin(), length.end(), [](char c) { return c >= '0' && c <= '9'; });
  return digits ? "" : "Content-Length is not a decimal number of bytes";
}

std::string allowed_methods(std::string_view path) {
  if (path == "/v1/classify" || path == "/v1/explain") return "POST";
  if (path == "/" || path == "/healthz" || path == "/v1/model") return "GET, HEAD";
  return "";
}

bool bearer_token_matches(std::string_view authorization, std::string_view key) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return false;
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  size_t difference = token.size() ^ key.size();
  for (size_t i = 0; i < key.size(); ++i) {
    const auto mine = static_cast<unsigned char>(key[i]);
    const auto theirs = static_cast<unsigned char>(i < token.size() ? token[i] : 0);
    difference |= static_cast<size_t>(mine ^ theirs);
  }
  return difference == 0 && !key.empty();
}

std::string decoded_path(std::string_view target) {
  target = target.substr(0, target.find('?'));
  const auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  std::string out;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == '%' && i + 2 < target.size() && hex(target[i + 1]) && hex(target[i + 2])) {
      out.push_back(static_cast<char>(std::stoi(std::string(target.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(target[i]);
    }
  }
  return out;
}

std::vector<Document> parse_documents_request(std::string_view body, size_t max_documents) {
  json request;
  // Refused while parsing, before the tree is built: each level of nesting
  // costs a heap node, so 1 MB of "[" held about 50 MB per request.
  // So is a body of many tiny values ("[{},{},...]"): its tree would cost
  // some 20 times its bytes.
  const size_t max_values = kMaxValuesBesides + kMaxValuesPerDocument * max_documents;
  size_t values = 0;
  const json::parser_callback_t limit_depth = [&values, max_values, max_documents](int depth, json::parse_event_t event,
                                                                                   json&) {
    const bool opens = event == json::parse_event_t::object_start || event == json::parse_event_t::array_start;
    if (opens && depth >= kMaxRequestDepth) {
      throw RequestError(400, fmt::format("the body nests arrays and objects deeper than {} levels", kMaxRequestDepth));
    }
    if ((opens || event == json::parse_event_t::value) && ++values > max_values) {
      throw RequestError(413, fmt::format("the body holds more than {} JSON values ({} a document, for the {} "
                                          "documents --max-documents allows, and {} more)",
                                          max_values, kMaxValuesPerDocument, max_documents, kMaxValuesBesides));
    }
    return true;
  };
  try {
    // nlohmann rejects invalid UTF-8 inside strings as a parse error.
    request = json::parse(body.begin(), body.end(), limit_depth);
  } catch (const json::exception& e) {
    throw RequestError(400, fmt::format("the body is not valid JSON: {}", e.what()));
  }
  if (!request.is_object()) {
    throw RequestError(
        400, fmt::format("expected a JSON object with \"documents\" or \"text\", got {}", request.type_name()));
  }
  const auto text = request.find("text");
  const auto documents = request.find("documents");
  if ((text == request.end()) == (documents == request.end())) {
    throw RequestError(400, "give either \"text\" (one document) or \"documents\" (an array), not both or neither");
  }
  std::vector<Document> out;
  if (text != request.end()) {
    if (!text->is_string()) throw RequestError(400, fmt::format("text: expected a string, got {}", text->type_name()));
    out.push_back(document_from(*text, 0));
    return out;
  }
  if (!documents->is_array()) {
    throw RequestError(400, fmt::format("documents: expected an array, got {}", documents->type_name()));
  }
  if (documents->empty()) throw RequestError(422, "documents: the array is empty");
  if (documents->size() > max_documents) {
    throw RequestError(413,
                       fmt::format("documents: {} documents, more than the {} a request may hold (--max-documents)",
                                   documents->size(), max_documents));
  }
  out.reserve(documents->size());
  for (size_t i = 0; i < documents->size(); ++i) out.push_back(document_from((*documents)[i], i));
  return out;
}

}  // namespace han
