// SPDX-License-Identifier: Apache-2.0
#include <khz/common/small_pool.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPooled = false;  // every block is a plain operator new under ASan
#else
constexpr bool kPooled = true;
#endif

struct Node : khz::detail::Pooled {
  char bytes[200];
};

}  // namespace

TEST_CASE("small pool: a freed block is handed out again for a size of the same class") {
  void* a = khz::detail::pool_allocate(100);
  std::memset(a, 1, 100);
  khz::detail::pool_deallocate(a, 100);
  void* b = khz::detail::pool_allocate(128);  // 100 and 128: both the 128-byte class
  if (kPooled) CHECK(b == a);
  std::memset(b, 2, 128);
  void* c = khz::detail::pool_allocate(129);  // the next class: another block
  CHECK(c != b);
  khz::detail::pool_deallocate(b, 128);
  khz::detail::pool_deallocate(c, 129);
}

TEST_CASE("small pool: sizes past 4 KiB and zero go to operator new; blocks are aligned") {
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{64}, std::size_t{4096}, std::size_t{4097},
                           std::size_t{100000}}) {
    void* p = khz::detail::pool_allocate(size);
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(p) % __STDCPP_DEFAULT_NEW_ALIGNMENT__ == 0);
    if (size != 0) std::memset(p, 3, size);
    khz::detail::pool_deallocate(p, size);
  }
}

TEST_CASE("small pool: Pooled classes, allocate_shared and containers use it") {
  auto n = std::make_unique<Node>();
  Node* raw = n.get();
  n.reset();
  auto again = std::make_unique<Node>();
  if (kPooled) CHECK(again.get() == raw);

  auto shared = std::allocate_shared<int>(khz::detail::PoolAllocator<int>{}, 7);
  CHECK(*shared == 7);
  std::vector<int, khz::detail::PoolAllocator<int>> v;
  for (int i = 0; i < 2000; ++i) v.push_back(i);  // grows through classes and past the pool
  CHECK(v[1999] == 1999);
  std::vector<bool, khz::detail::PoolAllocator<bool>> bits(100, false);
  bits[42] = true;
  CHECK(bits[42]);
}

TEST_CASE("small pool: a block freed on another thread joins that thread's lists") {
  void* p = khz::detail::pool_allocate(300);
  std::memset(p, 4, 300);
  void* reused = nullptr;
  std::thread([&] {
    khz::detail::pool_deallocate(p, 300);
    reused = khz::detail::pool_allocate(300);  // this thread's list now holds it
    khz::detail::pool_deallocate(reused, 300);
  }).join();  // the thread's lists are freed as it ends
  if (kPooled) CHECK(reused == p);
}
