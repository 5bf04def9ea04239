// The .hanc file: written as documents arrive, read in one checked pass.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "han/base/bytes.h"
#include "han/base/error.h"
#include "han/base/file_io.h"
#include "han/data/prepared.h"

namespace han {

namespace {

// kMagic, then one record per document (u32 sentences, u32 labels, i32
// label, i32 sentence lengths, i32 labels, i32 word ids), the forms (u64
// ends, then their bytes), the header (JSON) and the footer: u64 forms_at,
// u64 header_at, u64 header_bytes, kMagic, u32 CRC-32 of everything before
// it. Records come first so that a corpus streams to disk; the footer says
// where the rest is. Little-endian, as every han file.
constexpr char kMagic[8] = {'H', 'A', 'N', 'P', 'R', 'E', 'P', '\0'};
constexpr size_t kFooterBytes = 3 * sizeof(uint64_t) + sizeof kMagic + sizeof(uint32_t);
constexpr uint64_t kMaxHeaderBytes = 64 << 20;
constexpr int kMaxHeaderDepth = 8;  // the header nests 4 deep: deeper is hostile, and costly to parse

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

nlohmann::json header_of(const TokenizedCorpus& corpus, const nlohmann::json& key, uint64_t documents, uint64_t tokens,
                         uint64_t form_bytes) {
  return {{"key", key},
          {"path", corpus.path},
          {"format", to_string(corpus.format)},
          {"labels", corpus.labels},
          {"label_origins", corpus.label_origins},
          {"first_unlabeled", corpus.first_unlabeled},
          {"counts",
           {{"documents", documents}, {"tokens", tokens}, {"forms", corpus.forms.size()}, {"form_bytes", form_bytes}}},
          {"stats", stats_json(corpus.stats)},
          {"text", report_json(corpus.text)},
          {"words", {{"tokens", corpus.words.tokens}, {"cjk", corpus.words.cjk}}},
          {"distinct_texts", corpus.distinct_texts},
          {"first_text", corpus.first_text}};
}

void metadata_from(const nlohmann::json& header, TokenizedCorpus& corpus) {
  corpus.path = header.at("path").get<std::string>();
  corpus.format = parse_corpus_format(header.at("format").get<std::string>());
  corpus.labels = header.at("labels").get<std::vector<std::string>>();
  corpus.label_origins = header.at("label_origins").get<std::vector<std::string>>();
  if (corpus.label_origins.size() != corpus.labels.size()) throw std::out_of_range("labels and origins differ");
  corpus.first_unlabeled = header.at("first_unlabeled").get<std::string>();
  corpus.stats = stats_from(header.at("stats"));
  corpus.text = report_from(header.at("text"));
  corpus.words.tokens = header.at("words").at("tokens");
  corpus.words.cjk = header.at("words").at("cjk");
  corpus.distinct_texts = header.at("distinct_texts");
  corpus.first_text = header.at("first_text").get<std::string>();
}

}  // namespace

struct PreparedWriter::State {
  explicit State(const std::string& path) : file(path) {}
  void write(const void* data, size_t size) {
    const auto* bytes = static_cast<const char*>(data);
    crc = bytes::crc32_update(crc, bytes, size);
    file.write(std::string_view(bytes, size));
    written += size;
  }
  template <typename T>
  void write_value(T value) {
    write(&value, sizeof value);
  }
  AtomicFileWriter file;
  uint32_t crc = 0;
  uint64_t written = 0, documents = 0, tokens = 0;
};

PreparedWriter::PreparedWriter(const std::string& path) : state_(std::make_unique<State>(path)) {
  state_->write(kMagic, sizeof kMagic);
}

PreparedWriter::~PreparedWriter() = default;

void PreparedWriter::add(const InternedDocument& d) {
  State& s = *state_;
  s.write_value(static_cast<uint32_t>(d.sentence_lengths.size()));
  s.write_value(static_cast<uint32_t>(d.targets.size()));
  s.write_value(static_cast<int32_t>(d.label));
  s.write(d.sentence_lengths.data(), d.sentence_lengths.size() * sizeof(int32_t));
  s.write(d.targets.data(), d.targets.size() * sizeof(int32_t));
  s.write(d.forms.data(), d.forms.size() * sizeof(int32_t));
  ++s.documents;
  s.tokens += d.forms.size();
}

void PreparedWriter::finish(const TokenizedCorpus& corpus, const nlohmann::json& key) {
  State& s = *state_;
  const uint64_t forms_at = s.written;
  uint64_t end = 0;
  for (int32_t f = 0; f < corpus.forms.size(); ++f) s.write_value(end += corpus.forms.form(f).size());
  for (int32_t f = 0; f < corpus.forms.size(); ++f) s.write(corpus.forms.form(f).data(), corpus.forms.form(f).size());
  const uint64_t header_at = s.written;
  const std::string header =
      header_of(corpus, key, s.documents, s.tokens, end).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  s.write(header.data(), header.size());
  s.write_value(forms_at);
  s.write_value(header_at);
  s.write_value(static_cast<uint64_t>(header.size()));
  s.write(kMagic, sizeof kMagic);
  const uint32_t crc = s.crc;
  s.file.write(std::string_view(reinterpret_cast<const char*>(&crc), sizeof crc));
  s.file.commit();
}

void write_prepared(const TokenizedCorpus& corpus, const nlohmann::json& key, const std::string& path) {
  PreparedWriter writer(path);
  for (const InternedDocument& d : corpus.documents) writer.add(d);
  writer.finish(corpus, key);
}

bool is_prepared_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  char magic[sizeof kMagic] = {};
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  const bool prepared = regular && ::pread(fd, magic, sizeof magic, 0) == static_cast<ssize_t>(sizeof magic) &&
                        std::memcmp(magic, kMagic, sizeof kMagic) == 0;
  ::close(fd);
  return prepared;
}

namespace {

// A file read front to back through a buffer, keeping the CRC-32 of what was
// read; memory holds the buffer, not the file.
class CheckedReader {
 public:
  CheckedReader(int fd, uint64_t end, uint64_t begin = 0) : fd_(fd), end_(end), offset_(begin), buffer_(1 << 20) {}
  void read(void* out, uint64_t size) {
    auto* to = static_cast<char*>(out);
    while (size > 0) {
      if (at_ == filled_) refill();
      const uint64_t n = std::min<uint64_t>(size, filled_ - at_);
      std::memcpy(to, buffer_.data() + at_, n);
      crc_ = bytes::crc32_update(crc_, buffer_.data() + at_, n);
      at_ += n;
      to += n;
      size -= n;
    }
  }
  template <typename T>
  T value() {
    T v;
    read(&v, sizeof v);
    return v;
  }
  template <typename T>
  void values(std::vector<T>& out, uint64_t count) {
    if (count > (end_ - position()) / sizeof(T)) throw std::out_of_range("a record runs past its part of the file");
    out.resize(count);
    read(out.data(), count * sizeof(T));
  }
  uint64_t position() const { return offset_ - filled_ + at_; }
  uint32_t crc() const { return crc_; }

 private:
  void refill() {
    const uint64_t n = std::min<uint64_t>(buffer_.size(), end_ - offset_);
    if (n == 0) throw std::out_of_range("the file ends too soon");
    const ssize_t got = ::pread(fd_, buffer_.data(), n, static_cast<off_t>(offset_));
    if (got <= 0) throw InputError(fmt::format("cannot read: {}", std::strerror(errno)));
    offset_ += static_cast<uint64_t>(got);
    filled_ = static_cast<uint64_t>(got);
    at_ = 0;
  }
  int fd_;
  uint64_t end_, offset_, filled_ = 0, at_ = 0;
  uint32_t crc_ = 0;
  std::vector<char> buffer_;
};

void check(bool ok, const char* what) {
  if (!ok) throw std::out_of_range(what);
}

struct Footer {
  uint64_t forms_at = 0, header_at = 0, header_bytes = 0;
  uint32_t crc = 0;
};

Footer read_footer(int fd, uint64_t size) {
  char bytes[kFooterBytes];
  check(size >= sizeof kMagic + kFooterBytes, "the file is cut short");
  check(::pread(fd, bytes, sizeof bytes, static_cast<off_t>(size - kFooterBytes)) == sizeof bytes, "cannot read");
  Footer footer;
  std::memcpy(&footer.forms_at, bytes, 8);
  std::memcpy(&footer.header_at, bytes + 8, 8);
  std::memcpy(&footer.header_bytes, bytes + 16, 8);
  check(std::memcmp(bytes + 24, kMagic, sizeof kMagic) == 0, "the file is cut short");
  std::memcpy(&footer.crc, bytes + 24 + sizeof kMagic, 4);
  const uint64_t body = size - kFooterBytes;
  check(footer.forms_at >= sizeof kMagic && footer.forms_at <= footer.header_at && footer.header_at <= body &&
            footer.header_bytes == body - footer.header_at && footer.header_bytes <= kMaxHeaderBytes,
        "the footer's offsets are out of range");
  return footer;
}

nlohmann::json read_header(int fd, const Footer& footer) {
  std::string text(footer.header_bytes, '\0');
  check(
      ::pread(fd, text.data(), text.size(), static_cast<off_t>(footer.header_at)) == static_cast<ssize_t>(text.size()),
      "cannot read the header");
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      in_string = c != '"';
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      check(++depth <= kMaxHeaderDepth, "the header nests too deep");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return nlohmann::json::parse(text);
}

// One record already in memory, read as CheckedReader reads the file.
class SpanReader {
 public:
  explicit SpanReader(const std::vector<char>& bytes) : bytes_(bytes) {}
  template <typename T>
  T value() {
    check(bytes_.size() - at_ >= sizeof(T), "a record runs past its part of the file");
    T v;
    std::memcpy(&v, bytes_.data() + at_, sizeof v);
    at_ += sizeof v;
    return v;
  }
  template <typename T>
  void values(std::vector<T>& out, uint64_t count) {
    check(count <= (bytes_.size() - at_) / sizeof(T), "a record runs past its part of the file");
    out.resize(count);
    if (count == 0) return;  // out.data() may be null: memcpy must not see it
    std::memcpy(out.data(), bytes_.data() + at_, count * sizeof(T));
    at_ += count * sizeof(T);
  }
  uint64_t position() const { return at_; }

 private:
  const std::vector<char>& bytes_;
  uint64_t at_ = 0;
};

// One document's record, every id and length checked against the header's counts.
template <typename Reader>
void read_record(Reader& in, uint64_t forms, uint64_t labels, InternedDocument& d) {
  const auto sentences = in.template value<uint32_t>(), targets = in.template value<uint32_t>();
  check(sentences <= INT32_MAX, "a sentence count is out of range");
  d.label = in.template value<int32_t>();
  check(d.label >= -1 && d.label < static_cast<int64_t>(labels), "a label id is out of range");
  in.values(d.sentence_lengths, sentences);
  in.values(d.targets, targets);
  uint64_t words = 0;
  for (const int32_t n : d.sentence_lengths) {
    check(n > 0, "a sentence is empty");
    words += static_cast<uint64_t>(n);
  }
  for (const int32_t l : d.targets) check(l >= 0 && static_cast<uint64_t>(l) < labels, "a label id is out of range");
  in.values(d.forms, words);
  for (const int32_t f : d.forms) check(f >= 0 && static_cast<uint64_t>(f) < forms, "a word id is out of range");
}

void read_forms(CheckedReader& in, uint64_t forms, uint64_t form_bytes, FormTable& table) {
  std::vector<uint64_t> ends;
  in.values(ends, forms);
  std::vector<char> bytes;
  in.values(bytes, form_bytes);
  const std::string_view text(bytes.data(), bytes.size());
  check(is_valid_utf8(text), "the forms are not UTF-8");
  uint64_t begin = 0;
  for (uint64_t f = 0; f < forms; ++f) {
    check(ends[f] >= begin && ends[f] <= form_bytes, "form offsets are out of range");
    check(static_cast<uint64_t>(table.intern(text.substr(begin, ends[f] - begin))) == f, "a form occurs twice");
    begin = ends[f];
  }
  check(begin == form_bytes, "form offsets do not add up");
}

// The CRC-32 of the file's first `end` bytes, read through a buffer.
uint32_t checksum_of(int fd, uint64_t end) {
  CheckedReader in(fd, end);
  std::vector<char> piece;
  for (uint64_t left = end; left > 0; left -= piece.size()) in.values(piece, std::min<uint64_t>(left, 1 << 20));
  return in.crc();
}

}  // namespace

namespace {

// A record that no longer matches the index: the file was rewritten in place.
InputError changed_in_use(const std::string& path, const std::exception& e) {
  return InputError(
      fmt::format("{}: the prepared corpus changed while in use ({}): do not rewrite it in place; "
                  "han prepare replaces it whole",
                  path, e.what()));
}

struct OpenFile {
  int fd = -1;
  ~OpenFile() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

// Reads and checks a prepared file, handing each record to `on_record` with
// its offset; the corpus comes back without documents.
struct PreparedScan {
  using OnRecord = std::function<void(InternedDocument&, uint64_t offset)>;
  static PreparedFile scan(const std::string& path, int fd, uint64_t& records_end, const OnRecord& on_record);
  static PreparedFile open(const std::string& path);
};

PreparedFile PreparedScan::scan(const std::string& path, int fd, uint64_t& records_end, const OnRecord& on_record) {
  if (!is_prepared_file(path))
    throw InputError(fmt::format("{}: not a prepared corpus (han prepare writes them)", path));
  struct stat st {};
  ::fstat(fd, &st);
  const auto size = static_cast<uint64_t>(st.st_size);
  PreparedFile prepared;
  try {
    const Footer footer = read_footer(fd, size);
    if (checksum_of(fd, size - sizeof(uint32_t)) != footer.crc) throw std::out_of_range("checksum mismatch");
    const nlohmann::json header = read_header(fd, footer);
    const int version = header.at("key").at("version").get<int>();
    if (version != kPreparedVersion) {
      throw InputError(fmt::format("{}: a prepared corpus of version {}; this han reads version {}: prepare it again",
                                   path, version, kPreparedVersion));
    }
    prepared.key = header.at("key");
    TokenizedCorpus& corpus = prepared.corpus;
    metadata_from(header, corpus);
    const nlohmann::json& counts = header.at("counts");
    const auto documents = counts.at("documents").get<uint64_t>(), forms = counts.at("forms").get<uint64_t>();
    CheckedReader in(fd, size - sizeof(uint32_t));
    char magic[sizeof kMagic];
    in.read(magic, sizeof magic);
    check(documents <= (footer.forms_at - sizeof kMagic) / 12, "more documents than records");
    bool unlabeled = false;
    InternedDocument d;
    for (uint64_t i = 0; i < documents; ++i) {
      const uint64_t at = in.position();
      read_record(in, forms, corpus.labels.size(), d);
      unlabeled = unlabeled || d.label < 0;
      on_record(d, at);
    }
    check(in.position() == footer.forms_at, "the records do not end where the forms begin");
    check(unlabeled == !corpus.first_unlabeled.empty(), "unlabeled documents and the header disagree");
    read_forms(in, forms, counts.at("form_bytes").get<uint64_t>(), corpus.forms);
    check(in.position() == footer.header_at, "the forms do not end where the header begins");
    records_end = footer.forms_at;
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {  // JSON's errors, out_of_range, a format's name
    throw InputError(fmt::format("{}: damaged prepared corpus ({})", path, e.what()));
  }
  return prepared;
}

PreparedFile PreparedScan::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  std::shared_ptr<PreparedRecords> records(new PreparedRecords());
  records->fd_ = fd;  // closed with the records, also when the scan throws
  records->path_ = path;
  PreparedRecords& r = *records;
  PreparedFile prepared = scan(path, fd, r.end_, [&](InternedDocument& d, uint64_t at) {
    // Label lists start with the first document that has one: none before it had.
    if (!d.targets.empty() && r.target_begin_.empty()) r.target_begin_.assign(r.entries_.size(), 0);
    if (!r.target_begin_.empty()) r.target_begin_.push_back(static_cast<int64_t>(r.target_ids_.size()));
    r.target_ids_.insert(r.target_ids_.end(), d.targets.begin(), d.targets.end());
    r.entries_.push_back({at, static_cast<int32_t>(d.sentence_lengths.size()), static_cast<int32_t>(d.label)});
  });
  if (!r.target_begin_.empty()) r.target_begin_.push_back(static_cast<int64_t>(r.target_ids_.size()));
  r.entries_.shrink_to_fit();
  r.forms_ = static_cast<uint64_t>(prepared.corpus.forms.size());
  r.labels_ = prepared.corpus.labels.size();
  prepared.corpus.records = std::move(records);
  return prepared;
}

PreparedFile read_prepared(const std::string& path) {
  OpenFile file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) throw InputError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  std::vector<InternedDocument> documents;
  uint64_t records_end = 0;
  PreparedFile prepared = PreparedScan::scan(path, file.fd, records_end,
                                             [&](InternedDocument& d, uint64_t) { documents.push_back(std::move(d)); });
  prepared.corpus.documents = std::move(documents);
  return prepared;
}

PreparedFile open_prepared(const std::string& path) { return PreparedScan::open(path); }

nlohmann::json read_prepared_key(const std::string& path) {
  OpenFile file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) throw InputError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  if (!is_prepared_file(path))
    throw InputError(fmt::format("{}: not a prepared corpus (han prepare writes them)", path));
  struct stat st {};
  ::fstat(file.fd, &st);
  try {
    return read_header(file.fd, read_footer(file.fd, static_cast<uint64_t>(st.st_size))).at("key");
  } catch (const std::exception& e) {
    throw InputError(fmt::format("{}: damaged prepared corpus ({})", path, e.what()));
  }
}

PreparedRecords::~PreparedRecords() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<int32_t> PreparedRecords::targets(int64_t i) const {
  if (target_begin_.empty()) return {};
  const auto begin = target_ids_.begin();
  return {begin + target_begin_[static_cast<size_t>(i)], begin + target_begin_[static_cast<size_t>(i) + 1]};
}

void PreparedRecords::read(int64_t i, InternedDocument& out) const {
  const Entry& entry = entries_[static_cast<size_t>(i)];
  const uint64_t end = i + 1 < size() ? entries_[static_cast<size_t>(i) + 1].offset : end_;
  thread_local std::vector<char> bytes;
  bytes.resize(end - entry.offset);
  const ssize_t got = ::pread(fd_, bytes.data(), bytes.size(), static_cast<off_t>(entry.offset));
  try {
    check(got == static_cast<ssize_t>(bytes.size()), "cut short");
    SpanReader in(bytes);
    read_record(in, forms_, labels_, out);
    check(in.position() == bytes.size() && out.label == entry.label &&
              out.sentence_lengths.size() == static_cast<size_t>(entry.sentences),
          "a record differs");
  } catch (const std::out_of_range& e) {
    throw changed_in_use(path_, e);
  }
}

void PreparedRecords::scan(const std::function<bool(int64_t i, const InternedDocument&)>& visit) const {
  CheckedReader in(fd_, end_, sizeof kMagic);
  InternedDocument d;
  for (int64_t i = 0; i < size(); ++i) {
    const Entry& entry = entries_[static_cast<size_t>(i)];
    try {
      check(in.position() == entry.offset, "a record moved");
      read_record(in, forms_, labels_, d);
      check(d.label == entry.label && d.sentence_lengths.size() == static_cast<size_t>(entry.sentences),
            "a record differs");
    } catch (const std::out_of_range& e) {
      throw changed_in_use(path_, e);
    }
    if (!visit(i, d)) return;
  }
}

}  // namespace han
