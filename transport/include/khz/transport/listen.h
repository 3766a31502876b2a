// SPDX-License-Identifier: Apache-2.0
// Listening sockets made outside a Transporter and handed to it (ServerOptions::listen_fd,
// TransporterOptions::listen_fd): systemd socket activation and graceful restarts.
//
//   // systemd: a .socket unit (ListenStream=8080 or ListenStream=/run/app.sock) starts the
//   // service on the first connection and passes the socket as fd 3.
//   auto inherited = khz::transport::systemd_listen_fds();
//   if (!inherited) throw std::system_error(inherited.error(), "LISTEN_FDS");
//   khz::Server server({.listen_fd = inherited->empty() ? -1 : inherited->front().fd});  // else binds .address
//
//   // Graceful restart: the process owns its listening socket and hands it to its successor,
//   // so no connection is refused while one process takes over from the other.
//   int fd = khz::transport::open_listen_socket("0.0.0.0:8080").value();
//   khz::Server server({.listen_fd = fd});
//   // on SIGHUP: start the new binary with `fd` as its fd 3 (posix_spawn_file_actions_adddup2),
//   // LISTEN_FDS=1 and LISTEN_PID=<its pid> (sh -c 'LISTEN_PID=$$ exec new-binary'), or pass
//   // the number any way the two agree on; once it answers, server.shutdown().
//
// Threading: call systemd_listen_fds early in main, before other threads start (it changes
// the environment); open_listen_socket from any thread.
#pragma once

#include <khz/common/result.h>

#include <string>
#include <string_view>
#include <vector>

namespace khz::transport {

// A listening socket passed to this process.
struct InheritedSocket {
  int fd = -1;
  std::string name{};  // from LISTEN_FDNAMES (the unit's FileDescriptorName=); "unknown" if unnamed
};

// systemd's socket activation protocol, as sd_listen_fds(3) reads it, without libsystemd: when
// LISTEN_PID is this process's pid, the LISTEN_FDS sockets starting at fd 3
// (SD_LISTEN_FDS_START), each marked close-on-exec, with their LISTEN_FDNAMES names (used only
// when their count matches). Empty when the variables are absent or meant for another process.
// `unset_environment`: removes LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES, whatever they said,
// so child processes do not take the sockets for theirs. The fds stay the caller's: a Server
// given one serves a duplicate (see ServerOptions::listen_fd).
// Errors: std::errc::invalid_argument when LISTEN_PID or LISTEN_FDS is not a number; EBADF
// when one of the announced fds is not open.
Result<std::vector<InheritedSocket>> systemd_listen_fds(bool unset_environment = true);

// Opens a listening socket on `address` ("host:port", "[v6]:port", "unix:/path", "unix:@name";
// see ServerOptions::address) the way a Server would (SO_REUSEADDR; a stale Unix socket file
// replaced; `unix_socket_mode` applied), close-on-exec, for a program that keeps it across a
// restart. The caller owns the fd and, for a Unix path, the file (nothing removes it).
// Errors: std::errc::invalid_argument (malformed address), std::errc::address_not_available
// (the host does not resolve), or the OS's (EADDRINUSE, EACCES, ...).
Result<int> open_listen_socket(std::string_view address, int backlog = 1024, unsigned unix_socket_mode = 0660);

}  // namespace khz::transport
