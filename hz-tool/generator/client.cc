// SPDX-License-Identifier: Apache-2.0
// Typed clients: per service, a header with the request each method sends (path parameters,
// query, headers, cookies, a JSON or form body, from the request's bindings), an awaitable
// client on khz::Client and a blocking one on khz::BlockingClient.
#include "generator/generate.h"
#include "generator/names.h"

#include <map>
#include <set>

namespace hz::gen {
namespace {

const idl::Struct* find_struct(const idl::Program& p, const std::string& qualified) {
  for (const idl::Struct& s : p.structs) {
    if (s.ns + "::" + s.name == qualified) return &s;
  }
  return nullptr;
}

bool has_body(idl::HttpMethod m) {
  return m == idl::HttpMethod::post || m == idl::HttpMethod::put || m == idl::HttpMethod::patch ||
         m == idl::HttpMethod::any;
}

mu::data pair(const std::string& name, const std::string& member) {
  mu::data x;
  x.set("name", name);
  x.set("member", member);
  return x;
}

}  // namespace

void generate_clients(const idl::Program& program, const Layout& layout, Writer& out) {
  std::string support = layout.client_dir + "/client_support.h";
  std::map<std::string, const idl::File*> files;
  for (const idl::File& f : program.files) files[f.path] = &f;
  bool any = false;
  for (const idl::Service& s : program.services) {
    auto file = files.find(s.file);
    if (file == files.end() || !file->second->main) continue;
    any = true;
    std::string cls = identifier(s.name) + "Client";
    mu::data d;
    d.set("idl", s.file);
    d.set("service", s.name);
    d.set("ns", s.ns);
    d.set("class", cls);
    d.set("support_header", support);
    d.set("base_url", s.base_domain.empty() ? std::string("http://127.0.0.1:8888") : s.base_domain);
    std::set<std::string> model_headers;
    mu::data methods{mu::data::type::list};
    std::string example;
    for (const idl::Method& m : s.methods) {
      if (m.routes.empty()) continue;
      const idl::Route& route = m.routes.front();
      mu::data md;
      std::string name = identifier(m.name);
      if (example.empty()) example = name;
      md.set("name", name);
      md.set("verb", route.method == idl::HttpMethod::any ? std::string("POST") : std::string(idl::method_name(route.method)));
      md.set("path", route.path);
      md.set("request", m.request.empty() ? std::string("hz_client::Empty") : m.request);
      md.set("response", m.response.empty() ? std::string("hz_client::Empty") : m.response);
      for (const std::string* t : {&m.request, &m.response}) {
        if (const idl::Struct* st = find_struct(program, *t)) {
          if (auto f = files.find(st->file); f != files.end()) model_headers.insert(model_header(layout, *f->second));
        }
      }
      const idl::Struct* req = find_struct(program, m.request);
      std::map<std::string, std::string> path_members;  // path parameter → member
      mu::data query{mu::data::type::list}, headers{mu::data::type::list}, cookies{mu::data::type::list},
          form{mu::data::type::list};
      bool json_body = false;
      std::string raw_member;
      if (req != nullptr) {
        for (const idl::Field& f : req->fields) {
          const idl::Binding& b = f.binding;
          std::string member = identifier(f.name);
          if (b.raw_body) {
            raw_member = member;
            continue;
          }
          if (b.from_path) path_members[b.path.empty() ? f.name : b.path] = member;
          if (b.from_query) query << pair(b.query.empty() ? f.name : b.query, member);
          if (b.from_header) headers << pair(b.header.empty() ? f.name : b.header, member);
          if (b.from_cookie) cookies << pair(b.cookie.empty() ? f.name : b.cookie, member);
          if (b.from_form) form << pair(b.form.empty() ? f.name : b.form, member);
          if (b.from_json) json_body = true;
          if (!b.any_source()) {  // json, form and query under its name: a body when the verb has one
            if (has_body(route.method)) json_body = true;
            else query << pair(f.name, member);
          }
        }
      }
      // The path, segment by segment: literal text and parameters.
      mu::data segments{mu::data::type::list};
      const std::string& p = route.path;
      std::size_t i = 0;
      std::string literal;
      auto flush = [&] {
        if (literal.empty()) return;
        mu::data seg;
        mu::data lit;
        lit.set("text", literal);
        seg.set("literal", lit);
        segments << seg;
        literal.clear();
      };
      while (i < p.size()) {
        if ((p[i] == ':' || p[i] == '*') && (i == 0 || p[i - 1] == '/')) {
          bool catch_all = p[i] == '*';
          std::size_t end = p.find('/', i);
          if (end == std::string::npos) end = p.size();
          std::string param = p.substr(i + 1, end - i - 1);
          auto it = path_members.find(param);
          if (it != path_members.end()) {
            flush();
            mu::data seg, pd;
            pd.set("member", it->second);
            pd.set("keep_slash", catch_all ? std::string("true") : std::string("false"));
            seg.set("param", pd);
            segments << seg;
          } else {
            literal += catch_all ? "" : "_";  // no field binds it: a placeholder the route accepts
          }
          i = end;
        } else {
          literal += p[i++];
        }
      }
      flush();
      md.set("segments", segments);
      md.set("query", query);
      md.set("headers", headers);
      md.set("has_cookies", !cookies.list_value().empty());
      md.set("cookies", cookies);
      bool form_body = !form.list_value().empty() && !json_body;
      md.set("json_body", json_body && raw_member.empty());
      md.set("form_body", form_body && raw_member.empty());
      if (form_body) md.set("form", form);
      if (!raw_member.empty()) {
        mu::data raw;
        raw.set("member", raw_member);
        md.set("raw_body", raw);
      }
      methods << md;
    }
    d.set("example", example.empty() ? std::string("call") : example);
    d.set("methods", methods);
    mu::data mh{mu::data::type::list};
    for (const std::string& h : model_headers) {
      mu::data x;
      x.set("header", h);
      mh << x;
    }
    d.set("model_headers", mh);
    out.regenerate(layout.client_dir + "/" + ns_path(s.ns) + "/" + snake_case(s.name) + "_client.h",
                   out.render("client.h.mustache", d));
  }
  if (any) out.regenerate(support, out.render("client_support.h.mustache", mu::data{}));
}

}  // namespace hz::gen
