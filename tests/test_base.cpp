// han_base: the thread runner never lets a worker's exception end the
// program, and the project's one hash is FNV-1a as published.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "han/base/hash.h"
#include "han/base/parallel.h"

using namespace han;

TEST_CASE("run_on_threads runs every index and rethrows the first failure by index") {
  std::atomic<int> ran{0};
  auto work = [&](int i) {
    ++ran;
    if (i == 3) throw std::runtime_error("three");
    if (i == 1) throw std::invalid_argument("one");
  };
  CHECK_THROWS_AS(run_on_threads(4, work), std::invalid_argument);
  CHECK(ran == 4);  // the others finished although two failed
  ran = 0;
  run_on_threads(3, [&](int) { ++ran; });
  CHECK(ran == 3);
  run_on_threads(0, [&](int) { FAIL("no work for count 0"); });
}

TEST_CASE("run_on_threads_watched watches while the workers run and rethrows what they throw") {
  std::atomic<bool> release{false};
  std::atomic<int> watched{0};
  run_on_threads_watched(
      2,
      [&](int) {
        while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      },
      std::chrono::milliseconds(1),
      [&] {
        if (++watched >= 3) release = true;
      });
  CHECK(watched >= 3);
  CHECK_THROWS_WITH(run_on_threads_watched(
                        3,
                        [](int i) {
                          if (i == 2) throw std::runtime_error("worker 2");
                        },
                        std::chrono::milliseconds(1), [] {}),
                    "worker 2");
}

TEST_CASE("a watcher that throws neither ends the program nor stops the workers") {
  std::atomic<int> finished{0};
  std::atomic<int> watched{0};
  auto slow_work = [&](int) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ++finished;
  };
  CHECK_THROWS_WITH(run_on_threads_watched(3, slow_work, std::chrono::milliseconds(1),
                                           [&] {
                                             ++watched;
                                             throw std::runtime_error("progress callback failed");
                                           }),
                    "progress callback failed");
  CHECK(finished == 3);  // every worker ran to its end
  CHECK(watched == 1);   // and watching stopped at the first failure
}

TEST_CASE("fnv1a gives the published FNV-1a 64 values and continues a hash") {
  CHECK(fnv1a("") == 0xcbf29ce484222325ULL);
  CHECK(fnv1a("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(fnv1a("foobar") == 0x85944171f73967e8ULL);
  CHECK(fnv1a("bar", fnv1a("foo")) == fnv1a("foobar"));
  CHECK(mix_bits(fnv1a("a")) != fnv1a("a"));
}
