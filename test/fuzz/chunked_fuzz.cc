// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the chunked body decoder, behind a fixed valid header section, fed byte
// ranges chosen by the input. Checks that a completed body never exceeds the bytes it came from
// nor the body limit, that trailers never leak into the headers, and that streaming the body
// (pieces handed out one by one) yields exactly what collecting it does, with the same outcome.
// (What a read's end decides: 400 or 431 for a message that earns both.)
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

struct Outcome {
  bool done;
  int status;
  std::string body;
  std::size_t consumed;
};

Outcome run(const std::uint8_t* data, std::size_t size, const std::string& message, bool stream) {
  khz::protocol::http1::RequestParser parser({1024, 4096, 4096});
  khz::Request request;
  parser.start(request);
  std::string_view rest(message);
  std::string streamed;
  std::size_t consumed = 0;
  // Feed in slices whose sizes come from the input itself, to vary the boundaries.
  std::size_t i = 0;
  while (!rest.empty() && !parser.done() && !parser.failed()) {
    std::size_t step = size > 0 ? 1 + data[i++ % size] % 17 : rest.size();
    std::string_view slice = rest.substr(0, step < rest.size() ? step : rest.size());
    std::size_t n = parser.feed(slice);
    check(n <= slice.size());
    std::string_view piece = parser.take_chunk();
    if (!piece.empty()) {
      check(stream);
      check(piece.data() >= slice.data() && piece.data() + piece.size() <= slice.data() + n);
      streamed.append(piece);
    }
    if (parser.needs_body_decision()) parser.configure_body(stream, 4096);
    if (n == 0 && piece.empty()) break;
    rest.remove_prefix(n);
    consumed += n;
  }
  if (parser.done()) {
    check(request.body().size() <= size);
    check(request.body().size() <= 4096);
    check(request.headers().size() == 2);  // Host and Transfer-Encoding only
    check(request.headers().get("Host") == "fuzz");
    check(parser.body_bytes() == (stream ? streamed.size() : request.body().size()));
  }
  if (stream) check(request.body().empty());
  // 400 malformed, 413 over the body limit, 431 trailers that take the field bytes past the
  // header limit (the head and the trailer section share it).
  if (parser.failed()) {
    check(parser.error_status() == 400 || parser.error_status() == 413 || parser.error_status() == 431);
  }
  return {parser.done(), parser.error_status(), stream ? streamed : std::string(request.body()), consumed};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string message = kHead;
  message.append(reinterpret_cast<const char*>(data), size);
  Outcome collected = run(data, size, message, false);
  Outcome streamed = run(data, size, message, true);
  check(collected.done == streamed.done);
  // The same status, but for a message both malformed and past the header limit: llhttp hands
  // a field's bytes over when their span ends or the read does, so whether the parser counts
  // them past the limit (431) before it meets the bad byte (400) depends on where the reads
  // end, and streaming moves those ends (the body goes out piece by piece).
  const bool both_refused_for_the_head = (collected.status == 400 && streamed.status == 431) ||
                                         (collected.status == 431 && streamed.status == 400);
  check(collected.status == streamed.status || both_refused_for_the_head);
  if (collected.done) {
    check(collected.body == streamed.body);
    check(collected.consumed == streamed.consumed);
  }
  return 0;
}
