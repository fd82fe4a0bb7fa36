// Preloaded (`node -r`) into a benchmarked command: prints its peak RSS (VmHWM) on exit, read by
// the bench. getrusage's maxRSS is not used: Linux carries it over from the forking parent.
const { readFileSync } = require('node:fs');
process.on('exit', () => {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  process.stderr.write(`\npeak-rss-kb ${kb}\n`);
});
