// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the HTTP/1.1 request parser on arbitrary bytes, fed in two pieces held in
// separate buffers (so straddling tokens take the arena path), message after message as on a
// pipelined connection. ASan/UBSan catch memory errors; the asserts catch broken invariants.
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t cut = data[0] % size;
  std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
  cut = cut > all.size() ? all.size() : cut;
  auto first = std::make_unique<std::string>(all.substr(0, cut));
  auto second = std::make_unique<std::string>(all.substr(cut));

  khz::protocol::http1::RequestParser parser({1024, 4096, 8192});
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
