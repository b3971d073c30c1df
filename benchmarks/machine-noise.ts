/**
 * What else took this machine's CPU while a step ran, from Linux's /proc/stat: the hypervisor
 * (steal time: the vCPUs were ready to run and the host ran something else) and other processes
 * (busy time beyond this process's own). A target met in one run and missed in the next with
 * either of these up is the machine's noise, not servable's cost.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** Shares of the machine's CPU time over a span, in percent of all its vCPUs' time. */
export interface Noise {
  readonly stealPct: number;
  readonly othersPct: number;
}

interface Sample {
  /** user, nice, system, irq, softirq ticks summed over the vCPUs */
  readonly busy: number;
  readonly steal: number;
  readonly total: number;
  /** this process's CPU time, all its threads, in microseconds */
  readonly ownUs: number;
}

/** USER_HZ, the unit of /proc/stat: 100 on every Linux Node runs on. */
const TICKS_PER_SECOND = 100;

function sample(): Sample | undefined {
  let line: string;
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  } catch {
    return undefined;
  }
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  const { user: ownUser, system: ownSystem } = process.cpuUsage();
  return {
    busy: user! + nice! + system! + irq! + softirq!,
    steal: steal!,
    total: user! + nice! + system! + idle! + iowait! + irq! + softirq! + steal!,
    ownUs: ownUser + ownSystem,
  };
}

/** Starts measuring; the returned function gives the noise since, or undefined where /proc/stat is missing. */
export function watchMachineNoise(): () => Noise | undefined {
  const start = sample();
  return () => {
    const end = sample();
    if (!start || !end || end.total === start.total) return undefined;
    const total = end.total - start.total;
    const ownTicks = ((end.ownUs - start.ownUs) / 1e6) * TICKS_PER_SECOND;
    return {
      stealPct: (100 * (end.steal - start.steal)) / total,
      othersPct: Math.max(0, (100 * (end.busy - start.busy - ownTicks)) / total),
    };
  };
}

/** "steal 0.4%, other processes 12.0% of the 2 vCPUs' time", or a note that Linux's figures are missing. */
export function describeNoise(noise: Noise | undefined): string {
  if (!noise) return 'machine noise not measured (no /proc/stat)';
  return `steal ${noise.stealPct.toFixed(1)}%, other processes ${noise.othersPct.toFixed(1)}% of the ${cpus().length} vCPUs' time`;
}
