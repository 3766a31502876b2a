// SPDX-License-Identifier: Apache-2.0
// khz::protocol::websocket::Deflater / Inflater: permessage-deflate's codec (RFC 7692 §7.2) on
// zlib's raw DEFLATE. A message compresses to DEFLATE blocks ending in an empty stored block
// whose 00 00 ff ff tail is removed; the receiver appends the tail back before inflating.
//
//   Deflater d({.window_bits = params.server_max_window_bits, .no_context_takeover = params.server_no_context_takeover});
//   std::string wire;
//   d.compress(message, /*final=*/true, wire);          // a whole message (or its last piece)
//   Inflater i({.no_context_takeover = params.client_no_context_takeover});
//   std::string text;
//   if (auto ec = i.decompress(wire, 1 << 20, text)) ...   // errc::message_too_large past 1 MiB
//
// Context takeover: without no_context_takeover each side keeps its LZ77 window from one message
// to the next (better ratios, 2^window_bits bytes kept per side and connection); with it, the
// stream is reset after each message. The size limit is checked while inflating, so a small
// compressed message cannot expand past it in memory (a zip bomb stops at the limit).
// Threading: one codec per connection and direction; not thread-safe. zlib stays in the .cc.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace khz::protocol::websocket {

class Deflater {
 public:
  struct Options {
    int window_bits = 15;  // 9-15
    bool no_context_takeover = false;
    int level = 6;       // zlib's 1 (fast) to 9 (small)
    int mem_level = 8;   // zlib's 1-9: memory per compressor (8: 128 KiB + the window)
  };
  explicit Deflater(Options options);
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  // Appends the compressed form of `piece` to `out`. A message is one piece with final = true,
  // or several (streamed fragments), the last with final = true: only that one loses the
  // 00 00 ff ff tail, and then the context resets when no_context_takeover is set.
  void compress(std::string_view piece, bool final, std::string& out);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

class Inflater {
 public:
  struct Options {
    bool no_context_takeover = false;  // the peer resets its compressor after each message
  };
  explicit Inflater(Options options);
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Inflates one whole message's compressed payload (the tail is appended here) into `out`
  // (appended). Errors: errc::message_too_large when the output would pass `max_bytes` (checked
  // as it grows), errc::inflate_failed for data that is not DEFLATE. After an error the
  // inflater is unusable (the connection must close).
  std::error_code decompress(std::string_view message, std::size_t max_bytes, std::string& out);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace khz::protocol::websocket
