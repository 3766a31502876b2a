// SPDX-License-Identifier: Apache-2.0
// The HTML listing of a directory for static_fs (StaticOptions::listing).
#include "static_files.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <vector>

namespace khz::detail {
namespace {

void append_html_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
}


struct DirCloser {
  void operator()(DIR* d) const noexcept { ::closedir(d); }
};

}  // namespace

void append_url_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

bool directory_listing(const std::string& dir, std::string_view url_path, std::string& html) {
  std::unique_ptr<DIR, DirCloser> d(::opendir(dir.c_str()));
  if (!d) return false;
  std::vector<std::pair<std::string, bool>> entries;  // name, is a directory
  while (dirent* e = ::readdir(d.get())) {
    std::string_view name = e->d_name;
    if (name.empty() || name.front() == '.') continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN || e->d_type == DT_LNK) {
      struct stat st{};
      is_dir = ::fstatat(::dirfd(d.get()), e->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
    }
    entries.emplace_back(std::string(name), is_dir);
  }
  std::sort(entries.begin(), entries.end());
  html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ";
  append_html_escaped(html, url_path);
  html += "</title></head>\n<body><h1>Index of ";
  append_html_escaped(html, url_path);
  html += "</h1>\n<ul>\n";
  for (const auto& [name, is_dir] : entries) {
    html += "<li><a href=\"";
    append_url_escaped(html, name);
    if (is_dir) html += '/';
    html += "\">";
    append_html_escaped(html, name);
    if (is_dir) html += '/';
    html += "</a></li>\n";
  }
  html += "</ul></body></html>\n";
  return true;
}

}  // namespace khz::detail
