// SPDX-License-Identifier: Apache-2.0
#include <khz/common/background_thread.h>

#include <catch2/catch.hpp>

#include <pthread.h>
#include <signal.h>

namespace {
bool blocked(int signo) {
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, signo) == 1;
}
}  // namespace

TEST_CASE("background_thread: khz's threads never take the control signals; the caller's mask stays") {
  const bool term_before = blocked(SIGTERM);
  bool term = false, interrupt = false, hangup = false, segv = true;
  khz::background_thread([&] {
    term = blocked(SIGTERM);
    interrupt = blocked(SIGINT);
    hangup = blocked(SIGHUP);
    segv = blocked(SIGSEGV);
  }).join();
  CHECK(term);
  CHECK(interrupt);
  CHECK(hangup);
  CHECK_FALSE(segv);  // faults still reach their handlers (sanitizers, crash reports)
  CHECK(blocked(SIGTERM) == term_before);
}
