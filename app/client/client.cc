// SPDX-License-Identifier: Apache-2.0
// khz::Client: pools per loop and host, the exchange, retries, redirects, proxies, streaming.
#include <khz/app/client.h>
#include <khz/common/cancel.h>
#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/protocol/error.h>
#include <khz/protocol/http1_client.h>
#include <khz/protocol/http2_client.h>
#include <khz/protocol/request.h>
#include <khz/transport/dial.h>
#include <khz/transport/error.h>
#include <khz/transport/tls.h>

#include "random.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace khz {

namespace {

using Clock = std::chrono::steady_clock;
constexpr Clock::time_point kNever = Clock::time_point::max();

Clock::time_point after(std::chrono::milliseconds d) {
  return d.count() > 0 ? Clock::now() + d : kNever;
}

bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" || method == "PUT" ||
         method == "DELETE";
}

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// run_call will follow this response elsewhere (so an exchange does not hand it to a stream).
bool follows_redirect(const ClientOptions& options, const Response& resp) {
  return options.max_redirects > 0 && is_redirect(resp.status()) && resp.headers().contains("Location");
}

}  // namespace

// ---- cancellation

struct CancellationToken::State {
  bool cancelled = false;
  transport::Connection* active = nullptr;  // the connection the request uses now (HTTP/1.1)
  Http2Stream* stream = nullptr;            // or its HTTP/2 stream (cancel resets just that)
};

CancellationToken::CancellationToken() : state_(std::make_shared<State>()) {}

void CancellationToken::cancel() noexcept {
  state_->cancelled = true;
  if (state_->active != nullptr) state_->active->close();
  if (state_->stream != nullptr) state_->stream->cancel();
}

bool CancellationToken::cancelled() const noexcept { return state_->cancelled; }

void CancellationToken::set_active(transport::Connection* conn) const noexcept {
  state_->active = conn;
  state_->stream = nullptr;
}

void CancellationToken::set_stream(Http2Stream* stream) const noexcept {
  state_->stream = stream;
  state_->active = nullptr;
}

static void cancel_on_signal(void* token) { static_cast<CancellationToken*>(token)->cancel(); }

namespace detail {
struct ClientAccess {
  using StreamState = ResponseStream::State;
  static void set_active(const CancellationToken& t, transport::Connection* c) noexcept { t.set_active(c); }
  static void set_stream(const CancellationToken& t, Http2Stream* s) noexcept { t.set_stream(s); }
};
}  // namespace detail

// ---- pools

namespace {
using StreamState = detail::ClientAccess::StreamState;
void set_active(const CancellationToken& t, transport::Connection* c) noexcept {
  detail::ClientAccess::set_active(t, c);
}
void set_stream(const CancellationToken& t, Http2Stream* s) noexcept { detail::ClientAccess::set_stream(t, s); }

struct HostPool;

// A request waiting for a connection of a full pool.
struct PoolWaiter {
  std::coroutine_handle<> handle;
  std::unique_ptr<Http1ClientConnection> conn;  // handed over by a release
  bool may_dial = false;                        // a slot was freed: dial yourself
  bool timed_out = false;
  transport::LoopTimer timer;
  HostPool* pool = nullptr;
  std::deque<PoolWaiter*>* queue = nullptr;  // the queue it waits in
};

// One pool per loop and per (scheme, dialled host:port, TLS server name, tunnel target).
struct HostPool {
  std::string host;  // dialled: the URL's host, a discovered endpoint, or the proxy
  std::uint16_t port = 0;
  bool tls = false;
  std::string server_name;      // TLS: SNI and the name the certificate must carry
  std::string tunnel_host;      // TLS through a proxy: CONNECT to tunnel_host:tunnel_port
  std::uint16_t tunnel_port = 0;
  std::string tunnel;           // "tunnel_host:tunnel_port" ("" when dialled directly)
  std::string key;  // "host:port" (http), "https://host:port" (https; the origin when tunnelled)
  struct Idle {
    std::unique_ptr<Http1ClientConnection> conn;
    Clock::time_point since;
  };
  std::vector<Idle> idle;  // oldest first; the newest is reused first
  std::size_t open = 0;    // HTTP/1.1: idle + busy + dialling
  std::deque<PoolWaiter*> waiters;
  // HTTP/2: one multiplexed connection shared by every request of the loop to this host;
  // the ones replaced (GOAWAY, closed, lifetime over) drain their streams in `h2_draining`.
  enum class Proto { unknown, http1, http2 } proto = Proto::unknown;  // https: learnt from ALPN
  std::unique_ptr<Http2ClientConnection> h2;
  Clock::time_point h2_idle_since{};
  std::vector<std::unique_ptr<Http2ClientConnection>> h2_draining;
  bool h2_dialling = false;
  std::deque<PoolWaiter*> h2_waiters;  // for the dial in progress
};

struct LoopPools {
  std::vector<std::unique_ptr<HostPool>> pools;
};

struct Lease {
  std::unique_ptr<Http1ClientConnection> conn;
  bool reused = false;
};

struct ProxyEndpoint {
  bool enabled = false;
  std::string host;
  std::uint16_t port = 0;
};

struct ProxyConfig {
  ProxyEndpoint http;   // absolute-form requests
  ProxyEndpoint https;  // CONNECT tunnels
  std::vector<std::string> no_proxy;  // suffixes; "*" = all
};

ProxyEndpoint parse_proxy(std::string proxy_url) {
  ProxyEndpoint out;
  if (proxy_url.empty()) return out;
  if (proxy_url.find("://") == std::string::npos) proxy_url = "http://" + proxy_url;
  auto u = Url::parse(proxy_url);
  if (!u || u->scheme != "http") throw std::invalid_argument("bad proxy URL '" + proxy_url + "'");
  out.enabled = true;
  out.host = u->host;
  out.port = u->port;
  return out;
}

// ALPN offered on https connections: "h2" first when HTTP/2 is on (the server's pick decides
// the connection type, see acquire_h2), "http/1.1" always.
const std::vector<std::string>& client_alpn(bool http2) {
  static const std::vector<std::string> both{"h2", "http/1.1"};
  static const std::vector<std::string> http1{"http/1.1"};
  return http2 ? both : http1;
}

std::string env(const char* a, const char* b) {
  const char* v = std::getenv(a);
  if (v == nullptr || *v == '\0') v = std::getenv(b);
  return v != nullptr ? v : "";
}

}  // namespace

struct Client::Impl {
  explicit Impl(const ClientOptions& o) : options(o) {
    static std::atomic<std::uint64_t> ids{1};
    id = ids.fetch_add(1);
    balancer = o.balancer ? o.balancer : std::make_shared<RoundRobinBalancer>();
    http1.max_header_bytes = o.max_header_bytes;
    http1.max_body_bytes = o.max_body_bytes;
    http1.read_gap = o.read_timeout;
    http1.write_timeout = o.write_timeout;
    http2.max_header_list_size = o.max_header_bytes;
    http2.max_body_bytes = o.max_body_bytes;
    http2.read_gap = o.read_timeout;
    http2.write_timeout = o.write_timeout;
    http2.max_concurrent_streams = o.http2_max_concurrent_streams;
    std::string no_proxy;
    if (!o.proxy.empty()) {
      proxy.http = parse_proxy(o.proxy);
      proxy.https = proxy.http;
    } else if (o.proxy_from_environment) {
      proxy.http = parse_proxy(env("HTTP_PROXY", "http_proxy"));
      proxy.https = parse_proxy(env("HTTPS_PROXY", "https_proxy"));
      no_proxy = env("NO_PROXY", "no_proxy");
    }
    {
      transport::TlsClientOptions t;
      t.ca_file = o.tls_ca_file;
      t.insecure_skip_verify = o.insecure_skip_verify;
      t.alpn = client_alpn(o.http2);
      t.client_certificate = {o.tls_client_cert_file, o.tls_client_key_file};
      t.handshake_timeout = o.tls_handshake_timeout;
      tls = transport::make_tls_client_context(std::move(t));
    }
    {
      std::string_view list = no_proxy;
      while (!list.empty()) {
        std::size_t comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (!item.empty() && item.front() == '.') item.remove_prefix(1);
        if (!item.empty()) proxy.no_proxy.emplace_back(item);
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
      }
    }
  }

  ~Impl() {
    // Idle connections close here (see the header: no request may be in flight).
    for (auto& [loop, pools] : loops) {
      for (auto& pool : pools->pools) {
        pool->idle.clear();
        pool->h2.reset();
        pool->h2_draining.clear();
      }
    }
  }

  // The proxy for this URL's scheme, or nullptr (none, or the host is in NO_PROXY).
  const ProxyEndpoint* proxy_for(const Url& url) const {
    const ProxyEndpoint& p = url.scheme == "https" ? proxy.https : proxy.http;
    if (!p.enabled) return nullptr;
    for (const auto& np : proxy.no_proxy) {
      if (np == "*") return nullptr;
      if (url.host == np) return nullptr;
      if (url.host.size() > np.size() && url.host.ends_with(np) && url.host[url.host.size() - np.size() - 1] == '.') {
        return nullptr;
      }
    }
    return &p;
  }

  // The pools of the calling thread's loop (a thread-local cache keeps this off the mutex).
  LoopPools& loop_pools() {
    struct Cache {
      std::uint64_t client = 0;
      EventLoop* loop = nullptr;
      LoopPools* pools = nullptr;
    };
    thread_local Cache cache;
    EventLoop* loop = EventLoop::current();
    if (cache.client == id && cache.loop == loop) return *cache.pools;
    std::lock_guard lock(mutex);
    auto& slot = loops[loop];
    if (!slot) slot = std::make_unique<LoopPools>();
    cache = {id, loop, slot.get()};
    return *slot;
  }

  // `server_name` and the tunnel matter for TLS only (pass "" and 0 for http).
  HostPool& pool_for(std::string_view host, std::uint16_t port, bool tls, std::string_view server_name,
                     std::string_view tunnel_host, std::uint16_t tunnel_port) {
    LoopPools& lp = loop_pools();
    for (auto& p : lp.pools) {
      if (p->port == port && p->tls == tls && p->host == host && p->server_name == server_name &&
          p->tunnel_port == tunnel_port && p->tunnel_host == tunnel_host) {
        return *p;
      }
    }
    auto p = std::make_unique<HostPool>();
    p->host = std::string(host);
    p->port = port;
    p->tls = tls;
    p->server_name = std::string(server_name);
    p->tunnel_host = std::string(tunnel_host);
    p->tunnel_port = tunnel_port;
    if (!tunnel_host.empty()) {
      p->tunnel = (tunnel_host.find(':') != std::string_view::npos ? "[" + p->tunnel_host + "]" : p->tunnel_host) +
                  ":" + std::to_string(tunnel_port);
    }
    p->key = tls ? "https://" + (p->tunnel.empty() ? p->host + ":" + std::to_string(port) : p->tunnel)
                 : p->host + ":" + std::to_string(port);
    lp.pools.push_back(std::move(p));
    return *lp.pools.back();
  }

  // https: a CONNECT tunnel when the pool goes through a proxy, then the TLS handshake
  // (bounded by tls_handshake_timeout and the total deadline). The TlsConnection owns the
  // dialled connection.
  // A new connection for the pool: dialled within the dial timeout and what is left of the
  // deadline, then (https) through the proxy tunnel and the TLS handshake.
  Task<Result<std::unique_ptr<transport::Connection>>> open_transport(HostPool& pool, Clock::time_point now,
                                                                      Clock::time_point deadline) {
    auto dial_for = options.dial_timeout;
    if (deadline != kNever) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
      if (left.count() <= 0) left = std::chrono::milliseconds(1);
      if (dial_for.count() == 0 || left < dial_for) dial_for = left;
    }
    auto conn = co_await transport::dial(pool.host, pool.port, dial_for);
    if (conn && pool.tls) conn = co_await secure(pool, std::move(*conn), deadline);
    co_return conn;
  }

  Task<Result<std::unique_ptr<transport::Connection>>> secure(HostPool& pool, std::unique_ptr<transport::Connection> raw,
                                                              Clock::time_point deadline) {
    if (!pool.tunnel.empty()) {
      Http1ClientConnection proxy_conn(std::move(raw), http1);
      Response answer;
      Clock::time_point head_deadline = std::min(deadline, after(options.response_header_timeout));
      if (auto ec = co_await proxy_conn.connect_tunnel(pool.tunnel, answer, head_deadline)) {
        proxy_conn.close();
        co_return ec;
      }
      if (answer.status() < 200 || answer.status() > 299) {
        KHZ_LOG(debug, "client: proxy " << pool.host << ":" << pool.port << " answered CONNECT " << pool.tunnel
                                        << " with " << answer.status());
        proxy_conn.close();
        co_return std::error_code(client::errc::proxy_refused);
      }
      raw = proxy_conn.take_transport();
    }
    auto conn = std::make_unique<transport::TlsConnection>(std::move(raw), tls, pool.server_name);
    if (deadline != kNever) {  // the total timeout bounds the handshake too
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) left = std::chrono::milliseconds(1);
      if (options.tls_handshake_timeout.count() == 0 || left < options.tls_handshake_timeout) {
        conn->set_handshake_timeout(left);
      }
    }
    if (auto ec = co_await conn->handshake()) {
      std::string_view why = options.insecure_skip_verify ? std::string_view() : conn->verify_error();
      conn->close();
      if (ec == transport::errc::tls_handshake_failed && !why.empty()) {
        KHZ_LOG(debug, "client: " << pool.key << ": certificate not verified: " << why);
        co_return std::error_code(client::errc::certificate_verify_failed);
      }
      co_return ec;
    }
    // ALPN: the caller looks at conn->alpn() ("h2": HTTP/2; "http/1.1" or none: HTTP/1.1).
    co_return std::unique_ptr<transport::Connection>(std::move(conn));
  }

  bool expired(const Http1ClientConnection& c, Clock::time_point now) const {
    return options.max_lifetime.count() > 0 && now - c.created() >= options.max_lifetime;
  }

  void prune(HostPool& pool, Clock::time_point now) {
    auto keep = std::find_if(pool.idle.begin(), pool.idle.end(), [&](const HostPool::Idle& i) {
      return now - i.since < options.idle_timeout && !expired(*i.conn, now);
    });
    std::size_t gone = static_cast<std::size_t>(keep - pool.idle.begin());
    if (gone == 0) return;
    pool.idle.erase(pool.idle.begin(), keep);
    pool.open -= gone;
    for (std::size_t i = 0; i < gone && !pool.waiters.empty(); ++i) wake_to_dial(pool);
  }

  // A slot was freed: the first waiter dials.
  static void wake_to_dial(HostPool& pool) {
    if (pool.waiters.empty()) return;
    PoolWaiter* w = pool.waiters.front();
    pool.waiters.pop_front();
    w->timer.cancel();
    w->may_dial = true;
    w->handle.resume();
  }

  static void on_wait_timeout(void* context) {
    auto* w = static_cast<PoolWaiter*>(context);
    auto& q = *w->queue;
    q.erase(std::find(q.begin(), q.end(), w));
    w->timed_out = true;
    w->handle.resume();
  }

  struct WaitAwaiter {
    PoolWaiter& w;
    Clock::time_point deadline;
    std::chrono::milliseconds wait;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      w.handle = h;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto t = deadline == kNever || left > wait ? wait : left;
      if (t.count() <= 0) t = std::chrono::milliseconds(1);
      if (w.queue == nullptr) w.queue = &w.pool->waiters;
      w.queue->push_back(&w);
      w.timer.start(t, &on_wait_timeout, &w);
    }
    void await_resume() const noexcept {}
  };

  Task<Result<Lease>> acquire(HostPool& pool, Clock::time_point deadline) {
    for (;;) {
      auto now = Clock::now();
      prune(pool, now);
      if (!pool.idle.empty()) {
        Lease lease{std::move(pool.idle.back().conn), true};
        pool.idle.pop_back();
        co_return lease;
      }
      if (pool.open < options.max_connections_per_host) {
        ++pool.open;
        auto conn = co_await open_transport(pool, now, deadline);
        if (!conn) {
          --pool.open;
          wake_to_dial(pool);
          co_return conn.error();
        }
        co_return Lease{std::make_unique<Http1ClientConnection>(std::move(*conn), http1), false};
      }
      PoolWaiter w;
      w.pool = &pool;
      co_await WaitAwaiter{w, deadline, options.wait_timeout};
      if (w.conn) co_return Lease{std::move(w.conn), true};
      if (w.timed_out) co_return std::error_code(client::errc::pool_timeout);
      // may_dial: loop and take the freed slot.
    }
  }

  void release(HostPool& pool, std::unique_ptr<Http1ClientConnection> conn) {
    auto now = Clock::now();
    if (conn->reusable() && !expired(*conn, now)) {
      if (!pool.waiters.empty()) {
        PoolWaiter* w = pool.waiters.front();
        pool.waiters.pop_front();
        w->timer.cancel();
        w->conn = std::move(conn);
        w->handle.resume();
        return;
      }
      pool.idle.push_back({std::move(conn), now});
      return;
    }
    conn.reset();
    --pool.open;
    wake_to_dial(pool);
  }

  // ---- HTTP/2

  // The connection a request may use now: the pool's shared one, after a dial when there is
  // none (requests arriving meanwhile wait for that dial, not dial their own). An https dial
  // whose server picks HTTP/1.1 makes the pool an HTTP/1.1 one for good and hands the caller
  // that connection (`h1`).
  struct H2Choice {
    Http2ClientConnection* h2 = nullptr;
    bool reused = false;
    std::unique_ptr<Http1ClientConnection> h1;
  };

  void prune_h2(HostPool& pool, Clock::time_point now) {
    std::erase_if(pool.h2_draining, [](const auto& c) { return c->active_streams() == 0; });
    if (!pool.h2) return;
    const bool idle = pool.h2->active_streams() == 0;
    if (pool.h2->usable() && options.max_lifetime.count() > 0 && now - pool.h2->created() >= options.max_lifetime) {
      pool.h2->shutdown();  // GOAWAY: finish what runs, take nothing new
    }
    if (!pool.h2->usable()) {
      if (!idle) pool.h2_draining.push_back(std::move(pool.h2));
      pool.h2.reset();
    } else if (idle && now - pool.h2_idle_since >= options.idle_timeout) {
      pool.h2.reset();
    }
  }

  static void wake_h2_waiters(HostPool& pool) {
    while (!pool.h2_waiters.empty()) {
      PoolWaiter* w = pool.h2_waiters.front();
      pool.h2_waiters.pop_front();
      w->timer.cancel();
      w->may_dial = true;
      w->handle.resume();
    }
  }

  Task<Result<H2Choice>> acquire_h2(HostPool& pool, Clock::time_point deadline) {
    for (;;) {
      auto now = Clock::now();
      prune_h2(pool, now);
      if (pool.proto == HostPool::Proto::http1) co_return H2Choice{};
      if (pool.h2) {
        if (pool.h2->active_streams() == 0) pool.h2_idle_since = now;
        co_return H2Choice{pool.h2.get(), true, nullptr};
      }
      if (pool.h2_dialling) {
        PoolWaiter w;
        w.pool = &pool;
        w.queue = &pool.h2_waiters;
        co_await WaitAwaiter{w, deadline, options.wait_timeout};
        if (w.timed_out) co_return std::error_code(client::errc::pool_timeout);
        continue;
      }
      pool.h2_dialling = true;
      auto conn = co_await open_transport(pool, now, deadline);
      pool.h2_dialling = false;
      if (!conn) {
        wake_h2_waiters(pool);  // they try for themselves
        co_return conn.error();
      }
      if (pool.tls && static_cast<transport::TlsConnection&>(**conn).alpn() != "h2") {
        KHZ_LOG(debug, "client: " << pool.key << " chose " << (static_cast<transport::TlsConnection&>(**conn).alpn().empty() ? "no protocol" : "http/1.1")
                                  << " by ALPN; HTTP/1.1 for this host");
        pool.proto = HostPool::Proto::http1;
        ++pool.open;
        wake_h2_waiters(pool);
        co_return H2Choice{nullptr, false, std::make_unique<Http1ClientConnection>(std::move(*conn), http1)};
      }
      pool.proto = HostPool::Proto::http2;
      pool.h2 = Http2ClientConnection::make(std::move(*conn), http2);
      pool.h2_idle_since = Clock::now();
      wake_h2_waiters(pool);
      co_return H2Choice{pool.h2.get(), false, nullptr};
    }
  }

  const ClientOptions& options;
  Http1ClientOptions http1;
  Http2ClientOptions http2;
  std::uint64_t id = 0;
  std::vector<ClientMiddleware> middleware;
  std::shared_ptr<Balancer> balancer;
  ProxyConfig proxy;
  std::shared_ptr<const transport::TlsClientContext> tls;
  std::mutex mutex;
  std::unordered_map<EventLoop*, std::unique_ptr<LoopPools>> loops;
};

// ---- streaming response state

struct ResponseStream::State {
  Client::Impl* impl = nullptr;
  HostPool* pool = nullptr;
  std::unique_ptr<Http1ClientConnection> conn;
  Response response;
  std::string piece;
  Http2Stream h2;  // or an HTTP/2 stream (holds its connection's session); before `response` goes
  Clock::time_point deadline = kNever;
  CancellationToken cancel;
  CancelSignal::Watch downstream;  // the server request this body is read for went away

  ~State() {
    if (h2) {
      set_stream(cancel, nullptr);
      h2 = Http2Stream();  // resets an unfinished stream
    }
    if (conn) {
      set_active(cancel, nullptr);
      conn->close();
      impl->release(*pool, std::move(conn));
    }
  }
};


// ---- one exchange

namespace {

// Writes request heads from a per-thread scratch Request (used synchronously, so requests
// interleaving on one loop never share it across a suspension); warm, it allocates nothing.
Request& scratch_request() {
  thread_local Request r;
  return r;
}

struct Attempt {
  std::error_code ec;
  bool refused = false;         // HTTP/2: never processed (REFUSED_STREAM, GOAWAY, connection gone)
  bool connect_failed = false;  // no connection was made (dial or pool wait)
  bool stale = false;           // a reused connection failed before any response byte
  bool streamed = false;        // the connection went to a ResponseStream
};

// Closes the file descriptor it holds.
struct FileCloser {
  int fd = -1;
  ~FileCloser() {
    if (fd >= 0) ::close(fd);
  }
};

std::error_code errno_code() { return {errno, std::system_category()}; }

// Writes the request body after its head (buffered bodies went out with the head).
Task<std::error_code> send_body(Http1ClientConnection& c, const ClientRequest& req, int file_fd,
                                std::int64_t length, Clock::time_point deadline) {
  if (file_fd >= 0) {
    std::string chunk(64 * 1024, '\0');
    std::int64_t sent = 0;
    for (;;) {
      ssize_t n = ::read(file_fd, chunk.data(), chunk.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) co_return errno_code();
      if (n == 0) break;
      c.queue_body({chunk.data(), static_cast<std::size_t>(n)});
      sent += n;
      if (auto ec = co_await c.flush(deadline)) co_return ec;
    }
    if (sent != length) co_return std::make_error_code(std::errc::io_error);  // the file changed size
    co_return std::error_code();
  }
  if (req.body_source) {
    std::int64_t sent = 0;
    for (;;) {
      auto piece = co_await req.body_source();
      if (!piece) co_return piece.error();
      if (piece->empty()) break;
      sent += static_cast<std::int64_t>(piece->size());
      if (length >= 0 && sent > length) co_return std::make_error_code(std::errc::message_size);
      c.queue_body(*piece);
      if (auto ec = co_await c.flush(deadline)) co_return ec;
    }
    if (length >= 0 && sent != length) co_return std::make_error_code(std::errc::message_size);
    c.queue_body_end();
  }
  co_return co_await c.flush(deadline);
}

}  // namespace

struct CallState {
  Client::Impl& impl;
  const ClientOptions& options;
  Clock::time_point deadline;
  StreamState* stream_out;  // non-null: hand the connection over after the head
};

namespace {

// The pool's connection has no stream left (under load it rarely has: no clock read then).
void mark_h2_idle(HostPool& pool) {
  if (pool.h2 && pool.h2->active_streams() <= 1) pool.h2_idle_since = Clock::now();
}

bool was_never_answered(std::error_code ec) {
  return ec == transport::errc::eof || ec == std::errc::connection_reset || ec == std::errc::broken_pipe;
}

// One exchange as a stream of the pool's HTTP/2 connection.
Task<Attempt> exchange_h2(CallState& call, const ClientRequest& req, const Url& url, Response& resp, HostPool& pool,
                          Http2ClientConnection* conn, bool reused, int file_fd, std::int64_t length,
                          bool keep_for_retry) {
  Client::Impl& impl = call.impl;
  Attempt out;
  if (!conn->can_open_stream()) {
    if (auto ec = co_await conn->wait_for_slot(std::min(call.deadline, after(call.options.wait_timeout)))) {
      out.refused = ec == protocol::errc::connection_closed;  // being replaced: the next one
      out.ec = ec == transport::errc::timed_out ? std::error_code(client::errc::pool_timeout) : ec;
      co_return out;
    }
    if (pool.h2.get() != conn && std::none_of(pool.h2_draining.begin(), pool.h2_draining.end(),
                                              [conn](const auto& c) { return c.get() == conn; })) {
      out.refused = true;  // pruned while waiting (cannot happen with a slot free; be safe)
      out.ec = protocol::errc::connection_closed;
      co_return out;
    }
  }
  const bool streamed = static_cast<bool>(req.body_source) || file_fd >= 0;
  Result<Http2Stream> opened = std::error_code();
  {
    // The head goes straight from the ClientRequest into the codec (no Request built).
    Http2ClientConnection::ExtraField agent{"user-agent", call.options.user_agent};
    const bool add_agent = !call.options.user_agent.empty() && !req.headers.contains("User-Agent");
    std::string authority = url.authority();
    Http2RequestInfo info{.scheme = url.scheme,
                          .authority = authority,
                          .body = streamed ? std::string_view() : std::string_view(req.body),
                          .streamed_body = streamed,
                          .content_length = streamed ? length : -1};
    opened = conn->open(req.method, url.target, req.headers,
                        add_agent ? std::span(&agent, 1) : std::span<const Http2ClientConnection::ExtraField>(),
                        resp, info);
  }
  if (!opened) {
    out.ec = opened.error();
    out.refused = out.ec == protocol::errc::connection_closed ||
                  out.ec == std::errc::resource_unavailable_try_again;
    co_return out;
  }
  Http2Stream stream = std::move(*opened);
  resp.set_version(Version::http2);
  set_stream(req.cancel, &stream);
  auto fail = [&](std::error_code ec) {
    KHZ_LOG(debug, "client: " << req.method << " " << url.str() << " via " << pool.key << " (h2 stream "
                              << stream.id() << "): " << ec.message() << (reused ? " (reused connection)" : ""));
    set_stream(req.cancel, nullptr);
    out.ec = req.cancel.cancelled() ? std::error_code(client::errc::cancelled) : ec;
    out.refused = ec == protocol::errc::stream_refused;
    out.stale = reused && !stream.response_began() && was_never_answered(ec);
    mark_h2_idle(pool);
    return out;
  };
  if (req.cancel.cancelled()) {  // cancelled while it waited for the connection or a slot
    stream.cancel();
    co_return fail(client::errc::cancelled);
  }
  if (streamed) {
    if (file_fd >= 0) {
      std::string chunk(64 * 1024, '\0');
      std::int64_t sent = 0;
      for (;;) {
        ssize_t n = ::read(file_fd, chunk.data(), chunk.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) co_return fail(errno_code());
        if (n == 0) break;
        sent += n;
        if (auto ec = co_await stream.write({chunk.data(), static_cast<std::size_t>(n)}, call.deadline)) {
          co_return fail(ec);
        }
      }
      if (sent != length) co_return fail(std::make_error_code(std::errc::io_error));  // the file changed size
    } else {
      std::int64_t sent = 0;
      for (;;) {
        auto piece = co_await req.body_source();
        if (!piece) co_return fail(piece.error());
        if (piece->empty()) break;
        sent += static_cast<std::int64_t>(piece->size());
        if (length >= 0 && sent > length) co_return fail(std::make_error_code(std::errc::message_size));
        if (auto ec = co_await stream.write(*piece, call.deadline)) co_return fail(ec);
      }
      if (length >= 0 && sent != length) co_return fail(std::make_error_code(std::errc::message_size));
    }
    if (auto ec = co_await stream.write_end(call.deadline)) co_return fail(ec);
  }
  Clock::time_point head_deadline = std::min(call.deadline, after(call.options.response_header_timeout));
  if (auto ec = co_await stream.read_head(head_deadline)) co_return fail(ec);

  const bool will_redirect = follows_redirect(call.options, resp);
  if (call.stream_out != nullptr && !will_redirect && !keep_for_retry) {
    StreamState& s = *call.stream_out;
    s.impl = &impl;
    s.pool = &pool;
    s.h2 = std::move(stream);
    set_stream(req.cancel, &s.h2);
    s.deadline = call.deadline;
    s.cancel = req.cancel;
    out.streamed = true;
    co_return out;
  }
  if (!stream.body_done()) {
    if (auto ec = co_await stream.read_all(call.deadline)) co_return fail(ec);
  }
  set_stream(req.cancel, nullptr);
  mark_h2_idle(pool);
  co_return out;
}

Task<Attempt> exchange(CallState& call, const ClientRequest& req, const Url& url, Response& resp,
                       bool keep_for_retry) {
  Client::Impl& impl = call.impl;
  Attempt out;
  // Where to: a proxy, a discovered endpoint, or the URL's host.
  // https through a proxy tunnels (CONNECT); http through one uses the absolute form.
  const bool tls = url.scheme == "https";
  const ProxyEndpoint* proxy = impl.proxy_for(url);
  const bool via_proxy = proxy != nullptr && !tls;
  std::string_view host = url.host;
  std::uint16_t port = url.port;
  if (proxy != nullptr) {
    host = proxy->host;
    port = proxy->port;
  } else if (call.options.resolver) {
    auto endpoints = call.options.resolver->resolve(url.host, url.port);
    if (!endpoints.empty()) {
      const Endpoint& e = endpoints[impl.balancer->pick(endpoints)];
      host = e.host;
      port = e.port != 0 ? e.port : url.port;
    }
  }
  HostPool& pool = tls ? impl.pool_for(host, port, true, url.host, proxy != nullptr ? std::string_view(url.host) : "",
                                       proxy != nullptr ? url.port : 0)
                       : impl.pool_for(host, port, false, "", "", 0);

  // The body: its length decides the framing.
  FileCloser file;
  std::int64_t length = static_cast<std::int64_t>(req.body.size());
  if (!req.body_file.empty()) {
    file.fd = ::open(req.body_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (file.fd < 0) {
      out.ec = errno_code();
      out.connect_failed = true;
      co_return out;
    }
    off_t size = ::lseek(file.fd, 0, SEEK_END);
    if (size < 0 || ::lseek(file.fd, 0, SEEK_SET) < 0) {
      out.ec = errno_code();
      co_return out;
    }
    length = size;
  } else if (req.body_source) {
    length = req.body_length;
  }

  std::unique_ptr<Http1ClientConnection> conn;
  bool reused = false;
  const bool want_h2 = !via_proxy && (tls ? call.options.http2 : call.options.http2_prior_knowledge);
  if (want_h2 && pool.proto != HostPool::Proto::http1) {
    // Fast path: a busy shared connection with nothing to prune (no clock read, no coroutine).
    if (pool.h2 && pool.h2->usable() && pool.h2->active_streams() > 0 && pool.h2_draining.empty() &&
        call.options.max_lifetime.count() == 0) {
      co_return co_await exchange_h2(call, req, url, resp, pool, pool.h2.get(), true, file.fd, length,
                                     keep_for_retry);
    }
    auto choice = co_await impl.acquire_h2(pool, call.deadline);
    if (!choice) {
      KHZ_LOG(debug, "client: " << req.method << " " << url.str() << ": no connection to " << pool.key << ": "
                                << choice.error().message());
      out.ec = choice.error();
      out.connect_failed = true;
      co_return out;
    }
    if (choice->h2 != nullptr) {
      co_return co_await exchange_h2(call, req, url, resp, pool, choice->h2, choice->reused, file.fd, length,
                                     keep_for_retry);
    }
    conn = std::move(choice->h1);  // the server chose HTTP/1.1 by ALPN
  }
  if (!conn) {
    auto lease = co_await impl.acquire(pool, call.deadline);
    if (!lease) {
      KHZ_LOG(debug, "client: " << req.method << " " << url.str() << ": no connection to " << pool.key << ": "
                                << lease.error().message());
      out.ec = lease.error();
      out.connect_failed = true;
      co_return out;
    }
    conn = std::move(lease->conn);
    reused = lease->reused;
  }

  {
    Request& r = scratch_request();
    r.clear();
    r.set_method(req.method);
    r.set_target(url.target);
    for (const auto& f : req.headers) r.headers().add(f.name, f.value);
    if (!req.headers.contains("User-Agent") && !call.options.user_agent.empty()) {
      r.headers().add("User-Agent", call.options.user_agent);
    }
    std::string authority = url.authority();
    std::string absolute = via_proxy ? url.str() : std::string();
    if (!req.body_source && req.body_file.empty()) r.body_buffer().assign(req.body);
    conn->queue_request(r, {.host = authority, .content_length = length, .target = absolute});
    r.body_buffer().clear();
  }
  set_active(req.cancel, &conn->transport());
  auto fail = [&](std::error_code ec) {
    KHZ_LOG(debug, "client: " << req.method << " " << url.str() << " via " << pool.key << ": " << ec.message()
                              << (reused ? " (reused connection)" : ""));
    set_active(req.cancel, nullptr);
    out.ec = req.cancel.cancelled() ? std::error_code(client::errc::cancelled) : ec;
    out.stale = reused && !conn->response_began() && was_never_answered(ec);
    conn->close();
    impl.release(pool, std::move(conn));
    return out;
  };

  if (auto ec = co_await send_body(*conn, req, file.fd, length, call.deadline)) co_return fail(ec);
  Clock::time_point head_deadline = std::min(call.deadline, after(call.options.response_header_timeout));
  if (auto ec = co_await conn->read_head(resp, req.method == "HEAD", head_deadline)) co_return fail(ec);

  const bool will_redirect = follows_redirect(call.options, resp);
  if (call.stream_out != nullptr && !will_redirect && !keep_for_retry) {
    StreamState& s = *call.stream_out;
    s.impl = &impl;
    s.pool = &pool;
    s.conn = std::move(conn);
    s.deadline = call.deadline;
    s.cancel = req.cancel;
    out.streamed = true;
    co_return out;
  }
  if (auto ec = co_await conn->read_all(resp, call.deadline)) co_return fail(ec);
  set_active(req.cancel, nullptr);
  impl.release(pool, std::move(conn));
  co_return out;
}

bool retryable_error(const RetryPolicy& p, const Attempt& a) {
  if (a.ec == client::errc::cancelled || a.ec == client::errc::pool_timeout ||
      a.ec == client::errc::certificate_verify_failed || a.ec == client::errc::proxy_refused) {
    return false;
  }
  if (a.connect_failed) return p.on_connect_error;
  if (a.ec == transport::errc::timed_out) return p.on_timeout;
  if (a.ec == protocol::errc::malformed_response || a.ec == protocol::errc::header_too_large ||
      a.ec == protocol::errc::response_too_large) {
    return false;
  }
  return p.on_connection_error;
}

std::chrono::milliseconds backoff_for(const RetryPolicy& p, int attempt) {
  double d = static_cast<double>(p.backoff.count());
  for (int i = 1; i < attempt; ++i) d *= 2;
  d = std::min(d, static_cast<double>(p.max_backoff.count()));
  if (p.jitter > 0) d *= std::uniform_real_distribution<double>(1.0 - p.jitter, 1.0 + p.jitter)(client::rng());
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(d, 0.0)));
}

Task<std::error_code> with_retries(CallState& call, const ClientRequest& req, const Url& url, Response& resp) {
  const RetryPolicy& policy = call.options.retry;
  const bool idempotent = is_idempotent(req.method) || req.idempotent || policy.non_idempotent;
  const bool replayable = !req.body_source;
  bool stale_retry_used = false;
  int refused_retries = 0;
  for (int attempt = 1;; ++attempt) {
    if (req.cancel.cancelled()) co_return client::errc::cancelled;
    const bool can_retry = idempotent && replayable && attempt < policy.max_attempts;
    Attempt a = co_await exchange(call, req, url, resp, /*keep_for_retry=*/false);
    if (!a.ec) {
      const bool bad_status =
          std::find(policy.statuses.begin(), policy.statuses.end(), resp.status()) != policy.statuses.end();
      if (!a.streamed && bad_status && can_retry && Clock::now() < call.deadline) {
        auto wait = backoff_for(policy, attempt);
        KHZ_LOG(debug, "client: " << url.str() << " answered " << resp.status() << "; retrying in " << wait.count() << " ms");
        co_await sleep_for(wait);
        continue;
      }
      co_return std::error_code();
    }
    if (a.refused && replayable && refused_retries < 5 && Clock::now() < call.deadline) {
      // HTTP/2: the server never processed it (RFC 9113 §8.7): send it again, any method.
      ++refused_retries;
      --attempt;
      KHZ_LOG(debug, "client: " << url.str() << ": " << a.ec.message() << "; sending it again");
      continue;
    }
    if (a.stale && idempotent && replayable && !stale_retry_used) {
      // RFC 9112 §9.3.1.1: the server closed an idle connection as we reused it.
      stale_retry_used = true;
      --attempt;
      continue;
    }
    if (can_retry && retryable_error(policy, a) && Clock::now() < call.deadline) {
      auto wait = backoff_for(policy, attempt);
      if (call.deadline != kNever) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(call.deadline - Clock::now());
        if (wait > left) co_return a.ec;
      }
      KHZ_LOG(debug, "client: " << url.str() << ": " << a.ec.message() << "; retrying in " << wait.count() << " ms");
      co_await sleep_for(wait);
      continue;
    }
    co_return a.ec;
  }
}

// Url::parse with a one-entry cache per thread: load generators and gateways send to the same
// URL again and again, and a copy of the parsed form (short strings: no allocation) costs a
// tenth of parsing it.
std::error_code parse_url_cached(const std::string& text, Url& out) {
  struct LastUrl {
    std::string text;
    Url url;
    bool valid = false;
  };
  thread_local LastUrl last;
  if (!last.valid || last.text != text) {
    auto parsed = Url::parse(text);
    if (!parsed) return parsed.error();
    last.url = std::move(*parsed);
    last.text = text;
    last.valid = true;
  }
  out = last.url;
  return {};
}

// Redirects (RFC 9110 §15.4) around retried exchanges.
Task<std::error_code> run_call(CallState& call, const ClientRequest& original, Response& resp) {
  // Inside a server handler: the downstream client going away cancels this call.
  CancelSignal::Watch downstream;
  std::optional<CancellationToken> token;
  if (CancelSignal* signal = co_await current_cancel_signal()) {
    token.emplace(original.cancel);
    downstream.attach(signal, &cancel_on_signal, &*token);
  }
  Url url;
  if (auto ec = parse_url_cached(original.url, url)) co_return ec;
  std::unique_ptr<ClientRequest> changed;  // made at the first redirect that changes the request
  const ClientRequest* req = &original;
  for (int redirects = 0;; ++redirects) {
    if (url.scheme != "http" && url.scheme != "https") co_return client::errc::unsupported_scheme;
    if (auto ec = co_await with_retries(call, *req, url, resp)) co_return ec;
    if (call.options.max_redirects <= 0 || !is_redirect(resp.status())) co_return std::error_code();
    std::string_view location = resp.header("Location");
    if (location.empty()) co_return std::error_code();
    if (redirects >= call.options.max_redirects) co_return client::errc::too_many_redirects;
    auto next = url.resolve(location);
    if (!next) co_return std::error_code();  // an unusable Location: the 3xx is the answer
    const int status = resp.status();
    const bool keep_method = status == 307 || status == 308;
    if (keep_method && req->body_source) co_return std::error_code();  // cannot replay: the 3xx is the answer
    if (!changed) changed = std::make_unique<ClientRequest>(*req);
    ClientRequest& r = *changed;
    if (!keep_method && (status == 303 ? r.method != "HEAD" : r.method == "POST")) {
      r.method = "GET";
      r.body.clear();
      r.body_source = nullptr;
      r.body_file.clear();
      r.headers.remove("Content-Type");
    }
    if (next->host != url.host || next->port != url.port || next->scheme != url.scheme) {
      r.headers.remove("Authorization");  // credentials are for the origin that asked for them
      r.headers.remove("Cookie");
    }
    r.headers.remove("Host");
    url = std::move(*next);
    r.url = url.str();
    req = &r;
  }
}

}  // namespace

// ---- Client

Client::Client(ClientOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>(options_)) {}
Client::~Client() = default;

void Client::use(ClientMiddleware middleware) { impl_->middleware.push_back(std::move(middleware)); }

Task<void> ClientContext::next() {
  auto& mw = client_.impl_->middleware;
  if (index_ < mw.size()) {
    co_await mw[index_++](*this);
    co_return;
  }
  CallState call{*client_.impl_, client_.options_,
                 after(request_.timeout.count() > 0 ? request_.timeout : client_.options_.total_timeout),
                 static_cast<StreamState*>(stream_out_)};
  error_ = co_await run_call(call, request_, response_);
}

Task<std::error_code> Client::send_into(const ClientRequest& request, Response& response) {
  if (impl_->middleware.empty()) {
    CallState call{*impl_, options_, after(request.timeout.count() > 0 ? request.timeout : options_.total_timeout),
                   nullptr};
    co_return co_await run_call(call, request, response);
  }
  ClientRequest copy = request;
  ClientContext ctx(*this, copy, response);
  co_await ctx.next();
  co_return ctx.error();
}

Task<Result<Response>> Client::send(ClientRequest request) {
  Response response;
  ClientContext ctx(*this, request, response);
  co_await ctx.next();
  if (ctx.error()) co_return ctx.error();
  co_return response;
}

Task<Result<Response>> Client::get(std::string url) {
  ClientRequest r;
  r.url = std::move(url);
  co_return co_await send(std::move(r));
}

Task<Result<ResponseStream>> Client::stream(ClientRequest request) {
  auto state = std::make_unique<ResponseStream::State>();
  ClientContext ctx(*this, request, state->response);
  ctx.stream_out_ = state.get();
  co_await ctx.next();
  if (ctx.error()) co_return ctx.error();
  if (!state->conn) state->impl = impl_.get();  // answered whole (a middleware, or a 3xx kept)
  if (state->conn) state->downstream.attach(co_await current_cancel_signal(), &cancel_on_signal, &state->cancel);
  co_return ResponseStream(std::move(state));
}

void Client::close_idle() {
  for (auto& p : impl_->loop_pools().pools) {
    p->open -= p->idle.size();
    p->idle.clear();
    if (p->h2 && p->h2->active_streams() == 0) p->h2.reset();
    std::erase_if(p->h2_draining, [](const auto& c) { return c->active_streams() == 0; });
  }
}

std::size_t Client::open_connections(std::string_view host_port) const {
  LoopPools& lp = impl_->loop_pools();
  std::size_t n = 0;
  for (auto& p : lp.pools) {
    if (p->key == host_port) {
      n += p->open + (p->h2 && !p->h2->closed() ? 1 : 0) + (p->h2_dialling ? 1 : 0) + p->h2_draining.size();
    }
  }
  return n;
}

// ---- ResponseStream

ResponseStream::ResponseStream(std::unique_ptr<State> state) : state_(std::move(state)) {}
ResponseStream::ResponseStream(ResponseStream&&) noexcept = default;
ResponseStream& ResponseStream::operator=(ResponseStream&&) noexcept = default;
ResponseStream::~ResponseStream() = default;

const Response& ResponseStream::response() const noexcept { return state_->response; }

bool ResponseStream::finished() const noexcept {
  return !state_->conn && !state_->h2 && state_->response.body().empty();
}

Task<Result<std::string_view>> ResponseStream::read() {
  State& s = *state_;
  s.piece.clear();
  if (s.h2) {  // body bytes land in s.response as they arrive; read_body says how far
    if (!s.h2.body_done()) {
      if (auto ec = co_await s.h2.read_body(s.deadline)) {
        set_stream(s.cancel, nullptr);
        std::error_code out = s.cancel.cancelled() ? std::error_code(client::errc::cancelled) : ec;
        s.h2 = Http2Stream();
        co_return out;
      }
    }
    s.piece.swap(s.response.body_buffer());
    if (s.h2.body_done()) {
      set_stream(s.cancel, nullptr);
      s.h2 = Http2Stream();
      mark_h2_idle(*s.pool);
    }
    co_return std::string_view(s.piece);
  }
  if (!s.response.body().empty()) {
    s.piece.swap(s.response.body_buffer());
  } else if (s.conn && !s.conn->body_done()) {
    if (auto ec = co_await s.conn->read_body(s.response, s.deadline)) {
      set_active(s.cancel, nullptr);
      std::error_code out = s.cancel.cancelled() ? std::error_code(client::errc::cancelled) : ec;
      s.conn->close();
      s.impl->release(*s.pool, std::move(s.conn));
      co_return out;
    }
    s.piece.swap(s.response.body_buffer());
  }
  if (s.conn && s.conn->body_done()) {
    set_active(s.cancel, nullptr);
    s.impl->release(*s.pool, std::move(s.conn));
  }
  co_return std::string_view(s.piece);
}

}  // namespace khz
