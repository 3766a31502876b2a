// SPDX-License-Identifier: Apache-2.0
// The multipart/form-data parser, fed raw bodies whole, split in two at every byte boundary
// (separately stored pieces, overwritten once fed) and one byte at a time; each run must give
// the same events. Tables of good bodies and bad ones (missing, duplicated and malformed
// boundaries, truncation, header bombs, bad Content-Disposition), every limit exactly at and
// one past, the boundary parameter of Content-Type, and Content-Disposition parameters.
#include <khz/protocol/error.h>
#include <khz/protocol/form.h>

#include "form/parameters.h"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

using khz::protocol::form_errc;
using khz::protocol::MultipartLimits;
using khz::protocol::MultipartParser;
using khz::protocol::MultipartPart;

namespace {

constexpr std::string_view kBoundary = "XyZ-42";

// Records events as text: "[name]content" per part ("[name file=x ct=y]" for a file part),
// joined by '|', with "$" once the close delimiter is seen. Data pieces are concatenated, so
// the record does not depend on how the input was split.
struct Recorder : khz::protocol::MultipartHandler {
  std::string log;
  std::size_t pieces = 0;
  std::error_code fail_at_begin{};
  std::error_code on_part_begin(const MultipartPart& p) override {
    if (!log.empty()) log += '|';
    log.append("[").append(p.name);
    if (p.is_file) log.append(" file=").append(p.filename);
    if (!p.content_type.empty()) log.append(" ct=").append(p.content_type);
    log.append("]");
    return fail_at_begin;
  }
  std::error_code on_part_data(std::string_view bytes) override {
    REQUIRE(!bytes.empty());
    ++pieces;
    log.append(bytes);
    return {};
  }
  std::error_code on_part_end() override {
    log += "/";
    return {};
  }
  void on_body_end() override { log += "$"; }
};

struct Outcome {
  std::error_code error;
  std::string log;
};

Outcome run(const std::vector<std::string>& pieces, const MultipartLimits& limits) {
  Recorder r;
  MultipartParser parser(kBoundary, r, limits);
  std::error_code ec;
  for (const auto& p : pieces) {
    auto copy = std::make_unique<std::string>(p);
    ec = parser.feed(*copy);
    copy->assign(copy->size(), '#');
    if (ec) break;
  }
  if (!ec) ec = parser.finish();
  return {ec, r.log};
}

// Feeds `body` whole, in two pieces cut at every byte, and byte by byte: each run must end
// with `error` and, without one, record `want`.
void check_every_split(const std::string& body, const std::string& want, std::error_code error = {},
                       const MultipartLimits& limits = {}) {
  CAPTURE(body);
  auto whole = run({body}, limits);
  REQUIRE(whole.error == error);
  if (!error) REQUIRE(whole.log == want);
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    CAPTURE(cut);
    auto split = run({body.substr(0, cut), body.substr(cut)}, limits);
    REQUIRE(split.error == error);
    if (!error) REQUIRE(split.log == want);
  }
  std::vector<std::string> bytes;
  for (char c : body) bytes.emplace_back(1, c);
  auto one = run(bytes, limits);
  REQUIRE(one.error == error);
  if (!error) REQUIRE(one.log == want);
}

std::string part(std::string_view disposition, std::string_view content, std::string_view extra_headers = {}) {
  return "--" + std::string(kBoundary) + "\r\nContent-Disposition: " + std::string(disposition) + "\r\n" +
         std::string(extra_headers) + "\r\n" + std::string(content) + "\r\n";
}
std::string field(std::string_view name, std::string_view content) {
  return part("form-data; name=\"" + std::string(name) + "\"", content);
}
const std::string kClose = "--" + std::string(kBoundary) + "--\r\n";

}  // namespace

TEST_CASE("multipart: good bodies, at every split") {
  struct Case {
    const char* what;
    std::string body;
    std::string want;
  };
  const std::string b(kBoundary);
  const Case cases[] = {
      {"two fields", field("a", "hello") + field("b", "world") + kClose, "[a]hello/|[b]world/$"},
      {"a file with its type",
       part(R"(form-data; name="up"; filename="x.txt")", "line1\r\nline2\n", "Content-Type: text/plain\r\n") + kClose,
       "[up file=x.txt ct=text/plain]line1\r\nline2\n/$"},
      {"preamble and epilogue are ignored",
       "This is a preamble.\r\nIt has --" + b + "x and \r\n-- lines.\r\n" + field("a", "1") + "--" + b +
           "--\r\nepilogue\r\n--" + b + "\r\ntrailing",
       "[a]1/$"},
      {"content that almost holds the delimiter",
       field("a", "x\r\n--XyZ-4\r\r\n-\r\n--XyZ\r--XyZ-42") + kClose,
       "[a]x\r\n--XyZ-4\r\r\n-\r\n--XyZ\r--XyZ-42/$"},
      {"empty content, empty name, empty filename",
       field("e", "") + part(R"(form-data; name=""; filename="")", "") + kClose, "[e]/|[ file=]/$"},
      {"transport padding after a boundary", "--" + b + " \t \r\nContent-Disposition: form-data; name=p\r\n\r\nv\r\n--" + b +
                                                 "--",
       "[p]v/$"},
      {"no parts", "--" + b + "--", "$"},
      {"case-insensitive names, token values, binary content",
       "--" + b + "\r\ncontent-DISPOSITION:FORM-DATA;NAME=t;  Filename=a.bin\r\nCONTENT-type:  application/x  \r\n\r\n" +
           std::string("\0\xff\r\n\x01", 5) + "\r\n" + kClose,
       "[t file=a.bin ct=application/x]" + std::string("\0\xff\r\n\x01", 5) + "/$"},
      {"quoted names: escaped quote and backslash; other backslashes kept",
       part(R"(form-data; name="a\"b\\c"; filename="C:\dir\f.txt")", "z") + kClose, "[a\"b\\c file=C:\\dir\\f.txt]z/$"},
      {"filename* (RFC 5987) wins over filename",
       part(R"(form-data; name="f"; filename="rates.txt"; filename*=UTF-8''%E2%82%AC%20rates.txt)", "1") +
           part(R"(form-data; name="g"; filename*=iso-8859-1'en'%A3.txt)", "2") +
           part(R"(form-data; name="h"; filename="kept.txt"; filename*=KOI8-R''%C1)", "3") + kClose,
       "[f file=€ rates.txt]1/|[g file=£.txt]2/|[h file=kept.txt]3/$"},
      {"UTF-8 in a quoted filename, as browsers send it",
       part("form-data; name=\"doc\"; filename=\"r\xc3\xa9sum\xc3\xa9.pdf\"", "%PDF") + kClose,
       "[doc file=r\xc3\xa9sum\xc3\xa9.pdf]%PDF/$"},
      {"a nested multipart part is content",
       part(R"(form-data; name="n")", "--inner\r\nX: y\r\n\r\nz\r\n--inner--", "Content-Type: multipart/mixed; boundary=inner\r\n") +
           kClose,
       "[n ct=multipart/mixed; boundary=inner]--inner\r\nX: y\r\n\r\nz\r\n--inner--/$"},
  };
  for (const auto& c : cases) {
    SECTION(c.what) { check_every_split(c.body, c.want); }
  }
}

TEST_CASE("multipart: bad bodies, at every split") {
  struct Case {
    const char* what;
    std::string body;
    form_errc error;
  };
  const std::string b(kBoundary);
  const Case cases[] = {
      {"empty body", "", form_errc::missing_boundary},
      {"no boundary line", "name=value&x=y\r\n", form_errc::missing_boundary},
      {"another boundary", "--other\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--other--\r\n",
       form_errc::missing_boundary},
      {"truncated in content", field("a", "1") + "--" + b + "\r\nContent-Disposition: form-data; name=b\r\n\r\npartial",
       form_errc::truncated},
      {"truncated in headers", "--" + b + "\r\nContent-Disposition: form-da", form_errc::truncated},
      {"truncated after a boundary line", field("a", "1") + "--" + b + "\r\n", form_errc::truncated},
      {"truncated inside the close delimiter", field("a", "1") + "--" + b + "-", form_errc::truncated},
      {"truncated: no close delimiter", field("a", "1"), form_errc::truncated},
      {"a duplicated boundary line", "--" + b + "\r\n" + field("a", "1") + kClose, form_errc::malformed_part_header},
      {"bytes after a boundary", field("a", "1") + "--" + b + "X\r\n" + kClose, form_errc::malformed_delimiter},
      {"a single dash after a boundary", field("a", "1") + "--" + b + "-x", form_errc::malformed_delimiter},
      {"padding then bytes", "--" + b + "  x\r\n", form_errc::malformed_delimiter},
      {"a bare CR after a boundary", "--" + b + "\rX", form_errc::malformed_delimiter},
      {"a part without Content-Disposition", part("", "x").replace(2 + b.size() + 2, 21, "Content-Type:") + kClose,
       form_errc::bad_content_disposition},
      {"a part without any header", "--" + b + "\r\n\r\nx\r\n" + kClose, form_errc::bad_content_disposition},
      {"not form-data", part(R"(attachment; name="a")", "x") + kClose, form_errc::bad_content_disposition},
      {"Content-Disposition twice", part(R"(form-data; name="a")", "x", "Content-Disposition: form-data; name=b\r\n") + kClose,
       form_errc::bad_content_disposition},
      {"name twice", part(R"(form-data; name="a"; name="b")", "x") + kClose, form_errc::bad_content_disposition},
      {"an unterminated quote", part(R"(form-data; name="a)", "x") + kClose, form_errc::bad_content_disposition},
      {"a parameter without value", part("form-data; name", "x") + kClose, form_errc::bad_content_disposition},
      {"no name", part(R"(form-data; filename="a.txt")", "x") + kClose, form_errc::missing_field_name},
      {"a header line without ':'", part("form-data; name=a", "x", "Bogus\r\n") + kClose, form_errc::malformed_part_header},
      {"a folded header line", part("form-data; name=a", "x", " folded\r\n") + kClose, form_errc::malformed_part_header},
      {"a bare LF in the header block", "--" + b + "\r\nX: 1\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n" + kClose,
       form_errc::malformed_part_header},
      {"a space before the colon", part("form-data; name=a", "x", "X-A : 1\r\n") + kClose, form_errc::malformed_part_header},
  };
  for (const auto& c : cases) {
    SECTION(c.what) { check_every_split(c.body, "", c.error); }
  }
}

TEST_CASE("multipart: a header bomb of one endless line stops at the header block limit") {
  const std::string bomb = "--" + std::string(kBoundary) + "\r\nX-Bomb: " + std::string(1500, 'a');
  check_every_split(bomb, "", form_errc::part_header_too_large, {.max_header_bytes = 1024});
  // With the default limit (16 KiB), whatever follows is never buffered.
  auto r = run({bomb + std::string(1 << 20, 'a')}, {});
  REQUIRE(r.error == form_errc::part_header_too_large);
}

TEST_CASE("multipart: a header bomb of many lines stops at the header count") {
  std::string headers;
  for (int i = 0; i < 100; ++i) headers += "X-" + std::to_string(i) + ": v\r\n";
  auto r = run({part("form-data; name=a", "x", headers) + kClose}, {});
  REQUIRE(r.error == form_errc::too_many_part_headers);
}

TEST_CASE("multipart: limits exactly at and one past") {
  SECTION("parts") {
    const std::string three = field("a", "1") + field("b", "2") + field("c", "3") + kClose;
    check_every_split(three, "[a]1/|[b]2/|[c]3/$", {}, {.max_parts = 3});
    check_every_split(three, "", form_errc::too_many_parts, {.max_parts = 2});
  }
  SECTION("a part's header block: its lines and their CRLFs") {
    const std::string body = field("a", "1") + kClose;
    const std::size_t block = std::string("Content-Disposition: form-data; name=\"a\"\r\n").size();
    check_every_split(body, "[a]1/$", {}, {.max_header_bytes = block});
    check_every_split(body, "", form_errc::part_header_too_large, {.max_header_bytes = block - 1});
    // A part with no header at all has a block of 0 bytes (and then no Content-Disposition).
    check_every_split("--" + std::string(kBoundary) + "\r\n\r\nx\r\n" + kClose, "", form_errc::bad_content_disposition,
                      {.max_header_bytes = 0});
  }
  SECTION("header fields per part") {
    const std::string body = part("form-data; name=a", "1", "X-1: a\r\nX-2: b\r\n") + kClose;
    check_every_split(body, "[a]1/$", {}, {.max_headers = 3});
    check_every_split(body, "", form_errc::too_many_part_headers, {.max_headers = 2});
  }
  SECTION("a field's content; files are not fields") {
    const std::string body = field("a", "12345") + kClose;
    check_every_split(body, "[a]12345/$", {}, {.max_field_bytes = 5});
    check_every_split(body, "", form_errc::field_too_large, {.max_field_bytes = 4});
    const std::string file = part(R"(form-data; name="f"; filename="f")", "12345") + kClose;
    check_every_split(file, "[f file=f]12345/$", {}, {.max_field_bytes = 4});
  }
  SECTION("the whole body") {
    const std::string body = field("a", "1") + kClose;
    check_every_split(body, "[a]1/$", {}, {.max_body_bytes = body.size()});
    check_every_split(body, "", form_errc::body_too_large, {.max_body_bytes = body.size() - 1});
  }
}

TEST_CASE("multipart: content pieces of a contiguous body are views into it, one per part") {
  const std::string body = field("a", "first") + part(R"(form-data; name="f"; filename="x")", std::string(5000, 'z')) + kClose;
  struct Views : khz::protocol::MultipartHandler {
    std::vector<std::string_view> pieces;
    std::error_code on_part_begin(const MultipartPart&) override { return {}; }
    std::error_code on_part_data(std::string_view b) override {
      pieces.push_back(b);
      return {};
    }
    std::error_code on_part_end() override { return {}; }
  } v;
  MultipartParser parser(kBoundary, v);
  REQUIRE(!parser.feed(body));
  REQUIRE(!parser.finish());
  REQUIRE(parser.done());
  REQUIRE(parser.part_count() == 2);
  REQUIRE(v.pieces.size() == 2);
  for (auto p : v.pieces) REQUIRE((p.data() >= body.data() && p.data() + p.size() <= body.data() + body.size()));
}

TEST_CASE("multipart: a handler's error stops the parser, and errors are sticky") {
  Recorder r;
  r.fail_at_begin = std::make_error_code(std::errc::no_space_on_device);
  MultipartParser parser(kBoundary, r);
  REQUIRE(parser.feed(field("a", "1")) == std::errc::no_space_on_device);
  REQUIRE(parser.feed(kClose) == std::errc::no_space_on_device);
  REQUIRE(parser.finish() == std::errc::no_space_on_device);
  REQUIRE(r.log == "[a]");
}

TEST_CASE("multipart: every part's header fields are visible at its beginning") {
  struct Headers : khz::protocol::MultipartHandler {
    std::string seen;
    std::error_code on_part_begin(const MultipartPart& p) override {
      seen = std::string(p.header("x-custom")) + "," + std::to_string(p.headers.size()) + "," + std::to_string(p.index);
      return {};
    }
    std::error_code on_part_data(std::string_view) override { return {}; }
    std::error_code on_part_end() override { return {}; }
  } h;
  MultipartParser parser(kBoundary, h);
  REQUIRE(!parser.feed(field("a", "1") + part("form-data; name=b", "2", "X-Custom:  yes \r\n") + kClose));
  REQUIRE(h.seen == "yes,2,1");
}

TEST_CASE("multipart_boundary: the Content-Type parameter (RFC 2046 §5.1.1)") {
  using khz::protocol::multipart_boundary;
  REQUIRE(*multipart_boundary("multipart/form-data; boundary=abc") == "abc");
  REQUIRE(*multipart_boundary("Multipart/Form-Data;BOUNDARY=\"a b:c\"") == "a b:c");
  REQUIRE(*multipart_boundary("multipart/form-data; charset=utf-8; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW") ==
          "----WebKitFormBoundary7MA4YWxkTrZu0gW");
  const std::string b70(70, 'b');
  REQUIRE(*multipart_boundary("multipart/form-data; boundary=" + b70) == b70);
  for (const std::string& bad : std::vector<std::string>{
           "multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=\"\"",
           "multipart/form-data; boundary=" + b70 + "b", "multipart/form-data; boundary=\"ab \"",
                          "multipart/form-data; boundary=\"a;b\"", "multipart/form-data; boundary=a; boundary=b",
                          "multipart/form-data; boundary=\"abc", "multipart/form-data; boundary=a\x01"}) {
    CAPTURE(bad);
    REQUIRE(multipart_boundary(bad).error() == form_errc::bad_boundary);
  }
  for (std::string other : {"", "application/json", "multipart/mixed; boundary=abc", "text/plain; boundary=abc"}) {
    CAPTURE(other);
    REQUIRE(multipart_boundary(other).error() == form_errc::not_a_form);
  }
  REQUIRE(khz::protocol::valid_boundary("'()+_,-./:=? 0aZ"));
  REQUIRE(!khz::protocol::valid_boundary("a\r"));
}

TEST_CASE("form_encoding and form_error_status") {
  using khz::protocol::FormEncoding;
  using khz::protocol::form_encoding;
  REQUIRE(form_encoding("application/x-www-form-urlencoded") == FormEncoding::urlencoded);
  REQUIRE(form_encoding(" Application/X-WWW-Form-Urlencoded ; charset=UTF-8") == FormEncoding::urlencoded);
  REQUIRE(form_encoding("multipart/form-data; boundary=x") == FormEncoding::multipart);
  REQUIRE(form_encoding("application/json") == FormEncoding::none);
  REQUIRE(form_encoding("") == FormEncoding::none);
  using khz::protocol::form_error_status;
  REQUIRE(form_error_status({}) == 0);
  REQUIRE(form_error_status(form_errc::too_many_parts) == 413);
  REQUIRE(form_error_status(form_errc::field_too_large) == 413);
  REQUIRE(form_error_status(form_errc::truncated) == 400);
  REQUIRE(form_error_status(form_errc::missing_field_name) == 400);
  REQUIRE(form_error_status(form_errc::not_a_form) == 415);
  REQUIRE(form_error_status(khz::protocol::errc::body_too_large) == 413);
  REQUIRE(form_error_status(khz::protocol::errc::malformed_body) == 400);
  REQUIRE(form_error_status(std::make_error_code(std::errc::no_space_on_device)) == 500);
  REQUIRE(std::error_code(form_errc::truncated).message() == "multipart form: the body ended before the closing boundary");
}

TEST_CASE("Content-Disposition parameters") {
  khz::protocol::form::ParameterizedValue v;
  REQUIRE(khz::protocol::form::parse_parameterized(R"(form-data; name="a;b"; x=tok;; )", v));
  REQUIRE(v.type == "form-data");
  REQUIRE(v.params.size() == 2);
  REQUIRE(*v.param("NAME") == "a;b");
  REQUIRE(*v.param("x") == "tok");
  REQUIRE(v.param("y") == nullptr);
  REQUIRE(!khz::protocol::form::parse_parameterized("", v));
  REQUIRE(!khz::protocol::form::parse_parameterized("form-data name=a", v));
  REQUIRE(!khz::protocol::form::parse_parameterized("form-data; =a", v));
  REQUIRE(!khz::protocol::form::parse_parameterized("form-data; a=\"x\ny\"", v));
  std::string out;
  REQUIRE(khz::protocol::form::decode_ext_value("UTF-8''a%20b", out));
  REQUIRE(out == "a b");
  REQUIRE(!khz::protocol::form::decode_ext_value("UTF-8''a b", out));  // a space must be encoded
  REQUIRE(!khz::protocol::form::decode_ext_value("UTF-8''%4", out));
  REQUIRE(!khz::protocol::form::decode_ext_value("Shift_JIS''a", out));
  REQUIRE(!khz::protocol::form::decode_ext_value("a.txt", out));
}
