// SPDX-License-Identifier: Apache-2.0
// The thrift compiler's JSON (t_json_generator) to the model. Its shape, per file:
//   {"name": stem, "namespaces": {"cpp": "a.b"}, "includes": [stem...], "enums": [...],
//    "typedefs": [...], "structs": [{"name", "fields": [{"key", "name", "typeId", "type"?,
//    "required", "default"?, "annotations"?, "doc"?}]}], "constants": [...],
//    "services": [{"name", "functions": [{"name", "returnTypeId", "returnType"?,
//    "arguments": [...], "annotations"?}]}]}
// A type is a typeId ("i32", "string", "list", "struct", ...) and, for the composite ones, a
// "type" object: {"elemTypeId", "elemType"?}, {"keyTypeId", "keyType"?, "valueTypeId",
// "valueType"?} or {"class": "stem.Name"}. Typedefs are already resolved; enum fields arrive
// as i32 (the compiler's JSON does not name their enum), which is also how they travel.
#include "idl/thrift_reader.h"

#include "idl/compiler.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <stdexcept>

namespace hz::idl {
namespace {

namespace fs = std::filesystem;
using Value = rapidjson::Value;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("thrift JSON: " + what); }

const Value& member(const Value& v, const char* name) {
  if (!v.IsObject()) fail(std::string("expected an object holding \"") + name + "\"");
  auto it = v.FindMember(name);
  if (it == v.MemberEnd()) fail(std::string("missing \"") + name + "\"");
  return it->value;
}
const Value* optional_member(const Value& v, const char* name) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(name);
  return it == v.MemberEnd() ? nullptr : &it->value;
}
std::string text(const Value& v, const char* name) {
  const Value& m = member(v, name);
  if (!m.IsString()) fail(std::string("\"") + name + "\" is not a string");
  return std::string(m.GetString(), m.GetStringLength());
}
std::string optional_text(const Value& v, const char* name) {
  const Value* m = optional_member(v, name);
  return m != nullptr && m->IsString() ? std::string(m->GetString(), m->GetStringLength()) : std::string();
}
const Value& array(const Value& v, const char* name) {
  const Value& m = member(v, name);
  if (!m.IsArray()) fail(std::string("\"") + name + "\" is not an array");
  return m;
}

// "a.b" → "a::b"
std::string cpp_namespace(std::string dotted) {
  std::string out;
  for (char c : dotted) {
    if (c == '.') out += "::";
    else out += c;
  }
  return out;
}

class Reader {
 public:
  explicit Reader(Program& program) : program_(program) {}

  // First pass: every file's stem and namespace, so types can be qualified across files.
  void declare(const Value& doc, bool main) {
    File f;
    f.stem = text(doc, "name");
    f.path = f.stem + ".thrift";
    f.main = main;
    if (const Value* ns = optional_member(doc, "namespaces"); ns != nullptr && ns->IsObject()) {
      for (const char* lang : {"cpp", "*", "go", "py"}) {
        std::string n = optional_text(*ns, lang);
        if (!n.empty()) {
          f.ns = cpp_namespace(n);
          break;
        }
      }
    }
    if (f.ns.empty()) f.ns = f.stem;
    for (const Value& inc : array(doc, "includes").GetArray()) {
      if (!inc.IsString()) fail("an include is not a string");
      f.includes.push_back(std::string(inc.GetString(), inc.GetStringLength()) + ".thrift");
    }
    namespaces_[f.stem] = f.ns;
    program_.files.push_back(std::move(f));
  }

  void read(const Value& doc) {
    std::string stem = text(doc, "name");
    const std::string& ns = namespaces_.at(stem);
    std::string file = stem + ".thrift";
    for (const Value& e : array(doc, "enums").GetArray()) {
      Enum out{text(e, "name"), ns, file, stem + "." + text(e, "name"), annotations_of(e), {}};
      for (const Value& m : array(e, "members").GetArray()) {
        const Value& v = member(m, "value");
        if (!v.IsInt64()) fail("enum value is not an integer");
        out.values.push_back({text(m, "name"), v.GetInt64()});
      }
      program_.enums.push_back(std::move(out));
    }
    for (const Value& t : array(doc, "typedefs").GetArray()) {
      program_.typedefs.push_back({text(t, "name"), ns, file, type_of(t, stem)});
    }
    for (const Value& s : array(doc, "structs").GetArray()) {
      Struct out;
      out.name = text(s, "name");
      out.ns = ns;
      out.file = file;
      out.schema_name = stem + "." + out.name;
      out.comment = optional_text(s, "doc");
      const Value* exc = optional_member(s, "isException");
      const Value* uni = optional_member(s, "isUnion");
      out.is_exception = exc != nullptr && exc->IsBool() && exc->GetBool();
      out.is_union = uni != nullptr && uni->IsBool() && uni->GetBool();
      out.annotations = annotations_of(s);
      for (const Value& f : array(s, "fields").GetArray()) out.fields.push_back(field_of(f, stem, out.is_union));
      program_.structs.push_back(std::move(out));
    }
    for (const Value& c : array(doc, "constants").GetArray()) {
      Constant out{text(c, "name"), ns, file, type_of(c, stem), {}};
      out.value = literal(member(c, "value"), out.type);
      program_.constants.push_back(std::move(out));
    }
    for (const Value& s : array(doc, "services").GetArray()) {
      Service out;
      out.name = text(s, "name");
      out.ns = ns;
      out.file = file;
      out.comment = optional_text(s, "doc");
      out.annotations = annotations_of(s);
      for (const Value& fn : array(s, "functions").GetArray()) out.methods.push_back(method_of(fn, stem));
      std::string base = optional_text(s, "extends");
      if (!base.empty()) {
        if (base.find('.') == std::string::npos) base = stem + "." + base;
        extends_.emplace_back(program_.services.size(), base);
      }
      service_ids_[stem + "." + out.name] = program_.services.size();
      program_.services.push_back(std::move(out));
    }
  }

 private:
  Annotations annotations_of(const Value& v) {
    Annotations out;
    const Value* a = optional_member(v, "annotations");
    if (a == nullptr || !a->IsObject()) return out;
    for (auto it = a->MemberBegin(); it != a->MemberEnd(); ++it) {
      std::string name(it->name.GetString(), it->name.GetStringLength());
      if (it->value.IsString()) {
        out.emplace_back(name, std::string(it->value.GetString(), it->value.GetStringLength()));
      } else if (it->value.IsArray()) {  // a repeated annotation
        for (const Value& x : it->value.GetArray()) {
          if (x.IsString()) out.emplace_back(name, std::string(x.GetString(), x.GetStringLength()));
        }
      }
    }
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
  }

  // "stem.Name" (or "Name" in its own file) → the C++ name and the schema name.
  void qualify(std::string cls, const std::string& stem, Type& t) {
    std::string file_stem = stem;
    std::string name = cls;
    if (auto dot = cls.rfind('.'); dot != std::string::npos) {
      file_stem = cls.substr(0, dot);
      name = cls.substr(dot + 1);
    }
    auto ns = namespaces_.find(file_stem);
    if (ns == namespaces_.end()) fail("type " + cls + " names a file that was not read");
    t.name = ns->second + "::" + name;
    t.schema_name = file_stem + "." + name;
  }

  Type type_from(const std::string& id, const Value* spec, const std::string& stem, int depth) {
    if (depth > 32) fail("types nest too deep");
    static const std::map<std::string, Kind> scalars = {
        {"bool", Kind::boolean}, {"i8", Kind::i8},     {"byte", Kind::i8},       {"i16", Kind::i16},
        {"i32", Kind::i32},      {"i64", Kind::i64},   {"double", Kind::f64},    {"string", Kind::string},
        {"binary", Kind::binary}, {"uuid", Kind::string}};
    Type t;
    if (auto s = scalars.find(id); s != scalars.end()) {
      t.kind = s->second;
      return t;
    }
    if (spec == nullptr || !spec->IsObject()) fail("type " + id + " without its \"type\"");
    if (id == "struct" || id == "union" || id == "exception") {
      t.kind = Kind::structure;
      qualify(text(*spec, "class"), stem, t);
    } else if (id == "list" || id == "set") {
      t.kind = id == "list" ? Kind::list : Kind::set;
      t.element = std::make_shared<Type>(type_from(text(*spec, "elemTypeId"), optional_member(*spec, "elemType"), stem, depth + 1));
    } else if (id == "map") {
      t.kind = Kind::map;
      t.key = std::make_shared<Type>(type_from(text(*spec, "keyTypeId"), optional_member(*spec, "keyType"), stem, depth + 1));
      t.element = std::make_shared<Type>(type_from(text(*spec, "valueTypeId"), optional_member(*spec, "valueType"), stem, depth + 1));
    } else {
      fail("unknown type \"" + id + "\"");
    }
    return t;
  }

  Type type_of(const Value& v, const std::string& stem) {
    return type_from(text(v, "typeId"), optional_member(v, "type"), stem, 0);
  }

  Field field_of(const Value& f, const std::string& stem, bool in_union) {
    Field out;
    const Value& key = member(f, "key");
    out.id = key.IsInt() ? key.GetInt() : 0;
    out.name = text(f, "name");
    out.type = type_of(f, stem);
    out.comment = optional_text(f, "doc");
    out.annotations = annotations_of(f);
    std::string req = optional_text(f, "required");
    out.optional = req == "optional" || in_union;
    out.binding.required = req == "required";
    if (const Value* d = optional_member(f, "default")) {
      if (d->IsNumber() || d->IsString()) out.default_value = literal(*d, out.type);
    }
    return out;
  }

  Method method_of(const Value& fn, const std::string& stem) {
    Method out;
    out.name = text(fn, "name");
    out.comment = optional_text(fn, "doc");
    out.annotations = annotations_of(fn);
    std::string ret = text(fn, "returnTypeId");
    if (ret != "void") {
      Type t = type_from(ret, optional_member(fn, "returnType"), stem, 0);
      if (t.kind != Kind::structure) fail("method " + out.name + ": hz needs a struct (or void) as the response");
      out.response = t.name;
      out.response_schema = t.schema_name;
    }
    const Value& args = array(fn, "arguments");
    if (args.Size() > 1) fail("method " + out.name + ": hz needs one struct argument (the request), as Hertz does");
    for (const Value& a : args.GetArray()) {
      Type t = type_of(a, stem);
      if (t.kind != Kind::structure) fail("method " + out.name + ": its argument must be a struct (the request)");
      out.request = t.name;
      out.request_schema = t.schema_name;
    }
    return out;
  }

  // A JSON value as a C++ literal of type t (scalars and strings; "" otherwise).
  static std::string literal(const Value& v, const Type& t) {
    switch (t.kind) {
      case Kind::boolean:
        if (v.IsBool()) return v.GetBool() ? "true" : "false";
        if (v.IsNumber()) return v.GetDouble() != 0 ? "true" : "false";
        return {};
      case Kind::f32: case Kind::f64:
        if (v.IsNumber()) {
          std::string s = std::to_string(v.GetDouble());
          if (v.IsInt64()) s = std::to_string(v.GetInt64()) + ".0";
          return s;
        }
        return {};
      case Kind::i8: case Kind::i16: case Kind::i32: case Kind::i64: case Kind::u32: case Kind::u64:
        if (v.IsInt64()) {
          std::int64_t n = v.GetInt64();
          if (n == INT64_MIN) return "INT64_MIN";
          return std::to_string(n);
        }
        return {};
      case Kind::string: case Kind::binary:
        if (v.IsString()) {
          std::string out = "\"";
          for (char c : std::string(v.GetString(), v.GetStringLength())) {
            if (c == '"' || c == '\\') out += '\\', out += c;
            else if (c == '\n') out += "\\n";
            else if (static_cast<unsigned char>(c) < 0x20) {
              char buf[8];
              std::snprintf(buf, sizeof buf, "\\x%02x\"\"", static_cast<unsigned char>(c));
              out += buf;
            } else out += c;
          }
          return out + "\"";
        }
        return {};
      default:
        return {};
    }
  }

  Program& program_;
  std::map<std::string, std::string> namespaces_;  // stem → C++ namespace
  std::map<std::string, std::size_t> service_ids_;  // "stem.Service" → index in services
  std::vector<std::pair<std::size_t, std::string>> extends_;  // service → "stem.Base"

 public:
  // `service T extends S`: T serves S's methods too (before its own), as Thrift has it; S's
  // methods are then served through T only (S keeps none: its routes would be registered twice).
  void resolve_extends() {
    std::vector<std::size_t> bases;
    for (std::size_t round = 0; round < extends_.size(); ++round) {  // a chain resolves base first
      bool changed = false;
      for (auto& [index, base] : extends_) {
        if (base.empty()) continue;
        auto it = service_ids_.find(base);
        if (it == service_ids_.end()) fail("service " + program_.services[index].name + " extends unknown " + base);
        bool base_pending = false;
        for (const auto& [other, other_base] : extends_) base_pending |= other == it->second && !other_base.empty();
        if (base_pending) continue;
        std::vector<Method> methods = program_.services[it->second].methods;
        std::vector<Method>& own = program_.services[index].methods;
        methods.insert(methods.end(), own.begin(), own.end());
        own = std::move(methods);
        bases.push_back(it->second);
        base.clear();
        changed = true;
      }
      if (!changed) break;
    }
    for (const auto& [index, base] : extends_) {
      if (!base.empty()) fail("service " + program_.services[index].name + " extends itself through " + base);
    }
    for (std::size_t b : bases) program_.services[b].methods.clear();
  }
};

}  // namespace

Program read_thrift_json(const std::vector<ThriftJson>& documents) {
  Program program;
  program.syntax = Syntax::thrift;
  std::vector<rapidjson::Document> docs(documents.size());
  Reader reader(program);
  for (std::size_t i = 0; i < documents.size(); ++i) {
    docs[i].Parse(documents[i].text.data(), documents[i].text.size());
    if (docs[i].HasParseError()) {
      fail(std::string(rapidjson::GetParseError_En(docs[i].GetParseError())) + " at offset " +
           std::to_string(docs[i].GetErrorOffset()));
    }
    reader.declare(docs[i], documents[i].main);
  }
  for (const rapidjson::Document& d : docs) reader.read(d);
  reader.resolve_extends();
  // Included files first (each after what it includes), so types come before their users.
  std::vector<File> ordered;
  std::map<std::string, int> state;  // 1 visiting, 2 done
  std::map<std::string, const File*> by_path;
  for (const File& f : program.files) by_path[f.path] = &f;
  auto visit = [&](auto& self, const File& f) -> void {
    int& s = state[f.stem];
    if (s == 2) return;
    if (s == 1) fail("include cycle through " + f.stem);
    s = 1;
    for (const std::string& inc : f.includes) {
      auto it = by_path.find(inc);
      if (it == by_path.end()) fail(f.stem + " includes " + inc + ", which was not read");
      self(self, *it->second);
    }
    state[f.stem] = 2;
    ordered.push_back(f);
  };
  std::vector<const File*> sorted;
  for (const File& f : program.files) sorted.push_back(&f);
  std::sort(sorted.begin(), sorted.end(), [](const File* a, const File* b) { return a->stem < b->stem; });
  for (const File* f : sorted) visit(visit, *f);
  program.files = std::move(ordered);
  return program;
}

Program read_thrift(const std::vector<std::string>& idls, const std::vector<std::string>& include_paths) {
  ScratchDir scratch;
  std::vector<std::string> main_stems;
  for (const std::string& idl : idls) {
    std::vector<std::string> argv = {"thrift", "-r", "--gen", "json"};
    for (const std::string& inc : include_paths) {
      argv.push_back("-I");
      argv.push_back(inc);
    }
    argv.push_back("-out");
    argv.push_back(scratch.path());
    argv.push_back(idl);
    run_compiler(argv);
    main_stems.push_back(fs::path(idl).stem().string());
  }
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(scratch.path())) {
    if (entry.path().extension() == ".json") names.push_back(entry.path().string());
  }
  std::sort(names.begin(), names.end());
  std::vector<ThriftJson> docs;
  for (const std::string& n : names) {
    std::string stem = fs::path(n).stem().string();
    bool main = std::find(main_stems.begin(), main_stems.end(), stem) != main_stems.end();
    docs.push_back({read_file(n), main});
  }
  return read_thrift_json(docs);
}

}  // namespace hz::idl
