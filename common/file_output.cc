// SPDX-License-Identifier: Apache-2.0
// FileLineOutput (size-rotated file) and FdLineOutput (a borrowed descriptor).
#include <khz/common/line_writer.h>

#include <khz/common/log.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace khz {
namespace {

// Writes everything, retrying on EINTR; false (errno set) on a failure.
bool write_fully(int fd, std::string_view bytes) noexcept {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

int open_append(const std::string& path) noexcept {
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

std::uint64_t file_size(int fd) noexcept {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

}  // namespace

FileLineOutput::FileLineOutput(FileOutputOptions options) : options_(std::move(options)) {
  fd_ = open_append(options_.path);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "cannot open " + options_.path);
  size_ = file_size(fd_);
}

FileLineOutput::~FileLineOutput() {
  if (fd_ >= 0) ::close(fd_);
}

void FileLineOutput::write(std::string_view lines) {
  if (options_.max_bytes == 0) {
    write_all(lines);
    return;
  }
  while (!lines.empty()) {
    const std::uint64_t room = size_ < options_.max_bytes ? options_.max_bytes - size_ : 0;
    // The longest run of whole lines that fits in what is left of the current file.
    std::size_t take = 0;
    if (lines.size() <= room) {
      take = lines.size();
    } else if (room > 0) {
      const std::size_t end = lines.rfind('\n', static_cast<std::size_t>(room) - 1);
      if (end != std::string_view::npos) take = end + 1;
    }
    if (take == 0) {
      if (size_ > 0) {
        rotate();
        continue;
      }
      // A line longer than max_bytes in an empty file: it gets the file to itself.
      const std::size_t end = lines.find('\n');
      take = end == std::string_view::npos ? lines.size() : end + 1;
    }
    write_all(lines.substr(0, take));
    lines.remove_prefix(take);
  }
}

void FileLineOutput::write_all(std::string_view bytes) {
  if (!write_fully(fd_, bytes)) {
    KHZ_LOG(error, "log file " << options_.path << ": write failed (" << std::strerror(errno) << "); "
                               << bytes.size() << " bytes lost");
    return;
  }
  size_ += bytes.size();
}

void FileLineOutput::rotate() {
  // path.<keep-1> -> path.<keep> (replacing the oldest), ..., path -> path.1.
  const std::string& path = options_.path;
  for (unsigned i = options_.keep; i > 1; --i) {
    const std::string from = path + "." + std::to_string(i - 1);
    const std::string to = path + "." + std::to_string(i);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
      KHZ_LOG(warn, "log file rotation: cannot rename " << from << " to " << to << ": " << std::strerror(errno));
    }
  }
  const int rc = options_.keep > 0 ? ::rename(path.c_str(), (path + ".1").c_str()) : ::unlink(path.c_str());
  if (rc != 0 && errno != ENOENT) {
    KHZ_LOG(error, "log file rotation: cannot move " << path << " aside (" << std::strerror(errno)
                                                     << "); writing on to it");
    size_ = 0;  // try again after another max_bytes rather than on every line
    return;
  }
  if (!open_current()) size_ = 0;
}

bool FileLineOutput::open_current() {
  const int fd = open_append(options_.path);
  if (fd < 0) {
    KHZ_LOG(error, "log file " << options_.path << ": cannot open (" << std::strerror(errno)
                               << "); writing on to the file open before");
    return false;
  }
  ::close(fd_);
  fd_ = fd;
  size_ = file_size(fd_);
  return true;
}

void FileLineOutput::reopen() {
  if (open_current()) KHZ_LOG(info, "log file " << options_.path << " reopened");
}

void FdLineOutput::write(std::string_view lines) {
  if (!write_fully(fd_, lines)) {
    KHZ_LOG(error, "log output: write failed (" << std::strerror(errno) << "); " << lines.size() << " bytes lost");
  }
}

}  // namespace khz
