// SPDX-License-Identifier: Apache-2.0
// khz::transport::Transporter: listens, runs N event loops and hands every accepted connection
// to a handler coroutine on that connection's loop. Backends are chosen by name.
//
//   auto t = khz::transport::make_transporter("netpoll", {.address = "127.0.0.1:0", .loops = 2});
//   auto port = t->start([](khz::transport::Connection& c) { return serve(c); });
//   ...
//   t->run_until_readable(stop_fd);          // optional: lend this thread to the loops until stop_fd is readable
//   t->shutdown(std::chrono::seconds(5));   // stop accepting, drain, close, join
//
// Lifecycle: start() once; shutdown() once (also run by the destructor). The handler's Task
// owns nothing of the Connection: the transporter keeps it alive until the Task completes.
// Threading: start() and shutdown() from one controlling thread; handlers run on loop threads.
//
// A connection's life, one way, the same on every backend (transport/lifecycle.cc runs it):
//
//   accepted        the backend accepts the socket on the loop that will serve it
//     |  AcceptFilter (start's `accept`): false closes it unread
//   admitted
//     |  TransporterOptions::layer, if set (TLS): open() runs the handshake; failure closes
//   first bytes     the handler runs once, on the outermost connection (the TLS one over TLS);
//     |             it may wait for bytes, or park at once to wait with no coroutine
//   protocol chosen the handler's admission (connection limit) and choice (ALPN, preface)
//     |             happen here, once; the chosen protocol serves the connection
//   served  <---------------------------+
//     |  handler's Task ends: parked?   |
//   parked          no coroutine; an idle fill(1) bounded by the read timeout; a graceful
//     |             shutdown ends it at once
//   resumed         input arrived: park(next) runs next.resume(conn) -- the protocol that
//     |             parked it, not the handler; park() runs the handler again (resumed())
//     +-------------------------------------+
//   closed          the Task ended without parking, or the wait failed: the layer's close()
//                   (TLS close_notify), then the socket closes and the connection is counted out
#pragma once

#include <khz/common/result.h>
#include <khz/common/task.h>
#include <khz/transport/connection.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace khz::transport {

using ConnectionHandler = std::function<Task<void>(Connection&)>;
// Decides on a connection just accepted: true serves it, false closes it (see start()).
using AcceptFilter = std::function<bool(Connection&)>;

// What the transporter puts around every accepted connection before its handler runs: TLS
// (<khz/transport/tls.h>, tls_server_layer). Immutable and shared by every loop.
class ConnectionLayer {
 public:
  virtual ~ConnectionLayer() = default;
  // The layered connection over `inner` (which outlives it), ready for the handler (the
  // handshake done); null when it could not be opened (the layer logs why) and the
  // connection closes. On the connection's loop.
  virtual Task<std::unique_ptr<Connection>> open(Connection& inner) const = 0;
  // Ends what open() returned before the socket closes (TLS: close_notify). No fill or flush
  // is outstanding on it.
  virtual Task<void> close(Connection& layered) const = 0;
};

struct TransporterOptions {
  // "host:port" or "[v6]:port" (port 0 picks a free one), or a Unix domain socket:
  // "unix:/path/to.sock" (a stale socket file left by a dead server is replaced, a live one or
  // any other file is not; the file is removed at shutdown) or "unix:@name" (Linux's abstract
  // namespace: no file).
  std::string address = "0.0.0.0:8888";
  int loops = 0;                     // event loops (threads); 0 = one per core
  int backlog = 1024;
  unsigned unix_socket_mode = 0660;  // permission bits of a "unix:/path" socket file
  // >= 0: serve this listening socket (TCP or Unix, SOCK_STREAM) instead of binding `address`:
  // one inherited from systemd or a parent process (<khz/transport/listen.h>). The transporter
  // serves a duplicate of it and closes only that at shutdown; `listen_fd` stays the caller's
  // (and, being the same open socket, keeps it listening until closed). Its file description
  // is made non-blocking; listen(backlog) is called if it is bound but not listening. Every
  // loop shares the one socket (netpoll: EPOLLEXCLUSIVE), and a Unix socket's file is never
  // removed. -1: bind `address`.
  int listen_fd = -1;
  // Set: every connection is served through this layer (TLS); null: plain bytes.
  std::shared_ptr<const ConnectionLayer> layer{};
};

class Transporter {
 public:
  virtual ~Transporter() = default;

  // Binds and listens, starts the loop threads, and returns the bound port (0 for a Unix
  // socket). `accept`, if set, is asked once about every accepted connection, on the loop that
  // would serve it, before anything else is done with it (no byte read; netpoll: not even in
  // its epoll set yet) and before the handler first runs (a parked connection's later runs do
  // not ask again); false, or an exception (logged), closes the connection at once and the
  // handler never sees it.
  virtual Result<std::uint16_t> start(ConnectionHandler handler, AcceptFilter accept) = 0;
  Result<std::uint16_t> start(ConnectionHandler handler) { return start(std::move(handler), nullptr); }

  // Where start() listens: "127.0.0.1:41234" (the port the kernel picked for port 0),
  // "[::]:8080", "unix:/run/app.sock", "unix:@name"; "" before start(). Controlling thread.
  virtual std::string listen_address() const = 0;

  // Before start(), by a caller that will call run_until_readable right after it: the netpoll
  // backend then gives its first loop no thread at all, and the caller's thread runs it from
  // the start (its connections wait in the listen backlog until then). A one-loop server that
  // never creates a thread keeps glibc and libstdc++ on their single-threaded paths: system
  // calls without cancellation-point bookkeeping, shared_ptr counts without atomic
  // instructions. Other backends ignore it.
  virtual void first_loop_on_caller() {}

  // Stops accepting; ends idle connections at once; lets the others finish until `drain`
  // passes, then closes them; wakes sleeping timers; joins the loop threads. Idempotent.
  virtual void shutdown(std::chrono::milliseconds drain) = 0;

  // Blocks the calling thread until `fd` is readable (Server::spin passes a signalfd). The
  // netpoll backend runs its first loop on this thread meanwhile, so a one-loop server process
  // has a single thread, whose socket calls the kernel serves without reference-counting a
  // shared file table. Returns with every loop running on its own thread again. Between
  // start() and shutdown() (which another thread may call meanwhile); not from a loop thread.
  virtual void run_until_readable(int fd) = 0;

  // Connections whose handler has not finished yet. Thread-safe.
  virtual std::size_t active_connections() const noexcept = 0;

  virtual std::string_view name() const noexcept = 0;
};

// Makes a transporter by backend name ("netpoll", "asio"; "" means $KHZ_TRANSPORT, else the
// default: netpoll).
// Throws std::invalid_argument for an unknown name.
std::unique_ptr<Transporter> make_transporter(std::string_view name, TransporterOptions options);

// Names of the backends this build has, the default first.
std::vector<std::string> transporter_names();

// Splits "host:port" / "[v6]:port"; throws std::invalid_argument when malformed.
struct HostPort { std::string host; std::uint16_t port; };
HostPort parse_host_port(std::string_view address);

// The socket path of a Unix domain socket address: "unix:/run/app.sock" -> "/run/app.sock",
// "unix:@name" -> "@name" (abstract); "" when `address` does not start with "unix:". Throws
// std::invalid_argument when the path is empty or longer than 107 bytes. The view is into
// `address`.
std::string_view unix_socket_path(std::string_view address);

}  // namespace khz::transport
