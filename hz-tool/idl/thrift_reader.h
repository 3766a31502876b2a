// SPDX-License-Identifier: Apache-2.0
// The Thrift front end: the Apache Thrift compiler parses the IDL (`thrift -r --gen json`, which
// keeps annotations and doc comments) and this reads its JSON into hz's model. No hand-written
// Thrift parser: a syntax error is the compiler's own message, with file:line.
//
//   idl::Program p = idl::read_thrift({"idl/hello.thrift"}, {"idl"});
#pragma once

#include "idl/model.h"

#include <string>
#include <vector>

namespace hz::idl {

// Runs the compiler on each IDL (with -I for each include path) and reads its output. Throws
// std::runtime_error with the compiler's message when the IDL is bad.
Program read_thrift(const std::vector<std::string>& idls, const std::vector<std::string>& include_paths);

// One JSON document the compiler wrote (one per IDL file, included ones too).
struct ThriftJson {
  std::string text;
  bool main = false;  // named on the command line
};

// Reads the compiler's JSON documents (any order). Throws std::runtime_error on a document it
// cannot read (bad JSON, a missing member, a type it does not know); never crashes on any input.
Program read_thrift_json(const std::vector<ThriftJson>& documents);

}  // namespace hz::idl
