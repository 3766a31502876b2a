// SPDX-License-Identifier: Apache-2.0
// The WebSocket codec without sockets: frames (RFC 6455 §5.7's examples, split at every byte),
// the framing rules and limits, close payloads, UTF-8, the handshake keys, permessage-deflate's
// negotiation and codec (RFC 7692 §7.2.3's examples).
#include <khz/protocol/websocket.h>
#include <khz/protocol/websocket_deflate.h>
#include <khz/protocol/websocket_handshake.h>

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

namespace ws = khz::protocol::websocket;

namespace {

std::string bytes(std::initializer_list<int> list) {
  std::string s;
  for (int b : list) s.push_back(static_cast<char>(b));
  return s;
}

struct Frame {
  ws::FrameHeader header;
  std::string data;     // the data buffer after the frame
  std::string control;  // the control payload of a control frame
};

// Feeds `wire` in pieces of `piece` bytes, keeping unconsumed bytes as a connection would.
struct Run {
  std::vector<Frame> frames;
  std::error_code error;
};
Run parse(const std::string& wire, std::size_t piece, ws::ParserOptions options) {
  ws::FrameParser p(options);
  Run run;
  std::string data, control, pending;
  std::size_t fed = 0;
  for (;;) {
    if (fed < wire.size()) {
      const std::size_t n = std::min(piece, wire.size() - fed);
      pending.append(wire, fed, n);
      fed += n;
    }
    bool progressed = true;
    while (progressed) {
      progressed = false;
      auto step = p.feed(pending, data, control);
      pending.erase(0, step.consumed);
      if (step.event == ws::FrameParser::Event::error) {
        run.error = p.error();
        return run;
      }
      if (step.event == ws::FrameParser::Event::frame) {
        run.frames.push_back({p.header(), data, ws::is_control(p.header().opcode) ? control : std::string()});
        if (!ws::is_control(p.header().opcode) && p.header().fin) data.clear();
        progressed = true;
      }
    }
    if (fed == wire.size()) break;
  }
  return run;
}

ws::ParserOptions client_role() { return {.role = ws::Role::client}; }
ws::ParserOptions server_role() { return {.role = ws::Role::server}; }

}  // namespace

TEST_CASE("websocket frames: RFC 6455 §5.7 examples, split at every byte") {
  struct Case {
    const char* name;
    std::string wire;
    ws::Role role;
    std::vector<std::pair<ws::Opcode, std::string>> frames;  // opcode, payload
  };
  std::string big256(256, 'x');
  std::string big64k(65536, 'y');
  std::vector<Case> cases{
      {"unmasked text", bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), ws::Role::client, {{ws::Opcode::text, "Hello"}}},
      {"masked text", bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}), ws::Role::server,
       {{ws::Opcode::text, "Hello"}}},
      {"fragmented text", bytes({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}), ws::Role::client,
       {{ws::Opcode::text, "Hel"}, {ws::Opcode::continuation, "Hello"}}},
      {"ping", bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), ws::Role::client, {{ws::Opcode::ping, "Hello"}}},
      {"masked pong", bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}), ws::Role::server,
       {{ws::Opcode::pong, "Hello"}}},
      {"256 bytes", bytes({0x82, 0x7E, 0x01, 0x00}) + big256, ws::Role::client, {{ws::Opcode::binary, big256}}},
      {"64 KiB", bytes({0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}) + big64k, ws::Role::client,
       {{ws::Opcode::binary, big64k}}},
  };
  for (const auto& c : cases) {
    const std::size_t step = c.wire.size() > 1000 ? 997 : 1;
    for (std::size_t piece = 1; piece <= c.wire.size(); piece += step) {
      INFO(c.name << " in pieces of " << piece);
      Run run = parse(c.wire, piece, {.role = c.role});
      REQUIRE(!run.error);
      REQUIRE(run.frames.size() == c.frames.size());
      for (std::size_t i = 0; i < c.frames.size(); ++i) {
        REQUIRE(run.frames[i].header.opcode == c.frames[i].first);
        const std::string& got = ws::is_control(c.frames[i].first) ? run.frames[i].control : run.frames[i].data;
        REQUIRE(got == c.frames[i].second);
      }
    }
  }
}

TEST_CASE("websocket frames: an interleaved control frame keeps the message's data") {
  // "Hel", ping "x", "lo"
  std::string wire = bytes({0x01, 0x03, 'H', 'e', 'l', 0x89, 0x01, 'x', 0x80, 0x02, 'l', 'o'});
  Run run = parse(wire, 1, client_role());
  REQUIRE(!run.error);
  REQUIRE(run.frames.size() == 3);
  REQUIRE(run.frames[1].control == "x");
  REQUIRE(run.frames[2].data == "Hello");
}

TEST_CASE("websocket frames: the framing rules, each with its error") {
  struct Case {
    const char* name;
    std::string wire;
    ws::ParserOptions options;
    ws::errc error;
    std::uint16_t close;
  };
  std::vector<Case> cases{
      {"server gets unmasked", bytes({0x81, 0x01, 'a'}), server_role(), ws::errc::unmasked_frame, 1002},
      {"client gets masked", bytes({0x81, 0x81, 1, 2, 3, 4, 'a'}), client_role(), ws::errc::masked_frame, 1002},
      {"rsv1 without extension", bytes({0xC1, 0x01, 'a'}), client_role(), ws::errc::reserved_bits, 1002},
      {"rsv2", bytes({0xA1, 0x01, 'a'}), client_role(), ws::errc::reserved_bits, 1002},
      {"rsv3", bytes({0x91, 0x01, 'a'}), client_role(), ws::errc::reserved_bits, 1002},
      {"opcode 3", bytes({0x83, 0x00}), client_role(), ws::errc::reserved_opcode, 1002},
      {"opcode B", bytes({0x8B, 0x00}), client_role(), ws::errc::reserved_opcode, 1002},
      {"fragmented ping", bytes({0x09, 0x00}), client_role(), ws::errc::bad_control_frame, 1002},
      {"ping of 126", bytes({0x89, 0x7E, 0x00, 0x7E}) + std::string(126, 'p'), client_role(), ws::errc::bad_control_frame, 1002},
      {"lone continuation", bytes({0x80, 0x01, 'a'}), client_role(), ws::errc::unexpected_continuation, 1002},
      {"text inside a message", bytes({0x01, 0x01, 'a', 0x81, 0x01, 'b'}), client_role(), ws::errc::expected_continuation, 1002},
      {"16-bit length under 126", bytes({0x82, 0x7E, 0x00, 0x05}), client_role(), ws::errc::non_minimal_length, 1002},
      {"64-bit length under 64 KiB", bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0x01, 0x00}), client_role(), ws::errc::non_minimal_length, 1002},
      {"64-bit length with the MSB", bytes({0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0}), client_role(), ws::errc::non_minimal_length, 1002},
      {"rsv1 on a continuation", bytes({0x41, 0x01, 'a', 0xC0, 0x01, 'b'}),
       {.role = ws::Role::client, .allow_rsv1 = true}, ws::errc::reserved_bits, 1002},
      {"rsv1 on a control frame", bytes({0xC9, 0x00}), {.role = ws::Role::client, .allow_rsv1 = true}, ws::errc::reserved_bits, 1002},
      {"frame over the limit", bytes({0x82, 0x7E, 0x01, 0x00}), {.role = ws::Role::client, .max_frame_bytes = 255},
       ws::errc::frame_too_large, 1009},
      {"message over the limit", bytes({0x02, 0x02, 'a', 'b', 0x80, 0x02, 'c', 'd'}),
       {.role = ws::Role::client, .max_message_bytes = 3}, ws::errc::message_too_large, 1009},
      {"huge 64-bit length", bytes({0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}), client_role(),
       ws::errc::frame_too_large, 1009},
  };
  for (const auto& c : cases) {
    for (std::size_t piece = 1; piece <= c.wire.size(); ++piece) {
      INFO(c.name << " in pieces of " << piece);
      Run run = parse(c.wire, piece, c.options);
      REQUIRE(run.error == c.error);
      REQUIRE(ws::close_code_for(run.error) == c.close);
    }
  }
  // Fail fast: a reserved opcode is refused from the first two bytes, before its payload.
  ws::FrameParser p(client_role());
  std::string d, ctl;
  auto step = p.feed(bytes({0x83, 0x7F}), d, ctl);
  REQUIRE(step.event == ws::FrameParser::Event::error);
}

TEST_CASE("websocket frames: a message at exactly the limit passes") {
  Run run = parse(bytes({0x02, 0x02, 'a', 'b', 0x80, 0x01, 'c'}), 1,
                  {.role = ws::Role::client, .max_frame_bytes = 2, .max_message_bytes = 3});
  REQUIRE(!run.error);
  REQUIRE(run.frames.back().data == "abc");
}

TEST_CASE("websocket frames: the writer round-trips through the parser") {
  std::mt19937 rng(7);
  for (std::uint64_t len : {0ull, 1ull, 125ull, 126ull, 127ull, 65535ull, 65536ull, 70000ull}) {
    for (bool masked : {false, true}) {
      std::string payload(len, '\0');
      for (char& c : payload) c = static_cast<char>(rng());
      std::uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
      char head[ws::kMaxHeaderBytes];
      std::size_t n = ws::write_header(head, ws::Opcode::binary, true, false, len, masked ? key : nullptr);
      std::string body = payload;
      if (masked) ws::apply_mask(body.data(), body.size(), key, 0);
      std::string wire = std::string(head, n) + body;
      Run run = parse(wire, 4096, {.role = masked ? ws::Role::server : ws::Role::client, .max_frame_bytes = 1 << 20});
      INFO("length " << len << " masked " << masked);
      REQUIRE(!run.error);
      REQUIRE(run.frames.size() == 1);
      REQUIRE(run.frames[0].data == payload);
    }
  }
  // Masking from any offset equals masking in one go.
  std::string text(100, 'q');
  std::uint8_t key[4] = {1, 2, 3, 4};
  std::string whole = text;
  ws::apply_mask(whole.data(), whole.size(), key, 0);
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    std::string split = text;
    ws::apply_mask(split.data(), cut, key, 0);
    ws::apply_mask(split.data() + cut, split.size() - cut, key, cut);
    REQUIRE(split == whole);
  }
}

TEST_CASE("websocket close payloads") {
  ws::ClosePayload c;
  REQUIRE(!ws::parse_close("", c));
  REQUIRE(c.code == ws::close_code::no_status);
  REQUIRE(ws::parse_close(bytes({0x03}), c) == ws::errc::bad_close_payload);
  const std::string bye = bytes({0x03, 0xE8}) + "bye";
  REQUIRE(!ws::parse_close(bye, c));
  REQUIRE(c.code == 1000);
  REQUIRE(c.reason == "bye");
  for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
    INFO(code);
    REQUIRE(ws::parse_close(bytes({code >> 8, code & 0xFF}), c) == ws::errc::bad_close_payload);
  }
  for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999}) {
    INFO(code);
    REQUIRE(!ws::parse_close(bytes({code >> 8, code & 0xFF}), c));
  }
  REQUIRE(ws::parse_close(bytes({0x03, 0xE8, 0xFF}), c) == ws::errc::invalid_utf8);
  // The reason is cut to fit 125 bytes, never inside a UTF-8 sequence.
  std::string reason;
  for (int i = 0; i < 100; ++i) reason += "\xC3\xA9";  // é
  std::string p = ws::close_payload(1000, reason);
  REQUIRE(p.size() <= 125);
  REQUIRE(!ws::parse_close(p, c));
  REQUIRE(ws::close_payload(ws::close_code::no_status, "x").empty());
}

TEST_CASE("websocket UTF-8: valid, invalid, and split across fragments") {
  struct Case {
    std::string text;
    bool valid;
    bool valid_prefix;  // false: refused before the end
  };
  std::vector<Case> cases{
      {"plain ascii text, long enough for the fast path", true, true},
      {"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5", true, true},  // κόσμε
      {"\xF0\x9F\x98\x80", true, true},                              // U+1F600
      {"\xF4\x8F\xBF\xBF", true, true},                              // U+10FFFF
      {"\xEF\xBF\xBF", true, true},                                  // U+FFFF
      {"\xCE", false, true},                                         // cut short
      {"\xF4\x90\x80\x80", false, false},                            // above U+10FFFF
      {"\xED\xA0\x80", false, false},                                // a surrogate
      {"\xC0\xAF", false, false},                                    // overlong
      {"\xE0\x80\xAF", false, false},                                // overlong
      {"\xF0\x80\x80\xAF", false, false},                            // overlong
      {"\x80", false, false},                                        // lone continuation
      {"\xFF", false, false},
      {"abc\xCE\xBA\xCE", false, true},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    REQUIRE(ws::is_valid_utf8(c.text) == c.valid);
    for (std::size_t cut = 0; cut <= c.text.size(); ++cut) {
      ws::Utf8Validator v;
      const bool a = v.feed(std::string_view(c.text).substr(0, cut));
      const bool b = a && v.feed(std::string_view(c.text).substr(cut));
      REQUIRE((b && v.complete()) == c.valid);
      if (c.valid_prefix) REQUIRE(b);
    }
  }
  // Fail fast: the first invalid byte fails the feed, whatever follows.
  ws::Utf8Validator v;
  REQUIRE(v.feed("ok"));
  REQUIRE(!v.feed("\xC0"));
  REQUIRE(!v.feed("more"));
}

TEST_CASE("websocket handshake keys (RFC 6455 §1.3)") {
  REQUIRE(ws::accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  REQUIRE(ws::is_valid_key("dGhlIHNhbXBsZSBub25jZQ=="));
  REQUIRE(!ws::is_valid_key("dGhlIHNhbXBsZSBub25jZQ="));
  REQUIRE(!ws::is_valid_key("dGhlIHNhbXBsZSBub25j!Q=="));
  REQUIRE(!ws::is_valid_key(""));
  REQUIRE(!ws::is_valid_key("c2hvcnQ="));
  std::string k1 = ws::make_key(), k2 = ws::make_key();
  REQUIRE(ws::is_valid_key(k1));
  REQUIRE(k1 != k2);
  REQUIRE(ws::has_token("keep-alive, Upgrade", "upgrade"));
  REQUIRE(!ws::has_token("keep-alive, Upgraded", "upgrade"));
  REQUIRE(ws::split_tokens(" chat , ,superchat") == std::vector<std::string_view>{"chat", "superchat"});
}

TEST_CASE("permessage-deflate negotiation: the server's pick") {
  struct Case {
    const char* offers;
    ws::DeflateOptions options;
    bool accepted;
    const char* answer;
  };
  std::vector<Case> cases{
      {"permessage-deflate", {}, true, "permessage-deflate"},
      {"permessage-deflate; client_max_window_bits", {}, true, "permessage-deflate"},
      {"permessage-deflate; server_no_context_takeover", {}, true, "permessage-deflate; server_no_context_takeover"},
      {"permessage-deflate; client_no_context_takeover", {}, true, "permessage-deflate; client_no_context_takeover"},
      {"permessage-deflate", {.client_no_context_takeover = true}, true, "permessage-deflate; client_no_context_takeover"},
      {"permessage-deflate; server_max_window_bits=10", {}, true, "permessage-deflate; server_max_window_bits=10"},
      {"permessage-deflate", {.server_max_window_bits = 12}, true, "permessage-deflate; server_max_window_bits=12"},
      {"permessage-deflate; client_max_window_bits", {.client_max_window_bits = 11}, true,
       "permessage-deflate; client_max_window_bits=11"},
      {"permessage-deflate; client_max_window_bits=10", {}, true, "permessage-deflate; client_max_window_bits=10"},
      // declined offers: malformed, unknown, duplicated, out of range, zlib's missing 8
      {"permessage-deflate; server_max_window_bits=8", {}, false, ""},
      {"permessage-deflate; server_max_window_bits", {}, false, ""},
      {"permessage-deflate; server_max_window_bits=16", {}, false, ""},
      {"permessage-deflate; server_max_window_bits=010", {}, false, ""},
      {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", {}, false, ""},
      {"permessage-deflate; mystery", {}, false, ""},
      {"permessage-deflate; server_no_context_takeover=1", {}, false, ""},
      {"permessage-deflate; client_max_window_bits=\"", {}, false, ""},
      {"x-webkit-deflate-frame", {}, false, ""},
      {";;;", {}, false, ""},
      // the first acceptable of several
      {"permessage-deflate; server_max_window_bits=8, permessage-deflate; client_max_window_bits", {}, true,
       "permessage-deflate"},
      {"foo, permessage-deflate; client_max_window_bits=\"12\"", {}, true, "permessage-deflate; client_max_window_bits=12"},
  };
  for (const auto& c : cases) {
    INFO(c.offers);
    ws::DeflateParams params;
    std::string answer;
    REQUIRE(ws::negotiate_deflate(c.offers, c.options, params, answer) == c.accepted);
    if (c.accepted) {
      REQUIRE(answer == c.answer);
      // What the server answers, a client that made the offer accepts.
      auto back = ws::accept_deflate_response(answer, {});
      REQUIRE(back);
    }
  }
}

TEST_CASE("permessage-deflate negotiation: the client's check of the answer") {
  ws::DeflateOptions mine;
  REQUIRE(ws::deflate_offer(mine) == "permessage-deflate; client_max_window_bits");
  auto none = ws::accept_deflate_response("", mine);
  REQUIRE(none);
  REQUIRE(!none->has_value());
  auto ok = ws::accept_deflate_response("permessage-deflate; server_max_window_bits=10; client_no_context_takeover", mine);
  REQUIRE(ok);
  REQUIRE((*ok)->server_max_window_bits == 10);
  REQUIRE((*ok)->client_no_context_takeover);
  for (const char* bad : {"x-other", "permessage-deflate, permessage-deflate", "permessage-deflate; client_max_window_bits",
                          "permessage-deflate; client_max_window_bits=8", "permessage-deflate; bogus"}) {
    INFO(bad);
    REQUIRE(!ws::accept_deflate_response(bad, mine));
  }
  ws::DeflateOptions small{.server_max_window_bits = 10};
  REQUIRE(ws::deflate_offer(small) == "permessage-deflate; server_max_window_bits=10; client_max_window_bits");
  REQUIRE(!ws::accept_deflate_response("permessage-deflate; server_max_window_bits=12", small));
  REQUIRE(!ws::accept_deflate_response("permessage-deflate", small));  // a window over what we allowed
}

TEST_CASE("permessage-deflate codec: RFC 7692 §7.2.3 examples") {
  const std::string hello_compressed = bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
  {
    ws::Inflater in({});
    std::string out;
    REQUIRE(!in.decompress(hello_compressed, 1024, out));
    REQUIRE(out == "Hello");
    // §7.2.3.2: the second "Hello" refers back into the shared window.
    out.clear();
    REQUIRE(!in.decompress(bytes({0xf2, 0x00, 0x11, 0x00, 0x00}), 1024, out));
    REQUIRE(out == "Hello");
  }
  {
    // §7.2.3.3: a stored (uncompressed) block; §7.2.3.4: a block with BFINAL set.
    ws::Inflater in({});
    std::string out;
    REQUIRE(!in.decompress(bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}), 1024, out));
    REQUIRE(out == "Hello");
    out.clear();
    REQUIRE(!in.decompress(bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}), 1024, out));
    REQUIRE(out == "Hello");
  }
  {
    // Our compressor makes the RFC's bytes.
    ws::Deflater d({});
    std::string wire;
    d.compress("Hello", true, wire);
    REQUIRE(wire == hello_compressed);
    wire.clear();
    d.compress("Hello", true, wire);
    REQUIRE(wire == bytes({0xf2, 0x00, 0x11, 0x00, 0x00}));
  }
  {
    // no_context_takeover: each message compresses alone.
    ws::Deflater d({.no_context_takeover = true});
    std::string a, b;
    d.compress("Hello", true, a);
    d.compress("Hello", true, b);
    REQUIRE(a == hello_compressed);
    REQUIRE(b == hello_compressed);
  }
}

TEST_CASE("permessage-deflate codec: round trips, streamed pieces, windows, the size limit") {
  std::mt19937 rng(3);
  std::string text;
  for (int i = 0; i < 200000; ++i) text.push_back(static_cast<char>('a' + rng() % 6));
  for (int bits : {9, 12, 15}) {
    for (bool takeover : {true, false}) {
      INFO("bits " << bits << " takeover " << takeover);
      ws::Deflater d({.window_bits = bits, .no_context_takeover = !takeover});
      ws::Inflater in({.no_context_takeover = !takeover});
      for (int round = 0; round < 3; ++round) {
        std::string wire;
        d.compress(text, true, wire);
        REQUIRE(wire.size() < text.size());
        std::string out;
        REQUIRE(!in.decompress(wire, text.size(), out));
        REQUIRE(out == text);
      }
      // Streamed: pieces make one message.
      std::string wire;
      for (std::size_t off = 0; off < text.size(); off += 7000) {
        d.compress(std::string_view(text).substr(off, 7000), off + 7000 >= text.size(), wire);
      }
      std::string out;
      REQUIRE(!in.decompress(wire, text.size(), out));
      REQUIRE(out == text);
    }
  }
  // A zip bomb stops at the limit: 10 MB of zeros is a few KB compressed.
  std::string zeros(10 * 1000 * 1000, '\0');
  ws::Deflater d({});
  std::string bomb;
  d.compress(zeros, true, bomb);
  REQUIRE(bomb.size() < 20000);
  ws::Inflater in({});
  std::string out;
  REQUIRE(in.decompress(bomb, 1 << 20, out) == ws::errc::message_too_large);
  REQUIRE(out.size() <= (1u << 20));
  // Garbage is not DEFLATE.
  ws::Inflater in2({});
  out.clear();
  REQUIRE(in2.decompress(bytes({0xff, 0xff, 0xff, 0xff}), 1024, out) == ws::errc::inflate_failed);
  // The empty message.
  ws::Deflater d2({});
  std::string empty_wire;
  d2.compress("", true, empty_wire);
  ws::Inflater in3({});
  out.clear();
  REQUIRE(!in3.decompress(empty_wire, 1024, out));
  REQUIRE(out.empty());
}
