namespace cpp badvd

struct Req { 1: string name (api.query = "name", api.vd = "len($) > 0 || $ == 'x'") }
struct Resp { 1: string text }

service Names {
  Resp Get(1: Req req) (api.get = "/names")
}
