-- SPDX-License-Identifier: Apache-2.0
-- POST /echo with a 1024-byte body (printable ASCII); the server sends it back.
--   wrk -s benchmark/wrk/echo_1k.lua http://127.0.0.1:8080/echo
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.body = string.rep("0123456789abcdef", 64)
