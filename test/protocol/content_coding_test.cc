// SPDX-License-Identifier: Apache-2.0
// Content codings without sockets: round trips through every codec fed whole and split at
// every byte, flush points decodable on their own, the decoded-size limit (exact fit, one byte
// over, a zip bomb), corrupt and truncated input, and the system tools (gzip, brotli, zstd) as
// the reference in both directions. Accept-Encoding's q-values and the server's choice.
#include <khz/protocol/accept_encoding.h>
#include <khz/protocol/content_coding.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <unistd.h>

using khz::protocol::coding_errc;
using khz::protocol::ContentCoding;
using khz::protocol::ContentDecoder;
using khz::protocol::ContentEncoder;

namespace {

constexpr ContentCoding kAll[] = {ContentCoding::gzip, ContentCoding::deflate, ContentCoding::br, ContentCoding::zstd};

std::string sample_json(std::size_t bytes) {
  std::string s = "[";
  for (int i = 0; s.size() < bytes; ++i) {
    s += "{\"id\":" + std::to_string(i) + ",\"name\":\"item " + std::to_string(i * 7919 % 1000) +
         "\",\"tags\":[\"a\",\"b\"],\"price\":" + std::to_string(i % 97) + ".5},";
  }
  s.back() = ']';
  return s;
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::string encode(ContentCoding coding, std::string_view body, int level = 0) {
  auto enc = ContentEncoder::create(coding, level);
  std::string out;
  enc->feed(body, out);
  enc->finish(out);
  return out;
}

struct Decoded {
  std::string body;
  std::error_code error;
};

// Decodes `wire` in pieces of `piece` bytes (0: whole), then finish().
Decoded decode(ContentCoding coding, std::string_view wire, std::size_t limit, std::size_t piece = 0) {
  auto dec = ContentDecoder::create(coding, limit);
  Decoded d;
  if (piece == 0) piece = wire.size() + 1;
  for (std::size_t at = 0; at < wire.size(); at += piece) {
    if ((d.error = dec->feed(wire.substr(at, piece), d.body))) return d;
    REQUIRE(d.body.size() <= limit);
  }
  d.error = dec->finish();
  return d;
}

// Runs a shell command with `input` on stdin (through a file) and returns its stdout.
std::string run_tool(const std::string& command, std::string_view input, int* status = nullptr) {
  char in_path[] = "/tmp/khz-coding-XXXXXX";
  const int fd = mkstemp(in_path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, input.data(), input.size()) == static_cast<ssize_t>(input.size()));
  close(fd);
  std::string out;
  FILE* p = popen((command + " < " + in_path + " 2>/dev/null").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[65536];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  if (status) *status = rc;
  unlink(in_path);
  return out;
}

const char* tool_compress(ContentCoding c) {
  switch (c) {
    case ContentCoding::gzip: return "gzip -c";
    case ContentCoding::br: return "brotli -c";
    case ContentCoding::zstd: return "zstd -q -c";
    default: return nullptr;
  }
}
const char* tool_decompress(ContentCoding c) {
  switch (c) {
    case ContentCoding::gzip: return "gzip -dc";
    case ContentCoding::br: return "brotli -dc";
    case ContentCoding::zstd: return "zstd -q -dc";
    default: return nullptr;
  }
}

}  // namespace

TEST_CASE("coding names parse and print") {
  CHECK(khz::protocol::parse_coding("GZip") == ContentCoding::gzip);
  CHECK(khz::protocol::parse_coding("x-gzip") == ContentCoding::gzip);
  CHECK(khz::protocol::parse_coding(" br ") == ContentCoding::br);
  CHECK(khz::protocol::parse_coding("zstd") == ContentCoding::zstd);
  CHECK(khz::protocol::parse_coding("deflate") == ContentCoding::deflate);
  CHECK_FALSE(khz::protocol::parse_coding("identity"));
  CHECK_FALSE(khz::protocol::parse_coding("compress"));
  for (ContentCoding c : kAll) CHECK(khz::protocol::parse_coding(khz::protocol::coding_name(c)) == c);
}

TEST_CASE("every coding round-trips whole and split at every byte") {
  const std::string json = sample_json(3000);
  for (ContentCoding c : kAll) {
    INFO(khz::protocol::coding_name(c));
    for (int level : {0, 1, 9}) {
      const std::string wire = encode(c, json, level);
      CHECK(wire.size() < json.size() / 2);
      Decoded whole = decode(c, wire, 1 << 20);
      REQUIRE_FALSE(whole.error);
      CHECK(whole.body == json);
    }
    const std::string wire = encode(c, json);
    for (std::size_t piece = 1; piece <= 7; ++piece) {
      Decoded d = decode(c, wire, 1 << 20, piece);
      REQUIRE_FALSE(d.error);
      CHECK(d.body == json);
    }
    // Incompressible input, larger than one output chunk.
    const std::string noise = random_bytes(100 * 1024, 7);
    Decoded d = decode(c, encode(c, noise), 1 << 20, 4096);
    REQUIRE_FALSE(d.error);
    CHECK(d.body == noise);
    // Empty body.
    Decoded empty = decode(c, encode(c, ""), 16);
    REQUIRE_FALSE(empty.error);
    CHECK(empty.body.empty());
  }
}

TEST_CASE("a flush makes everything fed so far decodable, piece by piece") {
  for (ContentCoding c : kAll) {
    INFO(khz::protocol::coding_name(c));
    auto enc = ContentEncoder::create(c, 1);
    auto dec = ContentDecoder::create(c, 1 << 20);
    std::string decoded;
    for (int i = 0; i < 5; ++i) {
      const std::string event = "data: event " + std::to_string(i) + "\n\n";
      std::string wire;
      enc->feed(event, wire);
      enc->flush(wire);
      REQUIRE_FALSE(wire.empty());
      const std::size_t before = decoded.size();
      REQUIRE_FALSE(dec->feed(wire, decoded));
      CHECK(decoded.substr(before) == event);  // the whole event, before the stream ends
    }
    std::string tail;
    enc->finish(tail);
    REQUIRE_FALSE(dec->feed(tail, decoded));
    CHECK_FALSE(dec->finish());
  }
}

TEST_CASE("the decoded-size limit: an exact fit passes, one byte more stops") {
  const std::string body = sample_json(10000);
  for (ContentCoding c : kAll) {
    INFO(khz::protocol::coding_name(c));
    const std::string wire = encode(c, body);
    Decoded fit = decode(c, wire, body.size());
    REQUIRE_FALSE(fit.error);
    CHECK(fit.body == body);
    Decoded over = decode(c, wire, body.size() - 1);
    CHECK(over.error == coding_errc::too_large);
    CHECK(over.body.size() <= body.size() - 1);
    Decoded over_split = decode(c, wire, body.size() - 1, 3);
    CHECK(over_split.error == coding_errc::too_large);
  }
}

TEST_CASE("a zip bomb stops at the limit without growing past it") {
  const std::string zeros(64 << 20, '\0');  // 64 MiB of zeros: a few KiB to a few dozen compressed
  for (ContentCoding c : kAll) {
    INFO(khz::protocol::coding_name(c));
    const std::string wire = encode(c, zeros, 9);
    CHECK(wire.size() < 128 * 1024);
    auto dec = ContentDecoder::create(c, 1 << 20);
    std::string out;
    CHECK(dec->feed(wire, out) == coding_errc::too_large);
    CHECK(out.size() <= (1u << 20));
    CHECK(out.capacity() <= (2u << 20));  // never allocated far past the limit
    // The error sticks.
    CHECK(dec->feed("x", out) == coding_errc::too_large);
    CHECK(dec->finish() == coding_errc::too_large);
  }
}

TEST_CASE("corrupt and truncated input is reported, never decoded") {
  const std::string body = sample_json(5000);
  for (ContentCoding c : kAll) {
    INFO(khz::protocol::coding_name(c));
    const std::string wire = encode(c, body);
    // Truncated: every cut but the full length.
    for (std::size_t cut : {std::size_t{1}, std::size_t{5}, wire.size() / 2, wire.size() - 1}) {
      INFO("cut at " << cut);
      Decoded d = decode(c, std::string_view(wire).substr(0, cut), 1 << 20);
      CHECK(d.error);
    }
    // Garbage from the first byte.
    Decoded junk = decode(c, "this is not compressed at all, not in any coding", 1 << 20);
    CHECK(junk.error == coding_errc::corrupt);
    // A flipped byte in the middle: corrupt, or caught by the checksum (gzip's CRC, zlib's
    // Adler-32, zstd's frame checksum is off by default so it may decode to other bytes).
    std::string flipped = wire;
    flipped[flipped.size() / 2] ^= 0x55;
    Decoded f = decode(c, flipped, 1 << 20);
    if (c != ContentCoding::zstd && c != ContentCoding::br) CHECK(f.error);
    if (!f.error) CHECK(f.body != body);
  }
}

TEST_CASE("bytes after the end of a stream") {
  const std::string one = encode(ContentCoding::gzip, "hello, ");
  const std::string two = encode(ContentCoding::gzip, "world");
  Decoded members = decode(ContentCoding::gzip, one + two, 1 << 10, 3);  // RFC 1952 §2.2
  REQUIRE_FALSE(members.error);
  CHECK(members.body == "hello, world");
  Decoded frames = decode(ContentCoding::zstd, encode(ContentCoding::zstd, "hello, ") + encode(ContentCoding::zstd, "world"), 1 << 10);
  REQUIRE_FALSE(frames.error);
  CHECK(frames.body == "hello, world");
  CHECK(decode(ContentCoding::deflate, encode(ContentCoding::deflate, "a") + "x", 1 << 10).error == coding_errc::corrupt);
  CHECK(decode(ContentCoding::br, encode(ContentCoding::br, "a") + "x", 1 << 10).error == coding_errc::corrupt);
  CHECK(decode(ContentCoding::gzip, one + "garbage!", 1 << 10).error == coding_errc::corrupt);
}

TEST_CASE("deflate takes raw DEFLATE too, split after its first byte") {
  // "hello" as raw DEFLATE (python3 -c 'import zlib; c=zlib.compressobj(wbits=-15); ...').
  const std::string raw = {'\xcb', '\x48', '\xcd', '\xc9', '\xc9', '\x07', '\x00'};
  for (std::size_t piece : {std::size_t{0}, std::size_t{1}, std::size_t{2}}) {
    Decoded d = decode(ContentCoding::deflate, raw, 100, piece);
    REQUIRE_FALSE(d.error);
    CHECK(d.body == "hello");
  }
  Decoded zlib_split = decode(ContentCoding::deflate, encode(ContentCoding::deflate, "hello"), 100, 1);
  REQUIRE_FALSE(zlib_split.error);
  CHECK(zlib_split.body == "hello");
}

TEST_CASE("zstd frames asking for a window above 8 MiB are refused (RFC 9659)") {
  // A frame header with Window_Descriptor 0x88: 2^(10+17) = 128 MiB window, no content size.
  // Magic, FHD = 0x00 (single segment off, no checksum, no dict, FCS absent), WD = 0x88.
  const std::string header = {'\x28', '\xb5', '\x2f', '\xfd', '\x00', '\x88'};
  Decoded d = decode(ContentCoding::zstd, header + std::string(8, '\0'), 1 << 20);
  CHECK(d.error == coding_errc::corrupt);
}

TEST_CASE("zstd takes RFC 8878 frames only: no legacy format, skippable frames pass") {
  // libzstd's pre-1.0 v0.5 magic (0xFD2FB525): not the HTTP coding, whole or a byte at a time.
  const std::string legacy = {'\x25', '\xb5', '\x2f', '\xfd', '\x04', '\x68', '\x4c', '\x00', '\x00', '\x08'};
  CHECK(decode(ContentCoding::zstd, legacy, 1 << 10).error == coding_errc::corrupt);
  CHECK(decode(ContentCoding::zstd, legacy, 1 << 10, 1).error == coding_errc::corrupt);
  // A skippable frame (magic 0x184D2A50, 3 bytes of user data) then a real one, in any split.
  const std::string skippable = std::string{'\x50', '\x2a', '\x4d', '\x18', '\x03', '\x00', '\x00', '\x00', 'a', 'b', 'c'};
  const std::string wire = skippable + encode(ContentCoding::zstd, "payload");
  for (std::size_t piece : {std::size_t{0}, std::size_t{1}, std::size_t{3}}) {
    Decoded ok = decode(ContentCoding::zstd, wire, 1 << 10, piece);
    REQUIRE_FALSE(ok.error);
    CHECK(ok.body == "payload");
  }
  CHECK(decode(ContentCoding::zstd, encode(ContentCoding::zstd, "a") + "\x28\xb5", 1 << 10).error == coding_errc::truncated);
}

TEST_CASE("the system tools read what the encoders write, and the decoders read theirs") {
  const std::string json = sample_json(50000);
  for (ContentCoding c : {ContentCoding::gzip, ContentCoding::br, ContentCoding::zstd}) {
    INFO(khz::protocol::coding_name(c));
    int status = -1;
    run_tool(std::string(tool_decompress(c)) + " --version || " + tool_decompress(c) + " -h", "", &status);
    REQUIRE(status == 0);  // scripts/install-deps.sh installs gzip, brotli and zstd
    // Ours -> the tool, with a flush in the middle (a streamed response).
    auto enc = ContentEncoder::create(c, 0);
    std::string wire;
    enc->feed(std::string_view(json).substr(0, 1000), wire);
    enc->flush(wire);
    enc->feed(std::string_view(json).substr(1000), wire);
    enc->finish(wire);
    CHECK(run_tool(tool_decompress(c), wire, &status) == json);
    CHECK(status == 0);
    // The tool -> ours.
    const std::string theirs = run_tool(tool_compress(c), json, &status);
    REQUIRE(status == 0);
    Decoded d = decode(c, theirs, json.size(), 1000);
    REQUIRE_FALSE(d.error);
    CHECK(d.body == json);
  }
  // deflate (zlib format): python3's zlib module both ways.
  int status = -1;
  const std::string wire = encode(ContentCoding::deflate, json);
  CHECK(run_tool("/usr/bin/python3 -c 'import sys,zlib; sys.stdout.buffer.write(zlib.decompress(sys.stdin.buffer.read()))'", wire, &status) == json);
  CHECK(status == 0);
  const std::string theirs = run_tool("/usr/bin/python3 -c 'import sys,zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read()))'", json, &status);
  Decoded d = decode(ContentCoding::deflate, theirs, json.size());
  REQUIRE_FALSE(d.error);
  CHECK(d.body == json);
}

TEST_CASE("Accept-Encoding q-values and the server's choice") {
  using khz::protocol::choose_coding;
  using khz::protocol::coding_quality;
  CHECK(coding_quality("gzip, br;q=0.8", "br") == 800);
  CHECK(coding_quality("gzip, br;q=0.8", "gzip") == 1000);
  CHECK(coding_quality("gzip;q=0.05", "gzip") == 50);
  CHECK(coding_quality("gzip;q=0.", "gzip") == 0);
  CHECK(coding_quality("*;q=0.3", "zstd") == 300);
  CHECK(coding_quality("br", "zstd") == 0);
  CHECK(coding_quality("gzip;q=1.0", "gzip") == 1000);
  const std::string_view mine[] = {"zstd", "br", "gzip", "deflate"};
  CHECK(choose_coding("gzip, deflate, br, zstd", mine) == 0);          // a tie: the server's order
  CHECK(choose_coding("gzip, deflate, br", mine) == 1);
  CHECK(choose_coding("gzip, br;q=0.8", mine) == 2);                   // q-value first
  CHECK(choose_coding("deflate", mine) == 3);
  CHECK(choose_coding("identity", mine) == 4);                         // none: identity
  CHECK(choose_coding("", mine) == 4);
  CHECK(choose_coding("*", mine) == 0);
  CHECK(choose_coding("*, zstd;q=0", mine) == 1);
  CHECK(choose_coding("br;q=0, zstd;q=0, gzip;q=0.1", mine) == 2);
}

TEST_CASE("zstd frames decode the same whole and in pieces, their declared size checked") {
  using namespace std::string_view_literals;
  // A frame declaring 44 bytes of content that ends after none; a frame declaring 0 whose last
  // block is an empty RLE block (libzstd's one-shot path refuses it, its streaming path not).
  const std::string_view short_of_size = "\x28\xb5\x2f\xfd\x30\x2c\x01\x00\x00"sv;
  const std::string_view empty_rle = "\x28\xb5\x2f\xfd\x30\x00\x05\x00\x00"sv;
  for (std::size_t piece : {0, 1, 3, 6}) {
    INFO("piece " << piece);
    CHECK(decode(ContentCoding::zstd, short_of_size, 1024, piece).error == khz::protocol::coding_errc::corrupt);
    const Decoded rle = decode(ContentCoding::zstd, empty_rle, 1024, piece);
    CHECK(rle.body.empty());
    CHECK(rle.error == decode(ContentCoding::zstd, empty_rle, 1024, 0).error);
  }
}

TEST_CASE("zstd: a frame whose header arrives a byte at a time ends as it does whole") {
  using namespace std::string_view_literals;
  // A fuzzer's find: after an empty frame, one with a 2-byte content size and a window
  // descriptor (0x40), whose first block header announces 1,567 compressed bytes that never
  // come, then two empty frames.
  // Whole it is truncated; libzstd, handed its descriptor byte alone, ended it 6 bytes after
  // the header instead (corrupt, and decoding went on with the frames after it).
  const std::string empty_frame = std::string("\x28\xb5\x2f\xfd\x30\x00\x01\x00\x00"sv);
  const std::string wire = empty_frame + std::string("\x28\xb5\x2f\xfd\x40\x28\xb5\x2f\xfd\x30\x00\x01\x00\x00"sv) +
                           empty_frame;
  const Decoded whole = decode(ContentCoding::zstd, wire, 1 << 16, 0);
  REQUIRE(whole.error == coding_errc::truncated);
  for (std::size_t piece = 1; piece <= wire.size(); ++piece) {
    INFO("piece " << piece);
    CHECK(decode(ContentCoding::zstd, wire, 1 << 16, piece).error == coding_errc::truncated);
  }
}

TEST_CASE("zstd: a frame descriptor's reserved bit is refused however the frame is sliced") {
  using namespace std::string_view_literals;
  // An empty frame, then one whose descriptor (0xab) sets the reserved bit (RFC 8878
  // §3.1.1.1.1) with a dictionary id and a 4-byte size: libzstd's streaming path took it when
  // its header came as 5 bytes and then 6 (a fuzzer's find), and refused it whole.
  const std::string wire = std::string("\x28\xb5\x2f\xfd\x30\x00\x01\x00\x00"sv) +
                           std::string("\x28\xb5\x2f\xfd\xab\x00\x01\x00\xf7\x27\xb5\x2f\xfd\x30\x00\x30\x00\xb6\x00\x00"sv);
  for (std::size_t piece = 0; piece <= wire.size(); ++piece) {
    INFO("piece " << piece);
    CHECK(decode(ContentCoding::zstd, wire, 1024, piece).error == coding_errc::corrupt);
  }
  // A skippable frame's size field is not a descriptor: 0x08 in it is no reserved bit.
  const std::string skippable = std::string("\x50\x2a\x4d\x18\x08\x00\x00\x00"sv) + std::string(8, 'x');
  const std::string with_data = skippable + encode(ContentCoding::zstd, "payload");
  for (std::size_t piece : {std::size_t{0}, std::size_t{1}, std::size_t{5}}) {
    const Decoded ok = decode(ContentCoding::zstd, with_data, 1024, piece);
    REQUIRE_FALSE(ok.error);
    CHECK(ok.body == "payload");
  }
}
