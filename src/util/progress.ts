/**
 * A progress line on stderr: redrawn in place on a terminal, printed every few seconds
 * otherwise (CI logs), silent when GR2_QUIET is set.
 */
export class Progress {
  readonly #start = performance.now();
  #lastPrint = 0;
  readonly #tty = Boolean(process.stderr.isTTY);
  // Quiet under the test runner (NODE_TEST_CONTEXT) too: test logs should show results, not bars.
  readonly #quiet = Boolean(process.env.GR2_QUIET || process.env.NODE_TEST_CONTEXT);

  constructor(readonly label: string, readonly total: number) {}

  update(done: number, info = ""): void {
    if (this.#quiet) return;
    const now = performance.now();
    const final = done >= this.total;
    if (!final && now - this.#lastPrint < (this.#tty ? 100 : 5000)) return;
    this.#lastPrint = now;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const elapsed = (now - this.#start) / 1000;
    const eta = frac > 0 ? (elapsed * (1 - frac)) / frac : 0;
    const bar = "#".repeat(Math.round(frac * 20)).padEnd(20, ".");
    const line = `${this.label} [${bar}] ${done}/${this.total} ${info} ${fmtSeconds(elapsed)}${final ? "" : ` eta ${fmtSeconds(eta)}`}`;
    if (this.#tty) process.stderr.write(`\r\x1b[2K${line}${final ? "\n" : ""}`);
    else process.stderr.write(`${line}\n`);
  }
}

export function fmtSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.round(s % 60)).padStart(2, "0")}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}
