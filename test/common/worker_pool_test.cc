// SPDX-License-Identifier: Apache-2.0
// khz::WorkerPool and co_await pool.offload(fn): values, void and exceptions come back on the
// awaiting loop's thread; threads start lazily and stay bounded; a full queue fails fast; a
// cancel signal drops a queued job and holds a running one's coroutine until fn returns;
// stop() drops queued jobs; a frame destroyed while suspended withdraws its job.
#include <khz/common/cancel.h>
#include <khz/common/event_loop.h>
#include <khz/common/task.h>
#include <khz/common/worker_pool.h>

#include <catch2/catch.hpp>

#include "support/gate.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

// An event loop on the test's thread that also waits for posts from other threads (the
// worker threads' hand-backs), which run_blocking's loop does not.
class ThreadLoop final : public khz::EventLoop {
 public:
  void post(std::function<void()> fn) override {
    std::lock_guard lock(mutex_);
    posted_.push_back(std::move(fn));
    posted_cv_.notify_one();
  }
  void resume_after(Clock::duration, std::coroutine_handle<>) override { FAIL("no timers in this loop"); }

  // Starts `task` on this thread, with this loop current.
  void start(khz::Task<void> task) {
    set_current(this);
    khz::spawn(std::move(task));
    set_current(nullptr);
  }
  // Resumes `h` on this thread, with this loop current.
  void resume_here(std::coroutine_handle<> h) {
    set_current(this);
    h.resume();
    set_current(nullptr);
  }
  // Runs posted functions on this thread until `done()` holds; false if it still does not
  // after `limit`.
  template <class Done>
  bool run_until(Done done, std::chrono::milliseconds limit = 10s) {
    auto end = std::chrono::steady_clock::now() + limit;
    set_current(this);
    while (!done()) {
      std::deque<std::function<void()>> batch;
      {
        std::unique_lock lock(mutex_);
        if (!posted_cv_.wait_until(lock, end, [this] { return !posted_.empty(); })) break;
        batch.swap(posted_);
      }
      for (auto& fn : batch) fn();
    }
    set_current(nullptr);
    return done();
  }
  // Runs what is posted for `d` (nothing must arrive for a test that expects nothing).
  void run_for(std::chrono::milliseconds d) {
    auto end = std::chrono::steady_clock::now() + d;
    run_until([&] { return std::chrono::steady_clock::now() >= end; }, d);
  }

 private:
  std::mutex mutex_;
  std::condition_variable posted_cv_;
  std::deque<std::function<void()>> posted_;
};

using khz::test::Gate;

// What one awaiting coroutine saw.
struct Outcome {
  bool done = false;
  std::string value;
  std::string error;  // what() of what was thrown
  std::error_code code;  // of an OffloadError
  std::thread::id resumed_on;
};

// Offloads fn and records what came back (by pointer: coroutine parameters by value).
khz::Task<> await_string(khz::WorkerPool* pool, std::function<std::string()> fn, Outcome* out) {
  try {
    out->value = co_await pool->offload(std::move(fn));
  } catch (const khz::OffloadError& e) {
    out->code = e.code();
    out->error = e.what();
  } catch (const std::exception& e) {
    out->error = e.what();
  }
  out->resumed_on = std::this_thread::get_id();
  out->done = true;
}

khz::Task<> with_signal(khz::Task<> task, khz::CancelSignal* signal) {
  task.set_cancel_signal(signal);
  co_await std::move(task);
}

// Polls `pred` until it holds or 5 s pass.
template <class Pred>
bool test_eventually(Pred pred) {
  auto end = std::chrono::steady_clock::now() + 5s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

std::function<std::string()> wait_then(Gate* gate, std::string value, std::atomic<int>* ran = nullptr) {
  return [gate, value, ran] {
    if (ran != nullptr) ++*ran;
    gate->wait();
    return value;
  };
}

}  // namespace

TEST_CASE("offload: the value, void and fn's exception come back on the awaiting loop's thread") {
  khz::WorkerPool pool({.threads = 2});
  ThreadLoop loop;
  const auto loop_thread = std::this_thread::get_id();
  std::thread::id fn_thread;

  Outcome value;
  loop.start(await_string(&pool, [&fn_thread] { fn_thread = std::this_thread::get_id(); return std::string("row 7"); }, &value));
  Outcome thrown;
  loop.start(await_string(&pool, []() -> std::string { throw std::runtime_error("driver said no"); }, &thrown));
  REQUIRE(loop.run_until([&] { return value.done && thrown.done; }));

  REQUIRE(value.value == "row 7");
  REQUIRE(value.error.empty());
  REQUIRE(fn_thread != loop_thread);
  REQUIRE(value.resumed_on == loop_thread);
  REQUIRE(thrown.error == "driver said no");
  REQUIRE(!thrown.code);  // fn's own exception, not an OffloadError
  REQUIRE(thrown.resumed_on == loop_thread);

  // void: runs, returns nothing, resumes.
  int side_effect = 0;
  bool void_done = false;
  auto void_task = [](khz::WorkerPool* p, int* effect, bool* done) -> khz::Task<> {
    auto job = [effect] { *effect = 42; };
    co_await p->offload(job);
    *done = true;
  };
  loop.start(void_task(&pool, &side_effect, &void_done));
  REQUIRE(loop.run_until([&] { return void_done; }));
  REQUIRE(side_effect == 42);
}

TEST_CASE("offload: no thread before the first job; then no more than `threads`") {
  khz::WorkerPool pool({.threads = 2, .max_queue = 8});
  REQUIRE(pool.threads_started() == 0);
  ThreadLoop loop;
  Gate gate;
  std::vector<Outcome> outs(5);
  for (auto& o : outs) loop.start(await_string(&pool, wait_then(&gate, "x"), &o));
  REQUIRE(pool.pending() == 5);
  REQUIRE(pool.threads_started() == 2);
  gate.open();
  REQUIRE(loop.run_until([&] {
    for (auto& o : outs) {
      if (!o.done) return false;
    }
    return true;
  }));
  for (auto& o : outs) REQUIRE(o.value == "x");
  REQUIRE(pool.threads_started() == 2);
  REQUIRE_THROWS_AS(khz::WorkerPool({.threads = 0}), std::invalid_argument);
}

TEST_CASE("offload: beyond threads + max_queue an offload fails at once with queue_full") {
  khz::WorkerPool pool({.threads = 1, .max_queue = 1});
  ThreadLoop loop;
  Gate gate;
  Outcome running, queued, refused;
  loop.start(await_string(&pool, wait_then(&gate, "a"), &running));
  loop.start(await_string(&pool, wait_then(&gate, "b"), &queued));
  loop.start(await_string(&pool, wait_then(&gate, "c"), &refused));
  // Refused without suspending: done before the loop ran at all.
  REQUIRE(refused.done);
  REQUIRE(refused.code == khz::offload::errc::queue_full);
  REQUIRE(!running.done);
  REQUIRE(!queued.done);
  gate.open();
  REQUIRE(loop.run_until([&] { return running.done && queued.done; }));
  REQUIRE(running.value == "a");
  REQUIRE(queued.value == "b");
  // Room again once they are done.
  Outcome later;
  loop.start(await_string(&pool, [] { return std::string("d"); }, &later));
  REQUIRE(loop.run_until([&] { return later.done; }));
  REQUIRE(later.value == "d");
}

TEST_CASE("offload: a cancel signal drops a queued job without running it") {
  khz::WorkerPool pool({.threads = 1, .max_queue = 4});
  ThreadLoop loop;
  Gate gate;
  std::atomic<int> ran{0};
  Outcome running, queued;
  khz::CancelSignal signal;
  loop.start(await_string(&pool, wait_then(&gate, "a"), &running));
  loop.start(with_signal(await_string(&pool, wait_then(&gate, "b", &ran), &queued), &signal));
  REQUIRE(pool.pending() == 2);
  REQUIRE(signal.watched());

  signal.trigger();
  REQUIRE(pool.pending() == 1);  // out of the queue at once
  REQUIRE(!queued.done);         // resumed on a later turn of its loop, not inside trigger()
  REQUIRE(loop.run_until([&] { return queued.done; }));
  REQUIRE(queued.code == khz::offload::errc::cancelled);
  REQUIRE(queued.resumed_on == std::this_thread::get_id());

  gate.open();
  REQUIRE(loop.run_until([&] { return running.done; }));
  REQUIRE(running.value == "a");
  REQUIRE(ran == 0);  // the cancelled job never ran

  // A signal that fired before the offload: nothing is queued.
  khz::CancelSignal fired;
  fired.trigger();
  Outcome late;
  loop.start(with_signal(await_string(&pool, [&ran] { ++ran; return std::string("x"); }, &late), &fired));
  REQUIRE(late.done);
  REQUIRE(late.code == khz::offload::errc::cancelled);
  REQUIRE(ran == 0);
}

TEST_CASE("offload: cancelled while running, the coroutine waits for fn, then gets cancelled") {
  khz::WorkerPool pool({.threads = 1});
  ThreadLoop loop;
  Gate gate;
  std::atomic<int> ran{0};
  Outcome out;
  khz::CancelSignal signal;
  loop.start(with_signal(await_string(&pool, wait_then(&gate, "result", &ran), &out), &signal));
  REQUIRE(test_eventually([&] { return ran == 1; }));  // running on the worker

  signal.trigger();
  loop.run_for(100ms);
  REQUIRE(!out.done);  // fn may still use what the coroutine lent it
  gate.open();
  REQUIRE(loop.run_until([&] { return out.done; }));
  REQUIRE(out.code == khz::offload::errc::cancelled);
  REQUIRE(out.value.empty());
}

TEST_CASE("offload: stop() drops queued jobs, waits for running ones and refuses new ones") {
  auto pool = std::make_unique<khz::WorkerPool>(khz::WorkerPoolOptions{.threads = 1});
  ThreadLoop loop;
  Gate gate;
  std::atomic<int> ran{0};
  Outcome running, queued;
  loop.start(await_string(pool.get(), wait_then(&gate, "a", &ran), &running));
  loop.start(await_string(pool.get(), wait_then(&gate, "b", &ran), &queued));
  REQUIRE(test_eventually([&] { return ran == 1; }));

  std::thread stopper([&] { pool->stop(); });
  std::this_thread::sleep_for(50ms);
  gate.open();  // stop() returns only once the running job has
  stopper.join();
  REQUIRE(loop.run_until([&] { return running.done && queued.done; }));
  REQUIRE(running.value == "a");
  REQUIRE(queued.code == khz::offload::errc::stopped);
  REQUIRE(ran == 1);

  Outcome after;
  loop.start(await_string(pool.get(), [] { return std::string("x"); }, &after));
  REQUIRE(after.done);
  REQUIRE(after.code == khz::offload::errc::stopped);
}

TEST_CASE("offload: a coroutine destroyed while its job is queued withdraws the job") {
  khz::WorkerPool pool({.threads = 1});
  ThreadLoop loop;
  Gate gate;
  std::atomic<int> ran{0};
  Outcome running, abandoned;
  loop.start(await_string(&pool, wait_then(&gate, "a"), &running));
  {
    khz::Task<> t = await_string(&pool, wait_then(&gate, "b", &ran), &abandoned);
    loop.resume_here(t.handle());  // runs until it waits in the queue
    REQUIRE(pool.pending() == 2);
  }  // its frame (and the awaiter in it) destroyed while suspended
  REQUIRE(pool.pending() == 1);
  gate.open();
  REQUIRE(loop.run_until([&] { return running.done; }));
  loop.run_for(50ms);
  REQUIRE(ran == 0);
  REQUIRE(!abandoned.done);
}
