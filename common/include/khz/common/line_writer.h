// SPDX-License-Identifier: Apache-2.0
// A bounded background writer of text lines: callers never wait for the disk.
//
//   khz::LineWriter writer({.name = "app_log"},
//                          std::make_unique<khz::FileLineOutput>(khz::FileOutputOptions{.path = "app.log"}));
//   writer.append("{\"msg\":\"hello\"}\n");   // from any thread; copies into this thread's buffer
//   writer.flush();                            // returns once everything appended is written
//
//   caller threads                 writer thread (one per LineWriter)
//   append(line) ─┐ Slot A ─┐
//   append(line) ─┼ Slot B ─┼─ every flush_interval, at once when a slot holds flush_bytes,
//   append(line) ─┘ Slot C ─┘  and on flush(): swap each slot's text out, LineOutput::write(it)
//
// Each thread that appends has its own Slot: append() takes that slot's mutex, which only the
// writer thread contends for, once per collection, for as long as a string swap takes. A slot
// at max_buffer_bytes drops further lines and counts them (dropped()); the writer reports the
// drops with one warning per collection ("<name>: N lines dropped since the last report").
// The destructor writes what is left and joins the thread. Thread-safe.
//
// FileLineOutput appends to a file (O_APPEND|O_CREAT, 0644) and, with max_bytes, rotates it
// by size, only between lines:
//   path        the current file
//   path.1      the most recent rotated file ... path.<keep> the oldest; older ones are removed
// A rotation renames path.<i> to path.<i+1> (from the oldest down) and path to path.1, then
// opens a new path. A line longer than max_bytes gets a file of its own. reopen() (and SIGHUP,
// with reopen_on_sighup) reopens path for an external logrotate that moved the file.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace khz {

// Where a LineWriter's lines go: one write() per slot that holds lines at a collection (no
// copy into one batch). Called on the writer thread only.
class LineOutput {
 public:
  virtual ~LineOutput() = default;
  // Whole lines, each ending in '\n'. Failures are the output's to report (it may log).
  virtual void write(std::string_view lines) = 0;
  // Reopens the underlying file, where there is one.
  virtual void reopen() {}
};

struct FileOutputOptions {
  std::string path{};
  std::uint64_t max_bytes = 0;  // rotate before a line would take the file past this; 0: never
  unsigned keep = 5;            // rotated files kept (path.1 .. path.<keep>); 0: none kept
};

// A file, appended to, rotated by size. Throws std::system_error when the file cannot be
// opened at construction; a failed reopen or rotation goes on with the file open before (logged).
class FileLineOutput : public LineOutput {
 public:
  explicit FileLineOutput(FileOutputOptions options);
  ~FileLineOutput() override;
  FileLineOutput(const FileLineOutput&) = delete;
  FileLineOutput& operator=(const FileLineOutput&) = delete;

  void write(std::string_view lines) override;
  void reopen() override;
  std::uint64_t size() const noexcept { return size_; }

 private:
  void write_all(std::string_view bytes);
  void rotate();
  bool open_current();

  FileOutputOptions options_;
  int fd_ = -1;
  std::uint64_t size_ = 0;  // bytes in the current file
};

// Writes to a descriptor it does not own (standard error, say).
class FdLineOutput : public LineOutput {
 public:
  explicit FdLineOutput(int fd) : fd_(fd) {}
  void write(std::string_view lines) override;

 private:
  int fd_;
};

struct LineWriterOptions {
  std::string name = "line_writer";  // names the writer in its own log lines
  std::chrono::milliseconds flush_interval{1000};
  std::size_t flush_bytes = 64 * 1024;              // a slot this full wakes the writer at once
  std::size_t max_buffer_bytes = 4 * 1024 * 1024;   // per slot (thread); past it lines drop
  bool reopen_on_sighup = false;  // installs a SIGHUP handler for the process (chains the old one)
};

class LineWriter {
 public:
  // Starts the thread.
  LineWriter(LineWriterOptions options, std::unique_ptr<LineOutput> output);
  // Writes what is left, stops the thread.
  ~LineWriter();
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  const LineWriterOptions& options() const noexcept { return options_; }
  // One whole line, '\n' included; from any thread; never blocks on the output.
  void append(std::string_view line);
  // Returns once everything appended before the call is written. Blocks: not on a hot path.
  void flush();
  // The output is reopened before the writer's next write.
  void reopen() noexcept { reopen_.store(true, std::memory_order_relaxed); }
  // Lines dropped because a slot was full, since the start.
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  // Lines handed to the output, since the start.
  std::uint64_t written() const noexcept { return written_.load(std::memory_order_relaxed); }

 private:
  struct Slot {
    std::mutex mutex;
    std::string text;
    std::uint64_t lines = 0;
    bool woke = false;  // the writer was woken for this fill already
  };

  Slot& local_slot();
  void wake();
  void run();
  void collect_and_write();  // writer thread only

  LineWriterOptions options_;
  std::unique_ptr<LineOutput> output_;
  const std::uint64_t id_;  // unique per writer: keys the threads' slot caches
  std::mutex slots_mutex_;
  std::vector<std::unique_ptr<Slot>> slots_;

  std::mutex wake_mutex_;
  std::condition_variable wake_cv_;
  std::condition_variable flushed_cv_;
  bool stop_ = false;
  bool wake_now_ = false;
  std::uint64_t flush_requested_ = 0;
  std::uint64_t flush_completed_ = 0;

  std::atomic<bool> reopen_{false};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> written_{0};
  std::uint64_t dropped_reported_ = 0;  // writer thread only
  std::uint64_t sighups_seen_ = 0;      // writer thread only
  // Writer thread only: the slots' texts taken in one flush, each written as it is (no copy
  // into one batch); a slot gets back the capacity of the string it swaps with.
  std::vector<std::string> taken_;
  std::thread thread_;
};

}  // namespace khz
