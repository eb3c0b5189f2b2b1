// The bench's upstream-style Go puller (bench/go_puller: oras-go v2, klauspost/pgzip), built
// by go_build.ts.

import { goProgram } from "./go_build.ts";

/** Path of the built Go puller, building it first when needed. */
export function goPuller(): Promise<string> {
  return goProgram("go_puller", ["go.mod", "go.sum", "main.go"]);
}
