// Output files written safely: checked before long work, written atomically.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "han/base/error.h"

namespace han {

// Fails fast (InputError) when `path` could not be written later: a missing
// or read-only folder, or a file that is one of `inputs` (the same device and
// inode, so a link to an input counts): writing it would destroy the input.
// Leaves nothing behind. Unless `streamed` (written in place, like a log that
// may go to /dev/null), an existing device, FIFO or socket is refused too: the
// atomic write would rename a file over it.
void check_output_path(const std::string& path, const std::vector<std::string>& inputs = {}, bool streamed = false);

// Writes bytes to `path` atomically (temporary file, fsync, rename).
void write_file_atomically(const std::string& path, const std::string& bytes);
// The same for the concatenation of `pieces`, which need not be copied into
// one buffer first (checkpoints write weights straight from the tensors).
void write_file_atomically(const std::string& path, const std::vector<std::string_view>& pieces);

// A file written in pieces and renamed over `path` by commit(): until then
// `path` keeps what it held, and an error, or a writer destroyed uncommitted
// (an exception on the way), leaves it so and removes the partial file.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(std::string_view bytes);  // buffered
  void commit();                       // flush, fsync, rename into place

 private:
  static constexpr size_t kBufferBytes = 1 << 20;
  void flush();
  void write_through(std::string_view bytes);
  InputError abandon(const std::string& what);

  std::string path_, folder_, temp_, buffer_;
  int fd_ = -1;
  bool unnamed_ = false, committed_ = false;
};

// Holds an exclusive lock on PATH.lock while it lives, so that two runs
// never write the same outputs at once (their checkpoints and logs would
// interleave). The kernel drops the lock when the process dies, however it
// dies; the file is removed when the holder ends normally. Throws InputError
// when another process holds it.
class OutputLock {
 public:
  explicit OutputLock(const std::string& path);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  std::string lock_path_;
  int fd_ = -1;
};

}  // namespace han
