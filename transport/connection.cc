// SPDX-License-Identifier: Apache-2.0
// Connection's default parked wait (wait_input), for connections with no callback-driven fill,
// and the bounded copy of a file queued by send_file, for connections that cannot send one.
#include <khz/common/event_loop.h>
#include <khz/transport/connection.h>
#include <khz/transport/error.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace khz::transport {

namespace {

Detached wait_then_call(Connection& conn, void (*fn)(void*), void* arg) {
  (void)co_await conn.fill(1);  // sets what fill_error() reports
  fn(arg);
}

}  // namespace

void Connection::start_input_wait(void (*fn)(void*), void* arg) {
  if (!input_.empty()) {
    // Already there: still never inline (the caller is ending its run).
    EventLoop::current()->post([fn, arg] { fn(arg); });
    return;
  }
  wait_then_call(*this, fn, arg);
}

bool Connection::start_file_copy(std::coroutine_handle<> h) {
  const FileRange file = std::exchange(file_, FileRange{});
  copy_started_ = true;
  copy_done_early_ = false;
  copy_file(file, h);
  copy_started_ = false;
  // Every flush of the copy finished at once: the caller goes on inline, as after a flush that
  // did not wait.
  return !copy_done_early_;
}

// At most one piece of the file is buffered at a time: memory stays bounded whatever its size.
// The first piece joins what output() already holds (a response's head), so a small file goes
// out with its head in one write.
Detached Connection::copy_file(FileRange file, std::coroutine_handle<> h) {
  constexpr std::uint64_t piece = 64 * 1024;
  std::error_code ec;
  for (;;) {
    if (file.length != 0) {
      const auto want = static_cast<std::size_t>(std::min(piece, file.length));
      std::span<char> room = output_.reserve(want);
      ssize_t n = ::pread(file.fd, room.data(), want, static_cast<off_t>(file.offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        ec = std::error_code(errno, std::system_category());
        break;
      }
      if (n == 0) {
        ec = errc::file_truncated;
        break;
      }
      output_.commit(static_cast<std::size_t>(n));
      file.offset += static_cast<std::uint64_t>(n);
      file.length -= static_cast<std::uint64_t>(n);
    }
    if (!output_.empty()) {
      ec = co_await flush();  // file_ is clear: a plain flush
      if (ec) break;
    }
    if (file.length == 0) break;
  }
  flush_error_ = ec;
  if (copy_started_) {
    copy_done_early_ = true;
  } else {
    h.resume();
  }
}

}  // namespace khz::transport
