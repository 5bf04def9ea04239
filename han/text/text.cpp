#include "han/text/text.h"

#include <unicode/brkiter.h>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/ustring.h>
#include <unicode/utext.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <exception>
#include <functional>
#include <utility>

#include <fmt/format.h>

#include "han/base/error.h"
#include "han/base/parallel.h"

namespace han {
namespace {

// ---------------------------------------------------------------------------
// Clean-up
// ---------------------------------------------------------------------------

// Where the cleaned text skips original content (a removed tag, a dropped
// control character), the end of the cleaned character before `at` is not
// origin[at]; the gap keeps that end so that token spans stay tight.
struct Gap {
  int32_t at;
  int32_t end;
};

struct Cleaned {
  icu::UnicodeString text;      // UTF-16, so that break iterators run on it directly
  std::vector<int32_t> origin;  // per UTF-16 unit, plus the original end
  std::vector<Gap> gaps;        // sorted by `at`
  int64_t length = 0;           // code points of the original

  // Original end of a cleaned range that ends at UTF-16 index `at`.
  int32_t end_at(int32_t at) const {
    auto it = std::lower_bound(gaps.begin(), gaps.end(), at, [](const Gap& g, int32_t v) { return g.at < v; });
    if (it != gaps.end() && it->at == at) return it->end;
    return origin[static_cast<size_t>(at)];
  }
};

struct Sink {
  char16_t* out;
  int32_t* org;
  std::vector<Gap>* gaps;
  int32_t n = 0;
  int32_t last_end = 0;

  void put(UChar32 c, int32_t o, int32_t oe) {
    if (n > 0 && o != last_end) gaps->push_back({n, last_end});
    if (c <= 0xFFFF) {
      out[n] = static_cast<char16_t>(c);
      org[n++] = o;
    } else {
      out[n] = U16_LEAD(c);
      org[n++] = o;
      out[n] = U16_TRAIL(c);
      org[n++] = o;
    }
    last_end = oe;
  }

  // Printable ASCII other than markup, copied one to one.
  void put_ascii_run(const char* p, size_t count, int32_t o) {
    if (n > 0 && o != last_end) gaps->push_back({n, last_end});
    for (size_t k = 0; k < count; ++k) {
      out[n] = static_cast<char16_t>(p[k]);
      org[n++] = o++;
    }
    last_end = o;
  }

  // Control characters: tab becomes a space, line breaks a newline, the rest go.
  void put_filtered(UChar32 c, int32_t o, int32_t oe) {
    if (c < 0x20 || (c >= 0x7F && c <= 0x9F)) {
      switch (c) {
        case '\t':
          put(' ', o, oe);
          return;
        case '\n':
        case '\r':
        case '\v':
        case '\f':
        case 0x85:
          put('\n', o, oe);
          return;
        default:
          return;
      }
    }
    if (c == 0xFEFF) return;  // byte-order mark; would otherwise become a token
    put(c, o, oe);
  }
};

struct NamedEntity {
  std::string_view name;
  UChar32 cp;
};

const std::vector<NamedEntity>& named_entities() {
  static const std::vector<NamedEntity> table = [] {
    std::vector<NamedEntity> t = {
        {"AElig", 0xC6},    {"AMP", '&'},       {"Aacute", 0xC1},  {"Acirc", 0xC2},    {"Agrave", 0xC0},
        {"Aring", 0xC5},    {"Atilde", 0xC3},   {"Auml", 0xC4},    {"Ccedil", 0xC7},   {"Dagger", 0x2021},
        {"ETH", 0xD0},      {"Eacute", 0xC9},   {"Ecirc", 0xCA},   {"Egrave", 0xC8},   {"Euml", 0xCB},
        {"GT", '>'},        {"Iacute", 0xCD},   {"Icirc", 0xCE},   {"Igrave", 0xCC},   {"Iuml", 0xCF},
        {"LT", '<'},        {"Ntilde", 0xD1},   {"OElig", 0x152},  {"Oacute", 0xD3},   {"Ocirc", 0xD4},
        {"Ograve", 0xD2},   {"Oslash", 0xD8},   {"Otilde", 0xD5},  {"Ouml", 0xD6},     {"Prime", 0x2033},
        {"QUOT", '"'},      {"Scaron", 0x160},  {"THORN", 0xDE},   {"Uacute", 0xDA},   {"Ucirc", 0xDB},
        {"Ugrave", 0xD9},   {"Uuml", 0xDC},     {"Yacute", 0xDD},  {"Yuml", 0x178},    {"aacute", 0xE1},
        {"acirc", 0xE2},    {"acute", 0xB4},    {"aelig", 0xE6},   {"agrave", 0xE0},   {"amp", '&'},
        {"apos", '\''},     {"aring", 0xE5},    {"atilde", 0xE3},  {"auml", 0xE4},     {"bdquo", 0x201E},
        {"brvbar", 0xA6},   {"bull", 0x2022},   {"ccedil", 0xE7},  {"cedil", 0xB8},    {"cent", 0xA2},
        {"circ", 0x2C6},    {"copy", 0xA9},     {"curren", 0xA4},  {"dagger", 0x2020}, {"darr", 0x2193},
        {"deg", 0xB0},      {"divide", 0xF7},   {"eacute", 0xE9},  {"ecirc", 0xEA},    {"egrave", 0xE8},
        {"emsp", 0x2003},   {"ensp", 0x2002},   {"eth", 0xF0},     {"euml", 0xEB},     {"euro", 0x20AC},
        {"frac12", 0xBD},   {"frac14", 0xBC},   {"frac34", 0xBE},  {"gt", '>'},        {"hearts", 0x2665},
        {"hellip", 0x2026}, {"iacute", 0xED},   {"icirc", 0xEE},   {"iexcl", 0xA1},    {"igrave", 0xEC},
        {"iquest", 0xBF},   {"iuml", 0xEF},     {"laquo", 0xAB},   {"larr", 0x2190},   {"ldquo", 0x201C},
        {"lrm", 0x200E},    {"lsaquo", 0x2039}, {"lsquo", 0x2018}, {"lt", '<'},        {"macr", 0xAF},
        {"mdash", 0x2014},  {"micro", 0xB5},    {"middot", 0xB7},  {"minus", 0x2212},  {"nbsp", ' '},
        {"ndash", 0x2013},  {"not", 0xAC},      {"ntilde", 0xF1},  {"oacute", 0xF3},   {"ocirc", 0xF4},
        {"oelig", 0x153},   {"ograve", 0xF2},   {"ordf", 0xAA},    {"ordm", 0xBA},     {"oslash", 0xF8},
        {"otilde", 0xF5},   {"ouml", 0xF6},     {"para", 0xB6},    {"permil", 0x2030}, {"plusmn", 0xB1},
        {"pound", 0xA3},    {"prime", 0x2032},  {"quot", '"'},     {"raquo", 0xBB},    {"rarr", 0x2192},
        {"rdquo", 0x201D},  {"reg", 0xAE},      {"rlm", 0x200F},   {"rsaquo", 0x203A}, {"rsquo", 0x2019},
        {"sbquo", 0x201A},  {"scaron", 0x161},  {"sect", 0xA7},    {"shy", 0xAD},      {"sup1", 0xB9},
        {"sup2", 0xB2},     {"sup3", 0xB3},     {"szlig", 0xDF},   {"thinsp", 0x2009}, {"thorn", 0xFE},
        {"tilde", 0x2DC},   {"times", 0xD7},    {"trade", 0x2122}, {"uacute", 0xFA},   {"uarr", 0x2191},
        {"ucirc", 0xFB},    {"ugrave", 0xF9},   {"uml", 0xA8},     {"uuml", 0xFC},     {"yacute", 0xFD},
        {"yen", 0xA5},      {"yuml", 0xFF},     {"zwj", 0x200D},   {"zwnj", 0x200C},
    };
    std::sort(t.begin(), t.end(), [](const NamedEntity& a, const NamedEntity& b) { return a.name < b.name; });
    return t;
  }();
  return table;
}

UChar32 lookup_entity(std::string_view name) {
  const auto& t = named_entities();
  auto it =
      std::lower_bound(t.begin(), t.end(), name, [](const NamedEntity& e, std::string_view v) { return e.name < v; });
  return it != t.end() && it->name == name ? it->cp : -1;
}

// HTML5 reads &#128;..&#159; as windows-1252, which is what pages that use them mean.
UChar32 numeric_entity_value(uint32_t v) {
  static const uint16_t cp1252[32] = {0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                      0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,   0x017D, 0x8F,
                                      0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                      0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};
  if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0xFFFD;
  if (v >= 0x80 && v <= 0x9F) return cp1252[v - 0x80];
  return static_cast<UChar32>(v);
}

bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_alnum(unsigned char c) { return is_alpha(c) || (c >= '0' && c <= '9'); }
char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool is_plain_ascii(unsigned char b) { return b >= 0x20 && b < 0x7F && b != '<' && b != '&'; }

int32_t count_cp(const char* s, size_t from, size_t to) {
  int32_t n = 0;
  for (size_t i = from; i < to; ++i) n += (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
  return n;
}

// Case-insensitive search for an ASCII needle.
size_t find_ci(std::string_view hay, size_t from, std::string_view needle) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (size_t i = from; i + needle.size() <= hay.size(); ++i) {
    size_t k = 0;
    while (k < needle.size() && lower_ascii(hay[i + k]) == needle[k]) ++k;
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

enum class TagKind { kRemove, kNewline, kSpace, kRawText };

TagKind classify_tag(std::string_view name, bool end_tag) {
  // Block-level elements separate paragraphs; cells separate words.
  static const std::string_view kBlock[] = {
      "address", "article", "aside", "blockquote", "br",  "dd",      "div",   "dl",    "dt",     "figcaption", "figure",
      "footer",  "form",    "h1",    "h2",         "h3",  "h4",      "h5",    "h6",    "header", "hr",         "li",
      "main",    "nav",     "ol",    "p",          "pre", "section", "table", "title", "tr",     "ul"};
  for (auto b : kBlock)
    if (name == b) return TagKind::kNewline;
  if (name == "td" || name == "th") return TagKind::kSpace;
  if (!end_tag && (name == "script" || name == "style")) return TagKind::kRawText;
  return TagKind::kRemove;
}

// Pass 1: tags, entities, control characters. Writes UTF-16 with origins.
void strip_markup(std::string_view in, Cleaned& c) {
  const char* s = in.data();
  const size_t len = in.size();
  c.gaps.clear();
  c.origin.resize(len + 1);
  // Output never has more UTF-16 units than the input has bytes.
  Sink sink{c.text.getBuffer(static_cast<int32_t>(len)), c.origin.data(), &c.gaps};
  int32_t ci = 0;  // code point index in the original
  // Searches move forward only; each remembers its last answer so that many
  // unterminated "<a" or "<!--" cost one scan, not one each.
  struct Finder {
    std::string_view needle;
    bool fold;  // ASCII case-insensitive
    size_t from = std::string_view::npos;
    size_t found = std::string_view::npos;
  };
  Finder gt{">", false}, comment_end{"-->", false}, script_end{"</script", true}, style_end{"</style", true};
  auto find = [&](Finder& f, size_t from) -> size_t {
    if (f.from == std::string_view::npos || from < f.from || (f.found != std::string_view::npos && f.found < from)) {
      f.from = from;
      f.found = f.fold ? find_ci(in, from, f.needle) : in.find(f.needle, from);
    }
    return f.found;
  };
  constexpr size_t npos = std::string_view::npos;

  size_t i = 0;
  while (i < len) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (is_plain_ascii(b)) {
      size_t j = i + 1;
      while (j < len && is_plain_ascii(static_cast<unsigned char>(s[j]))) ++j;
      sink.put_ascii_run(s + i, j - i, ci);
      ci += static_cast<int32_t>(j - i);
      i = j;
      continue;
    }
    if (b >= 0x80) {
      UChar32 cp;
      int32_t j = static_cast<int32_t>(i);
      U8_NEXT(reinterpret_cast<const uint8_t*>(s), j, static_cast<int32_t>(len), cp);
      if (cp < 0) cp = 0xFFFD;
      sink.put_filtered(cp, ci, ci + 1);
      ++ci;
      i = static_cast<size_t>(j);
      continue;
    }
    if (b == '<' && i + 1 < len) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      size_t end = npos;  // one past the tag's last byte; npos: not a tag
      TagKind kind = TagKind::kRemove;
      if (c1 == '!') {
        if (in.compare(i, 4, "<!--") == 0) {
          const size_t close = find(comment_end, i + 4);
          if (close != npos) end = close + 3;
        } else {
          const size_t close = find(gt, i + 2);
          if (close != npos) end = close + 1;
        }
      } else if (is_alpha(c1) || (c1 == '/' && i + 2 < len && is_alpha(s[i + 2]))) {
        const bool end_tag = c1 == '/';
        size_t name_start = i + (end_tag ? 2 : 1);
        const size_t close = find(gt, name_start);
        if (close != npos) {
          end = close + 1;
          char name[12];
          size_t k = 0;
          while (name_start + k < close && k < sizeof(name) && is_alnum(s[name_start + k])) {
            name[k] = lower_ascii(s[name_start + k]);
            ++k;
          }
          kind = k < sizeof(name) ? classify_tag(std::string_view(name, k), end_tag) : TagKind::kRemove;
          if (kind == TagKind::kRawText && s[close - 1] != '/') {
            // Drop the element's content too, when it is closed.
            const size_t raw_end = find(k == 6 ? script_end : style_end, end);
            if (raw_end != npos) {
              const size_t raw_gt = find(gt, raw_end);
              if (raw_gt != npos) end = raw_gt + 1;
            }
          }
        }
      }
      if (end != npos) {
        const int32_t tag_cp = count_cp(s, i, end);
        if (kind == TagKind::kNewline) sink.put('\n', ci, ci + tag_cp);
        if (kind == TagKind::kSpace) sink.put(' ', ci, ci + tag_cp);
        ci += tag_cp;
        i = end;
        continue;
      }
    } else if (b == '&') {
      // Entities are ASCII, so bytes and code points agree.
      size_t j = i + 1;
      UChar32 cp = -1;
      if (j < len && s[j] == '#') {
        ++j;
        const bool hex = j < len && (s[j] == 'x' || s[j] == 'X');
        if (hex) ++j;
        const size_t digits_start = j;
        uint32_t v = 0;
        while (j < len && j - digits_start < 10) {
          const char d = s[j];
          int dv;
          if (d >= '0' && d <= '9')
            dv = d - '0';
          else if (hex && d >= 'a' && d <= 'f')
            dv = d - 'a' + 10;
          else if (hex && d >= 'A' && d <= 'F')
            dv = d - 'A' + 10;
          else
            break;
          v = std::min<uint32_t>(v * (hex ? 16 : 10) + static_cast<uint32_t>(dv), 0x110000);
          ++j;
        }
        if (j > digits_start && j < len && s[j] == ';') cp = numeric_entity_value(v);
      } else {
        while (j < len && j - i <= 32 && is_alnum(s[j])) ++j;
        if (j > i + 1 && j < len && s[j] == ';') cp = lookup_entity(std::string_view(s + i + 1, j - i - 1));
      }
      if (cp >= 0) {
        const int32_t n = static_cast<int32_t>(j + 1 - i);
        sink.put_filtered(cp, ci, ci + n);
        ci += n;
        i = j + 1;
        continue;
      }
    } else if (b == '\r') {
      const bool crlf = i + 1 < len && s[i + 1] == '\n';
      sink.put('\n', ci, ci + (crlf ? 2 : 1));
      ci += crlf ? 2 : 1;
      i += crlf ? 2 : 1;
      continue;
    }
    sink.put_filtered(b, ci, ci + 1);
    ++ci;
    ++i;
  }
  c.text.releaseBuffer(sink.n);
  c.origin.resize(static_cast<size_t>(sink.n) + 1);
  c.origin[static_cast<size_t>(sink.n)] = ci;
  if (sink.n > 0 && sink.last_end != ci) c.gaps.push_back({sink.n, sink.last_end});
  c.length = ci;
}

const icu::Normalizer2& nfc_instance() {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status) || !nfc) throw SystemError(fmt::format("ICU NFC data unavailable: {}", u_errorName(status)));
  return *nfc;
}

// Pass 2: NFC. Text between normalisation boundaries is normalised on its
// own; what it turns into maps to the original start of that stretch.
void normalize_nfc(Cleaned& c) {
  const icu::Normalizer2& nfc = nfc_instance();
  UErrorCode status = U_ZERO_ERROR;
  const int32_t n = c.text.length();
  const char16_t* buf = c.text.getBuffer();
  int32_t pos = nfc.spanQuickCheckYes(c.text, status);
  if (U_FAILURE(status)) throw SystemError("ICU NFC check failed");
  if (pos == n) return;

  icu::UnicodeString out;
  std::vector<int32_t> origin;
  std::vector<Gap> gaps;
  out.append(c.text, 0, pos);
  origin.reserve(static_cast<size_t>(n) + 16);
  origin.assign(c.origin.begin(), c.origin.begin() + pos);
  size_t gi = 0;
  auto copy_gaps = [&](int32_t from, int32_t to, int32_t shift) {
    while (gi < c.gaps.size() && c.gaps[gi].at < from) ++gi;
    while (gi < c.gaps.size() && c.gaps[gi].at < to) {
      gaps.push_back({c.gaps[gi].at + shift, c.gaps[gi].end});
      ++gi;
    }
  };
  copy_gaps(0, pos, 0);
  icu::UnicodeString normalized;
  while (pos < n) {
    // The stretch runs from `pos` (a boundary) to the next boundary.
    int32_t k = pos;
    U16_FWD_1(buf, k, n);
    while (k < n) {
      UChar32 ch;
      int32_t next = k;
      U16_NEXT(buf, next, n, ch);
      if (nfc.hasBoundaryBefore(ch)) break;
      k = next;
    }
    const icu::UnicodeString chunk(false, buf + pos, k - pos);
    nfc.normalize(chunk, normalized, status);
    if (U_FAILURE(status)) throw SystemError("ICU NFC failed");
    const int32_t out_pos = out.length();
    if (normalized == chunk) {
      out.append(chunk);
      origin.insert(origin.end(), c.origin.begin() + pos, c.origin.begin() + k);
      copy_gaps(pos, k, out_pos - pos);
    } else {
      out.append(normalized);
      origin.insert(origin.end(), static_cast<size_t>(normalized.length()), c.origin[static_cast<size_t>(pos)]);
      copy_gaps(pos, pos + 1, out_pos - pos);
      // A word break inside the stretch (U+F9E7 U+11C0 becomes two words)
      // must not give an empty span: a range that ends inside the stretch
      // ends where the stretch ends in the original.
      const int32_t stretch_end = c.end_at(k);
      for (int32_t at = out_pos + 1; at < out.length(); ++at) gaps.push_back({at, stretch_end});
    }
    pos = k;
    // Back to the fast scan for the normalised stretch that follows.
    if (pos < n) {
      const icu::UnicodeString rest(false, buf + pos, n - pos);
      const int32_t yes = nfc.spanQuickCheckYes(rest, status);
      if (yes > 0) {
        const int32_t o = out.length();
        out.append(buf, pos, yes);
        origin.insert(origin.end(), c.origin.begin() + pos, c.origin.begin() + pos + yes);
        copy_gaps(pos, pos + yes, o - pos);
        pos += yes;
      }
    }
  }
  if (out.isBogus()) throw InputError("document too large after Unicode normalisation");
  const int32_t shift = out.length() - n;
  origin.push_back(c.origin[static_cast<size_t>(n)]);
  copy_gaps(n, n + 1, shift);
  c.text = std::move(out);
  c.origin = std::move(origin);
  c.gaps = std::move(gaps);
}

void clean_impl(std::string_view utf8, Cleaned& c) {
  if (utf8.size() >= static_cast<size_t>(INT32_MAX / 2))
    throw InputError(fmt::format("document of {} bytes is too large (limit 1 GiB)", utf8.size()));
  c.text.remove();
  if (utf8.empty()) {
    c.origin.assign(1, 0);
    c.gaps.clear();
    c.length = 0;
    return;
  }
  strip_markup(utf8, c);
  normalize_nfc(c);
}

// ---------------------------------------------------------------------------
// Segmentation helpers
// ---------------------------------------------------------------------------

bool is_visible(UChar32 c) {
  if (c < 0x80) return c > 0x20 && c != 0x7F;
  return !u_isUWhiteSpace(c) && u_charType(c) != U_FORMAT_CHAR;
}

// A word segment is a token when it holds something visible; a sentence
// holds a token exactly when it holds a visible character.
bool has_visible(const char16_t* buf, int32_t a, int32_t b) {
  for (int32_t i = a; i < b;) {
    UChar32 c;
    U16_NEXT(buf, i, b, c);
    if (is_visible(c)) return true;
  }
  return false;
}

// UTF-16 to UTF-8 without temporaries; tokens are short and many.
void append_utf8(const char16_t* s, int32_t n, std::string& out) {
  bool ascii = true;
  for (int32_t i = 0; i < n && ascii; ++i) ascii = s[i] < 0x80;
  if (ascii) {
    out.resize(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = static_cast<char>(s[i]);
    return;
  }
  out.resize(static_cast<size_t>(n) * 3);  // enough: a unit gives at most 3 bytes, a pair 4
  char* o = out.data();
  size_t k = 0;
  for (int32_t i = 0; i < n;) {
    UChar32 c;
    U16_NEXT(s, i, n, c);
    if (U_IS_SURROGATE(c)) c = 0xFFFD;  // unpaired; cannot come from valid input
    if (c < 0x80) {
      o[k++] = static_cast<char>(c);
    } else if (c < 0x800) {
      o[k++] = static_cast<char>(0xC0 | (c >> 6));
      o[k++] = static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      o[k++] = static_cast<char>(0xE0 | (c >> 12));
      o[k++] = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      o[k++] = static_cast<char>(0x80 | (c & 0x3F));
    } else {
      o[k++] = static_cast<char>(0xF0 | (c >> 18));
      o[k++] = static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      o[k++] = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      o[k++] = static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  out.resize(k);
}

// A word's vocabulary form from its UTF-16 text: lower-cased when asked
// (ASCII directly, the rest through ICU), as UTF-8.
void make_form(const char16_t* s, int32_t n, bool lowercase, std::vector<char16_t>& scratch, std::string& out) {
  bool ascii = true;
  for (int32_t i = 0; i < n && ascii; ++i) ascii = s[i] < 0x80;
  if (ascii) {
    out.resize(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i) {
      const auto ch = static_cast<char>(s[i]);
      out[static_cast<size_t>(i)] = lowercase ? lower_ascii(ch) : ch;
    }
  } else if (lowercase) {
    if (scratch.size() < static_cast<size_t>(n) * 3 + 8) scratch.resize(static_cast<size_t>(n) * 3 + 8);
    UErrorCode status = U_ZERO_ERROR;
    const int32_t m = u_strToLower(scratch.data(), static_cast<int32_t>(scratch.size()), s, n, "", &status);
    if (U_FAILURE(status)) throw SystemError("ICU lower-casing failed");
    append_utf8(scratch.data(), m, out);
  } else {
    append_utf8(s, n, out);
  }
}

// Word iteration runs over windows of a sentence so that one endless
// sentence cannot make ICU hold (or dictionary-segment) all of it at once.
constexpr int32_t kWordWindow = 1 << 14;

int32_t window_end(const char16_t* buf, int32_t lo, int32_t hi) {
  // Prefer cutting just before whitespace: always a word boundary.
  for (int32_t p = hi; p > lo + kWordWindow / 2; --p)
    if (u_isUWhiteSpace(buf[p])) return p;
  int32_t p = hi;
  if (U16_IS_TRAIL(buf[p]) && U16_IS_LEAD(buf[p - 1])) --p;
  // Don't strand combining marks at the start of the next window.
  for (int steps = 0; steps < 32 && p > lo + 1; ++steps) {
    UChar32 c;
    U16_GET(buf, lo, p, hi, c);
    const int32_t wb = u_getIntPropertyValue(c, UCHAR_WORD_BREAK);
    if (wb != U_WB_EXTEND && wb != U_WB_FORMAT && wb != U_WB_ZWJ) break;
    U16_BACK_1(buf, lo, p);
  }
  return p;
}

}  // namespace

CleanText clean_text(std::string_view utf8) {
  Cleaned c;
  clean_impl(utf8, c);
  CleanText result;
  c.text.toUTF8String(result.text);
  const int32_t n = c.text.length();
  const char16_t* buf = c.text.getBuffer();
  result.origin.reserve(static_cast<size_t>(n) + 1);
  for (int32_t i = 0; i < n;) {
    result.origin.push_back(c.origin[static_cast<size_t>(i)]);
    U16_FWD_1(buf, i, n);
  }
  result.origin.push_back(c.origin[static_cast<size_t>(n)]);
  return result;
}

// ---------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------

namespace {

// ICU's word rules attach these to the character before them (UAX #29 WB4),
// which after a space would glue them to it instead of to the next word.
bool attaches_backwards(UChar32 c) {
  const auto wb = u_getIntPropertyValue(c, UCHAR_WORD_BREAK);
  return wb == U_WB_EXTEND || wb == U_WB_FORMAT || wb == U_WB_ZWJ;
}

// A run of spaces and line breaks holding exactly one break becomes all
// spaces; runs with two or more breaks (blank lines) stay paragraph ends.
// One unit for one unit, so offsets into the original are unchanged; no
// token takes in a space (see attaches_backwards).
void join_wrapped_lines(icu::UnicodeString& text) {
  const int32_t n = text.length();
  for (int32_t i = 0; i < n;) {
    const char16_t ch = text.charAt(i);
    if (ch != u' ' && ch != u'\n') {
      ++i;
      continue;
    }
    int32_t end = i, breaks = 0, last_break = -1;
    for (; end < n && (text.charAt(end) == u' ' || text.charAt(end) == u'\n'); ++end) {
      if (text.charAt(end) == u'\n') {
        ++breaks;
        last_break = end;
      }
    }
    if (breaks == 1 && !(end < n && attaches_backwards(text.char32At(end)))) text.setCharAt(last_break, u' ');
    i = end;
  }
}

}  // namespace

struct Tokenizer::Impl {
  std::unique_ptr<icu::BreakIterator> sentences;
  std::unique_ptr<icu::BreakIterator> words;
  UText sentence_text = UTEXT_INITIALIZER;
  UText word_text = UTEXT_INITIALIZER;
  std::vector<char16_t> lower;  // scratch for case mapping
  std::string form;             // scratch for tokenize_forms
  Cleaned cleaned;              // reused between documents
  icu::UnicodeString empty;

  ~Impl() {
    utext_close(&sentence_text);
    utext_close(&word_text);
  }

  void detach() {
    // Leaves no iterator pointing at a freed document.
    sentences->setText(empty);
    words->setText(empty);
  }
};

Tokenizer::Tokenizer(TextOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  const icu::Locale locale(options_.locale.c_str());
  if (locale.isBogus()) throw UsageError(fmt::format("invalid locale '{}'", options_.locale));
  UErrorCode status = U_ZERO_ERROR;
  impl_->sentences.reset(icu::BreakIterator::createSentenceInstance(locale, status));
  if (U_SUCCESS(status)) impl_->words.reset(icu::BreakIterator::createWordInstance(locale, status));
  if (U_FAILURE(status) || !impl_->sentences || !impl_->words)
    throw SystemError(
        fmt::format("cannot create ICU break iterators for locale '{}': {}", options_.locale, u_errorName(status)));
  // ICU builds its NFC singleton on first use; build it here, on the thread
  // that makes the tokenizers, before worker threads share it.
  nfc_instance();
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

template <class OnWord, class OnSentence>
void Tokenizer::segment(std::string_view utf8, TokenizedDocument& counts, OnWord&& on_word, OnSentence&& on_sentence) {
  Impl& im = *impl_;
  Cleaned& c = im.cleaned;
  std::string_view kept = utf8;
  if (options_.max_bytes > 0 && utf8.size() > static_cast<size_t>(options_.max_bytes)) {
    size_t cut = static_cast<size_t>(options_.max_bytes);
    while (cut > 0 && (static_cast<unsigned char>(utf8[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
    kept = utf8.substr(0, cut);
    counts.bytes_cut = static_cast<int64_t>(utf8.size() - cut);
  }
  clean_impl(kept, c);
  if (options_.join_lines) join_wrapped_lines(c.text);
  counts.length = c.length + (counts.bytes_cut > 0 ? count_code_points(utf8.substr(kept.size())) : 0);
  const int32_t n = c.text.length();
  if (n == 0) return;
  const char16_t* buf = c.text.getBuffer();
  const size_t max_sentences = options_.max_sentences > 0 ? static_cast<size_t>(options_.max_sentences) : SIZE_MAX;
  const size_t max_words = options_.max_words > 0 ? static_cast<size_t>(options_.max_words) : SIZE_MAX;

  UErrorCode status = U_ZERO_ERROR;
  utext_openUChars(&im.sentence_text, buf, n, &status);
  im.sentences->setText(&im.sentence_text, status);
  if (U_FAILURE(status)) throw SystemError("ICU sentence iterator setText failed");

  size_t sentences = 0;
  int32_t s = im.sentences->first();
  for (int32_t e = im.sentences->next(); e != icu::BreakIterator::DONE; s = e, e = im.sentences->next()) {
    if (sentences >= max_sentences) {
      if (has_visible(buf, s, e)) ++counts.sentences_cut;
      continue;
    }
    size_t words = 0;
    int64_t cut = 0;
    int32_t first_a = -1, last_b = -1;
    for (int32_t ws = s; ws < e;) {
      const int32_t we = e - ws > kWordWindow ? window_end(buf, ws, ws + kWordWindow) : e;
      utext_openUChars(&im.word_text, buf + ws, we - ws, &status);
      im.words->setText(&im.word_text, status);
      if (U_FAILURE(status)) throw SystemError("ICU word iterator setText failed");
      int32_t a = im.words->first();
      for (int32_t b = im.words->next(); b != icu::BreakIterator::DONE; a = b, b = im.words->next()) {
        const int32_t ta = ws + a, tb = ws + b;
        if (!has_visible(buf, ta, tb)) continue;
        if (words >= max_words) {
          ++cut;
          continue;
        }
        on_word(buf, ta, tb);
        ++words;
        if (first_a < 0) first_a = ta;
        last_b = tb;
      }
      ws = we;
    }
    if (words == 0) continue;
    counts.words_cut += cut;
    ++sentences;
    on_sentence(buf, first_a, last_b, static_cast<int32_t>(words));
  }
  im.detach();
  if (c.origin.size() > (size_t{1} << 22)) c = Cleaned();  // don't hold on to a huge document
}

TokenizedDocument Tokenizer::tokenize(std::string_view utf8) {
  TokenizedDocument doc;
  Impl& im = *impl_;
  Sentence sentence;
  segment(
      utf8, doc,
      [&](const char16_t* buf, int32_t ta, int32_t tb) {
        const Cleaned& c = im.cleaned;
        if (sentence.words.empty()) sentence.words.reserve(16);
        Token& t = sentence.words.emplace_back();
        append_utf8(buf + ta, tb - ta, t.text);
        make_form(buf + ta, tb - ta, options_.lowercase, im.lower, t.form);
        t.span.begin = c.origin[static_cast<size_t>(ta)];
        t.span.end = std::max<int64_t>(c.end_at(tb), t.span.begin);
      },
      [&](const char16_t* buf, int32_t first_a, int32_t last_b, int32_t) {
        sentence.span = {sentence.words.front().span.begin, sentence.words.back().span.end};
        append_utf8(buf + first_a, last_b - first_a, sentence.text);
        doc.sentences.push_back(std::move(sentence));
        sentence = Sentence();
      });
  return doc;
}

Tokenizer::Cuts Tokenizer::tokenize_forms(std::string_view utf8, const std::function<void(std::string_view)>& word,
                                          const std::function<void(int32_t)>& sentence_end) {
  TokenizedDocument counts;
  Impl& im = *impl_;
  std::string& form = im.form;
  segment(
      utf8, counts,
      [&](const char16_t* buf, int32_t ta, int32_t tb) {
        make_form(buf + ta, tb - ta, options_.lowercase, im.lower, form);
        word(form);
      },
      [&](const char16_t*, int32_t, int32_t, int32_t words) { sentence_end(words); });
  return {counts.sentences_cut, counts.words_cut, counts.bytes_cut};
}

void tokenize_parallel(size_t count, const std::function<std::string_view(size_t)>& text_of, const TextOptions& options,
                       int threads, const std::function<void(size_t, TokenizedDocument&&)>& consume) {
  threads = std::max(1, threads);
  std::vector<Tokenizer> tokenizers;
  tokenizers.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) tokenizers.emplace_back(options);
  constexpr size_t kBlock = 1024;
  std::vector<TokenizedDocument> block(std::min(kBlock, count));
  for (size_t start = 0; start < count; start += kBlock) {
    const size_t size = std::min(kBlock, count - start);
    run_on_threads(threads, [&](int t) {
      for (size_t i = static_cast<size_t>(t); i < size; i += static_cast<size_t>(threads)) {
        block[i] = tokenizers[static_cast<size_t>(t)].tokenize(text_of(start + i));
      }
    });
    for (size_t i = 0; i < size; ++i) consume(start + i, std::move(block[i]));
  }
}

void run_tokenizers(size_t count, const std::function<std::string_view(size_t)>& text_of, const TextOptions& options,
                    int threads, const std::function<void(int, size_t, Tokenizer&, std::string_view)>& work) {
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::max<size_t>(count, 1))));
  std::vector<Tokenizer> tokenizers;
  tokenizers.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) tokenizers.emplace_back(options);
  std::atomic<bool> failed{false};  // a failure stops the other workers early
  run_on_threads(threads, [&](int t) {
    try {
      for (size_t i = static_cast<size_t>(t); i < count && !failed.load(std::memory_order_relaxed);
           i += static_cast<size_t>(threads)) {
        work(t, i, tokenizers[static_cast<size_t>(t)], text_of(i));
      }
    } catch (...) {
      failed = true;
      throw;
    }
  });
}

void tokenize_on_workers(size_t count, const std::function<std::string_view(size_t)>& text_of,
                         const TextOptions& options, int threads,
                         const std::function<void(int, size_t, TokenizedDocument&&)>& work) {
  run_tokenizers(count, text_of, options, threads,
                 [&](int worker, size_t index, Tokenizer& tokenizer, std::string_view text) {
                   work(worker, index, tokenizer.tokenize(text));
                 });
}

}  // namespace han
