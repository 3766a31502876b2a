// SPDX-License-Identifier: Apache-2.0
// The uring backend's Transporter: one Worker per loop, each with its own SO_REUSEPORT
// listener (TCP) or a multishot accept on the one shared listening socket (Unix, or one handed
// over), and its registry of connections. Shutdown follows netpoll's step for step.
#include <khz/common/log.h>
#include <khz/transport/netpoll.h>
#include <khz/transport/uring.h>

#include "uring/uring_connection.h"
#include "uring/uring_loop.h"
#include "uring/uring_transporter.h"
#include "backend_support.h"
#include "drain.h"
#include "lifecycle.h"
#include "listen_socket.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

namespace khz::transport {
namespace {

using namespace std::chrono_literals;

std::error_code last_error() noexcept { return {errno, std::system_category()}; }

class UringTransporter;
struct Worker;

// One worker's multishot accept on a listening socket (owned by the transporter).
class Listener final : public Completion {
 public:
  Listener(UringTransporter& owner, Worker& worker) : owner_(owner), worker_(worker) {}

  void watch(int fd, int family) noexcept {
    fd_ = fd;
    family_ = family;
  }
  int fd() const noexcept { return fd_; }
  // Before the loop runs, or on it: submits the accept (with the loop's next submission).
  void arm();
  // On the loop: cancels the accept at once; the socket stays open until the transporter
  // closes it.
  void close();
  void on_complete(const io_uring_cqe& cqe, unsigned tag) override;

 private:
  static void on_pause_over(void* self);

  UringTransporter& owner_;
  Worker& worker_;
  int fd_ = -1;
  int family_ = AF_INET;
  bool armed_ = false;
  bool paused_ = false;
  AcceptFailures failures_;
  DeadlineTimer pause_{&on_pause_over, this};
};

struct Worker final : Lifecycle::Host {
  Worker(UringTransporter& owner, const UringTuning& tuning) : transporter(owner), loop(tuning), listener(owner, *this) {}
  void closed(std::unique_ptr<Connection> socket) noexcept override;

  UringTransporter& transporter;
  UringLoop loop;
  Listener listener;
  std::unordered_set<UringConnection*> connections;
};

class UringTransporter final : public Transporter {
 public:
  // Makes the loops (rings) at once, so a kernel that refuses shows here (std::system_error).
  UringTransporter(TransporterOptions options, const UringTuning& tuning) : options_(std::move(options)) {
    int n = options_.loops > 0 ? options_.loops : static_cast<int>(std::thread::hardware_concurrency());
    if (n <= 0) n = 1;
    for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(*this, tuning));
  }

  ~UringTransporter() override { shutdown(0ms); }

  using Transporter::start;
  Result<std::uint16_t> start(ConnectionHandler handler, AcceptFilter accept) override {
    KHZ_ASSERT(!started_);
    lifecycle_.set(std::move(handler), options_.layer);
    accept_ = std::move(accept);
    auto bound = open_listeners();
    if (!bound) {
      KHZ_LOG(error, listen_target(options_) << " failed: " << bound.error().message());
      sockets_.clear();
      return bound.error();
    }
    for (auto& w : workers_) w->listener.arm();  // submitted by the loop's first turn
    listen_address_ = sockets_.front().local_address();
    for (auto& w : workers_) {
      if (&w != &workers_.front() || !first_on_caller_) w->loop.start();
    }
    started_ = true;
    return *bound;
  }

  void shutdown(std::chrono::milliseconds drain) override {
    if (!started_ || stopped_.exchange(true)) return;
    for (auto& w : workers_) KHZ_ASSERT(EventLoop::current() != &w->loop);
    if (first_on_caller_) workers_.front()->loop.ensure_running();
    for_each_worker([](Worker& w) {
      w.listener.close();
      for (auto* c : w.connections) c->drain();
    });
    sockets_.clear();
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
  std::string_view name() const noexcept override { return "uring"; }

  UringStats stats() const noexcept {
    UringStats s;
    for (const auto& w : workers_) {
      s.cq_overflows += w->loop.cq_overflows();
      s.starved_receives += w->loop.starved_receives();
      s.registered_sockets += w->loop.registered_sockets();
      s.unregistered_sockets += w->loop.unregistered_sockets();
      s.incremental_loops += w->loop.incremental() ? 1 : 0;
      s.shared_buffer_receives += w->loop.shared_buffer_receives();
      s.room_waits += w->loop.room_waits();
      s.send_retries += w->loop.send_retries();
    }
    return s;
  }

  // On `worker`'s loop: takes an accepted socket.
  void adopt(Worker& worker, int fd, int family) {
    int one = 1;
    if (family != AF_UNIX) (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto conn = std::make_unique<UringConnection>(worker.loop, fd, nullptr, 0);
    if (!accepted(accept_, *conn)) return;  // conn closes the socket, unread
    conn->open();
    {
      std::lock_guard lock(mutex_);
      ++active_;
    }
    worker.connections.insert(conn.get());
    if (stopped_) conn->drain();
    lifecycle_.serve(std::move(conn), worker);
  }

  void closed(Worker& worker, std::unique_ptr<Connection> socket) noexcept {
    auto* conn = static_cast<UringConnection*>(socket.get());  // the worker's own kind
    conn->close();
    worker.connections.erase(conn);
    worker.loop.retire(std::move(socket));  // destroyed at the end of this turn
    std::lock_guard lock(mutex_);
    if (--active_ == 0) idle_.notify_all();
  }

 private:
  // As netpoll: TCP gets one SO_REUSEPORT socket per worker (port 0: the first picks it, a
  // fixed port is probed with a plain bind first); Unix and a handed-over socket are one
  // socket that every worker's multishot accept waits on.
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
      w->listener.watch(sockets_.back().fd(), addr.family());
      if (sockets_.size() == 1) {
        addr.len = sizeof addr.storage;
        if (::getsockname(sockets_.front().fd(), addr.get(), &addr.len) != 0) return last_error();
      }
    }
    return addr.port();
  }

  Result<std::uint16_t> share_one(ListenSocket socket) {
    sockets_.push_back(std::move(socket));
    SocketAddress bound;
    bound.len = sizeof bound.storage;
    if (::getsockname(sockets_.front().fd(), bound.get(), &bound.len) != 0) return last_error();
    for (auto& w : workers_) w->listener.watch(sockets_.front().fd(), bound.family());
    return bound.port();
  }

  template <class Fn>
  void for_each_worker(Fn fn) {
    run_on_each_loop(workers_, [](Worker& w) -> EventLoop& { return w.loop; }, fn);
  }

  TransporterOptions options_;
  Lifecycle lifecycle_;
  AcceptFilter accept_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<ListenSocket> sockets_;
  std::string listen_address_;
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::size_t active_ = 0;
  std::atomic<bool> stopped_{false};
  bool started_ = false;
  bool first_on_caller_ = false;
};

void Worker::closed(std::unique_ptr<Connection> socket) noexcept { transporter.closed(*this, std::move(socket)); }

void Listener::arm() {
  if (fd_ < 0 || armed_) return;
  io_uring_sqe* s = worker_.loop.sqe();
  io_uring_prep_multishot_accept(s, fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  UringLoop::set_target(s, this, 1);
  armed_ = true;
}

void Listener::close() {
  if (fd_ < 0) return;
  worker_.loop.cancel(pause_);
  if (armed_) worker_.loop.cancel(this, 1, true);  // before the transporter closes the socket
  fd_ = -1;
}

void Listener::on_complete(const io_uring_cqe& cqe, unsigned) {
  const bool more = (cqe.flags & IORING_CQE_F_MORE) != 0;
  if (!more) armed_ = false;
  if (fd_ < 0) return;  // closed; a connection accepted meanwhile is closed with it
  if (cqe.res >= 0) {
    failures_.on_success();
    owner_.adopt(worker_, cqe.res, family_);
  } else if (cqe.res != -ECANCELED &&
             failures_.on_failure(std::error_code(-cqe.res, std::system_category())) == AcceptFailures::Action::pause) {
    // Out of descriptors: the accept rests, rather than failing over and over.
    if (armed_) worker_.loop.cancel(this, 1, false);
    paused_ = true;
    worker_.loop.arm(pause_, AcceptFailures::kPause);
    return;
  }
  if (!armed_ && !paused_) arm();
}

void Listener::on_pause_over(void* self) {
  auto* l = static_cast<Listener*>(self);
  l->paused_ = false;
  if (l->fd_ >= 0) l->arm();
}

}  // namespace

std::unique_ptr<Transporter> make_uring_transporter(TransporterOptions options, const UringTuning& tuning) {
  std::string why = uring_refusal();
  if (why.empty()) {
    try {
      return std::make_unique<UringTransporter>(options, tuning);
    } catch (const std::system_error& e) {
      why = e.what();
    }
  }
  KHZ_LOG(warn, "uring: io_uring unavailable (" << why << "); using netpoll");
  return make_netpoll_transporter(std::move(options));
}

std::unique_ptr<Transporter> make_uring_transporter(TransporterOptions options) {
  return make_uring_transporter(std::move(options), UringTuning{});
}

UringStats uring_stats(const Transporter& t) {
  const auto* u = dynamic_cast<const UringTransporter*>(&t);
  return u != nullptr ? u->stats() : UringStats{};
}

}  // namespace khz::transport
