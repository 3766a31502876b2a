// SPDX-License-Identifier: Apache-2.0
// khz::middleware::rate_limit: a token bucket per client (by IP, a header or a function of
// your own), with the IETF RateLimit fields and 429 Too Many Requests past the limit.
//
//   server.use(khz::middleware::rate_limit({.rate = 50, .burst = 100}));       // per client IP
//   auto api = server.group("/api", khz::middleware::rate_limit({
//       .rate = 5, .burst = 10, .key_from = khz::middleware::RateKeyFrom::header,
//       .key_header = "X-API-Key", .policy = "api"}));
//   // Behind a load balancer at 10.0.0.0/8 that appends to X-Forwarded-For:
//   khz::middleware::rate_limit({.rate = 50, .burst = 100, .trusted_proxies = {"10.0.0.0/8"}});
//
// Each key has a bucket of `burst` tokens, refilled at `rate` tokens a second; a request takes
// one. With a token the chain runs on; without one the answer is 429 with Retry-After (whole
// seconds until a token is back, at least 1) and the chain stops. The bucket state is per
// route group: each rate_limit(...) is a limit of its own, so a group's instance counts only
// the group's requests.
//
// Response fields (draft-ietf-httpapi-ratelimit-headers-09, the RateLimit-Policy/RateLimit
// form that replaced the RateLimit-Limit/-Remaining/-Reset trio of drafts up to -06), on every
// answer of the limited routes, the 429 included, unless `headers` is false:
//   RateLimit-Policy: "<policy>";q=<burst>;w=<window>     w = ceil(burst / rate) seconds
//   RateLimit: "<policy>";r=<remaining>;t=<reset>         r = whole tokens left after this
//                                                         request, t = seconds until the bucket
//                                                         is full again (ceil)
//
// Keys (`key_from`):
//   client_ip  the peer's address without its port. When the peer is one of `trusted_proxies`
//              (CIDRs or single addresses, IPv4 and IPv6), the client is read from
//              `forwarded_header` ("X-Forwarded-For" or "Forwarded", RFC 7239 for=): walking
//              from the right, the first address that is not a trusted proxy. A malformed entry
//              (not an IP address: "unknown", an obfuscated "_id", garbage) stops the walk and
//              the last trusted hop is the key instead; that is logged (at most one line a
//              second per loop, as below). Never trust a header you do not control: without
//              `trusted_proxies` it is not read at all.
//   header     the value of `key_header` (the first field of that name); a request without it,
//              or with an empty one, is keyed by client IP as above.
//   function   `key(ctx)`; "" exempts the request (it is not counted and gets no fields).
// Keys over 256 bytes are hashed down to keep memory bounded per key.
//
// Per loop, no locks: every event loop keeps its own buckets (found through a thread-local
// table, no atomics or mutex per request), at most `max_keys` of them; past that the least
// recently used key is forgotten (it starts again with a full bucket: size max_keys above the
// number of clients you expect to be limited at once). How a limit meets several loops:
//   split_over_loops = 1 (default): every loop enforces the full limit on its own. A key
//       whose requests all reach one loop (one HTTP/2 connection, one keep-alive connection)
//       is limited exactly; a key with connections on k loops may get up to k times the rate
//       and burst.
//   split_over_loops = N (the server's loop count): each loop allows rate/N and burst/N
//       (burst at least 1): never more than the limit in all, but a key whose connections
//       all land on one loop gets only 1/N of it.
// Neither is a shared global counter; for an exact cluster-wide limit use a shared store.
//
// Logging: a refusal is logged at info as "rate_limit: GET /path: key 203.0.113.7 over 5/s
// (burst 10); 429", at most one line per `log_interval` per loop; the next line says how many
// refusals went unlogged meanwhile, so a flood cannot flood the log.
//
// Where it goes: after recovery, request_id and cors (so a 429 still carries CORS headers
// and a preflight is not counted if cors answers it first), before authentication (so bad
// credentials are rate-limited too).
//
// Options (defaults):
//   rate              10 tokens a second (> 0)
//   burst             20 (>= 1)
//   key_from          RateKeyFrom::client_ip
//   key_header        "" (required with key_from = header)
//   key               none (required with key_from = function); runs on the loop, must not block
//   trusted_proxies   {} ("10.0.0.0/8", "192.168.1.7", "fd00::/8")
//   forwarded_header  "X-Forwarded-For" (or "Forwarded")
//   max_keys          10000 per loop (>= 1)
//   split_over_loops  1 (>= 1)
//   policy            "default": the policy name in the fields (a token: letters, digits, -_.;
//                     at most 64 of them)
//   headers           true
//   log_interval      1 s
//   clock             none: khz::coarse_steady_now, steady_clock's time as of the last tick
//                     (a few ms; tests pass a fake clock)
#pragma once

#include <khz/app/handler.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace khz {
class RequestContext;
}

namespace khz::middleware {

enum class RateKeyFrom { client_ip, header, function };

struct RateLimitOptions {
  double rate = 10;
  unsigned burst = 20;
  RateKeyFrom key_from = RateKeyFrom::client_ip;
  std::string key_header{};
  std::function<std::string(RequestContext& ctx)> key{};
  std::vector<std::string> trusted_proxies{};
  std::string forwarded_header = "X-Forwarded-For";
  std::size_t max_keys = 10000;
  unsigned split_over_loops = 1;
  std::string policy = "default";
  bool headers = true;
  std::chrono::steady_clock::duration log_interval = std::chrono::seconds(1);
  std::function<std::chrono::steady_clock::time_point()> clock{};
};

// Throws std::invalid_argument for a bad option (rate <= 0, burst 0, a bad CIDR, a missing
// key_header or key, max_keys 0, a policy that is not a token or is longer than 64, another
// forwarded_header).
Handler rate_limit(RateLimitOptions options = {});

}  // namespace khz::middleware
