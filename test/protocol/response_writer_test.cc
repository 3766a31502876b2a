// SPDX-License-Identifier: Apache-2.0
#include "http1/response_parser.h"
#include "http1/response_writer.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <regex>
#include <string>
#include <thread>

using namespace khz::protocol::http1;

namespace {
std::string drain(khz::LinkedBuffer& b) {
  std::string out;
  b.for_each_segment([&](std::string_view s) { out.append(s); });
  b.skip(b.size());
  b.release();
  return out;
}
// Replaces the Date value so outputs compare exactly.
std::string no_date(std::string s) {
  return std::regex_replace(s, std::regex("Date: [^\r]*\r\n"), "Date: D\r\n");
}
}  // namespace

TEST_CASE("http_date is an IMF-fixdate") {
  std::string d(http_date());
  REQUIRE(std::regex_match(d, std::regex(R"([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)")));
}

TEST_CASE("write_response: framing per status, method and version") {
  khz::Response r;
  r.set_status(200);
  r.set_body("hello", "text/plain");
  r.headers().add("X-A", "1");
  r.headers().add("Content-Length", "999");  // framing is the writer's: ignored
  khz::LinkedBuffer out;

  write_response(out, r, {khz::Version::http11, true, false, false, "khz"});
  REQUIRE(no_date(drain(out)) ==
          "HTTP/1.1 200 OK\r\nServer: khz\r\nDate: D\r\nContent-Type: text/plain\r\nX-A: 1\r\n"
          "Content-Length: 5\r\n\r\nhello");

  write_response(out, r, {khz::Version::http11, true, false, true, ""});  // HEAD
  REQUIRE(no_date(drain(out)) ==
          "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Type: text/plain\r\nX-A: 1\r\nContent-Length: 5\r\n\r\n");

  write_response(out, r, {khz::Version::http10, true, false, false, ""});
  REQUIRE(no_date(drain(out)) ==
          "HTTP/1.0 200 OK\r\nDate: D\r\nContent-Type: text/plain\r\nX-A: 1\r\nContent-Length: 5\r\n"
          "Connection: keep-alive\r\n\r\nhello");

  write_response(out, r, {khz::Version::http11, false, false, false, ""});
  REQUIRE(drain(out).find("Connection: close\r\n") != std::string::npos);

  r.set_status(204);
  write_response(out, r, {khz::Version::http11, true, false, false, ""});
  std::string no_content = drain(out);
  REQUIRE(no_content.find("Content-Length") == std::string::npos);
  REQUIRE(no_content.substr(no_content.size() - 4) == "\r\n\r\n");  // and no body

  r.set_status(304);
  write_response(out, r, {khz::Version::http11, true, false, false, ""});
  REQUIRE(drain(out).find("hello") == std::string::npos);
}

TEST_CASE("chunked head and chunks") {
  khz::Response r;
  khz::LinkedBuffer out;
  write_head(out, r, {khz::Version::http11, true, true, false, ""});
  write_chunk(out, "hello");
  write_chunk(out, "");
  write_chunk(out, std::string(300, 'x'));
  write_last_chunk(out, khz::HeaderMap{});
  std::string s = drain(out);
  REQUIRE(s.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  REQUIRE(s.find("Content-Length") == std::string::npos);
  REQUIRE(s.substr(s.find("\r\n\r\n") + 4) == "5\r\nhello\r\n12c\r\n" + std::string(300, 'x') + "\r\n0\r\n\r\n");
}

TEST_CASE("write_error closes") {
  khz::LinkedBuffer out;
  write_error(out, 431, "khz");
  std::string s = drain(out);
  REQUIRE(s.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0) == 0);
  REQUIRE(s.find("Connection: close\r\n") != std::string::npos);
}

TEST_CASE("trailers: announced in the head, sent after the last chunk; none for HTTP/1.0") {
  khz::Response r;
  r.set_body("abc", "text/plain");
  r.trailers().add("X-Checksum", "42");
  r.trailers().add("Content-Length", "3");  // a framing field is never a trailer
  khz::LinkedBuffer out;
  write_response(out, r, {khz::Version::http11, true, false, false, ""});
  std::string s = drain(out);
  REQUIRE(s.find("Trailer: X-Checksum, Content-Length\r\n") != std::string::npos);
  REQUIRE(s.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  REQUIRE(s.substr(s.find("\r\n\r\n") + 4) == "3\r\nabc\r\n0\r\nX-Checksum: 42\r\n\r\n");

  write_response(out, r, {khz::Version::http10, true, false, false, ""});
  std::string old = drain(out);
  REQUIRE(old.find("Trailer") == std::string::npos);
  REQUIRE(old.substr(old.size() - 3) == "abc");
}

TEST_CASE("write_head: the cached status line, Server and Date follow each response") {
  khz::LinkedBuffer out;
  khz::Response r;
  const std::string long_server(100, 's');  // too long for the cache: built in place
  struct Case {
    int status;
    khz::Version version;
    std::string server;
    std::string start;
  };
  const Case cases[] = {
      {200, khz::Version::http11, "khz", "HTTP/1.1 200 OK\r\nServer: khz\r\nDate: D\r\n"},
      {200, khz::Version::http11, "khz", "HTTP/1.1 200 OK\r\nServer: khz\r\nDate: D\r\n"},
      {404, khz::Version::http11, "khz", "HTTP/1.1 404 Not Found\r\nServer: khz\r\nDate: D\r\n"},
      {404, khz::Version::http10, "khz", "HTTP/1.0 404 Not Found\r\nServer: khz\r\nDate: D\r\n"},
      {404, khz::Version::http10, "other", "HTTP/1.0 404 Not Found\r\nServer: other\r\nDate: D\r\n"},
      {200, khz::Version::http11, "", "HTTP/1.1 200 OK\r\nDate: D\r\n"},
      {200, khz::Version::http11, long_server, "HTTP/1.1 200 OK\r\nServer: " + long_server + "\r\nDate: D\r\n"},
      {200, khz::Version::http11, "khz", "HTTP/1.1 200 OK\r\nServer: khz\r\nDate: D\r\n"},
  };
  for (const Case& c : cases) {
    r.set_status(c.status);
    write_response(out, r, {c.version, true, false, false, c.server});
    std::string head = no_date(drain(out));
    INFO(head);
    REQUIRE(head.substr(0, c.start.size()) == c.start);
  }

  // Across a change of second, the Date is today's, not the cached one.
  r.set_status(200);
  std::string first, date_before;
  do {  // (again if the second turned while writing)
    date_before = http_date();
    write_response(out, r, {khz::Version::http11, true, false, false, "khz"});
    first = drain(out);
  } while (std::string(http_date()) != date_before);
  while (std::string(http_date()) == date_before) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  write_response(out, r, {khz::Version::http11, true, false, false, "khz"});
  std::string second = drain(out);
  REQUIRE(first.find("Date: " + date_before + "\r\n") != std::string::npos);
  REQUIRE(second.find("Date: " + std::string(http_date()) + "\r\n") != std::string::npos);
  REQUIRE(second.find(date_before) == std::string::npos);
}

TEST_CASE("writers: a field with a control byte or a name that is not a token is never written") {
  // A handler (or a client's caller) that copies its input into a field must not split the
  // message: such a field is left out (and logged), the others go out.
  khz::Response r;
  r.set_status(302);
  r.headers().add("X-Echo", "a\r\nSet-Cookie: evil=1");
  r.headers().add("Bad Name", "v");
  r.headers().add("Location", "/next");
  r.trailers().add("X-T", "x\ny");
  r.trailers().add("X-Sum", "42");
  khz::LinkedBuffer out;
  write_response(out, r, {khz::Version::http11, true, false, false, "khz"});
  std::string head = drain(out);
  CAPTURE(head);
  CHECK(head.find("evil") == std::string::npos);
  CHECK(head.find("Bad Name") == std::string::npos);
  CHECK(head.find("X-Echo") == std::string::npos);
  CHECK(head.find("Location: /next\r\n") != std::string::npos);
  CHECK(head.find("Trailer: X-Sum\r\n") != std::string::npos);  // the bad trailer is not announced
  CHECK(head.find("X-T") == std::string::npos);
  CHECK(head.find("\r\nX-Sum: 42\r\n") != std::string::npos);

  khz::Request q;
  q.set_method("GET");
  q.set_target("/a");
  q.headers().add("X-Echo", "a\r\nHost: evil");
  q.headers().add("Authorization", "Bearer t");
  write_request_head(out, q, {.host = "example.com", .content_length = 0, .target_override = {}});
  std::string request = drain(out);
  CAPTURE(request);
  CHECK(request.find("evil") == std::string::npos);
  CHECK(request.find("Authorization: Bearer t\r\n") != std::string::npos);
  CHECK(request.find("Host: example.com\r\n") != std::string::npos);
}
