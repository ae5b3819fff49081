// Publishes events the way the platforms' Node.js services do, with amqplib:
//   node publish.mjs <dialect> <amqp-url> <exchange> <routing-key> <type> <payload.json> <count>
// dialect: collector (the Collector's event bus, seed 001), standard (StandardMessage of the
// user service, seed 002), cloudevents (CloudEvents binary mode with the AMQP binding's
// `cloudEvents:` prefix). Prints one JSON line: {"published": [<id or correlation>...]}.
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';

const [dialect, url, exchange, routingKey, type, payloadFile, countText] = process.argv.slice(2);
const data = JSON.parse(readFileSync(payloadFile, 'utf8'));
const count = Number(countText);

function message(i) {
  const correlationId = `node-${randomUUID()}`;
  switch (dialect) {
    case 'collector':
      // The Collector's EventBus.publish: its envelope, persistent, JSON, no message ID.
      return {
        key: correlationId,
        body: { type, timestamp: new Date().toISOString(), tenantId: 'tenant-123', source: 'orders-service', correlationId, data },
        options: { persistent: true, contentType: 'application/json' },
      };
    case 'standard': {
      // RabbitMQProducerService.publish of @ecommerce-platform/rabbitmq-event-utils.
      const messageId = randomUUID();
      return {
        key: messageId,
        body: { messageId, messageType: type, envelopeVersion: '1.0', timestamp: new Date().toISOString(), sourceService: 'UserService', correlationId, tenantId: 'tenant-123', payload: data },
        options: { persistent: true, contentType: 'application/json', messageId, type, correlationId },
      };
    }
    case 'cloudevents': {
      const id = `ce-${i}-${randomUUID()}`;
      return {
        key: id,
        body: data,
        options: {
          persistent: true,
          contentType: 'application/json',
          headers: {
            'cloudEvents:specversion': '1.0', 'cloudEvents:id': id, 'cloudEvents:type': type,
            'cloudEvents:source': '/user-service', 'cloudEvents:time': new Date().toISOString(),
            'cloudEvents:tenantid': 'tenant-123',
          },
        },
      };
    }
    default:
      throw new Error(`unknown dialect ${dialect}`);
  }
}

const connection = await amqp.connect(url);
const channel = await connection.createConfirmChannel();
const published = [];
for (let i = 0; i < count; i++) {
  const m = message(i);
  channel.publish(exchange, routingKey, Buffer.from(JSON.stringify(m.body)), m.options);
  published.push(m.key);
}
await channel.waitForConfirms();
await connection.close();
console.log(JSON.stringify({ published }));
