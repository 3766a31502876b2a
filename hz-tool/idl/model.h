// SPDX-License-Identifier: Apache-2.0
// hz's neutral IDL model: what the Thrift and Protobuf front ends produce and every generator
// reads. Services, methods, structs, enums, typedefs and constants of every file the compiler
// read, with their annotations (Thrift `(api.get="/x")`, Protobuf `[(api.query)="q"]`) kept by
// name, as written, for interpret() (annotations.h) to turn into routes and field bindings.
//
//   idl::Program program = idl::read_thrift(options);   // or read_protobuf
//   idl::interpret(program, warnings);                    // api.* annotations → routes, bindings
//
// Plain values; no compiler types leak in. Types are named by their qualified C++ name
// ("demo::Item"), so generators never look anything up.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hz::idl {

enum class Syntax { thrift, protobuf };

// Annotations in source order: name → values (a Thrift annotation may repeat).
using Annotations = std::vector<std::pair<std::string, std::string>>;

enum class Kind {
  boolean, i8, i16, i32, i64, u32, u64, f32, f64, string, binary,  // scalars
  enumeration, structure, list, set, map, timestamp,
};

struct Type {
  Kind kind = Kind::string;
  std::string name;                     // enumeration, structure: qualified C++ name ("demo::Item")
  std::string schema_name;              // enumeration, structure: the OpenAPI component name
  std::shared_ptr<const Type> element;  // list, set: the element; map: the value
  std::shared_ptr<const Type> key;      // map: the key
};

// Where a field binds from and the rules it keeps (filled by interpret()).
struct Binding {
  std::string path, query, header, cookie, form, json;  // names; "" = not from that source
  bool from_path = false, from_query = false, from_header = false, from_cookie = false;
  bool from_form = false, from_json = false;
  bool raw_body = false;  // api.raw_body: the request body as sent
  // Rules (api.vd, Thrift `required`).
  bool required = false;
  std::optional<long double> min, max;
  std::optional<std::size_t> min_length, max_length;
  std::string one_of;   // "a|b"
  std::string pattern;  // RE2
  std::string format;   // email url uuid ip ipv4 ipv6
  std::string message;
  bool any_source() const { return from_path || from_query || from_header || from_cookie || from_form || from_json; }
};

struct Field {
  int id = 0;
  std::string name;  // as in the IDL: the JSON name and the member name
  Type type;
  bool optional = false;         // presence matters: std::optional<T>
  std::string default_value;     // C++ initialiser text, "" for none
  std::string oneof;             // Protobuf: the oneof this field belongs to
  std::string comment;
  Annotations annotations;
  Binding binding;
};

struct Struct {
  std::string name;       // as in the IDL (nested Protobuf messages: "Outer_Inner")
  std::string ns;         // C++ namespace ("demo::v1")
  std::string file;       // the IDL file that declares it
  std::string schema_name;  // the OpenAPI component name ("hello.HelloReq", "demo.v1.Item")
  std::string comment;
  std::vector<Field> fields;
  std::vector<std::string> oneofs;  // Protobuf oneof names, in order
  Annotations annotations;          // none is used: each is warned about
  bool is_exception = false;
  bool is_union = false;  // Thrift union: at most one field set
};

struct EnumValue {
  std::string name;
  std::int64_t value = 0;
};
struct Enum {
  std::string name;
  std::string ns;
  std::string file;
  std::string schema_name;
  Annotations annotations;  // on the enum and its values ("VALUE: name"); each is warned about
  std::vector<EnumValue> values;
};

struct Typedef {
  std::string name;
  std::string ns;
  std::string file;
  Type type;
};

struct Constant {
  std::string name;
  std::string ns;
  std::string file;
  Type type;
  std::string value;  // C++ literal text
};

enum class HttpMethod { get, post, put, del, patch, options, head, any };

struct Route {
  HttpMethod method = HttpMethod::get;
  std::string path;             // "/users/:id"
  std::string annotation;       // "api.get", for messages
};

struct Method {
  std::string name;
  std::string request;   // qualified C++ struct name, "" for none
  std::string response;  // qualified C++ struct name, "" for none
  std::string request_schema, response_schema;  // OpenAPI component names
  std::string comment;
  Annotations annotations;
  std::vector<Route> routes;  // filled by interpret()
  std::string handler_path;   // api.handler_path: the handler file (without extension), "" default
  std::string serializer = "json";
};

struct Service {
  std::string name;
  std::string ns;
  std::string file;
  std::string comment;
  Annotations annotations;
  std::vector<Method> methods;
  std::string base_domain;  // api.base_domain: the client's default base URL
};

struct File {
  std::string path;  // as given to the compiler (relative to an include path when included)
  std::string stem;  // "hello" for "idl/hello.thrift"
  std::string ns;    // C++ namespace ("" when the IDL declares none: then the stem)
  bool main = false;  // named on the command line (services are generated for these only)
  bool types = true;  // hz writes a model header for it (not for descriptor.proto, api.proto)
  std::vector<std::string> includes;  // paths of the files it includes
};

struct Program {
  Syntax syntax = Syntax::thrift;
  std::vector<File> files;  // dependencies first
  std::vector<Enum> enums;
  std::vector<Typedef> typedefs;
  std::vector<Struct> structs;  // in an order where a struct follows the structs it holds
  std::vector<Constant> constants;
  std::vector<Service> services;
};

const char* method_name(HttpMethod m);  // "GET", ..., "ANY"

}  // namespace hz::idl
