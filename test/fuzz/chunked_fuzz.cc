// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the chunked body decoder, behind a fixed valid header section, fed byte
// ranges chosen by the input. Checks that a completed body never exceeds the bytes it came from
// nor the body limit, and that trailers never leak into the headers.
#include "http1/request_parser.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
const std::string kHead = "POST /upload HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n\r\n";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string message = kHead;
  message.append(reinterpret_cast<const char*>(data), size);
  khz::http1::RequestParser parser({1024, 4096, 4096});
  khz::Request request;
  parser.start(request);
  std::string_view rest(message);
  // Feed in slices whose sizes come from the input itself, to vary the boundaries.
  std::size_t i = 0;
  while (!rest.empty() && !parser.done() && !parser.failed()) {
    std::size_t step = size > 0 ? 1 + data[i++ % size] % 17 : rest.size();
    std::size_t n = parser.feed(rest.substr(0, step < rest.size() ? step : rest.size()));
    check(n <= rest.size());
    if (n == 0) break;
    rest.remove_prefix(n);
  }
  if (parser.done()) {
    check(request.body().size() <= size);
    check(request.body().size() <= 4096);
    check(request.headers().size() == 2);  // Host and Transfer-Encoding only
    check(request.headers().get("Host") == "fuzz");
  }
  if (parser.failed()) check(parser.error_status() == 400 || parser.error_status() == 413);
  return 0;
}
