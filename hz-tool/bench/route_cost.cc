// SPDX-License-Identifier: Apache-2.0
// The cost of a generated route against the same route written by hand: GET /items/:id of
// test/hz/idl/thrift/store.thrift (path and query bound, validated, a struct rendered to JSON),
// registered by hz's router (groups, empty middleware lists) or directly on the engine with the
// same handler body, run in process N times (route_cost.sh runs both under callgrind), or
// served on one loop for a load generator (route_cost.sh --load).
//   route_cost generated|handwritten N
//   route_cost generated|handwritten serve PORT
#include "biz/model/demo/store/store.h"
#include "biz/router/register.h"

#include <khz/app/server.h>
#include <khz/app/testing.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

void add_route(khz::Engine& engine, const std::string& which) {
  if (which == "generated") {
    register_generated(engine);
  } else {
    engine.get("/items/:id", [](khz::RequestContext& ctx) {
      auto req = ctx.bind_and_validate<demo::store::GetItemRequest>();
      if (!req) return ctx.reject(req.errors());
      demo::store::Item resp;
      resp.id = req->id;
      resp.name = req->fields.value_or("");
      resp.tags = {req->session};
      ctx.json(200, resp);
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[2]) == "serve") {
    khz::Server server({.address = std::string("127.0.0.1:") + argv[3], .loops = 1});
    add_route(server, argv[1]);
    server.spin();
    return 0;
  }
  if (argc != 3) return 2;
  std::string which = argv[1];
  int n = std::atoi(argv[2]);
  khz::Engine engine;
  add_route(engine, which);
  std::size_t bytes = 0;
  for (int i = 0; i < n; ++i) {
    khz::Response r = khz::testing::perform_request(engine, "GET", "/items/5?fields=name", {{"Cookie", "session=s1"}});
    if (r.status() != 200) {
      std::fprintf(stderr, "status %d: %s\n", r.status(), std::string(r.body()).c_str());
      return 1;
    }
    bytes += r.body().size();
  }
  std::printf("%s: %d requests, %zu body bytes\n", which.c_str(), n, bytes);
}
