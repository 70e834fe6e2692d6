import { burst } from "./burst.ts";
import { deliveryLatency } from "./delivery-latency.ts";
import { endToEnd } from "./end-to-end.ts";
import { footprint } from "./footprint.ts";
import { history } from "./history.ts";
import { hookCost } from "./hook-cost.ts";
import { journalCost } from "./journal-cost.ts";
import { opencodeSlowdown } from "./opencode-slowdown.ts";
import type { Section } from "./stats.ts";

/** What every measurement gets. */
export interface BenchContext {
  /** Fewer rounds and smaller inputs. */
  quick: boolean;
  log: (line: string) => void;
}

export interface Bench {
  name: string;
  title: string;
  run(context: BenchContext): Promise<Section>;
}

/** Every measurement, in the order `npm run bench` runs them (the numbering). */
export const BENCHES: Bench[] = [
  hookCost,
  opencodeSlowdown,
  deliveryLatency,
  burst,
  endToEnd,
  footprint,
  history,
  journalCost,
];
