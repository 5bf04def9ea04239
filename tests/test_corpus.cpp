#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include <zlib.h>

#include <fmt/format.h>

#include "han/base/error.h"
#include "han/data/corpus.h"
#include "shared_data.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using namespace han;
using han_test::write_file;

namespace {

using TempDir = han_test::TempDir;

// The message of the InputError that fn throws; fails the test if it throws none.
template <typename Fn>
std::string input_error(Fn&& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  FAIL("expected an InputError");
  return {};
}

Corpus csv(const std::string& text, const CorpusOptions& options = {}) {
  std::istringstream in(text);
  return read_csv(in, "t.csv", ',', options);
}

Corpus jsonl(const std::string& text, const CorpusOptions& options = {}) {
  std::istringstream in(text);
  return read_json_lines(in, "t.jsonl", options);
}

Corpus fasttext(const std::string& text, const CorpusOptions& options = {}) {
  std::istringstream in(text);
  return read_fasttext(in, "t.txt", options);
}

}  // namespace

TEST_CASE("corpus format names parse and print") {
  CHECK(parse_corpus_format("auto") == CorpusFormat::Auto);
  CHECK(parse_corpus_format("folder") == CorpusFormat::Folder);
  CHECK(parse_corpus_format("csv") == CorpusFormat::Csv);
  CHECK(parse_corpus_format("tsv") == CorpusFormat::Tsv);
  CHECK(parse_corpus_format("jsonl") == CorpusFormat::JsonLines);
  CHECK(parse_corpus_format("json") == CorpusFormat::JsonLines);
  CHECK(parse_corpus_format("jsonlines") == CorpusFormat::JsonLines);
  CHECK(parse_corpus_format("ndjson") == CorpusFormat::JsonLines);
  CHECK(parse_corpus_format("fasttext") == CorpusFormat::FastText);
  for (auto f : {CorpusFormat::Auto, CorpusFormat::Folder, CorpusFormat::Csv, CorpusFormat::Tsv,
                 CorpusFormat::JsonLines, CorpusFormat::FastText}) {
    CHECK(parse_corpus_format(to_string(f)) == f);
  }
  CHECK(to_string(CorpusFormat::JsonLines) == "jsonl");
  try {
    parse_corpus_format("xml");
    FAIL("expected a UsageError");
  } catch (const UsageError& e) {
    const std::string message = e.what();
    CHECK_THAT(message, Catch::Contains("xml") && Catch::Contains("csv") && Catch::Contains("jsonl") &&
                            Catch::Contains("fasttext") && Catch::Contains("folder"));
  }
}

TEST_CASE("corpus format is detected from folders, extensions and first lines") {
  TempDir dir{"han_test_corpus_"};
  fs::create_directories(dir.path / "corpus" / "pos");
  write_file(dir.path / "a.csv", "label,text\n");
  write_file(dir.path / "a.TSV", "label\ttext\n");
  write_file(dir.path / "a.jsonl", "");
  write_file(dir.path / "a.ndjson", "");
  write_file(dir.path / "a.json", "");
  write_file(dir.path / "ft.txt", "\n\n__label__good nice day\n");
  write_file(dir.path / "obj.txt", "\n  {\"text\": \"x\", \"label\": 1}\n");
  write_file(dir.path / "plain.txt", "just some words\n");
  write_file(dir.path / "blank.txt", "\n\n");

  CHECK(detect_corpus_format(dir / "corpus") == CorpusFormat::Folder);
  CHECK(detect_corpus_format(dir / "a.csv") == CorpusFormat::Csv);
  CHECK(detect_corpus_format(dir / "a.TSV") == CorpusFormat::Tsv);
  CHECK(detect_corpus_format(dir / "a.jsonl") == CorpusFormat::JsonLines);
  CHECK(detect_corpus_format(dir / "a.ndjson") == CorpusFormat::JsonLines);
  CHECK(detect_corpus_format(dir / "a.json") == CorpusFormat::JsonLines);
  CHECK(detect_corpus_format(dir / "ft.txt") == CorpusFormat::FastText);
  CHECK(detect_corpus_format(dir / "obj.txt") == CorpusFormat::JsonLines);

  const std::string plain = dir / "plain.txt";
  CHECK(input_error([&] { detect_corpus_format(plain); }) ==
        plain + ": cannot tell the corpus format; pass --format csv|tsv|jsonl|fasttext|folder");
  CHECK_THROWS_AS(detect_corpus_format(dir / "blank.txt"), InputError);
  const std::string missing = dir / "missing.csv";
  CHECK(input_error([&] { detect_corpus_format(missing); }) == missing + ": no such file or folder");
  CHECK(input_error([&] { read_corpus(missing); }) == missing + ": no such file or folder");
}

TEST_CASE("folder corpus reads ROOT/<label>/<file>") {
  TempDir dir{"han_test_corpus_"};
  const fs::path root = dir.path / "train";
  write_file(root / "pos" / "2_9.txt", "good film");
  write_file(root / "pos" / "12_8.txt", "great film");
  write_file(root / "pos" / ".hidden", "not a review");
  write_file(root / "neg" / "0_1.txt", "caf\xE9 was bad");  // Latin-1 é
  write_file(root / "neg" / "1_2.txt", "  \n ");
  write_file(root / "urls_pos.txt", "http://example.invalid/1\n");
  write_file(root / "labeledBow.feat", "0:1 2:3\n");
  write_file(root / "unsup" / "0_0.txt", "no label here");
  write_file(root / "unsup" / "1_0.txt", "nor here");
  fs::create_directories(root / ".git");
  write_file(root / ".git" / "config", "x");

  SECTION("unsup skipped") {
    const Corpus corpus = read_corpus(root.string());
    CHECK(corpus.format == CorpusFormat::Folder);
    CHECK(corpus.path == root.string());
    REQUIRE(corpus.documents.size() == 4);
    // Class folders and files sorted by name, digits by value.
    CHECK(corpus.documents[0].label == "neg");
    CHECK(corpus.documents[0].text == "caf\xC3\xA9 was bad");
    CHECK(corpus.documents[1].label == "neg");
    CHECK(corpus.documents[2].text == "good film");
    CHECK(corpus.documents[2].origin == (root / "pos" / "2_9.txt").string());
    CHECK(corpus.documents[3].text == "great film");
    CHECK(corpus.documents[3].label == "pos");
    CHECK(corpus.stats.documents == 4);
    CHECK(corpus.stats.decoded_latin1 == 1);
    CHECK(corpus.stats.empty == 1);
    // 2 root files + 1 hidden file + 2 files in the skipped unsup folder.
    CHECK(corpus.stats.skipped_files == 5);
  }
  SECTION("unsup included with empty labels") {
    CorpusOptions options;
    options.include_unsup = true;
    const Corpus corpus = read_corpus(root.string(), options);
    REQUIRE(corpus.documents.size() == 6);
    CHECK(corpus.documents[4].label.empty());
    CHECK(corpus.documents[4].text == "no label here");
    CHECK(corpus.documents[5].label.empty());
    CHECK(corpus.stats.skipped_files == 3);
  }
  SECTION("explicit folder format on a file is an error") {
    CorpusOptions options;
    options.format = CorpusFormat::Folder;
    const std::string file = (root / "urls_pos.txt").string();
    CHECK_THAT(input_error([&] { read_corpus(file, options); }), Catch::StartsWith(file + ": "));
  }
}

TEST_CASE("folder corpus does not loop on symlinks and follows linked files") {
  TempDir dir{"han_test_corpus_"};
  const fs::path root = dir.path / "c";
  write_file(root / "a" / "1.txt", "one");
  write_file(dir.path / "outside.txt", "linked");
  std::error_code ec;
  fs::create_symlink(dir.path / "outside.txt", root / "a" / "2.txt", ec);
  fs::create_directory_symlink(root, root / "a" / "loop", ec);
  if (ec) WARN("symlinks not supported here: " << ec.message());
  const Corpus corpus = read_corpus(root.string());
  if (!ec) {
    REQUIRE(corpus.documents.size() == 2);
    CHECK(corpus.documents[1].text == "linked");
    CHECK(corpus.stats.skipped_files == 1);  // the linked folder
  }
}

TEST_CASE("folder corpus without documents is an error") {
  TempDir dir{"han_test_corpus_"};
  const fs::path root = dir.path / "empty";
  write_file(root / "readme.txt", "nothing here");
  const std::string r = root.string();
  CHECK(input_error([&] { read_corpus(r); }) == r + ": no documents found (expected " + r + "/<label>/<file>)");
  fs::create_directories(root / "pos");
  CHECK(input_error([&] { read_corpus(r); }) == r + ": no documents found (expected " + r + "/<label>/<file>)");
}

TEST_CASE("CSV follows RFC 4180 quoting") {
  const Corpus corpus =
      csv("\xEF\xBB\xBFid,Label,Review\r\n"
          "1, pos ,\"fine, really\"\r\n"
          "2,neg,\"said \"\"no\"\"\nand left\"\r\n"
          "\r\n"
          "3,neg,plain \"quote\" inside\r\n"
          "4,pos,\"\"\n");
  CHECK(corpus.format == CorpusFormat::Csv);
  REQUIRE(corpus.documents.size() == 4);
  CHECK(corpus.documents[0].label == "pos");
  CHECK(corpus.documents[0].text == "fine, really");
  CHECK(corpus.documents[0].origin == "t.csv:2");
  CHECK(corpus.documents[1].text == "said \"no\"\nand left");
  CHECK(corpus.documents[1].origin == "t.csv:3");
  CHECK(corpus.documents[2].text == "plain \"quote\" inside");
  CHECK(corpus.documents[2].origin == "t.csv:6");  // after the 2-line field and a blank line
  CHECK(corpus.documents[3].text.empty());
  CHECK(corpus.stats.documents == 4);
  CHECK(corpus.stats.empty == 1);
}

TEST_CASE("CSV columns are guessed or named") {
  SECTION("guessed, case-insensitive") {
    const Corpus corpus = csv("Sentiment,Content,Other\nyes,hello there,x\n");
    REQUIRE(corpus.documents.size() == 1);
    CHECK(corpus.documents[0].label == "yes");
    CHECK(corpus.documents[0].text == "hello there");
  }
  SECTION("named") {
    CorpusOptions options;
    options.text_field = "TITLE";
    options.label_field = "stars";
    const Corpus corpus = csv("label,title,stars\nignored,a title,5\n", options);
    REQUIRE(corpus.documents.size() == 1);
    CHECK(corpus.documents[0].label == "5");
    CHECK(corpus.documents[0].text == "a title");
  }
  SECTION("unknown named column lists the columns") {
    CorpusOptions options;
    options.text_field = "body_text";
    const std::string message = input_error([&] { csv("label,review\n1,ok\n", options); });
    CHECK_THAT(message, Catch::StartsWith("t.csv:1: ") && Catch::Contains("body_text") &&
                            Catch::Contains("\"label\"") && Catch::Contains("\"review\"") &&
                            Catch::Contains("--text-field"));
  }
  SECTION("no guessable column names the options") {
    const std::string message = input_error([&] { csv("a,b\n1,ok\n"); });
    CHECK_THAT(message, Catch::StartsWith("t.csv:1: ") && Catch::Contains("\"a\"") && Catch::Contains("\"b\"") &&
                            Catch::Contains("--text-field"));
    const std::string no_label = input_error([&] { csv("text,b\n1,ok\n"); });
    CHECK_THAT(no_label, Catch::Contains("--label-field"));
  }
}

TEST_CASE("CSV errors name the line") {
  SECTION("unbalanced quote names the line where the field started") {
    const std::string message = input_error([&] { csv("label,text\n1,ok\n\n0,\"never\nclosed\nat all\n"); });
    CHECK_THAT(message, Catch::StartsWith("t.csv:4: ") && Catch::Contains("closing"));
  }
  SECTION("wrong number of fields") {
    const std::string message = input_error([&] { csv("label,text\n1,ok\n1,a,b\n"); });
    CHECK_THAT(message, Catch::StartsWith("t.csv:3: ") && Catch::Contains("found 3") && Catch::Contains("expected 2"));
  }
  SECTION("empty label") {
    const std::string message = input_error([&] { csv("label,text\n1,ok\n  ,no label\n"); });
    CHECK_THAT(message, Catch::StartsWith("t.csv:3: missing label"));
  }
  SECTION("text after a closing quote") {
    const std::string message = input_error([&] { csv("label,text\n1,\"a\"b\n"); });
    CHECK_THAT(message, Catch::StartsWith("t.csv:2: "));
  }
  SECTION("header only, or nothing") {
    CHECK(input_error([&] { csv("label,text\n"); }) == "t.csv: no documents found");
    CHECK_THAT(input_error([&] { csv(""); }), Catch::StartsWith("t.csv: no documents found"));
  }
}

TEST_CASE("CSV repairs invalid UTF-8 and counts it") {
  const Corpus corpus = csv("label,text\n1,bad \xFF byte\n0,good\n");
  REQUIRE(corpus.documents.size() == 2);
  CHECK(corpus.documents[0].text == "bad \xEF\xBF\xBD byte");
  CHECK(corpus.stats.invalid_utf8 == 1);
}

TEST_CASE("TSV reads tab-separated rows") {
  TempDir dir{"han_test_corpus_"};
  const std::string path = dir / "data.tsv";
  write_file(path, "text\tlabel\nhello, world\tgreeting\n\"tab\there\"\tother\n");
  const Corpus corpus = read_corpus(path);
  CHECK(corpus.format == CorpusFormat::Tsv);
  REQUIRE(corpus.documents.size() == 2);
  CHECK(corpus.documents[0].text == "hello, world");
  CHECK(corpus.documents[0].label == "greeting");
  CHECK(corpus.documents[1].text == "tab\there");
  CHECK(corpus.documents[1].origin == path + ":3");

  std::istringstream in("label\ttext\na\tb\n");
  CHECK(read_csv(in, "s", '\t', {}).format == CorpusFormat::Tsv);
}

TEST_CASE("JSON Lines reads objects with string or integer labels") {
  const Corpus corpus = jsonl(
      "{\"text\": \"first\", \"label\": \"pos\"}\n"
      "\n"
      "{\"label\": 3, \"text\": \"second\", \"id\": 9}\r\n"
      "{\"TEXT\": \"   \", \"Label\": \"neg\"}\n");
  CHECK(corpus.format == CorpusFormat::JsonLines);
  REQUIRE(corpus.documents.size() == 3);
  CHECK(corpus.documents[0].label == "pos");
  CHECK(corpus.documents[1].label == "3");
  CHECK(corpus.documents[1].text == "second");
  CHECK(corpus.documents[1].origin == "t.jsonl:3");
  CHECK(corpus.documents[2].label == "neg");  // keys match case-insensitively
  CHECK(corpus.stats.empty == 1);

  const Corpus guessed = jsonl("{\"review\": \"   \", \"sentiment\": -1}\n");
  CHECK(guessed.documents[0].label == "-1");
  CHECK(guessed.stats.empty == 1);

  CorpusOptions options;
  options.text_field = "body";
  options.label_field = "stars";
  const Corpus named = jsonl("{\"text\": \"no\", \"body\": \"yes\", \"stars\": 4}\n", options);
  CHECK(named.documents[0].text == "yes");
  CHECK(named.documents[0].label == "4");
}

TEST_CASE("JSON Lines errors name the line and what was found") {
  SECTION("not JSON") {
    const std::string message = input_error([&] { jsonl("{\"text\": \"a\", \"label\": 1}\n\n{text: oops}\n"); });
    CHECK_THAT(message, Catch::StartsWith("t.jsonl:3: not a JSON object ("));
  }
  SECTION("not an object") {
    const std::string message = input_error([&] { jsonl("[1, 2]\n"); });
    CHECK_THAT(message, Catch::StartsWith("t.jsonl:1: not a JSON object") && Catch::Contains("array"));
  }
  SECTION("text of the wrong type") {
    const std::string message = input_error([&] { jsonl("{\"text\": 5, \"label\": 1}\n"); });
    CHECK_THAT(message,
               Catch::StartsWith("t.jsonl:1: ") && Catch::Contains("\"text\"") && Catch::Contains("found number"));
  }
  SECTION("label of the wrong type") {
    for (const char* bad : {"[{}]", "{}", "null", "1.5", "true"}) {
      const std::string line = std::string("{\"text\": \"a\", \"label\": ") + bad + "}\n";
      const std::string message = input_error([&] { jsonl("{\"text\": \"a\", \"label\": 1}\n" + line); });
      CHECK_THAT(message,
                 Catch::StartsWith("t.jsonl:2: ") && Catch::Contains("\"label\"") && Catch::Contains("wrong type"));
    }
    CHECK_THAT(input_error([&] { jsonl("{\"text\": \"a\", \"label\": null}\n"); }), Catch::Contains("found null"));
    CHECK(input_error([&] { jsonl("{\"text\": \"a\", \"label\": []}\n"); }) ==
          "t.jsonl:1: missing label (found an empty array \"label\", expected one label or more)");
  }
  SECTION("a label array: one label is that label, several a multi-label document") {
    const Document one = jsonl("{\"text\": \"a\", \"label\": [\"pos\"]}\n").documents[0];
    CHECK(one.label == "pos");
    CHECK(one.labels.empty());
    CHECK(labels_of(one) == std::vector<std::string>{"pos"});
    CHECK(jsonl("{\"text\": \"a\", \"labels\": [7]}\n").documents[0].label == "7");
    const Document two = jsonl("{\"text\": \"a\", \"labels\": [\"x\", 7, \" y \", \"x\"]}\n").documents[0];
    CHECK(two.label == "x");
    CHECK(two.labels == std::vector<std::string>{"x", "7", "y"});  // distinct, trimmed, in order
    CorpusOptions unlabeled;
    unlabeled.labels_optional = true;
    CHECK(jsonl("{\"text\": \"a\", \"labels\": [\"x\", \"y\"]}\n", unlabeled).documents[0].text == "a");
  }
  SECTION("missing field") {
    const std::string message =
        input_error([&] { jsonl("{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"tag\": 1}\n"); });
    CHECK_THAT(message, Catch::StartsWith("t.jsonl:2: missing field \"label\""));
    CorpusOptions options;
    options.text_field = "body";
    CHECK_THAT(input_error([&] { jsonl("{\"text\": \"a\", \"label\": 1}\n", options); }),
               Catch::StartsWith("t.jsonl:1: missing field \"body\""));
  }
  SECTION("empty input") {
    CHECK(input_error([&] { jsonl("\n  \n"); }) == "t.jsonl: no documents found");
  }
}

TEST_CASE("CSV labels split by --label-separator make multi-label documents") {
  TempDir dir{"han_test_corpus_"};
  write_file(dir.path / "m.csv", "label,text\n\"sports| politics\",a\nscience,b\nx||x,c\n");
  CorpusOptions options;
  options.label_separator = '|';
  const Corpus corpus = read_corpus(dir / "m.csv", options);
  REQUIRE(corpus.documents.size() == 3);
  CHECK(corpus.documents[0].labels == std::vector<std::string>{"sports", "politics"});
  CHECK(corpus.documents[1].label == "science");
  CHECK(corpus.documents[1].labels.empty());
  CHECK(corpus.documents[2].label == "x");  // the same label twice is one
  CHECK(corpus.documents[2].labels.empty());
  // Without the separator the field is one label, as before.
  CHECK(read_corpus(dir / "m.csv").documents[0].label == "sports| politics");
  write_file(dir.path / "bad.csv", "label,text\n|,a\n");
  CHECK_THAT(input_error([&] { read_corpus(dir / "bad.csv", options); }),
             Catch::StartsWith(dir / "bad.csv" + ":2: missing label"));
}

TEST_CASE("JSON Lines repairs invalid UTF-8 and counts it") {
  const Corpus corpus = jsonl("{\"text\": \"a\xC3 b\", \"label\": \"x\"}\n");
  REQUIRE(corpus.documents.size() == 1);
  CHECK(corpus.documents[0].text == "a\xEF\xBF\xBD b");
  CHECK(corpus.stats.invalid_utf8 == 1);
}

TEST_CASE("fastText lines carry their label as a prefix") {
  const Corpus corpus = fasttext(
      "__label__pos a fine day\n"
      "\n"
      "__label__neg __label__neg\tgrey skies\r\n"
      "__label__neg\n");
  CHECK(corpus.format == CorpusFormat::FastText);
  REQUIRE(corpus.documents.size() == 3);
  CHECK(corpus.documents[0].label == "pos");
  CHECK(corpus.documents[0].text == "a fine day");
  // A label given twice is one label, and leaves the text.
  CHECK(corpus.documents[1].label == "neg");
  CHECK(corpus.documents[1].text == "grey skies");
  CHECK(corpus.documents[1].origin == "t.txt:3");
  CHECK(corpus.documents[2].text.empty());
  CHECK(corpus.stats.empty == 1);

  // Two different labels are a multi-label document, not cut to the first.
  const Corpus several = fasttext("__label__a ok\n__label__a __label__b __label__a both\n");
  CHECK(several.documents[1].labels == std::vector<std::string>{"a", "b"});
  CHECK(several.documents[1].text == "both");
  CHECK(several.documents[0].labels.empty());
  CorpusOptions unlabeled;
  unlabeled.labels_optional = true;
  const Corpus first = fasttext("__label__a __label__b both\n", unlabeled);
  CHECK(first.documents[0].label == "a");
  CHECK(first.documents[0].text == "both");
  CHECK_THAT(input_error([&] { fasttext("__label__a ok\nno prefix here\n"); }),
             Catch::StartsWith("t.txt:2: ") && Catch::Contains("__label__"));
  CHECK(input_error([&] { fasttext(""); }) == "t.txt: no documents found");

  const Corpus repaired = fasttext("__label__a bad \xFE\n");
  CHECK(repaired.stats.invalid_utf8 == 1);
  CHECK(repaired.documents[0].text == "bad \xEF\xBF\xBD");
}

TEST_CASE("read_corpus reads files by detected or given format") {
  TempDir dir{"han_test_corpus_"};
  const std::string ft = dir / "train.txt";
  write_file(ft, "__label__a one\n__label__b two\n");
  const Corpus corpus = read_corpus(ft);
  CHECK(corpus.format == CorpusFormat::FastText);
  CHECK(corpus.path == ft);
  CHECK(corpus.documents.size() == 2);

  const std::string odd = dir / "data.dat";
  write_file(odd, "label,text\nx,y\n");
  CorpusOptions options;
  options.format = CorpusFormat::Csv;
  const Corpus given = read_corpus(odd, options);
  CHECK(given.format == CorpusFormat::Csv);
  CHECK(given.documents[0].origin == odd + ":2");

  const std::string empty = dir / "empty.csv";
  write_file(empty, "label,text\n\n");
  CHECK(input_error([&] { read_corpus(empty); }) == empty + ": no documents found");

  CHECK_THAT(input_error([&] { read_corpus(dir.path.string(), options); }),
             Catch::StartsWith(dir.path.string() + ": is a folder"));
}

// Compresses `text` into a gzip file at `path`.
void write_gzip(const std::string& path, const std::string& text) {
  gzFile file = gzopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  REQUIRE(gzwrite(file, text.data(), static_cast<unsigned>(text.size())) == static_cast<int>(text.size()));
  REQUIRE(gzclose(file) == Z_OK);
}

TEST_CASE("gzipped corpora read as the plain ones, by content and by name") {
  TempDir dir{"han_test_corpus_"};
  const std::string rows = "{\"text\": \"one\", \"label\": \"a\"}\n{\"text\": \"two\", \"label\": \"b\"}\n";
  write_gzip(dir / "train.jsonl.gz", rows);
  const Corpus named = read_corpus(dir / "train.jsonl.gz");
  CHECK(named.format == CorpusFormat::JsonLines);
  REQUIRE(named.documents.size() == 2);
  CHECK(named.documents[1].text == "two");
  CHECK(named.documents[1].label == "b");
  write_gzip(dir / "data.gz", "__label__x a, b\n__label__y c\n");
  const Corpus sniffed = read_corpus(dir / "data.gz");
  CHECK(sniffed.format == CorpusFormat::FastText);
  CHECK(sniffed.documents[0].text == "a, b");
  write_gzip(dir / "table.csv.gz", "label,text\nx,\"a, b\"\n");
  CHECK(read_corpus(dir / "table.csv.gz").documents[0].text == "a, b");
  // classify's inputs too: a gzipped text file is its text.
  write_gzip(dir / "review.txt.gz", "A quiet film.");
  CHECK(read_inputs({dir / "review.txt.gz"}, false)[0].text == "A quiet film.");
  write_file(dir / "broken.jsonl.gz", std::string("\x1f\x8bnot deflate", 13));
  CHECK_THAT(input_error([&] { read_corpus(dir / "broken.jsonl.gz"); }),
             Catch::Contains("broken.jsonl.gz: damaged gzip data"));
}

TEST_CASE("read_inputs with a cap reads a few bytes past it and counts the rest") {
  TempDir dir{"han_test_corpus_"};
  // 20 bytes; a cap of 4 reads 12 (4 + 8), and the cut falls inside "é" (bytes 11 and 12).
  const std::string text = "abcdefghijk\xC3\xA9mnopqrs";
  write_file(dir / "plain.txt", text);
  write_gzip(dir / "packed.txt.gz", text);
  for (const std::string name : {"plain.txt", "packed.txt.gz"}) {
    CorpusStats stats;
    const auto docs = read_inputs({dir / name}, false, &stats, 4);
    REQUIRE(docs.size() == 1);
    CHECK(docs[0].text == "abcdefghijk");  // the broken "é" is left out, not repaired
    CHECK(docs[0].bytes_unread == 9);
    CHECK(stats.invalid_utf8 == 0);
  }
  // Under the cap, or without one: read whole.
  CHECK(read_inputs({dir / "plain.txt"}, false, nullptr, 100)[0].bytes_unread == 0);
  CHECK(read_inputs({dir / "plain.txt"}, false, nullptr, 100)[0].text == text);
  CHECK(read_inputs({dir / "plain.txt"}, false)[0].text == text);
  CHECK(read_inputs({dir / "plain.txt"}, true)[0].text == text);
  // By lines, each line is cut as a file is.
  write_file(dir / "lines.txt", text + "\nshort\n" + text);
  const auto lines = read_inputs({dir / "lines.txt"}, true, nullptr, 4);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].text == "abcdefghijk");
  CHECK(lines[0].bytes_unread == 9);
  CHECK(lines[1].text == "short");
  CHECK(lines[1].bytes_unread == 0);
  CHECK(lines[2].bytes_unread == 9);
  CHECK_THAT(input_error([&] { read_inputs({"/dev/zero"}, false, nullptr, 4); }), Catch::Contains("is a device"));
}

TEST_CASE("read_inputs reads files, folders and lines") {
  TempDir dir{"han_test_corpus_"};
  write_file(dir.path / "one.txt", "whole file\nsecond line\n");
  write_file(dir.path / "empty.txt", "");
  write_file(dir.path / "in" / "b" / "10.txt", "ten");
  write_file(dir.path / "in" / "b" / "9.txt", "nine \xFF");
  write_file(dir.path / "in" / "a.txt", "a\n\n  \nb\n");
  write_file(dir.path / "in" / ".hidden.txt", "skip");
  write_file(dir.path / "in" / ".cache" / "x.txt", "skip");

  CorpusStats stats;
  SECTION("whole files") {
    const auto docs = read_inputs({dir / "one.txt", dir / "empty.txt", dir / "in"}, false, &stats);
    REQUIRE(docs.size() == 5);
    CHECK(docs[0].text == "whole file\nsecond line\n");
    CHECK(docs[0].origin == dir / "one.txt");
    CHECK(docs[0].label.empty());
    CHECK(docs[1].text.empty());
    CHECK(docs[2].origin == (dir.path / "in" / "a.txt").string());
    CHECK(docs[3].text == "nine \xEF\xBF\xBD");
    CHECK(docs[4].text == "ten");
    CHECK(stats.documents == 5);
    CHECK(stats.empty == 1);
    CHECK(stats.invalid_utf8 == 1);
    CHECK(stats.skipped_files == 1);
  }
  SECTION("one per line") {
    const auto docs = read_inputs({dir / "one.txt", dir / "empty.txt", dir / "in"}, true, &stats);
    REQUIRE(docs.size() == 6);
    CHECK(docs[0].text == "whole file");
    CHECK(docs[1].text == "second line");
    CHECK(docs[1].origin == dir / "one.txt" + ":2");
    CHECK(docs[2].text == "a");
    CHECK(docs[3].text == "b");
    CHECK(docs[3].origin == (dir.path / "in" / "a.txt").string() + ":4");
    CHECK(stats.documents == 6);
    CHECK(stats.empty == 0);
  }
  SECTION("missing path") {
    const std::string missing = dir / "nope.txt";
    CHECK(input_error([&] { read_inputs({missing}, false); }) == missing + ": no such file or folder");
  }
}

TEST_CASE("InputReader streams text and corpus files in order, one document at a time") {
  TempDir dir{"han_test_corpus_"};
  write_file(dir.path / "a.txt", "first\n\nthird\n");
  write_file(dir.path / "b.csv", "id,text\n1,\"one, quoted\"\n2,two\n");
  CorpusOptions csv;
  csv.format = CorpusFormat::Csv;
  csv.labels_optional = true;
  csv.text_field = "text";
  InputReader reader({{dir / "a.txt", {}}, {dir / "b.csv", csv}, {dir / "a.txt", {}}}, true);
  std::vector<Document> docs;
  Document document;
  while (reader.next(document)) docs.push_back(document);
  REQUIRE(docs.size() == 6);
  CHECK(docs[1].text == "third");
  CHECK(docs[1].origin == dir / "a.txt" + ":3");  // blank lines are counted, not returned
  CHECK(docs[2].text == "one, quoted");
  CHECK(docs[2].label.empty());
  CHECK(docs[3].origin == dir / "b.csv" + ":3");
  CHECK(docs[5].text == "third");
  CHECK(reader.stats().documents == 6);
  REQUIRE(reader.corpora().size() == 1);
  CHECK(reader.corpora()[0].documents == 2);
  CHECK(reader.corpora()[0].format == CorpusFormat::Csv);
  CHECK_FALSE(reader.next(document));  // and stays at the end
}

TEST_CASE("InputReader checks every path before the first document") {
  TempDir dir{"han_test_corpus_"};
  write_file(dir.path / "a.txt", "text");
  const std::string missing = dir / "nope.txt";
  CHECK(input_error([&] {
          InputReader({{dir / "a.txt", {}}, {missing, {}}}, false);
        }) == missing + ": no such file or folder");
}

TEST_CASE("InputReader reads lines across its chunks with their numbers") {
  TempDir dir{"han_test_corpus_"};
  // Over 2 MB of lines, so that they span several of the reader's 1 MB chunks.
  std::string text;
  const int lines = 150000;
  for (int i = 1; i <= lines; ++i) text += fmt::format("line number {}\r\n", i);
  write_file(dir.path / "many.txt", text);
  write_gzip(dir / "many.txt.gz", text);
  for (const std::string name : {"many.txt", "many.txt.gz"}) {
    InputReader reader({{dir / name, {}}}, true);
    Document document;
    int count = 0;
    bool in_order = true;
    while (reader.next(document)) {
      ++count;
      in_order = in_order && document.text == fmt::format("line number {}", count) &&
                 document.origin == fmt::format("{}:{}", dir / name, count);
    }
    CHECK(count == lines);
    CHECK(in_order);
  }
}

TEST_CASE("read_unlabeled takes labeled corpora, folders of files and plain text") {
  TempDir dir{"han_test_corpus_"};
  CorpusOptions options;
  CorpusStats stats;
  SECTION("a class-folder corpus, its unsup/ folder included, loose files skipped") {
    write_file(dir.path / "train" / "pos" / "1.txt", "good");
    write_file(dir.path / "train" / "neg" / "2.txt", "bad");
    write_file(dir.path / "train" / "unsup" / "3.txt", "plain");
    write_file(dir.path / "train" / "urls.txt", "http://example.org");
    const auto docs = read_unlabeled(dir / "train", options, &stats);
    REQUIRE(docs.size() == 3);
    CHECK(stats.documents == 3);
    CHECK(stats.skipped_files == 1);
  }
  SECTION("a folder of plain files, such as aclImdb/train/unsup") {
    write_file(dir.path / "unsup" / "1.txt", "one");
    write_file(dir.path / "unsup" / "2.txt", "two");
    const auto docs = read_unlabeled(dir / "unsup", options, &stats);
    REQUIRE(docs.size() == 2);
    CHECK(docs[1].text == "two");
    CHECK(docs[1].label.empty());
  }
  SECTION("a CSV without a label column") {
    write_file(dir.path / "notes.csv", "id,text\n1,first note\n2,second note\n");
    const auto docs = read_unlabeled(dir / "notes.csv", options, &stats);
    REQUIRE(docs.size() == 2);
    CHECK(docs[0].text == "first note");
    // A labeled read of the same file still needs the label.
    CHECK_THROWS_AS(read_corpus(dir / "notes.csv"), InputError);
  }
  SECTION("JSON Lines with and without labels") {
    write_file(dir.path / "mixed.jsonl",
               "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\"}\n{\"text\": \"c\", \"label\": [1]}\n");
    const auto docs = read_unlabeled(dir / "mixed.jsonl", options, &stats);
    REQUIRE(docs.size() == 3);
    CHECK(docs[0].label == "x");
    CHECK(docs[1].label.empty());
    CHECK(docs[2].text == "c");
  }
  SECTION("fastText lines with and without a label") {
    write_file(dir.path / "ft.txt", "__label__pos nice film\njust text\n");
    const auto docs = read_unlabeled(dir / "ft.txt", options, &stats);
    REQUIRE(docs.size() == 2);
    CHECK(docs[0].text == "nice film");
    CHECK(docs[1].text == "just text");
  }
  SECTION("a plain text file: one document per non-empty line") {
    write_file(dir.path / "plain.txt", "first line\n\nsecond line\n");
    const auto docs = read_unlabeled(dir / "plain.txt", options, &stats);
    REQUIRE(docs.size() == 2);
    CHECK(docs[1].origin == dir / "plain.txt" + ":3");
  }
  SECTION("still an error: missing paths, empty files, wrong text column") {
    CHECK(input_error([&] { read_unlabeled(dir / "nope", options); }) == dir / "nope" + ": no such file or folder");
    write_file(dir.path / "empty.txt", "");
    CHECK_THROWS_AS(read_unlabeled(dir / "empty.txt", options), InputError);
    write_file(dir.path / "cols.csv", "a,b\n1,2\n");
    CHECK_THROWS_WITH(read_unlabeled(dir / "cols.csv", options), Catch::Contains("cannot tell the text column"));
  }
}

TEST_CASE("many small files and a large CSV read completely") {
  TempDir dir{"han_test_corpus_"};
  const fs::path root = dir.path / "many";
  for (int label = 0; label < 2; ++label) {
    for (int i = 0; i < 1000; ++i) {
      write_file(root / std::to_string(label) / (std::to_string(i) + ".txt"),
                 "a short review number " + std::to_string(i));
    }
  }
  std::string big = "label,text\n";
  while (big.size() < 2'000'000) big += "1,\"some text, with a comma and \"\"quotes\"\"\"\n";
  const std::string big_path = dir / "big.csv";
  write_file(big_path, big);

  // Times belong in benchmarks; this checks that nothing is lost at scale.
  const Corpus folder = read_corpus(root.string());
  const Corpus table = read_corpus(big_path);
  CHECK(folder.documents.size() == 2000);
  CHECK(table.documents.size() > 40'000);
  CHECK(table.documents.back().text == "some text, with a comma and \"quotes\"");
}

TEST_CASE("ChnSentiCorp CSV reads as 7,766 reviews") {
  HAN_SHARED_CORPUS(path, "ChnSentiCorp_htl_all.csv");
  const Corpus corpus = read_corpus(path);
  CHECK(corpus.format == CorpusFormat::Csv);
  CHECK(corpus.documents.size() == 7766);
  std::map<std::string, int> counts;
  for (const auto& doc : corpus.documents) ++counts[doc.label];
  CHECK(counts.size() == 2);
  CHECK(counts["1"] == 5322);
  CHECK(counts["0"] == 7766 - 5322);
  CHECK(corpus.stats.documents == 7766);
  CHECK(corpus.stats.invalid_utf8 == 0);
}

TEST_CASE("JSON Lines with an overflowing number is an input error naming the line (found by fuzz_corpus)") {
  std::istringstream in("{\"text\": \"ok\", \"label\": \"a\"}\n66666666666600000000000000000000E000604565546\n");
  try {
    read_json_lines(in, "big.jsonl", {});
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("big.jsonl:2: not a JSON object (number overflow"));
  }
}

namespace {

std::vector<Record> read_records(const std::string& path, CorpusOptions options) {
  RecordReader reader(path, options);
  std::vector<Record> records;
  Record record;
  while (reader.next(record)) records.push_back(record);
  return records;
}

}  // namespace

TEST_CASE("RecordReader streams the documents read_corpus reads, across chunk boundaries") {
  TempDir dir{"han_test_corpus_"};
  // Over 2 MB of rows, with quoted line breaks, quotes and delimiters, so that
  // chunks of about 1 MB end inside several of them.
  std::string rows = "id,label,text\n";
  std::mt19937 rng(7);
  for (int i = 0; i < 30000; ++i) {
    const std::string text =
        std::string(static_cast<size_t>(rng() % 150), 'w') + (i % 7 == 0 ? "\n\"\"q\"\", next\n" : "");
    rows += std::to_string(i) + "," + (i % 2 ? "a" : "b") + ",\"" + text + "\"\n";
  }
  REQUIRE(rows.size() > (2u << 20));
  for (const bool gzipped : {false, true}) {
    const std::string path = dir / (gzipped ? "big.csv.gz" : "big.csv");
    if (gzipped) {
      write_gzip(path, rows);
    } else {
      write_file(path, rows);
    }
    CorpusOptions options;
    options.format = CorpusFormat::Csv;
    const Corpus whole = read_corpus(path, options);
    const std::vector<Record> streamed = read_records(path, options);
    REQUIRE(streamed.size() == whole.documents.size());
    for (size_t i = 0; i < streamed.size(); ++i) {
      REQUIRE(streamed[i].document.text == whole.documents[i].text);
      REQUIRE(streamed[i].document.label == whole.documents[i].label);
      REQUIRE(streamed[i].document.origin == whole.documents[i].origin);
      REQUIRE(streamed[i].fields.size() == 3);
      REQUIRE(streamed[i].fields[0] == std::to_string(i));
    }
  }
}

TEST_CASE("RecordReader keeps JSON Lines records and reads fastText and TSV") {
  TempDir dir{"han_test_corpus_"};
  write_file(dir / "r.jsonl",
             "\xEF\xBB\xBF{\"b\": 1.50, \"text\": \"one\"}\n\n{\"text\": \"bad \xFF\", \"label\": 3}\n");
  CorpusOptions options;
  options.format = CorpusFormat::JsonLines;
  options.labels_optional = true;
  const auto records = read_records(dir / "r.jsonl", options);
  REQUIRE(records.size() == 2);
  CHECK(records[0].line == "{\"b\": 1.50, \"text\": \"one\"}");
  CHECK(records[0].object.at("b") == 1.5);
  CHECK(records[1].document.text == "bad \xEF\xBF\xBD");
  CHECK(records[1].document.label == "3");
  CHECK(records[1].document.origin == dir / "r.jsonl" + ":3");

  write_file(dir / "r.txt", "__label__x one two\n__label__y three\n");
  options.format = CorpusFormat::FastText;
  options.labels_optional = false;
  CHECK(read_records(dir / "r.txt", options)[1].document.label == "y");

  write_file(dir / "empty.jsonl", "\n\n");
  options.format = CorpusFormat::JsonLines;
  CHECK_THAT(input_error([&] { read_records(dir / "empty.jsonl", options); }), Catch::Contains("no documents found"));
  CHECK_THROWS_AS(RecordReader(dir.path.string(), options), InputError);  // a folder
}

TEST_CASE("CSV without a header numbers its columns; TSV reads stray quotes as text") {
  CorpusOptions options;
  options.no_header = true;
  SECTION("label first, the other columns joined as the text") {
    const Corpus corpus = csv("sport,Title one,A body.\nnews,Title two,\n", options);
    REQUIRE(corpus.documents.size() == 2);
    CHECK(corpus.documents[0].label == "sport");
    CHECK(corpus.documents[0].text == "Title one\nA body.");
    CHECK(corpus.documents[1].text == "Title two");
    CHECK(corpus.documents[0].origin == "t.csv:1");
  }
  SECTION("columns named by number") {
    options.label_field = "3";
    options.text_field = "1";
    const Corpus corpus = csv("a text,x,lbl\n", options);
    CHECK(corpus.documents[0].label == "lbl");
    CHECK(corpus.documents[0].text == "a text");
    options.text_field = "text";
    CHECK_THAT(input_error([&] { csv("a,b,c\n", options); }), Catch::Contains("by number (expected 1 to 3)"));
  }
  SECTION("another delimiter") {
    TempDir dir{"han_test_corpus_"};
    write_file(dir / "semi.txt", "label;text\nx;\"a; b\"\n");
    options.no_header = false;
    options.delimiter = ';';
    const Corpus corpus = read_corpus(dir / "semi.txt", options);  // --delimiter says CSV whatever the name
    CHECK(corpus.format == CorpusFormat::Csv);
    CHECK(corpus.documents[0].text == "a; b");
  }
  SECTION("TSV") {
    std::istringstream in("ham\t\"Keep in touch\" gdeve..\nspam\t\"quoted\ttab\"\nham\t\"never closed\n");
    options.no_header = true;
    const Corpus corpus = read_csv(in, "t.tsv", '\t', options);
    REQUIRE(corpus.documents.size() == 3);
    CHECK(corpus.documents[0].text == "\"Keep in touch\" gdeve..");
    CHECK(corpus.documents[1].text == "quoted\ttab");
    CHECK(corpus.documents[2].text == "\"never closed");
  }
}
