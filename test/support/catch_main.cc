// SPDX-License-Identifier: Apache-2.0
// The one main of every test binary. Logs only warnings and worse unless KHZ_LOG_LEVEL says so.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <khz/common/log.h>

#include <csignal>
#include <cstdlib>

int main(int argc, char** argv) {
  if (std::getenv("KHZ_LOG_LEVEL") == nullptr) khz::log::set_level(khz::log::Level::warn);
  std::signal(SIGPIPE, SIG_IGN);
  return Catch::Session().run(argc, argv);
}
