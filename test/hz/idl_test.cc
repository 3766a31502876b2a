// SPDX-License-Identifier: Apache-2.0
// hz's IDL layer without the compilers: api.vd translated into khz's rules, route conflicts,
// Thrift JSON and descriptor sets read (and refused when malformed).
#include "idl/annotations.h"
#include "idl/protobuf_reader.h"
#include "idl/thrift_reader.h"

#include <catch2/catch.hpp>

#include <google/protobuf/descriptor.pb.h>

#include <stdexcept>
#include <string>

namespace {

using hz::idl::Binding;

struct VdCase {
  const char* expression;
  bool integer;
  const char* want;  // the rules, as described below
};

std::string describe(const Binding& b) {
  std::string s;
  if (b.required) s += "required ";
  if (b.min) s += "min=" + std::to_string(static_cast<long long>(*b.min)) + " ";
  if (b.max) s += "max=" + std::to_string(static_cast<long long>(*b.max)) + " ";
  if (b.min_length) s += "min_length=" + std::to_string(*b.min_length) + " ";
  if (b.max_length) s += "max_length=" + std::to_string(*b.max_length) + " ";
  if (!b.one_of.empty()) s += "one_of=" + b.one_of + " ";
  if (!b.pattern.empty()) s += "pattern=" + b.pattern + " ";
  if (!b.format.empty()) s += "format=" + b.format + " ";
  if (!b.message.empty()) s += "message=" + b.message + " ";
  if (!s.empty()) s.pop_back();
  return s;
}

constexpr VdCase vd_cases[] = {
    {"$ > 0", true, "min=1"},
    {"$>=1 && $<=100", true, "min=1 max=100"},
    {"$ < 10", true, "max=9"},
    {"$ >= 0.5", false, "min=0"},  // describe() prints whole numbers; the bound is 0.5
    {"$ == 3", true, "min=3 max=3"},
    {"len($) > 0", false, "required min_length=1"},
    {"len($) >= 2 && len($) < 10", false, "min_length=2 max_length=9"},
    {"mblen($) <= 5", false, "max_length=5"},
    {"len($) == 3", false, "min_length=3 max_length=3"},
    {"regexp('^[a-z]+$')", false, "pattern=^[a-z]+$"},
    {"regexp('\\d+', $)", false, "pattern=\\d+"},
    {"email($)", false, "format=email"},
    {"in($, 'a', 'b')", false, "one_of=a|b"},
    {"in($, 1, 2, 3)", true, "one_of=1|2|3"},
    {"$ != nil", false, "required"},
    {"required", false, "required"},
    {"$ >= 1; msg:'at least one'", true, "min=1 message=at least one"},
};

TEST_CASE("api.vd becomes khz's rules") {
  for (const VdCase& c : vd_cases) {
    INFO(c.expression);
    Binding b;
    hz::idl::apply_vd(c.expression, c.integer, b);
    CHECK(describe(b) == c.want);
  }
}

TEST_CASE("api.vd refuses what it cannot translate") {
  for (const char* bad : {"", "$ > 0 || $ < -5", "len($) != 3", "$ > 0.5", "foo($)", "regexp('x'", "in($)",
                          "$ > 1e99999", "len($) < 0", "$ >"}) {
    INFO(bad);
    Binding b;
    bool integer = std::string(bad) != "$ > 0.5";  // > on a floating-point field
    CHECK_THROWS_AS(hz::idl::apply_vd(bad, integer, b), std::runtime_error);
  }
}

hz::idl::Program routes(std::initializer_list<std::pair<hz::idl::HttpMethod, const char*>> list) {
  hz::idl::Program p;
  p.files.push_back({"api.thrift", "api", "api", true, true, {}});
  hz::idl::Service s;
  s.name = "Api";
  s.file = "api.thrift";
  int n = 0;
  for (const auto& [method, path] : list) {
    hz::idl::Method m;
    m.name = "m";
    m.name += std::to_string(n++);  // not "m" + ...: GCC 12 warns falsely (-Wrestrict, PR 105329)
    m.routes.push_back({method, path, "api.x"});
    s.methods.push_back(m);
  }
  p.services.push_back(s);
  return p;
}

TEST_CASE("route conflicts are found the way khz's router would") {
  using M = hz::idl::HttpMethod;
  CHECK_NOTHROW(hz::idl::check_routes(routes({{M::get, "/a"}, {M::post, "/a"}, {M::get, "/a/:id"}, {M::get, "/a/new"}})));
  CHECK_THROWS_WITH(hz::idl::check_routes(routes({{M::get, "/a/:id"}, {M::get, "/a/:name"}})),
                    Catch::Contains("Api.m1") && Catch::Contains("Api.m0"));
  CHECK_THROWS_AS(hz::idl::check_routes(routes({{M::put, "/x"}, {M::any, "/x"}})), std::runtime_error);
  CHECK_THROWS_AS(hz::idl::check_routes(routes({{M::get, "/x"}, {M::get, "/x"}})), std::runtime_error);
  CHECK_THROWS_WITH(hz::idl::check_routes(routes({{M::get, "/x/*a/b"}})), Catch::Contains("bad route path"));
}

TEST_CASE("thrift JSON: read, and refused when malformed") {
  std::string doc = R"({"name":"a","namespaces":{"cpp":"x.y"},"includes":[],"enums":[],"typedefs":[],
    "structs":[{"name":"R","isException":false,"isUnion":false,"fields":[
      {"key":1,"name":"id","typeId":"i64","required":"required","annotations":{"api.path":"id"}},
      {"key":2,"name":"m","typeId":"map","type":{"typeId":"map","keyTypeId":"string","valueTypeId":"list",
        "valueType":{"typeId":"list","elemTypeId":"double"}},"required":"optional"}]}],
    "constants":[],"services":[{"name":"S","functions":[{"name":"f","returnTypeId":"struct",
      "returnType":{"typeId":"struct","class":"R"},"arguments":[{"key":1,"name":"r","typeId":"struct",
      "type":{"typeId":"struct","class":"R"}}],"annotations":{"api.get":"/r/:id"}}]}]})";
  hz::idl::Program p = hz::idl::read_thrift_json({{doc, true}});
  REQUIRE(p.structs.size() == 1);
  CHECK(p.structs[0].ns == "x::y");
  CHECK(p.structs[0].fields[1].type.element->element->kind == hz::idl::Kind::f64);
  CHECK(p.services[0].methods[0].request == "x::y::R");
  std::vector<std::string> warnings;
  hz::idl::interpret(p, warnings);
  CHECK(p.structs[0].fields[0].binding.from_path);
  CHECK(p.services[0].methods[0].routes.at(0).path == "/r/:id");
  for (const char* bad : {"", "{", "[]", R"({"name":"a"})", R"({"name":1,"includes":[]})",
                          R"({"name":"a","includes":["b"],"enums":[],"typedefs":[],"structs":[],"constants":[],"services":[]})"}) {
    INFO(bad);
    CHECK_THROWS_AS(hz::idl::read_thrift_json({{bad, true}}), std::runtime_error);
  }
}

TEST_CASE("thrift JSON: a service that extends another serves its methods") {
  std::string doc = R"({"name":"e","includes":[],"enums":[],"typedefs":[],"constants":[],
    "structs":[{"name":"R","fields":[]}],
    "services":[{"name":"Base","functions":[{"name":"health","returnTypeId":"void","arguments":[],
                 "annotations":{"api.get":"/health"}}]},
                {"name":"Api","extends":"Base","functions":[{"name":"echo","returnTypeId":"void","arguments":[],
                 "annotations":{"api.post":"/echo"}}]}]})";
  hz::idl::Program p = hz::idl::read_thrift_json({{doc, true}});
  REQUIRE(p.services.size() == 2);
  CHECK(p.services[0].methods.empty());  // served through Api
  REQUIRE(p.services[1].methods.size() == 2);
  CHECK(p.services[1].methods[0].name == "health");
  CHECK(p.services[1].methods[1].name == "echo");
  std::vector<std::string> warnings;
  hz::idl::interpret(p, warnings);
  CHECK_NOTHROW(hz::idl::check_routes(p));
  std::string cycle = R"({"name":"e","includes":[],"enums":[],"typedefs":[],"constants":[],"structs":[],
    "services":[{"name":"A","extends":"B","functions":[]},{"name":"B","extends":"A","functions":[]}]})";
  CHECK_THROWS_WITH(hz::idl::read_thrift_json({{cycle, true}}), Catch::Contains("extends itself"));
}

TEST_CASE("descriptor sets: read, and refused when malformed") {
  google::protobuf::FileDescriptorSet set;
  auto* file = set.add_file();
  file->set_name("a.proto");
  file->set_package("p.q");
  file->set_syntax("proto3");
  auto* msg = file->add_message_type();
  msg->set_name("M");
  auto* field = msg->add_field();
  field->set_name("tags");
  field->set_number(1);
  field->set_label(google::protobuf::FieldDescriptorProto::LABEL_REPEATED);
  field->set_type(google::protobuf::FieldDescriptorProto::TYPE_STRING);
  hz::idl::Program p = hz::idl::read_descriptor_set(set.SerializeAsString(), {"a.proto"});
  REQUIRE(p.structs.size() == 1);
  CHECK(p.structs[0].ns == "p::q");
  CHECK(p.structs[0].fields[0].type.kind == hz::idl::Kind::list);
  CHECK(p.files.at(0).main);
  CHECK_THROWS_AS(hz::idl::read_descriptor_set("\xff\xff\xff", {}), std::runtime_error);
  field->set_type_name("Missing");
  field->set_type(google::protobuf::FieldDescriptorProto::TYPE_MESSAGE);
  CHECK_THROWS_AS(hz::idl::read_descriptor_set(set.SerializeAsString(), {}), std::runtime_error);
  CHECK(hz::idl::api_proto().find("optional string get = 50201;") != std::string_view::npos);
}

}  // namespace
