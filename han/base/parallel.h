// Runs work(0), ..., work(count-1) at once, work(0) on the calling thread, and
// rethrows the first failure (by index) once all have finished.
#pragma once

#include <exception>
#include <functional>
#include <thread>
#include <vector>

namespace han {

inline void run_on_threads(int count, const std::function<void(int index)>& work) {
  std::vector<std::exception_ptr> errors(static_cast<size_t>(std::max(count, 1)));
  auto guarded = [&](int index) {
    try {
      work(index);
    } catch (...) {
      errors[static_cast<size_t>(index)] = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  for (int i = 1; i < count; ++i) threads.emplace_back(guarded, i);
  if (count > 0) guarded(0);
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace han
