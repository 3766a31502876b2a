// SPDX-License-Identifier: Apache-2.0
// The W3C Baggage codec (§3.3).
#include <khz/protocol/baggage.h>

#include <algorithm>

namespace khz::protocol {
namespace {

bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
bool is_baggage_octet(unsigned char c) noexcept {
  return c >= 0x21 && c <= 0x7e && c != '"' && c != ',' && c != ';' && c != '\\';
}

bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes a value of baggage-octets; false on a byte outside them or a bad escape.
bool decode_value(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (!is_baggage_octet(static_cast<unsigned char>(c))) return false;
    if (c != '%') {
      out += c;
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex_value(in[i + 1]);
    int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi << 4 | lo);
    i += 2;
  }
  return true;
}

void encode_value(std::string_view in, std::string& out) {
  static constexpr char digits[] = "0123456789ABCDEF";
  for (char c : in) {
    auto u = static_cast<unsigned char>(c);
    if (is_baggage_octet(u) && c != '%') {
      out += c;
    } else {
      out += '%';
      out += digits[u >> 4];
      out += digits[u & 0x0f];
    }
  }
}

// Properties: *( OWS ";" OWS property ), property = key OWS "=" OWS value / key OWS.
bool valid_properties(std::string_view props) {
  std::string scratch;
  while (true) {
    auto semi = props.find(';');
    std::string_view prop = trim_ows(props.substr(0, semi));
    auto eq = prop.find('=');
    std::string_view key = trim_ows(prop.substr(0, eq));
    if (!valid_baggage_key(key)) return false;
    if (eq != std::string_view::npos && !decode_value(trim_ows(prop.substr(eq + 1)), scratch)) return false;
    if (semi == std::string_view::npos) return true;
    props.remove_prefix(semi + 1);
  }
}

std::size_t member_size(const BaggageEntry& e, std::string& scratch) {
  scratch.clear();
  encode_value(e.value, scratch);
  return e.key.size() + 1 + scratch.size() + (e.properties.empty() ? 0 : 1 + e.properties.size());
}

}  // namespace

bool valid_baggage_key(std::string_view key) noexcept {
  return !key.empty() && std::all_of(key.begin(), key.end(), is_tchar);
}

std::size_t Baggage::add_header(std::string_view header) {
  std::size_t skipped = 0;
  std::string value;
  std::string scratch;
  std::size_t bytes = 0;
  for (const auto& e : entries_) bytes += member_size(e, scratch) + 1;
  while (true) {
    auto comma = header.find(',');
    std::string_view member = trim_ows(header.substr(0, comma));
    if (!member.empty()) {
      std::string_view props;
      std::string_view pair = member;
      if (auto semi = member.find(';'); semi != std::string_view::npos) {
        pair = member.substr(0, semi);
        props = trim_ows(member.substr(semi + 1));
      }
      auto eq = pair.find('=');
      std::string_view key = trim_ows(pair.substr(0, eq));
      bool ok = eq != std::string_view::npos && valid_baggage_key(key) &&
                decode_value(trim_ows(pair.substr(eq + 1)), value) && (props.empty() || valid_properties(props));
      if (!ok) {
        ++skipped;
      } else {
        std::size_t size = member.size() + 1;
        bool known = get(key).has_value();
        if ((!known && entries_.size() >= max_members) || bytes + size > max_bytes + 1) {
          ++skipped;
        } else {
          erase(key);
          entries_.push_back({std::string(key), value, std::string(props)});
          bytes += size;
        }
      }
    }
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return skipped;
}

bool Baggage::set(std::string_view key, std::string_view value, std::string_view properties) {
  if (!valid_baggage_key(key)) return false;
  properties = trim_ows(properties);
  if (!properties.empty() && !valid_properties(properties)) return false;
  for (auto& e : entries_) {
    if (e.key == key) {
      e.value = value;
      e.properties = properties;
      return true;
    }
  }
  entries_.push_back({std::string(key), std::string(value), std::string(properties)});
  return true;
}

std::optional<std::string_view> Baggage::get(std::string_view key) const noexcept {
  for (const auto& e : entries_) {
    if (e.key == key) return std::string_view(e.value);
  }
  return std::nullopt;
}

void Baggage::erase(std::string_view key) noexcept {
  std::erase_if(entries_, [key](const BaggageEntry& e) { return e.key == key; });
}

std::string Baggage::format() const {
  std::string out;
  std::string member;
  std::size_t count = 0;
  for (const auto& e : entries_) {
    if (count == max_members) break;
    member.clear();
    member += e.key;
    member += '=';
    encode_value(e.value, member);
    if (!e.properties.empty()) {
      member += ';';
      member += e.properties;
    }
    std::size_t grown = out.size() + (out.empty() ? 0 : 1) + member.size();
    if (grown > max_bytes) continue;  // too big: leave it out, smaller ones may still fit
    if (!out.empty()) out += ',';
    out += member;
    ++count;
  }
  return out;
}

}  // namespace khz::protocol
