import * as grpc from '@grpc/grpc-js';
import { QueryServiceClient, TemplateRegistryServiceClient, type RowChunk, type SearchRequest } from '@flowhound/proto';
import { metadataWithTrace } from '@flowhound/runtime';

export function queryClient(server: string): QueryServiceClient {
  return new QueryServiceClient(server, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
}

export function registryClient(server: string): TemplateRegistryServiceClient {
  return new TemplateRegistryServiceClient(server, grpc.credentials.createInsecure());
}

/** Explains a gRPC failure in terms a user acts on. */
export function explain(err: grpc.ServiceError, server: string): string {
  if (err.code === grpc.status.UNAVAILABLE) return `cannot reach the flowhound query service at ${server} (is 'flowhound standalone' running? use --server host:port)`;
  if (err.code === grpc.status.UNIMPLEMENTED) return `the server at ${server} does not offer this call (is it a flowhound query or template-registry service?)`;
  return err.details || err.message;
}

export function search(
  client: QueryServiceClient,
  kind: 'flows' | 'conversations',
  req: SearchRequest,
  onChunk: (c: RowChunk) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = kind === 'flows' ? client.searchFlows(req, metadataWithTrace()) : client.searchConversations(req, metadataWithTrace());
    call.on('data', onChunk);
    call.on('error', reject);
    call.on('end', resolve);
  });
}
