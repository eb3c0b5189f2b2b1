// The agent's version, reported as the node's kubelet version and by `version`.
export const VERSION = "0.1.0";
