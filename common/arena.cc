// SPDX-License-Identifier: Apache-2.0
#include <khz/common/arena.h>
#include <khz/common/short_copy.h>
#include <khz/common/small_pool.h>

#include <algorithm>

namespace khz {

char* Arena::allocate_in_new_block(std::size_t n) {
  // (a first allocate(0) gets a block too)
  const std::size_t size = std::max({n, std::size_t{1024}, head_.size * 2});
  const Block fresh{static_cast<char*>(detail::pool_allocate(size)), size};
  if (head_.data != nullptr) {
    try {
      older_.push_back(head_);
    } catch (...) {
      free_block(fresh);
      throw;
    }
  }
  head_ = fresh;
  used_ = n;
  return head_.data;
}

std::string_view Arena::copy(std::string_view a, std::string_view b) {
  const std::size_t n = a.size() + b.size();
  if (n == 0) return {};
  char* p = allocate(n);
  copy_short(copy_short(p, a.data(), a.size()), b.data(), b.size());
  return {p, n};
}

void Arena::free_block(Block b) noexcept { detail::pool_deallocate(b.data, b.size); }

void Arena::keep_largest_block() noexcept {
  for (Block& b : older_) {
    if (b.size > head_.size) std::swap(b, head_);
    free_block(b);
  }
  older_.clear();
}

void Arena::release() noexcept {
  for (const Block& b : older_) free_block(b);
  older_.clear();
  if (head_.data != nullptr) free_block(head_);
  head_ = Block{};
  used_ = 0;
}

std::size_t Arena::bytes_reserved() const noexcept {
  std::size_t n = head_.size;
  for (const auto& b : older_) n += b.size;
  return n;
}

}  // namespace khz
