import type { HostRole } from '../config/tungstenIni.js';

export const HOST_STATUSES = ['ok', 'partial', 'unreachable', 'timeout', 'auth_failed', 'host_key_rejected'] as const;
export type HostStatus = (typeof HOST_STATUSES)[number];

export interface CollectedFile {
  /** Path inside the host folder, e.g. `service_logs/trepsvc.log`. */
  path: string;
  bytes: number;
  sha256: string;
  /** Where it came from on the host. */
  source?: string;
  /** The size of the source when only its last part was kept. */
  sourceBytes?: number;
  redacted?: boolean;
}

export interface SkippedFile {
  path: string;
  reason: string;
}

export interface HostReport {
  host: string;
  address?: string;
  roles: HostRole[];
  status: HostStatus;
  error: string | null;
  files: CollectedFile[];
  bytes: number;
  skipped: SkippedFile[];
  durationMs: number;
  /** `cctrl ls` output when the manager answered. */
  clusterStatus?: string;
}

export type HostPhase = 'queued' | 'connecting' | 'collecting' | 'done';

export interface HostProgress {
  host: string;
  phase: HostPhase;
  status?: HostStatus;
  files: number;
  bytes: number;
  startedAt?: number;
  finishedAt?: number;
  error?: string | null;
}

export type ProgressListener = (update: HostProgress) => void;
