// Worker supervision for `pipeline up`: config, the Supervisor, and its control channel.

export {
  loadConfig,
  readConfigFile,
  parseConfig,
  checkConfig,
  defaultConfig,
  CONFIG_FILES,
  BUILTIN_TYPES,
  type LoadedConfig,
  type SupervisorConfig,
  type ServerConfig,
  type WorkerTypeConfig,
  type SettingsConfig,
  type RestartPolicy,
  type StopPolicy,
  type ReloadPolicy,
} from './config.js';
export {
  Supervisor,
  MAX_PROCESSES_PER_TYPE,
  type SupervisorOptions,
  type PsResult,
  type ProcessStatus,
  type TypeStatus,
  type ScaleResult,
  type NotReady,
  type ScaleOptions,
  type ReloadResult,
} from './supervisor.js';
export { ControlServer, controlRequest, DEFAULT_SOCKET, type ControlRequest, type ControlTarget } from './control.js';
export { LogRelay } from './relay.js';
