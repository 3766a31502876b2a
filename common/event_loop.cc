// SPDX-License-Identifier: Apache-2.0
#include <khz/common/event_loop.h>
#include <khz/common/log.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace khz {
namespace {

thread_local EventLoop* current_loop = nullptr;

// A single-threaded loop for run_blocking: posted functions and a timer heap, no I/O.
class LocalLoop : public EventLoop {
 public:
  void post(std::function<void()> fn) override {
    std::lock_guard lock(mutex_);
    posted_.push_back(std::move(fn));
  }

  void resume_after(Clock::duration delay, std::coroutine_handle<> h) override {
    timers_.push(Timer{Clock::now() + delay, sequence_++, h});
  }

  // Runs until `done()` holds; returns false if there is nothing left that could make it hold.
  template <class Done>
  bool run_until(Done done) {
    while (!done()) {
      std::deque<std::function<void()>> batch;
      {
        std::lock_guard lock(mutex_);
        batch.swap(posted_);
      }
      for (auto& fn : batch) fn();
      if (!batch.empty()) continue;
      if (timers_.empty()) return done();
      Timer t = timers_.top();
      auto now = Clock::now();
      if (t.due > now) std::this_thread::sleep_for(t.due - now);
      timers_.pop();
      t.handle.resume();
    }
    return true;
  }

 private:
  struct Timer {
    Clock::time_point due;
    std::uint64_t sequence;
    std::coroutine_handle<> handle;
    bool operator>(const Timer& o) const { return due != o.due ? due > o.due : sequence > o.sequence; }
  };
  std::mutex mutex_;
  std::deque<std::function<void()>> posted_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::uint64_t sequence_ = 0;
};

}  // namespace

EventLoop* EventLoop::current() noexcept { return current_loop; }

// Loops that can stand still override this; one that always runs takes the function by post.
void EventLoop::run_and_wait(std::function<void()> fn) {
  if (current() == this) return fn();
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  post([&] {
    fn();
    std::lock_guard lock(m);
    done = true;
    cv.notify_one();
  });
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return done; });
}
void EventLoop::set_current(EventLoop* loop) noexcept { current_loop = loop; }

void SleepAwaiter::await_suspend(std::coroutine_handle<> h) const {
  EventLoop* loop = EventLoop::current();
  KHZ_ASSERT(loop != nullptr);
  loop->resume_after(delay, h);
}

namespace detail {

struct LocalLoopScope : LocalLoop {
  EventLoop* previous = EventLoop::current();
  LocalLoopScope() { set_current(this); }
  ~LocalLoopScope() { set_current(previous); }
};

void run_blocking_void(Task<void> task) {
  KHZ_ASSERT(EventLoop::current() == nullptr);
  LocalLoopScope loop;
  auto handle = task.handle();
  handle.resume();  // runs until its first real suspension
  bool finished = loop.run_until([&] { return handle.done(); });
  KHZ_ASSERT(finished);  // a task waiting on nothing this loop can deliver would hang forever
  task.await_resume();   // rethrows the task's exception, if any
}

}  // namespace detail
}  // namespace khz
