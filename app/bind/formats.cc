// SPDX-License-Identifier: Apache-2.0
// The validation formats and the helpers rules share: email (the WHATWG "valid e-mail address"
// grammar, what a browser's <input type=email> accepts), absolute URL, UUID (RFC 9562 text
// form), IP addresses (inet_pton), UTF-8 length, "a|b|c" lists. Patterns: pattern.cc.
#include <khz/app/bind.h>

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <string>

namespace khz::detail {
namespace {

constexpr bool is_alnum(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool is_hex(char c) noexcept { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Character classes of the email grammar, one table lookup per character.
enum : std::uint8_t { kAlnum = 1, kLocalSymbol = 2 };
constexpr auto kEmailClass = [] {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    if (is_alnum(static_cast<char>(c))) t[static_cast<std::size_t>(c)] = kAlnum;
  }
  for (char c : std::string_view(".!#$%&'*+/=?^_`{|}~-")) t[static_cast<unsigned char>(c)] = kLocalSymbol;
  return t;
}();

// labels separated by dots, label = alnum ( *61(alnum / "-") alnum )?
bool is_domain(std::string_view d) noexcept {
  if (d.empty() || d.size() > 253) return false;
  std::size_t label = 0;  // characters in the label so far
  char prev = '.';
  for (char c : d) {
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else {
      if ((kEmailClass[static_cast<unsigned char>(c)] & kAlnum) == 0 && (c != '-' || label == 0)) return false;
      if (++label > 63) return false;
    }
    prev = c;
  }
  return label != 0 && prev != '-';
}

bool is_email(std::string_view s) noexcept {
  std::size_t at = 0;
  for (; at < s.size() && s[at] != '@'; ++at) {
    if (kEmailClass[static_cast<unsigned char>(s[at])] == 0) return false;
  }
  if (at == 0 || at == s.size() || at > 64) return false;
  return is_domain(s.substr(at + 1));
}

bool is_ipv4(std::string_view s) noexcept {
  char buf[INET_ADDRSTRLEN];
  if (s.size() >= sizeof buf) return false;
  s.copy(buf, s.size());
  buf[s.size()] = '\0';
  in_addr a;
  return inet_pton(AF_INET, buf, &a) == 1;
}

bool is_ipv6(std::string_view s) noexcept {
  char buf[INET6_ADDRSTRLEN];
  if (s.size() >= sizeof buf) return false;
  s.copy(buf, s.size());
  buf[s.size()] = '\0';
  in6_addr a;
  return inet_pton(AF_INET6, buf, &a) == 1;
}

// scheme "://" authority [path...]: an absolute URL with a host, no spaces or controls.
bool is_url(std::string_view s) noexcept {
  std::size_t colon = s.find("://");
  if (colon == 0 || colon == std::string_view::npos) return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return false;
  for (char c : s.substr(0, colon)) {
    if (!is_alnum(c) && c != '+' && c != '-' && c != '.') return false;
  }
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  std::string_view rest = s.substr(colon + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  std::string_view host = authority;
  if (!host.empty() && host.front() == '[') {
    std::size_t close = host.find(']');
    if (close == std::string_view::npos || !is_ipv6(host.substr(1, close - 1))) return false;
    host = host.substr(close + 1);
    return host.empty() || host.front() == ':';
  }
  if (auto c = host.rfind(':'); c != std::string_view::npos) {
    std::string_view port = host.substr(c + 1);
    for (char ch : port) {
      if (ch < '0' || ch > '9') return false;
    }
    host = host.substr(0, c);
  }
  return !host.empty() && (is_domain(host) || is_ipv4(host));
}

bool is_uuid(std::string_view s) noexcept {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}

}  // namespace

bool matches_format(Format format, std::string_view value) noexcept {
  switch (format) {
    case Format::none: return true;
    case Format::email: return is_email(value);
    case Format::url: return is_url(value);
    case Format::uuid: return is_uuid(value);
    case Format::ip: return is_ipv4(value) || is_ipv6(value);
    case Format::ipv4: return is_ipv4(value);
    case Format::ipv6: return is_ipv6(value);
  }
  return false;
}

std::string_view format_message(Format format) noexcept {
  switch (format) {
    case Format::email: return "must be an email address";
    case Format::url: return "must be an absolute URL";
    case Format::uuid: return "must be a UUID";
    case Format::ip: return "must be an IP address";
    case Format::ipv4: return "must be an IPv4 address";
    case Format::ipv6: return "must be an IPv6 address";
    case Format::none: break;
  }
  return "is invalid";
}

std::size_t utf8_length(std::string_view s) noexcept {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // count lead bytes
  return n;
}

bool in_bar_list(std::string_view list, std::string_view value) noexcept {
  while (true) {
    std::size_t bar = list.find('|');
    if (list.substr(0, bar) == value) return true;
    if (bar == std::string_view::npos) return false;
    list.remove_prefix(bar + 1);
  }
}

bool in_bar_list(std::string_view list, long double value) noexcept {
  while (true) {
    std::size_t bar = list.find('|');
    std::string_view item = list.substr(0, bar);
    double v;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec == std::errc() && p == item.data() + item.size() && static_cast<long double>(v) == value) return true;
    if (bar == std::string_view::npos) return false;
    list.remove_prefix(bar + 1);
  }
}

std::string format_number(long double v) {
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%.17Lg", v);
  return std::string(buf, static_cast<std::size_t>(n));
}

bool is_json_content_type(std::string_view type) noexcept {
  if (type == "application/json") return true;  // what nearly every client sends
  std::string_view media = type.substr(0, type.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  auto lower_equal = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      char c = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
      if (c != b[i]) return false;
    }
    return true;
  };
  if (lower_equal(media, "application/json")) return true;
  // RFC 6839 §3.1: any type with the +json suffix
  return media.size() > 5 && lower_equal(media.substr(media.size() - 5), "+json") && media.find('/') != std::string_view::npos;
}

}  // namespace khz::detail
