// Variable-length sequences laid out for a recurrence with no padding: rows
// sorted longest first, and the tokens of step t of every row still running
// stored together. Step t then works on rows [0, rows_at(t)), and its tokens
// sit at [offset(t), offset(t) + rows_at(t)).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace han {

class PackedLayout {
 public:
  PackedLayout() = default;
  // `lengths`: one per row, longest first, each at least 1. Throws
  // std::invalid_argument otherwise.
  explicit PackedLayout(std::vector<int32_t> lengths);

  int64_t rows() const { return static_cast<int64_t>(lengths_.size()); }
  int64_t steps() const { return static_cast<int64_t>(offsets_.size()) - 1; }
  int64_t tokens() const { return offsets_.back(); }
  int32_t length(int64_t row) const { return lengths_[static_cast<size_t>(row)]; }
  int64_t offset(int64_t step) const { return offsets_[static_cast<size_t>(step)]; }
  int64_t rows_at(int64_t step) const {
    return offsets_[static_cast<size_t>(step) + 1] - offsets_[static_cast<size_t>(step)];
  }
  int64_t index(int64_t step, int64_t row) const { return offsets_[static_cast<size_t>(step)] + row; }

  // For each token, the token at the mirrored position length-1-t of the
  // same row: the backward direction's step t reads it. An involution.
  const std::vector<int32_t>& mirror() const { return mirror_; }

 private:
  std::vector<int32_t> lengths_;
  std::vector<int64_t> offsets_{0};  // steps + 1 entries
  std::vector<int32_t> mirror_;
};

}  // namespace han
