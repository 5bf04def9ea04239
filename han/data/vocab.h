// Vocabulary and label set: the two mappings from text to ids that a model
// file carries.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace han {

// Counts word forms; the vocabulary is built from the training split only.
class WordCounter {
 public:
  void add(const std::string& form, int64_t count = 1) { counts_[form] += count; }
  void merge(const WordCounter& other);
  const std::unordered_map<std::string, int64_t>& counts() const { return counts_; }

 private:
  std::unordered_map<std::string, int64_t> counts_;
};

class Vocabulary {
 public:
  static constexpr int32_t kPad = 0;  // fills sentences and documents up to the batch's size
  static constexpr int32_t kUnk = 1;  // every word not in the vocabulary
  static constexpr const char* kPadToken = "<pad>";
  static constexpr const char* kUnkToken = "<unk>";

  // Words seen at least min_count times, most frequent first (ties in byte
  // order), cut to max_size entries including PAD and UNK.
  static Vocabulary build(const WordCounter& counter, int min_count, int max_size);

  Vocabulary();  // PAD and UNK only
  // `words` must start with PAD and UNK; throws InputError on duplicates.
  explicit Vocabulary(std::vector<std::string> words);

  int32_t id(const std::string& form) const;
  const std::string& word(int32_t id) const { return words_.at(static_cast<size_t>(id)); }
  int64_t size() const { return static_cast<int64_t>(words_.size()); }
  const std::vector<std::string>& words() const { return words_; }

 private:
  std::vector<std::string> words_;
  std::unordered_map<std::string, int32_t> ids_;
};

// Labels in a stable order: numeric order when every label is an integer
// ("1" < "2" < "10"), byte order otherwise. Ids follow that order.
class LabelSet {
 public:
  LabelSet() = default;
  static LabelSet build(const std::vector<std::string>& labels);
  // `names` in id order; throws InputError on duplicates or empty names.
  explicit LabelSet(std::vector<std::string> names);

  int64_t id(const std::string& label) const;  // -1 when unknown
  const std::string& name(int64_t id) const { return names_.at(static_cast<size_t>(id)); }
  int64_t size() const { return static_cast<int64_t>(names_.size()); }
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, int64_t> ids_;
};

}  // namespace han
