// SPDX-License-Identifier: Apache-2.0
// Logging and invariants.
//
//   KHZ_LOG(warn, "closing " << peer << ": " << ec.message());
//   KHZ_ASSERT(read_ <= write_);   // a broken invariant is a bug: logs and aborts
//
// One line per call on stderr: time, level, message. The threshold comes from
// khz::log::set_level() or the KHZ_LOG_LEVEL environment variable (debug|info|warn|error|off),
// default info. Thread-safe: each line is written with one write(2).
#pragma once

#include <sstream>
#include <string_view>

namespace khz::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

void set_level(Level level) noexcept;
Level level() noexcept;
inline bool enabled(Level l) noexcept { return l >= level(); }
void write(Level l, std::string_view message) noexcept;
[[noreturn]] void assertion_failed(const char* expr, const char* file, int line) noexcept;

}  // namespace khz::log

#define KHZ_LOG(lvl, expr)                                              \
  do {                                                                  \
    if (::khz::log::enabled(::khz::log::Level::lvl)) {                  \
      std::ostringstream khz_log_stream_;                               \
      khz_log_stream_ << expr;                                          \
      ::khz::log::write(::khz::log::Level::lvl, khz_log_stream_.str()); \
    }                                                                   \
  } while (0)

#define KHZ_ASSERT(cond) \
  ((cond) ? (void)0 : ::khz::log::assertion_failed(#cond, __FILE__, __LINE__))
