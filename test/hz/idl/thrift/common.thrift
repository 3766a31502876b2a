// Types shared by the services (included by store.thrift).
namespace cpp demo.common

typedef i64 ItemId

const i32 MAX_PAGE = 100
const string SERVICE_NAME = "store"

enum Status {
  ACTIVE = 1,
  ARCHIVED = 2,
}

struct Money {
  1: required string currency (api.vd = "len($) == 3")
  2: i64 cents
}
