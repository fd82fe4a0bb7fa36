// Worker supervision for `pipeline up`: config, the Supervisor, and its control channel.

export {
  BUILTIN_TYPES,
  CONFIG_FILES,
  checkConfig,
  defaultConfig,
  type LoadedConfig,
  loadConfig,
  parseConfig,
  type ReloadPolicy,
  type RestartPolicy,
  readConfigFile,
  type ServerConfig,
  type SettingsConfig,
  type StopPolicy,
  type SupervisorConfig,
  type WorkerTypeConfig,
} from './config.js';
export { type ControlRequest, ControlServer, type ControlTarget, controlRequest, DEFAULT_SOCKET } from './control.js';
export { LogRelay } from './relay.js';
export {
  MAX_PROCESSES_PER_TYPE,
  type NotReady,
  type ProcessStatus,
  type PsResult,
  type ReloadResult,
  type ScaleOptions,
  type ScaleResult,
  Supervisor,
  type SupervisorOptions,
  type TypeStatus,
} from './supervisor.js';
