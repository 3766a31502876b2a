// SPDX-License-Identifier: Apache-2.0
// The OpenTelemetry JS SDK set up as an application would: a tracer provider for `service`
// whose spans go to an OTLP/HTTP protobuf endpoint at once (SimpleSpanProcessor), and the W3C
// Trace Context + Baggage propagators.
'use strict';
const api = require('@opentelemetry/api');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { CompositePropagator, W3CTraceContextPropagator, W3CBaggagePropagator } = require('@opentelemetry/core');
const resources = require('@opentelemetry/resources');

function setup(service, endpoint) {
  const resource = resources.resourceFromAttributes
    ? resources.resourceFromAttributes({ 'service.name': service })
    : new resources.Resource({ 'service.name': service });
  const processor = new SimpleSpanProcessor(new OTLPTraceExporter({ url: endpoint }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  provider.register({
    propagator: new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    }),
  });
  return { api, provider, tracer: api.trace.getTracer(service) };
}

module.exports = { setup };
