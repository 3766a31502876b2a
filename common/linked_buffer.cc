// SPDX-License-Identifier: Apache-2.0
#include <khz/common/linked_buffer.h>
#include <khz/common/log.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <utility>

namespace khz {
namespace {

// Per-thread free list of default-size nodes, bounded so a burst does not pin memory forever.
constexpr std::size_t kMaxPooled = 1024;

struct NodePool {
  void* head = nullptr;
  std::size_t count = 0;
  ~NodePool() {
    while (head != nullptr) {
      void* next = *static_cast<void**>(head);
      ::operator delete(head);
      head = next;
    }
  }
};
thread_local NodePool node_pool;

}  // namespace

LinkedBuffer::Node* LinkedBuffer::new_node(std::size_t capacity) {
  capacity = capacity <= kDefaultNodeSize ? kDefaultNodeSize : std::bit_ceil(capacity);
  void* mem = nullptr;
  if (capacity == kDefaultNodeSize && node_pool.head != nullptr) {
    mem = node_pool.head;
    node_pool.head = *static_cast<void**>(mem);
    --node_pool.count;
  } else {
    mem = ::operator new(sizeof(Node) + capacity);
  }
  auto* n = static_cast<Node*>(mem);
  *n = Node{nullptr, reinterpret_cast<char*>(n + 1), capacity, 0, 0, false};
  return n;
}

LinkedBuffer::Node* LinkedBuffer::new_external(std::string_view bytes) {
  void* mem = ::operator new(sizeof(Node));
  auto* n = static_cast<Node*>(mem);
  *n = Node{nullptr, const_cast<char*>(bytes.data()), bytes.size(), 0, bytes.size(), true};
  return n;
}

void LinkedBuffer::free_node(Node* n) noexcept {
  if (!n->external && n->capacity == kDefaultNodeSize && node_pool.count < kMaxPooled) {
    *reinterpret_cast<void**>(n) = node_pool.head;
    node_pool.head = n;
    ++node_pool.count;
    return;
  }
  ::operator delete(n);
}

LinkedBuffer::LinkedBuffer(LinkedBuffer&& other) noexcept
    : head_(std::exchange(other.head_, nullptr)),
      tail_(std::exchange(other.tail_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      scratch_(std::move(other.scratch_)) {}

LinkedBuffer& LinkedBuffer::operator=(LinkedBuffer&& other) noexcept {
  if (this != &other) {
    clear();
    head_ = std::exchange(other.head_, nullptr);
    tail_ = std::exchange(other.tail_, nullptr);
    size_ = std::exchange(other.size_, 0);
    scratch_ = std::move(other.scratch_);
  }
  return *this;
}

LinkedBuffer::~LinkedBuffer() { clear(); }

void LinkedBuffer::clear() noexcept {
  while (head_ != nullptr) {
    Node* n = head_;
    head_ = n->next;
    free_node(n);
  }
  tail_ = nullptr;
  size_ = 0;
}

std::size_t LinkedBuffer::node_count() const noexcept {
  std::size_t c = 0;
  for (const Node* n = head_; n != nullptr; n = n->next) ++c;
  return c;
}

std::string_view LinkedBuffer::segment(std::size_t offset) const noexcept {
  for (const Node* n = head_; n != nullptr; n = n->next) {
    std::size_t avail = n->end - n->begin;
    if (offset < avail) return {n->data + n->begin + offset, avail - offset};
    offset -= avail;
  }
  return {};
}

std::string_view LinkedBuffer::peek(std::size_t n) {
  KHZ_ASSERT(n <= size_);
  Node* node = head_;
  while (node != nullptr && node->end == node->begin) node = node->next;
  if (n == 0 || node == nullptr) return {};
  if (node->end - node->begin >= n) return {node->data + node->begin, n};
  scratch_.clear();
  for (; node != nullptr && scratch_.size() < n; node = node->next) {
    std::size_t take = std::min(n - scratch_.size(), node->end - node->begin);
    scratch_.append(node->data + node->begin, take);
  }
  return scratch_;
}

void LinkedBuffer::skip(std::size_t n) noexcept {
  KHZ_ASSERT(n <= size_);
  size_ -= n;
  for (Node* node = head_; n > 0 && node != nullptr; node = node->next) {
    std::size_t take = std::min(n, node->end - node->begin);
    node->begin += take;
    n -= take;
  }
}

void LinkedBuffer::release() noexcept {
  // A node is done when its bytes are all consumed and nothing more can be written to it
  // (it is not the tail, or it is external or full).
  while (head_ != nullptr && head_->begin == head_->end &&
         (head_ != tail_ || head_->external || head_->end == head_->capacity)) {
    Node* n = head_;
    head_ = n->next;
    if (tail_ == n) tail_ = nullptr;
    free_node(n);
  }
  if (head_ != nullptr && head_ == tail_ && head_->begin == head_->end) {
    head_->begin = head_->end = 0;  // reuse the whole tail node
  }
}

void LinkedBuffer::shrink() noexcept {
  if (size_ == 0) clear();
}

void LinkedBuffer::link(Node* n) noexcept {
  if (tail_ != nullptr) tail_->next = n; else head_ = n;
  tail_ = n;
}

std::span<char> LinkedBuffer::reserve(std::size_t n) {
  if (tail_ == nullptr || tail_->external || tail_->capacity - tail_->end < n) {
    link(new_node(n));
  }
  return {tail_->data + tail_->end, tail_->capacity - tail_->end};
}

void LinkedBuffer::commit(std::size_t n) noexcept {
  KHZ_ASSERT(tail_ != nullptr && !tail_->external && tail_->end + n <= tail_->capacity);
  tail_->end += n;
  size_ += n;
}

void LinkedBuffer::append(std::string_view bytes) {
  while (!bytes.empty()) {
    std::span<char> room = reserve(1);
    std::size_t take = std::min(room.size(), bytes.size());
    std::memcpy(room.data(), bytes.data(), take);
    commit(take);
    bytes.remove_prefix(take);
  }
}

void LinkedBuffer::append_ref(std::string_view bytes) {
  if (bytes.empty()) return;
  link(new_external(bytes));
  size_ += bytes.size();
}

}  // namespace khz
