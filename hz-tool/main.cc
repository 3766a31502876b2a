// SPDX-License-Identifier: Apache-2.0
// hz: khz's code generator (Hertz's hz, in C++). From Thrift or Protobuf IDL it scaffolds a
// service that builds against the installed khz, and keeps it in step with the IDL.
//
//   hz new    --idl idl/hello.thrift --service hello --out-dir hello   a new project
//   hz update --idl idl/hello.thrift --out-dir hello                   new methods, models, routes
//   hz model  --idl idl/hello.thrift --out-dir hello                   the model headers only
//   hz client --idl idl/hello.thrift --out-dir app                     models and typed clients
//
// The IDL is read by the real compilers (thrift --gen json, protoc); Hertz's annotations set the
// routes, bindings and rules (idl/annotations.h); the templates (hz-tool/templates, compiled in)
// render the files (generator/generate.h says which are regenerated and which are the user's).
#include "generator/generate.h"
#include "generator/writer.h"
#include "idl/annotations.h"
#include "idl/protobuf_reader.h"
#include "idl/thrift_reader.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef HZ_VERSION
#define HZ_VERSION "0"
#endif

namespace {

namespace fs = std::filesystem;

enum class Command { create, update, model, client };

struct Arguments {
  std::vector<std::string> idls;
  std::string module, service;
  std::string out_dir = ".";
  std::string handler_dir, model_dir, router_dir, client_dir;
  std::vector<std::string> include_paths;
  std::string layout_templates, package_templates;
  bool force = false;
  std::vector<std::string> excluded;
};

void add_common(CLI::App* cmd, Arguments& a, bool project_flags) {
  cmd->add_option("--idl", a.idls, "IDL file (.thrift or .proto); repeat for several")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out-dir", a.out_dir, "the project folder")->capture_default_str();
  cmd->add_option("-I,--proto_path,--include", a.include_paths, "a folder where included/imported IDL files are looked up");
  cmd->add_option("--model-dir", a.model_dir, "model headers, under --out-dir (default biz/model)");
  cmd->add_option("--client-dir", a.client_dir, "client headers, under --out-dir (default biz/client)");
  cmd->add_option("--exclude-file", a.excluded, "a file (relative to --out-dir) hz must not write; repeatable");
  cmd->add_option("--customize-package", a.package_templates,
                  "a folder of .mustache templates replacing hz's package templates of the same name");
  if (!project_flags) return;
  cmd->add_option("--module", a.module, "the project name (Hertz's Go module; --service wins)");
  cmd->add_option("--service", a.service, "the service (project and executable) name");
  cmd->add_option("--handler-dir", a.handler_dir, "handlers, under --out-dir (default biz/handler)");
  cmd->add_option("--router-dir", a.router_dir, "routers and middleware, under --out-dir (default biz/router)");
  cmd->add_option("--customize-layout", a.layout_templates,
                  "a folder of .mustache templates replacing the project layout's (CMakeLists.txt, main.cc, "
                  "router.h/.cc); other templates there become files of the new project");
  cmd->add_flag("--force", a.force, "overwrite files that belong to the user (main.cc, handlers, ...)");
}

// .hz: the settings `new` used, so `update` keeps the layout without repeating the flags.
std::map<std::string, std::string> read_settings(const std::string& out_dir) {
  std::map<std::string, std::string> out;
  std::ifstream in(fs::path(out_dir) / ".hz");
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(": ");
    if (colon != std::string::npos && line[0] != '#') out[line.substr(0, colon)] = line.substr(colon + 2);
  }
  return out;
}

std::string pick(const std::string& flag, const std::map<std::string, std::string>& settings, const char* key,
                 const std::string& fallback) {
  if (!flag.empty()) return flag;
  auto it = settings.find(key);
  return it != settings.end() ? it->second : fallback;
}

int run(Command command, Arguments& a) {
  auto settings = read_settings(a.out_dir);
  bool is_project = fs::exists(fs::path(a.out_dir) / ".hz");
  if (command == Command::create && is_project && !a.force) {
    throw std::runtime_error(a.out_dir + " already holds an hz project (.hz): use hz update, or --force");
  }
  if (command == Command::update && !is_project) {
    throw std::runtime_error(a.out_dir + " holds no hz project (.hz): run hz new first");
  }
  hz::gen::Layout layout;
  std::string default_name = fs::absolute(a.out_dir).lexically_normal().filename().string();
  if (default_name.empty() || default_name == ".") default_name = "app";
  layout.project = pick(a.service.empty() ? a.module : a.service, settings, "service", default_name);
  layout.handler_dir = pick(a.handler_dir, settings, "handler_dir", "biz/handler");
  layout.model_dir = pick(a.model_dir, settings, "model_dir", "biz/model");
  layout.router_dir = pick(a.router_dir, settings, "router_dir", "biz/router");
  layout.client_dir = pick(a.client_dir, settings, "client_dir", "biz/client");
  layout.idls = a.idls;

  bool thrift = false, proto = false;
  for (const std::string& idl : a.idls) {
    std::string ext = fs::path(idl).extension().string();
    if (ext == ".thrift") thrift = true;
    else if (ext == ".proto") proto = true;
    else throw std::runtime_error(idl + ": hz reads .thrift and .proto files");
  }
  if (thrift && proto) throw std::runtime_error("one run reads Thrift or Protobuf IDL, not both");

  hz::idl::Program program = thrift ? hz::idl::read_thrift(a.idls, a.include_paths)
                                    : hz::idl::read_protobuf(a.idls, a.include_paths);
  std::vector<std::string> warnings;
  hz::idl::interpret(program, warnings);
  hz::idl::check_routes(program);  // before anything is written

  hz::gen::Writer out(a.out_dir, a.layout_templates, a.package_templates, a.force, a.excluded);
  if (command == Command::create || command == Command::update) {
    if (command == Command::create) hz::gen::generate_layout(program, layout, out);
    hz::gen::generate_models(program, layout, out, warnings);
    hz::gen::generate_routers(program, layout, out);
    hz::gen::generate_handlers(program, layout, out);
    hz::gen::generate_clients(program, layout, out);
    hz::gen::generate_openapi(program, layout, out);
    std::ostringstream s;
    s << "# hz " << HZ_VERSION << ": the settings of this project, read by hz update\n"
      << "service: " << layout.project << "\nhandler_dir: " << layout.handler_dir << "\nmodel_dir: " << layout.model_dir
      << "\nrouter_dir: " << layout.router_dir << "\nclient_dir: " << layout.client_dir << "\n";
    out.regenerate(".hz", s.str());
  } else if (command == Command::model) {
    hz::gen::generate_models(program, layout, out, warnings);
  } else {
    hz::gen::generate_models(program, layout, out, warnings);
    hz::gen::generate_clients(program, layout, out);
  }
  for (const std::string& w : warnings) std::fprintf(stderr, "hz: warning: %s\n", w.c_str());
  for (const std::string& f : out.written) std::printf("hz: wrote %s\n", f.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hz: generates and updates khz services from Thrift or Protobuf IDL", "hz"};
  app.set_version_flag("--version", std::string("hz ") + HZ_VERSION);
  app.require_subcommand(1);
  Arguments args;
  Command command = Command::create;
  CLI::App* create = app.add_subcommand("new", "create a project: layout, models, routers, handlers, client, OpenAPI");
  add_common(create, args, true);
  create->callback([&] { command = Command::create; });
  CLI::App* update = app.add_subcommand("update", "update a project from its IDL: new handlers and middleware are "
                                                  "appended, models, routers, clients and OpenAPI regenerated");
  add_common(update, args, true);
  update->callback([&] { command = Command::update; });
  CLI::App* model = app.add_subcommand("model", "write the model headers only");
  add_common(model, args, false);
  model->callback([&] { command = Command::model; });
  CLI::App* client = app.add_subcommand("client", "write the model headers and a typed client per service");
  add_common(client, args, false);
  client->callback([&] { command = Command::client; });
  CLI11_PARSE(app, argc, argv);
  try {
    return run(command, args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hz: %s\n", e.what());
    return 1;
  }
}
