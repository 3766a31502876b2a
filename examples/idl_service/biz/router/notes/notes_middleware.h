// Group middleware for the routes of notes.thrift: generated once by hz, then yours (hz update only
// appends the functions of new services and methods). Each returns the middleware of its group,
// outermost first: the file's, then the service's, then the method's.
#pragma once

#include <khz/app/handler.h>

#include <vector>

namespace notes::middleware {

std::vector<khz::Handler> notes_idl_mw();  // every route of notes.thrift
std::vector<khz::Handler> note_service_mw();  // the routes of service NoteService
std::vector<khz::Handler> note_service_create_note_mw();  // NoteService.CreateNote
std::vector<khz::Handler> note_service_get_note_mw();  // NoteService.GetNote
std::vector<khz::Handler> note_service_list_notes_mw();  // NoteService.ListNotes
std::vector<khz::Handler> note_service_delete_note_mw();  // NoteService.DeleteNote

}  // namespace notes::middleware
