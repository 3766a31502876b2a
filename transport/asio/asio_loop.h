// SPDX-License-Identifier: Apache-2.0
// Private to transport/asio/: AsioLoop, one event loop of the Asio backend (an io_context on
// its own thread, or driven by a caller), and the dialer on it.
#pragma once

#include <khz/common/background_thread.h>
#include <khz/common/event_loop.h>
#include <khz/transport/dial.h>

#include "asio/asio_support.h"

#include <poll.h>

#include <atomic>
#include <chrono>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>

namespace khz::transport {

class AsioConnection;

// How often a loop checks its connections' read and write deadlines. Timeouts fire within one
// tick after they are due; no timer is armed per operation (that would cost an allocation and
// a timer-queue update per request).
constexpr std::chrono::milliseconds kDeadlineTick{100};

// One event loop: an io_context on its own thread.
class AsioLoop final : public EventLoop, public Dialer {
 public:
  AsioLoop() : io_(1), guard_(asio::make_work_guard(io_)), sweep_(io_) {}
  // LoopTimers cancelled (or armed) when the loop stopped: their handlers never ran to free
  // them. Freed here, before the io_context, which then drops their pending operations.
  ~AsioLoop() override {
    while (timers_ != nullptr) {
      HeapTimer* t = timers_;
      unlink(t);
      delete t;
    }
  }

  // As NetpollLoop::post: a loop stopped for good runs `fn` here, as a last turn.
  void post(std::function<void()> fn) override {
    std::unique_lock<std::mutex> stopping;
    if (stopping_.load(std::memory_order_acquire) && EventLoop::current() != this) {
      stopping = std::unique_lock(stop_mutex_);
      if (stopped_) return last_turns(std::move(fn));
    }
    asio::post(io_, std::move(fn));
  }

  // A loop no thread runs (caller-driven between runs, or stopped) runs `fn` here; see
  // EventLoop.
  void run_and_wait(std::function<void()> fn) override {
    if (EventLoop::current() == this) return fn();
    if (stopping_.load(std::memory_order_acquire) || thread_.joinable()) return EventLoop::run_and_wait(std::move(fn));
    std::lock_guard lock(stop_mutex_);
    last_turns(std::move(fn));
  }

  void resume_after(Clock::duration delay, std::coroutine_handle<> h) override {
    if (waking_) {  // shutting down: a sleep ends at once (on a later turn)
      asio::post(io_, [h] { h.resume(); });
      return;
    }
    sleepers_.emplace_front(io_, h);
    auto it = sleepers_.begin();
    it->timer.expires_after(delay);
    it->timer.async_wait([this, it](const error_code&) {
      auto handle = it->handle;
      sleepers_.erase(it);
      handle.resume();
    });
  }

  Task<Result<std::unique_ptr<Connection>>> connect_to(sockaddr_storage addr, socklen_t len,
                                                       std::chrono::milliseconds timeout) override;

  struct HeapTimer {
    explicit HeapTimer(asio::io_context& io, LoopTimer* o) : timer(io), owner(o) {}
    asio::steady_timer timer;
    LoopTimer* owner;
    bool cancelled = false;
    HeapTimer* prev = nullptr;  // in timers_ (intrusive: arming a timer allocates only the timer)
    HeapTimer* next = nullptr;
  };
  void link(HeapTimer* t) noexcept {
    t->next = timers_;
    if (timers_ != nullptr) timers_->prev = t;
    timers_ = t;
  }
  void unlink(HeapTimer* t) noexcept {
    (t->prev != nullptr ? t->prev->next : timers_) = t->next;
    if (t->next != nullptr) t->next->prev = t->prev;
    t->prev = t->next = nullptr;
  }
  void* start_timer(std::chrono::milliseconds delay, LoopTimer* owner) override {
    auto* t = new HeapTimer(io_, owner);
    link(t);
    t->timer.expires_after(delay);
    t->timer.async_wait([this, t](const error_code&) {
      unlink(t);
      std::unique_ptr<HeapTimer> own(t);
      if (!t->cancelled) Dialer::fire(t->owner);
    });
    return t;
  }
  void cancel_timer(void* handle) noexcept override {
    auto* t = static_cast<HeapTimer*>(handle);
    t->cancelled = true;  // the handler still runs (aborted) and frees it
    error_code ignored;
    t->timer.cancel(ignored);
  }

  void run() {
    thread_ = background_thread([this] {
      set_current(this);
      arm_sweep();
      io_.run();
      set_current(nullptr);
    });
  }

  // A loop with no thread (ClientLoop::make_on_caller): runs handlers on the calling thread
  // until `fd` is readable (something a handler writes), then returns with the loop's state
  // intact.
  void run_here_until_readable(int fd) {
    set_current(this);
    if (!sweeping_) {
      arm_sweep();
      sweeping_ = true;
    }
    for (;;) {
      pollfd ready{fd, POLLIN, 0};
      if (::poll(&ready, 1, 0) > 0 || io_.stopped()) break;
      io_.run_one();  // the work guard keeps it waiting for the next handler
    }
    set_current(nullptr);
  }

  // Called on the loop thread.
  void wake_sleepers() {
    waking_ = true;
    for (auto& s : sleepers_) s.timer.cancel();
  }

  // Stops the loop and waits for its thread; then, as NetpollLoop::stop_and_join, runs what is
  // still queued on the calling thread, and later posts run there too.
  void stop_and_join() {
    stopping_.store(true, std::memory_order_release);
    asio::post(io_, [this] { sweep_.cancel(); });
    guard_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(stop_mutex_);
    if (!stopped_) {
      stopped_ = true;
      last_turns(nullptr);
    }
  }

  asio::io_context& io() { return io_; }
  std::unordered_set<AsioConnection*>& connections() { return connections_; }

 private:
  struct Sleeper {
    Sleeper(asio::io_context& io, std::coroutine_handle<> h) : timer(io), handle(h) {}
    asio::steady_timer timer;
    std::coroutine_handle<> handle;
  };

  void arm_sweep();
  // The handlers ready now (aborted operations of sockets closed here, posted functions) and
  // those they make ready, on the calling thread of a loop no thread runs; stop_mutex_ held.
  // Nothing waits for I/O.
  void last_turns(std::function<void()> fn) {
    EventLoop* caller = EventLoop::current();
    set_current(this);
    io_.restart();
    if (fn) fn();
    bool ran = true;
    run_until_quiet([&] { return ran; }, [&] { ran = io_.poll() > 0; });
    set_current(caller);
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  asio::steady_timer sweep_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};  // stop_and_join began
  std::mutex stop_mutex_;              // guards stopped_ and the last turns
  bool stopped_ = false;               // stop_and_join finished: post() runs its function here
  bool sweeping_ = false;                           // a caller-driven loop armed its sweep
  std::list<Sleeper> sleepers_;                     // loop thread only
  bool waking_ = false;                             // wake_sleepers ran: sleeps end at once
  std::unordered_set<AsioConnection*> connections_;  // loop thread only
  HeapTimer* timers_ = nullptr;  // LoopTimers whose handler has not run (a list); loop thread only
};

}  // namespace khz::transport
