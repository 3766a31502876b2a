// SPDX-License-Identifier: Apache-2.0
#include <khz/common/log.h>
#include <khz/common/task.h>

#include <array>
#include <exception>
#include <new>

namespace khz {
namespace detail {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPoolFrames = false;  // let ASan see every frame
#else
constexpr bool kPoolFrames = true;
#endif

// Size classes of 64 bytes up to 4 KiB; bigger frames go straight to operator new.
constexpr std::size_t kGranule = 64;
constexpr std::size_t kClasses = 64;

struct FreeNode { FreeNode* next; };

struct FramePool {
  std::array<FreeNode*, kClasses> heads{};
  ~FramePool() {
    for (auto*& head : heads) {
      while (head != nullptr) {
        FreeNode* n = head;
        head = n->next;
        ::operator delete(n);
      }
    }
  }
};

thread_local FramePool pool;

std::size_t class_of(std::size_t size) { return (size + kGranule - 1) / kGranule - 1; }

}  // namespace

void* allocate_frame(std::size_t size) {
  if constexpr (kPoolFrames) {
    std::size_t c = class_of(size);
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

void deallocate_frame(void* frame, std::size_t size) noexcept {
  if constexpr (kPoolFrames) {
    std::size_t c = class_of(size);
    if (c < kClasses) {
      auto* n = static_cast<FreeNode*>(frame);
      n->next = pool.heads[c];
      pool.heads[c] = n;
      return;
    }
  }
  ::operator delete(frame);
}

// Out of line, so the log line's stream is not part of every detached frame (which lives as
// long as its task: for a connection, as long as the connection).
[[gnu::noinline]] void log_spawn_failure(std::exception_ptr e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    KHZ_LOG(error, "spawned task failed: " << ex.what());
  } catch (...) {
    KHZ_LOG(error, "spawned task failed with a non-standard exception");
  }
}

Detached run_detached(Task<void> task) {
  try {
    co_await std::move(task);
  } catch (...) {
    log_spawn_failure(std::current_exception());
  }
}

}  // namespace detail

void spawn(Task<void> task) { detail::run_detached(std::move(task)); }

}  // namespace khz
