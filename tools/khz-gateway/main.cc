// SPDX-License-Identifier: Apache-2.0
// khz-gateway: a reverse proxy in front of one or more HTTP upstreams (<khz/proxy/reverse_proxy.h>).
// Every path is forwarded unchanged, with the method, the target as sent, the fields (minus
// the hop-by-hop ones, plus X-Forwarded-*) and the body, streamed both ways; several upstreams
// are balanced round robin, and one that refuses is tried on the next.
//
//   khz-gateway --listen 127.0.0.1:8080 --upstream http://127.0.0.1:9000,http://127.0.0.1:9001 --timeout 10
//
// --timeout S is the upstream response timeout (request sent to response head): past it the
// client gets 504. Stops on SIGINT/SIGTERM, draining requests in flight.
#include <khz/app/server.h>
#include <khz/common/version.h>
#include <khz/proxy/reverse_proxy.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"khz-gateway: a reverse proxy forwarding every path to HTTP upstreams", "khz-gateway"};
  std::string listen = "127.0.0.1:8080";
  std::vector<std::string> upstreams;
  double timeout_seconds = 30;
  std::string balance = "round_robin";
  app.add_option("--listen", listen, "address to listen on (host:port)")->capture_default_str();
  app.add_option("--upstream", upstreams, "upstream URL(s), comma-separated (http://host:port)")
      ->required()
      ->delimiter(',');
  app.add_option("--timeout", timeout_seconds, "upstream response timeout in seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--balance", balance,
                 "round_robin, least_request, or consistent_hash (on the client's address: a client "
                 "sticks to one upstream)")
      ->capture_default_str()
      ->check(CLI::IsMember({"round_robin", "least_request", "consistent_hash"}));
  app.set_version_flag("--version", std::string("khz-gateway (khz ") + std::string(khz::version()) + ")");
  CLI11_PARSE(app, argc, argv);

  try {
    khz::proxy::ReverseProxyOptions options;
    for (const std::string& u : upstreams) options.upstreams.push_back({.url = u});
    options.response_timeout = std::chrono::milliseconds(static_cast<long long>(timeout_seconds * 1000));
    options.balance = balance == "least_request"     ? khz::proxy::Balance::least_request
                      : balance == "consistent_hash" ? khz::proxy::Balance::consistent_hash
                                                     : khz::proxy::Balance::round_robin;
    khz::Server server({.address = listen});
    khz::proxy::ReverseProxy proxy(std::move(options));  // after the server: destroyed first
    server.any("/*path", proxy.handler()).stream_body();
    server.any("/", proxy.handler()).stream_body();
    server.spin();
  } catch (const std::exception& e) {  // a bad address or URL, a port in use
    std::fprintf(stderr, "khz-gateway: %s\n", e.what());
    return 1;
  }
  return 0;
}
