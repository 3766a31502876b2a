// SPDX-License-Identifier: Apache-2.0
// khz::testing: run requests through an Engine in process, without sockets (Hertz's
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
// The handler runs to completion on a private loop on the calling thread (timers work);
// a streamed body is collected into the returned Response.
#pragma once

#include <khz/app/engine.h>
#include <khz/protocol/response.h>

#include <initializer_list>
#include <string_view>

namespace khz::testing {

struct Header {
  std::string_view name{};
  std::string_view value{};
};

Response perform_request(Engine& engine, std::string_view method, std::string_view target,
                         std::initializer_list<Header> headers = {}, std::string_view body = {});

// The same with a request built by the caller.
Response perform_request(Engine& engine, const Request& request);

}  // namespace khz::testing
