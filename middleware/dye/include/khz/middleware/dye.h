// SPDX-License-Identifier: Apache-2.0
// khz::middleware::dye: traffic dyeing at the entry (a gateway, an edge service): request
// attributes (a header such as `uid: 100`, a cookie, a percentage of traffic) become a baggage
// entry such as env=dev, which then rides every hop (the `baggage` field): each service routes
// its outbound calls by it (routing rules, <khz/governance/rules.h>), so dyed traffic follows
// its lane.
//
//   server.use(khz::middleware::dye({.rules = {
//       {.header = "uid", .values = {"100"}, .key = "env", .value = "dev"},     // uid: 100
//       {.cookie = "beta", .key = "env", .value = "beta"},                       // any beta cookie
//       {.percent = 5, .header = "uid", .key = "lane", .value = "canary"}}}),    // 5% of users
//       khz::middleware::tracing(tracer));                                        // after dye
//
// For each request the rules are tried in order; the first that holds sets its entry:
//   - header / cookie with `values`: the header's (first) value or the cookie's is one of them;
//     without `values`: present and not empty;
//   - percent (0..100] with a header (or cookie): that share of its values, chosen by a hash of
//     the value (sticky: a user stays in or out); with neither: that share of requests, at
//     random.
// The entry is written into the request's own `baggage` field (one line, W3C format, other
// members kept), so a tracing middleware placed after this one and the reverse proxy carry
// it on; and, with `propagate`, it is an ambient outbound header of the handler's chain
// (RequestContext::set_outbound_header), so calls the handler makes with the khz client carry it
// even without tracing.
// `strip_incoming` (default true): a client's own baggage entries for the keys the rules set
// are removed first, so outside callers cannot dye themselves; set false behind a trusted edge.
// Requests no rule dyes pass with their baggage untouched (but stripped). A plain middleware:
// no coroutine frame.
#pragma once

#include <khz/app/handler.h>

#include <string>
#include <vector>

namespace khz::middleware {

struct DyeRule {
  std::string header{};               // a request header to look at
  std::string cookie{};               // or a cookie
  std::vector<std::string> values{};  // values that dye (empty: any non-empty value)
  double percent = 0;                 // (0, 100]: that share (see above); 0: off
  std::string key = "env";            // the baggage entry set
  std::string value = "dev";
};

struct DyeOptions {
  std::vector<DyeRule> rules{};
  bool strip_incoming = true;
  bool propagate = true;
};

// std::invalid_argument for a rule without a key, or a percent outside [0, 100].
Handler dye(DyeOptions options);

}  // namespace khz::middleware
