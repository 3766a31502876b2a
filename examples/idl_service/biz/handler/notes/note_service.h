// Handlers of NoteService (notes.thrift): generated once by hz, then yours (hz update only appends
// the handlers of new methods and never rewrites what is here).
#pragma once

#include <khz/app/request_context.h>

namespace notes::handler {

void CreateNote(khz::RequestContext& ctx);  // POST /notes
void GetNote(khz::RequestContext& ctx);  // GET /notes/:id
void ListNotes(khz::RequestContext& ctx);  // GET /notes
void DeleteNote(khz::RequestContext& ctx);  // DELETE /notes/:id

}  // namespace notes::handler
