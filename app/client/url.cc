// SPDX-License-Identifier: Apache-2.0
// Url: parsing, formatting and resolving Location references.
#include <khz/app/client/errors.h>
#include <khz/app/client/url.h>

#include <charconv>

namespace khz {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::uint16_t default_port(std::string_view scheme) { return scheme == "https" ? 443 : 80; }

bool bad_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

}  // namespace

Result<Url> Url::parse(std::string_view text) {
  const std::error_code bad = client::errc::bad_url;
  for (char c : text) {
    if (bad_char(c)) return bad;
  }
  std::size_t colon = text.find("://");
  if (colon == std::string_view::npos || colon == 0) return bad;
  Url url;
  url.scheme = lower(text.substr(0, colon));
  for (char c : url.scheme) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')) return bad;
  }
  std::string_view rest = text.substr(colon + 3);
  if (std::size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  std::size_t end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (std::size_t at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad;
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad;
      port = after.substr(1);
    }
  } else if (std::size_t c = authority.rfind(':'); c != std::string_view::npos) {
    host = authority.substr(0, c);
    port = authority.substr(c + 1);
  }
  if (host.empty()) return bad;
  url.host = lower(host);
  url.port = default_port(url.scheme);
  if (!port.empty()) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || p != port.data() + port.size() || v == 0 || v > 65535) return bad;
    url.port = static_cast<std::uint16_t>(v);
    url.explicit_port = true;
  }
  if (target.empty()) {
    url.target.assign(1, '/');  // (not = "/": GCC 12 -Wrestrict false positive)
  } else if (target.front() == '?') {
    url.target.assign(1, '/');  // (not = "/": GCC 12 -Wrestrict false positive)
    url.target.append(target);
  } else {
    url.target = std::string(target);
  }
  return url;
}

std::string Url::authority() const {
  std::string out;
  const bool v6 = host.find(':') != std::string::npos;
  if (v6) out += '[';
  out += host;
  if (v6) out += ']';
  if (port != default_port(scheme)) {
    out += ':';
    out += std::to_string(port);
  }
  return out;
}

std::string Url::str() const { return scheme + "://" + authority() + target; }

Result<Url> Url::resolve(std::string_view ref) const {
  if (ref.find("://") != std::string_view::npos) return parse(ref);
  if (ref.substr(0, 2) == "//") return parse(scheme + ":" + std::string(ref));
  for (char c : ref) {
    if (bad_char(c)) return std::error_code(client::errc::bad_url);
  }
  if (std::size_t hash = ref.find('#'); hash != std::string_view::npos) ref = ref.substr(0, hash);
  Url out = *this;
  if (ref.empty()) return out;
  if (ref.front() == '/') {
    out.target = std::string(ref);
  } else if (ref.front() == '?') {
    out.target = target.substr(0, target.find('?')) + std::string(ref);
  } else {
    std::string base = target.substr(0, target.find('?'));
    base = base.substr(0, base.rfind('/') + 1);
    out.target = base + std::string(ref);
  }
  return out;
}

}  // namespace khz
