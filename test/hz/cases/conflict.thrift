namespace cpp conflict

struct Req { 1: i64 id (api.path = "id") }
struct Resp { 1: string text }

service Users {
  Resp Get(1: Req req) (api.get = "/users/:id")
  Resp Find(1: Req req) (api.get = "/users/:name")
}
