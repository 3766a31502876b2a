// SPDX-License-Identifier: Apache-2.0
// node-ws: the Node.js `ws` WebSocket peer for benchmark/run.sh (Debian's node-ws package;
// run with NODE_PATH=/usr/share/nodejs). One process, one event loop:
//   GET /ws          -> WebSocket upgrade; each message is echoed back with its type (text or binary)
//   GET /plaintext   -> "Hello, World!" (run.sh's readiness check, as every peer answers it)
//   anything else    -> 404
//
//   node echo.js [--port N]
//
// perMessageDeflate is off (the raw frame path, as the Beast peer by default); ws's other
// defaults stay (text messages are checked to be UTF-8), messages up to 64 MiB.
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');

let port = 8080;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--port' && i + 1 < args.length) {
    port = Number(args[++i]);
    if (!Number.isInteger(port) || port < 0 || port > 65535) usage('bad port');
  } else {
    usage('unknown flag ' + args[i]);
  }
}

function usage(why) {
  process.stderr.write(`node-ws echo: ${why}\nusage: node echo.js [--port N]\n`);
  process.exit(2);
}

const server = http.createServer((req, res) => {
  if (req.url === '/plaintext' && req.method === 'GET') {
    res.writeHead(200, { 'Content-Type': 'text/plain', Server: 'node' });
    res.end('Hello, World!');
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain', Server: 'node' });
    res.end('404 page not found');
  }
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });

server.on('upgrade', (req, socket, head) => {
  if (req.url !== '/ws') {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => ws.terminate());
  });
});

server.listen(port, '0.0.0.0');
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
