// SPDX-License-Identifier: Apache-2.0
#include <khz/common/log_context.h>

namespace khz::log {

ContextFields::Span ContextFields::keep(std::string_view s) {
  const Span span{arena_.size(), s.size()};
  arena_.append(s);
  return span;
}

void ContextFields::add(const Field& field) {
  Field copy = field;
  const Span key = keep(field.key);
  const Span text = field.kind == Field::Kind::string ? keep(field.text) : Span{0, 0};
  fields_.push_back(copy);
  spans_.push_back(key);
  spans_.push_back(text);
}


std::span<const Field> ContextFields::fields() noexcept {
  // The arena may have moved since each add(): the views are made now.
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    const Span key = spans_[2 * i];
    const Span text = spans_[2 * i + 1];
    fields_[i].key = std::string_view(arena_).substr(key.offset, key.size);
    if (fields_[i].kind == Field::Kind::string) fields_[i].text = std::string_view(arena_).substr(text.offset, text.size);
  }
  return fields_;
}

void ContextFields::clear() noexcept {
  fields_.clear();
  spans_.clear();
  arena_.clear();
}

namespace {
// This thread's innermost ScopedFields; each links to the one outside it.
thread_local ScopedFields* innermost = nullptr;
}  // namespace

ScopedFields::ScopedFields(std::initializer_list<Field> fields) : outer_(innermost) {
  for (const Field& field : fields) fields_.add(field);
  fields_.fields();
  if (outer_ != nullptr) outer_->inner_ = this;
  innermost = this;
}

ScopedFields::~ScopedFields() {
  // Unlinked wherever it sits, should scopes end out of order.
  if (outer_ != nullptr) outer_->inner_ = inner_;
  if (inner_ != nullptr) {
    inner_->outer_ = outer_;
  } else {
    innermost = outer_;
  }
}

void ScopedFields::collect(ContextFields& out) {
  ScopedFields* scope = innermost;
  if (scope == nullptr) return;
  while (scope->outer_ != nullptr) scope = scope->outer_;
  for (; scope != nullptr; scope = scope->inner_) {
    for (const Field& field : scope->fields_.fields()) out.add(field);
  }
}

}  // namespace khz::log
