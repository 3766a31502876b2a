// Handlers of ItemService (store.thrift): generated once by hz, then yours (hz update only appends
// the handlers of new methods and never rewrites what is here).
#include "biz/handler/demo/store/health.h"

#include "biz/model/demo/store/store.h"

namespace demo::store::handler {

// GET /ping
void Ping(khz::RequestContext& ctx) {
  demo::store::Ack resp;
  ctx.json(200, resp);
}

}  // namespace demo::store::handler
