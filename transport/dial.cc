// SPDX-License-Identifier: Apache-2.0
// dial(): resolution (numeric fast path, getaddrinfo off the loop), then the backend's connect.
#include <khz/common/background_thread.h>
#include <khz/common/log.h>
#include <khz/transport/dial.h>
#include <khz/transport/error.h>

#include "backend_support.h"
#include "listen_socket.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <future>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace khz::transport {
namespace {

using Clock = std::chrono::steady_clock;

struct Address {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// A numeric IPv4/IPv6 address (brackets allowed) or "localhost"; false for a name.
bool parse_numeric(std::string_view host, std::uint16_t port, Address& out) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  char buf[INET6_ADDRSTRLEN + 1];
  if (host.empty() || host.size() >= sizeof buf) return false;
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = '\0';
  auto* in = reinterpret_cast<sockaddr_in*>(&out.addr);
  if (::inet_pton(AF_INET, buf, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    out.len = sizeof(sockaddr_in);
    return true;
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out.addr);
  if (::inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    out.len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

// One lookup shared by the dialling coroutine and the resolver thread. Whoever comes second
// (the result, or the deadline) finds `finished` set and does nothing; the thread posts to the
// loop only while the coroutine still waits, so the loop is alive when it does.
struct Lookup {
  std::string host;
  std::uint16_t port = 0;
  std::mutex mutex;
  bool finished = false;
  std::vector<Address> found;
  std::error_code error;
  std::coroutine_handle<> waiter;
  EventLoop* loop = nullptr;
};

void resolve_on_thread(std::shared_ptr<Lookup> lookup) {
  const std::string& host = lookup->host;
  const std::uint16_t port = lookup->port;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  std::vector<Address> found;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    if (a->ai_addrlen > sizeof(sockaddr_storage)) continue;
    Address addr;
    std::memcpy(&addr.addr, a->ai_addr, a->ai_addrlen);
    addr.len = static_cast<socklen_t>(a->ai_addrlen);
    found.push_back(addr);
  }
  if (res != nullptr) ::freeaddrinfo(res);
  std::lock_guard lock(lookup->mutex);
  if (lookup->finished) return;  // the dial gave up (deadline)
  lookup->finished = true;
  if (rc != 0 || found.empty()) {
    KHZ_LOG(debug, "dial: cannot resolve '" << host << "': " << ::gai_strerror(rc));
    lookup->error = std::make_error_code(std::errc::address_not_available);
  } else {
    lookup->found = std::move(found);
  }
  auto h = lookup->waiter;
  lookup->loop->post([h] { h.resume(); });
}

// Ends the lookup with timed_out unless it finished first.
void lookup_deadline(void* context) {
  auto* lookup = static_cast<Lookup*>(context);
  std::coroutine_handle<> h;
  {
    std::lock_guard lock(lookup->mutex);
    if (lookup->finished) return;
    lookup->finished = true;
    lookup->error = errc::timed_out;
    h = lookup->waiter;
  }
  h.resume();
}

// A named local of the dialling coroutine (GCC 12 mishandles non-trivial temporaries in a
// co_await expression).
struct LookupAwaiter {
  std::shared_ptr<Lookup> lookup;
  std::chrono::milliseconds timeout;
  LoopTimer deadline;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    lookup->waiter = h;
    lookup->loop = EventLoop::current();
    if (timeout.count() > 0) deadline.start(timeout, &lookup_deadline, lookup.get());
    background_thread([l = lookup] { resolve_on_thread(l); }).detach();
  }
  void await_resume() noexcept { deadline.cancel(); }
};

}  // namespace

Task<Result<std::unique_ptr<Connection>>> dial(std::string host, std::uint16_t port,
                                               std::chrono::milliseconds timeout) {
  auto* dialer = dynamic_cast<Dialer*>(EventLoop::current());
  if (dialer == nullptr) co_return std::make_error_code(std::errc::operation_not_supported);
  const auto start = Clock::now();
  if (std::string_view(host).starts_with("unix:")) {
    auto path = unix_socket_address(std::string_view(host).substr(5));
    if (!path) co_return path.error();
    co_return co_await dialer->connect_to(path->storage, path->len, timeout);
  }
  std::vector<Address> addresses(1);
  if (!parse_numeric(host, port, addresses[0])) {
    auto lookup = std::make_shared<Lookup>();
    lookup->host = host;
    lookup->port = port;
    LookupAwaiter awaiter{lookup, timeout, {}};
    co_await awaiter;
    std::lock_guard lock(lookup->mutex);
    if (lookup->error) co_return lookup->error;
    addresses = std::move(lookup->found);
  }
  std::error_code last = std::make_error_code(std::errc::address_not_available);
  for (const auto& a : addresses) {
    std::chrono::milliseconds left{0};
    if (timeout.count() > 0) {
      left = timeout - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      if (left.count() <= 0) co_return std::error_code(errc::timed_out);
    }
    auto conn = co_await dialer->connect_to(a.addr, a.len, left);
    if (conn) co_return conn;
    last = conn.error();
    if (last == errc::timed_out) break;
  }
  co_return last;
}

void Dialer::fire(LoopTimer* owner) {
  owner->handle_ = nullptr;
  owner->loop_ = nullptr;
  owner->fn_(owner->context_);
}

bool LoopTimer::start(std::chrono::milliseconds delay, Callback fn, void* context) {
  cancel();
  auto* dialer = dynamic_cast<Dialer*>(EventLoop::current());
  if (dialer == nullptr) return false;
  fn_ = fn;
  context_ = context;
  loop_ = dialer;
  handle_ = dialer->start_timer(delay, this);
  return true;
}

void LoopTimer::cancel() noexcept {
  if (handle_ == nullptr) return;
  static_cast<Dialer*>(loop_)->cancel_timer(handle_);
  handle_ = nullptr;
  loop_ = nullptr;
}

namespace {

void wake(int fd) noexcept {
  if (fd < 0) return;
  std::uint64_t one = 1;
  ssize_t r = ::write(fd, &one, sizeof one);
  (void)r;  // EAGAIN: already readable
}

Task<void> run_and_signal(std::function<Task<void>()> make_task, std::promise<void>* done, int wake_fd) {
  try {
    co_await make_task();
    done->set_value();
  } catch (...) {
    done->set_exception(std::current_exception());
  }
  wake(wake_fd);
}

}  // namespace

std::unique_ptr<ClientLoop> ClientLoop::make(std::string_view backend) {
  return find_backend(backend).make_client_loop(false);
}

std::unique_ptr<ClientLoop> ClientLoop::make_on_caller(std::string_view backend) {
  return find_backend(backend).make_client_loop(true);
}

ClientLoop::~ClientLoop() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void ClientLoop::drive_on_caller() {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::system_error(errno, std::system_category(), "eventfd");
}

void ClientLoop::run_here_until_readable(int) { KHZ_ASSERT(!"a caller-driven loop implements run_here_until_readable"); }

void ClientLoop::drive_until_woken() {
  KHZ_ASSERT(EventLoop::current() == nullptr);  // one loop per thread at a time
  run_here_until_readable(wake_fd_);
  std::uint64_t count = 0;
  ssize_t r = ::read(wake_fd_, &count, sizeof count);
  (void)r;
}

void ClientLoop::run_here(std::function<void()> fn) {
  loop().post([&fn, fd = wake_fd_] {
    fn();
    wake(fd);
  });
  drive_until_woken();
}

void ClientLoop::run(std::function<Task<void>()> make_task) {
  KHZ_ASSERT(EventLoop::current() != &loop());
  std::promise<void> done;
  auto finished = done.get_future();
  loop().post([&make_task, &done, fd = wake_fd_] { spawn(run_and_signal(std::move(make_task), &done, fd)); });
  if (on_caller()) drive_until_woken();
  finished.get();
}

}  // namespace khz::transport
