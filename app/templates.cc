// SPDX-License-Identifier: Apache-2.0
// Templates: a directory of Mustache files compiled once (kainjow's mustache, private to this
// file), Json turned into its data, partials looked up in the set only, optional reload.
#include <khz/app/templates.h>
#include <khz/common/log.h>

#include <kainjow/mustache.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace khz {
namespace {

namespace fs = std::filesystem;
namespace mu = kainjow::mustache;

// A render whose partials have used more stack than this is stopped (a partial that includes
// itself without end would otherwise overflow the thread's stack). Loop and worker threads
// have 8 MiB; one level of partial costs a few hundred bytes to a few KiB.
constexpr std::ptrdiff_t max_partial_stack_bytes = 1024 * 1024;

constexpr std::string_view extensions[] = {".mustache", ".html"};

// One file as the reload check sees it.
struct Stamp {
  std::string relative;
  std::uintmax_t size = 0;
  fs::file_time_type mtime{};
  bool operator==(const Stamp&) const = default;
};

// The template files under `dir`, sorted by relative path. Throws std::invalid_argument when
// `dir` cannot be read.
std::vector<Stamp> scan(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw std::invalid_argument("templates: \"" + dir + "\" is not a readable directory");
  }
  std::vector<Stamp> out;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) throw std::invalid_argument("templates: cannot read \"" + dir + "\": " + ec.message());
  for (fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
    if (ec) throw std::invalid_argument("templates: cannot read \"" + dir + "\": " + ec.message());
    const fs::path& p = it->path();
    std::string leaf = p.filename().string();
    if (!leaf.empty() && leaf.front() == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    std::string ext = p.extension().string();
    if (std::find(std::begin(extensions), std::end(extensions), ext) == std::end(extensions)) continue;
    Stamp s;
    s.relative = p.lexically_relative(dir).generic_string();
    s.size = it->file_size(ec);
    s.mtime = it->last_write_time(ec);
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const Stamp& a, const Stamp& b) { return a.relative < b.relative; });
  return out;
}

std::string strip_extension(std::string_view name) {
  for (std::string_view ext : extensions) {
    if (name.size() > ext.size() && name.substr(name.size() - ext.size()) == ext) {
      return std::string(name.substr(0, name.size() - ext.size()));
    }
  }
  return std::string(name);
}

// Json to Mustache data. Numbers become their JSON text; null is false (falsy, prints nothing).
mu::data to_data(const Json& j) {
  return std::visit(
      [&j](const auto& v) -> mu::data {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          return mu::data(false);
        } else if constexpr (std::is_same_v<T, bool>) {
          return mu::data(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          return mu::data(v);
        } else if constexpr (std::is_same_v<T, Json::Array>) {
          mu::list list;
          list.reserve(v.size());
          for (const Json& e : v) list.push_back(to_data(e));
          return mu::data(list);
        } else if constexpr (std::is_same_v<T, Json::Object>) {
          mu::data obj(mu::data::type::object);
          for (const auto& [key, value] : v) {
            if (obj.get(key) == nullptr) obj[key] = to_data(value);  // the first of a repeated key
          }
          return obj;
        } else {
          return mu::data(j.dump());  // int64, uint64, double
        }
      },
      j.variant());
}

// Appends what the renderer emits.
struct Appender {
  std::string& out;
  Appender& operator<<(const std::string& s) {
    out.append(s);
    return *this;
  }
};

// One compiled template.
struct TemplateEntry {
  // kainjow's render() is not const, yet it writes the template only to record an error, and
  // the only errors a render of Json data can meet are partials that do not parse: every
  // partial is a template of this set, all parsed at load. So concurrent renders of one
  // compiled template only read it.
  std::unique_ptr<mu::mustache> compiled;
  mu::data source;  // the text, for use as a partial (kainjow parses partials per use)
};
using TemplateMap = std::map<std::string, TemplateEntry, std::less<>>;

const TemplateEntry* find_template(const TemplateMap& map, std::string_view name) {
  if (auto it = map.find(name); it != map.end()) return &it->second;
  if (auto it = map.find(strip_extension(name)); it != map.end()) return &it->second;
  return nullptr;
}

// Partials come from the set only, never from the data (a data string named like a partial
// would otherwise be parsed as a template: template injection).
class RenderContext final : public mu::context<std::string> {
 public:
  RenderContext(const mu::data* data, const TemplateMap& map, const char* stack_base)
      : mu::context<std::string>(data), map_(map), stack_base_(stack_base) {}

  const mu::data* get_partial(const std::string& name) const override {
    const char* here = static_cast<const char*>(__builtin_frame_address(0));
    if (too_deep_ || stack_base_ - here > max_partial_stack_bytes) {
      too_deep_ = true;
      return nullptr;
    }
    const TemplateEntry* e = find_template(map_, name);
    return e == nullptr ? nullptr : &e->source;
  }
  bool too_deep() const noexcept { return too_deep_; }

 private:
  const TemplateMap& map_;
  const char* stack_base_;
  mutable bool too_deep_ = false;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("templates: cannot open \"" + path.string() + "\"");
  std::ostringstream s;
  s << in.rdbuf();
  return std::move(s).str();
}

}  // namespace

namespace detail {

// One loaded directory, immutable once built (shared by every render that started with it).
struct TemplateSet {
  TemplateMap by_name;
  std::vector<Stamp> stamps;
};

struct TemplateShared {
  std::mutex mutex;  // guards `set`, `next_check` and `failed` when reloading
  std::shared_ptr<const TemplateSet> set;
  std::chrono::steady_clock::time_point next_check{};
  std::vector<Stamp> failed;  // the files of the last reload that failed (logged once)
};

}  // namespace detail

namespace {

// Reads and compiles every template under `dir`; throws std::invalid_argument.
std::shared_ptr<const detail::TemplateSet> load_set(const std::string& dir) {
  auto set = std::make_shared<detail::TemplateSet>();
  set->stamps = scan(dir);
  for (const Stamp& s : set->stamps) {
    std::string name = strip_extension(s.relative);
    std::string text = read_file(fs::path(dir) / s.relative);
    auto compiled = std::make_unique<mu::mustache>(text);
    if (!compiled->is_valid()) {
      throw std::invalid_argument("templates: " + (fs::path(dir) / s.relative).string() + ": " +
                                  compiled->error_message());
    }
    TemplateEntry entry{std::move(compiled), mu::data(text)};
    if (!set->by_name.emplace(name, std::move(entry)).second) {
      throw std::invalid_argument("templates: two files for the template \"" + name + "\" in \"" + dir + "\"");
    }
  }
  return set;
}

}  // namespace

Templates::Templates(std::string directory, TemplateOptions options)
    : directory_(std::move(directory)), options_(options), shared_(std::make_unique<detail::TemplateShared>()) {
  shared_->set = load_set(directory_);
  shared_->next_check = std::chrono::steady_clock::now() + options_.reload_interval;
  KHZ_LOG(debug, "templates: " << shared_->set->by_name.size() << " loaded from " << directory_);
}

Templates::~Templates() = default;

std::shared_ptr<const detail::TemplateSet> Templates::current() const {
  if (!options_.reload) return shared_->set;  // never changes after construction
  std::lock_guard lock(shared_->mutex);
  auto now = std::chrono::steady_clock::now();
  if (now < shared_->next_check) return shared_->set;
  shared_->next_check = now + options_.reload_interval;
  try {
    std::vector<Stamp> stamps = scan(directory_);
    if (stamps != shared_->set->stamps && stamps != shared_->failed) {
      shared_->set = load_set(directory_);
      shared_->failed.clear();
      KHZ_LOG(info, "templates: reloaded " << shared_->set->by_name.size() << " from " << directory_);
    }
  } catch (const std::exception& e) {
    // Keep serving the last good set; say so once per broken state of the files.
    try {
      shared_->failed = scan(directory_);
    } catch (const std::exception&) {
      shared_->failed.clear();
    }
    KHZ_LOG(error, e.what() << " (reload failed: the previous templates stay in use)");
  }
  return shared_->set;
}

bool Templates::render_to(std::string& out, std::string_view name, const Json& data, std::string* error) const {
  std::shared_ptr<const detail::TemplateSet> set = current();
  const TemplateEntry* entry = find_template(set->by_name, name);
  if (entry == nullptr) {
    if (error != nullptr) *error = "template \"" + std::string(name) + "\" not found in " + directory_;
    return false;
  }
  const std::size_t mark = out.size();
  mu::data root = to_data(data);
  RenderContext ctx(&root, set->by_name, static_cast<const char*>(__builtin_frame_address(0)));
  Appender sink{out};
  entry->compiled->render(ctx, sink);
  std::string why;
  if (ctx.too_deep()) {
    why = "partials nested too deeply (a partial that includes itself?)";
  } else if (!entry->compiled->is_valid()) {
    why = entry->compiled->error_message();
  }
  if (!why.empty()) {
    out.resize(mark);
    if (error != nullptr) *error = "template \"" + std::string(name) + "\": " + why;
    return false;
  }
  return true;
}

std::string Templates::render(std::string_view name, const Json& data) const {
  std::string out, error;
  if (!render_to(out, name, data, &error)) throw std::runtime_error(error);
  return out;
}

bool Templates::contains(std::string_view name) const { return find_template(current()->by_name, name) != nullptr; }

std::vector<std::string> Templates::names() const {
  auto set = current();
  std::vector<std::string> out;
  out.reserve(set->by_name.size());
  for (const auto& [name, entry] : set->by_name) out.push_back(name);
  return out;
}

}  // namespace khz
