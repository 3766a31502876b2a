// SPDX-License-Identifier: Apache-2.0
#include <khz/common/worker_pool.h>

#include <khz/common/background_thread.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace khz {
namespace {

thread_local const WorkerPool* current_pool = nullptr;  // set on a pool's worker threads

class OffloadCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "khz.offload"; }
  std::string message(int code) const override {
    switch (static_cast<offload::errc>(code)) {
      case offload::errc::queue_full: return "offload queue full";
      case offload::errc::cancelled: return "offload cancelled";
      case offload::errc::stopped: return "offload pool stopped";
    }
    return "offload error " + std::to_string(code);
  }
};

}  // namespace

const std::error_category& offload::offload_category() noexcept {
  static const OffloadCategory category;
  return category;
}

WorkerPool::WorkerPool(WorkerPoolOptions options) : options_(options) {
  if (options_.threads == 0) throw std::invalid_argument("WorkerPoolOptions::threads: want at least 1");
}

WorkerPool::~WorkerPool() { stop(); }

std::error_code WorkerPool::submit(std::shared_ptr<detail::OffloadJob> job) {
  std::lock_guard lock(mutex_);
  if (stopping_) return offload::errc::stopped;
  // Counting running jobs too makes the bound exact whatever the threads are doing right now.
  if (queue_.size() + running_ >= options_.threads + options_.max_queue) return offload::errc::queue_full;
  queue_.push_back(std::move(job));
  if (queue_.size() > idle_ && threads_.size() < options_.threads) {
    threads_.push_back(background_thread([this] { work(); }));
    ++started_;
  } else {
    wake_.notify_one();
  }
  return {};
}

bool WorkerPool::withdraw(const detail::OffloadJob& job) noexcept {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(queue_.begin(), queue_.end(), [&](const auto& queued) { return queued.get() == &job; });
  if (it == queue_.end()) return false;
  queue_.erase(it);
  return true;
}

void WorkerPool::work() {
  current_pool = this;
  std::unique_lock lock(mutex_);
  for (;;) {
    ++idle_;
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    --idle_;
    if (queue_.empty()) return;  // stopping (stop() took the queue)
    std::shared_ptr<detail::OffloadJob> job = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    job->execute();
    job.reset();  // the loop may hold the last reference already; if not, it dies here
    lock.lock();
    --running_;
  }
}

void WorkerPool::stop() {
  KHZ_ASSERT(current_pool != this);  // a worker would wait for itself
  std::deque<std::shared_ptr<detail::OffloadJob>> dropped;
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    dropped.swap(queue_);
    threads.swap(threads_);
  }
  wake_.notify_all();
  for (auto& job : dropped) job->drop();
  for (auto& t : threads) t.join();
}

std::size_t WorkerPool::threads_started() const {
  std::lock_guard lock(mutex_);
  return started_;
}

std::size_t WorkerPool::pending() const {
  std::lock_guard lock(mutex_);
  return queue_.size() + running_;
}

}  // namespace khz
