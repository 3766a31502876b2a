// SPDX-License-Identifier: Apache-2.0
#include <khz/middleware/recovery.h>

#include <khz/common/exception_text.h>
#include <khz/common/log.h>
#include <khz/common/worker_pool.h>
#include <khz/protocol/response.h>

#include <cxxabi.h>
#include <execinfo.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace khz::middleware {
namespace {

// "binary(mangled+0x1f) [0x...]" with the symbol demangled when it can be.
std::string describe_frame(const char* symbol) {
  std::string line(symbol);
  const auto open = line.find('(');
  const auto plus = line.find('+', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || plus == std::string::npos || plus <= open + 1) return line;
  const std::string mangled = line.substr(open + 1, plus - open - 1);
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> plain(abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status),
                                                     &std::free);
  if (status != 0 || !plain) return line;
  return line.substr(0, open + 1) + plain.get() + line.substr(plus);
}

std::string stack_trace() {
  void* frames[48];
  const int n = ::backtrace(frames, 48);
  std::unique_ptr<char*, decltype(&std::free)> symbols(::backtrace_symbols(frames, n), &std::free);
  std::string out;
  for (int i = 1; i < n; ++i) {  // 0 is stack_trace() itself
    out += "\n  #" + std::to_string(i - 1) + " ";
    out += symbols ? describe_frame(symbols.get()[i]) : std::string("?");
  }
  return out;
}

struct State {
  RecoveryOptions options;
};

void answer(const State& s, RequestContext& ctx, const std::exception_ptr& thrown) {
  const RecoveryOptions& o = s.options;
  ctx.discard_response(o.status);
  if (o.render) {
    try {
      o.render(ctx, thrown);
      return;
    } catch (const std::exception& e) {
      KHZ_LOG(error, "recovery: render threw: " << e.what());
    } catch (...) {
      KHZ_LOG(error, "recovery: render threw a non-standard exception");
    }
    ctx.discard_response(o.status);
  }
  ctx.response().set_body(*o.body, o.content_type);
}

Task<void> recover(const State* s, RequestContext& ctx) {
  std::exception_ptr thrown;
  try {
    co_await ctx.next();
  } catch (const OffloadError&) {
    throw;  // the Engine's 503
  } catch (...) {
    thrown = std::current_exception();
  }
  if (!thrown) co_return;
  if (ctx.is_streaming()) std::rethrow_exception(thrown);  // the Engine cuts the stream off
  const std::string_view route = ctx.full_path().empty() ? std::string_view("(no route)") : ctx.full_path();
  KHZ_LOG(error, "recovery: " << ctx.method() << " " << route << " (path " << ctx.path() << ") threw: "
                              << exception_text(thrown) << (s->options.stack_trace ? stack_trace() : std::string()));
  answer(*s, ctx, thrown);
}

struct Recovery {
  std::shared_ptr<const State> state;
  Task<void> operator()(RequestContext& ctx) const { return recover(state.get(), ctx); }
};

}  // namespace

Handler recovery(RecoveryOptions options) {
  if (options.status < 400 || options.status > 599) {
    throw std::invalid_argument("RecoveryOptions::status " + std::to_string(options.status) +
                                ": want an error status, 400-599");
  }
  if (!options.body) {
    std::string body = std::to_string(options.status) + " " + std::string(reason_phrase(options.status));
    std::transform(body.begin(), body.end(), body.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
    options.body = std::move(body);
  }
  if (options.content_type.empty()) options.content_type = "text/plain; charset=utf-8";
  auto state = std::make_shared<const State>(State{std::move(options)});
  return Handler("khz::middleware::recovery", Recovery{std::move(state)}).onion();
}

}  // namespace khz::middleware
