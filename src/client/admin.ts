// A client for the text admin protocol (what gearadmin speaks): one command, one reply.
// Works against geartrain and gearmand alike.

import net from 'node:net';
import { GeartrainError, gtError } from '../errors.js';

export interface FunctionStatus {
  function: string;
  /** Queued plus running, as gearmand counts it. */
  total: number;
  running: number;
  workers: number;
}

export interface PriorityStatus {
  function: string;
  high: number;
  normal: number;
  low: number;
  workers: number;
}

export interface WorkerInfo {
  fd: number;
  host: string;
  clientId: string;
  functions: string[];
}

export interface JobInfo {
  handle: string;
  retries: number;
  ignored: boolean;
  background: boolean;
}

const LIST_COMMANDS = /^(status|workers|prioritystatus|show\b|jobs (list|show|retry|retry-dead)\b)/i;

/** Send one admin command to host:port and return the raw reply text. */
export function adminCommand(host: string, port: number, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    const list = LIST_COMMANDS.test(command);
    let buf = '';
    const done = (err: Error | null, value?: string): void => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => done(gtError('GT_TIMEOUT', `admin command "${command}" to ${host}:${port}`, timeoutMs)), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write(`${command}\n`));
    socket.on('data', (d: string) => {
      buf += d;
      // A list ends with a line holding "."; errors and single answers are one line.
      if (list && (buf.endsWith('\n.\n') || buf === '.\n' || (buf.startsWith('ERR') && buf.endsWith('\n')))) done(null, buf);
      else if (!list && buf.endsWith('\n')) done(null, buf);
    });
    socket.on('error', (e) => done(new GeartrainError('GT_CONNECTION_FAILED', `Could not connect to ${host}:${port}: ${e.message}`, { cause: e })));
    socket.on('close', () => done(gtError('GT_CONNECTION_LOST', `${host}:${port}`)));
  });
}

function rows(reply: string): string[] {
  if (reply.startsWith('ERR')) throw gtError('GT_SERVER_ERROR', 'ERR', reply.trim());
  return reply.split('\n').filter((l) => l !== '' && l !== '.');
}

export async function adminStatus(host: string, port: number): Promise<FunctionStatus[]> {
  return rows(await adminCommand(host, port, 'status')).map((l) => {
    const [fn, total, running, workers] = l.split('\t');
    return { function: fn!, total: Number(total), running: Number(running), workers: Number(workers) };
  });
}

export async function adminPriorityStatus(host: string, port: number): Promise<PriorityStatus[]> {
  return rows(await adminCommand(host, port, 'prioritystatus')).map((l) => {
    const [fn, high, normal, low, workers] = l.split('\t');
    return { function: fn!, high: Number(high), normal: Number(normal), low: Number(low), workers: Number(workers) };
  });
}

export async function adminWorkers(host: string, port: number): Promise<WorkerInfo[]> {
  return rows(await adminCommand(host, port, 'workers')).map((l) => {
    const colon = l.indexOf(' :');
    const [fd, h, id] = l.slice(0, colon).split(' ');
    const functions = l
      .slice(colon + 2)
      .split(' ')
      .filter(Boolean);
    return { fd: Number(fd), host: h!, clientId: id!, functions };
  });
}

export async function adminJobs(host: string, port: number): Promise<JobInfo[]> {
  return rows(await adminCommand(host, port, 'show jobs')).map((l) => {
    const [handle, retries, ignored, queued] = l.split('\t');
    return { handle: handle!, retries: Number(retries), ignored: ignored === '1', background: queued === '1' };
  });
}
