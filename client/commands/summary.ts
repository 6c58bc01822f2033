import type { ReplicationSummary } from '../../workflows/types';

/** The per-stream table printed at the end of a run. */
export function formatSummary(s: ReplicationSummary): string {
  const header = ['stream', 'mode', 'status', 'rows', 'pages', 'table rows', 'watermark', 'seconds'];
  const rows = s.streams.map((x) => [
    x.stream,
    x.mode,
    x.status,
    String(x.rows),
    String(x.pages),
    x.tableRows === undefined ? '' : String(x.tableRows),
    x.watermark ?? '',
    (x.durationMs / 1000).toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i >= 3 && i <= 5 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const out = [line(header), ...rows.map(line), `${s.rows} rows in ${(s.durationMs / 1000).toFixed(1)} s`];
  for (const x of s.streams) for (const note of x.notes ?? []) out.push(`${x.stream}: ${note}`);
  for (const x of s.streams.filter((y) => y.error)) out.push(`${x.stream} failed: ${x.error}`);
  return `${out.join('\n')}\n`;
}
