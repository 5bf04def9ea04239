// A corpus tokenized once, and its file. Training needs of a corpus only its
// documents as word forms, their labels and a few counts; `han prepare`
// writes those to one file (.hanc) that later runs read instead of reading
// and segmenting the text again, and the implicit cache keeps one such file
// per corpus and text settings.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "han/data/corpus.h"
#include "han/data/encode.h"
#include "han/text/text.h"

namespace han {

// The swapped-fields check needs to know only whether a corpus has a handful
// of distinct texts: counting stops here.
constexpr int64_t kCountedDistinctTexts = 20;

struct TokenizedCorpus {
  std::string path;  // the corpus as the user named it
  CorpusFormat format = CorpusFormat::Auto;
  FormTable forms;
  std::vector<std::string> labels;         // distinct label names, in order of first appearance
  std::vector<std::string> label_origins;  // where each label first occurs ("path:line"), for messages
  std::string first_unlabeled;             // where the first document without a label is; empty: none
  // label: an index into `labels`, -1 when unlabeled; targets: every label's
  // index when the document has several, else empty.
  std::vector<InternedDocument> documents;
  CorpusStats stats;           // what reading repaired
  TextReport text;             // what the text caps cut
  WordEstimate words;          // estimate_words over the labeled texts: the automatic recipe's sizes
  int64_t distinct_texts = 0;  // up to kCountedDistinctTexts
  std::string first_text;      // the first document's first bytes, for messages
};

// Tokenizes every document on `threads` threads (intern_documents).
TokenizedCorpus tokenize_corpus(const Corpus& corpus, const TextOptions& options, int threads,
                                const std::function<void(int64_t done)>& on_done = {});

struct CorpusLoadOptions;

// Reads a corpus file record by record (a folder or standard input whole),
// tokenizes it in chunks and hands each document to `sink`, in order: memory
// holds one chunk. Returns the corpus without its documents.
TokenizedCorpus tokenize_streamed(const std::string& path, const CorpusLoadOptions& options,
                                  const std::function<void(InternedDocument&)>& sink);

// Tokenizes `path` straight into the prepared file `output` (han prepare);
// returns the corpus without its documents.
TokenizedCorpus prepare_corpus(const std::string& path, const CorpusLoadOptions& options, const nlohmann::json& key,
                               const std::string& output);

// How many labels each document carries: 1 for one, 0 for none.
int64_t label_count(const InternedDocument& document);

// What a prepared file was made from: the corpus path, its size and
// modification times (of every file below a folder), the reader's and the
// text settings, and the format's version. A cache whose key differs from
// the one wanted is stale.
nlohmann::json prepared_key(const std::string& corpus_path, const CorpusOptions& reader, const TextOptions& text);

// The format's version: bumped when the file or the tokenizer's output
// changes, so that older files are rebuilt.
constexpr int kPreparedVersion = 2;

// Writes a prepared file as its documents arrive (memory holds none of
// them), then the corpus's forms, labels and counts; the file appears at
// `path` atomically at finish(), and not at all without it.
class PreparedWriter {
 public:
  explicit PreparedWriter(const std::string& path);
  ~PreparedWriter();
  PreparedWriter(const PreparedWriter&) = delete;
  PreparedWriter& operator=(const PreparedWriter&) = delete;
  void add(const InternedDocument& document);
  // `corpus` gives all but the documents, which add() gave.
  void finish(const TokenizedCorpus& corpus, const nlohmann::json& key);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Writes `corpus` atomically to `path`, with `key`.
void write_prepared(const TokenizedCorpus& corpus, const nlohmann::json& key, const std::string& path);

// True when `path` is a file that starts like a prepared corpus.
bool is_prepared_file(const std::string& path);

struct PreparedFile {
  nlohmann::json key;
  TokenizedCorpus corpus;
};
// Reads a prepared file, checking its checksum and every id and length in it.
// Throws InputError naming the file when it is not one, is of another
// version, or is damaged.
PreparedFile read_prepared(const std::string& path);

// Where the implicit cache lives: $HAN_CACHE_DIR, else $XDG_CACHE_HOME/han,
// else ~/.cache/han. Empty when none can be named.
std::string default_cache_folder();

struct CorpusLoadOptions {
  CorpusOptions reader;
  TextOptions text;
  int threads = 1;
  bool use_cache = true;     // the implicit cache
  std::string cache_folder;  // empty: default_cache_folder()
  std::function<void(const std::string&)> on_note;
  std::function<void(int64_t done, int64_t total)> on_tokenized;  // progress while tokenizing
};

// A training corpus, tokenized: read from `path` when it is a prepared file
// (whose text settings must be options.text's), else from the implicit cache
// when it holds this corpus with these settings, else read and tokenized
// (and then cached). A stale or damaged cache is rebuilt, never used; a
// cache that cannot be written is noted, not an error.
TokenizedCorpus load_tokenized(const std::string& path, const CorpusLoadOptions& options);

}  // namespace han
