-- SPDX-License-Identifier: Apache-2.0
-- POST /bind (benchmark/bind/bind_contract.h): a valid 10-field JSON body, bound, validated and
-- rendered back by the server.
--   wrk -s benchmark/wrk/bind.lua 'http://127.0.0.1:8080/bind?verbose=true'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Request-Id"] = "wrk-1"
wrk.body = '{"name":"Ada Lovelace","age":36,"email":"ada@example.org","tags":["math","engines","poetry"],' ..
           '"address":{"city":"London","zip":"12345"}}'
