// SPDX-License-Identifier: Apache-2.0
// Private to app/client: the per-thread random generator behind retry jitter and the weighted
// random balancer.
#pragma once

#include <random>

namespace khz::client {

// One generator per thread, seeded once (inline: one instance for every file that uses it).
inline std::mt19937& rng() {
  thread_local std::mt19937 gen(std::random_device{}());
  return gen;
}

}  // namespace khz::client
