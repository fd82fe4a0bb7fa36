// What the HTTP API shows but the job server does not own: pipeline runs and supervised worker
// processes. Whoever has them plugs an implementation in (ServerOptions.runs/supervisor, or
// GearmanServer.setRunsProvider()/setSupervisorProvider()); without one those routes answer
// 501 GT_HTTP_NOT_AVAILABLE. The shapes are structural on purpose: the server does not import
// the pipelines or the supervisor (they sit above it), and their own types already fit.

/** One step of a run, as the dashboard shows it. A pipelines StepRecord fits. */
export interface RunStepView {
  status: string;
  total: number;
  /** Items by key with at least their status (done, failed). */
  items?: Record<string, { status: string; error?: string }>;
  reused?: number;
  reason?: string;
}

/** A pipeline run. A pipelines RunRecord fits. */
export interface RunView {
  id: string;
  pipeline: string;
  status: string;
  createdAt?: string;
  updatedAt?: string;
  steps: Record<string, RunStepView>;
}

export interface RunsProvider {
  /** Runs, newest first. */
  list(limit: number): Promise<RunView[]>;
  /** One run, or undefined/null when there is none with this id. */
  get(id: string): Promise<RunView | undefined | null>;
}

/** A worker type under supervision. The supervisor's TypeStatus fits. */
export interface ProcessTypeView {
  type: string;
  /** Processes wanted. */
  processes: number;
  /** Processes running now. */
  running: number;
  concurrency?: number;
  state?: string;
}

/** One supervised process. The supervisor's ProcessStatus fits. */
export interface ProcessView {
  type: string;
  name: string;
  pid: number | null;
  state: string;
  uptimeMs?: number | null;
  restarts?: number;
  jobsDone?: number;
  jobsFailed?: number;
}

/** The supervisor's PsResult fits. */
export interface ProcessesView {
  types: ProcessTypeView[];
  processes: ProcessView[];
}

export interface SupervisorProvider {
  /** What `pipeline ps` shows. */
  ps(): Promise<ProcessesView>;
  /** Set the number of processes of each type named; resolves with what the provider reports. */
  scale(counts: Record<string, number>): Promise<unknown>;
  /** Replace every process (`pipeline reload`); optional. */
  reload?(): Promise<unknown>;
}
