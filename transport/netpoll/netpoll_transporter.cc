// SPDX-License-Identifier: Apache-2.0
// The netpoll backend's Transporter: one Worker per loop, each with its own SO_REUSEPORT
// listener (TCP) or watching the one shared listening socket (Unix, or one handed over;
// EPOLLEXCLUSIVE), and its registry of connections. Shutdown follows the asio backend step
// for step.
#include <khz/common/log.h>
#include <khz/transport/netpoll.h>

#include "netpoll/event_loop.h"
#include "netpoll/netpoll_connection.h"
#include "backend_support.h"
#include "drain.h"
#include "lifecycle.h"
#include "listen_socket.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

namespace khz::transport {
namespace {

using namespace std::chrono_literals;

// Connections one listener accepts per wake-up before letting its loop serve others.
constexpr int kAcceptBudget = 64;

std::error_code last_error() noexcept { return {errno, std::system_category()}; }

class NetpollTransporter;

// One loop and what lives on it. Loop thread only, except where noted.
struct Worker;

// One worker's watch on a listening socket (the transporter owns the socket: its own per
// worker, or one that every worker watches).
class Listener final : public IoHandler {
 public:
  Listener(NetpollTransporter& owner, Worker& worker) : owner_(owner), worker_(worker) {}
  ~Listener() override { close(); }

  // Before the loop starts (controlling thread): the socket and the epoll events to watch it with.
  void watch(int fd, std::uint32_t events) noexcept {
    fd_ = fd;
    events_ = events;
  }
  int fd() const noexcept { return fd_; }
  std::uint32_t events() const noexcept { return events_; }

  // Stops watching; the socket stays open until the transporter closes it.
  void close() noexcept;
  void on_io(std::uint32_t events) override;

 private:
  static void on_pause_over(void* self);

  NetpollTransporter& owner_;
  Worker& worker_;
  int fd_ = -1;
  AcceptFailures failures_;
  std::uint32_t events_ = EPOLLIN;
  DeadlineTimer pause_{&on_pause_over, this};
};

struct Worker final : Lifecycle::Host {
  explicit Worker(NetpollTransporter& owner) : transporter(owner), listener(owner, *this) {}
  void closed(std::unique_ptr<Connection> socket) noexcept override;

  NetpollTransporter& transporter;
  NetpollLoop loop;
  Listener listener;
  std::unordered_set<NetpollConnection*> connections;
};

class NetpollTransporter final : public Transporter {
 public:
  explicit NetpollTransporter(TransporterOptions options) : options_(std::move(options)) {}

  ~NetpollTransporter() override { shutdown(0ms); }

  using Transporter::start;
  Result<std::uint16_t> start(ConnectionHandler handler, AcceptFilter accept) override {
    KHZ_ASSERT(!started_);
    lifecycle_.set(std::move(handler), options_.layer);
    accept_ = std::move(accept);
    int n = options_.loops > 0 ? options_.loops : static_cast<int>(std::thread::hardware_concurrency());
    if (n <= 0) n = 1;
    for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(*this));

    auto bound = open_listeners();
    if (!bound) {
      KHZ_LOG(error, listen_target(options_) << " failed: " << bound.error().message());
      workers_.clear();
      sockets_.clear();
      return bound.error();
    }
    for (auto& w : workers_) {
      if (auto ec = w->loop.add(w->listener.fd(), w->listener.events(), &w->listener)) {
        workers_.clear();
        sockets_.clear();
        return ec;
      }
    }
    listen_address_ = sockets_.front().local_address();
    for (auto& w : workers_) {
      if (&w != &workers_.front() || !first_on_caller_) w->loop.start();
    }
    started_ = true;
    return *bound;
  }

  void shutdown(std::chrono::milliseconds drain) override {
    if (!started_ || stopped_.exchange(true)) return;
    for (auto& w : workers_) KHZ_ASSERT(EventLoop::current() != &w->loop);  // would wait on itself
    // first_loop_on_caller, and run_until_readable never came: the loop needs a thread to drain.
    if (first_on_caller_) workers_.front()->loop.ensure_running();
    for_each_worker([](Worker& w) {
      w.listener.close();
      for (auto* c : w.connections) c->drain();  // completions are queued, not resumed here
    });
    sockets_.clear();  // no loop watches them now; a Unix socket's file goes too
    finish_shutdown(mutex_, idle_, active_, drain, [this](auto fn) { for_each_worker(fn); }, workers_);
  }

  void first_loop_on_caller() override {
    KHZ_ASSERT(!started_);
    first_on_caller_ = true;
  }

  void run_until_readable(int fd) override {
    KHZ_ASSERT(started_);
    Worker& first = *workers_.front();
    first.loop.run_here_until_readable(fd);
    first.loop.ensure_running();
  }

  std::size_t active_connections() const noexcept override {
    std::lock_guard lock(mutex_);
    return active_;
  }

  std::string listen_address() const override { return listen_address_; }

  std::string_view name() const noexcept override { return "netpoll"; }

  // On `worker`'s loop: takes an accepted socket.
  void adopt(Worker& worker, int fd, const sockaddr_storage& peer, socklen_t peer_len) {
    int one = 1;
    if (peer.ss_family != AF_UNIX) (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto conn = std::make_unique<NetpollConnection>(worker.loop, fd, peer, peer_len);
    if (!accepted(accept_, *conn)) return;  // conn closes the socket, unread
    if (auto ec = conn->open()) {
      KHZ_LOG(warn, "netpoll: cannot watch a new connection: " << ec.message());
      return;  // conn closes the socket
    }
    {
      std::lock_guard lock(mutex_);
      ++active_;
    }
    worker.connections.insert(conn.get());
    if (stopped_) conn->drain();
    lifecycle_.serve(std::move(conn), worker);
  }

  // Worker::closed: on the worker's loop.
  void closed(Worker& worker, std::unique_ptr<Connection> socket) noexcept {
    auto* conn = static_cast<NetpollConnection*>(socket.release());  // the worker's own kind
    conn->close();
    worker.connections.erase(conn);
    worker.loop.retire(std::unique_ptr<IoHandler>(conn));  // destroyed at the end of this turn
    std::lock_guard lock(mutex_);
    if (--active_ == 0) idle_.notify_all();
  }

 private:
  // TCP: one SO_REUSEPORT socket per worker on the same address, the kernel spreading
  // connections over them; port 0: the first picks the port, the rest join it. Unix, and a
  // socket handed over (listen_fd): one socket (SO_REUSEPORT is TCP's; an inherited one is
  // one), which every worker watches with EPOLLEXCLUSIVE, so a connection wakes one idle loop
  // rather than all; a busy loop that finds it already taken gets EAGAIN. Returns the port (0
  // for Unix).
  Result<std::uint16_t> open_listeners() {
    if (options_.listen_fd >= 0) {
      auto socket = ListenSocket::adopt(options_.listen_fd, options_.backlog);
      if (!socket) return socket.error();
      return share_one(std::move(*socket));
    }
    auto where = resolve_listen_address(options_.address);
    if (!where) return where.error();
    SocketAddress addr = *where;
    if (addr.family() == AF_UNIX) {
      auto socket = ListenSocket::open(addr, {.backlog = options_.backlog, .unix_socket_mode = options_.unix_socket_mode});
      if (!socket) return socket.error();
      return share_one(std::move(*socket));
    }
    if (addr.port() != 0) {
      // SO_REUSEPORT would let us join another server's port silently: a plain bind first
      // fails with EADDRINUSE when anyone listens there.
      int probe = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (probe < 0) return last_error();
      int one = 1;
      (void)::setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      int rc = ::bind(probe, addr.get(), addr.len);
      std::error_code ec = rc != 0 ? last_error() : std::error_code();
      ::close(probe);
      if (ec) return ec;
    }
    for (auto& w : workers_) {
      auto socket = ListenSocket::open(addr, {.backlog = options_.backlog, .reuse_port = true});
      if (!socket) return socket.error();
      sockets_.push_back(std::move(*socket));
      w->listener.watch(sockets_.back().fd(), EPOLLIN);
      if (sockets_.size() == 1) {
        // Read the port back (it was 0 if the kernel picked it) and bind the rest to it.
        addr.len = sizeof addr.storage;
        if (::getsockname(sockets_.front().fd(), addr.get(), &addr.len) != 0) return last_error();
      }
    }
    return addr.port();
  }

  Result<std::uint16_t> share_one(ListenSocket socket) {
    sockets_.push_back(std::move(socket));
    for (auto& w : workers_) w->listener.watch(sockets_.front().fd(), EPOLLIN | EPOLLEXCLUSIVE);
    SocketAddress bound;
    bound.len = sizeof bound.storage;
    if (::getsockname(sockets_.front().fd(), bound.get(), &bound.len) != 0) return last_error();
    return bound.port();
  }

  // Runs fn on every worker's loop thread and waits for all of them. Controlling thread only.
  template <class Fn>
  void for_each_worker(Fn fn) {
    run_on_each_loop(workers_, [](Worker& w) -> EventLoop& { return w.loop; }, fn);
  }

  TransporterOptions options_;
  Lifecycle lifecycle_;
  AcceptFilter accept_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<ListenSocket> sockets_;  // one per worker (TCP) or one for all (Unix)
  std::string listen_address_;
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::size_t active_ = 0;
  std::atomic<bool> stopped_{false};
  bool started_ = false;
  bool first_on_caller_ = false;  // start() leaves the first loop to run_until_readable
};

void Worker::closed(std::unique_ptr<Connection> socket) noexcept { transporter.closed(*this, std::move(socket)); }

void Listener::close() noexcept {
  if (fd_ < 0) return;
  worker_.loop.cancel(pause_);
  worker_.loop.remove(fd_);
  fd_ = -1;
}

void Listener::on_io(std::uint32_t) {
  for (int i = 0; i < kAcceptBudget && fd_ >= 0; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      failures_.on_success();
      owner_.adopt(worker_, fd, peer, len);
      continue;
    }
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK) return;
    if (failures_.on_failure(last_error()) == AcceptFailures::Action::retry) continue;
    worker_.loop.remove(fd_);
    worker_.loop.arm(pause_, AcceptFailures::kPause);
    return;
  }
}

void Listener::on_pause_over(void* self) {
  auto* l = static_cast<Listener*>(self);
  if (l->fd_ >= 0) (void)l->worker_.loop.add(l->fd_, l->events_, l);
}

}  // namespace

std::unique_ptr<Transporter> make_netpoll_transporter(TransporterOptions options) {
  return std::make_unique<NetpollTransporter>(std::move(options));
}

}  // namespace khz::transport
