export { ERROR_CODES, type ErrorCode, type ErrorKind, RelayError, toRelayError } from "./errors.ts";
export { NOTICE_PREFIX, type Notice, noticeLine, printNotice } from "./print-notice.ts";
