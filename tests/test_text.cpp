#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <unicode/unistr.h>

#include "han/text/text.h"

using han::clean_text;
using han::Span;
using han::TextOptions;
using han::Tokenizer;

namespace {

// Code points [span.begin, span.end) of a UTF-8 string.
std::string slice(const std::string& utf8, Span span) {
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(utf8);
  const int32_t b = u.moveIndex32(0, static_cast<int32_t>(span.begin));
  const int32_t e = u.moveIndex32(0, static_cast<int32_t>(span.end));
  std::string out;
  u.tempSubStringBetween(b, e).toUTF8String(out);
  return out;
}

std::vector<std::string> forms(const han::Sentence& s) {
  std::vector<std::string> out;
  for (const auto& t : s.words) out.push_back(t.form);
  return out;
}

std::vector<std::string> texts(const han::Sentence& s) {
  std::vector<std::string> out;
  for (const auto& t : s.words) out.push_back(t.text);
  return out;
}

// Every token of a document, in order: the forms, or the surface texts run together.
std::vector<std::string> all_forms(const han::TokenizedDocument& d) {
  std::vector<std::string> out;
  for (const auto& s : d.sentences)
    for (const auto& t : s.words) out.push_back(t.form);
  return out;
}

std::string all_text(const han::TokenizedDocument& d) {
  std::string out;
  for (const auto& s : d.sentences)
    for (const auto& t : s.words) out += t.text;
  return out;
}

TextOptions unlimited() {
  TextOptions o;
  o.max_sentences = 0;
  o.max_words = 0;
  return o;
}

}  // namespace

TEST_CASE("clean_text decodes entities", "[text][clean]") {
  auto c = clean_text("Tom &amp; Jerry &lt;3 &quot;hi&quot; it&#39;s it&#x27;s caf&eacute;&nbsp;ok&hellip;");
  CHECK(c.text == "Tom & Jerry <3 \"hi\" it's it's caf\u00e9 ok\u2026");

  SECTION("unknown or malformed entities stay as text") {
    CHECK(clean_text("&bogus; &amp &#; &#xZZ; & x").text == "&bogus; &amp &#; &#xZZ; & x");
  }
  SECTION("numeric edge cases") {
    CHECK(clean_text("&#0;").text == "\ufffd");
    CHECK(clean_text("&#x110000;").text == "\ufffd");
    CHECK(clean_text("&#146;").text == "\u2019");  // windows-1252 reading
    CHECK(clean_text("&#x1F600;").text == "\U0001F600");
    CHECK(clean_text("&mdash;&ndash;&rsquo;&lsquo;&ldquo;&rdquo;&copy;").text ==
          "\u2014\u2013\u2019\u2018\u201c\u201d\u00a9");
  }
  SECTION("decoded once only") { CHECK(clean_text("&amp;lt;").text == "&lt;"); }
  SECTION("an entity maps to its whole original text") {
    auto d = clean_text("a&amp;b");
    REQUIRE(d.text == "a&b");
    CHECK(d.origin == std::vector<int64_t>{0, 1, 6, 7});
  }
}

TEST_CASE("clean_text removes tags", "[text][clean]") {
  CHECK(clean_text("one<br>two<BR/>three<br  />four").text == "one\ntwo\nthree\nfour");
  CHECK(clean_text("<p>Para</p><div>Block</div>").text == "\nPara\n\nBlock\n");
  CHECK(clean_text("an <i>italic</i> and <a href=\"x.html\">link</a> <span class=a>s</span>").text ==
        "an italic and link s");
  CHECK(clean_text("x<!-- a <b> comment -->y<!DOCTYPE html>z").text == "xyz");

  SECTION("< that does not open a tag is text") {
    CHECK(clean_text("a < b and c > d").text == "a < b and c > d");
    CHECK(clean_text("I <3 it </3").text == "I <3 it </3");
    CHECK(clean_text("ends with <b").text == "ends with <b");
    CHECK(clean_text("ends with <").text == "ends with <");
    CHECK(clean_text("<!-- never closed").text == "<!-- never closed");
  }
  SECTION("script and style content is dropped") {
    CHECK(clean_text("before<script>alert(1)</script>after").text == "beforeafter");
    CHECK(clean_text("a<STYLE type=\"text/css\">p { color: red }</Style>b").text == "ab");
    CHECK(clean_text("a<script src=\"x.js\"></script>b").text == "ab");
    CHECK(clean_text("a<script>b").text == "ab");  // never closed: only the tag goes
    CHECK(clean_text("a<script/>b</script>c").text == "abc");
  }
  SECTION("an inserted newline maps to the tag start") {
    auto c = clean_text("ab<br/>cd");
    REQUIRE(c.text == "ab\ncd");
    CHECK(c.origin == std::vector<int64_t>{0, 1, 2, 7, 8, 9});
  }
}

TEST_CASE("clean_text applies NFC with exact origins", "[text][clean]") {
  auto c = clean_text(
      "caf"
      "e\u0301"
      " ok");
  CHECK(c.text == "caf\u00e9 ok");
  CHECK(c.origin == std::vector<int64_t>{0, 1, 2, 3, 5, 6, 7, 8});

  SECTION("already normalised text keeps a one-to-one map") {
    auto d = clean_text("\u00e9t\u00e9");
    CHECK(d.text == "\u00e9t\u00e9");
    CHECK(d.origin == std::vector<int64_t>{0, 1, 2, 3});
  }
  SECTION("composition across a decoded entity") { CHECK(clean_text("e&#769;").text == "\u00e9"); }
  SECTION("Hangul jamo compose") { CHECK(clean_text("\u1100\u1161\u11a8").text == "\uac01"); }
}

TEST_CASE("clean_text control characters", "[text][clean]") {
  auto c = clean_text(std::string("a\x01"
                                  "b\tc\r\nd\re\x7f"
                                  "f\xc2\x85g") +
                      std::string(1, '\0') + "h");
  CHECK(c.text == "ab c\nd\nef\ngh");
  CHECK(c.origin.size() == 13);
  CHECK(c.origin.back() == 16);
  CHECK(c.origin[1] == 2);                           // 'b' after the dropped U+0001
  CHECK(clean_text("\xef\xbb\xbfhi").text == "hi");  // byte-order mark
  CHECK(clean_text("x\xef\xbf\xbdy").text == "x\ufffdy");
}

TEST_CASE("clean_text origin invariants", "[text][clean]") {
  const std::string input = "<p>Caf&eacute; \u00fcber e\u0301 &#x1F600; <b>ok</b>\r\n</p>";
  auto c = clean_text(input);
  REQUIRE(c.origin.size() == static_cast<size_t>(han::count_code_points(c.text)) + 1);
  CHECK(c.origin.back() == han::count_code_points(input));
  for (size_t i = 1; i < c.origin.size(); ++i) CHECK(c.origin[i - 1] <= c.origin[i]);
  CHECK(clean_text("").text.empty());
  CHECK(clean_text("").origin == std::vector<int64_t>{0});
}

TEST_CASE("English sentences and words", "[text][tokenize]") {
  Tokenizer tok(unlimited());
  auto doc = tok.tokenize("It was great. I loved it! Would I go again? Yes.");
  REQUIRE(doc.sentences.size() == 4);
  CHECK(forms(doc.sentences[0]) == std::vector<std::string>{"it", "was", "great", "."});
  CHECK(forms(doc.sentences[1]) == std::vector<std::string>{"i", "loved", "it", "!"});
  CHECK(forms(doc.sentences[2]) == std::vector<std::string>{"would", "i", "go", "again", "?"});
  CHECK(forms(doc.sentences[3]) == std::vector<std::string>{"yes", "."});
  CHECK(doc.sentences[0].text == "It was great.");
  CHECK(doc.sentences[2].text == "Would I go again?");
  CHECK(doc.sentences[2].span == Span{26, 43});
  CHECK(doc.length == 48);
  CHECK(doc.sentences_cut == 0);
  CHECK(doc.words_cut == 0);

  SECTION("punctuation and numbers are tokens") {
    auto d = tok.tokenize("Well, it cost 3.50 dollars - twice!");
    REQUIRE(d.sentences.size() == 1);
    CHECK(forms(d.sentences[0]) ==
          std::vector<std::string>{"well", ",", "it", "cost", "3.50", "dollars", "-", "twice", "!"});
  }
}

TEST_CASE("lower-casing on and off", "[text][tokenize]") {
  TextOptions on = unlimited();
  TextOptions off = unlimited();
  off.lowercase = false;
  Tokenizer lower(on), keep(off);
  const std::string text = "The \u00c9COLE and STRASSE \u0130stanbul";
  auto a = lower.tokenize(text);
  auto b = keep.tokenize(text);
  REQUIRE(a.sentences.size() == 1);
  REQUIRE(b.sentences.size() == 1);
  CHECK(texts(a.sentences[0]) == std::vector<std::string>{"The", "\u00c9COLE", "and", "STRASSE", "\u0130stanbul"});
  CHECK(forms(a.sentences[0]) == std::vector<std::string>{"the", "\u00e9cole", "and", "strasse", "i\u0307stanbul"});
  CHECK(forms(b.sentences[0]) == texts(b.sentences[0]));
  CHECK(texts(b.sentences[0]) == texts(a.sentences[0]));
}

TEST_CASE("HTML breaks split sentences and spans point into the original", "[text][tokenize]") {
  Tokenizer tok(unlimited());
  const std::string input =
      "<p>The <b>soup</b> was cold and the <i>bread</i> stale<br /><br />"
      "Service was slow &amp; rude.</p><div>Would not return</div>";
  auto doc = tok.tokenize(input);
  REQUIRE(doc.sentences.size() == 3);
  CHECK(doc.sentences[0].text == "The soup was cold and the bread stale");
  CHECK(doc.sentences[1].text == "Service was slow & rude.");
  CHECK(doc.sentences[2].text == "Would not return");
  CHECK(doc.length == han::count_code_points(input));
  int checked = 0;
  for (const auto& s : doc.sentences) {
    for (const auto& t : s.words) {
      if (t.text == "&") {
        CHECK(slice(input, t.span) == "&amp;");
        continue;
      }
      CHECK(slice(input, t.span) == t.text);
      ++checked;
    }
  }
  CHECK(checked == 16);
  CHECK(slice(input, doc.sentences[0].span) == "The <b>soup</b> was cold and the <i>bread</i> stale");
  CHECK(slice(input, doc.sentences[1].span) == "Service was slow &amp; rude.");
}

TEST_CASE("join_lines keeps hard-wrapped sentences whole; blank lines still end them", "[text][tokenize]") {
  const std::string input = "The soup was cold and\nthe bread stale. Service\r\nwas slow.\n \nWould not\n  return";
  TextOptions joined_options = unlimited();
  joined_options.join_lines = true;
  Tokenizer by_line(unlimited()), joined(joined_options);

  auto lines = by_line.tokenize(input);
  REQUIRE(lines.sentences.size() == 6);  // ICU ends a sentence at every line break
  CHECK(lines.sentences[0].text == "The soup was cold and");

  auto doc = joined.tokenize(input);
  REQUIRE(doc.sentences.size() == 3);
  CHECK(doc.sentences[0].text == "The soup was cold and the bread stale.");
  CHECK(doc.sentences[1].text == "Service was slow.");  // CRLF is one break
  CHECK(doc.sentences[2].text == "Would not   return");
  CHECK(forms(doc.sentences[2]) == std::vector<std::string>{"would", "not", "return"});
  // Offsets still point into the original, line breaks and all.
  CHECK(slice(input, doc.sentences[0].span) == "The soup was cold and\nthe bread stale.");
  CHECK(slice(input, doc.sentences[1].span) == "Service\r\nwas slow.");
  for (const auto& s : doc.sentences)
    for (const auto& t : s.words) CHECK(slice(input, t.span) == t.text);
  CHECK(doc.length == lines.length);

  SECTION("the same words, only grouped differently") {
    const auto a = all_forms(lines), b = all_forms(doc);
    CHECK(a.size() == 16);
    CHECK(a == b);
  }
  SECTION("a lone <br> joins; between two blocks there are two breaks") {
    auto html = joined.tokenize("<p>one line<br>goes on</p><p>A new paragraph</p>");
    REQUIRE(html.sentences.size() == 2);
    CHECK(html.sentences[0].text == "one line goes on");
    CHECK(html.sentences[1].text == "A new paragraph");
  }
  SECTION("a token at a moved sentence end can be cut differently, never lose characters") {
    // ICU splits words within a sentence. Line by line, "A film." ends at the
    // period; joined, the sentence runs on, and ICU reads "film.@" as one word.
    const std::string moved = "A film.@\nthe end";
    const auto a = by_line.tokenize(moved), b = joined.tokenize(moved);
    CHECK(all_forms(a) == std::vector<std::string>{"a", "film", ".", "@", "the", "end"});
    CHECK(all_forms(b) == std::vector<std::string>{"a", "film.@", "the", "end"});
    CHECK(all_text(a) == all_text(b));
  }
  SECTION("a line that starts with a combining mark keeps its break, and so its tokens") {
    // Unjoined, the mark (U+0306) is a token of its own; a space in place of
    // the break would take it into a token " \u0306" instead.
    const std::string marked = "one\n\u0306two";
    const auto a = all_forms(by_line.tokenize(marked)), b = all_forms(joined.tokenize(marked));
    CHECK(a == b);
    CHECK(a.size() == 3);
  }
  SECTION("breaks at the very start and end are harmless") {
    auto edge = joined.tokenize("\nfirst line\nsecond line\n");
    REQUIRE(edge.sentences.size() == 1);
    CHECK(edge.sentences[0].text == "first line second line");
    CHECK(joined.tokenize("\n").sentences.empty());
  }
}

TEST_CASE("spans after NFC, entities and astral characters", "[text][tokenize]") {
  Tokenizer tok(unlimited());
  const std::string input = "\U0001F600 cafe\u0301 &eacute;t&eacute; na\u00efve";
  auto doc = tok.tokenize(input);
  REQUIRE(doc.sentences.size() == 1);
  const auto& w = doc.sentences[0].words;
  REQUIRE(w.size() == 4);
  CHECK(w[0].text == "\U0001F600");
  CHECK(w[0].span == Span{0, 1});
  CHECK(w[1].text == "caf\u00e9");
  CHECK(w[1].span == Span{2, 7});
  CHECK(slice(input, w[1].span) == "cafe\u0301");
  CHECK(w[2].text == "\u00e9t\u00e9");
  CHECK(slice(input, w[2].span) == "&eacute;t&eacute;");
  CHECK(slice(input, w[3].span) == "na\u00efve");
}

TEST_CASE("span ends skip markup, also where NFC changed the text", "[text][tokenize]") {
  Tokenizer tok(unlimited());
  const std::string input = "<b>cafe\u0301</b> ok<i>ay</i>\t<u>x</u>";
  auto doc = tok.tokenize(input);
  REQUIRE(doc.sentences.size() == 1);
  const auto& w = doc.sentences[0].words;
  REQUIRE(w.size() == 3);
  CHECK(w[0].text == "caf\u00e9");
  CHECK(w[0].span == Span{3, 8});
  CHECK(w[1].text == "okay");
  CHECK(slice(input, w[1].span) == "ok<i>ay");
  CHECK(slice(input, w[2].span) == "x");
  CHECK(slice(input, doc.sentences[0].span) == "cafe\u0301</b> ok<i>ay</i>\t<u>x");
}

TEST_CASE("a word break inside an NFC-changed stretch keeps every span non-empty", "[text][tokenize]") {
  // Found by fuzz_text: U+F9E7 normalises to U+88CF, and U+11C0 (a Hangul
  // final consonant) has no NFC boundary before it, so both form one
  // stretch; the word breaker then splits it into two words.
  Tokenizer tok(unlimited());
  const std::string input = "x \uF9E7\u11C0 y";
  auto doc = tok.tokenize(input);
  REQUIRE(doc.sentences.size() == 1);
  const auto& w = doc.sentences[0].words;
  REQUIRE(w.size() == 4);
  CHECK(w[1].text == "\u88CF");
  CHECK(w[2].text == "\u11C0");
  for (const auto& word : w) CHECK(word.span.begin < word.span.end);
  // Both words cover the stretch they came from, nothing more.
  CHECK(w[1].span == Span{2, 4});
  CHECK(w[2].span == Span{2, 4});
  CHECK(w[3].span == Span{5, 6});
}

TEST_CASE("Chinese segmentation and sentences", "[text][tokenize]") {
  Tokenizer tok(unlimited());
  auto doc = tok.tokenize("这家酒店的服务很好，房间也很干净。");
  REQUIRE(doc.sentences.size() == 1);
  const auto words = texts(doc.sentences[0]);
  CHECK(words.size() >= 6);
  int multi = 0;
  std::string joined;
  for (const auto& w : words) {
    multi += han::count_code_points(w) > 1;
    joined += w;
  }
  CHECK(multi >= 3);
  CHECK(joined == "这家酒店的服务很好，房间也很干净。");
  CHECK(std::find(words.begin(), words.end(), "酒店") != words.end());
  CHECK(std::find(words.begin(), words.end(), "，") != words.end());

  auto two = tok.tokenize("房间很干净。服务很好！");
  REQUIRE(two.sentences.size() == 2);
  CHECK(two.sentences[0].text == "房间很干净。");
  CHECK(two.sentences[1].text == "服务很好！");
  CHECK(two.sentences[1].span == Span{6, 11});
}

TEST_CASE("caps on sentences and words", "[text][tokenize]") {
  TextOptions o;
  o.max_sentences = 2;
  o.max_words = 3;
  Tokenizer tok(o);
  auto doc = tok.tokenize("One two three four five. Six seven. Eight nine ten eleven. Twelve.");
  REQUIRE(doc.sentences.size() == 2);
  CHECK(forms(doc.sentences[0]) == std::vector<std::string>{"one", "two", "three"});
  CHECK(forms(doc.sentences[1]) == std::vector<std::string>{"six", "seven", "."});
  CHECK(doc.words_cut == 3);  // "four", "five", "."
  CHECK(doc.sentences_cut == 2);
  CHECK(doc.sentences[0].text == "One two three");
  CHECK(doc.sentences[0].span == Span{0, 13});

  SECTION("sentences without words are not counted") {
    TextOptions one;
    one.max_sentences = 1;
    Tokenizer t1(one);
    auto d = t1.tokenize("First.<br><br>  <br>\n\n\t<p> </p>Second.<br> <br>");
    REQUIRE(d.sentences.size() == 1);
    CHECK(d.sentences_cut == 1);
  }
  SECTION("zero means unlimited") {
    Tokenizer t0(unlimited());
    auto d = t0.tokenize("One two three four five. Six seven. Eight nine ten eleven. Twelve.");
    CHECK(d.sentences.size() == 4);
    CHECK(d.words_cut == 0);
    CHECK(d.sentences_cut == 0);
  }
}

TEST_CASE("empty and whitespace-only input", "[text][tokenize]") {
  Tokenizer tok;
  for (const char* text : {"", " ", "\n\n\t  \r\n", "<br/><p></p>", "&nbsp;&nbsp;"}) {
    auto doc = tok.tokenize(text);
    CHECK(doc.sentences.empty());
    CHECK(doc.sentences_cut == 0);
    CHECK(doc.words_cut == 0);
  }
  CHECK(tok.tokenize("&nbsp;").length == 6);
}

TEST_CASE("replacement characters do not upset the tokenizer", "[text][tokenize]") {
  Tokenizer tok(unlimited());
  const std::string input = han::repair_utf8("bad \xff\xfe bytes \xc3 here.");
  auto doc = tok.tokenize(input);
  REQUIRE(doc.sentences.size() == 1);
  CHECK(doc.length == han::count_code_points(input));
  for (const auto& t : doc.sentences[0].words) CHECK(slice(input, t.span) == t.text);
}

TEST_CASE("a tokenizer is reusable and movable", "[text][tokenize]") {
  Tokenizer a(unlimited());
  auto first = a.tokenize("Alpha beta. Gamma.");
  Tokenizer b = std::move(a);
  auto again = b.tokenize("Alpha beta. Gamma.");
  REQUIRE(again.sentences.size() == first.sentences.size());
  CHECK(forms(again.sentences[0]) == forms(first.sentences[0]));
  CHECK(b.tokenize("Delta!").sentences.size() == 1);
}

TEST_CASE("large documents stay bounded", "[text][tokenize][slow]") {
  SECTION("100,000 sentences") {
    std::string text;
    for (int i = 0; i < 100000; ++i) text += "This is sentence number " + std::to_string(i) + ". ";
    TextOptions o;  // default caps: past max_bytes nothing is read
    auto doc = Tokenizer(o).tokenize(text);
    CHECK(doc.sentences.size() == static_cast<size_t>(o.max_sentences));
    CHECK(doc.bytes_cut == static_cast<int64_t>(text.size()) - o.max_bytes);
    CHECK(doc.sentences_cut > 0);
    CHECK(doc.sentences_cut < 100000 - o.max_sentences);
    CHECK(doc.sentences.back().words.back().text == ".");
    o.max_bytes = 0;  // everything read: every sentence past the cap is counted
    doc = Tokenizer(o).tokenize(text);
    CHECK(doc.bytes_cut == 0);
    CHECK(doc.sentences_cut == 100000 - o.max_sentences);
  }
  SECTION("one endless word") {
    std::string text(5'000'000, 'a');
    TextOptions o;
    o.max_words = 10;
    Tokenizer tok(o);
    auto doc = tok.tokenize(text);
    REQUIRE(doc.sentences.size() == 1);
    const auto& w = doc.sentences[0].words;
    REQUIRE(w.size() == 10);
    // Word iteration runs in windows, so the run is cut into pieces.
    int64_t covered = 0;
    for (const auto& t : w) covered += t.span.end - t.span.begin;
    CHECK(covered < 1'000'000);
    CHECK(doc.words_cut > 0);
  }
  SECTION("many unterminated tags") {
    std::string open, script, expected;
    for (int i = 0; i < 100000; ++i) {
      open += "<a <!-- &amp ";
      script += "<script> x ";
      expected += " x ";
    }
    // Linear in the input: a quadratic scan would not finish within CTest's timeout.
    CHECK(clean_text(open).text == open);
    CHECK(clean_text(script).text == expected);
  }
  SECTION("a long sentence of many words counts what it cuts") {
    std::string text;
    for (int i = 0; i < 50000; ++i) text += "word ";
    TextOptions o;
    o.max_words = 100;
    Tokenizer tok(o);
    auto doc = tok.tokenize(text);
    REQUIRE(doc.sentences.size() == 1);
    CHECK(doc.sentences[0].words.size() == 100);
    CHECK(doc.words_cut == 49900);
  }
}

TEST_CASE("max_bytes reads only the start of a huge document, cut between characters") {
  han::TextOptions options;
  options.max_bytes = 10;
  han::Tokenizer tokenizer(options);
  // "aé bé cé dé": each é is 2 bytes, so byte 10 falls inside the third é; 9 bytes are read.
  const std::string text = "a\xC3\xA9 b\xC3\xA9 c\xC3\xA9 d\xC3\xA9";
  const auto doc = tokenizer.tokenize(text);
  REQUIRE(doc.bytes_cut == static_cast<int64_t>(text.size()) - 9);
  REQUIRE(doc.length == 11);  // code points of the whole text
  std::vector<std::string> words;
  for (const auto& sentence : doc.sentences)
    for (const auto& token : sentence.words) words.push_back(token.text);
  REQUIRE(words == std::vector<std::string>{"a\xC3\xA9", "b\xC3\xA9", "c"});

  options.max_bytes = 0;  // no cap
  const auto whole = han::Tokenizer(options).tokenize(text);
  REQUIRE(whole.bytes_cut == 0);
  REQUIRE(whole.sentences.front().words.size() == 4);
}

TEST_CASE("tokenize_forms gives tokenize's forms, sentence lengths and cut counts") {
  const std::vector<std::string> texts = {
      "The plot was THIN. But the acting &amp; music were <b>wonderful</b>!<br /><br />Ten out of ten.",
      "Ünïcödé Wörds and ÉCOLE in a sentence. Straße! İstanbul?",
      "这家酒店的服务很好。房间干净，早餐也不错！",
      "emoji 😀 and tabs\tand\nnewlines. A second  sentence   here.",
      "",
      "   \n\t  ",
      "one.two.three... four? five! six",
      std::string(3000, 'a') + " " + std::string(20, 'b') + ". end",
  };
  for (bool lowercase : {true, false}) {
    for (int cap : {0, 2}) {
      TextOptions options;
      options.lowercase = lowercase;
      if (cap) {
        options.max_sentences = cap;
        options.max_words = cap + 1;
        options.max_bytes = 64;
      }
      Tokenizer full(options), forms(options);
      for (const auto& text : texts) {
        INFO("lowercase " << lowercase << ", cap " << cap << ", text " << text.substr(0, 40));
        const auto t = full.tokenize(text);
        std::vector<std::string> expected, actual;
        std::vector<int32_t> expected_lengths, actual_lengths;
        for (const auto& s : t.sentences) {
          for (const auto& w : s.words) expected.push_back(w.form);
          expected_lengths.push_back(static_cast<int32_t>(s.words.size()));
        }
        const auto cuts = forms.tokenize_forms(
            text, [&](std::string_view form) { actual.emplace_back(form); },
            [&](int32_t words) { actual_lengths.push_back(words); });
        CHECK(actual == expected);
        CHECK(actual_lengths == expected_lengths);
        CHECK(cuts.sentences == t.sentences_cut);
        CHECK(cuts.words == t.words_cut);
        CHECK(cuts.bytes == t.bytes_cut);
      }
    }
  }
}
