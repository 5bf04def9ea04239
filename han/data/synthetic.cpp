#include "han/data/synthetic.h"

#include <random>
#include <string>

namespace han {
namespace {

using Words = std::vector<const char*>;

// Neutral material shared by both classes, so only label sentences separate them.
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

const Words kAspects = {"The acting", "The music", "The script", "The ending", "The dialogue", "The pacing",
                        "The photography", "The whole thing"};
const Words kAdverbs = {"really", "truly", "quite", "simply", "absolutely", "rather"};
const Words kPositive = {"wonderful", "brilliant", "superb", "excellent", "delightful", "moving", "charming",
                         "gorgeous"};
const Words kNegative = {"dreadful", "boring", "awful", "terrible", "dull", "clumsy", "tedious", "painful"};
const Words kPositiveVerbs = {"loved", "enjoyed", "adored", "admired", "treasured"};
const Words kNegativeVerbs = {"hated", "disliked", "regretted", "resented", "endured"};

class Picker {
 public:
  explicit Picker(uint64_t seed) : rng_(seed) {}
  // Modulo of the raw engine output keeps the corpus the same on every standard library.
  uint64_t below(uint64_t n) { return rng_() % n; }
  const char* pick(const Words& words) { return words[below(words.size())]; }

 private:
  std::mt19937_64 rng_;
};

std::string neutral_sentence(Picker& p) {
  std::string s = std::string(p.pick(kSubjects)) + " " + p.pick(kVerbs) + " " + p.pick(kObjects);
  if (p.below(2) == 0) s += std::string(" ") + p.pick(kTails);
  return s + ".";
}

std::string label_sentence(Picker& p, bool positive) {
  switch (p.below(3)) {
    case 0:
      return std::string(p.pick(kAspects)) + " was " + p.pick(kAdverbs) + " " +
             p.pick(positive ? kPositive : kNegative) + ".";
    case 1:
      return std::string("I ") + p.pick(positive ? kPositiveVerbs : kNegativeVerbs) + " every minute of it!";
    default:
      return std::string("What a ") + p.pick(positive ? kPositive : kNegative) + " film.";
  }
}

}  // namespace

std::vector<SyntheticDocument> make_synthetic_corpus(int count, uint64_t seed) {
  Picker p(seed);
  std::vector<SyntheticDocument> corpus;
  corpus.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    const bool positive = p.below(2) == 0;
    const int sentences = 4 + static_cast<int>(p.below(6));
    const int label_count = 1 + static_cast<int>(p.below(2));
    std::vector<bool> carries(static_cast<size_t>(sentences), false);
    for (int placed = 0; placed < label_count;) {
      const auto at = p.below(static_cast<uint64_t>(sentences));
      if (!carries[at]) {
        carries[at] = true;
        ++placed;
      }
    }
    SyntheticDocument doc;
    doc.document.label = positive ? "positive" : "negative";
    doc.document.origin = "synthetic:" + std::to_string(i + 1);
    for (int s = 0; s < sentences; ++s) {
      if (s > 0) doc.document.text += " ";
      if (carries[static_cast<size_t>(s)]) {
        doc.document.text += label_sentence(p, positive);
        doc.label_sentences.push_back(s);
      } else {
        doc.document.text += neutral_sentence(p);
      }
    }
    corpus.push_back(std::move(doc));
  }
  return corpus;
}

}  // namespace han
