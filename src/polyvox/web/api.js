// The one way the page talks to the server: fetch, JSON request bodies, and Polyvox's JSON errors
// ({"error": {"code", "message", "param"}}) turned into an Error carrying the stable code.

/** fetch(path) that throws on a non-2xx answer; `options.json` is sent as a JSON body (POST by default). */
export async function api(path, options = {}) {
  const init = Object.assign({}, options);
  if (init.json !== undefined) {
    init.method = init.method || "POST";
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(init.json);
    delete init.json;
  }
  const response = await fetch(path, init);
  if (!response.ok) {
    let error = { code: "http_" + response.status, message: response.statusText };
    try { error = (await response.json()).error || error; } catch { /* not JSON */ }
    const failure = new Error(`${error.code}: ${error.message}`);
    failure.code = error.code;
    throw failure;
  }
  return response;
}

/** The answer's JSON (null for 204 No Content). */
export async function apiJson(path, options = {}) {
  const response = await api(path, options);
  return response.status === 204 ? null : response.json();
}
