// SPDX-License-Identifier: Apache-2.0
#include "uring/uring_loop.h"

#include <khz/common/background_thread.h>
#include <khz/common/log.h>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <system_error>
#include <utility>

namespace khz::transport {
namespace {

std::string os_message(int e) { return std::error_code(e, std::system_category()).message(); }

// What the backend asks of the kernel: the flags it sets up its rings with (the first set, or
// the second where COOP_TASKRUN/TASKRUN_FLAG (5.19) are missing).
constexpr unsigned kPreferredFlags =
    IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
constexpr unsigned kMinimalFlags = IORING_SETUP_CQSIZE;

int init_ring(io_uring& ring, unsigned sq_entries, unsigned cq_entries) {
  io_uring_params p{};
  p.flags = kPreferredFlags;
  p.cq_entries = cq_entries;
  int rc = io_uring_queue_init_params(sq_entries, &ring, &p);
  if (rc == -EINVAL) {
    p = io_uring_params{};
    p.flags = kMinimalFlags;
    p.cq_entries = cq_entries;
    rc = io_uring_queue_init_params(sq_entries, &ring, &p);
  }
  if (rc == 0 && (p.features & (IORING_FEAT_EXT_ARG | IORING_FEAT_NODROP | IORING_FEAT_FAST_POLL)) !=
                     (IORING_FEAT_EXT_ARG | IORING_FEAT_NODROP | IORING_FEAT_FAST_POLL)) {
    io_uring_queue_exit(&ring);
    return -ENOSYS;
  }
  return rc;
}

// Kernel ABI newer than the liburing headers this builds against (uapi io_uring.h, 6.12).
constexpr std::uint16_t kPbufRingInc = 2;  // IOU_PBUF_RING_INC: io_uring_buf_reg.flags

// A provided-buffer ring of `count` entries registered as group `group`; memory by mmap.
// `incremental`: asks for incremental consumption, and says whether the kernel took it (a
// kernel without it refuses the flag; the ring is then registered without).
io_uring_buf_ring* register_buf_ring(io_uring& ring, unsigned count, unsigned group, std::size_t& bytes, int& err,
                                     bool* incremental = nullptr) {
  bytes = count * sizeof(io_uring_buf);
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    err = errno;
    return nullptr;
  }
  auto* br = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(br);
  reg.ring_entries = count;
  reg.bgid = static_cast<std::uint16_t>(group);
  int rc = -EINVAL;
  if (incremental != nullptr && *incremental) {
    reg.pad = kPbufRingInc;  // the flags field (named `pad` in these headers)
    rc = io_uring_register_buf_ring(&ring, &reg, 0);
    *incremental = rc == 0;
    reg.pad = 0;
  }
  if (rc < 0) rc = io_uring_register_buf_ring(&ring, &reg, 0);
  if (rc < 0) {
    err = -rc;
    ::munmap(mem, bytes);
    return nullptr;
  }
  return br;
}

// Everything the backend relies on, tried once on a small ring: opcodes, features, a provided
// buffer ring, and a multishot receive (6.0) that delivers a byte into a provided buffer.
std::string probe_kernel() {
  io_uring ring{};
  int rc = init_ring(ring, 8, 16);
  if (rc == -ENOSYS) return "the kernel lacks IORING_FEAT_EXT_ARG, NODROP or FAST_POLL";
  if (rc < 0) return "io_uring_setup failed: " + os_message(-rc);
  std::string why;
  if (io_uring_probe* probe = io_uring_get_probe_ring(&ring)) {
    for (int op : {IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND, IORING_OP_SENDMSG, IORING_OP_ASYNC_CANCEL,
                   IORING_OP_READ, IORING_OP_POLL_ADD, IORING_OP_CONNECT, IORING_OP_CLOSE}) {
      if (!io_uring_opcode_supported(probe, op)) why = "the kernel lacks io_uring opcode " + std::to_string(op);
    }
    io_uring_free_probe(probe);
  } else {
    why = "the kernel does not answer io_uring's opcode probe";
  }
  std::size_t bytes = 0;
  int err = 0;
  io_uring_buf_ring* br = why.empty() ? register_buf_ring(ring, 2, 0, bytes, err) : nullptr;
  if (why.empty() && br == nullptr) why = "no provided-buffer ring: " + os_message(err);
  int pair[2] = {-1, -1};
  if (why.empty() && ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) why = "socketpair: " + os_message(errno);
  if (why.empty()) {
    static char space[2][64];
    for (unsigned i = 0; i < 2; ++i) io_uring_buf_ring_add(br, space[i], sizeof space[i], static_cast<unsigned short>(i), io_uring_buf_ring_mask(2), static_cast<int>(i));
    io_uring_buf_ring_advance(br, 2);
    (void)::write(pair[1], "x", 1);
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_recv_multishot(sqe, pair[0], nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    io_uring_cqe* cqe = nullptr;
    rc = io_uring_submit_and_wait(&ring, 1);
    if (rc >= 0) rc = io_uring_peek_cqe(&ring, &cqe);
    if (rc < 0 || cqe == nullptr) {
      why = "multishot receive: " + os_message(rc < 0 ? -rc : EIO);
    } else if (cqe->res != 1 || !(cqe->flags & IORING_CQE_F_MORE) || !(cqe->flags & IORING_CQE_F_BUFFER)) {
      why = cqe->res < 0 ? "multishot receive refused: " + os_message(-cqe->res) : "multishot receive not supported";
    }
    if (cqe != nullptr) io_uring_cqe_seen(&ring, cqe);
  }
  if (pair[0] >= 0) ::close(pair[0]);
  if (pair[1] >= 0) ::close(pair[1]);
  io_uring_queue_exit(&ring);
  if (br != nullptr) ::munmap(br, bytes);
  return why;
}

}  // namespace

std::string uring_refusal() {
  const char* forced = std::getenv("KHZ_URING_FORCE_FAIL");
  if (forced != nullptr && *forced != '\0') return "KHZ_URING_FORCE_FAIL is set";
  static const std::string kernel = probe_kernel();
  return kernel;
}

// ---- UringLoop

UringLoop::UringLoop(const UringTuning& tuning) : tuning_(tuning) {
  int rc = init_ring(ring_, tuning_.sq_entries, tuning_.cq_entries);
  if (rc < 0) throw std::system_error(-rc, std::system_category(), "io_uring_setup");
  int err = 0;
  incremental_ = tuning_.incremental;
  buf_ring_ = register_buf_ring(ring_, tuning_.buffers, kBufferGroup, buf_ring_bytes_, err, &incremental_);
  if (buf_ring_ == nullptr) {
    io_uring_queue_exit(&ring_);
    throw std::system_error(err, std::system_category(), "io_uring_register_buf_ring");
  }
  // Untouched until the kernel receives into them: pages appear as buffers are first used.
  void* mem = ::mmap(nullptr, std::size_t{tuning_.buffers} * tuning_.buffer_size, PROT_READ | PROT_WRITE,
                     MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  event_fd_ = mem == MAP_FAILED ? -1 : ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (event_fd_ < 0) {
    int e = errno;
    if (mem != MAP_FAILED) ::munmap(mem, std::size_t{tuning_.buffers} * tuning_.buffer_size);
    io_uring_queue_exit(&ring_);
    ::munmap(buf_ring_, buf_ring_bytes_);
    throw std::system_error(e, std::system_category(), "uring loop buffers");
  }
  buffers_ = static_cast<char*>(mem);
  buffer_used_.assign(tuning_.buffers, 0);
  const int mask = io_uring_buf_ring_mask(tuning_.buffers);
  for (unsigned i = 0; i < tuning_.buffers; ++i) {
    io_uring_buf_ring_add(buf_ring_, buffers_ + std::size_t{i} * tuning_.buffer_size, tuning_.buffer_size,
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(tuning_.buffers));
  // A sparse table of registered descriptors; without it (an old kernel, a limit) sockets are
  // used by their descriptors.
  if (tuning_.fixed_files != 0 && io_uring_register_files_sparse(&ring_, tuning_.fixed_files) == 0) {
    free_slots_.reserve(tuning_.fixed_files);
    for (unsigned i = tuning_.fixed_files; i > 0; --i) free_slots_.push_back(static_cast<int>(i - 1));
  }
  arm_wake();
}

int UringLoop::register_fd(int fd) noexcept {
  const int slot = free_slots_.empty() ? -1 : free_slots_.back();
  if (slot < 0 || io_uring_register_files_update(&ring_, static_cast<unsigned>(slot), &fd, 1) != 1) {
    ++unregistered_sockets_;
    return -1;
  }
  free_slots_.pop_back();
  ++registered_sockets_;
  return slot;
}

void UringLoop::unregister_fd(int slot) noexcept {
  // Operations still in flight hold the file themselves; the slot is free again at once.
  int none = -1;
  if (io_uring_register_files_update(&ring_, static_cast<unsigned>(slot), &none, 1) == 1) free_slots_.push_back(slot);
}

UringLoop::~UringLoop() {
  stop_and_join();
  retired_.clear();
  // Cancel everything still in flight and wait for it, so no receive lands in a buffer after
  // it is unmapped; then what is left of closed sockets goes.
  io_uring_sync_cancel_reg reg{};
  reg.flags = IORING_ASYNC_CANCEL_ANY;
  reg.timeout.tv_sec = -1;
  reg.timeout.tv_nsec = -1;
  (void)io_uring_register_sync_cancel(&ring_, &reg);
  io_uring_queue_exit(&ring_);
  for (auto& [p, destroy] : orphans_) destroy(p);
  ::munmap(buffers_, std::size_t{tuning_.buffers} * tuning_.buffer_size);
  ::munmap(buf_ring_, buf_ring_bytes_);
  ::close(event_fd_);
}

io_uring_sqe* UringLoop::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  while (s == nullptr) {  // the submission queue is full: hand it to the kernel and go on
    (void)io_uring_submit(&ring_);
    s = io_uring_get_sqe(&ring_);
  }
  return s;
}

void UringLoop::cancel(Completion* c, unsigned tag, bool now) {
  io_uring_sqe* s = sqe();
  io_uring_prep_cancel64(s, reinterpret_cast<std::uintptr_t>(c) | tag, 0);
  io_uring_sqe_set_data64(s, 0);
  if (now) submit_now();
}

void UringLoop::release(const io_uring_cqe& cqe) noexcept {
  constexpr unsigned kCqeBufMore = 1U << 4;  // IORING_CQE_F_BUF_MORE (6.12; not in these headers)
  const unsigned id = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
  if ((cqe.flags & kCqeBufMore) != 0) {  // the kernel goes on filling it where this one ended
    if (cqe.res > 0) {
      buffer_used_[id] += static_cast<std::uint32_t>(cqe.res);
      ++shared_buffer_receives_;
    }
    return;
  }
  buffer_used_[id] = 0;
  io_uring_buf_ring_add(buf_ring_, buffers_ + static_cast<std::size_t>(id) * tuning_.buffer_size, tuning_.buffer_size,
                        static_cast<unsigned short>(id), io_uring_buf_ring_mask(tuning_.buffers), 0);
  io_uring_buf_ring_advance(buf_ring_, 1);
}

void UringLoop::arm_wake() {
  io_uring_sqe* s = sqe();
  io_uring_prep_read(s, event_fd_, &wake_count_, sizeof wake_count_, 0);
  set_target(s, this, kWakeTag);
}

void UringLoop::on_complete(const io_uring_cqe& cqe, unsigned tag) {
  if (tag == kWakeTag) {
    arm_wake();  // the count is read; posts are run at the end of this turn
  } else if (tag == kPauseTag) {
    pause_armed_ = false;
    if (cqe.res != -ECANCELED) pause_.store(true, std::memory_order_release);
  }
}

void UringLoop::post(std::function<void()> fn) {
  // As NetpollLoop::post: a loop stopped for good runs it here, as a last turn.
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
  if (was_empty && EventLoop::current() != this) wake();
}

void UringLoop::wake() noexcept {
  std::uint64_t one = 1;
  ssize_t r = ::write(event_fd_, &one, sizeof one);
  (void)r;  // EAGAIN: the counter is already non-zero, the loop will wake anyway
}

void UringLoop::resume_after(Clock::duration delay, std::coroutine_handle<> h) {
  if (waking_) return resume_soon(h);
  sleepers_.emplace_front(this, h);
  auto it = sleepers_.begin();
  it->self = it;
  arm(it->timer, delay);
}

void UringLoop::on_sleeper_due(void* sleeper) {
  auto* s = static_cast<Sleeper*>(sleeper);
  auto h = s->handle;
  s->loop->sleepers_.erase(s->self);
  h.resume();
}

void UringLoop::wake_sleepers() {
  waking_ = true;
  while (!sleepers_.empty()) {
    Sleeper& s = sleepers_.front();
    timers_.cancel(s.timer);
    auto h = s.handle;
    sleepers_.pop_front();
    h.resume();
  }
}

namespace {
struct HeapTimer {
  HeapTimer(UringLoop* l, LoopTimer* o) : loop(l), owner(o) {}
  static void on_due(void* self) {
    auto* t = static_cast<HeapTimer*>(self);
    LoopTimer* owner = t->owner;
    delete t;
    Dialer::fire(owner);
  }
  UringLoop* loop;
  LoopTimer* owner;
  DeadlineTimer timer{&on_due, this};
};
}  // namespace

void* UringLoop::start_timer(std::chrono::milliseconds delay, LoopTimer* owner) {
  auto* t = new HeapTimer(this, owner);
  arm(t->timer, delay);
  return t;
}

void UringLoop::cancel_timer(void* handle) noexcept {
  auto* t = static_cast<HeapTimer*>(handle);
  cancel(t->timer);
  delete t;
}

void UringLoop::start() {
  std::lock_guard lock(run_mutex_);
  KHZ_ASSERT(!thread_.joinable() && !on_caller_);
  thread_ = background_thread([this] { run(); });
}

void UringLoop::ensure_running() {
  std::lock_guard lock(run_mutex_);
  if (!thread_.joinable() && !on_caller_ && !stop_.load(std::memory_order_acquire)) {
    thread_ = background_thread([this] { run(); });
  }
}

void UringLoop::run_here_until_readable(int fd) {
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

  // A poll on `fd` from the ring: the loop pauses after the turn that completes it.
  io_uring_sqe* s = sqe();
  io_uring_prep_poll_add(s, fd, POLLIN);
  set_target(s, this, kPauseTag);
  pause_armed_ = true;
  run();
  if (pause_armed_) {
    cancel(this, kPauseTag, true);
    // Its completion (cancelled) comes on a later turn and is ignored.
  }

  lock.lock();
  on_caller_ = false;
  pause_.store(false, std::memory_order_release);
  run_done_.notify_all();
}

void UringLoop::run_and_wait(std::function<void()> fn) {
  run_and_wait_handed_over(*this, run_mutex_, run_done_, on_caller_, thread_, std::move(fn),
                           [this](std::function<void()> f) { last_turns(std::move(f)); });
}

void UringLoop::stop_and_join() {
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

void UringLoop::last_turns(std::function<void()> fn) {
  // As NetpollLoop's, except that completions are the ring's: a closed socket's cancelled
  // receive completes a moment later, so a turn with nothing queued waits up to 1 ms for one
  // (three times at most) before the loop counts as quiet.
  EventLoop* caller = EventLoop::current();
  set_current(this);
  if (fn) fn();
  int idle = 0;
  run_until_quiet([&] { return idle < 3; },
                  [&] {
                    if (io_uring_cq_ready(&ring_) == 0) {
                      io_uring_cqe* cqe = nullptr;
                      __kernel_timespec ts{.tv_sec = 0, .tv_nsec = 1000000};
                      (void)io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
                    }
                    const bool completed = io_uring_cq_ready(&ring_) > 0;
                    dispatch_completions();
                    run_ready();
                    run_posted();
                    const bool queued = !ready_.empty() || has_posted_.load(std::memory_order_relaxed);
                    idle = completed || queued ? 0 : idle + 1;
                  });
  retired_.clear();
  set_current(caller);
}

void UringLoop::wait_for_completions() {
  // Work queued: hand over the submissions and look at what completed, without waiting.
  if (!ready_.empty() || has_posted_.load(std::memory_order_relaxed) || io_uring_cq_ready(&ring_) > 0) {
    (void)io_uring_submit(&ring_);
    return;
  }
  io_uring_cqe* cqe = nullptr;
  if (timers_.empty()) {
    (void)io_uring_submit_and_wait(&ring_, 1);
    return;
  }
  auto wait = timers_.next_due() - LoopClock::now();
  if (wait <= Clock::duration::zero()) {
    (void)io_uring_submit(&ring_);
    return;
  }
  // Submit and wait in one io_uring_enter, its timeout the earliest deadline (EXT_ARG): no
  // timer of the kernel's and no syscall of its own.
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
  __kernel_timespec ts{};
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  (void)io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);  // -ETIME: a timer is due
}

void UringLoop::dispatch_completions() {
  // One batch a turn, as netpoll takes one epoll_wait: what completes while it is dispatched
  // waits for the next turn, after this one's posted functions (a shutdown's drain marks an
  // idle connection before the request that arrived meanwhile is read, so it is answered with
  // Connection: close).
  std::array<io_uring_cqe*, 256> cqes;
  if (io_uring_cq_has_overflow(&ring_)) ++cq_overflows_;  // the kernel kept some aside (NODROP)
  // Also flushes completions the kernel kept aside, once the ring is empty.
  const unsigned n = io_uring_peek_batch_cqe(&ring_, cqes.data(), static_cast<unsigned>(cqes.size()));
  after_now_.swap(after_batch_);  // those asked before this batch (forget() reaches both)
  for (unsigned i = 0; i < n; ++i) {
    const std::uint64_t data = cqes[i]->user_data;
    if (data == 0) continue;  // a cancellation's own completion
    auto* target = reinterpret_cast<Completion*>(data & ~std::uint64_t{7});
    target->on_complete(*cqes[i], static_cast<unsigned>(data & 7));
  }
  io_uring_cq_advance(&ring_, n);
  // Fills satisfied by this batch complete now, with everything the batch brought.
  for (std::size_t i = 0; i < batch_end_.size(); ++i) {
    if (Completion* c = batch_end_[i]) {
      batch_end_[i] = nullptr;
      c->on_batch_end();
    }
  }
  batch_end_.clear();
  // Receives that ran out of buffers go again, now that this batch gave its buffers back:
  // oldest first, until as many have armed as the ring has buffers. A receive armed on a socket
  // with data waiting takes a buffer at once, so arming more would end the rest in ENOBUFS within
  // the same submission; with many connections receiving large messages (16 KiB bodies through
  // a proxy) that was a storm of failed receives, about 8 per request. The others go after the
  // next batch, which the armed ones make: each completes, with bytes or ENOBUFS.
  // (on_buffers_back only submits: none of them frees another.)
  // Indexed, not iterated: forget() may null an entry meanwhile.
  std::size_t taken = 0;
  for (std::size_t armed = 0; taken < starved_.size() && armed < tuning_.buffers; ++taken) {
    if (Completion* c = std::exchange(starved_[taken], nullptr); c != nullptr && c->on_buffers_back()) ++armed;
  }
  starved_.erase(starved_.begin(), starved_.begin() + static_cast<std::ptrdiff_t>(taken));
  for (std::size_t i = 0; i < after_now_.size(); ++i) {
    if (Completion* c = std::exchange(after_now_[i], nullptr)) c->after_batch();
  }
  after_now_.clear();
}

void UringLoop::after_next_batch(Completion* c) { after_batch_.push_back(c); }

void UringLoop::forget(Completion* c) noexcept {
  for (auto& p : after_batch_) {
    if (p == c) p = nullptr;
  }
  for (auto& p : starved_) {
    if (p == c) p = nullptr;
  }
  for (auto& p : batch_end_) {
    if (p == c) p = nullptr;
  }
  for (auto& p : after_now_) {
    if (p == c) p = nullptr;
  }
}

void UringLoop::run_ready() {
  for (int round = 0; round < 4 && !ready_.empty(); ++round) {
    std::vector<Waiter> batch;
    batch.swap(ready_);
    for (const Waiter& w : batch) w.resume();
    if (ready_.empty()) {
      batch.clear();
      ready_.swap(batch);
    }
  }
}

void UringLoop::run_posted() {
  if (!has_posted_.load(std::memory_order_relaxed)) return;
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard lock(mutex_);
    batch.swap(posted_);
    has_posted_.store(false, std::memory_order_relaxed);
  }
  for (auto& fn : batch) fn();
}

void UringLoop::run() {
  set_current(this);
  running_.store(true, std::memory_order_release);
  LoopClock::Scope clock;  // deadlines read the cycle counter, not the vDSO clock
  while (!stop_.load(std::memory_order_acquire) && !pause_.load(std::memory_order_acquire)) {
    wait_for_completions();
    // Timers due when the wait ended, not those armed since: a deadline armed while this
    // batch is dispatched fires after the next submission (the sends this turn prepared
    // go out first, as netpoll's go out when they are made).
    const auto now = LoopClock::now();
    dispatch_completions();
    timers_.fire_due(now);
    run_ready();
    run_posted();
    retired_.clear();
  }
  running_.store(false, std::memory_order_release);
  set_current(nullptr);
}

}  // namespace khz::transport
