// SPDX-License-Identifier: Apache-2.0
#include <khz/common/cancel.h>

namespace khz {

void CancelSignal::Watch::attach(CancelSignal* signal, Callback fn, void* arg) noexcept {
  detach();
  if (signal == nullptr) return;
  fn_ = fn;
  arg_ = arg;
  if (signal->triggered_) {
    fn(arg);
    return;
  }
  signal_ = signal;
  prev_ = signal->tail_;
  next_ = nullptr;
  const bool first = signal->head_ == nullptr;
  if (prev_ != nullptr) prev_->next_ = this; else signal->head_ = this;
  signal->tail_ = this;
  if (first) signal->on_watched();
}

void CancelSignal::Watch::detach() noexcept {
  CancelSignal* s = signal_;
  if (s == nullptr) return;
  s->unlink(*this);
  if (s->head_ == nullptr && !s->triggered_) s->on_unwatched();
}

void CancelSignal::unlink(Watch& w) noexcept {
  if (w.prev_ != nullptr) w.prev_->next_ = w.next_; else head_ = w.next_;
  if (w.next_ != nullptr) w.next_->prev_ = w.prev_; else tail_ = w.prev_;
  w.prev_ = w.next_ = nullptr;
  w.signal_ = nullptr;
}

void CancelSignal::trigger() noexcept {
  if (triggered_) return;
  triggered_ = true;
  const bool had_watches = head_ != nullptr;
  while (head_ != nullptr) {
    Watch* w = head_;
    unlink(*w);
    w->fn_(w->arg_);  // may destroy any Watch, this one included
  }
  if (had_watches) on_unwatched();
}

void CancelSignal::reset() noexcept {
  const bool had_watches = head_ != nullptr;
  while (head_ != nullptr) unlink(*head_);
  triggered_ = false;
  if (had_watches) on_unwatched();
}

}  // namespace khz
