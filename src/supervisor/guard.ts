// Preloaded (`node --import`) into every worker process `pipeline up` starts. If the supervisor
// dies without stopping its workers (SIGKILL, a crash), their IPC channel closes and each worker
// stops itself as on SIGTERM (running jobs finish) instead of running on unsupervised.

if (process.channel) {
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  // The channel must not keep a worker alive once it has stopped by itself.
  process.channel.unref();
}

export {};
