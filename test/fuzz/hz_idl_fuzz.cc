// SPDX-License-Identifier: Apache-2.0
// Fuzzes hz's IDL input readers: what the thrift compiler's JSON generator wrote (first byte
// 't', then the JSON text) or a protoc descriptor set (first byte 'p', then the serialized
// FileDescriptorSet), read into hz's model, its annotations interpreted (api.vd included) and
// its routes checked. Bad input must end in std::runtime_error, never a crash, leak or hang.
#include "idl/annotations.h"
#include "idl/protobuf_reader.h"
#include "idl/thrift_reader.h"

#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// libprotobuf logs each malformed string it parses; the fuzzer wants the failures, not the log.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    hz::idl::Program program;
    if (data[0] == 't') {
      program = hz::idl::read_thrift_json({{std::string(input), true}});
    } else if (data[0] == 'p') {
      program = hz::idl::read_descriptor_set(input, {"catalog.proto", "common.proto", "a.proto"});
    } else {
      return 0;
    }
    std::vector<std::string> warnings;
    hz::idl::interpret(program, warnings);
    hz::idl::check_routes(program);
  } catch (const std::runtime_error&) {
    // refused: fine
  }
  return 0;
}
