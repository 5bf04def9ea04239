// c10d process groups and data-parallel steps in one process: two threads
// join as ranks 0 and 1 over loopback Gloo.
#include "torch_catch.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <optional>
#include <random>
#include <thread>

#include "han/base/error.h"
#include "han/dist/distributed.h"
#include "han/model/network.h"
#include "han/model/runtime.h"
#include "han/train/train.h"

using namespace han;

namespace {

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// Sets environment variables for one scope, restoring what was there.
class Environment {
 public:
  void set(const char* name, const char* value) {
    const char* old = std::getenv(name);
    saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~Environment() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) {
        setenv(it->first.c_str(), it->second->c_str(), 1);
      } else {
        unsetenv(it->first.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// Runs body(communicator) as ranks 0 and 1 on two threads; rethrows the first
// failure. Catch2's assertions are not thread-safe: bodies record, the test
// checks after.
void with_two_ranks(const std::function<void(Communicator&)>& body,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const int port = free_port();
  std::exception_ptr errors[2];
  std::vector<std::thread> threads;
  for (int rank = 0; rank < 2; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        WorldInfo world;
        world.rank = rank;
        world.world_size = 2;
        world.master_port = port;
        Communicator communicator(world, torch::kCPU, timeout);
        body(communicator);
      } catch (...) {
        errors[rank] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

std::vector<EncodedDocument> random_documents(int count, int vocabulary, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<EncodedDocument> documents(static_cast<size_t>(count));
  for (auto& d : documents) {
    const int sentences = 1 + static_cast<int>(rng() % 6);
    for (int s = 0; s < sentences; ++s) {
      const int words = 1 + static_cast<int>(rng() % 9);
      d.sentence_lengths.push_back(words);
      for (int w = 0; w < words; ++w) d.word_ids.push_back(2 + static_cast<int32_t>(rng() % (vocabulary - 2)));
    }
    d.label = static_cast<int64_t>(rng() % 3);
  }
  return documents;
}

Config small_config(const std::string& engine, double dropout) {
  Config c;
  c.model.embedding_dim = 12;
  c.model.word_hidden = 8;
  c.model.sentence_hidden = 8;
  c.model.word_attention = 8;
  c.model.sentence_attention = 8;
  c.model.dropout = dropout;
  c.train.engine = engine_from_name(engine);
  c.train.learning_rate = 0.01;
  c.train.seed = 9;
  return c;
}

HierarchicalAttentionNetwork copy_of(const HierarchicalAttentionNetwork& from) {
  HierarchicalAttentionNetwork to(from->config(), from->vocabulary_size(), from->label_count());
  torch::NoGradGuard no_grad;
  auto target = to->parameters();
  const auto source = from->parameters();
  for (size_t i = 0; i < target.size(); ++i) target[i].copy_(source[i]);
  return to;
}

double largest_difference(HierarchicalAttentionNetwork& a, HierarchicalAttentionNetwork& b) {
  double worst = 0;
  const auto pa = a->parameters();
  const auto pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) worst = std::max(worst, (pa[i] - pb[i]).abs().max().item<double>());
  return worst;
}

}  // namespace

TEST_CASE("torchrun's variables give this process's place; bad ones are named") {
  Environment env;
  for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"})
    env.set(name, nullptr);
  CHECK_FALSE(world_from_environment().distributed());

  env.set("WORLD_SIZE", "4");
  env.set("RANK", "3");
  env.set("LOCAL_RANK", "1");
  env.set("LOCAL_WORLD_SIZE", "2");
  env.set("MASTER_ADDR", "10.1.2.3");
  env.set("MASTER_PORT", "29555");
  const WorldInfo world = world_from_environment();
  CHECK(world.distributed());
  CHECK(world.rank == 3);
  CHECK(world.world_size == 4);
  CHECK(world.local_rank == 1);
  CHECK(world.local_world_size == 2);
  CHECK(world.master_addr == "10.1.2.3");
  CHECK(world.master_port == 29555);

  env.set("RANK", "4");
  CHECK_THROWS_WITH(world_from_environment(), Catch::Contains("RANK=4 must be below WORLD_SIZE=4"));
  env.set("RANK", "-1");
  CHECK_THROWS_AS(world_from_environment(), UsageError);
  env.set("RANK", nullptr);
  CHECK_THROWS_WITH(world_from_environment(), Catch::Contains("RANK is not"));
  env.set("RANK", "0");
  env.set("MASTER_PORT", "99999");
  CHECK_THROWS_WITH(world_from_environment(), Catch::Contains("MASTER_PORT=99999 is not a port"));
  env.set("MASTER_PORT", "12ab");
  CHECK_THROWS_WITH(world_from_environment(), Catch::Contains("MASTER_PORT=12ab is not a whole number"));
}

TEST_CASE("two Gloo ranks sum, gather and broadcast") {
  std::vector<torch::Tensor> sums(2), gathered(2), broadcast(2);
  std::vector<int> sizes(2);
  std::vector<std::string> backends(2);
  with_two_ranks([&](Communicator& group) {
    const int r = group.rank();
    sizes[static_cast<size_t>(r)] = group.size();
    backends[static_cast<size_t>(r)] = group.backend();
    torch::Tensor t = torch::full({5}, static_cast<float>(r + 1));
    group.all_reduce_sum(t, "test sum");
    sums[static_cast<size_t>(r)] = t;
    gathered[static_cast<size_t>(r)] = torch::cat(group.all_gather(torch::tensor({r * 10, r * 10 + 1}), "test gather"));
    torch::Tensor b = torch::full({3}, static_cast<double>(r == 1 ? 7 : -1), torch::kFloat64);
    group.broadcast(b, 1, "test broadcast");
    broadcast[static_cast<size_t>(r)] = b;
  });
  for (int r = 0; r < 2; ++r) {
    CHECK(sizes[static_cast<size_t>(r)] == 2);
    CHECK(backends[static_cast<size_t>(r)] == "gloo");
    CHECK(torch::equal(sums[static_cast<size_t>(r)], torch::full({5}, 3.0f)));
    CHECK(torch::equal(gathered[static_cast<size_t>(r)], torch::tensor({0, 1, 10, 11})));
    CHECK(torch::equal(broadcast[static_cast<size_t>(r)], torch::full({3}, 7.0, torch::kFloat64)));
  }
}

TEST_CASE("a rank that leaves makes the other's next collective fail, not hang") {
  const auto started = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(with_two_ranks(
                      [](Communicator& group) {
                        if (group.rank() == 1) return;  // leaves: its sockets close
                        std::this_thread::sleep_for(std::chrono::milliseconds(200));
                        torch::Tensor t = torch::ones({4});
                        group.all_reduce_sum(t, "summing after rank 1 left");
                      },
                      std::chrono::seconds(10)),
                  DistributedError);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
}

TEST_CASE("2 ranks with batch B take the same steps as one process with batch 2B") {
  configure_threads(2);
  const auto documents = random_documents(45, 40, 5);
  // Whole batches of 16, and a last one of 13 that splits 6 + 7.
  std::vector<std::vector<const EncodedDocument*>> batches;
  for (size_t start = 0; start < documents.size(); start += 16) {
    std::vector<const EncodedDocument*> batch;
    for (size_t i = start; i < std::min(documents.size(), start + 16); ++i) batch.push_back(&documents[i]);
    batches.push_back(batch);
  }
  struct Case {
    std::string engine;
    double dropout;
    double word_dropout;
    double sentence_dropout;
  };
  for (const Case& c : {Case{"fused", 0.3, 0.0, 0.0}, Case{"reference", 0.0, 0.0, 0.0}, Case{"fused", 0.0, 0.2, 0.0},
                        Case{"fused", 0.0, 0.0, 0.3}}) {
    DYNAMIC_SECTION(c.engine << " engine, dropout " << c.dropout << ", word dropout " << c.word_dropout
                             << ", sentence dropout " << c.sentence_dropout) {
      Config config = small_config(c.engine, c.dropout);
      config.train.word_dropout = c.word_dropout;
      config.train.sentence_dropout = c.sentence_dropout;
      torch::manual_seed(4);
      HierarchicalAttentionNetwork alone(config.model, 40, 3);
      HierarchicalAttentionNetwork ranks[2] = {copy_of(alone), copy_of(alone)};
      HierarchicalAttentionNetwork initial = copy_of(alone);

      BatchTrainer single(alone, config, 2);
      std::vector<BatchTrainer::Step> single_steps;
      for (size_t b = 0; b < batches.size(); ++b)
        single_steps.push_back(single.step(batches[b], static_cast<int64_t>(b)));

      std::vector<BatchTrainer::Step> rank_steps[2];
      with_two_ranks([&](Communicator& group) {
        ExecutionOptions execution;
        execution.group = &group;
        BatchTrainer trainer(ranks[group.rank()], config, 1, execution);
        for (size_t b = 0; b < batches.size(); ++b)
          rank_steps[group.rank()].push_back(
              trainer.step(batches[b], static_cast<int64_t>(b), group.rank() == 1 && b == 2));
      });

      const double tolerance = 1e-6;
      CHECK(largest_difference(alone, ranks[0]) <= tolerance);
      CHECK(largest_difference(ranks[0], ranks[1]) == 0);  // the same step everywhere, exactly
      CHECK(largest_difference(alone, initial) > 1e-3);    // the steps did move the weights
      for (size_t b = 0; b < batches.size(); ++b) {
        for (int r = 0; r < 2; ++r) {
          CHECK(rank_steps[r][b].loss_sum == Approx(single_steps[b].loss_sum).epsilon(1e-6));
          CHECK(rank_steps[r][b].correct == single_steps[b].correct);
          CHECK(rank_steps[r][b].applied);
          CHECK(rank_steps[r][b].stop == (b == 2));  // rank 1's request reaches rank 0 too
        }
      }
    }
  }
}
