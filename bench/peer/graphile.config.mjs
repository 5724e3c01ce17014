// PostGraphile 5 on the hub's database, for the side-by-side benchmark (bench/peer.py).
//
// The amber preset, plus the connection-filter plugin for the filtered connection (PostGraphile's own
// `condition` only tests equality). The peer applies the hub's visibility the way the hub does: every request's
// transaction acts as the role frontier_hub_app and binds hub.principal_id, hub.agency_id, hub.lab_id and hub.role
// (as hub/store/base.py bind_principal does), so that the same row-level security policies of sql/003_rls.sql
// decide what it may see. The principal comes from the request's bearer token, looked up in a table given at start
// (BENCH_PEER_PRINCIPALS, JSON: token -> principal), as a server with stateless tokens (JWT) would do: no SQL.
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";

const principals = JSON.parse(process.env.BENCH_PEER_PRINCIPALS || "{}");

function text(value) {
  return value === null || value === undefined ? "" : String(value);
}

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      // as many connections as the hub's pool (HUB_POOL_MAX_SIZE, 10 by default)
      poolConfig: { max: Number(process.env.BENCH_PEER_POOL_SIZE || 10) },
      pgSettings(requestContext) {
        const header = requestContext.node?.req?.headers?.authorization ?? "";
        const token = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
        const principal = principals[token];
        // without a known token the policies see no principal and show nothing
        return {
          role: "frontier_hub_app",
          "hub.principal_id": text(principal?.principal_id),
          "hub.agency_id": text(principal?.agency_id),
          "hub.lab_id": text(principal?.lab_id),
          "hub.role": text(principal?.role),
        };
      },
    }),
  ],
  grafserv: {
    port: Number(process.env.PORT || 5678),
    host: "127.0.0.1",
    graphqlPath: "/graphql",
    graphiql: false,
    watch: false,
  },
  grafast: { explain: false },
};

export default preset;
