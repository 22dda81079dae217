// Drives gateway-core's Anthropic Messages door with the official `@anthropic-ai/sdk`, unchanged.
// Env: ANTHROPIC_BASE_URL (…/anthropic), ANTHROPIC_API_KEY (an sgk_ key), MODEL (a chat model whose upstream
// echoes "echo: <last user text>"), TOOLS_MODEL (an Anthropic-backed model that answers "Let me check." and a
// get_weather call for Oslo), THINKING_MODEL (an Anthropic-backed model that thinks "The user wants an echo." first,
// signed), MIDFAIL_MODEL (a model whose upstream breaks off after "Hello wor").
// Exits non-zero with a message on the first mismatch.
import Anthropic from '@anthropic-ai/sdk';

const client = new Anthropic({ baseURL: process.env.ANTHROPIC_BASE_URL, apiKey: process.env.ANTHROPIC_API_KEY, maxRetries: 0 });
const model = process.env.MODEL;
const fail = (msg) => { console.error('FAIL: ' + msg); process.exit(1); };

const ids = [];
for await (const m of client.models.list({ limit: 2 })) ids.push(m.id); // pages through after_id
if (!ids.includes(model)) fail(`models.list() lacks ${model}: ${ids}`);
const one = await client.models.retrieve(model);
if (one.id !== model || one.type !== 'model') fail(`models.retrieve() returned ${JSON.stringify(one)}`);
console.log('models:', ids.length > 2 ? 'paged' : 'one page');

const message = await client.messages.create({ model, max_tokens: 100, messages: [{ role: 'user', content: 'sdk says hi' }] });
if (message.content[0]?.text !== 'echo: sdk says hi') fail(`non-streaming content was ${JSON.stringify(message.content)}`);
if (message.stop_reason !== 'end_turn' || message.usage.input_tokens !== 7 || message.usage.output_tokens !== 3) {
  fail(`non-streaming message was ${JSON.stringify(message)}`);
}
console.log('non-streaming:', message.content[0].text, message._request_id ? 'with request id' : 'without request id');

const stream = client.messages.stream({ model, max_tokens: 100, messages: [{ role: 'user', content: 'sdk streams' }] });
let streamed = '';
stream.on('text', (t) => { streamed += t; });
const final = await stream.finalMessage();
if (streamed !== 'echo: sdk streams' || final.content[0].text !== streamed) fail(`streamed ${JSON.stringify(streamed)}`);
if (final.usage.output_tokens !== 3 || final.usage.input_tokens !== 7) fail(`streamed usage ${JSON.stringify(final.usage)}`);
console.log('streaming:', streamed);

const tools = [{ name: 'get_weather', description: 'Weather by city', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
const asked = [{ role: 'user', content: 'weather in Oslo?' }];
const toolTurn = await client.messages.create({ model: process.env.TOOLS_MODEL, max_tokens: 100, tools, messages: asked });
const use = toolTurn.content.find((b) => b.type === 'tool_use');
if (!use || use.name !== 'get_weather' || use.input.city !== 'Oslo' || toolTurn.stop_reason !== 'tool_use') {
  fail(`tool turn was ${JSON.stringify(toolTurn)}`);
}
const toolStream = await client.messages.stream({ model: process.env.TOOLS_MODEL, max_tokens: 100, tools, messages: asked }).finalMessage();
const streamedUse = toolStream.content.find((b) => b.type === 'tool_use');
if (!streamedUse || streamedUse.input.city !== 'Oslo') fail(`streamed tool turn was ${JSON.stringify(toolStream)}`);
// the result goes back: the model's turn and the tool's answer
const answered = await client.messages.create({ model, max_tokens: 100, tools, messages: [...asked,
  { role: 'assistant', content: toolTurn.content },
  { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '12 degrees' }, { type: 'text', text: 'and tomorrow?' }] }] });
if (answered.content[0]?.text !== 'echo: and tomorrow?') fail(`after the tool result: ${JSON.stringify(answered.content)}`);
console.log('tool use:', use.id, use.name, JSON.stringify(use.input), 'streamed', streamedUse.id);

const thinking = { type: 'enabled', budget_tokens: 1024 };
const thought = await client.messages.create({ model: process.env.THINKING_MODEL, max_tokens: 900, thinking,
  messages: [{ role: 'user', content: 'think it over' }] });
const thinkingBlock = thought.content.find((b) => b.type === 'thinking');
if (!thinkingBlock?.signature) fail(`thinking was ${JSON.stringify(thought.content)}`);
const thoughtStream = client.messages.stream({ model: process.env.THINKING_MODEL, max_tokens: 900, thinking,
  messages: [{ role: 'user', content: 'think it over' }] });
let streamedThought = '';
thoughtStream.on('thinking', (delta) => { streamedThought += delta; });
const thoughtFinal = await thoughtStream.finalMessage();
const streamedBlock = thoughtFinal.content.find((b) => b.type === 'thinking');
if (streamedThought !== thinkingBlock.thinking || streamedBlock?.signature !== thinkingBlock.signature) {
  fail(`streamed thinking was ${JSON.stringify(thoughtFinal.content)}`);
}
const next = await client.messages.create({ model: process.env.THINKING_MODEL, max_tokens: 900, thinking, messages: [
  { role: 'user', content: 'think it over' }, { role: 'assistant', content: thought.content }, { role: 'user', content: 'once more' }] });
console.log(`thinking: "${thinkingBlock.thinking}" then "${next.content.find((b) => b.type === 'text')?.text}"`);

const counted = await client.messages.countTokens({ model, messages: [{ role: 'user', content: 'x'.repeat(400) }] });
if (!(counted.input_tokens >= 100)) fail(`countTokens gave ${JSON.stringify(counted)}`);
console.log('count tokens:', counted.input_tokens);

// a message batch: created, polled until it has ended, its results read as the SDK streams them, then deleted
const created = await client.messages.batches.create({ requests: [
  { custom_id: 'one', params: { model, max_tokens: 50, messages: [{ role: 'user', content: 'batched one' }] } },
  { custom_id: 'two', params: { model, max_tokens: 50, messages: [{ role: 'user', content: 'batched two' }] } }] });
let batch = created;
for (let i = 0; i < 300 && batch.processing_status !== 'ended'; i++) {
  await new Promise((r) => setTimeout(r, 100));
  batch = await client.messages.batches.retrieve(created.id);
}
if (batch.processing_status !== 'ended' || batch.request_counts.succeeded !== 2) fail(`the batch was ${JSON.stringify(batch)}`);
const batchResults = [];
for await (const r of await client.messages.batches.results(created.id)) {
  batchResults.push(`${r.custom_id}=${r.result.type === 'succeeded' ? r.result.message.content[0].text : r.result.type}`);
}
const listed = [];
for await (const b of client.messages.batches.list({ limit: 10 })) listed.push(b.id);
if (!listed.includes(created.id)) fail(`batches.list() lacks ${created.id}`);
const deleted = await client.messages.batches.delete(created.id);
console.log('message batch:', batchResults.join(', '), deleted.type);

try {
  const broken = client.messages.stream({ model: process.env.MIDFAIL_MODEL, max_tokens: 100, messages: [{ role: 'user', content: 'x' }] });
  let before = '';
  broken.on('text', (t) => { before += t; });
  await broken.finalMessage();
  fail('a stream cut short did not fail');
} catch (e) {
  if (!(e instanceof Anthropic.APIError)) fail(`a stream cut short raised ${e?.constructor?.name}: ${e?.message}`);
  console.log('mid-stream error:', e.constructor.name);
}
try {
  await client.messages.create({ model: 'no/such-model', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
  fail('an unknown model did not fail');
} catch (e) {
  if (!(e instanceof Anthropic.NotFoundError)) fail(`unknown model raised ${e?.constructor?.name}: ${e?.message}`);
  console.log('unknown model:', e.status, e.error?.error?.type, e.requestID ? 'with request id' : 'without request id');
}
try {
  await client.messages.create({ model, messages: [{ role: 'user', content: 'x' }] });
  fail('a message without max_tokens did not fail');
} catch (e) {
  if (!(e instanceof Anthropic.BadRequestError)) fail(`no max_tokens raised ${e?.constructor?.name}`);
  console.log('bad request:', e.status, e.error?.error?.type);
}
// the MCP connector (beta): AGENT_MODEL calls "get-sum" when asked; MCP_URL serves it; the gateway makes the call
if (process.env.AGENT_MODEL && process.env.MCP_URL) {
  const request = {
    model: process.env.AGENT_MODEL, max_tokens: 100, betas: ['mcp-client-2025-04-04'],
    mcp_servers: [{ type: 'url', url: process.env.MCP_URL, name: 'everything' }],
    messages: [{ role: 'user', content: 'call get-sum {"a": 2, "b": 3}' }],
  };
  const answered = await client.beta.messages.create(request);
  const streamed = await client.beta.messages.stream(request).finalMessage();
  const shape = (m) => m.content.map((b) => b.type).join(',') + ' ' + JSON.stringify(m.content.at(-1)?.text);
  if (shape(answered) !== shape(streamed) || streamed.content[0].server_name !== 'everything') {
    fail(`the MCP connector gave ${JSON.stringify({ answered, streamed })}`);
  }
  console.log('mcp connector:', shape(streamed), streamed.stop_reason);
}
try {
  await new Anthropic({ baseURL: process.env.ANTHROPIC_BASE_URL, apiKey: 'sgk_wrong000000000000000000000000000000', maxRetries: 0 })
    .messages.create({ model, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
  fail('a wrong key did not fail');
} catch (e) {
  if (!(e instanceof Anthropic.AuthenticationError)) fail(`wrong key raised ${e?.constructor?.name}`);
  console.log('wrong key:', e.status);
}
console.log('OK');
