import * as grpc from '@grpc/grpc-js';
import { context, trace, type Meter } from '@opentelemetry/api';
import {
  QueryServiceService,
  RowChunk,
  type QueryServiceServer,
  type SearchRequest,
  type StatusResponse,
} from '@flowhound/proto';
import { contextFromMetadata, type Component, type GrpcHost, type Logger } from '@flowhound/runtime';
import { CONVERSATIONS_TABLE, FLOWS_TABLE, type ColumnDef, type TableDef } from '@flowhound/schema';
import type { Store } from '@flowhound/store';
import type { QueryConfig } from './config.ts';
import { FilterError, RequestTooLargeError } from './errors.ts';
import { compileFilter } from './filter.ts';

export interface QueryDeps {
  readonly store: Store;
  readonly grpc: GrpcHost;
  readonly log: Logger;
  readonly meter: Meter;
  /** Names and states of the components in this process, for Status. */
  readonly components?: () => { name: string; state: string }[];
  readonly version: string;
}

function selectExpr(c: ColumnDef): string {
  const id = `\`${c.name}\``;
  if (c.kind === 'ip') return `toString(${id})`;
  if (c.kind === 'time') return `toUnixTimestamp64Milli(${id})`;
  return id;
}

/** Canonical text of a value: dotted IPv4, ISO times, plain numbers. */
function render(c: ColumnDef, v: unknown): string {
  if (c.kind === 'ip') {
    const s = String(v);
    return s.startsWith('::ffff:') && s.includes('.') ? s.slice(7) : s;
  }
  if (c.kind === 'time') return new Date(Number(v)).toISOString();
  return String(v);
}

function grpcError(code: grpc.status, message: string): grpc.ServiceError {
  return Object.assign(new Error(message), { code, details: message, metadata: new grpc.Metadata() }) as grpc.ServiceError;
}

export class QueryService implements Component {
  readonly name = 'query';
  requests = 0;
  rejected = 0;
  rowsSent = 0;
  private readonly config: Readonly<QueryConfig>;
  private readonly deps: QueryDeps;

  constructor(config: Readonly<QueryConfig>, deps: QueryDeps) {
    this.config = config;
    this.deps = deps;
  }

  async start(): Promise<void> {
    const a = { component: this.name };
    const m = this.deps.meter;
    m.createObservableCounter('flowhound_query_requests_total', { description: 'search requests' }).addCallback((r) => r.observe(this.requests, a));
    m.createObservableCounter('flowhound_query_rejected_total', { description: 'requests refused (bad filter, too large)' }).addCallback((r) => r.observe(this.rejected, a));
    m.createObservableCounter('flowhound_query_rows_sent_total', { description: 'rows streamed to clients' }).addCallback((r) => r.observe(this.rowsSent, a));
    const impl: QueryServiceServer = {
      searchFlows: (call) => void this.search(FLOWS_TABLE, call),
      searchConversations: (call) => void this.search(CONVERSATIONS_TABLE, call),
      status: (call, cb) => {
        this.status().then(
          (r) => cb(null, r),
          (err: Error) => cb(grpcError(grpc.status.INTERNAL, err.message)),
        );
      },
    };
    this.deps.grpc.addService(QueryServiceService, impl);
  }

  /** Builds the SQL for a search; throws FilterError/RequestTooLargeError. */
  buildSearch(table: TableDef, req: SearchRequest): { sql: string; params: Record<string, unknown>; columns: ColumnDef[] } {
    const limit = req.limit || 100;
    if (limit > this.config.maxLimit) throw new RequestTooLargeError(`limit ${limit} is larger than this server allows (${this.config.maxLimit}); narrow the time range or filter`);
    let columns: ColumnDef[] = [...table.columns];
    if (req.columns.length > 0) {
      columns = req.columns.map((n) => {
        const c = table.columns.find((x) => x.name === n);
        if (!c) throw new FilterError(`unknown column '${n}'`, n, 0);
        return c;
      });
    }
    const f = compileFilter(req.filter, table.columns);
    const where = [f.sql];
    const params: Record<string, unknown> = { ...f.params, limit };
    // A flow belongs to a window when it was active in it.
    if (req.sinceMs > 0n) {
      where.push(`flow_end >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')`);
      params.since = Number(req.sinceMs);
    }
    if (req.untilMs > 0n) {
      where.push(`flow_start < fromUnixTimestamp64Milli({until:Int64}, 'UTC')`);
      params.until = Number(req.untilMs);
    }
    const sql =
      `SELECT ${columns.map(selectExpr).join(', ')} FROM \`${this.deps.store.database}\`.\`${table.name}\`` +
      ` WHERE ${where.join(' AND ')} ORDER BY flow_start DESC, time_received DESC LIMIT {limit:UInt32}`;
    return { sql, params, columns };
  }

  private async search(table: TableDef, call: grpc.ServerWritableStream<SearchRequest, RowChunk>): Promise<void> {
    this.requests++;
    const tracer = trace.getTracer('flowhound');
    await context.with(contextFromMetadata(call.metadata), () =>
      tracer.startActiveSpan(`query.search.${table.name}`, async (span) => {
        try {
          let q;
          try {
            q = this.buildSearch(table, call.request);
          } catch (err) {
            this.rejected++;
            const code = err instanceof RequestTooLargeError ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.INVALID_ARGUMENT;
            call.emit('error', grpcError(code, (err as Error).message));
            return;
          }
          const rows = await this.deps.store.rows<unknown[]>(q.sql, q.params);
          const names = q.columns.map((c) => c.name);
          const step = this.config.chunkRows;
          if (rows.length === 0) call.write(RowChunk.fromPartial({ columns: names, rows: [] }));
          for (let i = 0; i < rows.length; i += step) {
            const chunk = rows.slice(i, i + step).map((r) => ({ values: r.map((v, j) => render(q.columns[j], v)) }));
            call.write({ columns: i === 0 ? names : [], rows: chunk });
          }
          this.rowsSent += rows.length;
          span.setAttribute('flowhound.rows', rows.length);
          call.end();
        } catch (err) {
          this.deps.log.error({ err }, 'search failed');
          call.emit('error', grpcError(grpc.status.INTERNAL, `search failed: ${(err as Error).message}`));
        } finally {
          span.end();
        }
      }),
    );
  }

  private async status(): Promise<StatusResponse> {
    const db = this.deps.store.database;
    const [[flows]] = await this.deps.store.rows<[number]>(`SELECT count() FROM \`${db}\`.\`flows\``);
    const [[convs]] = await this.deps.store.rows<[number]>(`SELECT count() FROM \`${db}\`.\`conversations\``);
    return {
      version: this.deps.version,
      components: this.deps.components?.() ?? [{ name: this.name, state: 'running' }],
      flowsStored: BigInt(flows),
      conversationsStored: BigInt(convs),
    };
  }

  async stop(): Promise<void> {
    // The gRPC host drains calls; nothing of ours to flush.
  }
}
