// SPDX-License-Identifier: Apache-2.0
// The text and JSON-lines formats of a log record.
#include <khz/common/json_text.h>
#include <khz/common/log_sink.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace khz::log {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// "2026-12-05T16:33:43.123Z"; the part up to the second is cached per thread.
void append_time(std::string& out, std::chrono::system_clock::time_point t) {
  thread_local std::time_t cached_secs = -1;
  thread_local char cached[64];
  const auto since = t.time_since_epoch();
  const std::time_t secs = static_cast<std::time_t>(std::chrono::floor<std::chrono::seconds>(since).count());
  const int ms = static_cast<int>(std::chrono::floor<std::chrono::milliseconds>(since).count() % 1000);
  if (secs != cached_secs) {
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_secs = secs;
  }
  out.append(cached, 19);
  const char frac[] = {'.', static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                       static_cast<char>('0' + ms % 10), 'Z'};
  out.append(frac, sizeof frac);
}

template <class T>
void append_number(std::string& out, T value) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, r.ptr);
}

bool is_control(unsigned char c) noexcept { return c < 0x20 || c == 0x7f; }

// Control bytes as \n \r \t or \xNN; with `quotes`, '"' and '\' escaped too.
void append_text_escaped(std::string& out, std::string_view s, bool quotes) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out.append("\\n");
    } else if (c == '\r') {
      out.append("\\r");
    } else if (c == '\t') {
      out.append("\\t");
    } else if (is_control(c)) {
      const char esc[] = {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
      out.append(esc, sizeof esc);
    } else if (quotes && (c == '"' || c == '\\')) {
      out.push_back('\\');
      out.push_back(ch);
    } else {
      out.push_back(ch);
    }
  }
}

bool needs_quotes(std::string_view s) noexcept {
  if (s.empty()) return true;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || is_control(c)) return true;
  }
  return false;
}

void append_text_value(std::string& out, const Field& field) {
  switch (field.kind) {
    case Field::Kind::string:
      if (needs_quotes(field.text)) {
        out.push_back('"');
        append_text_escaped(out, field.text, true);
        out.push_back('"');
      } else {
        out.append(field.text);
      }
      return;
    case Field::Kind::int64: append_number(out, field.int64); return;
    case Field::Kind::uint64: append_number(out, field.uint64); return;
    case Field::Kind::float64: append_number(out, field.float64); return;
    case Field::Kind::boolean: out.append(field.boolean ? "true" : "false"); return;
  }
}

void append_json_value(std::string& out, const Field& field) {
  switch (field.kind) {
    case Field::Kind::string: append_json_string(out, field.text); return;
    case Field::Kind::int64: append_number(out, field.int64); return;
    case Field::Kind::uint64: append_number(out, field.uint64); return;
    case Field::Kind::float64:
      if (std::isfinite(field.float64)) {
        append_number(out, field.float64);
      } else {
        out.append("null");
      }
      return;
    case Field::Kind::boolean: out.append(field.boolean ? "true" : "false"); return;
  }
}

constexpr const char* kTextNames[] = {"TRACE", "DEBUG", "INFO ", "WARN ", "ERROR", "OFF  "};

}  // namespace

void format_text(std::string& out, const Record& record) {
  append_time(out, record.time);
  out.push_back(' ');
  out.append(kTextNames[static_cast<int>(record.level) + 1], 5);
  out.push_back(' ');
  if (!record.logger.empty()) {
    out.push_back('[');
    append_text_escaped(out, record.logger, false);
    out.append("] ");
  }
  out.append(record.message);  // as given: a multi-line message (a stack trace) stays readable
  for (const Field& field : record.fields) {
    out.push_back(' ');
    append_text_escaped(out, field.key, false);
    out.push_back('=');
    append_text_value(out, field);
  }
  out.push_back('\n');
}

void format_json(std::string& out, const Record& record) {
  out.append("{\"time\":\"");
  append_time(out, record.time);
  out.append("\",\"level\":\"");
  out.append(to_string(record.level));
  out.push_back('"');
  if (!record.logger.empty()) {
    out.append(",\"logger\":");
    append_json_string(out, record.logger);
  }
  out.append(",\"msg\":");
  append_json_string(out, record.message);
  for (const Field& field : record.fields) {
    out.push_back(',');
    append_json_string(out, field.key);
    out.push_back(':');
    append_json_value(out, field);
  }
  out.append("}\n");
}

}  // namespace khz::log
