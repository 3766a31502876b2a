// SPDX-License-Identifier: Apache-2.0
// Where log lines go: sinks, each with its own level, several at once.
//
//   auto file = khz::log::FileSink::open({.path = "/var/log/app.jsonl", .max_bytes = 64 << 20, .keep = 5});
//   khz::log::add_sink(file, khz::log::Level::info);            // JSON lines, rotated by size
//   khz::log::set_sink_level(khz::log::standard_error_sink, khz::log::Level::warn);
//   khz::log::add_sink(khz::log::callback_sink([](const khz::log::Record& r) { ... }));
//
// standard_error_sink, present from the start at Level::trace, writes text lines (one write(2)
// each) to descriptor 2:
//   2026-12-05T16:33:43.123Z INFO  [http2] stream reset stream=3 reason="peer reset"
// time (UTC, ms), level (5 wide), [logger] when named, the message, then key=value per field;
// a value is quoted when empty or holding a space, '"', '=', a backslash or a control byte,
// with \", \\, \n, \r, \t and \xNN escapes (control bytes in keys and the logger name are
// escaped too). The message is written as given, as it always was: a multi-line message (a
// stack trace) stays readable on a terminal. The JSON format escapes everything.
//
// FileSink writes JSON lines:
//   {"time":"2026-12-05T16:33:43.123Z","level":"info","logger":"http2","msg":"stream reset","stream":3}
// ("logger" only when named; strings escaped per RFC 8259, bytes that are not UTF-8 replaced by
// U+FFFD; non-finite numbers as null). It formats on the caller's thread into that thread's
// bounded buffer; a background thread writes (khz::LineWriter, <khz/common/line_writer.h>): a
// caller never waits for the disk. When a buffer is full the line is dropped and counted
// (dropped()), and one warning per flush interval says how many. Rotation by size and reopening
// (reopen(), SIGHUP with reopen_on_sighup) are FileLineOutput's: path, path.1 (newest) ..
// path.<keep>.
//
// A callback sink calls its function on the logging thread, under no lock: it must be fast
// and must not block an event loop. A sink that logs from write() is safe (the nested line
// goes to every sink, this one included, once).
#pragma once

#include <khz/common/line_writer.h>
#include <khz/common/log.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace khz::log {

// One line being written. Views valid for the duration of Sink::write only.
struct Record {
  Level level = Level::info;
  std::chrono::system_clock::time_point time{};
  std::string_view logger{};
  std::string_view message{};
  std::span<const Field> fields{};  // the call's, the scoped ones, then the context provider's
};

class Sink {
 public:
  virtual ~Sink() = default;
  // From any thread, concurrently: a sink is thread-safe.
  virtual void write(const Record& record) noexcept = 0;
  // Returns once every line written before the call is out (for buffering sinks).
  virtual void flush() noexcept {}
};

using SinkId = std::uint64_t;
inline constexpr SinkId standard_error_sink = 1;

// Adds a sink that receives lines at `level` and above (the threshold also applies).
SinkId add_sink(std::shared_ptr<Sink> sink, Level level = Level::trace);
// False when no such sink. The sink is destroyed once no line is being written to it.
bool remove_sink(SinkId id) noexcept;
bool set_sink_level(SinkId id, Level level) noexcept;

// The text format above, one line with its '\n', appended to `out`.
void format_text(std::string& out, const Record& record);
// The JSON-lines format above, one line with its '\n', appended to `out`.
void format_json(std::string& out, const Record& record);

// Text lines, one write(2) each, to a descriptor it does not own.
std::shared_ptr<Sink> text_sink(int fd);
std::shared_ptr<Sink> callback_sink(std::function<void(const Record&)> fn);

struct FileSinkOptions {
  std::string path{};
  std::uint64_t max_bytes = 64 * 1024 * 1024;  // rotate past this size; 0: never
  unsigned keep = 5;                           // rotated files kept
  bool reopen_on_sighup = false;               // installs a SIGHUP handler for the process
  std::chrono::milliseconds flush_interval{1000};
  std::size_t flush_bytes = 64 * 1024;              // a thread's buffer this full wakes the writer
  std::size_t max_buffer_bytes = 4 * 1024 * 1024;   // per logging thread; past it lines drop
};

class FileSink : public Sink {
 public:
  // Opens the file (std::system_error when it cannot) and starts the writer thread; throws
  // std::invalid_argument for an empty path, a zero interval or max_buffer_bytes == 0.
  static std::shared_ptr<FileSink> open(FileSinkOptions options);
  explicit FileSink(FileSinkOptions options);

  void write(const Record& record) noexcept override;
  void flush() noexcept override;
  // Reopens the path before the next write (after an external logrotate moved the file).
  void reopen() noexcept { writer_.reopen(); }
  std::uint64_t dropped() const noexcept { return writer_.dropped(); }
  std::uint64_t written() const noexcept { return writer_.written(); }

 private:
  LineWriter writer_;
};

}  // namespace khz::log
