// Group middleware for the routes of catalog.proto: generated once by hz, then yours (hz update only
// appends the functions of new services and methods). Each returns the middleware of its group,
// outermost first: the file's, then the service's, then the method's.
#pragma once

#include <khz/app/handler.h>

#include <vector>

namespace demo::catalog::middleware {

std::vector<khz::Handler> catalog_idl_mw();  // every route of catalog.proto
std::vector<khz::Handler> catalog_mw();  // the routes of service Catalog
std::vector<khz::Handler> catalog_create_product_mw();  // Catalog.CreateProduct
std::vector<khz::Handler> catalog_get_product_mw();  // Catalog.GetProduct
std::vector<khz::Handler> catalog_search_mw();  // Catalog.Search

}  // namespace demo::catalog::middleware
