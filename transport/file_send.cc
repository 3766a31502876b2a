// SPDX-License-Identifier: Apache-2.0
#include "file_send.h"

#include <khz/transport/error.h>

#include <pthread.h>
#include <sys/sendfile.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <ctime>

namespace khz::transport {

namespace {

// Largest sendfile(2) call: the kernel stops near 2 GiB anyway; a socket takes far less.
constexpr std::uint64_t kSendfileMax = std::uint64_t{1} << 30;

// sendfile(2) takes no MSG_NOSIGNAL: a peer gone away raises SIGPIPE, whose default action
// ends the process. The first file sent from a thread blocks SIGPIPE in that thread and leaves
// it blocked (two sigprocmask calls around every sendfile cost about 5% of a 4 KiB file
// response); a SIGPIPE a call raised is taken off the thread's pending set afterwards. The
// process-wide disposition stays the application's own; in a loop thread that has sent a file,
// a write to a broken pipe or socket is EPIPE instead of the end of the process. A thread that
// had blocked SIGPIPE itself keeps its pending signals: nothing is consumed there.
class SigpipeBlock {
 public:
  SigpipeBlock() noexcept {
    thread_local const State state = block_in_this_thread();
    consume_ = state == State::blocked_here;
  }
  // After EPIPE or a short count: takes a SIGPIPE the call raised, if any (thread-directed, so
  // pending right here); one sigtimedwait that does not wait.
  void consume() const noexcept {
    if (!consume_) return;
    const sigset_t pipe = pipe_set();
    const timespec now{};
    while (sigtimedwait(&pipe, nullptr, &now) == -1 && errno == EINTR) {
    }
  }

 private:
  enum class State { blocked_here, blocked_before };
  static sigset_t pipe_set() noexcept {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    return set;
  }
  static State block_in_this_thread() noexcept {
    const sigset_t pipe = pipe_set();
    sigset_t old;
    pthread_sigmask(SIG_BLOCK, &pipe, &old);
    return sigismember(&old, SIGPIPE) == 1 ? State::blocked_before : State::blocked_here;
  }
  bool consume_ = false;
};

}  // namespace

FileSendProgress send_file_available(int socket, int file, std::uint64_t& offset, std::uint64_t& length,
                                     std::error_code& error) noexcept {
  SigpipeBlock no_sigpipe;
  while (length != 0) {
    off_t at = static_cast<off_t>(offset);
    const auto want = static_cast<std::size_t>(std::min(length, kSendfileMax));
    const ssize_t n = ::sendfile(socket, file, &at, want);
    if (n > 0) {
      offset += static_cast<std::uint64_t>(n);
      length -= static_cast<std::uint64_t>(n);
      if (static_cast<std::size_t>(n) < want) {
        // The socket is full, or the peer went away part way: sendfile then returns what it
        // wrote and may have raised SIGPIPE all the same (its pieces go out one by one).
        no_sigpipe.consume();
        return FileSendProgress::would_block;
      }
      continue;
    }
    if (n == 0) {
      error = errc::file_truncated;
      return FileSendProgress::failed;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return FileSendProgress::would_block;
    error = std::error_code(errno, std::system_category());
    if (errno == EPIPE) no_sigpipe.consume();  // a call that wrote nothing raises it only with EPIPE
    return FileSendProgress::failed;
  }
  return FileSendProgress::done;
}

}  // namespace khz::transport
