// SPDX-License-Identifier: Apache-2.0
// khz-gateway: a reverse proxy in front of HTTP upstreams (<khz/proxy/reverse_proxy.h>), from a
// configuration file (routes by host and path prefix, upstream groups, middleware per route,
// TLS: docs/gateway.md) or, for the simplest case, from flags that forward every path:
//
//   khz-gateway --config gateway.json                  # --check: only read and check it
//   khz-gateway --listen 127.0.0.1:8080 --upstream http://127.0.0.1:9000,http://127.0.0.1:9001 --timeout 10
//
// With the flag form, --timeout S is the upstream response timeout (request sent to response
// head): past it the client gets 504. --listen also overrides a file's "listen". Stops on
// SIGINT/SIGTERM, draining requests in flight.
#include "config.h"
#include "gateway.h"

#include <khz/app/server.h>
#include <khz/common/version.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace {

// The flag form as a configuration: one route, "/", one upstream group.
khz::gateway::GatewayConfig from_flags(const std::string& listen, const std::vector<std::string>& upstreams,
                                       double timeout_seconds, const std::string& balance) {
  khz::gateway::GatewayConfig c;
  c.listen = listen;
  khz::gateway::UpstreamConfig group;
  for (const std::string& u : upstreams) group.targets.push_back({.url = u});
  group.balance = balance;
  group.response_timeout = std::chrono::milliseconds(static_cast<long long>(timeout_seconds * 1000));
  c.upstreams.emplace("default", std::move(group));
  c.routes.push_back({.upstream = "default"});
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"khz-gateway: a reverse proxy for HTTP upstreams, from a configuration file or flags", "khz-gateway"};
  std::string config_file;
  bool check_only = false;
  std::string listen;
  std::vector<std::string> upstreams;
  double timeout_seconds = 30;
  std::string balance = "round_robin";
  app.add_option("-c,--config", config_file, "configuration file (JSON; docs/gateway.md)")->check(CLI::ExistingFile);
  app.add_flag("--check", check_only, "read and check the configuration, then exit (0: it is good)");
  app.add_option("--listen", listen, "address to listen on (host:port); default 127.0.0.1:8080");
  app.add_option("--upstream", upstreams, "upstream URL(s), comma-separated (http://host:port): every path goes there")
      ->delimiter(',');
  app.add_option("--timeout", timeout_seconds, "upstream response timeout in seconds (with --upstream)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--balance", balance,
                 "with --upstream: round_robin, least_request, or consistent_hash (on the client's address: a "
                 "client sticks to one upstream)")
      ->capture_default_str()
      ->check(CLI::IsMember({"round_robin", "least_request", "consistent_hash"}));
  app.set_version_flag("--version", std::string("khz-gateway (khz ") + std::string(khz::version()) + ")");
  CLI11_PARSE(app, argc, argv);
  if (config_file.empty() == upstreams.empty()) {
    std::fprintf(stderr, "khz-gateway: give either --config FILE or --upstream URL[,URL...] (see --help)\n");
    return 2;
  }

  try {
    khz::gateway::GatewayConfig config = config_file.empty()
                                             ? from_flags(listen.empty() ? "127.0.0.1:8080" : listen, upstreams,
                                                          timeout_seconds, balance)
                                             : khz::gateway::load_config_file(config_file);
    if (!listen.empty()) config.listen = listen;
    if (check_only) {
      std::printf("%s: good\n", config_file.empty() ? "flags" : config_file.c_str());
      return 0;
    }
    khz::Server server(khz::gateway::server_options(config));
    khz::gateway::Gateway gateway(server, config);  // after the server: destroyed first
    server.spin();
  } catch (const khz::gateway::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  } catch (const std::exception& e) {  // a bad address or URL, a port in use, options refused
    std::fprintf(stderr, "khz-gateway: %s\n", e.what());
    return 1;
  }
  return 0;
}
