// SPDX-License-Identifier: Apache-2.0
#include "open_file_cache.h"

#include <khz/protocol/conditional.h>
#include <khz/protocol/file_path.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>

namespace khz::detail {
namespace {

std::int64_t mtime_ns_of(const struct stat& st) noexcept {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

bool same_file(const OpenFile& f, const struct stat& st) noexcept {
  return f.device == static_cast<std::uint64_t>(st.st_dev) && f.inode == static_cast<std::uint64_t>(st.st_ino) &&
         f.size == static_cast<std::uint64_t>(st.st_size) && f.mtime_ns == mtime_ns_of(st);
}

// Where the open descriptor really is (symlinks resolved), from /proc: no race with a link
// changed between open and check.
bool fd_within(int fd, std::string_view root) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char real[PATH_MAX + 1];
  ssize_t n = ::readlink(link, real, PATH_MAX);
  if (n <= 0) return false;
  return protocol::path_within(std::string_view(real, static_cast<std::size_t>(n)), root);
}

bool dir_within(const std::string& path, std::string_view root) {
  char real[PATH_MAX + 1];
  if (::realpath(path.c_str(), real) == nullptr) return false;
  return protocol::path_within(real, root);
}

PathKind kind_of_error(int err) noexcept {
  return err == EACCES || err == EPERM || err == ELOOP ? PathKind::refused : PathKind::missing;
}

}  // namespace

OpenFile::~OpenFile() {
  if (fd >= 0) ::close(fd);
}

OpenFileCache::Lookup OpenFileCache::open(const std::string& path, const CacheSettings& settings) {
  const auto now = std::chrono::steady_clock::now();
  auto it = map_.find(std::string_view(path));
  if (it != map_.end()) {
    OpenFile& f = *it->second->file;
    bool fresh = settings.ttl.count() > 0 && now - f.checked < settings.ttl;
    if (!fresh) {
      struct stat st{};
      fresh = ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && same_file(f, st);
      if (fresh) f.checked = now;
    }
    if (fresh) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return {PathKind::file, it->second->file};
    }
    lru_.erase(it->second);  // changed, replaced or gone: look again
    map_.erase(it);
  }
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not regular).
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    if (err == EISDIR) {
      if (!settings.root.empty() && !dir_within(path, settings.root)) return {PathKind::refused, nullptr};
      return {PathKind::directory, nullptr};
    }
    return {kind_of_error(err), nullptr};
  }
  auto file = std::make_shared<OpenFile>();
  file->fd = fd;
  struct stat st{};
  if (::fstat(fd, &st) != 0) return {PathKind::missing, nullptr};
  if (S_ISDIR(st.st_mode)) {
    if (!settings.root.empty() && !fd_within(fd, settings.root)) return {PathKind::refused, nullptr};
    return {PathKind::directory, nullptr};
  }
  if (!S_ISREG(st.st_mode)) return {PathKind::missing, nullptr};  // a device, FIFO or socket
  if (!settings.root.empty() && !fd_within(fd, settings.root)) return {PathKind::refused, nullptr};
  // Back to blocking reads (pread of a regular file ignores O_NONBLOCK, but be plain).
  (void)::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  file->size = static_cast<std::uint64_t>(st.st_size);
  file->mtime_ns = mtime_ns_of(st);
  file->device = static_cast<std::uint64_t>(st.st_dev);
  file->inode = static_cast<std::uint64_t>(st.st_ino);
  file->etag = protocol::file_etag(file->mtime_ns, file->size, settings.etag_suffix);
  file->last_modified = protocol::format_http_date(static_cast<std::int64_t>(st.st_mtim.tv_sec));
  file->checked = now;
  if (settings.capacity == 0) return {PathKind::file, std::move(file)};
  while (map_.size() >= settings.capacity && !lru_.empty()) {
    if (auto old = map_.find(std::string_view(lru_.back().path)); old != map_.end()) map_.erase(old);
    lru_.pop_back();
  }
  lru_.push_front(Entry{path, file});
  map_.emplace(path, lru_.begin());
  return {PathKind::file, std::move(file)};
}

OpenFileCache& thread_file_cache(std::uint64_t id) {
  thread_local std::unordered_map<std::uint64_t, OpenFileCache> caches;
  return caches[id];
}

}  // namespace khz::detail
