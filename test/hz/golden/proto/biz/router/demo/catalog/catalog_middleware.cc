// Group middleware for the routes of catalog.proto: generated once by hz, then yours (hz update only
// appends the functions of new services and methods).
#include "biz/router/demo/catalog/catalog_middleware.h"

#include <khz/app/request_context.h>

namespace demo::catalog::middleware {

// every route of catalog.proto
std::vector<khz::Handler> catalog_idl_mw() {
  return {};
}

// the routes of service Catalog
std::vector<khz::Handler> catalog_mw() {
  return {};
}

// Catalog.CreateProduct
std::vector<khz::Handler> catalog_create_product_mw() {
  return {};
}

// Catalog.GetProduct
std::vector<khz::Handler> catalog_get_product_mw() {
  return {};
}

// Catalog.Search
std::vector<khz::Handler> catalog_search_mw() {
  return {};
}

}  // namespace demo::catalog::middleware
