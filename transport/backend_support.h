// SPDX-License-Identifier: Apache-2.0
// Private to transport/: pieces every backend needs in the same form.
#pragma once

#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/common/task.h>
#include <khz/transport/dial.h>
#include <khz/transport/transporter.h>

#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <system_error>
#include <thread>

namespace khz::transport {

// Bytes one fill may read from its socket per wake-up before letting the loop serve others
// (netpoll, asio); on io_uring, the bytes kept with no fill waiting before the receive pauses.
inline constexpr std::size_t kReadBudget = 256 * 1024;

// What a completed operation wakes: the coroutine awaiting it, or, for a parked connection
// (Connection::park: no coroutine at all while it waits), a callback.
class Waiter {
 public:
  Waiter() = default;
  Waiter(std::coroutine_handle<> h) noexcept : coro_(h) {}  // NOLINT: implicit by design
  Waiter(void (*fn)(void*), void* arg) noexcept : fn_(fn), arg_(arg) {}
  explicit operator bool() const noexcept { return coro_ || fn_ != nullptr; }
  void resume() const {
    if (coro_) coro_.resume(); else fn_(arg_);
  }

 private:
  std::coroutine_handle<> coro_;
  void (*fn_)(void*) = nullptr;
  void* arg_ = nullptr;
};

// Asks `accept` (Transporter::start) about a connection just accepted: true when there is no
// filter or it says yes; false when it says no or throws (logged).
bool accepted(const AcceptFilter& accept, Connection& conn) noexcept;

// Runs a connection handler to completion, turning any exception into a log line, so the
// backend's bookkeeping after it always runs.
Task<void> run_handler(const ConnectionHandler& handler, Connection& conn);
// What run_handler logs for a handler that threw; for backends that run handlers inline.
[[gnu::noinline]] void log_handler_failure(std::exception_ptr e, const Connection& conn) noexcept;

// A listener's failed accepts, the same for every backend. Out of descriptors or memory
// (EMFILE, ENFILE, ENOBUFS, ENOMEM) the listener pauses for kPause before it tries again: the
// socket stays readable, so retrying at once would spin a core and log without end. Transient
// errors of one connection (ECONNABORTED, EPROTO, EINTR) are skipped. One warning starts an
// episode of failures and one line ends it, whatever their number. Used from the listener's
// loop only.
class AcceptFailures {
 public:
  static constexpr std::chrono::milliseconds kPause{100};
  enum class Action { retry, pause };
  // A failed accept: retry at once (the next pending connection) or pause for kPause.
  Action on_failure(std::error_code ec) noexcept;
  // A connection was accepted: ends an episode of failures.
  void on_success() noexcept {
    if (failures_ != 0) end_episode();
  }
  std::uint64_t failures() const noexcept { return failures_; }

 private:
  void end_episode() noexcept;
  std::uint64_t failures_ = 0;  // in the current episode
};

// What dial() needs of a backend's loop: connect to one resolved address. Each backend's loop
// implements it; dial() finds it with a dynamic_cast of EventLoop::current().
class Dialer {
 public:
  // Connects from this loop (the calling thread) to `addr`; `timeout` zero means none.
  virtual Task<Result<std::unique_ptr<Connection>>> connect_to(sockaddr_storage addr, socklen_t len,
                                                               std::chrono::milliseconds timeout) = 0;
  // A heap-allocated one-shot timer: `done` runs (on this loop) after `delay` unless
  // cancel_timer(handle) came first; either way the timer frees itself.
  virtual void* start_timer(std::chrono::milliseconds delay, LoopTimer* owner) = 0;
  virtual void cancel_timer(void* handle) noexcept = 0;
  // Called by a backend when a timer fires: clears the owner's handle, runs its callback.
  static void fire(LoopTimer* owner);

 protected:
  ~Dialer() = default;
};

// `on_caller`: no thread; ClientLoop::run drives the loop on its caller (make_on_caller).
std::unique_ptr<ClientLoop> make_netpoll_client_loop(bool on_caller);
std::unique_ptr<ClientLoop> make_asio_client_loop(bool on_caller);

// The backend registry behind make_transporter, transporter_names and ClientLoop::make. Each
// backend is a target of its own (khz::transport_netpoll, khz::transport_asio) with a file
// that registers it during static initialisation; the target tells the linker to keep that
// file (an INTERFACE link option, --undefined=<its symbol>), so linking the target is all it
// takes, and a build without a backend has no trace of it.
struct Backend {
  std::string_view name;
  int rank;  // transporter_names() lists backends by rank: the lowest is the default
  std::unique_ptr<Transporter> (*make_transporter)(TransporterOptions options);
  std::unique_ptr<ClientLoop> (*make_client_loop)(bool on_caller);
};
// Adds `backend`; returns true (for a namespace-scope initialiser). Static initialisation only.
bool register_backend(const Backend& backend);
// The backend called `name`; "" means $KHZ_TRANSPORT, else the default. Throws
// std::invalid_argument for a name no linked backend has.
const Backend& find_backend(std::string_view name);

// A stopped loop's last turns (see NetpollLoop::last_turns): runs `turn` while `busy`, up to a
// bound, so a coroutine that requeues itself forever cannot hold the stopping thread.
template <class Busy, class Turn>
void run_until_quiet(Busy busy, Turn turn) {
  constexpr int kRounds = 1000;
  for (int round = 0; busy(); ++round) {
    if (round == kRounds) {
      KHZ_LOG(warn, "stopped loop: work still queued after " << kRounds << " last turns; left undone");
      return;
    }
    turn();
  }
}

// EventLoop::run_and_wait for the loops handed between threads (NetpollLoop, UringLoop): `m`
// guards `thread` (the loop's own) and `on_caller` (a caller drives it; `done` is signalled
// when it stops). A caller driving it from another thread is waited for; a loop no thread runs
// (standing still, or stopped) runs `fn` here through `here` (its last_turns, `m` held);
// otherwise its thread runs it, by post (or its last turns do, when it stops meanwhile).
template <class Here>
void run_and_wait_handed_over(EventLoop& loop, std::mutex& m, std::condition_variable& done, const bool& on_caller,
                              const std::thread& thread, std::function<void()> fn, Here here) {
  if (EventLoop::current() == &loop) return fn();
  std::unique_lock lock(m);
  done.wait(lock, [&] { return !on_caller; });
  if (!thread.joinable()) return here(std::move(fn));
  lock.unlock();
  loop.EventLoop::run_and_wait(std::move(fn));
}

// Runs fn(item) on the loop thread of each item (loop_of(item) names its EventLoop) and waits
// until all have run. From the controlling thread only, never from a loop thread.
template <class Items, class LoopOf, class Fn>
void run_on_each_loop(Items& items, LoopOf loop_of, Fn fn) {
  std::mutex m;
  std::condition_variable cv;
  std::size_t done = 0;
  for (auto& item : items) {
    auto* p = item.get();
    EventLoop& loop = loop_of(*p);
    loop.post([&, p] {
      fn(*p);
      std::lock_guard g(m);
      ++done;
      cv.notify_one();
    });
  }
  std::unique_lock g(m);
  cv.wait(g, [&] { return done == items.size(); });
}

}  // namespace khz::transport
