// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/error.h>

#include <string>

namespace khz::protocol {
namespace {

class ProtocolCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "khz.protocol"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::body_too_large: return "request body too large";
      case errc::malformed_body: return "malformed request body";
      case errc::body_unavailable: return "request body is not being streamed";
      case errc::malformed_response: return "malformed response";
      case errc::header_too_large: return "response head too large";
      case errc::truncated_response: return "connection closed before the response was complete";
      case errc::response_too_large: return "response body larger than the limit";
      case errc::stream_refused: return "HTTP/2 stream refused before processing (safe to retry)";
      case errc::stream_reset: return "HTTP/2 stream reset by the server";
      case errc::connection_closed: return "HTTP/2 connection closed or going away";
      case errc::cancelled: return "HTTP/2 stream cancelled";
      case errc::unsupported_transfer_coding: return "response transfer coding not supported";
      case errc::connect_protocol_disabled: return "the server does not accept extended CONNECT (RFC 8441)";
    }
    return "unknown protocol error";
  }
};

}  // namespace

const std::error_category& protocol_category() noexcept {
  static const ProtocolCategory category;
  return category;
}

}  // namespace khz::protocol
