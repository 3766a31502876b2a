// SPDX-License-Identifier: Apache-2.0
// middleware/basic_auth's Authorization parser (basic_parse.h): any field value gives either a
// reason or "user:password" with the colon where it says, no control character, and a value
// that re-encodes to what was sent (up to the last character's unused bits).
#include "basic_parse.h"

#include <openssl/evp.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace khz::middleware::basic_detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  std::string plain;
  std::size_t colon = 0;
  const std::string why = parse_basic_authorization(value, plain, colon);
  if (!why.empty()) return 0;
  if (value.size() > kMaxCredentials || colon >= plain.size() || plain[colon] != ':' || plain.find(':') != colon) {
    std::abort();
  }
  for (char c : plain) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) std::abort();
  }
  // Strict: the accepted base64 is the canonical encoding of what it decoded to, but for the
  // unused low bits of the last character before the padding, which the decoder (like
  // OpenSSL's, and as RFC 4648 §3.5 allows) ignores.
  std::string encoded(4 * ((plain.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                reinterpret_cast<const unsigned char*>(plain.data()), static_cast<int>(plain.size()));
  encoded.resize(static_cast<std::size_t>(n));
  std::string_view sent = value.substr(6);
  while (!sent.empty() && sent.front() == ' ') sent.remove_prefix(1);
  if (sent.size() != encoded.size()) std::abort();
  const std::size_t last = encoded.find_last_not_of('=');
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    if (i != last && sent[i] != encoded[i]) std::abort();
  }
  return 0;
}
