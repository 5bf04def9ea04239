// The one way han runs work on several threads: every failure is caught on
// its thread and the first (by index) rethrown on the caller once all have
// finished, so no exception ever ends the program from a worker.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace han {

namespace detail {

class Failures {
 public:
  explicit Failures(int count) : errors_(static_cast<size_t>(std::max(count, 1))) {}
  // Runs work(index), keeping what it throws.
  void guard(const std::function<void(int)>& work, int index) {
    try {
      work(index);
    } catch (...) {
      errors_[static_cast<size_t>(index)] = std::current_exception();
    }
  }
  void rethrow_first() const {
    for (const auto& e : errors_)
      if (e) std::rethrow_exception(e);
  }

 private:
  std::vector<std::exception_ptr> errors_;
};

// Joins every thread it holds when it goes, also when an exception unwinds
// the caller: a joinable std::thread destroyed would end the program.
class Joiner {
 public:
  ~Joiner() {
    for (auto& t : threads) t.join();
  }
  std::vector<std::thread> threads;
};

}  // namespace detail

// Runs work(0), ..., work(count-1) at once, work(0) on the calling thread.
inline void run_on_threads(int count, const std::function<void(int index)>& work) {
  detail::Failures failures(count);
  {
    detail::Joiner joiner;  // declared after `failures`: the threads end before it goes
    for (int i = 1; i < count; ++i) joiner.threads.emplace_back([&, i] { failures.guard(work, i); });
    if (count > 0) failures.guard(work, 0);
  }
  failures.rethrow_first();
}

// Runs work(0), ..., work(count-1) on threads of their own while the calling
// thread calls watch() every `interval` (for progress) until all have ended.
inline void run_on_threads_watched(int count, const std::function<void(int index)>& work,
                                   std::chrono::milliseconds interval, const std::function<void()>& watch) {
  detail::Failures failures(count);
  std::mutex lock;
  std::condition_variable finished;
  int running = count;
  std::exception_ptr watch_failure;  // the first; watching then stops, the workers run on
  {
    detail::Joiner joiner;  // after what the workers use, so they end before it goes
    for (int i = 0; i < count; ++i) {
      joiner.threads.emplace_back([&, i] {
        failures.guard(work, i);
        std::lock_guard<std::mutex> guard(lock);
        --running;
        finished.notify_all();
      });
    }
    std::unique_lock<std::mutex> guard(lock);
    while (!finished.wait_for(guard, interval, [&] { return running == 0; })) {
      if (watch_failure) continue;
      guard.unlock();
      try {
        watch();
      } catch (...) {
        watch_failure = std::current_exception();
      }
      guard.lock();
    }
  }
  failures.rethrow_first();
  if (watch_failure) std::rethrow_exception(watch_failure);
}

}  // namespace han
