// The Kinesis API as the console calls it: POST / with X-Amz-Target and a
// JSON 1.1 body, signed with SigV4 using the credentials of the session.
import { sha256, hmac, hex } from './sha256.js';

const KEY = 'millrace-console-credentials';

export function credentials() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch {
    return null;
  }
}

export function setCredentials(c) {
  if (c) sessionStorage.setItem(KEY, JSON.stringify(c));
  else sessionStorage.removeItem(KEY);
}

// APIError is an AWS error answer: its __type and message.
export class APIError extends Error {
  constructor(type, message, status) {
    super(message ? `${type}: ${message}` : type);
    this.type = type;
    this.status = status;
  }
}

function amzDate(d) {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

// sign returns the headers of a signed POST / with body to host.
export function sign(c, host, target, body, now = new Date()) {
  const date = amzDate(now);
  const day = date.slice(0, 8);
  const headers = {
    'content-type': 'application/x-amz-json-1.1',
    host,
    'x-amz-date': date,
    'x-amz-target': target,
  };
  if (c.sessionToken) headers['x-amz-security-token'] = c.sessionToken;
  const names = Object.keys(headers).sort();
  const canonical = [
    'POST', '/', '',
    ...names.map((n) => `${n}:${headers[n]}`), '',
    names.join(';'),
    hex(sha256(body)),
  ].join('\n');
  const scope = `${day}/${c.region}/kinesis/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', date, scope, hex(sha256(canonical))].join('\n');
  let k = hmac('AWS4' + c.secretAccessKey, day);
  k = hmac(k, c.region);
  k = hmac(k, 'kinesis');
  k = hmac(k, 'aws4_request');
  const signature = hex(hmac(k, toSign));
  delete headers.host; // the browser sends it; scripts may not set it
  headers.authorization =
    `AWS4-HMAC-SHA256 Credential=${c.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  return headers;
}

// call runs a Kinesis operation and returns its decoded answer, or throws
// an APIError.
export async function call(op, input = {}, c = credentials()) {
  if (!c) throw new APIError('NotSignedIn', 'sign in first');
  const body = JSON.stringify(input);
  const headers = sign(c, location.host, `Kinesis_20131202.${op}`, body);
  const resp = await fetch('/', { method: 'POST', headers, body, credentials: 'omit', cache: 'no-store' });
  const text = await resp.text();
  let out = {};
  try {
    out = text ? JSON.parse(text) : {};
  } catch {
    throw new APIError('BadResponse', `HTTP ${resp.status}: ${text.slice(0, 200)}`, resp.status);
  }
  if (!resp.ok) {
    const type = String(out.__type || `HTTP${resp.status}`).replace(/^.*#/, '');
    throw new APIError(type, out.message || out.Message || '', resp.status);
  }
  return out;
}

// all follows NextToken through a listing and returns every item of key;
// drop names the inputs a call with NextToken must leave out.
export async function all(op, input, key, drop = []) {
  let items = [];
  let token;
  for (let i = 0; i < 100; i++) {
    let next = input;
    if (token) {
      next = { ...input, NextToken: token };
      for (const d of drop) delete next[d];
    }
    const page = await call(op, next);
    items = items.concat(page[key] || []);
    token = page.NextToken;
    if (!token) break;
  }
  return items;
}
