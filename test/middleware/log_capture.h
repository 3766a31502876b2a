// SPDX-License-Identifier: Apache-2.0
// Test support: what khz's log (one write(2) per line on stderr) printed while a LogCapture
// was alive, at every level (debug and up; the level before is restored after).
//
//   khz::test::LogCapture log;
//   perform_request(engine, "GET", "/boom");
//   REQUIRE(log.text().find("recovery: GET /boom") != std::string::npos);
#pragma once

#include <khz/common/log.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

namespace khz::test {

class LogCapture {
 public:
  LogCapture() : file_(std::tmpfile()), saved_(::dup(2)), level_(khz::log::level()) {
    std::fflush(stderr);
    ::dup2(::fileno(file_), 2);
    khz::log::set_level(khz::log::Level::debug);
  }
  ~LogCapture() {
    khz::log::set_level(level_);
    restore();
    std::fclose(file_);
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // Everything logged so far.
  std::string text() const {
    std::string out;
    std::rewind(file_);
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, file_)) > 0) out.append(buf, n);
    return out;
  }

 private:
  void restore() {
    if (saved_ >= 0) {
      ::dup2(saved_, 2);
      ::close(saved_);
      saved_ = -1;
    }
  }
  std::FILE* file_;
  int saved_;
  khz::log::Level level_;
};

}  // namespace khz::test
