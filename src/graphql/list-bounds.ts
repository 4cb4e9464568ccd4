import { getNullableType, isListType, isObjectType, type GraphQLSchema } from 'graphql';

/**
 * The most items a list field can return: a fixed number (the domain's own limit, e.g. 500 flashcards a module),
 * or the argument that sets the page size with its largest accepted value.
 */
export type ListBound = number | { argument: string; max: number };

/**
 * One definition per list field of how long it can be, declared by each domain slice next to its SDL. The cost
 * rule multiplies by these, so a list's cost is its real maximum, and `assertComplete` refuses to start a
 * schema with a list field nobody bounded.
 */
export class ListBounds {
  private readonly bounds = new Map<string, ListBound>();

  define(type: string, fields: Record<string, ListBound>): void {
    for (const [field, bound] of Object.entries(fields)) this.bounds.set(`${type}.${field}`, bound);
  }

  get(type: string, field: string): ListBound | undefined {
    return this.bounds.get(`${type}.${field}`);
  }

  /** Every list-returning field or connection page argument must have a bound; introspection types excepted. */
  assertComplete(schema: GraphQLSchema): void {
    const missing: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__')) continue;
      for (const field of Object.values(type.getFields())) {
        // A connection's nodes are counted by the page argument of the field that returned the connection.
        if (isConnection(type.name)) continue;
        const paged = field.args.some((arg) => arg.name === 'first');
        if ((paged || isListType(getNullableType(field.type))) && !this.get(type.name, field.name)) {
          missing.push(`${type.name}.${field.name}`);
        }
      }
    }
    if (missing.length) throw new Error(`GraphQL list fields without a bound (see ListBounds): ${missing.join(', ')}`);
  }
}

export const isConnection = (typeName: string) => typeName.endsWith('Connection');
