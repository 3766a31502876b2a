// SPDX-License-Identifier: Apache-2.0
// The access log's writer (private to middleware/access_log): khz::LineWriter (common/) with
// the output its sink names. Each thread that logs (an event loop) has its own bounded buffer;
// a background thread writes; a full buffer drops lines and counts them.
#pragma once

#include <khz/common/line_writer.h>
#include <khz/middleware/access_log.h>

#include <cstdint>
#include <string_view>

namespace khz::middleware::detail {

class AccessLogWriter {
 public:
  // Opens a file sink (std::system_error when it cannot) and starts the thread.
  explicit AccessLogWriter(AccessLogOptions options);

  // One whole line, '\n' included; from any thread; never blocks on the sink.
  void append(std::string_view line) { writer_.append(line); }
  // Returns once everything appended before the call is written.
  void flush() { writer_.flush(); }
  void reopen() noexcept { writer_.reopen(); }
  std::uint64_t dropped() const noexcept { return writer_.dropped(); }
  std::uint64_t written() const noexcept { return writer_.written(); }

 private:
  AccessLogOptions options_;
  LineWriter writer_;
};

}  // namespace khz::middleware::detail
