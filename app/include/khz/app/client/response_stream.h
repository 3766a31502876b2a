// SPDX-License-Identifier: Apache-2.0
// khz/app/client/response_stream.h: ResponseStream, a response whose head is in and whose body
// is read piece by piece as it arrives (what Client::stream() returns).
//
//   auto s = co_await client.stream(std::move(req));      // returns once the head is in
//   if (!s) co_return;
//   s->response().status();                                // status and headers
//   for (;;) {
//     auto piece = co_await s->read();                     // valid until the next read()
//     if (!piece || piece->empty()) break;                 // an error, or the end
//     forward(*piece);
//   }
//
// The stream holds its connection (HTTP/1.1) or stream (HTTP/2) until the body ends (the
// connection then goes back to its pool) or the stream is destroyed (it is then closed, or
// the HTTP/2 stream reset). Threading: used on the loop that made it; not thread-safe.
#pragma once

#include <khz/common/result.h>
#include <khz/common/task.h>
#include <khz/protocol/response.h>

#include <memory>
#include <string_view>

namespace khz {

class Client;
namespace detail {
struct ClientAccess;  // the client's internals (app/client/access.h)
}

// Reads a response body as it arrives; holds the connection until the body ends (then the
// connection goes back to its pool) or the stream is destroyed (then it is closed).
// Used on the loop that made it.
class ResponseStream {
 public:
  ResponseStream(ResponseStream&&) noexcept;
  ResponseStream& operator=(ResponseStream&&) noexcept;
  ~ResponseStream();

  // Status and headers (the body is read with read()).
  const Response& response() const noexcept;
  // The next piece of the body (valid until the next call), or an empty view at the end.
  Task<Result<std::string_view>> read();
  // True when the whole body has been returned by read() (the next read() returns the end
  // at once): e.g. answer with Content-Length when the first piece was the whole body.
  bool finished() const noexcept;

 private:
  friend class Client;
  friend struct detail::ClientAccess;
  struct State;
  explicit ResponseStream(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace khz
