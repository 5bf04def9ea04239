// Typed errors thrown by the library, one meaning each. Only the program's
// main() turns them into a message and an exit code (usage 2, the rest 1).
#pragma once

#include <stdexcept>
#include <string>

namespace han {

// Something the user gave us is wrong: a file, a format, a value.
// The message names the file (and line) and what was expected.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A model file is missing, damaged or of another format version.
class ModelFileError : public InputError {
 public:
  using InputError::InputError;
};

// Options that cannot work together. The program exits 2 on these, like CLI11.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Training went numerically wrong: the loss or the weights are no longer
// finite. The message says which step and what to lower.
class DivergenceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The operating system or a library refused: a socket, a port in use, a
// process that could not start, ICU's data missing.
class SystemError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A collective of data-parallel training failed: another rank died, the
// network broke, or nothing arrived within the timeout. The message names
// the rank.
class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace han
