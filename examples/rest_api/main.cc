// SPDX-License-Identifier: Apache-2.0
// rest_api: a small REST service with binding and validation, a login cookie, an avatar upload
// and an HTML page — the productivity layer in one file.
//
//   rest_api [--port N] [--templates DIR]          (defaults: 8890, the example's templates/)
//
//   curl -s localhost:8890/api/users -H 'Content-Type: application/json'
//        -d '{"name":"Ada","email":"ada@example.org","age":36,"tags":["math"]}'    -> 201 {"id":1,...}
//        (one command line)
//   curl -s localhost:8890/api/users -H 'Content-Type: application/json' -d '{"age":400}'
//        -> 400 application/problem+json naming name, email and age
//   curl -s 'localhost:8890/api/users?tag=math&limit=10'                          -> the matching users
//   curl -s -c jar localhost:8890/login --data-urlencode name=Ada --data-urlencode password=secret
//   curl -s -b jar localhost:8890/me                                              -> the logged-in user
//   curl -s -b jar -F avatar=@photo.png localhost:8890/me/avatar                 -> {"bytes":...}
//   curl -s localhost:8890/                                                       -> an HTML list of users
//
// The store is in memory and guarded by a mutex (handlers run on several loops).
#include <khz/app/server.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

struct User {
  std::uint64_t id = 0;
  std::string name;
  std::string email;
  std::optional<int> age;
  std::vector<std::string> tags;
  std::uint64_t avatar_bytes = 0;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("id", &User::id),
        khz::field("name", &User::name),
        khz::field("email", &User::email),
        khz::field("age", &User::age),
        khz::field("tags", &User::tags),
        khz::field("avatar_bytes", &User::avatar_bytes),
    };
  }
};

// POST /api/users: the JSON body.
struct CreateUser {
  std::string name;
  std::string email;
  std::optional<int> age;
  std::vector<std::string> tags;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("name", &CreateUser::name).json().required().length(1, 64),
        khz::field("email", &CreateUser::email).json().required().email(),
        khz::field("age", &CreateUser::age).json().range(0, 150),
        khz::field("tags", &CreateUser::tags).json().max_length(8).pattern("[a-z0-9-]{1,32}"),
    };
  }
};

// GET /api/users: the query.
struct ListUsers {
  std::optional<std::string> tag;
  std::uint32_t limit = 20;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("tag", &ListUsers::tag).query(),
        khz::field("limit", &ListUsers::limit).query().range(1, 100),
    };
  }
};

// GET /api/users/:id
struct UserPath {
  std::uint64_t id = 0;
  static constexpr auto khz_fields() { return std::tuple{khz::field("id", &UserPath::id).path().min(1)}; }
};

// POST /login: an urlencoded or multipart form.
struct Login {
  std::string name;
  std::string password;
  static constexpr auto khz_fields() {
    return std::tuple{
        khz::field("name", &Login::name).form().required(),
        khz::field("password", &Login::password).form().required().min_length(6),
    };
  }
};

// Routes that need a login: the session cookie.
struct Session {
  std::string sid;
  static constexpr auto khz_fields() {
    return std::tuple{khz::field("sid", &Session::sid).cookie().required().message("log in first (POST /login)")};
  }
};

class Store {
 public:
  User add(const CreateUser& c) {
    std::lock_guard lock(mutex_);
    User u{++last_id_, c.name, c.email, c.age, c.tags, 0};
    users_[u.id] = u;
    return u;
  }
  std::optional<User> find(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    auto it = users_.find(id);
    return it == users_.end() ? std::nullopt : std::optional<User>(it->second);
  }
  std::optional<User> find_by_name(const std::string& name) {
    std::lock_guard lock(mutex_);
    for (const auto& [id, u] : users_) {
      if (u.name == name) return u;
    }
    return std::nullopt;
  }
  std::vector<User> list(const ListUsers& q) {
    std::lock_guard lock(mutex_);
    std::vector<User> out;
    for (const auto& [id, u] : users_) {
      if (out.size() == q.limit) break;
      if (!q.tag || std::find(u.tags.begin(), u.tags.end(), *q.tag) != u.tags.end()) out.push_back(u);
    }
    return out;
  }
  void set_avatar(std::uint64_t id, std::uint64_t bytes) {
    std::lock_guard lock(mutex_);
    users_[id].avatar_bytes = bytes;
  }
  std::string open_session(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    std::string sid = std::to_string(random_()) + std::to_string(random_());
    sessions_[sid] = id;
    return sid;
  }
  std::optional<std::uint64_t> session(const std::string& sid) {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(sid);
    return it == sessions_.end() ? std::nullopt : std::optional<std::uint64_t>(it->second);
  }

 private:
  std::mutex mutex_;
  std::map<std::uint64_t, User> users_;
  std::map<std::string, std::uint64_t> sessions_;
  std::uint64_t last_id_ = 0;
  std::random_device random_;
};

khz::Json to_view(const User& u) {
  khz::Json::Array tags(u.tags.begin(), u.tags.end());
  return khz::H{{"id", u.id}, {"name", u.name}, {"email", u.email}, {"tags", std::move(tags)}};
}

// The logged-in user, or answers 401 and returns nullopt.
std::optional<User> current_user(khz::RequestContext& ctx, Store& store) {
  auto session = ctx.bind_and_validate<Session>();
  if (!session) {
    ctx.json(401, khz::H{{"error", session.errors().summary()}});
    return std::nullopt;
  }
  auto id = store.session(session->sid);
  auto user = id ? store.find(*id) : std::nullopt;
  if (!user) ctx.json(401, khz::H{{"error", "the session is unknown: log in again"}});
  return user;
}

}  // namespace

int main(int argc, char** argv) {
  std::string port = "8890";
  std::string templates = KHZ_REST_API_TEMPLATES;  // the example's own folder (set by CMake)
  CLI::App app{"rest_api: a small REST API (binding, validation, a login cookie, an upload, an HTML page) on 127.0.0.1"};
  app.add_option("--port", port, "the port")->capture_default_str();
  app.add_option("--templates", templates, "the folder of its page templates")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  Store store;
  khz::Server server({.address = "127.0.0.1:" + port, .form = {.memory_threshold = 64 << 10}});
  server.load_templates(templates);

  server.post("/api/users", [&store](khz::RequestContext& ctx) {
    auto req = ctx.bind_and_validate<CreateUser>();
    if (!req) return ctx.reject(req.errors());
    User u = store.add(*req);
    ctx.set_header("Location", "/api/users/" + std::to_string(u.id));
    ctx.json(201, u);
  });
  server.get("/api/users/:id", [&store](khz::RequestContext& ctx) {
    auto req = ctx.bind_and_validate<UserPath>();
    if (!req) return ctx.reject(req.errors());
    auto u = store.find(req->id);
    if (!u) return ctx.json(404, khz::H{{"error", "no such user"}});
    ctx.json(200, *u);
  });
  server.get("/api/users", [&store](khz::RequestContext& ctx) {
    auto req = ctx.bind_and_validate<ListUsers>();
    if (!req) return ctx.reject(req.errors());
    khz::Json::Array out;
    for (const User& u : store.list(*req)) out.push_back(to_view(u));
    ctx.json(200, khz::Json(std::move(out)));
  });
  server.post("/login", [&store](khz::RequestContext& ctx) {
    auto req = ctx.bind_and_validate<Login>();
    if (!req) return ctx.reject(req.errors());
    auto u = store.find_by_name(req->name);
    if (!u || req->password != "secret") return ctx.json(401, khz::H{{"error", "wrong name or password"}});
    ctx.set_cookie({.name = "sid", .value = store.open_session(u->id), .path = "/",
                    .max_age = std::chrono::hours(8), .http_only = true, .same_site = khz::SameSite::lax});
    ctx.json(200, khz::H{{"hello", u->name}});
  });
  server.get("/me", [&store](khz::RequestContext& ctx) {
    if (auto u = current_user(ctx, store)) ctx.json(200, *u);
  });
  server.post("/me/avatar", [&store](khz::RequestContext& ctx) {
    auto u = current_user(ctx, store);
    if (!u) return;
    const khz::FormFile* avatar = ctx.form_file("avatar");
    if (avatar == nullptr) return ctx.json(400, khz::H{{"error", "send the image as the form field avatar"}});
    store.set_avatar(u->id, avatar->size());
    ctx.json(200, khz::H{{"bytes", avatar->size()}, {"type", avatar->content_type()}, {"spooled", !avatar->in_memory()}});
  });
  server.get("/", [&store](khz::RequestContext& ctx) {
    khz::Json::Array users;
    for (const User& u : store.list({})) users.push_back(to_view(u));
    ctx.html(200, "index", khz::H{{"title", "Users"}, {"users", std::move(users)}});
  });

  std::printf("rest_api on http://127.0.0.1:%s\n", port.c_str());
  std::fflush(stdout);
  server.spin();
}
