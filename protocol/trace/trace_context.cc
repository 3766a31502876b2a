// SPDX-License-Identifier: Apache-2.0
// The W3C Trace Context codec: traceparent (§3.2) and tracestate (§3.3).
#include <khz/protocol/trace_context.h>

#include <algorithm>

namespace khz::protocol {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is invalid (§3.2.2: lowercase hex)
}

// Reads 2 x out.size() lowercase hex characters; false on any other character.
bool hex_decode(std::string_view text, std::span<std::uint8_t> out) noexcept {
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(text[2 * i]);
    int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

bool is_lcalpha(char c) noexcept { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_key_char(char c) noexcept {
  return is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}
bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

void hex_encode(std::span<const std::uint8_t> bytes, char* out) noexcept {
  static constexpr char digits[] = "0123456789abcdef";
  for (std::uint8_t b : bytes) {
    *out++ = digits[b >> 4];
    *out++ = digits[b & 0x0f];
  }
}

bool all_zero(std::span<const std::uint8_t> bytes) noexcept {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

std::optional<TraceParent> parse_traceparent(std::string_view value) noexcept {
  // §3.2.4: leading and trailing OWS are not part of the value (the field parser strips them).
  value = trim_ows(value);
  if (value.size() < traceparent_size) return std::nullopt;
  std::uint8_t version = 0;
  if (!hex_decode(value.substr(0, 2), std::span(&version, 1))) return std::nullopt;
  if (version == 0xff) return std::nullopt;  // §3.2.2.1: forbidden
  if (version == 0x00) {
    if (value.size() != traceparent_size) return std::nullopt;
  } else if (value.size() > traceparent_size && value[traceparent_size] != '-') {
    return std::nullopt;  // §3.2.4: a later version may only append "-..." fields
  }
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return std::nullopt;
  TraceParent tp;
  if (!hex_decode(value.substr(3, 32), tp.trace_id)) return std::nullopt;
  if (!hex_decode(value.substr(36, 16), tp.parent_id)) return std::nullopt;
  if (!hex_decode(value.substr(53, 2), std::span(&tp.flags, 1))) return std::nullopt;
  if (all_zero(tp.trace_id) || all_zero(tp.parent_id)) return std::nullopt;  // §3.2.2.3, §3.2.2.4
  return tp;
}

void format_traceparent(const TraceParent& tp, char* out) noexcept {
  out[0] = '0';
  out[1] = '0';
  out[2] = '-';
  hex_encode(tp.trace_id, out + 3);
  out[35] = '-';
  hex_encode(tp.parent_id, out + 36);
  out[52] = '-';
  std::uint8_t flags = tp.flags & trace_flag_sampled;  // §3.2.2.5: unknown flags are not sent
  hex_encode(std::span(&flags, 1), out + 53);
}

std::string format_traceparent(const TraceParent& tp) {
  std::string s(traceparent_size, '\0');
  format_traceparent(tp, s.data());
  return s;
}

bool valid_tracestate_key(std::string_view key) noexcept {
  auto at = key.find('@');
  if (at == std::string_view::npos) {  // simple-key
    if (key.empty() || key.size() > 256 || !is_lcalpha(key[0])) return false;
    return std::all_of(key.begin() + 1, key.end(), is_key_char);
  }
  std::string_view tenant = key.substr(0, at);
  std::string_view system = key.substr(at + 1);
  if (tenant.empty() || tenant.size() > 241 || !(is_lcalpha(tenant[0]) || is_digit(tenant[0]))) return false;
  if (system.empty() || system.size() > 14 || !is_lcalpha(system[0])) return false;
  return std::all_of(tenant.begin() + 1, tenant.end(), is_key_char) &&
         std::all_of(system.begin() + 1, system.end(), is_key_char);
}

bool valid_tracestate_value(std::string_view value) noexcept {
  // value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
  if (value.empty() || value.size() > 256 || value.back() == ' ') return false;
  return std::all_of(value.begin(), value.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u <= 0x7e && c != ',' && c != '=';
  });
}

std::optional<TraceState> TraceState::parse(std::string_view value) {
  TraceState state;
  while (true) {
    auto comma = value.find(',');
    std::string_view member = trim_ows(value.substr(0, comma));
    if (!member.empty()) {  // §3.3.1.1: empty members are allowed and ignored
      auto eq = member.find('=');
      if (eq == std::string_view::npos) return std::nullopt;
      std::string_view key = member.substr(0, eq);
      std::string_view val = member.substr(eq + 1);
      if (!valid_tracestate_key(key) || !valid_tracestate_value(val)) return std::nullopt;
      if (state.get(key)) return std::nullopt;  // §3.3.1.2: a key appears at most once
      if (state.members_.size() == max_members) return std::nullopt;
      state.members_.emplace_back(key, val);
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return state;
}

bool TraceState::put(std::string_view key, std::string_view value) {
  if (!valid_tracestate_key(key) || !valid_tracestate_value(value)) return false;
  erase(key);
  if (members_.size() == max_members) members_.pop_back();
  members_.emplace(members_.begin(), key, value);
  return true;
}

std::optional<std::string_view> TraceState::get(std::string_view key) const noexcept {
  for (const auto& [k, v] : members_) {
    if (k == key) return std::string_view(v);
  }
  return std::nullopt;
}

void TraceState::erase(std::string_view key) noexcept {
  std::erase_if(members_, [key](const auto& m) { return m.first == key; });
}

std::string TraceState::format() const {
  auto length = [](const std::pair<std::string, std::string>& m) { return m.first.size() + 1 + m.second.size(); };
  std::vector<bool> keep(members_.size(), true);
  std::size_t total = 0;
  std::size_t kept = 0;
  for (const auto& m : members_) total += length(m);
  kept = members_.size();
  auto header_size = [&] { return total + (kept > 0 ? kept - 1 : 0); };
  // §3.3.1.5: over the limit, drop members longer than 128 characters first (from the end),
  // then members from the end.
  for (std::size_t i = members_.size(); i-- > 0 && header_size() > max_length;) {
    if (length(members_[i]) > large_member_length) {
      keep[i] = false;
      total -= length(members_[i]);
      --kept;
    }
  }
  for (std::size_t i = members_.size(); i-- > 0 && header_size() > max_length;) {
    if (keep[i]) {
      keep[i] = false;
      total -= length(members_[i]);
      --kept;
    }
  }
  std::string out;
  out.reserve(header_size());
  for (std::size_t i = 0; i < members_.size(); ++i) {
    if (!keep[i]) continue;
    if (!out.empty()) out += ',';
    out += members_[i].first;
    out += '=';
    out += members_[i].second;
  }
  return out;
}

}  // namespace khz::protocol
