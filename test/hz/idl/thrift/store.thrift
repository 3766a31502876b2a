// The store API: every Thrift type, every binding source, the validation rules.
namespace cpp demo.store

include "common.thrift"

/** An item in the store. */
struct Item {
  1: common.ItemId id
  2: string name
  3: list<string> tags
  4: map<string, i32> stock
  5: set<i64> related
  6: optional common.Money price
  7: i32 status = 1
  8: bool featured
  9: double rating
  10: i8 grade
  11: i16 shelf
  12: binary thumbnail
}

struct CreateItemRequest {
  1: required string name (api.body = "name", api.vd = "len($) > 0 && len($) <= 32")
  2: list<string> tags (api.body = "tags", api.vd = "len($) <= 4")
  3: optional common.Money price (api.body = "price")
  4: string email (api.body = "email", api.vd = "email($)")
  5: string token (api.header = "X-Token", api.vd = "len($) > 0")
}

struct GetItemRequest {
  1: i64 id (api.path = "id", api.vd = "$ > 0")
  2: optional string fields (api.query = "fields")
  3: string session (api.cookie = "session")
}

struct ListItemsRequest {
  1: i32 limit = 10 (api.query = "limit", api.vd = "$ >= 1 && $ <= 100; msg:'must be 1 to 100'")
  2: list<string> tag (api.query = "tag")
  3: string order (api.query = "order", api.vd = "in($, 'name', 'rating')")
}

struct ListItemsResponse {
  1: list<Item> items
  2: i32 total
}

struct RenameRequest {
  1: i64 id (api.path = "id")
  2: string name (api.form = "name", api.vd = "regexp('^[a-z]+$')")
}

struct NoteRequest {
  1: i64 id (api.path = "id")
  2: string text (api.raw_body = "")
}

struct Ack {
  1: bool ok
  2: string detail
}

union Lookup {
  1: i64 by_id
  2: string by_name
}

struct FindRequest {
  1: optional i64 by_id (api.query = "by_id")
  2: optional string by_name (api.query = "by_name")
}

exception NotFound {
  1: string what
}

service ItemService {
  Item CreateItem(1: CreateItemRequest req) (api.post = "/items")
  Item GetItem(1: GetItemRequest req) (api.get = "/items/:id")
  ListItemsResponse ListItems(1: ListItemsRequest req) (api.get = "/items")
  Ack Rename(1: RenameRequest req) (api.put = "/items/:id/name")
  Ack AddNote(1: NoteRequest req) (api.post = "/items/:id/notes", api.serializer = "json")
  Ack Ping() (api.get = "/ping", api.handler_path = "demo/store/health", api.go_tag = "x")
}
