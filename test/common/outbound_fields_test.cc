// SPDX-License-Identifier: Apache-2.0
#include <khz/common/outbound_fields.h>
#include <khz/common/task.h>

#include <catch2/catch.hpp>

#include <string>

namespace {

khz::Task<const khz::OutboundFields*> read_ambient() { co_return co_await khz::current_outbound_fields(); }

khz::Task<const khz::OutboundFields*> nested() { co_return co_await read_ambient(); }

khz::Task<void> drive(const khz::OutboundFields*& out, const khz::OutboundFields* own) {
  auto inner = nested();
  if (own != nullptr) inner.set_outbound_fields(own);  // set on a Task: it wins over the inherited set
  out = co_await inner;
}

template <class T>
T run(khz::Task<T> t) {  // these tasks never suspend: starting one runs it to the end
  t.handle().resume();
  REQUIRE(t.done());
  return std::move(*t.handle().promise().value);
}

}  // namespace

TEST_CASE("OutboundFields: set replaces by name (any case), keeps order, reuses storage after clear") {
  khz::OutboundFields f;
  REQUIRE(f.empty());
  f.set("X-Request-ID", "a");
  f.set("traceparent", "00-1");
  f.set("x-request-id", "b");
  REQUIRE(f.size() == 2);
  REQUIRE(f.get("X-REQUEST-ID") == "b");
  REQUIRE(f.name(0) == "X-Request-ID");
  REQUIRE(f.name(1) == "traceparent");
  REQUIRE(f.contains("TraceParent"));
  REQUIRE_FALSE(f.contains("X-Other"));
  REQUIRE(f.get("X-Other").empty());
  f.clear();
  REQUIRE(f.empty());
  REQUIRE_FALSE(f.contains("traceparent"));
  f.set("Y", "1");
  REQUIRE(f.size() == 1);
  REQUIRE(f.name(0) == "Y");
}

TEST_CASE("OutboundFields ride the Task chain: inherited by what a Task awaits") {
  khz::OutboundFields outer, own;
  const khz::OutboundFields* seen = nullptr;
  auto top = drive(seen, nullptr);
  top.set_outbound_fields(&outer);
  top.handle().resume();
  REQUIRE(top.done());
  REQUIRE(seen == &outer);

  auto with_own = drive(seen, &own);
  with_own.set_outbound_fields(&outer);
  with_own.handle().resume();
  REQUIRE(seen == &own);

  REQUIRE(run(read_ambient()) == nullptr);  // none set anywhere
}
