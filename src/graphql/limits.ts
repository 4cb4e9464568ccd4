import {
  getNamedType,
  getNullableType,
  GraphQLError,
  isCompositeType,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  Lexer,
  Source,
  TokenKind,
  type ASTNode,
  type ASTVisitor,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
  type ValueNode,
} from 'graphql';
import { AppError, type ErrorCode } from '../errors.js';

export interface QueryLimits {
  maxDepth: number;
  maxAliases: number;
  maxCost: number;
  /** Largest accepted `first`; a `first` given by a variable counts as this much. */
  maxPageSize: number;
  /** Assumed length of a list field without a `first` argument (a module's sections). */
  defaultListSize: number;
}

/** Per-unit measurements of a selection set: multiply `cost` by how many times the set is resolved. */
interface Measure {
  cost: number;
  depth: number;
  aliases: number;
}

const none: Measure = { cost: 0, depth: 0, aliases: 0 };

/**
 * One validation rule for depth, aliases and cost, so an over-limit query is rejected before any resolver runs.
 * Cost is fields x list sizes: each field costs 1 for every time it will be resolved, and a field with a `first`
 * argument (or returning a list) multiplies what is below it. Fragments are measured once and reused, so a
 * document of nested fragment spreads cannot make the analysis itself exponential. Introspection fields are not
 * counted: their size is bounded by the schema, and introspection can be switched off separately.
 */
export function queryLimitsRule(limits: QueryLimits): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of context.getDocument().definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    }
    const fragmentMeasures = new Map<string, Measure>();
    const visiting = new Set<string>();

    function measureFragment(name: string): Measure {
      const cached = fragmentMeasures.get(name);
      if (cached) return cached;
      const fragment = fragments.get(name);
      // Unknown or cyclic fragments are reported by the standard rules.
      if (!fragment || visiting.has(name)) return none;
      visiting.add(name);
      const type = context.getSchema().getType(fragment.typeCondition.name.value);
      const measure = type ? measureSelections(fragment.selectionSet, type) : none;
      visiting.delete(name);
      fragmentMeasures.set(name, measure);
      return measure;
    }

    function measureSelections(selectionSet: SelectionSetNode, parent: GraphQLNamedType): Measure {
      let cost = 0;
      let depth = 0;
      let aliases = 0;
      for (const selection of selectionSet.selections) {
        let child: Measure;
        if (selection.kind === Kind.FIELD) {
          const name = selection.name.value;
          if (name.startsWith('__')) continue;
          const field = isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined;
          if (!field) continue;
          const below =
            selection.selectionSet && isCompositeType(getNamedType(field.type))
              ? measureSelections(selection.selectionSet, getNamedType(field.type))
              : none;
          child = {
            cost: 1 + listSize(parent, field, selection.arguments ?? []) * below.cost,
            depth: 1 + below.depth,
            aliases: (selection.alias ? 1 : 0) + below.aliases,
          };
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          const type = selection.typeCondition ? context.getSchema().getType(selection.typeCondition.name.value) : parent;
          child = type ? measureSelections(selection.selectionSet, type) : none;
        } else {
          child = measureFragment(selection.name.value);
        }
        cost += child.cost;
        depth = Math.max(depth, child.depth);
        aliases += child.aliases;
      }
      return { cost, depth, aliases };
    }

    function listSize(
      parent: GraphQLNamedType,
      field: GraphQLField<unknown, unknown>,
      args: readonly { name: { value: string }; value: ValueNode }[],
    ): number {
      const first = field.args.find((arg) => arg.name === 'first');
      if (first) {
        const given = args.find((arg) => arg.name.value === 'first')?.value;
        if (given?.kind === Kind.INT) {
          const value = Number(given.value);
          if (value < 1 || value > limits.maxPageSize) {
            context.reportError(
              new GraphQLError(`first must be between 1 and ${limits.maxPageSize}; got ${value}`, {
                nodes: given,
                extensions: { code: 'MNEMO_GRAPHQL_VALIDATION' satisfies ErrorCode },
              }),
            );
          }
          return Math.max(0, value);
        }
        if (given?.kind === Kind.VARIABLE) return limits.maxPageSize;
        return typeof first.defaultValue === 'number' ? first.defaultValue : limits.maxPageSize;
      }
      // A connection's list is already counted by the `first` of the field that returned the connection.
      if (parent.name.endsWith('Connection')) return 1;
      return isListType(getNullableType(field.type)) ? limits.defaultListSize : 1;
    }

    const report = (code: ErrorCode, message: string, node: ASTNode) =>
      context.reportError(new GraphQLError(message, { nodes: node, extensions: { code } }));

    return {
      OperationDefinition(operation) {
        const root = context.getSchema().getRootType(operation.operation);
        if (!root) return;
        const measure = measureSelections(operation.selectionSet, root);
        const name = operation.name?.value ?? 'anonymous operation';
        if (measure.depth > limits.maxDepth) {
          report('MNEMO_GRAPHQL_TOO_DEEP', `${name} has depth ${measure.depth}; the limit is ${limits.maxDepth}`, operation);
        }
        if (measure.aliases > limits.maxAliases) {
          report('MNEMO_GRAPHQL_TOO_MANY_ALIASES', `${name} uses ${measure.aliases} aliases; the limit is ${limits.maxAliases}`, operation);
        }
        if (measure.cost > limits.maxCost) {
          report(
            'MNEMO_GRAPHQL_TOO_COSTLY',
            `${name} has an estimated cost of ${measure.cost}; the limit is ${limits.maxCost} (ask for fewer items per page or fewer fields)`,
            operation,
          );
        }
      },
    };
  };
}

/** Rejects `__schema` and `__type` when introspection is off (`__typename` stays allowed). */
export const noIntrospectionRule: ValidationRule = (context) => ({
  Field(node) {
    if (node.name.value === '__schema' || node.name.value === '__type') {
      context.reportError(
        new GraphQLError('introspection is disabled on this server', {
          nodes: node,
          extensions: { code: 'MNEMO_GRAPHQL_INTROSPECTION_DISABLED' satisfies ErrorCode },
        }),
      );
    }
  },
});

/**
 * Rejects a document of more than `maxTokens` lexical tokens before it is parsed, counting as graphql-js does
 * (comments excluded). A document can have no more tokens than characters, so short ones are not lexed at all.
 */
export function assertTokenLimit(query: string, maxTokens: number): void {
  if (query.length <= maxTokens) return;
  const lexer = new Lexer(new Source(query));
  let tokens = 0;
  try {
    while (lexer.advance().kind !== TokenKind.EOF) {
      if (++tokens > maxTokens) {
        throw new AppError('MNEMO_GRAPHQL_TOO_MANY_TOKENS', `the document has more than ${maxTokens} tokens`);
      }
    }
  } catch (error) {
    // A lexing error is a syntax error; the parser reports it with its location.
    if (error instanceof AppError) throw error;
  }
}
