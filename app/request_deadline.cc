// SPDX-License-Identifier: Apache-2.0
// RequestContext::next_with_deadline: a cancel signal linked to the request's, fired by a
// per-loop deadline queue.
//
// The queue is a list of armed deadlines sorted by time (a new one usually goes last: routes
// share their timeouts), and one sleeper coroutine per loop that sleeps until the first of them,
// fires what is due and sleeps again while any is left. A loop's sleep cannot be cancelled, so
// a deadline removed early (the usual case: the handler was in time) leaves the sleeper asleep
// until that time, then it finds nothing due. When a deadline earlier than the sleeper's wake-up
// time is armed, a new sleeper starts and the old one, on waking, sees it was superseded and
// ends. A sleeper woken well before its time is told the loop is shutting down: it ends, and
// the deadlines left are not fired (their requests are being torn down).
#include <khz/app/request_context.h>

#include <khz/common/event_loop.h>
#include <khz/common/log.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <stdexcept>

namespace khz {
namespace {

using Clock = EventLoop::Clock;

// A CancelSignal that fires with `parent` too; it watches the parent only while watched itself.
class LinkedCancelSignal final : public CancelSignal {
 public:
  explicit LinkedCancelSignal(CancelSignal* parent) noexcept : parent_(parent) {}
  ~LinkedCancelSignal() override { reset(); }

 protected:
  void on_watched() noexcept override { parent_watch_.attach(parent_, &fire, this); }
  void on_unwatched() noexcept override { parent_watch_.detach(); }

 private:
  static void fire(void* self) { static_cast<LinkedCancelSignal*>(self)->trigger(); }
  CancelSignal* parent_;
  Watch parent_watch_;
};

// One armed deadline; lives in next_with_deadline's frame, linked into its loop's queue.
struct Deadline {
  Clock::time_point due;
  LinkedCancelSignal* signal;
  bool fired = false;
  bool watched_when_fired = false;
  Deadline* prev = nullptr;
  Deadline* next = nullptr;
};

class DeadlineQueue {
 public:
  void arm(Deadline& d) {
    // Sorted by `due`; from the back, where a deadline of the same timeout goes.
    Deadline* after = tail_;
    while (after != nullptr && after->due > d.due) after = after->prev;
    d.prev = after;
    d.next = after != nullptr ? after->next : head_;
    if (d.next != nullptr) d.next->prev = &d; else tail_ = &d;
    if (after != nullptr) after->next = &d; else head_ = &d;
    if (!sleeping_ || d.due < wake_at_) start_sleeper(d.due);
  }

  void disarm(Deadline& d) noexcept {
    if (d.prev == nullptr && head_ != &d) return;  // fired already (unlinked)
    unlink(d);
  }

 private:
  void unlink(Deadline& d) noexcept {
    if (d.prev != nullptr) d.prev->next = d.next; else head_ = d.next;
    if (d.next != nullptr) d.next->prev = d.prev; else tail_ = d.prev;
    d.prev = d.next = nullptr;
  }

  void start_sleeper(Clock::time_point wake_at) {
    sleeping_ = true;
    wake_at_ = wake_at;
    spawn(sleep_and_fire(this, ++generation_, wake_at));
  }

  // Fires every deadline due at `now`.
  void fire_due(Clock::time_point now) noexcept {
    while (head_ != nullptr && head_->due <= now) {
      Deadline& d = *head_;
      unlink(d);
      d.fired = true;
      d.watched_when_fired = d.signal->watched();
      // Callbacks may arm or disarm other deadlines. The signal lives in the frame of the
      // next_with_deadline that armed it: a callback must not resume that handler inline (the
      // client's and the SSE writer's finish their waits on a later turn, as Watch callbacks
      // should), or the signal could go while trigger() runs.
      d.signal->trigger();
    }
  }

  static Task<void> sleep_and_fire(DeadlineQueue* q, std::uint64_t generation, Clock::time_point wake_at) {
    for (;;) {
      co_await sleep_for(wake_at - Clock::now());
      const auto now = Clock::now();
      q->fire_due(now);
      if (q->generation_ != generation) co_return;  // superseded by an earlier sleeper
      // Woken well before its time: the loop is shutting down (sleep_for returns early then).
      if (now + std::chrono::milliseconds(5) < wake_at || q->head_ == nullptr) {
        q->sleeping_ = false;
        co_return;
      }
      wake_at = q->head_->due;
      q->wake_at_ = wake_at;
    }
  }

  Deadline* head_ = nullptr;
  Deadline* tail_ = nullptr;
  bool sleeping_ = false;
  Clock::time_point wake_at_{};
  std::uint64_t generation_ = 0;
};

// One queue per loop thread (a connection, so its handler, stays on its loop).
DeadlineQueue& loop_queue() {
  thread_local DeadlineQueue queue;
  return queue;
}

}  // namespace

Task<DeadlineOutcome> RequestContext::next_with_deadline(std::chrono::steady_clock::duration timeout) {
  check_live("next_with_deadline");
  if (EventLoop::current() == nullptr) throw std::logic_error("next_with_deadline: not on an event loop");
  CancelSignal* outer = cancel_signal();
  LinkedCancelSignal signal(outer);
  Deadline deadline{.due = Clock::now() + timeout, .signal = &signal};
  DeadlineQueue& queue = loop_queue();
  queue.arm(deadline);
  struct Restore {
    RequestContext& ctx;
    CancelSignal* previous;
    DeadlineQueue& queue;
    Deadline& deadline;
    ~Restore() {
      queue.disarm(deadline);
      ctx.cancel_scope_ = previous;
    }
  } restore{*this, cancel_scope_, queue, deadline};
  cancel_scope_ = &signal;
  DeadlineOutcome outcome;
  try {
    Task<void> inner = next();  // plain layers run (and may throw) here
    inner.set_cancel_signal(&signal);
    co_await inner;
  } catch (...) {
    outcome.exception = std::current_exception();
  }
  outcome.expired = deadline.fired;
  outcome.interrupted_wait = deadline.watched_when_fired;
  co_return outcome;
}

}  // namespace khz
