// FastAdam (dense and lazy) and row-wise clipping against LibTorch's Adam and clip_grad_norm_.
#include "torch_catch.h"

#include <sstream>
#include <string>
#include <vector>

#include "han/train/optimizer.h"

using namespace han;

namespace {

// An "embedding" of 40 rows x 8 and a small dense weight, with gradients that
// are zero outside `rows` of the embedding.
struct Setup {
  torch::Tensor embedding = torch::randn({40, 8}).set_requires_grad(true);
  torch::Tensor dense = torch::randn({5, 3}).set_requires_grad(true);
  std::vector<torch::Tensor> parameters() const { return {dense, embedding}; }

  void set_gradients(const std::vector<int32_t>& rows, int64_t seed) {
    torch::manual_seed(static_cast<uint64_t>(seed));
    torch::Tensor g = torch::zeros_like(embedding);
    for (int32_t r : rows) g[r] = torch::randn({8});
    embedding.mutable_grad() = g;
    dense.mutable_grad() = torch::randn({5, 3});
  }
};

Setup copy_of(const Setup& s) {
  Setup copy;
  copy.embedding = s.embedding.detach().clone().set_requires_grad(true);
  copy.dense = s.dense.detach().clone().set_requires_grad(true);
  return copy;
}

const torch::optim::AdamOptions kOptions = torch::optim::AdamOptions(0.01).weight_decay(0.001);

// An optimizer's state as a checkpoint holds it, and back.
std::string saved_state(const torch::optim::Optimizer& optimizer) {
  std::ostringstream bytes;
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  archive.save_to(bytes);
  return bytes.str();
}

void load_state(torch::optim::Optimizer& optimizer, const std::string& bytes) {
  std::istringstream in(bytes);
  torch::serialize::InputArchive archive;
  archive.load_from(in);
  optimizer.load(archive);
}

}  // namespace

TEST_CASE("lazy Adam steps the rows it is given as Adam does, and leaves the others and their moments alone") {
  torch::manual_seed(1);
  Setup lazy_setup;
  Setup dense_setup = copy_of(lazy_setup);
  FastAdam lazy(lazy_setup.parameters(), kOptions, lazy_setup.embedding, 1, /*lazy=*/true);
  torch::optim::Adam dense(dense_setup.parameters(), kOptions);

  // Every row has a gradient in the first step: both optimizers agree.
  std::vector<int32_t> all(40);
  for (int32_t i = 0; i < 40; ++i) all[static_cast<size_t>(i)] = i;
  lazy_setup.set_gradients(all, 7);
  dense_setup.set_gradients(all, 7);
  lazy.set_rows(all);
  lazy.step();
  dense.step();
  CHECK(torch::allclose(lazy_setup.embedding, dense_setup.embedding, 1e-6, 1e-6));
  CHECK(torch::allclose(lazy_setup.dense, dense_setup.dense, 1e-6, 1e-6));

  // Then only rows 3 and 17: they still agree; row 5 stays where it was
  // under lazy Adam, and dense Adam's momentum moves it.
  const std::vector<int32_t> few = {3, 17};
  const torch::Tensor row5 = lazy_setup.embedding[5].detach().clone();
  lazy_setup.set_gradients(few, 8);
  dense_setup.set_gradients(few, 8);
  lazy.set_rows(few);
  lazy.step();
  dense.step();
  for (int32_t r : few) CHECK(torch::allclose(lazy_setup.embedding[r], dense_setup.embedding[r], 1e-6, 1e-6));
  CHECK(torch::allclose(lazy_setup.dense, dense_setup.dense, 1e-6, 1e-6));
  CHECK(torch::equal(lazy_setup.embedding[5], row5));
  CHECK_FALSE(torch::allclose(dense_setup.embedding[5], row5, 1e-6, 1e-6));
}

TEST_CASE("Adam in one pass steps every row as LibTorch's Adam; its state saves and loads as Adam's") {
  torch::manual_seed(2);
  Setup a;
  Setup b = copy_of(a);
  FastAdam fast(a.parameters(), kOptions, a.embedding, 1, /*lazy=*/false);
  torch::optim::Adam dense(b.parameters(), kOptions);
  torch::Tensor row1;  // after the step that gave row 1 its only gradient
  for (int64_t step = 0; step < 3; ++step) {
    const std::vector<int32_t> rows = step == 0 ? std::vector<int32_t>{1, 2} : std::vector<int32_t>{3};
    a.set_gradients(rows, 3 + step);
    b.set_gradients(rows, 3 + step);
    fast.set_rows(rows);  // not lazy: ignored, every row moves
    fast.step();
    dense.step();
    CHECK(torch::allclose(a.embedding, b.embedding, 1e-6, 1e-6));
    CHECK(torch::allclose(a.dense, b.dense, 1e-6, 1e-6));
    if (step == 0) row1 = a.embedding[1].detach().clone();
  }
  CHECK_FALSE(torch::allclose(a.embedding[1], row1, 1e-6, 1e-6));  // Adam's momentum moved it on

  Setup resumed = copy_of(a);
  FastAdam reloaded(resumed.parameters(), kOptions, resumed.embedding, 1, /*lazy=*/false);
  load_state(reloaded, saved_state(fast));
  for (Setup* s : {&a, &resumed}) s->set_gradients({4, 9}, 5);
  fast.step();
  reloaded.step();
  CHECK(torch::equal(a.embedding, resumed.embedding));
  CHECK(torch::equal(a.dense, resumed.dense));
}

TEST_CASE("Adam's eps and bias corrections are LibTorch's, also where eps matters") {
  // Small gradients and a large eps: eps inside the root, or before the bias
  // correction, would show.
  const auto options = torch::optim::AdamOptions(0.01).eps(0.1);
  torch::manual_seed(9);
  Setup a;
  Setup b = copy_of(a);
  FastAdam fast(a.parameters(), options, a.embedding, 1, /*lazy=*/false);
  torch::optim::Adam dense(b.parameters(), options);
  for (int64_t step = 0; step < 4; ++step) {
    for (Setup* s : {&a, &b}) {
      s->set_gradients({2, 7}, 20 + step);
      s->embedding.mutable_grad().mul_(1e-3);
      s->dense.mutable_grad().mul_(1e-3);
    }
    fast.step();
    dense.step();
  }
  CHECK(torch::allclose(a.embedding, b.embedding, 1e-6, 1e-8));
  CHECK(torch::allclose(a.dense, b.dense, 1e-6, 1e-8));
}

TEST_CASE("a checkpoint of LibTorch's Adam loads into FastAdam and continues as Adam would") {
  torch::manual_seed(10);
  Setup a;
  Setup b = copy_of(a);
  torch::optim::Adam before(a.parameters(), kOptions);
  a.set_gradients({1, 3}, 30);
  before.step();
  b.embedding.detach().copy_(a.embedding.detach());
  b.dense.detach().copy_(a.dense.detach());
  FastAdam after(b.parameters(), kOptions, b.embedding, 1, /*lazy=*/false);
  load_state(after, saved_state(before));
  for (Setup* s : {&a, &b}) s->set_gradients({3, 8}, 31);
  before.step();
  after.step();
  // Row 1 moves on its momentum in both: the moments were carried over.
  CHECK(torch::allclose(a.embedding, b.embedding, 1e-6, 1e-7));
  CHECK(torch::allclose(a.dense, b.dense, 1e-6, 1e-7));
}

TEST_CASE("Adam, lazy or not, gives the same weights on one thread or four") {
  auto run = [](int threads, bool lazy) {
    torch::manual_seed(4);
    // Enough for 4 threads, split where a vector loop has a scalar tail.
    torch::Tensor embedding = torch::randn({20001, 63}).set_requires_grad(true);
    FastAdam adam({embedding}, kOptions, embedding, threads, lazy);
    std::vector<int32_t> rows;
    for (int32_t r = 0; r < 20001; r += 2) rows.push_back(r);
    for (int step = 0; step < 3; ++step) {
      embedding.mutable_grad() = torch::randn({20001, 63});
      adam.set_rows(rows);
      adam.step();
    }
    return embedding.detach().clone();
  };
  CHECK(torch::equal(run(1, true), run(4, true)));
  CHECK(torch::equal(run(1, false), run(4, false)));
  CHECK_FALSE(torch::equal(run(1, true), run(1, false)));
}

TEST_CASE("row-wise clipping gives LibTorch's norm and scaling, the same on one thread or four") {
  torch::manual_seed(5);
  for (double max_norm : {0.5, 1000.0}) {
    Setup a;
    a.set_gradients({0, 6, 39}, 11);
    Setup b = copy_of(a);
    b.set_gradients({0, 6, 39}, 11);
    const double norm = clip_gradient_norm(a.parameters(), a.embedding, {0, 6, 39}, max_norm);
    const double expected = torch::nn::utils::clip_grad_norm_(b.parameters(), max_norm);
    CHECK(norm == Approx(expected).epsilon(1e-6));
    CHECK(torch::allclose(a.embedding.grad(), b.embedding.grad(), 1e-6, 1e-7));
    CHECK(torch::allclose(a.dense.grad(), b.dense.grad(), 1e-6, 1e-7));
  }
  // Enough rows to use the threads.
  torch::Tensor big = torch::randn({20001, 70}).set_requires_grad(true);
  std::vector<int32_t> rows;
  for (int32_t r = 0; r < 20001; r += 2) rows.push_back(r);
  auto clipped = [&](int threads) {
    torch::manual_seed(6);
    big.mutable_grad() = torch::randn({20001, 70});
    const double norm = clip_gradient_norm({big}, big, rows, 1.0, threads);
    return std::make_pair(norm, big.grad().clone());
  };
  const auto one = clipped(1);
  const auto four = clipped(4);
  CHECK(one.first == four.first);
  CHECK(torch::equal(one.second, four.second));
}
