// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the HTTP/1.1 request parser on arbitrary bytes, fed in two pieces held in
// separate buffers (so straddling tokens take the arena path), message after message as on a
// pipelined connection. ASan/UBSan catch memory errors; the asserts catch broken invariants,
// among them a first message read otherwise than it is fed whole.
#include "http1/request_parser.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// Reads every byte the request exposes, so a dangling view shows up under ASan.
std::size_t touch(const khz::Request& r) {
  std::size_t sum = r.method().size() + r.target().size() + r.path().size() + r.query().size() + r.body().size();
  for (const auto& f : r.headers()) {
    for (char c : f.name) sum += static_cast<unsigned char>(c);
    for (char c : f.value) sum += static_cast<unsigned char>(c);
  }
  for (const auto& f : r.trailers()) sum += f.name.size() + f.value.size();
  return sum;
}

// Everything the parser took from a message, for comparing two runs over the same bytes.
std::string describe(const khz::Request& r) {
  std::string out;
  auto add = [&out](std::string_view s) { out.append(s).push_back('\0'); };
  add(r.method());
  add(r.target());
  for (const auto& f : r.headers()) add(f.name), add(f.value);
  add("--");
  for (const auto& f : r.trailers()) add(f.name), add(f.value);
  add(r.body());
  return out;
}

const khz::protocol::http1::ParserLimits kLimits{1024, 4096, 8192};

// The first message of `bytes` fed whole: "" unless it parsed.
std::string parse_whole(std::string_view bytes) {
  khz::protocol::http1::RequestParser parser(kLimits);
  khz::Request request;
  parser.start(request);
  while (!bytes.empty() && !parser.done() && !parser.failed()) {
    std::size_t n = parser.feed(bytes);
    if (n == 0) break;
    bytes.remove_prefix(n);
  }
  return parser.done() ? describe(request) : std::string();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t cut = data[0] % size;
  std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
  cut = cut > all.size() ? all.size() : cut;
  auto first = std::make_unique<std::string>(all.substr(0, cut));
  auto second = std::make_unique<std::string>(all.substr(cut));

  // A first message read in full one way is read in full the other way, as the same request
  // (a limit counted per piece once made a request under it a 431 when split). A refusal is
  // not compared: where a read ends decides when a fault is seen and which one first. llhttp
  // hands a token over when its span ends or the read does, and khz checks the request line
  // as it arrives ("GET  /x ... HTTP/2.0": 400 for the double space split after it, 505
  // whole; "X:\r y" refused at once when a read ends after the CR, whole only at the line's end).
  const std::string whole = parse_whole(all);

  khz::protocol::http1::RequestParser parser(kLimits);
  khz::Request request;
  std::string_view pieces[2] = {*first, *second};
  for (int messages = 0; messages < 64; ++messages) {
    parser.start(request);
    for (auto& piece : pieces) {
      while (!piece.empty() && !parser.done() && !parser.failed()) {
        std::size_t n = parser.feed(piece);
        check(n <= piece.size());
        if (n == 0) break;
        piece.remove_prefix(n);
      }
    }
    if (messages == 0) {
      if (parser.done() || !whole.empty()) check(parser.done() && describe(request) == whole);
    }
    if (parser.failed()) {
      int s = parser.error_status();
      check(s == 400 || s == 408 || s == 413 || s == 414 || s == 431 || s == 501 || s == 505);
      return 0;
    }
    if (!parser.done()) return 0;  // needs more bytes
    check(request.body().size() <= 8192);
    check(request.target().size() <= 1024);
    volatile std::size_t sink = touch(request);
    (void)sink;
    if (pieces[0].empty() && pieces[1].empty()) return 0;
  }
  return 0;
}
