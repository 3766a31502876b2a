// SPDX-License-Identifier: Apache-2.0
// Private to transport/: a queued file (Connection::send_file) sent by sendfile(2), straight from
// the page cache to a non-blocking socket, for the backends that send files themselves.
#pragma once

#include <cstdint>
#include <system_error>

namespace khz::transport {

enum class FileSendProgress { done, would_block, failed };

// Sends what the socket takes of `length` bytes of `file` from `offset`, advancing both; stops
// when the socket is full (would_block), when all is sent (done) or on an error (failed, with
// `error` set: errc::file_truncated when the file ends early). A peer gone away is EPIPE, never
// a SIGPIPE: sendfile has no MSG_NOSIGNAL, so the first call in a thread blocks SIGPIPE there
// for good (file_send.cc says why) and a raised one is consumed.
FileSendProgress send_file_available(int socket, int file, std::uint64_t& offset, std::uint64_t& length,
                                     std::error_code& error) noexcept;

}  // namespace khz::transport
