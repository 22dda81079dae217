// Drives gateway-core's OpenAI-compatible layer with the official `openai` SDK, unchanged.
// Env: OPENAI_BASE_URL (…/oai/v1), OPENAI_API_KEY (an sgk_ key), MODEL (a chat model slug whose upstream also
// serves text completions), and
// optionally TOOLS_MODEL (a model whose upstream answers with a get_weather call for Oslo: checks that
// the SDK's own stream accumulator assembles the gateway's tool-call chunks) and EMBED_MODEL (an
// embedding model whose upstream answers [0.1 * (i + 1), 0.2, 0.3] for input i) and MIDFAIL_MODEL (a
// model whose upstream breaks off after "Hello wor": the SDK must raise the gateway's error event) and
// PARSE_MODEL (an Anthropic-backed model: the SDK's parse() reads the structured output the gateway
// gets through a forced tool) and THINKING_MODEL (an Anthropic-backed model that thinks "The user wants an
// echo." first: reasoning_content and thinking_blocks, streamed and not, sent back on the next turn) and
// IMAGE_MODEL (an image model whose upstream draws DALL-E style: a URL per image, or base64 of "PNG <i>: <prompt>") and
// SPEECH_MODEL / TRANSCRIBE_MODEL (audio models whose upstreams answer "AUDIO/<format>: <input>" and "heard: <file text>").
// Exits non-zero with a message on the first mismatch.
import OpenAI, { toFile } from 'openai';

const client = new OpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: process.env.OPENAI_API_KEY, maxRetries: 0 });
const model = process.env.MODEL;
const fail = (msg) => { console.error('FAIL: ' + msg); process.exit(1); };

const models = await client.models.list();
const ids = [];
for await (const m of models) ids.push(m.id);
if (!ids.includes(model)) fail(`models.list() lacks ${model}: ${ids}`);
const one = await client.models.retrieve(model);
if (one.id !== model) fail(`models.retrieve() returned ${one.id}`);

const completion = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'sdk says hi' }] });
const text = completion.choices[0].message.content;
if (text !== 'echo: sdk says hi') fail(`non-streaming content was ${JSON.stringify(text)}`);
if (completion.usage?.total_tokens !== 10) fail(`usage was ${JSON.stringify(completion.usage)}`);
console.log('non-streaming:', text);

const stream = await client.chat.completions.create({
  model, stream: true, stream_options: { include_usage: true },
  messages: [{ role: 'user', content: 'sdk streams' }],
});
let streamed = '';
let usage = null;
for await (const chunk of stream) {
  streamed += chunk.choices[0]?.delta?.content ?? '';
  if (chunk.usage) usage = chunk.usage;
}
if (streamed !== 'echo: sdk streams') fail(`streamed content was ${JSON.stringify(streamed)}`);
if (!usage || usage.total_tokens <= 0) fail(`no usage chunk in the stream`);
console.log('streaming:', streamed, usage);

// the legacy text completions (MODEL's upstream serves /completions: it continues any prompt with " Paris, of course.")
const legacy = await client.completions.create({ model, prompt: 'The capital of France is', max_tokens: 8, logprobs: 2 });
if (legacy.object !== 'text_completion' || legacy.choices[0].text !== ' Paris, of course.') fail(`completions gave ${JSON.stringify(legacy)}`);
const lp = legacy.choices[0].logprobs;
if (JSON.stringify(lp?.tokens) !== JSON.stringify([' ', 'Paris, ', 'of ', 'course.']) || Object.keys(lp.top_logprobs[0]).length !== 2) {
  fail(`completions logprobs were ${JSON.stringify(lp)}`);
}
let continued = '';
let legacyUsage = null;
for await (const chunk of await client.completions.create({ model, prompt: 'Say', stream: true, stream_options: { include_usage: true } })) {
  continued += chunk.choices[0]?.text ?? '';
  if (chunk.usage) legacyUsage = chunk.usage;
}
if (continued !== ' Paris, of course.' || !legacyUsage) fail(`streamed completion was ${JSON.stringify(continued)}, usage ${JSON.stringify(legacyUsage)}`);
console.log('completions:', legacy.choices[0].text, 'streamed:', continued);
// as lm-evaluation-harness scores: several prompts, echoed by the upstream with their log probabilities
const scored = await client.completions.create({ model, prompt: ['Is it', 'Or'], echo: true, logprobs: 1, max_tokens: 1 });
if (scored.choices.map((c) => c.text).join('|') !== 'Is it Paris, of course.|Or Paris, of course.'
    || scored.choices[0].logprobs.tokens[0] !== 'Is ') {
  fail(`an echoed batch of prompts gave ${JSON.stringify(scored)}`);
}
console.log('scored prompts:', scored.choices.length);

// the Responses API over MODEL: output_text, and the event stream the SDK assembles
{
  const response = await client.responses.create({ model, instructions: 'Be brief.', input: 'sdk responds' });
  if (response.output_text !== 'echo: sdk responds' || response.usage?.total_tokens !== 10) {
    fail(`responses.create gave ${JSON.stringify(response)}`);
  }
  let deltas = '';
  const stream = client.responses.stream({ model, input: [{ role: 'user', content: 'sdk streams a response' }] });
  stream.on('response.output_text.delta', (event) => { deltas += event.delta; });
  const final = await stream.finalResponse();
  if (deltas !== 'echo: sdk streams a response' || final.output_text !== deltas || final.status !== 'completed') {
    fail(`responses.stream gave ${JSON.stringify({ deltas, final })}`);
  }
  console.log('responses:', JSON.stringify(response.output_text), 'streamed', JSON.stringify(final.output_text));

  // stored: retrieved, its input items listed, continued by id, deleted
  const fetched = await client.responses.retrieve(response.id);
  if (fetched.id !== response.id || fetched.output_text !== response.output_text || fetched.store !== true) {
    fail(`responses.retrieve gave ${JSON.stringify(fetched)}`);
  }
  const items = [];
  for await (const item of client.responses.inputItems.list(response.id)) items.push(item);
  if (items.length !== 1 || items[0].content?.[0]?.text !== 'sdk responds') fail(`responses.inputItems.list gave ${JSON.stringify(items)}`);
  const next = await client.responses.create({ model, previous_response_id: final.id, input: 'sdk continues' });
  if (next.previous_response_id !== final.id || next.output_text !== 'echo: sdk continues') {
    fail(`a continued response was ${JSON.stringify(next)}`);
  }
  // counting a turn's input: the earlier turns it continues count too
  const alone = await client.responses.inputTokens.count({ model, input: 'x'.repeat(400) });
  const continued = await client.responses.inputTokens.count({ model, previous_response_id: next.id, input: 'x'.repeat(400) });
  if (alone.object !== 'response.input_tokens' || !(alone.input_tokens >= 100) || !(continued.input_tokens > alone.input_tokens)) {
    fail(`responses.inputTokens.count gave ${JSON.stringify({ alone, continued })}`);
  }
  console.log('input tokens:', alone.input_tokens, 'continued', continued.input_tokens > alone.input_tokens ? 'more' : 'not more');
  await client.responses.delete(response.id);
  try {
    await client.responses.retrieve(response.id);
    fail('a deleted response was still retrieved');
  } catch (e) {
    if (!(e instanceof OpenAI.NotFoundError)) throw e;
  }
  console.log('stored responses: retrieved, listed, continued', next.id, 'and deleted', response.id);
}

// a conversation over MODEL: created with an item, a response made in it, its items paged through, updated, deleted
{
  const conversation = await client.conversations.create({ metadata: { topic: 'sdk' },
    items: [{ type: 'message', role: 'user', content: 'sdk remembers' }] });
  const answer = await client.responses.create({ model, conversation: conversation.id, input: 'sdk converses' });
  if (answer.output_text !== 'echo: sdk converses' || answer.conversation?.id !== conversation.id) {
    fail(`a response in a conversation was ${JSON.stringify(answer)}`);
  }
  const held = [];
  for await (const item of client.conversations.items.list(conversation.id, { order: 'asc', limit: 1 })) held.push(item);
  const expected = 'user:sdk remembers|user:sdk converses|assistant:echo: sdk converses';
  if (held.map((i) => `${i.role}:${i.content[0].text}`).join('|') !== expected) {
    fail(`conversations.items.list gave ${JSON.stringify(held)}`);
  }
  const one = await client.conversations.items.retrieve(held[2].id, { conversation_id: conversation.id });
  const renamed = await client.conversations.update(conversation.id, { metadata: { topic: 'sdk, renamed' } });
  const gone = await client.conversations.delete(conversation.id);
  if (one.id !== held[2].id || renamed.metadata.topic !== 'sdk, renamed' || gone.deleted !== true) {
    fail(`conversation calls gave ${JSON.stringify({ one, renamed, gone })}`);
  }
  console.log('conversation:', conversation.id, 'items paged one by one:', held.length);
}

// a background response over MODEL: queued at once, polled until it has finished, as OpenAI's docs show
{
  let polled = await client.responses.create({ model, input: 'sdk waits', background: true });
  const first = polled.status;
  while (polled.status === 'queued' || polled.status === 'in_progress') {
    await new Promise((resolve) => setTimeout(resolve, 50));
    polled = await client.responses.retrieve(polled.id);
  }
  if (first !== 'queued' || polled.status !== 'completed' || polled.output_text !== 'echo: sdk waits') {
    fail(`a background response was ${JSON.stringify(polled)}`);
  }
  console.log('background response:', first, 'then', polled.status);
}

// a streamed background response: the SDK stops reading after two events, then resumes the stream after the last
// event it saw, both ways the SDK offers (retrieve with stream and starting_after; responses.stream with response_id)
{
  const events = await client.responses.create({ model, input: 'sdk resumes', background: true, stream: true });
  let id;
  let last = -1;
  for await (const e of events) {
    if (e.type === 'response.created') id = e.response.id;
    last = e.sequence_number;
    if (last >= 1) break; // closes the connection; the response runs on
  }
  const resumed = await client.responses.retrieve(id, { stream: true, starting_after: last });
  let first = null;
  let end = null;
  let resumedText = '';
  for await (const e of resumed) {
    if (first === null) first = e.sequence_number;
    if (e.type === 'response.output_text.delta') resumedText += e.delta;
    end = e.type;
  }
  if (first !== last + 1 || end !== 'response.completed' || resumedText !== 'echo: sdk resumes') {
    fail(`the resumed stream began at ${first}, ended with ${end} and said ${resumedText}`);
  }
  const again = client.responses.stream({ response_id: id, starting_after: last });
  const final = await again.finalResponse();
  if (final.id !== id || final.status !== 'completed' || final.output_text !== 'echo: sdk resumes') {
    fail(`responses.stream({response_id}) ended with ${JSON.stringify(final)}`);
  }
  console.log('background stream: left after event', last, 'resumed from', first, 'to', end);
}

// the Batch API over MODEL: a JSONL upload, a batch, its output file
{
  const lines = ['b1', 'b2'].map((id) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions',
    body: { model, messages: [{ role: 'user', content: `batched ${id}` }] } })).join('\n');
  const input = await client.files.create({ file: await toFile(Buffer.from(lines), 'batch.jsonl'), purpose: 'batch',
    expires_after: { anchor: 'created_at', seconds: 86400 } });
  if (input.expires_at - input.created_at !== 86400) fail(`the uploaded file was ${JSON.stringify(input)}`);
  let batch = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h',
    output_expires_after: { anchor: 'created_at', seconds: 7200 } });
  for (let i = 0; i < 300 && !['completed', 'failed', 'expired', 'cancelled'].includes(batch.status); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    batch = await client.batches.retrieve(batch.id);
  }
  if (batch.status !== 'completed' || batch.request_counts.completed !== 2) fail(`the batch ended as ${JSON.stringify(batch)}`);
  const output = await (await client.files.content(batch.output_file_id)).text();
  const answers = output.trim().split('\n').map((l) => JSON.parse(l))
    .map((l) => `${l.custom_id}=${l.response.body.choices[0].message.content}`);
  if (answers.join(',') !== 'b1=echo: batched b1,b2=echo: batched b2') fail(`the batch output was ${output}`);
  const outputFile = await client.files.retrieve(batch.output_file_id);
  if (outputFile.expires_at - outputFile.created_at !== 7200) fail(`the output file was ${JSON.stringify(outputFile)}`);
  console.log('batch:', answers.join(', '), 'files expiring in', input.expires_at - input.created_at, 'and',
    outputFile.expires_at - outputFile.created_at, 's');
}

const toolsModel = process.env.TOOLS_MODEL;
if (toolsModel) {
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
  const messages = [{ role: 'user', content: 'weather in Oslo?' }];
  const checkCall = (label, choice) => {
    const call = choice.message.tool_calls?.[0];
    if (call?.function?.name !== 'get_weather' || JSON.parse(call.function.arguments).city !== 'Oslo') {
      fail(`${label}: tool call was ${JSON.stringify(choice.message)}`);
    }
    if (choice.finish_reason !== 'tool_calls') fail(`${label}: finish_reason was ${choice.finish_reason}`);
    console.log(`${label} tool call:`, call.id, call.function.name, call.function.arguments);
  };
  checkCall('non-streaming', (await client.chat.completions.create({ model: toolsModel, messages, tools })).choices[0]);
  const final = await client.chat.completions.stream({ model: toolsModel, messages, tools }).finalChatCompletion();
  checkCall('streamed', final.choices[0]);
  // the same call through the Responses API: a function_call output item, streamed and not
  const fnTools = tools.map((t) => ({ type: 'function', ...t.function }));
  const viaResponses = await client.responses.create({ model: toolsModel, input: 'weather in Oslo?', tools: fnTools });
  const item = viaResponses.output.find((o) => o.type === 'function_call');
  if (item?.name !== 'get_weather' || JSON.parse(item.arguments).city !== 'Oslo') {
    fail(`responses tool call was ${JSON.stringify(viaResponses.output)}`);
  }
  const streamedResponse = await client.responses.stream({ model: toolsModel, input: 'weather in Oslo?', tools: fnTools }).finalResponse();
  const streamedItem = streamedResponse.output.find((o) => o.type === 'function_call');
  if (streamedItem?.call_id !== item.call_id || JSON.parse(streamedItem.arguments).city !== 'Oslo') {
    fail(`streamed responses tool call was ${JSON.stringify(streamedResponse.output)}`);
  }
  console.log('responses tool call:', item.call_id, item.name, item.arguments);
}

const embedModel = process.env.EMBED_MODEL;
if (embedModel) {
  const near = (a, b) => a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) < 1e-6);
  // the SDK asks for base64 unless told otherwise, and decodes it itself
  const byDefault = await client.embeddings.create({ model: embedModel, input: ['first', 'second'] });
  const vectors = byDefault.data.map((d) => d.embedding);
  if (!near(vectors[0], [0.1, 0.2, 0.3]) || !near(vectors[1], [0.2, 0.2, 0.3])) fail(`embeddings were ${JSON.stringify(vectors)}`);
  const asFloats = await client.embeddings.create({ model: embedModel, input: 'third', encoding_format: 'float' });
  if (!near(asFloats.data[0].embedding, [0.1, 0.2, 0.3])) fail(`float embeddings were ${JSON.stringify(asFloats.data)}`);
  console.log('embeddings:', vectors.length, 'vectors of', vectors[0].length, 'usage', byDefault.usage.prompt_tokens);
}

const imageModel = process.env.IMAGE_MODEL;
if (imageModel) {
  const urls = await client.images.generate({ model: imageModel, prompt: 'a lighthouse at dusk', n: 2, size: '1024x1024' });
  if (urls.data.length !== 2 || urls.data[1].url !== 'https://images.example/1.png') fail(`images were ${JSON.stringify(urls)}`);
  const b64 = await client.images.generate({ model: imageModel, prompt: 'a lighthouse', response_format: 'b64_json' });
  const bytes = Buffer.from(b64.data[0].b64_json, 'base64').toString('utf8');
  if (bytes !== 'PNG 0: a lighthouse') fail(`a base64 image decoded to ${JSON.stringify(bytes)}`);
  try {
    await client.images.generate({ model: imageModel, prompt: 'x', size: 'enormous' });
    fail('a malformed size was not refused');
  } catch (e) {
    if (!(e instanceof OpenAI.BadRequestError) || e.param !== 'size') {
      fail(`a malformed size raised ${e?.constructor?.name}: ${e?.message}`);
    }
  }
  const edited = await client.images.edit({ model: imageModel, prompt: 'add a hat',
    image: await toFile(Buffer.from('png bytes'), 'cat.png', { type: 'image/png' }) });
  const editedBytes = Buffer.from(edited.data[0].b64_json, 'base64').toString('utf8');
  if (editedBytes !== 'EDITED 1 image: add a hat') fail(`an edit decoded to ${JSON.stringify(editedBytes)}`);
  console.log('images:', urls.data.length, 'urls,', JSON.stringify(bytes), 'revised', JSON.stringify(urls.data[0].revised_prompt),
    'edited', JSON.stringify(editedBytes));
  const varied = await client.images.createVariation({ model: imageModel, n: 2, response_format: 'b64_json',
    image: await toFile(Buffer.from('sdk square'), 'square.png', { type: 'image/png' }) });
  const variation = Buffer.from(varied.data[1].b64_json, 'base64').toString('utf8');
  if (varied.data.length !== 2 || variation !== 'VARIATION 1 OF sdk square') fail(`a variation decoded to ${JSON.stringify(variation)}`);
  console.log('image variations:', varied.data.length, JSON.stringify(variation));
}

const speechModel = process.env.SPEECH_MODEL;
if (speechModel) {
  const speech = await client.audio.speech.create({ model: speechModel, voice: 'alloy', input: 'sdk speaks', response_format: 'wav' });
  const audio = Buffer.from(await speech.arrayBuffer()).toString('utf8');
  if (audio !== 'AUDIO/wav: sdk speaks' || speech.headers.get('content-type') !== 'audio/wav') {
    fail(`speech was ${JSON.stringify(audio)} as ${speech.headers.get('content-type')}`);
  }
  console.log('speech:', JSON.stringify(audio));
  // as server-sent events: the audio in base64 pieces, then speech.audio.done with the usage
  const events = await client.audio.speech.create({ model: speechModel, voice: 'alloy', input: 'sdk speaks events',
    stream_format: 'sse' });
  let pieces = Buffer.alloc(0);
  let doneEvent = null;
  for (const line of (await events.text()).split('\n')) {
    if (!line.startsWith('data: ')) continue;
    const e = JSON.parse(line.slice(6));
    if (e.type === 'speech.audio.delta') pieces = Buffer.concat([pieces, Buffer.from(e.audio, 'base64')]);
    if (e.type === 'speech.audio.done') doneEvent = e;
  }
  if (pieces.toString('utf8') !== 'AUDIO/mp3: sdk speaks events' || doneEvent?.usage?.output_tokens !== 42) {
    fail(`speech as events was ${pieces.toString('utf8')} ending ${JSON.stringify(doneEvent)}`);
  }
  console.log('speech events:', JSON.stringify(pieces.toString('utf8')), 'output tokens', doneEvent.usage.output_tokens);
}
const transcribeModel = process.env.TRANSCRIBE_MODEL;
if (transcribeModel) {
  const file = await toFile(Buffer.from('sdk listens'), 'clip.wav', { type: 'audio/wav' });
  const heard = await client.audio.transcriptions.create({ model: transcribeModel, file, language: 'en' });
  if (heard.text !== 'heard: sdk listens') fail(`transcription was ${JSON.stringify(heard)}`);
  const asText = await client.audio.transcriptions.create({ model: transcribeModel, file: await toFile(Buffer.from('as text'), 'a.mp3'),
    response_format: 'text' });
  if (String(asText).trim() !== 'heard: as text') fail(`a text transcription was ${JSON.stringify(asText)}`);
  const translated = await client.audio.translations.create({ model: transcribeModel, file: await toFile(Buffer.from('hallo'), 'de.wav') });
  if (translated.text !== 'heard in English: hallo') fail(`a translation was ${JSON.stringify(translated)}`);
  console.log('transcription:', JSON.stringify(heard.text), 'and as text', JSON.stringify(String(asText).trim()),
    'translation:', JSON.stringify(translated.text));
}
if (transcribeModel) {
  // streamed, as gpt-4o-transcribe streams: the SDK reads the events as they come
  const events = await client.audio.transcriptions.create({ model: transcribeModel, stream: true,
    file: await toFile(Buffer.from('sdk streams speech'), 'live.wav', { type: 'audio/wav' }) });
  let deltas = '';
  let final = null;
  for await (const event of events) {
    if (event.type === 'transcript.text.delta') deltas += event.delta;
    if (event.type === 'transcript.text.done') final = event.text;
  }
  if (deltas !== 'heard: sdk streams speech' || final !== deltas) {
    fail(`a streamed transcription gave ${JSON.stringify({ deltas, final })}`);
  }
  console.log('streamed transcription:', JSON.stringify(final));
}

const moderationModel = process.env.MODERATION_MODEL;
if (moderationModel) {
  const verdict = await client.moderations.create({ model: moderationModel, input: ['sdk would kill', 'sdk is kind'] });
  if (verdict.results?.length !== 2 || verdict.results[0].flagged !== true || verdict.results[1].flagged !== false
      || verdict.model !== moderationModel) {
    fail(`moderation was ${JSON.stringify(verdict)}`);
  }
  console.log('moderation:', verdict.results.map((r) => r.flagged).join(' '));
}

const parseModel = process.env.PARSE_MODEL;
if (parseModel) {
  const format = { type: 'json_schema', json_schema: { name: 'reply', strict: true, schema: {
    type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'], additionalProperties: false } } };
  const parsed = await client.chat.completions.parse({ model: parseModel, response_format: format,
    messages: [{ role: 'user', content: 'parse me' }] });
  const value = parsed.choices[0].message.parsed;
  if (value?.answer !== 'echo: parse me') fail(`parse() gave ${JSON.stringify(parsed.choices[0].message)}`);
  console.log('structured output:', JSON.stringify(value));
}

const thinkingModel = process.env.THINKING_MODEL;
if (thinkingModel) {
  // a reasoning model: its thinking is reasoning_content beside the answer (fields the SDK passes through)
  const messages = [{ role: 'user', content: 'think it over' }];
  const answer = await client.chat.completions.create({ model: thinkingModel, messages, reasoning_effort: 'low' });
  const message = answer.choices[0].message;
  if (message.reasoning_content !== 'The user wants an echo.' || message.content !== 'echo: think it over'
      || message.thinking_blocks?.[0]?.signature?.length !== 40) fail(`reasoning answer was ${JSON.stringify(message)}`);
  const chunks = await client.chat.completions.create({ model: thinkingModel, messages, reasoning_effort: 'low', stream: true });
  let thought = '';
  let said = '';
  const blocks = [];
  for await (const chunk of chunks) {
    const delta = chunk.choices[0]?.delta ?? {};
    if (delta.reasoning_content && said) fail('thinking came after the answer began');
    thought += delta.reasoning_content ?? '';
    said += delta.content ?? '';
    blocks.push(...(delta.thinking_blocks ?? []));
  }
  if (thought !== message.reasoning_content || said !== message.content || JSON.stringify(blocks) !== JSON.stringify(message.thinking_blocks)) {
    fail(`streamed reasoning was ${JSON.stringify({ thought, said, blocks })}`);
  }
  // the next turn sends the answer back as it came, thinking blocks included
  const next = await client.chat.completions.create({ model: thinkingModel, reasoning_effort: 'low',
    messages: [...messages, { role: 'assistant', content: said, thinking_blocks: blocks }, { role: 'user', content: 'again' }] });
  if (next.choices[0].message.content !== 'echo: again') fail(`the next turn gave ${JSON.stringify(next.choices[0].message)}`);
  console.log('reasoning:', JSON.stringify(thought), 'then', JSON.stringify(said));
}

// a remote MCP server as a tool (AGENT_MODEL calls "echo" when asked "call echo {...}"; MCP_URL serves it): the
// gateway lists the tools, makes the call and asks the model again; the SDK assembles the mcp items, streamed and not
const agentModel = process.env.AGENT_MODEL;
if (agentModel && process.env.MCP_URL) {
  const tools = [{ type: 'mcp', server_label: 'everything', server_url: process.env.MCP_URL, require_approval: 'never' }];
  const input = 'call echo {"message":"sdk via mcp"}';
  const answered = await client.responses.create({ model: agentModel, input, tools });
  const call = answered.output.find((item) => item.type === 'mcp_call');
  if (call?.output !== 'Echo: sdk via mcp' || answered.output_text !== 'tool said: Echo: sdk via mcp') {
    fail(`responses.create with an mcp tool gave ${JSON.stringify(answered)}`);
  }
  const events = [];
  const stream = client.responses.stream({ model: agentModel, input, tools });
  stream.on('event', (event) => { if (event.type.includes('mcp')) events.push(event.type); });
  const final = await stream.finalResponse();
  if (final.output_text !== answered.output_text || !events.includes('response.mcp_call.completed')) {
    fail(`responses.stream with an mcp tool gave ${JSON.stringify({ events, final })}`);
  }
  console.log('mcp:', final.output.map((item) => item.type).join(','), JSON.stringify(final.output_text), events.length, 'mcp events');
}

const midfailModel = process.env.MIDFAIL_MODEL;
if (midfailModel) {
  let got = '';
  try {
    const broken = await client.chat.completions.create({ model: midfailModel, stream: true, messages: [{ role: 'user', content: 'x' }] });
    for await (const chunk of broken) got += chunk.choices[0]?.delta?.content ?? '';
    fail(`a stream cut short ended without an error after ${JSON.stringify(got)}`);
  } catch (e) {
    if (!(e instanceof OpenAI.APIError)) fail(`a stream cut short raised ${e?.constructor?.name}: ${e?.message}`);
    if (got !== 'Hello wor') fail(`before the error the stream gave ${JSON.stringify(got)}`);
    console.log('mid-stream error:', JSON.stringify(got), e.message);
  }
}

try {
  await client.chat.completions.create({ model: 'no/such-model', messages: [{ role: 'user', content: 'x' }] });
  fail('an unknown model did not fail');
} catch (e) {
  if (!(e instanceof OpenAI.NotFoundError)) fail(`unknown model raised ${e?.constructor?.name}: ${e?.message}`);
  console.log('unknown model:', e.status, e.message);
}
try {
  await new OpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: 'sgk_wrong000000000000000000000000000000', maxRetries: 0 })
    .chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] });
  fail('a wrong key did not fail');
} catch (e) {
  if (!(e instanceof OpenAI.AuthenticationError)) fail(`wrong key raised ${e?.constructor?.name}`);
  console.log('wrong key:', e.status);
}
console.log('OK');
