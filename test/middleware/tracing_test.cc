// SPDX-License-Identifier: Apache-2.0
// khz::middleware::tracing and <khz/app/tracing.h>: the SERVER span (context from the
// caller, semantic-convention attributes, status, exceptions), parent-based ratio sampling,
// user spans and their limits, the plain accessor from handler code, and the client's CLIENT
// span with traceparent / tracestate / baggage injected, over HTTP/1.1 and HTTP/2 on every
// transport.
#include <khz/app/client.h>
#include <khz/app/testing.h>
#include <khz/app/tracing.h>
#include <khz/common/log.h>
#include <khz/common/log_sink.h>
#include <khz/middleware/tracing.h>

#include <catch2/catch.hpp>

#include "support/test_server.h"

#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using khz::testing::perform_request;
namespace tr = khz::tracing;

namespace {

constexpr const char* remote_traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

struct Collector final : tr::SpanExporter {
  std::mutex mutex;
  std::vector<tr::SpanData> spans;
  void on_end(tr::SpanData&& span) noexcept override {
    std::lock_guard lock(mutex);
    spans.push_back(std::move(span));
  }
  std::vector<tr::SpanData> take() {
    std::lock_guard lock(mutex);
    return std::exchange(spans, {});
  }
};

std::string hex(std::span<const std::uint8_t> bytes) {
  std::string s(bytes.size() * 2, '\0');
  khz::protocol::hex_encode(bytes, s.data());
  return s;
}

const tr::AttributeValue* attribute(const tr::SpanData& span, std::string_view key) {
  for (const auto& a : span.attributes) {
    if (a.key == key) return &a.value;
  }
  return nullptr;
}
std::string text(const tr::SpanData& span, std::string_view key) {
  auto* v = attribute(span, key);
  return v != nullptr && std::holds_alternative<std::string>(*v) ? std::get<std::string>(*v) : "<absent>";
}
std::int64_t number(const tr::SpanData& span, std::string_view key) {
  auto* v = attribute(span, key);
  return v != nullptr && std::holds_alternative<std::int64_t>(*v) ? std::get<std::int64_t>(*v) : -1;
}

// Plain code inside the handler, as a logger would call it.
std::string ids_now() {
  char trace[32];
  char span[16];
  if (!tr::current_ids(trace, span)) return "none";
  return std::string(trace, 32) + "-" + std::string(span, 16);
}

khz::Task<std::string> ambient_in_child() {
  const tr::SpanContext* ctx = co_await tr::current_span();
  co_return ctx == nullptr ? "none" : hex(ctx->trace_id()) + "-" + hex(ctx->span_id());
}

}  // namespace

TEST_CASE("tracing: a SERVER span joins the caller's trace, with the HTTP attributes") {
  auto collector = std::make_shared<Collector>();
  khz::Engine e;
  e.use(khz::middleware::tracing({.exporter = collector}));
  std::string seen_plain, seen_child;
  e.get("/users/:id", [&](khz::RequestContext& c) -> khz::Task<> {
    seen_plain = ids_now();
    seen_child = co_await ambient_in_child();
    c.string(201, "ok");
  });
  e.get("/boom", [](khz::RequestContext&) -> khz::Task<> {
    throw std::runtime_error("kaput");
    co_return;
  });
  e.get("/bad", [](khz::RequestContext& c) { c.string(503, "busy"); });
  e.get("/missing", [](khz::RequestContext& c) { c.string(404, "no"); });

  auto r = perform_request(e, "GET", "/users/7?x=1",
                           {{"traceparent", remote_traceparent}, {"tracestate", "rojo=1"}, {"tracestate", "congo=2"},
                            {"User-Agent", "ua/1"}, {"Host", "example.com:8080"}});
  REQUIRE(r.status() == 201);
  auto spans = collector->take();
  REQUIRE(spans.size() == 1);
  const auto& s = spans[0];
  CHECK(s.kind == tr::SpanKind::server);
  CHECK(s.name == "GET /users/:id");
  CHECK(hex(s.trace_id) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(hex(s.parent_span_id) == "00f067aa0ba902b7");
  CHECK(s.trace_state == "rojo=1,congo=2");
  CHECK(text(s, "http.request.method") == "GET");
  CHECK(text(s, "url.path") == "/users/7");
  CHECK(text(s, "url.scheme") == "http");
  CHECK(text(s, "http.route") == "/users/:id");
  CHECK(number(s, "http.response.status_code") == 201);
  CHECK(text(s, "server.address") == "example.com");
  CHECK(text(s, "network.protocol.version") == "1.1");
  CHECK(text(s, "user_agent.original") == "ua/1");
  CHECK(s.status == tr::StatusCode::unset);
  CHECK(s.end_unix_nano >= s.start_unix_nano);
  // The handler's plain code and its child coroutines see the server span.
  CHECK(seen_plain == hex(s.trace_id) + "-" + hex(s.span_id));
  CHECK(seen_child == seen_plain);
  CHECK(ids_now() == "none");  // and nothing is left running after the request

  REQUIRE(perform_request(e, "GET", "/boom").status() == 500);
  REQUIRE(perform_request(e, "GET", "/bad").status() == 503);
  REQUIRE(perform_request(e, "GET", "/missing").status() == 404);
  spans = collector->take();
  REQUIRE(spans.size() == 3);
  // No traceparent: new traces, roots.
  for (const auto& span : spans) CHECK(khz::protocol::all_zero(span.parent_span_id));
  const auto& boom = spans[0];
  CHECK(number(boom, "http.response.status_code") == 500);
  CHECK(boom.status == tr::StatusCode::error);
  REQUIRE(boom.events.size() == 1);
  CHECK(boom.events[0].name == "exception");
  REQUIRE(boom.events[0].attributes.size() == 2);
  CHECK(std::get<std::string>(boom.events[0].attributes[1].value) == "kaput");
  CHECK(spans[1].status == tr::StatusCode::error);  // 5xx: error on a server span
  CHECK(number(spans[1], "http.response.status_code") == 503);
  CHECK(spans[2].status == tr::StatusCode::unset);  // 4xx: not a server error
}

TEST_CASE("tracing: parent-based ratio sampling") {
  auto collector = std::make_shared<Collector>();
  khz::Engine none;
  none.use(khz::middleware::tracing({.sampling_ratio = 0.0, .exporter = collector}));
  std::string seen;
  none.get("/", [&](khz::RequestContext& c) {
    seen = ids_now();
    c.string(200, "ok");
  });
  // A root at ratio 0: not recorded, yet it has ids (they propagate, flag 00).
  REQUIRE(perform_request(none, "GET", "/").status() == 200);
  CHECK(collector->take().empty());
  CHECK(seen != "none");
  // A sampled parent wins over the ratio; an unsampled one too.
  REQUIRE(perform_request(none, "GET", "/", {{"traceparent", remote_traceparent}}).status() == 200);
  CHECK(collector->take().size() == 1);
  CHECK(seen.substr(0, 32) == "4bf92f3577b34da6a3ce929d0e0e4736");

  khz::Engine all;
  all.use(khz::middleware::tracing({.sampling_ratio = 1.0, .exporter = collector}));
  all.get("/", [](khz::RequestContext& c) { c.string(200, "ok"); });
  REQUIRE(perform_request(all, "GET", "/", {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"}})
              .status() == 200);
  CHECK(collector->take().empty());
  // An invalid or doubled traceparent starts a new (sampled) trace; its tracestate is ignored.
  REQUIRE(perform_request(all, "GET", "/", {{"traceparent", "00-zz"}, {"tracestate", "a=1"}}).status() == 200);
  REQUIRE(perform_request(all, "GET", "/", {{"traceparent", remote_traceparent}, {"traceparent", remote_traceparent}})
              .status() == 200);
  auto spans = collector->take();
  REQUIRE(spans.size() == 2);
  for (const auto& s : spans) {
    CHECK(hex(s.trace_id) != "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(khz::protocol::all_zero(s.parent_span_id));
    CHECK(s.trace_state.empty());
  }

  // Ratio 0.5 through the middleware: about half the requests are recorded; the others still
  // have ids of their own (a new trace each), which the handler sees.
  khz::Engine half_engine;
  half_engine.use(khz::middleware::tracing({.sampling_ratio = 0.5, .exporter = collector}));
  half_engine.get("/", [&](khz::RequestContext& c) {
    seen = ids_now();
    c.string(200, "ok");
  });
  std::set<std::string> traces;
  for (int i = 0; i < 400; ++i) {
    REQUIRE(perform_request(half_engine, "GET", "/").status() == 200);
    REQUIRE(seen.size() == 49);
    traces.insert(seen.substr(0, 32));
  }
  CHECK(traces.size() == 400);
  std::size_t recorded = collector->take().size();
  CHECK(recorded > 140);
  CHECK(recorded < 260);

  // Ratio 0.5 over many roots: about half (the decision is the trace-id's).
  tr::Tracer half({.sampling_ratio = 0.5});
  int sampled = 0;
  for (int i = 0; i < 2000; ++i) {
    tr::Span root(tr::SpanStart{.name = "r", .tracer = &half, .use_ambient = false});
    sampled += root.recording() ? 1 : 0;
  }
  CHECK(sampled > 850);
  CHECK(sampled < 1150);
  CHECK_THROWS_AS(tr::Tracer({.sampling_ratio = 1.5}), std::invalid_argument);
}

namespace {

khz::Task<void> traced_work(std::string& child_seen) {
  tr::Span span = co_await tr::start_span("work");
  span.set_attribute("a", "1");
  span.set_attribute("b", std::int64_t{2});
  span.set_attribute("c", true);  // over the limit of 2: dropped
  span.set_attribute("a", std::string(100, 'x'));  // replaced, cut to 10 bytes
  span.add_event("e1");
  span.add_event("e2");
  span.add_event("e3");  // dropped
  child_seen = co_await ambient_in_child();
}

}  // namespace

TEST_CASE("tracing: user spans are children of the ambient span, within the limits") {
  auto collector = std::make_shared<Collector>();
  khz::Engine e;
  e.use(khz::middleware::tracing(
      {.limits = {.max_attributes = 2, .max_events = 2, .max_attribute_length = 10}, .exporter = collector}));
  std::string child_seen, after;
  e.get("/", [&](khz::RequestContext& c) -> khz::Task<> {
    co_await traced_work(child_seen);
    after = co_await ambient_in_child();
    {
      tr::Span plain("plain");  // plain code: a child of the running span
      plain.set_attribute("k", 1.5);
    }
    c.string(200, "ok");
  });
  REQUIRE(perform_request(e, "GET", "/").status() == 200);
  auto spans = collector->take();
  REQUIRE(spans.size() == 3);  // work, plain, then the server span
  const auto& work = spans[0];
  const auto& plain = spans[1];
  const auto& server = spans[2];
  CHECK(work.name == "work");
  CHECK(work.kind == tr::SpanKind::internal);
  CHECK(work.trace_id == server.trace_id);
  CHECK(work.parent_span_id == server.span_id);
  CHECK(plain.parent_span_id == server.span_id);
  CHECK(child_seen == hex(work.trace_id) + "-" + hex(work.span_id));  // work was ambient
  CHECK(after == hex(server.trace_id) + "-" + hex(server.span_id));   // and then the server span again
  REQUIRE(work.attributes.size() == 2);
  CHECK(work.dropped_attributes == 1);
  CHECK(text(work, "a") == std::string(10, 'x'));
  CHECK(work.events.size() == 2);
  CHECK(work.dropped_events == 1);
  // Outside any traced coroutine a span is inert.
  tr::Span lone("lone");
  CHECK_FALSE(lone.active());
  CHECK_FALSE(lone.recording());
}

namespace {

// An upstream's /echo: the trace context the request carried, "traceparent|tracestate|baggage".
void add_trace_echo(khz::Server& server) {
  server.get("/echo", [](khz::RequestContext& c) {
    std::string out(c.header("traceparent"));
    out.append("|").append(c.header("tracestate")).append("|").append(c.header("baggage"));
    c.string(200, out);
  });
}

khz::Task<std::string> call_upstream(khz::Client& client, std::string url) {
  auto r = co_await client.get(std::move(url));
  co_return r ? std::string(r->body()) : "error: " + r.error().message();
}

}  // namespace

TEST_CASE("tracing: the client's CLIENT span, and traceparent, tracestate, baggage sent on, over HTTP/1.1 and HTTP/2") {
  for (const auto& transport : khz::test::transports()) {
    for (bool h2 : {false, true}) {
      DYNAMIC_SECTION("upstream on " << transport << (h2 ? ", h2c" : ", http/1.1")) {
        khz::test::TestServer upstream(transport);
        add_trace_echo(upstream.server);
        upstream.start();
        auto collector = std::make_shared<Collector>();
        khz::Client client({.http2_prior_knowledge = h2});
        khz::Engine e;
        e.use(khz::middleware::tracing({.exporter = collector}));
        e.get("/call", [&](khz::RequestContext& c) -> khz::Task<> {
          std::string body = co_await call_upstream(client, upstream.url("/echo"));
          c.string(200, body);
        });
        auto r = perform_request(e, "GET", "/call",
                                 {{"traceparent", remote_traceparent},
                                  {"tracestate", "rojo=00f067aa0ba902b7"},
                                  {"baggage", "userId=alice,serverNode=DF%2028"}});
        REQUIRE(r.status() == 200);
        auto spans = collector->take();
        REQUIRE(spans.size() == 2);
        const auto& client_span = spans[0];
        const auto& server_span = spans[1];
        CHECK(client_span.kind == tr::SpanKind::client);
        CHECK(client_span.name == "GET");
        CHECK(client_span.parent_span_id == server_span.span_id);
        CHECK(client_span.trace_id == server_span.trace_id);
        CHECK(number(client_span, "http.response.status_code") == 200);
        CHECK(text(client_span, "server.address") == "127.0.0.1");
        CHECK(text(client_span, "url.full") == upstream.url("/echo"));
        std::string expected = "00-4bf92f3577b34da6a3ce929d0e0e4736-" + hex(client_span.span_id) +
                               "-01|rojo=00f067aa0ba902b7|userId=alice,serverNode=DF%2028";
        CHECK(r.body() == expected);
      }
    }
  }
}

TEST_CASE("tracing: an unsampled request's context reaches coroutine layers, child Tasks and the client (flag 00)") {
  // The unsampled path runs without a frame of the middleware's own: its span lives in the
  // context while the chain runs, with the caller's trace state and baggage it points to.
  auto transport = khz::test::transports().front();
  khz::test::TestServer upstream(transport);
  add_trace_echo(upstream.server);
  upstream.start();
  auto collector = std::make_shared<Collector>();
  khz::Client client;
  khz::Engine e;
  e.use(khz::middleware::tracing({.sampling_ratio = 0.0, .exporter = collector}));
  std::string plain_seen;
  e.use([&](khz::RequestContext&) { plain_seen = ids_now(); });  // a plain layer, run inside next()
  e.use([](khz::RequestContext& c) -> khz::Task<> {           // a coroutine layer (not an onion one)
    co_await khz::sleep_for(std::chrono::milliseconds(1));
    const std::string ambient = co_await ambient_in_child();
    c.set_header("X-Layer-Ambient", ambient);
  });
  e.get("/call", [&](khz::RequestContext& c) -> khz::Task<> {
    const std::string ambient = co_await ambient_in_child();
    std::string body = co_await call_upstream(client, upstream.url("/echo"));
    c.set_header("X-Ambient", ambient);
    c.string(200, body);
  });
  std::string last_ambient;
  for (int round = 0; round < 2; ++round) {  // twice: the second reuses what the first left
    auto root = perform_request(e, "GET", "/call");
    REQUIRE(root.status() == 200);
    const std::string ambient(root.header("X-Ambient"));
    REQUIRE(ambient.size() == 49);
    CHECK(ambient.substr(0, 32) != last_ambient.substr(0, std::min<std::size_t>(32, last_ambient.size())));  // a new trace
    CHECK(ambient.substr(33) != std::string(16, '0'));
    last_ambient = ambient;
    CHECK(root.header("X-Layer-Ambient") == ambient);
    CHECK(plain_seen == ambient);
    CHECK(root.body().substr(0, 36) == "00-" + ambient.substr(0, 32) + "-");
    CHECK(root.body().substr(52) == "-00||");

    auto joined = perform_request(e, "GET", "/call",
                                  {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"},
                                   {"tracestate", "rojo=00f067aa0ba902b7"},
                                   {"baggage", "userId=alice"}});
    REQUIRE(joined.status() == 200);
    CHECK(joined.header("X-Ambient").substr(0, 32) == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(joined.body().substr(0, 36) == "00-4bf92f3577b34da6a3ce929d0e0e4736-");
    CHECK(joined.body().substr(52) == "-00|rojo=00f067aa0ba902b7|userId=alice");
  }
  CHECK(collector->take().empty());
  CHECK(ids_now() == "none");  // nothing left running on this thread
}

TEST_CASE("tracing: the SERVER span of a real server, over HTTP/1.1 and h2c, on every transport") {
  for (const auto& transport : khz::test::transports()) {
    for (bool h2 : {false, true}) {
      DYNAMIC_SECTION(transport << (h2 ? ", h2c" : ", http/1.1")) {
        auto collector = std::make_shared<Collector>();
        khz::test::TestServer server(transport);
        server.server.use(khz::middleware::tracing({.exporter = collector}));
        std::string seen;
        server.server.get("/items/:id", [&seen](khz::RequestContext& c) -> khz::Task<> {
          seen = ids_now();  // plain code inside the handler, as a logger reads it
          c.string(200, "ok");
          co_return;
        });
        server.start();
        khz::BlockingClient client({.http2_prior_knowledge = h2});
        khz::ClientRequest request{.url = server.url("/items/9?full=1")};
        request.headers.add("traceparent", remote_traceparent);
        auto r = client.send(std::move(request));
        REQUIRE(r);
        REQUIRE(r->status() == 200);
        auto spans = collector->take();
        REQUIRE(spans.size() == 1);
        const auto& s = spans[0];
        CHECK(s.kind == tr::SpanKind::server);
        CHECK(s.name == "GET /items/:id");
        CHECK(hex(s.trace_id) == "4bf92f3577b34da6a3ce929d0e0e4736");
        CHECK(hex(s.parent_span_id) == "00f067aa0ba902b7");
        CHECK(text(s, "http.route") == "/items/:id");
        CHECK(text(s, "url.path") == "/items/9");
        CHECK(number(s, "http.response.status_code") == 200);
        CHECK(text(s, "network.protocol.version") == (h2 ? "2" : "1.1"));
        CHECK(seen == hex(s.trace_id) + "-" + hex(s.span_id));
      }
    }
  }
}

TEST_CASE("tracing: the client outside a traced handler sends no trace context") {
  khz::test::TestServer upstream(khz::test::transports().front());
  upstream.server.get("/echo", [](khz::RequestContext& c) {
    c.string(200, std::to_string(c.request().headers().count("traceparent")));
  });
  upstream.start();
  khz::Client client;
  khz::Engine e;
  e.get("/call", [&](khz::RequestContext& c) -> khz::Task<> {
    c.string(200, co_await call_upstream(client, upstream.url("/echo")));
  });
  CHECK(perform_request(e, "GET", "/call").body() == "0");
}

namespace {

// A plain program's call under a span of its own: the parent is set on the Task by hand.
khz::Task<void> call_with_parent(khz::Client& client, std::string url, const tr::SpanContext* parent, std::string& out) {
  khz::Task<std::string> call = call_upstream(client, std::move(url));
  call.set_trace_span(parent);
  out = co_await std::move(call);
}

}  // namespace

TEST_CASE("tracing: a client call outside a handler, under an explicit parent span") {
  khz::test::TestServer upstream(khz::test::transports().front());
  upstream.server.get("/echo", [](khz::RequestContext& c) { c.string(200, std::string(c.header("traceparent"))); });
  upstream.start();
  auto collector = std::make_shared<Collector>();
  tr::Tracer tracer({.exporter = collector});
  khz::BlockingClient blocking;
  std::string sent;
  {
    tr::Span job(tr::SpanStart{.name = "nightly job", .tracer = &tracer, .use_ambient = false});
    blocking.run([&]() { return call_with_parent(blocking.client(), upstream.url("/echo"), &job.context(), sent); });
  }
  auto spans = collector->take();
  REQUIRE(spans.size() == 2);
  const auto& client_span = spans[0];
  const auto& job = spans[1];
  CHECK(job.name == "nightly job");
  CHECK(khz::protocol::all_zero(job.parent_span_id));
  CHECK(client_span.kind == tr::SpanKind::client);
  CHECK(client_span.parent_span_id == job.span_id);
  CHECK(sent == "00-" + hex(job.trace_id) + "-" + hex(client_span.span_id) + "-01");
}

TEST_CASE("tracing: log lines written under a traced request carry its trace_id and span_id") {
  struct Line {
    std::string message, trace_id, span_id;
  };
  std::mutex mutex;
  std::vector<Line> lines;
  const khz::log::Level was = khz::log::level();
  khz::log::set_level(khz::log::Level::info);
  const khz::log::SinkId sink = khz::log::add_sink(khz::log::callback_sink([&](const khz::log::Record& r) {
    if (!r.message.starts_with("traced-log-test")) return;
    Line line{std::string(r.message), "", ""};
    for (const khz::log::Field& f : r.fields) {
      if (f.key == "trace_id") line.trace_id = std::string(f.text);
      if (f.key == "span_id") line.span_id = std::string(f.text);
    }
    std::lock_guard lock(mutex);
    lines.push_back(std::move(line));
  }), khz::log::Level::info);

  auto collector = std::make_shared<Collector>();
  khz::Engine e;
  e.use(khz::middleware::tracing({.exporter = collector}));
  e.get("/orders", [](khz::RequestContext& c) -> khz::Task<> {
    KHZ_LOG(info, "traced-log-test in handler");
    co_await ambient_in_child();
    KHZ_LOG(info, "traced-log-test after a co_await");
    c.string(200, "ok");
  });
  auto r = perform_request(e, "GET", "/orders", {{"traceparent", remote_traceparent}});
  KHZ_LOG(info, "traced-log-test outside");
  khz::log::remove_sink(sink);
  khz::log::set_level(was);
  REQUIRE(r.status() == 200);
  auto spans = collector->take();
  REQUIRE(spans.size() == 1);
  std::lock_guard lock(mutex);
  REQUIRE(lines.size() == 3);
  for (int i = 0; i < 2; ++i) {
    CHECK(lines[i].trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(lines[i].span_id == hex(spans[0].span_id));
  }
  CHECK(lines[2].message == "traced-log-test outside");
  CHECK(lines[2].trace_id.empty());
  CHECK(lines[2].span_id.empty());
}
