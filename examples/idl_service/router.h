// Routes of your own, beside the IDL's: generated once by hz; yours to edit.
#pragma once

#include <khz/app/server.h>

void register_custom(khz::Server& server);
