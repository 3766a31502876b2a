// SPDX-License-Identifier: Apache-2.0
// Test support: a door that threads wait at until the test opens it (once open, it stays open).
//
//   Gate gate;
//   pool.submit([&] { gate.wait(); ... });   // blocks the worker
//   gate.open();                            // lets every waiter through
#pragma once

#include <condition_variable>
#include <mutex>

namespace khz::test {

class Gate {
 public:
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

}  // namespace khz::test
