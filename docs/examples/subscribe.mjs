// Follow status changes from Node.js (18+) or a browser with graphql-ws:
//   npm install graphql-ws ws
//   HUB_TOKEN=fh_... node docs/examples/subscribe.mjs [since-cursor]
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const url = process.env.HUB_WS_URL ?? "ws://127.0.0.1:8000/graphql";
let cursor = process.argv[2] ?? null; // resume after this event, e.g. the last one a board showed

const client = createClient({
  url,
  webSocketImpl: WebSocket, // not needed in a browser
  connectionParams: { authorization: `Bearer ${process.env.HUB_TOKEN}` },
  // no silent retry: a retried subscription would resend the old `since`; follow() resumes from the last cursor
  retryAttempts: 0,
});

function follow() {
  client.subscribe(
    {
      query: `subscription ($since: String) {
        statusChanged(kinds: [FINDING, MEASURE, ENGAGEMENT], since: $since) {
          cursor entityKind entityId action fromState toState at
          entity { ... on Finding { title } ... on CyberMeasure { title } ... on InfrastructureEngagement { title } }
        }
      }`,
      variables: { since: cursor },
    },
    {
      next: ({ data, errors }) => {
        if (errors) return console.error(errors);
        const event = data.statusChanged;
        cursor = event.cursor; // resume from the last event seen: nothing missed, nothing twice
        console.log(`${event.cursor} ${event.entityKind} ${event.action} ${event.fromState ?? ""} -> ${event.toState ?? ""}`,
          event.entity?.title ?? "");
      },
      error: (error) => { console.error("subscription ended:", error); setTimeout(follow, 1000); },
      complete: () => { console.log("the hub completed the subscription (shutting down); resuming"); setTimeout(follow, 1000); },
    },
  );
}

follow();
