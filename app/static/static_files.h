// SPDX-License-Identifier: Apache-2.0
// Private to app/: static_fs's handler (StaticFs) and the answer both it and
// RequestContext::file give for one file.
#pragma once

#include <khz/app/request_context.h>
#include <khz/app/static_fs.h>

#include "open_file_cache.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace khz::detail {

// Answers a GET or HEAD with `file` (validators, conditional requests, Range, headers).
// `name` gives the Content-Type; `encoding` is the Content-Encoding of a precompressed sibling
// ("" for none).
void answer_with_file(RequestContext& ctx, std::shared_ptr<const OpenFile> file, std::string_view name,
                      std::string_view encoding, const StaticOptions& options);

// Answers with the precompressed sibling of `full` that Accept-Encoding prefers and that exists
// (when options.precompressed), else with `file` itself.
void answer_with_best_file(RequestContext& ctx, OpenFileCache& cache, const std::string& full,
                           std::shared_ptr<const OpenFile> file, CacheSettings settings, const StaticOptions& options);

// Appends `s` percent-encoded for a URL path segment: unreserved bytes (RFC 3986 §2.3) as they
// are, every other byte as %XX.
void append_url_escaped(std::string& out, std::string_view s);

// The HTML listing of directory `dir` (its entries, hidden ones left out, sorted; names
// escaped), shown as `url_path`. False when the directory cannot be read.
bool directory_listing(const std::string& dir, std::string_view url_path, std::string& html);

// One static_fs mount: its resolved root, options and open-file cache id. Shared by the routes
// it registers; read-only once built (any loop may serve through it).
class StaticFs {
 public:
  // Throws std::invalid_argument when `root` is not a directory.
  StaticFs(std::string_view root, StaticOptions options);
  void serve(RequestContext& ctx) const;

 private:
  // The regular file at `full` (or a precompressed sibling, when accepted).
  void serve_regular(RequestContext& ctx, const std::string& full, std::shared_ptr<const OpenFile> file) const;
  CacheSettings settings(std::string_view etag_suffix = {}) const noexcept;

  std::string root_;  // realpath of the root
  StaticOptions options_;
  std::uint64_t cache_id_;
};

}  // namespace khz::detail
