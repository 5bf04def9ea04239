// UTF-8 checks and repairs shared by the readers and the tokenizer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace han {

bool is_valid_utf8(std::string_view bytes);
// Replaces each invalid sequence with U+FFFD; `replaced` counts them.
std::string repair_utf8(std::string_view bytes, int64_t* replaced = nullptr);
std::string latin1_to_utf8(std::string_view bytes);
int64_t count_code_points(std::string_view utf8);

// Words as a quick estimate counts them, without segmenting: runs of letters
// or digits of any script, and each CJK character one (CJK text has no spaces).
struct WordEstimate {
  int64_t tokens = 0;
  int64_t cjk = 0;  // of those, CJK characters
};
WordEstimate estimate_words(std::string_view valid_utf8);

}  // namespace han
