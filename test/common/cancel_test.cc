// SPDX-License-Identifier: Apache-2.0
// khz::CancelSignal (watch, trigger, reset, the lazy on_watched/on_unwatched hooks) and the
// ambient signal a Task inherits from its awaiter.
#include <khz/common/cancel.h>
#include <khz/common/event_loop.h>
#include <khz/common/task.h>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace {

struct CountingSignal : khz::CancelSignal {
  ~CountingSignal() override { reset(); }
  int watched = 0;
  int unwatched = 0;
  void on_watched() noexcept override { ++watched; }
  void on_unwatched() noexcept override { ++unwatched; }
};

struct Log {
  std::vector<std::string> calls;
};
struct Named {
  Log* log;
  std::string name;
  khz::CancelSignal::Watch* victim = nullptr;  // detached by this callback
};
void record(void* arg) {
  auto* n = static_cast<Named*>(arg);
  n->log->calls.push_back(n->name);
  if (n->victim != nullptr) n->victim->detach();
}

khz::Task<khz::CancelSignal*> innermost() { co_return co_await khz::current_cancel_signal(); }
khz::Task<khz::CancelSignal*> middle() { co_return co_await innermost(); }
khz::Task<khz::CancelSignal*> outer_with(khz::CancelSignal* s) {
  khz::Task<khz::CancelSignal*> t = middle();
  t.set_cancel_signal(s);
  co_return co_await t;
}
khz::Task<khz::CancelSignal*> overridden(khz::CancelSignal* inner) {
  khz::Task<khz::CancelSignal*> t = innermost();
  t.set_cancel_signal(inner);  // set before awaiting: not replaced by the awaiter's
  co_return co_await t;
}
khz::Task<khz::CancelSignal*> outer_then(khz::CancelSignal* outer, khz::CancelSignal* inner) {
  khz::Task<khz::CancelSignal*> t = overridden(inner);
  t.set_cancel_signal(outer);
  co_return co_await t;
}

}  // namespace

TEST_CASE("cancel: callbacks run once, in order; lazy hooks; reset detaches") {
  CountingSignal s;
  Log log;
  Named a{&log, "a"}, b{&log, "b"}, c{&log, "c"};
  {
    khz::CancelSignal::Watch wa(&s, &record, &a);
    REQUIRE(s.watched == 1);
    khz::CancelSignal::Watch wb(&s, &record, &b);
    khz::CancelSignal::Watch wc(&s, &record, &c);
    REQUIRE(s.watched == 1);  // only the first
    a.victim = &wb;           // a's callback removes b before its turn
    s.trigger();
    s.trigger();  // once
    REQUIRE(log.calls == std::vector<std::string>{"a", "c"});
    REQUIRE(s.unwatched == 1);
    REQUIRE_FALSE(wa.attached());
  }
  // After the trigger, a new Watch is told at once.
  khz::CancelSignal::Watch late(&s, &record, &c);
  REQUIRE(log.calls.back() == "c");
  REQUIRE_FALSE(late.attached());

  s.reset();
  REQUIRE_FALSE(s.triggered());
  {
    khz::CancelSignal::Watch w(&s, &record, &a);
    REQUIRE(s.watched == 2);
  }  // the last one leaving
  REQUIRE(s.unwatched == 2);
  khz::CancelSignal::Watch kept(&s, &record, &a);
  s.reset();  // detaches without calling
  REQUIRE_FALSE(kept.attached());
  REQUIRE(s.unwatched == 3);
  REQUIRE(log.calls.size() == 3);
  khz::CancelSignal::Watch none(nullptr, &record, &a);  // no signal: nothing
  REQUIRE_FALSE(none.attached());
}

TEST_CASE("cancel: a Task inherits the ambient signal of its awaiter unless it has its own") {
  khz::CancelSignal outer, inner;
  REQUIRE(khz::run_blocking(middle()) == nullptr);
  REQUIRE(khz::run_blocking(outer_with(&outer)) == &outer);
  REQUIRE(khz::run_blocking(outer_then(&outer, &inner)) == &inner);
}
