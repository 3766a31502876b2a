// SPDX-License-Identifier: Apache-2.0
// <khz/protocol/trace_context.h>: traceparent and tracestate, from the W3C Trace Context
// specification's examples and the rules of its test suite (versions, ids, flags, limits).
#include <khz/protocol/trace_context.h>

#include <catch2/catch.hpp>

#include <string>

using khz::protocol::format_traceparent;
using khz::protocol::parse_traceparent;
using khz::protocol::TraceState;

namespace {
constexpr const char* spec_example = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
}

TEST_CASE("traceparent: the specification's example parses and formats back") {
  auto tp = parse_traceparent(spec_example);
  REQUIRE(tp);
  CHECK(tp->trace_id[0] == 0x4b);
  CHECK(tp->trace_id[15] == 0x36);
  CHECK(tp->parent_id[0] == 0x00);
  CHECK(tp->parent_id[7] == 0xb7);
  CHECK(tp->sampled());
  CHECK(format_traceparent(*tp) == spec_example);

  auto unsampled = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  REQUIRE(unsampled);
  CHECK_FALSE(unsampled->sampled());
  // Surrounding OWS is not part of the value.
  CHECK(parse_traceparent(std::string(" \t") + spec_example + " "));
}

TEST_CASE("traceparent: invalid values give nullopt") {
  const char* invalid[] = {
      "",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",         // short
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",       // 00 is exactly 55
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  // likewise
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // version ff forbidden
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // not hex
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",        // uppercase
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",        // all-zero trace-id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",        // all-zero parent-id
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        // bad separators
      "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
      "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",        // misplaced dash
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",        // bad flags
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what",   // later version: '-' must follow
  };
  for (const char* value : invalid) {
    INFO(value);
    CHECK_FALSE(parse_traceparent(value));
  }
}

TEST_CASE("traceparent: a later version is read as 00 and sent back as 00") {
  auto tp = parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like");
  REQUIRE(tp);
  CHECK(format_traceparent(*tp) == spec_example);
  CHECK(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

TEST_CASE("traceparent: unknown flags are accepted and not sent on") {
  auto tp = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff");
  REQUIRE(tp);
  CHECK(tp->sampled());
  CHECK(format_traceparent(*tp).substr(53) == "01");
  tp = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe");
  REQUIRE(tp);
  CHECK_FALSE(tp->sampled());
  CHECK(format_traceparent(*tp).substr(53) == "00");
}

TEST_CASE("tracestate: the specification's examples") {
  auto ts = TraceState::parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  REQUIRE(ts);
  REQUIRE(ts->size() == 2);
  CHECK(ts->get("rojo") == "00f067aa0ba902b7");
  CHECK(ts->get("congo") == "t61rcWkgMzE");
  CHECK(ts->format() == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");

  // Updating moves the member to the front (§3.3.1.3).
  REQUIRE(ts->put("congo", "ucfJifl5GOE"));
  CHECK(ts->format() == "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");

  // OWS around members and empty members are allowed; multi-tenant keys.
  ts = TraceState::parse(" fw529a3039@dt=a , ,  tenant1@vendor=b\t,,");
  REQUIRE(ts);
  CHECK(ts->size() == 2);
  CHECK(ts->get("fw529a3039@dt") == "a");
  CHECK(TraceState::parse("")->empty());
  // Values may hold spaces inside and '=' never; keys with *, /, _, -.
  CHECK(TraceState::parse("a_b-c*d/e=x y z"));
}

TEST_CASE("tracestate: invalid lists are discarded whole") {
  const char* invalid[] = {
      "foo",                 // no '='
      "Foo=1",               // uppercase key
      "1foo=1",              // simple key starts with a letter
      "foo=",                // empty value
      "foo=a=b",             // '=' in value
      "foo=1,foo=2",         // duplicate key
      "@vendor=1",           // empty tenant
      "tenant@=1",           // empty system
      "tenant@Vendor=1",     // uppercase system
      "tenant@vendorabcdefghij=1",  // system over 14 characters
      "foo=\x7f",            // outside chr
  };
  for (const char* value : invalid) {
    INFO(value);
    CHECK_FALSE(TraceState::parse(value));
  }
  std::string long_key(257, 'a');
  CHECK_FALSE(TraceState::parse(long_key + "=1"));
  CHECK(TraceState::parse(long_key.substr(1) + "=1"));
  std::string long_value(257, 'v');
  CHECK_FALSE(TraceState::parse("k=" + long_value));
  CHECK(TraceState::parse("k=" + long_value.substr(1)));
}

TEST_CASE("tracestate: at most 32 members") {
  std::string list;
  for (int i = 0; i < 32; ++i) list += "k" + std::to_string(i) + "=v,";
  auto ts = TraceState::parse(list);
  REQUIRE(ts);
  CHECK(ts->size() == 32);
  CHECK_FALSE(TraceState::parse(list + "k32=v"));
  // put on a full list makes room by dropping the last member.
  REQUIRE(ts->put("new", "1"));
  CHECK(ts->size() == 32);
  CHECK(ts->members().front().first == "new");
  CHECK_FALSE(ts->get("k31"));
  CHECK_FALSE(ts->put("Bad", "1"));
  CHECK_FALSE(ts->put("ok", ""));
}

TEST_CASE("tracestate: format keeps 512 characters, dropping large members first, then from the end") {
  TraceState ts;
  // Added back to front: the list reads m0, big, m1, ..., m9 (front first).
  for (int i = 9; i >= 1; --i) REQUIRE(ts.put("m" + std::to_string(i), std::string(40, 'x')));
  REQUIRE(ts.put("big", std::string(200, 'b')));
  REQUIRE(ts.put("m0", std::string(40, 'x')));
  std::string full;
  for (const auto& [k, v] : ts.members()) full += (full.empty() ? "" : ",") + k + "=" + v;
  REQUIRE(full.size() > 512);
  std::string out = ts.format();
  CHECK(out.size() <= 512);
  CHECK(out.find("big=") == std::string::npos);  // the large member went first
  CHECK(out.find("m9=") != std::string::npos);   // and that was enough
  CHECK(out.rfind("m0=", 0) == 0);

  TraceState many;
  for (int i = 29; i >= 0; --i) REQUIRE(many.put("k" + std::to_string(i), std::string(30, 'y')));
  out = many.format();
  CHECK(out.size() <= 512);
  CHECK(out.rfind("k0=", 0) == 0);  // kept from the front
  CHECK(out.find("k29=") == std::string::npos);
  auto back = TraceState::parse(out);
  REQUIRE(back);
  CHECK(back->size() == 14);  // k0..k9: 33 characters, k10..: 34; 14 of them and 13 commas: 479
}
