// Output files written safely: checked before long work, written atomically.
#include "han/base/file_io.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include <fmt/format.h>

#include "han/base/error.h"

namespace han {

namespace fs = std::filesystem;

namespace {

std::string errno_text() { return std::strerror(errno); }

// The process's umask, read without changing it (umask() would, for every
// thread at once): Linux says it in /proc/self/status.
mode_t current_umask() {
  std::FILE* status = std::fopen("/proc/self/status", "r");
  unsigned mask = 022;
  if (status) {
    char line[256];
    while (std::fgets(line, sizeof line, status)) {
      if (std::sscanf(line, "Umask: %o", &mask) == 1) break;
    }
    std::fclose(status);
  }
  return static_cast<mode_t>(mask);
}

// A replaced file keeps its mode; a new one gets what open() would give it.
mode_t mode_for(const std::string& path) {
  struct stat existing {};
  if (::stat(path.c_str(), &existing) == 0 && S_ISREG(existing.st_mode)) return existing.st_mode & 0777;
  return 0666 & ~current_umask();
}

// An unnamed file in `folder` (O_TMPFILE): killed before it is linked, the
// process leaves nothing behind. -1 where the file system cannot.
int open_unnamed(const fs::path& folder) {
#ifdef O_TMPFILE
  // Naming it later goes through /proc/self/fd: without /proc, a named file.
  if (::access("/proc/self/fd", X_OK) != 0) return -1;
  return ::open(folder.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
#else
  (void)folder;
  return -1;
#endif
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  const fs::path target(path_);
  folder_ = target.has_parent_path() ? target.parent_path().string() : std::string(".");
  temp_ = (fs::path(folder_) / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  fd_ = open_unnamed(folder_);
  unnamed_ = fd_ >= 0;
  if (!unnamed_) fd_ = mkstemp(temp_.data());
  if (fd_ < 0) throw InputError(fmt::format("{}: cannot write ({})", path_, errno_text()));
  if (unnamed_) temp_.clear();  // no name yet: nothing to unlink on failure
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!temp_.empty() && !committed_) ::unlink(temp_.c_str());
}

InputError AtomicFileWriter::abandon(const std::string& what) {
  const std::string reason = errno_text();
  ::close(fd_);
  fd_ = -1;
  if (!temp_.empty()) ::unlink(temp_.c_str());
  temp_.clear();
  return InputError(fmt::format("{}: {} ({}); any previous file is left as it was", path_, what, reason));
}

void AtomicFileWriter::write(std::string_view bytes) {
  if (buffer_.size() + bytes.size() <= kBufferBytes) {
    buffer_.append(bytes);
    return;
  }
  flush();
  write_through(bytes);
}

void AtomicFileWriter::flush() {
  write_through(buffer_);
  buffer_.clear();
}

void AtomicFileWriter::write_through(std::string_view bytes) {
  if (fd_ < 0) throw InputError(fmt::format("{}: written after it was abandoned", path_));
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw abandon("cannot write");
    }
    written += static_cast<size_t>(n);
  }
}

void AtomicFileWriter::commit() {
  flush();
  if (::fchmod(fd_, mode_for(path_)) != 0 || ::fsync(fd_) != 0) throw abandon("cannot flush to disk");
  if (unnamed_) {
    // A name for the finished file, renamed over `path` at once: only a kill
    // between these two calls can leave it behind.
    // A random name, never one another process (or container) may be using.
    const std::string link_from = fmt::format("/proc/self/fd/{}", fd_);
    const std::string file_name = fs::path(path_).filename().string();
    std::random_device entropy;
    int linked = -1;
    for (int attempt = 0; attempt < 16 && linked != 0; ++attempt) {
      const uint64_t suffix = (static_cast<uint64_t>(entropy()) << 32) ^ entropy();
      temp_ = (fs::path(folder_) / fmt::format(".{}.tmp.{:016x}", file_name, suffix)).string();
      linked = ::linkat(AT_FDCWD, link_from.c_str(), AT_FDCWD, temp_.c_str(), AT_SYMLINK_FOLLOW);
      if (linked != 0 && errno != EEXIST) break;
    }
    if (linked != 0) {
      temp_.clear();
      throw abandon("cannot name the written file");
    }
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw InputError(fmt::format("{}: cannot write ({})", path_, errno_text()));
  if (std::rename(temp_.c_str(), path_.c_str()) != 0) {
    throw InputError(fmt::format("{}: cannot rename into place ({})", path_, errno_text()));
  }
  committed_ = true;
  // Make the rename itself durable.
  const int dir = ::open(folder_.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  write_file_atomically(path, std::vector<std::string_view>{bytes});
}

void write_file_atomically(const std::string& path, const std::vector<std::string_view>& pieces) {
  AtomicFileWriter file(path);
  for (const std::string_view bytes : pieces) file.write(bytes);
  file.commit();
}

void check_output_path(const std::string& path, const std::vector<std::string>& inputs, bool streamed) {
  if (path.empty()) throw InputError("the output path is empty: give a file name, e.g. model.han");
  const fs::path target(path);
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (!input.empty() && input != "-" && fs::equivalent(target, input, ec) && !ec) {
      throw InputError(
          fmt::format("{}: is also an input ({}); writing it would destroy that file: choose another output "
                      "path",
                      path, input));
    }
  }
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    throw InputError(fmt::format("{}: folder {} does not exist", path, folder.string()));
  }
  if (fs::is_directory(target, ec)) throw InputError(fmt::format("{}: is a folder", path));
  const fs::file_status status = fs::status(target, ec);
  if (!streamed && fs::exists(status) && !fs::is_regular_file(status)) {
    throw InputError(
        fmt::format("{}: is a device, FIFO or socket, not a file: writing would replace it with one; "
                    "give the path of a file",
                    path));
  }
  std::string probe = (folder / ("." + target.filename().string() + ".probe.XXXXXX")).string();
  const int fd = mkstemp(probe.data());
  if (fd < 0) throw InputError(fmt::format("{}: cannot write in {} ({})", path, folder.string(), errno_text()));
  ::close(fd);
  ::unlink(probe.c_str());
}

OutputLock::OutputLock(const std::string& path) : lock_path_(path + ".lock") {
  fd_ = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw InputError(fmt::format("{}: cannot create the lock file ({})", lock_path_, std::strerror(errno)));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) {
      throw InputError(
          fmt::format("{}: another han run is writing it now (it holds {}): wait for it to end, or "
                      "choose another output path",
                      path, lock_path_));
    }
    throw InputError(fmt::format("{}: cannot lock ({})", lock_path_, std::strerror(err)));
  }
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  ::unlink(lock_path_.c_str());  // before the lock goes: no one can hold a lock on a file that is gone
  ::close(fd_);
}

}  // namespace han
