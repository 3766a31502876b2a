// SPDX-License-Identifier: Apache-2.0
// The text/event-stream codec: the parser fed whole and split at every byte boundary (WHATWG
// cases: BOM, CR/LF/CRLF, comments, retry, empty data, NUL in an id, an unfinished last event,
// invalid UTF-8), its limits exactly at and one past, and the encoder with its round trip.
#include <khz/protocol/event_stream.h>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using khz::protocol::encode_comment;
using khz::protocol::encode_event;
using khz::protocol::event_stream_errc;
using khz::protocol::EventStreamLimits;
using khz::protocol::EventStreamParser;
using khz::protocol::SseEvent;

namespace {

struct Parsed {
  std::error_code error;
  std::string events;  // "type|id|data" per event, joined with "; "
  std::string last_id;
  long retry = -1;
};

void collect(EventStreamParser& p, Parsed& out) {
  SseEvent ev;
  while (p.next(ev)) {
    if (!out.events.empty()) out.events += "; ";
    out.events += ev.event + "|" + ev.id + "|" + ev.data;
  }
  if (auto r = p.take_retry()) out.retry = static_cast<long>(r->count());
}

Parsed parse_pieces(const std::vector<std::string>& pieces, EventStreamLimits limits = {}) {
  EventStreamParser p(limits);
  Parsed out;
  for (const auto& piece : pieces) {
    std::string copy = piece;  // overwritten once fed: the parser keeps no views
    out.error = p.feed(copy);
    copy.assign(copy.size(), '#');
    collect(p, out);
    if (out.error) break;
  }
  out.last_id = p.last_event_id();
  return out;
}

// Parses `stream` whole, then split in two at every boundary and byte by byte; all must agree.
Parsed parse_all_ways(const std::string& stream, EventStreamLimits limits = {}) {
  Parsed whole = parse_pieces({stream}, limits);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    Parsed two = parse_pieces({stream.substr(0, cut), stream.substr(cut)}, limits);
    INFO("split at " << cut);
    CHECK(two.error == whole.error);
    CHECK(two.events == whole.events);
    if (!whole.error) {
      CHECK(two.last_id == whole.last_id);
      CHECK(two.retry == whole.retry);
    }
  }
  std::vector<std::string> bytes;
  for (char c : stream) bytes.emplace_back(1, c);
  Parsed one = parse_pieces(bytes, limits);
  CHECK(one.error == whole.error);
  CHECK(one.events == whole.events);
  return whole;
}

}  // namespace

TEST_CASE("event stream parser: the WHATWG cases, split at every byte boundary", "[event_stream]") {
  struct Case {
    const char* name;
    std::string stream;
    std::string events;
    std::string last_id;
    long retry = -1;
  };
  const std::vector<Case> cases = {
      {"one event", "data: hello\n\n", "message||hello", ""},
      {"two data lines join with LF", "data: a\ndata: b\n\n", "message||a\nb", ""},
      {"one space after the colon goes, not two", "data:  x\ndata:y\n\n", "message|| x\ny", ""},
      {"CRLF line ends", "event: tick\r\ndata: 1\r\n\r\n", "tick||1", ""},
      {"CR line ends", "event: tick\rdata: 1\r\r", "tick||1", ""},
      {"mixed line ends", "data: a\r\ndata: b\rdata: c\n\r\n", "message||a\nb\nc", ""},
      {"CR CR is two line ends", "data: a\r\rdata: b\n\n", "message||a; message||b", ""},
      {"a leading BOM is skipped", "\xEF\xBB\xBF" "data: x\n\n", "message||x", ""},
      {"only one BOM is skipped", "\xEF\xBB\xBF\xEF\xBB\xBF" "data: x\n\n", "", ""},
      {"a BOM later is data", "data: \xEF\xBB\xBFx\n\n", "message||\xEF\xBB\xBFx", ""},
      {"half a BOM is invalid UTF-8", "\xEF\xBB" "data: x\n\ndata: y\n\n", "message||y", ""},
      {"comments dispatch nothing", ": hi\n:\ndata: x\n: between\n\n", "message||x", ""},
      {"empty data dispatches", "data\n\n", "message||", ""},
      {"data with an empty value dispatches", "data:\n\n", "message||", ""},
      {"two empty data lines give one LF", "data\ndata\n\n", "message||\n", ""},
      {"no data: no event", "event: x\n\nid: 3\n\n", "", "3"},
      {"the type does not leak to the next event", "event: a\n\ndata: x\n\n", "message||x", ""},
      {"ids persist across events", "id: 1\ndata: a\n\ndata: b\n\n", "message|1|a; message|1|b", "1"},
      {"an empty id clears it", "id: 1\ndata: a\n\nid\ndata: b\n\n", "message|1|a; message||b", ""},
      {"an id with NUL is ignored", std::string("id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n", 32),
       "message|1|a; message|1|b", "1"},
      {"an id without a blank line does not count", "id: 9\ndata: a", "", ""},
      {"the last event without a blank line is dropped", "data: a\n\ndata: b\n", "message||a", ""},
      {"retry in digits", "retry: 2500\n", "", "", 2500},
      {"retry with a non-digit is ignored", "retry: 25x\nretry: -1\nretry: 1.5\nretry: \n", "", ""},
      {"retry without a space", "retry:100\n", "", "", 100},
      {"retry keeps the last valid one", "retry: 10\nretry: x\nretry: 20\n", "", "", 20},
      {"unknown fields are ignored", "foo: bar\nDATA: x\ndata: y\n\n", "message||y", ""},
      {"a field without a colon", "data\nevent\n\n", "message||", ""},
      {"a colon in the value stays", "data: a:b\n\n", "message||a:b", ""},
      {"invalid UTF-8 becomes U+FFFD", "data: a\xFF" "b\xE2\x82\n\n", "message||a\xEF\xBF\xBD" "b\xEF\xBF\xBD", ""},
      {"NUL in data is data", std::string("data: a\0b\n\n", 11), std::string("message||a\0b", 12), ""},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      Parsed p = parse_all_ways(c.stream);
      CHECK(!p.error);
      CHECK(p.events == c.events);
      CHECK(p.last_id == c.last_id);
      CHECK(p.retry == c.retry);
    }
  }
}

TEST_CASE("event stream parser: limits exactly at and one past", "[event_stream]") {
  EventStreamLimits limits{.max_line_bytes = 10, .max_data_bytes = 6};
  // "data: abcd" is 10 bytes: a line at the limit. Its data "abcd\n" is 5 bytes.
  Parsed ok = parse_all_ways("data: abcd\n\n", limits);
  CHECK(!ok.error);
  CHECK(ok.events == "message||abcd");
  Parsed long_line = parse_all_ways("data: abcde\n\n", limits);
  CHECK(long_line.error == event_stream_errc::line_too_large);
  CHECK(long_line.events.empty());
  // Data "ab\ncd\n" is 6 bytes: at the limit; one more byte is over.
  CHECK(parse_all_ways("data: ab\ndata: cd\n\n", limits).events == "message||ab\ncd");
  CHECK(parse_all_ways("data: ab\ndata: cde\n\n", limits).error == event_stream_errc::data_too_large);
  // A comment line counts as a line too (nothing unbounded is held).
  CHECK(parse_all_ways(": 0123456789\n", limits).error == event_stream_errc::line_too_large);

  EventStreamParser p(limits);
  CHECK(p.feed("data: 0123456789") == event_stream_errc::line_too_large);
  CHECK(p.feed("\n\n") == event_stream_errc::line_too_large);  // failed for good
  p.reset();                                                   // until a new connection
  CHECK(!p.feed("data: ok\n\n"));
  SseEvent ev;
  REQUIRE(p.next(ev));
  CHECK(ev.data == "ok");
}

TEST_CASE("event stream parser: reset keeps the last event id, drops the unfinished event", "[event_stream]") {
  EventStreamParser p;
  REQUIRE(!p.feed("\xEF\xBB\xBFid: 5\ndata: a\n\nid: 6\ndata: half"));
  CHECK(p.last_event_id() == "5");
  p.reset();
  REQUIRE(!p.feed("\xEF\xBB\xBF" "data: b\n\n"));  // a new connection may send a BOM again
  SseEvent ev;
  REQUIRE(p.next(ev));
  CHECK((ev.id == "5" && ev.data == "a"));
  REQUIRE(p.next(ev));
  CHECK((ev.id == "5" && ev.data == "b"));
  CHECK(!p.next(ev));
}

TEST_CASE("event stream encoder", "[event_stream]") {
  std::string out;
  REQUIRE(!encode_event({.id = "7", .event = "tick", .data = "a\nb"}, out));
  CHECK(out == "id: 7\nevent: tick\ndata: a\ndata: b\n\n");

  out.clear();
  REQUIRE(!encode_event({.data = "x\r\ny\rz\n"}, out));
  CHECK(out == "data: x\ndata: y\ndata: z\ndata: \n\n");

  out.clear();
  REQUIRE(!encode_event({.data = "", .retry = std::chrono::milliseconds(1500)}, out));
  CHECK(out == "retry: 1500\ndata: \n\n");

  out = "kept";
  CHECK(encode_event({.id = "a\nb", .data = "x"}, out) == event_stream_errc::bad_field);
  CHECK(encode_event({.id = "a\rb", .data = "x"}, out) == event_stream_errc::bad_field);
  CHECK(encode_event({.id = std::string("a\0b", 3), .data = "x"}, out) == event_stream_errc::bad_field);
  CHECK(encode_event({.event = "a\nb", .data = "x"}, out) == event_stream_errc::bad_field);
  CHECK(encode_event({.data = "x", .retry = std::chrono::milliseconds(-1)}, out) == event_stream_errc::bad_field);
  CHECK(out == "kept");

  out.clear();
  encode_comment("", out);
  encode_comment("keep-alive", out);
  encode_comment("a\nb", out);
  CHECK(out == ":\n: keep-alive\n: a\n: b\n");

  SECTION("what is encoded parses back the same (LF for CR and CRLF in data)") {
    const std::vector<SseEvent> events = {
        {.id = "1", .event = "e", .data = "plain"},
        {.id = " spaced", .event = " t", .data = " lead\n\ntrail \n"},
        {.id = "2", .data = ""},
        {.id = "3", .data = "\n"},
        {.id = "4", .data = "a\r\nb\rc"},
        {.id = "\xC3\xA9", .data = "\xE2\x82\xAC"},
    };
    std::string stream;
    for (const auto& e : events) REQUIRE(!encode_event(e, stream));
    encode_comment("x", stream);
    EventStreamParser p;
    REQUIRE(!p.feed(stream));
    for (const auto& e : events) {
      SseEvent got;
      REQUIRE(p.next(got));
      CHECK(got.id == e.id);
      CHECK(got.event == (e.event.empty() ? "message" : e.event));
      std::string want = e.data;
      for (std::size_t i = 0; (i = want.find('\r', i)) != std::string::npos;) {
        if (i + 1 < want.size() && want[i + 1] == '\n') want.erase(i, 1); else want[i] = '\n';
      }
      CHECK(got.data == want);
    }
  }
}
