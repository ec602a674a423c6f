// Generated code lives in ./gen (DO NOT EDIT there; run `pnpm proto`).
export { ColumnarBatch as ColumnarBatchMsg, Column as ColumnMsg } from './gen/flowhound/v1/batch.ts';
export { OptionsFact, Template, TemplateField } from './gen/flowhound/v1/templates.ts';
export { ExporterStats, IngestReplicaStats, ListExportersRequest, ListExportersResponse } from './gen/flowhound/v1/exporters.ts';
export {
  SearchRequest,
  Row,
  RowChunk,
  ListTemplatesRequest,
  ListTemplatesResponse,
  StatusRequest,
  StatusResponse,
  ComponentStatus,
  QueryServiceService,
  QueryServiceClient,
  type QueryServiceServer,
  TemplateRegistryServiceService,
  TemplateRegistryServiceClient,
  type TemplateRegistryServiceServer,
} from './gen/flowhound/v1/query.ts';
