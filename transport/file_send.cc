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
// ends the process. SIGPIPE is blocked in this thread around the calls, and one the kernel
// raised is taken off the thread's pending set before the block lifts, so the process-wide
// disposition stays the application's own. A thread that already blocked SIGPIPE keeps its
// mask and its pending signals as they were.
class SigpipeBlock {
 public:
  SigpipeBlock() noexcept {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    was_blocked_ = sigismember(&old_, SIGPIPE) == 1;
  }
  ~SigpipeBlock() {
    if (!was_blocked_) pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;
  // After EPIPE or a short count: takes a SIGPIPE the call raised, if any (thread-directed, so
  // pending right here); one sigtimedwait that does not wait.
  void consume() noexcept {
    if (was_blocked_) return;
    const timespec now{};
    while (sigtimedwait(&pipe_, nullptr, &now) == -1 && errno == EINTR) {
    }
  }

 private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool was_blocked_ = false;
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
