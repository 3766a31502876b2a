// SPDX-License-Identifier: Apache-2.0
//
// Router micro benchmarks: RadixTree<V>::find on small trees (static, param, catch-all) and
// on the GitHub REST API route table (the classic httprouter benchmark shape, GET routes).
//
//   g++ -O2 -std=c++20 -Iroute/include route/path.cc benchmark/micro/router_bench.cc
//       -lbenchmark -lpthread -o router_bench  &&  ./router_bench
#include <khz/route/radix_tree.h>

#include <benchmark/benchmark.h>

#include <string>
#include <string_view>
#include <vector>

namespace {

using khz::route::Params;
using Tree = khz::route::RadixTree<int>;

// GitHub API v3, GET routes.
const std::vector<std::string_view> kGithubRoutes = {
    "/authorizations",
    "/authorizations/:id",
    "/applications/:client_id/tokens/:access_token",
    "/events",
    "/repos/:owner/:repo/events",
    "/networks/:owner/:repo/events",
    "/orgs/:org/events",
    "/users/:user/received_events",
    "/users/:user/received_events/public",
    "/users/:user/events",
    "/users/:user/events/public",
    "/users/:user/events/orgs/:org",
    "/feeds",
    "/notifications",
    "/repos/:owner/:repo/notifications",
    "/notifications/threads/:id",
    "/notifications/threads/:id/subscription",
    "/repos/:owner/:repo/stargazers",
    "/users/:user/starred",
    "/user/starred",
    "/user/starred/:owner/:repo",
    "/repos/:owner/:repo/subscribers",
    "/users/:user/subscriptions",
    "/user/subscriptions",
    "/repos/:owner/:repo/subscription",
    "/user/subscriptions/:owner/:repo",
    "/users/:user/gists",
    "/gists",
    "/gists/:id",
    "/gists/:id/star",
    "/repos/:owner/:repo/git/blobs/:sha",
    "/repos/:owner/:repo/git/commits/:sha",
    "/repos/:owner/:repo/git/refs/*ref",
    "/repos/:owner/:repo/git/tags/:sha",
    "/repos/:owner/:repo/git/trees/:sha",
    "/issues",
    "/user/issues",
    "/orgs/:org/issues",
    "/repos/:owner/:repo/issues",
    "/repos/:owner/:repo/issues/:number",
    "/repos/:owner/:repo/assignees",
    "/repos/:owner/:repo/assignees/:assignee",
    "/repos/:owner/:repo/issues/:number/comments",
    "/repos/:owner/:repo/issues/:number/events",
    "/repos/:owner/:repo/labels",
    "/repos/:owner/:repo/labels/:name",
    "/repos/:owner/:repo/issues/:number/labels",
    "/repos/:owner/:repo/milestones/:number/labels",
    "/repos/:owner/:repo/milestones",
    "/repos/:owner/:repo/milestones/:number",
    "/emojis",
    "/gitignore/templates",
    "/gitignore/templates/:name",
    "/meta",
    "/rate_limit",
    "/users/:user/orgs",
    "/user/orgs",
    "/orgs/:org",
    "/orgs/:org/members",
    "/orgs/:org/members/:user",
    "/orgs/:org/public_members",
    "/orgs/:org/public_members/:user",
    "/orgs/:org/teams",
    "/teams/:id",
    "/teams/:id/members",
    "/teams/:id/members/:user",
    "/teams/:id/repos",
    "/teams/:id/repos/:owner/:repo",
    "/user/teams",
    "/repos/:owner/:repo/pulls",
    "/repos/:owner/:repo/pulls/:number",
    "/repos/:owner/:repo/pulls/:number/commits",
    "/repos/:owner/:repo/pulls/:number/files",
    "/repos/:owner/:repo/pulls/:number/merge",
    "/repos/:owner/:repo/pulls/:number/comments",
    "/user/repos",
    "/users/:user/repos",
    "/orgs/:org/repos",
    "/repositories",
    "/repos/:owner/:repo",
    "/repos/:owner/:repo/contributors",
    "/repos/:owner/:repo/languages",
    "/repos/:owner/:repo/teams",
    "/repos/:owner/:repo/tags",
    "/repos/:owner/:repo/branches",
    "/repos/:owner/:repo/branches/:branch",
    "/repos/:owner/:repo/collaborators",
    "/repos/:owner/:repo/collaborators/:user",
    "/repos/:owner/:repo/comments",
    "/repos/:owner/:repo/commits/:sha/comments",
    "/repos/:owner/:repo/comments/:id",
    "/repos/:owner/:repo/commits",
    "/repos/:owner/:repo/commits/:sha",
    "/repos/:owner/:repo/readme",
    "/repos/:owner/:repo/contents/*path",
    "/repos/:owner/:repo/:archive_format/:ref",
    "/repos/:owner/:repo/keys",
    "/repos/:owner/:repo/keys/:id",
    "/repos/:owner/:repo/downloads",
    "/repos/:owner/:repo/downloads/:id",
    "/repos/:owner/:repo/forks",
    "/repos/:owner/:repo/hooks",
    "/repos/:owner/:repo/hooks/:id",
    "/repos/:owner/:repo/releases",
    "/repos/:owner/:repo/releases/:id",
    "/repos/:owner/:repo/releases/:id/assets",
    "/repos/:owner/:repo/stats/contributors",
    "/repos/:owner/:repo/stats/commit_activity",
    "/repos/:owner/:repo/stats/code_frequency",
    "/repos/:owner/:repo/stats/participation",
    "/repos/:owner/:repo/stats/punch_card",
    "/repos/:owner/:repo/statuses/:ref",
    "/search/repositories",
    "/search/code",
    "/search/issues",
    "/search/users",
    "/legacy/issues/search/:owner/:repository/:state/:keyword",
    "/legacy/repos/search/:keyword",
    "/legacy/user/search/:keyword",
    "/legacy/user/email/:email",
    "/users/:user",
    "/user",
    "/users",
    "/user/emails",
    "/users/:user/followers",
    "/user/followers",
    "/users/:user/following",
    "/user/following",
    "/user/following/:user",
    "/users/:user/following/:target_user",
    "/users/:user/keys",
    "/user/keys",
    "/user/keys/:id",
};

// A request path for `pattern`: each `:name` becomes a value, `*name` a two-level path.
std::string sample_path(std::string_view pattern) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size();) {
    if (pattern[i] == ':') {
      out += "v42";
      while (i < pattern.size() && pattern[i] != '/') ++i;
    } else if (pattern[i] == '*') {
      out += "dir/file.txt";
      i = pattern.size();
    } else {
      out += pattern[i++];
    }
  }
  return out;
}

Tree github_tree() {
  Tree tree;
  int id = 0;
  for (auto r : kGithubRoutes) tree.add(r, id++);
  return tree;
}

void run_lookup(benchmark::State& state, const Tree& tree, std::string_view path,
                bool expect_match) {
  Params params;
  params.reserve(tree.max_params());
  if ((tree.find(path, params).value != nullptr) != expect_match) {
    state.SkipWithError("unexpected lookup result");
    return;
  }
  for (auto _ : state) {
    auto m = tree.find(path, params);
    benchmark::DoNotOptimize(m);
    benchmark::DoNotOptimize(params);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_StaticSmall(benchmark::State& state) {
  Tree tree;
  tree.add("/", 0);
  tree.add("/cmd.html", 1);
  tree.add("/code.html", 2);
  tree.add("/contrib.html", 3);
  tree.add("/contribute.html", 4);
  tree.add("/debugging_with_gdb.html", 5);
  tree.add("/docs.html", 6);
  tree.add("/effective_go.html", 7);
  run_lookup(state, tree, "/contribute.html", true);
}
BENCHMARK(BM_StaticSmall);

void BM_Param1(benchmark::State& state) {
  Tree tree;
  tree.add("/user/:name", 0);
  run_lookup(state, tree, "/user/gordon", true);
}
BENCHMARK(BM_Param1);

void BM_Param5(benchmark::State& state) {
  Tree tree;
  tree.add("/:a/:b/:c/:d/:e", 0);
  run_lookup(state, tree, "/test/test/test/test/test", true);
}
BENCHMARK(BM_Param5);

void BM_Param20(benchmark::State& state) {
  std::string route;
  std::string path;
  for (int i = 0; i < 20; ++i) {
    route += "/:p" + std::to_string(i);
    path += "/value" + std::to_string(i);
  }
  Tree tree;
  tree.add(route, 0);
  run_lookup(state, tree, path, true);
}
BENCHMARK(BM_Param20);

void BM_CatchAll(benchmark::State& state) {
  Tree tree;
  tree.add("/static/*filepath", 0);
  tree.add("/static/index.html", 1);
  run_lookup(state, tree, "/static/css/vendor/bootstrap/4.6/bootstrap.min.css", true);
}
BENCHMARK(BM_CatchAll);

void BM_BacktrackToCatchAll(benchmark::State& state) {
  Tree tree;
  tree.add("/src/a/b/c/d", 0);
  tree.add("/src/:x/b/c/e", 1);
  tree.add("/src/*rest", 2);
  run_lookup(state, tree, "/src/a/b/c/f", true);
}
BENCHMARK(BM_BacktrackToCatchAll);

void BM_GithubStatic(benchmark::State& state) {
  static const Tree tree = github_tree();
  run_lookup(state, tree, "/user/repos", true);
}
BENCHMARK(BM_GithubStatic);

void BM_GithubParam(benchmark::State& state) {
  static const Tree tree = github_tree();
  run_lookup(state, tree, "/repos/julienschmidt/httprouter/stargazers", true);
}
BENCHMARK(BM_GithubParam);

void BM_GithubParam3(benchmark::State& state) {
  static const Tree tree = github_tree();
  run_lookup(state, tree, "/repos/cloudwego/hertz/pulls/1024/files", true);
}
BENCHMARK(BM_GithubParam3);

void BM_GithubCatchAll(benchmark::State& state) {
  static const Tree tree = github_tree();
  run_lookup(state, tree, "/repos/cloudwego/hertz/contents/pkg/route/tree.go", true);
}
BENCHMARK(BM_GithubCatchAll);

void BM_GithubNotFound(benchmark::State& state) {
  static const Tree tree = github_tree();
  run_lookup(state, tree, "/repos/cloudwego/hertz/pulls/1024/files/extra", false);
}
BENCHMARK(BM_GithubNotFound);

void BM_GithubTrailingSlash(benchmark::State& state) {
  static const Tree tree = github_tree();
  run_lookup(state, tree, "/repos/cloudwego/hertz/pulls/", false);
}
BENCHMARK(BM_GithubTrailingSlash);

// Every route once per iteration; the "per_lookup" counter is the time of one lookup.
void BM_GithubAll(benchmark::State& state) {
  static const Tree tree = github_tree();
  std::vector<std::string> paths;
  for (auto r : kGithubRoutes) paths.push_back(sample_path(r));
  Params params;
  params.reserve(tree.max_params());
  for (const auto& p : paths) {
    if (tree.find(p, params).value == nullptr) {
      state.SkipWithError(("no match for " + p).c_str());
      return;
    }
  }
  for (auto _ : state) {
    for (const auto& p : paths) {
      auto m = tree.find(p, params);
      benchmark::DoNotOptimize(m);
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(paths.size()));
  state.counters["routes"] = static_cast<double>(paths.size());
  state.counters["per_lookup"] = benchmark::Counter(
      static_cast<double>(state.iterations() * paths.size()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_GithubAll);

void BM_GithubCaseInsensitive(benchmark::State& state) {
  static const Tree tree = github_tree();
  for (auto _ : state) {
    auto fixed = tree.find_case_insensitive("/REPOS/cloudwego/hertz/Pulls/1024/FILES", true);
    benchmark::DoNotOptimize(fixed);
  }
}
BENCHMARK(BM_GithubCaseInsensitive);

void BM_GithubBuild(benchmark::State& state) {
  for (auto _ : state) {
    Tree tree = github_tree();
    benchmark::DoNotOptimize(tree);
  }
  state.counters["routes"] = static_cast<double>(kGithubRoutes.size());
}
BENCHMARK(BM_GithubBuild);

}  // namespace

BENCHMARK_MAIN();
