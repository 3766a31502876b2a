// SPDX-License-Identifier: Apache-2.0
// AsioLoop's out-of-line parts: dialling a connection and the deadline sweep.
#include "asio/asio_loop.h"

#include "asio/asio_connection.h"

namespace khz::transport {

Task<Result<std::unique_ptr<Connection>>> AsioLoop::connect_to(sockaddr_storage addr, socklen_t len,
                                                               std::chrono::milliseconds timeout) {
  stream::endpoint endpoint(&addr, len);
  // Shared by the connect and the deadline handlers, which may run after this frame resumed.
  struct State {
    explicit State(asio::io_context& io) : socket(io), timer(io) {}
    stream::socket socket;
    asio::steady_timer timer;
    error_code error;
    bool timed_out = false;
    bool done = false;
    std::coroutine_handle<> waiter;
  };
  auto state = std::make_shared<State>(io_);
  struct Awaiter {
    std::shared_ptr<State> state;
    stream::endpoint endpoint;
    std::chrono::milliseconds timeout;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      state->waiter = h;
      error_code ec;
      state->socket.open(endpoint.protocol(), ec);  // async_connect would open it, without CLOEXEC
      if (!ec) set_cloexec(state->socket.native_handle());
      state->socket.async_connect(endpoint, [s = state](const error_code& ec) {
        s->done = true;
        s->error = ec;
        s->timer.cancel();
        std::exchange(s->waiter, {}).resume();
      });
      if (timeout.count() > 0) {
        state->timer.expires_after(timeout);
        state->timer.async_wait([s = state](const error_code& ec) {
          if (ec || s->done) return;
          s->timed_out = true;
          error_code ignored;
          s->socket.cancel(ignored);
        });
      }
    }
    void await_resume() const noexcept {}
  };
  Awaiter awaiter{state, endpoint, timeout};  // a named local: GCC 12 and co_await temporaries
  co_await awaiter;
  if (state->timed_out) co_return std::error_code(errc::timed_out);
  if (state->error) co_return std::error_code(state->error.value(), std::system_category());
  co_return std::unique_ptr<Connection>(std::make_unique<AsioConnection>(std::move(state->socket), this));
}

void AsioLoop::arm_sweep() {
  sweep_.expires_after(kDeadlineTick);
  sweep_.async_wait([this](const error_code& ec) {
    if (ec) return;
    auto now = std::chrono::steady_clock::now();
    for (auto* c : connections_) c->check_deadlines(now);
    arm_sweep();
  });
}

}  // namespace khz::transport
