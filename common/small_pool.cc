// SPDX-License-Identifier: Apache-2.0
#include <khz/common/small_pool.h>

#include <array>

namespace khz::detail {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPool = false;  // let ASan see every block
#else
constexpr bool kPool = true;
#endif

// Size classes of 64 bytes up to 4 KiB; bigger blocks go straight to operator new.
constexpr std::size_t kGranule = 64;
constexpr std::size_t kClasses = 64;

struct FreeNode {
  FreeNode* next;
};

struct Pool {
  std::array<FreeNode*, kClasses> heads{};
  ~Pool() {
    for (auto*& head : heads) {
      while (head != nullptr) {
        FreeNode* n = head;
        head = n->next;
        ::operator delete(n);
      }
    }
  }
};

thread_local Pool pool;

std::size_t class_of(std::size_t size) { return (size + kGranule - 1) / kGranule - 1; }

}  // namespace

void* pool_allocate(std::size_t size) {
  if constexpr (kPool) {
    const std::size_t c = class_of(size);
    if (c < kClasses) {
      if (FreeNode* n = pool.heads[c]) {
        pool.heads[c] = n->next;
        return n;
      }
      return ::operator new((c + 1) * kGranule);
    }
  }
  return ::operator new(size);
}

void pool_deallocate(void* block, std::size_t size) noexcept {
  if constexpr (kPool) {
    const std::size_t c = class_of(size);
    if (c < kClasses) {
      auto* n = static_cast<FreeNode*>(block);
      n->next = pool.heads[c];
      pool.heads[c] = n;
      return;
    }
  }
  ::operator delete(block);
}

}  // namespace khz::detail
