// Consumes what a schemactl service publishes, as a platform's Node.js consumer would, and
// checks every envelope field and the payload (ajv, strict mode, against the exported schema):
//   node consume.mjs <dialect> <amqp-url> <queue> <count> <schema.json> <wire-type> <timeout-ms>
// dialect: collector or standard. Prints one JSON line: {"received": n, "errors": [...],
// "messages": [{...envelope fields...}]}; exits 1 when anything is wrong.
import { readFileSync } from 'node:fs';
import amqp from 'amqplib';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const [dialect, url, queue, countText, schemaFile, wireType, timeoutText] = process.argv.slice(2);
const count = Number(countText);
const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(readFileSync(schemaFile, 'utf8')));

const errors = [];
const messages = [];
const isTime = (t) => typeof t === 'string' && !Number.isNaN(Date.parse(t));
const nonEmpty = (v) => typeof v === 'string' && v.length > 0;

function check(body, props) {
  const fail = (what) => errors.push(`${what}: ${JSON.stringify(body).slice(0, 300)}`);
  let payload;
  if (dialect === 'collector') {
    // The Collector's consumers read {type, timestamp, tenantId, source, correlationId?, data}.
    if (body.type !== wireType) fail(`type is ${body.type}, not ${wireType}`);
    if (!isTime(body.timestamp)) fail('timestamp is not a time');
    if (!nonEmpty(body.tenantId)) fail('tenantId is empty');
    if (!nonEmpty(body.source)) fail('source is empty');
    if (!nonEmpty(body.correlationId)) fail('correlationId is empty');
    payload = body.data;
    messages.push({ type: body.type, tenantId: body.tenantId, source: body.source, correlationId: body.correlationId });
  } else {
    for (const f of ['messageId', 'messageType', 'envelopeVersion', 'sourceService', 'correlationId', 'tenantId']) {
      if (!nonEmpty(body[f])) fail(`${f} is empty`);
    }
    if (body.messageType !== wireType) fail(`messageType is ${body.messageType}, not ${wireType}`);
    if (!isTime(body.timestamp)) fail('timestamp is not a time');
    if (props.messageId !== body.messageId) fail('the message_id property differs from messageId');
    payload = body.payload;
    messages.push({ messageId: body.messageId, messageType: body.messageType, correlationId: body.correlationId, tenantId: body.tenantId });
  }
  if (props.contentType !== 'application/json') fail(`content type ${props.contentType}`);
  if (payload === undefined) fail('no payload');
  else if (!validate(payload)) fail(`payload invalid: ${ajv.errorsText(validate.errors)}`);
}

const connection = await amqp.connect(url);
const channel = await connection.createChannel();
let received = 0;
await new Promise((resolve) => {
  const timer = setTimeout(resolve, Number(timeoutText));
  channel.consume(queue, (msg) => {
    received += 1;
    try {
      check(JSON.parse(msg.content.toString('utf8')), msg.properties);
    } catch (e) {
      errors.push(`not JSON: ${e.message}`);
    }
    channel.ack(msg);
    if (received >= count) {
      clearTimeout(timer);
      resolve();
    }
  });
});
await connection.close();
if (received !== count) errors.push(`received ${received} of ${count}`);
console.log(JSON.stringify({ received, errors, messages }));
process.exit(errors.length ? 1 : 0);
