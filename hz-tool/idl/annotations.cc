// SPDX-License-Identifier: Apache-2.0
#include "idl/annotations.h"

#include <khz/route/radix_tree.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>

namespace hz::idl {

const char* method_name(HttpMethod m) {
  switch (m) {
    case HttpMethod::get: return "GET";
    case HttpMethod::post: return "POST";
    case HttpMethod::put: return "PUT";
    case HttpMethod::del: return "DELETE";
    case HttpMethod::patch: return "PATCH";
    case HttpMethod::options: return "OPTIONS";
    case HttpMethod::head: return "HEAD";
    case HttpMethod::any: return "ANY";
  }
  return "GET";
}

namespace {

// Hertz annotations hz reads nothing from in C++ (Go struct tags, Go packaging, documentation).
const std::set<std::string> unsupported = {
    "api.js_conv", "api.none", "api.go_tag", "go.tag", "api.file_name", "api.api_version", "api.tag",
    "api.name", "api.api_level", "api.param", "api.baseurl", "api.gen_path", "api.reserve",
    "api.form_compatible", "api.js_conv_compatible", "api.file_name_compatible", "api.none_compatible",
    "api.handler_path_compatible", "api.base_domain_compatible", "api.http_code"};

std::string where(const std::string& file, const std::string& what) { return file + ": " + what; }

void warn_other(const std::string& file, const std::string& what, const std::string& name,
                std::vector<std::string>& warnings) {
  if (unsupported.count(name) != 0) {
    warnings.push_back(where(file, what + ": annotation " + name + " is not supported in C++; ignored"));
  } else {
    warnings.push_back(where(file, what + ": unknown annotation " + name + "; ignored"));
  }
}

bool is_integer(const Type& t) {
  switch (t.kind) {
    case Kind::i8: case Kind::i16: case Kind::i32: case Kind::i64: case Kind::u32: case Kind::u64:
      return true;
    default:
      return false;
  }
}

// ---- api.vd
class VdParser {
 public:
  VdParser(const std::string& text, bool integer, Binding& b) : s_(text), integer_(integer), b_(b) {}

  void parse() {
    skip();
    if (at_end()) fail("empty expression");
    for (;;) {
      term();
      skip();
      if (eat("&&")) continue;
      break;
    }
    skip();
    if (eat(";")) {
      skip();
      if (eat("msg:") || eat("msg :")) {
        skip();
        b_.message = quoted();
        skip();
      }
    }
    if (!at_end()) fail("unexpected \"" + s_.substr(i_) + "\"");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("api.vd \"" + s_ + "\": " + what +
                             " (hz understands $ and len($) compared with numbers, regexp('..'), "
                             "email($), in($, ..), required, joined by &&; msg:'..')");
  }
  bool at_end() const { return i_ >= s_.size(); }
  void skip() {
    while (!at_end() && std::isspace(static_cast<unsigned char>(s_[i_])) != 0) ++i_;
  }
  bool eat(const std::string& word) {
    if (s_.compare(i_, word.size(), word) == 0) {
      i_ += word.size();
      return true;
    }
    return false;
  }
  void expect(const std::string& word) {
    skip();
    if (!eat(word)) fail("expected \"" + word + "\"");
  }
  std::string quoted() {
    skip();
    if (at_end() || (s_[i_] != '\'' && s_[i_] != '"')) fail("expected a quoted string");
    char q = s_[i_++];
    std::string out;
    while (!at_end() && s_[i_] != q) {
      if (s_[i_] == '\\' && i_ + 1 < s_.size() && s_[i_ + 1] == q) ++i_;
      out += s_[i_++];
    }
    if (at_end()) fail("unterminated string");
    ++i_;
    return out;
  }
  long double number() {
    skip();
    const char* begin = s_.c_str() + i_;
    char* end = nullptr;
    long double v = std::strtold(begin, &end);
    if (end == begin || !std::isfinite(v)) fail("expected a number");
    i_ += static_cast<std::size_t>(end - begin);
    return v;
  }
  std::string op() {
    skip();
    for (const char* o : {">=", "<=", "==", "!=", ">", "<"}) {
      if (eat(o)) return o;
    }
    fail("expected a comparison");
  }
  void bound(const std::string& o, long double n, bool length) {
    auto whole = [&](long double v) {
      if (v != std::floor(v)) fail("a length is a whole number");
      return v;
    };
    if (length) {
      auto as_size = [&](long double v) { return static_cast<std::size_t>(std::max<long double>(0, whole(v))); };
      if (o == ">=") b_.min_length = as_size(n);
      else if (o == ">") b_.min_length = as_size(n + 1);
      else if (o == "<=") b_.max_length = as_size(n);
      else if (o == "<") {
        if (n < 1) fail("len($) < " + std::to_string(static_cast<long long>(n)) + " can never hold");
        b_.max_length = as_size(n - 1);
      } else if (o == "==") b_.min_length = b_.max_length = as_size(n);
      else fail("len($) != n is not supported");
      return;
    }
    if ((o == ">" || o == "<") && !integer_) fail("use >= or <= on a floating-point field");
    if (o == ">=") b_.min = n;
    else if (o == ">") b_.min = n + 1;
    else if (o == "<=") b_.max = n;
    else if (o == "<") b_.max = n - 1;
    else if (o == "==") b_.min = b_.max = n;
    else fail("$ != n is not supported");
  }
  void term() {
    skip();
    if (eat("required")) {
      b_.required = true;
    } else if (eat("len($)") || eat("mblen($)")) {
      std::string o = op();
      if (o == "!=") {
        skip();
        if (!eat("0")) fail("len($) != n is not supported");
        b_.required = true;
        return;
      }
      long double n = number();
      if ((o == ">" && n == 0) || (o == ">=" && n == 1)) b_.required = true;
      bound(o, n, true);
    } else if (eat("regexp(")) {
      b_.pattern = quoted();
      skip();
      if (eat(",")) expect("$");
      expect(")");
    } else if (eat("email(")) {
      expect("$");
      expect(")");
      b_.format = "email";
    } else if (eat("in(")) {
      expect("$");
      std::string values;
      for (;;) {
        skip();
        if (eat(")")) break;
        if (!eat(",")) fail("expected , or ) in in(...)");
        skip();
        std::string v;
        if (!at_end() && (s_[i_] == '\'' || s_[i_] == '"')) {
          v = quoted();
        } else {
          std::size_t start = i_;
          number();
          v = s_.substr(start, i_ - start);
        }
        if (v.find('|') != std::string::npos) fail("a value of in(...) holds '|'");
        values += (values.empty() ? "" : "|") + v;
      }
      if (values.empty()) fail("in($) needs values");
      b_.one_of = values;
    } else if (eat("$")) {
      std::string o = op();
      skip();
      if (o == "!=" && eat("nil")) {
        b_.required = true;
        return;
      }
      bound(o, number(), false);
    } else {
      fail("unexpected \"" + s_.substr(i_) + "\"");
    }
  }

  const std::string& s_;
  std::size_t i_ = 0;
  bool integer_;
  Binding& b_;
};

bool valid_route_path(const std::string& p) { return !p.empty() && p[0] == '/'; }

}  // namespace

void apply_vd(const std::string& expression, bool integer, Binding& binding) {
  VdParser(expression, integer, binding).parse();
}

void interpret(Program& program, std::vector<std::string>& warnings) {
  static const std::map<std::string, HttpMethod> methods = {
      {"api.get", HttpMethod::get},       {"api.post", HttpMethod::post},   {"api.put", HttpMethod::put},
      {"api.delete", HttpMethod::del},    {"api.patch", HttpMethod::patch}, {"api.options", HttpMethod::options},
      {"api.head", HttpMethod::head},     {"api.any", HttpMethod::any}};
  for (const Enum& e : program.enums) {
    for (const auto& [name, value] : e.annotations) warn_other(e.file, e.name, name, warnings);
  }
  for (Struct& s : program.structs) {
    for (const auto& [name, value] : s.annotations) warn_other(s.file, s.name, name, warnings);
    for (Field& f : s.fields) {
      std::string what = s.name + "." + f.name;
      Binding& b = f.binding;
      for (const auto& [name, value] : f.annotations) {
        std::string v = value;
        auto pick = [&](bool& from, std::string& n) {
          from = true;
          n = v == f.name ? std::string() : v;
        };
        if (name == "api.path") pick(b.from_path, b.path);
        else if (name == "api.query") pick(b.from_query, b.query);
        else if (name == "api.header") pick(b.from_header, b.header);
        else if (name == "api.cookie") pick(b.from_cookie, b.cookie);
        else if (name == "api.form") pick(b.from_form, b.form);
        else if (name == "api.body") pick(b.from_json, b.json);
        else if (name == "api.raw_body") {
          if (f.type.kind != Kind::string && f.type.kind != Kind::binary) {
            throw std::runtime_error(where(s.file, what + ": api.raw_body needs a string or binary field"));
          }
          b.raw_body = true;
        } else if (name == "api.vd") {
          try {
            apply_vd(v, is_integer(f.type), b);
          } catch (const std::exception& e) {
            throw std::runtime_error(where(s.file, what + ": " + e.what()));
          }
        } else {
          warn_other(s.file, what, name, warnings);
        }
      }
    }
  }
  for (Service& svc : program.services) {
    for (const auto& [name, value] : svc.annotations) {
      if (name == "api.base_domain") svc.base_domain = value;
      else warn_other(svc.file, svc.name, name, warnings);
    }
    for (Method& m : svc.methods) {
      std::string what = svc.name + "." + m.name;
      for (const auto& [name, value] : m.annotations) {
        if (auto it = methods.find(name); it != methods.end()) {
          if (!valid_route_path(value)) {
            throw std::runtime_error(where(svc.file, what + ": " + name + " \"" + value + "\" is not a path (it begins with '/')"));
          }
          m.routes.push_back({it->second, value, name});
        } else if (name == "api.handler_path") {
          if (value.empty() || value.find("..") != std::string::npos || value.front() == '/') {
            throw std::runtime_error(where(svc.file, what + ": api.handler_path \"" + value +
                                                         "\" is not a relative path under the handler folder"));
          }
          m.handler_path = value;
        } else if (name == "api.serializer") {
          if (value != "json") {
            throw std::runtime_error(where(svc.file, what + ": api.serializer \"" + value + "\": hz renders json only"));
          }
          m.serializer = value;
        } else {
          warn_other(svc.file, what, name, warnings);
        }
      }
      if (m.routes.empty()) {
        warnings.push_back(where(svc.file, what + ": no api.get/post/... annotation; no route is generated for it"));
      }
    }
  }
}

void check_routes(const Program& program) {
  std::map<std::string, const File*> files;
  for (const File& f : program.files) files[f.path] = &f;
  std::map<std::string, khz::route::RadixTree<std::string>> trees;  // method → routes
  for (const Service& svc : program.services) {
    auto file = files.find(svc.file);
    if (file == files.end() || !file->second->main) continue;
    for (const Method& m : svc.methods) {
      for (const Route& r : m.routes) {
        std::string owner = svc.file + ": " + svc.name + "." + m.name + " (" + r.annotation + "=\"" + r.path + "\")";
        std::vector<std::string> verbs;
        if (r.method == HttpMethod::any) {
          verbs = {"GET", "POST", "PUT", "PATCH", "HEAD", "OPTIONS", "DELETE", "CONNECT", "TRACE"};
        } else {
          verbs = {method_name(r.method)};
        }
        for (const std::string& verb : verbs) {
          auto& tree = trees[verb];
          try {
            tree.add(r.path, owner);
          } catch (const std::invalid_argument& e) {
            if (std::string(e.what()).find("conflicts") == std::string::npos) {
              throw std::runtime_error("bad route path: " + owner + ": " + e.what());
            }
            khz::route::Params params;
            auto hit = tree.find(r.path, params);
            std::string other = hit.value != nullptr ? *hit.value : std::string("another route");
            throw std::runtime_error("route conflict: " + verb + " " + owner + " and " + other + ": " + e.what());
          }
        }
      }
    }
  }
}

}  // namespace hz::idl
