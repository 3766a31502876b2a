// SPDX-License-Identifier: Apache-2.0
// The Boost.Asio backend's Transporter: one AsioLoop per thread, one acceptor on the first
// handing connections round-robin to the loops. Asio types stay in transport/asio/.
#include <utility>  // before Asio's coroutine headers (GCC 12 + Boost 1.74)

#include <khz/common/event_loop.h>
#include <khz/common/log.h>
#include <khz/transport/asio.h>
#include <khz/transport/error.h>

#include "asio/asio_connection.h"
#include "asio/asio_loop.h"
#include "asio/asio_support.h"
#include "backend_support.h"
#include "lifecycle.h"
#include "listen_socket.h"

#include <boost/asio.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

namespace khz::transport {
namespace {

class AsioTransporter final : public Transporter, private Lifecycle::Host {
 public:
  explicit AsioTransporter(TransporterOptions options) : options_(std::move(options)) {
    int n = options_.loops > 0 ? options_.loops : static_cast<int>(std::thread::hardware_concurrency());
    if (n <= 0) n = 1;
    for (int i = 0; i < n; ++i) loops_.push_back(std::make_unique<AsioLoop>());
  }

  ~AsioTransporter() override {
    shutdown(std::chrono::milliseconds(0));
    if (stopping_fd_ >= 0) ::close(stopping_fd_);
  }

  // The loops keep their threads; this one just waits, for `fd` or for shutdown() to begin.
  void run_until_readable(int fd) override {
    pollfd waits[2] = {{fd, POLLIN, 0}, {stopping_fd_, POLLIN, 0}};
    while (::poll(waits, stopping_fd_ >= 0 ? 2 : 1, -1) < 0 && errno == EINTR) {
    }
  }

  using Transporter::start;
  Result<std::uint16_t> start(ConnectionHandler handler, AcceptFilter accept) override {
    lifecycle_.set(std::move(handler), options_.layer);
    accept_ = std::move(accept);
    auto port = open_listener();
    if (!port) {
      KHZ_LOG(error, listen_target(options_) << " failed: " << port.error().message());
      acceptor_.reset();
      listen_socket_.close();
      return port.error();
    }
    for (auto& loop : loops_) loop->run();
    started_ = true;
    asio::post(loops_[0]->io(), [this] { accept_next(); });
    return port;
  }

  void shutdown(std::chrono::milliseconds drain) override {
    if (!started_ || stopped_.exchange(true)) return;
    if (stopping_fd_ >= 0) {
      std::uint64_t one = 1;
      ssize_t r = ::write(stopping_fd_, &one, sizeof one);
      (void)r;
    }
    asio::post(loops_[0]->io(), [this] {
      error_code ec;
      if (acceptor_) acceptor_->close(ec);
      if (accept_pause_) accept_pause_->cancel();
      listen_socket_.close();  // a Unix socket's file goes now
    });
    for_each_loop([](AsioLoop& loop) {
      for (auto* c : loop.connections()) c->drain();
    });
    std::unique_lock lock(mutex_);
    if (!idle_.wait_for(lock, drain, [this] { return active_ == 0; })) {
      KHZ_LOG(warn, "drain deadline passed with " << active_ << " connection(s) still busy; closing them");
      lock.unlock();
      for_each_loop([](AsioLoop& loop) {
        std::vector<AsioConnection*> watched;
        for (auto* c : loop.connections()) {
          if (c->close_for_shutdown()) watched.push_back(c);
        }
        for (auto* c : watched) c->report_hangup();
        loop.wake_sleepers();
      });
      lock.lock();
      while (!idle_.wait_for(lock, std::chrono::seconds(5), [this] { return active_ == 0; })) {
        KHZ_LOG(warn, active_ << " connection handler(s) still running after close; waiting");
        lock.unlock();
        for_each_loop([](AsioLoop& loop) { loop.wake_sleepers(); });
        lock.lock();
      }
    }
    lock.unlock();
    // Coroutines still asleep on a loop that no connection owns (a middleware's background
    // timer, a per-loop keeper) end now, as sleep_for promises at shutdown: the loops would
    // otherwise stop with their frames suspended.
    for_each_loop([](AsioLoop& loop) { loop.wake_sleepers(); });
    // Acceptor and any leftover handlers die on the loops' threads before they stop.
    for_each_loop([this](AsioLoop& loop) {
      if (&loop == loops_[0].get()) {
        acceptor_.reset();
        accept_pause_.reset();
      }
    });
    for (auto& loop : loops_) loop->stop_and_join();
  }

  std::size_t active_connections() const noexcept override {
    std::lock_guard lock(mutex_);
    return active_;
  }

  std::string listen_address() const override { return listen_address_; }

  std::string_view name() const noexcept override { return "asio"; }

 private:
  // The listening socket as every backend opens or adopts it (listen_socket.h), given to an
  // acceptor on loop 0; listen_socket_ keeps what closing must undo (a Unix socket's file).
  // Returns the port (0 for Unix).
  Result<std::uint16_t> open_listener() {
    auto socket = [this]() -> Result<ListenSocket> {
      if (options_.listen_fd >= 0) return ListenSocket::adopt(options_.listen_fd, options_.backlog);
      auto where = resolve_listen_address(options_.address);
      if (!where) return where.error();
      return ListenSocket::open(*where, {.backlog = options_.backlog, .unix_socket_mode = options_.unix_socket_mode});
    }();
    if (!socket) return socket.error();
    listen_socket_ = std::move(*socket);
    SocketAddress bound;
    bound.len = sizeof bound.storage;
    if (::getsockname(listen_socket_.fd(), bound.get(), &bound.len) != 0) {
      return std::error_code(errno, std::system_category());
    }
    listen_address_ = format_address(bound.get(), bound.len);
    acceptor_ = std::make_unique<Acceptor>(loops_[0]->io());
    accept_pause_ = std::make_unique<asio::steady_timer>(loops_[0]->io());
    error_code ec;
    acceptor_->assign(stream(bound.family(), bound.family() == AF_UNIX ? 0 : IPPROTO_TCP), listen_socket_.fd(), ec);
    if (ec) return std::error_code(ec.value(), std::system_category());
    (void)listen_socket_.release_fd();  // the acceptor closes it
    return bound.port();
  }

  // Runs fn on every loop's thread and waits for all of them.
  template <class Fn>
  void for_each_loop(Fn fn) {
    run_on_each_loop(loops_, [](AsioLoop& l) -> EventLoop& { return l; }, fn);
  }

  void accept_next() {
    AsioLoop& target = *loops_[next_loop_];
    next_loop_ = (next_loop_ + 1) % loops_.size();
    acceptor_->async_accept(target.io(), [this, &target](const error_code& ec, stream::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor_->is_open()) return;
      if (ec) {
        if (failures_.on_failure(std::error_code(ec.value(), std::system_category())) ==
            AcceptFailures::Action::pause) {
          // Out of descriptors: retrying at once would fail at once, a full core of it.
          accept_pause_->expires_after(AcceptFailures::kPause);
          accept_pause_->async_wait([this](const error_code& e) {
            if (!e && acceptor_ && acceptor_->is_open()) accept_next();
          });
          return;
        }
      } else {
        failures_.on_success();
        {
          std::lock_guard lock(mutex_);
          ++active_;
        }
        asio::post(target.io(), [this, &target, s = std::move(socket)]() mutable {
          auto conn = std::make_unique<AsioConnection>(std::move(s), &target);
          if (!accepted(accept_, *conn)) {
            conn.reset();  // closes the socket, unread
            std::lock_guard lock(mutex_);
            if (--active_ == 0) idle_.notify_all();
            return;
          }
          if (stopped_) conn->drain();
          lifecycle_.serve(std::move(conn), *this);
        });
      }
      accept_next();
    });
  }

  // Lifecycle::Host: on the connection's loop.
  void closed(std::unique_ptr<Connection> socket) noexcept override {
    socket->close();
    socket.reset();
    std::lock_guard lock(mutex_);
    if (--active_ == 0) idle_.notify_all();
  }

  TransporterOptions options_;
  Lifecycle lifecycle_;
  AcceptFilter accept_;
  std::vector<std::unique_ptr<AsioLoop>> loops_;
  using Acceptor = asio::basic_socket_acceptor<stream>;
  std::unique_ptr<Acceptor> acceptor_;
  ListenSocket listen_socket_;  // the socket until the acceptor has it; then the Unix file to remove
  std::string listen_address_;
  std::unique_ptr<asio::steady_timer> accept_pause_;  // loop 0's thread only, as are the next two
  AcceptFailures failures_;
  std::size_t next_loop_ = 0;
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::size_t active_ = 0;
  std::atomic<bool> stopped_{false};
  bool started_ = false;
  int stopping_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);  // readable once shutdown() begins
};

}  // namespace

std::unique_ptr<Transporter> make_asio_transporter(TransporterOptions options) {
  return std::make_unique<AsioTransporter>(std::move(options));
}

}  // namespace khz::transport
