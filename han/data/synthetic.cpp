#include "han/data/synthetic.h"

#include <cctype>
#include <random>
#include <string>

namespace han {
namespace {

using Words = std::vector<const char*>;

// Neutral material shared by all genres, so only the cue sentence separates them.
const Words kSubjects = {"The director",   "The cast",        "The film",          "The story",  "My neighbour",
                         "The studio",     "The second half", "The opening scene", "The camera", "The narrator",
                         "The old sailor", "A young teacher", "The family",        "The crew"};
const Words kVerbs = {"follows", "shows",       "describes",  "visits",   "mentions",  "returns to",
                      "leaves",  "talks about", "walks past", "looks at", "waits for", "remembers"};
const Words kObjects = {"a small town",    "two brothers",    "an old house",        "a long journey",
                        "the harbour",     "a family dinner", "the railway station", "a quiet village",
                        "the city market", "a wooden boat",   "the northern coast",  "a letter from home",
                        "the school yard"};
const Words kTails = {"in the winter", "during the war",  "near the coast",     "over three days",
                      "at night",      "after the storm", "before the wedding", "in the spring",
                      "on a Sunday",   "every morning",   "in nineteen fifty",  "for a few hours"};

// Each genre's cue words, in the order of synthetic_labels().
const std::vector<Words> kCueWords = {
    {"hilarious", "funny", "witty", "comic", "playful"},
    {"terrifying", "scary", "creepy", "chilling", "sinister"},
    {"romantic", "tender", "sweet", "passionate", "heartfelt"},
};
// Verdicts that name no genre: without them, "a verdict whose words draw no
// sharp attention" could stand for one genre, and that genre's word go unread.
const Words kPlainAdjectives = {"long", "slow",  "colourful", "familiar", "quiet",
                                "loud", "short", "modest",    "busy",     "plain"};
const Words kAdverbs = {"really", "truly", "quite", "simply", "rather", "deeply"};

// A verdict on the film: {a} is an adverb, {c} the genre's cue word. Every
// template has at least 6 words and uses the cue word once.
const Words kCueTemplates = {
    "The whole film was {a} {c} from start to finish.",
    "I found the second half {a} {c}.",
    "It turned out to be a {a} {c} film in the end.",
    "Honestly, it is the most {c} film of the year.",
    "Every single scene felt {a} {c} to me.",
    "In the end I thought it was {a} {c}.",
    "The director made something {a} {c} here.",
    "It is a {a} {c} piece of cinema.",
    "We all agreed that the film was {c}.",
    "This one is {a} {c} from the very first scene.",
    "From the first minute it felt {c} and it never let up.",
    "Few films manage to be this {c} for so long.",
};
// Hearsay, not a verdict: a head before a verdict template with a cue word of
// any genre. The words around the cue word are a verdict's, so only the head
// tells them apart: the model has to read the sentence, not spot the word.
const Words kHearsayHeads = {"My neighbour said that", "The poster promised that", "The trailer suggested that",
                             "Some critics claimed that", "My cousin feared that"};

class Picker {
 public:
  explicit Picker(uint64_t seed) : rng_(seed) {}
  // Modulo of the raw engine output keeps the corpus the same on every standard library.
  uint64_t below(uint64_t n) { return rng_() % n; }
  const char* pick(const Words& words) { return words[below(words.size())]; }

 private:
  std::mt19937_64 rng_;
};

void replace(std::string& text, const std::string& marker, const std::string& value) {
  const auto at = text.find(marker);
  if (at != std::string::npos) text.replace(at, marker.size(), value);
}

std::string fill_in(const char* pattern, const std::string& adverb, const std::string& cue) {
  std::string s = pattern;
  replace(s, "{a}", adverb);
  replace(s, "{c}", cue);
  return s;
}

std::string lower_first(std::string s) {
  if (s.compare(0, 2, "I ") != 0) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

std::string verdict(Picker& p, const std::string& cue_word) {
  const char* pattern = p.pick(kCueTemplates);
  return fill_in(pattern, p.pick(kAdverbs), cue_word);
}

// Draws are sequenced one by one: the order of argument evaluation varies between compilers.
std::string neutral_sentence(Picker& p) {
  const uint64_t kind = p.below(4);
  if (kind == 0) {
    const std::string head = p.pick(kHearsayHeads);
    const std::string cue_word = p.pick(kCueWords[p.below(kCueWords.size())]);
    return head + " " + lower_first(verdict(p, cue_word));
  }
  if (kind == 1) return verdict(p, p.pick(kPlainAdjectives));
  std::string s = p.pick(kSubjects);
  s += std::string(" ") + p.pick(kVerbs);
  s += std::string(" ") + p.pick(kObjects);
  if (p.below(2) == 0) s += std::string(" ") + p.pick(kTails);
  return s + ".";
}

std::string cue_sentence(Picker& p, size_t genre, std::string& cue_word) {
  cue_word = p.pick(kCueWords[genre]);
  return verdict(p, cue_word);
}

}  // namespace

const std::vector<std::string>& synthetic_labels() {
  static const std::vector<std::string> labels = {"comedy", "horror", "romance"};
  return labels;
}

std::vector<SyntheticDocument> make_synthetic_corpus(int count, uint64_t seed) {
  Picker p(seed);
  std::vector<SyntheticDocument> corpus;
  corpus.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    const size_t genre = static_cast<size_t>(i) % synthetic_labels().size();
    const int sentences = 4 + static_cast<int>(p.below(6));
    SyntheticDocument doc;
    doc.cue_sentence = static_cast<int>(p.below(static_cast<uint64_t>(sentences)));
    doc.document.label = synthetic_labels()[genre];
    doc.document.origin = "synthetic:" + std::to_string(i + 1);
    for (int s = 0; s < sentences; ++s) {
      if (s > 0) doc.document.text += " ";
      doc.document.text += s == doc.cue_sentence ? cue_sentence(p, genre, doc.cue_word) : neutral_sentence(p);
    }
    corpus.push_back(std::move(doc));
  }
  return corpus;
}

}  // namespace han
