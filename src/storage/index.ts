export * from "./database.js";
export * from "./nodes.js";
export * from "./join-requests.js";
export * from "./audit.js";
export * from "./tokens.js";
export * from "./tasks.js";
