#include "han/data/prepared.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
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

// The first bytes of `text`, not cutting a UTF-8 character.
std::string excerpt(const std::string& text, size_t limit) {
  size_t n = std::min(limit, text.size());
  while (n > 0 && n < text.size() && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n);
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

// What changes when a file is edited, whatever tools keep: size, inode,
// and the modification and status-change times (cp -p and touch -r set the
// former, never the latter).
std::string file_stamp(const struct stat& st) {
  return fmt::format("{} {} {}.{:09} {}.{:09}", st.st_size, st.st_ino, st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                     st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
}

// The stamp of a file (and its sampled bytes), or of every file below a
// folder, symbolic links followed as the folder reader follows them: an
// edit anywhere changes it. Null for what cannot be read twice alike
// (standard input, a pipe).
nlohmann::json source_fingerprint(const std::string& path) {
  struct stat st {};
  if (path == "-" || ::stat(path.c_str(), &st) != 0) return nullptr;
  if (S_ISREG(st.st_mode)) {
    return {{"stamp", file_stamp(st)},
            {"sample", fmt::format("{:08x}", sample_checksum(path, static_cast<uint64_t>(st.st_size)))}};
  }
  if (!S_ISDIR(st.st_mode)) return nullptr;
  std::vector<std::pair<std::string, std::string>> files;  // relative path, stamp
  int64_t bytes = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::follow_directory_symlink, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat file {};
    if (::stat(it->path().c_str(), &file) != 0 || !S_ISREG(file.st_mode)) continue;
    bytes += file.st_size;
    files.emplace_back(fs::relative(it->path(), path, ec).string(), file_stamp(file));
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

int64_t document_count(const TokenizedCorpus& corpus) {
  return corpus.records ? corpus.records->size() : static_cast<int64_t>(corpus.documents.size());
}

void for_each_outline(const TokenizedCorpus& corpus, const std::function<void(const DocumentOutline&)>& visit) {
  if (!corpus.records) {
    for (const InternedDocument& d : corpus.documents) {
      visit({static_cast<int64_t>(d.sentence_lengths.size()), d.label, label_count(d)});
    }
    return;
  }
  const PreparedRecords& records = *corpus.records;
  for (int64_t i = 0; i < records.size(); ++i) {
    const auto several = static_cast<int64_t>(records.targets(i).size());
    const int64_t label = records.label(i);
    visit({records.sentences(i), label, several > 0 ? several : label >= 0 ? 1 : 0});
  }
}

namespace {

// Documents tokenized at a time when a corpus file is read record by record.
constexpr size_t kChunkDocuments = 4096;

// What a corpus keeps of each document besides its forms: its labels, the
// recipe's word estimate and the swapped-fields check's counts.
class Tally {
 public:
  void add(const Document& d, InternedDocument& doc, TokenizedCorpus& out) {
    const std::vector<std::string> labels = labels_of(d);
    for (const std::string& label : labels) {
      const auto [it, added] = label_ids_.emplace(label, static_cast<int32_t>(out.labels.size()));
      if (added) {
        out.labels.push_back(label);
        out.label_origins.push_back(d.origin);
      }
      if (labels.size() > 1) doc.targets.push_back(it->second);
    }
    doc.label = labels.empty() ? -1 : label_ids_.at(labels.front());
    if (labels.empty() && out.first_unlabeled.empty()) out.first_unlabeled = d.origin;
    if (static_cast<int64_t>(texts_.size()) < kCountedDistinctTexts) texts_.insert(fnv1a(d.text));
    if (out.first_text.empty() && !started_) out.first_text = excerpt(d.text, 64);
    started_ = true;
    out.distinct_texts = static_cast<int64_t>(texts_.size());
    if (labels.empty()) return;
    const WordEstimate words = estimate_words(d.text);
    out.words.tokens += words.tokens;
    out.words.cjk += words.cjk;
  }

 private:
  std::unordered_map<std::string, int32_t> label_ids_;
  std::unordered_set<uint64_t> texts_;  // hashes of the first distinct texts
  bool started_ = false;
};

}  // namespace

TokenizedCorpus tokenize_corpus(const Corpus& corpus, const TextOptions& options, int threads,
                                const std::function<void(int64_t)>& on_done) {
  TokenizedCorpus out;
  out.path = corpus.path;
  out.format = corpus.format;
  out.stats = corpus.stats;
  out.documents = intern_documents(corpus.documents, options, threads, out.forms, out.text, on_done);
  Tally tally;
  for (size_t i = 0; i < corpus.documents.size(); ++i) tally.add(corpus.documents[i], out.documents[i], out);
  return out;
}

TokenizedCorpus tokenize_streamed(const std::string& path, const CorpusLoadOptions& options,
                                  const std::function<void(InternedDocument&)>& sink) {
  CorpusOptions reader = options.reader;
  if (path != "-") reader.format = resolve_corpus_format(path, reader);
  const auto report = [&](int64_t done, int64_t total) {
    if (options.on_tokenized) options.on_tokenized(done, total);
  };
  if (path == "-" || reader.format == CorpusFormat::Folder) {  // read whole: folders merge copies across classes
    const Corpus corpus = read_corpus(path, options.reader);
    const auto total = static_cast<int64_t>(corpus.documents.size());
    TokenizedCorpus out =
        tokenize_corpus(corpus, options.text, options.threads, [&](int64_t done) { report(done, total); });
    for (InternedDocument& d : out.documents) sink(d);
    out.documents.clear();
    return out;
  }
  TokenizedCorpus out;
  out.path = path;
  out.format = reader.format;
  Tally tally;
  RecordReader records(path, reader);
  std::vector<Document> chunk;
  int64_t done = 0;
  const auto tokenize_chunk = [&] {
    std::vector<InternedDocument> docs = intern_documents(chunk, options.text, options.threads, out.forms, out.text);
    for (size_t i = 0; i < chunk.size(); ++i) {
      tally.add(chunk[i], docs[i], out);
      sink(docs[i]);
    }
    done += static_cast<int64_t>(chunk.size());
    report(done, 0);
    chunk.clear();
  };
  Record record;
  while (records.next(record)) {
    chunk.push_back(std::move(record.document));
    if (chunk.size() == kChunkDocuments) tokenize_chunk();
  }
  tokenize_chunk();
  out.stats = records.stats();
  return out;
}

TokenizedCorpus prepare_corpus(const std::string& path, const CorpusLoadOptions& options, const nlohmann::json& key,
                               const std::string& output) {
  PreparedWriter writer(output);
  TokenizedCorpus corpus = tokenize_streamed(path, options, [&](InternedDocument& d) { writer.add(d); });
  writer.finish(corpus, key);
  return corpus;
}

nlohmann::json prepared_key(const std::string& corpus_path, const CorpusOptions& reader, const TextOptions& text) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(corpus_path, ec);
  return {{"version", kPreparedVersion},
          {"corpus", ec || corpus_path == "-" ? corpus_path : absolute.lexically_normal().string()},
          {"source", source_fingerprint(corpus_path)},
          {"reader", reader_json(reader)},
          {"text", text_json(text)},
          {"icu", U_ICU_VERSION},
          {"han", HAN_VERSION}};
}

std::string default_cache_folder() {
  for (const char* variable : {"HAN_CACHE_DIR", "XDG_CACHE_HOME", "HOME"}) {
    const char* value = std::getenv(variable);
    if (!value || !*value) continue;
    std::error_code ec;
    const fs::path base = fs::absolute(value, ec);
    if (ec) continue;
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

// Reader options given for this run (not left at their defaults) that the
// file was not prepared with, e.g. "--text-field review (the file: body)".
std::vector<std::string> reader_differences(const CorpusOptions& given, const nlohmann::json& stored) {
  const nlohmann::json wanted = reader_json(given), defaults = reader_json(CorpusOptions{});
  std::vector<std::string> shown;
  for (const auto& [name, value] : wanted.items()) {
    if (name == "format" || value == defaults.at(name)) continue;
    const nlohmann::json other = stored.contains(name) ? stored.at(name) : nlohmann::json();
    if (value != other) shown.push_back(fmt::format("{} {} here, {} in the file", name, value.dump(), other.dump()));
  }
  return shown;
}

void check_prepared_settings(const std::string& path, const nlohmann::json& key, const CorpusLoadOptions& options) {
  const nlohmann::json wanted = text_json(options.text);
  if (key.at("text") != wanted) {
    throw InputError(
        fmt::format("{}: prepared with other text settings ({}): prepare it again with this run's "
                    "settings, or train on the corpus itself",
                    path, differences(wanted, key.at("text"))));
  }
  const std::vector<std::string> reader = reader_differences(options.reader, key.at("reader"));
  if (!reader.empty()) {
    throw InputError(
        fmt::format("{}: prepared with other reader options ({}): han prepare it again with them, or "
                    "train on the corpus itself",
                    path, fmt::join(reader, ", ")));
  }
}

TokenizedCorpus from_prepared_file(const std::string& path, const CorpusLoadOptions& options) {
  PreparedFile prepared;
  try {
    prepared = open_prepared(path);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: delete it, or write it again with han prepare", e.what()));
  }
  std::string source;
  try {
    check_prepared_settings(path, prepared.key, options);
    source = prepared.key.at("corpus").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: damaged prepared corpus ({}): write it again with han prepare", path, e.what()));
  }
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
void note_unusable(const CorpusLoadOptions& options, const InputError& e) {
  if (options.on_note) options.on_note(fmt::format("the cached corpus is unusable, tokenizing again: {}", e.what()));
}

// Whether the cache holds this corpus with these settings, by its header
// alone: cheap enough to ask under the cache's lock.
bool cache_key_matches(const std::string& cache, const nlohmann::json& key, const CorpusLoadOptions& options) {
  std::error_code ec;
  if (!fs::exists(cache, ec)) return false;
  try {
    if (read_prepared_key(cache) == key) return true;
    if (options.on_note) {
      options.on_note(
          fmt::format("the cached corpus {} is stale (the corpus or han changed): tokenizing again", cache));
    }
  } catch (const InputError& e) {
    note_unusable(options, e);
  }
  return false;
}

// The cached corpus, checked whole; nothing when it is damaged (or was
// replaced by another corpus's since its key was read).
std::optional<TokenizedCorpus> from_cache(const std::string& cache, const nlohmann::json& key,
                                          const CorpusLoadOptions& options) {
  try {
    PreparedFile prepared = open_prepared(cache);
    if (prepared.key == key) return std::move(prepared.corpus);
  } catch (const InputError& e) {
    note_unusable(options, e);
  }
  return std::nullopt;
}

// A cache written by a run in another folder names the corpus as that run
// did: messages name it as this run does.
void relocate_origins(TokenizedCorpus& corpus, const std::string& path) {
  const std::string& then = corpus.path;
  const auto relocate = [&](std::string& origin) {
    if (then != path && origin.compare(0, then.size(), then) == 0) origin = path + origin.substr(then.size());
  };
  for (std::string& origin : corpus.label_origins) relocate(origin);
  relocate(corpus.first_unlabeled);
}

// A private folder for the cache: it holds copies of the user's corpora.
void make_private_folder(const std::string& folder) {
  std::error_code ec;
  if (fs::create_directories(folder, ec)) fs::permissions(folder, fs::perms::owner_all, ec);
}

// Held while a run reads or builds one cache file: runs on the same corpus
// (data-parallel ranks, a second han train) wait for the first to cache it,
// then read its file, instead of each tokenizing the corpus. The lock file
// stays: removing it would let a waiting run lock a file no one else sees.
class CacheLock {
 public:
  CacheLock(const std::string& cache, const CorpusLoadOptions& options) {
    const std::string path = cache + ".lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    // Another user's lock file in a shared folder: flock works on a read-only one too.
    if (fd_ < 0) fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return;  // runs without the lock: each may tokenize the corpus, none is wrong
    if (lock(LOCK_EX | LOCK_NB) == 0) return;
    if (errno == EWOULDBLOCK && options.on_note) {
      options.on_note(fmt::format("waiting for another han run to finish caching this corpus ({})", path));
    }
    if (lock(LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~CacheLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  CacheLock(const CacheLock&) = delete;
  CacheLock& operator=(const CacheLock&) = delete;

 private:
  int lock(int operation) const {
    int result;
    while ((result = ::flock(fd_, operation)) != 0 && errno == EINTR) {
    }
    return result;
  }
  int fd_ = -1;
};

// The corpus tokenized, and written into the cache as it goes; then read
// back from it, so that memory never holds the documents. Writing that fails
// (an unwritable folder, a full disk) is a note, not an error: the corpus is
// then read into memory.
std::optional<TokenizedCorpus> through_cache(const std::string& path, const nlohmann::json& key,
                                             const std::string& folder, const std::string& cache,
                                             const CorpusLoadOptions& options) {
  const auto not_cached = [&](const std::string& why) -> std::optional<TokenizedCorpus> {
    if (options.on_note) {
      options.on_note(
          fmt::format("the tokenized corpus is not cached ({}): set HAN_CACHE_DIR to a writable "
                      "folder, or give --no-cache",
                      why));
    }
    return std::nullopt;
  };
  std::unique_ptr<PreparedWriter> writer;
  try {
    make_private_folder(folder);
    writer = std::make_unique<PreparedWriter>(cache);
  } catch (const std::exception& e) {
    return not_cached(e.what());
  }
  // Thrown from the sink to stop tokenizing at once: the corpus's own errors are InputErrors.
  struct WriteFailed {
    std::string why;
  };
  std::optional<TokenizedCorpus> corpus;
  try {
    corpus = tokenize_streamed(path, options, [&](InternedDocument& d) {
      try {
        writer->add(d);
      } catch (const std::exception& e) {
        throw WriteFailed{e.what()};
      }
    });
  } catch (const WriteFailed& e) {
    writer.reset();  // removes the partial file
    return not_cached(e.why);
  }
  try {
    writer->finish(*corpus, key);
  } catch (const std::exception& e) {
    writer.reset();
    return not_cached(e.what());
  }
  std::error_code ec;
  fs::permissions(cache, fs::perms::owner_read | fs::perms::owner_write, ec);
  if (options.on_note) {
    options.on_note(
        fmt::format("cached the tokenized corpus in {} ({:.1f} MB): the next run on it skips "
                    "tokenizing (--no-cache skips the cache)",
                    cache, static_cast<double>(fs::file_size(cache, ec)) / 1e6));
  }
  try {
    return std::move(open_prepared(cache).corpus);
  } catch (const InputError& e) {
    return not_cached(e.what());
  }
}

}  // namespace

TokenizedCorpus load_tokenized(const std::string& path, const CorpusLoadOptions& options) {
  if (path != "-" && is_prepared_file(path)) return from_prepared_file(path, options);
  const nlohmann::json key = prepared_key(path, options.reader, options.text);
  const std::string folder = options.cache_folder.empty() ? default_cache_folder() : options.cache_folder;
  const bool cacheable = options.use_cache && !key.at("source").is_null() && !folder.empty();
  const std::string cache = cacheable ? (fs::path(folder) / cache_file_name(key)).string() : std::string();
  std::optional<TokenizedCorpus> corpus;
  if (cacheable) {
    make_private_folder(folder);
    // The lock covers telling a fresh cache and building one, not reading it:
    // data-parallel ranks read one file at once. A cache is only ever
    // replaced whole (a rename), never rewritten under a reader.
    bool fresh = false;
    {
      const CacheLock lock(cache, options);
      fresh = cache_key_matches(cache, key, options);
      if (!fresh) corpus = through_cache(path, key, folder, cache, options);
    }
    if (fresh) {
      corpus = from_cache(cache, key, options);
      if (corpus) {
        relocate_origins(*corpus, path);
        if (options.on_note) {
          options.on_note(
              fmt::format("read the tokenized corpus from the cache {} (--no-cache reads the text)", cache));
        }
      } else {
        const CacheLock lock(cache, options);
        corpus = through_cache(path, key, folder, cache, options);
      }
    }
  }
  if (!corpus) {
    std::vector<InternedDocument> documents;
    corpus = tokenize_streamed(path, options, [&](InternedDocument& d) { documents.push_back(std::move(d)); });
    corpus->documents = std::move(documents);
  }
  corpus->path = path;
  return std::move(*corpus);
}

}  // namespace han
