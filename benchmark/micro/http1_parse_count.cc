// SPDX-License-Identifier: Apache-2.0
// Parses one request a fixed number of times, for instruction counts: timings on a shared
// machine wander, callgrind's count does not.
//
//   valgrind --tool=callgrind ./build/bin/http1_parse_count small 20000   (or: browser)
//   -> (I refs - the same run with 0) / 20000 = instructions per parse
#include "http1/request_parser.h"
#include "http1_requests.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

int main(int argc, char** argv) {
  if (argc != 3 || (std::string_view(argv[1]) != "small" && std::string_view(argv[1]) != "browser")) {
    std::fprintf(stderr, "usage: http1_parse_count small|browser COUNT\n");
    return 2;
  }
  const std::string& message = std::string_view(argv[1]) == "small" ? khz::bench::kSmall : khz::bench::kBrowser;
  const long count = std::strtol(argv[2], nullptr, 10);
  khz::protocol::http1::RequestParser parser(khz::bench::kLimits);
  khz::Request request;
  std::size_t parsed = 0;
  for (long i = 0; i < count; ++i) {
    parser.start(request);
    parsed += parser.feed(message);
    if (!parser.done()) return 1;
  }
  std::printf("%zu bytes parsed\n", parsed);
}
