// SPDX-License-Identifier: Apache-2.0
// Private to protocol/http2: what the HTTP/2 server session and the HTTP/2 client share of
// nghttp2. One RAII owner for each nghttp2 handle they use, the session factory, the views
// between nghttp2's byte pointers and string_view, nghttp2's error codes as std::error_code,
// and the raised connection window both sides start with.
//
//   OptionPtr option = new_option();                            // null: out of memory
//   nghttp2_option_set_no_auto_window_update(option.get(), 1);
//   SessionPtr ng = new_session(Role::server, {.send = &on_send, .header = &on_header}, this, option.get());
//   nva.push_back(make_nv(":status", "200"));                   // views: kept until submitted
//   std::string_view name = sv(name_p, name_len);               // in a callback: valid until it returns
//
// Threading: nghttp2's rule: one session is used by one thread at a time.
#pragma once

#include <khz/common/c_handle.h>

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <system_error>

namespace khz::protocol::http2 {

// The owners of nghttp2's handles (<khz/common/c_handle.h>).
using SessionPtr = CHandle<nghttp2_session, nghttp2_session_del>;
using CallbacksPtr = CHandle<nghttp2_session_callbacks, nghttp2_session_callbacks_del>;
using OptionPtr = CHandle<nghttp2_option, nghttp2_option_del>;

// Each: null when nghttp2 could not allocate.
CallbacksPtr new_callbacks() noexcept;
OptionPtr new_option() noexcept;

// The callbacks a session is made with (each called with the session's user_data); null: not set.
struct Callbacks {
  nghttp2_send_callback send = nullptr;
  nghttp2_on_begin_frame_callback begin_frame = nullptr;
  nghttp2_on_begin_headers_callback begin_headers = nullptr;
  nghttp2_on_header_callback header = nullptr;
  nghttp2_on_frame_recv_callback frame_recv = nullptr;
  nghttp2_on_invalid_frame_recv_callback invalid_frame_recv = nullptr;
  nghttp2_on_data_chunk_recv_callback data_chunk_recv = nullptr;
  nghttp2_on_frame_send_callback frame_send = nullptr;
  nghttp2_on_stream_close_callback stream_close = nullptr;
  nghttp2_send_data_callback send_data = nullptr;  // DATA frames read with NGHTTP2_DATA_FLAG_NO_COPY
};

enum class Role { server, client };
// A session calling `callbacks` with `user_data`. `option`: null for nghttp2's defaults; nghttp2
// copies it. `mem`: the allocator of the session's memory (null: pooled_memory()); it must
// outlive the session. Null when nghttp2 could not allocate.
SessionPtr new_session(Role role, const Callbacks& callbacks, void* user_data, const nghttp2_option* option,
                       nghttp2_mem* mem = nullptr) noexcept;

// nghttp2's allocator on the calling thread's small-block pool (a size prefix per block): a
// session's per-stream memory without malloc. A block may be freed on another thread.
nghttp2_mem* pooled_memory() noexcept;

// Raises the connection's receive window from RFC 9113's 65,535 bytes to `size` (capped at
// 2^31-1) with a WINDOW_UPDATE on stream 0; nothing when `size` is not larger.
void raise_connection_window(nghttp2_session* ng, std::uint32_t size) noexcept;

inline std::string_view sv(const std::uint8_t* p, std::size_t n) noexcept { return {reinterpret_cast<const char*>(p), n}; }
inline const std::uint8_t* bytes_of(std::string_view s) noexcept { return reinterpret_cast<const std::uint8_t*>(s.data()); }

// A header field for nghttp2_submit_*: points at `name` and `value`, which must stay valid until
// the submit call returns (nghttp2 copies them). Names must be lower-case.
// `flags`: NGHTTP2_NV_FLAG_NONE has nghttp2 copy (and lower-case) the name and value when the
// frame is submitted; NO_COPY_NAME | NO_COPY_VALUE has it read them where they are when the
// frame is sent, so they must stay put (and names be lower case) until then.
inline nghttp2_nv make_nv(std::string_view name, std::string_view value,
                          std::uint8_t flags = NGHTTP2_NV_FLAG_NONE) noexcept {
  return nghttp2_nv{const_cast<std::uint8_t*>(bytes_of(name)), const_cast<std::uint8_t*>(bytes_of(value)), name.size(),
                    value.size(), flags};
}

// nghttp2's library error codes (NGHTTP2_ERR_*, negative) in category "nghttp2", whose
// message() is nghttp2_strerror's.
const std::error_category& nghttp2_category() noexcept;
inline std::error_code nghttp2_error(int lib_error) noexcept { return {lib_error, nghttp2_category()}; }

}  // namespace khz::protocol::http2
