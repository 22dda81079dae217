#!/usr/bin/env node
// A real non-Java client of scaiinfer.v1.InferenceService: loads the project's own .proto files
// (proto-contracts/src/main/proto), calls StreamInference with a bearer token and prints every
// delta as it arrives. One JSON object per line on stdout:
//   {"delta": "..."}                         for each content chunk, in order
//   {"finish_reason": "...", "usage": {...}} for the final chunk
//   {"error": {"grpc_status": "...", "scaigrid_error_code": "...", "message": "..."}} on failure (exit 2)
//
// Usage: node stream.js --address 127.0.0.1:50060 --token TOKEN --model scaigrid-sim-1 \
//                       [--prompt "Hello"] [--seed 1] [--deadline-ms 30000] [--proto-root DIR]
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function args(argv) {
  const out = {};
  for (let i = 2; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) {
      throw new Error('expected --name value pairs, got ' + argv[i]);
    }
    out[argv[i].substring(2)] = argv[i + 1];
  }
  return out;
}

const opts = args(process.argv);
const protoRoot = opts['proto-root'] || path.resolve(__dirname, '..', '..', '..', '..', 'proto-contracts', 'src', 'main', 'proto');
const definition = protoLoader.loadSync('scaiinfer/v1/scaiinfer.proto', {
  includeDirs: [protoRoot],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const scaiinfer = grpc.loadPackageDefinition(definition).scaiinfer.v1;
const client = new scaiinfer.InferenceService(opts.address || '127.0.0.1:50060', grpc.credentials.createInsecure());

const metadata = new grpc.Metadata();
if (opts.token) {
  metadata.add('authorization', 'Bearer ' + opts.token);
}
metadata.add('x-request-id', 'req_node_client_' + Date.now());

const request = {
  model: opts.model || 'scaigrid-sim-1',
  messages: [{ role: 'user', content: opts.prompt || 'Hello from Node.js' }],
  stream_options: { include_usage: true },
};
if (opts.seed !== undefined) {
  request.seed = opts.seed;
}

const deadline = new Date(Date.now() + Number(opts['deadline-ms'] || 30000));
const call = client.StreamInference(request, metadata, { deadline });
let failed = false;

call.on('data', (chunk) => {
  if (chunk.error) {
    console.log(JSON.stringify({ error: { scaigrid_error_code: chunk.error.code, message: chunk.error.message } }));
    failed = true;
    return;
  }
  if (chunk.delta && chunk.delta.content) {
    console.log(JSON.stringify({ delta: chunk.delta.content }));
  }
  if (chunk.finish_reason) {
    console.log(JSON.stringify({ finish_reason: chunk.finish_reason, usage: chunk.usage }));
  }
});

call.on('error', (err) => {
  // the ScaiGrid error code travels in the trailers
  const code = err.metadata ? err.metadata.get('scaigrid-error-code') : [];
  console.log(JSON.stringify({
    error: {
      grpc_status: grpc.status[err.code],
      scaigrid_error_code: code.length ? String(code[0]) : null,
      message: err.details,
    },
  }));
  client.close();
  process.exitCode = 2;
});

call.on('end', () => {
  client.close();
  if (failed) {
    process.exitCode = 2;
  }
});
