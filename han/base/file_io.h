// Output files written safely: checked before long work, written atomically.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace han {

// Fails fast (InputError) when `path` could not be written later: a missing
// or read-only folder, or a file that is one of `inputs` (the same device and
// inode, so a link to an input counts): writing it would destroy the input.
// Leaves nothing behind.
void check_output_path(const std::string& path, const std::vector<std::string>& inputs = {});

// Writes bytes to `path` atomically (temporary file, fsync, rename).
void write_file_atomically(const std::string& path, const std::string& bytes);
// The same for the concatenation of `pieces`, which need not be copied into
// one buffer first (checkpoints write weights straight from the tensors).
void write_file_atomically(const std::string& path, const std::vector<std::string_view>& pieces);

}  // namespace han
