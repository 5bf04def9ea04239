#include "han/train/documents.h"

#include <numeric>
#include <utility>

namespace han {

DocumentSource::DocumentSource(TokenizedCorpus& corpus, FormTable& forms, const LabelSet& labels, bool multi_label)
    : documents_(std::move(corpus.documents)), records_(std::move(corpus.records)), multi_label_(multi_label) {
  corpus.documents.clear();
  form_ids_.reserve(static_cast<size_t>(corpus.forms.size()));
  for (int32_t f = 0; f < corpus.forms.size(); ++f) form_ids_.push_back(forms.intern(corpus.forms.form(f)));
  for (const std::string& name : corpus.labels) label_ids_.push_back(labels.id(name));
}

int64_t DocumentSource::size() const { return records_ ? records_->size() : static_cast<int64_t>(documents_.size()); }

int32_t DocumentSource::sentences(int64_t i) const {
  return records_ ? records_->sentences(i)
                  : static_cast<int32_t>(documents_[static_cast<size_t>(i)].sentence_lengths.size());
}

int64_t DocumentSource::label(int64_t i) const {
  const int64_t own = records_ ? records_->label(i) : documents_[static_cast<size_t>(i)].label;
  return own >= 0 ? label_ids_[static_cast<size_t>(own)] : -1;
}

std::vector<int32_t> DocumentSource::targets(int64_t i) const {
  if (!multi_label_) return {};
  std::vector<int32_t> ids = records_ ? records_->targets(i) : documents_[static_cast<size_t>(i)].targets;
  for (int32_t& t : ids) t = static_cast<int32_t>(label_ids_[static_cast<size_t>(t)]);
  if (ids.empty()) ids.push_back(static_cast<int32_t>(label(i)));
  return ids;
}

void DocumentSource::scan(const std::vector<int64_t>& members,
                          const std::function<bool(const InternedDocument&)>& visit) const {
  if (!records_) {
    for (const int64_t i : members) {
      if (!visit(documents_[static_cast<size_t>(i)])) return;
    }
    return;
  }
  // A few members (a held-out validation split): a read for each.
  if (static_cast<int64_t>(members.size()) < records_->size() / 8) {
    InternedDocument d;
    for (const int64_t i : members) {
      records_->read(i, d);
      if (!visit(d)) return;
    }
    return;
  }
  // Most of them: front to back through the file, skipping what is not a
  // member, one pass of sequential reads.
  size_t next = 0;
  records_->scan([&](int64_t i, const InternedDocument& d) {
    if (next == members.size()) return false;
    if (members[next] != i) return true;
    ++next;
    return visit(d);
  });
}

void DocumentSource::count_forms(const std::vector<int64_t>& members, std::vector<int64_t>& counts) const {
  scan(members, [&](const InternedDocument& d) {
    for (const int32_t f : d.forms) ++counts[static_cast<size_t>(form_ids_[static_cast<size_t>(f)])];
    return true;
  });
}

void DocumentSource::set_vocabulary(const std::vector<int32_t>& form_to_word) {
  word_ids_.resize(form_ids_.size());
  for (size_t f = 0; f < form_ids_.size(); ++f) word_ids_[f] = form_to_word[static_cast<size_t>(form_ids_[f])];
}

void DocumentSource::encode_forms(const InternedDocument& source, EncodedDocument& out) const {
  out.word_ids.resize(source.forms.size());
  for (size_t k = 0; k < source.forms.size(); ++k) out.word_ids[k] = word_ids_[static_cast<size_t>(source.forms[k])];
  out.sentence_lengths = source.sentence_lengths;
  out.label = source.label >= 0 ? label_ids_[static_cast<size_t>(source.label)] : -1;
  out.targets.clear();
  if (!multi_label_) return;
  for (const int32_t t : source.targets)
    out.targets.push_back(static_cast<int32_t>(label_ids_[static_cast<size_t>(t)]));
  if (out.targets.empty()) out.targets.push_back(static_cast<int32_t>(out.label));
}

void DocumentSource::encode(int64_t i, EncodedDocument& out) const {
  if (!records_) return encode_forms(documents_[static_cast<size_t>(i)], out);
  thread_local InternedDocument read;
  records_->read(i, read);
  encode_forms(read, out);
}

void DocumentSource::for_each(const std::vector<int64_t>& members,
                              const std::function<bool(const EncodedDocument&)>& visit) const {
  EncodedDocument encoded;
  scan(members, [&](const InternedDocument& d) {
    encode_forms(d, encoded);
    return visit(encoded);
  });
}

DocumentSet DocumentSet::all(std::shared_ptr<const DocumentSource> source) {
  DocumentSet set;
  set.members.resize(static_cast<size_t>(source->size()));
  std::iota(set.members.begin(), set.members.end(), 0);
  set.source = std::move(source);
  return set;
}

std::vector<int32_t> DocumentSet::sentence_counts() const {
  std::vector<int32_t> counts;
  counts.reserve(members.size());
  for (const int64_t i : members) counts.push_back(source->sentences(i));
  return counts;
}

DocumentSet DocumentSet::slice(int64_t begin, int64_t end) const {
  return {source, {members.begin() + begin, members.begin() + end}};
}

DocumentSet DocumentSet::subset(const std::vector<size_t>& picked) const {
  DocumentSet set{source, {}};
  set.members.reserve(picked.size());
  for (const size_t k : picked) set.members.push_back(members[k]);
  return set;
}

void DocumentSet::fetch(const std::vector<int64_t>& positions, std::vector<EncodedDocument>& out) const {
  out.resize(positions.size());
  for (size_t k = 0; k < positions.size(); ++k) source->encode(members[static_cast<size_t>(positions[k])], out[k]);
}

}  // namespace han
