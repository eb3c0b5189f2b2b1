// Container lifecycle hooks (postStart now; preStop with the lifecycle work) run through the
// container's driver, so a hook execs in the guest over SSH for the VM and with docker exec
// for containers. A failing hook names the command, its exit code and its stderr.

import type * as k8s from "@kubernetes/client-node";
import type { ContainerDriver } from "./driver.ts";

/** Runs an exec hook; resolves when it exited 0, rejects with a message otherwise. */
export async function runExecHook(
  driver: ContainerDriver,
  name: "postStart" | "preStop",
  command: string[],
  signal: AbortSignal,
): Promise<void> {
  let stderr = "";
  const dec = new TextDecoder();
  const code = await driver.exec(command, {
    tty: false,
    stderr: new WritableStream({
      write: (d) => void (stderr += dec.decode(d, { stream: true })),
    }),
    signal,
  });
  if (code !== 0) {
    throw new Error(
      `${name} hook ${JSON.stringify(command)} exited ${code}` +
        (stderr.trim() ? `: ${stderr.trim().slice(0, 300)}` : ""),
    );
  }
}

/** The exec command of a container's postStart hook, if it has one. */
export function postStartCommand(c: k8s.V1Container): string[] | undefined {
  const command = c.lifecycle?.postStart?.exec?.command;
  return command?.length ? command : undefined;
}
