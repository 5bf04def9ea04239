// Progress on stderr: a redrawn bar on a terminal, nothing in logs and pipes
// (epoch summaries are printed as lines either way).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

class ProgressBar {
 public:
  explicit ProgressBar(bool enabled);
  ~ProgressBar();
  // Redraws at most ten times a second, and always at done == total; a total
  // of 0 (not known) shows the count and rate only.
  void update(const std::string& label, int64_t done, int64_t total, const std::string& detail = "");
  void clear();  // erases the bar, before a line of ordinary output

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
  std::chrono::steady_clock::time_point stage_start_{};
  std::string stage_;
};

bool stderr_is_terminal();
