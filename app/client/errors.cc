// SPDX-License-Identifier: Apache-2.0
// client::errc's category: the messages of the client's own error codes.
#include <khz/app/client/errors.h>

#include <string>

namespace khz::client {
namespace {

class ClientCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "khz.client"; }
  std::string message(int v) const override {
    switch (static_cast<errc>(v)) {
      case errc::bad_url: return "bad URL (want http://host[:port]/path)";
      case errc::unsupported_scheme: return "unsupported URL scheme (want http or https)";
      case errc::too_many_redirects: return "too many redirects";
      case errc::pool_timeout: return "timed out waiting for a free connection";
      case errc::cancelled: return "request cancelled";
      case errc::body_not_replayable: return "streamed request body cannot be sent again";
      case errc::proxy_refused: return "proxy refused the CONNECT tunnel";
      case errc::certificate_verify_failed: return "TLS: the server's certificate could not be verified";
      case errc::no_content: return "event stream: the server answered 204 No Content (stop)";
      case errc::bad_method: return "the request method is not a token (RFC 9110 §9.1)";
      case errc::not_event_stream:
        return "event stream: the server answered a status other than 200 or a Content-Type other than text/event-stream";
    }
    return "unknown client error";
  }
};

}  // namespace

const std::error_category& client_category() noexcept {
  static const ClientCategory category;
  return category;
}

}  // namespace khz::client
