// SPDX-License-Identifier: Apache-2.0
#include "netpoll/event_loop.h"

#include <khz/common/background_thread.h>
#include <khz/common/log.h>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <limits>

namespace khz::transport {

// ---- TimerHeap

void TimerHeap::arm(DeadlineTimer& t, Clock::time_point due) {
  if (t.index_ != DeadlineTimer::kUnarmed && t.due_ <= due) {
    t.wanted_ = due;  // its heap place comes first; it moves on when it gets there
    return;
  }
  cancel(t);
  t.due_ = due;
  t.wanted_ = due;
  t.sequence_ = sequence_++;
  heap_.push_back(&t);
  t.index_ = heap_.size() - 1;
  sift_up(t.index_);
}

void TimerHeap::disarm(DeadlineTimer& t) noexcept {
  if (t.index_ != DeadlineTimer::kUnarmed) t.wanted_ = Clock::time_point::max();
}

void TimerHeap::cancel(DeadlineTimer& t) noexcept {
  if (t.index_ != DeadlineTimer::kUnarmed) remove_at(t.index_);
}

void TimerHeap::fire_due(Clock::time_point now) {
  while (!heap_.empty() && heap_.front()->due_ <= now) {
    DeadlineTimer* t = heap_.front();
    if (t->wanted_ > now) {  // re-armed later, or disarmed, since it took its place
      if (t->wanted_ == Clock::time_point::max()) {
        remove_at(0);
      } else {
        t->due_ = t->wanted_;
        sift_down(0);
      }
      continue;
    }
    remove_at(0);
    t->fn_(t->context_);
  }
}

void TimerHeap::sift_up(std::size_t i) noexcept {
  DeadlineTimer* t = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (!before(t, heap_[parent])) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, t);
}

void TimerHeap::sift_down(std::size_t i) noexcept {
  DeadlineTimer* t = heap_[i];
  const std::size_t n = heap_.size();
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
    if (!before(heap_[child], t)) break;
    place(i, heap_[child]);
    i = child;
  }
  place(i, t);
}

void TimerHeap::remove_at(std::size_t i) noexcept {
  DeadlineTimer* gone = heap_[i];
  DeadlineTimer* last = heap_.back();
  heap_.pop_back();
  gone->index_ = DeadlineTimer::kUnarmed;
  if (gone == last) return;
  place(i, last);
  if (i > 0 && before(last, heap_[(i - 1) / 2])) {
    sift_up(i);
  } else {
    sift_down(i);
  }
}

// ---- NetpollLoop

NetpollLoop::NetpollLoop() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
  event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) {
    int e = errno;
    ::close(epoll_fd_);
    throw std::system_error(e, std::system_category(), "eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the wake-up fd
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &ev) != 0) {
    int e = errno;
    ::close(event_fd_);
    ::close(epoll_fd_);
    throw std::system_error(e, std::system_category(), "epoll_ctl(eventfd)");
  }
}

NetpollLoop::~NetpollLoop() {
  stop_and_join();
  retired_.clear();
  ::close(event_fd_);
  ::close(epoll_fd_);
}

void NetpollLoop::post(std::function<void()> fn) {
  // A loop stopped for good runs what it is handed here, as a last turn (a destructor that
  // hands its cleanup to the loop still frees everything). While it stops, the queue is
  // filled under run_mutex_, so stop_and_join's last turns see it.
  std::unique_lock<std::mutex> stopping;
  if (stop_.load(std::memory_order_acquire) && EventLoop::current() != this) {
    stopping = std::unique_lock(run_mutex_);
    if (stopped_) return last_turns(std::move(fn));
  }
  bool was_empty = false;
  {
    std::lock_guard lock(mutex_);
    was_empty = posted_.empty();
    posted_.push_back(std::move(fn));
    has_posted_.store(true, std::memory_order_relaxed);
  }
  // The loop looks at has_posted_ before it sleeps, so a post from its own thread needs no
  // wake-up; from elsewhere, the first post into an empty queue wakes it.
  if (was_empty && EventLoop::current() != this) {
    std::uint64_t one = 1;
    ssize_t r = ::write(event_fd_, &one, sizeof one);
    (void)r;  // EAGAIN: the counter is already non-zero, the loop will wake anyway
  }
}

void NetpollLoop::resume_after(Clock::duration delay, std::coroutine_handle<> h) {
  if (waking_) return resume_soon(h);
  sleepers_.emplace_front(this, h);
  auto it = sleepers_.begin();
  it->self = it;
  arm(it->timer, delay);
}

void NetpollLoop::on_sleeper_due(void* sleeper) {
  auto* s = static_cast<Sleeper*>(sleeper);
  auto h = s->handle;
  s->loop->sleepers_.erase(s->self);
  h.resume();
}

void NetpollLoop::wake_sleepers() {
  waking_ = true;
  while (!sleepers_.empty()) {
    Sleeper& s = sleepers_.front();
    timers_.cancel(s.timer);
    auto h = s.handle;
    sleepers_.pop_front();
    h.resume();
  }
}

std::error_code NetpollLoop::add(int fd, std::uint32_t events, IoHandler* handler) noexcept {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) return {errno, std::system_category()};
  return {};
}

std::error_code NetpollLoop::modify(int fd, std::uint32_t events, IoHandler* handler) noexcept {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) return {errno, std::system_category()};
  return {};
}

void NetpollLoop::remove(int fd) noexcept {
  epoll_event ev{};
  (void)::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, &ev);
}

namespace {
// Stands in for a handler destroyed while its readiness was still queued in the batch.
class ForgottenHandler final : public IoHandler {
 public:
  void on_io(std::uint32_t) override {}
};
ForgottenHandler forgotten_handler;
}  // namespace

void NetpollLoop::forget(IoHandler* handler) noexcept {
  if (EventLoop::current() != this) return;
  for (int i = batch_next_; i < batch_size_; ++i) {
    if (batch_[i].data.ptr == handler) batch_[i].data.ptr = &forgotten_handler;
  }
}

void NetpollLoop::wake() noexcept {
  std::uint64_t one = 1;
  ssize_t r = ::write(event_fd_, &one, sizeof one);
  (void)r;  // EAGAIN: the counter is already non-zero, the loop will wake anyway
}

void NetpollLoop::start() {
  std::lock_guard lock(run_mutex_);
  KHZ_ASSERT(!thread_.joinable() && !on_caller_);
  thread_ = background_thread([this] { run(); });
}

void NetpollLoop::ensure_running() {
  std::lock_guard lock(run_mutex_);
  if (!thread_.joinable() && !on_caller_ && !stop_.load(std::memory_order_acquire)) {
    thread_ = background_thread([this] { run(); });
  }
}

namespace {
// Watches the fd a caller waits on: the loop pauses (returns from run) when it is readable.
class PauseOnReadable final : public IoHandler {
 public:
  explicit PauseOnReadable(std::atomic<bool>& pause) : pause_(pause) {}
  void on_io(std::uint32_t) override { pause_.store(true, std::memory_order_release); }

 private:
  std::atomic<bool>& pause_;
};
}  // namespace

void NetpollLoop::run_here_until_readable(int fd) {
  KHZ_ASSERT(EventLoop::current() == nullptr);
  std::unique_lock lock(run_mutex_);
  if (thread_.joinable()) {  // take the loop over from its thread, between two turns
    pause_.store(true, std::memory_order_release);
    wake();
    thread_.join();
  }
  pause_.store(false, std::memory_order_release);
  if (stop_.load(std::memory_order_acquire)) return;
  on_caller_ = true;
  lock.unlock();

  PauseOnReadable watcher(pause_);
  if (auto ec = add(fd, EPOLLIN, &watcher)) {
    KHZ_LOG(error, "netpoll: cannot watch fd " << fd << ": " << ec.message());
  } else {
    run();
    remove(fd);
  }

  lock.lock();
  on_caller_ = false;
  pause_.store(false, std::memory_order_release);
  run_done_.notify_all();
}

void NetpollLoop::run_and_wait(std::function<void()> fn) {
  run_and_wait_handed_over(*this, run_mutex_, run_done_, on_caller_, thread_, std::move(fn),
                           [this](std::function<void()> f) { last_turns(std::move(f)); });
}

void NetpollLoop::stop_and_join() {
  std::unique_lock lock(run_mutex_);
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) {
    KHZ_ASSERT(EventLoop::current() != this);
    wake();
    std::thread t = std::move(thread_);
    lock.unlock();
    t.join();
    lock.lock();
  } else if (on_caller_) {
    KHZ_ASSERT(EventLoop::current() != this);
    wake();
    run_done_.wait(lock, [this] { return !on_caller_; });
  }
  if (!stopped_) {
    stopped_ = true;
    last_turns(nullptr);
  }
}

void NetpollLoop::last_turns(std::function<void()> fn) {
  EventLoop* caller = EventLoop::current();
  set_current(this);
  if (fn) fn();
  run_until_quiet(
      [this] { return !ready_.empty() || has_posted_.load(std::memory_order_relaxed); },
      [this] {
        run_ready();
        run_posted();
      });
  retired_.clear();
  set_current(caller);
}

int NetpollLoop::next_timeout_ms() const {
  if (!ready_.empty() || has_posted_.load(std::memory_order_relaxed)) return 0;
  if (timers_.empty()) return -1;
  auto wait = timers_.next_due() - LoopClock::now();
  if (wait <= Clock::duration::zero()) return 0;
  // Round up: waking a little late is fine, waking early only spins.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
  return ms > std::numeric_limits<int>::max() ? std::numeric_limits<int>::max() : static_cast<int>(ms);
}

void NetpollLoop::run_ready() {
  // Coroutines resumed here may queue more; a few rounds, then let I/O in.
  for (int round = 0; round < 4 && !ready_.empty(); ++round) {
    std::vector<Waiter> batch;
    batch.swap(ready_);
    for (const Waiter& w : batch) w.resume();
    if (ready_.empty()) {
      batch.clear();
      ready_.swap(batch);  // keep the capacity
    }
  }
}

void NetpollLoop::run_posted() {
  if (!has_posted_.load(std::memory_order_relaxed)) return;
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(posted_);
    has_posted_.store(false, std::memory_order_relaxed);
  }
  for (auto& fn : batch) fn();
}

void NetpollLoop::run() {
  set_current(this);
  running_.store(true, std::memory_order_release);
  std::array<epoll_event, 256> events;
  LoopClock::Scope clock;  // deadlines read the cycle counter, not the vDSO clock
  while (!stop_.load(std::memory_order_acquire) && !pause_.load(std::memory_order_acquire)) {
    int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), next_timeout_ms());
    if (n < 0) {
      if (errno == EINTR) continue;
      KHZ_LOG(error, "netpoll: epoll_wait failed: " << std::error_code(errno, std::system_category()).message());
      break;
    }
    inline_completions_ = 0;
    batch_ = events.data();
    batch_size_ = n;
    for (int i = 0; i < n; ++i) {
      batch_next_ = i + 1;
      auto* handler = static_cast<IoHandler*>(events[i].data.ptr);
      // The next handler's object (a connection: its state and buffers' heads) is likely cold;
      // fetch it while this one is served.
      if (i + 1 < n) __builtin_prefetch(events[i + 1].data.ptr);
      if (handler == nullptr) {
        std::uint64_t count = 0;
        ssize_t r = ::read(event_fd_, &count, sizeof count);
        (void)r;
        continue;
      }
      handler->on_io(events[i].events);
    }
    batch_size_ = 0;
    timers_.fire_due(LoopClock::now());
    run_ready();
    run_posted();
    retired_.clear();
  }
  running_.store(false, std::memory_order_release);
  set_current(nullptr);
}

}  // namespace khz::transport
