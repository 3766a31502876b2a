// SPDX-License-Identifier: Apache-2.0
// The nghttp2 glue shared by the HTTP/2 server session and client (see nghttp2_glue.h).
#include "nghttp2_glue.h"

#include <algorithm>
#include <string>

namespace khz::protocol::http2 {
namespace {

class Nghttp2Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "nghttp2"; }
  std::string message(int code) const override { return nghttp2_strerror(code); }
};

}  // namespace

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
  nghttp2_session* ng = nullptr;
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
