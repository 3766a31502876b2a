// Handlers of ItemService (store.thrift): generated once by hz, then yours (hz update only appends
// the handlers of new methods and never rewrites what is here).
#pragma once

#include <khz/app/request_context.h>

namespace demo::store::handler {

void Ping(khz::RequestContext& ctx);  // GET /ping

}  // namespace demo::store::handler
