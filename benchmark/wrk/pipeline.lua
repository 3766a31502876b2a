-- SPDX-License-Identifier: Apache-2.0
-- HTTP/1.1 pipelining for wrk: each write carries `depth` GET requests for `path`;
-- wrk counts every response, so req/s is responses per second.
--   wrk -s benchmark/wrk/pipeline.lua http://127.0.0.1:8080 -- /plaintext 16
local path, depth = "/plaintext", 16

function init(args)
  path = args[1] or path
  depth = tonumber(args[2]) or depth
  local batch = {}
  for i = 1, depth do
    batch[i] = wrk.format("GET", path)
  end
  pipelined = table.concat(batch)
end

function request()
  return pipelined
end
