// SPDX-License-Identifier: Apache-2.0
// Bookinfo on khz: Istio's sample application as khz services that find each other in etcd and
// route along lanes. One program, one service per process:
//
//   bookinfo productpage --etcd http://127.0.0.1:2379      the HTML page (templates); calls
//                                                          details and reviews
//   bookinfo details     --etcd ...                        the book's details
//   bookinfo reviews     --version v1|v2|v3 --etcd ...     v1, v2 call ratings (black / red
//                                                          stars); v3 calls nothing
//   bookinfo ratings     --version v1|v2 --etcd ...        the stars
//   bookinfo gateway     --etcd ... --port 9080            the entry: dyes `uid: 100` (a header,
//                                                          or the cookie /login/100 sets) as
//                                                          baggage env=dev; forwards to productpage
//
// Each service registers itself (service name, the real port, tag version) and calls the
// others by name (http://reviews/...) through a DiscoveryResolver with the routing rules kept
// in etcd under /khz/rules/<service> (examples/bookinfo/run.sh writes them: dyed traffic takes
// reviews v2 → ratings v2, the rest reviews v1/v3 at 80/20 → ratings v1). Tracing is on in
// every service, so the baggage rides every hop and one page view is one trace.
// `make bookinfo` starts etcd, every service and the gateway on 127.0.0.1:9080.
#include <khz/app/client.h>
#include <khz/app/json.h>
#include <khz/app/server.h>
#include <khz/app/tracing.h>
#include <khz/common/log.h>
#include <khz/governance/announce.h>
#include <khz/governance/breaker.h>
#include <khz/governance/discovery.h>
#include <khz/governance/etcd.h>
#include <khz/governance/etcd_rules.h>
#include <khz/middleware/dye.h>
#include <khz/middleware/recovery.h>
#include <khz/middleware/tracing.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

namespace gov = khz::governance;

namespace {

struct Args {
  std::string role;
  std::string version = "v1";
  std::string etcd = "http://127.0.0.1:2379";
  std::string port = "0";
  std::string templates = KHZ_BOOKINFO_TEMPLATES;
};

std::optional<Args> parse(int argc, char** argv) {
  if (argc < 2) return std::nullopt;
  Args a;
  a.role = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string_view flag = argv[i];
    if (flag == "--version") a.version = argv[i + 1];
    else if (flag == "--etcd") a.etcd = argv[i + 1];
    else if (flag == "--port") a.port = argv[i + 1];
    else if (flag == "--templates") a.templates = argv[i + 1];
    else return std::nullopt;
  }
  return a;
}

// What every service shares: its registry, and a client that resolves service names along the
// lanes the rules in etcd draw.
struct Mesh {
  explicit Mesh(const Args& a)
      : options{.endpoint = a.etcd, .ttl = std::chrono::seconds(3), .retry_interval = std::chrono::milliseconds(300)},
        registry(std::make_shared<gov::EtcdRegistry>(options)),
        resolver(std::make_shared<gov::DiscoveryResolver>(registry)),
        rules(options, resolver),
        client({.dial_timeout = std::chrono::seconds(1),
                .total_timeout = std::chrono::seconds(3),
                // A killed instance stays in etcd until its lease ends: the next try goes to
                // another one, and its breaker keeps it out meanwhile.
                .retry = {.max_attempts = 3, .backoff = std::chrono::milliseconds(1)},
                .proxy_from_environment = false,
                .resolver = resolver,
                .balancer = std::make_shared<gov::BreakerBalancer>(
                    std::make_shared<khz::RoundRobinBalancer>(),
                    gov::BreakerOptions{.consecutive_failures = 1, .open_for = std::chrono::seconds(5)})}) {}

  gov::EtcdOptions options;
  std::shared_ptr<gov::EtcdRegistry> registry;
  std::shared_ptr<gov::DiscoveryResolver> resolver;
  gov::EtcdRuleSource rules;
  khz::Client client;
};

// The trace this request belongs to (32 hex digits), or "".
std::string trace_id() {
  char trace[32], span[16];
  return khz::tracing::current_ids(trace, span) ? std::string(trace, 32) : std::string();
}

khz::Json json_or_null(const khz::Result<khz::Response>& r) {
  if (!r || r->status() != 200) return nullptr;
  auto parsed = khz::Json::parse(r->body());
  return parsed ? *parsed : khz::Json(nullptr);
}

void ratings(khz::Server& server, const std::string& version) {
  server.get("/ratings/:id", [version](khz::RequestContext& ctx) {
    // v1 is kind, v2 is harsh: the page shows which one answered.
    ctx.json(200, khz::H{{"version", version},
                         {"trace_id", trace_id()},
                         {"ratings", khz::Json::Array{version == "v1" ? 5 : 4, version == "v1" ? 4 : 2}}});
  });
}

khz::Task<void> reviews_handler(Mesh& mesh, std::string version, khz::RequestContext& ctx) {
  khz::Json::Array stars{"", ""};
  std::string ratings_version = "none";
  std::string ratings_trace;
  std::string color = version == "v2" ? "red" : "black";
  if (version != "v3") {
    auto r = co_await mesh.client.get("http://ratings/ratings/" + std::string(ctx.param("id")));
    khz::Json got = json_or_null(r);
    if (const khz::Json* v = got.find("version"); v != nullptr && v->string() != nullptr) ratings_version = *v->string();
    if (const khz::Json* t = got.find("trace_id"); t != nullptr && t->string() != nullptr) ratings_trace = *t->string();
    if (const khz::Json* list = got.find("ratings"); list != nullptr && list->array() != nullptr) {
      for (std::size_t i = 0; i < 2 && i < list->array()->size(); ++i) {
        const auto n = (*list->array())[i].int64();
        std::string s;
        for (std::int64_t k = 0; n && k < *n && k < 5; ++k) s += "\u2605";
        stars[i] = s;
      }
    } else {
      ratings_version = "unavailable";
    }
  }
  ctx.json(200, khz::H{{"version", version},
                       {"ratings_version", ratings_version},
                       {"trace_id", trace_id()},
                       {"ratings_trace_id", ratings_trace},
                       {"reviews", khz::Json::Array{
                                       khz::H{{"reviewer", "Reviewer1"},
                                              {"text", "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!"},
                                              {"stars", stars[0]},
                                              {"color", color}},
                                       khz::H{{"reviewer", "Reviewer2"},
                                              {"text", "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare."},
                                              {"stars", stars[1]},
                                              {"color", color}}}}});
}

khz::Task<void> productpage_handler(Mesh& mesh, khz::RequestContext& ctx) {
  auto details = co_await mesh.client.get("http://details/details/0");
  auto reviews = co_await mesh.client.get("http://reviews/reviews/0");
  khz::Json review_data = json_or_null(reviews);
  if (review_data.object() == nullptr) review_data = khz::H{{"version", "unavailable"}, {"ratings_version", "unavailable"}};
  std::string lane;
  if (const khz::tracing::SpanContext* span = co_await khz::tracing::current_span();
      span != nullptr && span->baggage != nullptr) {
    if (auto env = span->baggage->get("env")) lane = std::string(*env);
  }
  // No lane: null (an empty string is truthy in Mustache).
  ctx.html(200, "productpage", khz::H{{"details", json_or_null(details)}, {"reviews", review_data},
                                      {"lane", lane.empty() ? khz::Json(nullptr) : khz::Json(lane)},
                                      {"trace_id", trace_id()}});
}

khz::Task<void> gateway_handler(Mesh& mesh, khz::RequestContext& ctx) {
  auto r = co_await mesh.client.get("http://productpage/productpage");
  if (!r) {
    ctx.string(502, "productpage unavailable: " + r.error().message());
    co_return;
  }
  ctx.data(r->status(), r->header("Content-Type"), std::string(r->body()));
}

}  // namespace

int main(int argc, char** argv) {
  auto args = parse(argc, argv);
  if (!args) {
    std::fprintf(stderr,
                 "usage: bookinfo productpage|details|reviews|ratings|gateway [--version vN] [--etcd URL] [--port N]\n");
    return 2;
  }
  const Args& a = *args;
  khz::Server server({.address = "127.0.0.1:" + a.port, .loops = 1});
  server.use(khz::middleware::recovery());
  if (a.role == "gateway") {
    // The entry dyes the test user's traffic before the trace starts, so its baggage rides on:
    // by a `uid` header (API clients) or a `uid` cookie (browsers, after /login/100).
    server.use(khz::middleware::dye({.rules = {{.header = "uid", .values = {"100"}, .key = "env", .value = "dev"},
                                               {.cookie = "uid", .values = {"100"}, .key = "env", .value = "dev"}}}));
  }
  server.use(khz::middleware::tracing(khz::tracing::TracingOptions{}));
  Mesh mesh(a);
  std::string service = a.role;
  if (a.role == "ratings") {
    ratings(server, a.version);
  } else if (a.role == "reviews") {
    server.get("/reviews/:id", [&mesh, version = a.version](khz::RequestContext& ctx) {
      return reviews_handler(mesh, version, ctx);
    });
  } else if (a.role == "details") {
    server.get("/details/:id", [](khz::RequestContext& ctx) {
      ctx.json(200, khz::H{{"title", "The Comedy of Errors"}, {"author", "William Shakespeare"}, {"year", 1595},
                           {"pages", 200}, {"publisher", "PublisherA"}, {"isbn", "1234567890"}});
    });
  } else if (a.role == "productpage") {
    server.load_templates(a.templates);
    server.get("/productpage", [&mesh](khz::RequestContext& ctx) { return productpage_handler(mesh, ctx); });
  } else if (a.role == "gateway") {
    server.get("/productpage", [&mesh](khz::RequestContext& ctx) { return gateway_handler(mesh, ctx); });
    server.get("/", [](khz::RequestContext& ctx) { ctx.redirect(302, "/productpage"); });
    // A browser "signs in" as a user: the cookie, then the page.
    server.get("/login/:uid", [](khz::RequestContext& ctx) {
      ctx.set_cookie({.name = "uid", .value = std::string(ctx.param("uid")), .path = "/"});
      ctx.redirect(302, "/productpage");
    });
    service.clear();  // the entry is not a service others call
  } else {
    std::fprintf(stderr, "bookinfo: unknown service %s\n", a.role.c_str());
    return 2;
  }
  server.get("/healthz", [](khz::RequestContext& ctx) { ctx.string(200, "ok"); });
  if (!service.empty()) gov::announce(server, mesh.registry, {.service = service, .tags = {{"version", a.version}}});
  server.on_run([role = a.role, version = a.version](std::string_view address) {
    std::fprintf(stderr, "bookinfo %s %s listening on %s\n", role.c_str(), version.c_str(), std::string(address).c_str());
  });
  server.spin();
  return 0;
}
