// SPDX-License-Identifier: Apache-2.0
// Private to transport/: listening sockets as every backend opens them (TCP, Unix domain), and
// socket addresses as every backend prints them.
//
//   auto where = resolve_listen_address(options.address);        // getaddrinfo or sockaddr_un
//   auto socket = ListenSocket::open(*where, {.backlog = 1024});  // bound, listening
//   loop.add(socket->fd(), EPOLLIN, &listener);
//   ...
//   socket->close();   // also removes the Unix socket file it created, if that file is still its own
//
// Unix socket paths: a file that is already there is replaced only when it is a socket nobody
// listens on (a server that died without cleaning up); a live socket or any other file fails
// with EADDRINUSE and is left alone. The file gets its mode (chmod) between bind and listen,
// so no client can connect through a wider mode first.
// Threading: no shared state; a ListenSocket is used by one thread at a time.
#pragma once

#include <khz/common/result.h>
#include <khz/transport/transporter.h>

#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace khz::transport {

// "host:port" ("[v6]:port") for IPv4/IPv6; "unix:/path", "unix:@name" (abstract namespace) or
// "unix:" (an unnamed socket, as a client's usually is) for a Unix domain socket; "" otherwise.
std::string format_address(const sockaddr* addr, socklen_t len);

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t len = 0;
  const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() noexcept { return reinterpret_cast<sockaddr*>(&storage); }
  int family() const noexcept { return storage.ss_family; }
  std::uint16_t port() const noexcept;  // 0 for a Unix socket
};

// A Unix socket address from the part after "unix:" ("/path", "rel/path", "@abstract");
// std::errc::invalid_argument when it is empty, too long for sun_path or holds a NUL.
Result<SocketAddress> unix_socket_address(std::string_view path);

// What an address option names, ready for bind(): "unix:..." as above; "host:port" through
// getaddrinfo (AI_PASSIVE, the first result). Errors: std::errc::invalid_argument (malformed),
// std::errc::address_not_available (the host does not resolve).
Result<SocketAddress> resolve_listen_address(std::string_view address);

// For log lines: "listen on <address>", or "serving listen_fd <n>".
std::string listen_target(const TransporterOptions& options);

struct ListenSocketOptions {
  int backlog = 1024;
  bool reuse_port = false;        // TCP: SO_REUSEPORT, for one socket per loop on one port
  unsigned unix_socket_mode = 0660;  // a Unix socket file's permission bits
};

// One listening socket (non-blocking, close-on-exec) and, when it bound a Unix socket path, the
// file to remove when it closes. Move-only; the destructor closes.
class ListenSocket {
 public:
  ListenSocket() = default;
  ListenSocket(ListenSocket&& other) noexcept { *this = std::move(other); }
  ListenSocket& operator=(ListenSocket&& other) noexcept;
  ~ListenSocket() { close(); }

  // socket, SO_REUSEADDR (TCP), bind, chmod (Unix path), listen. Errors are the OS's.
  static Result<ListenSocket> open(const SocketAddress& address, const ListenSocketOptions& options);
  // A socket someone else made (TransporterOptions::listen_fd): serves a close-on-exec duplicate
  // of `fd` (so closing this never closes the caller's), puts the shared file description in
  // non-blocking mode, and calls listen(backlog) when it is bound but not listening yet. No file
  // is ever removed. Errors: EBADF, ENOTSOCK, EPROTOTYPE (not SOCK_STREAM), EAFNOSUPPORT (not
  // IPv4, IPv6 or Unix), or listen()'s.
  static Result<ListenSocket> adopt(int fd, int backlog);

  int fd() const noexcept { return fd_; }
  // Hands the socket to another owner (an Asio acceptor); close() then only removes the file.
  int release_fd() noexcept;
  // Hands over the socket and the file: close() then does nothing.
  int release() noexcept;
  // The address it is bound to (getsockname), in format_address's form.
  std::string local_address() const;
  // Closes the socket if still owned, and removes the Unix socket file it created if the path
  // still names that very file (not one a newer server bound there since). Idempotent.
  void close() noexcept;

 private:
  int fd_ = -1;
  std::string unix_path_{};  // the file bound by open(); empty for TCP and abstract sockets
  dev_t unix_dev_ = 0;
  ino_t unix_ino_ = 0;
};

}  // namespace khz::transport
