export * from "./errors.js";
export * from "./messages.js";
export * from "./codec.js";
export * from "./subjects.js";
export * from "./signed-join.js";
export * from "./labels.js";
export * from "./api.js";
