// SPDX-License-Identifier: Apache-2.0
// khz::middleware::compression: response bodies compressed with the best coding the client
// accepts (zstd, br, gzip; Accept-Encoding's q-values first, then the server's order), and
// khz::middleware::decompression: request bodies sent with Content-Encoding decoded before
// the handler sees them.
//
//   server.use(khz::middleware::recovery(), khz::middleware::compression());
//   server.use(khz::middleware::compression({.codings = {"br", "gzip"}, .min_bytes = 512, .br_level = 5}));
//   auto api = server.group("/api", khz::middleware::decompression({.max_bytes = 4 << 20}));
//
// compression: a response is compressed when all of these hold, else sent as it is:
//   - its Content-Type is one of `types` (parameters ignored; "text/*" matches a whole type,
//     "application/*+json" a suffix), and it has no Content-Encoding of its own;
//   - its status has a body and is not 206 (and it has no Content-Range); the request is not
//     HEAD; its Cache-Control does not say no-transform (RFC 9110 §7.7);
//   - a buffered body has at least `min_bytes` (a streamed one is always compressed);
//   - the request's Accept-Encoding accepts one of `codings` (q > 0).
// When the first two hold, `Vary: Accept-Encoding` is added (whatever the client sent, so a
// cache keeps the versions apart). When it compresses, it sets Content-Encoding, drops
// Content-Length and Accept-Ranges, and makes a strong ETag weak (W/"...": the bytes differ
// from the identity body's). A streamed response (ctx.write, SSE) is flushed at every write,
// so each piece (each event) reaches the client at once. File bodies (ctx.file, static_fs) are
// never compressed here: static_fs serves precompressed siblings (index.html.br, .gz) instead.
// Built on RequestContext::filter_response (<khz/app/body_filter.h>). Put it early (after
// recovery and request_id): what runs inside it is compressed, what answers before it is not.
//
// Options (defaults):
//   codings      {"zstd", "br", "gzip"}: the server's preference, used to break q-value ties.
//                zstd first (at level 3 it compresses JSON about as well as br 4 and several
//                times faster), then br (every browser), then gzip (every client). "deflate"
//                may be added; it is left out by default: ambiguous in practice (zlib or raw
//                DEFLATE) and no better than gzip.
//   min_bytes    1024 (smaller buffered bodies gain little and cost a codec)
//   types        text/*, application/json, application/*+json, application/javascript,
//                application/xml, application/*+xml, image/svg+xml, application/wasm
//                (text/* covers text/html, text/css, text/plain and text/event-stream)
//   gzip_level 6, deflate_level 6, br_level 4, zstd_level 3 (each codec's own scale)
//
// decompression: a request with Content-Encoding gzip, deflate, br or zstd (one coding; none
// or "identity" passes as it is) has its body decoded before the handler: on a buffered route
// body() is the decoded body (Content-Encoding removed, Content-Length set to the decoded
// size); on a .stream_body() route read_body_chunk() and read_form() give decoded bytes. Refused,
// with one info line each:
//   - a coding it does not know, or more than one: 415, with Accept-Encoding listing the
//     codings it takes (RFC 9110 §15.5.16);
//   - decoded bytes past `max_bytes`: 413 (decoding stops there: a zip bomb never grows past
//     the limit in memory); on a stream, read_body_chunk() returns
//     protocol::errc::body_too_large;
//   - corrupt or truncated data: 400; on a stream, protocol::errc::malformed_body.
// The server's own body limit (ServerOptions) still applies to the compressed bytes. Put it
// before the middleware and handlers that read the body (it runs before them in the chain).
//
// Options (defaults):
//   max_bytes    8 MiB of decoded body
//   codings      {"gzip", "deflate", "br", "zstd"}
#pragma once

#include <khz/app/handler.h>

#include <cstddef>
#include <string>
#include <vector>

namespace khz::middleware {

struct CompressionOptions {
  std::vector<std::string> codings{"zstd", "br", "gzip"};
  std::size_t min_bytes = 1024;
  std::vector<std::string> types{"text/*",          "application/json", "application/*+json",
                                 "application/javascript", "application/xml", "application/*+xml",
                                 "image/svg+xml",   "application/wasm"};
  int gzip_level = 6;
  int deflate_level = 6;
  int br_level = 4;
  int zstd_level = 3;
};

// Throws std::invalid_argument for an unknown or repeated coding, an empty list, or a type
// without a '/'.
Handler compression(CompressionOptions options = {});

struct DecompressionOptions {
  std::size_t max_bytes = 8 << 20;
  std::vector<std::string> codings{"gzip", "deflate", "br", "zstd"};
};

// Throws std::invalid_argument for an unknown coding, an empty list or max_bytes 0.
Handler decompression(DecompressionOptions options = {});

}  // namespace khz::middleware
