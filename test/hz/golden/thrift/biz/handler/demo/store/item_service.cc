// Handlers of ItemService (store.thrift): generated once by hz, then yours (hz update only appends
// the handlers of new methods and never rewrites what is here).
#include "biz/handler/demo/store/item_service.h"

#include "biz/model/demo/store/store.h"

namespace demo::store::handler {

// POST /items
void CreateItem(khz::RequestContext& ctx) {
  auto req = ctx.bind_and_validate<demo::store::CreateItemRequest>();
  if (!req) return ctx.reject(req.errors());
  demo::store::Item resp;
  ctx.json(200, resp);
}

// GET /items/:id
void GetItem(khz::RequestContext& ctx) {
  auto req = ctx.bind_and_validate<demo::store::GetItemRequest>();
  if (!req) return ctx.reject(req.errors());
  demo::store::Item resp;
  ctx.json(200, resp);
}

// GET /items
void ListItems(khz::RequestContext& ctx) {
  auto req = ctx.bind_and_validate<demo::store::ListItemsRequest>();
  if (!req) return ctx.reject(req.errors());
  demo::store::ListItemsResponse resp;
  ctx.json(200, resp);
}

// PUT /items/:id/name
void Rename(khz::RequestContext& ctx) {
  auto req = ctx.bind_and_validate<demo::store::RenameRequest>();
  if (!req) return ctx.reject(req.errors());
  demo::store::Ack resp;
  ctx.json(200, resp);
}

// POST /items/:id/notes
void AddNote(khz::RequestContext& ctx) {
  auto req = ctx.bind_and_validate<demo::store::NoteRequest>();
  if (!req) return ctx.reject(req.errors());
  req->text = std::string(ctx.body());
  demo::store::Ack resp;
  ctx.json(200, resp);
}

}  // namespace demo::store::handler
