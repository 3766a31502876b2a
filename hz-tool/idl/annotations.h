// SPDX-License-Identifier: Apache-2.0
// Hertz's annotations, with their names and meaning, read from the model's raw annotations
// (Thrift `(api.get="/x")`, Protobuf `option (api.get) = "/x"`):
//   methods  api.get api.post api.put api.delete api.patch api.options api.head api.any (the
//            route; several allowed), api.handler_path (the handler file), api.serializer (json)
//   fields   api.path api.query api.header api.cookie api.form api.body (where the value comes
//            from, under the given name), api.raw_body (the body as sent), api.vd (validation)
//   services api.base_domain (the generated client's default base URL)
// Anything else is reported as a warning (never ignored silently).
//
// api.vd takes the part of Hertz's expression language that maps onto khz's rules, terms
// joined by &&, then an optional `; msg:'text'`:
//   $ > n  $ >= n  $ < n  $ <= n  $ == n     numbers (> and < on integers only)
//   len($) > n ... (also mblen)              string length in characters, list size
//   regexp('re')  email($)  in($, 'a', 'b')  pattern, format, one of
//   required / $ != nil / len($) > 0         the value must be there
// Other expressions are an error naming the field, not a rule dropped.
#pragma once

#include "idl/model.h"

#include <string>
#include <vector>

namespace hz::idl {

// Fills routes, bindings and rules from the annotations. Appends warnings ("file: where: what")
// to `warnings`; throws std::runtime_error for an annotation it cannot honour (a bad api.vd, a
// route path that is not one).
void interpret(Program& program, std::vector<std::string>& warnings);

// One api.vd expression applied to a binding (exposed for tests). `integer`: the field is an
// integer (strict comparisons become inclusive bounds). Throws std::runtime_error.
void apply_vd(const std::string& expression, bool integer, Binding& binding);

// Throws std::runtime_error naming both methods when two routes of the main files' services
// would conflict in khz's router (the same method and path, or the same shape with other
// parameter names), or when a path is malformed. Checked before anything is written.
void check_routes(const Program& program);

}  // namespace hz::idl
