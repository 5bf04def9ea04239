#include "han/data/vocab.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "han/base/error.h"

namespace han {

void WordCounter::merge(const WordCounter& other) {
  for (const auto& [form, count] : other.counts_) counts_[form] += count;
}

Vocabulary::Vocabulary() : Vocabulary(std::vector<std::string>{kPadToken, kUnkToken}) {}

Vocabulary::Vocabulary(std::vector<std::string> words) : words_(std::move(words)) {
  if (words_.size() < 2 || words_[0] != kPadToken || words_[1] != kUnkToken) {
    throw InputError(fmt::format("vocabulary must start with {} and {}", kPadToken, kUnkToken));
  }
  ids_.reserve(words_.size());
  for (size_t i = 0; i < words_.size(); ++i) {
    if (!ids_.emplace(words_[i], static_cast<int32_t>(i)).second) {
      throw InputError(fmt::format("vocabulary lists '{}' twice", words_[i]));
    }
  }
}

Vocabulary Vocabulary::build(const WordCounter& counter, int min_count, int max_size) {
  std::vector<std::pair<std::string, int64_t>> kept;
  for (const auto& [form, count] : counter.counts()) {
    if (count >= min_count && form != kPadToken && form != kUnkToken) kept.emplace_back(form, count);
  }
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  const size_t room = max_size > 2 ? static_cast<size_t>(max_size) - 2 : 0;
  if (kept.size() > room) kept.resize(room);
  std::vector<std::string> words{kPadToken, kUnkToken};
  for (auto& entry : kept) words.push_back(std::move(entry.first));
  return Vocabulary(std::move(words));
}

int32_t Vocabulary::id(const std::string& form) const {
  auto it = ids_.find(form);
  return it == ids_.end() ? kUnk : it->second;
}

namespace {

bool is_integer(const std::string& s) {
  if (s.empty() || s.size() > 18) return false;
  size_t i = (s[0] == '-') ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

}  // namespace

LabelSet LabelSet::build(const std::vector<std::string>& labels) {
  std::set<std::string> unique(labels.begin(), labels.end());
  unique.erase("");
  std::vector<std::string> names(unique.begin(), unique.end());
  const bool numeric = std::all_of(names.begin(), names.end(), is_integer);
  if (numeric) {
    std::sort(names.begin(), names.end(),
              [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); });
  }
  return LabelSet(std::move(names));
}

LabelSet::LabelSet(std::vector<std::string> names) : names_(std::move(names)) {
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i].empty()) throw InputError("label set holds an empty label");
    if (!ids_.emplace(names_[i], static_cast<int64_t>(i)).second) {
      throw InputError(fmt::format("label set lists '{}' twice", names_[i]));
    }
  }
}

int64_t LabelSet::id(const std::string& label) const {
  auto it = ids_.find(label);
  return it == ids_.end() ? -1 : it->second;
}

}  // namespace han
