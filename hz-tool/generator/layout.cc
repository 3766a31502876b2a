// SPDX-License-Identifier: Apache-2.0
// The project skeleton, the routers with their group middleware, and the handlers. Handlers and
// middleware belong to the user once written: a later run appends what is new (a function it
// cannot find by name) at the end of the file and never rewrites what is there.
#include "generator/generate.h"
#include "generator/names.h"

#include <cctype>
#include <filesystem>
#include <map>
#include <set>

namespace hz::gen {
namespace {

namespace fs = std::filesystem;

const idl::File* file_of(const idl::Program& p, const std::string& path) {
  for (const idl::File& f : p.files) {
    if (f.path == path) return &f;
  }
  return nullptr;
}

bool is_main(const idl::Program& p, const std::string& path) {
  const idl::File* f = file_of(p, path);
  return f != nullptr && f->main;
}

std::string file_id(const idl::File& f) { return snake_case(f.stem); }

std::string router_base(const Layout& l, const idl::File& f) {
  return l.router_dir + "/" + ns_path(f.ns) + "/" + f.stem;
}

std::string verb_call(idl::HttpMethod m) {
  switch (m) {
    case idl::HttpMethod::get: return "get";
    case idl::HttpMethod::post: return "post";
    case idl::HttpMethod::put: return "put";
    case idl::HttpMethod::del: return "del";
    case idl::HttpMethod::patch: return "patch";
    case idl::HttpMethod::options: return "options";
    case idl::HttpMethod::head: return "head";
    case idl::HttpMethod::any: return "any";
  }
  return "get";
}

mu::data routes_data(const idl::Method& m) {
  mu::data list{mu::data::type::list};
  for (const idl::Route& r : m.routes) {
    mu::data d;
    d.set("verb", idl::method_name(r.method));
    d.set("path", r.path);
    d.set("call", verb_call(r.method));
    list << d;
  }
  return list;
}

// The handler file (without extension) of a method.
std::string handler_base(const Layout& l, const idl::Service& s, const idl::Method& m) {
  if (!m.handler_path.empty()) {
    std::string p = m.handler_path;
    while (!p.empty() && p.front() == '/') p.erase(0, 1);
    if (fs::path(p).has_extension()) p = fs::path(p).replace_extension().generic_string();
    return l.handler_dir + "/" + p;
  }
  return l.handler_dir + "/" + ns_path(s.ns) + "/" + snake_case(s.name);
}

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

std::size_t skip_space(const std::string& text, std::size_t at) {
  while (at < text.size() && std::isspace(static_cast<unsigned char>(text[at])) != 0) ++at;
  return at;
}

// Whether `text` has a function `name` returning `result` ("void") whose parameters hold
// `param` ("" for none), followed by `end` (';' for a declaration, '{' for a definition). How
// update finds the handlers and middleware a user already has, whatever their bodies.
bool has_function(const std::string& text, const std::string& result, const std::string& name,
                  const std::string& param, char end) {
  for (std::size_t at = text.find(name); at != std::string::npos; at = text.find(name, at + 1)) {
    std::size_t after = at + name.size();
    if ((at > 0 && word_char(text[at - 1])) || (after < text.size() && word_char(text[after]))) continue;
    std::size_t before = at;
    while (before > 0 && std::isspace(static_cast<unsigned char>(text[before - 1])) != 0) --before;
    if (before == at || before < result.size() || text.compare(before - result.size(), result.size(), result) != 0) continue;
    std::size_t open = skip_space(text, after);
    if (open >= text.size() || text[open] != '(') continue;
    std::size_t close = text.find(')', open);
    if (close == std::string::npos) continue;
    std::string params = text.substr(open + 1, close - open - 1);
    bool params_match = param.empty() ? skip_space(params, 0) == params.size() : params.find(param) != std::string::npos;
    std::size_t next = skip_space(text, close + 1);
    if (params_match && next < text.size() && text[next] == end) return true;
  }
  return false;
}

bool defines(const std::string& text, const std::string& name, bool declaration) {
  return has_function(text, "void", name, "khz::RequestContext", declaration ? ';' : '{');
}

bool defines_mw(const std::string& text, const std::string& name) {
  return has_function(text, "std::vector<khz::Handler>", name, "", '{') ||
         has_function(text, "std::vector<khz::Handler>", name, "", ';');
}

const idl::Struct* find_struct(const idl::Program& p, const std::string& qualified) {
  for (const idl::Struct& s : p.structs) {
    if (s.ns + "::" + s.name == qualified) return &s;
  }
  return nullptr;
}

std::string first_line(const std::string& text) {
  std::string out = text.substr(0, text.find('\n'));
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

std::string model_header(const Layout& layout, const idl::File& file) {
  return layout.model_dir + "/" + ns_path(file.ns) + "/" + file.stem + ".h";
}

void generate_layout(const idl::Program&, const Layout& layout, Writer& out) {
  mu::data d;
  d.set("project", layout.project);
  std::string idls;
  for (const std::string& i : layout.idls) idls += (idls.empty() ? "" : ", ") + fs::path(i).filename().string();
  d.set("idl_list", idls);
  d.set("router_dir", layout.router_dir);
  mu::data dirs{mu::data::type::list};
  std::set<std::string> seen;
  for (const std::string* dir : {&layout.handler_dir, &layout.router_dir, &layout.model_dir, &layout.client_dir}) {
    if (!seen.insert(*dir).second) continue;
    mu::data x;
    x.set("dir", *dir);
    dirs << x;
  }
  d.set("source_dirs", dirs);
  out.create("CMakeLists.txt", out.render("CMakeLists.txt.mustache", d));
  out.create("main.cc", out.render("main.cc.mustache", d));
  out.create("router.h", out.render("router.h.mustache", d));
  out.create("router.cc", out.render("router.cc.mustache", d));
  out.render_extra_layout(d);
}

void generate_routers(const idl::Program& program, const Layout& layout, Writer& out) {
  // register.cc: every IDL registered before (read back from the file) and the ones now.
  std::map<std::string, std::string> routers;  // header → function
  std::string register_cc = layout.router_dir + "/register.cc";
  std::string old = out.read(register_cc);
  std::vector<std::string> headers, calls;
  std::size_t start = 0;
  while (start < old.size()) {  // its lines: `#include "<header>"` and `  <function>(engine);`
    std::size_t end = old.find('\n', start);
    if (end == std::string::npos) end = old.size();
    std::string line = old.substr(start, end - start);
    start = end + 1;
    const std::string include = "#include \"", call = "(engine);";
    if (line.rfind(include, 0) == 0 && line.size() > include.size() + 1 && line.back() == '"') {
      std::string header = line.substr(include.size(), line.size() - include.size() - 1);
      if (header != layout.router_dir + "/register.h") headers.push_back(header);
    } else if (line.rfind("  ", 0) == 0 && line.size() > 2 + call.size() &&
               line.compare(line.size() - call.size(), call.size(), call) == 0) {
      calls.push_back(line.substr(2, line.size() - 2 - call.size()));
    }
  }
  if (headers.size() == calls.size()) {
    for (std::size_t i = 0; i < headers.size(); ++i) {
      if (out.exists(headers[i])) routers[headers[i]] = calls[i];
    }
  }

  for (const idl::File& f : program.files) {
    if (!f.main) continue;
    std::string base = router_base(layout, f);
    std::string mw_base = layout.router_dir + "/" + ns_path(f.ns) + "/" + f.stem + "_middleware";
    routers[base + ".h"] = f.ns + "::router::register_" + file_id(f);

    mu::data d;
    d.set("idl", f.path);
    d.set("ns", f.ns);
    d.set("stem_id", file_id(f));
    d.set("router_header", base + ".h");
    d.set("middleware_header", mw_base + ".h");
    std::set<std::string> handler_headers;
    mu::data services{mu::data::type::list};
    // Middleware functions, in order: the file's, each service's, each method's.
    std::vector<std::pair<std::string, std::string>> mw = {{file_id(f) + "_idl_mw", "every route of " + f.path}};
    for (const idl::Service& s : program.services) {
      if (s.file != f.path) continue;
      mu::data sd;
      std::string sid = snake_case(s.name);
      sd.set("id", sid);
      sd.set("name", s.name);
      mw.emplace_back(sid + "_mw", "the routes of service " + s.name);
      mu::data methods{mu::data::type::list};
      for (const idl::Method& m : s.methods) {
        if (m.routes.empty()) continue;
        std::string mid = sid + "_" + snake_case(m.name) + "_mw";
        mw.emplace_back(mid, s.name + "." + m.name);
        handler_headers.insert(handler_base(layout, s, m) + ".h");
        mu::data md;
        md.set("service_id", sid);
        md.set("mw", mid);
        mu::data routes{mu::data::type::list};
        for (const idl::Route& r : m.routes) {
          mu::data rd;
          rd.set("call", verb_call(r.method));
          rd.set("path", r.path);
          rd.set("service", s.name);
          rd.set("method", m.name);
          rd.set("handler", s.ns + "::handler::" + identifier(m.name));
          routes << rd;
        }
        md.set("routes", routes);
        methods << md;
      }
      sd.set("methods", methods);
      services << sd;
    }
    d.set("services", services);
    mu::data hh{mu::data::type::list};
    for (const std::string& h : handler_headers) {
      mu::data x;
      x.set("header", h);
      hh << x;
    }
    d.set("handler_headers", hh);
    out.regenerate(base + ".h", out.render("idl_router.h.mustache", d));
    out.regenerate(base + ".cc", out.render("idl_router.cc.mustache", d));

    // The middleware files: what is missing is appended.
    for (const char* ext : {".h", ".cc"}) {
      std::string path = mw_base + ext;
      std::string text = out.read(path);
      bool fresh = !out.exists(path) || out.excluded(path);
      mu::data fns{mu::data::type::list};
      for (const auto& [name, what] : mw) {
        if (!fresh && defines_mw(text, name)) continue;
        mu::data x;
        x.set("name", name);
        x.set("what", what);
        fns << x;
      }
      if (fns.list_value().empty()) continue;
      mu::data md;
      md.set("preamble", fresh);
      md.set("idl", f.path);
      md.set("ns", f.ns);
      md.set("middleware_header", mw_base + ".h");
      md.set("functions", fns);
      std::string rendered = out.render(std::string("middleware") + ext + ".mustache", md);
      if (fresh) out.create(path, rendered);
      else out.append(path, "\n" + rendered);
    }
  }

  mu::data r;
  r.set("router_dir", layout.router_dir);
  mu::data list{mu::data::type::list};
  for (const auto& [header, function] : routers) {
    mu::data x;
    x.set("header", header);
    x.set("function", function);
    list << x;
  }
  r.set("routers", list);
  out.regenerate(layout.router_dir + "/register.h", out.render("register.h.mustache", r));
  out.regenerate(register_cc, out.render("register.cc.mustache", r));
}

void generate_handlers(const idl::Program& program, const Layout& layout, Writer& out) {
  // Handler files → their methods (a service's, unless api.handler_path moves one).
  struct Entry {
    const idl::Service* service;
    const idl::Method* method;
  };
  std::map<std::string, std::vector<Entry>> files;
  for (const idl::Service& s : program.services) {
    if (!is_main(program, s.file)) continue;
    for (const idl::Method& m : s.methods) {
      if (!m.routes.empty()) files[handler_base(layout, s, m)].push_back({&s, &m});
    }
  }
  for (const auto& [base, entries] : files) {
    const idl::Service& s = *entries.front().service;
    for (const char* ext : {".h", ".cc"}) {
      std::string path = base + ext;
      bool fresh = !out.exists(path) || out.excluded(path);
      std::string text = out.read(path);
      mu::data methods{mu::data::type::list};
      std::set<std::string> model_headers;
      for (const Entry& e : entries) {
        std::string name = identifier(e.method->name);
        if (!fresh && defines(text, name, std::string(ext) == ".h")) continue;
        mu::data md;
        md.set("name", name);
        md.set("routes", routes_data(*e.method));
        std::string summary;
        for (const idl::Route& r : e.method->routes) summary += (summary.empty() ? "" : ", ") + std::string(idl::method_name(r.method)) + " " + r.path;
        md.set("summary", summary);
        md.set("comment", e.method->comment.empty() ? mu::data(false) : mu::data(first_line(e.method->comment)));
        if (!e.method->request.empty()) {
          mu::data req;
          req.set("request", e.method->request);
          mu::data raw{mu::data::type::list};
          if (const idl::Struct* st = find_struct(program, e.method->request)) {
            for (const idl::Field& fl : st->fields) {
              if (!fl.binding.raw_body) continue;
              mu::data x;
              x.set("member", identifier(fl.name));
              raw << x;
            }
            if (const idl::File* file = file_of(program, st->file)) model_headers.insert(model_header(layout, *file));
          }
          req.set("raw_body_fields", raw);
          md.set("request", req);
        }
        if (e.method->request.empty()) md.set("request", false);
        md.set("response", false);
        if (!e.method->response.empty()) {
          md.set("response", e.method->response);
          if (const idl::Struct* st = find_struct(program, e.method->response)) {
            if (const idl::File* file = file_of(program, st->file)) model_headers.insert(model_header(layout, *file));
          }
        }
        methods << md;
      }
      if (methods.list_value().empty()) continue;
      mu::data d;
      d.set("preamble", fresh);
      d.set("service", s.name);
      d.set("idl", s.file);
      d.set("ns", s.ns);
      d.set("handler_header", base + ".h");
      d.set("methods", methods);
      mu::data mh{mu::data::type::list};
      for (const std::string& h : model_headers) {
        mu::data x;
        x.set("header", h);
        mh << x;
      }
      d.set("model_headers", mh);
      std::string rendered = out.render(std::string("handler") + ext + ".mustache", d);
      if (fresh) out.create(path, rendered);
      else out.append(path, "\n" + rendered);
    }
  }
}

}  // namespace hz::gen
