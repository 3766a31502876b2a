// SPDX-License-Identifier: Apache-2.0
// Private to transport/: the end of a native backend's shutdown (netpoll's and uring's), once
// its listeners are closed and every connection was told to drain. Waits up to `drain` for the
// connections to finish; past it, closes the busy ones (their handlers see a hang-up) and
// waits for those handlers, logging every 5 s. Then wakes the coroutines asleep on the loops
// that no connection owns (a middleware's background timer, a per-loop keeper: they end now,
// as sleep_for promises at shutdown, instead of stopping with their frames suspended) and stops
// the loops.
//
//   finish_shutdown(mutex_, idle_, active_, drain, [this](auto fn) { for_each_worker(fn); }, workers_);
//
// `active` is guarded by `mutex` and signalled through `idle`; a Worker has `connections` (a
// set of connection pointers with close_for_shutdown() and report_hangup()) and `loop`.
#pragma once

#include <khz/common/log.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

namespace khz::transport {

template <class ForEachWorker, class Worker>
void finish_shutdown(std::mutex& mutex, std::condition_variable& idle, const std::size_t& active,
                     std::chrono::milliseconds drain, ForEachWorker for_each_worker,
                     std::vector<std::unique_ptr<Worker>>& workers) {
  using namespace std::chrono_literals;
  std::unique_lock lock(mutex);
  if (!idle.wait_for(lock, drain, [&] { return active == 0; })) {
    KHZ_LOG(warn, "drain deadline passed with " << active << " connection(s) still busy; closing them");
    lock.unlock();
    for_each_worker([](Worker& w) {
      std::vector<std::remove_cvref_t<decltype(*w.connections.begin())>> watched;
      for (auto* c : w.connections) {
        if (c->close_for_shutdown()) watched.push_back(c);
      }
      for (auto* c : watched) c->report_hangup();
      w.loop.wake_sleepers();
    });
    lock.lock();
    while (!idle.wait_for(lock, 5s, [&] { return active == 0; })) {
      KHZ_LOG(warn, active << " connection handler(s) still running after close; waiting");
      lock.unlock();
      for_each_worker([](Worker& w) { w.loop.wake_sleepers(); });
      lock.lock();
    }
  }
  lock.unlock();
  for_each_worker([](Worker& w) { w.loop.wake_sleepers(); });
  for (auto& w : workers) w->loop.stop_and_join();
}

}  // namespace khz::transport
