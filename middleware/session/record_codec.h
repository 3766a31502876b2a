// SPDX-License-Identifier: Apache-2.0
// Private to middleware/session: a SessionRecord as bytes, the payload both stores keep (sealed
// in a cookie, or a Redis value). Big-endian, length-prefixed:
//   u8 version (1) | u64 created | u64 last_written (Unix seconds, before 2200) | u8 id length | id |
//   u32 pair count | { u32 key length | key | u32 value length | value } ...
// decode refuses anything else (a short or long buffer, a bad version, lengths past the end).
#pragma once

#include <khz/middleware/session.h>

#include <optional>
#include <string>
#include <string_view>

namespace khz::middleware::detail {

void encode_record(const SessionRecord& record, std::string& out);
std::optional<SessionRecord> decode_record(std::string_view bytes);

}  // namespace khz::middleware::detail
