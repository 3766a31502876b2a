// SPDX-License-Identifier: Apache-2.0
// Cookies end to end. curl as the browser: `-b` cookies read by ctx.cookie, and the Netscape
// cookie file `-c` writes from ctx.set_cookie's headers, over HTTP/1.1 and HTTP/2 (h2c).
// khz's own client with a CookieJar against khz servers: a login's cookie sent afterwards
// (HTTP/1.1 and h2c), cookies taken and sent across a redirect, path scoping, the request's
// own Cookie header kept, deletion, and a Secure cookie from https never sent over http.
// The servers start once for the binary (netpoll, the default transport) and stop when the
// test run ends (a Catch2 listener); tests take seconds.
#include <khz/app/client.h>
#include <khz/app/server.h>

#define CATCH_CONFIG_EXTERNAL_INTERFACES  // TestEventListenerBase
#include <catch2/catch.hpp>

#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/tls_support.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using khz::test::run_command;

namespace {

// 2030-01-02T03:04:05Z
constexpr long long theme_expiry = 1893553445;

void add_routes(khz::Server& s) {
  s.get("/read", [](khz::RequestContext& ctx) {
    ctx.string(200, "a=" + std::string(ctx.cookie("a")) + " b=" + std::string(ctx.cookie("b")) +
                        " n=" + std::to_string(ctx.cookies().size()));
  });
  // The Cookie header(s) exactly as they came.
  s.get("/echo-cookie", [](khz::RequestContext& ctx) {
    std::string all;
    for (const auto& f : ctx.request().headers()) {
      if (khz::iequals(f.name, "Cookie")) all.append(all.empty() ? "" : " | ").append(f.value);
    }
    ctx.string(200, all);
  });
  s.get("/set", [](khz::RequestContext& ctx) {
    bool ok = ctx.set_cookie({.name = "sid", .value = "abc123", .path = "/", .max_age = 1h, .http_only = true,
                              .same_site = khz::SameSite::lax});
    ok = ctx.set_cookie({.name = "theme",
                         .value = "dark",
                         .path = "/",
                         .expires = std::chrono::system_clock::time_point(std::chrono::seconds(theme_expiry))}) && ok;
    ok = ctx.set_cookie({.name = "scoped", .value = "yes", .path = "/app"}) && ok;
    ok = !ctx.set_cookie({.name = "bad", .value = "has space"}) && ok;  // refused, never sent
    ctx.string(200, ok ? "set" : "unexpected");
  });
  s.get("/logout", [](khz::RequestContext& ctx) {
    ctx.delete_cookie("sid");
    ctx.string(200, "bye");
  });
  s.post("/login", [](khz::RequestContext& ctx) {
    if (ctx.body() != "user=ann&password=secret") {
      ctx.string(403, "no");
      return;
    }
    ctx.set_cookie({.name = "session", .value = "s-ann-42", .path = "/", .http_only = true});
    ctx.set_cookie({.name = "admin_only", .value = "1", .path = "/admin"});
    ctx.string(200, "welcome");
  });
  s.get("/me", [](khz::RequestContext& ctx) {
    if (ctx.cookie("session") != "s-ann-42") {
      ctx.string(401, "who are you?");
      return;
    }
    ctx.string(200, "ann" + std::string(ctx.has_cookie("admin_only") ? " +admin" : ""));
  });
  s.get("/admin/panel", [](khz::RequestContext& ctx) {
    ctx.string(200, "admin_only=" + std::string(ctx.cookie("admin_only")));
  });
  // A redirect that sets a cookie on the way: /start -> /next/page.
  s.get("/start", [](khz::RequestContext& ctx) {
    ctx.set_cookie({.name = "step", .value = "1", .path = "/"});
    ctx.set_cookie({.name = "start_only", .value = "1"});  // default path "/" (from "/start")
    ctx.redirect(302, "/next/page");
  });
  s.get("/next/page", [](khz::RequestContext& ctx) {
    ctx.set_cookie({.name = "deep", .value = "1"});  // default path "/next"
    ctx.string(200, "step=" + std::string(ctx.cookie("step")) + " cookies=" + std::to_string(ctx.cookies().size()));
  });
  s.get("/secure/set", [](khz::RequestContext& ctx) {
    ctx.set_cookie({.name = "sec", .value = "1", .path = "/", .secure = true});
    ctx.set_cookie({.name = "__Host-h", .value = "2", .path = "/", .secure = true});
    ctx.set_cookie({.name = "plain", .value = "3", .path = "/"});
    ctx.string(200, "ok");
  });
}

khz::ServerOptions tls_options() {
  khz::ServerOptions o;
  o.tls_cert_file = khz::test::TestPki::get().alpha_cert;  // alpha.test, localhost, 127.0.0.1
  o.tls_key_file = khz::test::TestPki::get().alpha_key;
  return o;
}

// One plain server (HTTP/1.1 and h2c on one port) and one https server, for the binary.
struct Servers {
  Servers() : plain("netpoll"), tls("netpoll", tls_options()) {
    add_routes(plain.server);
    add_routes(tls.server);
    plain.start();
    tls.start();
  }
  std::string https_url(const std::string& path) const {
    return "https://127.0.0.1:" + std::to_string(tls.port()) + path;
  }
  khz::test::TestServer plain;
  khz::test::TestServer tls;
};

std::unique_ptr<Servers> the_servers;

Servers& servers() {
  if (!the_servers) the_servers = std::make_unique<Servers>();
  return *the_servers;
}

// Stops the servers after the last test, before static destruction begins.
struct StopServers : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testRunEnded(const Catch::TestRunStats& stats) override {
    the_servers.reset();
    TestEventListenerBase::testRunEnded(stats);
  }
};
CATCH_REGISTER_LISTENER(StopServers)

khz::ClientOptions client_options(std::shared_ptr<khz::CookieJar> jar) {
  khz::ClientOptions o;
  o.proxy_from_environment = false;
  o.dial_timeout = 2s;
  o.total_timeout = 5s;
  o.tls_ca_file = khz::test::TestPki::get().ca_cert;
  o.cookie_jar = std::move(jar);
  return o;
}

// A Netscape cookie file's lines by cookie name: {domain, subdomains, path, secure, expiry, value}.
std::map<std::string, std::vector<std::string>> read_cookie_file(const std::string& path) {
  std::map<std::string, std::vector<std::string>> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || (line[0] == '#' && line.rfind("#HttpOnly_", 0) != 0)) continue;
    std::vector<std::string> fields;
    std::stringstream ss(line);
    std::string f;
    while (std::getline(ss, f, '\t')) fields.push_back(f);
    if (fields.size() != 7) continue;
    std::string name = fields[5];
    fields.erase(fields.begin() + 5);
    out[name] = fields;
  }
  return out;
}

}  // namespace

TEST_CASE("cookies: curl -b, read by ctx.cookie (HTTP/1.1 and HTTP/2)") {
  auto& s = servers();
  for (const std::string proto : {"--http1.1", "--http2-prior-knowledge"}) {
    CAPTURE(proto);
    auto r = run_command("curl -s --max-time 5 " + proto + " -b 'a=1; b=2; c=3' " + s.plain.url("/read"));
    CHECK(r.status == 0);
    CHECK(r.output == "a=1 b=2 n=3");
    r = run_command("curl -s --max-time 5 " + proto + " -b 'b=\"two words\"' " + s.plain.url("/read"));
    CHECK(r.output == "a= b=two words n=1");
    r = run_command("curl -s --max-time 5 " + proto + " " + s.plain.url("/read"));
    CHECK(r.output == "a= b= n=0");
  }
  // Over HTTP/2 the cookie crumbs curl sends as separate fields arrive as one list.
  auto r = run_command("curl -s --max-time 5 --http2-prior-knowledge -H 'cookie: a=x' -H 'cookie: b=y' " +
                       s.plain.url("/read"));
  CHECK(r.output == "a=x b=y n=2");
}

TEST_CASE("cookies: curl -c writes what ctx.set_cookie sent (HTTP/1.1 and HTTP/2)") {
  auto& s = servers();
  khz::test::TempDir dir;
  for (const std::string proto : {"--http1.1", "--http2-prior-knowledge"}) {
    CAPTURE(proto);
    const std::string file = dir.path + "/jar" + proto + ".txt";
    auto before = std::chrono::system_clock::now();
    auto r = run_command("curl -s --max-time 5 " + proto + " -c " + file + " " + s.plain.url("/set"));
    REQUIRE(r.status == 0);
    CHECK(r.output == "set");
    auto jar = read_cookie_file(file);
    CHECK(jar.size() == 3);  // "bad" was never sent
    REQUIRE(jar.count("sid"));
    REQUIRE(jar.count("theme"));
    REQUIRE(jar.count("scoped"));
    // sid: HttpOnly (curl marks the domain), host-only, Path=/, not Secure, Max-Age=3600.
    CHECK(jar["sid"][0] == "#HttpOnly_127.0.0.1");
    CHECK(jar["sid"][1] == "FALSE");
    CHECK(jar["sid"][2] == "/");
    CHECK(jar["sid"][3] == "FALSE");
    long long expiry = std::atoll(jar["sid"][4].c_str());
    long long now = std::chrono::duration_cast<std::chrono::seconds>(before.time_since_epoch()).count();
    CHECK(expiry >= now + 3600 - 5);
    CHECK(expiry <= now + 3600 + 5);
    CHECK(jar["sid"][5] == "abc123");
    // theme: the Expires date as written.
    CHECK(jar["theme"][0] == "127.0.0.1");
    CHECK(jar["theme"][4] == std::to_string(theme_expiry));
    CHECK(jar["theme"][5] == "dark");
    // scoped: a session cookie (expiry 0) for /app.
    CHECK(jar["scoped"][2] == "/app");
    CHECK(jar["scoped"][4] == "0");

    // curl sends them back; /logout deletes sid from curl's file.
    r = run_command("curl -s --max-time 5 " + proto + " -b " + file + " " + s.plain.url("/echo-cookie"));
    CHECK((r.output == "sid=abc123; theme=dark" || r.output == "theme=dark; sid=abc123"));  // no "scoped"
    r = run_command("curl -s --max-time 5 " + proto + " -b " + file + " -c " + file + " " + s.plain.url("/logout"));
    CHECK(r.output == "bye");
    jar = read_cookie_file(file);
    CHECK_FALSE(jar.count("sid"));
    CHECK(jar.count("theme"));
  }
}

TEST_CASE("cookies: khz client with a jar against a khz server") {
  auto& s = servers();
  for (bool h2 : {false, true}) {
    DYNAMIC_SECTION((h2 ? "h2c" : "HTTP/1.1")) {
      auto jar = std::make_shared<khz::CookieJar>();
      auto options = client_options(jar);
      options.http2_prior_knowledge = h2;
      khz::BlockingClient client(options);

      // Not logged in yet.
      auto r = client.get(s.plain.url("/me"));
      REQUIRE(r);
      CHECK(r->status() == 401);

      khz::ClientRequest login;
      login.method = "POST";
      login.url = s.plain.url("/login");
      login.body = "user=ann&password=secret";
      r = client.send(std::move(login));
      REQUIRE(r);
      CHECK(r->body() == "welcome");
      CHECK(r->version() == (h2 ? khz::Version::http2 : khz::Version::http11));
      CHECK(jar->size() == 2);

      // The session cookie goes with the next call; the /admin one only under /admin.
      r = client.get(s.plain.url("/me"));
      REQUIRE(r);
      CHECK(r->status() == 200);
      CHECK(r->body() == "ann");
      r = client.get(s.plain.url("/admin/panel"));
      REQUIRE(r);
      CHECK(r->body() == "admin_only=1");
      r = client.get(s.plain.url("/echo-cookie"));
      REQUIRE(r);
      CHECK(r->body() == "session=s-ann-42");

      // The request's own Cookie header is kept, the jar's come after it.
      khz::ClientRequest own;
      own.url = s.plain.url("/echo-cookie");
      own.headers.add("Cookie", "mine=1");
      r = client.send(std::move(own));
      REQUIRE(r);
      CHECK(r->body() == "mine=1; session=s-ann-42");  // one field (h2: the server joins the crumbs)
      khz::ClientRequest own_read;
      own_read.url = s.plain.url("/me");
      own_read.headers.add("Cookie", "mine=1");
      r = client.send(std::move(own_read));
      REQUIRE(r);
      CHECK(r->body() == "ann");

      // A redirect: the first hop's cookies are stored and sent on the second hop.
      r = client.get(s.plain.url("/start"));
      REQUIRE(r);
      CHECK(r->status() == 200);
      CHECK(r->body() == "step=1 cookies=3");  // step, start_only and session
      auto stored = jar->all();
      bool deep_scoped = false;
      for (const auto& c : stored) deep_scoped |= c.name == "deep" && c.path == "/next";
      CHECK(deep_scoped);
      r = client.get(s.plain.url("/echo-cookie"));
      REQUIRE(r);
      CHECK(r->body() == "session=s-ann-42; step=1; start_only=1");  // "deep" is for /next only

      // Deletion (Max-Age=0 from delete_cookie).
      r = client.get(s.plain.url("/logout"));  // deletes "sid": not ours, nothing changes
      REQUIRE(r);
      CHECK(jar->size() == 5);
    }
  }
}

TEST_CASE("cookies: a Secure cookie from https is never sent over http") {
  auto& s = servers();
  auto jar = std::make_shared<khz::CookieJar>();
  khz::BlockingClient client(client_options(jar));
  auto r = client.get(s.https_url("/secure/set"));
  REQUIRE(r);
  CHECK(r->body() == "ok");
  CHECK(jar->size() == 3);

  // Both servers are 127.0.0.1: cookies do not care about ports, Secure does about schemes.
  r = client.get(s.https_url("/echo-cookie"));
  REQUIRE(r);
  CHECK(r->body() == "sec=1; __Host-h=2; plain=3");
  r = client.get(s.plain.url("/echo-cookie"));
  REQUIRE(r);
  CHECK(r->body() == "plain=3");

  // And http cannot replace them: the same Set-Cookie names from http are refused.
  r = client.get(s.plain.url("/secure/set"));  // Secure ones refused from http; plain=3 again
  REQUIRE(r);
  r = client.get(s.https_url("/echo-cookie"));
  REQUIRE(r);
  CHECK(r->body() == "sec=1; __Host-h=2; plain=3");
}

TEST_CASE("cookies: without a jar the client neither stores nor sends cookies") {
  auto& s = servers();
  khz::BlockingClient client(client_options(nullptr));
  khz::ClientRequest login;
  login.method = "POST";
  login.url = s.plain.url("/login");
  login.body = "user=ann&password=secret";
  auto r = client.send(std::move(login));
  REQUIRE(r);
  CHECK(r->header("Set-Cookie") == "session=s-ann-42; Path=/; HttpOnly");
  r = client.get(s.plain.url("/me"));
  REQUIRE(r);
  CHECK(r->status() == 401);
}
