// SPDX-License-Identifier: Apache-2.0
// Private to transport/asio/: AsioConnection, a Connection over an Asio stream socket (TCP or
// Unix), registered with its loop for the deadline sweep.
#pragma once

#include <khz/common/log.h>
#include <khz/transport/connection.h>

#include "asio/asio_loop.h"
#include "asio/asio_support.h"

#include <sys/socket.h>

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace khz::transport {

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
  // The drain deadline's close: close(), and true when a hang-up watch was on. The transporter
  // then calls report_hangup() (after closing every connection of the loop), so a handler
  // waiting on the watch (an event stream between events, a call it was making) learns that
  // its connection is gone instead of running on until its next write.
  bool close_for_shutdown() noexcept {
    const bool watched = watching_hangup_;
    close();
    return watched;
  }
  void report_hangup() noexcept { hangup_detected(); }

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
    if (write_error_) {
      // Asio's epoll reactor would queue this write for an EPOLLOUT edge that a failed socket
      // never raises again (edge-triggered), and it would wait until close: the socket's error
      // is final, so the flush fails with it now.
      finish_flush(write_error_, true);
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
      if (ec && !self->write_timed_out_ && ec != asio::error::operation_aborted) self->write_error_ = to_std(ec);
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
      // Idle with nothing buffered: hold no pooled buffer while waiting. The wait is a read into
      // the connection's own idle_read_, not a readiness wait: Asio re-arms the socket with an
      // epoll_ctl for every readiness wait, while a read queued after a read that drained the
      // socket costs no syscall until the peer sends (one epoll_ctl per keep-alive request
      // before). A request that fits moves to input_ with one small copy; a longer one's rest
      // follows with the next read.
      input_.shrink();
      socket_.async_read_some(asio::buffer(idle_read_),
                              pooled([self = this, alive = alive_](const error_code& ec, std::size_t n) {
                                if (!*alive) return;
                                if (n > 0) self->input_.append(std::string_view(self->idle_read_.data(), n));
                                if (n == self->idle_read_.size()) self->read_available();  // likely more behind
                                if (ec && n == 0) return self->fill_failed(ec);
                                if (self->input_.size() >= self->fill_want_) return self->finish_fill({});
                                self->read_more();
                              }));
      return;
    }
    read_more_now();
  }

  // After a read that filled its room: what else already waits (the rest of a pipelined batch
  // or of a long message), read now without blocking until a read comes back short (the socket
  // is drained) or kReadBudget bytes are in. The fill then ends with all of it rather than with
  // a part: a proxy would forward each part in a send (and a TCP segment) of its own, and a
  // server would go round Asio's queue once more per part. An error or the end of the stream is
  // left for the next read, which sees it again.
  void read_available() {
    std::size_t budget = kReadBudget;
    for (;;) {
      std::span<char> room = input_.reserve(1);
      ssize_t got = ::recv(socket_.native_handle(), room.data(), room.size(), MSG_DONTWAIT);
      if (got <= 0) return;
      const auto n = static_cast<std::size_t>(got);
      input_.commit(n);
      if (n < room.size() || n >= budget) return;
      budget -= n;
    }
  }

  void read_more_now() {
    std::span<char> room = input_.reserve(1);
    socket_.async_read_some(asio::buffer(room.data(), room.size()),
                            pooled([self = this, alive = alive_, room = room.size()](const error_code& ec, std::size_t n) {
                              if (!*alive) return;
                              if (n > 0) self->input_.commit(n);
                              if (n == room) self->read_available();  // likely more behind
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
  std::error_code write_error_;  // the socket's write failed (EPIPE, reset): every later flush fails
  bool shutting_down_ = false;
  bool closed_ = false;
  std::string peer_;
  std::string local_;
  std::array<char, 512> idle_read_;  // the idle wait's read (read_more): part of the connection, not a pooled buffer
};

}  // namespace khz::transport
