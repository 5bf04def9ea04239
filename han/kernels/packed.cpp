#include "han/kernels/packed.h"

#include <stdexcept>

namespace han {

PackedLayout::PackedLayout(std::vector<int32_t> lengths) : lengths_(std::move(lengths)) {
  for (size_t r = 0; r < lengths_.size(); ++r) {
    if (lengths_[r] < 1 || (r > 0 && lengths_[r] > lengths_[r - 1])) {
      throw std::invalid_argument("PackedLayout: lengths must be at least 1 and sorted longest first");
    }
  }
  const int64_t steps = lengths_.empty() ? 0 : lengths_.front();
  offsets_.assign(static_cast<size_t>(steps) + 1, 0);
  // Rows running at step t: those longer than t, a prefix since rows are sorted.
  int64_t running = static_cast<int64_t>(lengths_.size());
  for (int64_t t = 0; t < steps; ++t) {
    while (running > 0 && lengths_[static_cast<size_t>(running) - 1] <= t) --running;
    offsets_[static_cast<size_t>(t) + 1] = offsets_[static_cast<size_t>(t)] + running;
  }
  mirror_.resize(static_cast<size_t>(tokens()));
  for (int64_t t = 0; t < steps; ++t) {
    for (int64_t r = 0; r < rows_at(t); ++r) {
      mirror_[static_cast<size_t>(index(t, r))] = static_cast<int32_t>(index(length(r) - 1 - t, r));
    }
  }
}

}  // namespace han
