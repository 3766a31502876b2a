// SPDX-License-Identifier: Apache-2.0
// Test support: the ways a message may arrive, for checking a parser whatever the reads split.
//
//   for (const auto& pieces : khz::test::every_split_and_bytewise(wire)) feed(parser, pieces);
#pragma once

#include <string>
#include <vector>

namespace khz::test {

// `bytes` in two pieces cut at every position (0 and size() included), then one byte a piece.
inline std::vector<std::vector<std::string>> every_split_and_bytewise(const std::string& bytes) {
  std::vector<std::vector<std::string>> feeds;
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) feeds.push_back({bytes.substr(0, cut), bytes.substr(cut)});
  std::vector<std::string> one_by_one;
  for (char c : bytes) one_by_one.emplace_back(1, c);
  feeds.push_back(std::move(one_by_one));
  return feeds;
}

}  // namespace khz::test
