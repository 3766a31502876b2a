// Group middleware for the routes of store.thrift: generated once by hz, then yours (hz update only
// appends the functions of new services and methods).
#include "biz/router/demo/store/store_middleware.h"

#include <khz/app/request_context.h>

namespace demo::store::middleware {

// every route of store.thrift
std::vector<khz::Handler> store_idl_mw() {
  return {};
}

// the routes of service ItemService
std::vector<khz::Handler> item_service_mw() {
  return {};
}

// ItemService.CreateItem
std::vector<khz::Handler> item_service_create_item_mw() {
  return {};
}

// ItemService.GetItem
std::vector<khz::Handler> item_service_get_item_mw() {
  return {};
}

// ItemService.ListItems
std::vector<khz::Handler> item_service_list_items_mw() {
  return {};
}

// ItemService.Rename
std::vector<khz::Handler> item_service_rename_mw() {
  return {};
}

// ItemService.AddNote
std::vector<khz::Handler> item_service_add_note_mw() {
  return {};
}

// ItemService.Ping
std::vector<khz::Handler> item_service_ping_mw() {
  return {};
}

}  // namespace demo::store::middleware
