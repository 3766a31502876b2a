// SPDX-License-Identifier: Apache-2.0
// khz::EventLoop: what a coroutine may ask of the loop it runs on (post work, timers).
// Transports implement it (one per loop thread); `run_blocking` brings a private one up for
// plain programs and tests.
//
//   khz::Task<> handler(khz::RequestContext& ctx) {
//     co_await khz::sleep_for(std::chrono::milliseconds(50));   // the loop serves others meanwhile
//     ctx.string(200, "late");
//   }
//   int v = khz::run_blocking(compute());                        // from plain code
//
// Threading: an EventLoop runs on one thread; `post` may be called from any thread.
#pragma once

#include <khz/common/task.h>

#include <chrono>
#include <coroutine>
#include <functional>
#include <optional>

namespace khz {

class EventLoop {
 public:
  using Clock = std::chrono::steady_clock;

  virtual ~EventLoop() = default;

  // Runs `fn` on this loop's thread, later (never inline). Safe from any thread. Once the loop
  // has stopped for good (its transport shut down), it runs `fn` at once on the calling thread
  // as a last turn of the loop, with what `fn` wakes: cleanup handed to a loop is never lost.
  virtual void post(std::function<void()> fn) = 0;

  // Runs `fn` as part of this loop and returns once it has run: at once when called on the
  // loop's thread; on the loop's thread, the caller waiting, while a thread runs the loop; else
  // (a loop standing still: caller-driven between two runs, or stopped) at once on the calling
  // thread as a turn of the loop, with what `fn` wakes. For tearing down, from outside, what
  // lives on a loop (a Client's pooled connections). The loop must outlive the call, and must
  // not be waiting for the calling thread.
  virtual void run_and_wait(std::function<void()> fn);

  // Resumes `h` on this loop after `delay`, or earlier when the loop is shutting down.
  // Call on the loop's own thread.
  virtual void resume_after(Clock::duration delay, std::coroutine_handle<> h) = 0;

  // The loop running on the calling thread, or nullptr.
  static EventLoop* current() noexcept;

 protected:
  // Loops set themselves as current while they run on their thread.
  static void set_current(EventLoop* loop) noexcept;
};

// co_await sleep_for(d): suspends the calling coroutine on its current loop for `d`.
// Requires a current loop (a server loop, or run_blocking). Returns early if the loop shuts down.
struct SleepAwaiter {
  EventLoop::Clock::duration delay;
  bool await_ready() const noexcept { return delay <= EventLoop::Clock::duration::zero(); }
  void await_suspend(std::coroutine_handle<> h) const;
  void await_resume() const noexcept {}
};
inline SleepAwaiter sleep_for(EventLoop::Clock::duration delay) { return SleepAwaiter{delay}; }

namespace detail {
// Runs `task` on a private single-threaded loop until it completes (serving its timers and posts).
void run_blocking_void(Task<void> task);
}  // namespace detail

// Runs `task` to completion on the calling thread and returns its value (or rethrows).
// The calling thread must not already run a loop.
template <class T>
T run_blocking(Task<T> task) {
  if constexpr (std::is_void_v<T>) {
    detail::run_blocking_void(std::move(task));
  } else {
    std::optional<T> out;
    auto wrap = [](Task<T> t, std::optional<T>& o) -> Task<void> { o.emplace(co_await std::move(t)); };
    detail::run_blocking_void(wrap(std::move(task), out));
    return std::move(*out);
  }
}

}  // namespace khz
