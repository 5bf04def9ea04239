// libFuzzer target: HTML clean-up and ICU segmentation of arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "han/text/text.h"
#include "han/text/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto options = [](int max_sentences, int max_words, bool join_lines) {
    han::TextOptions o;
    o.max_sentences = max_sentences;  // 0: no cap
    o.max_words = max_words;
    o.max_bytes = 4096;
    o.join_lines = join_lines;
    return o;
  };
  static han::Tokenizer capped_tokenizers[] = {han::Tokenizer(options(8, 16, false)),
                                               han::Tokenizer(options(8, 16, true))};
  const std::string text = han::repair_utf8(std::string(reinterpret_cast<const char*>(data), size));
  const han::CleanText cleaned = han::clean_text(text);
  if (cleaned.origin.size() != static_cast<size_t>(han::count_code_points(cleaned.text)) + 1) __builtin_trap();
  for (han::Tokenizer& tokenizer : capped_tokenizers) {
    const han::TokenizedDocument doc = tokenizer.tokenize(text);
    for (const auto& sentence : doc.sentences) {
      if (sentence.words.empty() || sentence.words.size() > 16) __builtin_trap();
      for (const auto& word : sentence.words) {
        if (word.span.begin < 0 || word.span.end > doc.length || word.span.begin >= word.span.end) __builtin_trap();
      }
    }
  }
  // join_lines only moves sentence ends. ICU splits words within a sentence,
  // so a token at a moved end may be cut differently ("film." "@" against
  // "film.@"), but without caps both readings keep the same characters.
  static han::Tokenizer by_line(options(0, 0, false)), joined(options(0, 0, true));
  auto token_text = [](const han::TokenizedDocument& d) {
    std::string out;
    for (const auto& sentence : d.sentences)
      for (const auto& word : sentence.words) out += word.text;
    return out;
  };
  if (token_text(joined.tokenize(text)) != token_text(by_line.tokenize(text))) __builtin_trap();
  return 0;
}
