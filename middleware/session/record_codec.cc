// SPDX-License-Identifier: Apache-2.0
#include "record_codec.h"

#include <cstdint>

namespace khz::middleware::detail {
namespace {

constexpr unsigned char kVersion = 1;

void put(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

struct Reader {
  std::string_view in;
  bool ok = true;
  std::uint64_t number(int bytes) {
    if (!ok || in.size() < static_cast<std::size_t>(bytes)) return ok = false, 0;
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[static_cast<std::size_t>(i)]);
    in.remove_prefix(static_cast<std::size_t>(bytes));
    return v;
  }
  std::string_view bytes(std::uint64_t n) {
    if (!ok || in.size() < n) return ok = false, std::string_view{};
    std::string_view v = in.substr(0, n);
    in.remove_prefix(n);
    return v;
  }
};

std::uint64_t unix_seconds(std::chrono::system_clock::time_point t) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  return s < 0 ? 0 : static_cast<std::uint64_t>(s);
}

}  // namespace

void encode_record(const SessionRecord& r, std::string& out) {
  out.push_back(static_cast<char>(kVersion));
  put(out, unix_seconds(r.created), 8);
  put(out, unix_seconds(r.last_written), 8);
  const std::string_view id = std::string_view(r.id).substr(0, 255);
  put(out, id.size(), 1);
  out.append(id);
  put(out, r.values.size(), 4);
  for (const auto& [k, v] : r.values) {
    put(out, k.size(), 4);
    out.append(k);
    put(out, v.size(), 4);
    out.append(v);
  }
}

std::optional<SessionRecord> decode_record(std::string_view bytes) {
  Reader r{bytes};
  if (r.number(1) != kVersion || !r.ok) return std::nullopt;
  SessionRecord rec;
  const std::uint64_t created = r.number(8);
  const std::uint64_t written = r.number(8);
  // A time past 2200-01-01 is no time a session was written: refuse it rather than overflow
  // system_clock (nanoseconds: it ends in 2262) or the arithmetic on it (created + max_age).
  constexpr std::uint64_t kMaxSeconds = 7258118400;
  if (!r.ok || created > kMaxSeconds || written > kMaxSeconds) return std::nullopt;
  rec.created = std::chrono::system_clock::time_point(std::chrono::seconds(created));
  rec.last_written = std::chrono::system_clock::time_point(std::chrono::seconds(written));
  rec.id = std::string(r.bytes(r.number(1)));
  const std::uint64_t count = r.number(4);
  for (std::uint64_t i = 0; r.ok && i < count; ++i) {
    std::string_view k = r.bytes(r.number(4));
    std::string_view v = r.bytes(r.number(4));
    if (!r.ok) break;
    rec.values.insert_or_assign(std::string(k), std::string(v));
  }
  if (!r.ok || !r.in.empty() || rec.values.size() != count) return std::nullopt;
  return rec;
}

}  // namespace khz::middleware::detail
