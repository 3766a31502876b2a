// Handlers of Catalog (catalog.proto): generated once by hz, then yours (hz update only appends
// the handlers of new methods and never rewrites what is here).
#include "biz/handler/demo/catalog/catalog.h"

#include "biz/model/demo/catalog/catalog.h"

namespace demo::catalog::handler {

// POST /products
void CreateProduct(khz::RequestContext& ctx) {
  auto req = ctx.bind_and_validate<demo::catalog::CreateProductRequest>();
  if (!req) return ctx.reject(req.errors());
  demo::catalog::Product resp;
  ctx.json(200, resp);
}

// GET /products/:id
void GetProduct(khz::RequestContext& ctx) {
  auto req = ctx.bind_and_validate<demo::catalog::GetProductRequest>();
  if (!req) return ctx.reject(req.errors());
  demo::catalog::Product resp;
  ctx.json(200, resp);
}

// GET /products
void Search(khz::RequestContext& ctx) {
  auto req = ctx.bind_and_validate<demo::catalog::SearchRequest>();
  if (!req) return ctx.reject(req.errors());
  demo::catalog::SearchResponse resp;
  ctx.json(200, resp);
}

}  // namespace demo::catalog::handler
