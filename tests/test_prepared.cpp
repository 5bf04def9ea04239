#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include <zlib.h>

#include "han/base/error.h"
#include "han/data/prepared.h"
#include "han/data/synthetic.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using namespace han;
using han_test::read_file;
using han_test::write_file;

namespace {

using TempDir = han_test::TempDir;

// A JSON Lines corpus of `count` synthetic reviews, one with two labels when asked.
std::string synthetic_jsonl(int count, bool one_multi_label = false) {
  std::string text;
  for (const auto& s : make_synthetic_corpus(count, 7)) {
    nlohmann::json line = {{"text", s.document.text}, {"label", s.document.label}};
    text += line.dump() + "\n";
  }
  if (one_multi_label)
    text += R"({"text": "Two labels here. And a second sentence.", "label": ["horror", "comedy"]})"
            "\n";
  return text;
}

// The documents, from memory or read from the file.
std::vector<InternedDocument> documents_of(const TokenizedCorpus& corpus) {
  if (!corpus.records) return corpus.documents;
  std::vector<InternedDocument> documents(static_cast<size_t>(corpus.records->size()));
  for (size_t i = 0; i < documents.size(); ++i) corpus.records->read(static_cast<int64_t>(i), documents[i]);
  return documents;
}

// The cache's .hanc files (each has a .lock beside it).
int64_t cached_files(const std::string& folder) {
  int64_t n = 0;
  for (const auto& entry : fs::directory_iterator(folder)) n += entry.path().extension() == ".hanc";
  return n;
}

std::string first_cached_file(const std::string& folder) {
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.path().extension() == ".hanc") return entry.path().string();
  }
  return "";
}

void check_same(const TokenizedCorpus& a, const TokenizedCorpus& b) {
  REQUIRE(a.forms.size() == b.forms.size());
  for (int32_t f = 0; f < a.forms.size(); ++f) CHECK(a.forms.form(f) == b.forms.form(f));
  CHECK(a.labels == b.labels);
  CHECK(a.label_origins == b.label_origins);
  CHECK(a.first_unlabeled == b.first_unlabeled);
  CHECK(a.format == b.format);
  const auto da = documents_of(a), db = documents_of(b);
  REQUIRE(da.size() == db.size());
  for (size_t i = 0; i < da.size(); ++i) {
    CHECK(da[i].forms == db[i].forms);
    CHECK(da[i].sentence_lengths == db[i].sentence_lengths);
    CHECK(da[i].label == db[i].label);
    CHECK(da[i].targets == db[i].targets);
  }
  CHECK(a.stats.documents == b.stats.documents);
  CHECK(a.stats.invalid_utf8 == b.stats.invalid_utf8);
  CHECK(a.text.tokens == b.text.tokens);
  CHECK(a.text.truncated_documents == b.text.truncated_documents);
  CHECK(a.text.words_cut == b.text.words_cut);
  CHECK(a.words.tokens == b.words.tokens);
  CHECK(a.words.cjk == b.words.cjk);
  CHECK(a.distinct_texts == b.distinct_texts);
  CHECK(a.first_text == b.first_text);
}

TokenizedCorpus tokenized(const std::string& path, const TextOptions& text = {}) {
  return tokenize_corpus(read_corpus(path), text, 2);
}

// The file with the CRC-32 at its end made to fit its bytes again.
void rewrite_checksum(std::string& bytes) {
  const auto crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size() - 4)));
  std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
}

struct Notes {
  std::vector<std::string> lines;
  bool any(const std::string& needle) const {
    return std::any_of(lines.begin(), lines.end(), [&](const auto& l) { return l.find(needle) != std::string::npos; });
  }
};

CorpusLoadOptions cached_in(const std::string& folder, Notes& notes) {
  CorpusLoadOptions options;
  options.cache_folder = folder;
  options.threads = 2;
  options.on_note = [&notes](const std::string& line) { notes.lines.push_back(line); };
  return options;
}

}  // namespace

TEST_CASE("a prepared corpus reads back as it was written", "[prepared]") {
  TempDir dir{"han_test_prepared_"};
  write_file(dir / "c.jsonl", synthetic_jsonl(60, true));
  TextOptions text;
  text.max_words = 6;  // some sentences are cut: the counts travel too
  const TokenizedCorpus original = tokenized(dir / "c.jsonl", text);
  REQUIRE(original.text.words_cut > 0);
  REQUIRE(original.labels.size() == 3);
  REQUIRE(original.documents.back().targets.size() == 2);
  const nlohmann::json key = prepared_key(dir / "c.jsonl", {}, text);
  write_prepared(original, key, dir / "c.hanc");
  CHECK(is_prepared_file(dir / "c.hanc"));
  CHECK_FALSE(is_prepared_file(dir / "c.jsonl"));
  const PreparedFile read = read_prepared(dir / "c.hanc");
  CHECK(read.key == key);
  check_same(original, read.corpus);
  CHECK(label_count(read.corpus.documents.back()) == 2);
  CHECK(label_count(read.corpus.documents.front()) == 1);
}

TEST_CASE("an opened prepared corpus reads each document from the file, as written", "[prepared]") {
  TempDir dir{"han_test_prepared_"};
  write_file(dir / "c.jsonl", synthetic_jsonl(60, true));
  const TokenizedCorpus original = tokenized(dir / "c.jsonl");
  write_prepared(original, prepared_key(dir / "c.jsonl", {}, {}), dir / "c.hanc");
  const PreparedFile opened = open_prepared(dir / "c.hanc");
  const TokenizedCorpus& corpus = opened.corpus;
  REQUIRE(corpus.records);
  CHECK(corpus.documents.empty());
  const PreparedRecords& records = *corpus.records;
  REQUIRE(records.size() == static_cast<int64_t>(original.documents.size()));
  CHECK(document_count(corpus) == records.size());
  // Out of order, as batches read them.
  InternedDocument d;
  for (int64_t i = records.size() - 1; i >= 0; i -= 7) {
    const InternedDocument& want = original.documents[static_cast<size_t>(i)];
    records.read(i, d);
    CHECK(d.forms == want.forms);
    CHECK(d.sentence_lengths == want.sentence_lengths);
    CHECK(d.label == want.label);
    CHECK(d.targets == want.targets);
    CHECK(records.sentences(i) == static_cast<int32_t>(want.sentence_lengths.size()));
    CHECK(records.label(i) == want.label);
    CHECK(records.targets(i) == want.targets);
  }
  int64_t scanned = 0, multi = 0;
  records.scan([&](int64_t i, const InternedDocument& read) {
    CHECK(i == scanned++);
    CHECK(read.forms == original.documents[static_cast<size_t>(i)].forms);
    return true;
  });
  CHECK(scanned == records.size());
  int64_t visited = 0;
  records.scan([&](int64_t, const InternedDocument&) { return ++visited < 5; });
  CHECK(visited == 5);  // a scan stops when asked
  for_each_outline(corpus, [&](const DocumentOutline& o) { multi += o.labels == 2; });
  CHECK(multi == 1);

  // Rewritten in place under a run that holds it open: refused, not misread.
  {
    std::fstream file(dir / "c.hanc", std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(8);  // the first record's sentence count
    const uint32_t sentences = 1000;
    file.write(reinterpret_cast<const char*>(&sentences), 4);
  }
  CHECK_THROWS_WITH(records.read(0, d), Catch::Contains("changed while in use"));
  CHECK_THROWS_WITH(records.scan([](int64_t, const InternedDocument&) { return true; }),
                    Catch::Contains("changed while in use"));
}

TEST_CASE("a damaged or hostile prepared file is refused, never read", "[prepared]") {
  TempDir dir{"han_test_prepared_"};
  write_file(dir / "c.jsonl", synthetic_jsonl(30));
  write_prepared(tokenized(dir / "c.jsonl"), prepared_key(dir / "c.jsonl", {}, {}), dir / "c.hanc");
  const std::string good = read_file(dir / "c.hanc");
  // Read whole and opened as training opens it: both refuse, with one message.
  const auto refused = [&](std::string bytes) {
    write_file(dir / "bad.hanc", bytes);
    std::string whole = "read", opened = "opened";
    try {
      read_prepared(dir / "bad.hanc");
    } catch (const InputError& e) {
      whole = e.what();
    }
    try {
      open_prepared(dir / "bad.hanc");
    } catch (const InputError& e) {
      opened = e.what();
    }
    CHECK(whole == opened);
    return whole;
  };
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x10;
  CHECK_THAT(refused(flipped), Catch::Contains("damaged") && Catch::Contains("checksum"));
  CHECK_THAT(refused(good.substr(0, good.size() - 100)), Catch::Contains("damaged"));
  CHECK_THAT(refused(good.substr(0, 10)), Catch::Contains("damaged"));
  CHECK_THAT(refused("not a corpus at all"), Catch::Contains("not a prepared corpus"));
  // A word id past the forms, with a checksum that fits: the checks of
  // every id catch what a checksum cannot (it is no signature).
  const TokenizedCorpus corpus = read_prepared(dir / "c.hanc").corpus;
  REQUIRE(corpus.documents[0].forms.size() >= 8);
  // The first document's word ids, found by their bytes.
  std::string hostile = good;
  const std::string first_ids(reinterpret_cast<const char*>(corpus.documents[0].forms.data()), 4 * 8);
  const size_t at = hostile.find(first_ids);
  REQUIRE(at != std::string::npos);
  const int32_t past = corpus.forms.size() + 5;
  std::memcpy(hostile.data() + at, &past, 4);
  rewrite_checksum(hostile);
  CHECK_THAT(refused(hostile), Catch::Contains("damaged") && Catch::Contains("out of range"));
  std::string zero_sentence = good;
  const std::string first_lengths(reinterpret_cast<const char*>(corpus.documents[0].sentence_lengths.data()),
                                  4 * corpus.documents[0].sentence_lengths.size());
  const size_t lengths_at = zero_sentence.find(first_lengths);
  REQUIRE(lengths_at != std::string::npos);
  std::memset(zero_sentence.data() + lengths_at, 0, 4);
  rewrite_checksum(zero_sentence);
  CHECK_THAT(refused(zero_sentence), Catch::Contains("damaged"));
}

TEST_CASE("the cache is written once, then read; a changed corpus rebuilds it", "[prepared]") {
  TempDir dir{"han_test_prepared_"};
  const std::string corpus = dir / "c.jsonl", cache = dir / "cache";
  write_file(corpus, synthetic_jsonl(40));
  Notes notes;
  const TokenizedCorpus first = load_tokenized(corpus, cached_in(cache, notes));
  CHECK(notes.any("cached the tokenized corpus"));
  REQUIRE(cached_files(cache) == 1);
  check_same(first, tokenized(corpus));

  notes.lines.clear();
  const TokenizedCorpus second = load_tokenized(corpus, cached_in(cache, notes));
  CHECK(notes.any("read the tokenized corpus from the cache"));
  check_same(first, second);
  CHECK(second.path == corpus);

  // The same size, other words: the sampled bytes (or the time) tell.
  std::string edited = read_file(corpus);
  const size_t at = edited.find("film");
  REQUIRE(at != std::string::npos);
  edited.replace(at, 4, "FILM");
  write_file(corpus, edited);
  notes.lines.clear();
  const TokenizedCorpus third = load_tokenized(corpus, cached_in(cache, notes));
  CHECK(notes.any("stale"));
  check_same(third, tokenized(corpus));
  CHECK(cached_files(cache) == 1);  // rebuilt in place

  // Other text settings: another cache file, not a stale one.
  notes.lines.clear();
  CorpusLoadOptions other = cached_in(cache, notes);
  other.text.max_sentences = 2;
  const TokenizedCorpus capped = load_tokenized(corpus, other);
  CHECK(capped.text.sentences_cut > 0);
  CHECK(cached_files(cache) == 2);
}

TEST_CASE("a damaged cache is rebuilt; --no-cache writes nothing", "[prepared]") {
  TempDir dir{"han_test_prepared_"};
  const std::string corpus = dir / "c.jsonl", cache = dir / "cache";
  write_file(corpus, synthetic_jsonl(20));
  Notes notes;
  load_tokenized(corpus, cached_in(cache, notes));
  const std::string file = first_cached_file(cache);
  std::string bytes = read_file(file);
  bytes[bytes.size() / 2] ^= 1;
  write_file(file, bytes);
  notes.lines.clear();
  const TokenizedCorpus rebuilt = load_tokenized(corpus, cached_in(cache, notes));
  CHECK(notes.any("unusable"));
  check_same(rebuilt, tokenized(corpus));
  CHECK_NOTHROW(read_prepared(file));

  const std::string unused = dir / "unused";
  CorpusLoadOptions off = cached_in(unused, notes);
  off.use_cache = false;
  load_tokenized(corpus, off);
  CHECK_FALSE(fs::exists(unused));
}

TEST_CASE("a prepared file given as the corpus must match the run's text settings", "[prepared]") {
  TempDir dir{"han_test_prepared_"};
  write_file(dir / "c.jsonl", synthetic_jsonl(20));
  TextOptions text;
  text.max_words = 7;
  write_prepared(tokenized(dir / "c.jsonl", text), prepared_key(dir / "c.jsonl", {}, text), dir / "c.hanc");
  Notes notes;
  CorpusLoadOptions options = cached_in(dir / "cache", notes);
  options.text = text;
  const TokenizedCorpus read = load_tokenized(dir / "c.hanc", options);
  CHECK(read.path == dir / "c.hanc");
  CHECK(document_count(read) == 20);
  CHECK_FALSE(fs::exists(dir / "cache"));  // a prepared file is not cached again

  options.text = TextOptions{};
  try {
    load_tokenized(dir / "c.hanc", options);
    FAIL("expected an InputError");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::Contains("text.max_words 100 here, 7 in the file"));
  }
  // The corpus changed after it was prepared: said, and the prepared copy used.
  write_file(dir / "c.jsonl", synthetic_jsonl(21));
  options.text = text;
  notes.lines.clear();
  CHECK(document_count(load_tokenized(dir / "c.hanc", options)) == 20);
  CHECK(notes.any("changed since"));
}

TEST_CASE("a folder corpus's cache sees a file added below it", "[prepared]") {
  TempDir dir{"han_test_prepared_"};
  fs::create_directories(dir.path / "root" / "pos");
  fs::create_directories(dir.path / "root" / "neg");
  for (int i = 0; i < 3; ++i) {
    write_file(dir / ("root/pos/" + std::to_string(i) + ".txt"), "a good film. I liked it.");
    write_file(dir / ("root/neg/" + std::to_string(i) + ".txt"), "a bad film. I left.");
  }
  Notes notes;
  CHECK(document_count(load_tokenized(dir / "root", cached_in(dir / "cache", notes))) == 6);
  write_file(dir / "root/neg/9.txt", "awful.");
  notes.lines.clear();
  CHECK(document_count(load_tokenized(dir / "root", cached_in(dir / "cache", notes))) == 7);
  CHECK(notes.any("stale"));
}

TEST_CASE("a corpus file streamed record by record tokenizes as when read whole", "[prepared]") {
  TempDir dir{"han_test_prepared_"};
  // Odd records of every file format: invalid UTF-8, an empty text, several labels, a quoted line break.
  write_file(dir / "c.csv", "label,text\npos,\"a good film.\nI liked it.\"\nneg,bad \xff film\nneg,\npos,fine.\n");
  write_file(dir / "c.tsv", "label\ttext\npos\tgood.\nneg\tbad. really bad.\n");
  write_file(dir / "c.jsonl",
             "{\"text\": \"one. two.\", \"label\": \"a\"}\n\n{\"text\": \"x\", \"label\": [\"a\", \"b\"]}\n"
             "{\"text\": \"\", \"label\": \"b\"}\n");
  write_file(dir / "c.txt", "__label__a some text here\n__label__b __label__a more text\n");
  std::string big;
  for (int i = 0; i < 9000; ++i)
    big +=
        "{\"text\": \"words " + std::to_string(i % 977) + " here.\", \"label\": \"" + std::to_string(i % 3) + "\"}\n";
  write_file(dir / "big.jsonl", big);  // more than one chunk
  for (const std::string name : {"c.csv", "c.tsv", "c.jsonl", "c.txt", "big.jsonl"}) {
    INFO(name);
    CorpusLoadOptions options;
    options.threads = 2;
    std::vector<InternedDocument> documents;
    TokenizedCorpus streamed =
        tokenize_streamed(dir / name, options, [&](InternedDocument& d) { documents.push_back(std::move(d)); });
    streamed.documents = std::move(documents);
    const TokenizedCorpus whole = tokenized(dir / name);
    // Form ids may differ (chunks intern in another order): compare forms as text.
    REQUIRE(streamed.documents.size() == whole.documents.size());
    for (size_t i = 0; i < whole.documents.size(); ++i) {
      std::vector<std::string_view> a, b;
      for (const int32_t f : streamed.documents[i].forms) a.push_back(streamed.forms.form(f));
      for (const int32_t f : whole.documents[i].forms) b.push_back(whole.forms.form(f));
      CHECK(a == b);
      CHECK(streamed.documents[i].sentence_lengths == whole.documents[i].sentence_lengths);
      CHECK(streamed.documents[i].label == whole.documents[i].label);
      CHECK(streamed.documents[i].targets == whole.documents[i].targets);
    }
    CHECK(streamed.labels == whole.labels);
    CHECK(streamed.label_origins == whole.label_origins);
    CHECK(streamed.format == whole.format);
    CHECK(streamed.stats.documents == whole.stats.documents);
    CHECK(streamed.stats.empty == whole.stats.empty);
    CHECK(streamed.stats.invalid_utf8 == whole.stats.invalid_utf8);
    CHECK(streamed.text.tokens == whole.text.tokens);
    CHECK(streamed.text.documents == whole.text.documents);
    CHECK(streamed.words.tokens == whole.words.tokens);
    CHECK(streamed.distinct_texts == whole.distinct_texts);
    CHECK(streamed.first_text == whole.first_text);
  }
}

TEST_CASE("runs on one corpus at once build its cache once and share it", "[prepared]") {
  TempDir dir{"han_test_prepared_"};
  write_file(dir / "c.jsonl", synthetic_jsonl(400));
  Notes notes[3];
  int64_t counts[3] = {};
  std::vector<std::thread> runs;
  for (int r = 0; r < 3; ++r) {
    runs.emplace_back(
        [&, r] { counts[r] = document_count(load_tokenized(dir / "c.jsonl", cached_in(dir / "cache", notes[r]))); });
  }
  for (auto& run : runs) run.join();
  int built = 0, read = 0;
  for (int r = 0; r < 3; ++r) {
    CHECK(counts[r] == 400);
    built += notes[r].any("cached the tokenized corpus");
    read += notes[r].any("read the tokenized corpus from the cache");
  }
  CHECK(built == 1);
  CHECK(read == 2);
  CHECK(cached_files(dir / "cache") == 1);

  // While another run holds the lock, a run waits, says so, and builds nothing.
  const std::string cached = first_cached_file(dir / "cache");
  fs::remove(cached);
  const int held = ::open((cached + ".lock").c_str(), O_RDWR | O_CLOEXEC);
  REQUIRE(held >= 0);
  REQUIRE(::flock(held, LOCK_EX) == 0);
  std::atomic<bool> waiting{false}, built_after{false};
  std::thread run([&] {
    CorpusLoadOptions options = cached_in(dir / "cache", notes[0]);
    options.on_note = [&](const std::string& line) {
      if (line.find("waiting for another han run") != std::string::npos) waiting = true;
      if (line.find("cached the tokenized corpus") != std::string::npos) built_after = true;
    };
    load_tokenized(dir / "c.jsonl", options);
  });
  for (int i = 0; i < 6000 && !waiting; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(waiting);
  CHECK_FALSE(fs::exists(cached));
  ::close(held);  // lets it go on
  run.join();
  CHECK(built_after);
  CHECK(fs::exists(cached));
}

TEST_CASE("a cache that cannot be written is a note, and the corpus is still read", "[prepared]") {
  TempDir dir{"han_test_prepared_"};
  write_file(dir / "c.jsonl", synthetic_jsonl(20));
  write_file(dir / "file", "not a folder");
  Notes notes;
  const TokenizedCorpus corpus = load_tokenized(dir / "c.jsonl", cached_in(dir / "file/cache", notes));
  CHECK(corpus.documents.size() == 20);
  CHECK(notes.any("not cached"));
  CHECK(notes.any("--no-cache"));
}

TEST_CASE("the cache sees edits that keep a file's size and time, and class folders that are links", "[prepared]") {
  TempDir dir{"han_test_prepared_"};
  write_file(dir / "c.jsonl", synthetic_jsonl(20));
  Notes notes;
  load_tokenized(dir / "c.jsonl", cached_in(dir / "cache", notes));
  // As cp -p or touch -r leave it: other bytes, the same size and modification time.
  const auto time = fs::last_write_time(dir / "c.jsonl");
  std::string edited = read_file(dir / "c.jsonl");
  const size_t word = edited.find("film");
  REQUIRE(word != std::string::npos);
  edited.replace(word, 4, "flim");
  write_file(dir / "c.jsonl", edited);
  fs::last_write_time(dir / "c.jsonl", time);
  notes.lines.clear();
  load_tokenized(dir / "c.jsonl", cached_in(dir / "cache", notes));
  CHECK(notes.any("stale"));

  fs::create_directories(dir.path / "real" / "pos");
  fs::create_directories(dir.path / "root" / "neg");
  write_file(dir / "real/pos/1.txt", "a good film.");
  write_file(dir / "root/neg/1.txt", "a bad film.");
  fs::create_directory_symlink(dir.path / "real" / "pos", dir.path / "root" / "pos");
  CHECK(document_count(load_tokenized(dir / "root", cached_in(dir / "cache", notes))) == 2);
  write_file(dir / "real/pos/2.txt", "another good one.");
  notes.lines.clear();
  CHECK(document_count(load_tokenized(dir / "root", cached_in(dir / "cache", notes))) == 3);
  CHECK(notes.any("stale"));
  // A file below the folder rewritten with its size and time kept: only its status-change time tells.
  const auto kept = fs::last_write_time(dir / "real/pos/1.txt");
  write_file(dir / "real/pos/1.txt", "a good flim.");
  fs::last_write_time(dir / "real/pos/1.txt", kept);
  notes.lines.clear();
  load_tokenized(dir / "root", cached_in(dir / "cache", notes));
  CHECK(notes.any("stale"));
}

TEST_CASE("a prepared file given other reader options than it was made with is refused", "[prepared]") {
  TempDir dir{"han_test_prepared_"};
  write_file(dir / "c.jsonl", synthetic_jsonl(20));
  write_prepared(tokenized(dir / "c.jsonl"), prepared_key(dir / "c.jsonl", {}, {}), dir / "c.hanc");
  Notes notes;
  CorpusLoadOptions options = cached_in(dir / "cache", notes);
  options.reader.multi_label_folders = true;
  try {
    load_tokenized(dir / "c.hanc", options);
    FAIL("expected an InputError");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::Contains("other reader options") && Catch::Contains("multi_label_folders true here"));
  }
  options.reader = CorpusOptions{};
  options.reader.format = CorpusFormat::JsonLines;  // the format is the file's own: not compared
  CHECK(document_count(load_tokenized(dir / "c.hanc", options)) == 20);
}

TEST_CASE("a prepared file whose unlabeled documents the header does not own up to is damaged", "[prepared]") {
  TempDir dir{"han_test_prepared_"};
  write_file(dir / "c.jsonl", synthetic_jsonl(20));
  const TokenizedCorpus corpus = tokenized(dir / "c.jsonl");
  write_prepared(corpus, prepared_key(dir / "c.jsonl", {}, {}), dir / "c.hanc");
  std::string bytes = read_file(dir / "c.hanc");
  const int32_t none = -1;
  std::memcpy(bytes.data() + 8 + 8, &none, 4);  // the first record's label, after its two counts
  rewrite_checksum(bytes);
  write_file(dir / "c.hanc", bytes);
  CHECK_THROWS_WITH(read_prepared(dir / "c.hanc"), Catch::Contains("unlabeled documents and the header disagree"));
  CHECK_THROWS_WITH(read_corpus(dir / "c.hanc"), Catch::Contains("is a prepared corpus"));
}
