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

/** Stops everything still registered, newest first; a stop that fails is reported and the rest still run. */
export async function cleanupAll(): Promise<void> {
  while (stops.length > 0) {
    const { name, stop } = stops.pop()!;
    try {
      await stop();
    } catch (err) {
      process.stderr.write(`bench: stopping ${name} failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
}

/** On SIGINT/SIGTERM: stop every process, then exit 130 (a second signal exits at once). */
export function cleanupOnSignals(): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stderr.write(`\nbench: ${signal}, stopping every process it started\n`);
    void cleanupAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
