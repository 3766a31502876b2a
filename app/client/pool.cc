// SPDX-License-Identifier: Apache-2.0
// Pools: the per-loop pool registry, HTTP/1.1 acquire/release with idle and lifetime rules and
// waiters, the HTTP/2 shared connection (dial once, drain on GOAWAY or lifetime), close_idle.
#include "pool.h"

#include <khz/app/client/errors.h>
#include <khz/common/log.h>
#include <khz/transport/tls.h>

#include <algorithm>
#include <atomic>

namespace khz::client {
namespace {

// A slot was freed: the first waiter dials.
void wake_to_dial(HostPool& pool) {
  if (pool.waiters.empty()) return;
  PoolWaiter* w = pool.waiters.front();
  pool.waiters.pop_front();
  w->timer.cancel();
  w->may_dial = true;
  w->handle.resume();
}

// The HTTP/2 dial ended: its waiters look again (at the new connection, or dial themselves).
void wake_h2_waiters(HostPool& pool) {
  while (!pool.h2_waiters.empty()) {
    PoolWaiter* w = pool.h2_waiters.front();
    pool.h2_waiters.pop_front();
    w->timer.cancel();
    w->may_dial = true;
    w->handle.resume();
  }
}

void on_wait_timeout(void* context) {
  auto* w = static_cast<PoolWaiter*>(context);
  auto& q = *w->queue;
  q.erase(std::find(q.begin(), q.end(), w));
  w->timed_out = true;
  w->handle.resume();
}

// Queues `w` (in its pool's waiters unless a queue is set) until a wake or `wait` (cut to the
// deadline) runs out.
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

}  // namespace

Pools::Pools(const ClientOptions& options) : options_(options), dialer_(options) {
  static std::atomic<std::uint64_t> ids{1};
  id_ = ids.fetch_add(1);
  if (options.metrics) {
    open_connections_.emplace(options.metrics->gauge(
        "http_client_open_connections",
        "Client connections by dialled address and state: active (lent to a request, being dialled, "
        "or HTTP/2) or idle (HTTP/1.1 keep-alive, waiting for reuse).",
        {"server_address", "state"}));
  }
}

Pools::~Pools() {
  // Idle connections close on their own loop (see the header: no request may be in flight): a
  // connection's timers and submissions belong to its loop, which may be running (a Client
  // destroyed while the server whose handlers used it still serves). A loop no thread runs
  // closes them here.
  for (auto& [loop, pools] : loops_) {
    const bool holds = std::any_of(pools->pools.begin(), pools->pools.end(), [](const auto& pool) {
      return !pool->idle.empty() || pool->h2 || !pool->h2_draining.empty();
    });
    auto close = [&pools = *pools] {
      for (auto& pool : pools.pools) {
        pool->idle.clear();
        pool->h2.reset();
        pool->h2_draining.clear();
      }
    };
    if (holds) loop->run_and_wait(close);
    for (auto& pool : pools->pools) {
      pool->active_gauge.add(-pool->active_reported);
      pool->idle_gauge.add(-pool->idle_reported);
    }
  }
}

void Pools::report(HostPool& pool) {
  if (!open_connections_) return;
  const auto idle = static_cast<std::int64_t>(pool.idle.size());
  const auto active = static_cast<std::int64_t>(pool.open) - idle + (pool.h2 ? 1 : 0) +
                      static_cast<std::int64_t>(pool.h2_draining.size()) + (pool.h2_dialling ? 1 : 0);
  if (active != pool.active_reported) {
    pool.active_gauge.add(active - pool.active_reported);
    pool.active_reported = active;
  }
  if (idle != pool.idle_reported) {
    pool.idle_gauge.add(idle - pool.idle_reported);
    pool.idle_reported = idle;
  }
}

// The pools of the calling thread's loop (a thread-local cache keeps this off the mutex).
LoopPools& Pools::loop_pools() {
  struct Cache {
    std::uint64_t client = 0;
    EventLoop* loop = nullptr;
    LoopPools* pools = nullptr;
  };
  thread_local Cache cache;
  EventLoop* loop = EventLoop::current();
  if (cache.client == id_ && cache.loop == loop) return *cache.pools;
  std::lock_guard lock(mutex_);
  auto& slot = loops_[loop];
  if (!slot) slot = std::make_unique<LoopPools>();
  cache = {id_, loop, slot.get()};
  return *slot;
}

HostPool& Pools::pool_for(const Route& r) {
  LoopPools& lp = loop_pools();
  for (auto& p : lp.pools) {
    if (p->port == r.port && p->tls == r.tls && p->host == r.host && p->server_name == r.server_name &&
        p->tunnel_port == r.tunnel_port && p->tunnel_host == r.tunnel_host) {
      return *p;
    }
  }
  auto p = std::make_unique<HostPool>();
  p->host = std::string(r.host);
  p->port = r.port;
  p->tls = r.tls;
  p->server_name = std::string(r.server_name);
  p->tunnel_host = std::string(r.tunnel_host);
  p->tunnel_port = r.tunnel_port;
  if (!r.tunnel_host.empty()) {
    p->tunnel = (r.tunnel_host.find(':') != std::string_view::npos ? "[" + p->tunnel_host + "]" : p->tunnel_host) +
                ":" + std::to_string(r.tunnel_port);
  }
  p->key = r.tls ? "https://" + (p->tunnel.empty() ? p->host + ":" + std::to_string(r.port) : p->tunnel)
                 : p->host + ":" + std::to_string(r.port);
  if (open_connections_) {
    const std::string address = p->tunnel.empty() ? p->host + ":" + std::to_string(r.port) : p->tunnel;
    p->active_gauge = open_connections_->with({address, "active"});
    p->idle_gauge = open_connections_->with({address, "idle"});
  }
  lp.pools.push_back(std::move(p));
  return *lp.pools.back();
}

// ---- HTTP/1.1

bool Pools::expired(const Http1ClientConnection& c, Clock::time_point now) const {
  return options_.max_lifetime.count() > 0 && now - c.created() >= options_.max_lifetime;
}

void Pools::prune(HostPool& pool, Clock::time_point now) {
  auto keep = std::find_if(pool.idle.begin(), pool.idle.end(), [&](const HostPool::Idle& i) {
    return now - i.since < options_.idle_timeout && !expired(*i.conn, now);
  });
  std::size_t gone = static_cast<std::size_t>(keep - pool.idle.begin());
  if (gone == 0) return;
  pool.idle.erase(pool.idle.begin(), keep);
  pool.open -= gone;
  report(pool);
  for (std::size_t i = 0; i < gone && !pool.waiters.empty(); ++i) wake_to_dial(pool);
}

std::unique_ptr<Http1ClientConnection> Pools::take_idle(HostPool& pool) {
  prune(pool, LoopClock::now());
  if (pool.idle.empty()) return nullptr;
  std::unique_ptr<Http1ClientConnection> conn = std::move(pool.idle.back().conn);
  pool.idle.pop_back();
  report(pool);
  return conn;
}

Task<Result<Lease>> Pools::acquire(HostPool& pool, Clock::time_point deadline) {
  for (;;) {
    if (auto conn = take_idle(pool)) co_return Lease{std::move(conn), true};
    auto now = LoopClock::now();
    if (pool.open < options_.max_connections_per_host) {
      ++pool.open;
      report(pool);
      auto conn = co_await dialer_.open(pool, now, deadline);
      if (!conn) {
        --pool.open;
        report(pool);
        wake_to_dial(pool);
        co_return conn.error();
      }
      co_return Lease{std::make_unique<Http1ClientConnection>(std::move(*conn), dialer_.http1()), false};
    }
    PoolWaiter w;
    w.pool = &pool;
    co_await WaitAwaiter{w, deadline, options_.wait_timeout};
    if (w.conn) co_return Lease{std::move(w.conn), true};
    if (w.timed_out) co_return std::error_code(client::errc::pool_timeout);
    // may_dial: loop and take the freed slot.
  }
}

void Pools::release(HostPool& pool, std::unique_ptr<Http1ClientConnection> conn) {
  auto now = LoopClock::now();
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
    report(pool);
    return;
  }
  conn.reset();
  --pool.open;
  report(pool);
  wake_to_dial(pool);
}

// ---- HTTP/2

void Pools::prune_h2(HostPool& pool, Clock::time_point now) {
  std::erase_if(pool.h2_draining, [](const auto& c) { return c->active_streams() == 0; });
  if (!pool.h2) return report(pool);
  const bool idle = pool.h2->active_streams() == 0;
  if (pool.h2->usable() && options_.max_lifetime.count() > 0 && now - pool.h2->created() >= options_.max_lifetime) {
    pool.h2->shutdown();  // GOAWAY: finish what runs, take nothing new
  }
  if (!pool.h2->usable()) {
    if (!idle) pool.h2_draining.push_back(std::move(pool.h2));
    pool.h2.reset();
  } else if (idle && now - pool.h2_idle_since >= options_.idle_timeout) {
    pool.h2.reset();
  }
  report(pool);
}

Task<Result<H2Choice>> Pools::acquire_h2(HostPool& pool, Clock::time_point deadline) {
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
      co_await WaitAwaiter{w, deadline, options_.wait_timeout};
      if (w.timed_out) co_return std::error_code(client::errc::pool_timeout);
      continue;
    }
    pool.h2_dialling = true;
    report(pool);
    auto conn = co_await dialer_.open(pool, now, deadline);
    pool.h2_dialling = false;
    if (!conn) {
      report(pool);
      wake_h2_waiters(pool);  // they try for themselves
      co_return conn.error();
    }
    if (pool.tls && static_cast<transport::TlsConnection&>(**conn).alpn() != "h2") {
      KHZ_LOG(debug, "client: " << pool.key << " chose " << (static_cast<transport::TlsConnection&>(**conn).alpn().empty() ? "no protocol" : "http/1.1")
                                << " by ALPN; HTTP/1.1 for this host");
      pool.proto = HostPool::Proto::http1;
      ++pool.open;
      report(pool);
      wake_h2_waiters(pool);
      co_return H2Choice{nullptr, false, std::make_unique<Http1ClientConnection>(std::move(*conn), dialer_.http1())};
    }
    pool.proto = HostPool::Proto::http2;
    pool.h2 = Http2ClientConnection::make(std::move(*conn), dialer_.http2());
    pool.h2_idle_since = Clock::now();
    report(pool);
    wake_h2_waiters(pool);
    co_return H2Choice{pool.h2.get(), false, nullptr};
  }
}

// ---- for Client

void Pools::close_idle() {
  for (auto& p : loop_pools().pools) {
    p->open -= p->idle.size();
    p->idle.clear();
    if (p->h2 && p->h2->active_streams() == 0) p->h2.reset();
    std::erase_if(p->h2_draining, [](const auto& c) { return c->active_streams() == 0; });
    report(*p);
  }
}

std::size_t Pools::open_connections(std::string_view key) {
  LoopPools& lp = loop_pools();
  std::size_t n = 0;
  for (auto& p : lp.pools) {
    if (p->key == key) {
      n += p->open + (p->h2 && !p->h2->closed() ? 1 : 0) + (p->h2_dialling ? 1 : 0) + p->h2_draining.size();
    }
  }
  return n;
}

}  // namespace khz::client
