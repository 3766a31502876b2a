// SPDX-License-Identifier: Apache-2.0
// The Protobuf front end: protoc parses the IDL into a descriptor set (`protoc
// --descriptor_set_out --include_imports --include_source_info`), which libprotobuf reads
// back into a DescriptorPool; this walks the pool into hz's model. No hand-written parser: a
// syntax error is protoc's own message, with file:line:column.
// Hertz's options (api.get, api.query, api.vd, ...) are extensions declared in api.proto
// (shipped with hz: `import "api.proto";`), read here by their field numbers.
//
//   idl::Program p = idl::read_protobuf({"idl/hello.proto"}, {"idl"});
#pragma once

#include "idl/model.h"

#include <string>
#include <string_view>
#include <vector>

namespace hz::idl {

// Runs protoc on the IDLs (-I for each include path, the IDL's own folder when none holds
// it, and hz's api.proto) and reads the descriptor set. Throws std::runtime_error with
// protoc's message when the IDL is bad.
Program read_protobuf(const std::vector<std::string>& idls, const std::vector<std::string>& include_paths);

// Reads a serialized FileDescriptorSet; `main_files` are the names (as protoc recorded them)
// services are generated for. Throws std::runtime_error on a set it cannot read; never crashes
// on any input.
Program read_descriptor_set(std::string_view bytes, const std::vector<std::string>& main_files);

// The text of the api.proto hz ships (Hertz's annotations as Protobuf options).
std::string_view api_proto();

}  // namespace hz::idl
