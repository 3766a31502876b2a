// SPDX-License-Identifier: Apache-2.0
#include "netpoll/netpoll_connection.h"

#include "file_send.h"
#include "listen_socket.h"

#include <khz/common/log.h>
#include <khz/transport/error.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <climits>
#include <cstring>
#include <future>
#include <utility>

namespace khz::transport {
namespace {

std::error_code last_error() noexcept { return {errno, std::system_category()}; }

}  // namespace

NetpollConnection::NetpollConnection(NetpollLoop& loop, int fd, const sockaddr_storage& peer,
                                     socklen_t peer_len) noexcept
    : loop_(loop), fd_(fd), peer_len_(peer_len) {
  std::memcpy(&peer_, &peer, std::min<socklen_t>(peer_len, sizeof(PeerAddress)));
}

NetpollConnection::~NetpollConnection() {
  close();
  loop_.forget(this);
}

std::error_code NetpollConnection::open() noexcept {
  if (auto ec = loop_.add(fd_, EPOLLIN, this)) return ec;
  registered_ = true;
  interest_ = EPOLLIN;
  return {};
}

void NetpollConnection::close() noexcept {
  if (closed_) return;
  // Its timers and (uring) submissions are the loop's, unguarded: never from another thread
  // while the loop runs (a Client destroyed elsewhere hands its connections to their loops).
  KHZ_ASSERT(!loop_.foreign_thread_runs());
  closed_ = true;
  loop_.cancel(read_deadline_);
  loop_.cancel(write_deadline_);
  if (registered_) loop_.remove(fd_);
  registered_ = false;
  // Send FIN first and drop what the peer still sent, so close() does not turn into a RST
  // that could destroy a response the peer has not read yet.
  ::shutdown(fd_, SHUT_WR);
  char sink[4096];
  for (int i = 0; i < 16; ++i) {
    if (::recv(fd_, sink, sizeof sink, 0) <= 0) break;
  }
  ::close(fd_);
  fd_ = -1;
  if (fill_waiter_) finish_fill_soon(errc::cancelled);
  if (flush_waiter_) finish_flush_soon(errc::cancelled);
}

std::string NetpollConnection::peer_address() const {
  if (peer_len_ > static_cast<socklen_t>(sizeof(PeerAddress)) && fd_ >= 0) {
    // A Unix peer bound to a long path: what accept4 said did not fit; ask again.
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
      return format_address(reinterpret_cast<const sockaddr*>(&peer), len);
    }
  }
  return format_address(&peer_.any, std::min<socklen_t>(peer_len_, sizeof(PeerAddress)));
}

std::string NetpollConnection::local_address() const {
  if (fd_ < 0) return {};
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len) != 0) return {};
  return format_address(reinterpret_cast<const sockaddr*>(&local), len);
}

void NetpollConnection::begin_fill(std::size_t n, Waiter w) {
  fill_want_ = n;
  fill_waiter_ = w;
  if (closed_) return finish_fill_soon(errc::cancelled);
  if (is_idle() && is_draining()) return finish_fill_soon(input_waiting() ? std::error_code() : errc::shutting_down);
  if (read_eof_) return finish_fill_soon(errc::eof);
  if (is_idle() && input_.empty()) input_.shrink();  // idle: hold no buffer while waiting
  if (!registered_) {
    // Taken out of the epoll set after a hang-up: what is left is read directly.
    Progress p = read_available(true);
    return finish_fill_soon(p == Progress::done ? std::error_code() : fill_error_);
  }
  if (auto ec = set_interest(interest_ | EPOLLIN)) return finish_fill_soon(ec);
  if (read_timeout_ > Duration::zero()) loop_.arm(read_deadline_, read_timeout_);
}

bool NetpollConnection::start_flush(std::coroutine_handle<> h) {
  flush_waiter_ = h;
  if (closed_) return finish_flush_now(errc::cancelled);
  Progress p = write_available();
  if (p == Progress::done) return finish_flush_now({});
  if (p == Progress::failed) return finish_flush_now(flush_error_);
  // The socket is full: continue on EPOLLOUT.
  if (auto ec = set_interest(interest_ | EPOLLOUT)) return finish_flush_now(ec);
  if (write_timeout_ > Duration::zero()) loop_.arm(write_deadline_, write_timeout_);
  return true;
}

bool NetpollConnection::finish_flush_now(std::error_code ec) noexcept {
  // Inline, so the coroutine frees its request state before the next connection's turn and
  // the loop's pools hand the same warm memory to each request of a batch. Bounded per turn,
  // so a handler streaming into a socket that never fills still lets the loop serve others.
  if (!loop_.take_inline_completion()) {
    finish_flush_soon(ec);
    return true;
  }
  (void)take_flush(ec);
  return false;
}

void NetpollConnection::on_idle_while_draining() noexcept {
  if (fill_waiter_) finish_fill_soon(input_waiting() ? std::error_code() : errc::shutting_down);
}

// Draining while idle: a request that already arrived (buffered, or waiting in the socket) is
// answered, with Connection: close, rather than dropped.
bool NetpollConnection::input_waiting() {
  if (input_.size() >= fill_want_) return true;
  if (closed_ || read_eof_ || !registered_) return false;
  return read_available(false) == Progress::done;
}

void NetpollConnection::start_hangup_watch() noexcept {
  if (closed_) return;
  if (read_eof_ || !registered_) {  // the FIN was read, or a hang-up took the socket out already
    hangup_detected();
    return;
  }
  watching_hangup_ = true;
  (void)set_interest(interest_ | EPOLLRDHUP);  // no syscall when still registered from before
}

// EPOLLRDHUP stays registered (dropped when it fires unwatched), so a handler that watches
// request after request costs no epoll_ctl.
void NetpollConnection::stop_hangup_watch() noexcept { watching_hangup_ = false; }

void NetpollConnection::on_io(std::uint32_t events) {
  if (closed_) return;  // a stale event from the batch in which it closed
  const bool hangup = (events & (EPOLLERR | EPOLLHUP)) != 0;
  const bool unwanted_input = (events & EPOLLIN) != 0 && !fill_waiter_;
  const bool rdhup = (events & EPOLLRDHUP) != 0;
  const bool peer_gone = watching_hangup_ && (hangup || rdhup);
  watching_hangup_ = watching_hangup_ && !peer_gone;  // reported once
  std::coroutine_handle<> flushed;
  Waiter filled;
  if (flush_waiter_ && (events & EPOLLOUT || hangup)) {
    Progress p = write_available();
    if (p == Progress::would_block && hangup) {
      flush_error_ = pending_socket_error();
      if (!flush_error_) flush_error_ = std::make_error_code(std::errc::broken_pipe);
      p = Progress::failed;
    }
    if (p == Progress::done) flushed = take_flush({});
    if (p == Progress::failed) flushed = take_flush(flush_error_);
  }
  if (fill_waiter_ && (events & EPOLLIN || hangup)) {
    Progress p = read_available(hangup);
    if (p == Progress::done) filled = take_fill({});
    if (p == Progress::failed) filled = take_fill(fill_error_);
  }
  if (hangup && !fill_waiter_ && !flush_waiter_) {
    // Level-triggered EPOLLHUP/EPOLLERR cannot be masked: leave the epoll set rather than spin.
    loop_.remove(fd_);
    registered_ = false;
    interest_ = 0;
  } else if (unwanted_input || rdhup) {
    // Level-triggered: drop what nobody waits for (re-armed by the next fill or watch).
    std::uint32_t keep = interest_;
    if (rdhup) keep &= ~std::uint32_t{EPOLLRDHUP};  // reported (or nobody watches)
    if (unwanted_input) keep &= ~std::uint32_t{EPOLLIN};
    (void)set_interest(keep);
  }
  if (peer_gone) hangup_detected();
  // Resume last: the coroutines may start new operations on this connection, or close it.
  if (flushed) flushed.resume();
  if (filled) filled.resume();
}

NetpollConnection::Progress NetpollConnection::read_available(bool hangup) {
  std::size_t budget = kReadBudget;
  for (;;) {
    std::span<char> room = input_.reserve(1);
    // recv, not read: a socket call skips the VFS layer (file position lock, permission and
    // fsnotify hooks), which costs about 2% of a small request's server CPU.
    ssize_t n = ::recv(fd_, room.data(), room.size(), 0);
    if (n > 0) {
      input_.commit(static_cast<std::size_t>(n));
      auto got = static_cast<std::size_t>(n);
      const bool enough = input_.size() >= fill_want_;
      // A short read means the socket is drained for now (unless it hung up: read to the end).
      // A full one means more is likely waiting: read it now rather than on another wake-up
      // (a request larger than the node would otherwise cost a round through epoll).
      if (got < room.size() && !hangup) return enough ? Progress::done : Progress::would_block;
      if (got >= budget) {
        if (enough) return Progress::done;
        if (!hangup) return Progress::would_block;  // level-triggered: the rest comes next turn
      } else {
        budget -= got;
      }
      continue;
    }
    if (n == 0) {
      read_eof_ = true;  // the next fill reports it; bytes already read are delivered first
      if (input_.size() >= fill_want_) return Progress::done;
      fill_error_ = errc::eof;
      return Progress::failed;
    }
    if (errno == EINTR) continue;
    if (input_.size() >= fill_want_) return Progress::done;  // an error, if any, shows next time
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (hangup) {
        fill_error_ = pending_socket_error();
        if (!fill_error_) fill_error_ = errc::eof;
        return Progress::failed;
      }
      if (is_idle() && input_.empty()) input_.shrink();
      return Progress::would_block;
    }
    fill_error_ = last_error();
    return Progress::failed;
  }
}

ssize_t NetpollConnection::send_segments(std::span<iovec> iov, int flags) const noexcept {
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  return ::sendmsg(fd_, &msg, flags);
}

NetpollConnection::Progress NetpollConnection::write_available() {
  std::vector<iovec>& iov = loop_.iov_scratch();
  while (!output_.empty()) {
    iov.clear();
    std::size_t total = 0;
    output_.for_each_segment([&](std::string_view s) {
      if (iov.size() < IOV_MAX) {
        iov.push_back(iovec{const_cast<char*>(s.data()), s.size()});
        total += s.size();
      }
    });
    // MSG_NOSIGNAL turns a closed peer into EPIPE, not SIGPIPE. MSG_MORE when a file follows:
    // the head waits for the file's first bytes and leaves in the same segment (one packet, one
    // wake-up of the peer, as TCP_CORK would give without its two setsockopt calls). One
    // segment (the usual small response) goes by send, which skips sendmsg's copy of the
    // msghdr and the iovec import.
    const int flags = file_.length != 0 ? MSG_NOSIGNAL | MSG_MORE : MSG_NOSIGNAL;
    ssize_t n = iov.size() == 1 ? ::send(fd_, iov[0].iov_base, iov[0].iov_len, flags) : send_segments(iov, flags);
    if (n >= 0) {
      output_.skip(static_cast<std::size_t>(n));
      output_.release();
      if (static_cast<std::size_t>(n) < total) return Progress::would_block;  // the socket is full
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Progress::would_block;
    flush_error_ = last_error();
    return Progress::failed;
  }
  // Then the file send_file queued, straight from the page cache to the socket.
  if (file_.length == 0) return Progress::done;
  switch (send_file_available(fd_, file_.fd, file_.offset, file_.length, flush_error_)) {
    case FileSendProgress::done: return Progress::done;
    case FileSendProgress::would_block: return Progress::would_block;
    case FileSendProgress::failed: break;
  }
  return Progress::failed;
}

Waiter NetpollConnection::take_fill(std::error_code ec) noexcept {
  loop_.disarm(read_deadline_);  // lazily: the next fill re-arms it at no cost
  fill_error_ = ec;
  return std::exchange(fill_waiter_, {});
}

std::coroutine_handle<> NetpollConnection::take_flush(std::error_code ec) noexcept {
  loop_.cancel(write_deadline_);
  flush_error_ = ec;
  file_ = {};  // sent, or given up with the flush
  if (interest_ & EPOLLOUT) (void)set_interest(interest_ & ~std::uint32_t{EPOLLOUT});
  return std::exchange(flush_waiter_, {});
}

std::error_code NetpollConnection::set_interest(std::uint32_t events) noexcept {
  if (closed_ || (registered_ && events == interest_)) return {};
  std::error_code ec = registered_ ? loop_.modify(fd_, events, this) : loop_.add(fd_, events, this);
  if (ec) {
    KHZ_LOG(warn, "netpoll: epoll_ctl for " << peer_address() << " failed: " << ec.message());
    return ec;
  }
  registered_ = true;
  interest_ = events;
  return {};
}

std::error_code NetpollConnection::pending_socket_error() const noexcept {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err == 0) return {};
  return {err, std::system_category()};
}

void NetpollConnection::on_read_deadline(void* self) {
  auto* conn = static_cast<NetpollConnection*>(self);
  if (conn->fill_waiter_) conn->take_fill(errc::timed_out).resume();
}

void NetpollConnection::on_write_deadline(void* self) {
  auto* conn = static_cast<NetpollConnection*>(self);
  if (conn->flush_waiter_) conn->take_flush(errc::timed_out).resume();
}


// ---- dialling

namespace {

// Waits for a non-blocking connect() to finish (EPOLLOUT) or its deadline. Lives in the
// dialling coroutine's frame.
class Connector final : public IoHandler {
 public:
  Connector(NetpollLoop& loop, int fd, std::chrono::milliseconds timeout) noexcept
      : loop_(loop), fd_(fd), timeout_(timeout) {}
  ~Connector() override {
    loop_.cancel(deadline_);
    loop_.forget(this);
  }

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    waiter_ = h;
    if (auto ec = loop_.add(fd_, EPOLLOUT, this)) {
      done_ = true;
      error_ = ec;
      loop_.resume_soon(h);
      return;
    }
    if (timeout_.count() > 0) loop_.arm(deadline_, timeout_);
  }
  std::error_code await_resume() const noexcept { return error_; }

  void on_io(std::uint32_t) override {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    finish(err != 0 ? std::error_code(err, std::system_category()) : std::error_code());
  }

 private:
  static void on_deadline(void* self) { static_cast<Connector*>(self)->finish(errc::timed_out); }

  void finish(std::error_code ec) {
    if (done_) return;
    done_ = true;
    error_ = ec;
    loop_.cancel(deadline_);
    loop_.remove(fd_);
    std::exchange(waiter_, {}).resume();
  }

  NetpollLoop& loop_;
  int fd_;
  std::chrono::milliseconds timeout_;
  std::coroutine_handle<> waiter_;
  std::error_code error_;
  bool done_ = false;
  DeadlineTimer deadline_{&on_deadline, this};
};

}  // namespace

Task<Result<std::unique_ptr<Connection>>> NetpollLoop::connect_to(sockaddr_storage addr, socklen_t len,
                                                                  std::chrono::milliseconds timeout) {
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) co_return last_error();
  int one = 1;
  if (addr.ss_family != AF_UNIX) (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len);
  if (rc != 0 && errno != EINPROGRESS) {
    std::error_code ec = last_error();
    ::close(fd);
    co_return ec;
  }
  if (rc != 0) {
    std::error_code ec;
    {
      Connector connector(*this, fd, timeout);
      ec = co_await connector;
    }
    if (ec) {
      ::close(fd);
      co_return ec;
    }
  }
  auto conn = std::make_unique<NetpollConnection>(*this, fd, addr, len);
  if (auto ec = conn->open()) co_return ec;  // conn closes the socket
  co_return std::unique_ptr<Connection>(std::move(conn));
}

namespace {
struct HeapTimer {
  HeapTimer(NetpollLoop* l, LoopTimer* o) : loop(l), owner(o) {}
  static void on_due(void* self) {
    auto* t = static_cast<HeapTimer*>(self);
    LoopTimer* owner = t->owner;
    delete t;
    Dialer::fire(owner);
  }
  NetpollLoop* loop;
  LoopTimer* owner;
  DeadlineTimer timer{&on_due, this};
};
}  // namespace

void* NetpollLoop::start_timer(std::chrono::milliseconds delay, LoopTimer* owner) {
  auto* t = new HeapTimer(this, owner);
  arm(t->timer, delay);
  return t;
}

void NetpollLoop::cancel_timer(void* handle) noexcept {
  auto* t = static_cast<HeapTimer*>(handle);
  cancel(t->timer);
  delete t;
}

namespace {

class NetpollClientLoop final : public ClientLoop {
 public:
  explicit NetpollClientLoop(bool on_caller) {
    if (on_caller) {
      drive_on_caller();
    } else {
      loop_.start();
    }
  }
  ~NetpollClientLoop() override {
    // Sleepers (sleep_for, backoffs) end now rather than leak with the loop.
    if (on_caller()) {
      run_here([this] { loop_.wake_sleepers(); });
    } else {
      std::promise<void> woken;
      loop_.post([&] {
        loop_.wake_sleepers();
        woken.set_value();
      });
      woken.get_future().wait();
    }
    loop_.stop_and_join();
  }
  EventLoop& loop() noexcept override { return loop_; }
  std::string_view name() const noexcept override { return "netpoll"; }

 private:
  void run_here_until_readable(int fd) override { loop_.run_here_until_readable(fd); }
  NetpollLoop loop_;
};

}  // namespace

std::unique_ptr<ClientLoop> make_netpoll_client_loop(bool on_caller) {
  return std::make_unique<NetpollClientLoop>(on_caller);
}

}  // namespace khz::transport
