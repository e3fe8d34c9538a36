// The API client: same origin, the signed-in token as a bearer header, errors in the API's one shape.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.details = body && body.details;
  }
}

let bearer = null;
let unauthorized = () => {};

export function setToken(token) { bearer = token; }

/** Called when the service stops accepting the token (revoked, expired): the page signs out. */
export function onUnauthorized(callback) { unauthorized = callback; }

export async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return null;
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && path !== '/tokens/me') unauthorized(error);
    throw error;
  }
  return data;
}

/** Run ``worker`` over ``items`` with at most ``limit`` requests in flight (keeps the service responsive). */
export async function eachLimited(items, limit, worker) {
  const queue = [...items];
  const runners = Array.from({ length: Math.min(limit, queue.length) }, async () => {
    while (queue.length) {
      const item = queue.shift();
      try { await worker(item); } catch { /* one failure must not stop the rest; the next refresh retries */ }
    }
  });
  await Promise.all(runners);
}
