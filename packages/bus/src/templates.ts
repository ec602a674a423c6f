import { Template } from '@flowhound/proto';
import { kvSafe } from './bus.ts';

// Templates live in one KV bucket keyed by exporter address, version,
// observation domain and template id: never by source port, since some
// exporters send options from another port than data.

export function templateKvKey(exporter: string, version: number, domain: number, templateId: number): string {
  return `${kvSafe(exporter)}.${version}.${domain}.${templateId}`;
}

export function encodeTemplate(t: Template): Uint8Array {
  return Template.encode(t).finish();
}

export function decodeTemplate(b: Uint8Array): Template {
  return Template.decode(b);
}
