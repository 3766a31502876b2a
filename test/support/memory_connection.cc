// SPDX-License-Identifier: Apache-2.0
#include "support/memory_connection.h"

#include <khz/common/log.h>
#include <khz/transport/error.h>

#include <cerrno>
#include <limits>
#include <thread>

namespace khz::test {

// ---- ManualLoop

ManualLoop::ManualLoop() : previous_(EventLoop::current()) { set_current(this); }

ManualLoop::~ManualLoop() { set_current(previous_); }

void ManualLoop::post(std::function<void()> fn) {
  std::lock_guard lock(mutex_);
  posted_.push_back(std::move(fn));
}

void ManualLoop::resume_after(Clock::duration delay, std::coroutine_handle<> h) {
  start_timer(delay, [h] { h.resume(); });
}

ManualLoop::TimerId ManualLoop::start_timer(Clock::duration delay, std::function<void()> fn) {
  TimerId id{Clock::now() + delay, sequence_++};
  timers_.emplace(id, std::move(fn));
  return id;
}

void ManualLoop::cancel_timer(TimerId id) noexcept { timers_.erase(id); }

bool ManualLoop::run_one_timer_due(Clock::time_point now) {
  if (timers_.empty() || timers_.begin()->first.first > now) return false;
  auto fn = std::move(timers_.begin()->second);
  timers_.erase(timers_.begin());
  fn();
  return true;
}

std::size_t ManualLoop::poll() {
  std::size_t ran = 0;
  for (;;) {
    std::deque<std::function<void()>> batch;
    {
      std::lock_guard lock(mutex_);
      batch.swap(posted_);
    }
    std::size_t before = ran;
    for (auto& fn : batch) {
      fn();
      ++ran;
    }
    while (run_one_timer_due(Clock::now())) ++ran;
    if (ran == before) return ran;
  }
}

void ManualLoop::run_until(const std::function<bool()>& done) {
  while (!done()) {
    if (poll() != 0) continue;
    if (timers_.empty()) {
      throw std::logic_error("ManualLoop: nothing is ready and no timer is left, so the awaited condition can never hold");
    }
    std::this_thread::sleep_until(timers_.begin()->first.first);
  }
}

// ---- MemoryConnection

namespace {

void resume_later(ManualLoop& loop, std::coroutine_handle<> h) {
  loop.post([h] { h.resume(); });
}

}  // namespace

MemoryConnection::MemoryConnection(ManualLoop& loop, const MemoryPairOptions& options, std::string local,
                                   std::string peer)
    : loop_(loop),
      capacity_(options.capacity == 0 ? std::numeric_limits<std::size_t>::max() : options.capacity),
      immediate_flush_(options.immediate_flush),
      local_address_(std::move(local)),
      peer_address_(std::move(peer)) {}

MemoryConnection::~MemoryConnection() {
  close();
  if (peer_ != nullptr) peer_->peer_ = nullptr;
}

void MemoryConnection::close() noexcept {
  if (closed_) return;
  closed_ = true;
  if (fill_.handle) finish_fill_later(transport::errc::cancelled);
  if (flush_.handle) finish_flush_later(transport::errc::cancelled);
  if (peer_ != nullptr) peer_->on_peer_closed();
}

void MemoryConnection::start_fill(std::size_t n, std::coroutine_handle<> h) {
  KHZ_ASSERT(!fill_.handle);
  std::error_code ec;
  if (fill_fault_.fires()) {
    ec = fill_fault_.ec;
  } else if (closed_) {
    ec = transport::errc::cancelled;
  } else if (is_idle() && is_draining()) {
    ec = transport::errc::shutting_down;
  } else {
    take_incoming();
    if (input_.size() < n) {
      if (!peer_closed_) {
        fill_ = {h, n};
        arm_timer(fill_, read_timeout_, true);
        return;
      }
      ec = transport::errc::eof;
    }
  }
  fill_error_ = ec;
  resume_later(loop_, h);
}

bool MemoryConnection::start_flush(std::coroutine_handle<> h) {
  KHZ_ASSERT(!flush_.handle);
  std::error_code ec;
  if (flush_fault_.fires()) {
    ec = flush_fault_.ec;
  } else if (closed_) {
    ec = transport::errc::cancelled;
  } else if (peer_closed_ || peer_ == nullptr) {
    ec = std::error_code(EPIPE, std::system_category());
  } else {
    send_outgoing();
    if (!output_.empty()) {
      flush_ = {h, 0};
      arm_timer(flush_, write_timeout_, false);
      return true;
    }
    if (immediate_flush_) return false;  // flush_error_ is clear (Connection::flush)
  }
  flush_error_ = ec;
  resume_later(loop_, h);
  return true;
}

void MemoryConnection::on_idle_while_draining() noexcept {
  if (fill_.handle) finish_fill_later(transport::errc::shutting_down);
}

void MemoryConnection::start_hangup_watch() noexcept {
  if (peer_closed_) {
    hangup_detected();
    return;
  }
  watching_ = true;
}

void MemoryConnection::take_incoming() {
  // Each take makes room on the wire, and the peer's waiting flush refills it at once.
  while (!wire_.empty()) {
    input_.append(wire_);
    wire_.clear();
    if (peer_ != nullptr) peer_->on_peer_read();
  }
}

void MemoryConnection::send_outgoing() {
  while (!output_.empty() && peer_ != nullptr && peer_->wire_.size() < capacity_) {
    std::size_t room = capacity_ - peer_->wire_.size();
    std::string_view piece = output_.segment(0);
    if (piece.size() > room) piece = piece.substr(0, room);
    peer_->wire_.append(piece);
    output_.skip(piece.size());
    output_.release();
    peer_->on_peer_sent();
  }
}

void MemoryConnection::on_peer_sent() {
  if (!fill_.handle) return;
  // A fill is waiting: read the wire now (the peer's send_outgoing sees the room it leaves).
  input_.append(wire_);
  wire_.clear();
  if (input_.size() >= fill_.want) finish_fill_later({});
}

void MemoryConnection::on_peer_read() {
  if (!flush_.handle) return;
  send_outgoing();
  if (output_.empty()) finish_flush_later({});
}

void MemoryConnection::on_peer_closed() noexcept {
  peer_closed_ = true;
  if (fill_.handle) finish_fill_later(transport::errc::eof);  // a waiting fill has taken the wire
  if (flush_.handle) finish_flush_later(std::error_code(EPIPE, std::system_category()));
  if (watching_) hangup_detected();
}

void MemoryConnection::finish_fill_later(std::error_code ec) noexcept {
  cancel_timer(fill_);
  fill_error_ = ec;
  resume_later(loop_, std::exchange(fill_.handle, {}));
}

void MemoryConnection::finish_flush_later(std::error_code ec) noexcept {
  cancel_timer(flush_);
  flush_error_ = ec;
  resume_later(loop_, std::exchange(flush_.handle, {}));
}

void MemoryConnection::arm_timer(Pending& op, Duration timeout, bool is_fill) {
  if (timeout <= Duration::zero()) return;
  op.timed = true;
  op.timer = loop_.start_timer(timeout, [this, is_fill] {
    Pending& timed_out = is_fill ? fill_ : flush_;
    timed_out.timed = false;
    (is_fill ? fill_error_ : flush_error_) = transport::errc::timed_out;
    std::exchange(timed_out.handle, {}).resume();  // from an event: resumed directly
  });
}

void MemoryConnection::cancel_timer(Pending& op) noexcept {
  if (!op.timed) return;
  op.timed = false;
  loop_.cancel_timer(op.timer);
}

// ---- MemoryPair and helpers

MemoryPair::MemoryPair(ManualLoop& loop, const MemoryPairOptions& options)
    : client(loop, options, options.client_address, options.server_address),
      server(loop, options, options.server_address, options.client_address) {
  client.peer_ = &server;
  server.peer_ = &client;
}

Task<void> serve_connection(transport::Connection& conn, transport::ConnectionHandler handler) {
  transport::Resumable* next = nullptr;  // the protocol that parked the connection, if any
  for (;;) {
    if (next != nullptr) {
      co_await next->resume(conn);
    } else {
      co_await handler(conn);
    }
    conn.set_resumed(false);
    if (!conn.take_parked(next)) break;
    conn.set_idle(true);
    std::error_code ec = co_await conn.fill(1);
    conn.set_idle(false);
    if (ec) break;
    if (next == nullptr) conn.set_resumed(true);  // park(): the handler runs again
  }
  conn.close();
}

Task<std::error_code> write_all(transport::Connection& conn, std::string bytes) {
  conn.output().append(bytes);
  co_return co_await conn.flush();
}

Task<std::string> read_to_eof(transport::Connection& conn) {
  while (!co_await conn.fill(conn.input().size() + 1)) {
  }
  std::string all(conn.input().peek(conn.input().size()));
  conn.input().skip(all.size());
  conn.input().release();
  co_return all;
}

}  // namespace khz::test
