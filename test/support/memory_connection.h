// SPDX-License-Identifier: Apache-2.0
// Test support: two transport::Connections joined in memory, on an event loop the test drives.
// No sockets, no threads: what one end flushes, the other end can fill.
//
//   khz::test::ManualLoop loop;                      // current on this thread while it lives
//   khz::test::MemoryPair pair(loop, {.capacity = 4});
//   khz::spawn(khz::test::serve_connection(pair.server, handler));   // as a transporter would
//   pair.client.output().append("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
//   auto ec = loop.run(flush_it(pair.client));       // drives the loop until the task is done
//   loop.poll();                                     // runs whatever is ready, waits for nothing
//
//   client                              server
//   output() --flush--> [ wire: <= capacity bytes ] --fill--> input()
//   input()  <--fill--- [ wire: <= capacity bytes ] <--flush-- output()
//
// What each end sees, as on a socket:
// - fill(n) moves everything on its incoming wire into input() (read-ahead) and completes once
//   input().size() >= n; errc::eof once the peer closed and the wire is empty; errc::timed_out
//   after read_timeout(); errc::cancelled once this end closed; errc::shutting_down when idle
//   and draining (start_draining()).
// - flush() moves output() onto the wire, at most `capacity` bytes in flight (0: no limit), and
//   waits until the peer's fills have made room for the rest: back-pressure. EPIPE once the
//   peer closed; errc::timed_out after write_timeout().
// - Completions come on a later turn of the loop (posted), never inline; a flush the wire takes
//   whole completes without suspending (netpoll's way) unless `immediate_flush` is false (asio's).
// - fail_fills(counter, ec) / fail_flushes(counter, ec): each fill (flush) asks counter.fail()
//   as it starts, and completes with `ec` (on a later turn) when it says so.
// - A hang-up watch fires when the peer closes.
// Threading: one thread, the loop's; the pair, the loop and the counters must outlive every
// operation started on the connections.
#pragma once

#include "support/fail_counter.h"

#include <khz/common/event_loop.h>
#include <khz/common/task.h>
#include <khz/transport/connection.h>
#include <khz/transport/transporter.h>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace khz::test {

// A single-threaded EventLoop that runs only inside the calls below, on the thread that made
// it. It is EventLoop::current() on that thread for its whole life (so sleep_for works in code
// that runs outside those calls too). Timers run on the real steady clock. post() may be
// called from any thread. Work still queued when it is destroyed is dropped, never run.
class ManualLoop final : public EventLoop {
 public:
  ManualLoop();
  ~ManualLoop() override;
  ManualLoop(const ManualLoop&) = delete;
  ManualLoop& operator=(const ManualLoop&) = delete;

  void post(std::function<void()> fn) override;
  void resume_after(Clock::duration delay, std::coroutine_handle<> h) override;

  // Runs posted work and due timers until nothing more is ready; never waits. Returns how many
  // callbacks ran.
  std::size_t poll();
  // Runs the loop, waiting for timers when nothing else is ready, until `done()` holds. Throws
  // std::logic_error when nothing is ready and no timer is left: `done()` can never hold.
  void run_until(const std::function<bool()>& done);
  // Starts `task` and runs the loop until it completes; returns its value (or rethrows).
  template <class T>
  T run(Task<T> task) {
    auto handle = task.handle();
    handle.resume();  // up to its first suspension
    run_until([&] { return handle.done(); });
    return task.await_resume();
  }

  // A one-shot timer for `fn` after `delay`; cancel_timer (before it fires) drops it.
  using TimerId = std::pair<Clock::time_point, std::uint64_t>;
  TimerId start_timer(Clock::duration delay, std::function<void()> fn);
  void cancel_timer(TimerId id) noexcept;

 private:
  bool run_one_timer_due(Clock::time_point now);

  EventLoop* previous_;
  std::mutex mutex_;
  std::deque<std::function<void()>> posted_;
  std::map<TimerId, std::function<void()>> timers_;
  std::uint64_t sequence_ = 0;
};

struct MemoryPairOptions {
  // Bytes a direction holds between one end's flush and the other end's fill; 0: no limit.
  std::size_t capacity = 0;
  // false: every flush completes on a later turn, even one the wire takes whole.
  bool immediate_flush = true;
  std::string client_address = "127.0.0.1:50000";
  std::string server_address = "127.0.0.1:8080";
};

class MemoryConnection final : public transport::Connection {
 public:
  ~MemoryConnection() override;

  void close() noexcept override;
  std::string peer_address() const override { return peer_address_; }
  std::string local_address() const override { return local_address_; }

  // Fault injection: from now on each fill (flush) asks `counter` as it starts; when it says
  // fail, the operation completes with `ec`. `counter` must outlive the connection's operations.
  void fail_fills(FailCounter& counter, std::error_code ec) noexcept { fill_fault_ = {&counter, ec}; }
  void fail_flushes(FailCounter& counter, std::error_code ec) noexcept { flush_fault_ = {&counter, ec}; }

  // A graceful shutdown as a transporter starts it: is_draining() turns true, and an idle
  // pending fill ends with errc::shutting_down.
  void start_draining() noexcept { mark_draining(); }

  bool is_closed() const noexcept { return closed_; }
  // Bytes the peer flushed that this end has not filled yet.
  std::size_t incoming() const noexcept { return wire_.size(); }

 private:
  friend class MemoryPair;
  struct Fault {
    FailCounter* counter = nullptr;
    std::error_code ec;
    bool fires() const { return counter != nullptr && counter->fail(); }
  };
  struct Pending {
    std::coroutine_handle<> handle;
    std::size_t want = 0;
    ManualLoop::TimerId timer{};
    bool timed = false;
  };

  MemoryConnection(ManualLoop& loop, const MemoryPairOptions& options, std::string local, std::string peer);

  void start_fill(std::size_t n, std::coroutine_handle<> h) override;
  bool start_flush(std::coroutine_handle<> h) override;
  void on_idle_while_draining() noexcept override;
  void start_hangup_watch() noexcept override;
  void stop_hangup_watch() noexcept override { watching_ = false; }

  // Moves the incoming wire into input(); tells the peer there is room.
  void take_incoming();
  // Moves output() onto the peer's wire, as far as it has room.
  void send_outgoing();
  // The peer put bytes on this end's wire, made room on its own, or closed.
  void on_peer_sent();
  void on_peer_read();
  void on_peer_closed() noexcept;
  // Ends a pending operation with `ec` on a later turn.
  void finish_fill_later(std::error_code ec) noexcept;
  void finish_flush_later(std::error_code ec) noexcept;
  void arm_timer(Pending& op, Duration timeout, bool is_fill);
  void cancel_timer(Pending& op) noexcept;

  ManualLoop& loop_;
  MemoryConnection* peer_ = nullptr;
  std::size_t capacity_;
  bool immediate_flush_;
  std::string local_address_;
  std::string peer_address_;
  std::string wire_;  // flushed by the peer, not yet filled here
  bool peer_closed_ = false;
  bool closed_ = false;
  bool watching_ = false;
  Pending fill_;
  Pending flush_;
  Fault fill_fault_;
  Fault flush_fault_;
};

// The two ends; each sees the other's address as its peer. Neither is movable.
class MemoryPair {
 public:
  explicit MemoryPair(ManualLoop& loop, const MemoryPairOptions& options = {});
  MemoryConnection client;
  MemoryConnection server;
};

// What a transporter does with an accepted connection (the lifecycle table of transporter.h,
// without a layer): runs `handler`; while what ran parks the connection, waits for input as an
// idle fill(1) and serves it again, through the Resumable that park(next) named, else through
// the handler with resumed() set; then closes the connection. Exceptions propagate.
Task<void> serve_connection(transport::Connection& conn, transport::ConnectionHandler handler);

// Appends `bytes` to conn.output() and flushes; the flush's error.
Task<std::error_code> write_all(transport::Connection& conn, std::string bytes);

// Fills `conn` until the peer closes (or an error) and returns everything read.
Task<std::string> read_to_eof(transport::Connection& conn);

}  // namespace khz::test
