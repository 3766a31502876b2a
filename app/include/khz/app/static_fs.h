// SPDX-License-Identifier: Apache-2.0
// Static files: StaticOptions, for Server/RouteGroup::static_fs (a folder under a URL prefix)
// and RequestContext::file (one file).
//
//   khz::Server server;
//   server.static_fs("/assets", "/srv/www", {.cache_control = "public, max-age=3600"});
//   //   GET /assets/css/site.css   -> /srv/www/css/site.css
//   server.static_fs("/files", "/srv/files", {.listing = true, .precompressed = false});
//   server.get("/report", [](khz::RequestContext& ctx) { ctx.file("/srv/reports/latest.pdf"); });
//
// What a request gets (RFC 9110): GET and HEAD; Content-Type from the extension
// (<khz/protocol/mime.h>); a strong ETag (mtime and size) and Last-Modified; If-Match,
// If-Unmodified-Since (412), If-None-Match, If-Modified-Since (304); Range with one range (206
// with Content-Range) or several (206 multipart/byteranges), If-Range, 416 for ranges outside
// the file; Accept-Ranges: bytes. Other methods: 405 with Allow: GET, HEAD.
// The bytes: on a plaintext HTTP/1.1 connection on netpoll, sendfile(2) from the page cache to
// the socket; over TLS, on asio and on HTTP/2, read in bounded pieces (64 KiB for HTTP/1.1, one
// DATA frame for HTTP/2): a large file never sits in memory.
// Safety: the path under the prefix is cleaned and must stay inside the root. A ".." segment,
// a backslash, a NUL or control byte, a percent-escape of '.', '/', '\' or NUL left after the
// one decoding the router does (double encoding), and a symlink that resolves outside the
// root (unless follow_symlinks_outside_root) are refused with 404, as a missing file is: a
// probe learns nothing. A directory with no index file and listing off is 403. Hidden files
// (a segment starting with '.') are served like others: keep secrets out of the root.
// Files are read on the event loop (as nginx does without aio): the page cache makes that
// cheap; a root on a slow network filesystem makes the loop wait.
// Threading: the open-file cache is per event loop (no lock); options are read-only once set.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace khz {

struct StaticOptions {
  // Tried in order when the path names a directory (static_fs only).
  std::vector<std::string> index_files{"index.html"};
  // An HTML listing of a directory that has no index file (names escaped; no hidden entries);
  // off: 403.
  bool listing = false;
  // Sent as Cache-Control with every file (200, 206 and 304); empty: none.
  std::string cache_control{};
  // Serve "name.br", "name.zst" or "name.gz" in that order of preference, when it exists and
  // Accept-Encoding allows it, with Content-Encoding set and Vary: Accept-Encoding (sent with
  // every file while on). The sibling gets its own ETag; Content-Type is the original name's.
  bool precompressed = true;
  // Serve a symlink whose target lies outside the root (static_fs only; ctx.file always
  // follows links).
  bool follow_symlinks_outside_root = false;
  // Open files kept per event loop, most recently used first; 0: open and close per request.
  std::size_t fd_cache_size = 256;
  // How long a cached descriptor is trusted without a stat of its path; zero: stat on every
  // request (a file replaced or changed since is reopened and served fresh). A longer TTL
  // saves that syscall and may serve a replaced file's old bytes for up to that long.
  std::chrono::milliseconds fd_cache_ttl{0};
  // Ranges honoured in one request (after merging overlapping ones); more: the whole file (200).
  // 0: Range is ignored.
  std::size_t max_ranges = 16;
  // Content-Type for names the table does not know; empty: application/octet-stream.
  std::string default_content_type{};
};

}  // namespace khz
