// Handlers of Catalog (catalog.proto): generated once by hz, then yours (hz update only appends
// the handlers of new methods and never rewrites what is here).
#pragma once

#include <khz/app/request_context.h>

namespace demo::catalog::handler {

void CreateProduct(khz::RequestContext& ctx);  // POST /products
void GetProduct(khz::RequestContext& ctx);  // GET /products/:id
void Search(khz::RequestContext& ctx);  // GET /products

}  // namespace demo::catalog::handler
