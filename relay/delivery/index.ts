export { createDeliveryLoop, type PendingCallback, stateErrorRecord } from "./delivery-loop.ts";
export { type RedeliverOptions, type RedeliverResult, redeliver } from "./redeliver.ts";
export { semaphore } from "./semaphore.ts";
export { sendTestCallback, TEST_CALLBACK_LABEL, type TestCallbackResult } from "./send-test-callback.ts";
