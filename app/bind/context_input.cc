// SPDX-License-Identifier: Apache-2.0
// RequestContext as binding's input, and reject(): binding errors into the response.
#include <khz/app/engine.h>
#include <khz/app/request_context.h>
#include <khz/common/log.h>
#include <khz/protocol/form_error.h>
#include <khz/protocol/header_map.h>

namespace khz {
namespace detail {

std::size_t ContextBindInput::values(Source source, std::string_view name, Visit visit, void* state) {
  std::size_t found = 0;
  switch (source) {
    case Source::path:
      for (std::size_t i = 0; i < ctx_.params_.size(); ++i) {
        if (ctx_.params_[i].key == name) ++found, visit(state, ctx_.params_[i].value);
      }
      break;
    case Source::query:
      if (!ctx_.query_parsed_) ctx_.parse_query();
      for (const auto& [k, v] : ctx_.query_) {
        if (k == name) ++found, visit(state, v);
      }
      break;
    case Source::header:
      for (const auto& f : ctx_.exchange_->request.headers()) {
        if (iequals(f.name, name)) ++found, visit(state, f.value);
      }
      break;
    case Source::cookie:
      found = ctx_.visit_cookies(name, visit, state);
      break;
    case Source::form:
      found = ctx_.visit_form(name, visit, state);
      break;
    case Source::json:
      break;
  }
  return found;
}

std::string_view ContextBindInput::content_type() { return ctx_.header("Content-Type"); }
std::string_view ContextBindInput::body() { return ctx_.body(); }
std::string_view ContextBindInput::keep(std::string_view text) { return ctx_.request().arena().copy(text); }
bool ContextBindInput::body_is_form() { return ctx_.body_is_form(); }
bool ContextBindInput::form_failed(std::string& message, int& status) {
  std::error_code ec = ctx_.form_parse_error();
  if (!ec) return false;
  message = "malformed form: " + ec.message();
  status = protocol::form_error_status(ec);
  return true;
}

}  // namespace detail

void RequestContext::reject(const BindErrors& errors) {
  check_live("reject");
  KHZ_LOG(info, "bind " << method() << " " << (full_path_.empty() ? path() : full_path_) << " from "
                        << peer_address() << ": " << errors.status() << " " << errors.summary());
  if (engine_ != nullptr && engine_->bind_error_handler()) {
    engine_->bind_error_handler()(*this, errors);
  } else {
    data(errors.status() == 0 ? 400 : errors.status(), "application/problem+json", errors.problem_json());
  }
  aborted_ = true;
}

}  // namespace khz

namespace khz {

std::size_t RequestContext::visit_cookies(std::string_view name, BindInput::Visit visit, void* state) {
  std::size_t found = 0;
  for (const CookiePair& c : cookies()) {
    if (c.name == name) ++found, visit(state, c.value);
  }
  return found;
}


}  // namespace khz
