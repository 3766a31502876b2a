// SPDX-License-Identifier: Apache-2.0
// A node HTTP server traced with the OpenTelemetry SDK: each request is a SERVER span under the
// context extracted from its headers; it answers with the baggage it received (JSON).
//   node upstream.js PORT OTLP_ENDPOINT
'use strict';
const http = require('http');
const { setup } = require('./tracing');

const [port, endpoint] = process.argv.slice(2);
const { api, provider, tracer } = setup('node-upstream', endpoint);

http.createServer((req, res) => {
  const parent = api.propagation.extract(api.ROOT_CONTEXT, req.headers);
  const span = tracer.startSpan(`${req.method} ${req.url}`, { kind: api.SpanKind.SERVER }, parent);
  const baggage = api.propagation.getBaggage(parent);
  const seen = {};
  for (const [key, entry] of baggage ? baggage.getAllEntries() : []) seen[key] = entry.value;
  span.setAttribute('baggage.userId', seen.userId || '');
  span.setAttribute('http.response.status_code', 200);
  span.end();
  provider.forceFlush().then(() => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(seen));
  });
}).listen(Number(port), '127.0.0.1', () => console.log('listening'));
process.on('SIGTERM', () => provider.shutdown().finally(() => process.exit(0)));
