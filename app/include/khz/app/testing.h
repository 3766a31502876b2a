// SPDX-License-Identifier: Apache-2.0
// khz::testing: run requests through an Engine in process, without a listening socket (Hertz's
// ut.PerformRequest).
//
//   khz::Engine engine;
//   engine.get("/ping", ping);
//   khz::Response r = khz::testing::perform_request(engine, "GET", "/ping");
//   REQUIRE(r.status() == 200);
//   REQUIRE(r.body() == R"({"message":"pong"})");
//
//   auto r2 = khz::testing::perform_request(engine, "POST", "/users?notify=1",
//                                           {{"Content-Type", "application/json"}}, R"({"name":"ann"})");
//
//   std::vector<khz::testing::Header> headers;                 // built at run time
//   headers.emplace_back("Authorization", "Bearer " + token);  // owned strings
//   auto r3 = khz::testing::perform_request(engine, "GET", "/me", headers);
//
// Where the handler runs: on a real transport loop ($KHZ_TRANSPORT, else the default backend),
// driven by the calling thread for the length of the call: so timers work, ctx.offload works,
// and the khz client works (a handler may call another server, a real one started by the
// test). The loop belongs to the calling thread and lives until the thread exits; it stands
// still between calls. What a handler leaves on it, such as a khz::Client's pooled
// connections, stays valid across calls and may be destroyed on this thread between them (a
// Client declared in the test body is fine); do not keep such a Client in a static that
// outlives the thread. Must not be called from a thread that runs an event loop (a handler, or
// run_blocking).
// The request: a `Host: localhost` header is added unless given; peer_address() is
// "in-process"; cancel_signal() is null; a streamed body is collected into the returned
// Response, and a file body (static_fs, ctx.file) is read into its body().
#pragma once

#include <khz/app/engine.h>
#include <khz/protocol/response.h>

#include <concepts>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace khz::testing {

// One request header field; owns its name and value, so headers may be built at run time.
struct Header {
  Header() = default;
  // Anything a std::string can be made from: literals, std::string (moved in), string_view.
  template <class Name, class Value>
    requires std::constructible_from<std::string, Name&&> && std::constructible_from<std::string, Value&&>
  Header(Name&& n, Value&& v) : name(std::forward<Name>(n)), value(std::forward<Value>(v)) {}

  std::string name{};
  std::string value{};
};

// `headers`: a braced list ({{"Accept", "text/plain"}}) or a vector built at run time.
Response perform_request(Engine& engine, std::string_view method, std::string_view target,
                         const std::vector<Header>& headers = {}, std::string_view body = {});

// The same with a request built by the caller.
Response perform_request(Engine& engine, const Request& request);

}  // namespace khz::testing
