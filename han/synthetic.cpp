#include "han/synthetic.h"

#include <cctype>
#include <random>
#include <string>

namespace han {
namespace {

using Words = std::vector<const char*>;

// Neutral material shared by all genres, so only the cue sentence separates them.
const Words kSubjects = {"The director", "The cast", "The film", "The story", "My neighbour", "The studio",
                         "The second half", "The opening scene", "The camera", "The narrator", "The old sailor",
                         "A young teacher", "The family", "The crew"};
const Words kVerbs = {"follows", "shows", "describes", "visits", "mentions", "returns to", "leaves",
                      "talks about", "walks past", "looks at", "waits for", "remembers"};
const Words kObjects = {"a small town", "two brothers", "an old house", "a long journey", "the harbour",
                        "a family dinner", "the railway station", "a quiet village", "the city market",
                        "a wooden boat", "the northern coast", "a letter from home", "the school yard"};
const Words kTails = {"in the winter", "during the war", "near the coast", "over three days", "at night",
                      "after the storm", "before the wedding", "in the spring", "on a Sunday", "every morning",
                      "in nineteen fifty", "for a few hours"};

// Each genre's cue words, in the order of synthetic_labels(); none starts with a vowel, so "a {c}" reads right.
const std::vector<Words> kCueWords = {
    {"hilarious", "funny", "witty", "comic", "playful"},
    {"terrifying", "scary", "creepy", "chilling", "sinister"},
    {"romantic", "tender", "sweet", "passionate", "heartfelt"},
};
const Words kAdverbs = {"really", "truly", "quite", "simply", "rather", "deeply"};

// A verdict on the film: {a} is an adverb, {c} the genre's cue word. Every
// template has at least 6 words and uses the cue word once.
const Words kCueTemplates = {
    "The whole film was {a} {c} from start to finish.", "I found the second half {a} {c}.",
    "What a {a} {c} film this turned out to be!",       "Honestly, it is the most {c} film of the year.",
    "Every single scene felt {a} {c} to me.",           "In the end I thought it was {a} {c}.",
    "The director made something {a} {c} here.",        "It is a {a} {c} piece of cinema.",
    "We all agreed that the film was {c}.",             "Believe me, this one is {a} {c}.",
    "From the first minute it felt {c} and it never let up.",
    "Few films manage to be this {c} for so long.",
};
// Hearsay, not a verdict: these carry a cue word of any genre and say nothing
// of the film's. Alone they are neutral sentences; before a verdict, they put
// a second cue word in the cue sentence, so the model must pick the right word.
const Words kHearsay = {"The poster promised a {c} evening", "My neighbour asked whether it would be {c}",
                        "The title sounds {c} and says little", "The trailer looked {c} to my cousin"};

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

const char* any_cue_word(Picker& p) { return p.pick(kCueWords[p.below(kCueWords.size())]); }

// Draws are sequenced one by one: the order of argument evaluation varies between compilers.
std::string neutral_sentence(Picker& p) {
  if (p.below(3) == 0) {
    const char* pattern = p.pick(kHearsay);
    return fill_in(pattern, "", any_cue_word(p)) + ".";
  }
  std::string s = p.pick(kSubjects);
  s += std::string(" ") + p.pick(kVerbs);
  s += std::string(" ") + p.pick(kObjects);
  if (p.below(2) == 0) s += std::string(" ") + p.pick(kTails);
  return s + ".";
}

// Half the cue sentences open with hearsay about another (or the same) genre: "..., but the whole film was ...".
std::string cue_sentence(Picker& p, size_t genre, std::string& cue_word) {
  cue_word = p.pick(kCueWords[genre]);
  const char* pattern = p.pick(kCueTemplates);
  std::string verdict = fill_in(pattern, p.pick(kAdverbs), cue_word);
  if (p.below(2) == 0) return verdict;
  std::string hearsay_word = any_cue_word(p);
  while (hearsay_word == cue_word) hearsay_word = any_cue_word(p);  // one cue word per sentence to look for
  if (verdict.compare(0, 2, "I ") != 0) verdict[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(verdict[0])));
  const char* hearsay = p.pick(kHearsay);
  return fill_in(hearsay, "", hearsay_word) + ", but " + verdict;
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
