// Training, inference and export on the synthetic corpus; the demo's learning test.
#include "torch_catch.h"

#include "compare_explanations.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "han/data/synthetic.h"
#include "han/demo/demo.h"
#include "han/infer/explain.h"
#include "han/infer/inference.h"
#include "han/infer/metrics.h"
#include "han/model/model_file.h"
#include "han/train/train.h"

using namespace han;

namespace {

Config small_config() {
  Config c;
  c.model.embedding_dim = 32;
  c.model.word_hidden = 16;
  c.model.sentence_hidden = 16;
  c.model.word_attention = 16;
  c.model.sentence_attention = 16;
  c.train.optimizer = "adam";
  c.train.learning_rate = 0.005;
  c.train.epochs = 4;
  c.train.min_count = 2;
  c.train.threads = 2;
  c.train.seed = 3;
  return c;
}

Corpus corpus_of(const std::vector<SyntheticDocument>& docs, size_t begin, size_t end) {
  Corpus corpus;
  corpus.path = "synthetic";
  for (size_t i = begin; i < end; ++i) corpus.documents.push_back(docs[i].document);
  return corpus;
}

// `corpus` encoded with `model`'s tokenizer, vocabulary and labels.
std::vector<EncodedDocument> encode_corpus(const Corpus& corpus, const Model& model) {
  Tokenizer tokenizer(model.config.text);
  std::vector<EncodedDocument> encoded;
  for (const Document& d : corpus.documents) {
    encoded.push_back(encode_document(tokenizer.tokenize(d.text), model.vocabulary, model.labels.id(d.label)));
  }
  return encoded;
}

// The demo's own run (its corpus, settings and held-out documents) for the
// tests below, in a folder removed at exit; training takes a few seconds.
struct Trained {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("han-demo-test-" + std::to_string(::getpid()));
  DemoResult demo = run_demo(options(dir));
  Model model = load_model(demo.model_path);
  ~Trained() { std::filesystem::remove_all(dir); }
  static DemoOptions options(const std::filesystem::path& dir) {
    DemoOptions o;
    o.output_dir = dir.string();
    o.config.train.threads = 2;
    return o;
  }
  Corpus heldout(size_t count) const {
    Corpus corpus;
    for (size_t i = 0; i < count && i < demo.heldout.size(); ++i) corpus.documents.push_back(demo.heldout[i].document);
    return corpus;
  }
};

Trained& trained() {
  static Trained t;
  return t;
}

}  // namespace

TEST_CASE("on the demo, HAN learns every genre and reads its cue sentence and cue word") {
  const DemoResult& demo = trained().demo;
  REQUIRE(demo.scores.size() == synthetic_labels().size());
  for (const CueScores& s : demo.scores) {
    INFO(s.label << ": " << s.documents << " documents, accuracy " << s.accuracy << ", cue sentence on top "
                 << s.cue_sentence_top << ", its median share " << s.cue_sentence_median << ", cue word on top "
                 << s.cue_word_top);
    CHECK(s.documents >= 200);
    CHECK(s.accuracy >= 0.95);
    CHECK(s.cue_sentence_top >= 0.90);
    CHECK(s.cue_sentence_median >= 0.50);
    CHECK(s.cue_word_top >= 0.90);
  }
}

TEST_CASE("the tokenizer finds the generator's sentences, so the cue marks point at the right one") {
  const DemoResult& demo = trained().demo;
  for (size_t i = 0; i < demo.heldout.size(); ++i) {
    const auto& d = demo.heldout[i];
    const auto& sentences = demo.explanations[i].tokens.sentences;
    const auto terminators =
        std::count_if(d.document.text.begin(), d.document.text.end(), [](char c) { return c == '.' || c == '!'; });
    REQUIRE(sentences.size() == static_cast<size_t>(terminators));
    const auto& words = sentences[static_cast<size_t>(d.cue_sentence)].words;
    REQUIRE(std::count_if(words.begin(), words.end(), [&](const Token& w) { return w.form == d.cue_word; }) == 1);
  }
}

TEST_CASE("score_cues counts a miss when the prediction or the attention is elsewhere") {
  const DemoResult& demo = trained().demo;
  const LabelSet& labels = trained().model.labels;
  std::vector<SyntheticDocument> docs(demo.heldout.begin(), demo.heldout.begin() + 30);
  std::vector<Explanation> wrong(demo.explanations.begin(), demo.explanations.begin() + 30);
  for (size_t i = 0; i < docs.size(); ++i) {
    Explanation& e = wrong[i];
    const auto cue = static_cast<size_t>(docs[i].cue_sentence);
    const size_t other = cue == 0 ? 1 : 0;  // every document has 4 sentences or more
    e.prediction.label = (labels.id(docs[i].document.label) + 1) % labels.size();
    std::fill(e.sentence_weights.begin(), e.sentence_weights.end(), 0.0f);
    e.sentence_weights[other] = 1;
    std::fill(e.word_weights[cue].begin(), e.word_weights[cue].end(), 0.0f);
    for (size_t w = 0; w < e.word_weights[cue].size(); ++w)
      if (e.tokens.sentences[cue].words[w].form != docs[i].cue_word) e.word_weights[cue][w] = 1;
  }
  for (const CueScores& s : score_cues(docs, wrong, labels)) {
    CHECK(s.documents == 10);
    CHECK(s.accuracy == 0);
    CHECK(s.cue_sentence_top == 0);
    CHECK(s.cue_sentence_median == 0);
    CHECK(s.cue_word_top == 0);
  }
  for (const CueScores& s :
       score_cues(docs, std::vector<Explanation>(demo.explanations.begin(), demo.explanations.begin() + 30), labels)) {
    CHECK(s.documents == 10);
    CHECK(s.cue_sentence_top > 0);
  }
}

TEST_CASE("the demo's configuration names every setting, so the general defaults cannot change it") {
  const nlohmann::json pinned = demo_config_json();
  const nlohmann::json defaults = to_json(Config{});  // items() refers to it: it must outlive the loop
  for (const auto& [section, keys] : defaults.items()) {
    for (const auto& [key, value] : keys.items()) {
      INFO(section << "." << key);
      CHECK(pinned.contains(section));
      CHECK((pinned.contains(section) && pinned[section].contains(key)));
    }
  }
  CHECK(to_json(demo_config()) == pinned);
}

TEST_CASE("training reports its split, vocabulary and one summary per epoch") {
  Trained& t = trained();
  const TrainingReport& report = t.demo.training;
  CHECK(report.train_documents == 1799);  // stratified: 67 + 67 + 67 of 667, 667 and 666
  CHECK(report.valid_documents == 201);
  CHECK(report.epochs.size() == static_cast<size_t>(demo_config().train.epochs));
  CHECK(report.best_epoch >= 1);
  CHECK(report.epochs[static_cast<size_t>(report.best_epoch - 1)].best);
  CHECK(report.vocabulary_size == t.model.vocabulary.size());
  CHECK(t.model.labels.names() == synthetic_labels());
}

TEST_CASE("explanations: weights sum to one, spans point into the text, scores follow the paper") {
  Trained& t = trained();
  Document d;
  d.text = "The camera looks at the harbour. <br /><br />I found the second half truly hilarious. The crew leaves.";
  d.origin = "inline";
  d.label = "comedy";
  Predictor predictor(t.model);
  Explanation e = predictor.explain({d})[0];
  REQUIRE(e.tokens.sentences.size() == 3);
  float sentence_sum = 0;
  for (size_t s = 0; s < 3; ++s) {
    sentence_sum += e.sentence_weights[s];
    float word_sum = 0;
    for (float w : e.word_weights[s]) word_sum += w;
    CHECK(word_sum == Approx(1.0f).margin(1e-5));
  }
  CHECK(sentence_sum == Approx(1.0f).margin(1e-5));

  auto json = explanation_to_json(e, d, t.model.labels);
  CHECK(json["schema_version"] == kExplanationSchemaVersion);
  CHECK(json["label"] == "comedy");
  CHECK(json["gold"] == "comedy");
  CHECK(json["correct"] == true);
  const auto& word = json["sentences"][1]["words"][6];
  CHECK(word["token"] == "hilarious");
  const int64_t begin = word["span"][0], end = word["span"][1];
  CHECK(d.text.substr(static_cast<size_t>(begin), static_cast<size_t>(end - begin)) == "hilarious");  // ASCII text
  CHECK(word["score"].get<double>() ==
        Approx(std::sqrt(json["sentences"][1]["weight"].get<double>()) * word["weight"].get<double>()));
  double p = 0;
  for (auto& [label, value] : json["probabilities"].items()) p += value.get<double>();
  CHECK(p == Approx(1.0).margin(1e-5));
}

TEST_CASE("explain on a mean- or max-pooled model says its weights are not attention") {
  Trained& t = trained();
  Document d;
  d.text = "The camera looks at the harbour. I found the second half truly hilarious.";
  CHECK(explanation_to_json(Predictor(t.model).explain({d})[0], d, t.model.labels)["pooling"] == "attention");
  for (const char* pooling : {"mean", "max"}) {
    INFO("pooling " << pooling);
    Config config = t.model.config;
    config.model.pooling = pooling;
    const Model model = make_model(config, t.model.vocabulary, t.model.labels);
    const Explanation e = Predictor(model).explain({d})[0];
    REQUIRE(e.tokens.sentences.size() == 2);
    const double features = 2.0 * config.model.word_hidden;
    for (size_t s = 0; s < 2; ++s) {
      double sum = 0;
      for (float w : e.word_weights[s]) {
        sum += w;
        if (std::string(pooling) == "mean") {
          CHECK(w == Approx(1.0 / static_cast<double>(e.word_weights[s].size())).margin(1e-6));
        } else {
          CHECK(w * features == Approx(std::round(w * features)).margin(1e-3));  // whole features
        }
      }
      CHECK(sum == Approx(1.0).margin(1e-5));
    }
    const auto json = explanation_to_json(e, d, model.labels);
    CHECK(json["pooling"] == pooling);
    const std::string summary = summarize_explanation(e, model.labels);
    CHECK_THAT(summary,
               Catch::Contains(std::string(pooling) == "mean" ? "no attention" : "max pooling, not attention"));
  }
}

TEST_CASE("LibTorch's modules (the GPU path) answer as the fused kernels do") {
  Trained& t = trained();
  Corpus test = t.heldout(100);
  const Predictor fused(t.model, 16, 2);
  const Predictor modules(t.model, 16, 2, torch::kCPU, /*modules_on_cpu=*/true);
  const auto a = fused.explain(test.documents);
  const auto b = modules.explain(test.documents);
  const double worst = largest_explanation_difference(a, b);
  INFO("largest difference " << worst);
  CHECK(worst < 1e-5);
}

TEST_CASE("the loss scaler unscales, skips overflowing steps, halves, and grows after good ones") {
  LossScaler scaler(1024, 3);
  torch::Tensor p = torch::zeros({3}).requires_grad_(true);
  p.mutable_grad() = torch::tensor({2048.0f, -1024.0f, 0.0f});
  CHECK(scaler.unscale({p}));
  CHECK(torch::equal(p.grad(), torch::tensor({2.0f, -1.0f, 0.0f})));
  p.mutable_grad() = torch::tensor({1.0f, std::numeric_limits<float>::infinity(), 0.0f});
  CHECK_FALSE(scaler.unscale({p}));
  p.mutable_grad() = torch::tensor({1.0f, std::nanf(""), 0.0f});
  CHECK_FALSE(scaler.unscale({p}));
  scaler.update(false);
  CHECK(scaler.scale() == 512);
  scaler.update(true);
  scaler.update(true);
  CHECK(scaler.scale() == 512);
  scaler.update(true);
  CHECK(scaler.scale() == 1024);  // the third good step in a row
  for (int i = 0; i < 40; ++i) scaler.update(false);
  CHECK(scaler.scale() == 1);  // never below 1
}

TEST_CASE("an empty document still gets a prediction and an empty explanation") {
  Trained& t = trained();
  Document empty;
  empty.origin = "empty";
  Predictor predictor(t.model);
  Explanation e = predictor.explain({empty})[0];
  CHECK(e.tokens.sentences.empty());
  CHECK(e.prediction.probabilities.size() == 3);
  CHECK(explanation_to_json(e, empty, t.model.labels)["sentences"].empty());
  // predict() says it was empty, and what the caps cut from a long one.
  Document punctuation{" \n\t ", "", "blank"};
  std::string text;
  for (int s = 0; s < 100; ++s) text += "The crew leaves the harbour. ";
  Document longer{text, "", "long"};
  const auto predictions = predictor.predict({empty, punctuation, longer});
  CHECK(predictions[0].empty);
  CHECK(predictions[1].empty);
  CHECK_FALSE(predictions[2].empty);
  CHECK(predictions[2].sentences_cut == 100 - t.model.config.text.max_sentences);
}

TEST_CASE("batch size does not change predictions") {
  Trained& t = trained();
  Corpus test = t.heldout(100);
  auto one = Predictor(t.model, 1).predict(test.documents);
  auto many = Predictor(t.model, 64).predict(test.documents);
  for (size_t i = 0; i < one.size(); ++i) {
    CHECK(one[i].label == many[i].label);
    CHECK(one[i].probabilities[1] == Approx(many[i].probabilities[1]).margin(1e-5));
  }
}

TEST_CASE("word dropout replaces the given share of words by UNK, the same way for the same seed") {
  EncodedDocument document;
  for (int32_t i = 0; i < 20000; ++i) document.word_ids.push_back(2 + i % 500);
  document.sentence_lengths = {10000, 10000};
  document.label = 4;

  const EncodedDocument kept = drop_words(document, 0.0, 7);
  CHECK(kept.word_ids == document.word_ids);

  const EncodedDocument dropped = drop_words(document, 0.25, 7);
  CHECK(dropped.sentence_lengths == document.sentence_lengths);
  CHECK(dropped.label == 4);
  REQUIRE(dropped.word_ids.size() == document.word_ids.size());
  int64_t unk = 0, changed_otherwise = 0;  // a word either stays or becomes UNK
  for (size_t i = 0; i < dropped.word_ids.size(); ++i) {
    if (dropped.word_ids[i] == Vocabulary::kUnk) {
      ++unk;
    } else if (dropped.word_ids[i] != document.word_ids[i]) {
      ++changed_otherwise;
    }
  }
  CHECK(changed_otherwise == 0);
  // 20,000 draws at 0.25: the standard deviation is about 61 words.
  CHECK(unk > 4700);
  CHECK(unk < 5300);
  CHECK(drop_words(document, 0.25, 7).word_ids == dropped.word_ids);
  CHECK(drop_words(document, 0.25, 8).word_ids != dropped.word_ids);
}

TEST_CASE("sentence dropout leaves whole sentences out, keeps at least one, and is seeded") {
  EncodedDocument document;
  for (int32_t sentence = 0; sentence < 2000; ++sentence) {
    const int32_t length = 1 + sentence % 3;  // sentence s holds the id 2 + s, `length` times
    document.word_ids.insert(document.word_ids.end(), static_cast<size_t>(length), 2 + sentence);
    document.sentence_lengths.push_back(length);
  }
  document.label = 3;
  document.targets = {3, 5};  // a multi-label document's labels

  CHECK(drop_sentences(document, 0.0, 7).word_ids == document.word_ids);

  const EncodedDocument dropped = drop_sentences(document, 0.25, 7);
  CHECK(dropped.label == 3);
  CHECK(dropped.targets == std::vector<int32_t>{3, 5});
  // Each kept sentence is whole and in order: its words match its length.
  size_t offset = 0;
  int32_t previous = 1;
  bool whole = true;
  for (const int32_t length : dropped.sentence_lengths) {
    const int32_t id = dropped.word_ids[offset];
    whole = whole && id > previous && length == 1 + (id - 2) % 3;
    for (int32_t i = 0; i < length; ++i) whole = whole && dropped.word_ids[offset + static_cast<size_t>(i)] == id;
    offset += static_cast<size_t>(length);
    previous = id;
  }
  CHECK(whole);
  CHECK(offset == dropped.word_ids.size());
  // 2,000 draws at 0.25: the standard deviation is about 19 sentences.
  CHECK(dropped.sentence_lengths.size() > 1420);
  CHECK(dropped.sentence_lengths.size() < 1580);
  CHECK(drop_sentences(document, 0.25, 7).word_ids == dropped.word_ids);
  CHECK(drop_sentences(document, 0.25, 8).word_ids != dropped.word_ids);

  // A rate close to 1 still leaves one sentence; a one-sentence document is never touched.
  const EncodedDocument nearly_all = drop_sentences(document, 0.9999, 7);
  CHECK(nearly_all.sentence_lengths.size() >= 1);
  EncodedDocument single;
  single.word_ids = {5, 6, 7};
  single.sentence_lengths = {3};
  CHECK(drop_sentences(single, 0.9999, 7).word_ids == single.word_ids);
}

TEST_CASE("word and sentence dropout change what training learns, repeatably") {
  auto docs = make_synthetic_corpus(200, 5);
  Config c = small_config();
  c.train.epochs = 1;
  Model plain = train_model(corpus_of(docs, 0, 200), nullptr, c);
  c.train.word_dropout = 0.3;
  Model a = train_model(corpus_of(docs, 0, 200), nullptr, c);
  Model b = train_model(corpus_of(docs, 0, 200), nullptr, c);
  c.train.sentence_dropout = 0.3;
  Model with_sentences = train_model(corpus_of(docs, 0, 200), nullptr, c);
  Model with_sentences_again = train_model(corpus_of(docs, 0, 200), nullptr, c);
  auto ps = with_sentences.network->parameters();
  auto ps_again = with_sentences_again.network->parameters();
  bool sentences_differ = false;
  auto pa = a.network->parameters();
  auto pb = b.network->parameters();
  auto pp = plain.network->parameters();
  bool differs_from_plain = false;
  for (size_t i = 0; i < pa.size(); ++i) {
    CHECK(torch::equal(pa[i], pb[i]));
    differs_from_plain = differs_from_plain || !torch::equal(pa[i], pp[i]);
    CHECK(torch::equal(ps[i], ps_again[i]));
    sentences_differ = sentences_differ || !torch::equal(ps[i], pa[i]);
  }
  CHECK(differs_from_plain);
  CHECK(sentences_differ);
}

TEST_CASE("training with a fixed seed is repeatable") {
  auto docs = make_synthetic_corpus(200, 5);
  Config c = small_config();
  c.train.epochs = 1;
  Model a = train_model(corpus_of(docs, 0, 200), nullptr, c);
  Model b = train_model(corpus_of(docs, 0, 200), nullptr, c);
  auto pa = a.network->parameters();
  auto pb = b.network->parameters();
  for (size_t i = 0; i < pa.size(); ++i) CHECK(torch::equal(pa[i], pb[i]));
}

TEST_CASE("bad training input gives clear errors") {
  auto docs = make_synthetic_corpus(20, 5);
  Corpus one_label = corpus_of(docs, 0, 20);
  for (auto& d : one_label.documents) d.label = "positive";
  CHECK_THROWS_WITH(train_model(one_label, nullptr, small_config()), Catch::Contains("at least 2 labels"));

  Corpus train = corpus_of(docs, 0, 20);
  Corpus valid = corpus_of(docs, 0, 2);
  valid.documents[1].label = "sideways";
  valid.documents[1].origin = "valid.jsonl:2";
  CHECK_THROWS_WITH(train_model(train, &valid, small_config()),
                    Catch::Contains("valid.jsonl:2: label 'sideways' does not occur"));

  Model model = trained().model;
  Corpus unknown = corpus_of(docs, 0, 2);
  unknown.documents[0].label = "maybe";
  CHECK_THROWS_WITH(evaluate(model, unknown), Catch::Contains("label 'maybe' is not one the model knows"));
}

TEST_CASE("swapped text and label fields stop training with a hint") {
  auto docs = make_synthetic_corpus(120, 5);
  Corpus swapped = corpus_of(docs, 0, 120);
  for (auto& d : swapped.documents) std::swap(d.text, d.label);
  CHECK_THROWS_WITH(train_model(swapped, nullptr, small_config()),
                    Catch::Contains("120 of 120 documents have a label of their own") &&
                        Catch::Contains("are the text and label fields swapped?"));
  // A category column read as the text: 3 distinct texts among 120 documents.
  Corpus categories = corpus_of(docs, 0, 120);
  for (size_t i = 0; i < categories.documents.size(); ++i) {
    categories.documents[i].text = "category " + std::to_string(i % 3);
  }
  CHECK_THROWS_WITH(train_model(categories, nullptr, small_config()),
                    Catch::Contains("120 documents hold only 3 distinct texts"));
  // Below the thresholds, small corpora train: 19 documents with a label each is not judged.
  Corpus small = corpus_of(docs, 0, 19);
  for (size_t i = 0; i < small.documents.size(); ++i) small.documents[i].label = "l" + std::to_string(i);
  Config c = small_config();
  c.train.epochs = 1;
  CHECK_NOTHROW(train_model(small, nullptr, c));
}

TEST_CASE("multi-label metrics against hand-computed values") {
  // Three documents, labels a, b, c; thresholds 0.5.
  //   gold {a, b}, probabilities a .9 b .2 c .6 -> predicted {a, c}: TP a, FN b, FP c
  //   gold {c},    probabilities a .1 b .3 c .7 -> predicted {c}:    TP c
  //   gold {b},    probabilities a .6 b .4 c .1 -> predicted {a}:    FP a, FN b
  const std::vector<std::vector<int32_t>> gold{{0, 1}, {2}, {1}};
  const std::vector<std::vector<float>> p{{0.9f, 0.2f, 0.6f}, {0.1f, 0.3f, 0.7f}, {0.6f, 0.4f, 0.1f}};
  const auto r = compute_multilabel_metrics(gold, p, {0.5f, 0.5f, 0.5f}, {"a", "b", "c"});
  // TP 2, FP 2, FN 2.
  CHECK(r.micro.precision == Approx(0.5));
  CHECK(r.micro.recall == Approx(0.5));
  CHECK(r.micro.f1 == Approx(0.5));
  // a: P 1/2 R 1 F1 2/3; b: 0 0 0; c: P 1/2 R 1 F1 2/3.
  CHECK(r.classes[0].f1 == Approx(2.0 / 3));
  CHECK(r.classes[1].f1 == Approx(0.0));
  CHECK(r.classes[1].support == 2);
  CHECK(r.macro.f1 == Approx(4.0 / 9));
  // Example F1: 2*1/(2+2), 2*1/(1+1), 0.
  CHECK(r.example_f1 == Approx((0.5 + 1.0 + 0.0) / 3));
  CHECK(r.hamming_loss == Approx(4.0 / 9));
  CHECK(r.subset_accuracy == Approx(1.0 / 3));
  // P@1: a right, c right, a wrong; R@1: 1/2, 1, 0. P@3 = (2 + 1 + 1) / 9.
  CHECK(r.precision_at[0] == Approx(2.0 / 3));
  CHECK(r.recall_at[0] == Approx(0.5));
  CHECK(r.precision_at[1] == Approx(4.0 / 9));
  CHECK(r.recall_at[1] == Approx(1.0));
  CHECK(to_json(r)["micro"]["f1"] == Approx(0.5));
  CHECK(to_json(r)["precision_at_1"] == Approx(2.0 / 3));
  CHECK(format_report(r).find("Hamming loss") != std::string::npos);
  // Lower b's threshold to 0.2: b is predicted for documents 1 and 3 (TP), and for 2 (FP).
  const auto lowered = compute_multilabel_metrics(gold, p, {0.5f, 0.2f, 0.5f}, {"a", "b", "c"});
  CHECK(lowered.classes[1].recall == Approx(1.0));
  CHECK(lowered.classes[1].precision == Approx(2.0 / 3));
}

TEST_CASE("thresholds are tuned for micro-F1, and per label where it has examples") {
  // Label 0 is carried when its probability is over 0.3, label 1 over 0.8;
  // label 2 has too few examples for a threshold of its own.
  std::vector<std::vector<int32_t>> gold;
  std::vector<std::vector<float>> p;
  for (int i = 0; i < 40; ++i) {
    const float x = static_cast<float>(i) / 40.0f + 0.01f;
    std::vector<int32_t> labels;
    if (x > 0.3f) labels.push_back(0);
    if (x > 0.8f) labels.push_back(1);
    if (i == 39) labels.push_back(2);
    gold.push_back(labels);
    p.push_back({x, x, i == 39 ? 0.9f : 0.0f});
  }
  const Thresholds t = tune_thresholds(gold, p, 3, 5);
  REQUIRE(t.per_label.size() == 3);
  CHECK(t.per_label[0] == Approx(0.35).margin(0.051));
  CHECK(t.per_label[1] == Approx(0.85).margin(0.051));
  CHECK(t.per_label[2] == t.global);  // one example: the global threshold
  CHECK(t.tuned_labels == 2);
  const auto tuned = compute_multilabel_metrics(gold, p, t.per_label, {"a", "b", "c"});
  const auto half = compute_multilabel_metrics(gold, p, {0.5f, 0.5f, 0.5f}, {"a", "b", "c"});
  CHECK(tuned.micro.f1 > half.micro.f1);
  CHECK(tuned.classes[0].f1 == Approx(1.0));
  CHECK(tuned.classes[1].f1 == Approx(1.0));
}

TEST_CASE("metrics: accuracy, per-class scores, macro-F1 and the confusion matrix") {
  // gold:      0 0 0 1 1 2
  // predicted: 0 0 1 1 2 2
  auto r = compute_metrics({0, 0, 0, 1, 1, 2}, {0, 0, 1, 1, 2, 2}, {"a", "b", "c"});
  CHECK(r.accuracy == Approx(4.0 / 6));
  CHECK(r.confusion[0] == std::vector<int64_t>{2, 1, 0});
  CHECK(r.confusion[1] == std::vector<int64_t>{0, 1, 1});
  CHECK(r.classes[0].precision == Approx(1.0));
  CHECK(r.classes[0].recall == Approx(2.0 / 3));
  CHECK(r.classes[1].precision == Approx(0.5));
  CHECK(r.classes[2].f1 == Approx(2 * 0.5 * 1.0 / 1.5));
  CHECK(r.macro_f1 == Approx((0.8 + 0.5 + 2.0 / 3) / 3));
  CHECK(format_report(r).find("confusion") != std::string::npos);
  CHECK(to_json(r)["confusion"][2][2] == 1);
  // The averages scikit-learn's classification_report gives for these labels.
  CHECK(r.macro.precision == Approx(2.0 / 3));
  CHECK(r.macro.recall == Approx(13.0 / 18));
  CHECK(r.macro.f1 == Approx(0.655556).epsilon(1e-5));
  CHECK(r.weighted.precision == Approx(0.75));
  CHECK(r.weighted.recall == Approx(4.0 / 6));
  CHECK(r.weighted.f1 == Approx(0.677778).epsilon(1e-5));
  CHECK(to_json(r)["weighted_avg"]["precision"] == Approx(0.75));
  CHECK(format_report(r).find("weighted avg") != std::string::npos);
}

TEST_CASE("class weights: none, balanced as scikit-learn's, or a JSON file, with errors that name the problem") {
  const LabelSet labels = LabelSet::build({"big", "other", "rare", "tiny"});
  const std::vector<int64_t> counts = {1000, 1000, 30, 5};
  CHECK(class_weights_for("none", labels, counts).empty());
  const auto balanced = class_weights_for("balanced", labels, counts);
  REQUIRE(balanced.size() == 4);
  CHECK(balanced[0] == Approx(2035.0 / (4 * 1000)));
  CHECK(balanced[2] == Approx(2035.0 / (4 * 30)));
  CHECK(balanced[3] == Approx(2035.0 / (4 * 5)));
  // Weighted by these, every class holds the same share of the loss.
  CHECK(balanced[3] * 5 == Approx(balanced[0] * 1000));

  const auto dir = std::filesystem::temp_directory_path() / ("han-weights-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = [&](const std::string& name, const std::string& text) {
    const auto path = (dir / name).string();
    std::ofstream(path) << text;
    return path;
  };
  const auto given = class_weights_for(file("w.json", R"({"tiny": 8, "rare": 0.5})"), labels, counts);
  CHECK(given == std::vector<float>{1, 1, 0.5f, 8});
  CHECK_THROWS_WITH(class_weights_for(file("unknown.json", R"({"huge": 2})"), labels, counts),
                    Catch::Contains("label 'huge' is not in the training data"));
  CHECK_THROWS_WITH(class_weights_for(file("negative.json", R"({"tiny": -1})"), labels, counts),
                    Catch::Contains("finite number of 0 or more"));
  CHECK_THROWS_WITH(class_weights_for(file("list.json", "[1, 2]"), labels, counts), Catch::Contains("an object"));
  CHECK_THROWS_WITH(class_weights_for(file("bad.json", "{"), labels, counts), Catch::Contains("not JSON"));
  CHECK_THROWS_WITH(class_weights_for("blanced", labels, counts), Catch::Contains("give none, balanced"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("class weights change what training learns and are kept in the model file") {
  auto docs = make_synthetic_corpus(200, 5);
  Config c = small_config();
  c.train.epochs = 1;
  c.train.valid_fraction = 0;
  const Corpus corpus = corpus_of(docs, 0, 200);
  Model plain = train_model(corpus, nullptr, c);
  c.train.class_weights = "balanced";
  Model weighted = train_model(corpus, nullptr, c);
  CHECK(plain.class_weights.empty());
  REQUIRE(weighted.class_weights.size() == static_cast<size_t>(weighted.labels.size()));
  // The synthetic labels are not exactly balanced, so some weight is not 1.
  REQUIRE(std::any_of(weighted.class_weights.begin(), weighted.class_weights.end(),
                      [](float w) { return std::abs(w - 1.0f) > 0.01f; }));
  CHECK_FALSE(torch::equal(plain.network->parameters().back(), weighted.network->parameters().back()));
  Model reloaded = deserialize_model(serialize_model(weighted), "weighted");
  CHECK(reloaded.class_weights == weighted.class_weights);
  CHECK(describe_model(reloaded)["class_weights"].size() == weighted.class_weights.size());

  // A resumed run must train with the checkpoint's weights, not a changed file's.
  const auto dir = std::filesystem::temp_directory_path() / ("han-resume-weights-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string weights = (dir / "w.json").string();
  std::ofstream(weights) << R"({"comedy": 2})";
  c.train.class_weights = weights;
  CheckpointOptions checkpoints;
  checkpoints.path = (dir / "run.ckpt").string();
  train_model(corpus, nullptr, c, {}, nullptr, checkpoints);
  Checkpoint saved = load_checkpoint(checkpoints.path);
  REQUIRE(saved.model.class_weights.size() == 3);
  CHECK(saved.model.class_weights[static_cast<size_t>(saved.model.labels.id("comedy"))] == 2.0f);
  std::ofstream(weights) << R"({"comedy": 40})";
  CheckpointOptions resume;
  resume.resume = &saved;
  CHECK_THROWS_WITH(train_model(corpus, nullptr, c, {}, nullptr, resume), Catch::Contains("not the checkpoint's"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("both engines weigh each document's loss by its class weight alike") {
  auto docs = make_synthetic_corpus(40, 7);
  Config c = small_config();
  const Corpus corpus = corpus_of(docs, 0, 40);
  c.train.epochs = 1;
  c.train.valid_fraction = 0;
  c.train.optimizer = "sgd";
  Model model = train_model(corpus, nullptr, c);  // a vocabulary and encoded documents to step on
  const std::vector<EncodedDocument> encoded = encode_corpus(corpus, model);
  std::vector<const EncodedDocument*> batch;
  for (const auto& d : encoded) batch.push_back(&d);
  const std::vector<float> weights = {0.5f, 4.0f, 1.0f};

  // One step of each engine from the same weights; compare loss and gradients.
  auto step = [&](Engine engine, const std::vector<float>& class_weights) {
    Config config = c;
    config.train.engine = engine;
    HierarchicalAttentionNetwork network(model.config.model, model.vocabulary.size(), model.labels.size());
    {
      torch::NoGradGuard no_grad;
      auto target = network->parameters();
      const auto source = model.network->parameters();
      for (size_t i = 0; i < target.size(); ++i) target[i].copy_(source[i]);
    }
    BatchTrainer trainer(network, config, 1, {}, class_weights);
    const double loss = trainer.step(batch, 0).loss_sum;
    std::vector<torch::Tensor> gradients;
    for (const auto& p : trainer.parameters()) gradients.push_back(p.grad().clone());
    return std::pair{loss, gradients};
  };
  const auto [fused_loss, fused] = step(Engine::kFused, weights);
  const auto [reference_loss, reference] = step(Engine::kReference, weights);
  const auto [plain_loss, plain] = step(Engine::kReference, {});
  CHECK(fused_loss == Approx(reference_loss).epsilon(1e-5));
  CHECK(std::abs(plain_loss - reference_loss) > 1e-3);  // the weights did change the loss
  REQUIRE(fused.size() == reference.size());
  for (size_t k = 0; k < fused.size(); ++k) {
    // The reference engine also gives the padding row a gradient; the fused one does not.
    const torch::Tensor f = k == 0 ? fused[k].slice(0, 1) : fused[k];
    const torch::Tensor r = k == 0 ? reference[k].slice(0, 1) : reference[k];
    INFO("parameter " << k);
    CHECK((f - r).abs().max().item<double>() <= 1e-5 + 1e-4 * r.abs().max().item<double>());
  }
}

TEST_CASE("pretrained vectors: a seed gives the same ones, and frozen ones stay as pretrained") {
  auto docs = make_synthetic_corpus(200, 5);
  Config c = small_config();
  c.train.epochs = 1;
  c.train.pretrain_epochs = 3;
  c.train.freeze_embeddings = true;
  c.train.valid_fraction = 0;  // each run returns its last epoch
  const Corpus corpus = corpus_of(docs, 0, 200);
  Model a = train_model(corpus, nullptr, c);
  Model b = train_model(corpus, nullptr, c);
  const torch::Tensor vectors = a.network->word_embedding()->weight;
  CHECK(torch::equal(vectors, b.network->word_embedding()->weight));
  CHECK_FALSE(vectors.requires_grad());
  // A longer run moves the rest of the network, never the frozen vectors.
  c.train.epochs = 2;
  Model longer = train_model(corpus, nullptr, c);
  CHECK(torch::equal(vectors, longer.network->word_embedding()->weight));
  CHECK_FALSE(torch::equal(a.network->parameters().back(), longer.network->parameters().back()));
  // The vectors are pretraining's: other passes give other vectors.
  c.train.epochs = 1;
  c.train.pretrain_epochs = 1;
  Model fewer = train_model(corpus, nullptr, c);
  CHECK_FALSE(torch::equal(vectors, fewer.network->word_embedding()->weight));
}

TEST_CASE("unlabeled text joins the pretraining and the vocabulary, repeatably") {
  const auto dir = std::filesystem::temp_directory_path() / ("han-unlabeled-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto docs = make_synthetic_corpus(400, 5);
  const Corpus corpus = corpus_of(docs, 0, 150);
  // Other documents of the same kind, without labels, one a line, with a word the training split never has.
  const std::string unlabeled = (dir / "unlabeled.txt").string();
  {
    std::ofstream out(unlabeled);
    for (size_t i = 150; i < docs.size(); ++i) {
      std::string text = docs[i].document.text;
      std::replace(text.begin(), text.end(), '\n', ' ');
      out << text << " zyzzyva appears here.\n";
    }
  }
  Config c = small_config();
  c.train.epochs = 1;
  c.train.pretrain_epochs = 2;
  c.train.freeze_embeddings = true;
  c.train.valid_fraction = 0;
  Model alone = train_model(corpus, nullptr, c);
  c.train.unlabeled = unlabeled;
  TrainingReport report;
  Model with = train_model(corpus, nullptr, c, {}, &report);
  Model again = train_model(corpus, nullptr, c);
  CHECK(report.unlabeled_documents == static_cast<int64_t>(docs.size() - 150));
  CHECK(report.unlabeled_tokens > 0);
  CHECK(report.unlabeled_words >= 1);
  // The new word has a row, with a pretrained vector: not the random initialisation's spread of a word never seen.
  CHECK(alone.vocabulary.id("zyzzyva") == Vocabulary::kUnk);
  const int32_t id = with.vocabulary.id("zyzzyva");
  REQUIRE(id != Vocabulary::kUnk);
  CHECK(with.vocabulary.size() == alone.vocabulary.size() + report.unlabeled_words);
  // The training words' vectors learnt from more text: they differ, and the same seed gives the same ones.
  const int32_t shared = alone.vocabulary.id(with.vocabulary.words()[2]);
  REQUIRE(shared != Vocabulary::kUnk);
  const torch::Tensor with_vectors = with.network->word_embedding()->weight;
  CHECK_FALSE(torch::equal(with_vectors[2], alone.network->word_embedding()->weight[shared]));
  CHECK(torch::equal(with_vectors, again.network->word_embedding()->weight));
  // Unlabeled text with no words, or none at all, is an error naming it.
  const std::string blank = (dir / "blank.jsonl").string();
  std::ofstream(blank) << "{\"text\": \" \"}\n{\"text\": \"\"}\n";
  c.train.unlabeled = blank;
  CHECK_THROWS_WITH(train_model(corpus, nullptr, c), Catch::Contains("blank.jsonl: the unlabeled text holds no words"));
  c.train.unlabeled = (dir / "missing").string();
  CHECK_THROWS_AS(train_model(corpus, nullptr, c), InputError);
  // More text than pretraining could read is refused before it is read (a sparse file: no disk used).
  const auto huge = dir / "folder" / "huge.txt";
  std::filesystem::create_directories(huge.parent_path());
  std::ofstream(huge).put('x');
  std::filesystem::resize_file(huge, (uintmax_t{1} << 30) + 1);
  c.train.unlabeled = (dir / "folder").string();
  CHECK_THROWS_WITH(train_model(corpus, nullptr, c), Catch::Contains("give a sample of it"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("the corpus profile counts documents, classes, tokens and CJK") {
  Corpus corpus;
  corpus.documents = {{"The film, a delight.", "pos", "a"},
                      {"电影很好看", "pos", "b"},
                      {"Dull; 2 hours lost", "neg", "c"},
                      {"no label", "", "d"}};
  const CorpusProfile p = profile_corpus(corpus);
  CHECK(p.documents == 3);
  CHECK(p.classes == 2);
  CHECK(p.smallest_class == Approx(1.0 / 3));
  CHECK(p.largest_class == Approx(2.0 / 3));
  CHECK(p.tokens == 4 + 5 + 4);  // the film a delight / 5 characters / dull 2 hours lost
  CHECK(p.cjk_share == Approx(5.0 / 13));
}

TEST_CASE("the recipe chooses from the profile, leaves given settings alone and says why") {
  CorpusProfile small;
  small.documents = 5000;
  small.classes = 6;
  small.tokens = 50'000;
  CorpusProfile large = small;
  large.documents = 25'000;
  large.tokens = 6'000'000;

  Config config;
  const auto choices = choose_recipe(small, {}, config);
  CHECK(config.train.min_count == 2);
  CHECK(config.train.batch_size == 16);  // more steps an epoch for a small corpus
  CHECK(config.train.pretrain_epochs == 20);
  CHECK_FALSE(config.train.freeze_embeddings);  // too little text to trust frozen vectors
  for (const auto& choice : choices) CHECK_FALSE(choice.reason.empty());
  CHECK(std::any_of(choices.begin(), choices.end(), [](const auto& c) { return c.key == "train.pretrain_epochs"; }));
  CHECK_NOTHROW(validate(config));

  Config big;
  choose_recipe(large, {}, big);
  CHECK(big.train.min_count == Config{}.train.min_count);
  CHECK(big.train.batch_size == Config{}.train.batch_size);
  CHECK(big.train.pretrain_epochs == 5);
  CHECK(big.train.freeze_embeddings);
  CHECK(big.train.refit == "auto");  // the trainer decides from the best epoch
  CHECK_NOTHROW(validate(big));

  // Balanced classes keep accuracy; the largest 5 times the smallest selects by macro-F1.
  small.smallest_class = 0.1;
  small.largest_class = 0.4;
  Config balanced;
  choose_recipe(small, {}, balanced);
  CHECK(balanced.train.select_by == "accuracy");
  small.smallest_class = 0.05;
  Config unbalanced;
  choose_recipe(small, {}, unbalanced);
  CHECK(unbalanced.train.select_by == "macro_f1");
  CHECK(unbalanced.train.class_weights == "none");  // 250 documents in the smallest class: learnable
  // A class of under 50 documents and 1/10 of the largest is weighed up.
  CorpusProfile rare = small;
  rare.documents = 2'035;
  rare.smallest_class = 5.0 / 2'035;
  rare.smallest_class_documents = 5;
  rare.largest_class = 1'000.0 / 2'035;
  Config weighted;
  const auto rare_choices = choose_recipe(rare, {}, weighted);
  CHECK(weighted.train.class_weights == "balanced");
  CHECK(std::any_of(rare_choices.begin(), rare_choices.end(), [](const auto& c) {
    return c.key == "train.class_weights" && c.reason.find("5 documents") != std::string::npos;
  }));
  Config unweighted;
  choose_recipe(rare, {"train.class_weights"}, unweighted);
  CHECK(unweighted.train.class_weights == "none");
  Config given;
  choose_recipe(small, {"train.select_by"}, given);
  CHECK(given.train.select_by == "accuracy");
  small.smallest_class = 0.1;

  // Given settings win; given vectors mean no pretraining.
  Config mine;
  mine.train.min_count = 7;
  mine.train.embeddings = "vectors.txt";
  const auto kept = choose_recipe(small, {"train.min_count", "train.embeddings"}, mine);
  CHECK(mine.train.min_count == 7);
  CHECK(mine.train.pretrain_epochs == 0);
  CHECK(std::none_of(kept.begin(), kept.end(), [](const auto& c) { return c.key == "train.min_count"; }));

  // The same profile gives the same choices.
  Config again;
  const auto twice = choose_recipe(small, {}, again);
  REQUIRE(twice.size() == choices.size());
  for (size_t i = 0; i < choices.size(); ++i) CHECK(to_json(twice[i]) == to_json(choices[i]));
  CHECK(to_json(again) == to_json(config));
}

TEST_CASE("a time budget ends training after the epoch that would overrun it, keeping the best") {
  auto docs = make_synthetic_corpus(200, 5);
  Config c = small_config();
  c.train.epochs = 5;
  c.train.patience = 5;
  c.train.time_budget = 0.001;  // any epoch takes longer: the first one runs, no second starts
  TrainingReport report;
  train_model(corpus_of(docs, 0, 200), nullptr, c, {}, &report);
  CHECK(report.epochs.size() == 1);
  CHECK(report.stopped_early);
  CHECK(report.best_epoch == 1);
  c.train.time_budget = 0;  // no limit: all five
  TrainingReport unlimited;
  train_model(corpus_of(docs, 0, 200), nullptr, c, {}, &unlimited);
  CHECK(unlimited.epochs.size() == 5);
}

TEST_CASE("train.select_by picks the epoch with the best validation accuracy, macro-F1 or loss") {
  auto docs = make_synthetic_corpus(300, 9);
  for (const std::string by : {"accuracy", "macro_f1", "loss"}) {
    Config c = small_config();
    c.train.epochs = 5;
    c.train.patience = 5;
    c.train.select_by = by;
    TrainingReport report;
    train_model(corpus_of(docs, 0, 300), nullptr, c, {}, &report);
    REQUIRE(report.epochs.size() == 5);
    // Above 1: a first epoch whose negated loss is below the initial -1 must still count as the best.
    if (by == "loss") CHECK(report.epochs.front().valid_loss > 1.0);
    auto score = [&](const EpochSummary& e) {
      return by == "macro_f1" ? e.valid_macro_f1 : by == "loss" ? -e.valid_loss : e.valid_accuracy;
    };
    const EpochSummary& kept = report.epochs[static_cast<size_t>(report.best_epoch - 1)];
    for (const auto& e : report.epochs) CHECK(score(e) <= score(kept));
  }
  CHECK_THROWS_WITH(validate(apply_override(Config{}, "train.select_by=f1")), Catch::Contains("macro_f1"));
}

TEST_CASE("a resumed run keeps the checkpoint's settings but may change its threads, time budget and epochs") {
  Config saved;
  saved.train.epochs = 12;
  Config given = saved;
  given.train.time_budget = 60;
  given.train.threads = 3;
  // Only the keys the user gave apply: threads was not among them here.
  Config resumed = resumed_config(given, {"train.time_budget"}, saved);
  CHECK(resumed.train.time_budget == 60);
  CHECK(resumed.train.threads == saved.train.threads);
  CHECK(resumed.train.epochs == 12);
  resumed = resumed_config(given, {"train.time_budget", "train.threads"}, saved);
  CHECK(resumed.train.threads == 3);
  given.train.epochs = 20;
  CHECK(resumed_config(given, {"train.epochs"}, saved).train.epochs == 20);
  CHECK(resumed_config(given, {}, saved).train.epochs == 12);
  // A setting given again must be the checkpoint's; one not given is the checkpoint's whatever `given` holds.
  given.train.learning_rate = 0.5;
  CHECK_THROWS_WITH(resumed_config(given, {"train.learning_rate"}, saved),
                    Catch::Contains("train.learning_rate (0.5 here, 0.001 in the checkpoint)"));
  CHECK(resumed_config(given, {"train.epochs"}, saved).train.learning_rate == saved.train.learning_rate);
}

TEST_CASE("a step's embedding gradient is zero outside the batch's words, which clipping and lazy Adam rely on") {
  auto docs = make_synthetic_corpus(40, 7);
  Config c = small_config();
  const Corpus corpus = corpus_of(docs, 0, 40);
  c.train.epochs = 1;
  c.train.valid_fraction = 0;
  Model model = train_model(corpus, nullptr, c);  // a vocabulary and encoded documents to step on
  const std::vector<EncodedDocument> encoded = encode_corpus(corpus, model);
  std::vector<const EncodedDocument*> batch;
  for (size_t i = 0; i < 12; ++i) batch.push_back(&encoded[i]);
  std::vector<bool> used(static_cast<size_t>(model.vocabulary.size()), false);
  for (const EncodedDocument* d : batch)
    for (int32_t id : d->word_ids) used[static_cast<size_t>(id)] = true;
  used[Vocabulary::kUnk] = true;  // word dropout's replacement
  used[Vocabulary::kPad] = true;  // the reference engine's padding

  for (Engine engine : {Engine::kFused, Engine::kReference}) {
    for (const char* optimizer : {"adam", "lazy_adam"}) {
      Config config = c;
      config.train.engine = engine;
      config.train.optimizer = optimizer;
      config.train.word_dropout = 0.3;
      config.train.sentence_dropout = 0.3;
      config.train.clip_norm = 0.01;  // so that clipping scales
      HierarchicalAttentionNetwork network(model.config.model, model.vocabulary.size(), model.labels.size());
      const torch::Tensor before = network->word_embedding()->weight.detach().clone();
      BatchTrainer trainer(network, config, 2);
      for (int64_t step = 0; step < 3; ++step) REQUIRE(trainer.step(batch, step).applied);
      const torch::Tensor gradient = network->word_embedding()->weight.grad();
      const torch::Tensor moved = (network->word_embedding()->weight.detach() - before).abs().sum(1).gt(0);
      int64_t outside = 0, inside = 0, moved_outside = 0;
      for (int64_t row = 0; row < gradient.size(0); ++row) {
        const bool nonzero = gradient[row].abs().sum().item<float>() > 0;
        (used[static_cast<size_t>(row)] ? inside : outside) += nonzero ? 1 : 0;
        moved_outside += !used[static_cast<size_t>(row)] && moved[row].item<bool>() ? 1 : 0;
      }
      INFO(engine_name(engine) << ", " << optimizer);
      CHECK(outside == 0);
      CHECK(inside > 10);
      CHECK(moved_outside == 0);  // rows no batch used never had a gradient, so neither Adam moves them
    }
  }
}

TEST_CASE("max_steps ends training within an epoch, keeping what it trained") {
  auto docs = make_synthetic_corpus(200, 5);
  Config c = small_config();
  c.train.epochs = 5;
  c.train.batch_size = 16;  // 11 or 12 batches an epoch
  c.train.max_steps = 15;
  TrainingReport report;
  train_model(corpus_of(docs, 0, 200), nullptr, c, {}, &report);
  CHECK(report.steps == 15);
  REQUIRE(report.epochs.size() == 2);
  CHECK(report.epochs[1].validated);
  CHECK(report.stopped_early);
}

TEST_CASE("a validation split of several chunks is scored whole, each document once") {
  const auto docs = make_synthetic_corpus(9300, 21);
  Config c = small_config();
  c.train.epochs = 1;
  const Corpus train = corpus_of(docs, 0, 300), valid = corpus_of(docs, 300, 9300);  // 9,000: two chunks
  TrainingReport report;
  const Model model = train_model(train, &valid, c, {}, &report);
  REQUIRE(report.valid_documents == 9000);
  const EvaluationReport direct = evaluate(model, valid, 64, 2);
  REQUIRE(direct.documents == 9000);
  CHECK(report.epochs[0].valid_accuracy == Approx(direct.accuracy).margin(1e-12));
  CHECK(report.epochs[0].valid_loss == Approx(direct.loss).epsilon(1e-4));
}

TEST_CASE("a run resumed with fewer steps than it has done trains no more") {
  auto docs = make_synthetic_corpus(200, 5);
  Config c = small_config();
  c.train.epochs = 5;
  c.train.batch_size = 16;
  const auto dir = std::filesystem::temp_directory_path() / ("han-max-steps-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::atomic<bool> stop{false};
  CheckpointOptions checkpoints;
  checkpoints.path = (dir / "run.ckpt").string();
  checkpoints.stop = &stop;
  TrainCallbacks callbacks;
  int steps = 0;
  callbacks.on_progress = [&](const TrainingProgress& p) {
    if (p.stage == TrainingProgress::Stage::Training && ++steps == 14) stop = true;  // within epoch 2
  };
  TrainingReport first;
  train_model(corpus_of(docs, 0, 200), nullptr, c, callbacks, &first, checkpoints);
  REQUIRE(first.interrupted);
  Checkpoint saved = load_checkpoint(checkpoints.path);
  const int64_t done = saved.state.global_step;
  REQUIRE(done >= 14);
  c.train.max_steps = 10;
  CheckpointOptions resume;
  resume.resume = &saved;
  TrainingReport second;
  train_model(corpus_of(docs, 0, 200), nullptr, c, {}, &second, resume);
  std::filesystem::remove_all(dir);
  CHECK(second.steps == done);
  CHECK(second.stopped_early);
}

TEST_CASE("a corpus read from the cache trains the same model as its text", "[training][prepared]") {
  const auto dir = std::filesystem::temp_directory_path() / ("han-cached-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "train.jsonl").string();
  {
    std::ofstream out(path);
    for (const auto& s : make_synthetic_corpus(120, 11)) {
      out << nlohmann::json{{"text", s.document.text}, {"label", s.document.label}}.dump() << "\n";
    }
    out << R"({"text": "", "label": "horror"})"
        << "\n";  // empty: skipped alike both ways
  }
  Config config = small_config();
  config.train.epochs = 2;
  config.train.pretrain_epochs = 1;  // reads the training text front to back
  const Model from_text = train_model(read_corpus(path), nullptr, config);

  CorpusLoadOptions options;
  options.cache_folder = (dir / "cache").string();
  options.threads = 2;
  bool from_cache = false;
  options.on_note = [&](const std::string& line) {
    from_cache = from_cache || line.find("from the cache") != std::string::npos;
  };
  load_tokenized(path, options);  // writes the cache
  TokenizedCorpus cached = load_tokenized(path, options);
  REQUIRE(from_cache);
  REQUIRE(cached.records);  // the documents stay in the file
  CHECK(cached.documents.empty());
  const Model from_file = train_model(std::move(cached), std::nullopt, config);
  const auto same = [](const Model& a, const Model& b) {
    CHECK(a.vocabulary.words() == b.vocabulary.words());
    CHECK(a.labels.names() == b.labels.names());
    const auto pa = a.network->parameters(), pb = b.network->parameters();
    REQUIRE(pa.size() == pb.size());
    for (size_t i = 0; i < pa.size(); ++i) CHECK(torch::equal(pa[i], pb[i]));
  };
  same(from_text, from_file);

  // A validation corpus read from the cache too, its forms and labels
  // mapped to the training corpus's.
  const std::string valid_path = (dir / "valid.jsonl").string();
  {
    std::ofstream out(valid_path);
    for (const auto& s : make_synthetic_corpus(40, 12)) {
      out << nlohmann::json{{"text", s.document.text}, {"label", s.document.label}}.dump() << "\n";
    }
  }
  const Corpus valid_text = read_corpus(valid_path);
  TrainingReport text_report, file_report;
  const Model with_valid = train_model(read_corpus(path), &valid_text, config, {}, &text_report);
  load_tokenized(valid_path, options);
  const Model with_cached_valid =
      train_model(load_tokenized(path, options), load_tokenized(valid_path, options), config, {}, &file_report);
  same(with_valid, with_cached_valid);
  REQUIRE(file_report.epochs.size() == text_report.epochs.size());
  CHECK(file_report.epochs.back().valid_loss == text_report.epochs.back().valid_loss);
  CHECK(file_report.unknown_rate_valid == text_report.unknown_rate_valid);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a multi-label corpus from the cache trains the same model as its text", "[training][prepared]") {
  const auto dir = std::filesystem::temp_directory_path() / ("han-cached-ml-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "train.jsonl").string();
  {
    std::ofstream out(path);
    int k = 0;
    for (const auto& s : make_synthetic_corpus(120, 13)) {
      nlohmann::json labels = {s.document.label};
      if (++k % 3 == 0) labels.push_back("extra");
      out << nlohmann::json{{"text", s.document.text}, {"label", labels}}.dump() << "\n";
    }
  }
  Config config = small_config();
  config.train.epochs = 2;
  const Model from_text = train_model(read_corpus(path), nullptr, config);
  CorpusLoadOptions options;
  options.cache_folder = (dir / "cache").string();
  options.threads = 2;
  load_tokenized(path, options);
  TokenizedCorpus cached = load_tokenized(path, options);
  REQUIRE(cached.records);
  const Model from_file = train_model(std::move(cached), std::nullopt, config);
  std::filesystem::remove_all(dir);
  REQUIRE(from_file.config.model.multi_label);
  CHECK(from_text.labels.names() == from_file.labels.names());
  CHECK(from_text.thresholds == from_file.thresholds);
  const auto a = from_text.network->parameters(), b = from_file.network->parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(torch::equal(a[i], b[i]));
}

TEST_CASE("pretrained vectors come from the cache on a rerun, and give the same model", "[training][prepared]") {
  const auto dir = std::filesystem::temp_directory_path() / ("han-vectors-" + std::to_string(::getpid()));
  const auto docs = make_synthetic_corpus(150, 5);
  const Corpus corpus = corpus_of(docs, 0, docs.size());
  Config config = small_config();
  config.train.epochs = 1;
  config.train.pretrain_epochs = 2;
  CheckpointOptions checkpoints;
  checkpoints.cache_folder = (dir / "cache").string();
  const auto run = [&](std::vector<std::string>& notes) {
    TrainCallbacks callbacks;
    callbacks.on_note = [&](const std::string& line) { notes.push_back(line); };
    return train_model(corpus, nullptr, config, callbacks, nullptr, checkpoints);
  };
  const auto said = [](const std::vector<std::string>& notes, const std::string& needle) {
    return std::any_of(notes.begin(), notes.end(), [&](const auto& l) { return l.find(needle) != std::string::npos; });
  };
  std::vector<std::string> first_notes, second_notes, damaged_notes;
  const Model first = run(first_notes);
  CHECK(said(first_notes, "pretrained on"));
  const Model second = run(second_notes);
  CHECK(said(second_notes, "read from the cache"));
  // A damaged file is pretrained again, not trusted.
  for (const auto& entry : std::filesystem::directory_iterator(dir / "cache")) {
    std::fstream file(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(40);
    file.put('\x7f');
  }
  const Model third = run(damaged_notes);
  CHECK(said(damaged_notes, "pretrained on"));
  std::filesystem::remove_all(dir);
  const auto a = first.network->parameters(), b = second.network->parameters(), c = third.network->parameters();
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(torch::equal(a[i], b[i]));
    CHECK(torch::equal(a[i], c[i]));
  }
}

namespace {

bool same_weights(const Model& a, const Model& b) {
  const auto pa = a.network->parameters(), pb = b.network->parameters();
  if (pa.size() != pb.size()) return false;
  for (size_t i = 0; i < pa.size(); ++i) {
    if (!torch::equal(pa[i], pb[i])) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("train.refit trains a fresh model on every training document for the best epoch's count") {
  const auto docs = make_synthetic_corpus(200, 5);
  Config c = small_config();
  c.train.batch_size = 16;
  c.train.valid_fraction = 0.2;
  c.train.average = 0.9;
  TrainingReport plain_report;
  const Model plain = train_model(corpus_of(docs, 0, 200), nullptr, c, {}, &plain_report);
  c.train.refit = "always";
  std::vector<EpochSummary> refit_epochs;
  TrainCallbacks callbacks;
  callbacks.on_epoch = [&](const EpochSummary& e) {
    if (e.refit) refit_epochs.push_back(e);
  };
  TrainingReport report;
  const Model refit = train_model(corpus_of(docs, 0, 200), nullptr, c, callbacks, &report);
  REQUIRE(report.best_epoch >= 1);
  CHECK(report.refit_epochs == report.best_epoch);
  CHECK(report.refit_documents == 200);  // the 40 held out too
  REQUIRE(refit_epochs.size() == static_cast<size_t>(report.best_epoch));
  CHECK_FALSE(refit_epochs[0].validated);
  // The same run first, then at least 13 batches of 16 an epoch over 200 documents.
  CHECK(report.epochs.size() == plain_report.epochs.size());
  CHECK(report.steps - plain_report.steps >= 13 * report.best_epoch);
  CHECK_FALSE(same_weights(plain, refit));
  CHECK(same_weights(refit, train_model(corpus_of(docs, 0, 200), nullptr, c)));  // the seed decides
  c.train.refit = "auto";  // a few thousand tokens: far under its limit
  CHECK(same_weights(refit, train_model(corpus_of(docs, 0, 200), nullptr, c)));
}

TEST_CASE("train.refit is skipped where it cannot follow the rules") {
  const auto docs = make_synthetic_corpus(240, 5);
  Config c = small_config();
  c.train.epochs = 2;
  c.train.refit = "always";
  std::vector<std::string> notes;
  TrainCallbacks callbacks;
  callbacks.on_note = [&](const std::string& line) { notes.push_back(line); };
  TrainingReport with_valid;
  const Corpus valid = corpus_of(docs, 200, 240);
  train_model(corpus_of(docs, 0, 200), &valid, c, callbacks, &with_valid);
  CHECK(with_valid.refit_epochs == 0);  // nothing held out to add back
  CHECK(std::any_of(notes.begin(), notes.end(),
                    [](const std::string& n) { return n.find("refit: skipped: no validation share") == 0; }));
  c.train.max_steps = 5;
  TrainingReport limited;
  train_model(corpus_of(docs, 0, 200), nullptr, c, callbacks, &limited);
  CHECK(limited.refit_epochs == 0);
  CHECK(limited.steps == 5);
  CHECK(std::any_of(notes.begin(), notes.end(),
                    [](const std::string& n) { return n.find("refit: skipped: train.max_steps") == 0; }));

  c.train.max_steps = 0;
  const Model first = train_model(corpus_of(docs, 0, 200), nullptr, c);
  CheckpointOptions warm;
  warm.init = &first;
  TrainingReport warm_started;
  train_model(corpus_of(docs, 0, 200), nullptr, c, callbacks, &warm_started, warm);
  CHECK(warm_started.refit_epochs == 0);
  CHECK(std::any_of(notes.begin(), notes.end(),
                    [](const std::string& n) { return n.find("refit: skipped: a warm start") == 0; }));

  c.train.time_budget = 1e-3;  // spent by the first epoch
  TrainingReport budgeted;
  train_model(corpus_of(docs, 0, 200), nullptr, c, callbacks, &budgeted);
  CHECK(budgeted.refit_epochs == 0);
  CHECK(std::any_of(notes.begin(), notes.end(), [](const std::string& n) {
    return n.find("refit: skipped: it would take about") == 0 && n.find("past the time budget") != std::string::npos;
  }));
}

TEST_CASE("a run stopped during its refit resumes to the same model") {
  const auto docs = make_synthetic_corpus(200, 5);
  Config c = small_config();
  c.train.batch_size = 16;
  c.train.epochs = 3;
  c.train.patience = 3;
  c.train.average = 0.9;
  c.train.refit = "always";
  const Model whole = train_model(corpus_of(docs, 0, 200), nullptr, c);

  const auto dir = std::filesystem::temp_directory_path() / ("han-refit-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::atomic<bool> stop{false};
  CheckpointOptions checkpoints;
  checkpoints.path = (dir / "run.ckpt").string();
  checkpoints.stop = &stop;
  bool refitting = false;
  int refit_steps = 0;
  TrainCallbacks callbacks;
  callbacks.on_note = [&](const std::string& line) { refitting = refitting || line.rfind("refit: a fresh", 0) == 0; };
  callbacks.on_progress = [&](const TrainingProgress& p) {
    if (refitting && p.stage == TrainingProgress::Stage::Training && ++refit_steps == 3) stop = true;
  };
  TrainingReport first;
  train_model(corpus_of(docs, 0, 200), nullptr, c, callbacks, &first, checkpoints);
  REQUIRE(first.interrupted);
  REQUIRE(refit_steps >= 3);
  Checkpoint saved = load_checkpoint(checkpoints.path);  // the state before the refit began
  CHECK(saved.state.epoch == 4);
  CHECK(saved.state.finished);
  CheckpointOptions resume;
  resume.resume = &saved;
  TrainingReport second;
  const Model resumed = train_model(corpus_of(docs, 0, 200), nullptr, c, {}, &second, resume);
  std::filesystem::remove_all(dir);
  CHECK(second.refit_epochs == saved.state.best_epoch);
  CHECK(same_weights(whole, resumed));
}

TEST_CASE("a stop asked for as the last epoch ends keeps the refit from starting") {
  const auto docs = make_synthetic_corpus(200, 5);
  Config c = small_config();
  c.train.epochs = 2;
  c.train.refit = "always";
  std::atomic<bool> stop{false};
  CheckpointOptions checkpoints;
  checkpoints.stop = &stop;
  TrainCallbacks callbacks;
  callbacks.on_progress = [&](const TrainingProgress& p) {
    if (p.stage == TrainingProgress::Stage::Validating && p.epoch == 2) stop = true;  // after the last batch
  };
  TrainingReport report;
  train_model(corpus_of(docs, 0, 200), nullptr, c, callbacks, &report, checkpoints);
  CHECK(report.interrupted);
  CHECK(report.refit_epochs == 0);
  CHECK(report.epochs.size() == 2);
}
