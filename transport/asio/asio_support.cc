// SPDX-License-Identifier: Apache-2.0
// The Asio backend's operation memory: per-thread pools of handler blocks.
#include "asio/asio_support.h"

#include <new>

namespace khz::transport {
namespace {

// Every asynchronous operation allocates a block for its handler. Boost 1.74 recycles one
// block per thread, which a request (wait, receive, send) overruns; these pools keep every
// block on the loop thread that freed it, so a busy connection allocates nothing per request.
constexpr std::size_t kOpBlock = 512;
constexpr std::size_t kMaxPooledOps = 4096;

struct OpPool {
  void* head = nullptr;
  std::size_t count = 0;
  ~OpPool() {
    while (head != nullptr) {
      void* next = *static_cast<void**>(head);
      ::operator delete(head);
      head = next;
    }
  }
};
thread_local OpPool op_pool;

}  // namespace

void* allocate_op(std::size_t size) {
  if (size <= kOpBlock && op_pool.head != nullptr) {
    void* p = op_pool.head;
    op_pool.head = *static_cast<void**>(p);
    --op_pool.count;
    return p;
  }
  return ::operator new(size <= kOpBlock ? kOpBlock : size);
}

void deallocate_op(void* p, std::size_t size) noexcept {
  if (size <= kOpBlock && op_pool.count < kMaxPooledOps) {
    *static_cast<void**>(p) = op_pool.head;
    op_pool.head = p;
    ++op_pool.count;
    return;
  }
  ::operator delete(p);
}

}  // namespace khz::transport
