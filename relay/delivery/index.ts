export { createDeliveryLoop, type DeliveryLoop } from "./delivery-loop.ts";
export type { PendingCallback } from "./pending-callback.ts";
export { type RedeliverOptions, type RedeliverResult, redeliver } from "./redeliver.ts";
export { semaphore } from "./semaphore.ts";
export { sendTestCallback, TEST_CALLBACK_LABEL, type TestCallbackResult } from "./send-test-callback.ts";
export { stateErrorRecord } from "./state-error-record.ts";
