// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/host_redirect.h>

#include <khz/app/request_context.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace khz::middleware {
namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

// The name part of a Host value: "[v6]" or what comes before the ':'.
std::string_view name_of(std::string_view host) noexcept {
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  return host.substr(0, host.find(':'));
}

bool is_host_name(std::string_view h) noexcept {
  if (h.empty() || h.size() > 253) return false;
  if (h.front() == '[') {
    return h.size() > 2 && h.back() == ']' && std::all_of(h.begin() + 1, h.end() - 1, [](char c) {
             return (c >= '0' && c <= '9') || (lower(c) >= 'a' && lower(c) <= 'f') || c == ':' || c == '.';
           });
  }
  if (h.front() == '.' || h.front() == '-') return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    c = lower(c);
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

struct State {
  std::string host;
  std::vector<std::string> from;
  std::string port_suffix;
  std::string scheme;
  int status = 0;
};

struct HostRedirect {
  std::shared_ptr<const State> state;

  void operator()(RequestContext& ctx) const {
    const State& s = *state;
    const std::string_view name = name_of(ctx.header("Host"));
    if (iequals(name, s.host)) return;
    if (!s.from.empty() && std::none_of(s.from.begin(), s.from.end(), [name](const std::string& f) { return iequals(f, name); })) {
      return;
    }
    std::string location = !s.scheme.empty() ? s.scheme : ctx.is_tls() ? "https" : "http";
    location.append("://").append(s.host).append(s.port_suffix).append(ctx.path());
    if (!ctx.request().query().empty()) location.append("?").append(ctx.request().query());
    const int status = s.status != 0 ? s.status : (ctx.method() == "GET" || ctx.method() == "HEAD") ? 301 : 308;
    ctx.discard_response(status);
    ctx.redirect(status, location);
    ctx.abort();
  }
};

}  // namespace

Handler host_redirect(HostRedirectOptions o) {
  if (!is_host_name(o.host)) {
    throw std::invalid_argument("HostRedirectOptions::host: '" + o.host + "' is not a host name (no port: set `port`)");
  }
  for (const auto& f : o.from) {
    if (!is_host_name(f)) throw std::invalid_argument("HostRedirectOptions::from: '" + f + "' is not a host name");
  }
  if (o.port < 0 || o.port > 65535) throw std::invalid_argument("HostRedirectOptions::port: want 0-65535");
  if (!o.scheme.empty() && o.scheme != "http" && o.scheme != "https") {
    throw std::invalid_argument("HostRedirectOptions::scheme: want \"\", \"http\" or \"https\"");
  }
  const int st = o.status;
  if (st != 0 && st != 301 && st != 302 && st != 303 && st != 307 && st != 308) {
    throw std::invalid_argument("HostRedirectOptions::status: want 0, 301, 302, 303, 307 or 308");
  }
  auto s = std::make_shared<State>();
  s->host = std::move(o.host);
  s->from = std::move(o.from);
  if (o.port != 0) s->port_suffix.append(":").append(std::to_string(o.port));
  s->scheme = std::move(o.scheme);
  s->status = o.status;
  return Handler("khz::middleware::host_redirect", HostRedirect{std::move(s)});
}

}  // namespace khz::middleware
