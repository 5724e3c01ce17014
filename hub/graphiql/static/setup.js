// GraphiQL for frontier-hub (GET /graphql): everything it loads comes from the hub (hub/graphiql/), this script is a
// file rather than inline (the page's Content-Security-Policy allows no inline script), and what GraphiQL stores,
// the Headers pane with its token included, lives in this tab's sessionStorage only: closing the tab forgets it.
(function () {
  "use strict";

  // README.md, "A first query in GraphiQL" (tests/test_graphiql.py checks that the two stay the same)
  const FIRST_QUERY = `# Paste a token (\`make run\` prints the demo tokens) into
# the Headers pane below, then run the query: Ctrl-Enter.
{
  me { name role agency { code } }
  models(first: 5, filter: {search: "claude"}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      name modelVersion releaseStatus coverageOutcome
      lab { name participation }
      findings(first: 3) { title cveId cvss { baseScore severity } tlp measures { title state } }
    } }
  }
}
`;
  const HEADERS_HINT = '{"Authorization": "Bearer <paste a token printed by make run>"}';
  const PREFIX = "frontier-hub.graphiql:";

  // GraphiQL's storage: this tab's sessionStorage, under a prefix, so that GraphiQL's "Clear storage" clears
  // only its own keys
  function ownKeys() {
    return Object.keys(sessionStorage).filter((key) => key.startsWith(PREFIX));
  }
  const tabStorage = {
    getItem: (key) => sessionStorage.getItem(PREFIX + key),
    setItem: (key, value) => sessionStorage.setItem(PREFIX + key, value),
    removeItem: (key) => sessionStorage.removeItem(PREFIX + key),
    get length() {
      return ownKeys().length;
    },
    clear() {
      ownKeys().forEach((key) => sessionStorage.removeItem(key));
    },
  };

  // queries and mutations over HTTP POST; subscriptions over a WebSocket to the same address with the
  // graphql-transport-ws protocol, where GraphiQL sends the Headers pane as the connection_init payload:
  // {"Authorization": "Bearer ..."} is how the hub takes the token there
  const here = new URL(window.location.href);
  const url = here.origin + here.pathname;
  const fetcher = GraphiQL.createFetcher({ url, subscriptionUrl: url.replace(/^http/, "ws") });

  // the query and the variables travel in the address (a link opens the same query); the headers never do
  const params = here.searchParams;
  function remember(name, value) {
    if (value) {
      params.set(name, value);
    } else {
      params.delete(name);
    }
    const search = params.toString();
    history.replaceState(null, "", search ? `?${search}` : here.pathname);
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher,
      storage: tabStorage,
      shouldPersistHeaders: true,
      defaultQuery: FIRST_QUERY,
      defaultHeaders: HEADERS_HINT,
      query: params.get("q") ?? undefined,
      variables: params.get("variables") ?? undefined,
      onEditQuery: (query) => remember("q", query),
      onEditVariables: (variables) => remember("variables", variables),
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      inputValueDeprecation: true,
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
    }),
  );
})();
