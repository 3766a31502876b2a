// SPDX-License-Identifier: Apache-2.0
// <khz/common/trace_ambient.h> with <khz/common/task.h>: the ambient span rides the Task chain
// (inherited, or set on a Task), and the thread's running span follows whichever traced
// coroutine is running: set on start and resume, cleared on suspend and at the end, so two
// interleaved requests never see each other's ids.
#include <khz/common/task.h>
#include <khz/common/trace_ambient.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <coroutine>
#include <string>
#include <thread>
#include <vector>

namespace {

using khz::tracing::AmbientSpan;

AmbientSpan make_span(std::uint8_t seed) {
  AmbientSpan s;
  AmbientSpan::TraceIdBytes trace;
  AmbientSpan::SpanIdBytes span;
  trace.fill(seed);
  span.fill(static_cast<std::uint8_t>(seed + 0x11));  // 0xaa: "bb..."
  s.set_trace_id(trace);
  s.set_span_id(span);
  s.flags = 1;
  return s;
}

// Plain code, as a logger would run it: what the accessor says now.
std::string ids_now() {
  char trace[32];
  char span[16];
  if (!khz::tracing::current_ids(trace, span)) return "none";
  return std::string(trace, 32) + "/" + std::string(span, 16);
}

// A hand-driven suspension point: co_await gate suspends until the test resumes the frame.
struct Gate {
  std::coroutine_handle<> waiting;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept { waiting = h; }
  void await_resume() const noexcept {}
  void open() { std::exchange(waiting, {}).resume(); }
};

khz::Task<std::string> child_reads() { co_return ids_now(); }

khz::Task<void> request(Gate& gate, std::string& before, std::string& after, std::string& child,
                        const AmbientSpan*& ambient) {
  before = ids_now();
  co_await gate;
  after = ids_now();
  child = co_await child_reads();  // inherits the span
  ambient = co_await khz::tracing::current_ambient_span();
}

khz::Task<void> parent_with_own_child(const AmbientSpan* own, std::string& in_child, std::string& back_in_parent) {
  auto c = child_reads();
  c.set_trace_span(own);  // set on a Task: it wins over the inherited one
  in_child = co_await c;
  back_in_parent = ids_now();
}

}  // namespace

TEST_CASE("trace ambient: the running span follows interleaved traced coroutines") {
  const AmbientSpan a = make_span(0xaa);
  const AmbientSpan b = make_span(0xbb);
  const std::string a_ids = std::string(32, 'a') + "/" + std::string(16, 'b');
  const std::string b_ids = std::string(32, 'b') + "/" + std::string(16, 'c');
  Gate gate_a;
  Gate gate_b;
  std::string a_before, a_after, a_child, b_before, b_after, b_child;
  const AmbientSpan* a_ambient = nullptr;
  const AmbientSpan* b_ambient = nullptr;
  auto ta = request(gate_a, a_before, a_after, a_child, a_ambient);
  ta.set_trace_span(&a);
  auto tb = request(gate_b, b_before, b_after, b_child, b_ambient);
  tb.set_trace_span(&b);

  REQUIRE(ids_now() == "none");
  ta.handle().resume();
  CHECK(a_before == a_ids);
  CHECK(ids_now() == "none");  // suspended: the loop thread runs no traced code
  tb.handle().resume();
  CHECK(b_before == b_ids);
  CHECK(ids_now() == "none");
  gate_a.open();
  REQUIRE(ta.done());
  CHECK(a_after == a_ids);
  CHECK(a_child == a_ids);
  CHECK(a_ambient == &a);
  CHECK(ids_now() == "none");  // ended: cleared
  gate_b.open();
  REQUIRE(tb.done());
  CHECK(b_after == b_ids);
  CHECK(b_child == b_ids);
  CHECK(b_ambient == &b);
  CHECK(ids_now() == "none");
}

TEST_CASE("trace ambient: a child's own span, then the parent's again; untraced code sees none") {
  const AmbientSpan p = make_span(0x11);
  const AmbientSpan c = make_span(0x22);
  std::string in_child, back;
  auto t = parent_with_own_child(&c, in_child, back);
  t.set_trace_span(&p);
  t.handle().resume();
  REQUIRE(t.done());
  CHECK(in_child == std::string(32, '2') + "/" + std::string(16, '3'));
  CHECK(back == std::string(32, '1') + "/" + std::string(16, '2'));

  Gate gate;
  std::string before, after, child;
  const AmbientSpan* ambient = &p;
  auto untraced = request(gate, before, after, child, ambient);
  untraced.handle().resume();
  gate.open();
  REQUIRE(untraced.done());
  CHECK(before == "none");
  CHECK(after == "none");
  CHECK(child == "none");
  CHECK(ambient == nullptr);
}

TEST_CASE("trace ambient: ids drawn late are drawn once, on first read, and never all zero") {
  std::vector<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    AmbientSpan s;
    s.draw_trace_id_later();
    s.draw_span_id_later();
    const AmbientSpan& c = s;  // readers hold const spans: the draw happens behind const
    auto trace = c.trace_id();
    auto span = c.span_id();
    CHECK(c.trace_id() == trace);  // stable once drawn
    CHECK(c.span_id() == span);
    CHECK(trace != AmbientSpan::TraceIdBytes{});
    CHECK(span != AmbientSpan::SpanIdBytes{});
    seen.push_back(std::string(trace.begin(), trace.end()) + std::string(span.begin(), span.end()));
  }
  std::sort(seen.begin(), seen.end());
  CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());  // all different

  // A set id is not replaced by a pending draw of the other; setting one clears its pending draw.
  AmbientSpan s = make_span(0x11);
  s.draw_span_id_later();
  CHECK(s.trace_id() == AmbientSpan::TraceIdBytes{0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                                  0x11, 0x11, 0x11, 0x11, 0x11});
  CHECK(s.span_id() != AmbientSpan::SpanIdBytes{0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22});
  s.draw_trace_id_later();
  s.set_trace_id(AmbientSpan::TraceIdBytes{1});
  CHECK(s.trace_id() == AmbientSpan::TraceIdBytes{1});

  // current_ids() reads pending ids through the same draw.
  AmbientSpan late;
  late.draw_trace_id_later();
  late.draw_span_id_later();
  khz::tracing::detail::enter_span(&late);
  char trace_hex[32], span_hex[16];
  REQUIRE(khz::tracing::current_ids(trace_hex, span_hex));
  khz::tracing::detail::leave_span();
  static constexpr char digits[] = "0123456789abcdef";
  std::string expected;
  for (auto b : late.trace_id()) expected += {digits[b >> 4], digits[b & 15]};
  CHECK(std::string(trace_hex, 32) == expected);
}

TEST_CASE("trace ambient: threads reading a span's late ids at once all see the same ids") {
  for (int round = 0; round < 50; ++round) {
    AmbientSpan s;
    s.draw_trace_id_later();
    s.draw_span_id_later();
    constexpr int kThreads = 4;
    std::atomic<int> ready{0};
    std::vector<std::string> seen(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) {
        }
        const AmbientSpan& c = s;
        auto trace = c.trace_id();
        auto span = c.span_id();
        seen[t] = std::string(trace.begin(), trace.end()) + std::string(span.begin(), span.end());
      });
    }
    for (auto& t : threads) t.join();
    for (int t = 1; t < kThreads; ++t) REQUIRE(seen[t] == seen[0]);
    AmbientSpan copy = s;  // a copy carries the drawn ids
    CHECK(std::string(copy.trace_id().begin(), copy.trace_id().end()) == seen[0].substr(0, 16));
  }
}

TEST_CASE("trace ambient: a copy of a span whose ids are still pending has the same ids") {
  AmbientSpan s;
  s.draw_trace_id_later();
  s.draw_span_id_later();
  AmbientSpan copy = s;
  AmbientSpan assigned;
  assigned = s;
  CHECK(copy.trace_id() == s.trace_id());
  CHECK(copy.span_id() == s.span_id());
  CHECK(assigned.trace_id() == s.trace_id());
  CHECK(assigned.span_id() == s.span_id());
  CHECK(s.trace_id() != AmbientSpan::TraceIdBytes{});
}
