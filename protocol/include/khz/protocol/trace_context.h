// SPDX-License-Identifier: Apache-2.0
// The W3C Trace Context codec (https://www.w3.org/TR/trace-context/): the `traceparent` and
// `tracestate` request header fields, parsed and formatted. Sans-I/O, shared by server and
// client; the tracing API (<khz/tracing/tracing.h>) builds on it.
//
//   auto tp = khz::protocol::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
//   if (tp && tp->sampled()) { ... }                // nullopt: invalid, start a new trace
//   char out[khz::protocol::traceparent_size];
//   khz::protocol::format_traceparent(*tp, out);    // always version 00
//
//   auto ts = khz::protocol::TraceState::parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
//   ts->put("khz", "s1");                            // moves "khz" to the front
//   std::string header = ts->format();               // at most 512 characters
//
// Rules (§3.2, §3.3): version "ff" is invalid; version 00 is exactly 55 characters; a later
// version is parsed as 00 when the first 55 characters follow 00's layout and the next one, if
// any, is '-'. Hex is lowercase only. An all-zero trace-id or parent-id is invalid. Of the
// flags, only `sampled` (0x01) is kept when formatting; the others are dropped as §3.2.2.5 asks.
// A tracestate with a malformed member, a duplicate key or more than 32 members is discarded
// whole (parse gives nullopt); format() keeps the header within 512 characters by dropping
// members longer than 128 characters first, then members from the end (§3.3.1.5).
// Every function is pure and never throws on bad input; callable from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace khz::protocol {

inline constexpr std::size_t traceparent_size = 55;  // "00-" 32 "-" 16 "-" 2
inline constexpr std::uint8_t trace_flag_sampled = 0x01;

using TraceId = std::array<std::uint8_t, 16>;
using SpanId = std::array<std::uint8_t, 8>;

// The parsed `traceparent`: the caller's trace and its span (the parent of the receiver's).
struct TraceParent {
  TraceId trace_id{};
  SpanId parent_id{};
  std::uint8_t flags = 0;
  bool sampled() const noexcept { return (flags & trace_flag_sampled) != 0; }
};

// The value of a `traceparent` field; nullopt when invalid (the receiver then starts a trace).
std::optional<TraceParent> parse_traceparent(std::string_view value) noexcept;
// Writes the version-00 form (exactly traceparent_size characters, no terminator).
void format_traceparent(const TraceParent& tp, char* out) noexcept;
std::string format_traceparent(const TraceParent& tp);

// Lowercase hex of `bytes` into out (2 x bytes.size() characters, no terminator).
void hex_encode(std::span<const std::uint8_t> bytes, char* out) noexcept;
// True when every byte is zero (an invalid trace-id or span-id).
bool all_zero(std::span<const std::uint8_t> bytes) noexcept;

// A `tracestate` list: vendor key/value pairs, most recently updated first.
class TraceState {
 public:
  static constexpr std::size_t max_members = 32;
  static constexpr std::size_t max_length = 512;          // of the formatted header
  static constexpr std::size_t large_member_length = 128;  // dropped first when over max_length

  // The combined field value (several `tracestate` lines joined with ','); nullopt when it is
  // malformed, repeats a key or holds more than max_members members (empty members are allowed
  // and skipped, §3.3.1.1).
  static std::optional<TraceState> parse(std::string_view value);

  // Sets key to value and moves it to the front (§3.3.1.3); false, and nothing changed, when the
  // key or value breaks the grammar. When the list is full the last member makes room.
  bool put(std::string_view key, std::string_view value);
  // The value of key; nullopt when absent.
  std::optional<std::string_view> get(std::string_view key) const noexcept;
  void erase(std::string_view key) noexcept;

  bool empty() const noexcept { return members_.empty(); }
  std::size_t size() const noexcept { return members_.size(); }
  const std::vector<std::pair<std::string, std::string>>& members() const noexcept { return members_; }

  // "k1=v1,k2=v2", within max_length characters.
  std::string format() const;

 private:
  std::vector<std::pair<std::string, std::string>> members_;
};

// key = simple-key / multi-tenant-key (§3.3.1.3.1); value = 0*255(chr) nblk-chr (§3.3.1.3.2).
bool valid_tracestate_key(std::string_view key) noexcept;
bool valid_tracestate_value(std::string_view value) noexcept;

}  // namespace khz::protocol
