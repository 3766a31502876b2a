// SPDX-License-Identifier: Apache-2.0
#include "uring/uring_connection.h"

#include "file_send.h"
#include "listen_socket.h"

#include <khz/common/log.h>
#include <khz/transport/error.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <memory>
#include <utility>
#include <vector>

namespace khz::transport {
namespace {
std::error_code last_error() noexcept { return {errno, std::system_category()}; }
}  // namespace

// ---- UringSocket

// sendmsg's header and iovecs stay put until the send completes; kept in a per-thread pool,
// so a flush of several segments allocates nothing once warm and an idle socket holds none.
struct UringSocket::SendState {
  msghdr msg{};
  iovec iov[kMaxIov];
};

namespace {
thread_local std::vector<std::unique_ptr<UringSocket::SendState>> send_state_pool;

UringSocket::SendState* take_send_state() {
  if (send_state_pool.empty()) return new UringSocket::SendState;
  UringSocket::SendState* s = send_state_pool.back().release();
  send_state_pool.pop_back();
  return s;
}

void give_send_state(UringSocket::SendState* s) {
  if (send_state_pool.size() < 64) send_state_pool.emplace_back(s); else delete s;
}
}  // namespace

UringSocket::~UringSocket() {
  loop_.forget(this);
  delete send_state_;  // only when the ring went with a sendmsg in flight
  if (fd_ >= 0) ::close(fd_);
}

void UringSocket::arm_recv() {
  io_uring_sqe* s = loop_.sqe();
  io_uring_prep_recv_multishot(s, fd_, nullptr, 0, 0);
  target(s);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = UringLoop::kBufferGroup;
  UringLoop::set_target(s, this, kRecv);
  recv_armed_ = true;
}

void UringSocket::send(const LinkedBuffer& output, bool more) {
  io_uring_sqe* s = loop_.sqe();
  // MSG_NOSIGNAL: a closed peer is EPIPE, not SIGPIPE.
  const int flags = more ? MSG_NOSIGNAL | MSG_MORE : MSG_NOSIGNAL;
  std::string_view first = output.segment(0);
  if (first.size() == output.size()) {
    io_uring_prep_send(s, fd_, first.data(), first.size(), flags);
  } else {
    if (send_state_ == nullptr) send_state_ = take_send_state();
    std::size_t n = 0;
    output.for_each_segment([&](std::string_view seg) {
      if (n < kMaxIov) send_state_->iov[n++] = iovec{const_cast<char*>(seg.data()), seg.size()};
    });
    send_state_->msg = msghdr{};
    send_state_->msg.msg_iov = send_state_->iov;
    send_state_->msg.msg_iovlen = n;
    io_uring_prep_sendmsg(s, fd_, &send_state_->msg, flags);
  }
  target(s);
  UringLoop::set_target(s, this, kSend);
  send_inflight_ = true;
}

void UringSocket::poll_out() {
  io_uring_sqe* s = loop_.sqe();
  io_uring_prep_poll_add(s, fd_, POLLOUT);
  target(s);
  UringLoop::set_target(s, this, kPollOut);
  poll_inflight_ = true;
  loop_.count_room_wait();
}

void UringSocket::detach() noexcept {
  conn_ = nullptr;
  if (slot_ >= 0) loop_.unregister_fd(slot_);
  slot_ = -1;
  if (fd_ >= 0) ::close(fd_);  // the operations in flight hold the socket until they end
  fd_ = -1;
  if (receiving() || sending()) {
    loop_.add_orphan(this, [](void* p) { delete static_cast<UringSocket*>(p); });
  }
  free_if_done();
}

void UringSocket::free_if_done() noexcept {
  if (conn_ != nullptr || dispatching_ || receiving() || sending()) return;
  loop_.remove_orphan(this);
  delete this;
}

void UringSocket::on_complete(const io_uring_cqe& cqe, unsigned tag) {
  dispatching_ = true;
  if (tag == kRecv) {
    const bool more = (cqe.flags & IORING_CQE_F_MORE) != 0;
    if (!more) recv_armed_ = false;
    // A completion without bytes that still names a buffer (an end of stream can take one)
    // gives it back too.
    if (cqe.res <= 0 && (cqe.flags & IORING_CQE_F_BUFFER) != 0) loop_.release(cqe);
    if (cqe.res > 0) {
      // More bytes waiting in the socket (SOCK_NONEMPTY) come with this receive's next
      // completion while it stays armed.
      const bool more_waiting = more && (cqe.flags & IORING_CQE_F_SOCK_NONEMPTY) != 0;
      if (conn_ != nullptr) conn_->on_data(loop_.received(cqe), static_cast<std::size_t>(cqe.res), more_waiting);  // one copy
      loop_.release(cqe);
      if (!more && !recv_armed_ && conn_ != nullptr && conn_->wants_recv()) arm_recv();
    } else if (cqe.res == -ENOBUFS) {
      // Every buffer of the ring is out (more receiving connections than buffers): go again
      // once this batch has given its buffers back.
      if (conn_ != nullptr && !recv_armed_) {
        starved_ = true;
        loop_.starved(this);
      }
    } else if (cqe.res == -ECANCELED || cqe.res == -EAGAIN) {
      // Paused (read-ahead budget) or closed; a fill since then wants it back. EAGAIN: the
      // kernel's retry found the (non-blocking) socket empty after all; nothing ended.
      if (!recv_armed_ && conn_ != nullptr && conn_->wants_recv()) arm_recv();
    } else if (conn_ != nullptr) {
      conn_->on_read_end(cqe.res == 0 ? std::error_code(errc::eof) : std::error_code(-cqe.res, std::system_category()));
    }
  } else if (tag == kSend) {
    send_inflight_ = false;
    if (send_state_ != nullptr) give_send_state(std::exchange(send_state_, nullptr));
    if (conn_ != nullptr) conn_->on_sent(cqe.res);
  } else if (tag == kPollOut) {
    poll_inflight_ = false;
    if (conn_ != nullptr) conn_->on_writable(cqe.res);
  }
  dispatching_ = false;
  free_if_done();
}

void UringSocket::after_batch() {
  if (conn_ != nullptr) conn_->drain_recheck();
}

void UringSocket::on_batch_end() {
  if (conn_ != nullptr) conn_->batch_over();
}

bool UringSocket::on_buffers_back() {
  starved_ = false;
  const bool arm = conn_ != nullptr && !recv_armed_ && conn_->wants_recv();
  if (arm) arm_recv();
  free_if_done();  // not after arming: a receive in flight keeps the socket
  return arm;
}

// ---- UringConnection

UringConnection::UringConnection(UringLoop& loop, int fd, const sockaddr* peer, socklen_t peer_len)
    : loop_(loop), socket_(new UringSocket(loop, fd, this)), fd_(fd) {
  if (peer != nullptr && peer_len <= static_cast<socklen_t>(sizeof(PeerAddress))) {  // else asked when needed
    peer_len_ = peer_len;
    std::memcpy(&peer_, peer, std::min<socklen_t>(peer_len, sizeof(PeerAddress)));
  }
}

UringConnection::~UringConnection() { close(); }

void UringConnection::open() {
  if (!closed_ && !socket_->receiving()) socket_->arm_recv();
}

void UringConnection::close() noexcept {
  if (closed_) return;
  // Its timers and (uring) submissions are the loop's, unguarded: never from another thread
  // while the loop runs (a Client destroyed elsewhere hands its connections to their loops).
  KHZ_ASSERT(!loop_.foreign_thread_runs());
  closed_ = true;
  loop_.cancel(read_deadline_);
  loop_.cancel(write_deadline_);
  loop_.cancel(room_retry_);
  // The kernel may still read output() for a send in flight: cancel it now, before the buffer
  // can go. The receive is cancelled now too (one submission for both), so the drain below
  // reads what the peer still sends rather than racing the receive for it.
  if (socket_->send_in_flight()) loop_.cancel(socket_, UringSocket::kSend, false);
  if (socket_->polling_out()) loop_.cancel(socket_, UringSocket::kPollOut, false);
  if (socket_->receiving()) loop_.cancel(socket_, UringSocket::kRecv, false);
  if (socket_->sending() || socket_->receiving()) loop_.submit_now();
  // FIN first and drop what the peer still sent, so closing does not turn into a RST that
  // could destroy a response the peer has not read yet.
  ::shutdown(fd_, SHUT_WR);
  char sink[4096];
  for (int i = 0; i < 16; ++i) {
    if (::recv(fd_, sink, sizeof sink, MSG_DONTWAIT) <= 0) break;
  }
  socket_->detach();
  socket_ = nullptr;
  fd_ = -1;
  if (fill_waiter_) finish_fill_soon(errc::cancelled);
  if (flush_waiter_) finish_flush_soon(errc::cancelled);
}

std::string UringConnection::peer_address() const {
  if (peer_len_ == 0 && fd_ >= 0) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return {};
    if (len > static_cast<socklen_t>(sizeof(PeerAddress))) {
      return format_address(reinterpret_cast<const sockaddr*>(&peer), len);  // a long Unix path
    }
    std::memcpy(&peer_, &peer, len);
    peer_len_ = len;
  }
  if (peer_len_ == 0) return {};
  return format_address(&peer_.any, std::min<socklen_t>(peer_len_, sizeof(PeerAddress)));
}

std::string UringConnection::local_address() const {
  if (fd_ < 0) return {};
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len) != 0) return {};
  return format_address(reinterpret_cast<const sockaddr*>(&local), len);
}

void UringConnection::begin_fill(std::size_t n, Waiter w) {
  fill_want_ = n;
  fill_waiter_ = w;
  if (closed_) return finish_fill_soon(errc::cancelled);
  if (early_ != nullptr) {
    early_->for_each_segment([&](std::string_view seg) { input_.append(seg); });
    early_.reset();
  }
  if (input_.size() >= n) return finish_fill_soon({});
  if (is_idle() && is_draining() && !socket_has_bytes()) return finish_fill_soon(errc::shutting_down);
  if (read_error_) return finish_fill_soon(read_error_);
  if (is_idle() && input_.empty()) input_.shrink();  // idle: hold no buffer while waiting
  recv_paused_ = false;
  // Armed since open() in the usual case; again after a pause (or when its cancel is still on
  // the way: its completion re-arms it).
  if (!socket_->receiving()) socket_->arm_recv();
  if (read_timeout_ > Duration::zero()) loop_.arm(read_deadline_, read_timeout_);
}

bool UringConnection::start_flush(std::coroutine_handle<> h) {
  flush_waiter_ = h;
  if (closed_) {
    finish_flush_soon(errc::cancelled);
    return true;
  }
  if (write_timeout_ > Duration::zero()) loop_.arm(write_deadline_, write_timeout_);
  // A send or poll still in flight (its flush timed out; the cancel is on its way) finishes
  // first; its completion then goes on with this one.
  if (socket_->sending()) return true;
  if (!output_.empty()) {
    send_output();
    return true;
  }
  send_file_or_finish();  // only a file to send
  return true;
}

void UringConnection::send_file_or_finish() {
  if (file_.length == 0) return finish_flush_soon({});
  std::error_code error;
  switch (send_file_available(fd_, file_.fd, file_.offset, file_.length, error)) {
    case FileSendProgress::done: return finish_flush_soon({});
    case FileSendProgress::would_block: return socket_->poll_out();
    case FileSendProgress::failed: return finish_flush_soon(error);
  }
}

void UringConnection::on_writable(int res) {
  if (!flush_waiter_ || closed_) return;  // the flush it served is over (timed out, closed)
  if (res < 0 && res != -ECANCELED) return take_flush(std::error_code(-res, std::system_category())).resume();
  if (res > 0 && (res & (POLLOUT | POLLERR | POLLHUP)) == 0) {
    // POLLRDHUP alone: the peer half-closed and the socket is still full. A poll on the ring
    // reports that at once, every time, so polling again at once would spin until the peer
    // reads; look again after a pause that doubles up to kRoomRetryMax instead.
    room_retry_delay_ = room_retry_delay_ == Duration::zero() ? kRoomRetryFirst : std::min(room_retry_delay_ * 2, kRoomRetryMax);
    loop_.arm(room_retry_, room_retry_delay_);
    return;
  }
  room_retry_delay_ = Duration::zero();
  // Room again (or the poll of a flush that timed out was cancelled, and a newer flush waits).
  if (!output_.empty()) return send_output();
  send_file_or_finish();
}

void UringConnection::on_data(const char* data, std::size_t n, bool more_waiting) {
  if (fill_waiter_) {
    input_.append(std::string_view(data, n));
    // Bytes still in the socket (a message longer than what was left of a provided buffer):
    // the fill waits for the completion that brings them, as netpoll reads on until the socket
    // is drained, so the protocol sees the message whole rather than in parts (a proxy sends a
    // TCP segment per part it forwards). Up to the read budget; an end of stream, an error or
    // a starved receive ends the wait as it would any other.
    more_coming_ = more_waiting && input_.size() < kReadBudget;
    // Completed at the end of the batch, with whatever else it brought for this connection
    // (netpoll's read-ahead: a protocol sees what arrived together, together).
    if (input_.size() >= fill_want_ && !fill_due_) {
      fill_due_ = true;
      loop_.at_batch_end(socket_);
    }
    return;
  }
  if (early_ == nullptr) early_ = std::make_unique<LinkedBuffer>();
  early_->append(std::string_view(data, n));
  if (early_->size() >= kReadBudget && !recv_paused_ && socket_ != nullptr && socket_->receiving()) {
    recv_paused_ = true;  // nobody reads: stop taking more until a fill asks
    loop_.cancel(socket_, UringSocket::kRecv, false);
  }
}

void UringConnection::batch_over() {
  fill_due_ = false;
  if (more_coming_) return;  // the batch that brings the rest completes it
  if (fill_waiter_ && input_.size() >= fill_want_) take_fill({}).resume();
}

void UringConnection::on_read_end(std::error_code ec) {
  read_error_ = ec;
  const bool watched = watching_hangup_;
  watching_hangup_ = false;
  if (watched) hangup_detected();
  if (fill_waiter_ && !closed_) take_fill(input_.size() >= fill_want_ ? std::error_code() : ec).resume();
}

void UringConnection::on_sent(int res) {
  if (std::exchange(send_abandoned_, false)) {
    // Its flush ended (timed out) and output() is the caller's again, perhaps changed: what
    // this send took is not skipped. A flush started since goes out now.
    if (!flush_waiter_ || closed_) return;
    if (!output_.empty()) return send_output();
    return send_file_or_finish();
  }
  if (res == -EAGAIN) {
    // The socket is non-blocking (sendfile(2) needs it so). The kernel's own wait for room
    // wakes on the peer's FIN too (a poll on the ring always reports POLLRDHUP): once the peer
    // has half-closed, a send waiting for room is retried until the kernel gives up and, from
    // its worker, answers EAGAIN. Nothing was sent and nothing failed: wait for room, then the
    // rest goes (on_writable).
    loop_.count_send_retry();
    if (flush_waiter_ && !closed_) socket_->poll_out();
    return;
  }
  std::error_code error;
  if (res > 0) {
    output_.skip(static_cast<std::size_t>(res));
    output_.release();
  } else if (res == 0) {
    error = std::make_error_code(std::errc::broken_pipe);
  } else if (res != -ECANCELED) {
    error = std::error_code(-res, std::system_category());
  }
  if (!flush_waiter_ || closed_) return;
  if (error) return take_flush(error).resume();
  if (!output_.empty()) return send_output();  // a short send: the rest
  if (file_.length == 0) return take_flush({}).resume();
  send_file_or_finish();
}

void UringConnection::on_idle_while_draining() noexcept {
  if (!fill_waiter_) return;
  if (input_.size() >= fill_want_) return finish_fill_soon({});
  // A request already waiting is answered (the receive brings it), not dropped. It may be in
  // the socket, or received already, its completion not yet seen: look again after the next
  // batch of completions.
  if (!socket_has_bytes()) loop_.after_next_batch(socket_);
}

void UringConnection::drain_recheck() noexcept {
  if (!fill_waiter_ || closed_ || !is_idle() || input_.size() >= fill_want_) return;
  if (!socket_has_bytes()) finish_fill_soon(errc::shutting_down);
}

bool UringConnection::socket_has_bytes() const noexcept {
  if (closed_ || read_error_) return false;
  char c;
  return ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void UringConnection::start_hangup_watch() noexcept {
  if (closed_) return;
  if (read_error_) {  // the FIN or a reset came already
    hangup_detected();
    return;
  }
  watching_hangup_ = true;
  if (!socket_->receiving() && !recv_paused_) socket_->arm_recv();
}

Waiter UringConnection::take_fill(std::error_code ec) noexcept {
  more_coming_ = false;
  if (fill_due_) {
    fill_due_ = false;
    loop_.forget_batch_end(socket_);
  }
  loop_.disarm(read_deadline_);  // lazily: the next fill re-arms it at no cost
  fill_error_ = ec;
  return std::exchange(fill_waiter_, {});
}

std::coroutine_handle<> UringConnection::take_flush(std::error_code ec) noexcept {
  // Lazily, as the read deadline: every flush waits for its completion here, so the deadline
  // is armed and ended once a request; the next arm costs nothing.
  loop_.disarm(write_deadline_);
  if (room_retry_delay_ != Duration::zero()) {
    loop_.cancel(room_retry_);
    room_retry_delay_ = Duration::zero();
  }
  flush_error_ = ec;
  file_ = {};  // sent, or given up with the flush
  return std::exchange(flush_waiter_, {});
}

void UringConnection::on_room_retry(void* self) {
  auto* conn = static_cast<UringConnection*>(self);
  if (conn->flush_waiter_ && !conn->closed_ && !conn->socket_->sending()) conn->socket_->poll_out();
}

void UringConnection::on_read_deadline(void* self) {
  auto* conn = static_cast<UringConnection*>(self);
  if (conn->fill_waiter_) conn->take_fill(errc::timed_out).resume();
}

void UringConnection::on_write_deadline(void* self) {
  auto* conn = static_cast<UringConnection*>(self);
  if (!conn->flush_waiter_) return;
  // The send stops now, so output() is the caller's again when the flush ends.
  if (conn->socket_->send_in_flight()) {
    conn->loop_.cancel(conn->socket_, UringSocket::kSend, true);
    conn->send_abandoned_ = true;
  }
  if (conn->socket_->polling_out()) conn->loop_.cancel(conn->socket_, UringSocket::kPollOut, true);
  conn->take_flush(errc::timed_out).resume();
}

// ---- dialling

namespace {

// The part of a connect the ring points at. Normally it reports to its Connector; when the
// dialling coroutine's frame is destroyed with the connect in flight (a Task destroyed while
// suspended), it is abandoned: it cancels the connect, and its completion closes the socket and
// frees it (the loop frees it at exit if that comes first). Without it, the completion reached a
// Connector that was gone, and the socket leaked.
class ConnectOp final : public Completion {
 public:
  ConnectOp(UringLoop& loop, int fd, class Connector* owner) noexcept : loop_(loop), fd_(fd), owner_(owner) {}
  ~ConnectOp() {
    if (owner_ == nullptr) ::close(fd_);
  }
  void on_complete(const io_uring_cqe& cqe, unsigned) override;
  void abandon() noexcept {
    owner_ = nullptr;
    loop_.add_orphan(this, [](void* p) { delete static_cast<ConnectOp*>(p); });
    loop_.cancel(this, 1, false);
  }

 private:
  UringLoop& loop_;
  int fd_;
  class Connector* owner_;
};

// A connect from the ring, bounded by a heap timer whose expiry cancels it. Lives in the
// dialling coroutine's frame, which resumes from the connect's completion (or is destroyed).
class Connector {
 public:
  Connector(UringLoop& loop, int fd, const sockaddr_storage& addr, socklen_t len, std::chrono::milliseconds timeout) noexcept
      : loop_(loop), fd_(fd), addr_(addr), len_(len), timeout_(timeout) {}
  ~Connector() {
    loop_.cancel(deadline_);
    if (op_ == nullptr) return;
    if (waiter_) op_->abandon();  // destroyed while suspended: the op outlives this
    else delete op_;
  }

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    waiter_ = h;
    op_ = new ConnectOp(loop_, fd_, this);
    io_uring_sqe* s = loop_.sqe();
    io_uring_prep_connect(s, fd_, reinterpret_cast<const sockaddr*>(&addr_), len_);
    UringLoop::set_target(s, op_, 1);
    if (timeout_.count() > 0) loop_.arm(deadline_, timeout_);
  }
  std::error_code await_resume() const noexcept { return error_; }

  void completed(int res) {
    loop_.cancel(deadline_);
    if (timed_out_) error_ = errc::timed_out;
    else if (res < 0) error_ = std::error_code(-res, std::system_category());
    std::exchange(waiter_, {}).resume();
  }

 private:
  static void on_deadline(void* self) {
    auto* c = static_cast<Connector*>(self);
    c->timed_out_ = true;
    c->loop_.cancel(c->op_, 1, false);  // its completion resumes the dial
  }

  UringLoop& loop_;
  int fd_;
  sockaddr_storage addr_;
  socklen_t len_;
  std::chrono::milliseconds timeout_;
  ConnectOp* op_ = nullptr;
  std::coroutine_handle<> waiter_;
  std::error_code error_;
  bool timed_out_ = false;
  DeadlineTimer deadline_{&on_deadline, this};
};

void ConnectOp::on_complete(const io_uring_cqe& cqe, unsigned) {
  if (owner_ != nullptr) return owner_->completed(cqe.res);
  loop_.remove_orphan(this);
  delete this;  // closes the socket
}

}  // namespace

Task<Result<std::unique_ptr<Connection>>> UringLoop::connect_to(sockaddr_storage addr, socklen_t len,
                                                                std::chrono::milliseconds timeout) {
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) co_return last_error();
  int one = 1;
  if (addr.ss_family != AF_UNIX) (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::error_code ec;
  {
    Connector connector(*this, fd, addr, len, timeout);
    ec = co_await connector;
  }
  if (ec) {
    ::close(fd);
    co_return ec;
  }
  auto conn = std::make_unique<UringConnection>(*this, fd, reinterpret_cast<const sockaddr*>(&addr), len);
  conn->open();
  co_return std::unique_ptr<Connection>(std::move(conn));
}

// ---- the client loop

namespace {

class UringClientLoop final : public ClientLoop {
 public:
  explicit UringClientLoop(bool on_caller) : loop_(UringTuning{}) {
    if (on_caller) {
      drive_on_caller();
    } else {
      loop_.start();
    }
  }
  ~UringClientLoop() override {
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
  std::string_view name() const noexcept override { return "uring"; }

 private:
  void run_here_until_readable(int fd) override { loop_.run_here_until_readable(fd); }
  UringLoop loop_;
};

}  // namespace

std::unique_ptr<ClientLoop> make_uring_client_loop(bool on_caller) {
  std::string why = uring_refusal();
  if (!why.empty()) {
    static std::once_flag logged;
    std::call_once(logged, [&] { KHZ_LOG(warn, "uring: io_uring unavailable (" << why << "); client loops use netpoll"); });
    return make_netpoll_client_loop(on_caller);
  }
  return std::make_unique<UringClientLoop>(on_caller);
}

}  // namespace khz::transport
