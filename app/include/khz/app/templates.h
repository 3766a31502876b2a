// SPDX-License-Identifier: Apache-2.0
// khz::Templates: HTML templates (Mustache) loaded from a directory, compiled once, rendered
// with khz::Json data. What RequestContext::html renders; usable on its own too.
//
//   server.load_templates("templates");        // templates/page.mustache, templates/users/row.html, ...
//   server.get("/users", [](khz::RequestContext& ctx) {
//     ctx.html(200, "page", khz::H{{"title", "Users & groups"},            // escaped: "Users &amp; groups"
//                                  {"users", khz::Json::Array{khz::H{{"name", "ann"}}, khz::H{{"name", "bob"}}}}});
//   });
//
//   templates/page.mustache:
//     <h1>{{title}}</h1>
//     <ul>{{#users}}{{> users/row}}{{/users}}{{^users}}<li>nobody</li>{{/users}}</ul>
//     {{{trusted_html}}}                       <- triple braces (or {{& x}}): not escaped
//   templates/users/row.html:
//     <li>{{name}}</li>
//
// Files: every regular file under the directory (subdirectories too, hidden ones skipped)
// named *.mustache or *.html is a template; its name is its path relative to the directory
// without that extension ("users/row"). Partials ({{> name}}) are templates of the same set,
// by that name. Rendering by "name.html" or "name.mustache" finds "name" too.
// Syntax: Mustache (https://mustache.github.io/mustache.5.html, the kainjow implementation):
// {{x}} HTML-escaped (& < > " '), {{{x}}} and {{& x}} raw, {{#x}}...{{/x}} sections (once
// per array element, once for a truthy value), {{^x}} inverted sections, {{! comment}},
// {{> partial}}, {{=<% %>=}} delimiters, dotted names (a.b.c). A missing name renders "" (and
// a missing partial too). Data: a Json object, array elements and nested objects push their
// own context. Strings and numbers print; null, false, empty arrays are falsy; true is truthy
// but prints nothing; numbers, 0 included, are truthy (strings, for Mustache).
//
// Errors: loading throws std::invalid_argument (a directory that cannot be read, a template
// that does not parse, with its name and the parser's message; two files for one name).
// Rendering never throws for a template error: render_to returns false with a message (an
// unknown name, partials nested too deeply — a partial that includes itself for ever: the
// render stops once its partials used 1 MiB of stack, so render on threads with more than
// that, as loop and worker threads (8 MiB) have).
// Threading: after construction every member is safe to call from any number of threads at
// once. Reloading (TemplateOptions::reload) swaps the whole set under a mutex; a render holds
// the set it started with. A set that fails to load on reload is logged and the old one kept.
#pragma once

#include <khz/app/json.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace khz {

namespace detail {
struct TemplateSet;     // one loaded directory (app/templates.cc)
struct TemplateShared;  // the current set, and what reloading needs
}  // namespace detail

struct TemplateOptions {
  // Development: before a render, at most once per reload_interval, look at the directory
  // (file names, sizes, modification times) and reload the whole set when anything changed.
  // Off by default (templates are read once).
  bool reload = false;
  std::chrono::milliseconds reload_interval{1000};
};

class Templates {
 public:
  // Loads and compiles every template under `directory` (see above); throws
  // std::invalid_argument naming the file when one does not parse.
  explicit Templates(std::string directory, TemplateOptions options = {});
  ~Templates();
  Templates(const Templates&) = delete;
  Templates& operator=(const Templates&) = delete;

  // Renders template `name` with `data`, appending the text to `out`. On failure returns false,
  // leaves `out` as it was and, when `error` is given, says why there.
  bool render_to(std::string& out, std::string_view name, const Json& data, std::string* error = nullptr) const;
  // The same, returning the text; throws std::runtime_error with the reason on failure.
  std::string render(std::string_view name, const Json& data) const;

  bool contains(std::string_view name) const;
  // Every template's name, sorted.
  std::vector<std::string> names() const;
  const std::string& directory() const noexcept { return directory_; }

 private:
  std::shared_ptr<const detail::TemplateSet> current() const;

  std::string directory_;
  TemplateOptions options_;
  std::unique_ptr<detail::TemplateShared> shared_;
};

}  // namespace khz
