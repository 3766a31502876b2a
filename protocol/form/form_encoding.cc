// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/form.h>
#include <khz/protocol/header_map.h>

namespace khz::protocol {

FormEncoding form_encoding(std::string_view content_type) noexcept {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  if (iequals(type, "application/x-www-form-urlencoded")) return FormEncoding::urlencoded;
  if (iequals(type, "multipart/form-data")) return FormEncoding::multipart;
  return FormEncoding::none;
}

}  // namespace khz::protocol
