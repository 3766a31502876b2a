// SPDX-License-Identifier: Apache-2.0
// The middleware a configuration entry names, with its options (middleware_config.h).
#include "middleware_config.h"

#include <khz/middleware/access_log.h>
#include <khz/middleware/basic_auth.h>
#include <khz/middleware/compression.h>
#include <khz/middleware/cors.h>
#include <khz/middleware/key_auth.h>
#include <khz/middleware/rate_limit.h>
#include <khz/middleware/recovery.h>
#include <khz/middleware/request_id.h>
#include <khz/middleware/secure_headers.h>
#include <khz/middleware/timeout.h>

#include <stdexcept>

namespace khz::gateway {

namespace mw = khz::middleware;

Handler make_middleware(const MiddlewareConfig& c, Server& server) {
  if (c.recovery) return mw::recovery();
  if (c.request_id) return mw::request_id({.header = c.request_id->header, .accept_incoming = c.request_id->accept_incoming});
  if (c.access_log) {
    mw::AccessLogOptions o;
    o.format = c.access_log->format == "json" ? mw::AccessLogFormat::json : mw::AccessLogFormat::combined;
    if (!c.access_log->path.empty()) o.sink = mw::AccessLogSink::file(c.access_log->path);
    return mw::AccessLog(server, std::move(o)).middleware();
  }
  if (c.cors) {
    mw::CorsOptions o;
    o.allow_origins = c.cors->allow_origins;
    if (c.cors->allow_methods) o.allow_methods = *c.cors->allow_methods;
    if (c.cors->allow_headers) o.allow_headers = *c.cors->allow_headers;
    o.expose_headers = c.cors->expose_headers;
    o.allow_credentials = c.cors->allow_credentials;
    o.max_age = c.cors->max_age;
    o.allow_private_network = c.cors->allow_private_network;
    return mw::cors(std::move(o));
  }
  if (c.compression) {
    mw::CompressionOptions o;
    o.codings = c.compression->codings;
    o.min_bytes = c.compression->min_bytes;
    return mw::compression(std::move(o));
  }
  if (c.decompression) {
    mw::DecompressionOptions o;
    o.max_bytes = c.decompression->max_bytes;
    return mw::decompression(std::move(o));
  }
  if (c.rate_limit) {
    mw::RateLimitOptions o;
    o.rate = c.rate_limit->rate;
    o.burst = c.rate_limit->burst;
    if (!c.rate_limit->key_header.empty()) {
      o.key_from = mw::RateKeyFrom::header;
      o.key_header = c.rate_limit->key_header;
    }
    o.trusted_proxies = c.rate_limit->trusted_proxies;
    return mw::rate_limit(std::move(o));
  }
  if (c.basic_auth) {
    mw::BasicAuthOptions o;
    o.users.assign(c.basic_auth->users.begin(), c.basic_auth->users.end());
    o.realm = c.basic_auth->realm;
    return mw::basic_auth(std::move(o));
  }
  if (c.key_auth) {
    mw::KeyAuthOptions o;
    o.keys = c.key_auth->keys;
    o.lookups.clear();
    if (!c.key_auth->header.empty()) o.lookups.push_back({.from = mw::KeyFrom::header, .name = c.key_auth->header});
    if (!c.key_auth->query.empty()) o.lookups.push_back({.from = mw::KeyFrom::query, .name = c.key_auth->query});
    if (!c.key_auth->cookie.empty()) o.lookups.push_back({.from = mw::KeyFrom::cookie, .name = c.key_auth->cookie});
    return mw::key_auth(std::move(o));
  }
  if (c.secure_headers) {
    mw::SecureHeadersOptions o;
    o.hsts_max_age = c.secure_headers->hsts_max_age;
    if (c.secure_headers->content_security_policy) o.content_security_policy = *c.secure_headers->content_security_policy;
    o.frame_options = c.secure_headers->frame_options;
    o.referrer_policy = c.secure_headers->referrer_policy;
    return mw::secure_headers(std::move(o));
  }
  if (c.timeout) return mw::timeout({.after = c.timeout->after});
  throw std::invalid_argument("a middleware entry names no middleware");
}

}  // namespace khz::gateway
