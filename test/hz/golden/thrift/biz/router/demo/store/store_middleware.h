// Group middleware for the routes of store.thrift: generated once by hz, then yours (hz update only
// appends the functions of new services and methods). Each returns the middleware of its group,
// outermost first: the file's, then the service's, then the method's.
#pragma once

#include <khz/app/handler.h>

#include <vector>

namespace demo::store::middleware {

std::vector<khz::Handler> store_idl_mw();  // every route of store.thrift
std::vector<khz::Handler> item_service_mw();  // the routes of service ItemService
std::vector<khz::Handler> item_service_create_item_mw();  // ItemService.CreateItem
std::vector<khz::Handler> item_service_get_item_mw();  // ItemService.GetItem
std::vector<khz::Handler> item_service_list_items_mw();  // ItemService.ListItems
std::vector<khz::Handler> item_service_rename_mw();  // ItemService.Rename
std::vector<khz::Handler> item_service_add_note_mw();  // ItemService.AddNote
std::vector<khz::Handler> item_service_ping_mw();  // ItemService.Ping

}  // namespace demo::store::middleware
