// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/method_override.h>

#include <khz/app/request_context.h>
#include <khz/common/log.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace khz::middleware {
namespace {

char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

struct MethodOverride {
  std::shared_ptr<const MethodOverrideOptions> options;

  void refuse(RequestContext& ctx, std::string_view why) const {
    KHZ_LOG(info, "method_override: " << ctx.method() << " " << ctx.path() << " refused: " << why);
    ctx.string(400, "400 bad request: method override refused");
    ctx.abort();
  }

  void operator()(RequestContext& ctx) const {
    if (ctx.method() != "POST") return;
    const MethodOverrideOptions& o = *options;
    std::string_view asked;
    const char* source = nullptr;
    if (!o.header.empty()) {
      const std::size_t n = ctx.request().headers().count(o.header);
      if (n > 1) return refuse(ctx, o.header + " sent " + std::to_string(n) + " times");
      if (n == 1) {
        asked = ctx.header(o.header);
        source = "header";
      }
    }
    if (source == nullptr && !o.form_field.empty() && ctx.has_form(o.form_field)) {
      asked = ctx.form(o.form_field);
      source = "form field";
    }
    if (source == nullptr && !o.query_key.empty() && ctx.has_query(o.query_key)) {
      asked = ctx.query(o.query_key);
      source = "query key";
    }
    if (source == nullptr) return;
    for (const std::string& allowed : o.allowed_methods) {
      if (allowed.size() != asked.size()) continue;
      bool same = true;
      for (std::size_t i = 0; i < asked.size() && same; ++i) same = upper(asked[i]) == allowed[i];
      if (same) {
        ctx.request().set_method(allowed);
        return;
      }
    }
    refuse(ctx, std::string("the ") + source + " asks for a method not allowed (" + std::to_string(asked.size()) +
                    " bytes)");
  }
};

}  // namespace

Handler method_override(MethodOverrideOptions options) {
  if (options.header.empty() && options.form_field.empty() && options.query_key.empty()) {
    throw std::invalid_argument("MethodOverrideOptions: no header, form field or query key to look at");
  }
  if (options.allowed_methods.empty()) throw std::invalid_argument("MethodOverrideOptions::allowed_methods: empty");
  for (std::string& m : options.allowed_methods) {
    if (m.empty()) throw std::invalid_argument("MethodOverrideOptions::allowed_methods: an empty method");
    if (!is_token(m)) throw std::invalid_argument("MethodOverrideOptions::allowed_methods: \"" + m + "\" is not a token");
    for (char& c : m) c = upper(c);
    if (m == "GET" || m == "HEAD" || m == "CONNECT") {
      throw std::invalid_argument("MethodOverrideOptions::allowed_methods: " + m + " may not be reached by override");
    }
  }
  return Handler("khz::middleware::method_override",
                 MethodOverride{std::make_shared<const MethodOverrideOptions>(std::move(options))});
}

}  // namespace khz::middleware
