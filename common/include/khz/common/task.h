// SPDX-License-Identifier: Apache-2.0
// khz::Task<T>: the one coroutine type of khz. Lazy (starts when awaited), single-owner,
// resumes its awaiter by symmetric transfer, carries exceptions to the awaiter.
//
//   khz::Task<int> answer() { co_await khz::sleep_for(10ms); co_return 42; }
//   khz::Task<> handler(khz::RequestContext& ctx) { int v = co_await answer(); ... }
//   khz::spawn(run_connection(std::move(conn)));   // detached; the callee owns its lifetime
//
// Coroutine frames come from a per-thread size-classed pool, so a coroutine per request costs
// no malloc after warm-up (plain operator new under AddressSanitizer, which then sees every frame).
// Threading: a Task is used from one thread; it resumes on whatever thread completes what it awaits.
#pragma once

#include <utility>  // before any coroutine header (GCC 12 + Boost 1.74)

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <type_traits>

namespace khz {

template <class T = void>
class Task;

namespace detail {

void* allocate_frame(std::size_t size);
void deallocate_frame(void* frame, std::size_t size) noexcept;

struct FramePooled {
  static void* operator new(std::size_t size) { return allocate_frame(size); }
  static void operator delete(void* frame, std::size_t size) noexcept { deallocate_frame(frame, size); }
};

struct TaskPromiseBase : FramePooled {
  std::coroutine_handle<> continuation;
  std::exception_ptr exception;

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> done) noexcept {
      auto next = done.promise().continuation;
      return next ? next : std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };

  std::suspend_always initial_suspend() const noexcept { return {}; }
  FinalAwaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { exception = std::current_exception(); }
};

template <class T>
struct TaskPromise : TaskPromiseBase {
  std::optional<T> value;
  Task<T> get_return_object() noexcept;
  template <class U>
  void return_value(U&& v) { value.emplace(std::forward<U>(v)); }
};

template <>
struct TaskPromise<void> : TaskPromiseBase {
  Task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::TaskPromise<T>;
  using Handle = std::coroutine_handle<promise_type>;

  Task() noexcept = default;
  explicit Task(Handle h) noexcept : handle_(h) {}
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (handle_) handle_.destroy();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (handle_) handle_.destroy();
  }

  bool valid() const noexcept { return static_cast<bool>(handle_); }
  bool done() const noexcept { return !handle_ || handle_.done(); }

  // Awaiting starts the task; the awaiter resumes when it completes.
  bool await_ready() const noexcept { return done(); }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
    handle_.promise().continuation = awaiting;
    return handle_;
  }
  T await_resume() {
    auto& p = handle_.promise();
    if (p.exception) std::rethrow_exception(p.exception);
    if constexpr (!std::is_void_v<T>) return std::move(*p.value);
  }

  // For drivers (spawn, run_blocking): start without an awaiter, or with one.
  Handle handle() const noexcept { return handle_; }

 private:
  Handle handle_;
};

namespace detail {
template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}
}  // namespace detail

// Starts `task` now and lets it run to completion on its own; the task's frame is freed when it
// finishes. An exception escaping it is logged, not propagated. The caller must make sure that
// whatever the task references outlives it (the task should own its state).
void spawn(Task<void> task);

}  // namespace khz
