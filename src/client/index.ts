export * from "./client.js";
export * from "./discover.js";
