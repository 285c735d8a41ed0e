// Interop peer: a Node `ws` server (from the npm registry) started by the interop tests.
//
// Same listeners ("plain", "deflate", optional "tls" with --certfile/--keyfile), readiness
// line (one JSON line of ports) and routes as websockets_server.py (see its docstring).
// Exits when stdin closes, so a dead test run never leaves it behind. Extra listeners for
// ws's server-side permessage-deflate settings: "deflate-nct" (serverNoContextTakeover,
// clientNoContextTakeover, threshold 100) and "deflate-bits" (serverMaxWindowBits 10,
// clientMaxWindowBits 10). Every socket's incoming bytes go through WireFrames (the twin of
// wireframes.py) before ws reads them, for /wire.
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

function pattern(n, zero) {
  const buf = Buffer.alloc(n);
  if (!zero) for (let i = 0; i < n; i++) buf[i] = i & 0xff;
  return buf;
}

// Frame headers of the bytes a socket reads after the handshake: [rsv1, opcode, fin, length].
class WireFrames {
  constructor() {
    this.buffer = Buffer.alloc(0);
    this.skip = 0;
    this.frames = [];
    this.bytes = 0;
  }

  feed(chunk) {
    this.bytes += chunk.length;
    if (this.skip >= chunk.length) {
      this.skip -= chunk.length;
      return;
    }
    const data = Buffer.concat([this.buffer, chunk.subarray(this.skip)]);
    this.skip = 0;
    let pos = 0;
    while (data.length - pos >= 2) {
      const b0 = data[pos];
      const b1 = data[pos + 1];
      let length = b1 & 0x7f;
      let header = length === 126 ? 4 : length === 127 ? 10 : 2;
      if (b1 & 0x80) header += 4;
      if (data.length - pos < header) break;
      if (length === 126) length = data.readUInt16BE(pos + 2);
      else if (length === 127) length = Number(data.readBigUInt64BE(pos + 2));
      this.frames.push([(b0 >> 6) & 1, b0 & 0x0f, b0 >> 7, length]);
      const end = pos + header + length;
      if (end > data.length) {
        this.skip = end - data.length;
        pos = data.length;
        break;
      }
      pos = end;
    }
    this.buffer = data.subarray(pos);
  }

  takeMessage() {
    const frames = [];
    while (this.frames.length) {
      const frame = this.frames.shift();
      if (frame[1] >= 8) continue;
      frames.push(frame);
      if (frame[2]) break;
    }
    return frames;
  }
}

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

function onConnection(ws, request, wire) {
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
      ws.send(pattern(Number(q.get('n')), q.get('zero') === '1'), { binary: true });
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
    case '/wire': {
      const messages = [];
      ws.on('message', (data, isBinary) => {
        const frames = wire.takeMessage();
        if (!isBinary && data.toString() === 'wire?') {
          ws.send(JSON.stringify({ messages, bytes: wire.bytes }));
        } else {
          messages.push(frames);
          ws.send(data, { binary: isBinary });
        }
      });
      break;
    }
    case '/deflate-fragments': {
      const n = Number(q.get('n'));
      const chunk = pattern(Number(q.get('size')));
      for (let i = 0; i < n; i++) ws.send(chunk, { binary: true, fin: i === n - 1, compress: true });
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
    wss.handleUpgrade(request, socket, head, (ws) => {
      // Ahead of ws's own listener, so the frames are noted before ws emits the message.
      const wire = new WireFrames();
      socket.prependListener('data', (chunk) => wire.feed(chunk));
      wss.emit('connection', ws, request, wire);
    });
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
  const listeners = [
    listen('plain', false),
    listen('deflate', true), // ws's defaults: context takeover, 15 bits, threshold 1024
    listen('deflate-nct', { serverNoContextTakeover: true, clientNoContextTakeover: true,
      threshold: 100 }),
    listen('deflate-bits', { serverMaxWindowBits: 10, clientMaxWindowBits: 10 }),
  ];
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
