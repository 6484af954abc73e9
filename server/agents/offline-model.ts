import { setTimeout as sleep } from 'node:timers/promises';
import { parseRubricPrompt, RUBRIC_JUDGEMENT } from '../../shared/evals.js';
import type { JsonSchema } from '../../shared/json-schema.js';
import { estimatePromptTokens, estimateTokens, type CallOptions, type ModelBackend, type ModelRequest, type ModelResponse, type ToolCall } from './model.js';

/**
 * The built-in model used when no OPENAI_API_KEY is set, so the product works on a
 * fresh machine. It is deterministic (same request, same answer), shapes its text
 * after the agent's role and the words of the request, answers valid JSON for
 * structured agents, and streams like a real model. It is never a fallback for a
 * failing API: the app picks it only when no key is configured.
 */
export const OFFLINE_MODEL = 'offline';

const STOPWORDS = new Set(
  'about above after again against also among because been before being below between both could does doing down during each even every from further have having here into itself just more most much must need only other over same should some such than that their theirs them then there these they this those through under until very what when where which while will with would your yours please write give make tell task request input previous output answer agent agents round attempt using want like into onto upon shall might cannot'.split(' '),
);

const FALLBACK_KEYWORDS = ['scope', 'cost', 'timeline', 'quality', 'risk', 'users'];

/** FNV-1a, 32 bits: small, fast and stable across platforms. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a seeded generator so every choice follows from the request. */
function generator(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Context {
  rng: () => number;
  topic: string;
  keywords: Keywords;
  sentences: string[];
  userText: string;
  systemText: string;
  /** Margin of the last enum choice, so a confidence can follow from it. */
  choiceMargin: number;
}

function pick<T>(rng: () => number, items: readonly T[]): T {
  const item = items[Math.floor(rng() * items.length) % items.length];
  if (item === undefined) throw new Error('offline model: pick from an empty list');
  return item;
}

function extractTopic(userText: string): string {
  const lines = userText.split('\n').map((l) => l.trim()).filter(Boolean);
  const labelled = lines.find((l) => /^(task|request|question|topic):/i.test(l));
  let topic = (labelled ? labelled.replace(/^[a-z]+:\s*/i, '') : lines[0] ?? '').replace(/[#*_`>]/g, '').trim();
  if (topic.length > 90) topic = `${topic.slice(0, 90).replace(/\s+\S*$/, '')}…`;
  return topic.replace(/[.?!:]+$/, '') || 'the request';
}

/** At least four: the prose templates name four. */
type Keywords = [string, string, string, string, ...string[]];

function extractKeywords(text: string): Keywords {
  const counts = new Map<string, number>();
  for (const word of text.toLowerCase().match(/[\p{L}][\p{L}'-]{3,}/gu) ?? []) {
    if (STOPWORDS.has(word)) continue;
    counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([w]) => w);
  const result = ranked.slice(0, 6);
  for (const fallback of FALLBACK_KEYWORDS) if (result.length < 4 && !result.includes(fallback)) result.push(fallback);
  const [k1, k2, k3, k4, ...more] = result;
  // Six distinct fallbacks always fill the list to four, so fewer is a bug.
  if (k1 === undefined || k2 === undefined || k3 === undefined || k4 === undefined) throw new Error('offline model: fewer than four keywords');
  return [k1, k2, k3, k4, ...more];
}

function extractSentences(text: string): string[] {
  return (text.replace(/\s+/g, ' ').match(/[^.!?]+[.!?]?/g) ?? [])
    .map((s) => s.trim())
    .filter((s) => s.length > 12 && !/^(task|request|previous|round|attempt)\b/i.test(s))
    .slice(0, 8);
}

function cap(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

type Role =
  | 'research'
  | 'fact'
  | 'editor'
  | 'critic'
  | 'summary'
  | 'triage'
  | 'planner'
  | 'analyst'
  | 'translator'
  | 'judge'
  | 'moderator'
  | 'verifier'
  | 'router'
  | 'writer'
  | 'generic';

const ROLE_CUES: [RegExp, Role][] = [
  [/research/, 'research'],
  [/fact-check/, 'fact'],
  [/\beditor\b/, 'editor'],
  [/\bcritic\b/, 'critic'],
  [/summari[sz]e/, 'summary'],
  [/triage/, 'triage'],
  [/planner/, 'planner'],
  [/analyst/, 'analyst'],
  [/translat/, 'translator'],
  [/\bjudge\b/, 'judge'],
  [/moderat/, 'moderator'],
  [/verif/, 'verifier'],
  [/\broute/, 'router'],
  [/writer/, 'writer'],
];

function roleOf(systemText: string): Role {
  const lower = systemText.toLowerCase();
  return ROLE_CUES.find(([cue]) => cue.test(lower))?.[1] ?? 'generic';
}

function prose(role: Role, c: Context): string {
  const [k1, k2, k3, k4] = c.keywords;
  const T = c.topic;
  const s = c.sentences;
  switch (role) {
    case 'research':
      return [
        `Research notes: ${T}`,
        '',
        `1. ${cap(k1)} is the central theme; most discussion of ${T.toLowerCase()} turns on how ${k1} relates to ${k2}.`,
        `2. Evidence on ${k2} is reasonably consistent, while claims about ${k3} vary by source and should be checked against primary data.`,
        `3. ${cap(k4)} is often overlooked, yet it shapes the practical outcome.`,
        '',
        `Open questions: how durable is the effect of ${k1}, and what would change the picture for ${k3}?`,
        `Sources to consult: peer-reviewed surveys on ${k1}, official statistics on ${k2}, and practitioner reports on ${k4}.`,
      ].join('\n');
    case 'editor': {
      const body = s.length ? s.map((x) => cap(x.replace(/\s+,/g, ',').replace(/\bvery\s+/gi, ''))).join(' ') : `${cap(T)}.`;
      return [body, '', 'Changes:', '- Tightened wording and removed filler.', `- Made the point about ${k1} explicit up front.`, '- Fixed punctuation and consistency.'].join('\n');
    }
    case 'critic':
      return [
        `Assessment of: ${T}`,
        '',
        `Strengths: the focus on ${k1} is clear and the link to ${k2} is well motivated.`,
        `Weaknesses: the treatment of ${k3} is thin, and the argument assumes rather than shows that ${k4} will follow.`,
        `Counter-argument: a reader could reasonably say that ${k2} matters less than ${k3} here.`,
        '',
        'Suggestions:',
        `1. Support the claim about ${k3} with evidence.`,
        `2. Address the strongest objection concerning ${k2} directly.`,
        '3. Cut repetition so the main point lands faster.',
      ].join('\n');
    case 'summary':
      return [
        `Summary: ${s[0] ? cap(s[0].replace(/[.!?]$/, '')) : cap(T)}. The text centres on ${k1} and ${k2}, and its implications for ${k3}.`,
        '',
        `- ${cap(k1)} is the main subject.`,
        `- ${cap(k2)} is presented as the key driver.`,
        `- ${cap(k3)} is where the consequences show.`,
        ...(s[1] ? [`- ${cap(s[1].replace(/[.!?]$/, ''))}.`] : []),
      ].join('\n');
    case 'planner':
      return [
        `Plan: ${T}`,
        '',
        `1. Define the goal and success criteria for ${k1} (done when written down and agreed).`,
        `2. Gather what is known about ${k2}; list gaps (done when the gaps have owners).`,
        `3. Build a small first version addressing ${k1} and ${k3} (done when it can be shown).`,
        '4. Review with the people affected and adjust (done when feedback is triaged).',
        `5. Roll out in stages, measuring ${k4} at each one.`,
        '',
        `Risks: underestimating ${k2} (mitigate with an early spike); scope creep around ${k3} (mitigate with a fixed first milestone).`,
      ].join('\n');
    case 'analyst':
      return [
        `Question: ${T}`,
        '',
        `Option A — prioritise ${k1}: lower risk, moderate cost, benefits arrive slowly.`,
        `Option B — prioritise ${k2}: higher upside, more effort, depends on ${k3}.`,
        '',
        `Recommendation: ${pick(c.rng, ['Option A', 'Option B'])}, because it balances cost against ${k4} best today. Revisit if ${k3} changes materially.`,
      ].join('\n');
    case 'translator':
      return s.length ? s.join(' ') : cap(T);
    case 'judge':
      return `Decision on ${T}: the stronger position is the one that grounds its case on ${k1} with evidence, while the other leans on assertion about ${k2}. It answers the objections about ${k3} more directly.`;
    case 'moderator':
      return [
        `Panel synthesis: ${T}`,
        '',
        `Agreement: the experts agree that ${k1} is central and that ${k2} needs attention.`,
        `Differences: they differ on how much weight to give ${k3}; the disagreement comes from different assumptions about ${k4}.`,
        '',
        `Recommendation: act on ${k1} now, run a small test on ${k3}, and revisit in a month.`,
      ].join('\n');
    case 'verifier':
      return `Checked the answer on ${T} against the criteria: it addresses ${k1} and ${k2}; the treatment of ${k3} is adequate.`;
    case 'router':
      return `Best handled by the agent that covers ${k1}.`;
    case 'fact':
    case 'triage':
    case 'writer':
    case 'generic':
    default: {
      const title = cap(T);
      return [
        `# ${title}`,
        '',
        `${cap(k1)} sits at the heart of ${T.toLowerCase()}. ${pick(c.rng, ['Getting it right', 'Understanding it well', 'Handling it carefully'])} depends on how ${k1} interacts with ${k2}.`,
        '',
        `In practice, ${k2} sets the pace: ${pick(c.rng, ['small, steady improvements', 'clear priorities', 'honest measurement'])} matter more than grand plans. ${cap(k3)} follows once ${k2} is in place, and ${k4} becomes easier to reason about.`,
        '',
        `In short: focus on ${k1}, be deliberate about ${k2}, and keep an eye on ${k3}.`,
      ].join('\n');
    }
  }
}

const stem = (word: string) => word.toLowerCase().slice(0, 4);

function stems(text: string): Set<string> {
  return new Set((text.toLowerCase().match(/[\p{L}]{4,}/gu) ?? []).filter((w) => !STOPWORDS.has(w)).map(stem));
}

/**
 * How well an enum value fits the request: its name in the request, plus the words
 * shared between the line that describes it (a candidate list) and the rest of the text.
 */
function scoreChoice(value: string, values: readonly string[], text: string): number {
  const lines = text.split('\n');
  // A describing line is a list entry that starts with the value ("- planner: Breaks a goal…").
  const mentions = (line: string, v: string) => line.trim().toLowerCase().replace(/^[-*\d.)\s]+/, '').startsWith(v.toLowerCase());
  const described = lines.filter((l) => mentions(l, value)).join(' ');
  const rest = stems(lines.filter((l) => !values.some((v) => mentions(l, v))).join(' '));
  let score = 0;
  for (const part of value.toLowerCase().split(/[^a-z0-9]+/).filter((p) => p.length > 2)) if (rest.has(stem(part))) score += 2;
  for (const word of stems(described)) if (rest.has(word)) score++;
  return score;
}

function chooseEnum(values: readonly string[], c: Context): string {
  const scored = values.map((v) => ({ v, s: scoreChoice(v, values, c.userText) + c.rng() * 0.5 })).sort((a, b) => b.s - a.s);
  const [best, second] = scored;
  if (!best) throw new Error('offline model: an enum with no values');
  c.choiceMargin = second ? best.s - second.s : 1;
  return best.v;
}

function stringFor(key: string, index: number, c: Context): string {
  const [k1, k2, k3] = c.keywords;
  const k = key.toLowerCase();
  if (k.includes('claim')) return c.sentences[index] ?? `${cap(k1)} is related to ${k2}.`;
  if (k.includes('summary')) return `${cap(c.topic)}: the core issue concerns ${k1} and ${k2}.`;
  if (k.includes('reply')) return `Thanks for reaching out about ${c.topic.toLowerCase()}. We have looked into the ${k1} issue and a specialist will follow up within one business day with next steps on ${k2}.`;
  if (/(reason|note|explanation|rationale|feedback)/.test(k)) return pick(c.rng, [`The answer covers ${k1} clearly and relates it to ${k2}.`, `The point about ${k2} is supported; ${k3} could be stated more precisely.`, `It addresses the request about ${k1} directly.`]);
  if (k.includes('question')) return `Which aspect of ${k1} matters most here?`;
  return `${cap(k1)} and ${k2} in the context of ${c.topic.toLowerCase()}.`;
}

function valueFor(schema: JsonSchema, key: string, index: number, c: Context): unknown {
  switch (schema.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      // Enums first: a confidence beside them follows from how clear the choice was.
      const entries = Object.entries(schema.properties).sort(([, a], [, b]) => Number(b.type === 'string' && Boolean(b.enum)) - Number(a.type === 'string' && Boolean(a.enum)));
      for (const [name, child] of entries) out[name] = valueFor(child, name, index, c);
      return Object.fromEntries(Object.keys(schema.properties).map((name) => [name, out[name]]));
    }
    case 'array': {
      const min = schema.minItems ?? 2;
      const count = Math.min(schema.maxItems ?? 3, Math.max(min, Math.min(3, Math.max(2, c.sentences.length))));
      return Array.from({ length: count }, (_, i) => valueFor(schema.items, key, i, c));
    }
    case 'string':
      return schema.enum ? chooseEnum(schema.enum, c) : stringFor(key, index, c);
    case 'number':
    case 'integer': {
      let value: number;
      if (/confidence|probability|score/i.test(key)) {
        value = c.choiceMargin >= 1 ? 0.7 + c.rng() * 0.25 : 0.3 + c.rng() * 0.25;
        value = Math.round(value * 100) / 100;
      } else {
        const min = schema.minimum ?? 1;
        const max = schema.maximum ?? Math.max(min + 9, 10);
        value = min + c.rng() * (max - min);
      }
      if (schema.minimum !== undefined) value = Math.max(schema.minimum, value);
      if (schema.maximum !== undefined) value = Math.min(schema.maximum, value);
      return schema.type === 'integer' ? Math.round(value) : value;
    }
    case 'boolean':
      // Verdicts: a revised answer (attempt 2 or later) is accepted, a first one usually is.
      if (/^(pass|passed|verified|approved|ok|valid)$/i.test(key)) return /\battempt\s+([2-9]|\d{2,})\b/i.test(c.userText) || c.rng() >= 0.25;
      return c.rng() >= 0.5;
  }
}

/*
 * Tool use, deterministic so a person with no key sees the whole flow. The model
 * reads the newest user message:
 *   - "call <tool> {json}" (or "use <tool> with {json}"), once or several times:
 *     those calls, in parallel;
 *   - "keep calling <tool> {json}": that call on every turn (to reach maxTurns);
 *   - an arithmetic expression (or "calculate …") when `calculator` is offered;
 *   - time, date, today or now when `current_time` is offered.
 * Once the tools of this turn have answered, it answers in text that quotes them.
 */
const DIRECTIVE = /\b(keep calling|call|use)\s+([A-Za-z0-9_-]+)(?:\s+with)?(?:\s*(\{[^\n]*?\})(?=\s*(?:$|[,.;]?\s|\band\b|\bthen\b)))?/gi;
const ARITHMETIC = /(?:calculate|compute|what is|what's)\s+([-+*/^%().\d\s×÷a-z,]+?)(?:\?|$|\.\s)|((?:\(?\s*-?\d[\d.]*\s*\)?\s*[-+*/^%×÷]\s*)+\(?\s*-?\d[\d.]*\s*\)?)/i;

function lastUserIndex(request: ModelRequest): number {
  for (let i = request.messages.length - 1; i >= 0; i--) if (request.messages[i]!.role === 'user') return i;
  return -1;
}

/** The tool calls the offline model makes for this request, or none (it answers instead). */
export function offlineToolCalls(request: ModelRequest): ToolCall[] {
  const offered = new Set((request.tools ?? []).map((t) => t.name));
  if (offered.size === 0) return [];
  const from = lastUserIndex(request);
  const lastUser = from >= 0 ? request.messages[from]!.content : '';
  const turn = request.messages.slice(from + 1).filter((m) => m.role === 'assistant').length;
  const answeredThisTurn = request.messages.slice(from + 1).some((m) => m.role === 'tool');
  const calls: { name: string; args: string }[] = [];
  for (const match of lastUser.matchAll(DIRECTIVE)) {
    const [, verb, name, json] = match;
    if (!name || !offered.has(name)) continue;
    if (answeredThisTurn && verb!.toLowerCase() !== 'keep calling') continue;
    calls.push({ name, args: json ?? '{}' });
  }
  if (calls.length === 0 && !answeredThisTurn) {
    const arithmetic = offered.has('calculator') ? ARITHMETIC.exec(lastUser) : null;
    // "what is 6 * 7 and what time is it": the expression ends where the next clause begins.
    const expression = (arithmetic?.[1] ?? arithmetic?.[2])?.split(/\s+(?:and|then|also|or|plus)\s+|[,;?]/i)[0]?.trim();
    if (expression && /\d/.test(expression)) calls.push({ name: 'calculator', args: JSON.stringify({ expression }) });
    if (offered.has('current_time') && /\b(time|date|today|now)\b/i.test(lastUser)) calls.push({ name: 'current_time', args: '{}' });
  }
  return calls.map((call, i) => ({ id: `call_${turn}_${i}`, name: call.name, arguments: call.args }));
}

/** After tools answered: a text that says what they returned and rests its answer on them. */
function afterTools(request: ModelRequest, prose: string): string {
  const from = lastUserIndex(request);
  const results = request.messages.slice(from + 1).flatMap((m) => (m.role === 'tool' ? [m] : []));
  if (results.length === 0) return prose;
  const names = new Map<string, string>();
  for (const m of request.messages.slice(from + 1)) if (m.role === 'assistant') for (const c of m.toolCalls ?? []) names.set(c.id, c.name);
  const lines = results.map((r) => `- ${names.get(r.toolCallId) ?? 'tool'}: ${r.content.replace(/\s+/g, ' ').slice(0, 300)}`);
  // Rest the answer on the first call that worked (a failed one is still listed below).
  const usable = results.find((r) => !/^(cannot calculate|the tool failed|denied\b)/i.test(r.content)) ?? results[0]!;
  const first = usable.content.replace(/\s+/g, ' ').slice(0, 200);
  const denied = results.every((r) => /^denied\b/i.test(r.content));
  const conclusion = denied ? 'The action was not approved, so I did not carry it out.' : `Based on these results, the answer is: ${first}`;
  return `${conclusion}\n\nWhat the tools returned:\n${lines.join('\n')}\n\n${prose.split('\n\n').slice(0, 2).join('\n\n')}`;
}

/** Words that say what a rubric asks rather than what the answer should contain. */
const RUBRIC_VERBS = new Set(['mention', 'mentions', 'mentioned', 'explain', 'explains', 'include', 'includes', 'cover', 'covers', 'discuss', 'discusses', 'state', 'states', 'name', 'names', 'list', 'lists', 'says', 'refer', 'refers', 'clear', 'clearly']);

/**
 * The judge of an evaluation rubric (server/evals): the share of the rubric's content words
 * the answer contains, so a rubric case passes or fails deterministically with no key.
 */
export function offlineRubricJudgement(rubric: string, answer: string): { score: number; reason: string } {
  const words = [...new Set((rubric.toLowerCase().match(/[\p{L}]{4,}/gu) ?? []).filter((w) => !STOPWORDS.has(w) && !RUBRIC_VERBS.has(w)))];
  if (words.length === 0) return { score: 1, reason: 'The rubric names nothing specific to look for.' };
  const found = stems(answer);
  const met = words.filter((w) => found.has(stem(w)));
  const missing = words.filter((w) => !found.has(stem(w)));
  const score = Math.round((met.length / words.length) * 100) / 100;
  const reason = missing.length === 0 ? `The answer covers everything the rubric asks (${met.join(', ')}).` : `The answer covers ${met.length} of ${words.length} points of the rubric; missing: ${missing.join(', ')}.`;
  return { score, reason };
}

/** The answer, as a pure function of the request. */
export function offlineAnswer(request: ModelRequest): string {
  const systemText = request.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n');
  const userText = request.messages.filter((m) => m.role !== 'system').map((m) => m.content).join('\n');
  const lastUser = [...request.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  const context: Context = {
    rng: generator(hash(JSON.stringify([request.messages, request.responseSchema ?? null]))),
    topic: extractTopic(lastUser),
    keywords: extractKeywords(lastUser),
    sentences: extractSentences(lastUser),
    userText,
    systemText,
    choiceMargin: 1,
  };
  const graded = request.responseSchema?.name === RUBRIC_JUDGEMENT ? parseRubricPrompt(lastUser) : null;
  if (graded) return JSON.stringify(offlineRubricJudgement(graded.rubric, graded.answer));
  if (request.responseSchema) return JSON.stringify(valueFor(request.responseSchema.schema, '', 0, context));
  const text = afterTools(request, prose(roleOf(systemText), context));
  const limit = request.maxTokens * 4;
  return text.length > limit ? text.slice(0, limit) : text;
}

/** Splits text into stream chunks of a few words (JSON in short runs of characters). */
export function offlineChunks(text: string, json: boolean): string[] {
  if (json) return text.match(/[\s\S]{1,16}/g) ?? [];
  const words = text.match(/\S+\s*|\s+/g) ?? [];
  const chunks: string[] = [];
  for (let i = 0; i < words.length; i += 3) chunks.push(words.slice(i, i + 3).join(''));
  return chunks;
}

export function createOfflineModel(options: { delayMs: number }): ModelBackend {
  return {
    name: 'offline',
    async complete(request: ModelRequest, call: CallOptions): Promise<ModelResponse> {
      call.signal.throwIfAborted();
      const toolCalls = offlineToolCalls(request);
      if (toolCalls.length > 0) {
        if (options.delayMs > 0) await sleep(options.delayMs, undefined, { signal: call.signal });
        return {
          text: '',
          usage: { promptTokens: estimatePromptTokens(request.messages), completionTokens: estimateTokens(toolCalls.map((c) => c.name + c.arguments).join('')) },
          model: OFFLINE_MODEL,
          cached: false,
          toolCalls,
        };
      }
      const text = offlineAnswer(request);
      for (const chunk of offlineChunks(text, request.responseSchema !== undefined)) {
        if (options.delayMs > 0) await sleep(options.delayMs, undefined, { signal: call.signal });
        else call.signal.throwIfAborted();
        call.onToken?.(chunk);
      }
      return {
        text,
        usage: { promptTokens: estimatePromptTokens(request.messages), completionTokens: estimateTokens(text) },
        model: OFFLINE_MODEL,
        cached: false,
      };
    },
  };
}
