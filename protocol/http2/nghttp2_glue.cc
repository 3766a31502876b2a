// SPDX-License-Identifier: Apache-2.0
// The nghttp2 glue shared by the HTTP/2 server session and client (see nghttp2_glue.h).
#include "nghttp2_glue.h"

#include <khz/common/small_pool.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

namespace khz::protocol::http2 {
namespace {

class Nghttp2Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "nghttp2"; }
  std::string message(int code) const override { return nghttp2_strerror(code); }
};

// nghttp2's memory from the thread's small-block pool (<khz/common/small_pool.h>). A session
// allocates per stream (its stream object, the header list it copies, HPACK work): malloc and
// free were about 8% of an h2c client's CPU. free and realloc are not told a block's size, so
// each block carries it in a 16-byte prefix (which keeps malloc's 16-byte alignment).
constexpr std::size_t kPrefix = 16;

std::size_t size_of(void* p) noexcept {
  std::size_t size = 0;
  std::memcpy(&size, static_cast<unsigned char*>(p) - kPrefix, sizeof size);
  return size;
}

void* pooled_malloc(std::size_t size, void*) noexcept {
  if (size > SIZE_MAX - kPrefix) return nullptr;
  try {
    auto* block = static_cast<unsigned char*>(detail::pool_allocate(size + kPrefix));
    std::memcpy(block, &size, sizeof size);
    return block + kPrefix;
  } catch (...) {
    return nullptr;  // nghttp2 is C: it is told, not thrown at
  }
}

void pooled_free(void* p, void*) noexcept {
  if (p == nullptr) return;
  detail::pool_deallocate(static_cast<unsigned char*>(p) - kPrefix, size_of(p) + kPrefix);
}

void* pooled_calloc(std::size_t n, std::size_t size, void* user_data) noexcept {
  if (size != 0 && n > SIZE_MAX / size) return nullptr;
  void* p = pooled_malloc(n * size, user_data);
  if (p != nullptr) std::memset(p, 0, n * size);
  return p;
}

void* pooled_realloc(void* p, std::size_t size, void* user_data) noexcept {
  if (p == nullptr) return pooled_malloc(size, user_data);
  const std::size_t old = size_of(p);
  if (size <= old) return p;  // the block stays as large as it was
  void* bigger = pooled_malloc(size, user_data);
  if (bigger == nullptr) return nullptr;  // `p` stays valid, as realloc's would
  std::memcpy(bigger, p, old);
  pooled_free(p, user_data);
  return bigger;
}

nghttp2_mem pooled_mem{nullptr, &pooled_malloc, &pooled_free, &pooled_calloc, &pooled_realloc};

}  // namespace

nghttp2_mem* pooled_memory() noexcept { return &pooled_mem; }

CallbacksPtr new_callbacks() noexcept {
  nghttp2_session_callbacks* cb = nullptr;
  if (nghttp2_session_callbacks_new(&cb) != 0) return nullptr;
  return CallbacksPtr(cb);
}

OptionPtr new_option() noexcept {
  nghttp2_option* option = nullptr;
  if (nghttp2_option_new(&option) != 0) return nullptr;
  return OptionPtr(option);
}

SessionPtr new_session(Role role, const Callbacks& callbacks, void* user_data, const nghttp2_option* option,
                       nghttp2_mem* mem) noexcept {
  CallbacksPtr cb = new_callbacks();
  if (!cb) return nullptr;
  nghttp2_session_callbacks* c = cb.get();
  if (callbacks.send) nghttp2_session_callbacks_set_send_callback(c, callbacks.send);
  if (callbacks.begin_frame) nghttp2_session_callbacks_set_on_begin_frame_callback(c, callbacks.begin_frame);
  if (callbacks.begin_headers) nghttp2_session_callbacks_set_on_begin_headers_callback(c, callbacks.begin_headers);
  if (callbacks.header) nghttp2_session_callbacks_set_on_header_callback(c, callbacks.header);
  if (callbacks.frame_recv) nghttp2_session_callbacks_set_on_frame_recv_callback(c, callbacks.frame_recv);
  if (callbacks.invalid_frame_recv) {
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(c, callbacks.invalid_frame_recv);
  }
  if (callbacks.data_chunk_recv) nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, callbacks.data_chunk_recv);
  if (callbacks.frame_send) nghttp2_session_callbacks_set_on_frame_send_callback(c, callbacks.frame_send);
  if (callbacks.stream_close) nghttp2_session_callbacks_set_on_stream_close_callback(c, callbacks.stream_close);
  if (callbacks.send_data) nghttp2_session_callbacks_set_send_data_callback(c, callbacks.send_data);
  nghttp2_session* ng = nullptr;
  if (mem == nullptr) mem = pooled_memory();
  const int rv = role == Role::server ? nghttp2_session_server_new3(&ng, c, user_data, option, mem)
                                      : nghttp2_session_client_new3(&ng, c, user_data, option, mem);
  if (rv != 0) return nullptr;
  return SessionPtr(ng);
}

void raise_connection_window(nghttp2_session* ng, std::uint32_t size) noexcept {
  if (size <= NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE) return;
  nghttp2_session_set_local_window_size(ng, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<std::int32_t>(std::min<std::uint32_t>(size, NGHTTP2_MAX_WINDOW_SIZE)));
}

const std::error_category& nghttp2_category() noexcept {
  static const Nghttp2Category category;
  return category;
}

}  // namespace khz::protocol::http2
