// SPDX-License-Identifier: Apache-2.0
// Boost.Asio backend. Asio types stay in this file.
#include <utility>  // before Asio's coroutine headers (GCC 12 + Boost 1.74)

#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/transport/asio.h>
#include <khz/transport/error.h>

#include "backend_support.h"
#include "lifecycle.h"
#include "listen_socket.h"

#include <boost/asio.hpp>

#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <future>
#include <condition_variable>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

namespace khz::transport {
namespace {

namespace asio = boost::asio;
// The generic stream protocol: one socket type for TCP and Unix domain sockets alike.
using stream = asio::generic::stream_protocol;
using boost::system::error_code;

std::error_code to_std(const error_code& ec) {
  if (ec == asio::error::eof) return errc::eof;
  if (ec == asio::error::operation_aborted) return errc::cancelled;
  return std::error_code(ec.value(), std::system_category());
}

// ---- operation memory
// Every asynchronous operation allocates a block for its handler. Boost 1.74 recycles one
// block per thread, which a request (wait, receive, send) overruns; these pools keep every
// block on the loop thread that freed it, so a busy connection allocates nothing per request.
constexpr std::size_t kOpBlock = 512;
constexpr std::size_t kMaxPooledOps = 4096;

struct OpPool {
  void* head = nullptr;
  std::size_t count = 0;
  ~OpPool() {
    while (head != nullptr) {
      void* next = *static_cast<void**>(head);
      ::operator delete(head);
      head = next;
    }
  }
};
thread_local OpPool op_pool;

void* allocate_op(std::size_t size) {
  if (size <= kOpBlock && op_pool.head != nullptr) {
    void* p = op_pool.head;
    op_pool.head = *static_cast<void**>(p);
    --op_pool.count;
    return p;
  }
  return ::operator new(size <= kOpBlock ? kOpBlock : size);
}

void deallocate_op(void* p, std::size_t size) noexcept {
  if (size <= kOpBlock && op_pool.count < kMaxPooledOps) {
    *static_cast<void**>(p) = op_pool.head;
    op_pool.head = p;
    ++op_pool.count;
    return;
  }
  ::operator delete(p);
}

template <class T>
struct OpAllocator {
  using value_type = T;
  OpAllocator() noexcept = default;
  template <class U>
  OpAllocator(const OpAllocator<U>&) noexcept {}  // NOLINT: rebinding
  T* allocate(std::size_t n) { return static_cast<T*>(allocate_op(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { deallocate_op(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const OpAllocator<U>&) const noexcept { return true; }
};

// A completion handler whose operation memory comes from the loop's pool.
template <class F>
struct Pooled {
  F fn;
  using allocator_type = OpAllocator<void>;
  allocator_type get_allocator() const noexcept { return {}; }
  template <class... Args>
  void operator()(Args&&... args) { fn(std::forward<Args>(args)...); }
};
template <class F>
Pooled<F> pooled(F fn) { return Pooled<F>{std::move(fn)}; }

// A non-owning view of an iovec array: async_write copies its buffer sequence, and copying
// this costs nothing, unlike a std::vector.
struct BufferRange {
  const asio::const_buffer* first;
  const asio::const_buffer* last;
  const asio::const_buffer* begin() const noexcept { return first; }
  const asio::const_buffer* end() const noexcept { return last; }
};

// Asio opens sockets without close-on-exec; a child process (a CGI-like handler, a test's
// helper) would keep them, e.g. a listener open after shutdown.
void set_cloexec(int fd) noexcept {
  int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) (void)::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

std::string format_endpoint(const stream::endpoint& ep) {
  return format_address(ep.data(), static_cast<socklen_t>(ep.size()));
}

class AsioConnection;

// How often a loop checks its connections' read and write deadlines. Timeouts fire within one
// tick after they are due; no timer is armed per operation (that would cost an allocation and
// a timer-queue update per request).
constexpr std::chrono::milliseconds kDeadlineTick{100};

// One event loop: an io_context on its own thread.
class AsioLoop final : public EventLoop, public Dialer {
 public:
  AsioLoop() : io_(1), guard_(asio::make_work_guard(io_)), sweep_(io_) {}

  void post(std::function<void()> fn) override { asio::post(io_, std::move(fn)); }

  void resume_after(Clock::duration delay, std::coroutine_handle<> h) override {
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
  };
  void* start_timer(std::chrono::milliseconds delay, LoopTimer* owner) override {
    auto* t = new HeapTimer(io_, owner);
    t->timer.expires_after(delay);
    t->timer.async_wait([t](const error_code&) {
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
    thread_ = std::thread([this] {
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
    for (auto& s : sleepers_) s.timer.cancel();
  }

  void stop_and_join() {
    asio::post(io_, [this] { sweep_.cancel(); });
    guard_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
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

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  asio::steady_timer sweep_;
  std::thread thread_;
  bool sweeping_ = false;                           // a caller-driven loop armed its sweep
  std::list<Sleeper> sleepers_;                     // loop thread only
  std::unordered_set<AsioConnection*> connections_;  // loop thread only
};

// Lifetime: pending operations hold `alive_`, not the connection; a completion that arrives
// after the connection was destroyed (its socket closed, so the operation was aborted) sees
// the flag down and touches nothing. So the owner may destroy it at any point on its loop.
// A connection registered with a loop (`registered`) leaves the loop's set when destroyed.
class AsioConnection final : public Connection {
 public:
  explicit AsioConnection(stream::socket socket, AsioLoop* registered = nullptr)
      : socket_(std::move(socket)), registered_(registered) {
    if (socket_.is_open()) set_cloexec(socket_.native_handle());
    if (registered_ != nullptr) registered_->connections().insert(this);
    error_code ec;
    auto local = socket_.local_endpoint(ec);
    if (!ec) local_ = format_endpoint(local);
    if (!ec && local.protocol().family() != AF_UNIX) socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    auto remote = socket_.remote_endpoint(ec);
    if (!ec) peer_ = format_endpoint(remote);
  }

  ~AsioConnection() override {
    *alive_ = false;
    close();
    if (registered_ != nullptr) registered_->connections().erase(this);
  }
  AsioConnection(const AsioConnection&) = delete;
  AsioConnection& operator=(const AsioConnection&) = delete;

  void close() noexcept override {
    if (closed_) return;
    closed_ = true;
    error_code ec;
    read_deadline_ = write_deadline_ = kNever;
    // Send FIN first and drop what the peer still sent, so close() does not turn into a RST
    // that could destroy a response the peer has not read yet.
    socket_.shutdown(stream::socket::shutdown_send, ec);
    socket_.non_blocking(true, ec);
    char sink[4096];
    for (int i = 0; i < 16; ++i) {
      std::size_t n = socket_.read_some(asio::buffer(sink), ec);
      if (ec || n == 0) break;
    }
    socket_.close(ec);
  }

  std::string peer_address() const override { return peer_; }
  std::string local_address() const override { return local_; }

  void drain() noexcept { mark_draining(); }

  // Cancels an operation whose deadline has passed (called by the loop's sweep).
  void check_deadlines(std::chrono::steady_clock::time_point now) noexcept {
    error_code ignored;
    if (fill_waiter_ && now >= read_deadline_) {
      read_timed_out_ = true;
      read_deadline_ = kNever;
      socket_.cancel(ignored);
    }
    if (flush_waiter_ && now >= write_deadline_) {
      write_timed_out_ = true;
      write_deadline_ = kNever;
      socket_.cancel(ignored);
    }
  }

 protected:
  void start_fill(std::size_t n, std::coroutine_handle<> h) override { begin_fill(n, h); }
  // The parked wait with no coroutine: the lifecycle's callback is the fill's waiter.
  void start_input_wait(void (*fn)(void*), void* arg) override { begin_fill(1, Waiter(fn, arg)); }

  void begin_fill(std::size_t n, Waiter w) {
    fill_want_ = n;
    fill_waiter_ = w;
    read_timed_out_ = false;
    if (closed_) return finish_fill(errc::cancelled, true);
    // A connection that goes idle after the drain began has nothing to finish: end it now,
    // unless a request already sits in its socket (answered, with Connection: close).
    if (is_idle() && is_draining() && input_.size() < n && !read_waiting(n)) {
      return finish_fill(errc::shutting_down, true);
    }
    read_deadline_ = read_timeout_ > Duration::zero() ? Clock::now() + read_timeout_ : kNever;
    read_more();
  }

  bool start_flush(std::coroutine_handle<> h) override {
    flush_waiter_ = h;
    write_timed_out_ = false;
    if (closed_) {
      finish_flush(errc::cancelled, true);
      return true;
    }
    iov_.clear();
    output_.for_each_segment([this](std::string_view s) { iov_.emplace_back(s.data(), s.size()); });
    write_deadline_ = write_timeout_ > Duration::zero() ? Clock::now() + write_timeout_ : kNever;
    BufferRange range{iov_.data(), iov_.data() + iov_.size()};
    asio::async_write(socket_, range, pooled([self = this, alive = alive_](const error_code& ec, std::size_t n) {
      if (!*alive) return;
      self->output_.skip(n);
      self->output_.release();
      if (ec) return self->finish_flush(self->write_timed_out_ ? std::error_code(errc::timed_out) : to_std(ec));
      self->finish_flush({});
    }));
    return true;  // Asio completes the write through its queue, never inline
  }

  // Hang-up watch: wait for readability, then look without reading (see watch_hangup).
  void start_hangup_watch() noexcept override {
    if (closed_) return;
    watching_hangup_ = true;
    if (hangup_wait_pending_) return;  // one from an earlier watch is still out: it serves this one
    hangup_wait_pending_ = true;
    socket_.async_wait(stream::socket::wait_read, pooled([self = this, alive = alive_](const error_code& ec) {
      if (!*alive) return;
      self->hangup_wait_pending_ = false;
      if (!self->watching_hangup_ || self->closed_) return;
      if (ec == asio::error::operation_aborted) return self->start_hangup_watch();  // a deadline's cancel()
      if (ec) return self->hangup_detected();
      self->look_for_hangup();
    }));
  }
  void stop_hangup_watch() noexcept override { watching_hangup_ = false; }

  void on_idle_while_draining() noexcept override {
    // A request that already arrived completes the pending read and is answered (with
    // Connection: close) rather than dropped.
    if (fill_waiter_ && !bytes_waiting()) {
      shutting_down_ = true;
      error_code ignored;
      socket_.cancel(ignored);
    }
  }

 private:
  // Whether bytes wait in the socket (a look, no read).
  bool bytes_waiting() noexcept {
    char byte;
    return ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
  }

  // Reads what already waits in the socket into input_, without blocking; true once input_
  // holds at least n bytes.
  bool read_waiting(std::size_t n) {
    while (input_.size() < n) {
      std::span<char> room = input_.reserve(1);
      ssize_t got = ::recv(socket_.native_handle(), room.data(), room.size(), MSG_DONTWAIT);
      if (got <= 0) break;
      input_.commit(static_cast<std::size_t>(got));
    }
    return input_.size() >= n;
  }

  // Readable while watching: gone if the peer's FIN (or a reset) is there, even behind data.
  void look_for_hangup() {
    const int fd = socket_.native_handle();
    char byte;
    ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return hangup_detected();
    if (n < 0) return start_hangup_watch();  // a fill took the bytes first
    ::tcp_info info{};
    socklen_t len = sizeof info;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 && info.tcpi_state == TCP_CLOSE_WAIT) {
      return hangup_detected();
    }
    // Request bytes wait to be read (pipelining): the peer is there; waiting again would only
    // see them again. The watch ends here, silently.
    watching_hangup_ = false;
    KHZ_LOG(debug, "asio: " << peer_ << " sent more bytes while watched for a hang-up; watch ended");
  }

  void read_more() {
    if (input_.empty() && is_idle()) {
      // Idle with nothing buffered: hold no buffer while waiting; read once data is there.
      input_.shrink();
      socket_.async_wait(stream::socket::wait_read, pooled([self = this, alive = alive_](const error_code& ec) {
        if (!*alive) return;
        if (ec) return self->fill_failed(ec);
        self->read_more_now();
      }));
      return;
    }
    read_more_now();
  }

  void read_more_now() {
    std::span<char> room = input_.reserve(1);
    socket_.async_read_some(asio::buffer(room.data(), room.size()),
                            pooled([self = this, alive = alive_](const error_code& ec, std::size_t n) {
                              if (!*alive) return;
                              if (n > 0) self->input_.commit(n);
                              if (ec && n == 0) return self->fill_failed(ec);
                              if (self->input_.size() >= self->fill_want_) return self->finish_fill({});
                              self->read_more();
                            }));
  }

  void fill_failed(const error_code& ec) {
    if (read_timed_out_) return finish_fill(errc::timed_out);
    if (shutting_down_) return finish_fill(errc::shutting_down);
    finish_fill(to_std(ec));
  }

  // `from_start`: called from inside start_fill/start_flush, where resuming inline would
  // re-enter the awaiting coroutine before it suspended: post instead.
  void finish_fill(std::error_code ec, bool from_start = false) {
    read_deadline_ = kNever;
    fill_error_ = ec;
    Waiter w = std::exchange(fill_waiter_, {});
    if (from_start) {
      asio::post(socket_.get_executor(), pooled([w] { w.resume(); }));
    } else {
      w.resume();
    }
  }

  void finish_flush(std::error_code ec, bool from_start = false) {
    write_deadline_ = kNever;
    flush_error_ = ec;
    auto h = std::exchange(flush_waiter_, {});
    resume(h, from_start);
  }

  void resume(std::coroutine_handle<> h, bool post) {
    if (post) {
      asio::post(socket_.get_executor(), pooled([h] { h.resume(); }));
    } else {
      h.resume();
    }
  }

  using Clock = std::chrono::steady_clock;
  static constexpr Clock::time_point kNever = Clock::time_point::max();

  stream::socket socket_;
  AsioLoop* registered_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::vector<asio::const_buffer> iov_;
  Waiter fill_waiter_;
  std::coroutine_handle<> flush_waiter_;
  std::size_t fill_want_ = 0;
  bool watching_hangup_ = false;
  bool hangup_wait_pending_ = false;
  Clock::time_point read_deadline_ = kNever;
  Clock::time_point write_deadline_ = kNever;
  bool read_timed_out_ = false;
  bool write_timed_out_ = false;
  bool shutting_down_ = false;
  bool closed_ = false;
  std::string peer_;
  std::string local_;
};

Task<Result<std::unique_ptr<Connection>>> AsioLoop::connect_to(sockaddr_storage addr, socklen_t len,
                                                               std::chrono::milliseconds timeout) {
  stream::endpoint endpoint(&addr, len);
  // Shared by the connect and the deadline handlers, which may run after this frame resumed.
  struct State {
    explicit State(asio::io_context& io) : socket(io), timer(io) {}
    stream::socket socket;
    asio::steady_timer timer;
    error_code error;
    bool timed_out = false;
    bool done = false;
    std::coroutine_handle<> waiter;
  };
  auto state = std::make_shared<State>(io_);
  struct Awaiter {
    std::shared_ptr<State> state;
    stream::endpoint endpoint;
    std::chrono::milliseconds timeout;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      state->waiter = h;
      error_code ec;
      state->socket.open(endpoint.protocol(), ec);  // async_connect would open it, without CLOEXEC
      if (!ec) set_cloexec(state->socket.native_handle());
      state->socket.async_connect(endpoint, [s = state](const error_code& ec) {
        s->done = true;
        s->error = ec;
        s->timer.cancel();
        std::exchange(s->waiter, {}).resume();
      });
      if (timeout.count() > 0) {
        state->timer.expires_after(timeout);
        state->timer.async_wait([s = state](const error_code& ec) {
          if (ec || s->done) return;
          s->timed_out = true;
          error_code ignored;
          s->socket.cancel(ignored);
        });
      }
    }
    void await_resume() const noexcept {}
  };
  Awaiter awaiter{state, endpoint, timeout};  // a named local: GCC 12 and co_await temporaries
  co_await awaiter;
  if (state->timed_out) co_return std::error_code(errc::timed_out);
  if (state->error) co_return std::error_code(state->error.value(), std::system_category());
  co_return std::unique_ptr<Connection>(std::make_unique<AsioConnection>(std::move(state->socket), this));
}

class AsioClientLoop final : public ClientLoop {
 public:
  explicit AsioClientLoop(bool on_caller) {
    if (on_caller) {
      drive_on_caller();
    } else {
      loop_.run();
    }
  }
  ~AsioClientLoop() override {
    // Sleepers (sleep_for, backoffs) end now rather than leak with the loop; the second post
    // runs after their aborted handlers.
    for (int round = 0; round < 2; ++round) {
      if (on_caller()) {
        run_here([this, round] {
          if (round == 0) loop_.wake_sleepers();
        });
        continue;
      }
      std::promise<void> woken;
      loop_.post([&] {
        if (round == 0) loop_.wake_sleepers();
        woken.set_value();
      });
      woken.get_future().wait();
    }
    loop_.stop_and_join();
  }
  EventLoop& loop() noexcept override { return loop_; }
  std::string_view name() const noexcept override { return "asio"; }

 private:
  void run_here_until_readable(int fd) override { loop_.run_here_until_readable(fd); }
  AsioLoop loop_;
};

void AsioLoop::arm_sweep() {
  sweep_.expires_after(kDeadlineTick);
  sweep_.async_wait([this](const error_code& ec) {
    if (ec) return;
    auto now = std::chrono::steady_clock::now();
    for (auto* c : connections_) c->check_deadlines(now);
    arm_sweep();
  });
}

class AsioTransporter final : public Transporter, private Lifecycle::Host {
 public:
  explicit AsioTransporter(TransporterOptions options) : options_(std::move(options)) {
    int n = options_.loops > 0 ? options_.loops : static_cast<int>(std::thread::hardware_concurrency());
    if (n <= 0) n = 1;
    for (int i = 0; i < n; ++i) loops_.push_back(std::make_unique<AsioLoop>());
  }

  ~AsioTransporter() override {
    shutdown(std::chrono::milliseconds(0));
    if (stopping_fd_ >= 0) ::close(stopping_fd_);
  }

  // The loops keep their threads; this one just waits, for `fd` or for shutdown() to begin.
  void run_until_readable(int fd) override {
    pollfd waits[2] = {{fd, POLLIN, 0}, {stopping_fd_, POLLIN, 0}};
    while (::poll(waits, stopping_fd_ >= 0 ? 2 : 1, -1) < 0 && errno == EINTR) {
    }
  }

  using Transporter::start;
  Result<std::uint16_t> start(ConnectionHandler handler, AcceptFilter accept) override {
    lifecycle_.set(std::move(handler), options_.layer);
    accept_ = std::move(accept);
    auto port = open_listener();
    if (!port) {
      KHZ_LOG(error, listen_target(options_) << " failed: " << port.error().message());
      acceptor_.reset();
      listen_socket_.close();
      return port.error();
    }
    for (auto& loop : loops_) loop->run();
    started_ = true;
    asio::post(loops_[0]->io(), [this] { accept_next(); });
    return port;
  }

  void shutdown(std::chrono::milliseconds drain) override {
    if (!started_ || stopped_.exchange(true)) return;
    if (stopping_fd_ >= 0) {
      std::uint64_t one = 1;
      ssize_t r = ::write(stopping_fd_, &one, sizeof one);
      (void)r;
    }
    asio::post(loops_[0]->io(), [this] {
      error_code ec;
      if (acceptor_) acceptor_->close(ec);
      if (accept_pause_) accept_pause_->cancel();
      listen_socket_.close();  // a Unix socket's file goes now
    });
    for_each_loop([](AsioLoop& loop) {
      for (auto* c : loop.connections()) c->drain();
    });
    std::unique_lock lock(mutex_);
    if (!idle_.wait_for(lock, drain, [this] { return active_ == 0; })) {
      KHZ_LOG(warn, "drain deadline passed with " << active_ << " connection(s) still busy; closing them");
      lock.unlock();
      for_each_loop([](AsioLoop& loop) {
        for (auto* c : loop.connections()) c->close();
        loop.wake_sleepers();
      });
      lock.lock();
      while (!idle_.wait_for(lock, std::chrono::seconds(5), [this] { return active_ == 0; })) {
        KHZ_LOG(warn, active_ << " connection handler(s) still running after close; waiting");
        lock.unlock();
        for_each_loop([](AsioLoop& loop) { loop.wake_sleepers(); });
        lock.lock();
      }
    }
    lock.unlock();
    // Acceptor and any leftover handlers die on the loops' threads before they stop.
    for_each_loop([this](AsioLoop& loop) {
      if (&loop == loops_[0].get()) {
        acceptor_.reset();
        accept_pause_.reset();
      }
    });
    for (auto& loop : loops_) loop->stop_and_join();
  }

  std::size_t active_connections() const noexcept override {
    std::lock_guard lock(mutex_);
    return active_;
  }

  std::string listen_address() const override { return listen_address_; }

  std::string_view name() const noexcept override { return "asio"; }

 private:
  // The listening socket as every backend opens or adopts it (listen_socket.h), given to an
  // acceptor on loop 0; listen_socket_ keeps what closing must undo (a Unix socket's file).
  // Returns the port (0 for Unix).
  Result<std::uint16_t> open_listener() {
    auto socket = [this]() -> Result<ListenSocket> {
      if (options_.listen_fd >= 0) return ListenSocket::adopt(options_.listen_fd, options_.backlog);
      auto where = resolve_listen_address(options_.address);
      if (!where) return where.error();
      return ListenSocket::open(*where, {.backlog = options_.backlog, .unix_socket_mode = options_.unix_socket_mode});
    }();
    if (!socket) return socket.error();
    listen_socket_ = std::move(*socket);
    SocketAddress bound;
    bound.len = sizeof bound.storage;
    if (::getsockname(listen_socket_.fd(), bound.get(), &bound.len) != 0) {
      return std::error_code(errno, std::system_category());
    }
    listen_address_ = format_address(bound.get(), bound.len);
    acceptor_ = std::make_unique<Acceptor>(loops_[0]->io());
    accept_pause_ = std::make_unique<asio::steady_timer>(loops_[0]->io());
    error_code ec;
    acceptor_->assign(stream(bound.family(), bound.family() == AF_UNIX ? 0 : IPPROTO_TCP), listen_socket_.fd(), ec);
    if (ec) return std::error_code(ec.value(), std::system_category());
    (void)listen_socket_.release_fd();  // the acceptor closes it
    return bound.port();
  }

  // Runs fn on every loop's thread and waits for all of them.
  template <class Fn>
  void for_each_loop(Fn fn) {
    run_on_each_loop(loops_, [](AsioLoop& l) -> EventLoop& { return l; }, fn);
  }

  void accept_next() {
    AsioLoop& target = *loops_[next_loop_];
    next_loop_ = (next_loop_ + 1) % loops_.size();
    acceptor_->async_accept(target.io(), [this, &target](const error_code& ec, stream::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;
      if (ec) {
        if (failures_.on_failure(std::error_code(ec.value(), std::system_category())) ==
            AcceptFailures::Action::pause) {
          // Out of descriptors: retrying at once would fail at once, a full core of it.
          accept_pause_->expires_after(AcceptFailures::kPause);
          accept_pause_->async_wait([this](const error_code& e) {
            if (!e && acceptor_ && acceptor_->is_open()) accept_next();
          });
          return;
        }
      } else {
        failures_.on_success();
        {
          std::lock_guard lock(mutex_);
          ++active_;
        }
        asio::post(target.io(), [this, &target, s = std::move(socket)]() mutable {
          auto conn = std::make_unique<AsioConnection>(std::move(s), &target);
          if (!accepted(accept_, *conn)) {
            conn.reset();  // closes the socket, unread
            std::lock_guard lock(mutex_);
            if (--active_ == 0) idle_.notify_all();
            return;
          }
          if (stopped_) conn->drain();
          lifecycle_.serve(std::move(conn), *this);
        });
      }
      accept_next();
    });
  }

  // Lifecycle::Host: on the connection's loop.
  void closed(std::unique_ptr<Connection> socket) noexcept override {
    socket->close();
    socket.reset();
    std::lock_guard lock(mutex_);
    if (--active_ == 0) idle_.notify_all();
  }

  TransporterOptions options_;
  Lifecycle lifecycle_;
  AcceptFilter accept_;
  std::vector<std::unique_ptr<AsioLoop>> loops_;
  using Acceptor = asio::basic_socket_acceptor<stream>;
  std::unique_ptr<Acceptor> acceptor_;
  ListenSocket listen_socket_;  // the socket until the acceptor has it; then the Unix file to remove
  std::string listen_address_;
  std::unique_ptr<asio::steady_timer> accept_pause_;  // loop 0's thread only, as are the next two
  AcceptFailures failures_;
  std::size_t next_loop_ = 0;
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::size_t active_ = 0;
  std::atomic<bool> stopped_{false};
  bool started_ = false;
  int stopping_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);  // readable once shutdown() begins
};

}  // namespace

std::unique_ptr<ClientLoop> make_asio_client_loop(bool on_caller) { return std::make_unique<AsioClientLoop>(on_caller); }

std::unique_ptr<Transporter> make_asio_transporter(TransporterOptions options) {
  return std::make_unique<AsioTransporter>(std::move(options));
}

}  // namespace khz::transport
