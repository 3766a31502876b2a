// SPDX-License-Identifier: Apache-2.0
// The hello service: GET /ping -> 200 {"message":"pong"} on 127.0.0.1:8888.
//
//   ./build/bin/hello [address]      then: curl localhost:8888/ping
#include <khz/app/server.h>

int main(int argc, char** argv) {
  khz::Server server({.address = argc > 1 ? argv[1] : "127.0.0.1:8888"});

  server.get("/ping", [](khz::RequestContext& ctx) {
    ctx.json(200, khz::H{{"message", "pong"}});
  });

  server.get("/hello/:name", [](khz::RequestContext& ctx) {
    ctx.string(200, "hello, " + std::string(ctx.param("name")) + "\n");
  });

  server.spin();
}
