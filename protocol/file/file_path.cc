// SPDX-License-Identifier: Apache-2.0
#include <khz/protocol/file_path.h>

namespace khz::protocol {
namespace {

int hex(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_control(unsigned char c) noexcept { return c < 0x20 || c == 0x7f; }

}  // namespace

std::optional<std::string> relative_file_path(std::string_view path) {
  constexpr std::size_t kPathMax = 4096, kNameMax = 255;
  if (path.size() > kPathMax) return std::nullopt;
  for (std::size_t i = 0; i < path.size(); ++i) {
    const auto c = static_cast<unsigned char>(path[i]);
    if (c == '\\' || is_control(c)) return std::nullopt;
    if (c == '%' && i + 2 < path.size() && hex(path[i + 1]) >= 0 && hex(path[i + 2]) >= 0) {
      const auto d = static_cast<unsigned char>(hex(path[i + 1]) * 16 + hex(path[i + 2]));
      if (d == '.' || d == '/' || d == '\\' || is_control(d)) return std::nullopt;
    }
  }
  std::string out;
  out.reserve(path.size());
  std::size_t i = 0;
  while (i <= path.size()) {
    std::size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(i, end - i);
    i = end + 1;
    if (seg.empty() || seg == ".") continue;
    if (seg == ".." || seg.size() > kNameMax) return std::nullopt;
    if (!out.empty()) out += '/';
    out += seg;
  }
  return out;
}

bool path_within(std::string_view real, std::string_view root) noexcept {
  if (root == "/") return !real.empty() && real.front() == '/';
  if (real.size() < root.size() || real.substr(0, root.size()) != root) return false;
  return real.size() == root.size() || real[root.size()] == '/';
}

}  // namespace khz::protocol
