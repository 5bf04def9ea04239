// The text pipeline on the real corpora in ../shared/data: Chinese hotel
// reviews segment into words and sentences, and 20 Newsgroups' Latin-1 files
// read without loss. A missing corpus names the file and skips the test
// (fails it under HAN_REQUIRE_DATA=1).
#include <catch2/catch.hpp>

#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "han/data/corpus.h"
#include "han/text/text.h"
#include "shared_data.h"

using namespace han;

TEST_CASE("ChnSentiCorp reviews segment into Chinese words and sentences") {
  HAN_SHARED_CORPUS(path, "ChnSentiCorp_htl_all.csv");
  Corpus corpus = read_corpus(path);
  REQUIRE(corpus.documents.size() == 7766);
  Tokenizer tokenizer;
  int64_t documents = 0, sentences = 0, tokens = 0, multi_char_tokens = 0, han_tokens = 0;
  for (const Document& d : corpus.documents) {
    TokenizedDocument t = tokenizer.tokenize(d.text);
    const int64_t length = count_code_points(d.text);
    documents += !t.sentences.empty();
    sentences += static_cast<int64_t>(t.sentences.size());
    for (const Sentence& s : t.sentences) {
      REQUIRE(!s.words.empty());
      for (const Token& w : s.words) {
        REQUIRE(w.span.begin < w.span.end);
        REQUIRE(w.span.end <= length);
        ++tokens;
        const int64_t chars = count_code_points(w.text);
        multi_char_tokens += chars > 1;
        // CJK Unified Ideographs start with bytes E4..E9 in UTF-8.
        const auto lead = static_cast<unsigned char>(w.text[0]);
        han_tokens += lead >= 0xE4 && lead <= 0xE9;
      }
    }
  }
  // Every review with text yields at least one sentence.
  CHECK(documents == static_cast<int64_t>(corpus.documents.size()) - corpus.stats.empty);
  INFO("documents " << documents << ", sentences " << sentences << ", tokens " << tokens);
  CHECK(sentences > 2 * documents);       // reviews hold several sentences
  CHECK(han_tokens > tokens / 2);         // mostly Chinese words
  CHECK(multi_char_tokens > tokens / 4);  // dictionary words, not one token per character
  CHECK(tokens > 30 * documents);         // about 128 characters a review
}

TEST_CASE("the forms-only path gives the forms and sentences of the full tokenizer on every ChnSentiCorp review") {
  HAN_SHARED_CORPUS(path, "ChnSentiCorp_htl_all.csv");
  Corpus corpus = read_corpus(path);
  TextOptions tight;  // caps that bite, so their counts are compared too
  tight.max_sentences = 4;
  tight.max_words = 12;
  for (const TextOptions& options : {TextOptions{}, tight}) {
    Tokenizer full(options), forms(options);
    int64_t mismatches = 0, cut = 0;
    for (const Document& d : corpus.documents) {
      const TokenizedDocument t = full.tokenize(d.text);
      std::vector<std::string> expected, actual;
      std::vector<int32_t> expected_lengths, actual_lengths;
      for (const Sentence& s : t.sentences) {
        for (const Token& w : s.words) expected.push_back(w.form);
        expected_lengths.push_back(static_cast<int32_t>(s.words.size()));
      }
      const Tokenizer::Cuts cuts = forms.tokenize_forms(
          d.text, [&](std::string_view form) { actual.emplace_back(form); },
          [&](int32_t words) { actual_lengths.push_back(words); });
      mismatches += actual != expected || actual_lengths != expected_lengths || cuts.sentences != t.sentences_cut ||
                    cuts.words != t.words_cut || cuts.bytes != t.bytes_cut;
      cut += t.sentences_cut + t.words_cut;
    }
    CHECK(mismatches == 0);
    if (options.max_words == 12) CHECK(cut > 0);
  }
}

TEST_CASE("20 Newsgroups reads every message, Latin-1 ones included") {
  HAN_SHARED_CORPUS(tarball, "20news-bydate.tar.gz");
  const auto folder = std::filesystem::temp_directory_path() / ("han-20news-" + std::to_string(::getpid()));
  std::filesystem::create_directories(folder);
  const std::string command = "tar xzf '" + tarball + "' -C '" + folder.string() + "' 20news-bydate-test";
  REQUIRE(std::system(command.c_str()) == 0);
  Corpus corpus = read_corpus((folder / "20news-bydate-test").string());
  std::filesystem::remove_all(folder);
  CHECK(corpus.documents.size() == 7532);
  CHECK(corpus.stats.decoded_latin1 > 0);
  std::set<std::string> labels;
  for (const Document& d : corpus.documents) labels.insert(d.label);
  CHECK(labels.size() == 20);
}

TEST_CASE("Reuters-21578 ModApte reads as a multi-label corpus, every label kept") {
  HAN_SHARED_CORPUS(path, "reuters21578-modapte.jsonl.gz");
  Corpus corpus = read_corpus(path);
  REQUIRE(corpus.format == CorpusFormat::JsonLines);
  REQUIRE(corpus.documents.size() == 7775 + 3019);
  int64_t several = 0, most = 0;
  std::set<std::string> labels;
  for (const Document& d : corpus.documents) {
    const auto all = labels_of(d);
    REQUIRE(!all.empty());
    several += all.size() > 1;
    most = std::max<int64_t>(most, static_cast<int64_t>(all.size()));
    labels.insert(all.begin(), all.end());
  }
  // 118 labels, up to 16 on a document. The data README counts 1,223 train and 438 test
  // documents with several labels; the file holds 1,223 and 437 (counted with Python's json).
  CHECK(several == 1223 + 437);
  CHECK(most == 16);
  CHECK(labels.size() == 118);
}
