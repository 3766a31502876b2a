// SPDX-License-Identifier: Apache-2.0
// A node client traced with the OpenTelemetry SDK: one CLIENT span around a GET to URL, its
// context and the baggage userId=alice injected; prints the response body, flushes, exits.
//   node client.js URL OTLP_ENDPOINT
'use strict';
const http = require('http');
const { setup } = require('./tracing');

const [url, endpoint] = process.argv.slice(2);
const { api, provider, tracer } = setup('node-client', endpoint);

const span = tracer.startSpan('GET', { kind: api.SpanKind.CLIENT });
let ctx = api.trace.setSpan(api.ROOT_CONTEXT, span);
ctx = api.propagation.setBaggage(ctx, api.propagation.createBaggage({ userId: { value: 'alice' } }));
const headers = {};
api.propagation.inject(ctx, headers);
http.get(url, { headers }, (res) => {
  let body = '';
  res.on('data', (chunk) => (body += chunk));
  res.on('end', () => {
    span.setAttribute('http.response.status_code', res.statusCode);
    span.end();
    provider.forceFlush().then(() => {
      process.stdout.write(body);
      return provider.shutdown();
    });
  });
}).on('error', (e) => {
  console.error(e.message);
  process.exit(1);
});
