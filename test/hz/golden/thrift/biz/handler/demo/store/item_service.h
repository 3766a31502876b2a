// Handlers of ItemService (store.thrift): generated once by hz, then yours (hz update only appends
// the handlers of new methods and never rewrites what is here).
#pragma once

#include <khz/app/request_context.h>

namespace demo::store::handler {

void CreateItem(khz::RequestContext& ctx);  // POST /items
void GetItem(khz::RequestContext& ctx);  // GET /items/:id
void ListItems(khz::RequestContext& ctx);  // GET /items
void Rename(khz::RequestContext& ctx);  // PUT /items/:id/name
void AddNote(khz::RequestContext& ctx);  // POST /items/:id/notes

}  // namespace demo::store::handler
