#include "han/data/prepared.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <unicode/uvernum.h>

#include "han/base/bytes.h"
#include "han/base/error.h"
#include "han/base/file_io.h"
#include "han/base/hash.h"
#include "han/data/config.h"

namespace han {

namespace {

namespace fs = std::filesystem;

// The file: kMagic, the header's length (u64) and the header (JSON, padded
// to 8 bytes), the arrays the header counts, each padded to 8 bytes, then
// the CRC-32 of everything before it (u32). Bump kVersion when any of it,
// or the tokenizer's output, changes: older files are then rebuilt.
constexpr char kMagic[8] = {'H', 'A', 'N', 'P', 'R', 'E', 'P', '\0'};
constexpr int kVersion = 1;
constexpr size_t kMaxHeaderBytes = 64 << 20;

size_t padded(size_t bytes) { return (bytes + 7) / 8 * 8; }

// The first bytes of `text`, not cutting a UTF-8 character.
std::string excerpt(const std::string& text, size_t limit) {
  size_t n = std::min(limit, text.size());
  while (n > 0 && n < text.size() && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n);
}

int64_t nanoseconds(fs::file_time_type time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

// The CRC-32 of a file's first and last MiB. File times tick in
// milliseconds: a corpus rewritten within one tick with the same size
// keeps its time, and rarely these bytes.
uint32_t sample_checksum(const std::string& path, uint64_t size) {
  constexpr uint64_t kSample = 1 << 20;
  std::ifstream in(path, std::ios::binary);
  std::string buffer(static_cast<size_t>(std::min(size, kSample)), '\0');
  uint32_t crc = 0;
  const auto add = [&](uint64_t at) {
    in.seekg(static_cast<std::streamoff>(at));
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    crc = bytes::crc32_update(crc, buffer.data(), static_cast<size_t>(in.gcount()));
  };
  add(0);
  if (size > kSample) add(size - buffer.size());
  return crc;
}

// Size and modification time of a file (with its inode and sampled bytes), or of every file below a folder
// (their names, sizes and times hashed): an edit anywhere changes it.
// Null for what cannot be read twice alike (standard input, a pipe).
nlohmann::json source_fingerprint(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec) return nullptr;
  if (fs::is_regular_file(status)) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return nullptr;
    return {{"bytes", fs::file_size(path, ec)},
            {"modified_ns", nanoseconds(fs::last_write_time(path, ec))},
            {"inode", st.st_ino},
            {"sample", fmt::format("{:08x}", sample_checksum(path, static_cast<uint64_t>(st.st_size)))}};
  }
  if (!fs::is_directory(status)) return nullptr;
  std::vector<std::pair<std::string, std::string>> files;  // relative path, "size modified"
  int64_t bytes = 0;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const auto size = static_cast<int64_t>(it->file_size(ec));
    bytes += size;
    files.emplace_back(fs::relative(it->path(), path, ec).string(),
                       fmt::format("{} {}", size, nanoseconds(it->last_write_time(ec))));
  }
  if (ec) return nullptr;
  std::sort(files.begin(), files.end());
  uint64_t digest = kFnvOffset;
  for (const auto& [name, stamp] : files) digest = fnv1a("\xff", fnv1a(stamp, fnv1a("\xff", fnv1a(name, digest))));
  return {{"files", files.size()}, {"bytes", bytes}, {"digest", fmt::format("{:016x}", digest)}};
}

nlohmann::json reader_json(const CorpusOptions& o) {
  return {{"format", to_string(o.format)},
          {"text_field", o.text_field},
          {"label_field", o.label_field},
          {"delimiter", static_cast<int>(o.delimiter)},
          {"no_header", o.no_header},
          {"include_unsup", o.include_unsup},
          {"multi_label_folders", o.multi_label_folders},
          {"labels_optional", o.labels_optional},
          {"label_separator", static_cast<int>(o.label_separator)}};
}

nlohmann::json text_json(const TextOptions& text) {
  Config config;
  config.text = text;
  return to_json(config).at("text");
}

}  // namespace

int64_t label_count(const InternedDocument& document) {
  if (!document.targets.empty()) return static_cast<int64_t>(document.targets.size());
  return document.label >= 0 ? 1 : 0;
}

TokenizedCorpus tokenize_corpus(const Corpus& corpus, const TextOptions& options, int threads,
                                const std::function<void(int64_t)>& on_done) {
  TokenizedCorpus out;
  out.path = corpus.path;
  out.format = corpus.format;
  out.stats = corpus.stats;
  out.documents = intern_documents(corpus.documents, options, threads, out.forms, out.text, on_done);
  std::unordered_map<std::string, int32_t> label_ids;
  std::unordered_set<std::string_view> texts;
  for (size_t i = 0; i < corpus.documents.size(); ++i) {
    const Document& d = corpus.documents[i];
    InternedDocument& doc = out.documents[i];
    const std::vector<std::string> labels = labels_of(d);
    for (const std::string& label : labels) {
      const auto [it, added] = label_ids.emplace(label, static_cast<int32_t>(out.labels.size()));
      if (added) {
        out.labels.push_back(label);
        out.label_origins.push_back(d.origin);
      }
      if (labels.size() > 1) doc.targets.push_back(it->second);
    }
    doc.label = labels.empty() ? -1 : label_ids.at(labels.front());
    if (labels.empty() && out.first_unlabeled.empty()) out.first_unlabeled = d.origin;
    if (static_cast<int64_t>(texts.size()) < kCountedDistinctTexts) texts.insert(d.text);
    if (labels.empty()) continue;
    const WordEstimate words = estimate_words(d.text);
    out.words.tokens += words.tokens;
    out.words.cjk += words.cjk;
  }
  out.distinct_texts = static_cast<int64_t>(texts.size());
  if (!corpus.documents.empty()) out.first_text = excerpt(corpus.documents.front().text, 64);
  return out;
}

nlohmann::json prepared_key(const std::string& corpus_path, const CorpusOptions& reader, const TextOptions& text) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(corpus_path, ec);
  return {{"version", kVersion},
          {"corpus", ec ? corpus_path : absolute.lexically_normal().string()},
          {"source", source_fingerprint(corpus_path)},
          {"reader", reader_json(reader)},
          {"text", text_json(text)},
          {"icu", U_ICU_VERSION}};
}

namespace {

nlohmann::json stats_json(const CorpusStats& s) {
  return {{"documents", s.documents},
          {"empty", s.empty},
          {"invalid_utf8", s.invalid_utf8},
          {"decoded_latin1", s.decoded_latin1},
          {"skipped_files", s.skipped_files},
          {"merged_files", s.merged_files},
          {"copies_across_classes", s.copies_across_classes}};
}

CorpusStats stats_from(const nlohmann::json& j) {
  CorpusStats s;
  s.documents = j.at("documents");
  s.empty = j.at("empty");
  s.invalid_utf8 = j.at("invalid_utf8");
  s.decoded_latin1 = j.at("decoded_latin1");
  s.skipped_files = j.at("skipped_files");
  s.merged_files = j.at("merged_files");
  s.copies_across_classes = j.at("copies_across_classes");
  return s;
}

nlohmann::json report_json(const TextReport& r) {
  return {{"documents", r.documents},
          {"empty_documents", r.empty_documents},
          {"truncated_documents", r.truncated_documents},
          {"sentences_cut", r.sentences_cut},
          {"words_cut", r.words_cut},
          {"bytes_cut", r.bytes_cut},
          {"tokens", r.tokens}};
}

TextReport report_from(const nlohmann::json& j) {
  TextReport r;
  r.documents = j.at("documents");
  r.empty_documents = j.at("empty_documents");
  r.truncated_documents = j.at("truncated_documents");
  r.sentences_cut = j.at("sentences_cut");
  r.words_cut = j.at("words_cut");
  r.bytes_cut = j.at("bytes_cut");
  r.tokens = j.at("tokens");
  return r;
}

// Writes through an AtomicFileWriter while keeping the CRC-32 of what it wrote.
class ChecksummedWriter {
 public:
  explicit ChecksummedWriter(const std::string& path) : file_(path) {}
  void write(const void* data, size_t size) {
    const auto* bytes = static_cast<const char*>(data);
    crc_ = bytes::crc32_update(crc_, bytes, size);
    file_.write(std::string_view(bytes, size));
    written_ += size;
  }
  template <typename T>
  void array(const std::vector<T>& values) {
    write(values.data(), values.size() * sizeof(T));
    pad();
  }
  void pad() {
    static constexpr char kZeros[8] = {};
    write(kZeros, padded(written_) - written_);
  }
  void commit() {
    const uint32_t crc = crc_;
    file_.write(std::string_view(reinterpret_cast<const char*>(&crc), sizeof crc));
    file_.commit();
  }

 private:
  AtomicFileWriter file_;
  uint32_t crc_ = 0;
  size_t written_ = 0;
};

// Where each document's tokens, sentences and targets end in the flat arrays.
struct DocumentEnds {
  std::vector<uint64_t> tokens, sentences, targets;
  std::vector<int32_t> labels;
};

DocumentEnds document_ends(const std::vector<InternedDocument>& documents) {
  DocumentEnds ends;
  uint64_t tokens = 0, sentences = 0, targets = 0;
  for (const InternedDocument& d : documents) {
    ends.tokens.push_back(tokens += d.forms.size());
    ends.sentences.push_back(sentences += d.sentence_lengths.size());
    ends.targets.push_back(targets += d.targets.size());
    ends.labels.push_back(static_cast<int32_t>(d.label));
  }
  return ends;
}

}  // namespace

void write_prepared(const TokenizedCorpus& corpus, const nlohmann::json& key, const std::string& path) {
  const DocumentEnds ends = document_ends(corpus.documents);
  std::vector<uint64_t> form_ends;
  std::string form_bytes;
  for (int32_t f = 0; f < corpus.forms.size(); ++f) {
    form_bytes += corpus.forms.form(f);
    form_ends.push_back(form_bytes.size());
  }
  const auto last = [](const std::vector<uint64_t>& v) { return v.empty() ? uint64_t{0} : v.back(); };
  const nlohmann::json header = {{"key", key},
                                 {"path", corpus.path},
                                 {"format", to_string(corpus.format)},
                                 {"labels", corpus.labels},
                                 {"label_origins", corpus.label_origins},
                                 {"first_unlabeled", corpus.first_unlabeled},
                                 {"counts",
                                  {{"forms", form_ends.size()},
                                   {"form_bytes", form_bytes.size()},
                                   {"documents", corpus.documents.size()},
                                   {"tokens", last(ends.tokens)},
                                   {"sentences", last(ends.sentences)},
                                   {"targets", last(ends.targets)}}},
                                 {"stats", stats_json(corpus.stats)},
                                 {"text", report_json(corpus.text)},
                                 {"words", {{"tokens", corpus.words.tokens}, {"cjk", corpus.words.cjk}}},
                                 {"distinct_texts", corpus.distinct_texts},
                                 {"first_text", corpus.first_text}};
  std::string header_bytes = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  header_bytes.resize(padded(header_bytes.size()), ' ');

  ChecksummedWriter out(path);
  out.write(kMagic, sizeof kMagic);
  const uint64_t header_size = header_bytes.size();
  out.write(&header_size, sizeof header_size);
  out.write(header_bytes.data(), header_bytes.size());
  out.array(form_ends);
  out.write(form_bytes.data(), form_bytes.size());
  out.pad();
  out.array(ends.tokens);
  out.array(ends.sentences);
  out.array(ends.targets);
  out.array(ends.labels);
  for (const InternedDocument& d : corpus.documents) out.write(d.forms.data(), d.forms.size() * sizeof(int32_t));
  out.pad();
  for (const InternedDocument& d : corpus.documents) {
    out.write(d.sentence_lengths.data(), d.sentence_lengths.size() * sizeof(int32_t));
  }
  out.pad();
  for (const InternedDocument& d : corpus.documents) out.write(d.targets.data(), d.targets.size() * sizeof(int32_t));
  out.pad();
  out.commit();
}

namespace {

// A file mapped read-only for as long as this lives.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw InputError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw InputError(fmt::format("{}: not a regular file", path));
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* at = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (at == MAP_FAILED) {
        ::close(fd);
        throw InputError(fmt::format("{}: cannot map: {}", path, std::strerror(errno)));
      }
      data_ = static_cast<const char*>(at);
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const char* data_ = nullptr;
  size_t size_ = 0;
};

// Reads the arrays of a mapped file in order, each padded to 8 bytes; every
// read is bounds-checked against the bytes before the checksum.
class ArrayReader {
 public:
  ArrayReader(const char* data, size_t end, size_t at) : data_(data), end_(end), at_(at) {}
  template <typename T>
  const T* take(uint64_t count) {
    if (count > (end_ - at_) / sizeof(T)) throw std::out_of_range("arrays run past the end");
    const T* values = reinterpret_cast<const T*>(data_ + at_);
    at_ = std::min(end_, at_ + padded(count * sizeof(T)));
    return values;
  }
  size_t at() const { return at_; }

 private:
  const char* data_;
  size_t end_, at_;
};

void check(bool ok, const char* what) {
  if (!ok) throw std::out_of_range(what);
}

// Ends must rise and the last must be the array's length.
void check_ends(const uint64_t* ends, uint64_t count, uint64_t total, const char* what) {
  uint64_t previous = 0;
  for (uint64_t i = 0; i < count; ++i) {
    check(ends[i] >= previous, what);
    previous = ends[i];
  }
  check(previous == total, what);
}

TokenizedCorpus corpus_from(const nlohmann::json& header, ArrayReader& in) {
  const nlohmann::json& counts = header.at("counts");
  const auto count = [&](const char* name) { return counts.at(name).get<uint64_t>(); };
  const uint64_t forms = count("forms"), form_bytes = count("form_bytes"), documents = count("documents"),
                 tokens = count("tokens"), sentences = count("sentences"), targets = count("targets");
  TokenizedCorpus corpus;
  corpus.path = header.at("path").get<std::string>();
  corpus.format = parse_corpus_format(header.at("format").get<std::string>());
  corpus.labels = header.at("labels").get<std::vector<std::string>>();
  corpus.label_origins = header.at("label_origins").get<std::vector<std::string>>();
  check(corpus.label_origins.size() == corpus.labels.size(), "labels and their origins differ in number");
  corpus.first_unlabeled = header.at("first_unlabeled").get<std::string>();
  corpus.stats = stats_from(header.at("stats"));
  corpus.text = report_from(header.at("text"));
  corpus.words.tokens = header.at("words").at("tokens");
  corpus.words.cjk = header.at("words").at("cjk");
  corpus.distinct_texts = header.at("distinct_texts");
  corpus.first_text = header.at("first_text").get<std::string>();

  const auto* form_ends = in.take<uint64_t>(forms);
  const char* form_text = in.take<char>(form_bytes);
  check_ends(form_ends, forms, form_bytes, "form offsets");
  check(is_valid_utf8(std::string_view(form_text, form_bytes)), "forms are not UTF-8");
  for (uint64_t f = 0, begin = 0; f < forms; begin = form_ends[f++]) {
    const auto id = corpus.forms.intern(std::string_view(form_text + begin, form_ends[f] - begin));
    check(static_cast<uint64_t>(id) == f, "a form occurs twice");
  }
  const auto* token_ends = in.take<uint64_t>(documents);
  const auto* sentence_ends = in.take<uint64_t>(documents);
  const auto* target_ends = in.take<uint64_t>(documents);
  const auto* labels = in.take<int32_t>(documents);
  const auto* token_ids = in.take<int32_t>(tokens);
  const auto* lengths = in.take<int32_t>(sentences);
  const auto* target_ids = in.take<int32_t>(targets);
  check_ends(token_ends, documents, tokens, "token offsets");
  check_ends(sentence_ends, documents, sentences, "sentence offsets");
  check_ends(target_ends, documents, targets, "label offsets");
  const auto label_total = static_cast<int32_t>(corpus.labels.size());
  const auto form_total = static_cast<int64_t>(forms);
  corpus.documents.resize(documents);
  for (uint64_t i = 0; i < documents; ++i) {
    InternedDocument& d = corpus.documents[i];
    const uint64_t t0 = i ? token_ends[i - 1] : 0, s0 = i ? sentence_ends[i - 1] : 0, g0 = i ? target_ends[i - 1] : 0;
    d.forms.assign(token_ids + t0, token_ids + token_ends[i]);
    d.sentence_lengths.assign(lengths + s0, lengths + sentence_ends[i]);
    d.targets.assign(target_ids + g0, target_ids + target_ends[i]);
    d.label = labels[i];
    check(d.label >= -1 && d.label < label_total, "a label id is out of range");
    for (const int32_t f : d.forms) check(f >= 0 && f < form_total, "a word id is out of range");
    for (const int32_t l : d.targets) check(l >= 0 && l < label_total, "a label id is out of range");
    int64_t words = 0;
    for (const int32_t n : d.sentence_lengths) {
      check(n > 0, "a sentence is empty");
      words += n;
    }
    check(words == static_cast<int64_t>(d.forms.size()), "sentence lengths do not add up");
  }
  return corpus;
}

}  // namespace

bool is_prepared_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[sizeof kMagic] = {};
  return in.read(magic, sizeof magic) && std::memcmp(magic, kMagic, sizeof kMagic) == 0;
}

PreparedFile read_prepared(const std::string& path) {
  const MappedFile file(path);
  const char* data = file.data();
  const size_t size = file.size();
  const auto damaged = [&](const std::string& what) {
    return InputError(
        fmt::format("{}: damaged prepared corpus ({}): delete it, or write it again with han prepare", path, what));
  };
  if (size < sizeof kMagic || std::memcmp(data, kMagic, sizeof kMagic) != 0) {
    throw InputError(fmt::format("{}: not a prepared corpus (han prepare writes them)", path));
  }
  if (size < sizeof kMagic + sizeof(uint64_t) + sizeof(uint32_t)) throw damaged("it is cut short");
  uint64_t header_size = 0;
  std::memcpy(&header_size, data + sizeof kMagic, sizeof header_size);
  const size_t body = size - sizeof(uint32_t);
  const size_t header_at = sizeof kMagic + sizeof header_size;
  if (header_size > kMaxHeaderBytes || header_size > body - header_at) throw damaged("its header is cut short");
  uint32_t stored = 0;
  std::memcpy(&stored, data + body, sizeof stored);
  if (bytes::crc32_of(data, body) != stored) throw damaged("checksum mismatch");
  PreparedFile prepared;
  try {
    const nlohmann::json header = nlohmann::json::parse(std::string_view(data + header_at, header_size));
    const int version = header.at("key").at("version").get<int>();
    if (version != kVersion) {
      throw InputError(fmt::format("{}: a prepared corpus of version {}; this han reads version {}: prepare it again",
                                   path, version, kVersion));
    }
    prepared.key = header.at("key");
    ArrayReader in(data, body, header_at + header_size);
    prepared.corpus = corpus_from(header, in);
    if (in.at() != body) throw std::out_of_range("bytes left over after the arrays");
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {  // JSON's errors, out_of_range, UsageError of a format name
    throw damaged(e.what());
  }
  return prepared;
}

std::string default_cache_folder() {
  for (const char* variable : {"HAN_CACHE_DIR", "XDG_CACHE_HOME", "HOME"}) {
    const char* value = std::getenv(variable);
    if (!value || !*value) continue;
    const fs::path base(value);
    if (std::string(variable) == "HAN_CACHE_DIR") return base.string();
    return (std::string(variable) == "HOME" ? base / ".cache" / "han" : base / "han").string();
  }
  return "";
}

namespace {

// One cache file per corpus path, reader and text settings: a changed corpus
// rebuilds its own file rather than adding another.
std::string cache_file_name(const nlohmann::json& key) {
  nlohmann::json identity = key;
  identity.erase("source");
  std::string name = fs::path(key.at("corpus").get<std::string>()).filename().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '_';
  }
  if (name.size() > 64) name.resize(64);
  return fmt::format("{}-{:016x}.hanc", name, fnv1a(identity.dump()));
}

// Which settings of a prepared file differ from those wanted, e.g. "text.max_words 100 here, 50 in the file".
std::string differences(const nlohmann::json& wanted, const nlohmann::json& stored) {
  std::vector<std::string> shown;
  for (const auto& [name, value] : wanted.items()) {
    const nlohmann::json other = stored.contains(name) ? stored.at(name) : nlohmann::json();
    if (value != other)
      shown.push_back(fmt::format("text.{} {} here, {} in the file", name, value.dump(), other.dump()));
  }
  return fmt::format("{}", fmt::join(shown, ", "));
}

TokenizedCorpus from_prepared_file(const std::string& path, const CorpusLoadOptions& options) {
  PreparedFile prepared = read_prepared(path);
  const nlohmann::json wanted = text_json(options.text);
  if (prepared.key.at("text") != wanted) {
    throw InputError(
        fmt::format("{}: prepared with other text settings ({}): prepare it again with this run's "
                    "settings, or train on the corpus itself",
                    path, differences(wanted, prepared.key.at("text"))));
  }
  const std::string source = prepared.key.at("corpus").get<std::string>();
  const nlohmann::json now = source_fingerprint(source);
  if (options.on_note && !now.is_null() && now != prepared.key.at("source")) {
    options.on_note(
        fmt::format("note: {} changed since {} was prepared; training on the prepared copy (han prepare "
                    "again to refresh it)",
                    source, path));
  }
  prepared.corpus.path = path;
  return std::move(prepared.corpus);
}

// The cached corpus when it is this corpus with these settings; else says why not.
std::optional<TokenizedCorpus> from_cache(const std::string& cache, const nlohmann::json& key,
                                          const CorpusLoadOptions& options) {
  std::error_code ec;
  if (!fs::exists(cache, ec)) return std::nullopt;
  const auto note = [&](const std::string& text) {
    if (options.on_note) options.on_note(text);
  };
  try {
    PreparedFile prepared = read_prepared(cache);
    if (prepared.key == key) return std::move(prepared.corpus);
    note(fmt::format("the cached corpus {} is stale (the corpus or han changed): tokenizing again", cache));
  } catch (const InputError& e) {
    note(fmt::format("the cached corpus is unusable, tokenizing again: {}", e.what()));
  }
  return std::nullopt;
}

void write_cache(const TokenizedCorpus& corpus, const nlohmann::json& key, const std::string& folder,
                 const std::string& cache, const CorpusLoadOptions& options) {
  try {
    std::error_code ec;
    fs::create_directories(folder, ec);
    write_prepared(corpus, key, cache);
    if (options.on_note) {
      options.on_note(
          fmt::format("cached the tokenized corpus in {} ({:.1f} MB): the next run on it skips "
                      "tokenizing (--no-cache: never)",
                      cache, static_cast<double>(fs::file_size(cache, ec)) / 1e6));
    }
  } catch (const std::exception& e) {
    if (options.on_note) options.on_note(fmt::format("note: the tokenized corpus was not cached: {}", e.what()));
  }
}

}  // namespace

TokenizedCorpus load_tokenized(const std::string& path, const CorpusLoadOptions& options) {
  if (path != "-" && is_prepared_file(path)) return from_prepared_file(path, options);
  const nlohmann::json key = prepared_key(path, options.reader, options.text);
  const std::string folder = options.cache_folder.empty() ? default_cache_folder() : options.cache_folder;
  const bool cacheable = options.use_cache && !key.at("source").is_null() && !folder.empty();
  const std::string cache = cacheable ? (fs::path(folder) / cache_file_name(key)).string() : std::string();
  if (cacheable) {
    if (auto cached = from_cache(cache, key, options)) {
      cached->path = path;
      if (options.on_note) {
        options.on_note(
            fmt::format("read the tokenized corpus from the cache {} (--no-cache: tokenize the text)", cache));
      }
      return std::move(*cached);
    }
  }
  TokenizedCorpus corpus;
  {
    const Corpus text = read_corpus(path, options.reader);  // freed once tokenized
    const auto total = static_cast<int64_t>(text.documents.size());
    corpus = tokenize_corpus(text, options.text, options.threads, [&](int64_t done) {
      if (options.on_tokenized) options.on_tokenized(done, total);
    });
  }
  if (cacheable) write_cache(corpus, key, folder, cache, options);
  return corpus;
}

}  // namespace han
