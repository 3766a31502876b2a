// SPDX-License-Identifier: Apache-2.0
// ReverseProxy: one request forwarded (target, fields, body out; head and body back), with the
// upstream picked and retried through UpstreamPool and the field rules of forwarding.h.
#include <khz/proxy/reverse_proxy.h>

#include "forwarding.h"
#include "health_check.h"
#include "upgrade.h"
#include "upstream_pool.h"

#include <khz/app/client.h>
#include <khz/app/client/errors.h>
#include <khz/common/log.h>
#include <khz/protocol/error.h>
#include <khz/transport/error.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <limits>
#include <optional>
#include <stdexcept>
#include <system_error>

namespace khz::proxy {

using detail::Target;

struct ReverseProxy::State {
  explicit State(ReverseProxyOptions o)
      : options(std::move(o)), pool(options), trusted(options.trusted_proxies), client(client_options(options)) {
    if (!options.strip_prefix.empty() &&
        (options.strip_prefix.front() != '/' || options.strip_prefix.find('?') != std::string::npos)) {
      throw std::invalid_argument("proxy: strip_prefix '" + options.strip_prefix + "' is no path prefix");
    }
    while (options.strip_prefix.size() > 1 && options.strip_prefix.back() == '/') options.strip_prefix.pop_back();
    if (options.max_attempts < 1) throw std::invalid_argument("proxy: max_attempts below 1");
    if (!options.health_check.path.empty()) {
      checker = std::make_unique<detail::HealthChecker>(pool, options.health_check, options);
    }
  }

  static ClientOptions client_options(const ReverseProxyOptions& o) {
    ClientOptions c;
    c.dial_timeout = o.connect_timeout;
    c.response_header_timeout = o.response_timeout;
    c.read_timeout = o.read_timeout;
    c.max_redirects = 0;                  // a 3xx goes back to the client as it is
    c.proxy_from_environment = false;     // the upstream is dialled directly
    c.user_agent.clear();                 // the client's own User-Agent, or none
    c.max_body_bytes = std::numeric_limits<std::uint64_t>::max();  // bodies stream through
    c.max_connections_per_host = 1024;
    c.http2_prior_knowledge = o.upstream_h2c;
    c.insecure_skip_verify = o.insecure_skip_verify;
    c.tls_ca_file = o.tls_ca_file;
    return c;  // retries: ClientOptions's default of one attempt; the proxy retries itself
  }

  Task<void> forward(RequestContext& ctx);
  bool retry_allowed() const noexcept {
    const int allowed = std::max(options.min_retries_in_flight,
                                 static_cast<int>(options.retry_budget * requests_in_flight.load(std::memory_order_relaxed)));
    return retries_in_flight.load(std::memory_order_relaxed) < allowed;
  }
  std::string target_for(const Request& in) const;
  std::string_view hash_key(RequestContext& ctx) const;
  void add_request_fields(RequestContext& ctx, HeaderMap& out) const;

  ReverseProxyOptions options;
  std::atomic<int> requests_in_flight{0};  // forward() calls running, on every loop
  std::atomic<int> retries_in_flight{0};   // of which on a second or later try
  detail::UpstreamPool pool;
  detail::TrustedProxies trusted;
  Client client;
  std::unique_ptr<detail::HealthChecker> checker;  // last: stopped before the pool goes
};

namespace {

bool idempotent(std::string_view method) noexcept {
  for (std::string_view m : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}) {
    if (method == m) return true;
  }
  return false;
}

// The upstream could not be reached: nothing was sent, another upstream may take the request.
bool connect_failure(std::error_code ec) noexcept {
  return ec == std::errc::connection_refused || ec == std::errc::network_unreachable ||
         ec == std::errc::host_unreachable || ec == std::errc::address_not_available;
}

// The connection broke before a response head (the request may or may not have been handled).
bool broke_before_head(std::error_code ec) noexcept {
  return ec == transport::errc::eof || ec == std::errc::connection_reset || ec == std::errc::broken_pipe ||
         ec == protocol::errc::truncated_response;
}

std::string_view via_version(const Request& r) noexcept {
  switch (r.version()) {
    case Version::http10: return "1.0";
    case Version::http2: return "2";
    default: return "1.1";
  }
}

// The downstream request body, piece by piece, for the client's BodySource (a named coroutine:
// the client calls it until it returns ""). `read` records that the body began to be consumed,
// after which the request cannot go to another upstream.
Task<Result<std::string_view>> read_downstream(RequestContext* ctx, bool* read) {
  *read = true;
  co_return co_await ctx->read_body_chunk();
}

// The upstream's trailer fields (they arrive with the end of its body), for the client.
void copy_trailers(const Response& from, Response& to) {
  for (const auto& f : from.trailers()) {
    if (!detail::is_hop_by_hop(f.name) && !iequals(f.name, "Content-Length")) to.trailers().add(f.name, f.value);
  }
}

// One more in a counter for as long as it lives.
struct Counted {
  explicit Counted(std::atomic<int>& c) noexcept : counter(&c) { counter->fetch_add(1, std::memory_order_relaxed); }
  ~Counted() { counter->fetch_sub(1, std::memory_order_relaxed); }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  std::atomic<int>* counter;
};

// Counts a request in flight on its upstream (least-request balancing) for its whole life.
struct InFlight {
  explicit InFlight(Target& t) noexcept : target(&t) { target->in_flight.fetch_add(1, std::memory_order_relaxed); }
  ~InFlight() { target->in_flight.fetch_sub(1, std::memory_order_relaxed); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  Target* target;
};

}  // namespace

ReverseProxy::ReverseProxy(ReverseProxyOptions options) : state_(std::make_unique<State>(std::move(options))) {}
ReverseProxy::~ReverseProxy() = default;

Handler ReverseProxy::handler() {
  return Handler("khz::proxy::ReverseProxy", [this](RequestContext& ctx) { return serve(ctx); });
}

Task<void> ReverseProxy::serve(RequestContext& ctx) { return state_->forward(ctx); }

std::string ReverseProxy::State::target_for(const Request& in) const {
  // The target as sent, byte for byte (an absolute-form target: its path and query).
  std::string_view raw = in.target();
  std::string target;
  if (!raw.empty() && raw.front() == '/') {
    target = std::string(raw);
  } else {
    target = std::string(in.path());
    if (!in.query().empty()) target.append("?").append(in.query());
  }
  const std::string& prefix = options.strip_prefix;
  if (!prefix.empty() && prefix != "/" && target.starts_with(prefix)) {
    const char after = target.size() > prefix.size() ? target[prefix.size()] : '\0';
    if (after == '\0' || after == '/' || after == '?') {
      target.erase(0, prefix.size());
      if (target.empty() || target.front() != '/') target.insert(0, 1, '/');
    }
  }
  return target;
}

std::string_view ReverseProxy::State::hash_key(RequestContext& ctx) const {
  switch (options.hash_key.source) {
    case HashKey::Source::header: return ctx.header(options.hash_key.name);
    case HashKey::Source::cookie: return ctx.cookie(options.hash_key.name);
    case HashKey::Source::client_ip: return detail::peer_ip(ctx.peer_address());
    case HashKey::Source::path: return ctx.request().path();
  }
  return {};
}

void ReverseProxy::State::add_request_fields(RequestContext& ctx, HeaderMap& out) const {
  const Request& in = ctx.request();
  const std::vector<std::string> named = detail::connection_tokens(in.headers());
  const std::string_view ip = detail::peer_ip(ctx.peer_address());
  const bool trusted_peer = trusted.contains(ip);
  const bool keep_forwarding = options.forwarded == ForwardedFields::none || trusted_peer;
  std::string prior_xff;
  std::string prior_forwarded;
  for (const auto& f : in.headers()) {
    if (iequals(f.name, "TE")) {  // hop-by-hop, but a client that takes trailers says so to the upstream
      if (has_token(f.value, "trailers") && !out.contains("TE")) out.add("TE", "trailers");
      continue;
    }
    if (detail::is_hop_by_hop(f.name) || detail::names_one_of(f.name, named) || iequals(f.name, "Host") ||
        iequals(f.name, "Content-Length") || iequals(f.name, "Expect")) {
      continue;
    }
    const bool forwarding_field = iequals(f.name, "X-Forwarded-For") || iequals(f.name, "X-Forwarded-Proto") ||
                                  iequals(f.name, "X-Forwarded-Host") || iequals(f.name, "X-Forwarded-Port") ||
                                  iequals(f.name, "Forwarded");
    if (forwarding_field && !keep_forwarding) continue;  // a client's own claim: dropped
    if (options.forwarded == ForwardedFields::x_forwarded && iequals(f.name, "X-Forwarded-For")) {
      prior_xff.append(prior_xff.empty() ? "" : ", ").append(f.value);
      continue;
    }
    if (options.forwarded == ForwardedFields::rfc7239 && iequals(f.name, "Forwarded")) {
      prior_forwarded.append(prior_forwarded.empty() ? "" : ", ").append(f.value);
      continue;
    }
    out.add(f.name, f.value);
  }
  const std::string_view host = in.host();
  const std::string_view proto = ctx.is_tls() ? "https" : "http";
  if (options.forwarded == ForwardedFields::x_forwarded) {
    const std::string client = ip.empty() ? std::string("unknown") : std::string(ip);
    out.set("X-Forwarded-For", prior_xff.empty() ? client : prior_xff + ", " + client);
    if (!out.contains("X-Forwarded-Proto")) out.set("X-Forwarded-Proto", proto);
    if (!out.contains("X-Forwarded-Host") && !host.empty()) out.set("X-Forwarded-Host", host);
  } else if (options.forwarded == ForwardedFields::rfc7239) {
    std::string element = "for=" + detail::forwarded_node(ip);
    if (!host.empty()) element += ";host=" + detail::forwarded_value(host);
    element += ";proto=";
    element += proto;
    out.set("Forwarded", prior_forwarded.empty() ? element : prior_forwarded + ", " + element);
  }
  if (!options.via.empty()) {
    std::string via(in.headers().get("Via"));
    via.append(via.empty() ? "" : ", ").append(via_version(in)).append(" ").append(options.via);
    out.set("Via", via);
  }
}

Task<void> ReverseProxy::State::forward(RequestContext& ctx) {
  const Request& in = ctx.request();
  const std::string target = target_for(in);
  HeaderMap fields;
  add_request_fields(ctx, fields);
  const HeaderMap& in_headers = in.headers();
  // Which body the request has: HTTP/1.1 says so by Content-Length or Transfer-Encoding; an
  // HTTP/2 request may carry DATA without Content-Length (any method but GET and HEAD here).
  const bool has_body = in_headers.contains("Content-Length") || in_headers.contains("Transfer-Encoding") ||
                        (in.version() == Version::http2 && in.method() != "GET" && in.method() != "HEAD");
  std::int64_t body_length = -1;
  if (std::string_view cl = in_headers.get("Content-Length"); !cl.empty() && !in_headers.contains("Transfer-Encoding")) {
    std::from_chars(cl.data(), cl.data() + cl.size(), body_length);  // the server validated it
  }
  bool body_read = false;

  if (detail::is_upgrade_request(in)) {  // WebSocket and other HTTP/1.1 upgrades: a tunnel
    const detail::UpstreamPool::TargetSet none(pool.size(), false);
    const std::size_t i =
        pool.pick(none, options.balance == Balance::consistent_hash ? detail::UpstreamPool::hash(hash_key(ctx)) : 0);
    Target& t = pool.target(i);
    std::string path = t.base_path + target;
    if (options.rewrite) path = options.rewrite(path);
    if (t.tls) {
      KHZ_LOG(warn, "proxy: " << in.method() << " " << t.origin << path << " (upgrade): not supported to https upstreams; 502");
      ctx.string(502, "bad gateway\n");
      co_return;
    }
    detail::UpgradeCall call{.host = t.host, .port = t.port, .url = t.origin + path, .target = path,
                             .fields = fields, .connect_timeout = options.connect_timeout,
                             .response_timeout = options.response_timeout};
    call.fields.set("Host", options.preserve_host && !in.host().empty() ? in.host() : std::string_view(t.authority));
    InFlight counted(t);
    const int status = co_await detail::forward_upgrade(ctx, std::move(call));
    pool.report(i, status == 0 || status >= 500);
    co_return;
  }

  const std::uint64_t key_hash = options.balance == Balance::consistent_hash ? detail::UpstreamPool::hash(hash_key(ctx)) : 0;
  Counted request(requests_in_flight);
  std::optional<Counted> retrying;
  detail::UpstreamPool::TargetSet tried(pool.size(), false);
  std::optional<ResponseStream> stream;
  std::size_t chosen = 0;
  std::string path;  // the try's upstream path; its URL (for the logs) is the target's origin and this
  auto upstream_url = [&] { return pool.target(chosen).origin + path; };
  // The clock is read only when a total timeout needs the start.
  const auto started = options.total_timeout.count() > 0 ? std::chrono::steady_clock::now()
                                                         : std::chrono::steady_clock::time_point{};
  for (int attempt = 1;; ++attempt) {
    std::chrono::milliseconds left{0};  // of total_timeout, for this try and the body after it
    if (options.total_timeout.count() > 0) {
      left = options.total_timeout -
             std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      if (left.count() <= 0) {
        KHZ_LOG(warn, "proxy: " << in.method() << " " << upstream_url() << ": total timeout of "
                                << options.total_timeout.count() << " ms spent on earlier tries; 504");
        ctx.string(504, "upstream timed out\n");
        co_return;
      }
    }
    chosen = pool.pick(tried, key_hash);
    tried[chosen] = true;
    Target& t = pool.target(chosen);
    ClientRequest req;
    req.method = std::string(in.method());
    path.assign(t.base_path).append(target);
    if (options.rewrite) path = options.rewrite(path);
    req.url.reserve(t.origin.size() + path.size());  // one allocation, not two
    req.url.assign(t.origin).append(path);
    // The fields go to the request whole; a retry (rare) builds them again.
    if (attempt > 1) add_request_fields(ctx, fields);
    req.headers = std::move(fields);
    fields = HeaderMap();
    req.timeout = left;
    req.headers.set("Host", options.preserve_host && !in.host().empty() ? in.host() : std::string_view(t.authority));
    if (has_body) {
      if (ctx.body_streamed()) {
        req.body_source = [c = &ctx, flag = &body_read] { return read_downstream(c, flag); };
        req.body_length = body_length;
      } else {
        req.body = std::string(ctx.body());
      }
    }
    InFlight counted(t);
    auto result = co_await client.stream(std::move(req));
    if (result) {
      stream.emplace(std::move(*result));
      break;
    }
    const std::error_code ec = result.error();
    if (ec == client::errc::cancelled) {  // the downstream client went away
      KHZ_LOG(debug, "proxy: " << in.method() << " " << upstream_url() << ": the client went away");
      co_return;
    }
    pool.report(chosen, true);
    const bool untried = std::find(tried.begin(), tried.end(), false) != tried.end();
    const bool another = attempt < options.max_attempts && untried && !body_read &&
                         (connect_failure(ec) || (idempotent(in.method()) && broke_before_head(ec)));
    if (another && retry_allowed()) {
      KHZ_LOG(info, "proxy: " << in.method() << " " << upstream_url() << ": " << ec.message() << "; trying again");
      if (!retrying) {
        retrying.emplace(retries_in_flight);
      }
      continue;
    }
    if (another) {
      KHZ_LOG(warn, "proxy: " << in.method() << " " << upstream_url() << ": " << ec.message()
                              << "; retry budget spent; 502");
      ctx.string(502, "bad gateway\n");
      co_return;
    }
    const bool timeout = ec == transport::errc::timed_out;
    KHZ_LOG(warn, "proxy: " << in.method() << " " << upstream_url() << ": " << ec.message() << "; "
                            << (timeout ? 504 : 502));
    ctx.string(timeout ? 504 : 502, timeout ? "upstream timed out\n" : "bad gateway\n");
    co_return;
  }

  InFlight counted(pool.target(chosen));
  const Response& head = stream->response();
  pool.report(chosen, head.status() >= 500);
  ctx.set_status(head.status());
  const std::vector<std::string> named = detail::connection_tokens(head.headers());
  HeaderMap& out = ctx.response().headers();
  for (const auto& f : head.headers()) {
    if (detail::is_hop_by_hop(f.name) || detail::names_one_of(f.name, named) || iequals(f.name, "Content-Length") ||
        iequals(f.name, "Date") || iequals(f.name, "Server")) {
      continue;
    }
    out.add(f.name, f.value);
  }
  if (!options.via.empty()) {
    std::string via(head.headers().get("Via"));
    via.append(via.empty() ? "" : ", ").append(via_version(in)).append(" ").append(options.via);
    out.set("Via", via);
  }

  auto first = co_await stream->read();
  if (!first) {
    if (first.error() == client::errc::cancelled) co_return;
    const bool timeout = first.error() == transport::errc::timed_out;
    KHZ_LOG(warn, "proxy: " << in.method() << " " << upstream_url() << ": body failed before it began: "
                            << first.error().message() << "; " << (timeout ? 504 : 502));
    pool.report(chosen, true);
    out.clear();
    ctx.string(timeout ? 504 : 502, timeout ? "upstream timed out\n" : "bad gateway\n");
    co_return;
  }
  if (stream->finished()) {  // the whole body came at once: answered with a Content-Length
    ctx.response().set_body(*first);
    if (in.method() == "HEAD") {  // no body, but the length a GET would have (RFC 9110 §9.3.2)
      const std::string_view cl = head.headers().get("Content-Length");
      std::int64_t n = -1;
      if (std::from_chars(cl.data(), cl.data() + cl.size(), n).ptr == cl.data() + cl.size() && n >= 0) {
        ctx.response().set_head_content_length(n);
      }
    }
    out.remove("Trailer");  // the server announces the trailers it sends with a whole body
    copy_trailers(head, ctx.response());
    co_return;
  }
  if (!co_await ctx.write(*first)) co_return;  // the downstream client went away
  for (;;) {
    auto piece = co_await stream->read();
    if (!piece) {
      if (piece.error() != client::errc::cancelled) {
        // Too late for a 502: the head went out. The client must see the response broken off.
        KHZ_LOG(warn, "proxy: " << in.method() << " " << upstream_url() << ": upstream failed mid-body: "
                                << piece.error().message() << "; response cut off");
        pool.report(chosen, true);
      }
      ctx.fail_stream();
      co_return;
    }
    if (piece->empty()) {
      copy_trailers(head, ctx.response());  // sent after the last chunk (HTTP/2: a HEADERS frame)
      co_return;
    }
    if (!co_await ctx.write(*piece)) co_return;
  }
}

}  // namespace khz::proxy
