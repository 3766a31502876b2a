// SPDX-License-Identifier: Apache-2.0
// An OpenAPI 3.1 document of the main IDLs' routes: operations with their parameters (path,
// query, header, cookie), request bodies (JSON or form), responses (the response struct; 400
// problem+json for binding and validation errors), and every struct and enum as a component
// schema whose constraints are the fields' rules (JSON Schema 2020-12, as OpenAPI 3.1 uses).
#include "generator/generate.h"
#include "generator/names.h"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <cmath>
#include <map>
#include <set>

namespace hz::gen {
namespace {

using JsonWriter = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void key(JsonWriter& w, const std::string& k) { w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size())); }
void str(JsonWriter& w, const std::string& v) { w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size())); }
void kv(JsonWriter& w, const std::string& k, const std::string& v) {
  key(w, k);
  str(w, v);
}
void number(JsonWriter& w, long double v) {
  if (v == std::floor(v) && std::fabs(v) < 9e15L) w.Int64(static_cast<std::int64_t>(v));
  else w.Double(static_cast<double>(v));
}

// "#/components/schemas/" names cannot hold '/'; ours are "file.Name" / "pkg.Name".
std::string schema_ref(const std::string& schema) { return std::string("#/components/schemas/").append(schema); }

// What a field's rules apply to: the field itself, or each element of the field's container (as
// in khz: numbers' bounds, patterns and formats check each element; lengths count the elements).
enum class RuleScope { none, field, element };

void type_schema(JsonWriter& w, const idl::Type& t, const idl::Binding* rules, RuleScope scope);

void rules_of(JsonWriter& w, const idl::Type& t, const idl::Binding& b) {
  bool text = t.kind == idl::Kind::string || t.kind == idl::Kind::binary;
  bool container = t.kind == idl::Kind::list || t.kind == idl::Kind::set || t.kind == idl::Kind::map;
  if (is_number(t.kind)) {
    if (b.min) key(w, "minimum"), number(w, *b.min);
    if (b.max) key(w, "maximum"), number(w, *b.max);
  }
  if (text || container) {
    const char* lo = text ? "minLength" : t.kind == idl::Kind::map ? "minProperties" : "minItems";
    const char* hi = text ? "maxLength" : t.kind == idl::Kind::map ? "maxProperties" : "maxItems";
    std::size_t min_length = b.min_length.value_or(0);
    if (b.required && min_length == 0) min_length = 1;  // required(): not empty
    if (min_length > 0) key(w, lo), w.Uint64(min_length);
    if (b.max_length) key(w, hi), w.Uint64(*b.max_length);
  }
  if (text) {
    if (!b.pattern.empty()) kv(w, "pattern", std::string("^(?:").append(b.pattern).append(")$"));
    static const std::map<std::string, std::string> formats = {
        {"email", "email"}, {"url", "uri"}, {"uuid", "uuid"}, {"ipv4", "ipv4"}, {"ipv6", "ipv6"}};
    if (auto it = formats.find(b.format); it != formats.end()) kv(w, "format", it->second);
  }
  if (!b.one_of.empty() && (text || is_number(t.kind))) {
    key(w, "enum");
    w.StartArray();
    std::size_t start = 0;
    for (;;) {
      std::size_t bar = b.one_of.find('|', start);
      std::string v = b.one_of.substr(start, bar == std::string::npos ? std::string::npos : bar - start);
      if (text) {
        str(w, v);
      } else {
        number(w, std::strtold(v.c_str(), nullptr));
      }
      if (bar == std::string::npos) break;
      start = bar + 1;
    }
    w.EndArray();
  }
}

void type_schema(JsonWriter& w, const idl::Type& t, const idl::Binding* rules, RuleScope scope) {
  using idl::Kind;
  RuleScope inner = scope == RuleScope::field ? RuleScope::element : RuleScope::none;
  w.StartObject();
  switch (t.kind) {
    case Kind::boolean: kv(w, "type", "boolean"); break;
    case Kind::i8: case Kind::i16: case Kind::i32: case Kind::u32:
      kv(w, "type", "integer");
      kv(w, "format", t.kind == Kind::u32 ? "int64" : "int32");
      if (t.kind == Kind::u32) key(w, "minimum"), w.Int(0);
      break;
    case Kind::i64: kv(w, "type", "integer"), kv(w, "format", "int64"); break;
    case Kind::u64: kv(w, "type", "integer"), key(w, "minimum"), w.Int(0); break;
    case Kind::f32: kv(w, "type", "number"), kv(w, "format", "float"); break;
    case Kind::f64: kv(w, "type", "number"), kv(w, "format", "double"); break;
    case Kind::string: kv(w, "type", "string"); break;
    case Kind::binary: kv(w, "type", "string"), kv(w, "contentMediaType", "application/octet-stream"); break;
    case Kind::timestamp: kv(w, "type", "string"), kv(w, "format", "date-time"); break;
    case Kind::enumeration: case Kind::structure: kv(w, "$ref", schema_ref(t.schema_name)); break;
    case Kind::list: case Kind::set:
      kv(w, "type", "array");
      if (t.kind == Kind::set) key(w, "uniqueItems"), w.Bool(true);
      key(w, "items");
      type_schema(w, *t.element, rules, inner);
      break;
    case Kind::map:
      kv(w, "type", "object");
      key(w, "additionalProperties");
      type_schema(w, *t.element, rules, inner);
      break;
  }
  bool container = t.kind == Kind::list || t.kind == Kind::set || t.kind == Kind::map;
  bool referenced = t.kind == Kind::structure || t.kind == Kind::enumeration;
  if (rules != nullptr && scope != RuleScope::none && !referenced && !(container && scope == RuleScope::element)) {
    idl::Binding b = *rules;
    if (container) {  // the field's container: its size and presence
      b.pattern.clear(), b.format.clear(), b.one_of.clear(), b.min.reset(), b.max.reset();
    } else if (scope == RuleScope::element) {  // an element: its value
      b.min_length.reset(), b.max_length.reset(), b.required = false;
    }
    rules_of(w, t, b);
  }
  w.EndObject();
}

void field_schema(JsonWriter& w, const idl::Field& f) { type_schema(w, f.type, &f.binding, RuleScope::field); }

const idl::Struct* find_struct(const idl::Program& p, const std::string& qualified) {
  for (const idl::Struct& s : p.structs) {
    if (s.ns + "::" + s.name == qualified) return &s;
  }
  return nullptr;
}

// "/users/:id/*rest" → "/users/{id}/{rest}"
std::string openapi_path(const std::string& p) {
  std::string out;
  for (std::size_t i = 0; i < p.size();) {
    if ((p[i] == ':' || p[i] == '*') && (i == 0 || p[i - 1] == '/')) {
      std::size_t end = p.find('/', i);
      if (end == std::string::npos) end = p.size();
      out.append("{").append(p, i + 1, end - i - 1).append("}");
      i = end;
    } else {
      out += p[i++];
    }
  }
  return out;
}

struct Operation {
  const idl::Service* service;
  const idl::Method* method;
  std::string verb;  // lower case
};

}  // namespace

void generate_openapi(const idl::Program& program, const Layout& layout, Writer& out) {
  std::map<std::string, const idl::File*> files;
  for (const idl::File& f : program.files) files[f.path] = &f;
  // path → verb → operation (sorted: a deterministic document).
  std::map<std::string, std::map<std::string, Operation>> paths;
  static const std::vector<std::string> any_verbs = {"get", "post", "put", "patch", "delete", "head", "options", "trace"};
  for (const idl::Service& s : program.services) {
    auto f = files.find(s.file);
    if (f == files.end() || !f->second->main) continue;
    for (const idl::Method& m : s.methods) {
      for (const idl::Route& r : m.routes) {
        std::vector<std::string> verbs;
        if (r.method == idl::HttpMethod::any) verbs = any_verbs;
        else {
          std::string v = idl::method_name(r.method);
          for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          verbs.push_back(v);
        }
        for (const std::string& v : verbs) paths[openapi_path(r.path)][v] = {&s, &m, v};
      }
    }
  }

  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.SetIndent(' ', 2);
  w.StartObject();
  kv(w, "openapi", "3.1.0");
  key(w, "info");
  w.StartObject();
  kv(w, "title", layout.project);
  kv(w, "version", "1.0.0");
  std::string idls;
  for (const std::string& i : layout.idls) idls += (idls.empty() ? "" : ", ") + i.substr(i.rfind('/') + 1);
  kv(w, "description", std::string("Generated by hz from ").append(idls).append("."));
  w.EndObject();
  key(w, "paths");
  w.StartObject();
  for (const auto& [path, ops] : paths) {
    key(w, path);
    w.StartObject();
    for (const auto& [verb, op] : ops) {
      key(w, verb);
      w.StartObject();
      kv(w, "operationId", op.service->name + "." + op.method->name + (op.method->routes.size() > 1 || ops.size() > 1 ? std::string(".").append(verb) : std::string()));
      key(w, "tags");
      w.StartArray();
      str(w, op.service->name);
      w.EndArray();
      if (!op.method->comment.empty()) kv(w, "description", op.method->comment);
      const idl::Struct* req = find_struct(program, op.method->request);
      bool has_body_verb = verb == "post" || verb == "put" || verb == "patch" || verb == "delete";
      std::vector<const idl::Field*> body_fields, form_fields;
      key(w, "parameters");
      w.StartArray();
      if (req != nullptr) {
        for (const idl::Field& f : req->fields) {
          const idl::Binding& b = f.binding;
          struct P {
            bool on;
            const char* in;
            const std::string& name;
          };
          bool default_sources = !b.any_source() && !b.raw_body;
          std::vector<P> ps = {{b.from_path, "path", b.path}, {b.from_query || (default_sources && !has_body_verb), "query", b.query},
                               {b.from_header, "header", b.header}, {b.from_cookie, "cookie", b.cookie}};
          for (const P& p : ps) {
            if (!p.on) continue;
            std::string name = p.name.empty() ? f.name : p.name;
            if (std::string(p.in) == "path" && path.find(std::string("{").append(name).append("}")) == std::string::npos) continue;
            w.StartObject();
            kv(w, "name", name);
            kv(w, "in", p.in);
            key(w, "required");
            w.Bool(std::string(p.in) == "path" || b.required);
            if (!f.comment.empty()) kv(w, "description", f.comment);
            key(w, "schema");
            field_schema(w, f);
            w.EndObject();
          }
          if (b.from_json || (default_sources && has_body_verb)) body_fields.push_back(&f);
          if (b.from_form) form_fields.push_back(&f);
        }
      }
      w.EndArray();
      bool raw = false;
      if (req != nullptr) {
        for (const idl::Field& f : req->fields) raw = raw || f.binding.raw_body;
      }
      if (!body_fields.empty() || !form_fields.empty() || raw) {
        key(w, "requestBody");
        w.StartObject();
        key(w, "content");
        w.StartObject();
        auto body_schema = [&](const std::vector<const idl::Field*>& fields) {
          w.StartObject();
          kv(w, "type", "object");
          key(w, "properties");
          w.StartObject();
          for (const idl::Field* f : fields) {
            key(w, f->binding.json.empty() || !f->binding.from_json ? f->name : f->binding.json);
            field_schema(w, *f);
          }
          w.EndObject();
          std::vector<std::string> required;
          for (const idl::Field* f : fields) {
            if (f->binding.required) required.push_back(f->binding.json.empty() || !f->binding.from_json ? f->name : f->binding.json);
          }
          if (!required.empty()) {
            key(w, "required");
            w.StartArray();
            for (const std::string& r : required) str(w, r);
            w.EndArray();
          }
          w.EndObject();
        };
        if (raw) {
          key(w, "*/*");
          w.StartObject();
          key(w, "schema");
          w.StartObject();
          kv(w, "type", "string");
          w.EndObject();
          w.EndObject();
        } else {
          if (!body_fields.empty()) {
            key(w, "application/json");
            w.StartObject();
            key(w, "schema");
            body_schema(body_fields);
            w.EndObject();
          }
          if (!form_fields.empty()) {
            key(w, "application/x-www-form-urlencoded");
            w.StartObject();
            key(w, "schema");
            body_schema(form_fields);
            w.EndObject();
          }
        }
        w.EndObject();
        w.EndObject();
      }
      key(w, "responses");
      w.StartObject();
      key(w, "200");
      w.StartObject();
      kv(w, "description", "OK");
      key(w, "content");
      w.StartObject();
      key(w, "application/json");
      w.StartObject();
      key(w, "schema");
      w.StartObject();
      if (find_struct(program, op.method->response) != nullptr) {
        kv(w, "$ref", schema_ref(op.method->response_schema));
      } else {
        kv(w, "type", "object");
      }
      w.EndObject();
      w.EndObject();
      w.EndObject();
      w.EndObject();
      if (req != nullptr) {
        key(w, "400");
        w.StartObject();
        kv(w, "description", "A field failed binding or validation (RFC 9457 problem details naming the fields)");
        key(w, "content");
        w.StartObject();
        key(w, "application/problem+json");
        w.StartObject();
        key(w, "schema");
        w.StartObject();
        kv(w, "$ref", schema_ref("khz.Problem"));
        w.EndObject();
        w.EndObject();
        w.EndObject();
        w.EndObject();
      }
      w.EndObject();
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndObject();

  // Components: every struct and enum the program has (sorted by schema name).
  std::map<std::string, const idl::Struct*> structs;
  std::map<std::string, const idl::Enum*> enums;
  for (const idl::Struct& s : program.structs) structs[s.schema_name] = &s;
  for (const idl::Enum& e : program.enums) enums[e.schema_name] = &e;
  key(w, "components");
  w.StartObject();
  key(w, "schemas");
  w.StartObject();
  key(w, "khz.Problem");
  w.StartObject();
  kv(w, "type", "object");
  kv(w, "description", "RFC 9457 problem details: the failing fields and why");
  w.EndObject();
  for (const auto& [name, s] : structs) {
    key(w, name);
    w.StartObject();
    kv(w, "type", "object");
    if (!s->comment.empty()) kv(w, "description", s->comment);
    key(w, "properties");
    w.StartObject();
    for (const idl::Field& f : s->fields) {
      key(w, f.binding.from_json && !f.binding.json.empty() ? f.binding.json : f.name);
      field_schema(w, f);
    }
    w.EndObject();
    std::vector<std::string> required;
    for (const idl::Field& f : s->fields) {
      if (f.binding.required) required.push_back(f.binding.from_json && !f.binding.json.empty() ? f.binding.json : f.name);
    }
    if (!required.empty()) {
      key(w, "required");
      w.StartArray();
      for (const std::string& r : required) str(w, r);
      w.EndArray();
    }
    w.EndObject();
  }
  for (const auto& [name, e] : enums) {
    key(w, name);
    w.StartObject();
    if (program.syntax == idl::Syntax::protobuf) {
      kv(w, "type", "string");
      key(w, "enum");
      w.StartArray();
      for (const idl::EnumValue& v : e->values) str(w, v.name);
      w.EndArray();
    } else {
      kv(w, "type", "integer");
      key(w, "enum");
      w.StartArray();
      for (const idl::EnumValue& v : e->values) w.Int64(v.value);
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  w.EndObject();
  out.regenerate("openapi.json", std::string(buffer.GetString(), buffer.GetSize()) + "\n");
}

}  // namespace hz::gen
