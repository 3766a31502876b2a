// SPDX-License-Identifier: Apache-2.0
// The access log's buffers and writer thread (private to middleware/access_log).
//
// Each thread that logs (an event loop) has its own Slot: the hook appends a formatted line to
// it under the slot's mutex, which only the writer thread contends for, once per collection,
// for as long as a string swap takes. The writer collects every slot on each interval, at once
// when a slot passes flush_bytes, and on flush(); it writes each collection to the sink in one
// call. A slot at max_buffer_bytes drops further lines and counts them.
#pragma once

#include <khz/middleware/access_log.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace khz::middleware::detail {

class AccessLogWriter {
 public:
  // Opens a file sink (std::system_error when it cannot) and starts the thread.
  explicit AccessLogWriter(AccessLogOptions options);
  // Writes what is left, stops the thread, closes the file.
  ~AccessLogWriter();
  AccessLogWriter(const AccessLogWriter&) = delete;
  AccessLogWriter& operator=(const AccessLogWriter&) = delete;

  const AccessLogOptions& options() const noexcept { return options_; }
  // One whole line, '\n' included; from any thread; never blocks on the sink.
  void append(std::string_view line);
  // Returns once everything appended before the call is written.
  void flush();
  void reopen() noexcept { reopen_.store(true, std::memory_order_relaxed); }
  std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
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
  // Swaps every slot's text out and writes it all (writer thread only).
  void collect_and_write();
  void write_out(std::string_view bytes);
  void open_file();  // throws std::system_error
  void reopen_file() noexcept;

  AccessLogOptions options_;
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
  std::string batch_;                   // writer thread only
  std::string taken_;                   // writer thread only
  int fd_ = -1;
  std::thread thread_;
};

}  // namespace khz::middleware::detail
