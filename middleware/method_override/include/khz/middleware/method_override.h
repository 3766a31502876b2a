// SPDX-License-Identifier: Apache-2.0
// khz::middleware::method_override: lets a client that can only send GET and POST (an HTML
// form, an old proxy) ask for PUT, PATCH or DELETE. A pre-routing handler: register it with
// Engine/Server::pre(), so the router sees the method asked for.
//
//   server.pre(khz::middleware::method_override());                     // X-HTTP-Method-Override
//   server.pre(khz::middleware::method_override({.form_field = "_method"}));   // <input name=_method>
//   server.put("/items/:id", update);    // POST /items/7 with X-HTTP-Method-Override: PUT comes here
//
// For each request:
//   - only a POST is overridden; any other method is left as it is, whatever it carries (a GET
//     stays a GET: a safe request never becomes an unsafe one);
//   - the method asked for is looked up in this order, the first found deciding: the request
//     header `header`, then the form body's field `form_field` (urlencoded or multipart; a
//     buffered body), then the query key `query_key`; an empty name is not looked at;
//   - the value, compared without case, must be one of `allowed_methods`: the request's method
//     becomes it (upper case). Anything else is refused with 400 Bad Request and one info line
//     naming the request and the value's length (a value not allowed, e.g. GET or TRACE; a
//     header sent twice; an empty value): a client that asks for an override it cannot have
//     gets told, rather than its POST going to the POST route.
// Put it first among pre handlers that route by method. Plain function, no coroutine frame.
//
// Options (defaults):
//   header           "X-HTTP-Method-Override"
//   form_field       ""  (e.g. "_method", as Rails and Laravel forms send)
//   query_key        ""  (e.g. "_method")
//   allowed_methods  {"PUT", "PATCH", "DELETE"}
#pragma once

#include <khz/app/handler.h>

#include <string>
#include <vector>

namespace khz::middleware {

struct MethodOverrideOptions {
  std::string header = "X-HTTP-Method-Override";
  std::string form_field{};
  std::string query_key{};
  std::vector<std::string> allowed_methods = {"PUT", "PATCH", "DELETE"};
};

Handler method_override(MethodOverrideOptions options = {});

}  // namespace khz::middleware
