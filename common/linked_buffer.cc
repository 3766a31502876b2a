// SPDX-License-Identifier: Apache-2.0
#include <khz/common/linked_buffer.h>
#include <khz/common/log.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

namespace khz {
namespace {

// Per-thread free lists, one per node size from kMinNodeSize to kMaxNodeSize (powers of two),
// each bounded to kMaxPooledBytes so a burst does not pin memory forever.
constexpr std::size_t kMaxPooledBytes = 8 * 1024 * 1024;
constexpr int kMinShift = std::countr_zero(LinkedBuffer::kMinNodeSize);
constexpr int kClasses = std::countr_zero(LinkedBuffer::kMaxNodeSize) - kMinShift + 1;

struct NodePool {
  struct List {
    void* head = nullptr;
    std::size_t count = 0;
  };
  List lists[kClasses];
  ~NodePool() {
    for (List& l : lists) {
      while (l.head != nullptr) {
        void* next = *static_cast<void**>(l.head);
        ::operator delete(l.head);
        l.head = next;
      }
    }
  }
};
thread_local NodePool node_pool;

// The pool list for a node of `capacity` bytes, or nullptr when that size is not pooled.
NodePool::List* pool_list(std::size_t capacity) noexcept {
  if (capacity < LinkedBuffer::kMinNodeSize || capacity > LinkedBuffer::kMaxNodeSize) return nullptr;
  return &node_pool.lists[std::countr_zero(capacity) - kMinShift];
}

}  // namespace

LinkedBuffer::Node* LinkedBuffer::new_node(std::size_t capacity) {
  capacity = capacity <= kMinNodeSize ? kMinNodeSize : std::bit_ceil(capacity);
  void* mem = nullptr;
  NodePool::List* list = pool_list(capacity);
  if (list != nullptr && list->head != nullptr) {
    mem = list->head;
    list->head = *static_cast<void**>(mem);
    --list->count;
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
  if (!n->external) {
    NodePool::List* list = pool_list(n->capacity);
    if (list != nullptr && list->count < kMaxPooledBytes / n->capacity) {
      *reinterpret_cast<void**>(n) = list->head;
      list->head = n;
      ++list->count;
      return;
    }
  }
  ::operator delete(n);
}

LinkedBuffer::LinkedBuffer(LinkedBuffer&& other) noexcept
    : head_(std::exchange(other.head_, nullptr)),
      tail_(std::exchange(other.tail_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      node_size_(other.node_size_),
      peak_(std::exchange(other.peak_, 0)),
      scratch_(std::move(other.scratch_)) {}

LinkedBuffer& LinkedBuffer::operator=(LinkedBuffer&& other) noexcept {
  if (this != &other) {
    clear();
    head_ = std::exchange(other.head_, nullptr);
    tail_ = std::exchange(other.tail_, nullptr);
    size_ = std::exchange(other.size_, 0);
    node_size_ = other.node_size_;
    peak_ = std::exchange(other.peak_, 0);
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
  if (size_ != 0 || head_ == nullptr) return;
  // The stretch since the last shrink stayed small: smaller nodes from now on.
  if (peak_ <= node_size_ / 4 && node_size_ > kMinNodeSize) node_size_ /= 2;
  peak_ = 0;
  clear();
}

void LinkedBuffer::link(Node* n) noexcept {
  if (tail_ != nullptr) tail_->next = n; else head_ = n;
  tail_ = n;
}

std::span<char> LinkedBuffer::reserve(std::size_t n) {
  if (tail_ == nullptr || tail_->external || tail_->capacity - tail_->end < n) {
    // What is buffered runs on into a new node: the messages here outgrow the node size.
    if (size_ != 0 && tail_ != nullptr && !tail_->external && node_size_ < kMaxNodeSize) node_size_ *= 2;
    link(new_node(std::max<std::size_t>(n, node_size_)));
  }
  return {tail_->data + tail_->end, tail_->capacity - tail_->end};
}

void LinkedBuffer::commit(std::size_t n) noexcept {
  KHZ_ASSERT(tail_ != nullptr && !tail_->external && tail_->end + n <= tail_->capacity);
  tail_->end += n;
  size_ += n;
  if (size_ > peak_) peak_ = size_ > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(size_);
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
  if (size_ > peak_) peak_ = size_ > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(size_);
}

}  // namespace khz
