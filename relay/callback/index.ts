export { buildCallback, type CallbackIds, callbackIds } from "./build-callback.ts";
export { parseReportBlock } from "./build-report.ts";
export { buildRequest } from "./build-request.ts";
export type { Callback, RoutingFields, RunReport } from "./callback.ts";
export { idempotencyKey } from "./idempotency-key.ts";
export { describeRunError } from "./run-error.ts";
export { signWebhook, webhookSecretKey } from "./sign-webhook.ts";
export type { InstanceInfo, Outcome, TerminalRun, TokenUsage } from "./terminal-run.ts";
export { verifyWebhook, type WebhookVerdict } from "./verify-webhook.ts";
