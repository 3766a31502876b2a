// SPDX-License-Identifier: Apache-2.0
// khz::Request: an HTTP request as a value, shared by server and client, HTTP/1.1 and HTTP/2.
//
//   khz::Request req;
//   req.set_method("POST");
//   req.set_target("/users?active=1");      // path() == "/users", query() == "active=1"
//   req.headers().set("Content-Type", "application/json");
//   req.set_body(R"({"name":"ann"})");
//
// Views returned by the getters are valid until the request is changed or cleared. On the
// server they point into the connection's buffer (no copy) and live until the handler's Task
// completes. The *_ref setters keep such a view without copying; the others copy.
// Not thread-safe.
#pragma once

#include <khz/common/arena.h>
#include <khz/protocol/header_map.h>

#include <string>
#include <string_view>

namespace khz {

enum class Version { http10, http11, http2 };
std::string_view to_string(Version v) noexcept;  // "HTTP/1.0", "HTTP/1.1", "HTTP/2"

class Request {
 public:
  Request() = default;
  Request(const Request& other);
  Request& operator=(const Request& other);
  Request(Request&&) noexcept = default;
  Request& operator=(Request&&) noexcept = default;

  std::string_view method() const noexcept { return method_; }
  void set_method(std::string_view m) { method_ = arena_.copy(m); }
  void set_method_ref(std::string_view m) noexcept { method_ = m; }

  // The request-target as received ("/a/b?x=1", or absolute form "http://host/a").
  std::string_view target() const noexcept { return target_; }
  void set_target(std::string_view t) { set_target_ref(arena_.copy(t)); }
  void set_target_ref(std::string_view t) noexcept;
  // Path of the target, not decoded ("/a%20b"); "/" for "*" or an empty path.
  std::string_view path() const noexcept { return path_; }
  // Query of the target without '?', not decoded; "" when none.
  std::string_view query() const noexcept { return query_; }
  // Host from an absolute-form target ("" otherwise).
  std::string_view target_host() const noexcept { return target_host_; }

  // The :protocol of an HTTP/2 extended CONNECT (RFC 8441), e.g. "websocket": the request
  // opens a tunnel (method CONNECT, routed by path). "" for every other request, and always
  // on HTTP/1.1.
  std::string_view connect_protocol() const noexcept { return connect_protocol_; }
  void set_connect_protocol(std::string_view p) { connect_protocol_ = arena_.copy(p); }
  void set_connect_protocol_ref(std::string_view p) noexcept { connect_protocol_ = p; }

  Version version() const noexcept { return version_; }
  void set_version(Version v) noexcept { version_ = v; }

  HeaderMap& headers() noexcept { return headers_; }
  const HeaderMap& headers() const noexcept { return headers_; }
  std::string_view header(std::string_view name) const noexcept { return headers_.get(name); }
  // The host the request is for: the authority of an absolute-form target, which RFC 9112
  // §3.2.2 says overrides Host, else the Host header.
  std::string_view host() const noexcept { return target_host_.empty() ? headers_.get("Host") : target_host_; }

  // Trailer fields of a chunked body (RFC 9112 §7.1.2); readable once the body is complete.
  HeaderMap& trailers() noexcept { return trailers_; }
  const HeaderMap& trailers() const noexcept { return trailers_; }

  std::string_view body() const noexcept { return body_; }
  void set_body(std::string_view b) { body_.assign(b); }
  std::string& body_buffer() noexcept { return body_; }

  // Storage for codecs that copy a token once (e.g. one straddling two buffer nodes).
  Arena& arena() noexcept { return arena_; }

  // Copies every view (method, target, headers, trailers) into storage of the request's own, so
  // none refers to the connection buffer any more (done before a body is streamed through it).
  void own();

  // Back to an empty GET / HTTP/1.1 request; keeps capacity.
  void clear() noexcept;

 private:
  Arena arena_;
  std::string_view method_ = "GET";
  std::string_view target_ = "/";
  std::string_view path_ = "/";
  std::string_view query_;
  std::string_view target_host_;
  std::string_view connect_protocol_;
  Version version_ = Version::http11;
  HeaderMap headers_;
  HeaderMap trailers_;
  std::string body_;
};

}  // namespace khz
