// SPDX-License-Identifier: Apache-2.0
// The hello service: GET /ping -> 200 {"message":"pong"} on 127.0.0.1:8888.
//
//   ./build/bin/hello [address]      then: curl localhost:8888/ping
//   ./build/bin/hello --help | --version
#include <khz/app/server.h>
#include <khz/common/version.h>

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

int main(int argc, char** argv) {
  std::string address = "127.0.0.1:8888";
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::printf("usage: hello [ADDRESS]\n  serves GET /ping and GET /hello/:name on ADDRESS "
                  "(default 127.0.0.1:8888; host:port, [v6]:port)\n");
      return 0;
    }
    if (arg == "--version") {
      std::printf("hello (khz %s)\n", khz::version().data());
      return 0;
    }
    if (arg.starts_with("-") || i > 1) {
      std::fprintf(stderr, "hello: unexpected argument '%s'\nusage: hello [ADDRESS]\n", argv[i]);
      return 2;
    }
    address = arg;
  }
  try {
    khz::Server server({.address = address});

    server.get("/ping", [](khz::RequestContext& ctx) {
      ctx.json(200, khz::H{{"message", "pong"}});
    });

    server.get("/hello/:name", [](khz::RequestContext& ctx) {
      ctx.string(200, "hello, " + std::string(ctx.param("name")) + "\n");
    });

    server.spin();
  } catch (const std::exception& e) {  // a bad address, a port in use
    std::fprintf(stderr, "hello: %s\n", e.what());
    return 1;
  }
}
