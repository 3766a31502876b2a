// SPDX-License-Identifier: Apache-2.0
// Private to app/client: RequestBody, a request's body as one exchange sends it. Its length
// decides the framing (Content-Length, or -1: chunked); a body_file or a body_source is read
// piece by piece with next() (a buffered body goes out with the head, over either protocol).
//
//   RequestBody body;
//   if (auto ec = body.open(req)) ...;                 // opens and measures a body_file
//   if (body.streamed()) for (;;) {
//     auto piece = co_await body.next();               // valid until the next call
//     if (!piece) ...; if (piece->empty()) break;      // an error, or the end
//     write(*piece);
//   }
//
// Threading: one exchange's, on its loop.
#pragma once

#include <khz/app/client/request.h>
#include <khz/common/result.h>
#include <khz/common/task.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace khz::client {

class RequestBody {
 public:
  RequestBody() = default;
  ~RequestBody();  // closes the file
  RequestBody(const RequestBody&) = delete;
  RequestBody& operator=(const RequestBody&) = delete;

  // Takes the body of `req` (which must outlive this object): a body_file is opened and
  // measured now. Errors: errno values; file_opened() tells whether the open itself failed.
  std::error_code open(const ClientRequest& req);
  bool file_opened() const noexcept { return fd_ >= 0; }

  std::int64_t length() const noexcept { return length_; }  // -1: unknown (chunked)
  bool streamed() const noexcept { return fd_ >= 0 || (req_ != nullptr && req_->body_source); }
  // A body_source was asked for bytes: what it gave cannot be had again, so the request cannot
  // be sent again (a buffered body or a file can, whatever was sent).
  bool consumed() const noexcept { return asked_source_; }

  // The next piece of a streamed body (valid until the next call), an empty view at the end.
  // Errors: errno of a file read; std::errc::io_error when the file changed size;
  // std::errc::message_size when a body_source gave more or fewer bytes than body_length; the
  // body_source's own.
  Task<Result<std::string_view>> next();

 private:
  const ClientRequest* req_ = nullptr;
  int fd_ = -1;
  std::int64_t length_ = 0;
  std::int64_t sent_ = 0;  // returned by next() so far
  std::string chunk_;      // a file's piece (64 KiB, allocated at the first read)
  bool asked_source_ = false;
};

}  // namespace khz::client
