// Text pipeline: clean-up and ICU sentence/word segmentation.
//
// Offsets: every Span counts Unicode code points of the document text as it
// was given (after decoding to UTF-8), so `text[begin:end]` in Python, or
// Array.from(text).slice(begin, end) in JavaScript, gives back the piece.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "han/text/utf8.h"

namespace han {

// Half-open range [begin, end) of code points in the original text.
struct Span {
  int64_t begin = 0;
  int64_t end = 0;
  bool operator==(const Span& other) const { return begin == other.begin && end == other.end; }
};

struct TextOptions {
  bool lowercase = true;
  // Caps that keep one huge document from exhausting memory.
  // What is cut is counted in TokenizedDocument.
  int max_sentences = 64;  // per document
  int max_words = 100;     // per sentence
  // Only the first max_bytes of a document are cleaned and segmented (cut at a
  // character boundary), so a 50 MB line costs about what 1 MB does. 0: no cap.
  int64_t max_bytes = 1 << 20;
  std::string locale = "en";  // ICU locale of the break rules; Chinese works with "en" too
  // ICU ends a sentence at every line break. Hard-wrapped text (e-mail, news
  // posts) then splits mid-sentence; with join_lines a lone line break reads
  // as a space, and only a blank line (two or more breaks) ends a sentence.
  bool join_lines = false;
};

struct Token {
  std::string text;  // surface form, as in the cleaned text
  std::string form;  // form looked up in the vocabulary (lower-cased when asked)
  Span span;
};

struct Sentence {
  std::string text;  // cleaned sentence text, trimmed
  Span span;
  std::vector<Token> words;
};

struct TokenizedDocument {
  std::vector<Sentence> sentences;  // each holds at least one word
  int64_t sentences_cut = 0;        // sentences dropped past max_sentences
  int64_t words_cut = 0;            // words dropped past max_words (kept sentences only)
  int64_t bytes_cut = 0;            // bytes past max_bytes, never read
  int64_t length = 0;               // code points in the original text
};

// Result of clean_text(): `text` is the cleaned UTF-8 text, and origin[i] is
// the code point of the original where cleaned code point i came from;
// origin has one extra entry, the original's end, so that a cleaned range
// [b, e) maps to the original range [origin[b], origin[e]).
struct CleanText {
  std::string text;
  std::vector<int64_t> origin;
};

// HTML tags removed (<br> and block tags become line breaks), entities decoded,
// Unicode NFC, control characters dropped (tab and line breaks kept as space
// and newline). Input must be valid UTF-8 (see repair_utf8).
CleanText clean_text(std::string_view utf8);

// Splits documents into sentences and words with ICU break iterators.
// Not thread-safe (the iterators carry state): use one Tokenizer per thread.
class Tokenizer {
 public:
  explicit Tokenizer(TextOptions options = {});
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Input must be valid UTF-8. Sentences without any word are left out.
  TokenizedDocument tokenize(std::string_view utf8);

  // What the caps cut (as in TokenizedDocument).
  struct Cuts {
    int64_t sentences = 0;
    int64_t words = 0;
    int64_t bytes = 0;
  };
  // Only the words' vocabulary forms, for training: the same clean-up,
  // segmentation and caps as tokenize(), without the surface text, spans and
  // sentence text that cost a third of its time. Calls word(form) for each
  // kept word (the view lasts until the next call) and sentence_end(words)
  // after each kept sentence.
  Cuts tokenize_forms(std::string_view utf8, const std::function<void(std::string_view form)>& word,
                      const std::function<void(int32_t words)>& sentence_end);

  const TextOptions& options() const { return options_; }

 private:
  struct Impl;
  // The clean-up, sentence and word segmentation and caps both share: calls
  // on_word(buffer, a, b) for each kept word (UTF-16 offsets into the cleaned
  // text) and on_sentence(buffer, first, last, words) after each kept sentence.
  template <class OnWord, class OnSentence>
  void segment(std::string_view utf8, TokenizedDocument& counts, OnWord&& on_word, OnSentence&& on_sentence);

  TextOptions options_;
  std::unique_ptr<Impl> impl_;
};

// Tokenizes `count` texts on `threads` threads (one Tokenizer each) and hands
// each result to `consume` on the calling thread, in order. Work goes in
// blocks, which bounds the tokenized documents held at once.
void tokenize_parallel(size_t count, const std::function<std::string_view(size_t index)>& text_of,
                       const TextOptions& options, int threads,
                       const std::function<void(size_t index, TokenizedDocument&& tokens)>& consume);

// Runs work(worker, index, tokenizer, text) for `count` texts on `threads`
// threads, each with a Tokenizer of its own. Worker w (0 is the calling
// thread) gets the indices i with i % threads == w, in increasing order; a
// failure stops the others, and the lowest worker's is rethrown.
void run_tokenizers(
    size_t count, const std::function<std::string_view(size_t index)>& text_of, const TextOptions& options, int threads,
    const std::function<void(int worker, size_t index, Tokenizer& tokenizer, std::string_view text)>& work);

// Tokenizes `count` texts on `threads` threads (one Tokenizer each) and hands
// each result to `work` on the thread that tokenized it, at once: what is
// done per document (interning, encoding) runs in parallel too. Worker w
// (0 is the calling thread) gets the indices i with i % threads == w, in
// increasing order, so what each worker sees is deterministic. `work` keeps
// per-worker state; failures as for run_tokenizers.
void tokenize_on_workers(size_t count, const std::function<std::string_view(size_t index)>& text_of,
                         const TextOptions& options, int threads,
                         const std::function<void(int worker, size_t index, TokenizedDocument&& tokens)>& work);

}  // namespace han
