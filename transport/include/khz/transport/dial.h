// SPDX-License-Identifier: Apache-2.0
// Outbound connections: dial() opens a TCP (or Unix domain socket) connection on the event loop
// of the calling coroutine; ClientLoop is a loop thread of its own for plain programs.
//
//   khz::Task<> handler(khz::RequestContext& ctx) {          // runs on a server loop
//     auto conn = co_await khz::transport::dial("127.0.0.1", 8080, std::chrono::seconds(2));
//     if (!conn) { ctx.string(502, conn.error().message()); co_return; }
//     (*conn)->output().append("PING\r\n");
//     co_await (*conn)->flush();
//   }
//
//   auto loop = khz::transport::ClientLoop::make("");        // a plain program
//   loop->run([]() -> khz::Task<> { auto c = co_await khz::transport::dial("example.com", 80, 5s); ... });
//
// Resolution: a numeric host ("10.0.0.7", "::1", "[::1]") is parsed in place; "localhost" maps
// to 127.0.0.1 without a lookup; "unix:/path/to.sock" or "unix:@name" (abstract) is a Unix
// domain socket (the port is ignored). Any other name is resolved by getaddrinfo on a short-lived
// thread of its own, so the loop never blocks on DNS; the dial timeout covers the lookup (a
// lookup that outlives it finishes on its thread and is dropped). Every address returned is
// tried in order until one connects or the timeout passes.
// Errors: errc::timed_out, the OS error of the last address tried (ECONNREFUSED, ENOENT for a
// Unix socket path that is not there, ...), std::errc::address_not_available when the name
// does not resolve, std::errc::invalid_argument for a malformed "unix:" address.
// Lifetime: the Connection belongs to the caller and must be used and destroyed on the loop
// it was dialled from (it may be destroyed at any point of a turn). TCP_NODELAY is set (TCP).
#pragma once

#include <khz/common/event_loop.h>
#include <khz/common/result.h>
#include <khz/common/task.h>
#include <khz/transport/connection.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace khz::transport {

// Opens a connection to host:port (TCP) or to a "unix:" host from the current loop (a server
// loop or a ClientLoop).
// `timeout` bounds resolution and connecting together; zero means none.
// Requires EventLoop::current() to be a transport loop; elsewhere it fails with
// std::errc::operation_not_supported.
Task<Result<std::unique_ptr<Connection>>> dial(std::string host, std::uint16_t port,
                                               std::chrono::milliseconds timeout);

// A one-shot callback on the current transport loop, cancellable until it fires (what client
// deadlines are made of: pool waits, lookups). Costs no syscall on netpoll.
//
//   LoopTimer t;
//   t.start(std::chrono::seconds(1), [](void* self) { static_cast<Waiter*>(self)->expire(); }, this);
//   ...
//   t.cancel();   // or let the destructor do it
// Threading: start, cancel and destroy on the loop thread that started it.
class LoopTimer {
 public:
  using Callback = void (*)(void* context);
  LoopTimer() = default;
  ~LoopTimer() { cancel(); }
  LoopTimer(const LoopTimer&) = delete;
  LoopTimer& operator=(const LoopTimer&) = delete;

  // Calls fn(context) on this loop after `delay` (re-arms when armed). False, and nothing
  // armed, when the calling thread runs no transport loop.
  bool start(std::chrono::milliseconds delay, Callback fn, void* context);
  void cancel() noexcept;
  bool armed() const noexcept { return handle_ != nullptr; }

 private:
  friend class Dialer;
  Callback fn_ = nullptr;
  void* context_ = nullptr;
  void* handle_ = nullptr;  // the backend's timer while armed
  void* loop_ = nullptr;    // the backend loop (a transport-private type) that armed it
};

// A single event loop of a chosen backend for programs that are not servers (the blocking
// client facade, command-line tools, load generators), on a thread of its own, or driven by
// the caller (make_on_caller):
//
//   auto loop = khz::transport::ClientLoop::make_on_caller("");
//   loop->run(make_task);   // the loop runs here, on this thread, until the task completes
//   loop->run(make_task2);  // between runs it stands still: what lives on it (a Client's pooled
//                           // connections) may be used and destroyed on this thread meanwhile
//
// Threading: make/destroy from a controlling thread (never from the loop itself); post() from
// any thread; run() from any other thread (a caller-driven loop: from the thread that drives
// it, which must not be running a loop already). Posts to a caller-driven loop wait for the
// next run().
class ClientLoop {
 public:
  // "netpoll", "asio", or "" for $KHZ_TRANSPORT else the default. Throws std::invalid_argument
  // for an unknown name. The thread starts at once.
  static std::unique_ptr<ClientLoop> make(std::string_view backend);
  // The same loop with no thread of its own: it runs only inside run(), on the calling thread
  // (test harnesses: khz::testing::perform_request).
  static std::unique_ptr<ClientLoop> make_on_caller(std::string_view backend);

  // Stops the loop and joins its thread; coroutines sleeping on it (sleep_for) are woken to
  // end, others still suspended on it are not resumed. A caller-driven loop runs one last
  // time on the destroying thread to do so.
  virtual ~ClientLoop();

  virtual EventLoop& loop() noexcept = 0;
  virtual std::string_view name() const noexcept = 0;

  // Runs `make_task()` on the loop and blocks the caller until it completes (rethrows its
  // exception). The task is created on the loop thread.
  void run(std::function<Task<void>()> make_task);

 protected:
  ClientLoop() = default;
  // Makes this loop caller-driven (from a backend's constructor): run() drives it.
  void drive_on_caller();
  bool on_caller() const noexcept { return wake_fd_ >= 0; }
  // A caller-driven loop: runs `fn` on it, here, then returns (from backends' destructors).
  void run_here(std::function<void()> fn);
  // A caller-driven loop: runs it on the calling thread until `fd` is readable.
  virtual void run_here_until_readable(int fd);

 private:
  void drive_until_woken();
  int wake_fd_ = -1;  // a caller-driven loop's eventfd: written when what run() waits for is done
};

}  // namespace khz::transport
