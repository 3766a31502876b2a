// SPDX-License-Identifier: Apache-2.0
// Body filters: how a middleware rewrites the bytes of a response body or of a request body
// without the handler knowing (compression, decompression, checksums, rewriting).
//
//   class Upper final : public khz::ResponseFilter {
//     bool start(khz::RequestContext&, khz::Response& r, bool) override {
//       if (!r.header("Content-Type").starts_with("text/")) return false;   // decline
//       r.headers().remove("Content-Length");
//       return true;
//     }
//     void filter(std::string_view piece, bool last, std::string& out) override {
//       for (char c : piece) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
//     }
//   };
//   engine.use([](khz::RequestContext& ctx) { ctx.filter_response(std::make_unique<Upper>()); });
//
// A response filter (RequestContext::filter_response) sees the head once, in start(): when the
// first streamed write is about to go out (ctx.write, an SSE writer), or at the end of the
// chain for a buffered body. There it may change the status and headers, or decline (false):
// a declined filter gets no other call and costs nothing more. Then filter() sees every piece
// of the body, in order: each streamed write as it is written (what filter() appends goes out
// with that write; a filter that holds bytes back delays them), then one last call with an
// empty piece and `last` set at the end of the stream; or the whole buffered body at once with
// `last` set. A streamed response that broke off gets no last call.
// Not filtered: file bodies (ctx.file, static_fs: sent by sendfile(2) or read from the file
// as the window opens; static_fs serves precompressed siblings instead), hijacked connections
// (101, WebSocket), and responses the chain did not produce (the protocol server's own 400s).
// Several filters chain: the last registered (the innermost middleware) sees the handler's
// bytes first, and each passes its output to the one registered before it.
//
// A request body filter (RequestContext::filter_request_body) decodes the request body: on a
// buffered route at once (the body is replaced, and the filter's error returned), on a
// .stream_body() route piece by piece as read_body_chunk() (and read_form()) reads it. An
// error from filter() ends the body: read_body_chunk() returns it from then on.
// Threading: a filter belongs to one request on one loop; it lives until the request is over.
#pragma once

#include <khz/protocol/response.h>

#include <string>
#include <string_view>
#include <system_error>

namespace khz {

class RequestContext;

class ResponseFilter {
 public:
  virtual ~ResponseFilter() = default;
  // The head, once, before any body byte goes out. `streamed`: the body comes in writes (the
  // status and headers go out with the first); else it is response.body(), whole.
  virtual bool start(RequestContext& ctx, Response& response, bool streamed) = 0;
  // A piece of the body; appends the bytes to send instead to `out` (which may stay empty).
  virtual void filter(std::string_view piece, bool last, std::string& out) = 0;
};

class RequestBodyFilter {
 public:
  virtual ~RequestBodyFilter() = default;
  // A piece of the request body as it arrived, `last` with an empty piece once it is
  // complete (a buffered body comes whole, with `last` set); appends the decoded bytes to
  // `out`. An error ends the body.
  virtual std::error_code filter(std::string_view piece, bool last, std::string& out) = 0;
};

}  // namespace khz
