// SPDX-License-Identifier: Apache-2.0
// The state behind RequestContext's body filters (app/body_filter.cc), private to app: the
// context owns it, made on the first filter and kept with the pooled context.
#pragma once

#include <khz/app/body_filter.h>
#include <khz/common/task.h>
#include <khz/protocol/server_core.h>

#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace khz::detail {

struct FilterState;

// Stands in for the protocol server's BodyWriter while response filters are registered: the
// first write asks each filter's start(), every write goes through the accepting filters.
class FilteringBodyWriter final : public BodyWriter {
 public:
  explicit FilteringBodyWriter(FilterState& state) noexcept : state_(state) {}
  Task<std::error_code> write(std::string_view chunk) override;
  bool started() const noexcept override;

 private:
  FilterState& state_;
};

// Used from the request's loop only.
struct FilterState {
  explicit FilterState() : writer(*this) {}

  RequestContext* ctx = nullptr;
  Exchange* exchange = nullptr;
  BodyWriter* inner = nullptr;  // the protocol server's writer, while `writer` stands in
  FilteringBodyWriter writer;
  std::vector<std::unique_ptr<ResponseFilter>> response;  // in registration order
  std::vector<unsigned char> accepted;  // per filter, after start() (bytes: vector<bool>'s assign costs)
  bool started = false;        // start() was asked
  std::string scratch;         // the pieces between two filters

  std::unique_ptr<RequestBodyFilter> request;
  std::string decoded;         // the last piece read_body_chunk handed out
  std::error_code request_error;
  bool request_done = false;

  // Asks each filter's start(), innermost first; true when one accepted.
  bool start(bool streamed);
  // Runs `piece` through the accepting filters (innermost first); the result is in `out`.
  void run(std::string_view piece, bool last, std::string& out);
  // Forgets the request's filters and gives the exchange its writer back.
  void clear() noexcept;
};

}  // namespace khz::detail
