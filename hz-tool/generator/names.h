// SPDX-License-Identifier: Apache-2.0
// Names in generated code: identifiers, file paths, C++ types of model types.
#pragma once

#include "idl/model.h"

#include <string>

namespace hz::gen {

// "HelloService" → "hello_service", "getUser" → "get_user", "HTTPServer" → "http_server".
std::string snake_case(const std::string& name);
// A name usable as a C++ identifier: a keyword gets a trailing '_', other characters become '_'.
std::string identifier(const std::string& name);
// "demo::v1" → "demo/v1"
std::string ns_path(const std::string& ns);
// The C++ type of a model type (optional: wrapped in std::optional).
std::string cpp_type(const idl::Type& type, bool optional);
bool is_integer(idl::Kind k);
bool is_number(idl::Kind k);
// A C++ string literal of text.
std::string quote(const std::string& text);

}  // namespace hz::gen
