// SPDX-License-Identifier: Apache-2.0
#include <khz/common/background_thread.h>

#include <pthread.h>

namespace khz::detail {

ControlSignalsBlocked::ControlSignalsBlocked() noexcept {
  sigset_t control;
  sigemptyset(&control);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&control, s);
  pthread_sigmask(SIG_BLOCK, &control, &previous_);
}

ControlSignalsBlocked::~ControlSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

}  // namespace khz::detail
