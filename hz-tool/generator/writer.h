// SPDX-License-Identifier: Apache-2.0
// Where generated text goes: the templates (the user's layout/package folders first, then the
// ones compiled into hz) and the files of the project, each written by its ownership rule:
//   regenerated   hz owns it: rewritten every run (left untouched when the bytes are the same)
//   created       the user owns it: written when missing (or with --force), else left alone
//   appended      the user owns it: new parts go at its end, nothing before is rewritten
// --exclude-file names files (relative to the output folder) hz never writes.
#pragma once

#include <kainjow/mustache.hpp>

#include <set>
#include <string>
#include <vector>

namespace hz::gen {

namespace mu = kainjow::mustache;

class Writer {
 public:
  Writer(std::string out_dir, std::string layout_dir, std::string package_dir, bool force,
         std::vector<std::string> excluded);

  // Renders the template `name` ("handler.cc.mustache") with `data`. Layout templates (the
  // project's skeleton) are looked up in the layout folder, the others in the package folder,
  // then among the built-in ones. Throws std::runtime_error on a template error.
  std::string render(const std::string& name, const mu::data& data) const;

  void regenerate(const std::string& path, const std::string& text);
  void create(const std::string& path, const std::string& text);
  void append(const std::string& path, const std::string& text);
  bool exists(const std::string& path) const;
  std::string read(const std::string& path) const;  // "" when missing
  bool excluded(const std::string& path) const { return excluded_.count(path) != 0; }
  const std::string& out_dir() const noexcept { return out_dir_; }

  // Extra files of the user's layout folder (templates hz has no built-in of): rendered with
  // the project's data and created at their relative path without ".mustache".
  void render_extra_layout(const mu::data& data);

  // What was written, for the summary line.
  std::vector<std::string> written;

 private:
  std::string full(const std::string& path) const;
  void write(const std::string& path, const std::string& text, bool append_mode);
  std::string template_text(const std::string& name) const;

  std::string out_dir_, layout_dir_, package_dir_;
  bool force_;
  std::set<std::string> excluded_;
};

}  // namespace hz::gen
