#include "han/data/encode.h"

#include <algorithm>
#include <atomic>
#include <numeric>

#include "han/base/hash.h"

namespace han {

EncodedDocument encode_document(const TokenizedDocument& document, const Vocabulary& vocabulary, int64_t label) {
  EncodedDocument encoded;
  encoded.label = label;
  for (const Sentence& sentence : document.sentences) {
    if (sentence.words.empty()) continue;
    for (const Token& token : sentence.words) encoded.word_ids.push_back(vocabulary.id(token.form));
    encoded.sentence_lengths.push_back(static_cast<int32_t>(sentence.words.size()));
  }
  if (encoded.sentence_lengths.empty()) {
    encoded.word_ids.push_back(Vocabulary::kUnk);
    encoded.sentence_lengths.push_back(1);
  }
  return encoded;
}

std::vector<std::vector<int64_t>> bucket_batches(const std::vector<EncodedDocument>& documents, int batch_size,
                                                 std::mt19937_64* rng) {
  std::vector<int32_t> sentences;
  sentences.reserve(documents.size());
  for (const EncodedDocument& d : documents) sentences.push_back(static_cast<int32_t>(d.sentence_lengths.size()));
  return bucket_batches(sentences, batch_size, rng);
}

std::vector<std::vector<int64_t>> bucket_batches(const std::vector<int32_t>& sentences, int batch_size,
                                                 std::mt19937_64* rng) {
  std::vector<int64_t> order(sentences.size());
  std::iota(order.begin(), order.end(), 0);
  if (rng) std::shuffle(order.begin(), order.end(), *rng);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return sentences[static_cast<size_t>(a)] < sentences[static_cast<size_t>(b)];
  });
  std::vector<std::vector<int64_t>> batches;
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(order.size(), start + static_cast<size_t>(batch_size));
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(start),
                         order.begin() + static_cast<std::ptrdiff_t>(end));
  }
  if (rng) std::shuffle(batches.begin(), batches.end(), *rng);
  return batches;
}

namespace {

// Forms are short, and the low bits pick the slot: mix after hashing.
uint64_t hash_form(std::string_view form) { return mix_bits(fnv1a(form)); }

}  // namespace

FormTable::FormTable() : slots_(1024, -1) {}

int32_t FormTable::intern(std::string_view form) {
  const uint64_t hash = hash_form(form);
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const int32_t id = slots_[i];
    if (id < 0) {
      const auto added = static_cast<int32_t>(hashes_.size());
      slots_[i] = added;
      hashes_.push_back(hash);
      arena_.append(form);
      offsets_.push_back(arena_.size());
      if (hashes_.size() * 2 > slots_.size()) grow();  // load under one half
      return added;
    }
    if (hashes_[static_cast<size_t>(id)] == hash && this->form(id) == form) return id;
  }
}

void FormTable::grow() {
  std::vector<int32_t> slots(slots_.size() * 2, -1);
  const size_t mask = slots.size() - 1;
  for (size_t id = 0; id < hashes_.size(); ++id) {
    size_t i = hashes_[id] & mask;
    while (slots[i] >= 0) i = (i + 1) & mask;
    slots[i] = static_cast<int32_t>(id);
  }
  slots_ = std::move(slots);
}

WordCounter count_forms(const FormTable& table, const std::vector<InternedDocument>& documents) {
  std::vector<int64_t> counts(static_cast<size_t>(table.size()), 0);
  for (const auto& d : documents)
    for (int32_t f : d.forms) ++counts[static_cast<size_t>(f)];
  WordCounter counter;
  for (int32_t f = 0; f < table.size(); ++f)
    if (counts[static_cast<size_t>(f)] > 0) counter.add(std::string(table.form(f)), counts[static_cast<size_t>(f)]);
  return counter;
}

std::vector<int32_t> vocabulary_ids(const FormTable& table, const Vocabulary& vocabulary) {
  std::vector<int32_t> ids(static_cast<size_t>(table.size()));
  for (int32_t f = 0; f < table.size(); ++f) ids[static_cast<size_t>(f)] = vocabulary.id(std::string(table.form(f)));
  return ids;
}

std::vector<InternedDocument> intern_documents(const std::vector<Document>& documents, const TextOptions& options,
                                               int threads, FormTable& table, TextReport& report,
                                               const std::function<void(int64_t)>& on_done) {
  threads = std::max(1, threads);
  std::vector<InternedDocument> out(documents.size());
  std::vector<FormTable> local(static_cast<size_t>(threads));
  std::vector<TextReport> counts(static_cast<size_t>(threads));
  std::atomic<int64_t> done{0};
  // Only the forms: surface text, spans and sentence text are never needed here.
  run_tokenizers(
      documents.size(), [&](size_t i) { return std::string_view(documents[i].text); }, options, threads,
      [&](int worker, size_t index, Tokenizer& tokenizer, std::string_view text) {
        FormTable& forms = local[static_cast<size_t>(worker)];
        TextReport& c = counts[static_cast<size_t>(worker)];
        InternedDocument& doc = out[index];
        const Tokenizer::Cuts cuts = tokenizer.tokenize_forms(
            text, [&](std::string_view form) { doc.forms.push_back(forms.intern(form)); },
            [&](int32_t words) { doc.sentence_lengths.push_back(words); });
        c.tokens += static_cast<int64_t>(doc.forms.size());
        c.empty_documents += doc.sentence_lengths.empty();
        c.sentences_cut += cuts.sentences;
        c.words_cut += cuts.words;
        c.bytes_cut += cuts.bytes;
        c.truncated_documents += (cuts.sentences > 0 || cuts.words > 0 || cuts.bytes > 0);
        const int64_t finished = done.fetch_add(1, std::memory_order_relaxed) + 1;
        // Only worker 0 is the calling thread: it reports after every 256 of its documents.
        if (worker == 0 && on_done && (index / static_cast<size_t>(threads)) % 256 == 255) on_done(finished);
      });
  // Local ids to `table`'s, worker by worker: worker w interned documents i % threads == w.
  std::vector<std::vector<int32_t>> to_table(static_cast<size_t>(threads));
  for (size_t w = 0; w < local.size(); ++w) {
    for (int32_t id = 0; id < local[w].size(); ++id) to_table[w].push_back(table.intern(local[w].form(id)));
  }
  for (size_t i = 0; i < out.size(); ++i) {
    const auto& map = to_table[i % static_cast<size_t>(threads)];
    for (int32_t& f : out[i].forms) f = map[static_cast<size_t>(f)];
  }
  report.documents += static_cast<int64_t>(documents.size());
  for (const TextReport& c : counts) {
    report.tokens += c.tokens;
    report.empty_documents += c.empty_documents;
    report.sentences_cut += c.sentences_cut;
    report.words_cut += c.words_cut;
    report.bytes_cut += c.bytes_cut;
    report.truncated_documents += c.truncated_documents;
  }
  if (on_done) on_done(static_cast<int64_t>(documents.size()));
  return out;
}

EncodedDocument encode_interned(const InternedDocument& doc, const std::vector<int32_t>& form_to_word) {
  EncodedDocument encoded;
  encoded.label = doc.label;
  encoded.targets = doc.targets;
  encoded.sentence_lengths = doc.sentence_lengths;
  encoded.word_ids.reserve(doc.forms.size());
  for (int32_t form : doc.forms) encoded.word_ids.push_back(form_to_word[static_cast<size_t>(form)]);
  return encoded;
}

EncodedDocument encode_interned(InternedDocument&& doc, const std::vector<int32_t>& form_to_word) {
  EncodedDocument encoded;
  encoded.label = doc.label;
  encoded.targets = std::move(doc.targets);
  encoded.sentence_lengths = std::move(doc.sentence_lengths);
  encoded.word_ids = std::move(doc.forms);
  for (int32_t& id : encoded.word_ids) id = form_to_word[static_cast<size_t>(id)];
  return encoded;
}

}  // namespace han
