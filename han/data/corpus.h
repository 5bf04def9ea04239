// Corpus readers: one interface over folders, CSV/TSV, JSON Lines and
// fastText lines. Readers never print; they count what they repaired.
#pragma once

#include <cstdint>
#include <istream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace han {

enum class CorpusFormat { Auto, Folder, Csv, Tsv, JsonLines, FastText };

// "auto", "folder", "csv", "tsv", "jsonl", "fasttext"; throws UsageError otherwise.
CorpusFormat parse_corpus_format(std::string_view name);
std::string to_string(CorpusFormat format);

struct CorpusOptions {
  CorpusFormat format = CorpusFormat::Auto;
  // Column or field names. Empty: guessed from common names
  // (text: text, review, document, content, body, sentence;
  //  label: label, labels, sentiment, class, category, target, y).
  std::string text_field;
  std::string label_field;
  // CSV/TSV: the field separator (0: ',' for CSV, a tab for TSV), and files
  // whose first row is a document: their columns are named 1, 2, ...; the
  // label is column 1 and the text every other column unless named.
  char delimiter = 0;
  bool no_header = false;
  // Folder corpora: aclImdb's unlabeled `unsup` folder is skipped unless asked;
  // when read, its documents carry an empty label.
  bool include_unsup = false;
  // Folder corpora: a file found with the same name and the same bytes in
  // several class folders is one document with all their labels.
  bool multi_label_folders = false;
  // For unsupervised uses (han embed): labels are read where present and
  // otherwise left empty; a missing label column, field or __label__ prefix
  // is not an error.
  bool labels_optional = false;
  // CSV/TSV: a label field holding several labels separated by this
  // character ("A,B" or "A|B" as two labels); 0: one label a field. JSON
  // arrays of labels and repeated __label__ are read as several labels
  // without it.
  char label_separator = 0;
  // Threads that read a folder corpus's files (0: all cores, at most 4);
  // folders of fewer than 256 files are read on the calling thread.
  int threads = 0;
};

struct Document {
  std::string text;          // valid UTF-8
  std::string label;         // empty when unlabeled; the first label of a multi-label document
  std::string origin;        // "path" or "path:line", for messages
  int64_t bytes_unread = 0;  // bytes of the file past read_inputs' cap: counted, not read
  // A document with several labels: all of them, distinct, in the order
  // read (label holds the first). Empty for a document with one label.
  std::vector<std::string> labels{};
};

// Every label of a document: its labels, or its one label (none when unlabeled).
std::vector<std::string> labels_of(const Document& document);

struct CorpusStats {
  int64_t documents = 0;       // documents returned, empty ones included
  int64_t empty = 0;           // documents with no text (only whitespace)
  int64_t invalid_utf8 = 0;    // documents with invalid UTF-8, repaired with U+FFFD
  int64_t decoded_latin1 = 0;  // folder files that were not UTF-8, read as Latin-1
  int64_t skipped_files = 0;   // files outside class folders, hidden files
  // Folder corpora: files with the same name and bytes as one in another
  // class folder, read as that document's further labels (merged) or, without
  // multi_label_folders, as documents of their own (copies).
  int64_t merged_files = 0;
  int64_t copies_across_classes = 0;
};

struct Corpus {
  std::string path;
  CorpusFormat format = CorpusFormat::Auto;  // the format actually read
  std::vector<Document> documents;
  CorpusStats stats;
};

// Detects the format of a path: a folder, or a file by extension
// (.csv, .tsv, .jsonl/.ndjson) and else by its first line.
// Throws InputError naming the path when it cannot tell.
CorpusFormat detect_corpus_format(const std::string& path);

// Tsv when the first line of a file holds a tab, else Csv: for files that
// --delimiter or --no-header say are one of them, whatever their name.
CorpusFormat sniff_csv_format(const std::string& path);

// The format read_corpus reads `path` as: options.format, else what
// --delimiter or --no-header or detect_corpus_format say. Not for "-".
CorpusFormat resolve_corpus_format(const std::string& path, const CorpusOptions& options);

// Reads a labeled corpus. Every document has a non-empty label, except those
// of an unsup/ folder read with include_unsup (for unsupervised uses).
// Throws InputError ("path:line: what is wrong") on unreadable paths, unknown
// columns, a line that is not JSON, a missing label, or an empty corpus.
Corpus read_corpus(const std::string& path, const CorpusOptions& options = {});

// Stream versions, for tests and stdin; `name` is used in messages.
Corpus read_csv(std::istream& in, const std::string& name, char delimiter, const CorpusOptions& options);
Corpus read_json_lines(std::istream& in, const std::string& name, const CorpusOptions& options);
Corpus read_fasttext(std::istream& in, const std::string& name, const CorpusOptions& options);

// Inputs to classify or explain, unlabeled: each path is a file (one document),
// a folder (every regular file below it, sorted), or "-" for stdin (one document).
// With one_per_line, every non-empty line of every file is a document.
// max_document_bytes > 0 (the model's text.max_bytes): of a whole-file
// document only a few bytes past it are read, the rest counted in
// bytes_unread, so a huge file costs no memory.
std::vector<Document> read_inputs(const std::vector<std::string>& paths, bool one_per_line,
                                  CorpusStats* stats = nullptr, int64_t max_document_bytes = 0);

// The corpus format a file's name says (.csv, .tsv, .jsonl, .ndjson, .json, each
// also with .gz); Auto for any other name. classify and explain read such
// inputs as corpora: one document a record, not one a file.
CorpusFormat corpus_format_by_name(const std::string& path);

// Raw text for unsupervised uses (han embed), labels ignored:
// - a labeled corpus in any reader format (aclImdb's unsup/ folder included);
// - a folder without sub-folders: every file is one document (aclImdb's train/unsup);
// - a file in no corpus format: every non-empty line is one document.
// Adds to `stats` when given.
std::vector<Document> read_unlabeled(const std::string& path, const CorpusOptions& options,
                                     CorpusStats* stats = nullptr);

// One record of a corpus file, with what a prediction is written beside:
// a CSV/TSV row's fields as read, or a JSON Lines record's object.
struct Record {
  Document document;
  std::vector<std::string> fields;  // CSV and TSV
  nlohmann::json object;            // JSON Lines
  std::string line;                 // JSON Lines: the line as read (made valid UTF-8), fields in their order
};

// A CSV, TSV, JSON Lines or fastText file, gzipped or not ("-": standard
// input), read one record at a time: memory holds one chunk of the file, not
// the file. Reports errors as read_corpus does; labels follow
// options.labels_optional.
class RecordReader {
 public:
  // options.format must name one of those formats (detect_corpus_format or
  // corpus_format_by_name give it).
  RecordReader(const std::string& path, const CorpusOptions& options);
  ~RecordReader();
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;

  CorpusFormat format() const;
  char delimiter() const;                           // CSV and TSV
  const std::vector<std::string>& columns() const;  // CSV and TSV: the header's names, or 1, 2, ... without one
  bool has_header() const;
  // The next record; false at the end. Throws InputError when the file held no record.
  bool next(Record& record);
  const CorpusStats& stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// One input of classify or explain: a path ("-": standard input) read as
// text when corpus.format is Auto (a file is one document, a folder its
// files, or each line one with one_per_line), else as a corpus file of that
// format, one document a record (labels optional).
struct InputSource {
  std::string path;
  CorpusOptions corpus;
};

// classify's and explain's inputs, one document at a time and in order
// (read_inputs' order), so that memory holds one chunk of one file however
// many documents there are. Every path is checked at construction.
class InputReader {
 public:
  InputReader(std::vector<InputSource> sources, bool one_per_line, int64_t max_document_bytes = 0);
  ~InputReader();
  InputReader(const InputReader&) = delete;
  InputReader& operator=(const InputReader&) = delete;

  // The next document, unlabeled; false after the last.
  bool next(Document& document);
  // What was read and repaired so far.
  const CorpusStats& stats() const;
  // The corpus files read to their end, with their document counts.
  struct CorpusCount {
    std::string path;
    CorpusFormat format;
    int64_t documents;
  };
  const std::vector<CorpusCount>& corpora() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace han
