// SPDX-License-Identifier: Apache-2.0
// Prometheus text 0.0.4 and OpenMetrics 1.0 rendering (<khz/common/metrics_text.h>).
#include <khz/common/metrics_text.h>

#include <charconv>
#include <cmath>

namespace khz::metrics {

namespace {

bool contains_ci(std::string_view hay, std::string_view needle) noexcept {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    bool match = true;
    for (std::size_t j = 0; j < needle.size() && match; ++j) {
      char a = hay[i + j];
      if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
      match = a == needle[j];
    }
    if (match) return true;
  }
  return false;
}

void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out.push_back(c);
    }
  }
}

// Shortest text that reads back as `v`; Prometheus's spellings for the specials.
void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// OpenMetrics wants canonical bucket bounds: an integer bound reads "1.0", not "1".
void append_bound(std::string& out, double v, Format format) {
  const auto start = out.size();
  append_number(out, v);
  if (format == Format::openmetrics && out.find_first_of(".eE", start) == std::string::npos) out += ".0";
}

void append_labels(std::string& out, const FamilySnapshot& fam, const Sample& s, std::string_view le_name = {},
                   std::string_view le = {}) {
  if (fam.label_names.empty() && le_name.empty()) return;
  out.push_back('{');
  bool first = true;
  for (std::size_t i = 0; i < fam.label_names.size(); ++i) {
    if (!first) out.push_back(',');
    first = false;
    out += fam.label_names[i];
    out += "=\"";
    append_escaped(out, s.label_values[i], true);
    out.push_back('"');
  }
  if (!le_name.empty()) {
    if (!first) out.push_back(',');
    out += le_name;
    out += "=\"";
    out += le;
    out.push_back('"');
  }
  out.push_back('}');
}

const char* type_name(Kind k) {
  switch (k) {
    case Kind::counter: return "counter";
    case Kind::gauge: return "gauge";
    case Kind::histogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

Format negotiate(std::string_view accept) noexcept {
  return contains_ci(accept, "application/openmetrics-text") ? Format::openmetrics : Format::prometheus_text;
}

std::string_view content_type(Format format) noexcept {
  return format == Format::openmetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                       : "text/plain; version=0.0.4; charset=utf-8";
}

std::string render(const Registry& registry, Format format) { return render(registry.collect(), format); }

std::string render(const std::vector<FamilySnapshot>& families, Format format) {
  std::string out;
  out.reserve(families.size() * 256);
  const bool om = format == Format::openmetrics;
  for (const auto& fam : families) {
    // 0.0.4 names a counter's family with its sample name; OpenMetrics without "_total".
    std::string family_name = fam.name;
    if (fam.kind == Kind::counter && !om) family_name += "_total";
    auto help = [&] {
      out += "# HELP ";
      out += family_name;
      out.push_back(' ');
      append_escaped(out, fam.help, om);
      out.push_back('\n');
    };
    auto type = [&] {
      out += "# TYPE ";
      out += family_name;
      out.push_back(' ');
      out += type_name(fam.kind);
      out.push_back('\n');
    };
    if (om) {
      type();
      help();
    } else {
      help();
      type();
    }
    for (const auto& s : fam.samples) {
      switch (fam.kind) {
        case Kind::counter:
          out += fam.name;
          out += "_total";
          append_labels(out, fam, s);
          out.push_back(' ');
          append_number(out, s.value);
          out.push_back('\n');
          break;
        case Kind::gauge:
          out += fam.name;
          append_labels(out, fam, s);
          out.push_back(' ');
          append_number(out, s.value);
          out.push_back('\n');
          break;
        case Kind::histogram: {
          std::string le;
          for (std::size_t i = 0; i < s.buckets.size(); ++i) {
            le.clear();
            if (i < fam.bounds.size()) append_bound(le, fam.bounds[i], format); else le = "+Inf";
            out += fam.name;
            out += "_bucket";
            append_labels(out, fam, s, "le", le);
            out.push_back(' ');
            append_number(out, s.buckets[i]);
            out.push_back('\n');
          }
          out += fam.name;
          out += "_sum";
          append_labels(out, fam, s);
          out.push_back(' ');
          append_number(out, s.sum);
          out.push_back('\n');
          out += fam.name;
          out += "_count";
          append_labels(out, fam, s);
          out.push_back(' ');
          append_number(out, s.count);
          out.push_back('\n');
          break;
        }
      }
    }
  }
  if (om) out += "# EOF\n";
  return out;
}

}  // namespace khz::metrics
