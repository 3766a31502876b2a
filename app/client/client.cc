// SPDX-License-Identifier: Apache-2.0
// khz::Client: pools per loop and host, the exchange, retries, redirects, proxies, streaming.
#include <khz/app/client.h>
#include <khz/common/cancel.h>
#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/protocol/error.h>
#include <khz/protocol/http1_client.h>
#include <khz/protocol/request.h>
#include <khz/transport/dial.h>
#include <khz/transport/error.h>
#include <khz/transport/tls.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>

namespace khz {

namespace client {
namespace {
class ClientCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "khz.client"; }
  std::string message(int v) const override {
    switch (static_cast<errc>(v)) {
      case errc::bad_url: return "bad URL (want http://host[:port]/path)";
      case errc::unsupported_scheme: return "unsupported URL scheme (want http or https)";
      case errc::too_many_redirects: return "too many redirects";
      case errc::pool_timeout: return "timed out waiting for a free connection";
      case errc::cancelled: return "request cancelled";
      case errc::body_not_replayable: return "streamed request body cannot be sent again";
      case errc::proxy_refused: return "proxy refused the CONNECT tunnel";
      case errc::certificate_verify_failed: return "TLS: the server's certificate could not be verified";
    }
    return "unknown client error";
  }
};
}  // namespace
const std::error_category& client_category() noexcept {
  static const ClientCategory category;
  return category;
}
}  // namespace client

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

std::mt19937& rng() {
  thread_local std::mt19937 gen(std::random_device{}());
  return gen;
}

}  // namespace

// ---- cancellation

struct CancellationToken::State {
  bool cancelled = false;
  transport::Connection* active = nullptr;  // the connection the request uses now
};

CancellationToken::CancellationToken() : state_(std::make_shared<State>()) {}

void CancellationToken::cancel() noexcept {
  state_->cancelled = true;
  if (state_->active != nullptr) state_->active->close();
}

bool CancellationToken::cancelled() const noexcept { return state_->cancelled; }

void CancellationToken::set_active(transport::Connection* conn) const noexcept { state_->active = conn; }

static void cancel_on_signal(void* token) { static_cast<CancellationToken*>(token)->cancel(); }

// ---- resolver and balancers

StaticResolver& StaticResolver::add(std::string name, std::vector<Endpoint> endpoints) {
  table_.emplace_back(std::move(name), std::move(endpoints));
  return *this;
}

std::span<const Endpoint> StaticResolver::resolve(std::string_view host, std::uint16_t) {
  for (const auto& [name, endpoints] : table_) {
    if (name == host) return endpoints;
  }
  return {};
}

std::size_t RoundRobinBalancer::pick(std::span<const Endpoint> endpoints) {
  return next_.fetch_add(1, std::memory_order_relaxed) % endpoints.size();
}

std::size_t WeightedRandomBalancer::pick(std::span<const Endpoint> endpoints) {
  long total = 0;
  for (const auto& e : endpoints) total += std::max(e.weight, 0);
  if (total <= 0) return std::uniform_int_distribution<std::size_t>(0, endpoints.size() - 1)(rng());
  long r = std::uniform_int_distribution<long>(0, total - 1)(rng());
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    r -= std::max(endpoints[i].weight, 0);
    if (r < 0) return i;
  }
  return endpoints.size() - 1;
}

namespace detail {
struct ClientAccess {
  using StreamState = ResponseStream::State;
  static void set_active(const CancellationToken& t, transport::Connection* c) noexcept { t.set_active(c); }
};
}  // namespace detail

// ---- pools

namespace {
using StreamState = detail::ClientAccess::StreamState;
void set_active(const CancellationToken& t, transport::Connection* c) noexcept {
  detail::ClientAccess::set_active(t, c);
}

struct HostPool;

// A request waiting for a connection of a full pool.
struct PoolWaiter {
  std::coroutine_handle<> handle;
  std::unique_ptr<Http1ClientConnection> conn;  // handed over by a release
  bool may_dial = false;                        // a slot was freed: dial yourself
  bool timed_out = false;
  transport::LoopTimer timer;
  HostPool* pool = nullptr;
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
  std::size_t open = 0;    // idle + busy + dialling
  std::deque<PoolWaiter*> waiters;
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

// ALPN offered on https connections. Only HTTP/1.1 is spoken; "h2" goes first here once the
// client has an HTTP/2 connection type (acquire() would then pick the type by alpn()).
const std::vector<std::string>& client_alpn() {
  static const std::vector<std::string> alpn{"http/1.1"};
  return alpn;
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
      t.alpn = client_alpn();
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
      for (auto& pool : pools->pools) pool->idle.clear();
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
    // ALPN: only http/1.1 is offered, so the server picks it or nothing (both HTTP/1.1).
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
    auto& q = w->pool->waiters;
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
      w.pool->waiters.push_back(&w);
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
        auto dial_for = options.dial_timeout;
        if (deadline != kNever) {
          auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
          if (left.count() <= 0) left = std::chrono::milliseconds(1);
          if (dial_for.count() == 0 || left < dial_for) dial_for = left;
        }
        auto conn = co_await transport::dial(pool.host, pool.port, dial_for);
        if (conn && pool.tls) conn = co_await secure(pool, std::move(*conn), deadline);
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

  const ClientOptions& options;
  Http1ClientOptions http1;
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
  Clock::time_point deadline = kNever;
  CancellationToken cancel;
  CancelSignal::Watch downstream;  // the server request this body is read for went away

  ~State() {
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

  auto lease = co_await impl.acquire(pool, call.deadline);
  if (!lease) {
    KHZ_LOG(debug, "client: " << req.method << " " << url.str() << ": no connection to " << pool.key << ": "
                              << lease.error().message());
    out.ec = lease.error();
    out.connect_failed = true;
    co_return out;
  }
  std::unique_ptr<Http1ClientConnection> conn = std::move(lease->conn);
  const bool reused = lease->reused;

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
    out.stale = reused && !conn->response_began() && (ec == transport::errc::eof ||
                                                     ec == std::errc::connection_reset ||
                                                     ec == std::errc::broken_pipe);
    conn->close();
    impl.release(pool, std::move(conn));
    return out;
  };

  if (auto ec = co_await send_body(*conn, req, file.fd, length, call.deadline)) co_return fail(ec);
  Clock::time_point head_deadline = std::min(call.deadline, after(call.options.response_header_timeout));
  if (auto ec = co_await conn->read_head(resp, req.method == "HEAD", head_deadline)) co_return fail(ec);

  const bool will_redirect = call.options.max_redirects > 0 && is_redirect(resp.status()) &&
                             resp.headers().contains("Location");
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
  if (p.jitter > 0) d *= std::uniform_real_distribution<double>(1.0 - p.jitter, 1.0 + p.jitter)(rng());
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(d, 0.0)));
}

Task<std::error_code> with_retries(CallState& call, const ClientRequest& req, const Url& url, Response& resp) {
  const RetryPolicy& policy = call.options.retry;
  const bool idempotent = is_idempotent(req.method) || req.idempotent || policy.non_idempotent;
  const bool replayable = !req.body_source;
  bool stale_retry_used = false;
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
  }
}

std::size_t Client::open_connections(std::string_view host_port) const {
  LoopPools& lp = impl_->loop_pools();
  std::size_t n = 0;
  for (auto& p : lp.pools) {
    if (p->key == host_port) n += p->open;
  }
  return n;
}

// ---- ResponseStream

ResponseStream::ResponseStream(std::unique_ptr<State> state) : state_(std::move(state)) {}
ResponseStream::ResponseStream(ResponseStream&&) noexcept = default;
ResponseStream& ResponseStream::operator=(ResponseStream&&) noexcept = default;
ResponseStream::~ResponseStream() = default;

const Response& ResponseStream::response() const noexcept { return state_->response; }

bool ResponseStream::finished() const noexcept { return !state_->conn && state_->response.body().empty(); }

Task<Result<std::string_view>> ResponseStream::read() {
  State& s = *state_;
  s.piece.clear();
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

// ---- BlockingClient

struct BlockingClient::Loop {
  std::unique_ptr<transport::ClientLoop> loop;
};

BlockingClient::BlockingClient(ClientOptions options) : loop_(std::make_unique<Loop>()) {
  loop_->loop = transport::ClientLoop::make(options.transport);
  client_ = std::make_unique<Client>(std::move(options));
}

BlockingClient::~BlockingClient() {
  // The pools' connections belong to the loop thread: close them there.
  loop_->loop->run([this]() -> Task<void> {
    client_.reset();
    co_return;
  });
}

void BlockingClient::run(std::function<Task<void>()> make_task) { loop_->loop->run(std::move(make_task)); }

Result<Response> BlockingClient::send(ClientRequest request) {
  std::optional<Result<Response>> out;
  loop_->loop->run([&]() -> Task<void> { out.emplace(co_await client_->send(std::move(request))); });
  return std::move(*out);
}

Result<Response> BlockingClient::get(std::string url) {
  ClientRequest r;
  r.url = std::move(url);
  return send(std::move(r));
}

}  // namespace khz
