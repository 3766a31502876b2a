// SPDX-License-Identifier: Apache-2.0
// Static files: static_fs's mount (StaticFs), RequestContext::file, and the answer for one
// file (RFC 9110 §13 conditional requests, §14 ranges) with its body left to the protocol
// writer as a FileBody (sendfile on plaintext HTTP/1.1).
#include "static_files.h"

#include <khz/app/engine.h>
#include <khz/common/log.h>
#include <khz/protocol/accept_encoding.h>
#include <khz/protocol/conditional.h>
#include <khz/protocol/file_path.h>
#include <khz/protocol/mime.h>
#include <khz/protocol/range.h>

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <utility>

namespace khz {
namespace detail {
namespace {

std::atomic<std::uint64_t> next_cache_id{1};  // 0: ctx.file's

void answer_status(RequestContext& ctx, int status) {
  Response& r = ctx.response();
  r.clear_file_body();
  std::string text = std::to_string(status) + " " + std::string(reason_phrase(status)) + "\n";
  ctx.string(status, text);
}

void method_not_allowed(RequestContext& ctx) {
  ctx.set_header("Allow", "GET, HEAD");
  answer_status(ctx, 405);
}

// A multipart/byteranges boundary: unique enough that it is not in the file (RFC 9110 §14.6
// asks only that; 20 random-looking characters).
std::string new_boundary() {
  thread_local std::uint64_t state = static_cast<std::uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count()) ^ reinterpret_cast<std::uintptr_t>(&state);
  state += 0x9e3779b97f4a7c15ULL;  // splitmix64
  std::uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  char buf[32];
  std::snprintf(buf, sizeof buf, "khz%016llx", static_cast<unsigned long long>(z));
  return buf;
}

std::string_view content_type_for(std::string_view name, const StaticOptions& options) {
  std::string_view type = protocol::mime_type(name);
  if (type == "application/octet-stream" && !options.default_content_type.empty()) return options.default_content_type;
  return type;
}

// The last segment of a relative path, escaped for a relative redirect ("dir" -> "dir/").
std::string relative_location(std::string_view rel) {
  const std::size_t slash = rel.rfind('/');
  std::string out;
  append_url_escaped(out, slash == std::string_view::npos ? rel : rel.substr(slash + 1));
  out += '/';
  return out;
}

}  // namespace

void answer_with_file(RequestContext& ctx, std::shared_ptr<const OpenFile> file, std::string_view name,
                      std::string_view encoding, const StaticOptions& options) {
  const Request& req = ctx.request();
  Response& r = ctx.response();
  const OpenFile& f = *file;
  HeaderMap& h = r.headers();
  h.set("ETag", f.etag);
  if (!options.cache_control.empty()) h.set("Cache-Control", options.cache_control);
  if (options.precompressed) h.set("Vary", "Accept-Encoding");
  const protocol::Validators v{f.etag, f.mtime_ns / 1'000'000'000};
  switch (protocol::evaluate_preconditions(req.method(), req.headers(), v)) {
    case protocol::Precondition::not_modified:
      r.clear_file_body();
      r.body_buffer().clear();
      r.set_status(304);  // §15.4.5: ETag, Cache-Control and Vary, no representation metadata
      return;
    case protocol::Precondition::failed:
      answer_status(ctx, 412);
      return;
    case protocol::Precondition::proceed:
      break;
  }
  h.set("Last-Modified", f.last_modified);
  h.set("Accept-Ranges", options.max_ranges > 0 ? "bytes" : "none");
  if (!encoding.empty()) h.set("Content-Encoding", encoding);
  const std::string_view type = content_type_for(name, options);
  r.body_buffer().clear();
  // §14.2: Range is defined for GET only.
  std::string_view range = req.method() == "GET" && options.max_ranges > 0 ? req.header("Range") : std::string_view{};
  if (!range.empty() && protocol::range_applies(req.header("If-Range"), v)) {
    protocol::RangeSet set = protocol::parse_range(range, f.size, options.max_ranges);
    if (set.status == protocol::RangeStatus::unsatisfiable) {
      h.set("Content-Range", protocol::unsatisfied_content_range(f.size));
      answer_status(ctx, 416);
      return;
    }
    if (set.status == protocol::RangeStatus::satisfiable) {
      r.set_status(206);
      const int fd = f.fd;
      FileBody& body = r.set_file_body(fd, std::move(file));
      if (set.ranges.size() == 1) {
        const protocol::ByteRange one = set.ranges.front();
        h.set("Content-Type", type);
        h.set("Content-Range", protocol::content_range(one, f.size));
        body.pieces.push_back({{}, one.first, one.length()});
        return;
      }
      const std::string boundary = new_boundary();
      h.set("Content-Type", "multipart/byteranges; boundary=" + boundary);
      protocol::ByteRangesFraming framing = protocol::byteranges_framing(set.ranges, f.size, type, boundary);
      for (std::size_t i = 0; i < set.ranges.size(); ++i) {
        body.pieces.push_back({std::move(framing.part_heads[i]), set.ranges[i].first, set.ranges[i].length()});
      }
      body.tail = std::move(framing.closing);
      return;
    }
    // none: the whole file
  }
  r.set_status(200);
  h.set("Content-Type", type);
  const int fd = f.fd;
  const std::uint64_t size = f.size;
  FileBody& body = r.set_file_body(fd, std::move(file));
  if (size != 0) body.pieces.push_back({{}, 0, size});
}

StaticFs::StaticFs(std::string_view root, StaticOptions options)
    : options_(std::move(options)), cache_id_(next_cache_id.fetch_add(1, std::memory_order_relaxed)) {
  char real[PATH_MAX + 1];
  const std::string root_text(root);
  struct stat st{};
  if (::realpath(root_text.c_str(), real) == nullptr || ::stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw std::invalid_argument("static_fs: \"" + root_text + "\" is not a directory");
  }
  root_ = real;
}

CacheSettings StaticFs::settings(std::string_view etag_suffix) const noexcept {
  return {options_.fd_cache_size, options_.fd_cache_ttl,
          options_.follow_symlinks_outside_root ? std::string_view{} : std::string_view(root_), etag_suffix};
}

void StaticFs::serve(RequestContext& ctx) const {
  const std::string_view asked = ctx.param("filepath");
  std::optional<std::string> rel = protocol::relative_file_path(asked);
  if (!rel) {
    KHZ_LOG(info, "static_fs: refused path " << ctx.path() << " from " << ctx.peer_address());
    answer_status(ctx, 404);
    return;
  }
  std::string full = root_;
  if (!rel->empty()) {
    if (full.back() != '/') full += '/';
    full += *rel;
  }
  OpenFileCache& cache = thread_file_cache(cache_id_);
  OpenFileCache::Lookup found = cache.open(full, settings());
  switch (found.kind) {
    case PathKind::file:
      serve_regular(ctx, full, std::move(found.file));
      return;
    case PathKind::missing:
      answer_status(ctx, 404);
      return;
    case PathKind::refused:
      KHZ_LOG(info, "static_fs: refused " << full << " (outside the root or not readable) for " << ctx.peer_address());
      answer_status(ctx, 404);
      return;
    case PathKind::directory:
      break;
  }
  // A directory: "dir/" is its URL, so its relative links work.
  if (!asked.empty() && asked.back() != '/') {
    std::string location = relative_location(*rel);
    if (!ctx.request().query().empty()) {
      location += '?';
      location += ctx.request().query();
    }
    ctx.redirect(301, location);
    return;
  }
  for (const std::string& index : options_.index_files) {
    std::string index_path = full;
    if (index_path.back() != '/') index_path += '/';
    index_path += index;
    OpenFileCache::Lookup idx = cache.open(index_path, settings());
    if (idx.kind == PathKind::file) {
      serve_regular(ctx, index_path, std::move(idx.file));
      return;
    }
  }
  if (!options_.listing) {
    answer_status(ctx, 403);
    return;
  }
  std::string html;
  if (!directory_listing(full, ctx.path(), html)) {
    answer_status(ctx, 403);
    return;
  }
  ctx.response().clear_file_body();
  if (!options_.cache_control.empty()) ctx.set_header("Cache-Control", options_.cache_control);
  ctx.html_raw(200, html);
}

void StaticFs::serve_regular(RequestContext& ctx, const std::string& full, std::shared_ptr<const OpenFile> file) const {
  answer_with_best_file(ctx, thread_file_cache(cache_id_), full, std::move(file), settings(), options_);
}

void answer_with_best_file(RequestContext& ctx, OpenFileCache& cache, const std::string& full,
                           std::shared_ptr<const OpenFile> file, CacheSettings settings, const StaticOptions& options) {
  if (options.precompressed) {
    std::string_view accept = ctx.header("Accept-Encoding");
    if (!accept.empty()) {
      static constexpr std::pair<std::string_view, std::string_view> kSiblings[] = {
          {"br", ".br"}, {"zstd", ".zst"}, {"gzip", ".gz"}};
      for (const auto& [coding, ext] : kSiblings) {
        if (!protocol::accepts_coding(accept, coding)) continue;
        std::string sibling = full;
        sibling += ext;
        settings.etag_suffix = coding;
        OpenFileCache::Lookup s = cache.open(sibling, settings);
        if (s.kind == PathKind::file) {
          answer_with_file(ctx, std::move(s.file), full, coding, options);
          return;
        }
      }
    }
  }
  answer_with_file(ctx, std::move(file), full, {}, options);
}

}  // namespace detail

void RouteGroup::static_fs(std::string_view prefix, std::string_view root, StaticOptions options) {
  auto fs = std::make_shared<const detail::StaticFs>(root, std::move(options));
  std::string pattern(prefix);
  if (pattern.empty() || pattern.back() != '/') pattern += '/';
  pattern += "*filepath";
  auto serve = [fs](RequestContext& ctx) { fs->serve(ctx); };
  get(pattern, serve);
  head(pattern, serve);
  for (std::string_view m : {"POST", "PUT", "PATCH", "DELETE"}) handle(m, pattern, &detail::method_not_allowed);
}

void RequestContext::file(std::string_view path) { file(path, StaticOptions{}); }

void RequestContext::file(std::string_view path, const StaticOptions& options) {
  check_live("file");
  const std::string_view method = request().method();
  if (method != "GET" && method != "HEAD") {
    detail::method_not_allowed(*this);
    return;
  }
  const detail::CacheSettings settings{options.fd_cache_size, options.fd_cache_ttl, {}, {}};
  const std::string full(path);
  detail::OpenFileCache& cache = detail::thread_file_cache(0);
  detail::OpenFileCache::Lookup found = cache.open(full, settings);
  if (found.kind == detail::PathKind::file) {
    detail::answer_with_best_file(*this, cache, full, std::move(found.file), settings, options);
    return;
  }
  detail::answer_status(*this, found.kind == detail::PathKind::refused ? 403 : 404);
}

}  // namespace khz
