export { optionsSchema, parseOptions, plugin, toChange, webhookSink, type WebhookChange, type WebhookSink, type WebhookSinkOptions, type WebhookStats } from './webhook-sink.js';
