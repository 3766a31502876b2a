// SPDX-License-Identifier: Apache-2.0
// A node `ws` peer for websocket_interop_test (Debian node-ws; NODE_PATH=/usr/share/nodejs).
//   node ws_peer.js server PORT_DEFLATE PORT_PLAIN   echo servers (same type back; permessage-deflate
//                                                    on the first port, none on the second) until killed
//   node ws_peer.js client URL deflate|plain         talks to an echo server; prints "ok" or why not
'use strict';
const { WebSocket, WebSocketServer } = require('ws');

const MAX = 16 * 1024 * 1024;

function pattern(n) {
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(97 + ((i * 7 + Math.floor(i / 13)) % 26));
  return s;
}

function fail(why) {
  console.log(why);
  process.exit(1);
}

function serve(portDeflate, portPlain) {
  for (const [port, deflate] of [[portDeflate, true], [portPlain, false]]) {
    const server = new WebSocketServer({
      host: '127.0.0.1', port, perMessageDeflate: deflate, maxPayload: MAX,
      handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
    });
    server.on('connection', (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  }
}

function client(url, mode) {
  const deflate = mode === 'deflate';
  const ws = new WebSocket(url, ['chat'], { perMessageDeflate: deflate, maxPayload: MAX });
  const big = pattern(1024 * 1024 + 3);
  const steps = [
    ['text', 'hello'], ['binary', Buffer.from([0, 1, 255])], ['text', ''], ['text', 'κόσμε'],
    ['text', big], ['binary', Buffer.from(big)],
  ];
  let step = 0;
  let expect = null;
  const timer = setTimeout(() => fail('timed out at step ' + step), 20000);
  function next() {
    if (step < steps.length) {
      const [type, data] = steps[step++];
      expect = [type, data];
      ws.send(data, { binary: type === 'binary' });
    } else if (step === steps.length) {
      step++;
      // A fragmented message: one frame per send, fin on the last.
      expect = ['text', 'fragmented text'];
      ws.send('frag', { fin: false });
      ws.send('mented', { fin: false });
      ws.send(' text', { fin: true });
    } else {
      ws.ping('node');
    }
  }
  ws.on('open', () => {
    if (ws.protocol !== 'chat') fail('subprotocol ' + ws.protocol);
    const negotiated = ws.extensions.includes('permessage-deflate');
    if (negotiated !== deflate) fail('permessage-deflate negotiated: ' + negotiated);
    next();
  });
  ws.on('message', (data, isBinary) => {
    const [type, want] = expect;
    if ((type === 'binary') !== isBinary) fail('type differs at step ' + step);
    const got = isBinary ? data : data.toString('utf8');
    const same = isBinary ? Buffer.compare(got, want) === 0 : got === want;
    if (!same) fail('echo differs at step ' + step);
    next();
  });
  ws.on('pong', () => ws.close(4000, 'node done'));
  ws.on('close', (code) => {
    clearTimeout(timer);
    if (code !== 4000) fail('close code ' + code);
    console.log('ok');
    process.exit(0);
  });
  ws.on('error', (e) => fail('error: ' + e.message));
}

const [, , role, a, b] = process.argv;
if (role === 'server' && a && b) serve(Number(a), Number(b));
else if (role === 'client' && a && b) client(a, b);
else fail('usage: node ws_peer.js server PORT_DEFLATE PORT_PLAIN | client URL deflate|plain');
