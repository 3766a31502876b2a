// SPDX-License-Identifier: Apache-2.0
// Built against the installed package: routes a request in process and checks the answer.
#include <khz/app/server.h>
#include <khz/app/testing.h>

#include <cstdio>

int main() {
  khz::Server server({.address = "127.0.0.1:0"});
  server.get("/ping", [](khz::RequestContext& ctx) { ctx.json(200, khz::H{{"message", "pong"}}); });
  khz::Response r = khz::testing::perform_request(server, "GET", "/ping");
  std::printf("%d %s\n", r.status(), std::string(r.body()).c_str());
  return r.status() == 200 && r.body() == R"({"message":"pong"})" ? 0 : 1;
}
