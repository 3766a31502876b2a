// SPDX-License-Identifier: Apache-2.0
#include <khz/common/log.h>
#include <khz/common/task.h>

#include <exception>

namespace khz {
namespace detail {

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
