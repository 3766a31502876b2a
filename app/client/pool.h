// SPDX-License-Identifier: Apache-2.0
// Private to app/client: the connection pools, the second step of an exchange. Pools keeps,
// per event loop and per destination (a Route: scheme, dialled host:port, TLS server name,
// tunnel target), one HostPool: HTTP/1.1 keep-alive connections (idle LIFO, a cap on open
// ones, waiters for a free one) or one shared HTTP/2 connection (plus those draining).
//
//   HostPool& pool = pools.pool_for(route);
//   auto lease = co_await pools.acquire(pool, deadline);   // idle → dial → wait
//   ... one exchange on *lease->conn ...
//   pools.release(pool, std::move(lease->conn));           // to a waiter, idle, or closed
//
// Idle expiry (idle_timeout, max_lifetime) is lazy: checked whenever a pool is used.
// Threading: a HostPool belongs to one loop and is used only there (no locks on the request
// path); Pools finds the calling loop's pools through a thread-local cache (a mutex on a miss).
#pragma once

#include <khz/app/client/options.h>
#include <khz/common/event_loop.h>
#include <khz/common/metrics.h>
#include <khz/common/result.h>
#include <khz/common/task.h>
#include <khz/protocol/http1_client.h>
#include <khz/protocol/http2_client.h>
#include <khz/transport/dial.h>

#include "deadline.h"
#include "dial.h"
#include "route.h"

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace khz::client {

struct HostPool;

// A request waiting for a connection of a full pool (or for an HTTP/2 dial in progress).
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
  // http_client_open_connections (ClientOptions::metrics): this pool's series and what it
  // last added to them (Pools::report adds the difference after every change).
  metrics::Gauge active_gauge, idle_gauge;
  std::int64_t active_reported = 0, idle_reported = 0;
};

// The pools of one loop.
struct LoopPools {
  std::vector<std::unique_ptr<HostPool>> pools;
};

// An HTTP/1.1 connection lent to one exchange; give it back with Pools::release.
struct Lease {
  std::unique_ptr<Http1ClientConnection> conn;
  bool reused = false;
};

// The connection a request may use now over HTTP/2: the pool's shared one, after a dial when
// there is none (requests arriving meanwhile wait for that dial, not dial their own). An https
// dial whose server picks HTTP/1.1 makes the pool an HTTP/1.1 one for good and hands the caller
// that connection (`h1`, counted in the pool's `open`: release it like a Lease).
struct H2Choice {
  Http2ClientConnection* h2 = nullptr;
  bool reused = false;
  std::unique_ptr<Http1ClientConnection> h1;
};

// Every pool of one Client, on every loop. Made once per Client.
class Pools {
 public:
  // Throws std::invalid_argument when the TLS files cannot be loaded (Dialer).
  explicit Pools(const ClientOptions& options);
  // Closes every idle connection, each on its own loop (see Client: no request in flight).
  ~Pools();
  Pools(const Pools&) = delete;
  Pools& operator=(const Pools&) = delete;

  // The calling loop's pool for `route` (made at first use; never removed: a HostPool& stays
  // valid as long as the Client).
  HostPool& pool_for(const Route& route);

  // HTTP/1.1: an idle connection (newest first), else a new one while the pool has fewer than
  // max_connections_per_host open, else wait (wait_timeout, cut to `deadline`) for a release.
  // Errors: the dial's (Dialer::open), client::errc::pool_timeout.
  Task<Result<Lease>> acquire(HostPool& pool, Clock::time_point deadline);
  // acquire()'s first step without its coroutine: an idle connection, or null.
  std::unique_ptr<Http1ClientConnection> take_idle(HostPool& pool);
  // Back to the first waiter, else the idle list; an unusable connection (error, close,
  // bytes left over, lifetime over) is closed and its slot goes to the first waiter.
  void release(HostPool& pool, std::unique_ptr<Http1ClientConnection> conn);

  // HTTP/2 (see H2Choice). Errors: the dial's, client::errc::pool_timeout while waiting for
  // another request's dial. A pool known to be HTTP/1.1 answers an empty choice.
  Task<Result<H2Choice>> acquire_h2(HostPool& pool, Clock::time_point deadline);

  // Opens connections (WebSocket dials with it directly: such connections are never pooled).
  Dialer& dialer() noexcept { return dialer_; }

  // Closes the calling loop's idle connections (HTTP/2 ones without a stream included).
  void close_idle();
  // The calling loop's open connections to `key` (HostPool::key): idle + busy + dialling,
  // HTTP/2 ones draining included.
  std::size_t open_connections(std::string_view key);

 private:
  LoopPools& loop_pools();
  // Brings the pool's http_client_open_connections series up to date (no-op without metrics).
  void report(HostPool& pool);
  bool expired(const Http1ClientConnection& c, Clock::time_point now) const;
  void prune(HostPool& pool, Clock::time_point now);
  void prune_h2(HostPool& pool, Clock::time_point now);

  const ClientOptions& options_;
  Dialer dialer_;
  std::optional<metrics::Family<metrics::Gauge>> open_connections_;  // set with ClientOptions::metrics
  std::uint64_t id_ = 0;  // tells this Client's pools apart in the thread-local cache
  std::mutex mutex_;
  std::unordered_map<EventLoop*, std::unique_ptr<LoopPools>> loops_;
};

// The pool's HTTP/2 connection has no stream left but the caller's (under load it rarely has:
// no clock read then).
inline void mark_h2_idle(HostPool& pool) {
  if (pool.h2 && pool.h2->active_streams() <= 1) pool.h2_idle_since = Clock::now();
}

}  // namespace khz::client
