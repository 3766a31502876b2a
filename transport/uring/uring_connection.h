// SPDX-License-Identifier: Apache-2.0
// Private to the uring backend: UringConnection, one socket on one UringLoop.
//
// Reads: one multishot receive per connection, armed when the connection opens and kept armed
// (no submission per request). The kernel picks a buffer from the loop's provided-buffer ring
// only when bytes arrive; the bytes are copied once into input() and the buffer goes straight
// back to the ring, so an idle connection holds no buffer of either kind. A fill completes when
// input() has enough. input() changes only while a fill waits (protocols keep views into it
// across other waits, as they may on every backend): bytes that arrive with no fill waiting
// (pipelining, a busy handler) are kept aside in `early_` and moved into input() by the next
// fill (a second copy, for those bytes only), up to kReadBudget, past which the receive is
// cancelled until the next fill. A receive the
// buffer ring starved (ENOBUFS) is armed again after the batch of completions that returned
// buffers. The peer's FIN or a reset ends the receive and answers a hang-up watch.
// Writes: one send (one segment) or sendmsg (several) per flush, submitted with the loop's
// next io_uring_enter; a short send goes on with what is left. The flush completes from its
// completion. A file queued by send_file follows by sendfile(2) straight from the page cache
// (no copy through user space); when the socket is full, a poll on the ring waits for room.
// Close: the send in flight (if any) is cancelled at once, so the kernel is done with output()
// before it is freed; the receive is cancelled with the next submission. The socket part the
// ring's operations point at (UringSocket) outlives the connection until their last
// completion, so a connection may be destroyed anywhere on its loop's thread.
// Threading: loop thread only.
#pragma once

#include <khz/transport/connection.h>

#include "uring/uring_loop.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>

namespace khz::transport {

class UringConnection;

// What the ring's operations of one socket point at; see the top of this file.
class UringSocket final : public Completion {
 public:
  enum : unsigned { kRecv = 1, kSend = 2, kPollOut = 3 };
  UringSocket(UringLoop& loop, int fd, UringConnection* conn) noexcept
      : loop_(loop), fd_(fd), slot_(loop.register_fd(fd)), conn_(conn) {}
  ~UringSocket();

  int fd() const noexcept { return fd_; }
  bool receiving() const noexcept { return recv_armed_ || starved_; }
  // A send or a wait for room (poll_out) in flight.
  bool sending() const noexcept { return send_inflight_ || poll_inflight_; }
  bool send_in_flight() const noexcept { return send_inflight_; }
  bool polling_out() const noexcept { return poll_inflight_; }
  void arm_recv();
  // Submits a send of `output` (one segment: send; more: sendmsg over up to kMaxIov of them).
  // `more`: a file follows (MSG_MORE: the head leaves in one segment with the file's start).
  void send(const LinkedBuffer& output, bool more);
  // Waits (a poll on the ring) until the socket has room again: after a sendfile(2) it filled.
  void poll_out();
  // The connection is gone: the socket closes now, this object after its last completion.
  void detach() noexcept;

  void on_complete(const io_uring_cqe& cqe, unsigned tag) override;
  bool on_buffers_back() override;
  void after_batch() override;
  void on_batch_end() override;

  static constexpr std::size_t kMaxIov = 64;
  struct SendState;  // from a per-thread pool while a sendmsg is in flight

 private:
  void free_if_done() noexcept;
  // The operation's target: the registered slot (IOSQE_FIXED_FILE), else the descriptor.
  void target(io_uring_sqe* s) const noexcept {
    if (slot_ >= 0) {
      s->fd = slot_;
      s->flags |= IOSQE_FIXED_FILE;
    }
  }

  UringLoop& loop_;
  int fd_;
  int slot_;  // in the ring's registered-descriptor table, or -1
  UringConnection* conn_;
  SendState* send_state_ = nullptr;  // sendmsg's header and iovecs, while one is in flight
  bool recv_armed_ = false;
  bool starved_ = false;
  bool send_inflight_ = false;
  bool poll_inflight_ = false;
  bool dispatching_ = false;
};

class UringConnection final : public Connection {
 public:
  // Takes `fd` (non-blocking, connected); `peer` may be null (asked of the socket when needed).
  UringConnection(UringLoop& loop, int fd, const sockaddr* peer, socklen_t peer_len);
  ~UringConnection() override;

  // Starts receiving (after the accept filter: nothing is read before).
  void open();

  void close() noexcept override;
  std::string peer_address() const override;
  std::string local_address() const override;

  void drain() noexcept { mark_draining(); }
  bool close_for_shutdown() noexcept {
    const bool watched = watching_hangup_;
    close();
    return watched;
  }
  void report_hangup() noexcept { hangup_detected(); }

  // ---- from UringSocket
  // `more_waiting`: the socket holds more, and the armed receive's next completion brings it.
  void on_data(const char* data, std::size_t n, bool more_waiting);
  void on_read_end(std::error_code ec);  // FIN (errc::eof) or an error: no more bytes come
  void on_sent(int res);
  void on_writable(int res);  // poll_out's completion
  // A drain found the idle connection's socket empty: still nothing came with the completions
  // that followed, so the wait ends (shutting_down).
  void drain_recheck() noexcept;
  // The batch that satisfied the fill is over: resume it.
  void batch_over();
  bool wants_recv() const noexcept { return !closed_ && !read_error_ && !recv_paused_; }

 protected:
  void start_fill(std::size_t n, std::coroutine_handle<> h) override { begin_fill(n, h); }
  bool start_flush(std::coroutine_handle<> h) override;
  bool sends_files() const noexcept override { return true; }
  void start_input_wait(void (*fn)(void*), void* arg) override { begin_fill(1, Waiter(fn, arg)); }
  void on_idle_while_draining() noexcept override;
  void start_hangup_watch() noexcept override;
  void stop_hangup_watch() noexcept override { watching_hangup_ = false; }

 private:
  void begin_fill(std::size_t n, Waiter w);
  bool socket_has_bytes() const noexcept;
  Waiter take_fill(std::error_code ec) noexcept;
  std::coroutine_handle<> take_flush(std::error_code ec) noexcept;
  // Submits output()'s send; with MSG_MORE when a queued file follows it.
  void send_output() { socket_->send(output_, file_.length != 0); }
  // A flush with output() sent: the queued file by sendfile(2) until the socket is full (then
  // poll_out), or the flush's end.
  void send_file_or_finish();
  void finish_fill_soon(std::error_code ec) noexcept { loop_.resume_soon(take_fill(ec)); }
  void finish_flush_soon(std::error_code ec) noexcept { loop_.resume_soon(take_flush(ec)); }
  static void on_read_deadline(void* self);
  static void on_write_deadline(void* self);
  static void on_room_retry(void* self);

  UringLoop& loop_;
  UringSocket* socket_;  // owned; detached (and freed once idle) by close()
  int fd_;
  bool closed_ = false;
  bool recv_paused_ = false;       // read-ahead budget spent: the receive waits for a fill
  bool fill_due_ = false;          // satisfied; completes at the end of the batch
  bool more_coming_ = false;       // satisfied, but the socket's rest follows: wait for it
  bool send_abandoned_ = false;    // the send in flight belongs to a flush that timed out
  bool watching_hangup_ = false;
  std::error_code read_error_;     // eof or the error that ended the receive
  // Received while no fill waited; allocated only then (an idle connection has none).
  std::unique_ptr<LinkedBuffer> early_;
  Waiter fill_waiter_;
  std::coroutine_handle<> flush_waiter_;
  std::size_t fill_want_ = 0;
  DeadlineTimer read_deadline_{&on_read_deadline, this};
  DeadlineTimer write_deadline_{&on_write_deadline, this};
  // A full socket whose peer half-closed: the next look for room (see on_writable).
  static constexpr Duration kRoomRetryFirst = std::chrono::milliseconds(1);
  static constexpr Duration kRoomRetryMax = std::chrono::milliseconds(8);
  DeadlineTimer room_retry_{&on_room_retry, this};
  Duration room_retry_delay_{};
  // The peer as accept or connect gave it; asked of the socket on first use after a multishot
  // accept (which returns no address).
  union PeerAddress {
    sockaddr any;
    sockaddr_in v4;
    sockaddr_in6 v6;
  };
  mutable PeerAddress peer_{};
  mutable socklen_t peer_len_ = 0;
};

std::unique_ptr<ClientLoop> make_uring_client_loop(bool on_caller);

}  // namespace khz::transport
