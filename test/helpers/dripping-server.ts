import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A receiver that answers a status line and headers at once, then drips its body forever. */
export interface DrippingServer {
  url: string;
  /** Requests received so far. */
  readonly requests: number;
  close(): Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1, port 0: each request is read whole, answered with `status` and
 * its headers at once, then one byte of body every `everyMs` until the client goes away. Close it
 * in teardown (it stops every drip).
 */
export async function startDrippingServer(status: number, everyMs = 20): Promise<DrippingServer> {
  let requests = 0;
  const drips = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req, res) => {
    req.resume().on("end", () => {
      requests++;
      res.writeHead(status, { "content-type": "application/json" });
      res.flushHeaders();
      res.write('{"ok":true,"runId":"r-');
      const drip = setInterval(() => res.write("x"), everyMs);
      drips.add(drip);
      res.on("close", () => {
        clearInterval(drip);
        drips.delete(drip);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    async close() {
      for (const drip of drips) clearInterval(drip);
      drips.clear();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
