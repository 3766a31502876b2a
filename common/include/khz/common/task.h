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
// Cancellation: a Task carries an ambient CancelSignal* (<khz/common/cancel.h>), inherited from
// the Task that awaits it unless set on it before (set_cancel_signal); a coroutine reads its
// own with `co_await khz::current_cancel_signal()`. Nothing is cancelled by itself: code that
// can stop early (the HTTP client) watches the signal. The same way a Task carries ambient
// outbound header fields (<khz/common/outbound_fields.h>; set_outbound_fields,
// current_outbound_fields()), which the HTTP client adds to the requests made along the chain,
// and the current trace span (<khz/common/trace_ambient.h>; set_trace_span, current_ambient_span()):
// a Task marks its ambient span as this thread's running span while its body runs.
// Threading: a Task is used from one thread; it resumes on whatever thread completes what it awaits.
#pragma once

#include <utility>  // before any coroutine header (GCC 12 + Boost 1.74)

#include <khz/common/small_pool.h>
#include <khz/common/trace_ambient.h>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <type_traits>

namespace khz {

class CancelSignal;
class OutboundFields;
template <class T = void>
class Task;

namespace detail {

template <class A>
concept MemberCoAwait = requires(A&& a) { static_cast<A&&>(a).operator co_await(); };
template <class A>
concept FreeCoAwait = requires(A&& a) { operator co_await(static_cast<A&&>(a)); };

// The awaiter a co_await expression would use: operator co_await's result, or the object.
template <class A>
decltype(auto) detail_awaiter(A&& a) noexcept(noexcept(static_cast<A&&>(a))) {
  if constexpr (MemberCoAwait<A>) {
    return static_cast<A&&>(a).operator co_await();
  } else if constexpr (FreeCoAwait<A>) {
    return operator co_await(static_cast<A&&>(a));
  } else {
    return static_cast<A&&>(a);
  }
}

// Wraps an awaiter (a reference to it, or a value) to keep the running span right.
template <class Awaiter>
struct SpanKeepingAwaiter {
  Awaiter inner;
  const tracing::AmbientSpan* const* span;  // the promise's trace_span: read at resume, as it may change
  bool await_ready() { return inner.await_ready(); }
  template <class Promise>
  decltype(auto) await_suspend(std::coroutine_handle<Promise> h) {
    tracing::detail::leave_span();  // before: once suspended, the frame may resume elsewhere
    return inner.await_suspend(h);
  }
  decltype(auto) await_resume() {
    tracing::detail::enter_span(*span);
    return inner.await_resume();
  }
};

struct TaskPromiseBase : Pooled {  // frames from the thread's small-block pool
  std::coroutine_handle<> continuation;
  std::exception_ptr exception;
  CancelSignal* cancel_signal = nullptr;  // ambient: inherited from the awaiting Task
  const OutboundFields* outbound_fields = nullptr;  // ambient, likewise
  const tracing::AmbientSpan* trace_span = nullptr;  // ambient, likewise; the running span while the body runs

  // Lazy start; when the body starts it marks its span as the running one.
  struct InitialAwaiter {
    const TaskPromiseBase* promise;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    void await_resume() const noexcept { tracing::detail::enter_span(promise->trace_span); }
  };
  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> done) noexcept {
      tracing::detail::leave_span();  // the awaiter, if a Task, marks its own when it resumes
      auto next = done.promise().continuation;
      return next ? next : std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };

  InitialAwaiter initial_suspend() const noexcept { return {this}; }
  FinalAwaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { exception = std::current_exception(); }

  // Every co_await in a Task's body: the running span is cleared while the body is suspended
  // and set back to trace_span when it resumes (on whatever thread), so that plain code can
  // read it (tracing::current_ids) and never sees another request's span.
  template <class Awaitable>
  auto await_transform(Awaitable&& awaitable) noexcept(noexcept(detail_awaiter(static_cast<Awaitable&&>(awaitable))));
};

template <class Awaitable>
auto TaskPromiseBase::await_transform(Awaitable&& awaitable) noexcept(
    noexcept(detail_awaiter(static_cast<Awaitable&&>(awaitable)))) {
  using Inner = decltype(detail_awaiter(static_cast<Awaitable&&>(awaitable)));
  return SpanKeepingAwaiter<Inner>{detail_awaiter(static_cast<Awaitable&&>(awaitable)), &trace_span};
}

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

  // A default-constructed Task<void> is already done, and awaiting it does nothing: a function
  // returning Task<void> that has nothing to wait for returns one and allocates no frame.
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
  template <class Awaiting>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Awaiting> awaiting) noexcept {
    auto& p = handle_.promise();
    p.continuation = awaiting;
    if constexpr (std::is_base_of_v<detail::TaskPromiseBase, Awaiting>) {
      if (p.cancel_signal == nullptr) p.cancel_signal = awaiting.promise().cancel_signal;
      if (p.outbound_fields == nullptr) p.outbound_fields = awaiting.promise().outbound_fields;
      if (p.trace_span == nullptr) p.trace_span = awaiting.promise().trace_span;
    }
    return handle_;
  }
  T await_resume() {
    if constexpr (std::is_void_v<T>) {
      if (!handle_) return;  // Task<void>{}: nothing to do
    }
    auto& p = handle_.promise();
    if (p.exception) std::rethrow_exception(p.exception);
    if constexpr (!std::is_void_v<T>) return std::move(*p.value);
  }

  // Gives this Task (and what it awaits) an ambient cancel signal; before it is awaited. These
  // setters do nothing on a Task that is already done (Task<void>{}): it awaits nothing.
  void set_cancel_signal(CancelSignal* signal) noexcept { if (handle_) handle_.promise().cancel_signal = signal; }
  // Gives this Task (and what it awaits) ambient outbound header fields; before it is awaited.
  void set_outbound_fields(const OutboundFields* fields) noexcept { if (handle_) handle_.promise().outbound_fields = fields; }
  // Gives this Task (and what it awaits) an ambient trace span; before it is awaited.
  void set_trace_span(const tracing::AmbientSpan* span) noexcept { if (handle_) handle_.promise().trace_span = span; }

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

// The ambient cancel signal of the calling coroutine (a Task), or null:
//   CancelSignal* s = co_await khz::current_cancel_signal();
struct current_cancel_signal {
  CancelSignal* signal = nullptr;
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    if constexpr (std::is_base_of_v<detail::TaskPromiseBase, Promise>) signal = h.promise().cancel_signal;
    return false;  // never suspends
  }
  CancelSignal* await_resume() const noexcept { return signal; }
};

// The ambient outbound header fields of the calling coroutine (a Task), or null:
//   const OutboundFields* f = co_await khz::current_outbound_fields();
struct current_outbound_fields {
  const OutboundFields* fields = nullptr;
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    if constexpr (std::is_base_of_v<detail::TaskPromiseBase, Promise>) fields = h.promise().outbound_fields;
    return false;  // never suspends
  }
  const OutboundFields* await_resume() const noexcept { return fields; }
};

namespace tracing {
// The ambient trace span of the calling coroutine (a Task), or null:
//   const khz::tracing::AmbientSpan* s = co_await khz::tracing::current_ambient_span();
struct current_ambient_span {
  const AmbientSpan* span = nullptr;
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  bool await_suspend(std::coroutine_handle<Promise> h) noexcept {
    if constexpr (std::is_base_of_v<khz::detail::TaskPromiseBase, Promise>) span = h.promise().trace_span;
    return false;  // never suspends
  }
  const AmbientSpan* await_resume() const noexcept { return span; }
};
}  // namespace tracing

// The return type of a coroutine that starts at once, runs on its own and frees its frame when
// it ends; nothing awaits it. Its body must catch what it throws (an escaping exception
// terminates). A root coroutine written this way saves spawn()'s extra frame: the transports
// run each connection's handler so, once per request on a parked keep-alive connection.
struct Detached {
  struct promise_type : detail::Pooled {
    Detached get_return_object() const noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }
  };
};

// Starts `task` now and lets it run to completion on its own; the task's frame is freed when it
// finishes. An exception escaping it is logged, not propagated. The caller must make sure that
// whatever the task references outlives it (the task should own its state).
void spawn(Task<void> task);

}  // namespace khz
