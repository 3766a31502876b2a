// SPDX-License-Identifier: Apache-2.0
// A thread's pool of small blocks: size classes of 64 bytes up to 4 KiB, one free list each.
// What a request makes and drops (coroutine frames, arena blocks, a header map's field array, a
// client call's shared state) comes and goes here without malloc and free:
//
//   void* p = khz::detail::pool_allocate(200);       // a 256-byte block from this thread's list
//   khz::detail::pool_deallocate(p, 200);            // the same size back
//   std::vector<Field, khz::detail::PoolAllocator<Field>> fields;   // a container's storage
//   struct State : khz::detail::Pooled { ... };      // new and delete of a class
//
// A block freed on another thread joins that thread's list. The lists keep what they are given
// (a thread's peak, like malloc's own caches) and are freed when the thread ends. Bigger sizes go
// to operator new. Under AddressSanitizer every block is a plain operator new, so ASan sees
// each one. Thread-safe (the lists are per thread).
#pragma once

#include <cstddef>
#include <new>

namespace khz::detail {

void* pool_allocate(std::size_t size);
void pool_deallocate(void* block, std::size_t size) noexcept;

template <class T>
struct PoolAllocator {
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "pool blocks have operator new's alignment");
  using value_type = T;
  PoolAllocator() noexcept = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(pool_allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { pool_deallocate(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const PoolAllocator<U>&) const noexcept { return true; }
};

// A base that gives a class pooled new and delete (sized: the class's own size).
struct Pooled {
  static void* operator new(std::size_t size) { return pool_allocate(size); }
  static void operator delete(void* block, std::size_t size) noexcept { pool_deallocate(block, size); }
};

}  // namespace khz::detail
