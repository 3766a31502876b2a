// SPDX-License-Identifier: Apache-2.0
// khz::Response: an HTTP response as a value, shared by server and client.
//
//   khz::Response resp;
//   resp.set_status(201);
//   resp.headers().set("Location", "/users/7");
//   resp.set_body("created", "text/plain; charset=utf-8");
//
// The protocol writer adds framing (Content-Length or chunked), Date and Server; a handler sets
// only what is its own. Not thread-safe.
#pragma once

#include <khz/protocol/header_map.h>
#include <khz/protocol/request.h>  // Version

#include <string>
#include <string_view>

namespace khz {

class Response {
 public:
  int status() const noexcept { return status_; }
  void set_status(int status) noexcept { status_ = status; }
  // The protocol a client received it over (HTTP/1.1 unless set; a server's writer ignores it).
  Version version() const noexcept { return version_; }
  void set_version(Version v) noexcept { version_ = v; }

  HeaderMap& headers() noexcept { return headers_; }
  const HeaderMap& headers() const noexcept { return headers_; }
  std::string_view header(std::string_view name) const noexcept { return headers_.get(name); }

  // Trailer fields, sent after the body (HTTP/1.1: the response goes out chunked, with a
  // Trailer header naming them; an HTTP/1.0 peer gets none).
  HeaderMap& trailers() noexcept { return trailers_; }
  const HeaderMap& trailers() const noexcept { return trailers_; }

  std::string_view body() const noexcept { return body_; }
  std::string& body_buffer() noexcept { return body_; }
  void set_body(std::string_view body) { body_.assign(body); }
  // Sets the body and its Content-Type together.
  void set_body(std::string_view body, std::string_view content_type);

  // Back to an empty 200; keeps capacity.
  void clear() noexcept;

 private:
  int status_ = 200;
  Version version_ = Version::http11;
  HeaderMap headers_;
  HeaderMap trailers_;
  std::string body_;
};

// The reason phrase of `status` ("OK", "Not Found"); "Unknown" for codes it does not know.
std::string_view reason_phrase(int status) noexcept;

// RFC 9110 §6.4.1: 1xx, 204 and 304 responses carry no content.
inline bool status_allows_body(int status) noexcept {
  return status >= 200 && status != 204 && status != 304;
}

}  // namespace khz
