// SPDX-License-Identifier: Apache-2.0
#include <khz/common/linked_buffer.h>

#include <catch2/catch.hpp>

#include <cstring>
#include <string>

namespace {
std::string all_of(const khz::LinkedBuffer& b) {
  std::string out;
  b.for_each_segment([&](std::string_view s) { out.append(s); });
  return out;
}
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}
}  // namespace

TEST_CASE("LinkedBuffer append spans nodes and keeps order") {
  khz::LinkedBuffer b;
  std::string data = pattern(3 * khz::LinkedBuffer::kDefaultNodeSize + 123);
  b.append(data);
  REQUIRE(b.size() == data.size());
  REQUIRE(b.node_count() >= 3);  // 8 KiB, then larger nodes (see the adaptive size test)
  REQUIRE(all_of(b) == data);
}

TEST_CASE("LinkedBuffer peek is contiguous, copying only across nodes") {
  khz::LinkedBuffer b;
  std::string data = pattern(khz::LinkedBuffer::kDefaultNodeSize + 100);
  b.append(data);
  auto small = b.peek(10);
  REQUIRE(small == data.substr(0, 10));
  b.skip(khz::LinkedBuffer::kDefaultNodeSize - 5);
  auto straddle = b.peek(20);  // 5 bytes in the first node, 15 in the second
  REQUIRE(straddle == data.substr(khz::LinkedBuffer::kDefaultNodeSize - 5, 20));
  REQUIRE(b.size() == 105);
}

TEST_CASE("LinkedBuffer segment(offset) walks the readable runs") {
  khz::LinkedBuffer b;
  std::string data = pattern(khz::LinkedBuffer::kDefaultNodeSize * 2);
  b.append(data);
  b.skip(100);
  std::string seen;
  for (std::size_t off = 0; off < b.size();) {
    auto s = b.segment(off);
    REQUIRE_FALSE(s.empty());
    seen.append(s);
    off += s.size();
  }
  REQUIRE(seen == data.substr(100));
  REQUIRE(b.segment(b.size()).empty());
}

TEST_CASE("LinkedBuffer skip keeps memory until release") {
  khz::LinkedBuffer b;
  std::string data = pattern(khz::LinkedBuffer::kDefaultNodeSize + 10);
  b.append(data);
  std::string_view first = b.segment(0);
  b.skip(khz::LinkedBuffer::kDefaultNodeSize);
  REQUIRE(first.substr(0, 5) == data.substr(0, 5));  // still readable memory: views live until release
  REQUIRE(b.node_count() == 2);
  b.release();
  REQUIRE(b.node_count() == 1);
  REQUIRE(all_of(b) == data.substr(khz::LinkedBuffer::kDefaultNodeSize));
}

TEST_CASE("LinkedBuffer reserve/commit writes into the tail node") {
  khz::LinkedBuffer b;
  auto room = b.reserve(5);
  REQUIRE(room.size() >= 5);
  std::memcpy(room.data(), "hello", 5);
  b.commit(5);
  auto big = b.reserve(100000);  // larger than a node: one node of its own
  REQUIRE(big.size() >= 100000);
  std::memset(big.data(), 'x', 100000);
  b.commit(100000);
  REQUIRE(b.size() == 100005);
  REQUIRE(b.peek(7) == "helloxx");
}

TEST_CASE("LinkedBuffer append_ref links without copying") {
  static const std::string stable = "stable bytes";
  khz::LinkedBuffer b;
  b.append("head:");
  b.append_ref(stable);
  b.append(":tail");
  REQUIRE(all_of(b) == "head:stable bytes:tail");
  bool found = false;
  b.for_each_segment([&](std::string_view s) { found = found || s.data() == stable.data(); });
  REQUIRE(found);
  b.skip(b.size());
  b.release();
  REQUIRE(b.empty());
}

TEST_CASE("LinkedBuffer shrink drops every node when empty") {
  khz::LinkedBuffer b;
  b.append("abc");
  b.shrink();
  REQUIRE(b.node_count() == 1);  // not empty: kept
  b.skip(3);
  b.shrink();
  REQUIRE(b.node_count() == 0);
  b.append("again");
  REQUIRE(b.peek(5) == "again");
}

TEST_CASE("LinkedBuffer release reuses a drained tail node") {
  khz::LinkedBuffer b;
  b.append("abc");
  b.skip(3);
  b.release();
  REQUIRE(b.node_count() == 1);
  auto room = b.reserve(1);
  REQUIRE(room.size() == khz::LinkedBuffer::kDefaultNodeSize);
}

TEST_CASE("LinkedBuffer moves") {
  khz::LinkedBuffer a;
  a.append("xyz");
  khz::LinkedBuffer b(std::move(a));
  REQUIRE(b.size() == 3);
  REQUIRE(a.size() == 0);  // NOLINT(bugprone-use-after-move)
  a = std::move(b);
  REQUIRE(a.peek(3) == "xyz");
}

TEST_CASE("LinkedBuffer node size follows the messages: grows when one spans nodes, shrinks after small ones") {
  khz::LinkedBuffer b;
  REQUIRE(b.node_size() == khz::LinkedBuffer::kDefaultNodeSize);
  // A 20 KiB message: it runs over the 8 KiB node, so the next nodes are larger.
  const std::string big = pattern(20 * 1024);
  b.append(big);
  REQUIRE(all_of(b) == big);
  REQUIRE(b.node_size() > khz::LinkedBuffer::kDefaultNodeSize);
  b.skip(b.size());
  b.release();
  b.shrink();
  // Until the messages fit one node.
  for (int i = 0; i < 4; ++i) {
    b.append(big);
    b.skip(b.size());
    b.release();
    b.shrink();
  }
  REQUIRE(b.node_size() >= 32 * 1024);
  const std::size_t settled = b.node_size();
  b.shrink();  // shrinking an empty buffer again is not a quiet stretch
  b.shrink();
  REQUIRE(b.node_size() == settled);
  b.append(big);
  REQUIRE(b.node_count() == 1);  // one node, so one read for such a message
  b.skip(b.size());
  b.release();
  b.shrink();
  // Small messages from now on: the size comes down again, one halving per quiet stretch.
  for (int i = 0; i < 10; ++i) {
    b.append("GET / HTTP/1.1\r\n\r\n");
    b.skip(b.size());
    b.release();
    b.shrink();
  }
  REQUIRE(b.node_size() == khz::LinkedBuffer::kMinNodeSize);
  // Never past the bounds, however large the message.
  const std::string huge = pattern(1 << 20);
  b.append(huge);
  REQUIRE(all_of(b) == huge);
  REQUIRE(b.node_size() == khz::LinkedBuffer::kMaxNodeSize);
  auto room = b.reserve(200 * 1024);  // an explicit large reserve still gets its room
  REQUIRE(room.size() >= 200 * 1024);
}
