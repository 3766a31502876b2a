// SPDX-License-Identifier: Apache-2.0
// khz::WorkerPool: a bounded set of threads for blocking calls (database drivers, SDKs, large
// file reads, seconds of CPU), awaited by a coroutine without blocking its event loop.
//
//   khz::WorkerPool pool({.threads = 4, .max_queue = 1024});
//   khz::Task<> handler(khz::RequestContext& ctx) {
//     std::string id(ctx.param("id"));
//     auto fetch = [&] { return db.fetch(id); };        // runs on a worker thread
//     std::string row = co_await pool.offload(fetch);   // the loop serves others meanwhile
//     ctx.string(200, row);                             // back on the handler's own loop
//   }
//
// In a server handler call RequestContext::offload, which uses the Server's pool (sized by
// ServerOptions::offload); a pool of your own is for code outside handlers.
//
// Threading, in one page
// ----------------------
//   loop thread (the awaiting coroutine)     pool (mutex + queue)      worker thread
//   co_await pool.offload(fn)
//     fn moved into a job ──── submit ────▶ [ job ] ── pop ─────────▶ fn() runs; its value or
//     coroutine suspends                                               exception goes in the job
//     ...the loop serves other work...                                        │
//   ◀─────────────────── EventLoop::post(resume), to the loop it came from ───┘
//   co_await returns fn's value (or rethrows fn's exception), on that same loop thread
//
// - Threads: none until the first job, so a program that never offloads starts none; then one
//   more whenever a job arrives and no thread is free, up to `threads`. They wait for work
//   until stop() (or the destructor), which joins them.
// - Bounds: at most `threads + max_queue` jobs are queued or running. One more fails at once,
//   without suspending: co_await throws OffloadError(offload::errc::queue_full). Fail fast is the
//   point: a saturated backend should answer 503 now, not queue requests without limit.
// - Cancellation: while it waits, the job watches the awaiting Task's ambient CancelSignal
//   (<khz/common/cancel.h>; in a handler it fires when the client goes away).
//     queued:  the job leaves the queue and never runs; the coroutine resumes on a later turn of
//              its loop with OffloadError(offload::errc::cancelled).
//     running: a thread cannot be interrupted, and fn may use what the coroutine lends it (its
//              locals, the request's views), so the coroutine keeps waiting until fn returns,
//              then resumes with OffloadError(offload::errc::cancelled): fn's result is dropped
//              and the coroutine does not carry on as if its client were still there.
// - stop(): new jobs fail with offload::errc::stopped; queued jobs are dropped without running
//   (their coroutines are resumed with `stopped` through their loops, if those still run);
//   running jobs are waited for. Idempotent; never from a worker thread.
// - Lifetimes: fn is moved into the job and destroyed on the worker thread once it has run (a
//   job that never runs is destroyed with the job, on the loop). fn may capture by reference whatever the awaiting coroutine owns: the coroutine stays
//   suspended until fn has returned (cancelled or not). Its loop must still exist when the job
//   ends (a Server stops its pool before its loops go away). The pool must outlive every
//   co_await on it.
// - offload() and the co_await run on an event loop thread (EventLoop::current() is set) that
//   waits for posts from other threads: a server loop, a transport::ClientLoop, the loop of
//   khz::testing::perform_request; not run_blocking's, which stops (and asserts) once nothing
//   of its own is left to run. fn runs on a worker thread, so it must not touch loop-only
//   objects (a RequestContext's setters, connections, timers). Post back with
//   EventLoop::post if it must.
//
// GCC 12 destroys a temporary made inside a co_await expression twice (PR 99576): pass a
// named callable (`auto job = [id] { ... }; co_await pool.offload(std::move(job));`) unless it
// captures only references and trivially destructible values, as `[&]` lambdas do.
#pragma once

#include <khz/common/cancel.h>
#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/common/task.h>

#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace khz {

namespace offload {
enum class errc {
  queue_full = 1,  // threads + max_queue jobs were already queued or running
  cancelled,       // the awaiting Task's cancel signal fired (the client went away)
  stopped,         // the pool is stopping (server shutdown)
};
const std::error_category& offload_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), offload_category()}; }
}  // namespace offload

}  // namespace khz

template <>
struct std::is_error_code_enum<khz::offload::errc> : std::true_type {};

namespace khz {

// What co_await pool.offload(fn) throws when fn did not run to give a result: code() is an
// offload::errc. (An exception fn throws is rethrown as it is.) In a server handler, one that
// escapes becomes a 503 (see RequestContext::offload).
class OffloadError : public std::system_error {
 public:
  explicit OffloadError(offload::errc e) : std::system_error(make_error_code(e)) {}
};

struct WorkerPoolOptions {
  std::size_t threads = 4;       // at most this many worker threads, started as jobs need them
  std::size_t max_queue = 1024;  // jobs that may wait while every thread is busy
};

class WorkerPool;

namespace detail {

// A job as the pool sees it; OffloadAwaiter's state implements it.
class OffloadJob : public std::enable_shared_from_this<OffloadJob> {
 public:
  virtual ~OffloadJob() = default;

 private:
  friend class khz::WorkerPool;
  virtual void execute() noexcept = 0;  // a worker thread: run fn, then hand the job back to its loop
  virtual void drop() noexcept = 0;     // stop(): queued, will never run; hand it back
};

}  // namespace detail

template <class F>
class OffloadState;
template <class F>
class OffloadAwaiter;

class WorkerPool {
 public:
  // Throws std::invalid_argument when options.threads is 0.
  explicit WorkerPool(WorkerPoolOptions options = {});
  ~WorkerPool();  // stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // co_await pool.offload(fn): runs fn() on a worker thread and returns its value (void
  // works) on the awaiting coroutine's loop; see the top of this header.
  template <class F>
    requires std::invocable<std::decay_t<F>&>
  OffloadAwaiter<std::decay_t<F>> offload(F&& fn) {
    return OffloadAwaiter<std::decay_t<F>>(*this, std::decay_t<F>(std::forward<F>(fn)));
  }

  // Refuses new jobs, drops the queued ones, waits for the running ones and joins the threads.
  void stop();

  const WorkerPoolOptions& options() const noexcept { return options_; }
  // Threads started so far (thread-safe; for tests and metrics).
  std::size_t threads_started() const;
  // Jobs queued or running now (thread-safe).
  std::size_t pending() const;

 private:
  template <class F>
  friend class OffloadAwaiter;
  template <class F>
  friend class OffloadState;

  // Queues `job`; an offload::errc when it cannot.
  std::error_code submit(std::shared_ptr<detail::OffloadJob> job);
  // Takes `job` out of the queue; false when it is not there (running, done or dropped).
  bool withdraw(const detail::OffloadJob& job) noexcept;
  void work();

  WorkerPoolOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<detail::OffloadJob>> queue_;
  std::vector<std::thread> threads_;
  std::size_t started_ = 0;  // threads ever started
  std::size_t idle_ = 0;     // threads waiting for a job
  std::size_t running_ = 0;  // jobs being run
  bool stopping_ = false;
};

// One offload: the job shared by the awaiting coroutine (on its loop) and the pool.
template <class F>
class OffloadState final : public detail::OffloadJob {
 public:
  using value_type = std::invoke_result_t<F&>;
  static_assert(!std::is_reference_v<value_type>, "WorkerPool::offload: fn must return a value, not a reference");

  explicit OffloadState(F fn) : fn_(std::move(fn)) {}

  // ---- the loop thread
  // Queues the job; false when the coroutine should not suspend (the error is kept for result()).
  bool start(WorkerPool& pool, std::coroutine_handle<> waiter, CancelSignal* signal) {
    loop_ = EventLoop::current();
    KHZ_ASSERT(loop_ != nullptr);  // offload is awaited on an event loop
    pool_ = &pool;
    if (signal != nullptr && signal->triggered()) {
      failure_ = offload::errc::cancelled;
      return false;
    }
    if (std::error_code ec = pool.submit(shared_from_this())) {
      failure_ = ec;
      return false;
    }
    waiter_ = waiter;
    watch_.attach(signal, &OffloadState::on_cancel, this);
    return true;
  }

  // The awaiter is going away: after the result was taken, or with its coroutine's frame
  // (destroyed while suspended: nothing must resume it any more).
  void abandon() noexcept {
    watch_.detach();
    if (waiter_) {
      waiter_ = {};
      pool_->withdraw(*this);
    }
  }

  value_type result() {
    if (failure_) throw OffloadError(static_cast<offload::errc>(failure_.value()));
    if (cancelled_) throw OffloadError(offload::errc::cancelled);
    if (dropped_) throw OffloadError(offload::errc::stopped);
    if (error_) std::rethrow_exception(error_);
    if constexpr (!std::is_void_v<value_type>) return std::move(*value_);
  }

 private:
  // ---- a worker thread
  void execute() noexcept override {
    try {
      if constexpr (std::is_void_v<value_type>) {
        (*fn_)();
      } else {
        value_.emplace((*fn_)());
      }
    } catch (...) {
      error_ = std::current_exception();
    }
    fn_.reset();
    hand_back();
  }
  void drop() noexcept override {
    dropped_ = true;
    hand_back();
  }
  // Resumes the coroutine on its loop, on a later turn; the post orders this thread's writes
  // (value_, error_, dropped_) before the loop's reads.
  void hand_back() noexcept {
    auto self = std::static_pointer_cast<OffloadState>(shared_from_this());
    loop_->post([self = std::move(self)] { self->complete(); });
  }

  // ---- the loop thread
  void complete() {
    watch_.detach();
    if (auto h = std::exchange(waiter_, {})) h.resume();
  }
  // Inside CancelSignal::trigger: a queued job is withdrawn and its coroutine resumed on a
  // later turn; a running one finishes first (see the header).
  static void on_cancel(void* arg) {
    auto* self = static_cast<OffloadState*>(arg);
    self->cancelled_ = true;
    if (self->pool_->withdraw(*self)) self->hand_back();
  }

  std::optional<F> fn_;
  EventLoop* loop_ = nullptr;
  WorkerPool* pool_ = nullptr;
  // The loop thread only.
  std::coroutine_handle<> waiter_;  // null when nothing waits (not started, resumed, abandoned)
  CancelSignal::Watch watch_;
  std::error_code failure_;  // refused at start
  bool cancelled_ = false;
  // Written on a worker (or the stopping thread) before hand_back, read on the loop after it.
  bool dropped_ = false;
  std::exception_ptr error_;
  std::conditional_t<std::is_void_v<value_type>, bool, std::optional<value_type>> value_{};
};

// The awaitable WorkerPool::offload returns. Await it once, on an event loop thread.
template <class F>
class [[nodiscard]] OffloadAwaiter {
 public:
  using value_type = typename OffloadState<F>::value_type;

  OffloadAwaiter(WorkerPool& pool, F fn) : pool_(&pool), state_(std::make_shared<OffloadState<F>>(std::move(fn))) {}
  OffloadAwaiter(OffloadAwaiter&& other) noexcept = default;
  OffloadAwaiter& operator=(OffloadAwaiter&&) = delete;
  ~OffloadAwaiter() {
    if (state_) state_->abandon();
  }

  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> awaiting) {
    CancelSignal* signal = nullptr;
    if constexpr (std::is_base_of_v<detail::TaskPromiseBase, Promise>) signal = awaiting.promise().cancel_signal;
    return state_->start(*pool_, awaiting, signal);
  }
  value_type await_resume() { return state_->result(); }

 private:
  WorkerPool* pool_;
  std::shared_ptr<OffloadState<F>> state_;
};

}  // namespace khz
