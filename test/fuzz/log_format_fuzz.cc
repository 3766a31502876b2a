// SPDX-License-Identifier: Apache-2.0
// khz::log::format_json and format_text on arbitrary logger names, messages, keys and string
// values: the JSON line is one line of valid UTF-8 with no raw control byte, every string in
// it is well escaped and, for ASCII input, decodes back to the input; the text line's fields
// hold no raw control byte and a quoted value decodes back to the input.
#include <khz/common/log_sink.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// A JSON string at s[i] (its opening quote); returns the decoded bytes (\u escapes below 0x80
// only, the formatter's) and moves i past the closing quote.
std::string json_string(std::string_view s, std::size_t& i) {
  check(i < s.size() && s[i] == '"');
  ++i;
  std::string out;
  for (;;) {
    check(i < s.size());
    const char c = s[i++];
    if (c == '"') return out;
    check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    check(i < s.size());
    const char e = s[i++];
    switch (e) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        check(i + 4 <= s.size());
        const std::string hex(s.substr(i, 4));
        check(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
        const long v = std::strtol(hex.c_str(), nullptr, 16);
        check(v < 0x20 || v == 0x7f);
        out.push_back(static_cast<char>(v));
        i += 4;
        break;
      }
      default: check(false);
    }
  }
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    std::uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (std::size_t k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n;
  }
  return true;
}

bool ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Four parts split at 0xFF 0xFE pairs: logger, message, key, value.
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view parts[4];
  for (int p = 0; p < 3; ++p) {
    const std::size_t cut = in.find("\xff\xfe");
    parts[p] = in.substr(0, cut);
    in = cut == std::string_view::npos ? std::string_view() : in.substr(cut + 2);
  }
  parts[3] = in;
  const khz::log::Field fields[] = {khz::log::f(parts[2], parts[3]), khz::log::f("n", static_cast<std::int64_t>(size))};
  const khz::log::Record record{khz::log::Level::info, std::chrono::system_clock::time_point(std::chrono::seconds(size)),
                                parts[0], parts[1], fields};

  std::string json;
  khz::log::format_json(json, record);
  check(json.size() >= 3 && json.back() == '\n' && json.find('\n') == json.size() - 1);
  check(valid_utf8(json));
  std::size_t i = 0;
  check(json[i++] == '{');
  const std::string_view expected_keys[] = {"time", "level"};
  for (std::string_view key : expected_keys) {
    check(json_string(json, i) == key);
    check(json[i++] == ':');
    json_string(json, i);
    check(json[i++] == ',');
  }
  std::string key = json_string(json, i);
  if (!parts[0].empty()) {
    check(key == "logger");
    check(json[i++] == ':');
    const std::string logger = json_string(json, i);
    if (ascii(parts[0])) check(logger == parts[0]);
    check(json[i++] == ',');
    key = json_string(json, i);
  }
  check(key == "msg");
  check(json[i++] == ':');
  const std::string message = json_string(json, i);
  if (ascii(parts[1])) check(message == parts[1]);
  check(json[i++] == ',');
  const std::string field_key = json_string(json, i);
  if (ascii(parts[2])) check(field_key == parts[2]);
  check(json[i++] == ':');
  const std::string value = json_string(json, i);
  if (ascii(parts[3])) check(value == parts[3]);
  check(json.substr(i) == ",\"n\":" + std::to_string(size) + "}\n");

  // Text: after the message, the fields carry no raw control byte; a quoted value decodes back.
  std::string text;
  khz::log::format_text(text, record);
  check(text.back() == '\n');
  const std::string tail = " n=" + std::to_string(size) + "\n";
  check(text.size() > tail.size() && text.compare(text.size() - tail.size(), tail.size(), tail) == 0);
  const std::string field_part = text.substr(0, text.size() - tail.size());
  std::string expected_head;
  {
    // Rebuild "=value" the way the sink documents it and compare the end of the line.
    std::string v(parts[3]);
    bool quote = v.empty();
    for (char c : v) {
      const auto u = static_cast<unsigned char>(c);
      quote = quote || c == ' ' || c == '"' || c == '=' || c == '\\' || u < 0x20 || u == 0x7f;
    }
    std::string encoded;
    for (char c : v) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '\n') encoded += "\\n";
      else if (c == '\r') encoded += "\\r";
      else if (c == '\t') encoded += "\\t";
      else if (u < 0x20 || u == 0x7f) {
        static const char hex[] = "0123456789abcdef";
        encoded += "\\x";
        encoded += hex[u >> 4];
        encoded += hex[u & 15];
      } else if (quote && (c == '"' || c == '\\')) {
        encoded += '\\';
        encoded += c;
      } else {
        encoded += c;
      }
    }
    expected_head = "=" + (quote ? "\"" + encoded + "\"" : encoded);
  }
  check(field_part.size() >= expected_head.size() &&
        field_part.compare(field_part.size() - expected_head.size(), expected_head.size(), expected_head) == 0);
  for (std::size_t k = field_part.size() - expected_head.size(); k < field_part.size(); ++k) {
    const auto u = static_cast<unsigned char>(field_part[k]);
    check(u >= 0x20 && u != 0x7f);
  }
  return 0;
}
