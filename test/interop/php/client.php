<?php
// A PHP GearmanClient (pecl gearman) for the interop suite; prints one JSON object.
// Usage: php client.php PORT COMMAND ARGS...
//   do FN MODE PAYLOAD [UNIQUE]   MODE: normal high low background highbg lowbg
//   tasks SPEC                    addTask*() then runTasks(), recording every callback;
//                                 SPEC: JSON [{fn, payload, kind: normal|high|low|background, unique?}]
//   status HANDLE                 jobStatus()
//   ustatus UNIQUE                jobStatusByUniqueKey()
//   ping WORKLOAD                 ping() (ECHO_REQ)
//   file FN IN OUT                doNormal with IN's bytes, writes the result to OUT

declare(strict_types=1);

$port = (int) $argv[1];
$command = $argv[2];
$client = new GearmanClient();
$client->addServer('127.0.0.1', $port);
$client->setTimeout(20_000);

function out(array $value): never
{
    echo json_encode($value, JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR), "\n";
    exit(0);
}

switch ($command) {
    case 'do': {
        [, , , $fn, $mode, $payload] = $argv;
        $unique = $argv[6] ?? null;
        $method = [
            'normal' => 'doNormal', 'high' => 'doHigh', 'low' => 'doLow',
            'background' => 'doBackground', 'highbg' => 'doHighBackground', 'lowbg' => 'doLowBackground',
        ][$mode];
        $result = $unique === null ? $client->$method($fn, $payload) : $client->$method($fn, $payload, $unique);
        out(['result' => $result, 'returnCode' => $client->returnCode(), 'error' => $client->error()]);
    }
    case 'tasks': {
        $spec = json_decode($argv[3], true);
        $events = [];
        $client->setCreatedCallback(function (GearmanTask $t) use (&$events) { $events[] = ['created', $t->unique()]; });
        $client->setDataCallback(function (GearmanTask $t) use (&$events) { $events[] = ['data', $t->unique(), $t->data()]; });
        $client->setStatusCallback(function (GearmanTask $t) use (&$events) {
            $events[] = ['status', $t->unique(), $t->taskNumerator(), $t->taskDenominator()];
        });
        $client->setCompleteCallback(function (GearmanTask $t) use (&$events) { $events[] = ['complete', $t->unique(), $t->data()]; });
        $client->setFailCallback(function (GearmanTask $t) use (&$events) { $events[] = ['fail', $t->unique()]; });
        foreach ($spec as $i => $task) {
            $method = [
                'normal' => 'addTask', 'high' => 'addTaskHigh', 'low' => 'addTaskLow', 'background' => 'addTaskBackground',
            ][$task['kind']];
            $client->$method($task['fn'], $task['payload'], null, $task['unique'] ?? "task-$i");
        }
        $ok = $client->runTasks();
        out(['ok' => $ok, 'returnCode' => $client->returnCode(), 'events' => $events]);
    }
    case 'status': {
        out(['status' => $client->jobStatus($argv[3]), 'returnCode' => $client->returnCode()]);
    }
    case 'ustatus': {
        out(['status' => $client->jobStatusByUniqueKey($argv[3]), 'returnCode' => $client->returnCode()]);
    }
    case 'ping': {
        out(['ok' => $client->ping($argv[3]), 'returnCode' => $client->returnCode()]);
    }
    case 'file': {
        [, , , $fn, $in, $outFile] = $argv;
        $result = $client->doNormal($fn, file_get_contents($in));
        file_put_contents($outFile, $result);
        out(['returnCode' => $client->returnCode(), 'bytes' => strlen($result)]);
    }
    default:
        fwrite(STDERR, "unknown command $command\n");
        exit(2);
}
