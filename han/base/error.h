// Typed errors thrown by the library. Only the program's main() turns them
// into a message and an exit code.
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

}  // namespace han
