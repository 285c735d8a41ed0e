// Interop peer: a Node `ws` server (from the npm registry) started by the interop tests.
//
// Same listeners ("plain", "deflate", optional "tls" with --certfile/--keyfile), readiness
// line (one JSON line of ports) and routes as websockets_server.py (see its docstring).
// Exits when stdin closes, so a dead test run never leaves it behind.
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');
const path = require('path');
const { WebSocketServer } = require(path.join(__dirname, 'node_modules', 'ws'));

const MAX_SIZE = 2 ** 25;
const SERVER_PROTOCOLS = ['chat.v2', 'chat.v1'];
// "fragmenté 🚀" split inside its UTF-8 sequences.
const TEXT_FRAGMENTS = [[0x66, 0x72, 0x61, 0x67], [0x6d, 0x65, 0x6e, 0x74, 0xc3],
  [0xa9, 0x20, 0xf0, 0x9f], [0x9a, 0x80]].map((b) => Buffer.from(b));
const BINARY_FRAGMENTS = [[0, 1], [], [2, 3]].map((b) => Buffer.from(b));
const REJECT_BODY = 'go away: this route always answers 403';

const records = new Map(); // token -> {code, reason}
const waiters = new Map(); // token -> [resolve]

function record(token, code, reason) {
  if (!token) return;
  records.set(token, { code, reason });
  for (const resolve of waiters.get(token) || []) resolve();
  waiters.delete(token);
}

function whenRecorded(token, ms) {
  if (records.has(token)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const list = waiters.get(token) || [];
    list.push(() => { clearTimeout(timer); resolve(true); });
    waiters.set(token, list);
  });
}

function echo(ws) {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

function onConnection(ws, request) {
  const url = new URL(request.url, 'http://127.0.0.1');
  const q = url.searchParams;
  switch (url.pathname) {
    case '/echo':
      echo(ws);
      ws.on('close', (code, reason) => record(q.get('id'), code, reason.toString()));
      break;
    case '/close': {
      const n = Number(q.get('send') || 0);
      const pad = '.'.repeat(Number(q.get('pad') || 0));
      for (let i = 0; i < n; i++) ws.send(`message ${i}${pad}`);
      // ws reports the close frame the client answered with.
      ws.on('close', (code, reason) => record(q.get('id'), code, reason.toString()));
      if (q.has('code')) ws.close(Number(q.get('code')), q.get('reason') || '');
      else ws.close(); // a close frame with no status code
      break;
    }
    case '/closed':
      whenRecorded(q.get('id'), 5000).then((found) => {
        ws.send(JSON.stringify(found ? records.get(q.get('id')) : { error: 'no record' }));
        ws.close(1000);
      });
      break;
    case '/send': {
      const n = Number(q.get('n'));
      const buf = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) buf[i] = i & 0xff;
      ws.send(buf, { binary: true });
      echo(ws);
      ws.on('close', (code, reason) => record(q.get('id'), code, reason.toString()));
      break;
    }
    case '/fragments': {
      const timer = setTimeout(() => ws.send('no pong'), 5000);
      ws.once('pong', (data) => {
        clearTimeout(timer);
        ws.send('pong:' + data.toString());
      });
      for (const [binary, parts] of [[false, TEXT_FRAGMENTS], [true, BINARY_FRAGMENTS]]) {
        parts.forEach((part, i) => {
          // A control frame between fragments (RFC 6455 §5.4).
          if (!binary && i === 2) ws.ping(Buffer.from('mid-message'));
          ws.send(part, { binary, fin: i === parts.length - 1 });
        });
      }
      echo(ws);
      break;
    }
    case '/headers':
      ws.send(JSON.stringify(request.headers)); // Node lower-cases the names
      echo(ws);
      break;
    case '/abort':
      ws.send('last words', () => ws.terminate()); // no close frame, just the end of TCP
      break;
    case '/ping': {
      const timer = setTimeout(() => ws.send('no pong'), 5000);
      ws.once('pong', (data) => {
        clearTimeout(timer);
        ws.send('pong:' + data.toString());
      });
      ws.ping(Buffer.from('srv-ping'));
      echo(ws);
      break;
    }
    case '/subprotocol':
      ws.send(ws.protocol || '');
      echo(ws);
      break;
    default:
      ws.close(4404, `no route ${url.pathname}`);
  }
}

function listen(name, perMessageDeflate, tls) {
  const server = tls ? https.createServer(tls) : http.createServer();
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate,
    maxPayload: MAX_SIZE,
    handleProtocols: (offered) => SERVER_PROTOCOLS.find((p) => offered.has(p)) || false,
  });
  wss.on('connection', onConnection);
  server.on('upgrade', (request, socket, head) => {
    socket.on('error', () => {});
    if (new URL(request.url, 'http://127.0.0.1').pathname === '/reject') {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n' +
        `X-Interop: rejected\r\nContent-Length: ${Buffer.byteLength(REJECT_BODY)}\r\n` +
        `Connection: close\r\n\r\n${REJECT_BODY}`);
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  });
  return new Promise((resolve) => {
    server.listen({ host: '127.0.0.1', port: 0, backlog: 1024 },
      () => resolve([name, server.address().port]));
  });
}

function arg(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main() {
  const listeners = [listen('plain', false), listen('deflate', true)];
  if (arg('--certfile')) {
    const tls = { cert: fs.readFileSync(arg('--certfile')), key: fs.readFileSync(arg('--keyfile')) };
    listeners.push(listen('tls', false, tls));
  }
  const ports = Object.fromEntries(await Promise.all(listeners));
  process.stdout.write(JSON.stringify(ports) + '\n');
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

main();
