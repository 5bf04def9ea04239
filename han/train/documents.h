// A run's documents: one corpus's, held in memory or read on demand from its
// prepared file, seen through the run's form and label ids. Training and
// validation sets are lists of members of such a source, so holding out a
// validation split or dropping empty documents copies no words.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "han/data/data.h"

namespace han {

class DocumentSource {
 public:
  // Takes the corpus's documents (or its records). Its forms are interned
  // into `forms`, the run's table; its labels must be among `labels`.
  // Single-label runs drop the targets; multi-label runs give every
  // document its label as a target when it has no list of them.
  DocumentSource(TokenizedCorpus& corpus, FormTable& forms, const LabelSet& labels, bool multi_label);

  int64_t size() const;
  int32_t sentences(int64_t i) const;
  int64_t label(int64_t i) const;                 // the run's label id, -1 when unlabeled
  std::vector<int32_t> targets(int64_t i) const;  // the run's label ids; empty in single-label runs
  // Adds how often each of the run's forms occurs in the documents `members`
  // (ascending) to `counts`, reading them front to back.
  void count_forms(const std::vector<int64_t>& members, std::vector<int64_t>& counts) const;

  // Once the vocabulary is built: each of the run's forms' word id.
  void set_vocabulary(const std::vector<int32_t>& form_to_word);
  void encode(int64_t i, EncodedDocument& out) const;
  // The documents `members` (ascending) as word ids, in order, read front to
  // back, until `visit` returns false.
  void for_each(const std::vector<int64_t>& members, const std::function<bool(const EncodedDocument&)>& visit) const;

 private:
  void encode_forms(const InternedDocument& source, EncodedDocument& out) const;
  // Visits the documents `members` (ascending) in their own form ids, until `visit` returns false.
  void scan(const std::vector<int64_t>& members, const std::function<bool(const InternedDocument&)>& visit) const;

  std::vector<InternedDocument> documents_;         // in memory, or
  std::shared_ptr<const PreparedRecords> records_;  // in the prepared file
  std::vector<int32_t> form_ids_;                   // the corpus's form id -> the run's
  std::vector<int64_t> label_ids_;                  // the corpus's label index -> the run's
  std::vector<int32_t> word_ids_;                   // the corpus's form id -> word id
  bool multi_label_;
};

// Documents of one source, by index, ascending.
struct DocumentSet {
  std::shared_ptr<const DocumentSource> source;
  std::vector<int64_t> members;

  static DocumentSet all(std::shared_ptr<const DocumentSource> source);
  int64_t size() const { return static_cast<int64_t>(members.size()); }
  bool empty() const { return members.empty(); }
  int32_t sentences(int64_t k) const { return source->sentences(members[static_cast<size_t>(k)]); }
  int64_t label(int64_t k) const { return source->label(members[static_cast<size_t>(k)]); }
  std::vector<int32_t> targets(int64_t k) const { return source->targets(members[static_cast<size_t>(k)]); }
  // Every member's sentence count, for bucketing.
  std::vector<int32_t> sentence_counts() const;
  // Members [begin, end).
  DocumentSet slice(int64_t begin, int64_t end) const;
  // The members at positions `picked` (ascending).
  DocumentSet subset(const std::vector<size_t>& picked) const;
  // The members at `positions`, as word ids, into `out`.
  void fetch(const std::vector<int64_t>& positions, std::vector<EncodedDocument>& out) const;
  void for_each(const std::function<bool(const EncodedDocument&)>& visit) const { source->for_each(members, visit); }
};

}  // namespace han
