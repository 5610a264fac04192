/** File names under coordinator.state_dir, in a module light enough for the CLI to import. */
export const TRUST_DIR = "trust";
