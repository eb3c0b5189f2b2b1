// Decides whether QEMU can use KVM here. /dev/kvm can exist and still not work (nested
// virtualisation that fails on the first vCPU, or hangs): the probe starts a real machine
// with the CPU model the backend would use and waits for SeaBIOS to print on the debug
// console. Anything else means TCG, with the reason for the log.

export interface AccelChoice {
  accel: "kvm" | "tcg";
  reason: string;
}

export async function probeKvm(qemu: string, timeoutMs = 4_000): Promise<AccelChoice> {
  try {
    await Deno.stat("/dev/kvm");
  } catch {
    return { accel: "tcg", reason: "/dev/kvm does not exist" };
  }
  const dir = await Deno.makeTempDir({ prefix: "vzk-kvm-probe-" });
  const debugLog = `${dir}/debugcon.txt`;
  const child = new Deno.Command(qemu, {
    args: [
      "-accel",
      "kvm",
      "-cpu",
      "host",
      "-M",
      "q35",
      "-m",
      "64",
      "-nodefaults",
      "-display",
      "none",
      "-monitor",
      "none",
      "-debugcon",
      `file:${debugLog}`,
      "-global",
      "isa-debugcon.iobase=0x402",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const errText = new Response(child.stderr).text();
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const exited = await Promise.race([
        child.status.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 100)),
      ]);
      if (exited) {
        const why = (await errText).trim().split("\n").pop() ?? "exited";
        return { accel: "tcg", reason: `KVM machine failed: ${why}` };
      }
      const text = await Deno.readTextFile(debugLog).catch(() => "");
      if (text.includes("SeaBIOS")) return { accel: "kvm", reason: "KVM runs guest code" };
    }
    return { accel: "tcg", reason: `KVM machine ran no guest code within ${timeoutMs} ms` };
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.status;
    await errText.catch(() => "");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
