// SPDX-License-Identifier: Apache-2.0
// khz::LinkedBuffer: a chain of byte nodes from a per-thread pool; the input and output buffer
// of every connection.
//
//     read cursor                                   write end
//         v                                             v
//   [ consumed | readable ]-->[ readable ]-->[ readable | free ]
//   head node                                 tail node
//
// Read side (consumer):
//   size()            readable bytes
//   segment(offset)   the contiguous readable run that starts `offset` bytes past the read
//                     cursor, up to the end of its node (empty when offset == size())
//   peek(n)           a contiguous view of the first n readable bytes; copies only when they
//                     straddle nodes. Valid until the next peek/skip/release.
//   skip(n)           moves the read cursor; the bytes stay in memory
//   release()         hands nodes that lie wholly before the read cursor back to the pool.
//                     Views from segment() stay valid until then: that is what lets the HTTP/1.1
//                     codec point header views into the buffer.
//   shrink()          when nothing is readable, hands every node back (an idle connection
//                     then holds no buffer memory)
// Node size adapts to the connection's recent messages: a message that runs over into a new
// node doubles the size of the next nodes (up to kMaxNodeSize), so a 16 KiB body comes to fit
// one node and one read; a stretch that peaked under a quarter of the node size halves it at the
// next shrink() (down to kMinNodeSize). Nodes come from per-thread pools, one per size.
// Write side (producer):
//   reserve(n) / commit(n)   a writable span of at least n bytes in the tail node; the span is
//                            valid until the next write-side call
//   append(bytes)            copies
//   append_ref(bytes)        links caller memory without copying; it must stay valid and
//                            unchanged until those bytes are skipped and released
//   for_each_segment(fn)     visits readable runs in order (for one writev)
//
// Threading: one buffer is used by one thread. Nodes return to the pool of the thread that
// releases them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace khz {

class LinkedBuffer {
 public:
  static constexpr std::size_t kDefaultNodeSize = 8 * 1024;
  static constexpr std::size_t kMinNodeSize = 4 * 1024;
  static constexpr std::size_t kMaxNodeSize = 64 * 1024;

  LinkedBuffer() = default;
  LinkedBuffer(const LinkedBuffer&) = delete;
  LinkedBuffer& operator=(const LinkedBuffer&) = delete;
  LinkedBuffer(LinkedBuffer&& other) noexcept;
  LinkedBuffer& operator=(LinkedBuffer&& other) noexcept;
  ~LinkedBuffer();

  // ---- read side
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::string_view segment(std::size_t offset) const noexcept;
  std::string_view peek(std::size_t n);
  void skip(std::size_t n) noexcept;
  void release() noexcept;
  void shrink() noexcept;

  // ---- write side
  std::span<char> reserve(std::size_t n);
  void commit(std::size_t n) noexcept;
  void append(std::string_view bytes);
  void append_ref(std::string_view bytes);

  template <class Fn>
  void for_each_segment(Fn&& fn) const {
    for (const Node* n = head_; n != nullptr; n = n->next) {
      if (n->end > n->begin) fn(std::string_view(n->data + n->begin, n->end - n->begin));
    }
  }

  // Drops everything (readable bytes included) and hands all nodes back.
  void clear() noexcept;

  // Nodes currently held (for tests and memory accounting).
  std::size_t node_count() const noexcept;
  // The size the next node will have (unless a reserve asks for more).
  std::size_t node_size() const noexcept { return node_size_; }

 private:
  struct Node {
    Node* next;
    char* data;
    std::size_t capacity;
    std::size_t begin;  // read cursor within the node
    std::size_t end;    // write end; begin <= end <= capacity
    bool external;      // data is caller memory (append_ref)
  };
  static Node* new_node(std::size_t capacity);
  static Node* new_external(std::string_view bytes);
  static void free_node(Node* n) noexcept;
  void link(Node* n) noexcept;

  Node* head_ = nullptr;
  Node* tail_ = nullptr;
  std::size_t size_ = 0;
  std::uint32_t node_size_ = kDefaultNodeSize;
  std::uint32_t peak_ = 0;  // most readable bytes since the last shrink (saturating)
  std::string scratch_;  // peek() copies here when a view straddles nodes
};

}  // namespace khz
