// GraphQL over HTTP with vetted operations only: the board fetches an operation's text from
// /operations/NAME.graphql (the files of schema/operations/) and POSTs that exact text, so that a hub serving only
// the vetted operations (the production allow-list) serves the board too.

/** The hub refused the token (HTTP 401): missing, unknown, expired or revoked. */
export class AuthError extends Error {
  constructor(message) {
    super(message);
    this.name = "AuthError";
  }
}

/** GraphQL errors in an answer, with the request id operators can look up in the hub's log. */
export class ApiError extends Error {
  constructor(message, { code = null, requestId = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.requestId = requestId;
  }
}

const texts = new Map();

/** The text of a vetted operation (cached for the page's life). */
export function operationText(name) {
  if (!texts.has(name)) {
    const loading = fetch(`/operations/${encodeURIComponent(name)}.graphql`, { credentials: "omit" }).then(
      async (response) => {
        if (!response.ok) throw new ApiError(`the hub has no vetted operation named ${name}`);
        return response.text();
      },
    );
    loading.catch(() => texts.delete(name));
    texts.set(name, loading);
  }
  return texts.get(name);
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  /** Run the vetted operation `name` with `variables`; its data, or an AuthError / ApiError. */
  async run(name, variables = {}) {
    const query = await operationText(name);
    let response;
    try {
      response = await fetch("/graphql", {
        method: "POST",
        credentials: "omit",
        cache: "no-store",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          Authorization: `Bearer ${this.token}`,
        },
        body: JSON.stringify({ query, variables }),
      });
    } catch (error) {
      throw new ApiError(`the hub cannot be reached (${error.message})`, { code: "NETWORK" });
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    const first = body?.errors?.[0];
    const requestId = first?.extensions?.requestId || body?.extensions?.requestId || response.headers.get("X-Request-Id");
    if (response.status === 401) {
      throw new AuthError(first?.message || "the hub did not accept the token");
    }
    if (first) {
      throw new ApiError(first.message, { code: first.extensions?.code || null, requestId });
    }
    if (!response.ok || !body || !body.data) {
      throw new ApiError(`the hub answered HTTP ${response.status}`, { code: `HTTP_${response.status}`, requestId });
    }
    return body.data;
  }
}
