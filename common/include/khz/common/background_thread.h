// SPDX-License-Identifier: Apache-2.0
// khz::background_thread(f): a std::thread for khz's own work (event loops, writers, exporters,
// resolvers) that never takes the process's control signals.
//
//   thread_ = khz::background_thread([this] { run(); });
//
// The new thread starts with SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 blocked (the signals a program handles on its own thread: Server::spin() waits for SIGINT
// and SIGTERM on a signalfd). Without it, a thread started before spin() blocks them (a log
// file's writer, a trace exporter, a client's loop) would be the one the kernel hands SIGTERM
// to, and the default action would end the process without a graceful shutdown. The calling
// thread's own mask is left as it was.
#pragma once

#include <signal.h>

#include <thread>
#include <utility>

namespace khz {

namespace detail {
// Blocks the control signals on this thread for its lifetime, then restores the mask.
class ControlSignalsBlocked {
 public:
  ControlSignalsBlocked() noexcept;
  ~ControlSignalsBlocked();
  ControlSignalsBlocked(const ControlSignalsBlocked&) = delete;
  ControlSignalsBlocked& operator=(const ControlSignalsBlocked&) = delete;

 private:
  sigset_t previous_;
};
}  // namespace detail

template <class F>
std::thread background_thread(F&& f) {
  detail::ControlSignalsBlocked blocked;  // inherited by the new thread
  return std::thread(std::forward<F>(f));
}

}  // namespace khz
