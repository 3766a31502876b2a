// SPDX-License-Identifier: Apache-2.0
// Private to the uring backend: UringLoop (one io_uring on its own thread), the Completion
// interface its completions are dispatched to, and the provided-buffer ring its sockets
// receive into.
//
//   UringLoop loop({});                          // ring, buffer ring, eventfd; no thread yet
//   io_uring_sqe* sqe = loop.sqe();               // prepare an operation...
//   loop.set_target(sqe, &handler, kTag);        // ...whose completion reaches handler.on_complete
//   loop.start();                                // runs on its own thread
//   loop.post([&] { ... });                       // from any thread
//   loop.stop_and_join();
//
// One turn: submit what the last turn prepared and wait for a completion in the same
// io_uring_enter (its timeout is the earliest timer, none when work is queued: no timer
// syscall), dispatch every completion, fire due timers, resume queued coroutines, run posted
// functions, re-arm receives the buffer ring starved, then destroy retired connections.
// Completions carry a Completion* with a 3-bit tag in user_data; user_data 0 is ignored (the
// loop's own cancellations).
#pragma once

#include <khz/common/event_loop.h>

#include "backend_support.h"
#include "netpoll/event_loop.h"  // DeadlineTimer, TimerHeap: the same timers as netpoll

#include <liburing.h>

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
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace khz::transport {

// What a ring's size and buffers are; the defaults serve a server, tests make them small to
// exhaust the buffer ring and overflow the completion queue on purpose.
struct UringTuning {
  unsigned sq_entries = 256;
  unsigned cq_entries = 4096;  // completions the ring holds before the kernel keeps them aside
  // Provided receive buffers per loop (a power of two). Few on purpose: the kernel fills them
  // in ring order, so the whole ring cycles through the cache (a 16 KiB WebSocket echo: 0.8x
  // Beast's rate with 256 x 16 KiB, 1.03x with 8 x 16 KiB; HTTP echo 16 KiB likewise). Consumed
  // incrementally (below), many small receives share one buffer, so few buffers still serve
  // many connections; when they run out, receives wait for the batch to give them back.
  unsigned buffers = 8;
  unsigned buffer_size = 16384;
  // Buffers consumed incrementally (IOU_PBUF_RING_INC, Linux 6.12): a receive takes only the
  // bytes it got and the next one continues in the same buffer. Without kernel support each
  // receive takes a whole buffer.
  bool incremental = true;
  unsigned fixed_files = 16384;  // slots of the registered-descriptor table (0: none)
};

// Something with operations in flight on a loop's ring. Loop thread only.
class Completion {
 public:
  // `tag`: the 0..7 the operation was submitted with.
  virtual void on_complete(const io_uring_cqe& cqe, unsigned tag) = 0;
  // After UringLoop::starved(this): the batch is over and its buffers are back; arm again.
  // Returns whether a receive was armed (one that completes: with bytes, or ENOBUFS again).
  virtual bool on_buffers_back() { return false; }
  // After UringLoop::after_next_batch(this): the next batch of completions was dispatched.
  virtual void after_batch() {}
  // After UringLoop::at_batch_end(this): the batch being dispatched is over.
  virtual void on_batch_end() {}

 protected:
  ~Completion() = default;
};

// Why this kernel (or process) cannot run the uring backend; empty when it can. Probes once
// per process (a ring with every opcode and flag the backend uses, a provided-buffer ring, a
// multishot receive on a socket pair); KHZ_URING_FORCE_FAIL set and non-empty refuses, for
// testing the fallback.
std::string uring_refusal();

class UringLoop final : public EventLoop, public Dialer, private Completion {
 public:
  explicit UringLoop(const UringTuning& tuning);  // throws std::system_error
  ~UringLoop() override;
  UringLoop(const UringLoop&) = delete;
  UringLoop& operator=(const UringLoop&) = delete;

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

  // The same thread hand-over as NetpollLoop's (see there).
  void start();
  void run_here_until_readable(int fd);
  void ensure_running();
  void stop_and_join();

  // ---- loop thread
  // A submission entry (submitting queued ones first when the queue is full).
  io_uring_sqe* sqe();
  static void set_target(io_uring_sqe* s, Completion* c, unsigned tag) noexcept {
    io_uring_sqe_set_data64(s, reinterpret_cast<std::uintptr_t>(c) | tag);
  }
  // Cancels the operation submitted with (c, tag): at the next submit, or now (submitted at
  // once: a send whose buffers are about to be freed, a listener about to close).
  void cancel(Completion* c, unsigned tag, bool now);
  void submit_now() { (void)io_uring_submit(&ring_); }
  void resume_soon(Waiter w) { ready_.push_back(w); }
  void arm(DeadlineTimer& t, Clock::duration delay) { timers_.arm(t, LoopClock::now() + delay); }
  void cancel(DeadlineTimer& t) noexcept { timers_.cancel(t); }
  void disarm(DeadlineTimer& t) noexcept { timers_.disarm(t); }
  void wake_sleepers();
  // Destroys `c` at the end of the current turn.
  void retire(std::unique_ptr<Connection> c) { retired_.push_back(std::move(c)); }

  // The provided-buffer ring: receives name buffer group kBufferGroup; a completion's buffer
  // id gives its bytes, handed back with release() once copied out.
  static constexpr unsigned kBufferGroup = 0;
  // A receive completion's bytes (`cqe.res` of them, in the buffer its flags name).
  const char* received(const io_uring_cqe& cqe) const noexcept {
    const unsigned id = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
    return buffers_ + static_cast<std::size_t>(id) * tuning_.buffer_size + buffer_used_[id];
  }
  // After a completion that names a buffer (IORING_CQE_F_BUFFER), once its bytes are copied
  // out: the buffer goes back to the ring when the kernel is done with it (always, unless it
  // is consumed incrementally and says there is more room in it).
  void release(const io_uring_cqe& cqe) noexcept;
  bool incremental() const noexcept { return incremental_; }
  // A multishot receive ended for want of buffers: c->on_buffers_back() runs after a batch of
  // completions, when their buffers are back (after this batch, or a later one when more
  // receives wait than the ring has buffers). `c` stays alive until then, or forget(c).
  void starved(Completion* c) {
    ++starved_receives_;
    starved_.push_back(c);
  }
  // c->after_batch() after the next batch of completions is dispatched (what completed by
  // now has been seen). forget(c) withdraws it, and a pending starved() call.
  void after_next_batch(Completion* c);
  // c->on_batch_end() once the batch being dispatched is over (once, however often asked).
  void at_batch_end(Completion* c) { batch_end_.push_back(c); }
  void forget_batch_end(Completion* c) noexcept {
    for (auto& p : batch_end_) {
      if (p == c) p = nullptr;
    }
  }
  void forget(Completion* c) noexcept;
  // Sockets whose connection is gone while operations are still in flight: the loop frees
  // what is left of them when it is destroyed (the ring's exit cancels their operations).
  void add_orphan(void* p, void (*destroy)(void*)) { orphans_.emplace(p, destroy); }
  void remove_orphan(void* p) noexcept { orphans_.erase(p); }

  // Registered (fixed) descriptors: `fd` in a free slot of the ring's file table, so the
  // kernel skips looking the descriptor up (and its reference count) on every operation;
  // -1 when the table is full or the kernel gave none (the descriptor is used as it is).
  int register_fd(int fd) noexcept;
  void unregister_fd(int slot) noexcept;

  const UringTuning& tuning() const noexcept { return tuning_; }
  // Counters for tests: batches that found completions kept aside by the kernel (the
  // completion queue overflowed), receives the buffer ring starved.
  std::uint64_t cq_overflows() const noexcept { return cq_overflows_; }
  std::uint64_t starved_receives() const noexcept { return starved_receives_; }
  std::uint64_t shared_buffer_receives() const noexcept { return shared_buffer_receives_; }
  std::uint64_t room_waits() const noexcept { return room_waits_; }
  void count_room_wait() noexcept { ++room_waits_; }
  std::uint64_t send_retries() const noexcept { return send_retries_; }
  void count_send_retry() noexcept { ++send_retries_; }
  // Sockets that got a registered slot, and those that did not (the table was full).
  std::uint64_t registered_sockets() const noexcept { return registered_sockets_; }
  std::uint64_t unregistered_sockets() const noexcept { return unregistered_sockets_; }

 private:
  struct Sleeper {
    Sleeper(UringLoop* l, std::coroutine_handle<> h) : loop(l), handle(h), timer(&on_sleeper_due, this) {}
    UringLoop* loop;
    std::coroutine_handle<> handle;
    DeadlineTimer timer;
    std::list<Sleeper>::iterator self;
  };
  static void on_sleeper_due(void* sleeper);

  enum : unsigned { kWakeTag = 1, kPauseTag = 2 };
  void on_complete(const io_uring_cqe& cqe, unsigned tag) override;
  void arm_wake();
  void run();
  void last_turns(std::function<void()> fn);  // as NetpollLoop's (run_mutex_ held)
  void wait_for_completions();
  void dispatch_completions();
  void run_ready();
  void run_posted();
  void wake() noexcept;

  UringTuning tuning_;
  io_uring ring_{};
  int event_fd_ = -1;
  std::uint64_t wake_count_ = 0;  // the eventfd read's target
  io_uring_buf_ring* buf_ring_ = nullptr;
  std::vector<std::uint32_t> buffer_used_;  // bytes of each buffer handed out since it went back
  bool incremental_ = false;
  char* buffers_ = nullptr;
  std::size_t buf_ring_bytes_ = 0;

  std::mutex run_mutex_;
  std::condition_variable run_done_;
  std::thread thread_;
  bool on_caller_ = false;
  bool stopped_ = false;  // stop_and_join finished: post() runs its function on the caller
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};  // run() is running (on some thread)
  std::atomic<bool> pause_{false};
  bool pause_armed_ = false;

  std::mutex mutex_;
  std::deque<std::function<void()>> posted_;
  std::atomic<bool> has_posted_{false};

  TimerHeap timers_;
  std::list<Sleeper> sleepers_;
  bool waking_ = false;
  std::vector<Waiter> ready_;
  std::vector<Completion*> starved_;  // oldest first
  std::vector<Completion*> after_batch_;
  std::vector<Completion*> after_now_;
  std::vector<Completion*> batch_end_;
  std::unordered_map<void*, void (*)(void*)> orphans_;
  std::vector<std::unique_ptr<Connection>> retired_;
  std::vector<int> free_slots_;  // of the registered-descriptor table
  std::uint64_t cq_overflows_ = 0;
  std::uint64_t starved_receives_ = 0;
  std::uint64_t shared_buffer_receives_ = 0;
  std::uint64_t room_waits_ = 0;
  std::uint64_t send_retries_ = 0;
  std::uint64_t registered_sockets_ = 0;
  std::uint64_t unregistered_sockets_ = 0;
};

}  // namespace khz::transport
