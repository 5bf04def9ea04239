#include "han/data/corpus.h"
#include "han/data/prepared.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <optional>
#include <system_error>
#include <thread>
#include <unordered_map>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "han/base/error.h"
#include "han/base/parallel.h"
#include "han/text/text.h"

namespace han {
namespace fs = std::filesystem;

namespace {

const char* const kTextNames[] = {"text", "review", "document", "content", "body", "sentence"};
const char* const kLabelNames[] = {"label", "labels", "sentiment", "class", "category", "target", "y"};
constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr std::string_view kFastTextPrefix = "__label__";

[[noreturn]] void fail(const std::string& where, const std::string& what) { throw InputError(where + ": " + what); }

// A file of han prepare read as text would be binary noise: say what it is.
void refuse_prepared(const std::string& path) {
  if (is_prepared_file(path)) {
    fail(path, "is a prepared corpus (han prepare): only han train reads it; give the corpus's text here");
  }
}

[[noreturn]] void fail_at(const std::string& name, int64_t line, const std::string& what) {
  throw InputError(fmt::format("{}:{}: {}", name, line, what));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Blank also counts the Unicode spaces that scraped corpora carry
// (NBSP, ideographic space, zero-width space, BOM).
bool is_blank(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (is_space(static_cast<char>(c))) {
      ++i;
    } else if (s.compare(i, 2, "\xC2\xA0") == 0) {
      i += 2;
    } else if (s.compare(i, 3, "\xE3\x80\x80") == 0 || s.compare(i, 3, "\xEF\xBB\xBF") == 0 ||
               s.compare(i, 3, "\xE2\x80\x8B") == 0) {
      i += 3;
    } else {
      return false;
    }
  }
  return true;
}

std::string_view strip_bom(std::string_view s) {
  if (s.substr(0, kBom.size()) == kBom) s.remove_prefix(kBom.size());
  return s;
}

// A short, printable quote of some input for messages.
std::string excerpt(std::string_view s, size_t max_bytes = 40) {
  std::string out;
  size_t i = 0;
  for (; i < s.size() && out.size() < max_bytes; ++i) {
    const char c = s[i];
    if (c == '\n' || c == '\r') break;
    out += (c == '\t') ? ' ' : c;
  }
  const bool cut = out.size() >= max_bytes && i < s.size() && s[i] != '\n' && s[i] != '\r';
  out = repair_utf8(out);
  if (cut) out += "...";
  return out;
}

// "a, b, c", for messages that list names.
template <typename Range>
std::string join(const Range& items) {
  return fmt::format("{}", fmt::join(std::begin(items), std::end(items), ", "));
}

// Natural order: digit runs compare by value, so 2_3.txt comes before 12_8.txt.
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = a[i] >= '0' && a[i] <= '9';
    const bool db = b[j] >= '0' && b[j] <= '9';
    if (da && db) {
      size_t ie = i, je = j;
      while (ie < a.size() && a[ie] >= '0' && a[ie] <= '9') ++ie;
      while (je < b.size() && b[je] >= '0' && b[je] <= '9') ++je;
      size_t is = i, js = j;
      while (is + 1 < ie && a[is] == '0') ++is;
      while (js + 1 < je && b[js] == '0') ++js;
      const size_t la = ie - is, lb = je - js;
      if (la != lb) return la < lb;
      const int cmp = a.compare(is, la, b, js, lb);
      if (cmp != 0) return cmp < 0;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i;
      ++j;
    }
  }
  if ((i < a.size()) != (j < b.size())) return j < b.size();
  return a < b;  // equal by value ("01" vs "1"): keep a total order
}

bool is_hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name[0] == '.';
}

// A gzip stream starts with these two bytes, whatever the file is called.
bool starts_gzip(std::FILE* f) {
  unsigned char magic[2] = {0, 0};
  const size_t n = std::fread(magic, 1, 2, f);
  std::rewind(f);
  return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

// The first `limit` bytes of a document's file, gzipped or not, or of
// standard input ("-"), and how many follow them: counted, never held.
struct Prefix {
  std::string bytes;
  int64_t unread = 0;
};

// Reads through `read` (size_t(char*, size_t), 0 at the end), keeping `limit`
// bytes; with count_rest, reads on to count the rest, else stops at the limit.
template <class Read>
void read_into_prefix(Prefix& prefix, size_t limit, bool count_rest, Read&& read) {
  std::vector<char> buffer(1 << 16);
  while (count_rest || prefix.bytes.size() < limit) {
    const size_t n = read(buffer.data(), buffer.size());
    if (n == 0) break;
    const size_t keep = std::min(n, limit - std::min(limit, prefix.bytes.size()));
    prefix.bytes.append(buffer.data(), keep);
    prefix.unread += static_cast<int64_t>(n - keep);
  }
}

// A gzip file, decompressed: its first `limit` bytes (and, with count_rest,
// the count of the others).
Prefix read_gzip(const std::string& path, size_t limit, bool count_rest) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) fail(path, fmt::format("cannot open ({})", std::strerror(errno)));
  Prefix prefix;
  int n = 0;
  read_into_prefix(prefix, limit, count_rest, [&](char* to, size_t size) {
    n = gzread(file, to, static_cast<unsigned>(size));
    return n > 0 ? static_cast<size_t>(n) : size_t{0};
  });
  int code = Z_OK;
  std::string error = n < 0 ? gzerror(file, &code) : "";
  if (error.rfind(path + ": ", 0) == 0) error.erase(0, path.size() + 2);  // zlib names the file too
  gzclose(file);
  if (n < 0) fail(path, fmt::format("damaged gzip data ({})", error));
  return prefix;
}

// A prefix cut inside a character ends with a broken one: it goes to the
// unread bytes rather than being "repaired" into U+FFFD.
void end_on_character(Prefix& prefix) {
  if (prefix.unread == 0) return;
  std::string& b = prefix.bytes;
  size_t start = b.size();
  while (start > 0 && b.size() - start < 4 && (static_cast<unsigned char>(b[start - 1]) & 0xC0) == 0x80) --start;
  if (start == 0) return;
  const auto lead = static_cast<unsigned char>(b[start - 1]);
  const size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 1;
  if (b.size() - (start - 1) < length) {
    prefix.unread += static_cast<int64_t>(b.size() - (start - 1));
    b.resize(start - 1);
  }
}

// A regular file's rest is counted by its size, anything else's by reading
// it through. A device (/dev/zero, /dev/urandom, a terminal) never ends: it
// is refused.
Prefix read_prefix(const std::string& path, size_t limit) {
  Prefix prefix;
  if (path == "-") {
    read_into_prefix(prefix, limit, true, [](char* to, size_t n) {
      std::cin.read(to, static_cast<std::streamsize>(n));
      return static_cast<size_t>(std::cin.gcount());
    });
    if (std::cin.bad()) fail("<stdin>", "cannot read");
    end_on_character(prefix);
    return prefix;
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(path, fmt::format("cannot open ({})", std::strerror(errno)));
  struct stat st {};
  const bool stated = ::fstat(::fileno(f), &st) == 0;
  if (stated && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) {
    std::fclose(f);
    fail(path, "is a device, not a file: give a file, or - to read standard input");
  }
  if (starts_gzip(f)) {
    std::fclose(f);
    prefix = read_gzip(path, limit, true);
  } else {
    if (stated && S_ISREG(st.st_mode) && st.st_size > 0) {  // /proc files say 0
      prefix.bytes.resize(std::min(limit, static_cast<size_t>(st.st_size)));
      prefix.bytes.resize(std::fread(prefix.bytes.data(), 1, prefix.bytes.size(), f));
      prefix.unread =
          std::max<int64_t>(0, static_cast<int64_t>(st.st_size) - static_cast<int64_t>(prefix.bytes.size()));
    } else {  // a pipe
      read_into_prefix(prefix, limit, true, [&](char* to, size_t n) { return std::fread(to, 1, n, f); });
    }
    const bool bad = std::ferror(f) != 0;
    const int err = errno;
    std::fclose(f);
    if (bad) fail(path, fmt::format("cannot read ({})", std::strerror(err)));
  }
  end_on_character(prefix);
  return prefix;
}

// A whole file, gzipped or not; "-": standard input.
std::string read_file(const std::string& path) { return read_prefix(path, SIZE_MAX).bytes; }

std::string read_stream(std::istream& in, const std::string& name) {
  std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) fail(name, "cannot read");
  return data;
}

// Makes text valid UTF-8, counting the document when it had to be repaired.
std::string valid_text(std::string_view bytes, CorpusStats& stats) {
  if (is_valid_utf8(bytes)) return std::string(bytes);
  ++stats.invalid_utf8;
  return repair_utf8(bytes);
}

// Adds `label` to `document`'s labels unless it holds it already.
void add_label(Document& document, std::string label) {
  if (document.label.empty()) {
    document.label = std::move(label);
    return;
  }
  if (document.labels.empty()) {
    if (label == document.label) return;
    document.labels.push_back(document.label);
  }
  if (std::find(document.labels.begin(), document.labels.end(), label) == document.labels.end()) {
    document.labels.push_back(std::move(label));
  }
}

void add_document(Corpus& corpus, std::string text, std::string label, std::string origin) {
  if (is_blank(text)) ++corpus.stats.empty;
  corpus.documents.push_back(Document{std::move(text), std::move(label), std::move(origin)});
  ++corpus.stats.documents;
}

void require_documents(const Corpus& corpus, const std::string& name) {
  if (corpus.documents.empty()) fail(name, "no documents found");
}

// Splits into lines on '\n', dropping a trailing '\r'; calls fn(line, number).
template <typename Fn>
void for_each_line(std::string_view data, Fn&& fn) {
  int64_t number = 0;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t end = data.find('\n', pos);
    if (end == std::string_view::npos) end = data.size();
    std::string_view line = data.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fn(line, ++number);
    pos = end + 1;
  }
}

// ---------------------------------------------------------------- CSV / TSV

class CsvParser {
 public:
  // `first_line`: the line number of data's first line in its file.
  CsvParser(std::string_view data, const std::string& name, char delimiter, int64_t first_line = 1)
      : data_(data), name_(name), delimiter_(delimiter), line_(first_line) {}

  // Reads the next non-blank record; false at end of input.
  bool next(std::vector<std::string>& fields, int64_t& first_line) {
    while (pos_ < data_.size()) {
      first_line = line_;
      fields.clear();
      const bool blank = read_record(fields);
      if (!blank) return true;
    }
    return false;
  }

 private:
  // Returns true when the record was a blank line.
  bool read_record(std::vector<std::string>& fields) {
    bool any_quoted = false;
    for (;;) {
      std::string field;
      const size_t field_start = pos_;
      const int64_t field_line = line_;
      if (pos_ < data_.size() && data_[pos_] == '"' && read_quoted(field)) {
        any_quoted = true;
      } else {
        // TSV files often hold quotes as text ("Keep in touch" gdeve): a
        // field whose quotes do not enclose it is read as it stands.
        pos_ = field_start;
        line_ = field_line;
        field.clear();
        const size_t start = pos_;
        while (pos_ < data_.size()) {
          const char c = data_[pos_];
          if (c == delimiter_ || c == '\n' || c == '\r') break;
          ++pos_;
        }
        field.assign(data_.substr(start, pos_ - start));
      }
      fields.push_back(std::move(field));
      if (pos_ >= data_.size()) break;
      const char c = data_[pos_];
      if (c == delimiter_) {
        ++pos_;
        continue;
      }
      // End of line: "\n", "\r\n" or a lone "\r".
      pos_ += (c == '\r' && pos_ + 1 < data_.size() && data_[pos_ + 1] == '\n') ? 2 : 1;
      ++line_;
      break;
    }
    return fields.size() == 1 && fields[0].empty() && !any_quoted;
  }

  // False, for TSV only, when the quotes do not enclose the whole field.
  bool read_quoted(std::string& field) {
    const int64_t start_line = line_;
    const bool lenient = delimiter_ == '\t';
    ++pos_;  // opening quote
    for (;;) {
      const size_t quote = data_.find('"', pos_);
      if (quote == std::string_view::npos) {
        if (lenient) return false;
        fail_at(name_, start_line, "quoted field is never closed (found end of file, expected a closing \")");
      }
      const std::string_view chunk = data_.substr(pos_, quote - pos_);
      line_ += std::count(chunk.begin(), chunk.end(), '\n');
      field.append(chunk);
      pos_ = quote + 1;
      if (pos_ < data_.size() && data_[pos_] == '"') {  // "" is an escaped quote
        field += '"';
        ++pos_;
        continue;
      }
      break;
    }
    if (pos_ < data_.size()) {
      const char c = data_[pos_];
      if (c != delimiter_ && c != '\n' && c != '\r') {
        if (lenient) return false;
        fail_at(name_, line_,
                fmt::format("unexpected text after a closing quote (found \"{}\", expected {} or "
                            "end of line; write a quote inside a quoted field as \"\")",
                            excerpt(data_.substr(pos_), 20), fmt::format("\"{}\"", delimiter_)));
      }
    }
    return true;
  }

  std::string_view data_;
  const std::string& name_;
  char delimiter_;
  int64_t line_;
  size_t pos_ = 0;
};

// Index of the column named `wanted` (case-insensitive), or -1.
int find_column(const std::vector<std::string>& header, const std::string& wanted) {
  const std::string key = lower(trim(wanted));
  for (size_t i = 0; i < header.size(); ++i) {
    if (lower(trim(header[i])) == key) return static_cast<int>(i);
  }
  return -1;
}

template <size_t N>
int guess_column(const std::vector<std::string>& header, const char* const (&names)[N]) {
  for (const char* name : names) {
    const int i = find_column(header, name);
    if (i >= 0) return i;
  }
  return -1;
}

int resolve_column(const std::vector<std::string>& header, const std::string& given, const char* what,
                   const char* option, const std::string& name, int64_t header_line,
                   const std::vector<std::string>& shown) {
  if (!given.empty()) {
    const int i = find_column(header, given);
    if (i < 0) {
      fail_at(name, header_line,
              fmt::format("no {} column named \"{}\" (found columns: {}; expected one of them "
                          "with {})",
                          what, given, join(shown), option));
    }
    return i;
  }
  const int i = std::string_view(what) == "text" ? guess_column(header, kTextNames) : guess_column(header, kLabelNames);
  if (i < 0) {
    fail_at(name, header_line,
            fmt::format("cannot tell the {} column (found columns: {}; expected one of {}, or "
                        "name it with {})",
                        what, join(shown), std::string_view(what) == "text" ? join(kTextNames) : join(kLabelNames),
                        option));
  }
  return i;
}

// The columns of a CSV/TSV file, resolved once from its header (or, with
// no_header, from the first row: columns are then named 1, 2, ...).
struct CsvColumns {
  std::vector<std::string> names;  // as read, repaired to UTF-8
  std::vector<std::string> shown;  // quoted, for messages
  int text = -1;                   // -1 with no_header: every column but the label's, joined
  int label = -1;                  // -1: none (unlabeled inputs)
  bool header_is_data = false;     // no_header: the first row is a document
};

// A column given by its number (1-based) in a headerless file.
int numbered_column(const std::string& given, size_t columns, const char* option, const std::string& name) {
  size_t used = 0;
  int number = 0;
  try {
    number = std::stoi(given, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != given.size() || number < 1 || static_cast<size_t>(number) > columns) {
    fail_at(name, 1,
            fmt::format("{} \"{}\": a file without a header names its columns by number (expected 1 to {})", option,
                        given, columns));
  }
  return number - 1;
}

CsvColumns resolve_csv_columns(std::vector<std::string> header, const std::string& name, int64_t header_line,
                               const CorpusOptions& options) {
  CsvColumns columns;
  if (options.no_header) {
    columns.header_is_data = true;
    for (size_t i = 0; i < header.size(); ++i) columns.names.push_back(std::to_string(i + 1));
    if (!options.label_field.empty()) {
      columns.label = numbered_column(options.label_field, header.size(), "--label-field", name);
    } else if (header.size() > 1 || !options.labels_optional) {
      columns.label = 0;  // fastText's and the char-CNN corpora's order: label first
    }
    if (!options.text_field.empty()) {
      columns.text = numbered_column(options.text_field, header.size(), "--text-field", name);
    } else if (header.size() == 1) {
      if (columns.label == 0) fail_at(name, header_line, "one column only: expected a label column and a text column");
      columns.text = 0;
    }
    for (const auto& n : columns.names) columns.shown.push_back(n);
  } else {
    for (auto& column : header) {
      column = repair_utf8(column);
      columns.shown.push_back(fmt::format("\"{}\"", std::string(trim(column))));
    }
    columns.names = header;
    columns.text = resolve_column(header, options.text_field, "text", "--text-field", name, header_line, columns.shown);
    columns.label =
        options.labels_optional && options.label_field.empty()
            ? guess_column(header, kLabelNames)
            : resolve_column(header, options.label_field, "label", "--label-field", name, header_line, columns.shown);
  }
  if (columns.text >= 0 && columns.text == columns.label) {
    fail_at(name, header_line,
            fmt::format("the text and label columns are the same ({}; expected two columns)",
                        columns.shown[static_cast<size_t>(columns.text)]));
  }
  return columns;
}

// The document of one CSV/TSV row. Fields are moved from.
Document csv_document(std::vector<std::string>& fields, const CsvColumns& columns, const std::string& name,
                      int64_t line, char delimiter, const CorpusOptions& options, CorpusStats& stats) {
  if (fields.size() != columns.names.size()) {
    fail_at(name, line,
            fmt::format("wrong number of fields (found {}, expected {} as in the {}; quote fields that contain {})",
                        fields.size(), columns.names.size(), columns.header_is_data ? "first row" : "header",
                        delimiter == '\t' ? "a tab" : fmt::format("\"{}\"", delimiter)));
  }
  std::string text;
  if (columns.text >= 0) {
    text = fields[static_cast<size_t>(columns.text)];
  } else {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (static_cast<int>(i) == columns.label || trim(fields[i]).empty()) continue;
      if (!text.empty()) text += '\n';
      text += fields[i];
    }
  }
  std::string label = columns.label < 0 ? std::string() : std::string(trim(fields[static_cast<size_t>(columns.label)]));
  if (!is_valid_utf8(text) || !is_valid_utf8(label)) {
    ++stats.invalid_utf8;
    text = repair_utf8(text);
    label = repair_utf8(label);
  }
  if (label.empty() && !options.labels_optional) {
    fail_at(name, line,
            fmt::format("missing label (found an empty {} field, expected a label)",
                        columns.shown[static_cast<size_t>(columns.label)]));
  }
  Document document{std::move(text), std::string(), fmt::format("{}:{}", name, line)};
  if (options.label_separator == 0) {
    document.label = std::move(label);
    return document;
  }
  size_t start = 0;
  for (;;) {
    const size_t end = std::min(label.find(options.label_separator, start), label.size());
    const std::string_view part = trim(std::string_view(label).substr(start, end - start));
    if (!part.empty()) add_label(document, std::string(part));
    if (end == label.size()) break;
    start = end + 1;
  }
  if (document.label.empty() && !options.labels_optional) {
    fail_at(name, line,
            fmt::format("missing label (found only separators '{}' in the label field)", options.label_separator));
  }
  return document;
}

void count_document(CorpusStats& stats, const Document& document) {
  if (is_blank(document.text)) ++stats.empty;
  ++stats.documents;
}

char delimiter_of(CorpusFormat format, const CorpusOptions& options) {
  if (options.delimiter != 0) return options.delimiter;
  return format == CorpusFormat::Tsv ? '\t' : ',';
}

Corpus parse_csv(std::string_view data, const std::string& name, char delimiter, const CorpusOptions& options) {
  Corpus corpus;
  corpus.path = name;
  corpus.format = delimiter == '\t' ? CorpusFormat::Tsv : CorpusFormat::Csv;
  data = strip_bom(data);

  CsvParser parser(data, name, delimiter);
  std::vector<std::string> fields;
  int64_t line = 1;
  if (!parser.next(fields, line)) fail(name, "no documents found (the file is empty; expected a header row)");
  const CsvColumns columns = resolve_csv_columns(fields, name, line, options);
  bool have_row = columns.header_is_data;
  while (have_row || parser.next(fields, line)) {
    have_row = false;
    corpus.documents.push_back(csv_document(fields, columns, name, line, delimiter, options, corpus.stats));
    count_document(corpus.stats, corpus.documents.back());
  }
  require_documents(corpus, name);
  return corpus;
}

// ---------------------------------------------------------------- JSON Lines

const nlohmann::json* find_field(const nlohmann::json& object, const std::string& wanted) {
  const auto exact = object.find(wanted);
  if (exact != object.end()) return &*exact;
  const std::string key = lower(wanted);
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (lower(it.key()) == key) return &it.value();
  }
  return nullptr;
}

template <size_t N>
std::string guess_field(const nlohmann::json& object, const char* const (&names)[N]) {
  for (const char* name : names) {
    const auto exact = object.find(name);
    if (exact != object.end()) return name;
  }
  for (const char* name : names) {
    for (auto it = object.begin(); it != object.end(); ++it) {
      if (lower(it.key()) == name) return it.key();
    }
  }
  return {};
}

std::string field_names(const nlohmann::json& object) {
  std::vector<std::string> names;
  for (auto it = object.begin(); it != object.end(); ++it) names.push_back("\"" + it.key() + "\"");
  return names.empty() ? "none" : join(names);
}

std::string json_type(const nlohmann::json& value) {
  if (value.is_number_float()) return fmt::format("number {}", value.dump());
  if (value.is_boolean()) return fmt::format("boolean {}", value.dump());
  return value.type_name();
}

std::string parse_message(const nlohmann::json::exception& e) {
  std::string message = e.what();
  // Drop "[json.exception.parse_error.101] " and the parser's own line, which is always 1.
  const size_t bracket = message.find("] ");
  if (message.rfind("[json.exception", 0) == 0 && bracket != std::string::npos) {
    message.erase(0, bracket + 2);
  }
  const size_t at_line = message.find("at line 1, ");
  if (at_line != std::string::npos) message.erase(at_line + 3, 8);
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return message;
}

// The field names a JSON Lines file's text and label are read from: given,
// or guessed from its first object.
struct JsonKeys {
  std::string text, label;
};

nlohmann::json parse_json_object(std::string_view raw, const std::string& name, int64_t line, CorpusStats& stats) {
  const bool valid = is_valid_utf8(raw);
  if (!valid) ++stats.invalid_utf8;
  const std::string repaired = valid ? std::string() : repair_utf8(raw);
  const std::string_view source = valid ? raw : std::string_view(repaired);
  nlohmann::json object;
  try {
    object = nlohmann::json::parse(source.begin(), source.end());
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range on number overflow
    fail_at(name, line, fmt::format("not a JSON object ({})", parse_message(e)));
  }
  if (!object.is_object()) {
    fail_at(name, line, fmt::format("not a JSON object (found {}, expected one object per line)", json_type(object)));
  }
  return object;
}

void find_json_keys(const nlohmann::json& object, const std::string& name, int64_t line, const CorpusOptions& options,
                    JsonKeys& keys) {
  if (keys.text.empty()) keys.text = guess_field(object, kTextNames);
  if (keys.label.empty()) keys.label = guess_field(object, kLabelNames);
  if (keys.text.empty()) {
    fail_at(name, line,
            fmt::format("cannot tell the text field (found fields: {}; expected one of {}, or "
                        "name it with --text-field)",
                        field_names(object), join(kTextNames)));
  }
  if (keys.label.empty() && !options.labels_optional) {
    fail_at(name, line,
            fmt::format("cannot tell the label field (found fields: {}; expected one of {}, or "
                        "name it with --label-field)",
                        field_names(object), join(kLabelNames)));
  }
}

// A label's text: a string or an integer; empty when it is neither (then an
// error unless labels are optional).
std::string json_label_text(const nlohmann::json* label, const std::string& key, const std::string& name, int64_t line,
                            const CorpusOptions& options) {
  std::string text;
  if (label && label->is_string()) text = std::string(trim(label->get_ref<const std::string&>()));
  if (label && label->is_number_integer()) text = label->dump();
  if (options.labels_optional || !label) return text;  // a missing field is the caller's to report
  if (!label->is_string() && !label->is_number_integer()) {
    fail_at(name, line,
            fmt::format("field \"{}\" has the wrong type (found {}, expected a string, an integer or an array of "
                        "them)",
                        key, json_type(*label)));
  }
  if (text.empty()) fail_at(name, line, fmt::format("missing label (found an empty \"{}\", expected a label)", key));
  return text;
}

// The label field into `document`: one label, or an array of them (a
// multi-label document; ["pos"] is one label).
void read_json_labels(Document& document, const nlohmann::json* label, const std::string& key, const std::string& name,
                      int64_t line, const CorpusOptions& options) {
  if (!label || !label->is_array()) {
    document.label = json_label_text(label, key, name, line, options);
    return;
  }
  if (label->empty() && !options.labels_optional) {
    fail_at(name, line, fmt::format("missing label (found an empty array \"{}\", expected one label or more)", key));
  }
  for (const nlohmann::json& item : *label) add_label(document, json_label_text(&item, key, name, line, options));
}

// The document of one JSON Lines object.
Document json_document(const nlohmann::json& object, const std::string& name, int64_t line,
                       const CorpusOptions& options, JsonKeys& keys) {
  find_json_keys(object, name, line, options, keys);
  const nlohmann::json* text = find_field(object, keys.text);
  if (!text) {
    fail_at(name, line,
            fmt::format("missing field \"{}\" (found fields: {}; expected the text field, or "
                        "name another with --text-field)",
                        keys.text, field_names(object)));
  }
  if (!text->is_string()) {
    fail_at(name, line,
            fmt::format("field \"{}\" has the wrong type (found {}, expected a string)", keys.text, json_type(*text)));
  }
  const nlohmann::json* label = keys.label.empty() ? nullptr : find_field(object, keys.label);
  if (!label && !options.labels_optional) {
    fail_at(name, line,
            fmt::format("missing field \"{}\" (found fields: {}; expected the label field, or "
                        "name another with --label-field)",
                        keys.label, field_names(object)));
  }
  Document document{text->get<std::string>(), std::string(), fmt::format("{}:{}", name, line)};
  read_json_labels(document, label, keys.label, name, line, options);
  return document;
}

Corpus parse_json_lines(std::string_view data, const std::string& name, const CorpusOptions& options) {
  Corpus corpus;
  corpus.path = name;
  corpus.format = CorpusFormat::JsonLines;
  data = strip_bom(data);
  JsonKeys keys{options.text_field, options.label_field};
  for_each_line(data, [&](std::string_view raw, int64_t line) {
    if (is_blank(raw)) return;
    const nlohmann::json object = parse_json_object(raw, name, line, corpus.stats);
    corpus.documents.push_back(json_document(object, name, line, options, keys));
    count_document(corpus.stats, corpus.documents.back());
  });
  require_documents(corpus, name);
  return corpus;
}

// ---------------------------------------------------------------- fastText

// The document of one fastText line (valid UTF-8, not blank).
Document fasttext_document(std::string_view rest, const std::string& name, int64_t line, const CorpusOptions& options) {
  while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
  if (rest.substr(0, kFastTextPrefix.size()) != kFastTextPrefix) {
    if (!options.labels_optional) {
      fail_at(name, line,
              fmt::format("no label (found \"{}\", expected a line starting with __label__)", excerpt(rest)));
    }
    return Document{std::string(rest), std::string(), fmt::format("{}:{}", name, line)};
  }
  // Every __label__ token leaves the text; several different ones make a
  // multi-label document.
  Document document{std::string(), std::string(), fmt::format("{}:{}", name, line)};
  bool bare = false;  // a "__label__" without a name
  while (rest.substr(0, kFastTextPrefix.size()) == kFastTextPrefix) {
    size_t end = 0;
    while (end < rest.size() && !is_space(rest[end])) ++end;
    const std::string_view name_here = rest.substr(kFastTextPrefix.size(), end - kFastTextPrefix.size());
    if (name_here.empty()) {
      bare = true;
    } else {
      add_label(document, std::string(name_here));
    }
    rest.remove_prefix(end);
    while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
  }
  if ((bare || document.label.empty()) && !options.labels_optional) {
    fail_at(name, line, "missing label (found \"__label__\" alone, expected __label__NAME)");
  }
  document.text = std::string(rest);
  return document;
}

Corpus parse_fasttext(std::string_view data, const std::string& name, const CorpusOptions& options) {
  Corpus corpus;
  corpus.path = name;
  corpus.format = CorpusFormat::FastText;
  data = strip_bom(data);
  for_each_line(data, [&](std::string_view raw, int64_t line) {
    if (is_blank(raw)) return;
    corpus.documents.push_back(fasttext_document(valid_text(raw, corpus.stats), name, line, options));
    count_document(corpus.stats, corpus.documents.back());
  });
  require_documents(corpus, name);
  return corpus;
}

// ---------------------------------------------------------------- folders

// Status of `p`, following symlinks; broken links and unreadable entries throw.
fs::file_status status_of(const fs::path& p) {
  std::error_code ec;
  const fs::file_status st = fs::status(p, ec);
  if (ec) {
    if (fs::is_symlink(fs::symlink_status(p, ec))) {
      fail(p.string(), "broken symbolic link (expected a file or folder)");
    }
    fail(p.string(), fmt::format("cannot read ({})", ec.message()));
  }
  return st;
}

std::vector<fs::path> list_folder(const fs::path& folder) {
  std::vector<fs::path> entries;
  std::error_code ec;
  fs::directory_iterator it(folder, ec), end;
  if (ec) fail(folder.string(), fmt::format("cannot read folder ({})", ec.message()));
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    entries.push_back(it->path());
  }
  if (ec) fail(folder.string(), fmt::format("cannot read folder ({})", ec.message()));
  std::sort(entries.begin(), entries.end(), [](const fs::path& a, const fs::path& b) {
    return natural_less(a.filename().string(), b.filename().string());
  });
  return entries;
}

// The text of a file: UTF-8 as is, anything else read as Latin-1.
std::string decode_file(const std::string& path, CorpusStats& stats) {
  const std::string bytes = read_file(path);
  const std::string_view body = strip_bom(bytes);
  if (is_valid_utf8(body)) return std::string(body);
  ++stats.decoded_latin1;
  return latin1_to_utf8(body);
}

// decode_file on each path, on up to `threads` threads (0: all cores; at most
// 4, and one for fewer than 256 files, where starting threads costs more than
// it saves); texts come back in order, and the error of the first failing
// file (in order) is the one thrown.
std::vector<std::string> read_files_parallel(const std::vector<std::string>& paths, int requested, CorpusStats& stats) {
  const size_t wanted = requested > 0 ? static_cast<size_t>(requested) : std::thread::hardware_concurrency();
  const size_t threads = paths.size() < 256 ? 1 : std::clamp<size_t>(wanted, 1, 4);
  std::vector<std::string> texts(paths.size());
  std::vector<CorpusStats> counts(threads);
  std::vector<std::pair<size_t, std::exception_ptr>> failures(threads, {SIZE_MAX, nullptr});
  run_on_threads(static_cast<int>(threads), [&](int worker) {
    const auto t = static_cast<size_t>(worker);
    for (size_t i = t; i < paths.size(); i += threads) {
      try {
        texts[i] = decode_file(paths[i], counts[t]);
      } catch (...) {
        failures[t] = {i, std::current_exception()};
        return;  // a thread's first failure is its lowest-numbered one
      }
    }
  });
  const auto first = std::min_element(failures.begin(), failures.end(),
                                      [](const auto& a, const auto& b) { return a.first < b.first; });
  if (first->second) std::rethrow_exception(first->second);
  for (const auto& c : counts) stats.decoded_latin1 += c.decoded_latin1;
  return texts;
}

// For each file, the first earlier file of the same name and the same bytes
// in another class folder (itself when there is none): a multi-label
// document's copies. Same names with different contents stay apart (20
// Newsgroups reuses 1,428 names across groups for different posts).
std::vector<size_t> find_copies_across_classes(const std::vector<std::string>& files,
                                               const std::vector<std::string>& labels,
                                               const std::vector<std::string>& texts) {
  std::vector<size_t> copy_of(files.size());
  std::unordered_map<std::string, std::vector<size_t>> by_name;
  for (size_t i = 0; i < files.size(); ++i) {
    copy_of[i] = i;
    if (labels[i].empty()) continue;  // unsup/: no label to add
    std::vector<size_t>& same_name = by_name[fs::path(files[i]).filename().string()];
    for (size_t j : same_name) {
      if (labels[j] != labels[i] && texts[j] == texts[i]) {
        copy_of[i] = j;
        break;
      }
    }
    if (copy_of[i] == i) same_name.push_back(i);
  }
  return copy_of;
}

Corpus read_folder(const std::string& root, const CorpusOptions& options) {
  Corpus corpus;
  corpus.path = root;
  corpus.format = CorpusFormat::Folder;
  bool any_class = false;
  std::vector<std::string> files, labels;

  for (const fs::path& entry : list_folder(root)) {
    if (is_hidden(entry)) {
      std::error_code ec;
      if (!fs::is_directory(fs::status(entry, ec))) ++corpus.stats.skipped_files;
      continue;
    }
    if (!fs::is_directory(status_of(entry))) {
      ++corpus.stats.skipped_files;  // e.g. aclImdb's urls_*.txt next to the class folders
      continue;
    }
    std::string label = repair_utf8(entry.filename().string());
    const bool unsup = label == "unsup";
    if (unsup && !options.include_unsup) {
      // Counted from the directory's own entry types: aclImdb's 50,000
      // unsup files cost a stat each otherwise.
      std::error_code ec;
      for (fs::directory_iterator it(entry, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code type_ec;
        if (it->is_regular_file(type_ec)) ++corpus.stats.skipped_files;
      }
      continue;
    }
    if (unsup) label.clear();
    any_class = true;
    // Class folders are flat; a symlinked class folder is read but never recursed into.
    for (const fs::path& file : list_folder(entry)) {
      if (is_hidden(file)) {
        ++corpus.stats.skipped_files;
        continue;
      }
      const fs::file_status st = status_of(file);
      if (!fs::is_regular_file(st)) {
        ++corpus.stats.skipped_files;  // nested folders and special files
        continue;
      }
      files.push_back(file.string());
      labels.push_back(label);
    }
  }
  // The files' contents on several threads: opening and reading tens of
  // thousands of small files is mostly waiting on system calls.
  std::vector<std::string> texts = read_files_parallel(files, options.threads, corpus.stats);
  const std::vector<size_t> copy_of = find_copies_across_classes(files, labels, texts);
  std::vector<size_t> document_of(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    const bool copy = copy_of[i] != i;
    if (copy && options.multi_label_folders) {
      add_label(corpus.documents[document_of[copy_of[i]]], std::move(labels[i]));
      ++corpus.stats.merged_files;
      continue;
    }
    corpus.stats.copies_across_classes += copy;
    document_of[i] = corpus.documents.size();
    add_document(corpus, std::move(texts[i]), std::move(labels[i]), files[i]);
  }
  if (!any_class || corpus.documents.empty()) {
    fail(root, fmt::format("no documents found (expected {}/<label>/<file>)", root));
  }
  return corpus;
}

// The format a file's first non-blank line shows; Auto when it shows none.
CorpusFormat guess_from_text(std::string_view head) {
  head = strip_bom(head);
  size_t pos = 0;
  while (pos < head.size()) {
    size_t end = head.find('\n', pos);
    if (end == std::string_view::npos) end = head.size();
    const std::string_view line = trim(head.substr(pos, end - pos));
    if (!line.empty()) {
      if (line.substr(0, kFastTextPrefix.size()) == kFastTextPrefix) return CorpusFormat::FastText;
      if (line.front() == '{') return CorpusFormat::JsonLines;
      break;
    }
    pos = end + 1;
  }
  return CorpusFormat::Auto;
}

CorpusFormat detect_from_text(std::string_view head, const std::string& path) {
  const CorpusFormat format = guess_from_text(head);
  if (format == CorpusFormat::Auto) {
    fail(path, "cannot tell the corpus format; pass --format csv|tsv|jsonl|fasttext|folder");
  }
  return format;
}

Corpus parse_text(std::string_view data, const std::string& name, CorpusFormat format, const CorpusOptions& options) {
  switch (format) {
    case CorpusFormat::Csv:
      return parse_csv(data, name, delimiter_of(format, options), options);
    case CorpusFormat::Tsv:
      return parse_csv(data, name, delimiter_of(format, options), options);
    case CorpusFormat::JsonLines:
      return parse_json_lines(data, name, options);
    case CorpusFormat::FastText:
      return parse_fasttext(data, name, options);
    default:
      break;
  }
  fail(name, fmt::format("cannot read a {} corpus from a file (expected a folder)", to_string(format)));
}

void require_exists(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(fs::status(path, ec))) {
    if (fs::is_symlink(fs::symlink_status(path, ec))) fail(path, "broken symbolic link");
    fail(path, "no such file or folder");
  }
}

// ---------------------------------------------------------------- inputs

// An unlabeled document of plain text, made valid UTF-8 and counted.
Document text_document(std::string_view text, std::string origin, CorpusStats& stats) {
  std::string valid = valid_text(text, stats);
  if (is_blank(valid)) ++stats.empty;
  ++stats.documents;
  return Document{std::move(valid), std::string(), std::move(origin)};
}

void add_input(std::vector<Document>& docs, std::string_view bytes, const std::string& origin, bool one_per_line,
               CorpusStats& stats) {
  bytes = strip_bom(bytes);
  auto add = [&](std::string_view text, std::string where) {
    docs.push_back(text_document(text, std::move(where), stats));
  };
  if (!one_per_line) {
    add(bytes, origin);
    return;
  }
  for_each_line(bytes, [&](std::string_view line, int64_t number) {
    if (is_blank(line)) return;
    add(line, fmt::format("{}:{}", origin, number));
  });
}

}  // namespace

std::vector<std::string> labels_of(const Document& document) {
  if (!document.labels.empty()) return document.labels;
  if (document.label.empty()) return {};
  return {document.label};
}

CorpusFormat parse_corpus_format(std::string_view name) {
  const std::string key = lower(trim(name));
  if (key == "auto") return CorpusFormat::Auto;
  if (key == "folder") return CorpusFormat::Folder;
  if (key == "csv") return CorpusFormat::Csv;
  if (key == "tsv") return CorpusFormat::Tsv;
  if (key == "jsonl" || key == "json" || key == "jsonlines" || key == "ndjson") {
    return CorpusFormat::JsonLines;
  }
  if (key == "fasttext") return CorpusFormat::FastText;
  throw UsageError(
      fmt::format("unknown corpus format \"{}\" (expected auto, folder, csv, tsv, jsonl or fasttext)", name));
}

std::string to_string(CorpusFormat format) {
  switch (format) {
    case CorpusFormat::Auto:
      return "auto";
    case CorpusFormat::Folder:
      return "folder";
    case CorpusFormat::Csv:
      return "csv";
    case CorpusFormat::Tsv:
      return "tsv";
    case CorpusFormat::JsonLines:
      return "jsonl";
    case CorpusFormat::FastText:
      return "fasttext";
  }
  return "auto";
}

CorpusFormat corpus_format_by_name(const std::string& path) {
  fs::path name(path);
  if (lower(name.extension().string()) == ".gz") name = name.stem();  // corpus.jsonl.gz reads as corpus.jsonl
  const std::string ext = lower(name.extension().string());
  if (ext == ".csv") return CorpusFormat::Csv;
  if (ext == ".tsv") return CorpusFormat::Tsv;
  if (ext == ".jsonl" || ext == ".ndjson" || ext == ".json") return CorpusFormat::JsonLines;
  return CorpusFormat::Auto;
}

namespace {

// The format of an existing path by its type, extension or first line; Auto when unknown.
CorpusFormat guess_format(const std::string& path) {
  if (fs::is_directory(status_of(path))) return CorpusFormat::Folder;
  if (const CorpusFormat by_name = corpus_format_by_name(path); by_name != CorpusFormat::Auto) return by_name;

  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(path, fmt::format("cannot open ({})", std::strerror(errno)));
  if (starts_gzip(f)) {
    std::fclose(f);
    return guess_from_text(read_gzip(path, 1u << 20, false).bytes);
  }
  std::string head;
  char buffer[1 << 16];
  size_t n;
  // Only the start of the first non-blank line matters; stop once one is seen.
  while (head.size() < (1u << 20) && is_blank(head) && (n = std::fread(buffer, 1, sizeof buffer, f)) > 0) {
    head.append(buffer, n);
  }
  std::fclose(f);
  return guess_from_text(head);
}

}  // namespace

CorpusFormat sniff_csv_format(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(path, fmt::format("cannot open ({})", std::strerror(errno)));
  const bool gzip = starts_gzip(f);
  std::string head;
  if (gzip) {
    std::fclose(f);
    head = read_gzip(path, 1u << 16, false).bytes;
  } else {
    char buffer[1 << 16];
    head.assign(buffer, std::fread(buffer, 1, sizeof buffer, f));
    std::fclose(f);
  }
  const std::string_view line = std::string_view(head).substr(0, head.find('\n'));
  return line.find('\t') != std::string_view::npos ? CorpusFormat::Tsv : CorpusFormat::Csv;
}

namespace {

void add_stats(CorpusStats& total, const CorpusStats& part) {
  total.documents += part.documents;
  total.empty += part.empty;
  total.invalid_utf8 += part.invalid_utf8;
  total.decoded_latin1 += part.decoded_latin1;
  total.skipped_files += part.skipped_files;
}

}  // namespace

CorpusFormat detect_corpus_format(const std::string& path) {
  require_exists(path);
  const CorpusFormat format = guess_format(path);
  if (format == CorpusFormat::Auto) {
    fail(path, "cannot tell the corpus format; pass --format csv|tsv|jsonl|fasttext|folder");
  }
  return format;
}

CorpusFormat resolve_corpus_format(const std::string& path, const CorpusOptions& options) {
  require_exists(path);
  refuse_prepared(path);
  CorpusFormat format = options.format;
  // --delimiter or --no-header say the file is CSV whatever its name.
  if (format == CorpusFormat::Auto && !fs::is_directory(status_of(path)) &&
      (options.delimiter != 0 || options.no_header)) {
    format = guess_format(path);
    if (format != CorpusFormat::Csv && format != CorpusFormat::Tsv) format = sniff_csv_format(path);
  }
  return format == CorpusFormat::Auto ? detect_corpus_format(path) : format;
}

Corpus read_corpus(const std::string& path, const CorpusOptions& options) {
  if (path == "-") {
    const std::string data = read_stream(std::cin, "<stdin>");
    const CorpusFormat format =
        options.format == CorpusFormat::Auto ? detect_from_text(data, "<stdin>") : options.format;
    return parse_text(data, "<stdin>", format, options);
  }
  require_exists(path);
  const bool folder = fs::is_directory(status_of(path));
  const CorpusFormat format = resolve_corpus_format(path, options);
  if (format == CorpusFormat::Folder) {
    if (!folder) fail(path, "not a folder (expected PATH/<label>/<file> for --format folder)");
    return read_folder(path, options);
  }
  if (folder) {
    fail(path, fmt::format("is a folder (expected a file for --format {})", to_string(format)));
  }
  const std::string data = read_file(path);
  return parse_text(data, path, format, options);
}

Corpus read_csv(std::istream& in, const std::string& name, char delimiter, const CorpusOptions& options) {
  return parse_csv(read_stream(in, name), name, delimiter, options);
}

Corpus read_json_lines(std::istream& in, const std::string& name, const CorpusOptions& options) {
  return parse_json_lines(read_stream(in, name), name, options);
}

Corpus read_fasttext(std::istream& in, const std::string& name, const CorpusOptions& options) {
  return parse_fasttext(read_stream(in, name), name, options);
}

namespace {

// The regular files below a folder, in natural order (hidden ones and other
// kinds of file skipped and counted). Default options never follow
// symlinked folders, so links cannot loop.
std::vector<std::string> list_input_files(const std::string& path, CorpusStats& counts) {
  std::vector<fs::path> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(path, ec), end;
  if (ec) fail(path, fmt::format("cannot read folder ({})", ec.message()));
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    const fs::path& p = it->path();
    if (is_hidden(p)) {
      if (it->is_directory(ec)) {
        it.disable_recursion_pending();
      } else {
        ++counts.skipped_files;
      }
      continue;
    }
    const fs::file_status st = status_of(p);
    if (fs::is_regular_file(st)) {
      files.push_back(p);
    } else if (!fs::is_directory(st)) {
      ++counts.skipped_files;
    }
  }
  if (ec) fail(path, fmt::format("cannot read folder ({})", ec.message()));
  if (files.empty()) fail(path, "no files found in the folder");
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    auto ia = a.begin(), ib = b.begin();
    for (; ia != a.end() && ib != b.end(); ++ia, ++ib) {
      const std::string sa = ia->string(), sb = ib->string();
      if (sa != sb) return natural_less(sa, sb);
    }
    return ia == a.end() && ib != b.end();
  });
  std::vector<std::string> names;
  names.reserve(files.size());
  for (const fs::path& file : files) names.push_back(file.string());
  return names;
}

}  // namespace

std::vector<Document> read_inputs(const std::vector<std::string>& paths, bool one_per_line, CorpusStats* stats,
                                  int64_t max_document_bytes) {
  std::vector<InputSource> sources;
  sources.reserve(paths.size());
  for (const std::string& path : paths) sources.push_back({path, {}});
  InputReader reader(std::move(sources), one_per_line, max_document_bytes);
  std::vector<Document> docs;
  Document document;
  while (reader.next(document)) docs.push_back(std::move(document));
  if (stats) *stats = reader.stats();
  return docs;
}

std::vector<Document> read_unlabeled(const std::string& path, const CorpusOptions& options, CorpusStats* stats) {
  if (path != "-") refuse_prepared(path);
  CorpusOptions relaxed = options;
  relaxed.labels_optional = true;
  relaxed.include_unsup = true;
  CorpusStats counts;
  std::vector<Document> docs;
  auto read_labeled = [&](const std::string& where, const CorpusOptions& with) {
    Corpus corpus = read_corpus(where, with);
    counts = corpus.stats;
    docs = std::move(corpus.documents);
  };

  if (path == "-") {
    const std::string data = read_stream(std::cin, "<stdin>");
    CorpusFormat format = options.format == CorpusFormat::Auto ? guess_from_text(data) : options.format;
    if (format == CorpusFormat::Auto) {
      add_input(docs, data, "<stdin>", true, counts);
    } else {
      Corpus corpus = parse_text(data, "<stdin>", format, relaxed);
      counts = corpus.stats;
      docs = std::move(corpus.documents);
    }
  } else {
    require_exists(path);
    const CorpusFormat format = options.format == CorpusFormat::Auto ? guess_format(path) : options.format;
    if (format == CorpusFormat::Folder && fs::is_directory(status_of(path))) {
      bool has_subfolders = false;
      for (const fs::path& entry : list_folder(path)) {
        std::error_code ec;
        if (!is_hidden(entry) && fs::is_directory(fs::status(entry, ec))) has_subfolders = true;
      }
      if (has_subfolders) {
        read_labeled(path, relaxed);
      } else {
        docs = read_inputs({path}, false, &counts);
      }
    } else if (format == CorpusFormat::Auto) {
      docs = read_inputs({path}, true, &counts);
      if (docs.empty()) fail(path, "no documents found");
    } else {
      relaxed.format = format;
      read_labeled(path, relaxed);
    }
  }
  if (stats) add_stats(*stats, counts);
  return docs;
}

// ---------------------------------------------------------------- records, streamed

namespace {

constexpr size_t kChunkBytes = 1 << 20;
constexpr size_t kMaxRecordBytes = size_t{256} << 20;

// Whole records of a file, plain or gzipped, about a megabyte at a time. For
// CSV a chunk ends only where the quotes seen so far are balanced, so that a
// quoted field's line breaks stay inside it.
class ChunkReader {
 public:
  ChunkReader(const std::string& path, bool csv) : name_(path == "-" ? "<stdin>" : path), csv_(csv) {
    const int fd = path == "-" ? ::dup(0) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(name_, fmt::format("cannot open ({})", std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) && path != "-") {
      ::close(fd);
      fail(name_, "is a device, not a file: give a file, or - to read standard input");
    }
    file_ = gzdopen(fd, "rb");  // reads plain files as they are
    if (!file_) {
      ::close(fd);
      fail(name_, "cannot open (out of memory)");
    }
  }
  ~ChunkReader() { gzclose(file_); }
  ChunkReader(const ChunkReader&) = delete;
  ChunkReader& operator=(const ChunkReader&) = delete;

  const std::string& name() const { return name_; }

  // The next chunk of whole lines, and the number of its first line; false at the end.
  bool next(std::string& chunk, int64_t& first_line) {
    while (cut_ == 0 && !end_) fill();
    if (cut_ == 0) cut_ = buffer_.size();  // the last line, without its newline
    if (cut_ == 0) return false;
    if (cut_ == buffer_.size()) {  // the whole buffer: handed over, not copied (a huge line is one)
      chunk.swap(buffer_);
      buffer_.clear();
    } else {
      chunk.assign(buffer_, 0, cut_);
      buffer_.erase(0, cut_);
    }
    scanned_ -= cut_;
    cut_ = 0;
    first_line = line_;
    line_ += std::count(chunk.begin(), chunk.end(), '\n');
    if (first_chunk_ && strip_bom(chunk).size() != chunk.size()) chunk.erase(0, kBom.size());
    first_chunk_ = false;
    return true;
  }

 private:
  void fill() {
    char block[1 << 16];
    while (buffer_.size() - scanned_ < kChunkBytes) {
      const int n = gzread(file_, block, sizeof block);
      if (n < 0) {
        int code = Z_OK;
        fail(name_, fmt::format("damaged gzip data ({})", gzerror(file_, &code)));
      }
      if (n == 0) {
        end_ = true;
        break;
      }
      buffer_.append(block, static_cast<size_t>(n));
    }
    for (; scanned_ < buffer_.size(); ++scanned_) {
      const char c = buffer_[scanned_];
      if (csv_ && c == '"') open_quote_ = !open_quote_;
      if (c == '\n' && !open_quote_) cut_ = scanned_ + 1;
    }
    if (cut_ == 0 && buffer_.size() > kMaxRecordBytes) {
      fail_at(name_, line_,
              fmt::format("a record longer than {} MB{}: is this the right file and format?", kMaxRecordBytes >> 20,
                          csv_ && open_quote_ ? " (a quote is never closed)" : ""));
    }
  }

  std::string name_;
  bool csv_;
  gzFile file_ = nullptr;
  std::string buffer_;
  size_t scanned_ = 0;  // bytes of buffer_ looked at for line ends
  size_t cut_ = 0;      // where the chunk ends: after the last whole record seen; 0 before one is
  bool open_quote_ = false, end_ = false, first_chunk_ = true;
  int64_t line_ = 1;
};

}  // namespace

struct RecordReader::State {
  State(const std::string& path, const CorpusOptions& given) : options(given), chunks(path, is_csv(given.format)) {}
  static bool is_csv(CorpusFormat f) { return f == CorpusFormat::Csv || f == CorpusFormat::Tsv; }

  // The next raw CSV row, or line of the other formats, across chunks.
  bool next_row(std::vector<std::string>& fields, int64_t& line) {
    for (;;) {
      if (parser && parser->next(fields, line)) return true;
      if (!load()) return false;
    }
  }
  bool next_line(std::string_view& text, int64_t& line) {
    for (;;) {
      while (position < chunk.size()) {
        size_t end = chunk.find('\n', position);
        if (end == std::string::npos) end = chunk.size();
        text = std::string_view(chunk).substr(position, end - position);
        if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
        position = end + 1;
        line = line_number++;
        if (!is_blank(text)) return true;
      }
      if (!load()) return false;
    }
  }
  bool load() {
    if (!chunks.next(chunk, line_number)) return false;
    position = 0;
    if (is_csv(options.format)) parser.emplace(chunk, chunks.name(), delimiter, line_number);
    return true;
  }

  CorpusOptions options;
  ChunkReader chunks;
  std::string chunk;
  size_t position = 0;
  int64_t line_number = 1;
  char delimiter = ',';
  std::optional<CsvParser> parser;
  CsvColumns columns;
  std::optional<std::pair<std::vector<std::string>, int64_t>> pending;  // a headerless file's first row
  JsonKeys keys;
  CorpusStats stats;
};

RecordReader::RecordReader(const std::string& path, const CorpusOptions& options) {
  const CorpusFormat format = options.format;
  if (format == CorpusFormat::Auto || format == CorpusFormat::Folder) {
    throw UsageError(fmt::format("{}: records are read from a csv, tsv, jsonl or fasttext file", path));
  }
  if (path != "-") require_exists(path);
  if (path != "-" && fs::is_directory(status_of(path))) {
    fail(path, fmt::format("is a folder (expected a file for --format {})", to_string(format)));
  }
  state_ = std::make_unique<State>(path, options);
  State& s = *state_;
  s.keys = {options.text_field, options.label_field};
  if (!State::is_csv(format)) return;
  s.delimiter = delimiter_of(format, options);
  std::vector<std::string> header;
  int64_t line = 1;
  if (!s.next_row(header, line)) {
    fail(s.chunks.name(), "no documents found (the file is empty; expected a header row)");
  }
  s.columns = resolve_csv_columns(header, s.chunks.name(), line, options);
  if (s.columns.header_is_data) s.pending.emplace(std::move(header), line);
}

RecordReader::~RecordReader() = default;

CorpusFormat RecordReader::format() const { return state_->options.format; }
char RecordReader::delimiter() const { return state_->delimiter; }
const std::vector<std::string>& RecordReader::columns() const { return state_->columns.names; }
bool RecordReader::has_header() const { return !state_->columns.header_is_data; }
const CorpusStats& RecordReader::stats() const { return state_->stats; }

bool RecordReader::next(Record& record) {
  State& s = *state_;
  const std::string& name = s.chunks.name();
  int64_t line = 0;
  bool found = false;
  if (State::is_csv(s.options.format)) {
    if (s.pending) {
      record.fields = std::move(s.pending->first);
      line = s.pending->second;
      s.pending.reset();
      found = true;
    } else {
      found = s.next_row(record.fields, line);
    }
    if (found) {
      std::vector<std::string> fields = record.fields;
      record.document = csv_document(fields, s.columns, name, line, s.delimiter, s.options, s.stats);
    }
  } else {
    std::string_view text;
    found = s.next_line(text, line);
    if (found && s.options.format == CorpusFormat::JsonLines) {
      record.object = parse_json_object(text, name, line, s.stats);
      record.line = is_valid_utf8(text) ? std::string(text) : repair_utf8(text);
      record.document = json_document(record.object, name, line, s.options, s.keys);
    } else if (found) {
      record.document = fasttext_document(valid_text(text, s.stats), name, line, s.options);
    }
  }
  if (!found) {
    if (s.stats.documents == 0) fail(name, "no documents found");
    return false;
  }
  count_document(s.stats, record.document);
  return true;
}

// ---------------------------------------------------------------- inputs, streamed

struct InputReader::State {
  std::vector<InputSource> sources;
  size_t next_source = 0;
  bool one_per_line = false;
  bool capped = false;
  size_t read_limit = 0;
  size_t line_limit = 0;  // with one_per_line and a cap: read_limit
  // Whole-file documents, or files read a line at a time, of the current source.
  std::vector<std::string> files;
  size_t next_file = 0;
  std::optional<ChunkReader> lines;  // the file whose lines are being read
  std::string chunk;
  size_t position = 0;
  int64_t line_number = 1;
  std::unique_ptr<RecordReader> records;  // the corpus file being read
  std::string records_path;
  CorpusStats stats;
  std::vector<InputReader::CorpusCount> corpora;

  bool next_line(Document& document) {
    for (;;) {
      while (position < chunk.size()) {
        size_t end = chunk.find('\n', position);
        if (end == std::string::npos) end = chunk.size();
        std::string_view text = std::string_view(chunk).substr(position, end - position);
        if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
        position = end + 1;
        const int64_t line = line_number++;
        if (is_blank(text)) continue;
        // As for whole files: a few bytes past the cap are kept, the rest
        // counted, and a character the cut splits is counted, not repaired.
        int64_t unread = 0;
        if (line_limit > 0 && text.size() > line_limit) {
          size_t cut = line_limit;
          while (cut > line_limit - 3 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
          unread = static_cast<int64_t>(text.size() - cut);
          text = text.substr(0, cut);
        }
        document = text_document(text, fmt::format("{}:{}", lines->name(), line), stats);
        document.bytes_unread = unread;
        return true;
      }
      if (!lines->next(chunk, line_number)) return false;
      position = 0;
    }
  }

  bool next_record(Document& document) {
    Record record;
    if (records->next(record)) {
      document = Document{std::move(record.document.text), std::string(), std::move(record.document.origin)};
      return true;
    }
    const CorpusStats& read = records->stats();
    stats.documents += read.documents;
    stats.empty += read.empty;
    stats.invalid_utf8 += read.invalid_utf8;
    corpora.push_back({records_path, records->format(), read.documents});
    records.reset();
    return false;
  }

  Document whole_file(const std::string& path) {
    const Prefix prefix = read_prefix(path, capped ? read_limit : SIZE_MAX);
    Document document = text_document(strip_bom(prefix.bytes), path == "-" ? "<stdin>" : path, stats);
    if (capped) document.bytes_unread = prefix.unread;
    return document;
  }

  void open_source(const InputSource& source) {
    if (source.corpus.format != CorpusFormat::Auto) {
      records = std::make_unique<RecordReader>(source.path, source.corpus);
      records_path = source.path;
      return;
    }
    files = source.path != "-" && fs::is_directory(status_of(source.path)) ? list_input_files(source.path, stats)
                                                                           : std::vector<std::string>{source.path};
    next_file = 0;
  }
};

InputReader::InputReader(std::vector<InputSource> sources, bool one_per_line, int64_t max_document_bytes)
    : state_(std::make_unique<State>()) {
  // Every path is checked before the first document, so that no output is
  // written for a run that was going to fail on a misspelt name.
  for (const InputSource& source : sources) {
    if (source.path == "-") continue;
    require_exists(source.path);
    refuse_prepared(source.path);
  }
  State& s = *state_;
  s.sources = std::move(sources);
  s.one_per_line = one_per_line;
  s.capped = max_document_bytes > 0 && !one_per_line;
  // A few bytes past the cap, so that the tokenizer still sees a document
  // over it (after a byte-order mark) and cuts where it would have.
  s.read_limit = static_cast<size_t>(max_document_bytes) + 8;
  if (one_per_line && max_document_bytes > 0) s.line_limit = s.read_limit;
}

InputReader::~InputReader() = default;

const CorpusStats& InputReader::stats() const { return state_->stats; }
const std::vector<InputReader::CorpusCount>& InputReader::corpora() const { return state_->corpora; }

bool InputReader::next(Document& document) {
  State& s = *state_;
  for (;;) {
    if (s.records) {
      if (s.next_record(document)) return true;
      continue;
    }
    if (s.lines) {
      if (s.next_line(document)) return true;
      s.lines.reset();
      continue;
    }
    if (s.next_file < s.files.size()) {
      const std::string& path = s.files[s.next_file++];
      if (!s.one_per_line) {
        document = s.whole_file(path);
        return true;
      }
      s.lines.emplace(path, false);
      s.chunk.clear();
      s.position = 0;
      continue;
    }
    if (s.next_source == s.sources.size()) return false;
    s.open_source(s.sources[s.next_source++]);
  }
}

}  // namespace han
