// SPDX-License-Identifier: Apache-2.0
#include <khz/common/line_writer.h>

#include <khz/common/background_thread.h>
#include <khz/common/log.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>

#include <signal.h>

namespace khz {
namespace {

std::atomic<std::uint64_t> next_writer_id{1};

// SIGHUP: counted by the handler (a lock-free atomic is async-signal-safe); each writer compares
// the count with the one it saw and reopens its output when it moved.
std::atomic<std::uint64_t> sighup_count{0};
struct sigaction previous_sighup {};

void on_sighup(int signo, siginfo_t* info, void* context) {
  sighup_count.fetch_add(1, std::memory_order_relaxed);
  if ((previous_sighup.sa_flags & SA_SIGINFO) != 0) {
    if (previous_sighup.sa_sigaction != nullptr) previous_sighup.sa_sigaction(signo, info, context);
  } else if (previous_sighup.sa_handler != SIG_DFL && previous_sighup.sa_handler != SIG_IGN &&
             previous_sighup.sa_handler != nullptr) {
    previous_sighup.sa_handler(signo);
  }
}

void install_sighup_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action {};
    action.sa_sigaction = &on_sighup;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    if (::sigaction(SIGHUP, &action, &previous_sighup) != 0) {
      KHZ_LOG(warn, "line_writer: cannot install the SIGHUP handler: " << std::strerror(errno));
    }
  });
}

struct CachedSlot {
  std::uint64_t writer;
  void* slot;
};

}  // namespace

LineWriter::LineWriter(LineWriterOptions options, std::unique_ptr<LineOutput> output)
    : options_(std::move(options)),
      output_(std::move(output)),
      id_(next_writer_id.fetch_add(1, std::memory_order_relaxed)) {
  if (options_.reopen_on_sighup) {
    install_sighup_handler();
    sighups_seen_ = sighup_count.load(std::memory_order_relaxed);
  }
  thread_ = background_thread([this] { run(); });
}

LineWriter::~LineWriter() {
  {
    std::lock_guard lock(wake_mutex_);
    stop_ = true;
  }
  wake_cv_.notify_one();
  thread_.join();  // the thread writes what is left before it ends
}

LineWriter::Slot& LineWriter::local_slot() {
  thread_local std::vector<CachedSlot> cache;  // ids are never reused: stale entries never match
  for (const CachedSlot& c : cache) {
    if (c.writer == id_) return *static_cast<Slot*>(c.slot);
  }
  Slot* slot;
  {
    std::lock_guard lock(slots_mutex_);
    slots_.push_back(std::make_unique<Slot>());
    slot = slots_.back().get();
    slot->text.reserve(std::min(options_.flush_bytes, options_.max_buffer_bytes));
  }
  cache.push_back(CachedSlot{id_, slot});
  return *slot;
}

void LineWriter::append(std::string_view line) {
  Slot& slot = local_slot();
  bool wake_writer = false;
  {
    std::lock_guard lock(slot.mutex);
    if (slot.text.size() + line.size() > options_.max_buffer_bytes) {
      dropped_.fetch_add(1, std::memory_order_relaxed);  // rare: only while the writer is behind
      return;
    }
    slot.text.append(line);
    ++slot.lines;
    if (slot.text.size() >= options_.flush_bytes && !slot.woke) {
      slot.woke = true;
      wake_writer = true;
    }
  }
  if (wake_writer) wake();
}

void LineWriter::wake() {
  {
    std::lock_guard lock(wake_mutex_);
    wake_now_ = true;
  }
  wake_cv_.notify_one();
}

void LineWriter::flush() {
  std::unique_lock lock(wake_mutex_);
  const std::uint64_t ticket = ++flush_requested_;
  wake_cv_.notify_one();
  flushed_cv_.wait(lock, [&] { return flush_completed_ >= ticket; });
}

void LineWriter::run() {
  std::unique_lock lock(wake_mutex_);
  for (;;) {
    wake_cv_.wait_for(lock, options_.flush_interval,
                      [&] { return stop_ || wake_now_ || flush_requested_ > flush_completed_; });
    const bool stopping = stop_;
    const std::uint64_t target = flush_requested_;
    wake_now_ = false;
    lock.unlock();
    collect_and_write();
    lock.lock();
    flush_completed_ = target;
    flushed_cv_.notify_all();
    if (stopping) return;
  }
}

void LineWriter::collect_and_write() {
  const std::uint64_t hups = sighup_count.load(std::memory_order_relaxed);
  const bool hup = options_.reopen_on_sighup && hups != sighups_seen_;
  sighups_seen_ = hups;
  if (reopen_.exchange(false, std::memory_order_relaxed) || hup) output_->reopen();
  std::uint64_t lines = 0;
  std::size_t taken = 0;
  {
    std::lock_guard lock(slots_mutex_);
    if (taken_.size() < slots_.size()) taken_.resize(slots_.size());
    for (auto& slot : slots_) {
      std::lock_guard slot_lock(slot->mutex);
      if (slot->text.empty()) continue;
      taken_[taken++].swap(slot->text);
      lines += slot->lines;
      slot->lines = 0;
      slot->woke = false;
    }
  }
  const std::uint64_t dropped = dropped_.load(std::memory_order_relaxed);
  if (dropped != dropped_reported_) {
    KHZ_LOG(warn, options_.name << ": " << (dropped - dropped_reported_) << " lines dropped since the last report ("
                                << dropped << " in all): the sink is slower than the traffic");
    dropped_reported_ = dropped;
  }
  for (std::size_t i = 0; i < taken; ++i) {
    try {
      output_->write(taken_[i]);
    } catch (const std::exception& e) {
      KHZ_LOG(error, options_.name << ": the output threw: " << e.what());
    } catch (...) {
      KHZ_LOG(error, options_.name << ": the output threw a non-standard exception");
    }
    taken_[i].clear();
  }
  written_.fetch_add(lines, std::memory_order_relaxed);
}

}  // namespace khz
