// SPDX-License-Identifier: Apache-2.0
// Finding a credential in a request: a header (optionally after an auth scheme such as
// "Bearer"), a query parameter or a cookie. The one reader behind key_auth, jwt and any
// middleware that takes a secret from the request.
//
//   const khz::FoundCredential c = khz::find_credential(ctx, khz::CredentialFrom::header, "Authorization", "Bearer");
//   if (!c.malformed.empty()) refuse(c.malformed);       // "header Authorization sent 2 times"
//   else if (c.found) check(c.value);                   // the token, scheme and spaces removed
//
// A header sent more than once, or without the expected scheme (matched without case and
// followed by one or more spaces), is malformed: `malformed` says why, naming the source. An
// empty value is found (and empty): the caller decides. `value` views the request: valid while
// the request is.
#pragma once

#include <string>
#include <string_view>

namespace khz {

class RequestContext;

enum class CredentialFrom { header, query, cookie };

struct FoundCredential {
  bool found = false;
  std::string_view value{};
  std::string malformed{};  // non-empty: the request carries one, in a form that is refused
};

FoundCredential find_credential(RequestContext& ctx, CredentialFrom from, std::string_view name,
                                std::string_view scheme = {});

// "header Authorization", "query parameter api_key", "cookie sid": for log lines.
std::string credential_source(CredentialFrom from, std::string_view name);

}  // namespace khz
