// SPDX-License-Identifier: Apache-2.0
// The generators: each turns the interpreted model into files of the project through a Writer.
//   layout    CMakeLists.txt, main.cc, router.{h,cc}                     (created once)
//   routers   <router_dir>/register.{h,cc}, <router_dir>/<ns>/<idl>.{h,cc} (regenerated)
//             <router_dir>/<ns>/<idl>_middleware.{h,cc}                  (appended)
//   handlers  <handler_dir>/<ns>/<service>.{h,cc}                         (appended)
//   models    <model_dir>/<ns>/<idl>.h                                    (regenerated)
//   clients   <client_dir>/<ns>/<service>_client.h, client_support.h     (regenerated)
//   openapi   openapi.json                                                (regenerated)
#pragma once

#include "generator/writer.h"
#include "idl/model.h"

#include <string>
#include <vector>

namespace hz::gen {

struct Layout {
  std::string project = "app";
  std::string handler_dir = "biz/handler";
  std::string model_dir = "biz/model";
  std::string router_dir = "biz/router";
  std::string client_dir = "biz/client";
  std::vector<std::string> idls;  // as given, for comments
};

// The model header of an IDL file ("biz/model/demo/hello.h").
std::string model_header(const Layout& layout, const idl::File& file);

// Throws std::runtime_error (a type cycle, ...) before anything is written when it can.
void generate_layout(const idl::Program& program, const Layout& layout, Writer& out);
void generate_routers(const idl::Program& program, const Layout& layout, Writer& out);
void generate_handlers(const idl::Program& program, const Layout& layout, Writer& out);
void generate_models(const idl::Program& program, const Layout& layout, Writer& out, std::vector<std::string>& warnings);
void generate_clients(const idl::Program& program, const Layout& layout, Writer& out);
void generate_openapi(const idl::Program& program, const Layout& layout, Writer& out);

}  // namespace hz::gen
