// SPDX-License-Identifier: Apache-2.0
// Private to the netpoll backend: NetpollConnection, one accepted socket on one NetpollLoop.
//
// Reads: a fill arms EPOLLIN (kept armed after the fill completes, dropped only when it fires
// with no fill waiting, so back-to-back requests cost no epoll_ctl) and, on readiness, reads
// ahead into input() until the fill is satisfied, the socket is drained or the per-wake-up
// budget is spent. An idle connection with nothing buffered holds no buffer node.
// Writes: a flush tries one send (sendmsg for several segments) of all of output() at once;
// when the socket takes it whole the flush is over before start_flush returns and the
// coroutine goes on inline (within the loop's per-turn budget). Only when the socket is full
// does it arm EPOLLOUT (dropped again when the flush completes). A file queued by send_file
// goes after output() by sendfile(2), on the same readiness and under the same write deadline.
// A hang-up watch (Connection::watch_hangup) adds EPOLLRDHUP, left registered afterwards until
// it fires (so a handler that watches request after request costs no epoll_ctl).
// Readiness the connection cannot use (EPOLLHUP/EPOLLERR with nothing pending) takes the
// socket out of the epoll set, so a dead idle socket cannot make the loop spin; the next
// fill or flush then finds out what happened with a direct syscall.
//
// Lifetime: owned by the transporter's per-connection task; destroyed on its loop at the end
// of the turn in which that task finished (NetpollLoop::retire).
// Threading: loop thread only.
#pragma once

#include <khz/transport/connection.h>

#include "netpoll/event_loop.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <string>

namespace khz::transport {

class NetpollConnection final : public Connection, public IoHandler {
 public:
  // Takes `fd` (non-blocking, connected); `peer` is what accept4 returned.
  NetpollConnection(NetpollLoop& loop, int fd, const sockaddr_storage& peer, socklen_t peer_len) noexcept;
  ~NetpollConnection() override;

  // Adds the socket to the loop's epoll set (EPOLLIN: nearly every handler reads first).
  std::error_code open() noexcept;

  void close() noexcept override;
  std::string peer_address() const override;
  std::string local_address() const override;

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

  void on_io(std::uint32_t events) override;

 protected:
  void start_fill(std::size_t n, std::coroutine_handle<> h) override { begin_fill(n, h); }
  bool start_flush(std::coroutine_handle<> h) override;
  bool sends_files() const noexcept override { return true; }
  // The parked wait with no coroutine: the lifecycle's callback is the fill's waiter.
  void start_input_wait(void (*fn)(void*), void* arg) override { begin_fill(1, Waiter(fn, arg)); }
  void on_idle_while_draining() noexcept override;
  void start_hangup_watch() noexcept override;
  void stop_hangup_watch() noexcept override;

 private:
  enum class Progress { done, would_block, failed };
  bool input_waiting();

  void begin_fill(std::size_t n, Waiter w);

  // Reads into input() (see the class comment); on failed, the error is in fill_error_.
  // `hangup`: the socket is dead; read to its end instead of waiting for more readiness.
  Progress read_available(bool hangup);
  // Writes output() until empty or the socket is full; on failed, the error is in flush_error_.
  Progress write_available();
  // sendmsg of the whole output chain with `flags` (MSG_NOSIGNAL, and MSG_MORE before a file).
  ssize_t send_segments(std::span<iovec> iov, int flags) const noexcept;

  // Complete an operation and return its waiter, for the caller to resume directly (from an
  // event or a deadline); the `_soon` forms resume it on a later turn (from inside start_*).
  Waiter take_fill(std::error_code ec) noexcept;
  std::coroutine_handle<> take_flush(std::error_code ec) noexcept;
  void finish_fill_soon(std::error_code ec) noexcept { loop_.resume_soon(take_fill(ec)); }
  void finish_flush_soon(std::error_code ec) noexcept { loop_.resume_soon(take_flush(ec)); }
  // start_flush's end when the flush is over before it returns: false (go on inline), or,
  // past the loop's inline budget for this turn, true after finish_flush_soon.
  bool finish_flush_now(std::error_code ec) noexcept;

  // Registers `events` with epoll (adding the socket back after a hang-up took it out).
  std::error_code set_interest(std::uint32_t events) noexcept;
  std::error_code pending_socket_error() const noexcept;

  static void on_read_deadline(void* self);
  static void on_write_deadline(void* self);

  NetpollLoop& loop_;
  int fd_;
  std::uint32_t interest_ = 0;  // the events registered with epoll
  bool registered_ = false;     // in the epoll set (false before open() and after a detach)
  bool closed_ = false;
  bool read_eof_ = false;       // the peer's FIN was read
  bool watching_hangup_ = false;  // watch_hangup() is on (EPOLLRDHUP registered)
  Waiter fill_waiter_;
  std::coroutine_handle<> flush_waiter_;
  std::size_t fill_want_ = 0;
  DeadlineTimer read_deadline_{&on_read_deadline, this};
  DeadlineTimer write_deadline_{&on_write_deadline, this};
  // Room for IPv4 or IPv6 (a sockaddr_storage would be 100 bytes more for every connection);
  // a Unix peer fits when unnamed (the usual client) or autobound, else peer_address() asks
  // getpeername. peer_len_ is what accept4 returned, which may be more than the room.
  union PeerAddress {
    sockaddr any;
    sockaddr_in v4;
    sockaddr_in6 v6;
  } peer_{};
  socklen_t peer_len_ = 0;
};

}  // namespace khz::transport
