// Routes of your own, beside the IDL's: generated once by hz; yours to edit.
#include "router.h"

void register_custom(khz::Server& server) {
  // server.get("/healthz", [](khz::RequestContext& ctx) { ctx.string(200, "ok"); });
  (void)server;
}
