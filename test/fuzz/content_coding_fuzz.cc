// SPDX-License-Identifier: Apache-2.0
// libFuzzer: the content-coding decoders (gzip, deflate, br, zstd) with a small decoded-size
// limit. The first byte picks the coding and the slice size; the rest is the coded body. Fed
// whole and in slices, the two runs must agree (same bytes; both fail or neither); the output never
// passes the limit; and what decodes cleanly re-encodes and decodes back to the same bytes.
#include <khz/protocol/content_coding.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using khz::protocol::ContentCoding;
using khz::protocol::ContentDecoder;
using khz::protocol::ContentEncoder;

namespace {

constexpr std::size_t kLimit = 64 * 1024;

struct Outcome {
  std::string body;
  std::error_code error;
};

Outcome run(ContentCoding coding, std::string_view input, std::size_t slice, std::size_t limit) {
  auto dec = ContentDecoder::create(coding, limit);
  Outcome out;
  for (std::size_t at = 0; at < input.size(); at += slice) {
    if ((out.error = dec->feed(input.substr(at, slice), out.body))) break;
    if (out.body.size() > limit) std::abort();
  }
  if (!out.error) out.error = dec->finish();
  if (out.body.size() > limit || dec->decoded_bytes() != out.body.size()) std::abort();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const ContentCoding coding = static_cast<ContentCoding>(data[0] & 3);
  const std::size_t slice = 1 + (data[0] >> 2);
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  const Outcome whole = run(coding, input, input.size() + 1, kLimit);
  const Outcome sliced = run(coding, input, slice, kLimit);
  // Both fail or neither. The error itself may differ only when one is too_large: a codec may
  // emit the output that passes the limit before it looks at the corrupt bytes further on, or
  // (brotli, with more input at hand) see them first.
  if (bool(whole.error) != bool(sliced.error)) std::abort();
  if (whole.error != sliced.error && whole.error != khz::protocol::coding_errc::too_large &&
      sliced.error != khz::protocol::coding_errc::too_large) {
    std::abort();
  }
  // Up to an error the bytes agree; without one they are the same.
  const std::size_t common = std::min(whole.body.size(), sliced.body.size());
  if (whole.body.compare(0, common, sliced.body, 0, common) != 0) std::abort();
  if (!whole.error && whole.body != sliced.body) std::abort();

  if (!whole.error) {
    auto enc = ContentEncoder::create(coding, 1);
    std::string wire;
    enc->feed(whole.body, wire);
    enc->flush(wire);
    enc->finish(wire);
    const Outcome back = run(coding, wire, 97, kLimit);
    if (back.error || back.body != whole.body) std::abort();
  }
  return 0;
}
