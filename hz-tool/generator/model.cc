// SPDX-License-Identifier: Apache-2.0
// Model headers: per IDL file, its enums (with khz_enum_names), typedefs, constants and structs
// with their field lists, structs ordered so each follows the ones it holds.
#include "generator/generate.h"
#include "generator/names.h"

#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

namespace hz::gen {
namespace {

// The structs (qualified names) a type holds.
void held(const idl::Type& t, std::set<std::string>& out) {
  if (t.kind == idl::Kind::structure) out.insert(t.name);
  if (t.element) held(*t.element, out);
  if (t.key) held(*t.key, out);
}

std::string number_text(long double v) {
  std::ostringstream s;
  s.precision(21);
  s << v;
  std::string out = s.str();
  return out;
}

// ".path("id").query().required().range(1, 9)"
std::string binding_text(const idl::Field& f) {
  const idl::Binding& b = f.binding;
  std::string s;
  auto source = [&](bool on, const char* fn, const std::string& name) {
    if (!on) return;
    s += std::string(".") + fn + "(" + (name.empty() ? "" : quote(name)) + ")";
  };
  source(b.from_path, "path", b.path);
  source(b.from_form, "form", b.form);
  source(b.from_query, "query", b.query);
  source(b.from_cookie, "cookie", b.cookie);
  source(b.from_header, "header", b.header);
  source(b.from_json, "json", b.json);
  if (b.raw_body && !b.any_source()) s += ".query()";  // the handler sets it from the body
  if (b.required) s += ".required()";
  if (b.min && b.max) s += ".range(" + number_text(*b.min) + ", " + number_text(*b.max) + ")";
  else if (b.min) s += ".min(" + number_text(*b.min) + ")";
  else if (b.max) s += ".max(" + number_text(*b.max) + ")";
  if (b.min_length && b.max_length) s += ".length(" + std::to_string(*b.min_length) + ", " + std::to_string(*b.max_length) + ")";
  else if (b.min_length) s += ".min_length(" + std::to_string(*b.min_length) + ")";
  else if (b.max_length) s += ".max_length(" + std::to_string(*b.max_length) + ")";
  if (!b.one_of.empty()) s += ".one_of(" + quote(b.one_of) + ")";
  if (!b.pattern.empty()) s += ".pattern(" + quote(b.pattern) + ")";
  if (!b.format.empty()) s += "." + b.format + "()";
  if (!b.message.empty()) s += ".message(" + quote(b.message) + ")";
  return s;
}

// The struct's C++ name relative to namespace `ns`.
std::string local(const std::string& qualified, const std::string& ns) {
  if (qualified.rfind(ns + "::", 0) == 0) return qualified.substr(ns.size() + 2);
  return qualified;
}

std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

}  // namespace

void generate_models(const idl::Program& program, const Layout& layout, Writer& out, std::vector<std::string>& warnings) {
  std::map<std::string, const idl::File*> files;
  for (const idl::File& f : program.files) files[f.path] = &f;
  for (const idl::File& f : program.files) {
    if (!f.types) continue;
    mu::data d;
    d.set("idl", f.path);
    d.set("ns", f.ns);
    mu::data includes{mu::data::type::list};
    for (const std::string& inc : f.includes) {
      auto it = files.find(inc);
      if (it == files.end() || !it->second->types) continue;
      mu::data x;
      x.set("header", model_header(layout, *it->second));
      includes << x;
    }
    d.set("includes", includes);

    mu::data enums{mu::data::type::list};
    for (const idl::Enum& e : program.enums) {
      if (e.file != f.path) continue;
      mu::data ed;
      ed.set("name", identifier(e.name));
      mu::data values{mu::data::type::list};
      for (std::size_t i = 0; i < e.values.size(); ++i) {
        mu::data v;
        v.set("name", identifier(e.values[i].name));
        v.set("value", std::to_string(e.values[i].value));
        v.set("enum", identifier(e.name));
        v.set("last", i + 1 == e.values.size());
        values << v;
      }
      ed.set("values", values);
      enums << ed;
    }
    d.set("enums", enums);

    mu::data typedefs{mu::data::type::list};
    for (const idl::Typedef& t : program.typedefs) {
      if (t.file != f.path) continue;
      mu::data x;
      x.set("name", identifier(t.name));
      x.set("type", cpp_type(t.type, false));
      typedefs << x;
    }
    d.set("typedefs", typedefs);

    mu::data constants{mu::data::type::list};
    for (const idl::Constant& c : program.constants) {
      if (c.file != f.path) continue;
      if (c.value.empty()) {
        warnings.push_back(f.path + ": constant " + c.name + ": only scalar and string constants are generated");
        continue;
      }
      mu::data x;
      x.set("name", identifier(c.name));
      bool text = c.type.kind == idl::Kind::string || c.type.kind == idl::Kind::binary;
      x.set("type", text ? std::string("std::string_view") : cpp_type(c.type, false));
      x.set("value", c.value);
      constants << x;
    }
    d.set("constants", constants);

    // Structs of this file, each after the ones of this file it holds.
    std::vector<const idl::Struct*> mine;
    std::map<std::string, const idl::Struct*> by_name;
    for (const idl::Struct& s : program.structs) {
      if (s.file != f.path) continue;
      mine.push_back(&s);
      by_name[s.ns + "::" + s.name] = &s;
    }
    std::vector<const idl::Struct*> ordered;
    std::map<const idl::Struct*, int> state;
    auto visit = [&](auto& self, const idl::Struct* s) -> void {
      if (state[s] == 2) return;
      if (state[s] == 1) throw std::runtime_error(f.path + ": " + s->name + " holds itself through other structs; hz cannot generate recursive types");
      state[s] = 1;
      for (const idl::Field& fl : s->fields) {
        std::set<std::string> deps;
        held(fl.type, deps);
        for (const std::string& dep : deps) {
          auto it = by_name.find(dep);
          if (it == by_name.end()) continue;
          if (it->second == s) throw std::runtime_error(f.path + ": " + s->name + "." + fl.name + ": hz cannot generate recursive types");
          self(self, it->second);
        }
      }
      state[s] = 2;
      ordered.push_back(s);
    };
    for (const idl::Struct* s : mine) visit(visit, s);

    mu::data structs{mu::data::type::list};
    for (const idl::Struct* s : ordered) {
      mu::data sd;
      std::string sname = identifier(s->name);
      sd.set("name", sname);
      sd.set("comment", s->comment.empty() ? mu::data(false) : mu::data(one_line(s->comment)));
      mu::data fields{mu::data::type::list};
      for (const idl::Field& fl : s->fields) {
        if (fl.type.kind == idl::Kind::map && fl.type.key->kind != idl::Kind::string) {
          warnings.push_back(f.path + ": " + s->name + "." + fl.name + ": map keys are JSON object keys: generated as strings");
        }
        mu::data x;
        x.set("name", fl.name);
        x.set("member", identifier(fl.name));
        x.set("struct", sname);
        std::string type = cpp_type(fl.type, fl.optional);
        if (fl.type.kind == idl::Kind::structure || fl.type.kind == idl::Kind::enumeration) {
          // Relative to this namespace, so the struct reads as written in the IDL.
          type = cpp_type(fl.type, false);
          type = local(type, f.ns);
          if (fl.optional) type = "std::optional<" + type + ">";
        }
        x.set("type", type);
        x.set("init", fl.default_value.empty() ? mu::data(false) : mu::data(fl.default_value));
        x.set("comment", fl.comment.empty() ? mu::data(false) : mu::data(one_line(fl.comment)));
        x.set("binding", binding_text(fl));
        fields << x;
      }
      sd.set("fields", fields);
      // At most one member of a Thrift union or of each Protobuf oneof.
      mu::data checks{mu::data::type::list};
      auto at_most_one = [&](const std::string& group, const std::vector<const idl::Field*>& members) {
        if (members.size() < 2) return;
        std::string expr, names;
        for (const idl::Field* m : members) {
          expr += (expr.empty() ? "" : " + ") + std::string("(v.") + identifier(m->name) + " ? 1 : 0)";
          names += (names.empty() ? "" : ", ") + m->name;
        }
        mu::data c;
        c.set("struct", sname);
        c.set("field", group);
        c.set("expression", expr + " <= 1");
        c.set("message", "at most one of " + names + " may be set");
        checks << c;
      };
      if (s->is_union) {
        std::vector<const idl::Field*> members;
        for (const idl::Field& fl : s->fields) members.push_back(&fl);
        at_most_one(s->name, members);
      }
      for (const std::string& o : s->oneofs) {
        std::vector<const idl::Field*> members;
        for (const idl::Field& fl : s->fields) {
          if (fl.oneof == o) members.push_back(&fl);
        }
        at_most_one(o, members);
      }
      sd.set("checks", checks);
      structs << sd;
    }
    d.set("structs", structs);
    out.regenerate(model_header(layout, f), out.render("model.h.mustache", d));
  }
}

}  // namespace hz::gen
