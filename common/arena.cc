// SPDX-License-Identifier: Apache-2.0
#include <khz/common/arena.h>

#include <algorithm>
#include <cstring>

namespace khz {

char* Arena::allocate(std::size_t n) {
  n = (n + 7) & ~std::size_t{7};
  if (blocks_.empty() || blocks_.back().size - used_ < n) {
    std::size_t last = blocks_.empty() ? 0 : blocks_.back().size;
    std::size_t size = std::max({n, std::size_t{1024}, last * 2});
    blocks_.push_back(Block{std::make_unique<char[]>(size), size});
    used_ = 0;
  }
  char* p = blocks_.back().data.get() + used_;
  used_ += n;
  return p;
}

std::string_view Arena::copy(std::string_view a, std::string_view b) {
  std::size_t n = a.size() + b.size();
  if (n == 0) return {};
  char* p = allocate(n);
  std::memcpy(p, a.data(), a.size());
  if (!b.empty()) std::memcpy(p + a.size(), b.data(), b.size());
  return {p, n};
}

void Arena::keep_largest_block() noexcept {
  auto largest = std::max_element(blocks_.begin(), blocks_.end(),
                                  [](const Block& x, const Block& y) { return x.size < y.size; });
  Block keep = std::move(*largest);
  blocks_.clear();
  blocks_.push_back(std::move(keep));
}

std::size_t Arena::bytes_reserved() const noexcept {
  std::size_t n = 0;
  for (const auto& b : blocks_) n += b.size;
  return n;
}

}  // namespace khz
