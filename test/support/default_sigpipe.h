// SPDX-License-Identifier: Apache-2.0
// Every test binary ignores SIGPIPE (catch_main.cc), which would hide a server that lets one
// through. A test of "no SIGPIPE" holds a DefaultSigpipe: the default action (end the process)
// is back for its scope, as in a program that never touched the disposition.
//   khz::test::DefaultSigpipe sigpipe_kills;
#pragma once

#include <csignal>

namespace khz::test {

class DefaultSigpipe {
 public:
  DefaultSigpipe() noexcept : previous_(std::signal(SIGPIPE, SIG_DFL)) {}
  ~DefaultSigpipe() { std::signal(SIGPIPE, previous_); }
  DefaultSigpipe(const DefaultSigpipe&) = delete;
  DefaultSigpipe& operator=(const DefaultSigpipe&) = delete;

 private:
  void (*previous_)(int);
};

}  // namespace khz::test
