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

class PreparedRecords;

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
  // Read from a prepared file: the documents stay in it, and `documents` is
  // empty; training reads them batch by batch.
  std::shared_ptr<const PreparedRecords> records;
  CorpusStats stats;           // what reading repaired
  TextReport text;             // what the text caps cut
  WordEstimate words;          // estimate_words over the labeled texts: the automatic recipe's sizes
  int64_t distinct_texts = 0;  // up to kCountedDistinctTexts
  std::string first_text;      // the first document's first bytes, for messages
};

// The documents of a prepared file, read on demand. Memory holds 16 bytes
// a document (where its record starts, its sentence count and label) and
// the label ids of documents with several, never the words, so a corpus of
// millions of documents trains in bounded memory.
class PreparedRecords {
 public:
  PreparedRecords(const PreparedRecords&) = delete;
  PreparedRecords& operator=(const PreparedRecords&) = delete;
  ~PreparedRecords();
  int64_t size() const { return static_cast<int64_t>(entries_.size()); }
  int32_t sentences(int64_t i) const { return entries_[static_cast<size_t>(i)].sentences; }
  int64_t label(int64_t i) const { return entries_[static_cast<size_t>(i)].label; }
  // Every label index of a document with several; empty otherwise.
  std::vector<int32_t> targets(int64_t i) const;
  // Document i, its forms as the file's form ids. Throws InputError when
  // the file no longer holds what it held when opened.
  void read(int64_t i, InternedDocument& out) const;
  // Every document, in order, read front to back through a buffer, until
  // `visit` returns false. Throws InputError as read() does.
  void scan(const std::function<bool(int64_t i, const InternedDocument&)>& visit) const;

 private:
  friend struct PreparedScan;
  PreparedRecords() = default;
  struct Entry {
    uint64_t offset;  // of the record; the next one's (or the forms') ends it
    int32_t sentences;
    int32_t label;
  };
  std::string path_;
  int fd_ = -1;
  uint64_t forms_ = 0, labels_ = 0, end_ = 0;  // id bounds; where the records end
  std::vector<Entry> entries_;
  std::vector<int64_t> target_begin_;  // empty when no document has several labels
  std::vector<int32_t> target_ids_;
};

// What the checks and the recipe need of a document, without its words.
struct DocumentOutline {
  int64_t sentences = 0;
  int64_t label = -1;  // an index into the corpus's labels; -1: none
  int64_t labels = 0;  // how many it carries
};
int64_t document_count(const TokenizedCorpus& corpus);
// Every document's outline, in order, from memory or from the records.
void for_each_outline(const TokenizedCorpus& corpus, const std::function<void(const DocumentOutline&)>& visit);

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
// The same checks, keeping the documents in the file: the corpus comes back
// with `records` set and `documents` empty.
PreparedFile open_prepared(const std::string& path);
// Only the key, from the header, unchecked: enough to tell a stale cache
// without reading it.
nlohmann::json read_prepared_key(const std::string& path);

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
// when it holds this corpus with these settings, else read, tokenized and
// cached. From a prepared file or the cache, the documents stay on disk
// (`records`); without a cache they are held in memory. A stale or damaged cache is rebuilt, never used; a
// cache that cannot be written is noted, not an error.
TokenizedCorpus load_tokenized(const std::string& path, const CorpusLoadOptions& options);

}  // namespace han
