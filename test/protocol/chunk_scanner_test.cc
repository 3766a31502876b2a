// SPDX-License-Identifier: Apache-2.0
// The chunked-framing scanner on its own (no llhttp): RFC 9112 §7.1 grammar rows, each fed
// whole and split at every byte boundary, with the exact fault expected.
#include "http1/chunk_scanner.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using khz::protocol::http1::ChunkScanner;
using Fault = ChunkScanner::Fault;

namespace {
struct Outcome {
  Fault fault = Fault::none;
  bool done = false;
};

Outcome scan_split(std::string_view body, std::size_t cut) {
  ChunkScanner s;
  Outcome o;
  o.fault = s.scan(body.substr(0, cut));
  if (o.fault == Fault::none) o.fault = s.scan(body.substr(cut));
  o.done = s.done();
  return o;
}
}  // namespace

TEST_CASE("chunk scanner: the grammar, whole and split at every byte") {
  struct Row {
    std::string body;
    Fault fault;
    bool done;  // a complete chunked body when no fault
  };
  const std::vector<Row> rows = {
      {"0\r\n\r\n", Fault::none, true},
      {"2\r\nab\r\n0\r\n\r\n", Fault::none, true},
      {"0002\r\nab\r\nA\r\n0123456789\r\nf\r\n" + std::string(15, 'x') + "\r\n0\r\n\r\n", Fault::none, true},
      {"2;a=b;c ; d = \"q \\\" x\" ;e=\"\"\r\nab\r\n0;last\r\n\r\n", Fault::none, true},
      {"2\r\nab\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n", Fault::none, true},
      {"FFFFFFFFFFFFFFFF\r\n", Fault::none, false},  // the largest size: data would follow
      {"2\r\nab\r\n", Fault::none, false},
      {"2\r\nabXY0\r\n\r\n", Fault::no_crlf_after_data, false},
      {"2\r\nab\rX", Fault::no_crlf_after_data, false},
      {"2\r\nab\n0\r\n\r\n", Fault::no_crlf_after_data, false},
      {"10000000000000000\r\n", Fault::size_overflow, false},
      {"00000000000000000000001\r\nx\r\n0\r\n\r\n", Fault::none, true},  // zeros do not overflow
      {"\r\n", Fault::bad_size, false},
      {"x\r\n", Fault::bad_size, false},
      {"2x\r\n", Fault::bad_size, false},
      {"2\nab", Fault::bad_size, false},
      {"2\rab", Fault::bad_line_ending, false},
      {"2 \r\n", Fault::bad_extension, false},
      {"2 ;a\r\nab\r\n0\r\n\r\n", Fault::none, true},
      {"2;\r\n", Fault::bad_extension, false},
      {"2;a=\r\n", Fault::bad_extension, false},
      {"2;a b\r\n", Fault::bad_extension, false},
      {"2;a=\"b\r\n", Fault::bad_extension, false},
      {"2;a=\"\x01\"\r\n", Fault::bad_extension, false},
      {"2;a@b\r\n", Fault::bad_extension, false},
      {"2;a=b c\r\n", Fault::bad_extension, false},
      {"2\r\nab\r\n0\r\nX-T: 1\n\r\n", Fault::bad_line_ending, false},
      {"2\r\nab\r\n0\r\nX-T: 1\rX\r\n\r\n", Fault::bad_line_ending, false},
      {"2\r\nab\r\n0\r\n\n", Fault::bad_line_ending, false},
      {"2\r\nab\r\n0\r\n\rX", Fault::bad_line_ending, false},
      {"2\r\nab\r\n0\r\nX-T: 1\r\n folded\r\n\r\n", Fault::obs_fold, false},
      {"2\r\nab\r\n0\r\n\r\nX", Fault::after_end, true},
  };
  for (const auto& row : rows) {
    for (std::size_t cut = 0; cut <= row.body.size(); ++cut) {
      CAPTURE(row.body, cut);
      Outcome o = scan_split(row.body, cut);
      REQUIRE(o.fault == row.fault);
      if (row.fault == Fault::none) REQUIRE(o.done == row.done);
    }
  }
}

TEST_CASE("chunk scanner: a chunk line longer than the bound is a fault, exactly past it") {
  // "2;" + name + CRLF: the bound counts every byte of the line up to and including its CR.
  for (std::size_t bound : {8, 64, 4096}) {
    CAPTURE(bound);
    std::string at = "2;" + std::string(bound - 3, 'e') + "\r\nab\r\n0\r\n\r\n";
    ChunkScanner ok(bound);
    REQUIRE(ok.scan(at) == Fault::none);
    REQUIRE(ok.done());
    std::string past = "2;" + std::string(bound - 2, 'e') + "\r\nab\r\n0\r\n\r\n";
    ChunkScanner over(bound);
    REQUIRE(over.scan(past) == Fault::line_too_long);
  }
}

TEST_CASE("chunk scanner: a fault sticks until reset; every fault has a reason") {
  ChunkScanner s;
  REQUIRE(s.scan("zz") == Fault::bad_size);
  REQUIRE(s.scan("0\r\n\r\n") != Fault::none);
  REQUIRE_FALSE(s.done());
  s.reset();
  REQUIRE(s.scan("0\r\n\r\n") == Fault::none);
  REQUIRE(s.done());
  for (Fault f : {Fault::bad_size, Fault::size_overflow, Fault::bad_extension, Fault::line_too_long,
                  Fault::bad_line_ending, Fault::no_crlf_after_data, Fault::obs_fold, Fault::after_end}) {
    REQUIRE_FALSE(ChunkScanner::describe(f).empty());
  }
}
