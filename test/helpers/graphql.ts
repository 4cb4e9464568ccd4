import type { FastifyInstance } from 'fastify';

export interface GraphqlResponse<T = Record<string, unknown>> {
  statusCode: number;
  data: T | null;
  errors?: { message: string; extensions?: { code?: string; [key: string]: unknown }; path?: (string | number)[] }[];
}

/** POSTs one GraphQL operation through app.inject. */
export async function gql<T = Record<string, any>>(
  app: FastifyInstance,
  query: string,
  variables?: Record<string, unknown>,
): Promise<GraphqlResponse<T>> {
  const response = await app.inject({ method: 'POST', url: '/graphql', payload: { query, variables } });
  const body = response.json() as { data: T | null; errors?: GraphqlResponse['errors'] };
  return { statusCode: response.statusCode, data: body.data, ...(body.errors ? { errors: body.errors } : {}) };
}

/** The GraphQL selection that mirrors the REST module shape, in one format. */
export const moduleSelection = (format: string) => `
  id slug title(format: ${format}) summary(format: ${format}) tags version createdAt updatedAt
  takeaways { id position title(format: ${format}) body(format: ${format}) }
  flashcards { id key position question(format: ${format}) answer(format: ${format}) }
  cheatSheet { columns(format: ${format}) rows { position cells(format: ${format}) } }
  revisionItems { id position term(format: ${format}) definition(format: ${format}) }
`;
