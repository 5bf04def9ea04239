// han serve's Batcher: requests merged into batches get the answers they
// would get alone, in their own order, whatever arrives together.
#include "torch_catch.h"

#include <string>
#include <thread>
#include <vector>

#include "han/serve/serve.h"

using namespace han;

namespace {

Model tiny_model() {
  Config config;
  config.model.embedding_dim = 6;
  config.model.word_hidden = 4;
  config.model.sentence_hidden = 3;
  config.model.word_attention = 5;
  config.model.sentence_attention = 2;
  torch::manual_seed(5);
  return make_model(config, Vocabulary({"<pad>", "<unk>", "good", "bad", "film", "dull"}), LabelSet({"neg", "pos"}));
}

std::vector<Document> documents_of(int request) {
  static const char* const texts[] = {"good film.", "bad film. dull.", "film", "good good good. bad.", ""};
  std::vector<Document> documents;
  for (int i = 0; i <= request % 3; ++i) {
    documents.push_back({texts[(request + i) % 5], "", std::to_string(request) + ":" + std::to_string(i)});
  }
  return documents;
}

}  // namespace

TEST_CASE("concurrent requests merged into batches get their own answers") {
  const Model model = tiny_model();
  const Predictor predictor(model, 8, 1);
  // A long delay and small batches: requests from 16 threads do get merged.
  Batcher batcher(predictor, 2, 5, std::chrono::milliseconds(20));
  constexpr int kRequests = 48;
  std::vector<std::vector<Prediction>> predictions(kRequests);
  std::vector<std::vector<Explanation>> explanations(kRequests);
  std::vector<std::thread> clients;
  for (int t = 0; t < 16; ++t) {
    clients.emplace_back([&, t] {
      for (int r = t; r < kRequests; r += 16) {
        if (r % 2) {
          explanations[r] = batcher.explain(documents_of(r));
        } else {
          predictions[r] = batcher.predict(documents_of(r));
        }
      }
    });
  }
  for (auto& client : clients) client.join();
  for (int r = 0; r < kRequests; ++r) {
    const auto documents = documents_of(r);
    const auto alone = predictor.explain(documents);
    for (size_t i = 0; i < documents.size(); ++i) {
      const Prediction& got = r % 2 ? explanations[r].at(i).prediction : predictions[r].at(i);
      REQUIRE(got.label == alone[i].prediction.label);
      for (size_t k = 0; k < got.probabilities.size(); ++k) {
        CHECK(got.probabilities[k] == Approx(alone[i].prediction.probabilities[k]).margin(1e-6));
      }
      if (r % 2) CHECK(explanations[r][i].sentence_weights.size() == alone[i].sentence_weights.size());
    }
    CHECK((r % 2 ? explanations[r].size() : predictions[r].size()) == documents.size());
  }
}
