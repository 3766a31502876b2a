// SPDX-License-Identifier: Apache-2.0
// The codecs behind ContentEncoder::create / ContentDecoder::create, one file per library.
#pragma once

#include <khz/protocol/content_coding.h>

namespace khz::protocol::encoding {

// zlib.cc: gzip (RFC 1952) and deflate (zlib, RFC 1950; raw DEFLATE accepted when decoding).
std::unique_ptr<ContentEncoder> make_zlib_encoder(ContentCoding coding, int level);
std::unique_ptr<ContentDecoder> make_zlib_decoder(ContentCoding coding, std::size_t max_bytes);
// brotli.cc
std::unique_ptr<ContentEncoder> make_brotli_encoder(int level);
std::unique_ptr<ContentDecoder> make_brotli_decoder(std::size_t max_bytes);
// zstd.cc
std::unique_ptr<ContentEncoder> make_zstd_encoder(int level);
std::unique_ptr<ContentDecoder> make_zstd_decoder(std::size_t max_bytes);

// Encoders append output in pieces of this size (a flush of a small write stays small).
inline constexpr std::size_t kOutputChunk = 16 * 1024;

}  // namespace khz::protocol::encoding
