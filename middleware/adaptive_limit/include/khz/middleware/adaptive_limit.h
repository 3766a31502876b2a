// SPDX-License-Identifier: Apache-2.0
// khz::middleware::adaptive_limit: sheds load (503 with Retry-After) when an event loop falls
// behind, in the spirit of Hertz's BBR limiter: no fixed rate to tune, the server's own
// state decides.
//
//   server.use(khz::middleware::recovery(), khz::middleware::adaptive_limit());
//   server.use(khz::middleware::adaptive_limit({.max_delay = std::chrono::milliseconds(100), .max_cpu = 0.9}));
//
// Two triggers, each per loop:
//   - queueing delay (max_delay): how late the loop runs a job posted to it
//     (<khz/common/loop_delay.h>), probed every `probe_interval` while requests arrive. Past
//     `max_delay` requests already wait that long before the loop reads them, so every
//     request is shed until a probe comes back on time: shedding is cheap, the loop catches
//     up, and the next probe ends it. This is what catches handlers that burn CPU or block
//     the loop (a sync handler holds the loop; the queue builds in front of it, not in flight).
//   - CPU (max_cpu, off by default): the process's CPU time over wall time, as a share of all
//     cores, sampled at most every 100 ms. Past `max_cpu` a request is shed only when the
//     loop's requests in flight exceed what it has shown it can pass, BBR's estimate
//     max-pass-rate × min-RT (the best completions per 100 ms bucket and the shortest response
//     time over the last second): coroutine handlers piling up beyond the loop's proven
//     throughput. Without a second of history nothing is shed on this trigger. As in Hertz,
//     the check stays on for a second after a shed even if CPU dipped below (cool-down).
// A shed request gets 503, `Retry-After: <retry_after>` (seconds), "503 service unavailable",
// and the chain stops; one info line per `log_interval` per loop says why ("adaptive_limit:
// GET /x: shedding (loop delay 83 ms > 50 ms); 503 (12 more since the last line)").
// In-flight counting uses an after-response hook (RequestContext::after_response); a request
// torn down with its connection at shutdown is not uncounted (the loop is ending anyway).
//
// Where it goes: first, right after recovery: shed before any other work is spent.
// State is per loop (LoopLocal), no locks or shared atomics per request. The loop must be
// running for probes to come back: a loop that stands still (an in-process test harness
// between calls) reads as late.
//
// Options (defaults):
//   max_delay        50 ms (0: the delay trigger is off)
//   max_cpu          0 (off); else a share in (0, 1], e.g. 0.9
//   retry_after      1 s (whole seconds, >= 1)
//   probe_interval   10 ms
//   log_interval     1 s
//   cpu_usage        none: the process CPU measured as above (tests pass their own)
#pragma once

#include <khz/app/handler.h>

#include <chrono>
#include <functional>

namespace khz::middleware {

struct AdaptiveLimitOptions {
  std::chrono::steady_clock::duration max_delay = std::chrono::milliseconds(50);
  double max_cpu = 0;
  std::chrono::seconds retry_after{1};
  std::chrono::steady_clock::duration probe_interval = std::chrono::milliseconds(10);
  std::chrono::steady_clock::duration log_interval = std::chrono::seconds(1);
  std::function<double()> cpu_usage{};
};

// Throws std::invalid_argument for a bad option (both triggers off, max_cpu outside [0, 1],
// retry_after under 1 s, a probe_interval of 0).
Handler adaptive_limit(AdaptiveLimitOptions options = {});

}  // namespace khz::middleware
