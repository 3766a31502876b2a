// SPDX-License-Identifier: Apache-2.0
// The nghttp2 glue shared by the HTTP/2 server session and client (see nghttp2_glue.h).
#include "nghttp2_glue.h"

#include <algorithm>
#include <string>

namespace khz::http2 {
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

SessionPtr new_session(Role role, const nghttp2_session_callbacks* callbacks, void* user_data,
                       const nghttp2_option* option, nghttp2_mem* mem) noexcept {
  if (callbacks == nullptr || option == nullptr) return nullptr;
  nghttp2_session* ng = nullptr;
  const int rv = role == Role::server ? nghttp2_session_server_new3(&ng, callbacks, user_data, option, mem)
                                      : nghttp2_session_client_new3(&ng, callbacks, user_data, option, mem);
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

}  // namespace khz::http2
