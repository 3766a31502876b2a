// SPDX-License-Identifier: Apache-2.0
#include "bucket_table.h"

#include <algorithm>
#include <cmath>

namespace khz::middleware::detail {

void BucketTable::unlink(Entry* e) noexcept {
  (e->prev != nullptr ? e->prev->next : head_) = e->next;
  (e->next != nullptr ? e->next->prev : tail_) = e->prev;
  e->prev = e->next = nullptr;
}

void BucketTable::push_front(Entry* e) noexcept {
  e->prev = nullptr;
  e->next = head_;
  if (head_ != nullptr) head_->prev = e;
  head_ = e;
  if (tail_ == nullptr) tail_ = e;
}

BucketTable::Verdict BucketTable::take(std::string_view key, Clock::time_point now) {
  Entry* e = nullptr;
  auto it = map_.find(key);
  if (it != map_.end()) {
    e = &it->second;
    if (e != head_) {
      unlink(e);
      push_front(e);
    }
    if (now > e->last) {
      const double elapsed = std::chrono::duration<double>(now - e->last).count();
      e->tokens = std::min(burst_, e->tokens + elapsed * rate_);
      e->last = now;
    }
  } else {
    if (map_.size() >= max_keys_ && tail_ != nullptr) {
      Entry* old = tail_;
      unlink(old);
      map_.erase(map_.find(*old->key));
    }
    auto [inserted, ok] = map_.try_emplace(std::string(key));
    (void)ok;
    e = &inserted->second;
    e->key = &inserted->first;
    e->tokens = burst_;
    e->last = now;
    push_front(e);
  }
  Verdict v;
  v.allowed = e->tokens >= 1.0;
  if (v.allowed) e->tokens -= 1.0;
  v.tokens = e->tokens;
  auto seconds = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::max(0.0, s)));
  };
  v.full_in = seconds((burst_ - e->tokens) / rate_);
  if (!v.allowed) v.retry_after = seconds((1.0 - e->tokens) / rate_);
  return v;
}

}  // namespace khz::middleware::detail
