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

/** Same definition (fields and scope), ignoring when and where it came in. */
export function sameTemplate(a: Template, b: Template): boolean {
  if (a.scopeFieldCount !== b.scopeFieldCount || a.fields.length !== b.fields.length) return false;
  for (let i = 0; i < a.fields.length; i++) {
    const x = a.fields[i];
    const y = b.fields[i];
    if (x.id !== y.id || x.length !== y.length || x.enterprise !== y.enterprise) return false;
  }
  return true;
}
