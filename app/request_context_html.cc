// SPDX-License-Identifier: Apache-2.0
// RequestContext::html: a template of the Engine's set (<khz/app/templates.h>) rendered into
// the response body; a failure answers 500 and says why in the log.
#include <khz/app/engine.h>
#include <khz/app/request_context.h>
#include <khz/common/log.h>

#include <exception>
#include <string>

namespace khz {

namespace {
constexpr std::string_view html_type = "text/html; charset=utf-8";
}

void RequestContext::html(int status, std::string_view name, const Json& data) {
  check_live("html");
  Response& r = exchange_->response;
  const Templates* templates = engine_ != nullptr ? engine_->templates() : nullptr;
  std::string error;
  bool ok = false;
  r.body_buffer().clear();
  if (templates == nullptr) {
    error = "no templates loaded (Engine::load_templates)";
  } else {
    try {
      ok = templates->render_to(r.body_buffer(), name, data, &error);
    } catch (const std::exception& e) {  // std::bad_alloc, or a reload's filesystem error
      error = e.what();
    }
  }
  if (!ok) {
    KHZ_LOG(error, "html(" << status << ", \"" << name << "\") for " << exchange_->request.method() << " "
                           << exchange_->request.path() << ": " << error << "; answering 500");
    r.set_status(500);
    r.set_body("500 internal server error", "text/plain; charset=utf-8");
    return;
  }
  r.set_status(status);
  r.headers().set("Content-Type", html_type);
}

void RequestContext::html_raw(int status, std::string_view html) {
  check_live("html_raw");
  data(status, html_type, html);
}

}  // namespace khz
