#include "progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

bool stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

ProgressBar::ProgressBar(bool enabled) : enabled_(enabled) {}

ProgressBar::~ProgressBar() { clear(); }

void ProgressBar::update(const std::string& label, int64_t done, int64_t total, const std::string& detail) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (label != stage_) {
    stage_ = label;
    stage_start_ = now;
  }
  const bool unknown_total = total <= 0;  // a stream: a count and a rate, no bar
  if ((done < total || unknown_total) && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  if (unknown_total) {
    const double elapsed = std::chrono::duration<double>(now - stage_start_).count();
    fmt::print(stderr, "\r\033[K{} {} done, {:.0f}/s {}", label, done,
               elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0, detail);
    std::fflush(stderr);
    drawn_ = true;
    return;
  }
  const double fraction = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0.0;
  constexpr int kWidth = 28;
  const int filled = static_cast<int>(fraction * kWidth);
  const double elapsed = std::chrono::duration<double>(now - stage_start_).count();
  std::string eta = "--:--";
  if (done > 0 && done < total) {
    const auto left = static_cast<int64_t>(elapsed * static_cast<double>(total - done) / static_cast<double>(done));
    eta = fmt::format("{:02}:{:02}", left / 60, left % 60);
  } else if (done >= total) {
    eta = "00:00";
  }
  const std::string bar =
      std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(kWidth - filled), '.');
  fmt::print(stderr, "\r\033[K{} [{}] {}/{} {:3.0f}% ETA {} {}", label, bar, done, total, 100 * fraction, eta, detail);
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::clear() {
  if (!drawn_) return;
  fmt::print(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}
