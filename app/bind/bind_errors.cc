// SPDX-License-Identifier: Apache-2.0
// BindErrors and their RFC 9457 rendering; BindPath, which names a value only when it fails.
#include <khz/app/bind.h>

#include <algorithm>
#include <limits>
#include <string>

namespace khz {

void BindErrors::add(std::string field, std::string message, int status) {
  // 415 (what the body is) outranks 413 (how big), which outranks 400 (what is in it)
  auto rank = [](int s) { return s == 415 ? 3 : s == 413 ? 2 : s != 0 ? 1 : 0; };
  if (rank(status) > rank(status_)) status_ = status;
  errors_.push_back({std::move(field), std::move(message)});
}

void BindErrors::append(const BindErrors& other) {
  for (const auto& e : other.errors_) add(e.field, e.message, other.status_);
}

std::string BindErrors::summary() const {
  std::string out;
  for (const auto& e : errors_) {
    if (!out.empty()) out.append("; ");
    out.append(e.field);
    if (!e.field.empty()) out.push_back(' ');
    out.append(e.message);
  }
  return out;
}

std::string BindErrors::problem_json() const {
  std::string_view title = status_ == 415 ? "Unsupported Media Type" : status_ == 413 ? "Content Too Large" : "Bad Request";
  std::string out = R"({"type":"about:blank","title":)";
  detail::write_json_string(out, title);
  out.append(R"(,"status":)");
  detail::write_json_number(out, static_cast<std::int64_t>(status_ == 0 ? 400 : status_));
  out.append(R"(,"detail":)");
  std::string detail = errors_.size() == 1 ? summary() : std::to_string(errors_.size()) + " fields are invalid";
  detail::write_json_string(out, detail);
  out.append(R"(,"errors":[)");
  for (std::size_t i = 0; i < errors_.size(); ++i) {
    if (i != 0) out.push_back(',');
    out.append(R"({"field":)");
    detail::write_json_string(out, errors_[i].field);
    out.append(R"(,"message":)");
    detail::write_json_string(out, errors_[i].message);
    out.push_back('}');
  }
  out.append("]}");
  return out;
}

namespace detail {

void BindState::fail(std::string message, int status) { errors.add(path.str(), std::move(message), status); }
void BindState::fail(const char* message, int status) { errors.add(path.str(), message, status); }

void BindState::fail_kind(std::string_view expected, JsonKind got) {
  fail(std::string("must be ") + std::string(expected) + ", not " + std::string(describe(got)));
}

void BindState::fail_range(long double min, long double max) {
  fail("must be an integer from " + format_number(min) + " to " + format_number(max));
}

void BindState::fail_rule(const FieldRules& r, RuleFailure what) {
  if (!r.message.empty()) return fail(std::string(r.message));
  // "must be at least 2 characters long", "must have at most 16 items", "must be 1 to 64 ..."
  auto bounds = [&](std::string_view verb, std::string_view unit) {
    std::string m = "must " + std::string(verb) + " ";
    if (r.max_length == std::numeric_limits<std::size_t>::max()) m += "at least " + std::to_string(r.min_length);
    else if (r.min_length == 0) m += "at most " + std::to_string(r.max_length);
    else m += std::to_string(r.min_length) + " to " + std::to_string(r.max_length);
    return m + " " + std::string(unit);
  };
  switch (what) {
    case RuleFailure::required: return fail("is required");
    case RuleFailure::length: return fail(bounds("be", "characters long"));
    case RuleFailure::items: return fail(bounds("have", "items"));
    case RuleFailure::one_of: return fail("must be one of " + std::string(r.one_of));
    case RuleFailure::pattern: return fail("must match " + std::string(r.pattern));
    case RuleFailure::format: return fail(std::string(format_message(r.format)));
    case RuleFailure::min: return fail("must be at least " + format_number(r.min));
    case RuleFailure::max: return fail("must be at most " + format_number(r.max));
  }
}

std::string BindPath::str() const {
  std::string out;
  for (std::size_t i = 0; i < std::min(depth_, kMax); ++i) {
    const Part& p = parts_[i];
    if (p.is_index) {
      out.push_back('[');
      out.append(std::to_string(p.index));
      out.push_back(']');
    } else {
      if (!out.empty()) out.push_back('.');
      out.append(p.name, p.size);
    }
  }
  return out;
}

}  // namespace detail
}  // namespace khz
