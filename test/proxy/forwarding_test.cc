// SPDX-License-Identifier: Apache-2.0
// The proxy's field rules without sockets: hop-by-hop names, Connection tokens, the client's
// address from a peer address, trusted-proxy ranges (IPv4, IPv6, IPv4-mapped), RFC 7239
// nodes and values, and the consistent-hash ring's stability.
#include "forwarding.h"
#include "upstream_pool.h"

#include <khz/protocol/header_map.h>

#include <catch2/catch.hpp>

#include <map>
#include <string>

using namespace khz::proxy::detail;

TEST_CASE("forwarding: hop-by-hop names and Connection tokens") {
  for (const char* name : {"Connection", "keep-alive", "PROXY-CONNECTION", "Proxy-Authenticate", "Proxy-Authorization",
                           "te", "Transfer-Encoding", "Upgrade"}) {
    INFO(name);
    CHECK(is_hop_by_hop(name));
  }
  for (const char* name : {"Trailer", "Host", "Content-Length", "X-Forwarded-For", "Via", "Cookie"}) {
    INFO(name);
    CHECK_FALSE(is_hop_by_hop(name));
  }
  khz::HeaderMap h;
  h.add("Connection", "keep-alive, X-One ,x-two");
  h.add("connection", "\tUpgrade");
  h.add("X-One", "1");
  const auto tokens = connection_tokens(h);
  CHECK(tokens == std::vector<std::string>{"keep-alive", "x-one", "x-two", "upgrade"});
  CHECK(names_one_of("X-ONE", tokens));
  CHECK_FALSE(names_one_of("X-Three", tokens));
}

TEST_CASE("forwarding: the client's address from a peer address") {
  CHECK(peer_ip("10.1.2.3:5000") == "10.1.2.3");
  CHECK(peer_ip("[2001:db8::1]:443") == "2001:db8::1");
  CHECK(peer_ip("unix:/run/x.sock").empty());
  CHECK(peer_ip("unix:").empty());
  CHECK(peer_ip("").empty());
}

TEST_CASE("forwarding: trusted proxies") {
  TrustedProxies none;
  CHECK_FALSE(none.contains("127.0.0.1"));
  TrustedProxies t({"10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1", "172.16.0.0/12"});
  const std::map<std::string, bool> table = {
      {"10.0.0.1", true},         {"10.255.255.255", true},   {"11.0.0.1", false},
      {"192.168.1.7", true},      {"192.168.1.8", false},     {"fd12:3456::1", true},
      {"fe80::1", false},         {"::1", true},              {"::2", false},
      {"::ffff:10.9.8.7", true},  {"172.31.255.255", true},   {"172.32.0.0", false},
      {"", false},                {"not an address", false},  {"10.0.0.1:80", false},
  };
  for (const auto& [ip, want] : table) {
    INFO(ip);
    CHECK(t.contains(ip) == want);
  }
  TrustedProxies everyone({"0.0.0.0/0", "::/0"});
  CHECK(everyone.contains("8.8.8.8"));
  CHECK(everyone.contains("2001:db8::1"));
  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.0/x", "host.example", "10.0.0.0/-1"}) {
    INFO(bad);
    CHECK_THROWS_AS(TrustedProxies({bad}), std::invalid_argument);
  }
}

TEST_CASE("forwarding: RFC 7239 nodes and values") {
  CHECK(forwarded_node("192.0.2.60") == "192.0.2.60");
  CHECK(forwarded_node("2001:db8:cafe::17") == "\"[2001:db8:cafe::17]\"");
  CHECK(forwarded_node("") == "unknown");
  CHECK(forwarded_value("example.com") == "example.com");
  CHECK(forwarded_value("example.com:8080") == "\"example.com:8080\"");
  CHECK(forwarded_value("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(forwarded_value("") == "\"\"");
}

TEST_CASE("upstream pool: consistent hash moves only an ejected upstream's keys") {
  khz::proxy::ReverseProxyOptions options{
      .upstreams = {{.url = "http://10.0.0.1:80"}, {.url = "http://10.0.0.2:80"}, {.url = "http://10.0.0.3:80/v1/"}},
      .balance = khz::proxy::Balance::consistent_hash};
  UpstreamPool pool(options);
  CHECK(pool.target(2).base_path == "/v1");
  CHECK(pool.target(0).authority == "10.0.0.1");
  const khz::proxy::detail::UpstreamPool::TargetSet none(3, false);
  std::map<int, int> per_target;
  std::vector<std::size_t> before;
  for (int k = 0; k < 3000; ++k) {
    before.push_back(pool.pick(none, UpstreamPool::hash("key-" + std::to_string(k))));
    ++per_target[static_cast<int>(before.back())];
  }
  // 160 points each: every upstream within a generous band around a third.
  for (int i = 0; i < 3; ++i) {
    INFO(i);
    CHECK(per_target[i] > 700);
    CHECK(per_target[i] < 1300);
  }
  // Leaving upstream 1 out (as a retry does): only its keys move.
  khz::proxy::detail::UpstreamPool::TargetSet tried{false, true, false};
  int moved = 0;
  for (int k = 0; k < 3000; ++k) {
    const std::size_t now = pool.pick(tried, UpstreamPool::hash("key-" + std::to_string(k)));
    CHECK(now != 1);
    if (before[k] != 1) {
      CHECK(now == before[k]);
    } else {
      ++moved;
    }
  }
  CHECK(moved == per_target[1]);
}
