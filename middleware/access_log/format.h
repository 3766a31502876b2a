// SPDX-License-Identifier: Apache-2.0
// One access log line, formatted from a finished exchange (private to middleware/access_log).
//
//   detail::LineFormat format(options);                        // the layout, worked out once
//   std::string_view line = format.line(buffer, ctx, done, khz::coarse_system_now());
#pragma once

#include <khz/app/request_context.h>
#include <khz/middleware/access_log.h>

#include <array>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace khz::middleware::detail {

class LineFormat {
 public:
  // `options` as AccessLog checked them (header names lower-case tokens).
  explicit LineFormat(const AccessLogOptions& options);

  // The line for `ctx` and `done`, '\n' included, written over `buffer` (whose capacity is
  // kept for the next line); `now` is the line's time. The view is into `buffer`.
  std::string_view line(std::string& buffer, RequestContext& ctx, const CompletedResponse& done,
                        std::chrono::system_clock::time_point now) const;

  class Writer;  // format.cc's raw writer into the buffer

 private:
  // A piece of the line: a field or a custom header, after its fixed text (a JSON key with its
  // separator, `,"status":`; a combined extra's ` latency_us=`).
  struct Item {
    enum class Kind { field, request_header, response_header };
    Kind kind = Kind::field;
    AccessLogField field{};
    std::string header{};   // the header's name (custom header items)
    std::string prefix{};
  };
  void json(Writer& out, RequestContext& ctx, const CompletedResponse& done,
            std::chrono::system_clock::time_point now) const;
  void combined(Writer& out, RequestContext& ctx, const CompletedResponse& done,
                std::chrono::system_clock::time_point now) const;
  bool selected(AccessLogField f) const { return selected_[static_cast<std::size_t>(f)]; }

  AccessLogFormat format_;
  std::array<bool, static_cast<std::size_t>(AccessLogField::request_id) + 1> selected_{};
  std::string request_id_header_;
  std::vector<Item> items_;  // JSON: every piece in order; combined: the extras after the fixed layout
};

}  // namespace khz::middleware::detail
