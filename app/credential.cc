// SPDX-License-Identifier: Apache-2.0
#include <khz/app/credential.h>

#include <khz/app/request_context.h>
#include <khz/protocol/header_map.h>

namespace khz {

std::string credential_source(CredentialFrom from, std::string_view name) {
  std::string out;
  switch (from) {
    case CredentialFrom::header: out = "header "; break;
    case CredentialFrom::query: out = "query parameter "; break;
    case CredentialFrom::cookie: out = "cookie "; break;
  }
  return out.append(name);
}

FoundCredential find_credential(RequestContext& ctx, CredentialFrom from, std::string_view name, std::string_view scheme) {
  FoundCredential out;
  switch (from) {
    case CredentialFrom::header: {
      const HeaderMap& in = ctx.request().headers();
      const std::size_t n = in.count(name);
      if (n == 0) return out;
      if (n > 1) {
        out.malformed = credential_source(from, name) + " sent " + std::to_string(n) + " times";
        return out;
      }
      std::string_view value = in.get(name);
      if (!scheme.empty()) {
        if (!iequals(value.substr(0, scheme.size()), scheme) || value.size() == scheme.size() || value[scheme.size()] != ' ') {
          out.malformed = credential_source(from, name) + " without the " + std::string(scheme) + " scheme";
          return out;
        }
        value.remove_prefix(scheme.size());
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      }
      out.value = value;
      out.found = true;
      return out;
    }
    case CredentialFrom::query:
      out.found = ctx.has_query(name);
      if (out.found) out.value = ctx.query(name);
      return out;
    case CredentialFrom::cookie:
      out.found = ctx.has_cookie(name);
      if (out.found) out.value = ctx.cookie(name);
      return out;
  }
  return out;
}

}  // namespace khz
