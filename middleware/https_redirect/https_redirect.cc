// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/https_redirect.h>

#include <khz/app/request_context.h>
#include <khz/common/log.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace khz::middleware {
namespace {

struct State {
  std::string host;  // "" : the request's
  std::string port_suffix;  // ":8443", or "" for 443
  int status = 0;
  bool trust_forwarded_proto = false;
  std::vector<std::string> skip;
};

bool is_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

// The host part of a Host value (RFC 9110 §7.2: uri-host [":" port]) when it is a plain name,
// an IPv4 address or an IP literal; "" otherwise.
std::string_view host_name(std::string_view host) noexcept {
  if (host.empty() || host.size() > 255) return {};
  std::string_view name = host, port;
  if (host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return {};
    name = host.substr(0, close + 1);
    for (char c : name.substr(1, name.size() - 2)) {
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.')) return {};
    }
    if (name.size() < 3) return {};
    port = host.substr(close + 1);
    if (!port.empty() && port.front() != ':') return {};
  } else {
    const auto colon = host.find(':');
    name = host.substr(0, colon);
    port = colon == std::string_view::npos ? std::string_view() : host.substr(colon);
    if (name.empty() || name.front() == '.' || name.front() == '-') return {};
    for (char c : name) {
      if (!is_name_char(c)) return {};
    }
  }
  if (!port.empty()) {
    port.remove_prefix(1);  // ':'
    if (port.size() > 5) return {};
    unsigned value = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return {};
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535) return {};
  }
  return name;
}

bool forwarded_https(const RequestContext& ctx) noexcept {
  std::string_view proto = ctx.request().header("X-Forwarded-Proto");
  if (const auto comma = proto.rfind(','); comma != std::string_view::npos) proto.remove_prefix(comma + 1);
  while (!proto.empty() && proto.front() == ' ') proto.remove_prefix(1);
  while (!proto.empty() && proto.back() == ' ') proto.remove_suffix(1);
  if (proto.size() != 5) return false;
  for (std::size_t i = 0; i < 5; ++i) {
    if ((proto[i] | 0x20) != "https"[i]) return false;
  }
  return true;
}

struct HttpsRedirect {
  std::shared_ptr<const State> state;

  void operator()(RequestContext& ctx) const {
    const State& s = *state;
    if (ctx.is_tls() || (s.trust_forwarded_proto && forwarded_https(ctx))) return;
    const std::string_view path = ctx.path();
    for (const auto& prefix : s.skip) {
      if (path.starts_with(prefix)) return;
    }
    std::string_view host = s.host;
    if (host.empty()) {
      const HeaderMap& in = ctx.request().headers();
      host = in.count("Host") == 1 ? host_name(in.get("Host")) : std::string_view();
      if (host.empty()) {
        KHZ_LOG(info, "https_redirect: " << ctx.method() << " " << path
                                         << ": no usable Host field to redirect to; 400");
        ctx.string(400, "400 bad request");
        ctx.abort();
        return;
      }
    }
    std::string location;
    location.reserve(8 + host.size() + s.port_suffix.size() + path.size() + 1 + ctx.request().query().size());
    location.append("https://").append(host).append(s.port_suffix).append(path);
    if (!ctx.request().query().empty()) location.append("?").append(ctx.request().query());
    const int status = s.status != 0 ? s.status : (ctx.method() == "GET" || ctx.method() == "HEAD") ? 301 : 308;
    ctx.discard_response(status);
    ctx.redirect(status, location);
    ctx.abort();
  }
};

}  // namespace

Handler https_redirect(HttpsRedirectOptions o) {
  if (o.port < 1 || o.port > 65535) throw std::invalid_argument("HttpsRedirectOptions::port: want 1-65535");
  if (o.status != 0 && o.status != 301 && o.status != 302 && o.status != 303 && o.status != 307 && o.status != 308) {
    throw std::invalid_argument("HttpsRedirectOptions::status: want 0, 301, 302, 303, 307 or 308");
  }
  if (!o.host.empty() && host_name(o.host) != o.host) {
    throw std::invalid_argument("HttpsRedirectOptions::host: '" + o.host + "' is not a host name (no port: set `port`)");
  }
  auto s = std::make_shared<State>();
  s->host = std::move(o.host);
  if (o.port != 443) s->port_suffix.append(":").append(std::to_string(o.port));
  s->status = o.status;
  s->trust_forwarded_proto = o.trust_forwarded_proto;
  s->skip = std::move(o.skip_path_prefixes);
  return Handler("khz::middleware::https_redirect", HttpsRedirect{std::move(s)});
}

}  // namespace khz::middleware
