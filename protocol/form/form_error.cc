// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/error.h>
#include <khz/protocol/form_error.h>
#include <khz/transport/error.h>

#include <string>

namespace khz::protocol {
namespace {

class FormCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "khz.form"; }
  std::string message(int code) const override {
    switch (static_cast<form_errc>(code)) {
      case form_errc::body_too_large: return "form body larger than the limit";
      case form_errc::too_many_fields: return "urlencoded form: more fields than the limit";
      case form_errc::key_too_large: return "urlencoded form: a field name longer than the limit";
      case form_errc::value_too_large: return "urlencoded form: a field value longer than the limit";
      case form_errc::too_many_parts: return "multipart form: more parts than the limit";
      case form_errc::part_header_too_large: return "multipart form: a part's header block larger than the limit";
      case form_errc::too_many_part_headers: return "multipart form: a part with more header fields than the limit";
      case form_errc::field_too_large: return "multipart form: a non-file field larger than the limit";
      case form_errc::bad_escape: return "urlencoded form: a '%' not followed by two hex digits";
      case form_errc::bad_boundary:
        return "multipart form: the Content-Type boundary parameter is missing or invalid (RFC 2046: 1-70 "
               "characters of digits, letters and '()+_,-./:=? and space, not ending in a space)";
      case form_errc::missing_boundary: return "multipart form: the body has no boundary line";
      case form_errc::malformed_delimiter:
        return "multipart form: a boundary line is followed by something other than \"--\" or CRLF";
      case form_errc::malformed_part_header: return "multipart form: a malformed part header line";
      case form_errc::bad_content_disposition:
        return "multipart form: a part without a valid \"Content-Disposition: form-data\" header";
      case form_errc::missing_field_name: return "multipart form: a part's Content-Disposition has no name";
      case form_errc::truncated: return "multipart form: the body ended before the closing boundary";
      case form_errc::not_a_form:
        return "not a form: Content-Type is neither application/x-www-form-urlencoded nor multipart/form-data";
    }
    return "unknown form error";
  }
};

}  // namespace

const std::error_category& form_category() noexcept {
  static const FormCategory category;
  return category;
}

int form_error_status(std::error_code error) noexcept {
  if (!error) return 0;
  if (error.category() == form_category()) {
    switch (static_cast<form_errc>(error.value())) {
      case form_errc::body_too_large:
      case form_errc::too_many_fields:
      case form_errc::key_too_large:
      case form_errc::value_too_large:
      case form_errc::too_many_parts:
      case form_errc::part_header_too_large:
      case form_errc::too_many_part_headers:
      case form_errc::field_too_large:
        return 413;
      case form_errc::not_a_form:
        return 415;
      default:
        return 400;
    }
  }
  if (error == errc::body_too_large) return 413;
  if (error.category() == protocol_category()) return 400;
  if (error == transport::errc::timed_out) return 408;
  if (error.category() == transport::transport_category()) return 400;  // the client went away
  return 500;
}

}  // namespace khz::protocol
