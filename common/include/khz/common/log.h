// SPDX-License-Identifier: Apache-2.0
// Logging and invariants: levels, a message, structured fields, a component name.
//
//   KHZ_LOG(warn, "closing " << peer << ": " << ec.message());
//   KHZ_LOG(info, "order placed", khz::log::f("order_id", id), khz::log::f("total", 12.5));
//   KHZ_LOG_AS("http2", debug, "stream reset", khz::log::f("stream", sid));   // a named logger
//   KHZ_ASSERT(read_ <= write_);   // a broken invariant is a bug: logs and aborts
//
// A call below the threshold costs one relaxed atomic load and a branch: neither the message
// nor the fields are evaluated. Above it, the message is streamed into a buffer this thread
// reuses and the line goes to every sink whose own level lets it through (<khz/common/log_sink.h>:
// standard error as text by default, JSON-lines files rotated by size, callbacks). Fields added
// by khz::log::ScopedFields and the context provider (<khz/common/log_context.h>; the tracing
// layer plugs trace_id and span_id in there) follow the call's own fields.
//
// The threshold comes from khz::log::set_level() or the KHZ_LOG_LEVEL environment variable
// (trace|debug|info|warn|error|off), default info; a line is formatted only when the threshold
// and at least one sink's level let it through. Thread-safe; lines are never interleaved.
//
// Fields: khz::log::f(key, value) with a string (a view: it must live until the KHZ_LOG
// statement ends, which any argument expression does), an integer, a floating-point number or
// a bool. The key should be a literal (snake_case); keys are not checked for duplicates.
#pragma once

#include <atomic>
#include <cstdint>
#include <ostream>
#include <span>
#include <sstream>
#include <string_view>
#include <type_traits>

namespace khz::log {

enum class Level { trace = -1, debug = 0, info = 1, warn = 2, error = 3, off = 4 };

// "trace", "debug", "info", "warn", "error", "off".
std::string_view to_string(Level level) noexcept;

// One structured field. Built by f(); `text` is used when kind is string, else the union.
struct Field {
  enum class Kind : std::uint8_t { string, int64, uint64, float64, boolean };
  std::string_view key;
  Kind kind = Kind::string;
  std::string_view text{};
  union {
    std::int64_t int64 = 0;
    std::uint64_t uint64;
    double float64;
    bool boolean;
  };
};

template <class T>
Field f(std::string_view key, const T& value) noexcept {
  Field out;
  out.key = key;
  if constexpr (std::is_same_v<T, bool>) {
    out.kind = Field::Kind::boolean;
    out.boolean = value;
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    out.kind = Field::Kind::int64;
    out.int64 = static_cast<std::int64_t>(value);
  } else if constexpr (std::is_integral_v<T>) {
    out.kind = Field::Kind::uint64;
    out.uint64 = static_cast<std::uint64_t>(value);
  } else if constexpr (std::is_floating_point_v<T>) {
    out.kind = Field::Kind::float64;
    out.float64 = static_cast<double>(value);
  } else if constexpr (std::is_enum_v<T>) {
    return f(key, static_cast<std::underlying_type_t<T>>(value));
  } else {
    static_assert(std::is_convertible_v<const T&, std::string_view>,
                  "khz::log::f: a string, an integer, a floating-point number, a bool or an enum");
    out.kind = Field::Kind::string;
    out.text = std::string_view(value);
  }
  return out;
}

// The process-wide threshold. set_level() does not change the sinks' own levels.
void set_level(Level level) noexcept;
Level level() noexcept;

namespace detail {
// max(threshold, the lowest level of any sink): what a call must reach to be formatted.
extern std::atomic<int> effective_level;
}  // namespace detail

inline bool enabled(Level l) noexcept {
  return static_cast<int>(l) >= detail::effective_level.load(std::memory_order_relaxed);
}

// One line to the sinks (the threshold is checked again). `logger` may be empty.
void write(Level l, std::string_view message) noexcept;
void write(Level l, std::string_view logger, std::string_view message, std::span<const Field> fields) noexcept;

// Hands every sink's buffered lines to its file or callback and returns once they are written
// (blocks). Called at exit and by khz::Server when it stops.
void flush() noexcept;

[[noreturn]] void assertion_failed(const char* expr, const char* file, int line) noexcept;

namespace detail {

// The stream a KHZ_LOG message is formatted into: this thread's, reused from call to call
// (a fresh one when a message's own operator<< logs).
class MessageStream {
 public:
  MessageStream() noexcept;
  ~MessageStream();
  MessageStream(const MessageStream&) = delete;
  MessageStream& operator=(const MessageStream&) = delete;
  std::ostream& stream() noexcept;
  std::string_view view() const noexcept;

  struct Buffer;

 private:
  Buffer* buffer_;
  bool owned_;
};

template <class... Fields>
void emit(Level l, std::string_view logger, std::string_view message, const Fields&... fields) noexcept {
  if constexpr (sizeof...(Fields) == 0) {
    write(l, logger, message, {});
  } else {
    const Field array[] = {fields...};
    write(l, logger, message, std::span<const Field>(array, sizeof...(Fields)));
  }
}

}  // namespace detail
}  // namespace khz::log

// KHZ_LOG(level, stream-expression, fields...); KHZ_LOG_AS(logger-name, level, ...).
#define KHZ_LOG_AS(name, lvl, expr, ...)                                                      \
  do {                                                                                        \
    if (::khz::log::enabled(::khz::log::Level::lvl)) {                                        \
      ::khz::log::detail::MessageStream khz_log_message_;                                     \
      khz_log_message_.stream() << expr;                                                      \
      ::khz::log::detail::emit(::khz::log::Level::lvl, name,                                  \
                               khz_log_message_.view() __VA_OPT__(, ) __VA_ARGS__);           \
    }                                                                                         \
  } while (0)

#define KHZ_LOG(lvl, expr, ...) KHZ_LOG_AS(::std::string_view(), lvl, expr __VA_OPT__(, ) __VA_ARGS__)

#define KHZ_ASSERT(cond) \
  ((cond) ? (void)0 : ::khz::log::assertion_failed(#cond, __FILE__, __LINE__))
