// SPDX-License-Identifier: Apache-2.0
// The HTTP/1.1 response parser, fed raw bytes whole and split at every byte boundary (as
// separately stored pieces); hostile and malformed responses; and the request writer.
#include "http1/response_parser.h"

#include <khz/protocol/error.h>

#include <catch2/catch.hpp>

#include "support/splits.h"

#include <memory>
#include <string>
#include <vector>

using khz::protocol::http1::ResponseLimits;
using khz::protocol::http1::ResponseParser;
namespace perr = khz::protocol;

namespace {

struct Outcome {
  bool done = false;
  std::error_code error;
  std::size_t consumed = 0;
  bool keep_alive = false;
};

// Feeds `pieces` in order (each from its own heap copy, freed right after, so a kept view
// would dangle under ASan); `eof`: the peer closes after them.
Outcome run(ResponseParser& p, khz::Response& resp, const std::vector<std::string>& pieces, bool head = false,
            bool eof = false) {
  p.start(resp, head);
  Outcome o;
  for (const auto& piece : pieces) {
    auto copy = std::make_unique<std::string>(piece);
    std::string_view rest = *copy;
    while (!rest.empty() && !p.done() && !p.failed()) {
      std::size_t n = p.feed(rest);
      o.consumed += n;
      rest.remove_prefix(n);
      if (n == 0) break;
    }
  }
  if (eof) p.finish_eof();
  o.done = p.done();
  o.error = p.error();
  o.keep_alive = p.keep_alive();
  return o;
}

Outcome run_whole(std::string_view bytes, khz::Response& resp, bool head = false, bool eof = false,
                  ResponseLimits limits = {}) {
  ResponseParser p(limits);
  return run(p, resp, {std::string(bytes)}, head, eof);
}

}  // namespace

TEST_CASE("response parser: Content-Length body, every split point") {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Long: some value   \r\nContent-Length: 11\r\n\r\nhello world";
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    ResponseParser p;
    khz::Response resp;
    auto o = run(p, resp, {wire.substr(0, cut), wire.substr(cut)});
    INFO("cut " << cut);
    REQUIRE(o.done);
    REQUIRE_FALSE(o.error);
    REQUIRE(o.consumed == wire.size());
    REQUIRE(resp.status() == 200);
    REQUIRE(resp.header("content-type") == "text/plain");
    REQUIRE(resp.header("X-Long") == "some value");
    REQUIRE(resp.body() == "hello world");
    REQUIRE(o.keep_alive);
  }
}

TEST_CASE("response parser: chunked body with trailers, every split point, three pieces") {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Sum: 7\r\n\r\n";
  for (std::size_t a = 0; a <= wire.size(); a += 3) {
    for (std::size_t b = a; b <= wire.size(); ++b) {
      ResponseParser p;
      khz::Response resp;
      auto o = run(p, resp, {wire.substr(0, a), wire.substr(a, b - a), wire.substr(b)});
      INFO("cuts " << a << "," << b);
      REQUIRE(o.done);
      REQUIRE(resp.body() == "hello world");
      REQUIRE(resp.trailers().get("X-Sum") == "7");
      REQUIRE(o.consumed == wire.size());
    }
  }
}

TEST_CASE("response parser: interim 100 and 103 are skipped, every split point") {
  const std::string wire =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    ResponseParser p;
    khz::Response resp;
    auto o = run(p, resp, {wire.substr(0, cut), wire.substr(cut)});
    INFO("cut " << cut);
    REQUIRE(o.done);
    REQUIRE(resp.status() == 201);
    REQUIRE_FALSE(resp.headers().contains("Link"));
    REQUIRE(resp.body() == "ok");
  }
}

TEST_CASE("response parser: responses without a body") {
  khz::Response resp;
  SECTION("204 with a Content-Length and bytes after it: body ignored, bytes left") {
    std::string wire = "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello";
    auto o = run_whole(wire, resp);
    REQUIRE(o.done);
    REQUIRE(resp.body().empty());
    REQUIRE(o.consumed == wire.size() - 5);
  }
  SECTION("304") {
    std::string wire = "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n";
    auto o = run_whole(wire, resp);
    REQUIRE(o.done);
    REQUIRE(o.consumed == wire.size());
  }
  SECTION("HEAD: Content-Length describes the GET body") {
    std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
    auto o = run_whole(wire, resp, /*head=*/true);
    REQUIRE(o.done);
    REQUIRE(resp.body().empty());
    REQUIRE(o.keep_alive);
  }
  SECTION("101 is final and not reusable") {
    auto o = run_whole("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\nrest", resp);
    REQUIRE(o.done);
    REQUIRE(resp.status() == 101);
    REQUIRE_FALSE(o.keep_alive);
  }
}

TEST_CASE("response parser: close-delimited body") {
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    ResponseParser p;
    khz::Response resp;
    auto o = run(p, resp, {wire.substr(0, cut), wire.substr(cut)}, false, /*eof=*/true);
    INFO("cut " << cut);
    REQUIRE(o.done);
    REQUIRE_FALSE(o.keep_alive);
    REQUIRE(resp.body() == "until the end");
  }
  SECTION("HTTP/1.0 without keep-alive") {
    khz::Response resp;
    auto o = run_whole("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", resp);
    REQUIRE(o.done);
    REQUIRE_FALSE(o.keep_alive);
  }
}

TEST_CASE("response parser: hostile and malformed responses give a clear error") {
  struct Case {
    const char* name;
    std::string wire;
    bool eof;
    std::error_code want;
  };
  const std::vector<Case> cases = {
      {"garbage status line", "HTTP/1.1 2x0 OK\r\n\r\n", false, perr::errc::malformed_response},
      {"not HTTP", "SSH-2.0-OpenSSH_9.2\r\n", false, perr::errc::malformed_response},
      {"status out of range", "HTTP/1.1 20 OK\r\n\r\n", false, perr::errc::malformed_response},
      {"HTTP/2 version", "HTTP/2.0 200 OK\r\n\r\n", false, perr::errc::malformed_response},
      {"TE gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n", false,
       perr::errc::unsupported_transfer_coding},
      {"TE gzip alone", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nab", true,
       perr::errc::unsupported_transfer_coding},
      {"TE chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", false,
       perr::errc::malformed_response},
      {"TE in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false,
       perr::errc::malformed_response},
      {"two different CLs", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", false,
       perr::errc::malformed_response},
      {"bad CL", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, perr::errc::malformed_response},
      {"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n", false,
       perr::errc::malformed_response},
      {"chunk data longer than its size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", false,
       perr::errc::malformed_response},
      {"huge chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", false,
       perr::errc::malformed_response},
      {"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", false, perr::errc::malformed_response},
      {"NUL in a value", std::string("HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n", 29), false,
       perr::errc::malformed_response},
      {"truncated CL body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true, perr::errc::truncated_response},
      {"truncated chunked body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", true,
       perr::errc::truncated_response},
      {"truncated head", "HTTP/1.1 200 OK\r\nContent-Le", true, perr::errc::truncated_response},
      {"closed before anything", "", true, perr::errc::truncated_response},
  };
  for (const auto& c : cases) {
    khz::Response resp;
    auto o = run_whole(c.wire, resp, false, c.eof);
    INFO(c.name);
    REQUIRE_FALSE(o.done);
    REQUIRE(o.error == c.want);
  }
}

// llhttp 8.1 alone reads "X:\rE" as a field X with an empty value and drops the "E" (a bare
// CR where the value starts taken for the line's end): khz's line scan refuses it, whole and at
// every split (response splitting through a proxy otherwise).
TEST_CASE("response parser: a bare CR where a field value starts is refused at every split") {
  for (const std::string value : {":\rE", ": \rE", ": a\rb"}) {
    const std::string wire = "HTTP/1.1 200 OK\r\nX" + value + "\r\nContent-Length: 0\r\n\r\n";
    for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
      CAPTURE(value, cut);
      ResponseParser p;
      khz::Response resp;
      auto o = run(p, resp, {wire.substr(0, cut), wire.substr(cut)});
      REQUIRE_FALSE(o.done);
      REQUIRE(o.error == perr::errc::malformed_response);
    }
  }
}

// llhttp 8.1 alone completes this body as "ab", skipping "XY": khz's ChunkScanner refuses it,
// whole and at every split, for its own reason.
TEST_CASE("response parser: chunk data not followed by CRLF is refused at every split") {
  const std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n";
  for (std::size_t cut = 0; cut < wire.size(); ++cut) {
    CAPTURE(cut);
    ResponseParser p;
    khz::Response resp;
    auto o = run(p, resp, {wire.substr(0, cut), wire.substr(cut)});
    REQUIRE_FALSE(o.done);
    REQUIRE(o.error == perr::errc::malformed_response);
    REQUIRE(p.error_reason() == "chunk data not followed by CRLF");
  }
}

// RFC 9112 §5.2, §6.3 and RFC 9110 §8.6 on the client's side, whole and at every split.
TEST_CASE("response parser: obs-fold, a repeated Content-Length, TE with CL, HTAB around TE") {
  struct Row {
    const char* name;
    std::string wire;
    std::string body;
    bool keep_alive;
    std::string_view x_a = {};
  };
  const std::vector<Row> rows = {
      {"obs-fold is replaced by SP", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nab", "ab", true, "a b"},
      {"the same Content-Length twice is one", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: x\r\nContent-Length: 2\r\n\r\nab",
       "ab", true, "x"},
      {"the same Content-Length as a list is one", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2,2\r\n\r\nab", "ab", true},
      {"list and field", "HTTP/1.1 200 OK\r\nContent-Length: 2,\t2\r\nContent-Length: 2\r\n\r\nab", "ab", true},
      {"TE with CL: chunked wins, no reuse",
       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n", "ab", false},
      {"CL after TE", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "abc",
       false},
      {"HTAB around TE", "HTTP/1.1 200 OK\r\nTransfer-Encoding:\tchunked\t\r\n\r\n2\r\nab\r\n0\r\n\r\n", "ab", true},
  };
  for (const auto& row : rows) {
    for (std::size_t cut = 0; cut <= row.wire.size(); ++cut) {
      INFO(row.name << " cut " << cut);
      ResponseParser p;
      khz::Response resp;
      auto o = run(p, resp, {row.wire.substr(0, cut), row.wire.substr(cut)});
      REQUIRE(o.done);
      REQUIRE(o.consumed == row.wire.size());
      REQUIRE(resp.body() == row.body);
      REQUIRE(o.keep_alive == row.keep_alive);
      REQUIRE(resp.headers().count("Content-Length") <= 1);
      if (!row.keep_alive) REQUIRE_FALSE(resp.headers().contains("Content-Length"));
      if (!row.x_a.empty()) REQUIRE(resp.headers().get("X-A") == row.x_a);
    }
  }
  // Differing values, as separate fields or as a list, and malformed ones are refused.
  for (std::string field : {"Content-Length: 2\r\nContent-Length: 3", "Content-Length: 2, 3", "Content-Length: +2",
                            "Content-Length: 2,", "Content-Length: ", "Content-Length: 0x2",
                            "Content-Length: 99999999999999999999"}) {
    CAPTURE(field);
    khz::Response resp;
    auto o = run_whole("HTTP/1.1 200 OK\r\n" + field + "\r\n\r\nabc", resp);
    REQUIRE(o.error == perr::errc::malformed_response);
  }
}

TEST_CASE("response parser: limits") {
  khz::Response resp;
  SECTION("oversized head") {
    std::string wire = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n";
    auto o = run_whole(wire, resp, false, false, {.max_header_bytes = 1024, .max_body_bytes = 100});
    REQUIRE(o.error == perr::errc::header_too_large);
  }
  SECTION("many small fields") {
    std::string wire = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < 200; ++i) wire += "X-F: v\r\n";
    auto o = run_whole(wire, resp, false, false, {.max_header_bytes = 1024, .max_body_bytes = 100});
    REQUIRE(o.error == perr::errc::header_too_large);
  }
  SECTION("a head at the limit is read at every split and byte by byte; a byte more is too large") {
    // "HTTP/1.1 200 " and CRLF count 16, the reason 2, "X-F" 3 + 4 for ": " and CRLF, then the value.
    for (const std::size_t value : {std::size_t{999}, std::size_t{1000}}) {
      CAPTURE(value);
      const std::string wire = "HTTP/1.1 200 OK\r\nX-F: " + std::string(value, 'v') + "\r\n\r\n";
      for (const auto& pieces : khz::test::every_split_and_bytewise(wire)) {
        ResponseParser p({.max_header_bytes = 1024, .max_body_bytes = 100});
        auto o = run(p, resp, pieces, false, true);  // no framing: the body ends at the close
        if (value == 999) {
          REQUIRE(o.done);
          REQUIRE(resp.header("X-F").size() == 999);
        } else {
          REQUIRE(o.error == perr::errc::header_too_large);
        }
      }
    }
  }
  SECTION("declared body over the limit") {
    auto o = run_whole("HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", resp, false, false,
                       {.max_header_bytes = 1024, .max_body_bytes = 100});
    REQUIRE(o.error == perr::errc::response_too_large);
  }
  SECTION("chunked body over the limit") {
    std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 20; ++i) wire += "a\r\n0123456789\r\n";
    auto o = run_whole(wire, resp, false, false, {.max_header_bytes = 1024, .max_body_bytes = 100});
    REQUIRE(o.error == perr::errc::response_too_large);
  }
  SECTION("a chunk size over what is left of the limit fails before its data") {
    ResponseParser p({.max_header_bytes = 1024, .max_body_bytes = 100});
    auto o = run(p, resp, {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n60\r\n"});
    REQUIRE(o.error == perr::errc::response_too_large);
    REQUIRE(p.body_bytes() == 5);
    // 95 left: a chunk of exactly that completes the body at the limit.
    auto at = run(p, resp, {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n5f\r\n" +
                            std::string(95, 'z') + "\r\n0\r\n\r\n"});
    REQUIRE(at.done);
    REQUIRE(resp.body().size() == 100);
  }
  SECTION("close-delimited body over the limit") {
    auto o = run_whole("HTTP/1.1 200 OK\r\n\r\n" + std::string(200, 'x'), resp, false, true,
                       {.max_header_bytes = 1024, .max_body_bytes = 100});
    REQUIRE(o.error == perr::errc::response_too_large);
  }
}

TEST_CASE("response parser: keep-alive responses back to back") {
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nb";
  ResponseParser p;
  khz::Response resp;
  std::string_view rest = wire;
  p.start(resp, false);
  rest.remove_prefix(p.feed(rest));
  REQUIRE(p.done());
  REQUIRE(resp.body() == "a");
  p.start(resp, false);
  rest.remove_prefix(p.feed(rest));
  REQUIRE(p.done());
  REQUIRE(resp.status() == 404);
  REQUIRE(resp.body() == "b");
  REQUIRE(rest.empty());
}

TEST_CASE("request writer") {
  khz::Request req;
  req.set_method("POST");
  req.set_target("/a?b=1");
  req.headers().set("Content-Length", "999");  // replaced by the writer
  req.headers().set("X-Id", "7");
  req.set_body("data");
  khz::LinkedBuffer out;
  khz::protocol::http1::write_request(out, req, "example.com:8080");
  std::string wire(out.peek(out.size()));
  REQUIRE(wire == "POST /a?b=1 HTTP/1.1\r\nHost: example.com:8080\r\nX-Id: 7\r\nContent-Length: 4\r\n\r\ndata");

  khz::Request get;
  get.set_target("/");
  get.headers().set("Host", "h");
  khz::LinkedBuffer out2;
  khz::protocol::http1::write_request_head(out2, get, {.host = "ignored", .content_length = 0,
                                             .target_override = "http://h/"});
  REQUIRE(std::string(out2.peek(out2.size())) == "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n");

  khz::LinkedBuffer out3;
  khz::protocol::http1::write_request_head(out3, req, {.host = "x", .content_length = -1, .target_override = {}});
  REQUIRE(std::string(out3.peek(out3.size())).find("Transfer-Encoding: chunked\r\n\r\n") != std::string::npos);
}
