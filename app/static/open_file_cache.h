// SPDX-License-Identifier: Apache-2.0
// Private to app/: the open-file cache of static files. One cache per (static_fs, event loop):
// no lock. An entry is a regular file opened read-only, with what stat said of it and the
// validators derived from it; a hit is checked again by stat(2) of its path once the TTL is
// over (each request with TTL 0), and a file replaced or changed since is reopened.
// Least recently used entries are closed first; an entry handed out stays open while the
// response that holds it lives (shared ownership), even once evicted.
// Threading: one thread (the loop's).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>

namespace khz::detail {

struct OpenFile {
  OpenFile() = default;
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  ~OpenFile();

  int fd = -1;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::string etag;           // strong, from mtime and size (file_etag)
  std::string last_modified;  // IMF-fixdate of mtime
  std::chrono::steady_clock::time_point checked{};
};

// What a path names, as far as serving goes.
enum class PathKind { file, directory, missing, refused };

struct CacheSettings {
  std::size_t capacity = 0;           // entries; 0: nothing kept
  std::chrono::milliseconds ttl{0};  // trust an entry this long without a stat
  std::string_view root;              // resolved root; empty: no containment check
  std::string_view etag_suffix;       // for precompressed siblings
};

class OpenFileCache {
 public:
  // Opens (or finds) the regular file at `path`. kind: file (and the file), directory (no file:
  // directories are not cached), missing (ENOENT, ENOTDIR, or not a regular file), refused
  // (it resolves outside settings.root, or permission denied).
  struct Lookup {
    PathKind kind = PathKind::missing;
    std::shared_ptr<const OpenFile> file;
  };
  Lookup open(const std::string& path, const CacheSettings& settings);

  std::size_t size() const noexcept { return map_.size(); }

 private:
  struct Entry {
    std::string path;
    std::shared_ptr<OpenFile> file;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  using List = std::list<Entry>;
  List lru_;  // most recent first
  std::unordered_map<std::string, List::iterator, Hash, std::equal_to<>> map_;
};

// The thread's cache for cache id `id` (one per static_fs; 0 for ctx.file).
OpenFileCache& thread_file_cache(std::uint64_t id);

}  // namespace khz::detail
