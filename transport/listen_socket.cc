// SPDX-License-Identifier: Apache-2.0
#include "listen_socket.h"

#include <khz/common/log.h>
#include <khz/transport/listen.h>
#include <khz/transport/transporter.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace khz::transport {
namespace {

std::error_code last_error() noexcept { return {errno, std::system_category()}; }

constexpr std::size_t kPathOffset = offsetof(sockaddr_un, sun_path);

// A whole decimal number: false for an empty string, a sign, other bytes or overflow.
bool parse_number(std::string_view text, unsigned long& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// A Unix socket file that is already there: true when it is a socket nobody listens on (its
// server died without removing it), so it may be replaced. A connect that would wait (a full
// backlog) counts as someone listening.
bool is_stale_socket(const SocketAddress& address) {
  const char* path = reinterpret_cast<const sockaddr_un*>(&address.storage)->sun_path;
  struct stat st {};
  if (::lstat(path, &st) != 0) return errno == ENOENT;  // gone meanwhile: bind again
  if (!S_ISSOCK(st.st_mode)) {
    KHZ_LOG(error, "unix:" << path << " exists and is not a socket; not replacing it");
    return false;
  }
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe < 0) return false;
  int rc = ::connect(probe, address.get(), address.len);
  int e = errno;
  ::close(probe);
  if (rc == 0 || e == EAGAIN || e == EINPROGRESS) {
    KHZ_LOG(error, "unix:" << path << ": another server listens there");
    return false;
  }
  return e == ECONNREFUSED || e == ENOENT;
}

}  // namespace

std::string format_address(const sockaddr* addr, socklen_t len) {
  char host[INET6_ADDRSTRLEN] = {};
  if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    // By hand rather than inet_ntop, which formats each octet through sprintf: access logs and
    // rate limiters ask for every request's peer.
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    const auto* octet = reinterpret_cast<const unsigned char*>(&in->sin_addr);
    // Into a buffer, then one string of the exact size: "10.0.0.7:8080" stays within the
    // string's own storage, no allocation.
    char text[sizeof "255.255.255.255:65535"];
    char* p = text;
    char* const end = text + sizeof text;
    for (int i = 0; i < 4; ++i) {
      p = std::to_chars(p, end, static_cast<unsigned>(octet[i])).ptr;
      *p++ = i < 3 ? '.' : ':';
    }
    p = std::to_chars(p, end, static_cast<unsigned>(ntohs(in->sin_port))).ptr;
    return std::string(text, static_cast<std::size_t>(p - text));
  }
  if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    std::string out = "[";  // appended piecewise: GCC 12 warns (-Wrestrict) on "[" + string
    out.append(host).append("]:").append(std::to_string(ntohs(in6->sin6_port)));
    return out;
  }
  if (addr->sa_family == AF_UNIX) {
    std::string out = "unix:";
    if (len <= static_cast<socklen_t>(kPathOffset)) return out;  // unnamed
    const auto* un = reinterpret_cast<const sockaddr_un*>(addr);
    std::size_t n = std::min<std::size_t>(len - kPathOffset, sizeof un->sun_path);
    if (un->sun_path[0] == '\0') return out.append("@").append(un->sun_path + 1, n - 1);  // abstract
    return out.append(un->sun_path, ::strnlen(un->sun_path, n));
  }
  return {};
}

std::string listen_target(const TransporterOptions& options) {
  if (options.listen_fd >= 0) return "serving listen_fd " + std::to_string(options.listen_fd);
  return "listen on " + options.address;
}

std::uint16_t SocketAddress::port() const noexcept {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

Result<SocketAddress> unix_socket_address(std::string_view path) {
  SocketAddress out;
  auto* un = reinterpret_cast<sockaddr_un*>(&out.storage);
  // A path needs its NUL inside sun_path; an abstract name takes the leading NUL's place.
  const bool abstract = !path.empty() && path.front() == '@';
  if (path.empty() || (abstract && path.size() == 1) || path.size() >= sizeof un->sun_path ||
      path.find('\0') != std::string_view::npos) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.data(), path.size());
  if (abstract) {
    un->sun_path[0] = '\0';
    out.len = static_cast<socklen_t>(kPathOffset + path.size());
  } else {
    out.len = static_cast<socklen_t>(kPathOffset + path.size() + 1);
  }
  return out;
}

std::string_view unix_socket_path(std::string_view address) {
  constexpr std::string_view kScheme = "unix:";
  if (!address.starts_with(kScheme)) return {};
  std::string_view path = address.substr(kScheme.size());
  if (!unix_socket_address(path)) {
    throw std::invalid_argument("bad address '" + std::string(address) +
                                "': want unix:/path/to.sock or unix:@name, the path at most 107 bytes");
  }
  return path;
}

Result<SocketAddress> resolve_listen_address(std::string_view address) {
  HostPort hp;
  try {
    if (auto path = unix_socket_path(address); !path.empty()) return unix_socket_address(path);
    hp = parse_host_port(address);
  } catch (const std::invalid_argument&) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  std::string port = std::to_string(hp.port);
  if (int rc = ::getaddrinfo(hp.host.c_str(), port.c_str(), &hints, &found); rc != 0 || found == nullptr) {
    KHZ_LOG(error, "cannot resolve '" << hp.host << "': " << ::gai_strerror(rc));
    return std::make_error_code(std::errc::address_not_available);
  }
  SocketAddress out;
  out.len = static_cast<socklen_t>(std::min<std::size_t>(found->ai_addrlen, sizeof out.storage));
  std::memcpy(&out.storage, found->ai_addr, out.len);
  ::freeaddrinfo(found);
  return out;
}

ListenSocket& ListenSocket::operator=(ListenSocket&& other) noexcept {
  if (this == &other) return *this;
  close();
  fd_ = std::exchange(other.fd_, -1);
  unix_path_ = std::exchange(other.unix_path_, {});
  unix_dev_ = other.unix_dev_;
  unix_ino_ = other.unix_ino_;
  return *this;
}

Result<ListenSocket> ListenSocket::open(const SocketAddress& address, const ListenSocketOptions& options) {
  ListenSocket out;
  out.fd_ = ::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (out.fd_ < 0) return last_error();
  const int one = 1;
  if (address.family() != AF_UNIX) {
    if (::setsockopt(out.fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) return last_error();
    if (options.reuse_port && ::setsockopt(out.fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      return last_error();
    }
    if (::bind(out.fd_, address.get(), address.len) != 0) return last_error();
  } else {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&address.storage);
    const bool has_file = un->sun_path[0] != '\0';
    if (::bind(out.fd_, address.get(), address.len) != 0) {
      if (errno != EADDRINUSE || !has_file || !is_stale_socket(address)) return last_error();
      KHZ_LOG(info, "unix:" << un->sun_path << ": replacing a stale socket file");
      if (::unlink(un->sun_path) != 0 && errno != ENOENT) return last_error();
      if (::bind(out.fd_, address.get(), address.len) != 0) return last_error();
    }
    if (has_file) {
      // From here on close() removes the file, also when a step below fails.
      struct stat st {};
      if (::stat(un->sun_path, &st) != 0) return last_error();
      out.unix_path_ = un->sun_path;
      out.unix_dev_ = st.st_dev;
      out.unix_ino_ = st.st_ino;
      // Before listen(): until then a connect is refused, whatever the umask let bind create.
      if (::chmod(un->sun_path, static_cast<mode_t>(options.unix_socket_mode & 07777)) != 0) return last_error();
    }
  }
  if (::listen(out.fd_, options.backlog) != 0) return last_error();
  return out;
}

Result<ListenSocket> ListenSocket::adopt(int fd, int backlog) {
  ListenSocket out;
  out.fd_ = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (out.fd_ < 0) return last_error();
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(out.fd_, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return last_error();
  if (type != SOCK_STREAM) return std::make_error_code(std::errc::wrong_protocol_type);
  SocketAddress bound;
  bound.len = sizeof bound.storage;
  if (::getsockname(out.fd_, bound.get(), &bound.len) != 0) return last_error();
  if (bound.family() != AF_INET && bound.family() != AF_INET6 && bound.family() != AF_UNIX) {
    return std::make_error_code(std::errc::address_family_not_supported);
  }
  int listening = 0;
  len = sizeof listening;
  if (::getsockopt(out.fd_, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0) return last_error();
  if (listening == 0 && ::listen(out.fd_, backlog) != 0) return last_error();
  int flags = ::fcntl(out.fd_, F_GETFL);
  if (flags < 0 || ::fcntl(out.fd_, F_SETFL, flags | O_NONBLOCK) != 0) return last_error();
  return out;
}

int ListenSocket::release_fd() noexcept { return std::exchange(fd_, -1); }

int ListenSocket::release() noexcept {
  unix_path_.clear();
  return release_fd();
}

std::string ListenSocket::local_address() const {
  SocketAddress bound;
  bound.len = sizeof bound.storage;
  if (fd_ < 0 || ::getsockname(fd_, bound.get(), &bound.len) != 0) return {};
  return format_address(bound.get(), bound.len);
}

void ListenSocket::close() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  if (unix_path_.empty()) return;
  struct stat st {};
  if (::lstat(unix_path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == unix_dev_ &&
      st.st_ino == unix_ino_) {
    (void)::unlink(unix_path_.c_str());
  }
  unix_path_.clear();
}


Result<std::vector<InheritedSocket>> systemd_listen_fds(bool unset_environment) {
  constexpr int kFirstFd = 3;  // SD_LISTEN_FDS_START
  auto found = []() -> Result<std::vector<InheritedSocket>> {
    const char* pid_text = std::getenv("LISTEN_PID");
    const char* count_text = std::getenv("LISTEN_FDS");
    if (pid_text == nullptr || count_text == nullptr) return std::vector<InheritedSocket>{};
    unsigned long pid = 0;
    unsigned long count = 0;
    if (!parse_number(pid_text, pid) || !parse_number(count_text, count) || count > INT_MAX - kFirstFd) {
      KHZ_LOG(error, "socket activation: LISTEN_PID='" << pid_text << "' LISTEN_FDS='" << count_text
                                                       << "' are not numbers");
      return std::make_error_code(std::errc::invalid_argument);
    }
    if (pid != static_cast<unsigned long>(::getpid())) return std::vector<InheritedSocket>{};  // a parent's
    std::vector<std::string> names;
    if (const char* names_text = std::getenv("LISTEN_FDNAMES"); names_text != nullptr) {
      std::string_view rest = names_text;
      for (;;) {
        std::size_t colon = rest.find(':');
        names.emplace_back(rest.substr(0, colon));
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
      }
    }
    std::vector<InheritedSocket> sockets;
    for (int i = 0; i < static_cast<int>(count); ++i) {
      const int fd = kFirstFd + i;
      int flags = ::fcntl(fd, F_GETFD);
      if (flags < 0 || ((flags & FD_CLOEXEC) == 0 && ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0)) {
        KHZ_LOG(error, "socket activation: fd " << fd << " of LISTEN_FDS=" << count << " is not usable");
        return last_error();
      }
      sockets.push_back({.fd = fd, .name = names.size() == count ? names[i] : "unknown"});
    }
    return sockets;
  }();
  if (unset_environment) {
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
  }
  return found;
}

Result<int> open_listen_socket(std::string_view address, int backlog, unsigned unix_socket_mode) {
  auto where = resolve_listen_address(address);
  if (!where) return where.error();
  auto socket = ListenSocket::open(*where, {.backlog = backlog, .unix_socket_mode = unix_socket_mode});
  if (!socket) return socket.error();
  return socket->release();
}

}  // namespace khz::transport
