// SPDX-License-Identifier: Apache-2.0
// khz::CancelSignal: a one-shot "stop" for work in progress ("the downstream client of this
// request went away"), and the ambient signal a coroutine inherits from the coroutine that
// awaits it (see Task::set_cancel_signal and current_cancel_signal()).
//
//   // A protocol server: the handler's Task, and every Task it awaits, sees the request's signal.
//   Task<> t = core.serve(exchange);
//   t.set_cancel_signal(&request_signal);
//   co_await t;
//
//   // Deep inside (the HTTP client): stop an outbound call when the signal fires.
//   CancelSignal* s = co_await khz::current_cancel_signal();   // null: nobody to tell us
//   CancelSignal::Watch w(s, [](void* call) { static_cast<Call*>(call)->abort(); }, this);
//
// A signal learns lazily whether anyone cares: the first Watch calls on_watched() (the HTTP/1.1
// server starts watching the socket for a hang-up only then, so a handler that never asks costs
// nothing), and when the last Watch leaves, on_unwatched(). trigger() unlinks each Watch and
// runs its callback, once, in registration order; a callback may destroy any Watch (its own
// included). A Watch made after the trigger runs its callback in its constructor.
// Lifetime: a Watch must not outlive its signal, or reset() must have detached it first. A
// subclass that overrides on_unwatched() calls reset() in its own destructor.
// Threading: one event loop's thread; not thread-safe.
#pragma once

#include <cstdint>

namespace khz {

class CancelSignal {
 public:
  using Callback = void (*)(void* arg);

  class Watch {
   public:
    Watch() noexcept = default;
    Watch(CancelSignal* signal, Callback fn, void* arg) noexcept { attach(signal, fn, arg); }
    ~Watch() { detach(); }
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

    // Registers with `signal` (nothing if null), leaving any signal watched before.
    void attach(CancelSignal* signal, Callback fn, void* arg) noexcept;
    void detach() noexcept;
    bool attached() const noexcept { return signal_ != nullptr; }

   private:
    friend class CancelSignal;
    CancelSignal* signal_ = nullptr;
    Watch* prev_ = nullptr;
    Watch* next_ = nullptr;
    Callback fn_ = nullptr;
    void* arg_ = nullptr;
  };

  CancelSignal() noexcept = default;
  virtual ~CancelSignal() { reset(); }
  CancelSignal(const CancelSignal&) = delete;
  CancelSignal& operator=(const CancelSignal&) = delete;

  bool triggered() const noexcept { return triggered_; }
  bool watched() const noexcept { return head_ != nullptr; }
  // Fires the signal (once; later calls do nothing).
  void trigger() noexcept;
  // Ready for the next piece of work: not triggered, every Watch detached (their callbacks not run).
  void reset() noexcept;

 protected:
  virtual void on_watched() noexcept {}
  virtual void on_unwatched() noexcept {}

 private:
  void unlink(Watch& w) noexcept;
  Watch* head_ = nullptr;
  Watch* tail_ = nullptr;
  bool triggered_ = false;
};

}  // namespace khz
