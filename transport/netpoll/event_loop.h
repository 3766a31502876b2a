// SPDX-License-Identifier: Apache-2.0
// Private to the netpoll backend: NetpollLoop (one epoll set on its own thread), the IoHandler
// it dispatches readiness to, and the deadline timers it drives.
//
//   NetpollLoop loop;                                   // epoll fd + eventfd, no thread yet
//   loop.add(fd, EPOLLIN, &handler);                    // handler.on_io(events) on the loop
//   loop.start();                                       // runs on its own thread
//   loop.post([&] { loop.arm(timer, 5s); });            // from any thread
//   loop.stop_and_join();
//
// One turn of the loop: epoll_wait (timeout = the earliest timer, 0 when work is queued),
// dispatch readiness, fire due timers, resume queued coroutines, run posted functions, then
// destroy retired handlers. A handler retired during a turn is destroyed at the end of it, so
// a readiness event later in the same batch never reaches freed memory.
#pragma once

#include <khz/common/event_loop.h>
#include <khz/common/loop_clock.h>

#include "backend_support.h"

#include <sys/epoll.h>
#include <sys/uio.h>

#include <atomic>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace khz::transport {

// Something in a loop's epoll set. Loop thread only.
class IoHandler {
 public:
  virtual ~IoHandler() = default;
  // `events`: the EPOLL* bits that are ready (EPOLLERR/EPOLLHUP may come unasked).
  virtual void on_io(std::uint32_t events) = 0;
};

// A one-shot deadline. Embedded in its owner, which must cancel it before destroying it.
// Loop thread only.
class DeadlineTimer {
 public:
  using Clock = std::chrono::steady_clock;
  using Callback = void (*)(void* context);

  DeadlineTimer(Callback fn, void* context) noexcept : fn_(fn), context_(context) {}
  DeadlineTimer(const DeadlineTimer&) = delete;
  DeadlineTimer& operator=(const DeadlineTimer&) = delete;
  bool armed() const noexcept { return index_ != kUnarmed && wanted_ != Clock::time_point::max(); }

 private:
  friend class TimerHeap;
  static constexpr std::size_t kUnarmed = static_cast<std::size_t>(-1);
  Callback fn_;
  void* context_;
  Clock::time_point due_{};     // the heap's key: never after wanted_
  Clock::time_point wanted_{};  // when it should fire; max(): disarmed, still in the heap
  std::uint64_t sequence_ = 0;    // ties fire in arming order
  std::size_t index_ = kUnarmed;  // position in the heap while armed
};

// A binary min-heap of armed timers; each timer knows its slot, so cancel is O(log n).
// Deadlines re-armed over and over (a connection's read deadline, once per request) cost O(1):
// disarm() leaves the timer in the heap, and arm() for a due at or after its place in the heap
// only records the new due. When such an entry comes up, it moves to its real due (or leaves,
// if disarmed) instead of firing. The heap's next due may so be early: the loop wakes, finds
// nothing due, and sleeps again (at most once per entry and timeout).
class TimerHeap {
 public:
  using Clock = DeadlineTimer::Clock;

  void arm(DeadlineTimer& t, Clock::time_point due);  // re-arms an armed timer
  void disarm(DeadlineTimer& t) noexcept;             // lazily; the owner may arm it again
  void cancel(DeadlineTimer& t) noexcept;             // out of the heap: before destroying it
  bool empty() const noexcept { return heap_.empty(); }
  Clock::time_point next_due() const noexcept { return heap_.front()->due_; }  // requires !empty()
  // Unarms and fires, in order, every timer due at `now`; a callback may arm or cancel timers.
  void fire_due(Clock::time_point now);

 private:
  static bool before(const DeadlineTimer* a, const DeadlineTimer* b) noexcept {
    return a->due_ != b->due_ ? a->due_ < b->due_ : a->sequence_ < b->sequence_;
  }
  void place(std::size_t i, DeadlineTimer* t) noexcept { heap_[i] = t; t->index_ = i; }
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;
  void remove_at(std::size_t i) noexcept;

  std::vector<DeadlineTimer*> heap_;
  std::uint64_t sequence_ = 0;
};

// One event loop. post() is safe from any thread; everything else is for the loop's own
// thread (or before start()).
class NetpollLoop final : public EventLoop, public Dialer {
 public:
  NetpollLoop();  // throws std::system_error when epoll or eventfd cannot be created
  ~NetpollLoop() override;
  NetpollLoop(const NetpollLoop&) = delete;
  NetpollLoop& operator=(const NetpollLoop&) = delete;

  void post(std::function<void()> fn) override;
  // A standing-still loop (no thread runs it) runs `fn` here; see EventLoop.
  void run_and_wait(std::function<void()> fn) override;
  // Whether a thread other than the caller may be running the loop now: what lives on it is
  // then touched only from the loop's thread (asserted where connections close).
  bool foreign_thread_runs() const noexcept {
    return EventLoop::current() != this && running_.load(std::memory_order_acquire);
  }
  void resume_after(Clock::duration delay, std::coroutine_handle<> h) override;
  Task<Result<std::unique_ptr<Connection>>> connect_to(sockaddr_storage addr, socklen_t len,
                                                       std::chrono::milliseconds timeout) override;
  void* start_timer(std::chrono::milliseconds delay, LoopTimer* owner) override;
  void cancel_timer(void* handle) noexcept override;

  void start();          // starts the loop thread
  // Runs the loop on the calling thread (taking it over from its own thread, if it has one)
  // until `fd` is readable or the loop stops; then returns, the loop's state intact and the
  // loop not running until ensure_running(). Not from a loop thread.
  void run_here_until_readable(int fd);
  // Starts the loop thread unless the loop runs (on its thread or a caller's) or has stopped.
  void ensure_running();
  // Ends the loop after its current turn and waits until it has (on its thread or a caller's),
  // then runs what is still queued (posted functions, coroutines they wake) on the calling
  // thread; from then on, post() runs its function at once on the caller's thread, followed by
  // what it queues (see last_turns). Not from the loop thread.
  void stop_and_join();

  // ---- loop thread
  // Resumes `h` on a later turn (never inline): for completing an operation from where it started.
  void resume_soon(Waiter w) { ready_.push_back(w); }
  // Whether an operation that finished as it started may let its coroutine go on inline
  // (Connection::start_flush returning false): yes up to kInlineBudget times a turn, so one
  // coroutine that writes without ever waiting cannot keep the loop from its other connections.
  bool take_inline_completion() noexcept { return ++inline_completions_ <= kInlineBudget; }
  // epoll_ctl wrappers; data.ptr is `handler`.
  std::error_code add(int fd, std::uint32_t events, IoHandler* handler) noexcept;
  std::error_code modify(int fd, std::uint32_t events, IoHandler* handler) noexcept;
  void remove(int fd) noexcept;
  void arm(DeadlineTimer& t, Clock::duration delay) { timers_.arm(t, LoopClock::now() + delay); }
  void cancel(DeadlineTimer& t) noexcept { timers_.cancel(t); }
  void disarm(DeadlineTimer& t) noexcept { timers_.disarm(t); }
  // Resumes every sleeper now; from then on resume_after resumes on the next turn (forced shutdown).
  void wake_sleepers();
  // A handler being destroyed mid-turn: readiness for it still queued in the current batch is
  // dropped (so a connection may be destroyed anywhere on its loop's thread). No-op elsewhere.
  void forget(IoHandler* handler) noexcept;
  // Destroys `handler` at the end of the current turn.
  void retire(std::unique_ptr<IoHandler> handler) { retired_.push_back(std::move(handler)); }
  // Scratch iovec array shared by the loop's connections for one sendmsg at a time.
  std::vector<iovec>& iov_scratch() noexcept { return iov_scratch_; }

 private:
  struct Sleeper {
    Sleeper(NetpollLoop* l, std::coroutine_handle<> h) : loop(l), handle(h), timer(&on_sleeper_due, this) {}
    NetpollLoop* loop;
    std::coroutine_handle<> handle;
    DeadlineTimer timer;
    std::list<Sleeper>::iterator self;
  };
  static void on_sleeper_due(void* sleeper);

  void run();
  // Turns of a loop no thread runs (stopped for good, or standing still: run_and_wait), on
  // the calling thread (run_mutex_ held): `fn`, then queued coroutines and posted functions
  // until none are left. No I/O is waited for: what waits for
  // the network now waits for good, as it would have on the stopped loop.
  void last_turns(std::function<void()> fn);
  int next_timeout_ms() const;
  void run_ready();
  void run_posted();

  void wake() noexcept;

  // A turn's inline completions: enough for one per event of a full batch, and then some.
  static constexpr int kInlineBudget = 1024;

  int epoll_fd_ = -1;
  int event_fd_ = -1;  // wakes epoll_wait for cross-thread posts
  std::mutex run_mutex_;  // guards thread_, on_caller_ and the stop/pause hand-over
  std::condition_variable run_done_;
  std::thread thread_;
  bool on_caller_ = false;  // run() is running on a run_here_until_readable caller
  bool stopped_ = false;    // stop_and_join finished: post() runs its function on the caller
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};  // run() is running (on some thread)
  std::atomic<bool> pause_{false};  // run() returns after this turn; the loop may run again

  std::mutex mutex_;  // guards posted_
  std::deque<std::function<void()>> posted_;
  std::atomic<bool> has_posted_{false};

  // Loop thread only.
  TimerHeap timers_;
  std::list<Sleeper> sleepers_;
  bool waking_ = false;
  std::vector<Waiter> ready_;
  std::vector<std::unique_ptr<IoHandler>> retired_;
  std::vector<iovec> iov_scratch_;
  epoll_event* batch_ = nullptr;  // the batch being dispatched, and the next index in it
  int batch_next_ = 0;
  int batch_size_ = 0;
  int inline_completions_ = 0;  // this turn's, for take_inline_completion
};

}  // namespace khz::transport
