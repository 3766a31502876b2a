// SPDX-License-Identifier: Apache-2.0
// Connection's default parked wait (wait_input), for connections with no callback-driven fill.
#include <khz/common/event_loop.h>
#include <khz/transport/connection.h>

namespace khz::transport {

namespace {

Detached wait_then_call(Connection& conn, void (*fn)(void*), void* arg) {
  (void)co_await conn.fill(1);  // sets what fill_error() reports
  fn(arg);
}

}  // namespace

void Connection::start_input_wait(void (*fn)(void*), void* arg) {
  if (!input_.empty()) {
    // Already there: still never inline (the caller is ending its run).
    EventLoop::current()->post([fn, arg] { fn(arg); });
    return;
  }
  wait_then_call(*this, fn, arg);
}

}  // namespace khz::transport
