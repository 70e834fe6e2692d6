import { type AddressInfo, connect, createServer, type Socket } from "node:net";

/**
 * A TCP proxy on 127.0.0.1 port 0 in front of a real receiver that loses the receiver's answers
 * on the first `loseAnswers` connections: the request reaches the receiver and is acted on, and as
 * soon as the answer starts to come back both sockets are destroyed, so the sender sees a network
 * error and cannot know the request was accepted. Later connections are relayed untouched.
 */
export async function answerLosingProxy(
  upstreamPort: number,
  loseAnswers = 1,
): Promise<{ url: string; lostAnswers(): number; close(): Promise<void> }> {
  let connections = 0;
  let lost = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const lose = connections++ < loseAnswers;
    const upstream = connect(upstreamPort, "127.0.0.1");
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => undefined);
    }
    client.pipe(upstream);
    if (lose) {
      upstream.once("data", () => {
        lost++;
        upstream.destroy();
        client.destroy();
      });
    } else {
      upstream.pipe(client);
    }
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    lostAnswers: () => lost,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
