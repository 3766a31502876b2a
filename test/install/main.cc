// SPDX-License-Identifier: Apache-2.0
// Built against the installed package: routes a request in process and checks the answer. The
// options structs are set with designated initializers that leave most fields out, which a
// -Wextra build must take without a warning.
#include <khz/app/client.h>
#include <khz/app/server.h>
#include <khz/app/testing.h>
#include <khz/governance/discovery.h>
#include <khz/governance/etcd.h>
#include <khz/middleware/recovery.h>
#include <khz/transport/listen.h>
#include <khz/transport/transporter.h>

#include <cstdio>
#include <stdexcept>

int main() {
  khz::Server server({.address = "127.0.0.1:0", .loops = 1});
  khz::ServerOptions with_h2{.address = "127.0.0.1:0", .http2 = {.max_concurrent_streams = 10}};
  khz::ClientOptions client{.max_redirects = 0};
  khz::RetryPolicy retry{.max_attempts = 2};
  khz::EngineOptions engine{.redirect_fixed_path = true, .handler_error = {.status = 503}};
  khz::ServerOptions on_unix{.address = "unix:/tmp/khz.sock", .unix_socket_mode = 0600, .transport = "asio"};
  khz::ServerOptions inherited{.listen_fd = 3, .loops = 1};
  khz::ConnectionInfo info{.peer_address = "unix:"};
  khz::transport::InheritedSocket socket{.fd = 3};
  khz::transport::TransporterOptions transport{.address = "unix:@khz", .listen_fd = -1};
  (void)with_h2, (void)client, (void)retry, (void)engine, (void)on_unix, (void)inherited, (void)info, (void)socket,
      (void)transport;
  server.use(khz::middleware::recovery({.stack_trace = false}));
  server.get("/boom", [](khz::RequestContext&) { throw std::runtime_error("boom"); });
  server.get("/ping", [](khz::RequestContext& ctx) { ctx.json(200, khz::H{{"message", "pong"}}); });
  khz::Response r = khz::testing::perform_request(server, "GET", "/ping");
  std::printf("%d %s\n", r.status(), std::string(r.body()).c_str());
  // The backends register themselves when linked: the installed package keeps them.
  const auto backends = khz::transport::transporter_names();
  std::printf("transports:");
  for (const auto& name : backends) std::printf(" %s", name.c_str());
  std::printf("\n");
  const bool registered = !backends.empty() && backends.front() == "netpoll";
  // The middleware catalogue is in the package, each as its own target and in khz::khz.
  const int boom = khz::testing::perform_request(server, "GET", "/boom").status();
  // Governance is in the package: an instance round-trips through its registry form, and a
  // resolver fed by hand resolves a service name.
  khz::governance::EtcdOptions etcd{.endpoint = "http://127.0.0.1:2379", .ttl = std::chrono::seconds(5)};
  (void)etcd;
  const khz::governance::Instance instance{.service = "reviews", .address = "127.0.0.1:9080", .tags = {{"version", "v2"}}};
  khz::governance::DiscoveryResolver resolver(nullptr);
  resolver.update("reviews", {&instance, 1});
  const bool governed = khz::governance::parse_instance(khz::governance::to_json(instance)) == instance &&
                        resolver.resolve("reviews", 80).size() == 1;
  return governed && boom == 500 && r.status() == 200 && r.body() == R"({"message":"pong"})" && registered ? 0 : 1;
}
