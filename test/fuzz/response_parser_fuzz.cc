// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the HTTP/1.1 response parser on arbitrary bytes, fed in two pieces held in
// separate buffers, response after response as on a keep-alive connection, then EOF. The first
// byte picks the cut and whether the request was HEAD. ASan/UBSan catch memory errors; the
// checks catch broken invariants (limits, consumed counts, error classes).
#include "http1/response_parser.h"

#include <khz/protocol/error.h>

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
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool head = (data[0] & 0x80) != 0;
  std::string_view all(reinterpret_cast<const char*>(data + 1), size - 1);
  std::size_t cut = (data[0] & 0x7f) % (all.size() + 1);
  auto first = std::make_unique<std::string>(all.substr(0, cut));
  auto second = std::make_unique<std::string>(all.substr(cut));

  khz::protocol::http1::ResponseParser parser({.max_header_bytes = 4096, .max_body_bytes = 8192});
  khz::Response response;
  std::string_view pieces[2] = {*first, *second};
  for (int messages = 0; messages < 64; ++messages) {
    parser.start(response, head);
    for (auto& piece : pieces) {
      while (!piece.empty() && !parser.done() && !parser.failed()) {
        std::size_t n = parser.feed(piece);
        check(n <= piece.size());
        if (n == 0) break;
        piece.remove_prefix(n);
      }
    }
    if (!parser.done() && !parser.failed()) parser.finish_eof();
    check(parser.done() != parser.failed());
    if (parser.failed()) {
      auto e = parser.error();
      check(e == khz::protocol::errc::malformed_response || e == khz::protocol::errc::header_too_large ||
            e == khz::protocol::errc::response_too_large || e == khz::protocol::errc::truncated_response ||
            e == khz::protocol::errc::unsupported_transfer_coding);
      return 0;
    }
    check(response.body().size() <= 8192);
    check(response.status() >= 100 && response.status() <= 999);
    if (head || response.status() == 204 || response.status() == 304) check(response.body().empty());
    std::size_t sum = 0;
    for (const auto& f : response.headers()) sum += f.name.size() + f.value.size();
    volatile std::size_t sink = sum;
    (void)sink;
    if (!parser.keep_alive() || (pieces[0].empty() && pieces[1].empty())) return 0;
  }
  return 0;
}
