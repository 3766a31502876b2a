namespace cpp unknown

struct Req { 1: string name (api.query = "name", cpp.tag = "x") }
struct Resp { 1: string text }

service Names {
  Resp Get(1: Req req) (api.get = "/names", api.version = "2")
}
