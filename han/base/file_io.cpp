// Output files written safely: checked before long work, written atomically.
#include "han/base/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "han/base/error.h"

namespace han {

namespace fs = std::filesystem;

namespace {

std::string errno_text() { return std::strerror(errno); }

}  // namespace

void write_file_atomically(const std::string& path, const std::string& bytes) {
  write_file_atomically(path, std::vector<std::string_view>{bytes});
}

void write_file_atomically(const std::string& path, const std::vector<std::string_view>& pieces) {
  const fs::path target(path);
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string temp = (folder / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = mkstemp(temp.data());
  if (fd < 0) throw InputError(fmt::format("{}: cannot write ({})", path, errno_text()));
  auto abandon = [&](const std::string& what) {
    const std::string reason = errno_text();
    ::close(fd);
    ::unlink(temp.c_str());
    return InputError(fmt::format("{}: {} ({}); any previous file is left as it was", path, what, reason));
  };
  for (const std::string_view bytes : pieces) {
    size_t written = 0;
    while (written < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw abandon("cannot write");
      }
      written += static_cast<size_t>(n);
    }
  }
  if (::fchmod(fd, 0644) != 0 || ::fsync(fd) != 0) throw abandon("cannot flush to disk");
  if (::close(fd) != 0) {
    ::unlink(temp.c_str());
    throw InputError(fmt::format("{}: cannot write ({})", path, errno_text()));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string reason = errno_text();
    ::unlink(temp.c_str());
    throw InputError(fmt::format("{}: cannot rename into place ({})", path, reason));
  }
  // Make the rename itself durable.
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

void check_output_path(const std::string& path, const std::vector<std::string>& inputs) {
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
  std::string probe = (folder / ("." + target.filename().string() + ".probe.XXXXXX")).string();
  const int fd = mkstemp(probe.data());
  if (fd < 0) throw InputError(fmt::format("{}: cannot write in {} ({})", path, folder.string(), errno_text()));
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace han
