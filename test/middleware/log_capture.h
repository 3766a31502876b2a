// SPDX-License-Identifier: Apache-2.0
// Test support: what khz's log printed while a LogCapture was alive, at every level (the
// level before is restored after): a StderrCapture (support/tls_support.h) that also lowers
// the threshold to debug, since the test binaries log only warnings by default.
//
//   khz::test::LogCapture log;
//   perform_request(engine, "GET", "/boom");
//   REQUIRE(log.text().find("recovery: GET /boom") != std::string::npos);
#pragma once

#include <khz/common/log.h>

#include "support/tls_support.h"

namespace khz::test {

class LogCapture : public StderrCapture {
 public:
  LogCapture() : level_(khz::log::level()) { khz::log::set_level(khz::log::Level::debug); }
  ~LogCapture() { khz::log::set_level(level_); }

 private:
  khz::log::Level level_;
};

}  // namespace khz::test
