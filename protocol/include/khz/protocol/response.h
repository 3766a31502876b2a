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

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace khz {

// A response body read from an open file (static files): pieces of the file, each after a
// little text of its own (the part headers of multipart/byteranges; empty for a plain body),
// then `tail`. The protocol writer sends it without holding the file in memory: HTTP/1.1 by
// Connection::send_file (sendfile(2) on a plaintext netpoll connection), HTTP/2 in DATA frames
// read from `fd` as the flow-control window opens. `fd` must stay open while `owner` lives; the
// response holds `owner` until the body is out. The file must not shrink meanwhile (a
// truncated file ends the exchange as a broken-off response).
struct FileBody {
  struct Piece {
    std::string head;  // sent before the file bytes
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
  };
  int fd = -1;
  std::shared_ptr<const void> owner;
  std::vector<Piece> pieces;
  std::string tail;

  // Bytes on the wire: every head, file range and the tail.
  std::uint64_t size() const noexcept {
    std::uint64_t n = tail.size();
    for (const Piece& p : pieces) n += p.head.size() + p.length;
    return n;
  }
};

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

  // A body from a file instead of body() (see FileBody); the Content-Type is the caller's.
  // Starts one for `fd` (kept open by `owner`) with no pieces, and returns it to fill in; its
  // vectors keep their capacity from one response to the next. Gone after clear() or
  // clear_file_body(); set_body does not clear it.
  FileBody& set_file_body(int fd, std::shared_ptr<const void> owner) {
    has_file_ = true;
    file_.fd = fd;
    file_.owner = std::move(owner);
    file_.pieces.clear();
    file_.tail.clear();
    return file_;
  }
  const FileBody* file_body() const noexcept { return has_file_ ? &file_ : nullptr; }
  void clear_file_body() noexcept {
    if (!has_file_) return;
    has_file_ = false;
    file_.fd = -1;
    file_.owner.reset();
    file_.pieces.clear();
    file_.tail.clear();
  }
  // The length of the content: the file body's, else body()'s.
  std::uint64_t content_length() const noexcept { return has_file_ ? file_.size() : body_.size(); }
  // The Content-Length of an answer to HEAD, which has no content of its own: what a GET would
  // carry (RFC 9110 §9.3.2; a proxy sets the upstream's). Used only when the request is HEAD
  // and there is no body or file; -1: none set (content_length() then).
  void set_head_content_length(std::int64_t n) noexcept { head_length_ = n; }
  std::uint64_t head_content_length() const noexcept {
    return head_length_ >= 0 && !has_file_ && body_.empty() ? static_cast<std::uint64_t>(head_length_) : content_length();
  }

  // Back to an empty 200; keeps capacity.
  void clear() noexcept;

 private:
  int status_ = 200;
  Version version_ = Version::http11;
  HeaderMap headers_;
  HeaderMap trailers_;
  std::string body_;
  FileBody file_;
  bool has_file_ = false;
  std::int64_t head_length_ = -1;
};

// The reason phrase of `status` ("OK", "Not Found"); "Unknown" for codes it does not know.
std::string_view reason_phrase(int status) noexcept;

// RFC 9110 §6.4.1: 1xx, 204 and 304 responses carry no content.
inline bool status_allows_body(int status) noexcept {
  return status >= 200 && status != 204 && status != 304;
}

}  // namespace khz
