#include "han/text/utf8.h"

#include <algorithm>

#include <unicode/utf8.h>

namespace han {

bool is_valid_utf8(std::string_view bytes) {
  const auto* s = reinterpret_cast<const uint8_t*>(bytes.data());
  const int32_t length = static_cast<int32_t>(bytes.size());
  // ICU's decoder rejects overlong forms, surrogates and code points past U+10FFFF.
  for (int32_t i = 0; i < length;) {
    UChar32 c;
    U8_NEXT(s, i, length, c);
    if (c < 0) return false;
  }
  return true;
}

std::string repair_utf8(std::string_view bytes, int64_t* replaced) {
  std::string out;
  out.reserve(bytes.size());
  int64_t bad = 0;
  const auto* s = reinterpret_cast<const uint8_t*>(bytes.data());
  const int32_t length = static_cast<int32_t>(bytes.size());
  for (int32_t i = 0; i < length;) {
    const int32_t start = i;
    UChar32 c;
    U8_NEXT(s, i, length, c);
    if (c < 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++bad;
    } else {
      out.append(bytes.data() + start, static_cast<size_t>(i - start));
    }
  }
  if (replaced) *replaced = bad;
  return out;
}

std::string latin1_to_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 8);
  for (unsigned char c : bytes) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

int64_t count_code_points(std::string_view utf8) {
  int64_t count = 0;
  for (unsigned char c : utf8) count += (c & 0xC0) != 0x80;
  return count;
}

namespace {

// The next code point of valid UTF-8 (readers repair the text before this).
char32_t next_code_point(std::string_view text, size_t& at) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  int length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  length = static_cast<int>(std::min<size_t>(static_cast<size_t>(length), text.size() - at));
  char32_t c = length == 1 ? lead : lead & (0x3F >> (length - 1));
  for (int i = 1; i < length; ++i) c = (c << 6) | (byte(at + static_cast<size_t>(i)) & 0x3F);
  at += static_cast<size_t>(length);
  return c;
}

bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0xF900 && c <= 0xFAFF) ||
         (c >= 0x3040 && c <= 0x30FF) || (c >= 0x20000 && c <= 0x2FA1F);
}

// Letters and digits of any script, roughly: ASCII alphanumerics and every
// code point above ASCII outside the punctuation and symbol blocks.
bool is_word_character(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (c >= 0x2000 && c <= 0x2BFF) return false;  // punctuation, symbols, arrows, dingbats
  if (c >= 0x3000 && c <= 0x303F) return false;  // CJK punctuation
  if (c >= 0xFF00 && c <= 0xFF0F) return false;  // full-width punctuation
  return c != 0xA0 && c != 0xFEFF && c != 0xFFFD;
}

}  // namespace

WordEstimate estimate_words(std::string_view text) {
  WordEstimate count;
  bool in_word = false;
  for (size_t at = 0; at < text.size();) {
    const char32_t c = next_code_point(text, at);
    if (is_cjk(c)) {
      ++count.tokens;
      ++count.cjk;
      in_word = false;
    } else if (is_word_character(c)) {
      if (!in_word) ++count.tokens;
      in_word = true;
    } else {
      in_word = false;
    }
  }
  return count;
}

}  // namespace han
