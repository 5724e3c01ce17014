// graphql-http's server audits (the GraphQL-over-HTTP spec's MUSTs, SHOULDs and MAYs) against one GraphQL URL.
//
//   GRAPHQL_AUDIT_TOKEN=... node audit.mjs URL
//
// Every request carries `Authorization: Bearer $GRAPHQL_AUDIT_TOKEN` when it is set (an environment variable, not an
// argument: a token stays out of the process list). Prints one JSON array on stdout:
// {id, name, status ("ok", or "error" for a MUST not met, "warn" for a SHOULD, "notice" for a MAY), and for an audit
// not met its reason and the server's answer (status, content type, the start of the body)}.
import { auditServer } from 'graphql-http';

const [url] = process.argv.slice(2);
const token = process.env.GRAPHQL_AUDIT_TOKEN;
if (!url) {
  console.error('usage: GRAPHQL_AUDIT_TOKEN=... node audit.mjs URL');
  process.exit(2);
}

function fetchWithToken(input, init = {}) {
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

async function answer(response) {
  // the audits leave the body of a failing answer unread (or hand over a clone of it)
  let body;
  try {
    body = (await response.text()).slice(0, 600);
  } catch (error) {
    body = `(body not readable: ${error.message})`;
  }
  return { status: response.status, contentType: response.headers.get('content-type'), body };
}

const results = await auditServer({ url, fetchFn: fetchWithToken });
const report = [];
for (const result of results) {
  const { id, name, status } = result;
  report.push(status === 'ok' ? { id, name, status } : { id, name, status, reason: result.reason, answer: await answer(result.response) });
}
process.stdout.write(JSON.stringify(report, null, 1) + '\n');
