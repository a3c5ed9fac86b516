/**
 * The one way the viewer asks the server for something: fetch, and turn every failure (no network, an error
 * status, a body that is not what was expected) into an ApiError whose message a person understands, built
 * from the server's own `detail` when it gave one.
 */

export class ApiError extends Error {
  /**
   * @param {string} message shown to the user as is
   * @param {number} status HTTP status, 0 when the server could not be reached
   */
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** The server's own message in a JSON error body ({detail: [{msg}]}), or ''. */
async function serverDetail(response) {
  try {
    const body = await response.json();
    return (body && body.detail && body.detail[0] && body.detail[0].msg) || '';
  } catch {
    return ''; // not JSON (a proxy's error page): the status text will do
  }
}

/**
 * The response to `url` when its status is a success.
 * @param {string} url
 * @param {string} what what was asked, the start of every error message ("Cannot open m31.fits")
 * @param {RequestInit} [init]
 * @returns {Promise<Response>}
 */
export async function request(url, what, init = undefined) {
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(`${what}: the server cannot be reached`, 0);
  }
  if (response.ok) return response;
  const detail = await serverDetail(response);
  throw new ApiError(`${what}: ${detail || response.statusText || `error ${response.status}`}`, response.status);
}

/** The JSON body of the response to `url`. */
export async function requestJson(url, what, init = undefined) {
  const response = await request(url, what, init);
  try {
    return await response.json();
  } catch {
    throw new ApiError(`${what}: the server's answer is not JSON`, response.status);
  }
}
