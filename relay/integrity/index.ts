export { checkIntegrity, type IntegrityVerdict } from "./check-integrity.ts";
