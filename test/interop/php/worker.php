<?php
// A PHP GearmanWorker (pecl gearman) for the interop suite.
// Usage: php worker.php PORT BEHAVIOUR=FUNCTION... [--count N] [--log PATH] [--id CLIENT_ID]
// Behaviours: reverse, echo, chunks (data + status, then complete), fail (data + status, then
// WORK_FAIL), progress (status 1/4, waits for the file named by the workload, then 4/4).
// It prints "ready" once registered and exits after N jobs (or when killed); --log PATH appends
// "FUNCTION WORKLOAD" to PATH for each job, in the order the worker ran them.

declare(strict_types=1);

[$_, $port] = $argv;
$count = PHP_INT_MAX;
$log = null;
$id = null;
$functions = [];
for ($i = 2; $i < count($argv); $i++) {
    if ($argv[$i] === '--count') {
        $count = (int) $argv[++$i];
        continue;
    }
    if ($argv[$i] === '--id') {
        $id = $argv[++$i];
        continue;
    }
    if ($argv[$i] === '--log') {
        $log = $argv[++$i];
        continue;
    }
    [$behaviour, $fn] = explode('=', $argv[$i], 2);
    $functions[$fn] = $behaviour;
}

$behaviours = [
    'reverse' => fn (GearmanJob $job) => strrev($job->workload()),
    'echo' => fn (GearmanJob $job) => $job->workload(),
    'chunks' => function (GearmanJob $job) {
        $job->sendData('chunk-1');
        $job->sendStatus(1, 2);
        $job->sendData('chunk-2');
        $job->sendStatus(2, 2);
        return 'done:' . $job->workload();
    },
    'fail' => function (GearmanJob $job) {
        $job->sendData('partial');
        $job->sendStatus(1, 3);
        $job->sendFail();
        return null;
    },
    'progress' => function (GearmanJob $job) {
        $job->sendStatus(1, 4);
        $marker = $job->workload();
        $deadline = microtime(true) + 15;
        while (!file_exists($marker) && microtime(true) < $deadline) usleep(20_000);
        $job->sendStatus(4, 4);
        return 'progressed';
    },
];

$worker = new GearmanWorker();
$worker->addServer('127.0.0.1', (int) $port);
if ($id !== null) $worker->setId($id);
foreach ($functions as $fn => $behaviour) {
    if (!isset($behaviours[$behaviour])) {
        fwrite(STDERR, "unknown behaviour $behaviour\n");
        exit(2);
    }
    $run = $behaviours[$behaviour];
    $worker->addFunction($fn, function (GearmanJob $job) use ($run, $log) {
        if ($log !== null) file_put_contents($log, $job->functionName() . ' ' . $job->workload() . "\n", FILE_APPEND);
        return $run($job);
    });
}
echo "ready\n";
for ($done = 0; $done < $count; $done++) {
    if (!$worker->work() && $worker->returnCode() !== GEARMAN_WORK_FAIL) {
        fwrite(STDERR, 'work() failed: ' . $worker->error() . ' (' . $worker->returnCode() . ")\n");
        exit(1);
    }
}
