export { ERROR_CODES, type ErrorCode, type ErrorKind, RelayError, toRelayError } from "./errors.ts";
