// Mock FCM for tests: HTTP/2 over TLS (ALPN h2 only) serving both Google endpoints pushgate
// talks to.
//  - POST /token: the OAuth2 token endpoint. Verifies the RS256 assertion with the service
//    account's public key (iss, scope, aud, iat/exp within an hour) and issues short-lived
//    access tokens.
//  - POST /v1/projects/<id>/messages:send: checks the bearer token (known, unexpired), the
//    project id and the message's shape (token, data values all strings, android priority
//    and ttl), and answers as FCM does, errors with error.details[].errorCode.
// A plain-HTTP control port scripts per-device answers (UNREGISTERED, QUOTA_EXCEEDED with
// Retry-After, UNAVAILABLE, INTERNAL, SENDER_ID_MISMATCH, INVALID_ARGUMENT, delays), the
// token endpoint (lifetime, down, delay, hold: answers kept until hold is set false) and
// reports what came in.
//
// node fcm_mock.js --port P --control-port C --cert F --key F --pubkey F --project ID
//                  --client-email E [--token-ttl S]
// Prints "READY <port> <control-port>" once both listen (ports 0 pick free ones). The token
// endpoint's URL is https://127.0.0.1:<port>/token.
'use strict';
const http = require('http');
const http2 = require('http2');
const crypto = require('crypto');
const fs = require('fs');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['cert', 'key', 'pubkey', 'project', 'client-email']) {
  if (!args[k]) { console.error(`fcm_mock: --${k} is required`); process.exit(2); }
}
const publicKey = crypto.createPublicKey(fs.readFileSync(args.pubkey));
const PROJECT = args.project, CLIENT_EMAIL = args['client-email'];
const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';

const scripts = new Map();       // device token -> {responses: [...], sticky}
const accessTokens = new Map();  // access token -> expiry (ms)
let tokenEndpoint;               // {ttl, down, delay_ms, hold}
let heldTokenAnswers = [];       // token answers kept while tokenEndpoint.hold
let stats;
function reset() {
  scripts.clear();
  accessTokens.clear();
  tokenEndpoint = { ttl: Number(args['token-ttl'] || 3600), down: false, delay_ms: 0, hold: false };
  stats = { requests: 0, delivered: 0, rejected: {}, by_type: {}, token_requests: 0, tokens_issued: 0,
            token_rejected: {}, unauthenticated: 0, connections: 0, recent: [] };
}
reset();

const b64urlJson = (s) => JSON.parse(Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));

function fcmError(code, status, errorCode, message) {
  const e = { error: { code, message, status } };
  if (errorCode) e.error.details = [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }];
  return e;
}
const ERRORS = {
  UNREGISTERED: [404, 'NOT_FOUND', 'Requested entity was not found.'],
  SENDER_ID_MISMATCH: [403, 'PERMISSION_DENIED', 'SenderId mismatch'],
  QUOTA_EXCEEDED: [429, 'RESOURCE_EXHAUSTED', 'Quota exceeded for quota metric'],
  UNAVAILABLE: [503, 'UNAVAILABLE', 'The service is currently unavailable.'],
  INTERNAL: [500, 'INTERNAL', 'Internal error encountered.'],
  INVALID_ARGUMENT: [400, 'INVALID_ARGUMENT', 'The registration token is not a valid FCM registration token'],
  THIRD_PARTY_AUTH_ERROR: [401, 'UNAUTHENTICATED', 'Auth error from APNS or Web Push Service'],
};

function send(stream, status, obj, headers) {
  if (stream.destroyed) return;
  stream.respond(Object.assign({ ':status': status, 'content-type': 'application/json; charset=UTF-8' }, headers || {}));
  stream.end(JSON.stringify(obj));
}

// The OAuth2 token endpoint: returns [status, body].
function tokenAnswer(headers, body) {
  if (headers['content-type'] !== 'application/x-www-form-urlencoded') return [400, { error: 'invalid_request', error_description: 'content type' }];
  const form = new URLSearchParams(body);
  if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return [400, { error: 'unsupported_grant_type' }];
  const jwt = form.get('assertion') || '';
  const parts = jwt.split('.');
  if (parts.length !== 3) return [400, { error: 'invalid_grant', error_description: 'Invalid JWT' }];
  let header, claims;
  try { header = b64urlJson(parts[0]); claims = b64urlJson(parts[1]); } catch (e) { return [400, { error: 'invalid_grant', error_description: 'Invalid JWT' }]; }
  const ok = crypto.verify('sha256', Buffer.from(parts[0] + '.' + parts[1]), publicKey,
                           Buffer.from(parts[2].replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
  if (header.alg !== 'RS256' || !ok) return [400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' }];
  const now = Math.floor(Date.now() / 1000);
  if (claims.iss !== CLIENT_EMAIL) return [401, { error: 'unauthorized_client', error_description: 'iss' }];
  if (claims.scope !== SCOPE) return [400, { error: 'invalid_scope' }];
  if (claims.aud !== `https://127.0.0.1:${server.address().port}/token`) return [400, { error: 'invalid_grant', error_description: 'Invalid JWT: aud' }];
  if (!Number.isInteger(claims.iat) || !Number.isInteger(claims.exp) || claims.exp - claims.iat > 3600 ||
      claims.iat > now + 60 || claims.exp < now) {
    return [400, { error: 'invalid_grant', error_description: 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.' }];
  }
  const token = 'ya29.mock-' + crypto.randomBytes(12).toString('hex');
  accessTokens.set(token, Date.now() + tokenEndpoint.ttl * 1000);
  stats.tokens_issued++;
  return [200, { access_token: token, expires_in: tokenEndpoint.ttl, token_type: 'Bearer' }];
}

// messages:send: returns [status, body, headers] or null to answer 200.
function messageCheck(headers, project, body) {
  const auth = /^Bearer (.+)$/.exec(headers.authorization || '');
  const expiry = auth && accessTokens.get(auth[1]);
  if (!expiry || expiry < Date.now()) {
    stats.unauthenticated++;
    return [401, fcmError(401, 'UNAUTHENTICATED', null, 'Request had invalid authentication credentials.')];
  }
  if (project !== PROJECT) return [404, fcmError(404, 'NOT_FOUND', null, 'Requested entity was not found.')];
  let m;
  try { m = JSON.parse(body).message; } catch (e) { return [400, fcmError(400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'Invalid JSON payload received.')]; }
  const bad = (what) => [400, fcmError(400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', what)];
  if (!m || typeof m !== 'object') return bad('Invalid JSON payload received. Unknown name "message"');
  if (typeof m.token !== 'string' || !m.token) return bad('Recipient of the message is not set.');
  if (m.notification) return bad('pushgate must send data-only messages');
  if (!m.data || typeof m.data !== 'object') return bad('data is required');
  for (const [k, v] of Object.entries(m.data)) {
    if (typeof v !== 'string') return bad(`Invalid value at 'message.data[${k}].value' (TYPE_STRING)`);
  }
  if (Buffer.byteLength(JSON.stringify(m.data)) > 4096 + 100) return bad('Message data too big');
  const a = m.android || {};
  if (!['HIGH', 'NORMAL'].includes(a.priority)) return bad(`Invalid value at 'message.android.priority'`);
  if (typeof a.ttl !== 'string' || !/^\d+(\.\d{1,9})?s$/.test(a.ttl)) return bad(`Invalid value at 'message.android.ttl'`);
  return null;
}

const server = http2.createSecureServer({
  cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key), allowHTTP1: false, ALPNProtocols: ['h2'],
  minVersion: 'TLSv1.2', maxSessionMemory: 256, maxSessionInvalidFrames: 1e9, maxSessionRejectedStreams: 1e9,
});
server.on('session', () => { stats.connections++; });
server.on('sessionError', () => {});
server.on('stream', (stream, headers) => {
  const chunks = [];
  stream.on('data', (c) => chunks.push(c));
  stream.on('error', () => {});
  stream.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const path = headers[':path'] || '';
    if (headers[':method'] === 'POST' && path === '/token') {
      stats.token_requests++;
      if (tokenEndpoint.down) return send(stream, 503, { error: 'unavailable' });
      const answer = () => {
        const [status, obj] = tokenAnswer(headers, body);
        if (status !== 200) stats.token_rejected[obj.error] = (stats.token_rejected[obj.error] || 0) + 1;
        send(stream, status, obj);
      };
      if (tokenEndpoint.hold) return heldTokenAnswers.push(answer);  // a slow endpoint with no clock in it
      return tokenEndpoint.delay_ms ? setTimeout(answer, tokenEndpoint.delay_ms) : answer();
    }
    const m = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(path);
    if (headers[':method'] !== 'POST' || !m) return send(stream, 404, fcmError(404, 'NOT_FOUND', null, 'not found'));
    stats.requests++;
    const err = messageCheck(headers, m[1], body);
    if (err) {
      const reason = err[1].error.details ? err[1].error.details[0].errorCode : err[1].error.status;
      stats.rejected[reason] = (stats.rejected[reason] || 0) + 1;
      return send(stream, err[0], err[1]);
    }
    const msg = JSON.parse(body).message;
    const script = scripts.get(msg.token);
    let step = null;
    if (script && script.responses.length) step = script.sticky ? script.responses[0] : script.responses.shift();
    const respond = () => {
      if (step && step.error) {
        const [code, status, text] = ERRORS[step.error];
        stats.rejected[step.error] = (stats.rejected[step.error] || 0) + 1;
        const h = step.retry_after !== undefined ? { 'retry-after': String(step.retry_after) } : {};
        return send(stream, code, fcmError(code, status, step.error, text), h);
      }
      stats.delivered++;
      stats.by_type[msg.data.type] = (stats.by_type[msg.data.type] || 0) + 1;
      if (stats.recent.length < 200) stats.recent.push(msg);
      send(stream, 200, { name: `projects/${PROJECT}/messages/0:${Date.now()}%${crypto.randomBytes(4).toString('hex')}` });
    };
    if (step && step.delay_ms) setTimeout(respond, step.delay_ms); else respond();
  });
});

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
    const reply = (code, obj) => { res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(obj)); };
    try {
      if (req.method === 'POST' && req.url === '/script') {
        const s = JSON.parse(data);
        for (const step of s.responses || []) {
          if (step.error && !ERRORS[step.error]) return reply(400, { error: `unknown error ${step.error}` });
        }
        scripts.set(String(s.token), { responses: s.responses || [], sticky: !!s.sticky });
        return reply(200, { ok: true });
      }
      if (req.method === 'POST' && req.url === '/token-endpoint') {
        Object.assign(tokenEndpoint, JSON.parse(data));
        if (!tokenEndpoint.hold) {
          const answers = heldTokenAnswers;
          heldTokenAnswers = [];
          for (const answer of answers) answer();
        }
        return reply(200, tokenEndpoint);
      }
      if (req.method === 'POST' && req.url === '/expire-tokens') {
        for (const t of accessTokens.keys()) accessTokens.set(t, 0);
        return reply(200, { ok: true });
      }
      if (req.method === 'POST' && req.url === '/reset') { reset(); return reply(200, { ok: true }); }
      if (req.method === 'GET' && req.url === '/stats') return reply(200, stats);
      return reply(404, { error: 'unknown control path' });
    } catch (e) { return reply(400, { error: String(e) }); }
  });
});

server.listen(Number(args.port || 0), '127.0.0.1', () => {
  control.listen(Number(args['control-port'] || 0), '127.0.0.1', () => {
    console.log(`READY ${server.address().port} ${control.address().port}`);
  });
});
