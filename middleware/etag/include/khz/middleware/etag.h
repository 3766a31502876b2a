// SPDX-License-Identifier: Apache-2.0
// khz::middleware::etag and cache_control: HTTP caching for dynamic responses. etag() tags a
// buffered body with a weak entity tag and answers 304 Not Modified when the client already
// has it; cache_control() puts one Cache-Control value on a route group's answers.
//
//   auto api = server.group("/api", khz::middleware::etag(),
//                           khz::middleware::cache_control({.is_private = true, .no_cache = true}));
//   auto assets = server.group("/catalogue", khz::middleware::etag(),
//                              khz::middleware::cache_control({.is_public = true, .max_age = std::chrono::hours(1)}));
//   // GET /api/users/7          -> 200, ETag: W/"1f-8c1e5d2a9b3f4e07", Cache-Control: private, no-cache
//   // GET /api/users/7 with If-None-Match: W/"1f-8c1e5d2a9b3f4e07"  -> 304, no body
//
// etag(), after the inner layers ran, for GET and HEAD answered 2xx with a buffered body:
//   - ETag: W/"<body length hex>-<XXH3-64 of the body, 16 hex>", unless the response has one
//     already (a handler's own, or static files': left alone). Weak (RFC 9110 §8.8.1): the tag
//     says the bytes are the same, and a compressing layer outside may change their encoding.
//     XXH3 (libxxhash) hashes at memory speed, so tagging costs a fraction of writing the body;
//     it is no cryptographic hash, and a tag is no secret.
//   - If-None-Match (every field of it; "*", lists; weak comparison, §13.1.2; parsed by
//     <khz/protocol/conditional.h>) holding the tag: the answer becomes 304 with the ETag and
//     the headers that stay on a 304 (Cache-Control, Vary, Expires, ... and what middleware set;
//     ctx.discard_response drops the body and what describes it). A malformed list matches
//     nothing: the full answer goes out.
//   - left alone: other methods, non-2xx answers, streamed responses (ctx.write, SSE: the head is
//     out before the body is known), file bodies (ctx.file, static_fs: they carry their own
//     validators and conditional handling), a HEAD answer without a body (its GET's tag is
//     unknown), and If-Match / If-Modified-Since (the handler's to judge; the body's tag is
//     known only after it ran).
// The body is hashed once per answer, on the loop: for large bodies that change rarely, a
// handler that knows a version sets its own ETag (and is left alone). Put etag() inside the
// middleware that rewrites bodies (compression) and after auth, on the groups whose answers
// are worth revalidating. No options.
//
// cache_control(options): sets Cache-Control to cache_control_value(options) on every answer
// of the routes it wraps, before they run, so a handler that sets its own replaces it. Once
// the inner layers are done, it takes the value back from an error answer (status >= 400) that
// still carries it, so an error is never cached for `max_age` (a streamed response keeps it:
// its head is out). An options struct that says nothing throws std::invalid_argument.
#pragma once

#include <khz/app/handler.h>

#include <chrono>
#include <optional>
#include <string>

namespace khz::middleware {

Handler etag();

// The weak entity tag etag() gives `body`: W/"<length hex>-<xxh3 hex>".
std::string weak_etag(std::string_view body);

// Cache-Control directives (RFC 9111 §5.2.2; RFC 8246 immutable; RFC 5861 stale-*); each
// unset one is left out, in this order.
struct CacheControlOptions {
  bool is_public = false;    // public
  bool is_private = false;   // private (both set: std::invalid_argument)
  bool no_cache = false;     // no-cache: store, but revalidate every time (with etag(): a 304)
  bool no_store = false;     // no-store
  std::optional<std::chrono::seconds> max_age{};                 // max-age=N
  std::optional<std::chrono::seconds> s_maxage{};                // s-maxage=N (shared caches)
  bool must_revalidate = false;                                  // must-revalidate
  bool proxy_revalidate = false;                                 // proxy-revalidate
  bool no_transform = false;                                     // no-transform
  bool immutable = false;                                        // immutable
  std::optional<std::chrono::seconds> stale_while_revalidate{};  // stale-while-revalidate=N
  std::optional<std::chrono::seconds> stale_if_error{};          // stale-if-error=N
};

// The header value: "public, max-age=3600", "private, no-cache", "no-store". Throws
// std::invalid_argument for public with private, a negative age, or no directive at all.
std::string cache_control_value(const CacheControlOptions& options);

Handler cache_control(CacheControlOptions options);

}  // namespace khz::middleware
