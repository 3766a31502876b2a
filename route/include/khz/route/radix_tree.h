// SPDX-License-Identifier: Apache-2.0
//
// khz/route/radix_tree.h: RadixTree<V>, the path router (one tree per HTTP method), and
// Params, the caller-owned list of path parameters a lookup fills in.
//
// Patterns are Hertz's: static text, `:name` (one non-empty segment, up to the next '/'),
// `*name` (the rest of the path, possibly empty, without its leading '/'; last only).
// Lookup priority is static > `:param` > `*catch_all`, with backtracking.
//
//   khz::route::RadixTree<int> tree;
//   tree.add("/users/new", 1);
//   tree.add("/users/:id", 2);
//   tree.add("/static/*filepath", 3);
//
//   khz::route::Params params;
//   params.reserve(tree.max_params());         // from now on find() never allocates
//   auto m = tree.find("/users/42", params);    // *m.value == 2, m.pattern == "/users/:id"
//   params.get("id");                           // "42": a view into the looked-up path
//   tree.find("/static/", params);              // matches 3, params.get("filepath") == ""
//   tree.find("/users/42/", params).trailing_slash_redirect;  // true: "/users/42" exists
//
// See route/DESIGN.md for the semantics in full.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace khz::route {

template <class V>
class RadixTree;

// One path parameter. `key` is a view into the tree (valid as long as the tree); `value` is
// a view into the path given to find() (valid as long as that path's storage).
struct Param {
  std::string_view key;
  std::string_view value;

  friend bool operator==(const Param&, const Param&) = default;
};

// Caller-owned storage for lookup results; a thin wrapper over std::vector<Param>, in
// pattern order. Once reserve(tree.max_params()) has been called, RadixTree::find performs
// no allocation. Not thread-safe: use one Params per concurrent lookup.
class Params {
 public:
  using const_iterator = std::vector<Param>::const_iterator;

  void reserve(std::size_t n) { items_.reserve(n); }
  void clear() noexcept { items_.clear(); }
  std::size_t size() const noexcept { return items_.size(); }
  std::size_t capacity() const noexcept { return items_.capacity(); }
  bool empty() const noexcept { return items_.empty(); }
  const Param& operator[](std::size_t i) const { return items_[i]; }

  // Value of the first parameter named `key`; "" if there is none.
  std::string_view get(std::string_view key) const noexcept {
    for (const Param& p : items_) {
      if (p.key == key) return p.value;
    }
    return {};
  }
  bool has(std::string_view key) const noexcept {
    for (const Param& p : items_) {
      if (p.key == key) return true;
    }
    return false;
  }

  const_iterator begin() const noexcept { return items_.begin(); }
  const_iterator end() const noexcept { return items_.end(); }

  void push_back(Param p) { items_.push_back(p); }
  void pop_back() noexcept { items_.pop_back(); }
  // Replaces the value of parameter i (e.g. with its percent-decoded form).
  void set_value(std::size_t i, std::string_view value) noexcept { items_[i].value = value; }

 private:
  template <class>
  friend class RadixTree;

  std::vector<Param> items_;
};

// A radix tree mapping path patterns to values of type V.
//
// Threading: add() mutates and must not run concurrently with anything else; after
// registration, any number of threads may call the const members concurrently.
// Move-only. Moving keeps every view handed out (patterns, param keys) valid.
template <class V>
class RadixTree {
 public:
  struct Match {
    const V* value = nullptr;              // nullptr when nothing matched
    std::string_view pattern;              // registered pattern; valid as long as the tree
    bool trailing_slash_redirect = false;  // no match, but adding/removing a final '/' would
  };

  RadixTree() = default;
  RadixTree(RadixTree&&) noexcept = default;
  RadixTree& operator=(RadixTree&&) noexcept = default;
  RadixTree(const RadixTree&) = delete;
  RadixTree& operator=(const RadixTree&) = delete;
  ~RadixTree() = default;

  // Registers `path`. Throws std::invalid_argument when the pattern is malformed (does not
  // start with '/', empty wildcard name, two wildcards in one segment, catch-all not last or
  // not right after '/') or when it conflicts with a registered route (the same pattern, or
  // the same shape with other parameter names: "/users/:id" vs "/users/:name"); a conflict
  // message names both routes. Strong guarantee: on any exception the tree is unchanged.
  void add(std::string_view path, V value);

  // Looks `path` up. `params` is cleared first and, on a match, holds the parameters in
  // pattern order. Param values are views into `path`; keys, `pattern` and `value` point
  // into the tree. Allocates nothing once params.reserve(max_params()) has been called.
  Match find(std::string_view path, Params& params) const;

  // Case-insensitive (ASCII) lookup for redirect_fixed_path. Returns `path` rewritten with
  // the registered casing of its static parts (parameter values keep the request's text);
  // when nothing matches and `fix_trailing_slash` is set, tries again with the final '/'
  // added or removed. std::nullopt when no route matches. Allocates.
  std::optional<std::string> find_case_insensitive(std::string_view path,
                                                   bool fix_trailing_slash) const;

  // Largest number of parameters (`:name` and `*name`) of any registered route.
  std::size_t max_params() const noexcept { return max_params_; }
  bool empty() const noexcept { return routes_.empty(); }
  std::size_t size() const noexcept { return routes_.size(); }

  // Calls fn(std::string_view pattern, const V& value) for every route in registration
  // order. The pattern view is valid as long as the tree.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const auto& r : routes_) fn(std::string_view(r->pattern), std::as_const(r->value));
  }

 private:
  enum class NodeKind : std::uint8_t { static_segment, parameter, catch_all };

  struct Route {
    Route(std::string p, V v) : pattern(std::move(p)), value(std::move(v)) {}
    std::string pattern;
    V value;
    std::vector<std::string_view> param_names;  // views into `pattern`
  };

  // A static node owns `prefix` (non-empty, except the root). A parameter node consumes one
  // non-empty segment, a catch-all node the rest of the path; both have an empty prefix.
  // Static children are found by their first byte: labels[i] == children[i]->prefix[0].
  struct Node {
    NodeKind kind = NodeKind::static_segment;
    std::string prefix;
    std::string labels;
    std::vector<std::unique_ptr<Node>> children;
    std::unique_ptr<Node> param;      // ':' child
    std::unique_ptr<Node> catch_all;  // '*' child; always a leaf carrying a route
    const Route* route = nullptr;     // route ending exactly here
  };

  struct Token {
    NodeKind kind;
    std::string_view text;  // static bytes, or the wildcard's name
  };

  static std::vector<Token> parse(std::string_view path);
  [[noreturn]] static void throw_syntax(std::string_view path, const char* what);
  [[noreturn]] static void throw_conflict(std::string_view path, const Route& existing);

  // Builds the nodes for `rest` (static bytes still to place) followed by tokens[ti..].
  // Returns nullptr when there is nothing to build (the route ends where it is attached).
  static std::unique_ptr<Node> build(std::string_view rest, const std::vector<Token>& tokens,
                                     std::size_t ti, const Route* route);
  static std::unique_ptr<Node> build_wildcard(const std::vector<Token>& tokens,
                                              std::size_t ti, const Route* route);
  // Links `sub` (from build) under `at`; capacity must have been reserved. Never throws.
  static void attach(Node& at, std::unique_ptr<Node> sub, const Route* route) noexcept;

  template <bool kExtraSlash, bool kRecord>
  static const Route* walk(const Node* n, std::string_view path, std::size_t pos,
                           Params* params) noexcept;
  static const Node* child_for(const Node& n, char c) noexcept;
  static void truncate(Params& params, std::size_t n) noexcept {
    while (params.items_.size() > n) params.items_.pop_back();
  }
  template <bool kExtraSlash>
  static bool prefix_at(std::string_view path, std::size_t pos,
                        std::string_view prefix) noexcept;
  bool trailing_slash_would_match(std::string_view path) const noexcept;
  static bool walk_case_insensitive(const Node& n, std::string_view path, std::size_t pos,
                                    std::string& out);

  Node root_;  // static node with an empty prefix; every route hangs below it
  std::vector<std::unique_ptr<Route>> routes_;  // registration order; addresses are stable
  std::size_t max_params_ = 0;
};

// ---- implementation -----------------------------------------------------------------------

namespace detail {
inline char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
inline bool ascii_iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}
}  // namespace detail

template <class V>
void RadixTree<V>::throw_syntax(std::string_view path, const char* what) {
  std::string msg = "invalid route '";
  msg.append(path);
  msg.append("': ");
  msg.append(what);
  throw std::invalid_argument(msg);
}

template <class V>
void RadixTree<V>::throw_conflict(std::string_view path, const Route& existing) {
  std::string msg = "route '";
  msg.append(path);
  msg.append("' conflicts with existing route '");
  msg.append(existing.pattern);
  msg.append(existing.pattern == path ? "': duplicate registration"
                                      : "': both match the same paths");
  throw std::invalid_argument(msg);
}

// Splits a pattern into static runs and wildcards, enforcing Hertz's syntax rules.
template <class V>
auto RadixTree<V>::parse(std::string_view path) -> std::vector<Token> {
  if (path.empty()) throw_syntax(path, "path must not be empty");
  if (path[0] != '/') throw_syntax(path, "path must begin with '/'");
  std::vector<Token> tokens;
  std::size_t run = 0;  // start of the current static run
  std::size_t i = 0;
  while (i < path.size()) {
    const char c = path[i];
    if (c != ':' && c != '*') {
      ++i;
      continue;
    }
    if (c == '*' && path[i - 1] != '/') {
      throw_syntax(path, "a catch-all ('*') must directly follow a '/'");
    }
    std::size_t end = i + 1;
    while (end < path.size() && path[end] != '/') {
      if (path[end] == ':' || path[end] == '*') {
        throw_syntax(path, "only one wildcard per path segment is allowed");
      }
      ++end;
    }
    if (end == i + 1) throw_syntax(path, "wildcards must have a non-empty name");
    if (c == '*' && end != path.size()) {
      throw_syntax(path, "a catch-all ('*') is only allowed at the end of the path");
    }
    tokens.push_back({NodeKind::static_segment, path.substr(run, i - run)});
    tokens.push_back({c == ':' ? NodeKind::parameter : NodeKind::catch_all,
                      path.substr(i + 1, end - i - 1)});
    i = run = end;
  }
  if (run < path.size()) tokens.push_back({NodeKind::static_segment, path.substr(run)});
  // Invariants used by add(): tokens[0] is static (the path starts with '/'); statics and
  // wildcards alternate and no static is empty (a wildcard name runs to the next '/', and a
  // catch-all is last); a parameter is followed by static text or nothing.
  return tokens;
}

template <class V>
auto RadixTree<V>::build_wildcard(const std::vector<Token>& tokens, std::size_t ti,
                                  const Route* route) -> std::unique_ptr<Node> {
  auto node = std::make_unique<Node>();
  node->kind = tokens[ti].kind;
  if (ti + 1 == tokens.size()) {
    node->route = route;
  } else {  // only a parameter can be followed, and only by static text
    auto next = build(tokens[ti + 1].text, tokens, ti + 2, route);
    node->labels.push_back(next->prefix[0]);
    node->children.push_back(std::move(next));
  }
  return node;
}

template <class V>
auto RadixTree<V>::build(std::string_view rest, const std::vector<Token>& tokens,
                         std::size_t ti, const Route* route) -> std::unique_ptr<Node> {
  if (rest.empty()) {
    if (ti == tokens.size()) return nullptr;
    return build_wildcard(tokens, ti, route);
  }
  auto node = std::make_unique<Node>();
  node->prefix.assign(rest);
  if (ti == tokens.size()) {
    node->route = route;
  } else {
    auto wild = build_wildcard(tokens, ti, route);
    if (wild->kind == NodeKind::parameter) {
      node->param = std::move(wild);
    } else {
      node->catch_all = std::move(wild);
    }
  }
  return node;
}

template <class V>
void RadixTree<V>::attach(Node& at, std::unique_ptr<Node> sub, const Route* route) noexcept {
  if (!sub) {
    at.route = route;
  } else if (sub->kind == NodeKind::parameter) {
    at.param = std::move(sub);
  } else if (sub->kind == NodeKind::catch_all) {
    at.catch_all = std::move(sub);
  } else {
    at.labels.push_back(sub->prefix[0]);  // capacity reserved by the caller
    at.children.push_back(std::move(sub));
  }
}

template <class V>
void RadixTree<V>::add(std::string_view path, V value) {
  const std::vector<Token> tokens = parse(path);

  // 1. Read-only walk to the point where the new route leaves the tree; detect conflicts.
  Node* n = &root_;
  std::string_view rest = tokens[0].text;  // always static: the path starts with '/'
  std::size_t ti = 1;                      // next token to place after `rest`
  std::size_t split_child = static_cast<std::size_t>(-1);
  std::size_t split_at = 0;
  for (;;) {
    if (!rest.empty()) {
      const std::size_t idx = n->labels.find(rest[0]);
      if (idx == std::string::npos) break;  // new static child of n
      Node& child = *n->children[idx];
      const std::size_t limit = std::min(child.prefix.size(), rest.size());
      std::size_t lcp = 0;
      while (lcp < limit && child.prefix[lcp] == rest[lcp]) ++lcp;
      if (lcp < child.prefix.size()) {  // child must be split at lcp
        split_child = idx;
        split_at = lcp;
        rest.remove_prefix(lcp);
        break;
      }
      n = &child;
      rest.remove_prefix(lcp);
      continue;
    }
    if (ti == tokens.size()) {
      if (n->route != nullptr) throw_conflict(path, *n->route);
      break;  // the route ends at n
    }
    const Token& tok = tokens[ti];
    if (tok.kind == NodeKind::catch_all) {
      if (n->catch_all) throw_conflict(path, *n->catch_all->route);
      break;
    }
    if (!n->param) break;  // new parameter child of n
    n = n->param.get();
    ++ti;
    if (ti < tokens.size()) rest = tokens[ti++].text;  // a parameter is followed by static
  }

  // 2. Allocate everything the change needs. Nothing in the tree is modified yet.
  std::size_t params = 0;
  for (const Token& t : tokens) params += t.kind != NodeKind::static_segment ? 1 : 0;
  auto route = std::make_unique<Route>(std::string(path), std::move(value));
  route->param_names.reserve(params);
  for (const Token& t : tokens) {
    if (t.kind == NodeKind::static_segment) continue;
    const auto offset = static_cast<std::size_t>(t.text.data() - path.data());
    route->param_names.push_back(std::string_view(route->pattern).substr(offset, t.text.size()));
  }
  routes_.reserve(routes_.size() + 1);
  std::unique_ptr<Node> sub = build(rest, tokens, ti, route.get());

  if (split_child != static_cast<std::size_t>(-1)) {
    Node& child = *n->children[split_child];
    auto lower = std::make_unique<Node>();
    lower->prefix.assign(child.prefix, split_at);
    std::vector<std::unique_ptr<Node>> kids;
    kids.reserve(2);
    std::string labels;
    labels.reserve(2);
    labels.push_back(lower->prefix[0]);

    // 3a. Commit (nothing below throws): child keeps prefix[0, split_at) and gets `lower`,
    //     which takes over everything child had, plus the new branch.
    lower->labels = std::move(child.labels);
    lower->children = std::move(child.children);
    lower->param = std::move(child.param);
    lower->catch_all = std::move(child.catch_all);
    lower->route = child.route;
    child.labels = std::move(labels);
    child.children = std::move(kids);
    child.route = nullptr;
    child.prefix.resize(split_at);
    child.children.push_back(std::move(lower));
    attach(child, std::move(sub), route.get());
  } else {
    if (sub && sub->kind == NodeKind::static_segment) {
      n->labels.reserve(n->labels.size() + 1);
      n->children.reserve(n->children.size() + 1);
    }
    // 3b. Commit (nothing below throws).
    attach(*n, std::move(sub), route.get());
  }
  routes_.push_back(std::move(route));
  max_params_ = std::max(max_params_, params);
}

template <class V>
template <bool kExtraSlash>
bool RadixTree<V>::prefix_at(std::string_view path, std::size_t pos,
                             std::string_view prefix) noexcept {
  // The text is `path`, plus a virtual '/' at its end when kExtraSlash. The caller has
  // matched prefix[0] already (it is the child's label).
  std::size_t n = prefix.size();
  const std::size_t avail = path.size() - pos + (kExtraSlash ? 1 : 0);
  if (n > avail) return false;
  if constexpr (kExtraSlash) {
    if (n == avail) {
      if (prefix[n - 1] != '/') return false;
      --n;  // the last byte is the virtual '/'
    }
  }
  const char* a = path.data() + pos;
  const char* b = prefix.data();
  if (n > 16) return std::memcmp(a + 1, b + 1, n - 1) == 0;
  for (std::size_t i = 1; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

template <class V>
const typename RadixTree<V>::Node* RadixTree<V>::child_for(const Node& n, char c) noexcept {
  const char* labels = n.labels.data();
  const std::size_t count = n.labels.size();
  for (std::size_t i = 0; i < count; ++i) {
    if (labels[i] == c) return n.children[i].get();
  }
  return nullptr;
}

// Depth-first search, static > parameter > catch-all, backtracking on failure. `n`'s own
// prefix has been consumed; `pos` is the next byte. It recurses only where a node offers an
// alternative to come back to, and iterates otherwise. On failure `params` may hold extra
// entries: whoever continues after a failed attempt truncates them to its own mark.
// With kExtraSlash the text searched is path + "/" (used only to compute the trailing-slash
// hint, with kRecord false).
template <class V>
template <bool kExtraSlash, bool kRecord>
auto RadixTree<V>::walk(const Node* n, std::string_view path, std::size_t pos,
                        Params* params) noexcept -> const Route* {
  const std::size_t size = path.size() + (kExtraSlash ? 1 : 0);
  for (;;) {
    if (pos == size) {
      if (n->route != nullptr) return n->route;
      if (n->catch_all) {  // a catch-all matches the empty rest
        if constexpr (kRecord) params->items_.push_back({{}, std::string_view()});
        return n->catch_all->route;
      }
      return nullptr;
    }
    const bool has_alternative = n->param || n->catch_all;
    const char c = (kExtraSlash && pos == path.size()) ? '/' : path[pos];
    if (const Node* child = child_for(*n, c);
        child != nullptr && prefix_at<kExtraSlash>(path, pos, child->prefix)) {
      if (!has_alternative) {
        n = child;
        pos += child->prefix.size();
        continue;
      }
      const std::size_t mark = kRecord ? params->items_.size() : 0;
      if (const Route* r = walk<kExtraSlash, kRecord>(child, path, pos + child->prefix.size(),
                                                      params)) {
        return r;
      }
      if constexpr (kRecord) truncate(*params, mark);
    }
    if (n->param) {
      std::size_t end = pos;
      while (end < path.size() && path[end] != '/') ++end;
      if (end > pos) {
        if constexpr (kRecord) params->items_.push_back({{}, path.substr(pos, end - pos)});
        if (!n->catch_all) {
          n = n->param.get();
          pos = end;
          continue;
        }
        const std::size_t mark = kRecord ? params->items_.size() - 1 : 0;
        if (const Route* r = walk<kExtraSlash, kRecord>(n->param.get(), path, end, params)) {
          return r;
        }
        if constexpr (kRecord) truncate(*params, mark);
      }
    }
    if (n->catch_all) {
      if constexpr (kRecord) params->items_.push_back({{}, path.substr(pos)});
      return n->catch_all->route;
    }
    return nullptr;
  }
}

template <class V>
bool RadixTree<V>::trailing_slash_would_match(std::string_view path) const noexcept {
  if (path.size() < 2 || path[0] != '/') return false;  // "/" has no other form
  if (path.back() == '/') {
    return walk<false, false>(&root_, path.substr(0, path.size() - 1), 0, nullptr) != nullptr;
  }
  return walk<true, false>(&root_, path, 0, nullptr) != nullptr;
}

template <class V>
auto RadixTree<V>::find(std::string_view path, Params& params) const -> Match {
  params.clear();
  Match m;
  if (const Route* r = walk<false, true>(&root_, path, 0, &params)) {
    for (std::size_t i = 0; i < params.items_.size(); ++i) {
      params.items_[i].key = r->param_names[i];
    }
    m.value = &r->value;
    m.pattern = r->pattern;
    return m;
  }
  params.clear();
  m.trailing_slash_redirect = trailing_slash_would_match(path);
  return m;
}

template <class V>
bool RadixTree<V>::walk_case_insensitive(const Node& n, std::string_view path,
                                         std::size_t pos, std::string& out) {
  if (pos == path.size()) return n.route != nullptr || n.catch_all != nullptr;
  const std::size_t mark = out.size();
  const char c = path[pos];
  // Static children: the exact-case label first, then the other case.
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t i = 0; i < n.labels.size(); ++i) {
      const char label = n.labels[i];
      const bool take = pass == 0
                            ? label == c
                            : label != c && detail::ascii_lower(label) == detail::ascii_lower(c);
      if (!take) continue;
      const Node& child = *n.children[i];
      if (path.size() - pos < child.prefix.size() ||
          !detail::ascii_iequal(path.substr(pos, child.prefix.size()), child.prefix)) {
        continue;
      }
      out.append(child.prefix);
      if (walk_case_insensitive(child, path, pos + child.prefix.size(), out)) return true;
      out.resize(mark);
    }
  }
  if (n.param) {
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    if (end > pos) {
      out.append(path.substr(pos, end - pos));
      if (walk_case_insensitive(*n.param, path, end, out)) return true;
      out.resize(mark);
    }
  }
  if (n.catch_all) {
    out.append(path.substr(pos));
    return true;
  }
  return false;
}

template <class V>
std::optional<std::string> RadixTree<V>::find_case_insensitive(std::string_view path,
                                                               bool fix_trailing_slash) const {
  std::string out;
  out.reserve(path.size() + 1);
  if (walk_case_insensitive(root_, path, 0, out)) return out;
  if (!fix_trailing_slash || path.size() < 2 || path[0] != '/') return std::nullopt;
  std::string toggled(path);
  if (toggled.back() == '/') {
    toggled.pop_back();
  } else {
    toggled.push_back('/');
  }
  out.clear();
  if (walk_case_insensitive(root_, toggled, 0, out)) return out;
  return std::nullopt;
}

}  // namespace khz::route
