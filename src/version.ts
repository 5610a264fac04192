/** Version of the OpenClaw Federation software (kept equal to package.json; a unit test checks it). */
export const SOFTWARE_VERSION = "0.1.0";
