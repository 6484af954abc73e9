/**
 * The anchor of the streaming benchmark: a bare Node process with the `openai`
 * SDK consuming the same stamped streams from the same server, started on the
 * schedule the app's runs started on (offsets in ms), not all in one
 * millisecond, so both sides meet the same load shape. Reports the receive
 * delay (receive − stamped send), loss/order, and the process's own CPU.
 *   node --import tsx scripts/bench/stream-anchor.ts <base url>   then {"run":{"offsets":[...]}} on stdin
 */
import OpenAI from 'openai';
import { parseStamps, wallNow } from './stream-server.js';
import { onCommands, percentile, report } from './ws-lines.js';

const [baseURL] = process.argv.slice(2);
const client = new OpenAI({ apiKey: 'bench', baseURL, maxRetries: 0, timeout: 120_000 });

async function run(offsets: number[]): Promise<void> {
  const delays: number[] = [];
  let received = 0;
  let duplicates = 0;
  let reordered = 0;
  let failed = 0;
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    offsets.map(async (offset, i) => {
      const wait = offset - (performance.now() - start);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      try {
        const stream = await client.chat.completions.create({
          model: 'bench',
          messages: [{ role: 'user', content: `anchor ${i}` }],
          stream: true,
          stream_options: { include_usage: true },
        });
        const seen = new Set<number>();
        let next = 0;
        for await (const chunk of stream) {
          const delta = chunk.choices?.[0]?.delta?.content;
          if (!delta) continue;
          const now = wallNow();
          for (const { index, sentAt } of parseStamps(delta)) {
            delays.push(now - sentAt);
            if (seen.has(index)) {
              duplicates++;
              continue;
            }
            if (index !== next) reordered++;
            seen.add(index);
            next = index + 1;
            received++;
          }
        }
      } catch (error) {
        failed++;
        report({ error: `anchor stream ${i}: ${String(error)}` });
      }
    }),
  );
  const cpu = process.cpuUsage(cpuBefore);
  delays.sort((a, b) => a - b);
  const pct = (p: number) => percentile(delays, p);
  report({
    done: true,
    streams: offsets.length,
    received,
    duplicates,
    reordered,
    failed,
    delayP50: pct(50),
    delayP99: pct(99),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    rssMb: process.resourceUsage().maxRSS / 1024,
    seconds: (performance.now() - start) / 1000,
  });
}

report({ ready: true });
onCommands(async (command) => {
  if (command.run) await run((command.run as { offsets: number[] }).offsets);
});
