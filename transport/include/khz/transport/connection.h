// SPDX-License-Identifier: Apache-2.0
// khz::transport::Connection: one accepted (or dialled) byte stream, seen through two
// LinkedBuffers. Backends (asio, netpoll) and decorators (TLS, <khz/transport/tls.h>) implement
// the two primitives.
//
//   khz::Task<> echo(khz::transport::Connection& conn) {
//     for (;;) {
//       if (auto ec = co_await conn.fill(1)) co_return;          // eof, timeout, ...
//       conn.input().for_each_segment([&](std::string_view s) { conn.output().append(s); });
//       conn.input().skip(conn.input().size());
//       conn.input().release();
//       if (auto ec = co_await conn.flush()) co_return;
//     }
//   }
//
// fill(n) completes when input().size() >= n, or with an error (errc::eof, timed_out, cancelled,
// shutting_down, or the OS error). flush() writes everything in output() (one writev where the
// OS allows) and completes when output() is empty, or with an error.
// send_file(fd, offset, length) queues a range of an open file behind what output() holds; the
// next flush() sends it after those bytes: sendfile(2) on a plaintext netpoll socket (no copy
// through user space), else a bounded copy (pread into output() one 64 KiB piece at a time,
// each flushed before the next is read: TLS encrypts it, asio writes it). One file at a time:
// until that flush completes, append nothing more to output() and queue no other file; the
// caller keeps `fd` open until then. A file shorter than offset + length ends the flush with
// errc::file_truncated (the peer then has part of a body: close the connection).
// Deadlines: the read timeout bounds each fill, the write timeout each flush; zero disables.
// Threading: used from its loop's thread only; not thread-safe. At most one fill and one flush
// may be outstanding at a time.
#pragma once

#include <khz/common/linked_buffer.h>
#include <khz/common/task.h>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace khz::transport {

class Connection;

// The protocol that owns a parked connection (Connection::park(Resumable&)): the transporter
// serves the connection again through resume() once input arrives, without running the
// connection handler (and its admission) again. A server-wide object: it must outlive every
// connection it parks. Called on the connection's loop.
class Resumable {
 public:
  // `conn` has at least one byte in input() (decrypted, over TLS).
  virtual Task<void> resume(Connection& conn) = 0;

 protected:
  ~Resumable() = default;
};

class Connection {
 public:
  using Duration = std::chrono::steady_clock::duration;

  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  LinkedBuffer& input() noexcept { return input_; }
  LinkedBuffer& output() noexcept { return output_; }

  struct [[nodiscard]] IoAwaiter {
    Connection& conn;
    bool is_fill;
    std::size_t want;
    bool await_ready() const noexcept {
      return is_fill ? conn.input_.size() >= want : conn.output_.empty() && conn.file_.length == 0;
    }
    // false: the flush finished at once and the coroutine goes on without suspending.
    bool await_suspend(std::coroutine_handle<> h) {
      if (!is_fill) return conn.file_.length != 0 && !conn.sends_files() ? conn.start_file_copy(h) : conn.start_flush(h);
      conn.start_fill(want, h);
      return true;
    }
    std::error_code await_resume() const noexcept { return is_fill ? conn.fill_error_ : conn.flush_error_; }
  };
  IoAwaiter fill(std::size_t n) noexcept { fill_error_.clear(); return {*this, true, n}; }
  IoAwaiter flush() noexcept { flush_error_.clear(); return {*this, false, 0}; }

  // See the top of this file. A zero length queues nothing.
  void send_file(int fd, std::uint64_t offset, std::uint64_t length) noexcept {
    file_ = FileRange{fd, offset, length};
  }

  void set_read_timeout(Duration d) noexcept { read_timeout_ = d; }
  void set_write_timeout(Duration d) noexcept { write_timeout_ = d; }
  Duration read_timeout() const noexcept { return read_timeout_; }
  Duration write_timeout() const noexcept { return write_timeout_; }

  // While idle (waiting for a new request with nothing buffered), a graceful shutdown ends a
  // pending fill with errc::shutting_down instead of waiting for the drain deadline.
  // A decorator (TLS) passes idleness down to the connection it wraps.
  void set_idle(bool idle) noexcept {
    idle_ = idle;
    if (inner_ != nullptr) inner_->set_idle(idle);
    if (idle && draining_) on_idle_while_draining();
  }
  bool is_idle() const noexcept { return idle_; }
  // True once the transporter started a graceful shutdown: finish the exchange in hand, then close.
  // A decorator reads it through from the connection it wraps (the one the transporter marks).
  bool is_draining() const noexcept { return draining_ || (inner_ != nullptr && inner_->is_draining()); }

  // Ends the handler without ending the connection (the "parked" row of the lifecycle table
  // in transporter.h). Once the handler's Task completes, the transporter waits for input as an
  // idle fill(1) would (the read timeout bounds the wait; a graceful shutdown ends it), with no
  // coroutine alive, and then serves the connection again: park(next) through next.resume(),
  // park() through the connection handler (resumed() is then true). If the wait ends otherwise,
  // the connection closes. An idle keep-alive connection parked so costs its Connection object
  // and nothing else.
  void park(Resumable& next) noexcept {
    parked_ = true;
    resume_with_ = &next;
  }
  void park() noexcept {
    parked_ = true;
    resume_with_ = nullptr;
  }
  // True while the connection handler runs again for a connection parked by park(): the
  // handler chose its protocol on an earlier run.
  bool resumed() const noexcept { return resumed_; }

  // ---- for transporters (the lifecycle in transporter.h; transport/lifecycle.cc)
  // Whether the handler parked the connection (and clears it); `next` is what park(next)
  // named, or null for park().
  bool take_parked(Resumable*& next) noexcept {
    const bool p = parked_;
    parked_ = false;
    next = std::exchange(resume_with_, nullptr);
    return p;
  }
  void set_resumed(bool resumed) noexcept { resumed_ = resumed; }
  // The parked wait: like an idle fill(1), but calls fn(arg) on the loop when it is over,
  // never inline and with no coroutine of the caller's; fill_error() then says how it ended.
  void wait_input(void (*fn)(void*), void* arg) {
    fill_error_.clear();
    start_input_wait(fn, arg);
  }
  std::error_code fill_error() const noexcept { return fill_error_; }

  // The application protocol a layer negotiated for this connection (TLS ALPN: "h2",
  // "http/1.1"); "" when none. View valid while the connection lives.
  virtual std::string_view negotiated_protocol() const noexcept { return {}; }
  // True when this connection is TLS (the TLS decorator, or one wrapping it): a server's
  // request came over https.
  virtual bool is_tls() const noexcept { return false; }

  // Hang-up watch, for a server whose handler is busy and not reading: calls fn(arg) once, on
  // this connection's loop, when the peer closes (FIN) or resets the connection; then the watch
  // is over. Arm it only while the peer has nothing left to send (a request is in hand): a peer
  // that half-closes after its request counts as gone. A decorator (TLS) watches the socket it
  // wraps. Backends: netpoll watches EPOLLRDHUP; asio waits for readability and looks (peek,
  // TCP state), and ends the watch without a call when request bytes arrive instead (pipelining).
  // Arming again replaces fn/arg. Calls fn inline when the peer is known to be gone already.
  void watch_hangup(void (*fn)(void*), void* arg) noexcept {
    const bool armed = hangup_fn_ != nullptr;
    hangup_fn_ = fn;
    hangup_arg_ = arg;
    if (armed) return;
    if (inner_ != nullptr) inner_->watch_hangup(&Connection::forward_hangup, this); else start_hangup_watch();
  }
  void unwatch_hangup() noexcept {
    if (hangup_fn_ == nullptr) return;
    hangup_fn_ = nullptr;
    if (inner_ != nullptr) inner_->unwatch_hangup(); else stop_hangup_watch();
  }

  // Closes the socket; outstanding operations complete with errc::cancelled. Idempotent.
  virtual void close() noexcept = 0;
  virtual std::string peer_address() const = 0;
  virtual std::string local_address() const = 0;

 protected:
  Connection() = default;
  // Decorators: `inner` carries this connection's bytes (see set_idle, is_draining).
  explicit Connection(Connection* inner) noexcept : inner_(inner) {}

  // Backends: start the operation and later (never inline) set fill_error_/flush_error_ and
  // resume `h` on this connection's loop. start_flush returns true then; it may instead finish
  // before it returns (everything written, or an error, with no wait): it sets flush_error_,
  // forgets `h` and returns false, and the coroutine goes on without a trip through the loop
  // (so what it frees, it frees before the loop serves the next connection).
  virtual void start_fill(std::size_t n, std::coroutine_handle<> h) = 0;
  virtual bool start_flush(std::coroutine_handle<> h) = 0;
  // A backend that sends a queued file itself (file_, after output()) says so; its start_flush
  // then writes output() and the file, and clears file_ once the flush is over (either way).
  // Otherwise the flush copies the file through output() (start_file_copy).
  virtual bool sends_files() const noexcept { return false; }
  // wait_input's wait. The default runs a small coroutine that awaits fill(1); backends that
  // can wait with a plain callback (netpoll) override it so a parked connection holds no frame.
  virtual void start_input_wait(void (*fn)(void*), void* arg);
  // Called when the connection is idle and draining: cancel a pending fill with shutting_down.
  virtual void on_idle_while_draining() noexcept = 0;
  // Hang-up watch (see watch_hangup): start watching the socket, stop; on a hang-up, call
  // hangup_detected(). The defaults never detect one.
  virtual void start_hangup_watch() noexcept {}
  virtual void stop_hangup_watch() noexcept {}
  void hangup_detected() noexcept {
    auto fn = hangup_fn_;
    void* arg = hangup_arg_;
    if (fn == nullptr) return;
    unwatch_hangup();
    fn(arg);
  }

  void mark_draining() noexcept { draining_ = true; if (idle_) on_idle_while_draining(); }

  // A file range queued by send_file; length 0: none.
  struct FileRange {
    int fd = -1;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
  };

  LinkedBuffer input_;
  LinkedBuffer output_;
  FileRange file_;
  std::error_code fill_error_;
  std::error_code flush_error_;
  Duration read_timeout_{};
  Duration write_timeout_{};
  bool idle_ = false;
  bool draining_ = false;
  bool parked_ = false;
  bool resumed_ = false;

 private:
  static void forward_hangup(void* self) noexcept { static_cast<Connection*>(self)->hangup_detected(); }
  // The bounded copy of a queued file (connection.cc): flushes output(), then the file in pieces.
  bool start_file_copy(std::coroutine_handle<> h);
  Detached copy_file(FileRange file, std::coroutine_handle<> h);

  bool copy_started_ = false;    // start_file_copy is on the stack
  bool copy_done_early_ = false;  // and the copy finished before it returned

  Connection* inner_ = nullptr;  // a decorator's wrapped connection; null for a socket
  Resumable* resume_with_ = nullptr;  // park(next)
  void (*hangup_fn_)(void*) = nullptr;
  void* hangup_arg_ = nullptr;
};

}  // namespace khz::transport
