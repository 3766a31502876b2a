// SPDX-License-Identifier: Apache-2.0
#include "generator/writer.h"

#include "embedded.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace hz::gen {
namespace {

namespace fs = std::filesystem;

const std::set<std::string> layout_templates = {"CMakeLists.txt.mustache", "main.cc.mustache", "router.h.mustache",
                                                "router.cc.mustache"};

// Mustache's standalone rule, made exact: a line holding only a section tag ({{#x}}, {{^x}},
// {{/x}}) or a comment leaves no line behind. The tag moves to the end of the line before it
// (before its newline), marked with \x01 so kainjow's renderer, which drops whitespace-only
// lines holding a section tag, keeps that line (and so blank lines written on purpose); the
// marks are removed after rendering.
constexpr char mark = '\x01';

std::string strip_standalone(const std::string& text) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    std::size_t next = end == std::string::npos ? text.size() : end + 1;
    std::string line = text.substr(start, (end == std::string::npos ? text.size() : end) - start);
    std::size_t a = line.find_first_not_of(" \t");
    std::size_t b = line.find_last_not_of(" \t");
    bool standalone = a != std::string::npos && line.compare(a, 2, "{{") == 0 && b >= a + 4 &&
                      line.compare(b - 1, 2, "}}") == 0 && std::string("#/^!").find(line[a + 2]) != std::string::npos &&
                      line.find("}}", a) == b - 1;
    if (!standalone) {
      out += text.substr(start, next - start);
    } else {
      std::string tag = mark + line.substr(a, b - a + 1);
      if (!out.empty() && out.back() == '\n') out.insert(out.size() - 1, tag);
      else out += tag;
    }
    start = next;
  }
  return out;
}

std::string unmark(std::string text) {
  text.erase(std::remove(text.begin(), text.end(), mark), text.end());
  return text;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

Writer::Writer(std::string out_dir, std::string layout_dir, std::string package_dir, bool force,
               std::vector<std::string> excluded)
    : out_dir_(std::move(out_dir)),
      layout_dir_(std::move(layout_dir)),
      package_dir_(std::move(package_dir)),
      force_(force),
      excluded_(excluded.begin(), excluded.end()) {
  for (const std::string* dir : {&layout_dir_, &package_dir_}) {
    if (!dir->empty() && !fs::is_directory(*dir)) throw std::runtime_error(*dir + " is not a folder of templates");
  }
}

std::string Writer::template_text(const std::string& name) const {
  const std::string& dir = layout_templates.count(name) != 0 ? layout_dir_ : package_dir_;
  if (!dir.empty() && fs::is_regular_file(dir + "/" + name)) return slurp(dir + "/" + name);
  std::string_view builtin = embedded_file(name);
  if (builtin.empty()) throw std::runtime_error("no template " + name);
  return std::string(builtin);
}

std::string Writer::render(const std::string& name, const mu::data& data) const {
  mu::mustache tmpl(strip_standalone(template_text(name)));
  if (!tmpl.is_valid()) throw std::runtime_error("template " + name + ": " + tmpl.error_message());
  tmpl.set_custom_escape([](const std::string& s) { return s; });  // code, not HTML
  std::string out = unmark(tmpl.render(data));
  if (!tmpl.is_valid()) throw std::runtime_error("template " + name + ": " + tmpl.error_message());
  return out;
}

std::string Writer::full(const std::string& path) const { return (fs::path(out_dir_) / path).string(); }

bool Writer::exists(const std::string& path) const { return fs::exists(full(path)); }

std::string Writer::read(const std::string& path) const { return slurp(full(path)); }

void Writer::write(const std::string& path, const std::string& text, bool append_mode) {
  fs::path p = full(path);
  fs::create_directories(p.parent_path());
  std::ofstream out(p, append_mode ? std::ios::binary | std::ios::app : std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + p.string());
  written.push_back(path);
}

void Writer::regenerate(const std::string& path, const std::string& text) {
  if (excluded(path)) return;
  if (exists(path) && read(path) == text) return;
  write(path, text, false);
}

void Writer::create(const std::string& path, const std::string& text) {
  if (excluded(path) || (exists(path) && !force_)) return;
  write(path, text, false);
}

void Writer::append(const std::string& path, const std::string& text) {
  if (excluded(path)) return;
  write(path, text, true);
}

void Writer::render_extra_layout(const mu::data& data) {
  if (layout_dir_.empty()) return;
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(layout_dir_)) {
    if (!e.is_regular_file() || e.path().extension() != ".mustache") continue;
    std::string rel = e.path().lexically_relative(layout_dir_).generic_string();
    if (layout_templates.count(rel) != 0 || !embedded_file(rel).empty()) continue;
    names.push_back(rel);
  }
  std::sort(names.begin(), names.end());
  for (const std::string& rel : names) {
    mu::mustache tmpl(strip_standalone(slurp(layout_dir_ + "/" + rel)));
    if (!tmpl.is_valid()) throw std::runtime_error("template " + rel + ": " + tmpl.error_message());
    tmpl.set_custom_escape([](const std::string& s) { return s; });
    create(rel.substr(0, rel.size() - std::string(".mustache").size()), unmark(tmpl.render(data)));
  }
}

}  // namespace hz::gen
