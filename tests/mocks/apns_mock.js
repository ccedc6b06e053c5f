// Mock APNs for tests and benchmarks: HTTP/2 over TLS (ALPN h2 only), checking what Apple
// checks — the ES256 provider token (signature, kid, iss, age), the apns-* headers and
// their combinations, the device token format and the payload size — and answering with
// Apple's status codes and reasons. A plain-HTTP control port scripts answers per device
// token (410 with timestamp, 400 reasons, 429, 5xx, GOAWAY, delays, answers held until the
// test releases them) and reports what came in.
//
// node apns_mock.js --port P --control-port C --cert F --key F --pubkey F --team T --key-id K
//                   --topic TOPIC [--max-streams N]
// Prints "READY <port> <control-port>" once both listen (ports 0 pick free ones).
'use strict';
const http = require('http');
const http2 = require('http2');
const crypto = require('crypto');
const fs = require('fs');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['cert', 'key', 'pubkey', 'team', 'key-id', 'topic']) {
  if (!args[k]) { console.error(`apns_mock: --${k} is required`); process.exit(2); }
}
const publicKey = crypto.createPublicKey(fs.readFileSync(args.pubkey));
const TEAM = args.team, KEY_ID = args['key-id'], TOPIC = args.topic;
const PUSH_TYPES = new Set(['alert', 'background', 'voip', 'complication', 'fileprovider', 'mdm', 'location', 'liveactivity']);

const scripts = new Map();       // device token -> {responses: [...], sticky}
const held = new Map();          // device token -> answers held by a {hold: true} step until /release
const verifiedJwts = new Map();  // jwt -> iat (Apple caches verified tokens too)
let stats;
function resetStats() {
  stats = { requests: 0, delivered: 0, rejected: {}, by_push_type: {}, jwt_distinct: 0, connections: 0,
            sessions_open: 0, max_sessions_open: 0, goaways: 0, held: 0, recent: [] };
  verifiedJwts.clear();
}
resetStats();

function b64urlDecode(s) { return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64'); }

// Returns null when the provider token is good, else [status, reason].
function checkJwt(auth, now) {
  if (!auth) return [403, 'MissingProviderToken'];
  const m = /^bearer (.+)$/i.exec(auth);
  if (!m) return [403, 'InvalidProviderToken'];
  const jwt = m[1];
  let iat = verifiedJwts.get(jwt);
  if (iat === undefined) {
    const parts = jwt.split('.');
    if (parts.length !== 3) return [403, 'InvalidProviderToken'];
    let header, claims;
    try {
      header = JSON.parse(b64urlDecode(parts[0]));
      claims = JSON.parse(b64urlDecode(parts[1]));
    } catch (e) { return [403, 'InvalidProviderToken']; }
    if (header.alg !== 'ES256' || header.kid !== KEY_ID) return [403, 'InvalidProviderToken'];
    if (claims.iss !== TEAM || !Number.isInteger(claims.iat)) return [403, 'InvalidProviderToken'];
    const ok = crypto.verify('sha256', Buffer.from(parts[0] + '.' + parts[1]),
                             { key: publicKey, dsaEncoding: 'ieee-p1363' }, b64urlDecode(parts[2]));
    if (!ok) return [403, 'InvalidProviderToken'];
    iat = claims.iat;
    verifiedJwts.set(jwt, iat);
    stats.jwt_distinct = verifiedJwts.size;
  }
  if (iat > now + 60) return [403, 'InvalidProviderToken'];
  if (now - iat > 3600) return [403, 'ExpiredProviderToken'];
  return null;
}

// Apple's request checks, in Apple's order. Returns null or [status, reason].
function checkRequest(headers, token, body) {
  if (headers[':method'] !== 'POST') return [405, 'MethodNotAllowed'];
  if (token === null) return [404, 'BadPath'];
  if (!/^[0-9a-fA-F]+$/.test(token) || token.length < 64 || token.length % 2) return [400, 'BadDeviceToken'];
  const now = Math.floor(Date.now() / 1000);
  const jwtErr = checkJwt(headers['authorization'], now);
  if (jwtErr) return jwtErr;
  const type = headers['apns-push-type'];
  if (!PUSH_TYPES.has(type)) return [400, 'InvalidPushType'];
  const topic = headers['apns-topic'];
  if (!topic) return [400, 'MissingTopic'];
  if (topic !== TOPIC && topic !== TOPIC + '.voip') return [400, 'TopicDisallowed'];
  if ((type === 'voip') !== (topic === TOPIC + '.voip')) return [400, 'BadTopic'];
  const prio = headers['apns-priority'];
  if (prio !== undefined && !['1', '5', '10'].includes(prio)) return [400, 'BadPriority'];
  if (type === 'background' && prio !== '5') return [400, 'BadPriority'];
  const exp = headers['apns-expiration'];
  if (exp !== undefined && !/^\d+$/.test(exp)) return [400, 'BadExpirationDate'];
  if (exp !== undefined && exp !== '0' && Number(exp) < now - 5) return [400, 'BadExpirationDate'];
  const collapse = headers['apns-collapse-id'];
  if (collapse !== undefined && Buffer.byteLength(collapse) > 64) return [400, 'BadCollapseId'];
  if (body.length === 0) return [400, 'PayloadEmpty'];
  if (body.length > (type === 'voip' ? 5120 : 4096)) return [413, 'PayloadTooLarge'];
  let payload;
  try { payload = JSON.parse(body); } catch (e) { return [400, 'BadPayload']; }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return [400, 'BadPayload'];
  if (type === 'background' && !(payload.aps && payload.aps['content-available'] === 1)) return [400, 'BadPayload'];
  if (type === 'alert' && !(payload.aps && payload.aps.alert)) return [400, 'BadPayload'];
  return null;
}

function reject(stream, status, reason, extra) {
  stats.rejected[reason] = (stats.rejected[reason] || 0) + 1;
  const body = JSON.stringify(Object.assign({ reason }, extra || {}));
  if (!stream.destroyed) {
    stream.respond({ ':status': status, 'apns-id': crypto.randomUUID(), 'content-type': 'application/json' });
    stream.end(body);
  }
}

function answer(stream, headers, token, body) {
  const last = stream.session && stream.session.goawayLast;
  if (last !== undefined && stream.id > last) {
    // After GOAWAY a server processes nothing above the last stream id it announced.
    stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    return;
  }
  const err = checkRequest(headers, token, body);
  if (err) return reject(stream, err[0], err[1]);
  const script = token && scripts.get(token.toLowerCase());
  let step = null;
  if (script && script.responses.length) {
    step = script.sticky ? script.responses[0] : script.responses.shift();
  }
  const respond = () => {
    if (step && step.goaway) {
      // Like Apple shutting a connection down: streams after the last one it processed
      // are refused, with the reason in the GOAWAY's debug data.
      stats.goaways++;
      const session = stream.session;
      session.goawayLast = Math.max(0, stream.id - 2);
      // Refuse this stream first, GOAWAY on the next turn: Node 20 aborts (SIGABRT, no
      // message) now and then when a stream is reset right after session.goaway().
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      setImmediate(() => {
        if (!session.destroyed) {
          session.goaway(http2.constants.NGHTTP2_NO_ERROR, session.goawayLast,
                         Buffer.from(JSON.stringify({ reason: 'Shutdown' })));
        }
      });
      return;
    }
    if (step && step.status && step.status !== 200) {
      return reject(stream, step.status, step.reason || 'InternalServerError',
                    step.timestamp ? { timestamp: step.timestamp } : undefined);
    }
    stats.delivered++;
    stats.by_push_type[headers['apns-push-type']] = (stats.by_push_type[headers['apns-push-type']] || 0) + 1;
    if (stats.recent.length < 200) {
      const h = {};
      for (const k of Object.keys(headers)) if (k.startsWith('apns-') || k === ':path') h[k] = headers[k];
      stats.recent.push({ token, headers: h, body });
    }
    if (!stream.destroyed) {
      // Apple answers success with HEADERS alone (END_STREAM set, no DATA frame).
      stream.respond({ ':status': 200, 'apns-id': crypto.randomUUID() }, { endStream: true });
    }
  };
  if (step && step.hold) {
    // Answered when the test says so (POST /release): a slow answer with no clock in it.
    stats.held++;
    const key = token.toLowerCase();
    if (!held.has(key)) held.set(key, []);
    held.get(key).push(respond);
  } else if (step && step.delay_ms) setTimeout(respond, step.delay_ms); else respond();
}

const server = http2.createSecureServer({
  cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key), allowHTTP1: false, ALPNProtocols: ['h2'],
  minVersion: 'TLSv1.2',
  // Node's default 10 MB per session makes it reset busy connections (ENHANCE_YOUR_CALM).
  maxSessionMemory: 256,
  // Node destroys a session after 1000 frames for closed streams (late WINDOW_UPDATEs are
  // normal for a busy client); a real APNs connection carries millions of pushes.
  maxSessionInvalidFrames: 1e9,
  maxSessionRejectedStreams: 1e9,
  // Not settable in Node 20: nghttp2's rapid-reset guard (more than 1,000 RST_STREAMs
  // received faster than 33/s → GOAWAY INTERNAL_ERROR). libcurl 7.88 tripped it on busy
  // connections, one reason pushgate drives nghttp2 itself (see BENCHMARKS.md).
  // Only advertise a limit when a test asks for a small one, as Apple can.
  settings: args['max-streams'] ? { maxConcurrentStreams: Number(args['max-streams']) } : {},
});
server.on('session', (session) => {
  stats.connections++;
  stats.sessions_open++;
  stats.max_sessions_open = Math.max(stats.max_sessions_open, stats.sessions_open);
  session.on('close', () => { stats.sessions_open--; });
  // A client may reset or write after our GOAWAY: that ends its session, never the mock.
  session.on('error', () => {});
  if (process.env.APNS_MOCK_DEBUG) {
    session.on('error', (e) => console.error('session error', e.code, e.message));
    session.on('goaway', (code, last) => console.error('client goaway', code, last));
    session.on('close', () => console.error('session closed'));
    session.on('frameError', (type, code, id) => console.error('frame error', type, code, id));
  }
});
server.on('stream', (stream, headers) => {
  stats.requests++;
  const m = /^\/3\/device\/([^/?]+)$/.exec(headers[':path'] || '');
  const token = m ? m[1] : null;
  const chunks = [];
  stream.on('data', (c) => chunks.push(c));
  stream.on('end', () => answer(stream, headers, token, Buffer.concat(chunks).toString('utf8')));
  stream.on('error', () => {});
  if (process.env.APNS_MOCK_DEBUG) stream.on('close', () => { rstCodes[stream.rstCode] = (rstCodes[stream.rstCode] || 0) + 1; });
});
const rstCodes = {};
if (process.env.APNS_MOCK_DEBUG) process.on('SIGTERM', () => { console.error('rst codes', JSON.stringify(rstCodes)); process.exit(0); });
server.on('sessionError', () => {});

// A mock that dies takes every later push down with it and the test reads "connection
// refused": an exception in a handler (a stream the client already reset, a session GOAWAY
// closed) is counted and logged instead; tests may assert stats.mock_errors stays 0.
process.on('uncaughtException', (e) => {
  stats.mock_errors = (stats.mock_errors || 0) + 1;
  console.error('mock error', e && e.stack ? e.stack : e);
});

const control = http.createServer((req, res) => {
  let data = '';
  req.on('data', (c) => { data += c; });
  req.on('end', () => {
    const send = (code, obj) => { res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(obj)); };
    try {
      if (req.method === 'POST' && req.url === '/script') {
        const s = JSON.parse(data);
        scripts.set(String(s.token).toLowerCase(), { responses: s.responses || [], sticky: !!s.sticky });
        return send(200, { ok: true });
      }
      if (req.method === 'POST' && req.url === '/release') {
        const token = String(JSON.parse(data).token).toLowerCase();
        const answers = held.get(token) || [];
        held.delete(token);
        stats.held -= answers.length;
        for (const respond of answers) respond();
        return send(200, { released: answers.length });
      }
      if (req.method === 'POST' && req.url === '/reset') { scripts.clear(); resetStats(); return send(200, { ok: true }); }
      if (req.method === 'GET' && req.url === '/stats') return send(200, stats);
      return send(404, { error: 'unknown control path' });
    } catch (e) { return send(400, { error: String(e) }); }
  });
});

server.listen(Number(args.port || 0), '127.0.0.1', () => {
  control.listen(Number(args['control-port'] || 0), '127.0.0.1', () => {
    console.log(`READY ${server.address().port} ${control.address().port}`);
  });
});
