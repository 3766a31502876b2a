// SPDX-License-Identifier: Apache-2.0
// The HTTP/2 frame-header scanner on its own (no nghttp2): the headers it reports and where it
// stops, for a frame stream fed whole, split at every byte boundary, and a byte at a time.
#include "http2/frame_scanner.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

using khz::protocol::http2::FrameScanner;

namespace {

struct Frame {
  std::uint8_t type;
  std::uint8_t flags;
  std::uint32_t stream_id;
  std::size_t length;
};

std::string encode(const std::vector<Frame>& frames) {
  std::string out;
  for (const Frame& f : frames) {
    out += static_cast<char>((f.length >> 16) & 0xff);
    out += static_cast<char>((f.length >> 8) & 0xff);
    out += static_cast<char>(f.length & 0xff);
    out += static_cast<char>(f.type);
    out += static_cast<char>(f.flags);
    // The reserved bit set: the scanner must clear it.
    out += static_cast<char>(((f.stream_id >> 24) & 0x7f) | 0x80);
    out += static_cast<char>((f.stream_id >> 16) & 0xff);
    out += static_cast<char>((f.stream_id >> 8) & 0xff);
    out += static_cast<char>(f.stream_id & 0xff);
    out += std::string(f.length, static_cast<char>(0x09));  // payload bytes that look like a type
  }
  return out;
}

struct Run {
  std::vector<FrameScanner::Header> seen;
  std::size_t accepted = 0;  // bytes the scanner let through, over all feeds
  bool stopped = false;
};

// Feeds `bytes` in pieces cut at `cuts`; `stop_at`: the index of the header look() refuses.
Run feed(std::string_view bytes, const std::vector<std::size_t>& cuts, std::size_t stop_at, std::uint32_t skip) {
  FrameScanner scanner(skip);
  Run run;
  auto look = [&](const FrameScanner::Header& h) {
    if (run.seen.size() == stop_at) return false;
    run.seen.push_back(h);
    return true;
  };
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    std::string_view piece = bytes.substr(from, cut - from);
    std::size_t ok = scanner.scan(piece, look);
    REQUIRE(ok <= piece.size());
    run.accepted += ok;
    if (scanner.stopped()) {
      REQUIRE(scanner.scan(bytes.substr(cut), look) == 0);  // stays stopped
      break;
    }
    from = cut;
  }
  run.stopped = scanner.stopped();
  return run;
}

}  // namespace

TEST_CASE("http2 frame scanner: headers reported and where it stops, whole and split at every byte") {
  const std::string magic = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const std::vector<Frame> frames = {
      {0x4, 0x0, 0, 0},          // SETTINGS, empty
      {0x1, 0x1, 1, 20},         // HEADERS END_STREAM
      {0x9, 0x0, 1, 0},          // CONTINUATION, empty
      {0x9, 0x4, 1, 7},          // CONTINUATION END_HEADERS
      {0x0, 0x0, 0x7fffffff, 300},  // DATA on the highest stream id
      {0x6, 0x0, 0, 8},          // PING
  };
  const std::string bytes = magic + encode(frames);
  std::vector<std::size_t> starts;  // where each header begins in `bytes`
  for (std::size_t i = 0, at = magic.size(); i < frames.size(); at += 9 + frames[i].length, ++i) starts.push_back(at);

  auto check_all = [&](const Run& run) {
    REQUIRE_FALSE(run.stopped);
    REQUIRE(run.accepted == bytes.size());
    REQUIRE(run.seen.size() == frames.size());
    for (std::size_t i = 0; i < frames.size(); ++i) {
      INFO("frame " << i);
      CHECK(run.seen[i].type == frames[i].type);
      CHECK(run.seen[i].flags == frames[i].flags);
      CHECK(run.seen[i].stream_id == frames[i].stream_id);
      CHECK(run.seen[i].length == frames[i].length);
    }
  };
  const auto skip = static_cast<std::uint32_t>(magic.size());
  const std::size_t no_stop = frames.size() + 1;

  check_all(feed(bytes, {bytes.size()}, no_stop, skip));
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    INFO("split at " << cut);
    check_all(feed(bytes, {cut, bytes.size()}, no_stop, skip));
  }
  std::vector<std::size_t> every_byte;
  for (std::size_t i = 1; i <= bytes.size(); ++i) every_byte.push_back(i);
  check_all(feed(bytes, every_byte, no_stop, skip));

  // Refusing header k: exactly the bytes before it get through, however the stream is cut.
  for (std::size_t k = 0; k < frames.size(); ++k) {
    for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
      INFO("refuse frame " << k << ", split at " << cut);
      Run run = feed(bytes, {cut, bytes.size()}, k, skip);
      REQUIRE(run.stopped);
      REQUIRE(run.seen.size() == k);
      // A header split across the two feeds is refused in the second: the part in the first
      // went through, but the scanner never lets its last byte through.
      const bool split_header = cut > starts[k] && cut < starts[k] + 9;
      REQUIRE(run.accepted == (split_header ? cut : starts[k]));
    }
    // A byte at a time, the first 8 bytes of the refused header went through in feeds of
    // their own (nghttp2 holds them, incomplete); its last byte does not.
    Run run = feed(bytes, every_byte, k, skip);
    REQUIRE(run.accepted == starts[k] + 8);
  }
}

TEST_CASE("http2 frame scanner: a stream with no skip starts at its first header") {
  FrameScanner scanner;
  const std::string bytes = encode({{0x8, 0x0, 0, 4}, {0x3, 0x0, 5, 4}});
  std::vector<std::uint8_t> types;
  REQUIRE(scanner.scan(bytes, [&](const FrameScanner::Header& h) {
    types.push_back(h.type);
    return true;
  }) == bytes.size());
  REQUIRE(types == std::vector<std::uint8_t>{0x8, 0x3});
}
