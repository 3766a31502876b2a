// SPDX-License-Identifier: Apache-2.0
// Private to transport/asio/: what the Asio backend's files share (Asio types stay in asio/):
// the stream protocol, error mapping, pooled operation memory, buffer views, socket helpers.
#pragma once

#include <utility>  // before Asio's coroutine headers (GCC 12 + Boost 1.74)

#include <khz/transport/error.h>

#include "backend_support.h"
#include "listen_socket.h"

#include <boost/asio.hpp>

#include <fcntl.h>

#include <cstddef>
#include <string>
#include <system_error>

namespace khz::transport {

namespace asio = boost::asio;
// The generic stream protocol: one socket type for TCP and Unix domain sockets alike.
using stream = asio::generic::stream_protocol;
using boost::system::error_code;

inline std::error_code to_std(const error_code& ec) {
  if (ec == asio::error::eof) return errc::eof;
  if (ec == asio::error::operation_aborted) return errc::cancelled;
  return std::error_code(ec.value(), std::system_category());
}

// ---- operation memory
// Every asynchronous operation allocates a block for its handler. Boost 1.74 recycles one
// block per thread, which a request (wait, receive, send) overruns; these pools keep every
// block on the loop thread that freed it, so a busy connection allocates nothing per request.

// Operation memory from the calling loop thread's pool (asio_support.cc).
void* allocate_op(std::size_t size);
void deallocate_op(void* p, std::size_t size) noexcept;

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
inline void set_cloexec(int fd) noexcept {
  int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) (void)::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

inline std::string format_endpoint(const stream::endpoint& ep) {
  return format_address(ep.data(), static_cast<socklen_t>(ep.size()));
}

}  // namespace khz::transport
