// SPDX-License-Identifier: Apache-2.0
// RequestContext's debug lifetime check, by death test: a child process that uses a context
// after its handler returned aborts and names the misuse when the build has the checks
// (KHZ_DEBUG_LIFETIME: Debug and sanitizer builds), and runs on unchecked when it does not
// (Release: the checks are compiled out). Its own binary: it forks, so it starts no threads.
#include <khz/app/engine.h>
#include <khz/common/event_loop.h>

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <string>

#ifndef KHZ_EXPECT_LIFETIME_CHECKS
#error "the build says whether this configuration checks RequestContext lifetimes"
#endif

namespace {

struct Child {
  int status = 0;
  std::string err;  // what it wrote to stderr
};

// Runs `body` in a child process (which exits 0 if body returns) and collects its stderr.
Child run_child(const std::function<void()>& body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    body();
    ::_exit(0);
  }
  ::close(fds[1]);
  Child out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.err.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  REQUIRE(::waitpid(pid, &out.status, 0) == pid);
  return out;
}

khz::Request get(std::string_view target) {
  khz::Request r;
  r.set_target(target);
  r.headers().add("Host", "localhost");
  return r;
}

khz::Task<> serve(khz::Engine* engine, khz::Exchange* exchange) { co_await engine->serve(*exchange); }

// The request is over, and the test lingers on the loop (timers still fire).
khz::Task<> serve_then_linger(khz::Engine* engine, khz::Exchange* exchange) {
  co_await engine->serve(*exchange);
  co_await khz::sleep_for(std::chrono::milliseconds(50));
}

// The misuse: a detached task that kept the context and reads it after the handler returned.
std::string late_value;
khz::Task<> late_reader(khz::RequestContext* ctx) {
  co_await khz::sleep_for(std::chrono::milliseconds(10));
  late_value = std::string(ctx->param("id"));
}

void expect_misuse_caught(const Child& child, std::string_view accessor) {
  INFO("child stderr: " << child.err);
  const std::string message = "khz: RequestContext::" + std::string(accessor) + "() called after its handler returned";
  if constexpr (khz::RequestContext::lifetime_checks) {
    REQUIRE(WIFSIGNALED(child.status));
    REQUIRE(WTERMSIG(child.status) == SIGABRT);
    REQUIRE(child.err.find(message) != std::string::npos);
    REQUIRE(child.err.find("ctx.snapshot()") != std::string::npos);  // and what to do instead
  } else {
    // Compiled out: the stale read goes through unchecked (what the check exists to catch).
    REQUIRE(WIFEXITED(child.status));
    REQUIRE(WEXITSTATUS(child.status) == 0);
    REQUIRE(child.err.find("called after its handler returned") == std::string::npos);
  }
}

}  // namespace

TEST_CASE("lifetime checks: on exactly when the build asks for them, off in NDEBUG builds") {
  STATIC_REQUIRE(khz::RequestContext::lifetime_checks == (KHZ_EXPECT_LIFETIME_CHECKS != 0));
#if defined(NDEBUG) && KHZ_EXPECT_LIFETIME_CHECKS == 0
  STATIC_REQUIRE_FALSE(khz::RequestContext::lifetime_checks);  // Release: compiled out
#endif
}

TEST_CASE("lifetime checks: a context kept past its handler and read afterwards") {
  Child child = run_child([] {
    khz::Engine engine;
    khz::RequestContext* kept = nullptr;
    engine.get("/users/:id", [&kept](khz::RequestContext& ctx) {
      kept = &ctx;
      ctx.string(200, std::string(ctx.header("Host")));  // inside the handler: fine
    });
    khz::Exchange exchange;
    exchange.request = get("/users/7");
    khz::run_blocking(serve(&engine, &exchange));
    if (exchange.response.body() != "localhost") ::_exit(3);
    std::string_view host = kept->header("Host");  // after: the misuse
    if (host != "localhost") ::_exit(4);
  });
  expect_misuse_caught(child, "header");
}

TEST_CASE("lifetime checks: a detached task that captured the context") {
  Child child = run_child([] {
    khz::Engine engine;
    engine.get("/users/:id", [](khz::RequestContext& ctx) {
      khz::spawn(late_reader(&ctx));  // should have been late_reader(ctx.snapshot())
      ctx.string(202, "accepted");
    });
    khz::Exchange exchange;
    exchange.request = get("/users/7");
    khz::run_blocking(serve_then_linger(&engine, &exchange));
    if (late_value != "7") ::_exit(5);
  });
  expect_misuse_caught(child, "param");
}

TEST_CASE("lifetime checks: no false alarm while the handler's Task runs, across co_await") {
  khz::Engine engine;
  engine.get("/users/:id", [](khz::RequestContext& ctx) -> khz::Task<> {
    co_await khz::sleep_for(std::chrono::milliseconds(1));
    ctx.set_header("X-Id", ctx.param("id"));
    co_await ctx.next();
  }, [](khz::RequestContext& ctx) { ctx.string(200, std::string(ctx.full_path()) + " " + std::string(ctx.method())); });
  khz::Exchange exchange;
  exchange.request = get("/users/9");
  khz::run_blocking(serve(&engine, &exchange));
  REQUIRE(exchange.response.body() == "/users/:id GET");
  REQUIRE(exchange.response.headers().get("X-Id") == "9");
}
